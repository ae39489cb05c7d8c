"""The robustness battery's outputs: every row as CSV, a Markdown summary, and a heat map of the gain over
the reference row (non-local means told each slice's estimated noise) per condition."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write
from .battery import BATTERY_WINDOW, LOW_DOSE
from .battery_baselines import CLASSICAL, DIFFUSION, NLM_UPPER_BOUND, REFERENCE


def write_csv(rows: list[dict], path: Path) -> Path:
    """All rows, one per (condition, reference, method), written atomically.

    Args:
        rows: the rows of ``run_battery``; the first row's keys are the columns.
        path: the CSV file to write.

    Returns:
        ``path``.
    """
    with atomic_write(path) as partial, open(partial, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


NUMERIC = ("dose", "psnr_db", "ssim", "error_std_soft_tissue_hu", "seconds", "true_noise_std_hu",
           "estimated_noise_std_hu", "true_noise_std_hu_slice_min", "true_noise_std_hu_slice_max",
           "estimated_noise_std_hu_slice_min", "estimated_noise_std_hu_slice_max")


def read_csv(paths: list[Path]) -> list[dict]:
    """Rows of one or more ``battery.csv`` files (shards of one grid run separately), numbers as numbers.

    Args:
        paths: the CSV files, read in order.

    Returns:
        Their rows concatenated; the columns of ``NUMERIC`` as floats, the others as text.
    """
    rows = []
    for path in paths:
        with open(path, newline="", encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                rows.append({**row, **{key: float(row[key]) for key in NUMERIC if key in row}})
    return rows


def _by_cell(rows: list[dict]) -> dict[tuple[str, str], dict[str, dict]]:
    cells: dict[tuple[str, str], dict[str, dict]] = {}
    for row in rows:
        cells.setdefault((row["label"], row["reference"]), {})[row["method"]] = row
    return cells


def model_names(rows: list[dict]) -> list[str]:
    """The methods of the rows that are not a classical baseline, i.e. the models.

    Args:
        rows: battery rows.

    Returns:
        The models' method names (``"{model} {PRECISION}"``), in order of first appearance.
    """
    return list(dict.fromkeys(row["method"] for row in rows if row["method"] not in CLASSICAL))


def missing_baselines(rows: list[dict]) -> list[str]:
    """The baselines the verdicts need that some cell lacks (e.g. a ``battery.csv`` written before they existed).

    Args:
        rows: battery rows.

    Returns:
        The missing baselines' names; empty when every cell has ``REFERENCE``, ``DIFFUSION`` and
        ``NLM_UPPER_BOUND``.
    """
    needed = (REFERENCE, DIFFUSION, NLM_UPPER_BOUND)
    return [name for name in needed if any(name not in methods for methods in _by_cell(rows).values())]


def verdicts(rows: list[dict], model: str) -> dict:
    """The issue's criteria for one model: per cell its gain over the reference row (NLM told each slice's
    reference-free noise estimate) and over the diffusion (with SSIM no lower), and its distance to the
    upper-bound NLM; the worst cell of each.

    A cell meets every criterion with a PSNR gain of at least 1 dB over both the reference NLM and the diffusion,
    an SSIM no lower than either, and a PSNR at most 0.5 dB below the upper-bound NLM.

    Args:
        rows: battery rows, with the baselines of ``missing_baselines`` in every cell the model is in.
        model: the model's method name.

    Returns:
        ``cells`` (the cells with the model), ``cells_meeting_all``, ``mean_gain_over_reference`` (dB), and
        ``worst_gain_over_reference``, ``worst_gain_over_diffusion`` and ``worst_vs_upper_bound``, each (PSNR
        difference in dB, cell).
    """
    worst_reference, worst_diffusion, worst_bound = (math.inf, ""), (math.inf, ""), (math.inf, "")
    passed = cells = 0
    gains = []
    for (label, reference), methods in _by_cell(rows).items():
        if model not in methods:
            continue
        mine = methods[model]
        gain_reference = mine["psnr_db"] - methods[REFERENCE]["psnr_db"]
        gain_diffusion = mine["psnr_db"] - methods[DIFFUSION]["psnr_db"]
        to_bound = mine["psnr_db"] - methods[NLM_UPPER_BOUND]["psnr_db"]
        ssim_ok = mine["ssim"] >= max(methods[REFERENCE]["ssim"], methods[DIFFUSION]["ssim"])
        cell = f"{label} (vs {reference})"
        worst_reference = min(worst_reference, (gain_reference, cell))
        worst_diffusion = min(worst_diffusion, (gain_diffusion, cell))
        worst_bound = min(worst_bound, (to_bound, cell))
        gains.append(gain_reference)
        cells += 1
        passed += int(gain_reference >= 1.0 and gain_diffusion >= 1.0 and ssim_ok and to_bound >= -0.5)
    return {"cells": cells, "cells_meeting_all": passed,
            "mean_gain_over_reference": float(np.mean(gains)) if gains else math.nan,
            "worst_gain_over_reference": worst_reference, "worst_gain_over_diffusion": worst_diffusion,
            "worst_vs_upper_bound": worst_bound}


def markdown(rows: list[dict], title: str = "Robustness battery", skipped: dict[str, str] | None = None) -> str:
    """Mean scores per method over all cells, then each model's verdicts against the baselines.

    Args:
        rows: battery rows, with the ``LOW_DOSE`` method in every cell and the baselines of ``missing_baselines``
            in every cell with a model.
        title: the section's heading.
        skipped: rows that were not run, by name, with the reason (``battery_baselines.optional_methods``).

    Returns:
        The Markdown text: a heading, a table with a row per method, the criterion, a table with a row per model
        (``verdicts``), and a line per skipped row.
    """
    methods = list(dict.fromkeys(row["method"] for row in rows))
    lines = [f"## {title}", "",
             f"{len(_by_cell(rows))} cells (condition x reference); body PSNR/SSIM over HU "
             f"{BATTERY_WINDOW[0]:.0f}..{BATTERY_WINDOW[1]:.0f}; error std = std of (output - reference) in flat "
             "soft tissue; seconds per volume.", "",
             "| method | mean PSNR (dB) | mean gain over low dose (dB) | worst gain (dB) | mean SSIM "
             "| mean error std (HU) | mean seconds |",
             "|---|---|---|---|---|---|---|"]
    cells = _by_cell(rows)
    for method in methods:
        chosen = [cell[method] for cell in cells.values() if method in cell]
        gains = [cell[method]["psnr_db"] - cell[LOW_DOSE]["psnr_db"] for cell in cells.values() if method in cell]
        lines.append(f"| {method} | {np.mean([r['psnr_db'] for r in chosen]):.2f} | {np.mean(gains):+.2f} | "
                     f"{min(gains):+.2f} | {np.mean([r['ssim'] for r in chosen]):.4f} | "
                     f"{np.nanmean([r['error_std_soft_tissue_hu'] for r in chosen]):.1f} | "
                     f"{np.mean([r['seconds'] for r in chosen]):.1f} |")
    lines += ["", f"Reference row: {REFERENCE}. A cell meets every criterion when the model is >= 1 dB above it and "
              f"above {DIFFUSION} in PSNR, its SSIM no lower than theirs, and at most 0.5 dB below {NLM_UPPER_BOUND}.",
              "", f"| model | cells meeting every criterion | mean gain over the reference | worst gain over the "
              f"reference | worst gain over {DIFFUSION} | worst distance to the NLM upper bound |",
              "|---|---|---|---|---|---|"]
    for model in model_names(rows):
        verdict = verdicts(rows, model)
        lines.append(f"| {model} | {verdict['cells_meeting_all']} of {verdict['cells']} | "
                     f"{verdict['mean_gain_over_reference']:+.2f} dB | "
                     + " | ".join(f"{value:+.2f} dB ({cell})" for value, cell in
                                  (verdict["worst_gain_over_reference"], verdict["worst_gain_over_diffusion"],
                                   verdict["worst_vs_upper_bound"])) + " |")
    if skipped:
        lines += ["", *(f"Not run: {name}: {why}." for name, why in skipped.items())]
    return "\n".join(lines) + "\n"


def heat_map(rows: list[dict], path: Path, models: list[str] | None = None) -> Path:
    """PNG: per model a column block, per cell a row, coloured by PSNR gain over the reference row (``REFERENCE``).

    Args:
        rows: battery rows, with the ``REFERENCE`` method in every cell.
        path: the PNG file to write (atomically).
        models: the models' method names, in column order; None or empty: all of them (``model_names``).

    Returns:
        ``path``.
    """
    from ..figures.png import new_figure, save_png

    models = models or model_names(rows)
    cells = _by_cell(rows)
    labels = [f"{label} (vs {reference})" if reference not in ("normal dose",) else label
              for label, reference in cells]
    gains = np.array([[cell[model]["psnr_db"] - cell[REFERENCE]["psnr_db"] if model in cell else np.nan
                       for model in models] for cell in cells.values()])
    limit = max(1.0, float(np.nanmax(np.abs(gains))))
    figure = new_figure(2.2 + 1.3 * len(models), 1.2 + 0.22 * len(labels), layout="tight")
    axes = figure.subplots()
    image = axes.imshow(gains, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    axes.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=6)
    for (row, column), value in np.ndenumerate(gains):
        if np.isfinite(value):
            axes.text(column, row, f"{value:+.1f}", ha="center", va="center", fontsize=6)
    figure.colorbar(image, ax=axes, label="PSNR gain over NLM, noise per slice (dB)")
    axes.set_title("Gain over non-local means told\neach slice's estimated noise (unseen data)", fontsize=9)
    return save_png(figure, path, dpi=130)
