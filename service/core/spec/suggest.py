"""Suggestions for misspelt names: "did you mean learning_rate?" beats a list of 43 names.

Unknown hyperparameters are caught by the dimension fields; unknown fields anywhere in a spec by
marshmallow, whose message says only "Unknown field.": ``name_unknown_fields`` rewrites those
messages with the closest field the schema at that place has.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from marshmallow import Schema, fields

from service.core.names import closest
from service.core.spec.types import SYNTHETIC_ONLY

UNKNOWN_FIELD = "Unknown field."


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest known name, or nothing when none is close."""
    match = closest(name, known)
    return f" Did you mean {match!r}?" if match else ""


def name_unknown_fields(messages: Any, schema: Schema) -> Any:
    """marshmallow's messages with each "Unknown field." naming the closest field there."""
    if not isinstance(messages, dict):
        return messages
    out: dict[Any, Any] = {}
    for key, value in messages.items():
        field = schema.fields.get(key) if isinstance(key, str) else None
        if value == [UNKNOWN_FIELD] and field is None:
            public = [name for name in schema.fields if name not in SYNTHETIC_ONLY]
            out[key] = [f"Unknown field.{did_you_mean(str(key), public)}"]
        elif isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
            out[key] = name_unknown_fields(value, field.schema)
        else:
            out[key] = value
    return out
