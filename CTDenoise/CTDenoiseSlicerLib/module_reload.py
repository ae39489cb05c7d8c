"""Reload for developers: Slicer's Reload re-executes only the module file, so the helpers it imports must be
forgotten first, or the old code keeps running."""

from __future__ import annotations

import sys
from typing import MutableMapping


def forget_package(package: str, modules: MutableMapping[str, object] | None = None) -> list[str]:
    """Remove a package and its submodules from the import cache; the next import reads the files again.

    Args:
        package: top-level package name, e.g. ``CTDenoiseSlicerLib``.
        modules: the import cache (``sys.modules`` when None).
    """
    modules = sys.modules if modules is None else modules
    names = sorted(name for name in modules if name == package or name.startswith(package + "."))
    for name in names:
        del modules[name]
    return names
