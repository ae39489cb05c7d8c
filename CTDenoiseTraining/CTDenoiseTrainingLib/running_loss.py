"""The running sums of a recipe's loss terms between two validations (the progress line, the history row, and the
checkpoint, so that a resumed run reports what the uninterrupted one would)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunningLoss:
    """Sums of each loss term over the ``count`` steps since the last validation.

    Attributes:
        sums: term name -> sum; the first term is the loss the progress line shows.
        count: steps summed.
    """

    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0

    def add(self, terms: dict[str, float]) -> None:
        """Add one step's loss terms.

        Args:
            terms: term name -> that step's value.
        """
        for name, value in terms.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.count += 1

    def mean(self, name: str | None = None) -> float:
        """The mean of one term since the last reset (default: the first term).

        Args:
            name: the term; None for the first.
        """
        key = name if name is not None else next(iter(self.sums))
        return self.sums[key] / self.count

    def reset(self) -> None:
        """Start the next interval: every sum 0, nothing counted."""
        self.sums = {name: 0.0 for name in self.sums}
        self.count = 0
