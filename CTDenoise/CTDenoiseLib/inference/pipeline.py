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
from ..figures.preview import PreviewRequest, preview_path_for, preview_slice, write_preview
from ..hu import to_int16_hu
from ..io.plausibility import check_ct_volume
from ..io.volumes import Volume, check_format_holds, check_output_path, read_volume, write_checked_volume
from ..models.files import LoadedModel, load_model
from ..models.noise_channel import noise_conditioned
from ..noise.estimate import NoiseEstimate, estimate_noise_per_slice, estimate_noise_std
from ..progress import Progress
from ..runtime.backends import Choice, Runner, describe_runner, pick_backend, resolve_choice, runner_for
from ..runtime.precision_auto import choose_precision
from ..vocabulary import DEFAULT_MODEL, Backend, Device, Precision
from .adaptation import Adaptation, AdaptationReport, adapt_model, int8_refusal
from .self_ensemble import self_ensemble
from .tiled import default_tile_voxels, denoise_hu, output_volume
from .tiling import Halo


@dataclass
class Engine:
    """A loaded model and its runner, built once and reused for every file of a batch.

    Attributes:
        loaded: the model: network, HU normalisation, halo and card.
        run: the runner tiles go through (already averaging the 8 flips when ``self_ensemble``).
        choice: the resolved precision and device.
        backend: the engine running it, ``torch`` or ``openvino``.
        self_ensemble: whether ``run`` averages the 8 flips of each tile (recorded in the description and the
            output's metadata).
        strength: 0: the input unchanged, 1: the network's full correction; in between a blend (``blend``).
        adaptation: where set, each scan is denoised by a copy of the network adapted to it first
            (``adapted_to``; ``denoise_with`` does it).
        adapted: set on the engine ``adapted_to`` returns: what the adaptation did.
    """

    loaded: LoadedModel
    run: Runner
    choice: Choice
    backend: str
    self_ensemble: bool = False
    strength: float = 1.0  # 0: the input unchanged, 1: the network's full correction; in between a blend
    adaptation: Adaptation | None = None  # asked for: each scan gets a copy of the network adapted to it
    adapted: AdaptationReport | None = None  # done: this engine's network is such a copy

    @property
    def description(self) -> str:
        """What runs, for people: e.g. ``stresnet INT8 on CPU via OpenVINO, strength 0.5``."""
        ensemble = ", self-ensemble of 8 flips" if self.self_ensemble else ""
        strength = f", strength {self.strength:g}" if self.strength != 1.0 else ""
        adapt = (f", adapted to each scan first ({self.adaptation.steps} steps)" if self.adaptation
                 else ", adapted to this scan" if self.adapted else "")
        return f"{self.loaded.name} {describe_runner(self.choice, self.backend)}{ensemble}{strength}{adapt}"

    def caption(self, noise: NoiseEstimate, seconds: float) -> str:
        """How an output was made, for a figure: model, precision, strength, the input's noise and the time.

        Args:
            noise: the input's noise estimate.
            seconds: the denoising time in seconds.
        """
        level = (f"input noise about {noise.std_hu:.0f} HU" if np.isfinite(noise.std_hu)
                 else "input noise not measured (no flat soft tissue)")
        ensemble = ", self-ensemble of 8 flips" if self.self_ensemble else ""
        adapted = ", adapted to this scan" if self.adapted else ""
        return (f"model {self.loaded.name}{adapted}, {describe_runner(self.choice, self.backend)}, strength "
                f"{self.strength:g}{ensemble}; {level}; denoised in {seconds:.1f} s")

    def event(self) -> dict:
        """What runs, for programs (the ``engine`` event): model, precision, device, backend, self-ensemble,
        strength and the steps of ``--adapt`` (null without)."""
        return events.event("engine", model=self.loaded.name, precision=str(self.choice.precision),
                            device=str(self.choice.device), backend=str(self.backend),
                            self_ensemble=self.self_ensemble, strength=self.strength,
                            adapt_steps=self.adaptation.steps if self.adaptation else None)

    @property
    def noise_conditioned(self) -> bool:
        """Whether the network is told its input's noise level (its runner takes a second channel)."""
        return noise_conditioned(self.run)

    @property
    def per_slice_noise(self) -> bool:
        """Whether a noise-conditioned network is told each slice's level (the card's ``noise_map`` ``slice``)."""
        return self.noise_conditioned and self.loaded.noise_map == "slice"

    def denoise(self, hu: np.ndarray, max_tile_voxels: int | None = None, halo: Halo | None = None,
                on_tile: Callable[[int, int], None] | None = None, noise_std_hu: float | np.ndarray | None = None,
                noise_grain: float | None = None) -> np.ndarray:
        """The denoised volume (float32 HU) at this engine's strength: the one path from an array to its
        denoised array, used by files, batches, the demo, the battery, the radiomics study and detectability.

        Args:
            hu: the volume in HU, (z, y, x).
            max_tile_voxels: the largest tile the network sees at once, in voxels (memory bound); None: the
                precision's default (``tiled.default_tile_voxels``).
            halo: tile overlap in voxels; None takes the model's own.
            on_tile: called with (tiles done, tiles) after each tile.
            noise_std_hu: the input's noise level (standard deviation, HU) for a noise-conditioned model, one number
                or (z,) one per slice; None estimates it (per slice where the card's ``noise_map`` says so). The
                network is told it times the card's ``noise_level_gain`` (for a table over the noise grain, the
                grain is ``noise_grain``, or measured on ``hu`` where it is None).
            noise_grain: the input's noise grain (``NoiseEstimate.grain``) where the caller has estimated it.

        Returns:
            The denoised volume in HU, float32, (z, y, x), or (z * f, y, x) for a network upscaling z by f.
        """
        noise_std_hu, gain = self.noise_told(hu, noise_std_hu, noise_grain)
        tile_voxels = default_tile_voxels(self.choice.precision) if max_tile_voxels is None else max_tile_voxels
        denoised = denoise_hu(hu, self.run, self.loaded.normalization, self.loaded.halo if halo is None else halo,
                              tile_voxels, on_tile=on_tile, noise_std_hu=noise_std_hu, noise_level_gain=gain)
        return blend(hu, denoised, self.strength)

    def noise_told(self, hu: np.ndarray, noise_std_hu: float | np.ndarray | None = None,
                   noise_grain: float | None = None) -> tuple[float | np.ndarray | None, float]:
        """What a noise-conditioned network is told about ``hu``: (its noise level, estimated where not given,
        per slice where the card says so; the card's gain for its grain). A blind network: (the level as given, 1).

        Args:
            hu: the volume in HU, (z, y, x).
            noise_std_hu: the level where the caller has estimated it (one number or (z,)), else None.
            noise_grain: the input's noise grain where the caller has estimated it, else None.
        """
        if not self.noise_conditioned:
            return noise_std_hu, 1.0
        rule = self.loaded.noise_level_gain
        if noise_std_hu is None and self.per_slice_noise:
            noise_std_hu = estimate_noise_per_slice(hu).std_hu
        if noise_std_hu is None or (noise_grain is None and not rule.is_constant):
            estimate = estimate_noise_std(hu)
            noise_std_hu = estimate.std_hu if noise_std_hu is None else noise_std_hu
            noise_grain = estimate.grain if noise_grain is None else noise_grain
        return noise_std_hu, rule.for_grain(noise_grain)

    def adapted_to(self, hu: np.ndarray, noise_std_hu: float | np.ndarray | None = None,
                   noise_grain: float | None = None, pixel_mm: float = 1.0,
                   progress: Progress | None = None) -> "Engine":
        """An engine whose network is a copy of this one's fine-tuned on ``hu`` (``inference.adaptation``),
        running at this engine's precision, device, backend, self-ensemble and strength; this engine is unchanged.

        Args:
            hu: the scan the copy is adapted to, (z, y, x) HU; only read.
            noise_std_hu: its noise level as the network will be told it (one number or (z,)); None: estimated.
            noise_grain: its noise grain where known; None: measured where the card's gain needs it.
            pixel_mm: its in-plane pixel size, mm.
            progress: told the steps as they go (as ``update``) and the report at the end.

        Raises:
            CTDenoiseError: the engine runs INT8 (a calibrated artefact of the shipped weights), or the scan's
                noise cannot be measured.
        """
        progress = progress or Progress()
        if self.choice.precision == Precision.INT8:
            raise int8_refusal()
        told, gain = self.noise_told(hu, noise_std_hu, noise_grain)
        progress.info(f"adapting {self.loaded.name} to this scan ({(self.adaptation or Adaptation()).steps} steps)")
        loaded, report = adapt_model(self.loaded, hu, told if self.noise_conditioned else None,
                                     self.adaptation or Adaptation(), gain, pixel_mm, str(self.choice.device),
                                     progress.update)
        progress.adapted(report.summary, report.event())
        run = runner_for(loaded, self.choice, self.backend)
        return replace(self, loaded=loaded, run=self_ensemble(run) if self.self_ensemble else run, adaptation=None,
                       adapted=report)

    def metadata(self, noise: NoiseEstimate) -> tuple[tuple[str, str], ...]:
        """What the output file's header records about how it was made.

        Args:
            noise: the input's noise estimate; its ``std_hu`` is recorded in HU to 0.1.

        Returns:
            (key, value) pairs: the CTDenoise version, model name, weights' SHA-256 (empty without a registry
            entry), precision, device, strength, self-ensemble (``yes``/``no``), the input's noise level and,
            for a noise-conditioned model, the gain its network was told that level with and, where it was told a
            per-slice map, the map's range (``LOW..HIGH`` HU); for a network adapted to the scan, what the adaptation
            did (``AdaptationReport.summary``).
        """
        entry = self.loaded.entry
        told = ((("ctdenoise_noise_level_gain", f"{self.loaded.noise_level_gain.for_grain(noise.grain):.3g}"),)
                if self.noise_conditioned else ())
        if self.noise_conditioned and noise.map_hu:
            told += (("ctdenoise_noise_map_hu", f"{noise.map_hu[0]:.1f}..{noise.map_hu[1]:.1f}"),)
        return (("ctdenoise_version", __version__), ("ctdenoise_model", self.loaded.name),
                ("ctdenoise_weights_sha256", entry.weights.sha256 if entry else ""),
                ("ctdenoise_precision", self.choice.precision), ("ctdenoise_device", self.choice.device),
                ("ctdenoise_strength", f"{self.strength:g}"),
                ("ctdenoise_self_ensemble", "yes" if self.self_ensemble else "no"),
                ("ctdenoise_input_noise_std_hu", f"{noise.std_hu:.1f}")) + told + (
                    (("ctdenoise_adaptation", self.adapted.summary),) if self.adapted else ())


def blend(original: np.ndarray, denoised: np.ndarray, strength: float) -> np.ndarray:
    """``original + strength * (denoised - original)``: the vendors' low / medium / high. A z-upscaling network's
    output is blended with its input's slices repeated.

    Args:
        original: the input volume (HU).
        denoised: the network's output (HU), the input's shape or a whole multiple of its slices.
        strength: 0..1.

    Returns:
        ``denoised`` itself when ``strength`` is 1, otherwise the blend as float32 in HU, ``denoised``'s shape.
    """
    if strength == 1.0:
        return denoised
    base = (original if denoised.shape == original.shape
            else np.repeat(original, denoised.shape[0] // original.shape[0], 0))
    return (base + strength * (denoised - base)).astype(np.float32)


def prepare_engine(model: str = DEFAULT_MODEL, precision: str = Precision.FP32, device: str = Device.AUTO,
                   backend: str = Backend.AUTO,
                   progress: Progress | None = None, ensemble: bool = False, strength: float = 1.0,
                   choice: Choice | None = None, adaptation: Adaptation | None = None) -> Engine:
    """Load a model and build its runner once, for ``denoise_with`` and ``denoise_many``.

    Args:
        model: the registered model's name.
        precision: ``auto``, ``fp32``, ``fp16`` or ``int8``; ``auto`` picks the fastest here.
        device: ``auto``, ``cpu`` or ``cuda``.
        backend: ``auto``, ``torch`` or ``openvino`` (as in ``pick_backend``).
        progress: told what ``auto`` chose and what will run; None reports nothing.
        ensemble: average the 8 flips of every tile (``self_ensemble``), 8x the time for about +0.2 dB.
        strength: 0..1, how much of the network's correction is applied (1: all of it).
        choice: ``precision`` and ``device`` already resolved by the caller (``resolve_choice``), so they are not
            resolved again; None resolves them here.
        adaptation: adapt a copy of the network to each scan before denoising it (``Engine.adapted_to``); ``auto``
            precision then runs FP32 where it would have run INT8, and an explicit INT8 is refused.

    Returns:
        The engine: the loaded model, its runner and how it runs.

    Raises:
        CTDenoiseError: ``strength`` is outside 0..1.
    """
    if not 0.0 <= strength <= 1.0:
        raise CTDenoiseError(f"Strength must be between 0 and 1, got {strength}.", "Use e.g. --strength 0.7.")
    progress = progress or Progress()
    choice = choice or choose_precision(precision, device, model, backend)  # 'auto' picks the fastest here
    if adaptation is not None and choice.precision == Precision.INT8:
        if precision != Precision.AUTO:
            raise int8_refusal()
        choice = replace(resolve_choice(Precision.FP32, choice.device),
                         note="precision auto: FP32, because --adapt fine-tunes the weights (INT8 is a fixed artefact)")
    if choice.note:
        progress.info(choice.note)
    engine_name = pick_backend(choice, backend)
    loaded = load_model(model)
    run = runner_for(loaded, choice, engine_name)
    engine = Engine(loaded, self_ensemble(run) if ensemble else run, choice, engine_name, ensemble, strength,
                    adaptation)
    progress.running(engine.description, engine.event())
    return engine


@dataclass(frozen=True)
class FileResult:
    """The outcome of one volume of a run.

    Attributes:
        input: the input path, as given.
        output: the output path.
        status: ``ok`` or ``failed``.
        error: why it failed (a ``CTDenoiseError``'s message, else the exception's type and message); empty when
            ``ok``.
        seconds: reading, denoising and writing, in seconds (0 when failed).
        denoise_seconds: normalisation, tiles through the network and reassembly, in seconds (0 when failed).
        voxels: the input volume's voxel count (0 when failed).
        peak_rss_mb: this process's peak resident memory so far in MiB (Linux ``VmHWM``), as a bound on memory
            use; None where it is unknown or the file failed.
    """

    input: str
    output: str
    status: str  # "ok" or "failed"
    error: str = ""
    seconds: float = 0.0  # reading, denoising and writing
    denoise_seconds: float = 0.0  # normalisation, tiles through the network, reassembly
    voxels: int = 0
    peak_rss_mb: float | None = None  # of this process so far (Linux), as a bound on memory use

    def event(self) -> dict:
        """The result as a ``file`` event."""
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
                 progress: Progress | None = None, max_tile_voxels: int | None = None,
                 halo: int | None = None, series: str | None = None,
                 writer: Callable[[Volume, Path], object] | None = None,
                 preview: PreviewRequest | None = None) -> FileResult:
    """Denoise one volume with a prepared engine and write it (int16 HU, same geometry) atomically.
    ``series``: which DICOM series (UID or number) of a folder holding several. ``writer``: writes the denoised
    volume to ``output_path`` instead of ``write_checked_volume`` (DICOM series output), which then checks that
    path. The output is checked once, before the input is read. ``preview``: a PNG of one slice of input,
    output and difference, written after the output.

    Args:
        engine: from ``prepare_engine``.
        input_path: an image file (NRRD, NIfTI, MHA/MHD) or a folder holding a DICOM series; only read.
        output_path: the output file, checked before any work (its type from its extension); with ``writer``, what
            ``writer`` is given.
        progress: told the input's estimated noise level and each tile done; None reports nothing.
        max_tile_voxels: the largest tile the network sees at once, in voxels (memory bound); None: the
            precision's default.
        halo: tile overlap in voxels; None takes the model's own.
        series: which DICOM series (UID or number) of a folder holding several.
        writer: writes the denoised volume to ``output_path`` instead of ``write_checked_volume``.
        preview: where to write the preview and which slice it shows (checked before denoising); None: none.

    Returns:
        The result, status ``ok``, with its timings in seconds, voxel count and peak memory.
    """
    progress = progress or Progress()
    started = time.perf_counter()
    output = check_output_path(output_path, inputs=(input_path,)) if writer is None else Path(output_path)
    volume = read_volume(input_path, series)
    check_ct_volume(volume)
    if writer is None:
        check_format_holds(volume, output)  # before the work, not after it
    if preview is not None:
        preview_slice(volume.array.shape[0], preview.slice_index)  # a slice outside the volume: say so first
    noise = estimate_noise_std(volume.array)
    levels: float | np.ndarray = noise.std_hu
    if engine.per_slice_noise:
        levels = estimate_noise_per_slice(volume.array).std_hu
        if np.isfinite(levels).any():
            noise = replace(noise, map_hu=(float(np.nanmin(levels)), float(np.nanmax(levels))))
    progress.noise(noise)
    progress.update(0, 1)
    denoise_started = time.perf_counter()  # an adaptation counts as denoising time
    if engine.adaptation is not None:
        engine = engine.adapted_to(volume.array, levels if engine.noise_conditioned else None, noise.grain,
                                   float(volume.spacing[0]), progress)
    denoised = engine.denoise(volume.array, max_tile_voxels, halo, progress.update, levels, noise.grain)
    denoise_seconds = time.perf_counter() - denoise_started
    result = output_volume(volume, to_int16_hu(denoised))
    (writer or write_checked_volume)(replace(result, metadata=engine.metadata(noise)), output)
    if preview is not None:
        caption = f"{Path(input_path).name} -> {output.name}: {engine.caption(noise, denoise_seconds)}"
        progress.info(f"preview: {write_preview(preview, volume, result.array, caption)}")
    return FileResult(str(input_path), str(output), "ok", seconds=time.perf_counter() - started,
                      denoise_seconds=denoise_seconds, voxels=int(volume.array.size), peak_rss_mb=peak_rss_mb())


def denoise_file(input_path: str | os.PathLike, output_path: str | os.PathLike, model: str = DEFAULT_MODEL,
                 precision: str = Precision.FP32, device: str = Device.AUTO, progress: Progress | None = None,
                 max_tile_voxels: int | None = None, halo: int | None = None,
                 backend: str = Backend.AUTO, ensemble: bool = False, strength: float = 1.0) -> Path:
    """Denoise one volume and write it (int16 HU, same geometry) atomically; the input is only read.

    Args:
        input_path: an image file (NRRD, NIfTI, MHA/MHD) or a folder holding a DICOM series.
        output_path: the output file (its type from its extension); checked before the model is loaded.
        model: the registered model's name.
        precision: ``auto``, ``fp32``, ``fp16`` or ``int8``; ``auto`` picks the fastest here.
        device: ``auto``, ``cpu`` or ``cuda``.
        progress: told what runs, the input's noise level, each tile done and the end; None reports nothing.
        max_tile_voxels: the largest tile the network sees at once, in voxels (memory bound); None: the
            precision's default.
        halo: tile overlap in voxels; None takes the model's own.
        backend: ``auto``, ``torch`` or ``openvino`` (as in ``pick_backend``).
        ensemble: average the 8 flips of every tile (``self_ensemble``), 8x the time.
        strength: 0..1, how much of the network's correction is applied (1: all of it).

    Returns:
        The output path.
    """
    progress = progress or Progress()
    started = time.perf_counter()
    check_output_path(output_path, inputs=(input_path,))
    engine = prepare_engine(model, precision, device, backend, progress, ensemble, strength)
    result = denoise_with(engine, input_path, output_path, progress, max_tile_voxels, halo)
    progress.finished(result.output, time.perf_counter() - started)
    return Path(result.output)


def denoise_many(engine: Engine, pairs: list[tuple[Path, Path]], progress: Progress | None = None,
                 max_tile_voxels: int | None = None, halo: int | None = None,
                 on_result: Callable[[FileResult], None] | None = None, preview_dir: Path | None = None,
                 preview_slice_index: int | None = None) -> list[FileResult]:
    """Denoise each (input, output) pair; a file that fails is reported and the rest go on.

    Args:
        engine: from ``prepare_engine``, reused for every file.
        pairs: (input path, output path) of each volume, in the order they are run.
        progress: told each file's noise level and tiles done; None reports nothing.
        max_tile_voxels: the largest tile the network sees at once, in voxels (memory bound); None: the
            precision's default.
        halo: tile overlap in voxels; None takes the model's own.
        on_result: called with each file's result as soon as that file is done.
        preview_dir: where each output's preview goes (``preview_path_for``); None: no previews.
        preview_slice_index: the slice the previews show (0-based); None: each volume's middle one.

    Returns:
        One result per pair, in order; a file that raised any ``Exception`` has status ``failed`` and its message
        (Ctrl-C still stops the batch).
    """
    results = []
    for input_path, output_path in pairs:
        preview = (None if preview_dir is None
                   else PreviewRequest(preview_path_for(Path(output_path), preview_dir), preview_slice_index))
        try:
            result = denoise_with(engine, input_path, output_path, progress, max_tile_voxels, halo, preview=preview)
        except Exception as error:  # any one file's problem; Ctrl-C (KeyboardInterrupt) still stops the batch
            message = str(error) if isinstance(error, CTDenoiseError) else f"{type(error).__name__}: {error}"
            result = FileResult(str(input_path), str(output_path), "failed", error=message)
        results.append(result)
        if on_result:
            on_result(result)
    return results
