"""The robustness battery's outputs: every row as CSV, a Markdown summary, and a heat map of the gain over
non-local means per condition."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write
from .battery import BATTERY_WINDOW, DIFFUSION, LOW_DOSE, NLM, NLM_ORACLE


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
           "estimated_noise_std_hu")


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
    classical = {LOW_DOSE, NLM, NLM_ORACLE, DIFFUSION}
    return list(dict.fromkeys(row["method"] for row in rows if row["method"] not in classical))


def verdicts(rows: list[dict], model: str) -> dict:
    """The issue's criteria for one model: per cell its gain over the reference-free NLM and the diffusion
    (with SSIM no lower), and its distance to the upper-bound NLM; the worst cell of each.

    A cell meets every criterion with a PSNR gain of at least 1 dB over both NLM (estimated noise) and the
    diffusion, an SSIM no lower than either, and a PSNR at most 0.5 dB below the upper-bound NLM.

    Args:
        rows: battery rows, with the classical baselines in every cell the model is in.
        model: the model's method name.

    Returns:
        ``cells`` (the cells with the model), ``cells_meeting_all``, and ``worst_gain_over_nlm``,
        ``worst_gain_over_diffusion`` and ``worst_vs_upper_bound_nlm``, each (PSNR difference in dB, cell).
    """
    worst_nlm, worst_diffusion, worst_oracle = (math.inf, ""), (math.inf, ""), (math.inf, "")
    passed = cells = 0
    for (label, reference), methods in _by_cell(rows).items():
        if model not in methods:
            continue
        mine = methods[model]
        gain_nlm = mine["psnr_db"] - methods[NLM]["psnr_db"]
        gain_diffusion = mine["psnr_db"] - methods[DIFFUSION]["psnr_db"]
        to_oracle = mine["psnr_db"] - methods[NLM_ORACLE]["psnr_db"]
        ssim_ok = mine["ssim"] >= max(methods[NLM]["ssim"], methods[DIFFUSION]["ssim"])
        cell = f"{label} (vs {reference})"
        worst_nlm = min(worst_nlm, (gain_nlm, cell))
        worst_diffusion = min(worst_diffusion, (gain_diffusion, cell))
        worst_oracle = min(worst_oracle, (to_oracle, cell))
        cells += 1
        passed += int(gain_nlm >= 1.0 and gain_diffusion >= 1.0 and ssim_ok and to_oracle >= -0.5)
    return {"cells": cells, "cells_meeting_all": passed, "worst_gain_over_nlm": worst_nlm,
            "worst_gain_over_diffusion": worst_diffusion, "worst_vs_upper_bound_nlm": worst_oracle}


def markdown(rows: list[dict], title: str = "Robustness battery") -> str:
    """Mean scores per method over all cells, then each model's worst cells against the baselines.

    Args:
        rows: battery rows, with the ``LOW_DOSE`` method in every cell.
        title: the section's heading.

    Returns:
        The Markdown text: a heading, a table with a row per method and one with a row per model (``verdicts``).
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
    lines += ["", "| model | cells meeting every criterion | worst gain over NLM (estimated noise) | "
              "worst gain over anisotropic diffusion | worst distance to NLM upper bound |", "|---|---|---|---|---|"]
    for model in model_names(rows):
        verdict = verdicts(rows, model)
        lines.append(f"| {model} | {verdict['cells_meeting_all']} of {verdict['cells']} | "
                     + " | ".join(f"{value:+.2f} dB ({cell})" for value, cell in
                                  (verdict["worst_gain_over_nlm"], verdict["worst_gain_over_diffusion"],
                                   verdict["worst_vs_upper_bound_nlm"])) + " |")
    return "\n".join(lines) + "\n"


def heat_map(rows: list[dict], path: Path, models: list[str] | None = None) -> Path:
    """PNG: per model a column block, per cell a row, coloured by PSNR gain over the reference-free NLM.

    Args:
        rows: battery rows, with the ``NLM`` method in every cell.
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
    gains = np.array([[cell[model]["psnr_db"] - cell[NLM]["psnr_db"] if model in cell else np.nan
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
    figure.colorbar(image, ax=axes, label="PSNR gain over NLM (dB)")
    axes.set_title("Gain over non-local means per condition (unseen data)", fontsize=9)
    return save_png(figure, path, dpi=130)
