"""Strict scalar fields: JSON types are checked, never coerced ("3" is not 3, true is not 1),
and numbers are bounded.

marshmallow's own ``Integer`` and ``Boolean`` accept strings and numbers for one another; a
tuning spec that silently read ``"false"`` as true would train the wrong model. JSON integers
have no size: one of hundreds of digits cannot become a float (``OverflowError``), so every
number beyond ``MAX_MAGNITUDE`` is refused where it is read.
"""

from __future__ import annotations

import math
from typing import Any

from marshmallow import fields

MAX_MAGNITUDE = 2**53  # integers up to this are exact as floats too


def in_range(value: int | float) -> bool:
    """Finite and at most ``MAX_MAGNITUDE`` either way (checked without converting: a huge int
    would overflow a float)."""
    if isinstance(value, int):
        return -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE
    return math.isfinite(value) and abs(value) <= MAX_MAGNITUDE


class StrictNumber(fields.Field):
    default_error_messages = {
        "invalid": "Not a valid number.",
        "finite": "Must be finite.",
        "range": f"Must be between -{MAX_MAGNITUDE} and {MAX_MAGNITUDE}.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("finite")
        if not in_range(value):
            raise self.make_error("range")
        return value


class StrictInteger(fields.Field):
    default_error_messages = {
        "invalid": "Not a valid integer.",
        "range": f"Must be between -{MAX_MAGNITUDE} and {MAX_MAGNITUDE}.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        if not in_range(value):
            raise self.make_error("range")
        return value


class StrictBoolean(fields.Field):
    default_error_messages = {"invalid": "Not a valid boolean."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Scalar(fields.Field):
    """A string, finite number or boolean: the only values a hyperparameter can take."""

    default_error_messages = {
        "invalid": f"Must be a string, a boolean or a number within ±{MAX_MAGNITUDE}."
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and len(value) <= 200:
            return value
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and in_range(value):
            return value
        raise self.make_error("invalid")
