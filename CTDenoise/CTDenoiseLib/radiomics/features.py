"""Nodule radiomics with pyradiomics: one extractor built from a parameter file, features of one image and mask,
and differences against a baseline image. Adds nothing to pyradiomics' numbers (the tests pin this)."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import CTDenoiseError
from ..io.volumes import Volume

PARAMS_FILE = Path(__file__).with_name("params.yaml")
CROP_MARGIN = 10  # voxels around the mask kept before calling pyradiomics (it pads by 5 itself)


def make_extractor(params: str | os.PathLike | None = None):
    """A pyradiomics extractor configured by ``params`` (default: the shipped ``params.yaml`` beside this module)."""
    try:
        import radiomics
        from radiomics import featureextractor
    except ImportError as error:
        raise CTDenoiseError(f"pyradiomics is not installed ({error}).",
                             "Install it with: pip install pyradiomics-bhklab (or 'ctdenoise[radiomics]').") from error
    radiomics.setVerbosity(logging.ERROR)
    path = Path(params) if params else PARAMS_FILE
    if not path.is_file():
        raise CTDenoiseError(f"Radiomics parameter file '{path}' not found.",
                             "Pass an existing YAML or JSON file with --params.")
    try:
        return featureextractor.RadiomicsFeatureExtractor(str(path))
    except Exception as error:  # pykwalify schema errors carry the offending key
        raise CTDenoiseError(f"Invalid radiomics parameter file '{path}' ({error}).",
                             "Compare it with the shipped radiomics/params.yaml.") from error


def enabled_features(extractor) -> list[str]:
    """``class_Feature`` names in the order pyradiomics returns them (explicit lists in the parameter file)."""
    names = []
    for feature_class, features in extractor.enabledFeatures.items():
        if not features:  # an empty list means "all" in pyradiomics
            from radiomics import getFeatureClasses
            class_features = getFeatureClasses()[feature_class].getFeatureNames()
            features = [n for n, deprecated in class_features.items() if not deprecated]
        names += [f"{feature_class}_{name}" for name in features]
    return names


def _cropped(volume: Volume, mask: np.ndarray) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask cut to the mask's bounding box plus ``CROP_MARGIN``, with the matching origin."""
    box = tuple(slice(max(0, int(i.min()) - CROP_MARGIN), int(i.max()) + CROP_MARGIN + 1) for i in np.nonzero(mask))
    image = volume.to_sitk()
    corner = [int(s.start) for s in box[::-1]]
    size = [min(int(s.stop), n) - int(s.start) for s, n in zip(box[::-1], image.GetSize())]
    image = sitk.RegionOfInterest(image, size, corner)
    label = sitk.GetImageFromArray(mask[box].astype(np.uint8))
    label.CopyInformation(image)
    return image, label


def extract(extractor, volume: Volume, mask: np.ndarray) -> dict[str, float]:
    """Features of ``volume`` in the boolean ``mask`` (same grid), keyed ``class_Feature`` (image type
    ``original`` unprefixed; other image types keep pyradiomics' prefix)."""
    image, label = _cropped(volume, mask)
    try:
        result = extractor.execute(image, label, label=1)
    except (ValueError, AssertionError) as error:  # pyradiomics' own mask checks
        raise CTDenoiseError(f"pyradiomics refused the mask: {error}", "Check the nodule segmentation.") from error
    return {key.removeprefix("original_"): float(value) for key, value in result.items()
            if not key.startswith("diagnostics_")}


def relative_difference_percent(value: float, baseline: float) -> float:
    """100 (value - baseline) / |baseline|; NaN when the baseline is 0 and the value is not."""
    if baseline == 0:
        return 0.0 if value == 0 else math.nan
    return 100.0 * (value - baseline) / abs(baseline)
