"""Pictures of the result: `ctdenoise denoise --preview` (input | output | difference) and `ctdenoise compare`
(volumes on one grid side by side, scored against a reference). The PNGs are read back and cut into their panels,
so each test checks what a reader would see: the panels differ exactly where the volumes differ."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from CTDenoiseLib.cli import main
from CTDenoiseLib.io.volumes import Volume, read_volume, write_volume

pytest.importorskip("matplotlib", reason="the figures need matplotlib (a base dependency)")
from PIL import Image  # noqa: E402  (pillow comes with matplotlib)

SHAPE = (8, 64, 64)  # z, y, x
SQUARE = (slice(None), slice(8, 24), slice(8, 24))  # where the second volume differs: the top-left quarter
COLOURED = -1  # a pixel of a drawn (yellow) frame, in ``panels``' grey levels
BASE_HU, SQUARE_HU = -200, 0  # -200 HU is black in the soft-tissue window and grey in the lung window


def volume_file(path: Path, array: np.ndarray, spacing=(0.8, 0.8, 2.5), origin=(0.0, 0.0, 0.0)) -> Path:
    return write_volume(Volume(array.astype(np.int16), spacing, origin, (1, 0, 0, 0, 1, 0, 0, 0, 1)), path)


def base_and_changed() -> tuple[np.ndarray, np.ndarray]:
    base = np.full(SHAPE, BASE_HU, np.int16)
    changed = base.copy()
    changed[SQUARE] = SQUARE_HU
    return base, changed


def panels(png: Path) -> list[list[np.ndarray]]:
    """The image panels of a figure, row by row, left to right, as grey levels inside their frames: every large
    framed rectangle (titles and captions are small, separate specks)."""
    rgb = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)
    grey = np.asarray(Image.open(png).convert("L"), dtype=np.int16)
    coloured = ndimage.binary_dilation(rgb[..., 0] - rgb[..., 2] > 8)  # the yellow zoom frame and its fringe
    framed = ndimage.binary_fill_holes((grey < 128) | coloured)  # each panel's frame encloses it, whatever it shows
    grey[coloured] = COLOURED
    labels, count = ndimage.label(framed)
    boxes = []
    for box in ndimage.find_objects(labels):
        height, width = box[0].stop - box[0].start, box[1].stop - box[1].start
        if height > 40 and width > 40 and framed[box].mean() > 0.95:
            boxes.append(box)
    rows: list[list[tuple[slice, slice]]] = []
    for box in sorted(boxes, key=lambda b: (b[0].start, b[1].start)):
        if rows and abs(rows[-1][0][0].start - box[0].start) < 5:
            rows[-1].append(box)
        else:
            rows.append([box])
    inside = [[(slice(b[0].start + 3, b[0].stop - 3), slice(b[1].start + 3, b[1].stop - 3)) for b in row]
              for row in rows]  # without the frame
    return [[grey[b] for b in sorted(row, key=lambda b: b[1].start)] for row in inside]


def changed_region(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """The (y0, y1, x0, x1) of the pixels that differ between two panels, as fractions of the panel (pixels of the
    drawn zoom frame left out)."""
    ys, xs = np.nonzero((np.abs(a - b) > 8) & (a != COLOURED) & (b != COLOURED))
    assert ys.size, "the panels are identical"
    return ys.min() / a.shape[0], ys.max() / a.shape[0], xs.min() / a.shape[1], xs.max() / a.shape[1]


def assert_in_top_left_quarter(region: tuple[float, float, float, float]) -> None:
    y0, y1, x0, x1 = region
    assert 0.08 < y0 and y1 < 0.42 and 0.08 < x0 and x1 < 0.42, region  # SQUARE spans 0.125..0.375 of each axis


def test_compare_panels_differ_exactly_where_the_volumes_differ(tmp_path: Path, capsys) -> None:
    base, changed = base_and_changed()
    a, b = volume_file(tmp_path / "a.nrrd", base), volume_file(tmp_path / "b.nrrd", changed)
    png = tmp_path / "figure.png"
    assert main(["compare", str(a), str(b), str(a), "--png", str(png)]) == 0
    assert 5_000 < png.stat().st_size < 400_000
    grid = panels(png)
    assert [len(row) for row in grid] == [3, 3]  # soft-tissue and lung rows, three volumes each
    for row in grid:
        assert_in_top_left_quarter(changed_region(row[0], row[1]))
        assert np.array_equal(row[0], row[2])  # the same volume twice: the same picture
    assert not np.array_equal(grid[0][0], grid[1][0])  # two windows, two pictures of one slice
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.nrrd", "b.nrrd", "figure.png"]
    assert f"wrote {png}" in capsys.readouterr().out


def test_compare_scores_against_the_reference_as_evaluate_does(tmp_path: Path, capsys) -> None:
    from CTDenoiseLib.evaluation.quality import evaluate_case

    rng = np.random.default_rng(0)
    normal = np.full(SHAPE, 40, np.int16)
    normal[:, 20:44, 20:44] = -700
    noisy = normal + rng.normal(0, 60, SHAPE).round()
    smoother = normal + rng.normal(0, 20, SHAPE).round()
    paths = [volume_file(tmp_path / f"{name}.nrrd", array)
             for name, array in (("normal", normal), ("noisy", noisy), ("smoother", smoother))]
    png = tmp_path / "scored.png"
    assert main(["compare", str(paths[1]), str(paths[2]), "--reference", str(paths[0]), "--labels", "low dose",
                 "denoised", "--png", str(png)]) == 0
    printed = {line.split(":")[0]: line for line in capsys.readouterr().out.splitlines() if "PSNR" in line}
    expected = evaluate_case(read_volume(paths[0]), {"low dose": noisy, "denoised": smoother}, with_lpips=False).rows
    for row in expected:
        assert f"PSNR {row['psnr_db']:.2f} dB  SSIM {row['ssim']:.4f}" in printed[row["image"]]
    assert [len(row) for row in panels(png)] == [3, 3]  # the reference is the last panel


def test_compare_refuses_volumes_on_different_grids_in_one_line(tmp_path: Path, capsys) -> None:
    base, _ = base_and_changed()
    a = volume_file(tmp_path / "a.nrrd", base)
    shifted = volume_file(tmp_path / "shifted.nrrd", base, origin=(5.0, 0.0, 0.0))
    png = tmp_path / "never.png"
    assert main(["compare", str(a), str(shifted), "--png", str(png)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "'shifted' is not on the grid of 'a'" in error and "origin" in error
    assert not png.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["a.nrrd", "shifted.nrrd"]


def test_compare_zooms_on_the_mask_at_its_widest_slice(tmp_path: Path) -> None:
    shape = (8, 160, 160)
    base = np.full(shape, BASE_HU, np.int16)
    changed, mask = base.copy(), np.zeros(shape, np.uint8)
    changed[5, 20:44, 20:44] = 100  # only slice 5 differs, and the mask is only there: the default slice must be 5
    mask[5, 28:36, 28:36] = 1
    a, b = volume_file(tmp_path / "a.nrrd", base), volume_file(tmp_path / "b.nrrd", changed)
    mask_file = volume_file(tmp_path / "mask.nrrd", mask)
    png = tmp_path / "zoom.png"
    assert main(["compare", str(a), str(b), "--zoom-mask", str(mask_file), "--png", str(png)]) == 0
    grid = panels(png)
    assert [len(row) for row in grid] == [2, 2, 2, 2]  # two windows, then each zoomed
    full, zoomed = changed_region(grid[0][0], grid[0][1]), changed_region(grid[2][0], grid[2][1])
    assert full[1] - full[0] < 0.2 < 0.3 < zoomed[1] - zoomed[0]  # 24 of 160 pixels, then 24 of the 64 zoomed


def test_a_failed_png_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path: Path, monkeypatch) -> None:
    from CTDenoiseLib.figures.slice_panels import Panel, slice_figure

    png = tmp_path / "figure.png"
    png.write_bytes(b"the previous, complete figure")

    save = Image.Image.save

    def broken_save(image, target, *args, **kwargs):  # the figure renders; writing the file fails half-way
        if not isinstance(target, (str, Path)):
            return save(image, target, *args, **kwargs)
        Path(target).write_bytes(b"half a PNG")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        slice_figure([Panel("a", np.zeros((32, 32), np.float32))], png, "caption")
    assert [path.name for path in tmp_path.iterdir()] == ["figure.png"]
    assert png.read_bytes() == b"the previous, complete figure"


def test_preview_shows_input_output_and_their_difference_where_they_differ(tmp_path: Path) -> None:
    from CTDenoiseLib.figures.preview import PreviewRequest, write_preview

    base, changed = base_and_changed()
    source = Volume(base, (0.8, 0.8, 2.5), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    png = write_preview(PreviewRequest(tmp_path / "preview.png"), source, changed, "model x")
    grid = panels(png)
    assert [len(row) for row in grid] == [3, 3]
    for row in grid:
        assert_in_top_left_quarter(changed_region(row[0], row[1]))  # input vs output
        difference = row[2]
        outside = np.ones(difference.shape, bool)
        outside[: difference.shape[0] // 2, : difference.shape[1] // 2] = False
        assert np.ptp(difference[outside]) <= 2  # no change: one flat grey
        assert_in_top_left_quarter(changed_region(difference, np.full_like(difference, difference[outside][0])))


# The shipped STResNet in PyTorch FP32: on these 8x64x64 volumes it runs in a fraction of a second, and unlike an
# untrained tiny network it visibly removes noise, which is what the preview has to show.
MODEL = ["--model", "stresnet", "--precision", "fp32", "--device", "cpu", "--backend", "torch", "--progress", "json"]


def noisy_volume(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    array = np.full(SHAPE, 40.0)
    array[:, 16:48, 16:48] = -800
    return volume_file(path, array + rng.normal(0, 30, SHAPE).round())


def test_denoise_preview_is_written_and_shows_the_change(tmp_path: Path, capsys) -> None:
    source = noisy_volume(tmp_path / "ct.nrrd")
    png = tmp_path / "preview.png"
    assert main(["denoise", str(source), str(tmp_path / "out.nrrd"), "--preview", str(png), "--preview-slice", "2",
                 *MODEL]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert {"event": "info", "message": f"preview: {png}"} in events
    assert 5_000 < png.stat().st_size < 400_000
    grid = panels(png)
    assert [len(row) for row in grid] == [3, 3]
    assert not np.array_equal(grid[0][0], grid[0][1])  # the network changed the image
    assert np.ptp(grid[0][2]) > 20  # and the difference panel shows it
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ct.nrrd", "out.nrrd", "preview.png"]


def test_denoise_preview_caption_names_model_precision_strength_noise_and_time() -> None:
    from CTDenoiseLib.inference.pipeline import prepare_engine
    from CTDenoiseLib.noise.estimate import NoiseEstimate

    engine = prepare_engine("stresnet", "fp32", "cpu", "torch", strength=0.7)
    caption = engine.caption(NoiseEstimate(std_hu=31.4, windows=100), 2.345)
    for part in ("model stresnet,", "FP32 on CPU via PyTorch eager", "strength 0.7", "input noise about 31 HU",
                 "denoised in 2.3 s"):
        assert part in caption, caption


def test_batch_preview_writes_one_png_per_output_named_after_it(tmp_path: Path) -> None:
    inputs = [noisy_volume(tmp_path / "first.nrrd", 1), noisy_volume(tmp_path / "second.nii.gz", 2)]
    out, previews = tmp_path / "out", tmp_path / "previews"
    assert main(["denoise", *map(str, inputs), str(out), "--preview", str(previews), *MODEL]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["first.nrrd", "second.nrrd"]
    assert sorted(path.name for path in previews.iterdir()) == ["first.png", "second.png"]
    assert all([len(row) for row in panels(png)] == [3, 3] for png in previews.iterdir())


def test_preview_options_are_refused_in_one_line_before_any_work(tmp_path: Path, capsys) -> None:
    source = noisy_volume(tmp_path / "ct.nrrd")
    other = noisy_volume(tmp_path / "other.nrrd", 1)
    refused = {
        "slice outside": (["denoise", str(source), str(tmp_path / "a.nrrd"), "--preview", str(tmp_path / "p.png"),
                           "--preview-slice", "8"], "--preview-slice 8 is outside this volume's 8 slices"),
        "not a png": (["denoise", str(source), str(tmp_path / "a.nrrd"), "--preview", str(tmp_path / "p.jpg")],
                      "must name a .png file"),
        "slice without preview": (["denoise", str(source), str(tmp_path / "a.nrrd"), "--preview-slice", "1"],
                                  "no --preview was asked for"),
        "batch with a file name": (["denoise", str(source), str(other), str(tmp_path / "out"), "--preview",
                                    str(tmp_path / "p.png")], "--preview names a folder"),
    }
    for name, (command, message) in refused.items():
        assert main([*command, *MODEL]) == 1, name
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1, (name, error)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ct.nrrd", "other.nrrd"]
