"""A synthetic chest CT generated in code, so that the demo runs with no data at all.

Air, a body ellipse of soft tissue under a fat layer, two lungs with branching vessels and a solid nodule,
heart, contrast-filled aorta, spine and rib segments, with a smooth tissue texture. Values in HU.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..io.volumes import Volume


def _ellipsoid(zz, yy, xx, centre, radii) -> np.ndarray:
    return sum(((axis - c) / r) ** 2 for axis, c, r in zip((zz, yy, xx), centre, radii)) <= 1.0


def chest_phantom(shape: tuple[int, int, int] = (32, 192, 192), spacing_mm: float = 1.5, seed: int = 0) -> Volume:
    """The synthetic chest CT of the module's docstring, scaled to ``shape``.

    Args:
        shape: the volume's size (Z, Y, X) in voxels; the anatomy scales with the in-plane size.
        spacing_mm: the voxel size in mm, the same along every axis.
        seed: seed of the random vessels and the tissue texture.

    Returns:
        An int16 HU volume with origin (0, 0, 0) and identity direction.
    """
    rng = np.random.default_rng(seed)
    depth, height, width = shape
    zz, yy, xx = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij")
    cy, cx, cz = height / 2, width / 2, depth / 2
    hu = np.full(shape, -1000.0, dtype=np.float32)
    body = ((yy - cy) / (0.36 * height)) ** 2 + ((xx - cx) / (0.46 * width)) ** 2 <= 1.0
    inner = ((yy - cy) / (0.33 * height)) ** 2 + ((xx - cx) / (0.43 * width)) ** 2 <= 1.0
    hu[body] = -100.0  # subcutaneous fat
    hu[inner] = 40.0  # muscle and soft tissue
    for side in (-1, 1):
        lung = (((yy - cy + 0.02 * height) / (0.25 * height)) ** 2
                + ((xx - cx - side * 0.2 * width) / (0.15 * width)) ** 2 <= 1.0)
        hu[lung] = -860.0
    lungs = hu < -800
    vessels = np.zeros(shape, dtype=np.float32)
    for _ in range(40):  # random line segments, blurred into tubes
        start = rng.uniform([0, 0.2 * height, 0.15 * width], [depth, 0.8 * height, 0.85 * width])
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        for step in np.linspace(0, 0.3 * width, 60):
            z, y, x = np.clip(np.round(start + step * direction), 0, np.array(shape) - 1).astype(int)
            vessels[z, y, x] = 1.0
    vessels = ndimage.gaussian_filter(vessels, 1.0) > 0.05
    hu[lungs & vessels] = 30.0
    nodule = _ellipsoid(zz, yy, xx, (cz, cy - 0.08 * height, cx + 0.22 * width), (4.0, 6.0, 6.0))
    hu[nodule] = 25.0
    hu[_ellipsoid(zz, yy, xx, (cz, cy + 0.05 * height, cx - 0.02 * width), (depth, 0.13 * height, 0.12 * width))] = 50.0
    hu[((yy - cy + 0.02 * height) ** 2 + (xx - cx - 0.1 * width) ** 2) <= (0.045 * width) ** 2] = 220.0  # aorta
    spine = ((yy - cy - 0.24 * height) ** 2 + (xx - cx) ** 2) <= (0.06 * width) ** 2
    hu[spine] = 450.0
    hu[spine & (((yy - cy - 0.24 * height) ** 2 + (xx - cx) ** 2) <= (0.04 * width) ** 2)] = 250.0  # marrow
    ring = (((yy - cy) / (0.345 * height)) ** 2 + ((xx - cx) / (0.445 * width)) ** 2)
    ribs = (np.abs(ring - 0.9) < 0.05) & (np.sin(np.arctan2(yy - cy, xx - cx) * 9 + zz * 0.15) > 0.3)
    hu[ribs & inner] = 700.0
    texture = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), 2.0)
    texture *= 12.0 / max(float(texture.std()), 1e-6)
    hu[body] += texture[body]
    return Volume(array=np.round(hu).astype(np.int16), spacing=(spacing_mm, spacing_mm, spacing_mm),
                  origin=(0.0, 0.0, 0.0), direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
