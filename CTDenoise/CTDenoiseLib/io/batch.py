"""Batch work: which inputs a command line names, where each output goes, and which share a rank takes.

An INPUT folder that is itself a DICOM series is one volume; any other folder stands for the volumes in it
(image files, and sub-folders that are DICOM series), in name order. Several ranks started by ``torchrun``
(environment RANK and WORLD_SIZE) each take ``inputs[rank::world_size]``: no scheduler, no shared state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CTDenoiseError
from .volumes import OUTPUT_EXTENSIONS, extension_of

VOLUME_EXTENSIONS = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


def is_dicom_series(folder: Path) -> bool:
    import SimpleITK as sitk

    from .native_stderr import native_stderr_to_log

    with native_stderr_to_log():
        return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))


def expand_inputs(inputs: list[str | os.PathLike]) -> list[Path]:
    """The volumes named by INPUT arguments, in order, without duplicates."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir() and not is_dicom_series(item):
            children = [child for child in sorted(item.iterdir()) if not child.name.startswith(".")]
            found += [child for child in children
                      if (child.is_file() and extension_of(child) in VOLUME_EXTENSIONS)
                      or (child.is_dir() and is_dicom_series(child))]
        else:
            found.append(item)  # a missing file fails later, as that file's own result
    unique = list(dict.fromkeys(found))
    if not unique:
        raise CTDenoiseError(f"No CT volumes found in {', '.join(map(str, inputs))}.",
                             f"Give image files ({', '.join(VOLUME_EXTENSIONS)}) or DICOM series folders.")
    return unique


def is_batch(inputs: list[str | os.PathLike]) -> bool:
    return len(inputs) > 1 or (Path(inputs[0]).is_dir() and not is_dicom_series(Path(inputs[0])))


def output_names(inputs: list[Path], output_dir: Path, extension: str = ".nrrd") -> list[Path]:
    """``output_dir/<input name without extension><extension>``; repeated names get ``-2``, ``-3`` ..."""
    if extension not in OUTPUT_EXTENSIONS:
        raise CTDenoiseError(f"Unsupported output type '{extension}'.", f"Use one of: {', '.join(OUTPUT_EXTENSIONS)}.")
    taken: dict[str, int] = {}
    names = []
    for path in inputs:
        suffix = "" if path.is_dir() else extension_of(path)
        stem = path.name[: len(path.name) - len(suffix)] or "volume"
        count = taken[stem] = taken.get(stem, 0) + 1
        names.append(output_dir / (f"{stem}{extension}" if count == 1 else f"{stem}-{count}{extension}"))
    return names


@dataclass(frozen=True)
class Rank:
    rank: int = 0
    world_size: int = 1

    @classmethod
    def from_environment(cls) -> "Rank":
        """The torchrun rank (RANK, WORLD_SIZE), or a single rank when not launched by torchrun."""
        try:
            rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
        except ValueError as error:
            raise CTDenoiseError(f"RANK/WORLD_SIZE are not integers ({error}).",
                                 "Launch with torchrun or unset them.") from error
        if world < 1 or not 0 <= rank < world:
            raise CTDenoiseError(f"Invalid RANK={rank} for WORLD_SIZE={world}.", "Launch with torchrun or unset them.")
        return cls(rank, world)

    def share(self, items: list) -> list:
        """This rank's share: every ``world_size``-th item from its rank on.

        Args:
            items: the whole batch, in the same order on every rank.
        """
        return items[self.rank::self.world_size]
