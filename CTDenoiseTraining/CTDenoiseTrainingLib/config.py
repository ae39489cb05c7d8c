"""Training configuration as data: one JSON or YAML file, every key overridable from the command line, saved
into the run folder (``config.json``, reusable with ``--config``) beside the code version (``run.json``)."""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from CTDenoiseLib.simulation.kernels import DEFAULT_KERNEL, KERNELS
from CTDenoiseLib.vocabulary import DEFAULT_ARCHITECTURE, DEFAULT_MODEL, Architecture, Device, choices

from .config_options import DATA, MODEL, OPTIMISATION, RECIPES, RUN, option
from .recipes import NAMES, PLAIN
from .recipes.options import ActivationMapOptions, TeacherStudentOptions, UnpairedOptions, recipe_problems

if TYPE_CHECKING:
    from CTDenoiseLib.models import ModelConfig
    from CTDenoiseLib.simulation.low_dose import DoseSimulation

AMP_MODES = ("auto", "off", "fp16", "bf16")
NOISE_LEVEL_MAPS = ("volume", "slice")
DEVICES = choices(Device)
ON_OFF_AUTO = ("auto", "on", "off")


@dataclass
class TrainConfig(TeacherStudentOptions, UnpairedOptions, ActivationMapOptions):  # recipe keys: recipes/options.py
    # Model
    name: str = option(DEFAULT_MODEL, group=MODEL, help="name to register the exported model under")
    architecture: str = option(DEFAULT_ARCHITECTURE, group=MODEL, choices=choices(Architecture))
    features: int = option(16, group=MODEL, help="channels of each convolution")
    blocks: int = option(4, group=MODEL, help="residual blocks")
    z_upscale: int = option(1, group=MODEL, help="output slices per input slice (2: 2 mm low dose -> 1 mm)")
    noise_input: bool = option(False, group=MODEL,
                               help="give the network the input's estimated noise level as a second channel "
                                    "(FFDNet-style, models/noise_channel.py); --init-from a blind model of the same "
                                    "size starts it as that model")
    noise_level_map: str = option("volume", group=MODEL, choices=NOISE_LEVEL_MAPS,
                                  help="with --noise-input: the level is one number per patch (volume: as the "
                                       "engine tells a volume's estimate) or one per slice (slice: each slice's own "
                                       "added noise, as the engine's per-slice estimate; exposure control makes the "
                                       "noise change along z); the card tells the engine which (default volume)")
    noise_level_jitter: float = option(0.15, group=MODEL,
                                       help="relative error drawn into the training noise level, as the estimator "
                                            "makes (default 0.15)")
    init_from: str = option("", group=MODEL, metavar="MODEL",
                            help="fine-tune a registered model (see `ctdenoise models`; checksum verified) instead of "
                                 "starting from the identity; it must have this architecture and HU normalisation "
                                 "and at most these --features and --blocks: a smaller one is grown into this size "
                                 "computing what it computed (grow.py)")
    # Data: explicit volumes, or a folder / CSV split by patient
    train: list[str] = option(group=DATA, factory=list, metavar="VOLUME", help="normal-dose training volumes")
    validation: list[str] = option(group=DATA, factory=list, metavar="VOLUME", help="held-out normal-dose volumes")
    data_dir: str = option("", group=DATA, help="folder of normal-dose volumes or DICOM series folders, one case each")
    low_dose_dir: str = option("", group=DATA, help="folder of real low-dose scans named like those in --data-dir "
                                                    "(empty: simulate low dose)")
    pairs_csv: str = option("", group=DATA, help="CSV with columns normal[, low][, patient][, split]")
    patient_pattern: str = option("", group=DATA, help="regex whose first group is the patient id in a case name "
                                                       "(default: the name)")
    validation_fraction: float = option(0.2, group=DATA, help="fraction of patients held out when no validation "
                                                              "volumes or CSV split are given (default 0.2)")
    # Real scanner noise: realisations 6-10 and the signal-present scans stay unseen (simulation/lcd_phantom.py)
    phantom_pairs: str = option("", group=DATA, metavar="FOLDER", help=(
        "real scanner noise: the MITA phantom's signal-absent realisations 1-5 at 10 %% and 55 %% dose (FOLDER: "
        "lcd_ct_phantom/fbp) as one low-dose case against the mean of its 100 %% realisations 1-5; 6-10 stay unseen"))
    real_pair_fraction: float = option(0.0, group=DATA,
                                       help="share of patches drawn from real low-dose pairs when simulated cases "
                                            "are trained on too (0: by voxel count, as every case; default 0)")
    cache_dir: str = option("", group=DATA, help="prepared arrays and simulations "
                                                 "(default: RUN_DIR/../simulation-cache)")
    # Low-dose simulation
    dose: float = option(0.1, group=DATA, help="dose fraction to simulate (default 0.1)")
    photons: float = option(0.0, group=DATA, help="incident photons per ray at normal dose (default 0: each kernel's "
                                                  "calibrated I0, simulation/kernels.py)")
    electronic_noise: float = option(2.0, group=DATA, help="electronic noise variance per ray")
    realisations: int = option(2, group=DATA, help="simulated low-dose realisations per training volume")
    # Simulation variants: realisation r of a case uses the r-th of every (exposure control, kernel) combination,
    # cycling, so realisations = len(exposure_control) x len(kernels) gives each case every variant once.
    kernels: list[str] = option(group=DATA, factory=lambda: [DEFAULT_KERNEL], choices=KERNELS,
                                help="reconstruction kernels of the simulated noise; realisations cycle through "
                                     f"them (default {DEFAULT_KERNEL}, the MITA phantom's noise texture; the "
                                     "shipped models were trained with hann)")
    exposure_control: list[bool] = option(group=DATA, factory=lambda: [True],
                                          help="simulate with and/or without tube-current modulation; realisations "
                                               "cycle (default on)")
    # Noise in HU grows as pixels shrink (about 1/pixel size), so at one dose fraction coarse training volumes carry
    # less noise than a 0.7 mm chest CT; (1, 1) turns the augmentation off.
    noise_scale: tuple[float, float] = option((1.0, 1.0), group=DATA, metavar=("LOW", "HIGH"),
                                              help="scale each patch's simulated noise by a log-uniform factor in "
                                                   "this range (default 1 1)")
    # As a scanner reconstructs thicker slices; limited by the case's depth.
    slice_averaging: tuple[int, int] = option((1, 1), group=DATA, metavar=("LOW", "HIGH"),
                                              help="average k adjacent slices per patch (both doses), k uniform in "
                                                   "this range (default 1 1)")
    # > 1 magnifies: coarser noise grain in pixels, as smaller pixels show it; < 1 shrinks.
    pixel_zoom: tuple[float, float] = option((1.0, 1.0), group=DATA, metavar=("LOW", "HIGH"),
                                             help="resample each patch in-plane (both doses) by a log-uniform factor "
                                                  "in this range (default 1 1)")
    # Each validation case is scored at every (realisation variant, noise scale), never on one noise level.
    validation_noise_scales: list[float] = option(group=DATA, factory=lambda: [1.0], metavar="SCALE",
                                                  help="validate at each of these noise scales and choose "
                                                       "checkpoints on the mean (default 1)")
    # Optimisation
    patch: tuple[int, int, int] = option((16, 64, 64), group=OPTIMISATION, metavar=("Z", "Y", "X"),
                                         help="target (normal-dose) patch size (default 16 64 64)")
    batch: int = option(4, group=OPTIMISATION, help="patches per step and rank (default 4)")
    steps: int = option(2000, group=OPTIMISATION, help="optimisation steps (default 2000)")
    learning_rate: float = option(1e-3, group=OPTIMISATION, help="peak learning rate of the cosine schedule")
    loss: str = option("l1", group=OPTIMISATION, help="l1, mse, ssim, perceptual, or a sum such as l1+0.2*ssim")
    recipe: str = option(PLAIN, group=RECIPES, choices=NAMES,
                         help="plain pixel loss (default); teacher-student (feature consistency with a teacher "
                              "trained normal->normal, optional contrastive term); unpaired (CycleGAN-style on "
                              "unpaired low-dose and normal-dose scans: --data-dir normal, --low-dose-dir low); "
                              "activation-map (Han & Baek 2022: a lesion classifier's activation maps weight the "
                              "loss, --lesion-classifier)")
    perceptual_weights: str = option("", group=OPTIMISATION,
                                     help="VGG-16 ImageNet weights file for the perceptual loss (torchvision state "
                                          "dict, .pth or .safetensors)")
    amp: str = option("auto", group=OPTIMISATION, choices=AMP_MODES,
                      help="mixed precision (auto: FP16 on CUDA, off on CPU, where BF16 measured slower)")
    device: str = option("auto", group=OPTIMISATION, choices=DEVICES)
    # Bookkeeping
    validate_every: int = option(250, group=RUN, help="steps between validations (default 250)")
    checkpoint_every: int = option(250, group=RUN, help="steps between checkpoints (default 250)")
    keep_checkpoints: int = option(2, group=RUN, help="checkpoints kept (default 2)")
    early_stopping: int = option(0, group=RUN, metavar="VALIDATIONS",
                                 help="stop after this many validations without a better PSNR (default 0: never)")
    workers: int = option(-1, group=RUN, help="DataLoader workers per rank (-1: from the CPU cores)")
    tensorboard: str = option("auto", group=RUN, choices=ON_OFF_AUTO,
                              help="auto: log if tensorboard is installed; on: require it")
    seed: int = option(0, group=RUN)
    threads: int = option(0, group=RUN, help="PyTorch threads (0: its default)")
    run_dir: str = option(f"runs/{DEFAULT_MODEL}", group=RUN,
                          help="folder of the run's checkpoints, logs and configuration")
    export_dir: str = option("", group=RUN, help="model folder to export the best checkpoint to and register it in")
    int8: str = option("auto", group=RUN, choices=ON_OFF_AUTO,
                       help="make the INT8 artefact at export (auto: when OpenVINO and NNCF are installed)")

    def __post_init__(self) -> None:
        self.patch = tuple(int(size) for size in self.patch)  # type: ignore[assignment]
        self.slice_averaging = tuple(int(k) for k in self.slice_averaging)  # type: ignore[assignment]
        self.pixel_zoom = tuple(float(z) for z in self.pixel_zoom)  # type: ignore[assignment]
        problems = [*_network_problems(self), *_run_problems(self), *_data_problems(self), *recipe_problems(self)]
        if problems:
            raise ValueError("; ".join(problems))

    def model_config(self) -> ModelConfig:
        """The network this run trains (what its weights and card will say)."""
        from CTDenoiseLib.models import ModelConfig

        return ModelConfig(self.architecture, self.features, self.blocks, self.z_upscale, self.noise_input)

    def dose_simulation(self) -> DoseSimulation:
        """The simulator settings of this run's low-dose data (dose, photons, electronic noise, seed)."""
        from CTDenoiseLib.simulation.low_dose import DoseSimulation

        return DoseSimulation(dose=self.dose, photons=self.photons or None, electronic_noise=self.electronic_noise,
                              seed=self.seed)

    def simulation_cache(self, run_dir: Path) -> Path:
        """Where simulated low-dose volumes are cached: ``cache_dir``, else ``simulation-cache`` beside the run.

        Args:
            run_dir: the run's folder.
        """
        return Path(self.cache_dir) if self.cache_dir else Path(run_dir).parent / "simulation-cache"

    def calibration_patch(self) -> tuple[int, int, int]:
        """The low-dose patch size the INT8 export calibrates on (the input side of a training patch)."""
        return (self.patch[0] // self.z_upscale, *self.patch[1:])

    def simulation_variants(self) -> list[dict]:
        """Per-realisation overrides of the simulation settings, in the order realisations cycle through them."""
        return [{"exposure_control": bool(exposure), "kernel": kernel}
                for exposure in self.exposure_control for kernel in self.kernels]

    def to_dict(self) -> dict:
        """The configuration as ``config.json`` and checkpoints hold it (tuples as lists)."""
        data = asdict(self)
        for key in ("patch", "noise_scale", "slice_averaging", "pixel_zoom"):
            data[key] = list(getattr(self, key))
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """A configuration from a file's keys (lists back to tuples), checked.

        Args:
            data: configuration keys.

        Raises:
            ValueError: an unknown key, or what ``__post_init__`` refuses.
        """
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


def _network_problems(config: TrainConfig) -> list[str]:
    """What is wrong with the patch and the network's shape keys."""
    problems = []
    if len(config.patch) != 3 or min(config.patch) < 1:
        problems.append(f"patch must be three positive sizes, got {config.patch}")
    elif config.patch[0] % config.z_upscale:
        problems.append(f"patch depth {config.patch[0]} must be a multiple of z_upscale {config.z_upscale}")
    if config.z_upscale < 1:
        problems.append("z_upscale must be >= 1")
    if config.noise_input and config.z_upscale != 1:
        problems.append("noise_input needs z_upscale 1")
    if not 0.0 <= config.noise_level_jitter < 1.0:
        problems.append("noise_level_jitter must be in [0, 1)")
    return problems


def _run_problems(config: TrainConfig) -> list[str]:
    """What is wrong with the keys of the run's machinery (precision, device, counts)."""
    problems = []
    if config.amp not in AMP_MODES:
        problems.append(f"amp must be one of {', '.join(AMP_MODES)}")
    if config.device not in DEVICES:
        problems.append(f"device must be one of {', '.join(DEVICES)}")
    if config.tensorboard not in ON_OFF_AUTO or config.int8 not in ON_OFF_AUTO:
        problems.append("tensorboard and int8 must be auto, on or off")
    if config.steps < 1 or config.batch < 1 or config.validate_every < 1 or config.checkpoint_every < 0:
        problems.append("steps, batch and validate_every must be >= 1, checkpoint_every >= 0")
    return problems


def _data_problems(config: TrainConfig) -> list[str]:
    """What is wrong with the simulation, augmentation and validation keys."""
    problems = []
    if config.photons < 0:
        problems.append("photons must be >= 0 (0: each kernel's calibrated I0)")
    if not config.kernels or any(kernel not in KERNELS for kernel in config.kernels):
        problems.append(f"kernels must be a non-empty list of {', '.join(KERNELS)}")
    if not config.exposure_control:
        problems.append("exposure_control must list true and/or false")
    if not 1 <= config.slice_averaging[0] <= config.slice_averaging[1]:
        problems.append(f"slice_averaging must be 1 <= low <= high, got {config.slice_averaging}")
    if not 0.0 < config.pixel_zoom[0] <= config.pixel_zoom[1]:
        problems.append(f"pixel_zoom must be 0 < low <= high, got {config.pixel_zoom}")
    if not config.validation_noise_scales or min(config.validation_noise_scales) <= 0:
        problems.append("validation_noise_scales must be positive numbers")
    elif config.z_upscale != 1 and list(config.validation_noise_scales) != [1.0]:
        problems.append("validation_noise_scales need z_upscale 1 (the noise is low dose minus normal dose)")
    if not 0.0 < config.validation_fraction < 1.0:
        problems.append("validation_fraction must be between 0 and 1")
    if not 0 <= config.real_pair_fraction < 1:
        problems.append(f"real_pair_fraction must be in [0, 1), got {config.real_pair_fraction}")
    if config.noise_level_map not in NOISE_LEVEL_MAPS:
        problems.append(f"noise_level_map must be one of {', '.join(NOISE_LEVEL_MAPS)}")
    return problems


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
