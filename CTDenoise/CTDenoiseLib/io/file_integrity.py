"""Is a NIfTI file complete? SimpleITK's NIfTI reader fills the voxels missing from a truncated file with zeros,
and its writer does not report a short write (a full disk): both would pass a wrong volume on with no error. Nor
does it say that a voxel size of 0 in the header (``pixdim``) was read as 1.0 mm.

The header gives the bytes the voxels need (``vox_offset + voxels * bitpix / 8``); the file (decompressed, for
``.nii.gz``, to the end of its gzip stream, whose CRC and length are then checked too) must hold them.
NRRD and MetaImage readers and writers already fail on a short file, so only NIfTI is checked here.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import CTDenoiseError

NIFTI_EXTENSIONS = (".nii", ".nii.gz")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class NiftiLayout:
    dims: tuple[int, ...]  # (x, y, z, ...) as in the header
    bitpix: int
    vox_offset: int
    pixdim: tuple[float, ...] = ()  # voxel size along (x, y, z, ...), as in the header

    @property
    def expected_bytes(self) -> int:
        """The bytes a complete file holds (header and voxels), uncompressed."""
        return self.vox_offset + math.prod(self.dims) * self.bitpix // 8


def _open(path: Path, compressed: bool):
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def nifti_layout(header: bytes) -> NiftiLayout | None:
    """The voxel layout described by a NIfTI-1 or NIfTI-2 header (either byte order), or None if it is not one."""
    for order in "<>":
        if len(header) >= 348 and struct.unpack(order + "i", header[:4])[0] == 348:
            dim = struct.unpack(order + "8h", header[40:56])
            bitpix = struct.unpack(order + "h", header[72:74])[0]
            pixdim = struct.unpack(order + "8f", header[76:108])
            vox_offset = int(struct.unpack(order + "f", header[108:112])[0])
            break
        if len(header) >= 540 and struct.unpack(order + "i", header[:4])[0] == 540:
            dim = struct.unpack(order + "8q", header[16:80])
            bitpix = struct.unpack(order + "h", header[14:16])[0]
            pixdim = struct.unpack(order + "8d", header[104:168])
            vox_offset = struct.unpack(order + "q", header[168:176])[0]
            break
    else:
        return None
    ndim = dim[0] if 1 <= dim[0] <= 7 else 0
    return NiftiLayout(tuple(max(1, int(n)) for n in dim[1:ndim + 1]), int(bitpix), max(int(vox_offset), 0),
                       tuple(float(size) for size in pixdim[1:ndim + 1]))


def nifti_shortfall(path: str | os.PathLike) -> str:
    """Empty if the NIfTI file holds every voxel its header describes; otherwise what is missing, in words."""
    path = Path(path)
    compressed = path.name.lower().endswith(".gz")
    try:
        with _open(path, compressed) as stream:
            header = stream.read(540)
            layout = nifti_layout(header)
            if layout is None:
                return "its header is not a NIfTI header"
            size = len(header)
            while size < layout.expected_bytes + 1 and (chunk := stream.read(_CHUNK)):
                size += len(chunk)
            if compressed:  # read to the end of the gzip stream: a cut stream or a bad CRC raises here
                while stream.read(_CHUNK):
                    pass
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
        return f"its compressed data is cut short or damaged ({error})"
    if size < layout.expected_bytes:
        voxels = math.prod(layout.dims)
        held = max(0, size - layout.vox_offset) * 8 // max(layout.bitpix, 1)
        return (f"its header describes {voxels} voxels ({' x '.join(map(str, layout.dims))}) but it holds only "
                f"{held} ({held / voxels:.0%})")
    return ""


def check_nifti_input(path: str | os.PathLike) -> None:
    """Refuse a truncated or damaged NIfTI input before SimpleITK zero-fills what is missing, and one whose header
    gives no voxel size (``pixdim`` 0), which SimpleITK would read as 1.0 mm."""
    shortfall = nifti_shortfall(path)
    if shortfall:
        raise CTDenoiseError(f"'{path}' is incomplete: {shortfall}.",
                             "The file was probably cut short by a copy or download; fetch it again.")
    with _open(Path(path), Path(path).name.lower().endswith(".gz")) as stream:
        layout = nifti_layout(stream.read(540))
    for axis, size in enumerate(layout.pixdim[:3] if layout else (), 1):
        if not (math.isfinite(size) and size != 0):
            raise CTDenoiseError(f"'{path}' gives no voxel size along axis {axis} (pixdim[{axis}] = {size:g} in its "
                                 "header); ITK would read it as 1.0 mm and every distance would be wrong.",
                                 "Set the voxel size in millimetres in the header, then run again.")


def is_nifti(path: str | os.PathLike) -> bool:
    return Path(path).name.lower().endswith(NIFTI_EXTENSIONS)
