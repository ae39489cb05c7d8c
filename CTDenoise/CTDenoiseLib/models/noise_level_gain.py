"""How strongly a noise-conditioned network is told its input's noise level (the card's
``inference.noise_level_gain``).

A network trained on simulated noise can under-correct noise of a coarser grain (a soft reconstruction kernel) at
the level the estimator reports, and is right at the level of fine-grained (sharp-kernel) noise. Telling it a
multiple of the level makes it work harder. The multiple is either one number, or a table over the noise grain of
the input (``noise.estimate``: sqrt(1 - neighbour correlation), about 0.6 for soft and 0.9 for sharp kernels),
interpolated linearly and held at its ends. It is chosen after training on validation volumes
(``ctdenoise battery --tune noise-level-gain``), never on test data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import CTDenoiseError

GAIN_RANGE = (0.1, 10.0)


@dataclass(frozen=True)
class NoiseLevelGain:
    """A gain per noise grain: ``grains`` ascending, one ``gains`` value each; one point is a constant.

    Attributes:
        grains: noise grain values (see ``noise.estimate``) where the gain is given, ascending.
        gains: the gain at each of them.
    """

    grains: tuple[float, ...] = (1.0,)
    gains: tuple[float, ...] = (1.0,)

    @classmethod
    def constant(cls, gain: float) -> "NoiseLevelGain":
        """One gain for every grain.

        Args:
            gain: the multiple of the estimated level the network is told.
        """
        return cls((1.0,), (float(gain),))

    @property
    def is_constant(self) -> bool:
        """Whether every grain gets the same gain (the grain need not be measured)."""
        return len(set(self.gains)) == 1

    def for_grain(self, grain: float | None) -> float:
        """The gain for an input of this noise grain; an unknown grain (None, nan) takes the gain at the finest
        grain of the table (the smallest correction).

        Args:
            grain: the input's noise grain (``NoiseEstimate.grain``), or None.
        """
        if self.is_constant:
            return self.gains[0]
        if grain is None or not math.isfinite(grain):
            return self.gains[-1]
        return float(np.interp(grain, self.grains, self.gains))

    def to_card(self) -> float | dict:
        """The gain as a card holds it: a number when constant, else ``{"grain": [...], "gain": [...]}``."""
        return self.gains[0] if self.is_constant else {"grain": list(self.grains), "gain": list(self.gains)}


def from_card(inference: dict, name: str) -> NoiseLevelGain:
    """The card's ``inference.noise_level_gain``: absent (1), a number, or ``{"grain": [...], "gain": [...]}``.

    Args:
        inference: the card's ``inference`` block.
        name: the model's name, for the error message.

    Raises:
        CTDenoiseError: the value is not one of those forms, a gain is outside ``GAIN_RANGE``, or the grains are
            not ascending.
    """
    value = inference.get("noise_level_gain", 1.0)
    hint = ("It must be a number between 0.1 and 10 (1: the estimated level as it is), or {\"grain\": [ascending "
            "numbers], \"gain\": [as many numbers between 0.1 and 10]}.")
    if isinstance(value, dict):
        grains, gains = value.get("grain"), value.get("gain")
        if (isinstance(grains, list) and isinstance(gains, list) and 0 < len(grains) == len(gains)
                and all(_is_number(x) for x in grains + gains) and list(grains) == sorted(set(grains))
                and all(GAIN_RANGE[0] <= x <= GAIN_RANGE[1] for x in gains)):
            return NoiseLevelGain(tuple(float(x) for x in grains), tuple(float(x) for x in gains))
    elif _is_number(value) and GAIN_RANGE[0] <= value <= GAIN_RANGE[1]:
        return NoiseLevelGain.constant(value)
    raise CTDenoiseError(f"Model '{name}' has an invalid inference.noise_level_gain {value!r} in its card.", hint)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
