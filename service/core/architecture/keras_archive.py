"""The architecture inside a ``.keras`` file: its ``config.json`` member, and nothing else.

A ``.keras`` file is a zip of ``config.json``, ``metadata.json`` and the weights. Only the
config is read, with the checks a dataset upload gets: the member's declared size is bounded
before anything is decompressed, only stored or deflated members, no encryption, a bounded
compression ratio (a bomb is refused), and the read stops at the declared size. The weights are
never opened; ``importer`` reads the config as plain JSON.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from typing import Any

from marshmallow import ValidationError

MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_RATIO = 200.0
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_UNREADABLE = (
    ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError,
    zlib.error,
)  # fmt: skip


def read_config(data: bytes, max_bytes: int = MAX_CONFIG_BYTES) -> Any:
    """The ``config.json`` document of a ``.keras`` archive.

    Raises:
        ValidationError: at ``file``, saying what is wrong with the archive.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        member = archive.getinfo("config.json")
    except KeyError:
        raise _fail("The archive has no config.json: is it a .keras file?") from None
    except _UNREADABLE as exc:
        raise _fail(f"Not a valid .keras (zip) file: {exc}.") from None
    if member.flag_bits & 0x1:
        raise _fail("config.json is encrypted.")
    if member.compress_type not in _METHODS:
        raise _fail(f"config.json is compressed with method {member.compress_type}.")
    if member.file_size > max_bytes:
        raise _fail(f"config.json is {member.file_size:,} bytes; the limit is {max_bytes:,}.")
    if member.file_size / max(member.compress_size, 1) > MAX_RATIO:
        raise _fail("config.json is compressed like a zip bomb; refused.")
    try:
        with archive.open(member) as handle:
            text = handle.read(max_bytes + 1)
        return json.loads(text)
    except (*_UNREADABLE, RecursionError) as exc:
        raise _fail(f"config.json cannot be read as JSON: {exc}"[:300]) from None


def _fail(message: str) -> ValidationError:
    return ValidationError({"file": [message]})
