"""A matplotlib figure without pyplot's global state or a GUI backend (headless), and its atomic PNG write.

matplotlib is imported only when a figure is made, so the engine's other commands never pay for it; where it is
missing, the one line says what to install."""

from __future__ import annotations

import io
import os
from pathlib import Path

from ..errors import CTDenoiseError
from ..io.atomic import atomic_write

MATPLOTLIB_REQUIREMENT = "matplotlib>=3.7"


def require_matplotlib(purpose: str) -> None:
    """Refuse in one line, before any work, when matplotlib cannot be imported.

    Args:
        purpose: what needs it, for the message (e.g. ``--preview``).
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise CTDenoiseError(f"{purpose} needs matplotlib, which cannot be imported here ({error}).",
                             f"Install it: pip install '{MATPLOTLIB_REQUIREMENT}'.") from None


def new_figure(width: float, height: float, layout: str | None = "constrained"):
    """A ``matplotlib.figure.Figure`` drawn by the Agg canvas: no display, no pyplot state to leak between figures.

    Args:
        width: inches.
        height: inches.
        layout: matplotlib's layout engine (``constrained`` keeps titles and labels inside the figure).
    """
    require_matplotlib("Drawing a figure")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


def save_png(figure, path: str | os.PathLike, dpi: float = 100, palette: bool = False) -> Path:
    """Write ``figure`` to ``path`` as PNG atomically: a failed or interrupted write leaves no partial file and
    does not replace an existing one.

    Args:
        figure: a matplotlib figure.
        path: the PNG file.
        dpi: pixels per inch.
        palette: store 256 adaptive colours instead of RGBA; a grey-scale CT figure keeps every grey level and
            the file is about a quarter the size.

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    with atomic_write(path, path.with_name(f".{path.name}.partial")) as partial:
        if palette:
            from PIL import Image

            image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
            image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(partial, format="PNG", optimize=True)
        else:
            partial.write_bytes(buffer.getvalue())
    return path


def check_png_path(path: str | os.PathLike, option: str = "--preview") -> Path:
    """Refuse, before any work, a figure name that is not ``.png`` or cannot be written (a ``.png`` name is never
    one of the volumes a command reads or writes).

    Args:
        path: the PNG file.
        option: the option that named it, for the message.
    """
    from ..io.volumes import check_parent_writable

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise CTDenoiseError(f"{option} '{path}' must name a .png file.", f"Give e.g. {option} figure.png.")
    check_parent_writable(path)
    if path.is_dir():
        raise CTDenoiseError(f"{option} '{path}' is a folder.", "Give a file name such as figure.png.")
    return path
