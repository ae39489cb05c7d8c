"""Low-contrast detectability of each denoiser on the MITA phantom (``ctdenoise detectability``).

For each image set (the real scans at 10 / 55 / 100 % dose; simulated realisations at chosen doses), each
method (the images as acquired, each model at each precision, non-local means at the robustness battery's
setting) and each insert: ROIs centred on the insert, a channelized Hotelling observer with Laguerre-Gauss
channels and a non-prewhitening observer, AUC and d' with bootstrap intervals (``model_observers``).

By default (``denoise_as="slice"``) each realisation is a single slice and is denoised **as its own volume** (one
slice; the engine pads it in z by repeating it), so that a 3D network cannot average independent realisations of
the same slice, which would lower the noise no single scan has. ``denoise_as="stack"`` denoises each class's
realisations as one volume, slice after slice, as the phantom's shared scans are stored: CCT189's rods run along
z, so this is what a scan of contiguous slices of it holds (same signal, independent noise per slice) and what
a 3D network was trained on; but denoised neighbours then share information, so the observer's realisations are
no longer independent and its intervals are too narrow (say so wherever stack results are shown).
Only a crop holding all inserts' ROIs plus a margin wider than the networks'
receptive field (11 voxels) is denoised; the noise level NLM is told is estimated on the whole slice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..simulation.kernels import DEFAULT_KERNEL
from ..simulation.lcd_phantom import Insert, find_inserts, ground_truth, real_realisations, roi, simulate_realisations
from ..vocabulary import CPU_PRECISIONS, SHIPPED_MODELS
from .model_observers import laguerre_gauss_channels, observe, paired_difference, tune_channel_width

CROP_MARGIN = 12  # pixels around the ROIs: more than the networks' receptive field radius (11)


@dataclass
class DetectabilitySettings:
    """Everything the study does, as data (written to ``detectability.json``)."""

    real_doses: list[float] = field(default_factory=lambda: [0.1, 0.55, 1.0])
    simulated_doses: list[float] = field(default_factory=lambda: [0.1, 0.25, 0.55, 1.0])
    simulated_realisations: int = 30  # per class and dose
    simulated_kernel: str = DEFAULT_KERNEL  # the simulator's kernel (hann before the noise texture was calibrated)
    seed: int = 0
    models: list[str] = field(default_factory=lambda: list(SHIPPED_MODELS))
    precisions: list[str] = field(default_factory=lambda: list(CPU_PRECISIONS))
    nlm: bool = True
    channels: int = 6
    width_factors: list[float] = field(default_factory=lambda: [round(0.3 + 0.1 * i, 1) for i in range(28)])
    width_tolerance: float = 0.01  # the widest channel within 1 % of the best captured signal energy
    roi_factor: float = 3.0  # ROI side = roi_factor x insert diameter (odd, at least 15 pixels)
    split_small: str = "loo"  # with fewer than split_threshold realisations per class
    split_large: str = "halves"
    split_threshold: int = 20
    bootstrap: int = 500
    denoise_as: str = "slice"  # slice: each realisation its own one-slice volume; stack: each class's as one volume
    paired_against: str = ""  # a method (e.g. "stresnet int8") every other is compared with, paired ("": none)
    adapt_steps: int = 0  # > 0: also each model in FP32 adapted (--adapt) to each image set's realisations first

    def to_dict(self) -> dict:
        """The settings as the report records them."""
        return asdict(self)


@dataclass(frozen=True)
class InsertGeometry:
    insert: Insert
    roi_size: int
    channel_width: float  # Laguerre-Gauss width a, pixels

    @property
    def offset(self) -> tuple[float, float]:
        """The insert's sub-pixel centre relative to its ROI's central pixel."""
        row, column = self.insert.centre
        return row - round(row), column - round(column)


def insert_geometry(truth: np.ndarray, settings: DetectabilitySettings) -> list[InsertGeometry]:
    """ROI size and the tuned channel width of each insert (tuned on the noise-free signal only)."""
    from ..simulation.lcd_phantom import signal_absent_truth

    signal = truth - signal_absent_truth(truth)
    geometries = []
    for insert in find_inserts(truth):
        size = max(15, int(round(settings.roi_factor * insert.diameter_px)) | 1)
        signal_roi = roi(signal[None], insert.centre, size)[0]
        widths = np.array(settings.width_factors) * insert.diameter_px
        offset = (insert.centre[0] - round(insert.centre[0]), insert.centre[1] - round(insert.centre[1]))
        width = tune_channel_width(signal_roi, settings.channels, widths, settings.width_tolerance, offset)
        geometries.append(InsertGeometry(insert, size, width))
    return geometries


def crop_box(geometries: list[InsertGeometry]) -> tuple[slice, slice]:
    """The in-plane box holding every ROI plus ``CROP_MARGIN``."""
    rows = [g.insert.centre[0] + s * (g.roi_size // 2 + CROP_MARGIN) for g in geometries for s in (-1, 1)]
    cols = [g.insert.centre[1] + s * (g.roi_size // 2 + CROP_MARGIN) for g in geometries for s in (-1, 1)]
    return slice(int(min(rows)), int(max(rows)) + 2), slice(int(min(cols)), int(max(cols)) + 2)


Method = Callable[[np.ndarray], np.ndarray]  # realisations (N, Y, X) HU -> their processed crops (N, Y', X') HU
DENOISE_AS = ("slice", "stack")


def method_names(settings: DetectabilitySettings) -> list[str]:
    """The names of the table's rows, in order: ``as acquired``, ``MODEL PRECISION`` for each, ``nlm``.

    Args:
        settings: which models, precisions and whether NLM.
    """
    names = ["as acquired"] + [f"{model} {precision}" for model in settings.models for precision in settings.precisions]
    names += [f"{model} fp32 adapted" for model in settings.models] if settings.adapt_steps else []
    return names + (["nlm"] if settings.nlm else [])


def make_methods(settings: DetectabilitySettings, box: tuple[slice, slice]) -> dict[str, Method]:
    """The rows of the table: name -> function of one class's realisations (``Method``).

    Args:
        settings: which models, precisions and whether NLM; ``denoise_as`` for the models.
        box: the in-plane crop each method returns (``crop_box``).
    """
    if settings.denoise_as not in DENOISE_AS:
        raise ValueError(f"denoise_as must be one of {', '.join(DENOISE_AS)}, got {settings.denoise_as!r}")
    methods: dict[str, Method] = {"as acquired": lambda stack: stack[:, box[0], box[1]]}
    for model in settings.models:
        for precision in settings.precisions:
            methods[f"{model} {precision}"] = _model_method(model, precision, box, settings.denoise_as == "stack")
    if settings.adapt_steps:
        for model in settings.models:
            methods[f"{model} fp32 adapted"] = AdaptedModel(model, settings.adapt_steps, box,
                                                             settings.denoise_as == "stack")
    if settings.nlm:
        methods["nlm"] = _nlm_method(box)
    return methods


class AdaptedModel:
    """A model in FP32 adapted (``inference.adaptation``) to one image set before it denoises that set's two
    classes: ``prepare(present, absent)`` adapts a copy to both classes' realisations stacked as one scan (one
    network for both, so that the observer compares images made alike), then each call denoises as
    ``_denoise_crops`` does."""

    def __init__(self, model: str, steps: int, box: tuple[slice, slice], as_stack: bool) -> None:
        self.model, self.steps, self.box, self.as_stack = model, steps, box, as_stack
        self.engine = None
        self.adapted = None

    def prepare(self, present: np.ndarray, absent: np.ndarray) -> None:
        """Adapt a copy of the network to this image set (its crops, both classes).

        Args:
            present: the signal-present realisations, (N, Y, X) HU.
            absent: the signal-absent ones.
        """
        from ..inference.adaptation import Adaptation
        from ..inference.pipeline import prepare_engine

        if self.engine is None:
            self.engine = prepare_engine(self.model, "fp32", "cpu", adaptation=Adaptation(steps=self.steps))
        both = np.ascontiguousarray(np.concatenate([present, absent])[:, self.box[0], self.box[1]])
        self.adapted = self.engine.adapted_to(both)

    def __call__(self, stack: np.ndarray) -> np.ndarray:
        if self.adapted is None:
            raise RuntimeError("AdaptedModel.prepare must be called with the image set first")
        return _denoise_crops(self.adapted, stack, self.box, self.as_stack)


def _model_method(model: str, precision: str, box: tuple[slice, slice], as_stack: bool) -> Method:
    engine = None

    def run(stack: np.ndarray) -> np.ndarray:
        nonlocal engine
        from ..inference.pipeline import prepare_engine

        if engine is None:
            engine = prepare_engine(model, precision, "cpu")
        return _denoise_crops(engine, stack, box, as_stack)

    return run


def _denoise_crops(engine, stack: np.ndarray, box: tuple[slice, slice], as_stack: bool) -> np.ndarray:
    """The crops of ``stack`` denoised by ``engine``: as one volume, or each realisation as its own volume."""
    crops = np.ascontiguousarray(stack[:, box[0], box[1]])
    if as_stack:
        return engine.denoise(crops)
    return np.stack([engine.denoise(crop[None])[0] for crop in crops])  # one realisation = one volume


def _nlm_method(box: tuple[slice, slice]) -> Method:
    def run(stack: np.ndarray) -> np.ndarray:
        from ..noise.estimate import estimate_noise_std
        from .classical_denoisers import NlmSettings, nlm_slicewise

        return np.stack([nlm_slicewise(image[box][None], estimate_noise_std(image[None]).std_hu, NlmSettings())[0]
                         for image in stack])

    return run


def image_sets(root: Path, settings: DetectabilitySettings) -> list[tuple[str, float, np.ndarray, np.ndarray]]:
    """(source, dose, present, absent) for the real scans and the simulated realisations."""
    sets = [("real", dose, *real_realisations(root, dose)) for dose in settings.real_doses]
    truth = ground_truth(root)
    for index, dose in enumerate(settings.simulated_doses):
        present, absent = simulate_realisations(truth, dose, settings.simulated_realisations,
                                                settings.seed + 2 * index, settings.simulated_kernel)
        sets.append(("simulated", dose, present, absent))
    return sets


def score_set(present: np.ndarray, absent: np.ndarray, geometries: list[InsertGeometry],
              box: tuple[slice, slice], settings: DetectabilitySettings, signal: np.ndarray) -> list[dict]:
    """Observer results for every insert of one processed image set (crops in ``box`` coordinates).

    Args:
        present: (N, Y', X') processed signal-present crops.
        absent: (M, Y', X') processed signal-absent crops.
        geometries: inserts with ROI sizes and channel widths (full-slice coordinates).
        box: the crop's place in the full slice.
        settings: the study's settings.
        signal: noise-free signal (present minus absent truth), full slice: the NPW observer's template.
    """
    split = settings.split_small if min(len(present), len(absent)) < settings.split_threshold \
        else settings.split_large
    rows = []
    for g in geometries:
        centre = (g.insert.centre[0] - box[0].start, g.insert.centre[1] - box[1].start)
        template = roi(signal[None], g.insert.centre, g.roi_size)[0]
        rois_p, rois_a = roi(present, centre, g.roi_size), roi(absent, centre, g.roi_size)
        channels = laguerre_gauss_channels(g.roi_size, g.channel_width, settings.channels, g.offset)
        cho = observe(rois_p, rois_a, "cho", channels, split, settings.bootstrap, settings.seed)
        npw = observe(rois_p, rois_a, "npw", None, split, settings.bootstrap, settings.seed,
                      template=template)
        background = rois_a[:, g.roi_size // 4: -(g.roi_size // 4), g.roi_size // 4: -(g.roi_size // 4)]
        rows.append({"insert": g.insert.name, "contrast_hu": g.insert.contrast_hu,
                     "diameter_px": round(g.insert.diameter_px, 2), "roi_px": g.roi_size,
                     "channel_width_px": round(g.channel_width, 2), "split": split,
                     "n_present": len(present), "n_absent": len(absent),
                     "auc": cho.auc, "auc_lo": cho.auc_ci[0], "auc_hi": cho.auc_ci[1],
                     "d_prime": cho.d_prime, "d_prime_lo": cho.d_prime_ci[0], "d_prime_hi": cho.d_prime_ci[1],
                     "npw_d_prime": npw.d_prime, "npw_d_prime_lo": npw.d_prime_ci[0],
                     "npw_d_prime_hi": npw.d_prime_ci[1], "npw_auc": npw.auc,
                     "noise_std_hu": float(np.std(background - background.mean(axis=0))),
                     "cho": cho})  # for paired comparisons; not a CSV column
    return rows


def paired_rows(rows: list[dict], against: str) -> list[dict]:
    """Each method's CHO d' minus that of ``against`` on the same image set and insert, with its 95 % paired
    bootstrap interval: both were observed on the same realisations and resampled alike, so the interval is of the
    difference itself, much narrower than the two intervals side by side suggest.

    Args:
        rows: ``run_study``'s rows (with their ``cho`` results).
        against: the method compared with, as named in the rows (e.g. ``"stresnet int8"``).
    """
    index = {(row["source"], row["dose"], row["method"], row["insert"]): row for row in rows}
    paired = []
    for row in rows:
        reference = index.get((row["source"], row["dose"], against, row["insert"]))
        if row["method"] == against or reference is None:
            continue
        difference, low, high = paired_difference(row["cho"], reference["cho"])
        paired.append({"source": row["source"], "dose": row["dose"], "method": row["method"], "against": against,
                       "insert": row["insert"], "d_prime_difference": difference, "difference_lo": low,
                       "difference_hi": high})
    return paired


def run_study(root: Path, settings: DetectabilitySettings,
              on_step: Callable[[str], None] = print) -> list[dict]:
    """Every (image set, method, insert) row; see the module docstring."""
    from ..simulation.lcd_phantom import signal_absent_truth

    truth = ground_truth(root)
    signal = truth - signal_absent_truth(truth)
    geometries = insert_geometry(truth, settings)
    box = crop_box(geometries)
    methods = make_methods(settings, box)
    rows = []
    for source, dose, present, absent in image_sets(root, settings):
        for name, method in methods.items():
            on_step(f"{source} {dose:g} x dose: {name} ({len(present)} + {len(absent)} realisations)")
            if hasattr(method, "prepare"):
                method.prepare(present, absent)
            processed_p, processed_a = method(present), method(absent)
            for row in score_set(processed_p, processed_a, geometries, box, settings, signal):
                rows.append({"source": source, "dose": dose, "method": name, **row})
    return rows
