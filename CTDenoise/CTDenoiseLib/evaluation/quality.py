"""Image quality of CT volumes against a normal-dose reference: PSNR and SSIM in two stated conventions, LPIPS
where available, and noise in a homogeneous region; per volume and as mean +/- std over a set of cases."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CTDenoiseError
from ..io.volumes import Volume
from .lpips_metric import lpips_axial, lpips_unavailable_reason
from .metrics import QUALITY_WINDOW, SEED_WINDOW, find_homogeneous_roi, noise_std, psnr, seed_psnr_ssim, ssim

VALID_HU = (-1024.0, 3071.0)  # outside: scanner padding beyond the field of view, left out of the 3D metrics
METRICS = ("psnr_db", "ssim", "seed_psnr_db", "seed_ssim", "lpips", "noise_std_hu")
CONVENTIONS = {
    "psnr_db": f"3D PSNR; HU clipped to {QUALITY_WINDOW[0]:.0f}..{QUALITY_WINDOW[1]:.0f} and scaled to 0..1 "
               f"(data range {QUALITY_WINDOW[1] - QUALITY_WINDOW[0]:.0f} HU, ldct-benchmark's convention); voxels "
               f"where the reference lies in {VALID_HU[0]:.0f}..{VALID_HU[1]:.0f} HU (and inside --mask)",
    "ssim": "3D SSIM (Gaussian window sigma 1.5 voxels, K1 0.01, K2 0.03) on the same window, data range and voxels",
    "seed_psnr_db": f"STResNet seed's convention: {SEED_WINDOW[0]:.0f}..{SEED_WINDOW[1]:.0f} HU mapped to 0..255, "
                    "2D PSNR per slice averaged over axial, coronal and sagittal slices (whole volume)",
    "seed_ssim": "STResNet seed's convention: 2D SSIM (7x7 uniform window, data range 255) per slice on the same "
                 "0..255 mapping, averaged over axial, coronal and sagittal slices",
    "lpips": f"LPIPS (AlexNet) per axial slice, {SEED_WINDOW[0]:.0f}..{SEED_WINDOW[1]:.0f} HU mapped to -1..1, "
             "averaged; lower is better",
    "noise_std_hu": "standard deviation in HU inside one homogeneous soft-tissue box (found in the reference, or "
                    "--noise-roi), the same box for every image",
}


@dataclass(frozen=True)
class CaseResult:
    rows: list[dict]  # one per image: {"case", "image", *METRICS}
    noise_roi: tuple[slice, slice, slice] | None
    lpips_note: str  # empty when LPIPS was computed


def roi_text(roi: tuple[slice, slice, slice] | None) -> str:
    return "none" if roi is None else ",".join(f"{s.start}:{s.stop}" for s in roi)


def parse_roi(text: str, shape: tuple[int, ...]) -> tuple[slice, slice, slice]:
    """``"z0:z1,y0:y1,x0:x1"`` (voxel indices, end excluded) -> index box, checked against ``shape``."""
    try:
        bounds = [tuple(int(v) for v in part.split(":")) for part in text.split(",")]
        if len(bounds) != 3 or any(len(b) != 2 for b in bounds):
            raise ValueError
    except ValueError:
        raise CTDenoiseError(f"Cannot read the noise ROI '{text}'.",
                             "Write it as z0:z1,y0:y1,x0:x1 (voxel indices).") from None
    if any(not 0 <= a < b <= n for (a, b), n in zip(bounds, shape)) or math.prod(b - a for a, b in bounds) < 2:
        raise CTDenoiseError(f"The noise ROI '{text}' is empty or outside the volume of shape {shape} (z, y, x).",
                             "Give indices inside the volume.")
    return tuple(slice(a, b) for a, b in bounds)


def valid_voxels(reference: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """The voxels the 3D PSNR/SSIM count: where the reference lies in ``VALID_HU`` (scanner padding left out),
    within ``region`` when given.

    Args:
        reference: the normal-dose volume (HU).
        region: a boolean mask of the same shape (e.g. ``--mask``), or None.
    """
    valid = (reference >= VALID_HU[0]) & (reference <= VALID_HU[1])
    return valid & region if region is not None else valid


def psnr_ssim(reference: np.ndarray, image: np.ndarray, valid: np.ndarray | None = None) -> dict[str, float]:
    """``psnr_db`` and ``ssim`` in the convention ``ctdenoise evaluate`` reports (``CONVENTIONS``): 3D, HU window
    ``QUALITY_WINDOW``, over ``valid`` voxels.

    Args:
        reference: the normal-dose volume (HU).
        image: the volume scored, on the reference's grid.
        valid: the voxels counted; None: ``valid_voxels(reference)``.
    """
    valid = valid_voxels(reference) if valid is None else valid
    return {"psnr_db": psnr(reference, image, mask=valid), "ssim": ssim(reference, image, mask=valid)}


def evaluate_case(reference: Volume, images: dict[str, np.ndarray], case: str = "", region: np.ndarray | None = None,
                  noise_roi: tuple[slice, slice, slice] | None = None, with_lpips: bool = True) -> CaseResult:
    """Every metric of every image against ``reference`` (arrays on the reference's grid)."""
    for name, array in images.items():
        if array.shape != reference.array.shape:
            raise CTDenoiseError(f"Image '{name}' has shape {array.shape} but the reference {reference.array.shape} "
                                 "(z, y, x).", "Compare volumes on the same grid (denoising keeps the grid).")
    valid = valid_voxels(reference.array, region)
    roi = noise_roi or find_homogeneous_roi(reference.array, reference.spacing)
    lpips_note = lpips_unavailable_reason() if with_lpips else "not requested"
    rows = []
    for name, array in images.items():
        seed = seed_psnr_ssim(reference.array, array)
        rows.append({
            "case": case, "image": name,
            **psnr_ssim(reference.array, array, valid),
            "seed_psnr_db": seed["psnr"], "seed_ssim": seed["ssim"],
            "lpips": math.nan if lpips_note else lpips_axial(reference.array, array),
            "noise_std_hu": math.nan if roi is None else noise_std(array, roi),
        })
    return CaseResult(rows, roi, lpips_note)


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and sample standard deviation of each metric per image label, over the cases that have it."""
    summary = []
    for name in dict.fromkeys(row["image"] for row in rows):
        entry: dict = {"image": name, "cases": sum(row["image"] == name for row in rows)}
        for metric in METRICS:
            values = np.array([row[metric] for row in rows if row["image"] == name and math.isfinite(row[metric])])
            entry[f"{metric}_mean"] = float(values.mean()) if values.size else math.nan
            entry[f"{metric}_std"] = (float(values.std(ddof=1)) if values.size > 1
                                      else (0.0 if values.size else math.nan))
        summary.append(entry)
    return summary


def read_cases(path: str | os.PathLike) -> list[dict[str, str]]:
    """A case list: columns ``case``, ``reference``, optional ``mask``; every other column is an image set whose
    header names it (e.g. ``lowdose``, ``stresnet``). Relative paths are relative to the CSV's folder."""
    path = Path(path)
    if not path.is_file():
        raise CTDenoiseError(f"Case list '{path}' not found.",
                             "Give a CSV with columns case, reference, and one per image set.")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "reference" not in rows[0] or len(set(rows[0]) - {"case", "reference", "mask"}) < 1:
        raise CTDenoiseError(f"Case list '{path}' needs a header with 'reference' and at least one image column.",
                             "Example header: case,reference,lowdose,stresnet")
    resolve = lambda value: str(path.parent / value) if value and not os.path.isabs(value) else value  # noqa: E731
    return [{key: (value if key == "case" else resolve(value)) for key, value in row.items()} for row in rows]


def write_rows(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()} for row in rows])
    return path


def format_table(summary: list[dict]) -> str:
    lines = [f"{'image':<16} {'cases':>5}  " + "  ".join(f"{m:>20}" for m in METRICS)]
    for entry in summary:
        cells = [f"{entry[f'{m}_mean']:.4g} +/- {entry[f'{m}_std']:.2g}" if math.isfinite(entry[f"{m}_mean"])
                 else "n/a" for m in METRICS]
        lines.append(f"{entry['image']:<16} {entry['cases']:>5}  " + "  ".join(f"{c:>20}" for c in cells))
    return "\n".join(lines)
