"""Post-training static INT8 quantization of a registered model with NNCF/OpenVINO, calibrated on real CT.

Calibration uses patches of the network's real input: normal-dose CT with simulated low dose (the same
projection-domain simulation as training), normalised like inference. Only the slabs the patches come from are
simulated, so large volumes stay cheap. Weights are quantized per output channel (NNCF's default for
convolutions), activations per tensor. The head (1 -> F) and tail (F -> 1) convolutions stay FP32: they hold
under 2 % of the multiply-adds, and quantizing the single-channel CT input or output to 256 levels over the
whole HU range (16 HU steps) would cost more accuracy than the remaining INT8 work saves.

The result is an OpenVINO IR (``<name>.int8.xml`` + ``.bin``) plus ``<name>.int8.json`` (how it was made),
registered as the model's ``int8``, ``int8-bin`` and ``int8-info`` extras with their SHA-256.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import CTDenoiseError
from ..hu import HUNormalization
from ..io.plausibility import check_ct_volume
from ..io.volumes import read_volume
from ..models.files import LoadedModel
from ..models.noise_channel import as_batch, channel_value
from ..models.noise_level_gain import NoiseLevelGain
from ..models.registry import register_model
from ..noise.estimate import estimate_noise_std
from ..simulation.low_dose import DoseSimulation, simulate_volume
from .int8_artefact import INT8_KEYS
from .openvino_backend import convert_module, import_openvino, ir_checksums, write_ir

QUANTIZE_HINT = 'Install the quantization tools with: pip install "ctdenoise[quantize]"'
# Node names of the traced network: the top-level residual additions (long skip, and input + correction, whose input
# would otherwise be quantized to 16 HU steps); the family's ``fp32_modules`` add theirs (``fp32_scopes``).
TOP_LEVEL_ADDITIONS = r"^aten::add/.*"
PATCHES_PER_SLAB = 16  # only the slabs patches come from are simulated (about 1.3 s per 512x512 slice)


@dataclass(frozen=True)
class CalibrationSettings:
    patches: int = 128
    patch: tuple[int, int, int] = (16, 64, 64)
    dose: float = 0.1
    seed: int = 0
    min_body_fraction: float = 0.3  # of a patch's voxels above -900 HU: skip patches of air


def _slab_bounds(depth: int, slab: int, count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    if depth <= slab * count:
        return [(0, depth)]
    starts = sorted(rng.choice(depth - slab + 1, size=count, replace=False))
    return [(int(start), int(start) + slab) for start in starts]


def calibration_patches(paths: Sequence[str | Path], normalization: HUNormalization, settings: CalibrationSettings,
                        on_volume: Callable[[int, int], None] | None = None, channels: int = 1,
                        noise_level_gain: NoiseLevelGain = NoiseLevelGain()) -> list[np.ndarray]:
    """``settings.patches`` normalised low-dose patches (1, channels, Z, Y, X), spread evenly over the volumes;
    with 2 channels the second is the slab's estimated noise level times the gain ``noise_level_gain`` gives for
    its noise grain (``noise_channel``), as the engine feeds it."""
    if not paths:
        raise CTDenoiseError("No calibration volumes given.", "Pass normal-dose CT volumes with --calibration.")
    rng = np.random.default_rng(settings.seed)
    pz, py, px = settings.patch
    per_volume = -(-settings.patches // len(paths))
    patches: list[np.ndarray] = []
    for index, path in enumerate(paths):
        volume = read_volume(path)
        check_ct_volume(volume, f"calibration volume '{path}'")
        depth, height, width = volume.array.shape
        if depth < pz or height < py or width < px:
            raise CTDenoiseError(f"Calibration volume '{path}' ({depth}x{height}x{width}) is smaller than a patch "
                                 f"({pz}x{py}x{px}).", "Use larger volumes or a smaller --patch.")
        slabs = _slab_bounds(depth, pz, max(1, -(-per_volume // PATCHES_PER_SLAB)), rng)
        quota = -(-per_volume // len(slabs))
        found: list[np.ndarray] = []
        for start, stop in slabs:
            slab = replace(volume, array=volume.array[start:stop])  # simulation uses only the spacing
            noise = DoseSimulation(dose=settings.dose, seed=settings.seed + 100_003 * index + start)
            low_hu = simulate_volume(slab, noise).array
            normal = normalization.normalise(low_hu)
            if channels == 2:  # a noise-conditioned network sees its input's estimated noise level
                estimate = estimate_noise_std(low_hu)
                level = channel_value(estimate.std_hu, noise_level_gain.for_grain(estimate.grain))
                normal = np.stack([normal, np.full_like(normal, level)])
            body = volume.array[start:stop] > -900
            taken = 0
            for _ in range(quota * 20):
                if taken >= quota:
                    break
                z = int(rng.integers(0, stop - start - pz + 1))
                y, x = int(rng.integers(0, height - py + 1)), int(rng.integers(0, width - px + 1))
                if body[z:z + pz, y:y + py, x:x + px].mean() >= settings.min_body_fraction:
                    found.append(as_batch(np.ascontiguousarray(normal[..., z:z + pz, y:y + py, x:x + px])))
                    taken += 1
        patches.extend(found[:per_volume])
        if on_volume:
            on_volume(index + 1, len(paths))
    if not patches:
        raise CTDenoiseError("No calibration patch contains enough body (all air?).", "Use CT volumes of a patient.")
    return patches[: settings.patches]


def quantize_openvino(loaded: LoadedModel, patches: list[np.ndarray]) -> object:
    """NNCF post-training quantization of ``loaded``'s network; returns the INT8 OpenVINO model."""
    ov = import_openvino()
    try:
        import nncf
    except ImportError as error:
        raise CTDenoiseError(f"NNCF is not installed ({error}).", QUANTIZE_HINT) from error
    model = convert_module(loaded.module)
    model.reshape({model.inputs[0]: ov.PartialShape(list(patches[0].shape))})
    quantized = nncf.quantize(model, nncf.Dataset(patches), subset_size=len(patches),
                              preset=nncf.QuantizationPreset.MIXED, fast_bias_correction=True,
                              ignored_scope=nncf.IgnoredScope(patterns=fp32_scopes(loaded.module), validate=False))
    check_input_stays_fp32(quantized)
    return quantized


def fp32_scopes(module: object) -> list[str]:
    """The node-name patterns NNCF leaves in FP32: the family's ``fp32_modules`` (``models.DenoiserFamily``; the
    head and tail convolutions of ``ResidualDenoiser``) and the top-level residual additions.

    Args:
        module: the network being quantized.
    """
    return [rf".*__module\.{name}/.*" for name in module.fp32_modules] + [TOP_LEVEL_ADDITIONS]  # type: ignore


def check_input_stays_fp32(model: object) -> None:
    """The CT input must reach the network unquantized (256 levels over 4000 HU would be visible noise)."""
    quantized_input = [op.get_friendly_name() for op in model.get_ordered_ops()  # type: ignore[attr-defined]
                       if op.get_type_name() == "FakeQuantize"
                       and op.input(0).get_source_output().get_node().get_type_name() == "Parameter"]
    if quantized_input:
        raise CTDenoiseError(f"Quantization would round the CT input itself ({', '.join(quantized_input)}).",
                             "The network's layer names changed; update its family's fp32_modules (models/family.py).")


def quantize_registered(loaded: LoadedModel, calibration: Sequence[str | Path], settings: CalibrationSettings,
                        on_volume: Callable[[int, int], None] | None = None) -> dict:
    """Quantize a registered model, write its INT8 IR next to its weights and register it; returns a summary."""
    if loaded.entry is None:
        raise CTDenoiseError(f"Model '{loaded.name}' is not registered.", "Register it first.")
    started = time.perf_counter()
    channels = 2 if loaded.config.noise_input else 1
    patches = calibration_patches(calibration, loaded.normalization, settings, on_volume, channels,
                                  loaded.noise_level_gain)
    int8 = quantize_openvino(loaded, patches)
    folder = loaded.entry.weights.path.parent
    xml = write_ir(int8, folder / f"{loaded.name}.int8.xml")[0]
    import nncf

    info = {"format": "ctdenoise-int8/1", "model": loaded.name, "weights_sha256": loaded.entry.weights.sha256,
            "backend": "openvino", "openvino": import_openvino().__version__, "nncf": nncf.__version__,
            "scheme": "post-training static; weights per output channel (symmetric INT8), activations per tensor; "
                      f"{' and '.join(loaded.module.fp32_modules)} convolutions and the top-level residual additions "
                      "FP32",
            "calibration": {**asdict(settings), "volumes": [Path(path).name for path in calibration],
                            "patches_used": len(patches),
                            **({"noise_level_gain": loaded.noise_level_gain.to_card()} if channels == 2 else {})},
            "files": ir_checksums(xml)}
    info_path = folder / f"{loaded.name}.int8.json"
    info_path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    extra = {key: artefact.path for key, artefact in loaded.entry.extra.items() if key not in INT8_KEYS}
    extra.update({"int8": xml, "int8-bin": xml.with_suffix(".bin"), "int8-info": info_path})
    register_model(folder, loaded.name, loaded.entry.weights.path, loaded.entry.card.path, extra=extra)
    return {"model": loaded.name, "files": [str(xml), str(xml.with_suffix(".bin")), str(info_path)],
            "patches": len(patches), "seconds": round(time.perf_counter() - started, 1)}
