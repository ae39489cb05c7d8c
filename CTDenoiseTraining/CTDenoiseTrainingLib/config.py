"""Training configuration as data: saved with every run and into the exported model card."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class TrainConfig:
    name: str = "stresnet"
    architecture: str = "stresnet"
    features: int = 16
    blocks: int = 4
    train: list[str] = field(default_factory=list)
    validation: list[str] = field(default_factory=list)
    dose: float = 0.1
    photons: float = 2.5e4
    electronic_noise: float = 2.0
    realisations: int = 2
    patch: tuple[int, int, int] = (16, 64, 64)
    batch: int = 4
    steps: int = 2000
    learning_rate: float = 1e-3
    loss: str = "l1"
    validate_every: int = 250
    seed: int = 0
    threads: int = 0  # 0: PyTorch's default
    run_dir: str = "runs/stresnet"
    export_dir: str = ""  # empty: do not export

    def to_dict(self) -> dict:
        data = asdict(self)
        data["patch"] = list(self.patch)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {item.name for item in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        values = dict(data)
        if "patch" in values:
            values["patch"] = tuple(int(size) for size in values["patch"])
        return cls(**values)
