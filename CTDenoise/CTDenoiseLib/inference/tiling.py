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


MIN_TILE_SIDE = 32  # in-plane sides below this read mostly halo


def _axis_read(length: int, core: int, halo: int) -> int:
    """Voxels read along one axis, every tile a whole core and ``halo`` on both sides (``_axis_spans``; a last tile
    moved forward onto a downsampling grid reads a little less, so this is an upper bound there)."""
    return len(_axis_starts(length, core)) * (core + 2 * halo)


def _axis_spans(length: int, core: int, halo: int, multiple: int = 1) -> list[tuple[slice, slice, slice]]:
    """Along one axis, each tile's (source, target, crop). A last core that would be shorter is read as a whole
    one ending at the volume's edge, keeping only its new part: every tile then has one shape, which OpenVINO
    compiles once (each compiled shape holds its own buffers: at 512x512x300 STResNet INT8 took 0.76 GB more
    with the two shapes of the earlier plan).
    Reads start at multiples of ``multiple`` in the padded volume, where a network that downsamples sees the grid
    of an untiled pass (a shifted last tile moves forward to the next multiple, reading less at the edge)."""
    core = min(core, length)
    spans = []
    for start in _axis_starts(length, core):
        end = min(start + core, length)
        read = min(start, -(-(length - core) // multiple) * multiple)
        spans.append((slice(read, min(read + core, length) + 2 * halo), slice(start, end),
                      slice(halo + start - read, halo + end - read)))
    return spans


def _in_plane_cores(length: int, multiple: int = 1) -> list[int]:
    """An in-plane axis cut into 1, 2, 3, ... near-equal parts, no part shorter than 32 voxels unless the axis is,
    each rounded up to a multiple of ``multiple`` (a downsampling network's grid) where the axis is longer."""
    parts = range(1, -(-length // MIN_TILE_SIDE) + 1)
    sizes = {max(MIN_TILE_SIDE, -(-length // count)) for count in parts}
    return sorted({min(length, -(-size // multiple) * multiple) for size in sizes}, reverse=True)


def tile_core_shape(shape: tuple[int, int, int], halo: Halo, max_voxels: int,
                    multiple: int = 1) -> tuple[int, int, int]:
    """The core (z, y, x) whose plan reads the fewest voxels while each haloed tile holds at most ``max_voxels``.

    Each in-plane axis is split into 1, 2, 3, ... near-equal parts (``_in_plane_cores``), z into the fewest
    near-equal slabs that fit; the plan's voxels read decide (ties: fewer tiles). Near-equal parts matter: a
    48-slice volume cut into 33 + 15 slices reads two haloed tiles for 15 slices, where one slab of 48 on smaller
    squares reads less.

    Args:
        shape: the volume's shape (Z, Y, X) in voxels.
        halo: voxels of overlap added on each side of a core (one number, or z, y, x).
        max_voxels: the most voxels a haloed tile, ``(core + 2 * halo)`` along each axis, may hold.
        multiple: in-plane cores are multiples of this (the network's ``spatial_multiple``) where the axis is longer.

    Returns:
        The core's (z, y, x) size in voxels; where no candidate fits ``max_voxels`` even one slice deep, one
        slice of the smallest in-plane sides tried.
    """
    depth, height, width = shape
    hz, hy, hx = halo_zyx(halo)
    best: tuple[tuple[int, int], tuple[int, int, int]] | None = None
    smallest = (1, height, width)
    for core_y in _in_plane_cores(height, multiple):
        for core_x in _in_plane_cores(width, multiple):
            smallest = min(smallest, (1, core_y, core_x), key=lambda core: core[1] * core[2])
            fits_z = min(depth, max_voxels // ((core_y + 2 * hy) * (core_x + 2 * hx)) - 2 * hz)
            if fits_z < 1:
                continue
            core_z = -(-depth // -(-depth // fits_z))  # the fewest slabs that fit, made near-equal
            core = (core_z, core_y, core_x)
            read = _axis_read(depth, core_z, hz) * _axis_read(height, core_y, hy) * _axis_read(width, core_x, hx)
            tiles = -(-depth // core_z) * -(-height // core_y) * -(-width // core_x)
            if best is None or (read, tiles) < best[0]:
                best = ((read, tiles), core)
    return best[1] if best else smallest


def plan_tiles(shape: tuple[int, int, int], halo: Halo, max_voxels: int, multiple: int = 1) -> list[Tile]:
    """The tiles that cover a volume, all of one shape: cores of ``tile_core_shape``; where the last core along
    an axis is shorter, its tile is read whole, ending at the volume's edge, and keeps only the voxels not yet
    covered.

    Args:
        shape: the volume's shape (Z, Y, X) in voxels.
        halo: voxels of overlap on each side (one number, or z, y, x); ``Tile.source`` indexes the volume padded
            by ``halo`` voxels.
        max_voxels: the most voxels a haloed tile may hold (see ``tile_core_shape``).
        multiple: a downsampling network's in-plane grid (``spatial_multiple``): in-plane reads start at its
            multiples in the padded volume, as in an untiled pass, so tiling changes nothing but the halo's reach.

    Returns:
        The tiles in z, y, x order; their targets cover the volume exactly once.
    """
    core = tile_core_shape(shape, halo, max_voxels, multiple)
    multiples = (1, multiple, multiple)  # networks downsample in-plane only
    spans = [_axis_spans(length, size, h, m) for length, size, h, m in zip(shape, core, halo_zyx(halo), multiples)]
    return [Tile(source=(z[0], y[0], x[0]), target=(z[1], y[1], x[1]), crop=(z[2], y[2], x[2]))
            for z in spans[0] for y in spans[1] for x in spans[2]]
