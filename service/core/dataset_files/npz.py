"""Reading an uploaded ``.npz`` without trusting it.

Before a member is decompressed, the archive's directory is checked (names, declared sizes,
compression method, encryption, compression ratio), then the member's ``.npy`` header (dtype
and shape) against the limits, so a zip bomb, an object array or a member zipfile cannot read
is refused having read a few hundred bytes. Arrays are then read straight from the archive
into their own memory, chunk by chunk, never as a second whole copy, and never unpickled.
"""

from __future__ import annotations

import io
import math
import zipfile
from typing import IO

import numpy as np

from service.core.dataset_files.types import ARRAY_NAMES, UploadLimits, fail

_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what np.savez(_compressed) writes
_ENCRYPTED = 0x1
_UNREADABLE = (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError)


def read_npz(data: bytes, limits: UploadLimits) -> dict[str, np.ndarray]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except _UNREADABLE as exc:
        raise fail("file", f"Not a valid .npz (zip) file: {exc}.") from None
    names: dict[str, zipfile.ZipInfo] = {}
    for member in members:
        name = member.filename.removesuffix(".npy")
        if name not in ARRAY_NAMES:
            raise fail("file", f"Unexpected array {member.filename!r}; allowed: {ARRAY_NAMES}.")
        if name in names:
            raise fail(name, "Appears twice in the archive.")
        names[name] = member
    declared = sum(m.file_size for m in members)
    if declared > limits.max_decoded_bytes:
        raise fail(
            "file",
            f"The archive unpacks to {declared:,} bytes; the limit is "
            f"{limits.max_decoded_bytes:,}.",
        )
    for name, member in names.items():
        _check_member(name, member, limits)
    arrays = {}
    for name, member in names.items():
        try:
            with archive.open(member) as handle:
                _check_header(name, handle, member.file_size, limits)
            with archive.open(member) as handle:
                # Reads at most the member's declared size (zipfile stops there), in chunks.
                arrays[name] = np.lib.format.read_array(handle, allow_pickle=False)
        except _UNREADABLE as exc:
            raise fail(name, f"Cannot be read as an array: {exc}.") from None
    for required in ("x_train", "y_train"):
        if required not in arrays:
            raise fail(required, "Missing: an .npz needs x_train and y_train.")
    return arrays


def _check_member(name: str, member: zipfile.ZipInfo, limits: UploadLimits) -> None:
    """What the archive's directory says about a member, before any of it is read."""
    if member.flag_bits & _ENCRYPTED:
        raise fail(name, "Is encrypted; upload it without a password.")
    if member.compress_type not in _METHODS:
        raise fail(
            name,
            f"Is compressed with method {member.compress_type}; save it with np.savez or "
            "np.savez_compressed (stored or deflated).",
        )
    packed = max(member.compress_size, 1)
    if member.file_size / packed > limits.max_ratio:
        raise fail(
            name,
            f"Unpacks to {member.file_size / packed:,.0f} times its packed size; over "
            f"{limits.max_ratio:g} is refused as a likely zip bomb (upload it uncompressed).",
        )


def _check_header(name: str, handle: IO[bytes], declared: int, limits: UploadLimits) -> None:
    """Refuse object dtypes and oversized shapes from the header, before reading the data."""
    version = np.lib.format.read_magic(handle)  # type: ignore[arg-type]
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)  # type: ignore[arg-type]
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)  # type: ignore[arg-type]
    if dtype.hasobject:
        raise fail(name, "Object (pickled) arrays are refused; save plain numbers.")
    if dtype.kind not in "biuf":
        raise fail(name, f"Holds {dtype} values; only numbers are accepted.")
    size = math.prod(shape) * dtype.itemsize
    if size > limits.max_decoded_bytes or size > declared:
        raise fail(name, f"Its header declares {size:,} bytes of data; that is not accepted.")
    if shape and shape[0] > limits.max_rows:
        raise fail(name, f"{shape[0]:,} rows; the limit is {limits.max_rows:,}.")
    if len(shape) > 1 and math.prod(shape[1:]) > limits.max_features:
        features = math.prod(shape[1:])
        raise fail(name, f"{features:,} features; the limit is {limits.max_features:,}.")
