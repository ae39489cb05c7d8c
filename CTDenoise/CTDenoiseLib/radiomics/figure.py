"""PNG figures of a radiomics comparison: relative change per feature as bars, and the seed's feature x method
consistency map. Drawn and written as every engine figure is (``figures.png``: no pyplot state, no GUI backend,
atomic write)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..figures.png import new_figure, save_png
from .stats import Agreement

_CLIP_PERCENT = 100.0  # bars beyond +-100 % are drawn at the edge and labelled with their value
_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")


def _bars(axis, features: list[str], changes: dict[str, list[float]], title: str) -> None:
    positions = np.arange(len(features))
    height = 0.8 / max(1, len(changes))
    for k, (method, values) in enumerate(changes.items()):
        shown = np.clip(np.nan_to_num(np.asarray(values, float)), -_CLIP_PERCENT, _CLIP_PERCENT)
        offset = positions - 0.4 + height * (k + 0.5)
        axis.barh(offset, shown, height=height, color=_COLOURS[k % len(_COLOURS)], label=method)
        for y, value in zip(offset, values):
            if math.isfinite(value) and abs(value) > _CLIP_PERCENT:
                axis.text(np.sign(value) * _CLIP_PERCENT, y, f"{value:+.0f}", fontsize=5, va="center",
                          ha="right" if value > 0 else "left")
    axis.set_yticks(positions, features, fontsize=6)
    axis.set_ylim(len(features) - 0.5, -0.5)  # first feature on top, no empty margin
    axis.set_xlim(-_CLIP_PERCENT * 1.05, _CLIP_PERCENT * 1.05)
    axis.axvline(0, color="black", linewidth=0.6)
    axis.set_xlabel("relative change (%)")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7, loc="lower right")
    axis.grid(axis="x", linewidth=0.3)


def _figure(rows: int, width: float):
    return new_figure(width, max(4.0, 0.16 * rows + 1.5))


def relative_change_figure(features: list[str], changes: dict[str, list[float]], path: str | os.PathLike,
                           baseline: str) -> Path:
    """One bar per feature and compared image: 100 (image - baseline) / |baseline|."""
    figure = _figure(len(features), 7.5)
    _bars(figure.add_subplot(), features, changes, f"Relative change of each feature against {baseline}")
    return save_png(figure, path, dpi=130)


def study_figure(agreements: list[Agreement], path: str | os.PathLike, baseline: str, alpha: float,
                 ccc_threshold: float) -> Path:
    """Left: mean relative change against ``baseline``; right: consistent (green) / not (red) per feature, for each
    method and criterion (paired t-test, Wilcoxon, Lin's CCC)."""
    from matplotlib.colors import ListedColormap

    features = list(dict.fromkeys(a.feature for a in agreements))
    methods = list(dict.fromkeys(a.method for a in agreements))
    lookup = {(a.feature, a.method): a for a in agreements}
    figure = _figure(len(features), 12.0)
    left, right = figure.subplots(1, 2, width_ratios=(1.6, 1.0), sharey=False)
    changes = {m: [lookup[f, m].mean_relative_change_percent for f in features] for m in methods}
    _bars(left, features, changes, f"Mean relative change against {baseline} over all pairs")
    criteria = (("t", "t_consistent", "t_p"), ("W", "wilcoxon_consistent", "wilcoxon_p"),
                ("CCC", "ccc_consistent", "ccc"))
    grid = np.full((len(features), len(methods) * len(criteria)), np.nan)
    for i, feature in enumerate(features):
        for j, method in enumerate(methods):
            a = lookup[feature, method]
            for k, (_, flag, value) in enumerate(criteria):
                grid[i, j * len(criteria) + k] = np.nan if math.isnan(getattr(a, value)) else float(getattr(a, flag))
    right.imshow(np.ma.masked_invalid(grid), aspect="auto", interpolation="nearest",
                 cmap=ListedColormap(["#d9534f", "#5cb85c"]), vmin=0, vmax=1)
    right.set_xticks(range(grid.shape[1]), [f"{m}\n{c}" for m in methods for c, _, _ in criteria], fontsize=6)
    right.set_yticks(range(len(features)), features, fontsize=6)
    for j in range(1, len(methods)):
        right.axvline(j * len(criteria) - 0.5, color="white", linewidth=2)
    counts = {m: [sum(getattr(lookup[f, m], flag) for f in features) for _, flag, _ in criteria] for m in methods}
    summary = "; ".join(f"{m}: t {c[0]}, W {c[1]}, CCC {c[2]}" for m, c in counts.items())
    right.set_title(f"Consistent with {baseline} (green): t-test/Wilcoxon p >= {alpha}, CCC >= {ccc_threshold}\n"
                    f"of {len(features)} features - {summary}", fontsize=7)
    return save_png(figure, path, dpi=130)
