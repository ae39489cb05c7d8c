"""Whole-volume denoising with bounded memory: normalise, tile with halos, run, reassemble, restore HU."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..hu import HUNormalization
from ..io.volumes import Volume
from ..models.noise_channel import channel_value, input_channels, noise_conditioned
from ..noise.estimate import estimate_noise_std
from .metal import clamp_near_metal
from .tiling import Halo, halo_zyx, plan_tiles

DEFAULT_MAX_TILE_VOXELS = 4_000_000
# INT8 activations take a quarter of FP32's memory: at 512x512x300 8 M-voxel INT8 tiles peaked under 3.4 GB (one
# tile shape per plan) and ran 9 % faster than 4 M (docs/performance.md); FP32 and FP16 keep 4 M.
MAX_TILE_VOXELS_BY_PRECISION = {"int8": 8_000_000}


def default_tile_voxels(precision: str) -> int:
    """The largest haloed tile, in voxels, a network runs at ``precision`` unless told otherwise.

    Args:
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``.
    """
    return MAX_TILE_VOXELS_BY_PRECISION.get(str(precision), DEFAULT_MAX_TILE_VOXELS)


def denoise_hu(hu: np.ndarray, run: Callable[[np.ndarray], np.ndarray], normalization: HUNormalization,
               halo: Halo, max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS,
               on_tile: Callable[[int, int], None] | None = None, noise_std_hu: float | np.ndarray | None = None,
               noise_level_gain: float = 1.0) -> np.ndarray:
    """Denoise a (Z, Y, X) HU array; returns float32 HU. Voxels outside the normalisation's HU range
    (scanner padding, metal) are returned unchanged. The input array is not modified.

    A noise-conditioned network (its runner takes 2 channels) gets ``noise_std_hu``, the input's noise level (one
    number, or one per slice: a noise map constant within each slice), times ``noise_level_gain`` as its second
    channel; where it is not given it is estimated here from ``hu`` (``noise.estimate``, one number).

    A z-upscaling network (``run`` returns f times the slices it is given) yields (Z * f, Y, X); f is read from
    the first tile's output, and voxels left unchanged repeat their input slice f times.

    Args:
        hu: the volume (Z, Y, X) in HU; not modified.
        run: the network's runner: a normalised (z, y, x) tile in (a noise-conditioned runner takes (2, z, y, x)
            and is given the noise channel here), its denoised normalised (z * f, y, x) tile out.
        normalization: the HU normalisation the network was trained with; voxels outside its
            ``low``..``high`` range keep their input value.
        halo: voxels of overlap on each side of a tile (the network's receptive field): one number, or (z, y, x).
        max_tile_voxels: the most voxels one haloed tile may hold (memory bound).
        on_tile: called with (tiles done, tiles) after each tile.
        noise_std_hu: the input's noise standard deviation in HU for a noise-conditioned network: one number, or
            (Z,) one per slice; None estimates one from ``hu``. Not used by a blind network.
        noise_level_gain: the network is told this multiple of the level (the model card's; 1: as it is).

    Returns:
        The denoised volume in HU, float32, (Z, Y, X) or (Z * f, Y, X) for a z-upscaling network. Without
        upscaling, the voxels near metal (above ``normalization.high``) are clamped to the input's local range.

    Raises:
        ValueError: the network's output on the first tile is not its input upscaled by a whole factor along z.
    """
    multiple = int(getattr(run, "spatial_multiple", 1))
    run = with_spatial_multiple(run)
    halos = halo_zyx(halo)
    levels = None  # the noise channel's value of each (padded) slice, for a noise-conditioned network
    if noise_conditioned(run):
        level = estimate_noise_std(hu).std_hu if noise_std_hu is None else noise_std_hu
        values = np.asarray(channel_value(level, noise_level_gain), dtype=np.float32).reshape(-1)
        if values.size not in (1, hu.shape[0]):
            raise ValueError(f"{values.size} noise levels for a volume of {hu.shape[0]} slices")
        levels = np.pad(np.broadcast_to(values, (hu.shape[0],)), halos[0], mode="edge")
    normalised = normalization.normalise(hu)
    padded = np.pad(normalised, [(h, h) for h in halos], mode="edge")
    output: np.ndarray | None = None
    factor = 1
    tiles = plan_tiles(hu.shape, halo, max_tile_voxels, multiple)
    for index, tile in enumerate(tiles):
        block = padded[tile.source]
        if levels is not None:
            block = np.stack([block, np.broadcast_to(levels[tile.source[0], None, None], block.shape)])
        result = run(block)
        if output is None:
            depth = tile.source[0].stop - tile.source[0].start
            factor = result.shape[0] // depth
            if factor < 1 or result.shape[0] != depth * factor or result.shape[1:] != padded[tile.source].shape[1:]:
                raise ValueError(f"network output {result.shape} is not its input {padded[tile.source].shape} "
                                 "upscaled by a whole factor along z")
            output = np.empty((hu.shape[0] * factor, *hu.shape[1:]), dtype=np.float32)
        output[_scale_z(tile.target, factor)] = result[_scale_z(tile.crop, factor)]
        if on_tile:
            on_tile(index + 1, len(tiles))
    del padded
    assert output is not None
    denoised = normalization.denormalise(output)
    original = hu if factor == 1 else np.repeat(hu, factor, axis=0)
    untouched = ~normalization.in_range(original)
    denoised[untouched] = original[untouched]
    if factor == 1:  # beside metal the network over- and undershoots: hold it to the input's local range
        clamp_near_metal(denoised, hu, normalization.high)
    return denoised


def with_spatial_multiple(run: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``run`` given tiles whose in-plane sides are padded (edge values) to its ``spatial_multiple`` and its output
    cropped back; ``run`` itself where that is 1 (a compiled network of fixed-stride levels cannot pad itself).

    Args:
        run: a runner; its ``spatial_multiple`` attribute (default 1) says what in-plane sides it takes.
    """
    multiple = int(getattr(run, "spatial_multiple", 1))
    if multiple == 1:
        return run

    def run_padded(tile: np.ndarray) -> np.ndarray:
        height, width = tile.shape[-2:]
        pad = [(0, 0)] * (tile.ndim - 2) + [(0, -height % multiple), (0, -width % multiple)]
        return run(np.pad(tile, pad, mode="edge") if any(p[1] for p in pad) else tile)[..., :height, :width]

    run_padded.input_channels = input_channels(run)  # type: ignore[attr-defined]
    return run_padded


def _scale_z(region: tuple[slice, slice, slice], factor: int) -> tuple[slice, slice, slice]:
    if factor == 1:
        return region
    return (slice(region[0].start * factor, region[0].stop * factor), region[1], region[2])


def output_volume(volume: Volume, denoised: np.ndarray) -> Volume:
    """``denoised`` with ``volume``'s geometry. For a z-upscaling model's output (f times the slices) the slice
    spacing is divided by f and the origin moved to the centre of the first thin slice, so the thin slices tile
    exactly the extent of the thick ones (the inverse of ``simulation.thicken_slices``).

    Args:
        volume: the input volume, whose spacing (mm), origin and direction the output takes.
        denoised: the denoised array (Z, Y, X) in HU, or (Z * f, Y, X) from a z-upscaling model.

    Returns:
        A ``Volume`` of ``denoised``; for f > 1 its slice spacing is ``volume``'s divided by f.

    Raises:
        ValueError: ``denoised`` is not ``volume``'s shape upscaled by a whole factor along z.
    """
    factor = denoised.shape[0] // volume.array.shape[0]
    if factor == 1 and denoised.shape == volume.array.shape:
        return volume.with_array(denoised)
    if denoised.shape != (volume.array.shape[0] * factor, *volume.array.shape[1:]):
        raise ValueError(f"output shape {denoised.shape} is not the input's {volume.array.shape} upscaled along z")
    thin = volume.spacing[2] / factor
    direction = np.asarray(volume.direction, dtype=np.float64).reshape(3, 3)
    origin = np.asarray(volume.origin, dtype=np.float64) - direction[:, 2] * thin * (factor - 1) / 2
    return Volume(array=denoised, spacing=(volume.spacing[0], volume.spacing[1], thin), origin=tuple(origin),
                  direction=volume.direction)
