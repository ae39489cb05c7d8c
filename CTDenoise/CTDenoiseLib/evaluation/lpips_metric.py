"""LPIPS (Zhang et al. 2018) on CT, slice by slice, where the optional ``lpips`` package works.

``lpips`` needs torchvision and fetches its AlexNet backbone on first use; either can be missing (CPU-only
PyTorch builds without torchvision, machines without internet). Then the metric is reported as
"unavailable: <reason>" instead of failing the whole evaluation.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .metrics import SEED_WINDOW

LPIPS_NET = "alex"
LPIPS_BATCH = 16


@lru_cache(maxsize=1)
def _model() -> tuple[object | None, str]:
    """(model, "") or (None, reason). Cached: building it loads weights once per process."""
    try:
        import lpips
    except Exception as error:  # ImportError, or torchvision failing to import inside lpips
        return None, f"the lpips package does not import ({type(error).__name__}: {error})"
    try:
        model = lpips.LPIPS(net=LPIPS_NET, verbose=False).eval()
    except Exception as error:  # typically the backbone download without internet
        return None, f"lpips could not build its {LPIPS_NET} network ({type(error).__name__}: {error})"
    return model, ""


def lpips_unavailable_reason() -> str:
    """Empty when LPIPS can be computed here."""
    return _model()[1]


def lpips_axial(reference: np.ndarray, image: np.ndarray, window: tuple[float, float] = SEED_WINDOW) -> float:
    """Mean LPIPS over axial slices; ``window`` is mapped to [-1, 1] and repeated over the 3 input channels.

    Raises RuntimeError with the reason when LPIPS is unavailable (check ``lpips_unavailable_reason`` first).
    """
    import torch

    model, reason = _model()
    if model is None:
        raise RuntimeError(f"LPIPS unavailable: {reason}")
    low, high = window

    def scaled(a: np.ndarray) -> torch.Tensor:
        unit = (np.clip(a.astype(np.float32), low, high) - low) / (high - low)
        return torch.from_numpy(unit * 2.0 - 1.0)[:, None].expand(-1, 3, -1, -1)

    scores = []
    with torch.no_grad():
        for start in range(0, reference.shape[0], LPIPS_BATCH):
            stop = start + LPIPS_BATCH
            scores.append(model(scaled(reference[start:stop]), scaled(image[start:stop])).flatten())
    return float(torch.cat(scores).mean())
