"""The activation-map recipe's own options (Han & Baek 2022), made from a run's ``lesion_classifier`` and
``activation_map_*`` keys (``options.ActivationMapOptions.activation_map_options``) and recorded in the model card.
Light on purpose (no torch): the configuration checks them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

VARIANTS = ("multiply", "weight")


@dataclass(frozen=True)
class ActivationMapOptions:
    """Configuration of the recipe, recorded in the model card."""

    classifier: str = ""  # the lesion classifier's safetensors file
    variant: str = "multiply"  # multiply (the paper's pairs x map) or weight (map-weighted per-voxel loss)
    floor: float = 0.1  # weight variant: weight where the map is 0
    classifier_features: int = 16

    def problems(self) -> list[str]:
        """What is wrong with the options (empty when nothing is)."""
        found = []
        if self.variant not in VARIANTS:
            found.append(f"activation-map variant must be one of {', '.join(VARIANTS)}")
        if not 0.0 <= self.floor <= 1.0:
            found.append("activation-map floor must be in [0, 1]")
        return found

    def to_dict(self) -> dict:
        """The options as the card and checkpoints record them."""
        return asdict(self)
