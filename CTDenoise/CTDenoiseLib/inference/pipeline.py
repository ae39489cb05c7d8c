"""File-to-file operations shared by the command line, the Slicer module and batch runs."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__, events
from ..errors import CTDenoiseError
from ..evaluation.noise_estimate import NoiseEstimate, estimate_noise_std
from ..hu import check_ct_values, to_int16_hu
from ..io.volumes import Volume, check_output_path, read_volume, write_volume
from ..models.files import LoadedModel, load_model
from ..progress import Progress
from ..runtime.backends import Choice, Runner, describe_runner, pick_backend, runner_for
from ..runtime.precision_auto import choose_precision
from .self_ensemble import self_ensemble
from .tiled import DEFAULT_MAX_TILE_VOXELS, denoise_hu, output_volume


@dataclass
class Engine:
    """A loaded model and its runner, built once and reused for every file of a batch."""

    loaded: LoadedModel
    run: Runner
    choice: Choice
    backend: str
    self_ensemble: bool = False
    strength: float = 1.0  # 0: the input unchanged, 1: the network's full correction; in between a blend

    @property
    def description(self) -> str:
        ensemble = ", self-ensemble of 8 flips" if self.self_ensemble else ""
        strength = f", strength {self.strength:g}" if self.strength != 1.0 else ""
        return f"{self.loaded.name} {describe_runner(self.choice, self.backend)}{ensemble}{strength}"

    def denoise(self, hu: np.ndarray, max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS, halo: int | None = None,
                on_tile: Callable[[int, int], None] | None = None, noise_std_hu: float | None = None) -> np.ndarray:
        """The denoised volume (float32 HU) at this engine's strength: the one path from an array to its
        denoised array, used by files, batches, the demo, the battery, the radiomics study and detectability.

        Args:
            hu: the volume in HU, (z, y, x).
            max_tile_voxels: the largest tile the network sees at once (memory bound).
            halo: tile overlap; None takes the model's own.
            on_tile: called with (tiles done, tiles) after each tile.
            noise_std_hu: the input's noise level for a noise-conditioned model; None estimates it.
        """
        denoised = denoise_hu(hu, self.run, self.loaded.normalization, self.loaded.halo if halo is None else halo,
                              max_tile_voxels, on_tile=on_tile, noise_std_hu=noise_std_hu)
        return blend(hu, denoised, self.strength)

    def metadata(self, noise: NoiseEstimate) -> tuple[tuple[str, str], ...]:
        """What the output file's header records about how it was made."""
        entry = self.loaded.entry
        return (("ctdenoise_version", __version__), ("ctdenoise_model", self.loaded.name),
                ("ctdenoise_weights_sha256", entry.weights.sha256 if entry else ""),
                ("ctdenoise_precision", self.choice.precision), ("ctdenoise_device", self.choice.device),
                ("ctdenoise_strength", f"{self.strength:g}"),
                ("ctdenoise_self_ensemble", "yes" if self.self_ensemble else "no"),
                ("ctdenoise_input_noise_std_hu", f"{noise.std_hu:.1f}"))


def blend(original: np.ndarray, denoised: np.ndarray, strength: float) -> np.ndarray:
    """``original + strength * (denoised - original)``: the vendors' low / medium / high. A z-upscaling network's
    output is blended with its input's slices repeated.

    Args:
        original: the input volume (HU).
        denoised: the network's output (HU), the input's shape or a whole multiple of its slices.
        strength: 0..1.
    """
    if strength == 1.0:
        return denoised
    base = (original if denoised.shape == original.shape
            else np.repeat(original, denoised.shape[0] // original.shape[0], 0))
    return (base + strength * (denoised - base)).astype(np.float32)


def prepare_engine(model: str = "stresnet", precision: str = "fp32", device: str = "auto", backend: str = "auto",
                   progress: Progress | None = None, ensemble: bool = False, strength: float = 1.0) -> Engine:
    """``ensemble``: average the 8 flips of every tile (``self_ensemble``), 8x the time for about +0.2 dB.
    ``strength``: 0..1, how much of the network's correction is applied (1: all of it)."""
    if not 0.0 <= strength <= 1.0:
        raise CTDenoiseError(f"Strength must be between 0 and 1, got {strength}.", "Use e.g. --strength 0.7.")
    progress = progress or Progress()
    choice = choose_precision(precision, device, model, backend)  # precision 'auto' picks the fastest here
    if choice.note:
        progress.info(choice.note)
    engine_name = pick_backend(choice, backend)
    loaded = load_model(model)
    run = runner_for(loaded, choice, engine_name)
    engine = Engine(loaded, self_ensemble(run) if ensemble else run, choice, engine_name, ensemble, strength)
    progress.info(f"running {engine.description}")
    return engine


@dataclass(frozen=True)
class FileResult:
    input: str
    output: str
    status: str  # "ok" or "failed"
    error: str = ""
    seconds: float = 0.0  # reading, denoising and writing
    denoise_seconds: float = 0.0  # normalisation, tiles through the network, reassembly
    voxels: int = 0
    peak_rss_mb: float | None = None  # of this process so far (Linux), as a bound on memory use

    def event(self) -> dict:
        return events.event("file", input=self.input, output=self.output, status=self.status,
                            error=self.error or None, seconds=round(self.seconds, 3),
                            denoise_seconds=round(self.denoise_seconds, 3), voxels=self.voxels,
                            peak_rss_mb=self.peak_rss_mb)


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (VmHWM), or None where /proc is missing. Unlike ru_maxrss it does
    not include the parent's memory inherited across fork + exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def denoise_with(engine: Engine, input_path: str | os.PathLike, output_path: str | os.PathLike,
                 progress: Progress | None = None, max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS,
                 halo: int | None = None, series: str | None = None,
                 writer: Callable[[Volume, Path], object] | None = None) -> FileResult:
    """Denoise one volume with a prepared engine and write it (int16 HU, same geometry) atomically.
    ``series``: which DICOM series (UID or number) of a folder holding several. ``writer``: writes the denoised
    volume to ``output_path`` instead of ``write_volume`` (DICOM series output), which then checks that path."""
    progress = progress or Progress()
    started = time.perf_counter()
    output = check_output_path(output_path, inputs=(input_path,)) if writer is None else Path(output_path)
    volume = read_volume(input_path, series)
    check_ct_values(volume.array)
    noise = estimate_noise_std(volume.array)
    progress.noise(noise)
    progress.update(0, 1)
    denoise_started = time.perf_counter()
    denoised = engine.denoise(volume.array, max_tile_voxels, halo, progress.update, noise.std_hu)
    denoise_seconds = time.perf_counter() - denoise_started
    result = output_volume(volume, to_int16_hu(denoised))
    (writer or write_volume)(replace(result, metadata=engine.metadata(noise)), output)
    return FileResult(str(input_path), str(output), "ok", seconds=time.perf_counter() - started,
                      denoise_seconds=denoise_seconds, voxels=int(volume.array.size), peak_rss_mb=peak_rss_mb())


def denoise_file(input_path: str | os.PathLike, output_path: str | os.PathLike, model: str = "stresnet",
                 precision: str = "fp32", device: str = "auto", progress: Progress | None = None,
                 max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS, halo: int | None = None,
                 backend: str = "auto", ensemble: bool = False, strength: float = 1.0) -> Path:
    """Denoise one volume and write it (int16 HU, same geometry) atomically; the input is only read."""
    progress = progress or Progress()
    started = time.perf_counter()
    check_output_path(output_path, inputs=(input_path,))
    engine = prepare_engine(model, precision, device, backend, progress, ensemble, strength)
    result = denoise_with(engine, input_path, output_path, progress, max_tile_voxels, halo)
    progress.finished(result.output, time.perf_counter() - started)
    return Path(result.output)


def denoise_many(engine: Engine, pairs: list[tuple[Path, Path]], progress: Progress | None = None,
                 max_tile_voxels: int = DEFAULT_MAX_TILE_VOXELS, halo: int | None = None,
                 on_result: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """Denoise each (input, output) pair; a file that fails is reported and the rest go on."""
    results = []
    for input_path, output_path in pairs:
        try:
            result = denoise_with(engine, input_path, output_path, progress, max_tile_voxels, halo)
        except Exception as error:  # any one file's problem; Ctrl-C (KeyboardInterrupt) still stops the batch
            message = str(error) if isinstance(error, CTDenoiseError) else f"{type(error).__name__}: {error}"
            result = FileResult(str(input_path), str(output_path), "failed", error=message)
        results.append(result)
        if on_result:
            on_result(result)
    return results
