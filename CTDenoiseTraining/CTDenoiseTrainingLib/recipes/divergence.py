"""GAN training diverges: a watch over the unpaired recipe's losses and validations that warns, and stops the run
(the best weights so far are still exported) when the generator's validation PSNR stays far below its best.

It also warns when the generator barely denoises the held-out simulated low dose: cycle consistency rewards a
low -> normal generator that keeps the noise (the normal -> low one can then give back exactly the noise it was
fed; Chu et al. 2017, "CycleGAN, a master of steganography"). Measured here (docs/training.md section 11):
fine-tuning the shipped STResNet for 1000 steps with the default weights took its robustness-battery mean gain
from +6.43 dB to +0.09 dB; with cycle and identity weights ten times smaller it still gained only +0.10 dB
on validation after 500 steps."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DISCRIMINATOR_WINS = 0.02  # mean LSGAN discriminator loss below this: it separates real from generated outright
KEEPS_NOISE_DB = 0.5  # validation PSNR gain below this: the generator passes the low dose through


@dataclass
class DivergenceWatch:
    """Args:
        tolerance_db: a validation this far below the best PSNR counts as diverging.
        patience: diverging validations in a row before stopping (0: only warn).
    """

    tolerance_db: float
    patience: int
    in_a_row: int = 0
    events: list[dict] = field(default_factory=list)

    def losses(self, step: int, terms: dict[str, float]) -> str | None:
        """A reason to stop at once (non-finite losses), else None.

        Args:
            step: the step taken.
            terms: its loss terms.
        """
        bad = [name for name, value in terms.items() if not math.isfinite(value)]
        if bad:
            self.events.append({"step": step, "event": "non-finite loss", "terms": bad})
            return f"diverged at step {step}: non-finite {', '.join(bad)} loss"
        return None

    def validation(self, step: int, psnr_db: float, best_psnr_db: float, discriminator_loss: float,
                   psnr_gain_db: float = math.nan) -> tuple[list[str], bool]:
        """Warnings for this validation, and whether to stop.

        Args:
            step: the step validated.
            psnr_db: this validation's mean PSNR.
            best_psnr_db: the best mean PSNR before it.
            discriminator_loss: mean discriminator loss since the last validation.
            psnr_gain_db: this validation's mean PSNR gain over the low dose (nan: not checked).
        """
        warnings = []
        if psnr_gain_db < KEEPS_NOISE_DB:
            warnings.append(f"warning: the low -> normal generator gains only {psnr_gain_db:+.2f} dB on the held-out "
                            "simulated low dose: it keeps the noise (cycle consistency rewards that, and the "
                            "discriminators let it pass); train on simulated pairs instead (the plain recipe)")
            self.events.append({"step": step, "event": "generator keeps the noise",
                                "psnr_gain_db": round(psnr_gain_db, 3)})
        if discriminator_loss < DISCRIMINATOR_WINS:
            warnings.append(f"warning: the discriminators win outright (mean loss {discriminator_loss:.4f}); "
                            "the generators may collapse: consider a smaller discriminator_learning_rate")
            self.events.append({"step": step, "event": "discriminators win", "loss": round(discriminator_loss, 5)})
        if math.isfinite(best_psnr_db) and psnr_db < best_psnr_db - self.tolerance_db:
            self.in_a_row += 1
            warnings.append(f"warning: validation PSNR {psnr_db:.2f} dB is {best_psnr_db - psnr_db:.2f} dB below the "
                            f"best ({self.in_a_row} diverging validation(s) in a row)")
            self.events.append({"step": step, "event": "psnr below best", "psnr_db": round(psnr_db, 3),
                                "best_psnr_db": round(best_psnr_db, 3)})
        else:
            self.in_a_row = 0
        return warnings, bool(self.patience) and self.in_a_row >= self.patience

    def state(self) -> dict:
        """What checkpoints and the card hold of the watch."""
        return {"in_a_row": self.in_a_row, "events": self.events}

    def restore(self, state: dict) -> None:
        """Continue from a checkpoint's watch.

        Args:
            state: what ``state`` returned.
        """
        self.in_a_row, self.events = int(state.get("in_a_row", 0)), list(state.get("events", []))
