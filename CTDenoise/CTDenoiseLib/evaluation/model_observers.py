"""Model observers for a signal-known-exactly detection task: channelized Hotelling (Laguerre-Gauss channels)
and non-prewhitening, with AUC, the detectability index d' and bootstrap confidence intervals.

Each image is a small ROI centred where the signal is (present) or would be (absent). Templates are estimated
on one set of realisations and applied to another (halves), or each realisation is scored by a template built
from all the others (leave-one-out), so that no image scores itself.

Laguerre-Gauss channel ``p`` of width ``a`` (Barrett et al. 1998):
``u_p(r) = sqrt(2) / a * exp(-pi r^2 / a^2) * L_p(2 pi r^2 / a^2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import eval_laguerre


@dataclass(frozen=True)
class ObserverResult:
    """Held-out scores and what they give: AUC (Mann-Whitney) and d' = difference of mean scores over the
    root mean variance; ``*_ci``: 95 % percentile intervals over bootstrap resamples of the realisations;
    ``d_prime_samples``: d' of each resample. The resamples depend only on the seed and the numbers of
    realisations, so two methods scored on the same realisations with the same seed are resampled alike: the
    difference of their samples is a paired bootstrap of the difference of their d' (``paired_difference``)."""

    auc: float
    d_prime: float
    auc_ci: tuple[float, float]
    d_prime_ci: tuple[float, float]
    d_prime_samples: tuple[float, ...] = ()


def paired_difference(a: ObserverResult, b: ObserverResult) -> tuple[float, float, float]:
    """d'(a) - d'(b) and its 95 % paired bootstrap interval, for two methods observed on the same realisations
    with the same seed and bootstrap count (the same resamples).

    Args:
        a: one method's result.
        b: the other's.

    Raises:
        ValueError: when the two were not resampled alike (different bootstrap counts).
    """
    if len(a.d_prime_samples) != len(b.d_prime_samples):
        raise ValueError("the two results were not resampled alike (different bootstrap counts)")
    difference = a.d_prime - b.d_prime
    if not a.d_prime_samples:
        return difference, float("nan"), float("nan")
    samples = np.asarray(a.d_prime_samples) - np.asarray(b.d_prime_samples)
    return difference, float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))


def laguerre_gauss_channels(size: int, width: float, count: int,
                            offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Channel matrix (size*size, count) of rotationally symmetric LG channels centred in a size x size ROI.

    Args:
        size: ROI side in pixels (odd, so that the centre is a pixel).
        width: the Gaussian width ``a`` in pixels.
        count: number of channels (orders 0..count-1).
        offset: (row, column) of the signal's centre relative to the ROI's central pixel (sub-pixel).
    """
    centre = (size - 1) / 2
    yy, xx = np.mgrid[:size, :size]
    r2 = (yy - centre - offset[0]) ** 2 + (xx - centre - offset[1]) ** 2
    gauss = np.sqrt(2.0) / width * np.exp(-np.pi * r2 / width**2)
    channels = [gauss * eval_laguerre(p, 2 * np.pi * r2 / width**2) for p in range(count)]
    return np.stack([c.ravel() for c in channels], axis=1)


def captured_signal_fraction(signal: np.ndarray, channels: np.ndarray) -> float:
    """Fraction of the signal's energy that lies in the span of the channels (1: the channels can represent it).

    Args:
        signal: noise-free signal ROI (present minus absent), (size, size).
        channels: channel matrix from ``laguerre_gauss_channels``.
    """
    s = signal.ravel().astype(np.float64)
    coefficients, *_ = np.linalg.lstsq(channels, s, rcond=None)
    projected = channels @ coefficients
    return float(projected @ projected / max(s @ s, 1e-30))


def tune_channel_width(signal: np.ndarray, count: int, widths: np.ndarray, tolerance: float = 0.01,
                       offset: tuple[float, float] = (0.0, 0.0)) -> float:
    """The widest channel width, among ``widths``, whose channels capture at least ``1 - tolerance`` of the
    largest fraction of the noise-free signal's energy that any candidate captures.

    Chosen from the signal alone (no noisy image), so tuning cannot favour one denoiser. The fraction is flat
    over a range of widths; the widest of them is taken because broad channels carry less of the fine-grained
    noise.

    Args:
        signal: noise-free signal ROI (present minus absent).
        count: number of channels.
        widths: candidate widths in pixels.
        tolerance: relative loss of captured energy accepted for a wider channel.
        offset: the signal's sub-pixel centre relative to the ROI's central pixel.
    """
    size = signal.shape[0]
    fractions = np.array([captured_signal_fraction(signal, laguerre_gauss_channels(size, w, count, offset))
                          for w in widths])
    good = np.flatnonzero(fractions >= (1 - tolerance) * fractions.max())
    return float(np.asarray(widths)[good].max())


def auc_mann_whitney(present: np.ndarray, absent: np.ndarray) -> float:
    """P(score of a present image > score of an absent one), ties counting half."""
    present, absent = np.asarray(present, float), np.asarray(absent, float)
    greater = (present[:, None] > absent[None, :]).sum()
    ties = (present[:, None] == absent[None, :]).sum()
    return float((greater + 0.5 * ties) / (present.size * absent.size))


def d_prime(present: np.ndarray, absent: np.ndarray) -> float:
    """Detectability index of two score samples: mean difference over the root mean variance."""
    variance = 0.5 * (np.var(present, ddof=1) + np.var(absent, ddof=1))
    return float((np.mean(present) - np.mean(absent)) / np.sqrt(max(variance, 1e-30)))


def _hotelling_template(present: np.ndarray, absent: np.ndarray, ridge: float = 1e-6) -> np.ndarray:
    difference = present.mean(axis=0) - absent.mean(axis=0)
    covariance = 0.5 * (np.cov(present, rowvar=False) + np.cov(absent, rowvar=False))
    covariance = np.atleast_2d(covariance)
    covariance = covariance + ridge * np.trace(covariance) / covariance.shape[0] * np.eye(covariance.shape[0])
    return np.linalg.solve(covariance, difference)


def _npw_template(present: np.ndarray, absent: np.ndarray) -> np.ndarray:
    return present.mean(axis=0) - absent.mean(axis=0)


def _scores(features_present: np.ndarray, features_absent: np.ndarray, kind: str, split: str
            ) -> tuple[np.ndarray, np.ndarray]:
    template = _hotelling_template if kind == "cho" else _npw_template
    if split == "halves":
        half_p, half_a = len(features_present) // 2, len(features_absent) // 2
        w = template(features_present[:half_p], features_absent[:half_a])
        return features_present[half_p:] @ w, features_absent[half_a:] @ w
    # leave-one-out: each realisation scored by the template of all the others
    present_scores = np.array([features_present[i] @ template(np.delete(features_present, i, 0), features_absent)
                               for i in range(len(features_present))])
    absent_scores = np.array([features_absent[i] @ template(features_present, np.delete(features_absent, i, 0))
                              for i in range(len(features_absent))])
    return present_scores, absent_scores


def observe(present: np.ndarray, absent: np.ndarray, kind: str, channels: np.ndarray | None = None,
            split: str = "halves", bootstrap: int = 1000, seed: int = 0,
            template: np.ndarray | None = None) -> ObserverResult:
    """Score present and absent ROIs with a model observer and summarise.

    Args:
        present: (N, size, size) ROIs with the signal.
        absent: (M, size, size) ROIs without it.
        kind: ``"cho"`` (channelized Hotelling; needs ``channels``) or ``"npw"`` (non-prewhitening, pixel space).
            Given a ``template`` (the known noise-free signal), the NPW observer needs no training: every
            realisation is scored with it and ``split`` does not apply; without one its template is the mean
            difference of the training images, which is noisy with few realisations.
        channels: channel matrix (size*size, P) for the CHO.
        split: ``"halves"`` (template from the first half of each class, scored on the second) or ``"loo"``.
        bootstrap: resamples of the realisations for the 95 % intervals. With halves the training and test
            halves are resampled and the template re-estimated each time; with leave-one-out the held-out scores
            are resampled (a resample would otherwise put copies of a left-out image in its own training set).
        seed: random seed of the bootstrap.
    """
    if kind not in ("cho", "npw"):
        raise ValueError(f"unknown observer '{kind}'")
    if split not in ("halves", "loo"):
        raise ValueError(f"unknown split '{split}'")
    flat_p = present.reshape(len(present), -1).astype(np.float64)
    flat_a = absent.reshape(len(absent), -1).astype(np.float64)
    if kind == "cho":
        if channels is None:
            raise ValueError("the channelized Hotelling observer needs channels")
        flat_p, flat_a = flat_p @ channels, flat_a @ channels
    if kind == "npw" and template is not None:
        w = template.ravel().astype(np.float64)
        scores_p, scores_a = flat_p @ w, flat_a @ w
        split = "loo"  # fixed template: resample the scores
    else:
        scores_p, scores_a = _scores(flat_p, flat_a, kind, split)
    rng = np.random.default_rng(seed)
    aucs, dps = [], []
    for _ in range(bootstrap):
        if split == "halves":
            hp, ha = len(flat_p) // 2, len(flat_a) // 2
            pick_p = np.concatenate([rng.integers(0, hp, hp), rng.integers(hp, len(flat_p), len(flat_p) - hp)])
            pick_a = np.concatenate([rng.integers(0, ha, ha), rng.integers(ha, len(flat_a), len(flat_a) - ha)])
            bp, ba = _scores(flat_p[pick_p], flat_a[pick_a], kind, split)
        else:
            bp = scores_p[rng.integers(0, len(scores_p), len(scores_p))]
            ba = scores_a[rng.integers(0, len(scores_a), len(scores_a))]
        aucs.append(auc_mann_whitney(bp, ba))
        dps.append(d_prime(bp, ba))
    interval = (lambda v: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5)))) if bootstrap else (
        lambda v: (float("nan"), float("nan")))
    return ObserverResult(auc_mann_whitney(scores_p, scores_a), d_prime(scores_p, scores_a),
                          interval(aucs), interval(dps), tuple(float(value) for value in dps))
