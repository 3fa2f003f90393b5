"""The ``model`` section of a job spec: a built-in family, a declared model (its layers or
graph, parsed by ``service.core.architecture``), or an operator's family by name (resolved by
``JobSpecSchema`` from what live workers offer)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from service.core.architecture import Architecture, parse_graph, parse_layers
from service.core.families import FAMILY_NAME, FamilyDefinition
from service.core.spec.types import SYNTHETIC, SYNTHETIC_ONLY, ModelFamily, ModelSpec
from service.core.strict_fields import StrictInteger, StrictNumber


class LayersField(fields.Field):
    """A declared model (``service.core.architecture``): its layers, or with ``graph`` its
    graph. Errors are keyed ``[3].type`` (``nodes.skip.type``) so that they read
    ``model.layers[3].type`` (``model.graph.nodes.skip.type``)."""

    def __init__(self, graph: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graph = graph

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Architecture:
        try:
            return parse_graph(value) if self.graph else parse_layers(value)
        except ValidationError as exc:
            if not isinstance(exc.messages, dict):
                raise
            prefix = "graph." if self.graph else "layers"
            raise ValidationError(
                {_below(str(key), prefix): m for key, m in exc.messages.items()}
            ) from None


def _below(key: str, prefix: str) -> str:
    """A parser's error key below the field (``layers[3].type`` -> ``[3].type``)."""
    return (key[len(prefix) :] if key.startswith(prefix) else key) or "_schema"


def _family_name(value: str) -> None:
    if value not in {f.value for f in ModelFamily} and not FAMILY_NAME.match(value):
        raise ValidationError(
            f"Must be one of: {', '.join(f.value for f in ModelFamily if f != ModelFamily.PLUGIN)}"
            ", or a family a live worker offers (GET /v1/families)."
        )


class ModelSchema(Schema):
    family = fields.String(validate=_family_name)
    layers = LayersField()
    graph = LayersField(graph=True)
    input_shape = fields.List(
        StrictInteger(validate=validate.Range(min=1, max=4096)),
        validate=validate.Length(min=1, max=4),
    )
    sleep_s = StrictNumber(validate=validate.Range(min=0, max=600))
    crash_trials = fields.List(
        StrictInteger(validate=validate.Range(min=0)), validate=validate.Length(max=100)
    )
    hang_trials = fields.List(
        StrictInteger(validate=validate.Range(min=0)), validate=validate.Length(max=100)
    )

    @validates_schema
    def _synthetic_only(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("family") != SYNTHETIC:
            extra = set(SYNTHETIC_ONLY) & set(data)
            if extra:
                raise ValidationError(
                    {name: ["Only for the synthetic family."] for name in sorted(extra)}
                )
        if "layers" in data and "graph" in data:
            raise ValidationError({"graph": ["Declare layers or a graph, not both."]})
        declared = "layers" in data or "graph" in data
        family = data.get("family", ModelFamily.DECLARED if declared else ModelFamily.MLP)
        if declared and family != ModelFamily.DECLARED:
            raise ValidationError({"family": ["Give a family or declare a model, not both."]})
        if family == ModelFamily.DECLARED and not declared:
            raise ValidationError({"layers": ["A declared model needs its layers (or a graph)."]})
        if "input_shape" in data and family not in (ModelFamily.CONV2D, ModelFamily.DECLARED):
            raise ValidationError({"input_shape": ["Only for conv2d and declared models."]})
        if family == ModelFamily.CONV2D and len(data.get("input_shape", (1, 1))) not in (2, 3):
            raise ValidationError({"input_shape": ["Give [height, width] or [height, width, "
                                                   "channels]."]})  # fmt: skip

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> ModelSpec:
        for name in ("crash_trials", "hang_trials", "input_shape"):
            if name in data:
                data[name] = tuple(data[name])
        if "graph" in data:
            data["layers"] = data.pop("graph")  # one typed form for both
        default = ModelFamily.DECLARED if "layers" in data else ModelFamily.MLP
        family = data.get("family", default)
        if family not in {f.value for f in ModelFamily} or family == ModelFamily.PLUGIN:
            # an operator's family, by name: JobSpecSchema resolves it from the live workers
            data["plugin"] = FamilyDefinition(family, ())
            family = ModelFamily.PLUGIN
        data["family"] = ModelFamily(family)
        return ModelSpec(**data)
