"""Splitting a volume into overlapping tiles so that memory stays bounded for any volume size.

The volume is padded by ``halo`` voxels (edge values) on every side; each tile reads its core plus ``halo``
voxels of real neighbours on each side, and only the core of each result is kept. Time grows with the voxels
read, so the tile shape is the one that reads the fewest halo voxels within the memory budget.

The halo is one number for every axis, or (z, y, x): a network whose in-plane reach is larger than its
through-plane reach (STUNet) needs a wide in-plane halo but not a deep one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

Halo = Union[int, Sequence[int]]


def halo_zyx(halo: Halo) -> tuple[int, int, int]:
    """The halo (z, y, x) of one number or three.

    Args:
        halo: voxels of overlap, the same along every axis, or (z, y, x).

    Raises:
        ValueError: not one or three non-negative whole numbers.
    """
    values = [int(halo)] * 3 if isinstance(halo, (int, float)) else [int(value) for value in halo]
    if len(values) != 3 or min(values) < 0:
        raise ValueError(f"a halo is one or three non-negative numbers of voxels, got {halo!r}")
    return values[0], values[1], values[2]


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


def tile_core_shape(shape: tuple[int, int, int], halo: Halo, max_voxels: int) -> tuple[int, int, int]:
    """The core (z, y, x) whose haloed tile has at most ``max_voxels`` and which reads the fewest halo voxels:
    whole slices or in-plane squares halved down to 32, each with the deepest slab that fits.

    Args:
        shape: the volume's shape (Z, Y, X) in voxels.
        halo: voxels of overlap added on each side of a core (one number, or z, y, x).
        max_voxels: the most voxels a haloed tile, ``(core + 2 * halo)`` along each axis, may hold.

    Returns:
        The core's (z, y, x) size in voxels; where no candidate fits ``max_voxels`` even one slice deep, one
        slice of the last (smallest) in-plane sides tried.
    """
    depth, height, width = shape
    hz, hy, hx = halo_zyx(halo)
    best: tuple[float, tuple[int, int, int]] | None = None
    side_y, side_x = height, width
    while True:
        core_z = min(depth, max_voxels // ((side_y + 2 * hy) * (side_x + 2 * hx)) - 2 * hz)
        if core_z >= 1:
            read = (core_z + 2 * hz) * (side_y + 2 * hy) * (side_x + 2 * hx)
            overhead = read / (core_z * side_y * side_x)
            if best is None or overhead < best[0]:
                best = (overhead, (core_z, side_y, side_x))
        if side_y <= 32 and side_x <= 32:
            break
        side_y, side_x = max(32, -(-side_y // 2)), max(32, -(-side_x // 2))
    return best[1] if best else (1, side_y, side_x)


def plan_tiles(shape: tuple[int, int, int], halo: Halo, max_voxels: int) -> list[Tile]:
    """The tiles that cover a volume, their cores of ``tile_core_shape`` (smaller at the volume's far edges).

    Args:
        shape: the volume's shape (Z, Y, X) in voxels.
        halo: voxels of overlap on each side (one number, or z, y, x); ``Tile.source`` indexes the volume padded
            by ``halo`` voxels.
        max_voxels: the most voxels a haloed tile may hold (see ``tile_core_shape``).

    Returns:
        The tiles in z, y, x order; their targets cover the volume exactly once.
    """
    core = tile_core_shape(shape, halo, max_voxels)
    halos = halo_zyx(halo)
    tiles = []
    for z in _axis_starts(shape[0], core[0]):
        for y in _axis_starts(shape[1], core[1]):
            for x in _axis_starts(shape[2], core[2]):
                starts = (z, y, x)
                ends = tuple(min(start + size, length) for start, size, length in zip(starts, core, shape))
                source = tuple(slice(start, end + 2 * h) for start, end, h in zip(starts, ends, halos))
                target = tuple(slice(start, end) for start, end in zip(starts, ends))
                crop = tuple(slice(h, h + end - start) for start, end, h in zip(starts, ends, halos))
                tiles.append(Tile(source=source, target=target, crop=crop))  # type: ignore[arg-type]
    return tiles
