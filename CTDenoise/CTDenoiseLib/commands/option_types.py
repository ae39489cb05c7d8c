"""argparse types for numeric options with the ranges that make sense, so that a bad value is one clear line
before any work (``--max-tile-mvox 0`` used to run 176 tiles for a tiny volume, ``--halo 500`` tried to allocate
4.8 GB, ``--slice-thickness 0`` was silently ignored)."""

from __future__ import annotations

import argparse
import math
from typing import Callable

from ..vocabulary import ProgressFormat, choices

# (low, high, inclusive low): the ranges as data
MAX_TILE_MVOX = (0.05, 100_000.0, True)  # a 32x32 in-plane tile with a 10-voxel halo and 8 slices is 0.076 Mvox
HALO = (0, 64, True)  # the shipped networks see 11 voxels; a wider halo only costs time and memory
ADAPT_STEPS = (1, 100_000, True)  # fine-tuning steps of --adapt (inference.adaptation.Adaptation checks the same)
POSITIVE = (0.0, math.inf, False)
NON_NEGATIVE = (0.0, math.inf, True)
DOSE = (0.0, 1.0, False)
STRENGTH = (0.0, 1.0, True)  # blend of input (0) and network output (1)
PROGRESS = {"choices": choices(ProgressFormat), "default": ProgressFormat.BAR.value}  # every command's --progress
SEED = (0, 2**63 - 1, True)  # what the random generators (numpy, torch) take
SEND_TIMEOUT = (0.0, 86_400.0, False)  # seconds; a day bounds what the network calls accept


def bounded(kind: type, limits: tuple[float, float, bool], why: str = "") -> Callable[[str], float | int]:
    """An argparse ``type`` that parses ``kind`` and refuses values outside ``limits``.

    Args:
        kind: ``int`` or ``float``.
        limits: (low, high, low_inclusive); high is always inclusive.
        why: appended to the refusal, e.g. what the range protects.
    """
    low, high, low_inclusive = limits

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {'an integer' if kind is int else 'a number'}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
        above_low = value >= low if low_inclusive else value > low
        if not above_low or value > high:
            lower = f">= {low:g}" if low_inclusive else f"> {low:g}"
            upper = "" if math.isinf(high) else f" and <= {high:g}"
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: it must be {lower}{upper}{'; ' + why if why else ''}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse
