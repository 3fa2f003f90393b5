"""Immutable values (dataclasses, read-only mappings, tuples, enums) as JSON-ready data.

Specs and records hold ``MappingProxyType`` and tuples so nobody can change them in place;
``json`` and the wire want dicts and lists. One function converts, wherever values leave.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any


def plain(value: Any, *, drop_none: bool = False) -> Any:
    """``value`` with dataclasses and mappings as dicts, tuples as lists and enums as their
    values; with ``drop_none``, mapping entries whose value is None are left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {
            str(k): plain(v, drop_none=drop_none)
            for k, v in value.items()
            if not (drop_none and v is None)
        }
    if isinstance(value, list | tuple):
        return [plain(v, drop_none=drop_none) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value
