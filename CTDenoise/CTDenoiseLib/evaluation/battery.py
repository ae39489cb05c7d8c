"""The robustness battery: every method on every condition of a grid, scored against the reference.

Per condition (``battery_grid``): the normal-dose volume is resampled / thickened as the condition says, the low
dose simulated on it (or, for the MITA phantom, its real low-dose scans are read), and each method denoises the
same low-dose volume: the low dose itself, the classical baselines (``battery_baselines``: non-local means told
each slice's reference-free noise estimate, the reference every model must beat; the same told one estimate for
the volume; its upper bound, told each slice's true noise at its best strength; Slicer's curvature anisotropic
diffusion; BM3D where installed), and each model at each precision. Scores: PSNR and SSIM inside the body over
``BATTERY_WINDOW``, the standard deviation of the error (output - reference) in flat soft tissue, and seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from scipy import ndimage

from ..io.volumes import Volume, read_volume
from ..noise.estimate import MIN_PIXELS, estimate_noise_per_slice, estimate_noise_std
from ..simulation.low_dose import DoseSimulation, simulate_volume, thicken_slices
from ..vocabulary import Device, Precision
from .battery_grid import NATIVE, Condition, Grid
from .metrics import psnr, ssim

if TYPE_CHECKING:
    from ..inference.adaptation import Adaptation

BATTERY_WINDOW = (-1000.0, 1000.0)  # HU: body PSNR/SSIM as radiologists' soft-tissue-to-lung range
LOW_DOSE = "low dose"
SIMULATION_SEED = 2026  # one noise draw per condition, the same for every method
# Every model stays loaded for the whole grid, and OpenVINO keeps a compiled network per tile shape: 4 Mvox
# tiles made six engines hold 12 GB (out of memory on a 24 GB machine running two shards); 1 Mvox holds a quarter.
BATTERY_TILE_VOXELS = 1_000_000


@dataclass
class Scene:
    """One condition made concrete: the reference, the low dose, and the masks the scores use.

    Attributes:
        condition: the condition it realises.
        reference: what the scores compare against, (Z, Y, X) float32 HU: the normal-dose volume, or the MITA
            phantom's noise-free truth.
        low: the low-dose volume every method denoises, (Z, Y, X) float32 HU.
        spacing: voxel size (x, y, z) in mm.
        body: inside the patient (``body_mask``), boolean, the shape of ``reference``.
        tissue: flat soft tissue inside the body (``soft_tissue_mask``), boolean.
        true_noise_std: standard deviation of (low - reference) in ``tissue``, HU (nan where it is empty).
        estimated_noise_std: the reference-free noise estimate of ``low``, one for the volume, HU.
        true_noise_per_slice: (Z,) standard deviation of (low - reference) in each slice's ``body``, HU
            (``true_noise_std`` where a slice has under ``MIN_PIXELS`` of body).
        estimated_noise_per_slice: (Z,) the reference-free estimate of each slice (``estimate_noise_per_slice``).
        estimate_slices: (Z,) how many slices each per-slice estimate pooled (1: the slice's own tissue).
        extra_references: further references by name (the phantom's ``"100 % dose mean"``).
        settings_chosen: a setting a method chose on this scene, by method (the upper-bound NLM's strength), for
            the rows.
    """

    condition: Condition
    reference: np.ndarray
    low: np.ndarray
    spacing: tuple[float, float, float]
    body: np.ndarray
    tissue: np.ndarray
    true_noise_std: float
    estimated_noise_std: float
    true_noise_per_slice: np.ndarray
    estimated_noise_per_slice: np.ndarray
    estimate_slices: np.ndarray
    extra_references: dict[str, np.ndarray] = field(default_factory=dict)
    settings_chosen: dict[str, str] = field(default_factory=dict)


def body_mask(reference: np.ndarray) -> np.ndarray:
    """Inside the patient: smoothed reference above -500 HU, holes (lungs) filled per slice, largest component.

    Args:
        reference: the volume (Z, Y, X) in HU; smoothed in-plane with a Gaussian of 2 pixels.

    Returns:
        A boolean mask of ``reference``'s shape.
    """
    inside = ndimage.gaussian_filter(reference.astype(np.float32), (0, 2, 2)) > -500
    inside = np.stack([ndimage.binary_fill_holes(image) for image in inside])
    labels, count = ndimage.label(inside)
    if count > 1:
        sizes = ndimage.sum(inside, labels, range(1, count + 1))
        inside = labels == (1 + int(np.argmax(sizes)))
    return inside


def soft_tissue_mask(reference: np.ndarray) -> np.ndarray:
    """Flat soft tissue: smoothed reference within -150..250 HU, eroded by 3 pixels in-plane.

    Args:
        reference: the volume (Z, Y, X) in HU; smoothed in-plane with a Gaussian of 2 pixels.

    Returns:
        A boolean mask of ``reference``'s shape (not limited to the body: ``make_scene`` intersects it).
    """
    smooth = ndimage.gaussian_filter(reference.astype(np.float32), (0, 2, 2))
    tissue = (smooth > -150) & (smooth < 250)
    return ndimage.binary_erosion(tissue, np.ones((1, 7, 7), bool))


def _crop(volume: Volume, grid: Grid) -> Volume:
    array = volume.array
    if grid.max_slices and array.shape[0] > grid.max_slices:
        start = (array.shape[0] - grid.max_slices) // 2
        array = array[start:start + grid.max_slices]
    if grid.crop:
        y0, x0 = ((n - min(n, grid.crop)) // 2 for n in array.shape[1:])
        array = array[:, y0:y0 + grid.crop, x0:x0 + grid.crop]
    return replace(volume, array=np.ascontiguousarray(array))


def resample_in_plane(volume: Volume, pixel_mm: float) -> Volume:
    """Resample every slice to square pixels of ``pixel_mm`` (linear; the field of view is kept).

    Args:
        volume: the volume; its in-plane spacing (mm) sets the zoom factors.
        pixel_mm: the new pixel size in mm.

    Returns:
        A float32 volume with ``pixel_mm`` pixels and the input's slice spacing, origin and direction.
    """
    factors = (volume.spacing[1] / pixel_mm, volume.spacing[0] / pixel_mm)
    array = ndimage.zoom(volume.array.astype(np.float32), (1.0, *factors), order=1, prefilter=False)
    return Volume(array=array, spacing=(pixel_mm, pixel_mm, volume.spacing[2]), origin=volume.origin,
                  direction=volume.direction)


def _read_phantom(folder: Path, dose: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low dose, 100 % dose mean, noise-free truth) of the MITA phantom, HU, signal present, 10 slices each."""
    import SimpleITK as sitk

    def read(path: Path) -> np.ndarray:
        return sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float32) - 1000.0  # stored as HU + 1000

    low = read(folder / "fbp" / f"dose_{round(dose * 100):03d}" / "signal_present" / "signal_present.mhd")
    full = read(folder / "fbp" / "dose_100" / "signal_present" / "signal_present.mhd")
    truth = read(folder / "fbp" / "ground_truth.mhd")
    truth = np.broadcast_to(truth.reshape(1, *truth.shape[-2:]), low.shape).copy()
    return low, np.broadcast_to(full.mean(axis=0), low.shape).copy(), truth


def make_scene(condition: Condition, grid: Grid, volumes: dict[str, Volume]) -> Scene:
    """Reference and low dose of one condition (the simulation is seeded: every method sees the same noise).

    Args:
        condition: the condition; a simulated one is resampled to its pixel size and thickened to its slice
            thickness before the low dose is simulated (``SIMULATION_SEED``).
        grid: the grid, whose ``phantom`` folder a real-dose condition reads (10 slices, 1 mm voxels).
        volumes: the normal-dose volumes in HU by case name.

    Returns:
        The scene, with its masks and its true and estimated noise levels.
    """
    if condition.real_dose:
        # The phantom's realisations are stacked along z: a z-uniform cylinder scanned in 10 contiguous slices.
        low, full_mean, truth = _read_phantom(Path(grid.phantom), condition.dose)
        spacing = (1.0, 1.0, 1.0)
        reference = truth
        extra = {"100 % dose mean": full_mean}
    else:
        volume = volumes[condition.case]
        if condition.pixel != NATIVE:
            volume = resample_in_plane(volume, float(condition.pixel))
        if condition.thickness != NATIVE:
            volume = thicken_slices(volume, float(condition.thickness))
        reference = volume.array.astype(np.float32)
        settings = DoseSimulation(dose=condition.dose, seed=SIMULATION_SEED, kernel=condition.kernel,
                                  exposure_control=condition.exposure_control)
        low = simulate_volume(volume, settings).array.astype(np.float32)
        spacing = volume.spacing
        extra = {}
    return scene_of(condition, reference, low, spacing, extra)


def scene_of(condition: Condition, reference: np.ndarray, low: np.ndarray, spacing: tuple[float, float, float],
             extra_references: dict[str, np.ndarray] | None = None) -> Scene:
    """A scene from its reference and low dose: the masks, and the true and estimated noise, per volume and per
    slice.

    Args:
        condition: the condition it realises.
        reference: the reference, (Z, Y, X) float32 HU.
        low: the low dose, the same shape, float32 HU.
        spacing: voxel size (x, y, z) in mm.
        extra_references: further references by name.

    Returns:
        The scene.
    """
    body = body_mask(reference)
    tissue = soft_tissue_mask(reference) & body
    true_noise = float(np.std((low - reference)[tissue])) if tissue.any() else float("nan")
    per_slice = estimate_noise_per_slice(low)
    return Scene(condition, reference, low, spacing, body, tissue, true_noise, estimate_noise_std(low).std_hu,
                 true_noise_per_slice(low, reference, body, true_noise), per_slice.std_hu, per_slice.slices,
                 dict(extra_references or {}))


def true_noise_per_slice(low: np.ndarray, reference: np.ndarray, body: np.ndarray, fallback: float) -> np.ndarray:
    """The standard deviation of (low - reference) inside the body, slice by slice.

    Args:
        low: the low dose, (Z, Y, X) HU.
        reference: what it is compared with, HU, the same shape.
        body: the body mask, the same shape.
        fallback: the value (HU) of a slice with fewer than ``MIN_PIXELS`` body pixels.

    Returns:
        (Z,) float64, HU.
    """
    error = low.astype(np.float64) - reference
    return np.array([float(np.std(slice_error[inside])) if np.count_nonzero(inside) >= MIN_PIXELS else fallback
                     for slice_error, inside in zip(error, body)])


def simulated_scenes(grid: Grid) -> list[Scene]:
    """Every simulated condition of ``grid`` made concrete (its volumes read and cropped once), for tuning.

    Args:
        grid: the conditions; real-dose ones (the phantom) are left out.
    """
    volumes = {name: _crop(read_volume(path), grid) for name, path in grid.cases.items()}
    return [make_scene(condition, grid, volumes) for condition in grid.conditions() if not condition.real_dose]


def score(scene: Scene, output: np.ndarray, reference: np.ndarray | None = None) -> dict:
    """Body PSNR / SSIM over ``BATTERY_WINDOW`` and the error std in flat soft tissue (HU).

    Args:
        scene: the scene, whose ``body`` and ``tissue`` masks are used.
        output: a method's output, in HU, the shape of the reference.
        reference: what to compare against, in HU; None: ``scene.reference``.

    Returns:
        ``psnr_db`` (dB), ``ssim`` and ``error_std_soft_tissue_hu`` (HU; nan where the scene has no flat soft
        tissue).
    """
    reference = scene.reference if reference is None else reference
    return {"psnr_db": psnr(reference, output, BATTERY_WINDOW, scene.body),
            "ssim": ssim(reference, output, BATTERY_WINDOW, mask=scene.body),
            "error_std_soft_tissue_hu": float(np.std((output - reference)[scene.tissue])) if scene.tissue.any()
            else float("nan")}


Method = Callable[[Scene], np.ndarray]


def model_methods(models: list[str], precisions: list[str]) -> dict[str, Method]:
    """Each registered model at each precision, through the engine the command line uses (built once).

    Args:
        models: registered model names.
        precisions: precisions as the command line takes them (e.g. ``fp32``, ``int8``).

    Returns:
        By ``"{model} {PRECISION}"``: a method that denoises the scene's low dose on the CPU in tiles of at
        most ``BATTERY_TILE_VOXELS`` voxels.
    """
    from ..inference.pipeline import prepare_engine

    methods: dict[str, Method] = {}
    for model in models:
        for precision in precisions:
            engine = prepare_engine(model, precision, "cpu")

            def run(scene: Scene, engine=engine) -> np.ndarray:
                return engine.denoise(scene.low, BATTERY_TILE_VOXELS)

            methods[f"{model} {precision.upper()}"] = run
    return methods


def adapted_methods(models: list[str], adaptation: "Adaptation") -> dict[str, Method]:
    """Each registered model in FP32 adapted to each scene's low dose before denoising it (``--adapt``).

    Args:
        models: registered model names.
        adaptation: the adaptation's settings.

    Returns:
        By ``"{model} FP32 adapted"``: a method that adapts a copy of the model to the scene's low dose (told the
        scene's reference-free noise estimate, as ``ctdenoise denoise --adapt``) and denoises it with that copy.
    """
    from ..inference.pipeline import prepare_engine

    methods: dict[str, Method] = {}
    for model in models:
        engine = prepare_engine(model, Precision.FP32, Device.CPU, adaptation=adaptation)

        def run(scene: Scene, engine=engine) -> np.ndarray:
            adapted = engine.adapted_to(scene.low, pixel_mm=float(scene.spacing[0]))
            return adapted.denoise(scene.low, BATTERY_TILE_VOXELS)

        methods[f"{model} FP32 adapted"] = run
    return methods


def run_battery(grid: Grid, methods: dict[str, Method], log: Callable[[str], None] = print) -> list[dict]:
    """Score every method on every condition of ``grid``; one row per (condition, reference, method).

    Args:
        grid: the conditions.
        methods: name -> function of a ``Scene`` returning the denoised volume (HU).
        log: where a line per condition goes.

    Returns:
        Rows with the condition's fields, the reference, the method, its scores and seconds, and the true and
        estimated noise std of the low dose.
    """
    volumes = {name: _crop(read_volume(path), grid) for name, path in grid.cases.items()}
    rows: list[dict] = []
    for number, condition in enumerate(grid.conditions(), 1):
        started = time.perf_counter()
        scene = make_scene(condition, grid, volumes)
        if condition.real_dose and (grid.crop or grid.max_slices):
            scene = _crop_scene(scene, grid)
        references = {"normal dose" if not condition.real_dose else "noise-free truth": scene.reference,
                      **scene.extra_references}
        for method, denoise in methods.items():
            tick = time.perf_counter()
            output = denoise(scene)
            seconds = time.perf_counter() - tick
            for reference_name, reference in references.items():
                rows.append({**condition.to_dict(), "label": condition.label, "reference": reference_name,
                             "method": method, **score(scene, output, reference),
                             "seconds": seconds if method != LOW_DOSE else 0.0,
                             "setting": scene.settings_chosen.get(method, ""), **_noise_columns(scene),
                             "voxels": int(scene.low.size)})
        pooled = int(np.count_nonzero(scene.estimate_slices != 1))
        log(f"[{number}/{len(grid.conditions())}] {condition.label}: noise {scene.true_noise_std:.0f} HU "
            f"(estimated {scene.estimated_noise_std:.0f}; per slice {_span(scene.true_noise_per_slice)} true, "
            f"{_span(scene.estimated_noise_per_slice)} estimated, {pooled} of {len(scene.estimate_slices)} slices "
            f"from neighbours or the volume), {time.perf_counter() - started:.0f} s")
    return rows


def _span(values: np.ndarray) -> str:
    return f"{np.nanmin(values):.0f}-{np.nanmax(values):.0f}" if np.isfinite(values).any() else "none"


def _noise_columns(scene: Scene) -> dict[str, float]:
    def extreme(pick: Callable, values: np.ndarray) -> float:
        return float(pick(values)) if np.isfinite(values).any() else float("nan")

    return {"true_noise_std_hu": scene.true_noise_std, "estimated_noise_std_hu": scene.estimated_noise_std,
            "true_noise_std_hu_slice_min": extreme(np.nanmin, scene.true_noise_per_slice),
            "true_noise_std_hu_slice_max": extreme(np.nanmax, scene.true_noise_per_slice),
            "estimated_noise_std_hu_slice_min": extreme(np.nanmin, scene.estimated_noise_per_slice),
            "estimated_noise_std_hu_slice_max": extreme(np.nanmax, scene.estimated_noise_per_slice)}


def _crop_scene(scene: Scene, grid: Grid) -> Scene:
    def cut(array: np.ndarray) -> np.ndarray:
        return _crop(Volume(array, scene.spacing, (0.0, 0.0, 0.0), tuple(np.eye(3).ravel())), grid).array

    def cut_slices(values: np.ndarray) -> np.ndarray:  # the slices ``cut`` keeps
        return cut(np.broadcast_to(values[:, None, None], (len(values), 1, 1)))[:, 0, 0].copy()

    return replace(scene, reference=cut(scene.reference), low=cut(scene.low), body=cut(scene.body),
                   tissue=cut(scene.tissue), true_noise_per_slice=cut_slices(scene.true_noise_per_slice),
                   estimated_noise_per_slice=cut_slices(scene.estimated_noise_per_slice),
                   estimate_slices=cut_slices(scene.estimate_slices),
                   extra_references={name: cut(array) for name, array in scene.extra_references.items()})
