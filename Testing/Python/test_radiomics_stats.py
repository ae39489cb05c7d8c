"""Agreement statistics on constructed data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from CTDenoiseLib.radiomics.stats import agreement, consistency_counts, lins_ccc, paired_t_p, wilcoxon_p


def test_ccc_of_identical_data_is_one_and_of_shifted_data_follows_lins_formula() -> None:
    x = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    assert lins_ccc(x, x) == pytest.approx(1.0)
    # y = x + c: cov = var, so CCC = 2 var / (2 var + c^2) with population variance.
    c, variance = 3.0, x.var()
    assert lins_ccc(x, x + c) == pytest.approx(2 * variance / (2 * variance + c * c))
    # y = -x about its mean: perfect negative concordance.
    assert lins_ccc(x, 2 * x.mean() - x) == pytest.approx(-1.0)
    # y = 2x: cov = 2 var, var y = 4 var, mean shift = mean x.
    assert lins_ccc(x, 2 * x) == pytest.approx(4 * variance / (5 * variance + x.mean() ** 2))
    assert lins_ccc(np.full(4, 2.0), np.full(4, 2.0)) == 1.0


def test_paired_t_test_matches_the_textbook_value() -> None:
    baseline = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    method = baseline + np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    # differences 1..5: mean 3, sd sqrt(2.5), t = 3 / (sqrt(2.5) / sqrt(5)) = 4.2426, 4 degrees of freedom
    t = 3.0 / (math.sqrt(2.5) / math.sqrt(5))
    assert paired_t_p(method, baseline) == pytest.approx(2 * stats.t.sf(t, 4))
    assert paired_t_p(method, baseline) == pytest.approx(0.013236, abs=1e-6)
    assert paired_t_p(baseline, baseline) == 1.0
    assert paired_t_p(baseline + 2.0, baseline) == 0.0  # a constant shift: t is infinite
    assert math.isnan(paired_t_p(np.array([1.0]), np.array([2.0])))


def test_wilcoxon_exact_p_for_all_positive_differences() -> None:
    baseline = np.arange(5.0)
    # 5 positive differences with distinct ranks: exact two-sided p = 2 / 2^5
    assert wilcoxon_p(baseline + np.array([0.1, 0.2, 0.3, 0.4, 0.5]), baseline) == pytest.approx(2 / 32)
    assert wilcoxon_p(baseline, baseline) == 1.0
    # n = 3 can never reach p < 0.05: the reason a p-value count depends on sample size
    assert wilcoxon_p(np.array([2.0, 3.0, 4.5]), np.array([1.0, 1.0, 1.0])) == pytest.approx(0.25)


def test_agreement_flags_and_counts() -> None:
    rng = np.random.default_rng(0)
    baseline = rng.normal(100, 20, 30)
    close = agreement("close", "good", baseline + rng.normal(0, 1, 30), baseline)
    biased = agreement("biased", "good", baseline * 1.3, baseline)
    assert close.t_consistent and close.wilcoxon_consistent and close.ccc_consistent and close.pairs == 30
    assert not (biased.t_consistent or biased.wilcoxon_consistent or biased.ccc_consistent)
    assert biased.mean_relative_change_percent == pytest.approx(30.0)
    counts = consistency_counts([close, biased, agreement("close", "bad", baseline * 1.3, baseline)])
    assert counts == {"good": {"features": 2, "t_test": 1, "wilcoxon": 1, "ccc": 1},
                      "bad": {"features": 1, "t_test": 0, "wilcoxon": 0, "ccc": 0}}
