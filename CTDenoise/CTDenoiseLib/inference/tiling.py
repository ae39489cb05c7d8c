"""Splitting a volume into overlapping tiles so that memory stays bounded for any volume size.

The volume is padded by ``halo`` voxels (edge values) on every side; each tile reads its core plus ``halo``
voxels of real neighbours on each side, and only the core of each result is kept. Time grows with the voxels
read, so the tile shape is the one that reads the fewest halo voxels within the memory budget.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tile:
    """One tile of a plan: where to read it, where its result goes, and which part of the result to keep.

    Attributes:
        source: (z, y, x) slices of the tile (core plus ``halo`` voxels on each side) in the volume padded by
            ``halo`` voxels on every side.
        target: (z, y, x) slices of the tile's core in the output (unpadded) volume.
        crop: (z, y, x) slices of the core within the network's output on ``source``.
    """

    source: tuple[slice, slice, slice]  # in the padded volume
    target: tuple[slice, slice, slice]  # in the output volume
    crop: tuple[slice, slice, slice]  # of the network's output on ``source``


def _axis_starts(length: int, core: int) -> list[int]:
    return list(range(0, length, core))


def tile_core_shape(shape: tuple[int, int, int], halo: int, max_voxels: int) -> tuple[int, int, int]:
    """The core (z, y, x) whose haloed tile has at most ``max_voxels`` and which reads the fewest halo voxels:
    whole slices or in-plane squares halved down to 32, each with the deepest slab that fits.

    Args:
        shape: the volume's shape (Z, Y, X) in voxels.
        halo: voxels of overlap added on each side of a core.
        max_voxels: the most voxels a haloed tile, ``(core + 2 * halo)`` along each axis, may hold.

    Returns:
        The core's (z, y, x) size in voxels; where no candidate fits ``max_voxels`` even one slice deep, one
        slice of the last (smallest) in-plane sides tried.
    """
    depth, height, width = shape
    best: tuple[float, tuple[int, int, int]] | None = None
    side_y, side_x = height, width
    while True:
        core_z = min(depth, max_voxels // ((side_y + 2 * halo) * (side_x + 2 * halo)) - 2 * halo)
        if core_z >= 1:
            read = (core_z + 2 * halo) * (side_y + 2 * halo) * (side_x + 2 * halo)
            overhead = read / (core_z * side_y * side_x)
            if best is None or overhead < best[0]:
                best = (overhead, (core_z, side_y, side_x))
        if side_y <= 32 and side_x <= 32:
            break
        side_y, side_x = max(32, -(-side_y // 2)), max(32, -(-side_x // 2))
    return best[1] if best else (1, side_y, side_x)


def plan_tiles(shape: tuple[int, int, int], halo: int, max_voxels: int) -> list[Tile]:
    """The tiles that cover a volume, their cores of ``tile_core_shape`` (smaller at the volume's far edges).

    Args:
        shape: the volume's shape (Z, Y, X) in voxels.
        halo: voxels of overlap on each side; ``Tile.source`` indexes the volume padded by ``halo`` voxels.
        max_voxels: the most voxels a haloed tile may hold (see ``tile_core_shape``).

    Returns:
        The tiles in z, y, x order; their targets cover the volume exactly once.
    """
    core = tile_core_shape(shape, halo, max_voxels)
    tiles = []
    for z in _axis_starts(shape[0], core[0]):
        for y in _axis_starts(shape[1], core[1]):
            for x in _axis_starts(shape[2], core[2]):
                starts = (z, y, x)
                ends = tuple(min(start + size, length) for start, size, length in zip(starts, core, shape))
                source = tuple(slice(start, end + 2 * halo) for start, end in zip(starts, ends))
                target = tuple(slice(start, end) for start, end in zip(starts, ends))
                crop = tuple(slice(halo, halo + end - start) for start, end in zip(starts, ends))
                tiles.append(Tile(source=source, target=target, crop=crop))  # type: ignore[arg-type]
    return tiles
