"""Training configuration as data: one JSON or YAML file, every key overridable from the command line, saved
into the run folder (``config.json``, reusable with ``--config``) beside the code version (``run.json``)."""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from CTDenoiseLib.models import ModelConfig
from CTDenoiseLib.vocabulary import Device, choices

from .recipes.options import ActivationMapOptions, TeacherStudentOptions, UnpairedOptions, recipe_problems

AMP_MODES = ("auto", "off", "fp16", "bf16")
DEVICES = choices(Device)


@dataclass
class TrainConfig(TeacherStudentOptions, UnpairedOptions, ActivationMapOptions):  # recipe keys: recipes/options.py
    # Model
    name: str = "stresnet"
    architecture: str = "stresnet"
    features: int = 16
    blocks: int = 4
    z_upscale: int = 1  # 2: thick low-dose input (2 x the target's slice spacing) -> thin target slices
    noise_input: bool = False  # FFDNet-style: the input's noise level as a second channel (models/noise_channel.py)
    noise_level_jitter: float = 0.15  # training draws the channel's level within +-15 % of the patch's: estimator error
    init_from: str = ""  # registered model to fine-tune (same architecture and size); empty: start as the identity
    # Data: explicit volumes, or a folder / CSV split by patient
    train: list[str] = field(default_factory=list)
    validation: list[str] = field(default_factory=list)
    data_dir: str = ""  # normal-dose volumes (files or DICOM series folders), one case each
    low_dose_dir: str = ""  # real low-dose scans matched to data_dir by name; empty: simulate low dose
    pairs_csv: str = ""  # columns: normal[, low][, patient][, split]
    patient_pattern: str = ""  # regex on a case name whose first group is the patient id (default: the name)
    validation_fraction: float = 0.2  # of patients, when no validation volumes or CSV split are given
    cache_dir: str = ""  # prepared int16 arrays (and simulations); default: <run_dir>/../simulation-cache
    # Low-dose simulation
    dose: float = 0.1
    photons: float = 2.5e4
    electronic_noise: float = 2.0
    realisations: int = 2
    # Simulation variants: realisation r of a case uses the r-th of every (exposure control, kernel) combination,
    # cycling, so realisations = len(exposure_control) x len(kernels) gives each case every variant once.
    kernels: list[str] = field(default_factory=lambda: ["hann"])  # reconstruction kernels of the inserted noise
    exposure_control: list[bool] = field(default_factory=lambda: [True])  # with/without tube-current modulation
    # Noise-amplitude augmentation: the simulated noise of each patch is scaled by a factor drawn log-uniformly
    # from this range. Noise in HU grows as pixels shrink (about 1/pixel size), so at one dose fraction coarse
    # training volumes carry less noise than a 0.7 mm chest CT; (1, 1) turns it off.
    noise_scale: tuple[float, float] = (1.0, 1.0)
    # Slice-thickness augmentation: each patch averages k adjacent slices (low and normal dose alike), k drawn
    # uniformly from this range (limited by the case's depth), as a scanner reconstructs thicker slices.
    slice_averaging: tuple[int, int] = (1, 1)
    # Pixel-size augmentation: each patch is resampled in-plane by a factor drawn log-uniformly from this range
    # (> 1 magnifies: coarser noise grain in pixels, as smaller pixels show it; < 1 shrinks), both doses alike.
    pixel_zoom: tuple[float, float] = (1.0, 1.0)
    # Validation regimes: each validation case is scored at every (realisation variant, noise scale), and the
    # checkpoint is chosen on the mean PSNR over all of them, never on one noise level.
    validation_noise_scales: list[float] = field(default_factory=lambda: [1.0])
    # Optimisation
    patch: tuple[int, int, int] = (16, 64, 64)  # target (normal-dose) patch, Z Y X
    batch: int = 4  # per rank
    steps: int = 2000
    learning_rate: float = 1e-3
    loss: str = "l1"  # l1, mse, ssim, perceptual, or a weighted sum such as "l1+0.2*ssim"
    recipe: str = "plain"  # plain, teacher-student, unpaired, activation-map (see recipes/)
    perceptual_weights: str = ""  # VGG-16 ImageNet weights (torchvision state dict, .pth or .safetensors)
    amp: str = "auto"  # auto: FP16 on CUDA, off on CPU (BF16 measured slower there); fp16; bf16; off
    device: str = "auto"
    # Bookkeeping
    validate_every: int = 250
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    early_stopping: int = 0  # stop after this many validations without a better PSNR (0: never)
    workers: int = -1  # DataLoader worker processes per rank; -1: from the CPU cores per rank
    tensorboard: str = "auto"  # auto: log if tensorboard is installed; on: require it; off
    seed: int = 0
    threads: int = 0  # 0: PyTorch's default
    run_dir: str = "runs/stresnet"
    export_dir: str = ""  # empty: do not export
    int8: str = "auto"  # INT8 artefact at export: auto (when OpenVINO + NNCF are installed), on, off

    def __post_init__(self) -> None:
        self.patch = tuple(int(size) for size in self.patch)  # type: ignore[assignment]
        problems = []
        if len(self.patch) != 3 or min(self.patch) < 1:
            problems.append(f"patch must be three positive sizes, got {self.patch}")
        elif self.patch[0] % self.z_upscale:
            problems.append(f"patch depth {self.patch[0]} must be a multiple of z_upscale {self.z_upscale}")
        if self.z_upscale < 1:
            problems.append("z_upscale must be >= 1")
        if self.noise_input and (self.z_upscale != 1 or self.recipe != "plain"):
            problems.append("noise_input needs z_upscale 1 and the plain recipe")
        if not 0.0 <= self.noise_level_jitter < 1.0:
            problems.append("noise_level_jitter must be in [0, 1)")
        if self.amp not in AMP_MODES:
            problems.append(f"amp must be one of {', '.join(AMP_MODES)}")
        if self.device not in DEVICES:
            problems.append(f"device must be one of {', '.join(DEVICES)}")
        if self.tensorboard not in ("auto", "on", "off") or self.int8 not in ("auto", "on", "off"):
            problems.append("tensorboard and int8 must be auto, on or off")
        if self.steps < 1 or self.batch < 1 or self.validate_every < 1 or self.checkpoint_every < 0:
            problems.append("steps, batch and validate_every must be >= 1, checkpoint_every >= 0")
        from CTDenoiseLib.simulation.kernels import KERNELS

        if not self.kernels or any(kernel not in KERNELS for kernel in self.kernels):
            problems.append(f"kernels must be a non-empty list of {', '.join(KERNELS)}")
        if not self.exposure_control:
            problems.append("exposure_control must list true and/or false")
        self.slice_averaging = tuple(int(k) for k in self.slice_averaging)  # type: ignore[assignment]
        self.pixel_zoom = tuple(float(z) for z in self.pixel_zoom)  # type: ignore[assignment]
        if not 1 <= self.slice_averaging[0] <= self.slice_averaging[1]:
            problems.append(f"slice_averaging must be 1 <= low <= high, got {self.slice_averaging}")
        if not 0.0 < self.pixel_zoom[0] <= self.pixel_zoom[1]:
            problems.append(f"pixel_zoom must be 0 < low <= high, got {self.pixel_zoom}")
        if not self.validation_noise_scales or min(self.validation_noise_scales) <= 0:
            problems.append("validation_noise_scales must be positive numbers")
        elif self.z_upscale != 1 and list(self.validation_noise_scales) != [1.0]:
            problems.append("validation_noise_scales need z_upscale 1 (the noise is low dose minus normal dose)")
        if not 0.0 < self.validation_fraction < 1.0:
            problems.append("validation_fraction must be between 0 and 1")
        problems += recipe_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    def model_config(self) -> ModelConfig:
        """The network this run trains (what its weights and card will say)."""
        return ModelConfig(self.architecture, self.features, self.blocks, self.z_upscale, self.noise_input)

    def simulation_variants(self) -> list[dict]:
        """Per-realisation overrides of the simulation settings, in the order realisations cycle through them."""
        return [{"exposure_control": bool(exposure), "kernel": kernel}
                for exposure in self.exposure_control for kernel in self.kernels]

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("patch", "noise_scale", "slice_averaging", "pixel_zoom"):
            data[key] = list(getattr(self, key))
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
        for key, kind in (("noise_scale", float), ("pixel_zoom", float), ("slice_averaging", int)):
            if key in values:
                values[key] = tuple(kind(value) for value in values[key])
        return cls(**values)


def read_config_file(path: Path) -> dict:
    """A JSON (.json) or YAML (.yaml/.yml) file of configuration keys; YAML needs PyYAML (or ruamel.yaml)."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]

            data = yaml.safe_load(text)
        except ImportError:
            try:
                from ruamel.yaml import YAML  # type: ignore[import-not-found]
            except ImportError as error:
                raise ValueError(f"{path} is YAML but no YAML reader is installed: pip install 'ctdenoise[training]' "
                                 "(PyYAML), or write the configuration as JSON") from error
            data = YAML(typ="safe").load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of configuration keys")
    return data


def code_version() -> dict:
    """Engine version, git commit (and whether the tree had changes) of the code that trains, and the stack."""
    import torch

    from CTDenoiseLib import __version__

    version = {"ctdenoise": __version__, "torch": torch.__version__, "python": platform.python_version()}
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            version["git_commit"] = commit.stdout.strip()
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                    capture_output=True, text=True, timeout=10)
            version["git_dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return version
