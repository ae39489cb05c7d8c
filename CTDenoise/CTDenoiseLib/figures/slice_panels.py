"""One axial slice of several CT volumes side by side, a row per display window, optionally with a zoomed row per
window around a region (a nodule): the drawing shared by ``ctdenoise denoise --preview`` and ``ctdenoise compare``.

Every HU panel of a row uses the same window, so the panels can be compared by eye; a difference panel shows what
changed *in that window* (both images clipped to it first), on a symmetric grey scale stated in its title."""

from __future__ import annotations

import math
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .png import new_figure, save_png


@dataclass(frozen=True)
class Window:
    """A display window as radiologists give it.

    Attributes:
        name: what it is for.
        level: centre, HU.
        width: width, HU.
    """

    name: str
    level: float
    width: float

    @property
    def low(self) -> float:
        return self.level - self.width / 2

    @property
    def high(self) -> float:
        return self.level + self.width / 2

    @property
    def label(self) -> str:
        return f"{self.name}\nW {self.width:g} / L {self.level:g}"


SOFT_TISSUE = Window("soft tissue", 40, 400)
LUNG = Window("lung", -600, 1500)
DISPLAY_WINDOWS = (SOFT_TISSUE, LUNG)
PANEL_INCHES = 2.4
MIN_ZOOM_PIXELS = 64  # the zoomed square's side, at least
ZOOM_MARGIN = 2.5  # the zoomed square's side over the region's larger extent
ZOOM_COLOUR = "#ffd21f"


@dataclass(frozen=True)
class Panel:
    """One column of the figure.

    Attributes:
        title: its heading (name, and scores where there are any).
        image: the slice, (y, x) HU, in display orientation.
        minus: for a difference panel, the slice subtracted from ``image``; None for an HU panel.
    """

    title: str
    image: np.ndarray
    minus: np.ndarray | None = None


def display_slice(volume: np.ndarray, index: int, direction: tuple[float, ...]) -> np.ndarray:
    """Axial slice ``index`` of a (z, y, x) volume, turned so that the patient's left is on the image's right and
    anterior at the top (radiological convention) when the volume's axes run opposite to LPS.

    Args:
        volume: (z, y, x).
        index: the slice, 0-based.
        direction: the volume's direction cosines (row-major 3x3, SimpleITK's order).
    """
    image = volume[index]
    if direction[0] < 0:
        image = image[:, ::-1]
    if direction[4] < 0:
        image = image[::-1, :]
    return image


def zoom_box(region: np.ndarray) -> tuple[int, int, int, int]:
    """A square (y0, y1, x0, x1) around the region's pixels, ``ZOOM_MARGIN`` times its larger extent and at least
    ``MIN_ZOOM_PIXELS``, shifted to stay inside the slice.

    Args:
        region: a boolean slice (y, x) with at least one pixel set.
    """
    ys, xs = np.nonzero(region)
    side = max(MIN_ZOOM_PIXELS, math.ceil(ZOOM_MARGIN * max(np.ptp(ys) + 1, np.ptp(xs) + 1)))
    box = []
    for centre, size in (((ys.min() + ys.max()) / 2, region.shape[0]), ((xs.min() + xs.max()) / 2, region.shape[1])):
        length = min(side, size)
        start = int(round(centre - length / 2))
        start = min(max(start, 0), size - length)
        box += [start, start + length]
    return tuple(box)


def _difference_limit(panels: list[Panel], window: Window) -> float:
    """The grey scale of a row's difference panels: the 99th percentile of |difference| in the window, at least
    1 HU, rounded up to 5 HU, so that most changes are visible and one outlier does not flatten the rest."""
    values = [np.abs(np.clip(p.image, window.low, window.high) - np.clip(p.minus, window.low, window.high))
              for p in panels if p.minus is not None]
    if not values:
        return 1.0
    return float(max(5.0, 5.0 * math.ceil(float(np.percentile(np.concatenate([v.ravel() for v in values]), 99)) / 5)))


def slice_figure(panels: list[Panel], path: str | os.PathLike, caption: str, pixel_aspect: float = 1.0,
                 windows: tuple[Window, ...] = DISPLAY_WINDOWS, zoom: tuple[int, int, int, int] | None = None,
                 dpi: float = 100) -> Path:
    """Write the panels as one PNG: a row per window, and with ``zoom`` a zoomed row per window after them.

    Args:
        panels: the columns, left to right; every image the same shape.
        path: the PNG file, written atomically.
        caption: under the figure: what was compared and how.
        pixel_aspect: a pixel's height over its width (y spacing over x spacing).
        windows: the display windows, one row each.
        zoom: (y0, y1, x0, x1) of the square drawn on the full rows and shown enlarged in the zoomed rows.
        dpi: pixels per inch of the PNG.

    Returns:
        ``path`` as a Path.
    """
    from matplotlib.patches import Rectangle

    rows = [(window, None) for window in windows] + ([(window, zoom) for window in windows] if zoom else [])
    height = PANEL_INCHES * pixel_aspect * panels[0].image.shape[0] / panels[0].image.shape[1]
    zoom_height = PANEL_INCHES * pixel_aspect * ((zoom[1] - zoom[0]) / (zoom[3] - zoom[2])) if zoom else 0.0
    wrapped = textwrap.fill(caption, width=int(PANEL_INCHES * len(panels) * 19))
    figure = new_figure(PANEL_INCHES * len(panels) + 0.4,
                        sum(height if box is None else zoom_height for _, box in rows) + 0.08 * len(rows)
                        + 0.35 + 0.12 * max(p.title.count("\n") + 1 for p in panels)
                        + 0.12 * (wrapped.count("\n") + 1))
    axes = figure.subplots(len(rows), len(panels), squeeze=False,
                           height_ratios=[height if box is None else zoom_height for _, box in rows])
    for row, (window, box) in enumerate(rows):
        limit = _difference_limit(panels, window)
        for column, panel in enumerate(panels):
            axis = axes[row][column]
            if panel.minus is None:
                shown, low, high, title = panel.image, window.low, window.high, panel.title
            else:
                shown = (np.clip(panel.image, window.low, window.high)
                         - np.clip(panel.minus, window.low, window.high))
                low, high, title = -limit, limit, f"{panel.title}\n(grey scale +-{limit:g} HU)"
            if box is not None:
                shown = shown[box[0]:box[1], box[2]:box[3]]
            axis.imshow(shown, cmap="gray", vmin=low, vmax=high, aspect=pixel_aspect, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(title, fontsize=7)
            if column == 0:
                axis.set_ylabel(window.label + ("\nzoom" if box is not None else ""), fontsize=7)
            if zoom is not None and box is None:
                y0, y1, x0, x1 = zoom
                axis.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, linewidth=0.8,
                                         edgecolor=ZOOM_COLOUR))
    figure.supxlabel(wrapped, fontsize=6.5, ha="left", x=0.01)
    return save_png(figure, path, dpi=dpi, palette=True)
