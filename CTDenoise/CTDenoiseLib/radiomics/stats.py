"""Agreement of radiomics features between a method and a baseline over paired samples (cases, noise
realisations): paired t-test (the STResNet seed's), Wilcoxon signed-rank, and Lin's concordance correlation.

A feature is *consistent* with the baseline when a test finds no significant difference (p >= alpha) or, for
Lin's CCC, when CCC >= the threshold. A count of non-significant features grows as the sample shrinks, so it is
reported beside the CCC count, which measures agreement rather than the absence of evidence.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
CCC_THRESHOLD = 0.90  # a common cut-off for "substantial" agreement in radiomics robustness studies
SAMPLE_SIZE_NOTE = ("p-value counts depend on the sample size: with few pairs almost nothing is significant, with "
                    "many pairs almost everything is; read them beside Lin's CCC, which measures agreement. Noise "
                    "realisations of one case are not independent patients.")


def lins_ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient (Lin 1989, population moments):
    2 cov(x, y) / (var x + var y + (mean x - mean y)^2). Two equal constant samples agree perfectly: 1."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    mx, my = x.mean(), y.mean()
    covariance = np.mean((x - mx) * (y - my))
    denominator = x.var() + y.var() + (mx - my) ** 2
    if denominator == 0:
        return 1.0
    return float(2.0 * covariance / denominator)


def paired_t_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided paired t-test p; 1 when all differences are 0 (no evidence of a difference); NaN below 2 pairs."""
    d = np.asarray(x, np.float64) - np.asarray(y, np.float64)
    if d.size < 2:
        return math.nan
    if np.all(d == d[0]):
        return 1.0 if d[0] == 0 else 0.0  # a constant non-zero shift: infinite t
    return float(stats.ttest_rel(x, y).pvalue)


def wilcoxon_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p (zero differences dropped, Wilcoxon's method); 1 when all differences are 0."""
    d = np.asarray(x, np.float64) - np.asarray(y, np.float64)
    if d.size < 2:
        return math.nan
    if np.all(d == 0):
        return 1.0
    return float(stats.wilcoxon(x, y, zero_method="wilcox").pvalue)


@dataclass(frozen=True)
class Agreement:
    feature: str
    method: str
    pairs: int
    mean_relative_change_percent: float  # mean over pairs of 100 (method - baseline) / |baseline|
    t_p: float
    wilcoxon_p: float
    ccc: float
    t_consistent: bool
    wilcoxon_consistent: bool
    ccc_consistent: bool

    def to_dict(self) -> dict:
        """The agreement as the report records it."""
        return asdict(self)


def agreement(feature: str, method: str, values: np.ndarray, baseline: np.ndarray, alpha: float = ALPHA,
              ccc_threshold: float = CCC_THRESHOLD) -> Agreement:
    values, baseline = np.asarray(values, np.float64), np.asarray(baseline, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = 100.0 * (values - baseline) / np.abs(baseline)
    relative = relative[np.isfinite(relative)]
    t, w, c = paired_t_p(values, baseline), wilcoxon_p(values, baseline), lins_ccc(values, baseline)
    return Agreement(feature, method, int(values.size), float(relative.mean()) if relative.size else math.nan,
                     t, w, c, bool(t >= alpha), bool(w >= alpha), bool(c >= ccc_threshold))


def consistency_counts(rows: list[Agreement]) -> dict[str, dict[str, int]]:
    """Per method: how many features each criterion calls consistent, and how many features there are."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        entry = counts.setdefault(row.method, {"features": 0, "t_test": 0, "wilcoxon": 0, "ccc": 0})
        entry["features"] += 1
        entry["t_test"] += row.t_consistent
        entry["wilcoxon"] += row.wilcoxon_consistent
        entry["ccc"] += row.ccc_consistent
    return counts
