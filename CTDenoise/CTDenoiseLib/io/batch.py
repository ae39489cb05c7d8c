"""Batch work: which inputs a command line names, where each output goes, and which share a rank takes.

An INPUT folder that is itself a DICOM series is one volume; any other folder stands for the volumes in it
(image files, and sub-folders that are DICOM series), in name order. Several ranks started by ``torchrun``
(environment RANK and WORLD_SIZE) each take ``inputs[rank::world_size]``: no scheduler, no shared state.

Every output is planned before any is written: each keeps its input's name where that is free and otherwise gets
the next free ``-2``, ``-3`` ... (names compared without case, as a case-insensitive file system does), and a plan
in which an output would replace an input, or an existing file in a folder an input is read from, is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CTDenoiseError
from .volumes import OUTPUT_EXTENSIONS, VOLUME_EXTENSIONS, extension_of


def is_dicom_series(folder: Path) -> bool:
    import SimpleITK as sitk

    from .native_stderr import native_stderr_to_log

    with native_stderr_to_log():
        return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))


def expand_inputs(inputs: list[str | os.PathLike]) -> list[Path]:
    """The volumes named by INPUT arguments, in order, without duplicates: files, DICOM series folders, and the
    entries of other folders named like volume files or holding a DICOM series."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if is_batch([item]):
            children = [child for child in sorted(item.iterdir()) if not child.name.startswith(".")]
            # named like a volume but a folder, a FIFO or a broken link: listed, to fail as its own result
            found += [child for child in children if extension_of(child) in VOLUME_EXTENSIONS
                      or (child.is_dir() and is_dicom_series(child))]
        else:
            found.append(item)  # a missing file fails later, as that file's own result
    unique = list(dict.fromkeys(found))
    if not unique:
        raise CTDenoiseError(f"No CT volumes found in {', '.join(map(str, inputs))}.",
                             f"Give image files ({', '.join(VOLUME_EXTENSIONS)}) or DICOM series folders.")
    return unique


def is_batch(inputs: list[str | os.PathLike]) -> bool:
    """Several INPUTs, or one folder of volumes (not a DICOM series, nor a folder named like a volume file)."""
    first = Path(inputs[0])
    return len(inputs) > 1 or (first.is_dir() and extension_of(first) not in VOLUME_EXTENSIONS
                               and not is_dicom_series(first))


def _stem(path: Path) -> str:
    suffix = "" if path.is_dir() else extension_of(path)
    return path.name[: len(path.name) - len(suffix)] or "volume"


def output_names(inputs: list[Path], output_dir: Path, extension: str = ".nrrd") -> list[Path]:
    """``output_dir/<input name without extension><extension>``: each input keeps its own name where no earlier
    input has it; the others get the next ``-2``, ``-3`` ... that no input's own name and no other output takes.
    Names are compared without case (``CT`` and ``ct`` are one file on a case-insensitive file system).

    Args:
        inputs: the input volumes, in order.
        output_dir: the folder the outputs go to.
        extension: the output type.
    """
    if extension not in OUTPUT_EXTENSIONS:
        raise CTDenoiseError(f"Unsupported output type '{extension}'.", f"Use one of: {', '.join(OUTPUT_EXTENSIONS)}.")
    stems = [_stem(path) for path in inputs]
    owner = {}  # each name goes to the first input that has it
    for index, stem in enumerate(stems):
        owner.setdefault(stem.casefold(), index)
    taken: set[str] = set()
    names = []
    for index, stem in enumerate(stems):
        name, count = stem, 1
        while name.casefold() in taken or owner.get(name.casefold(), index) != index:
            count += 1
            name = f"{stem}-{count}"
        taken.add(name.casefold())
        names.append(output_dir / f"{name}{extension}")
    return names


def _same_file_key(path: Path) -> str:
    """What identifies a file on any file system: its resolved path, without case."""
    return os.path.normcase(str(path.resolve())).casefold()


def _file_identity(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_dev, status.st_ino


def check_outputs(inputs: list[Path], outputs: list[Path]) -> None:
    """Refuse, before anything is written, a batch plan in which an output would replace an input or another
    output, or an existing file in a folder an input is read from (another scan, or the folder's own earlier
    output that is now an input); and an output folder inside a DICOM series being read.

    Args:
        inputs: every input of the batch (all ranks').
        outputs: the output of each input, in the same order.
    """
    input_keys = {_same_file_key(path): path for path in inputs}
    input_files = {_file_identity(path): path for path in inputs if path.exists()}  # hard links too
    input_folders = {_same_file_key(path.parent) for path in inputs if not path.is_dir()}
    series = {_same_file_key(path): path for path in inputs if path.is_dir()}
    for folder in {output.parent for output in outputs}:
        inside = next((series[key] for key in map(_same_file_key, (folder, *folder.parents)) if key in series), None)
        if inside is not None:
            raise CTDenoiseError(f"Outputs would be written into '{folder}', inside the DICOM series folder "
                                 f"'{inside}' being read.",
                                 "Choose an output folder outside the input series; inputs are never modified.")
    written: dict[str, Path] = {}
    for source, output in zip(inputs, outputs):
        key = _same_file_key(output)
        replaced = input_keys.get(key) or (input_files.get(_file_identity(output)) if output.exists() else None)
        if replaced is not None:
            case = " (names equal but for case are one file on Windows and macOS)" if output.name != replaced.name \
                else ""
            raise CTDenoiseError(f"Output '{output}' (of input '{source}') would replace the input '{replaced}'"
                                 f"{case}.", "Choose an output folder no input is read from; inputs are never "
                                 "overwritten.")
        if key in written:
            raise CTDenoiseError(f"Outputs of '{written[key]}' and '{source}' would both be '{output}'.",
                                 "Rename one input, or denoise them into different folders.")
        written[key] = source
        if output.exists() and _same_file_key(output.parent) in input_folders:
            raise CTDenoiseError(f"Output '{output.name}' (of input '{source}') would replace '{output}' in the "
                                 "folder of input(s) it reads.",
                                 "Choose an output folder no input is read from; a file there may be another scan.")


@dataclass(frozen=True)
class Rank:
    rank: int = 0
    world_size: int = 1

    @classmethod
    def from_environment(cls) -> "Rank":
        """The torchrun rank (RANK, WORLD_SIZE), or a single rank when not launched by torchrun; refused before
        any work when the variables are not those of a torchrun launch (the ranks could never meet)."""
        try:
            rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
        except ValueError as error:
            raise CTDenoiseError(f"RANK/WORLD_SIZE are not integers ({error}).",
                                 "Launch with torchrun or unset them.") from error
        if world < 1 or not 0 <= rank < world:
            raise CTDenoiseError(f"Invalid RANK={rank} for WORLD_SIZE={world}.", "Launch with torchrun or unset them.")
        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if world > 1 and not os.environ.get(name)]
        if missing:
            raise CTDenoiseError(f"The environment says RANK={rank} WORLD_SIZE={world} but sets no "
                                 f"{' or '.join(missing)}, so this is not a torchrun launch and the ranks could "
                                 "never meet; nothing was denoised.",
                                 "Unset RANK and WORLD_SIZE (e.g. env -u RANK -u WORLD_SIZE ctdenoise ...), or launch "
                                 "with torchrun.")
        return cls(rank, world)

    def share(self, items: list) -> list:
        """This rank's share: every ``world_size``-th item from its rank on.

        Args:
            items: the whole batch, in the same order on every rank.
        """
        return items[self.rank::self.world_size]
