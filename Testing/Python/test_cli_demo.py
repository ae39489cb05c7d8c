"""`ctdenoise demo`, the README's main job, end to end on its embedded synthetic chest: it writes the volumes it
names and a preview PNG of each denoised one, and each model (and its self-ensemble) lifts PSNR above the simulated
low-dose input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from CTDenoiseLib.io.volumes import read_volume


def test_demo_on_the_embedded_phantom_denoises_and_reports_quality(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "CTDenoiseLib", "demo", "--models", "stresnet", "--self-ensemble",
                             "--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^\s+(.+?)\s+PSNR\s+([\d.]+) dB", result.stdout, re.M)
    psnr = {label.strip(): float(value) for label, value in rows}
    one_pass = next((label for label in psnr if re.fullmatch(r"stresnet \((cpu|cuda) (fp32|fp16|int8)\)", label)), "")
    assert set(psnr) == {"low dose", one_pass, "stresnet (8 flips)"}, result.stdout
    assert "precision auto: " in result.stdout  # the default precision names its choice
    assert psnr[one_pass] > psnr["low dose"] + 1.5
    assert psnr["stresnet (8 flips)"] > psnr[one_pass]
    names = {"normal_dose.nrrd", "low_dose.nrrd", "denoised_stresnet.nrrd", "denoised_stresnet_ensemble.nrrd"}
    previews = {"denoised_stresnet.png", "denoised_stresnet_ensemble.png"}
    assert {path.name for path in tmp_path.iterdir()} == names | previews
    for preview in previews:
        assert (tmp_path / preview).read_bytes()[:4] == b"\x89PNG" and (tmp_path / preview).stat().st_size > 20_000
        assert f"preview -> {tmp_path / preview}" in result.stdout
    shapes = {read_volume(tmp_path / name).array.shape for name in names}
    assert len(shapes) == 1
