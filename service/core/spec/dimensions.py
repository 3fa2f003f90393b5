"""The search space and the fixed values: each name checked against the vocabulary.

A dimension is first checked alone (a range or choices, well formed), then against what its
hyperparameter accepts (``learning_rate`` is a positive float, ``optimizer`` one of a list), so
every message names the field a client must change.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from service.core.families import BUILTIN_NAMES
from service.core.spec.suggest import did_you_mean
from service.core.spec.types import (
    MAX_CHOICES,
    MAX_DIMENSIONS,
    MAX_GRID_STEPS,
    Dimension,
    DimensionType,
)
from service.core.strict_fields import Scalar, StrictBoolean, StrictInteger, StrictNumber
from service.core.vocabulary import HYPERPARAMETERS, Hyperparameter, training_knobs


def _known(data: Any) -> Mapping[str, Hyperparameter] | None:
    """The names checked here: the vocabulary, or for a declared model (``model.layers`` in the
    request) only its training knobs; its slots are checked by ``declared_rules``, which has the
    parsed layers (None: any other name is left to them)."""
    model = data.get("model") if isinstance(data, dict) else None
    if isinstance(model, dict) and ("layers" in model or "graph" in model):
        return None
    if isinstance(model, dict) and model.get("family", "mlp") not in BUILTIN_NAMES:
        return None  # an operator's family: its own names are checked against its definition
    return HYPERPARAMETERS


def unknown_hyperparameter(name: str) -> str:
    hint = did_you_mean(name, HYPERPARAMETERS)
    return f"Unknown hyperparameter.{hint or ' The README lists them all (Hyperparameters).'}"


class DimensionSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf([t.value for t in DimensionType]))
    low = StrictNumber()
    high = StrictNumber()
    log = StrictBoolean(load_default=False)
    choices = fields.List(Scalar(), validate=validate.Length(min=1, max=MAX_CHOICES))
    steps = StrictInteger(validate=validate.Range(min=2, max=MAX_GRID_STEPS))

    @validates_schema
    def _check_shape(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data["type"] == DimensionType.CATEGORICAL:
            for name in ("low", "high"):
                if name in data:
                    errors[name] = ["Not allowed for a categorical dimension; use choices."]
            if data.get("log"):
                errors["log"] = ["Not allowed for a categorical dimension."]
            if "steps" in data:
                errors["steps"] = [
                    "Not allowed for a categorical dimension: its choices are its grid."
                ]
            if "choices" not in data:
                errors["choices"] = ["Missing data for required field."]
            elif len({(type(c), c) for c in data["choices"]}) != len(data["choices"]):
                errors["choices"] = ["Choices must be distinct."]
        else:
            if "choices" in data:
                errors["choices"] = [f"Not allowed for a {data['type']} dimension."]
            for name in ("low", "high"):
                if name not in data:
                    errors[name] = ["Missing data for required field."]
                elif data["type"] == DimensionType.INT and not isinstance(data[name], int):
                    errors[name] = ["Not a valid integer."]
            if not errors:
                if data["low"] >= data["high"]:
                    errors["low"] = ["Must be less than high."]
                elif data.get("log") and data["low"] <= 0:
                    errors["low"] = ["Must be positive on a log scale."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> Dimension:
        if "choices" in data:
            data["choices"] = tuple(data["choices"])
        data["type"] = DimensionType(data["type"])
        return Dimension(**data)


class SearchSpaceField(fields.Field):
    """A mapping of hyperparameter name to dimension, checked against the vocabulary."""

    default_error_messages = {
        "invalid": "Must be an object of hyperparameter name to dimension.",
        "too_many": f"At most {MAX_DIMENSIONS} dimensions.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Mapping:
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        if len(value) > MAX_DIMENSIONS:
            raise self.make_error("too_many")
        errors: dict[str, Any] = {}
        dims: dict[str, Dimension] = {}
        known = _known(data)
        for name, raw in value.items():
            hp = (known or training_knobs()).get(name)
            if hp is None and known is not None:
                errors[name] = [unknown_hyperparameter(name)]
                continue
            if not isinstance(raw, dict):
                errors[name] = ["Must be an object with type and low/high or choices."]
                continue
            try:
                dim = DimensionSchema().load(raw)
            except ValidationError as exc:
                errors[name] = exc.messages
                continue
            problem = check_dimension(name, dim, hp) if hp is not None else None
            if problem:
                errors[name] = problem
            else:
                dims[name] = dim
        if errors:
            raise ValidationError(errors)
        return MappingProxyType(dims)


def check_dimension(name: str, dim: Dimension, hp: Hyperparameter) -> dict[str, Any] | None:
    """Check a well-formed dimension against what its hyperparameter accepts."""
    if dim.type == DimensionType.CATEGORICAL:
        bad = {
            str(i): [f"{choice!r} {reason}."]
            for i, choice in enumerate(dim.choices or ())
            if (reason := hp.check(choice))
        }
        return {"choices": bad} if bad else None
    if not hp.numeric:
        return {"type": [f"'{name}' takes choices; use a categorical dimension."]}
    if hp.kind == "int" and dim.type == DimensionType.FLOAT:
        return {"type": [f"'{name}' is an integer; use an int or categorical dimension."]}
    for bound in ("low", "high"):
        reason = hp.check(getattr(dim, bound))
        if reason:
            return {bound: [reason[0].upper() + reason[1:] + "."]}
    return None


class FixedField(fields.Field):
    """A mapping of hyperparameter name to one fixed value."""

    default_error_messages = {"invalid": "Must be an object of hyperparameter name to value."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Mapping:
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        errors: dict[str, list[str]] = {}
        known = _known(data)
        fixed: dict[str, Any] = {}
        for name, item in value.items():
            hp = (known or training_knobs()).get(name)
            if hp is None and known is not None:
                errors[name] = [unknown_hyperparameter(name)]
            elif hp is None and (isinstance(item, dict | list) or item is None):
                errors[name] = ["Must be a number, a string or a boolean."]
            elif hp is not None and (reason := hp.check(item)):
                errors[name] = [reason[0].upper() + reason[1:] + "."]
            else:
                fixed[name] = int(item) if hp is not None and hp.kind == "int" else item
        if errors:
            raise ValidationError(errors)
        return MappingProxyType(fixed)
