"""Strict scalar fields: JSON types are checked, never coerced ("3" is not 3, true is not 1).

marshmallow's own ``Integer`` and ``Boolean`` accept strings and numbers for one another; a
tuning spec that silently read ``"false"`` as true would train the wrong model.
"""

from __future__ import annotations

import math
from typing import Any

from marshmallow import fields


class StrictNumber(fields.Field):
    default_error_messages = {"invalid": "Not a valid number.", "finite": "Must be finite."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if not math.isfinite(value):
            raise self.make_error("finite")
        return value


class StrictInteger(fields.Field):
    default_error_messages = {"invalid": "Not a valid integer."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class StrictBoolean(fields.Field):
    default_error_messages = {"invalid": "Not a valid boolean."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Scalar(fields.Field):
    """A string, finite number or boolean: the only values a hyperparameter can take."""

    default_error_messages = {"invalid": "Must be a string, a finite number or a boolean."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and len(value) <= 200:
            return value
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and math.isfinite(value):
            return value
        raise self.make_error("invalid")
