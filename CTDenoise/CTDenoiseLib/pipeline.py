"""File-to-file operations shared by the command line, the Slicer module and batch runs."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .backends import make_runner, resolve_choice
from .hu import check_ct_values, to_int16_hu
from .inference import DEFAULT_MAX_TILE_VOXELS, denoise_hu
from .model_files import load_model
from .progress import Progress
from .volume_io import check_output_path, read_volume, write_volume


def denoise_file(input_path: str | os.PathLike, output_path: str | os.PathLike, model: str = "stresnet",
                 precision: str = "fp32", device: str = "auto", progress: Progress | None = None,
                 max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS, halo: int | None = None) -> Path:
    """Denoise one volume and write it (int16 HU, same geometry) atomically; the input is only read."""
    progress = progress or Progress()
    started = time.perf_counter()
    output = check_output_path(output_path, inputs=(input_path,))
    choice = resolve_choice(precision, device)
    if choice.note:
        progress.info(choice.note)
    loaded = load_model(model)
    run = make_runner(loaded, choice)
    volume = read_volume(input_path)
    check_ct_values(volume.array)
    progress.update(0, 1)
    denoised = denoise_hu(volume.array, run, loaded.normalization, loaded.halo if halo is None else halo,
                          max_tile_voxels, on_tile=progress.update)
    write_volume(volume.with_array(to_int16_hu(denoised)), output)
    progress.finished(str(output), time.perf_counter() - started)
    return output
