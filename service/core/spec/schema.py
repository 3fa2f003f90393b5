"""The job spec's marshmallow schemas: a client's JSON in, a frozen ``JobSpec`` out.

Everything a client can get wrong is caught here and reported with the path of the field, so the
worker can trust a loaded ``JobSpec``. Each field is checked alone by its schema; the checks that
span fields are in ``rules``. Unknown fields anywhere are refused (marshmallow's RAISE).

A spec names a built-in dataset or an uploaded one by id; ``datasets`` (a lookup the caller
passes: the API's is limited to the caller's tenant) resolves an id to what the checks need.
A stored spec is decoded by ``codec`` without running these schemas again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from service.core.catalog import BUILTIN_DATASETS, OBJECTIVES, DatasetInfo
from service.core.families import FamilyLookup
from service.core.spec.dimensions import FixedField, SearchSpaceField
from service.core.spec.grid import distinct_grid_size
from service.core.spec.model_schema import ModelSchema
from service.core.spec.objectives import MAX_OBJECTIVES, resolved_objectives
from service.core.spec.rules import check_spec, resolved_fixed
from service.core.spec.suggest import name_unknown_fields
from service.core.spec.types import (
    MAX_GRID_STEPS,
    MAX_WARM_START_JOBS,
    Acquisition,
    DatasetRef,
    Direction,
    EarlyStoppingSpec,
    HyperbandSpec,
    InitialPointGenerator,
    JobSpec,
    LrRangeSpec,
    ModelSpec,
    ObjectiveSpec,
    PruningRule,
    PruningSpec,
    SearchSpec,
    SpecLimits,
    Strategy,
    Surrogate,
    TrainingSpec,
    ValidationMethod,
    ValidationSpec,
)
from service.core.strict_fields import StrictBoolean, StrictInteger, StrictNumber
from service.core.vocabulary import DEFAULTS_VERSION

DatasetLookup = Callable[[str], DatasetInfo | None]


def _one_of(enum: type) -> validate.OneOf:
    return validate.OneOf([member.value for member in enum])


class DatasetRefSchema(Schema):
    builtin = fields.String(validate=validate.OneOf(sorted(BUILTIN_DATASETS)))
    id = fields.String(
        validate=validate.Regexp(r"^[0-9a-f]{64}$", error="Not a dataset id (64 hex digits).")
    )

    @validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("builtin" in data) == ("id" in data):
            raise ValidationError("Give either builtin (a name) or id (an uploaded dataset).")

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> DatasetRef:
        if "builtin" in data:
            return DatasetRef(builtin=data["builtin"], info=BUILTIN_DATASETS[data["builtin"]])
        return DatasetRef(id=data["id"])  # resolved by JobSpecSchema, which has the lookup


class EarlyStoppingSchema(Schema):
    enabled = StrictBoolean(load_default=True)
    monitor = fields.String(load_default="val_loss", validate=validate.Length(max=64))
    patience = StrictInteger(load_default=5, validate=validate.Range(min=0, max=1000))
    min_delta = StrictNumber(load_default=0.0, validate=validate.Range(min=0))
    restore_best_weights = StrictBoolean(load_default=True)
    start_from_epoch = StrictInteger(load_default=0, validate=validate.Range(min=0, max=10_000))

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> EarlyStoppingSpec:
        return EarlyStoppingSpec(**data)


class ValidationSchema(Schema):
    method = fields.String(
        load_default=ValidationMethod.HOLDOUT.value, validate=_one_of(ValidationMethod)
    )
    folds = StrictInteger(
        load_default=5, validate=validate.Range(min=2, max=10, error="Must be between 2 and 10.")
    )
    split = StrictNumber(
        load_default=0.2,
        validate=validate.Range(min=0.05, max=0.5, error="Must be between 0.05 and 0.5."),
    )
    reason = fields.String(
        validate=validate.Length(max=500),
        metadata={"description": "Why this validation was chosen when the spec did not say "
                  "(set by the server). Accepted, and dropped, in a spec copied from a job: "
                  "it then says how to validate itself."},
    )  # fmt: skip

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> ValidationSpec:
        data.pop("reason", None)  # the server's note on a job it chose for, not an input
        return ValidationSpec(**{**data, "method": ValidationMethod(data["method"])})


class ObjectiveSchema(Schema):
    metric = fields.String(validate=validate.Length(max=64))
    direction = fields.String(validate=_one_of(Direction))


class ObjectivesItemSchema(ObjectiveSchema):
    metric = fields.String(required=True, validate=validate.Length(min=1, max=64))


class PruningSchema(Schema):
    rule = fields.String(load_default=PruningRule.MEDIAN.value, validate=_one_of(PruningRule))
    min_epochs = StrictInteger(load_default=5, validate=validate.Range(min=1, max=10_000))
    reduction_factor = StrictInteger(load_default=3, validate=validate.Range(min=2, max=10))

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> PruningSpec:
        return PruningSpec(**{**data, "rule": PruningRule(data["rule"])})


class HyperbandSchema(Schema):
    min_epochs = StrictInteger(load_default=1, validate=validate.Range(min=1, max=10_000))
    reduction_factor = StrictInteger(load_default=3, validate=validate.Range(min=2, max=10))

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> HyperbandSpec:
        return HyperbandSpec(**data)


class TrainingSchema(Schema):
    max_epochs = StrictInteger(load_default=30, validate=validate.Range(min=1))
    time_limit_s = StrictNumber(validate=validate.Range(min=1))
    hard_time_limit_s = StrictNumber(validate=validate.Range(min=1))

    @validates_schema
    def _limits_in_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        soft, hard = data.get("time_limit_s"), data.get("hard_time_limit_s")
        if soft is not None and hard is not None and hard <= soft:
            raise ValidationError({"hard_time_limit_s": ["Must exceed time_limit_s."]})

    early_stopping = fields.Nested(EarlyStoppingSchema, load_default=EarlyStoppingSpec)
    validation = fields.Nested(ValidationSchema)  # absent: ``rules.default_validation``
    objective = fields.Nested(ObjectiveSchema, load_default=dict)
    objectives = fields.List(
        fields.Nested(ObjectivesItemSchema), validate=validate.Length(min=2, max=MAX_OBJECTIVES)
    )


class LrRangeSchema(Schema):
    min_lr = StrictNumber(load_default=1e-6, validate=validate.Range(min=1e-9, max=10))
    max_lr = StrictNumber(load_default=1.0, validate=validate.Range(min=1e-8, max=100))
    steps = StrictInteger(load_default=100, validate=validate.Range(min=10, max=10_000))

    @validates_schema
    def _in_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["min_lr"] >= data["max_lr"]:
            raise ValidationError({"min_lr": ["Must be less than max_lr."]})

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> LrRangeSpec:
        return LrRangeSpec(**data)


class SearchSchema(Schema):
    strategy = fields.String(load_default=Strategy.BAYESIAN.value, validate=_one_of(Strategy))
    max_trials = StrictInteger(load_default=20, validate=validate.Range(min=1))
    parallelism = StrictInteger(load_default=1, validate=validate.Range(min=1))
    seed = StrictInteger(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))
    initial_points = StrictInteger(validate=validate.Range(min=1))
    surrogate = fields.String(load_default=Surrogate.GP.value, validate=_one_of(Surrogate))
    acquisition = fields.String(
        load_default=Acquisition.GP_HEDGE.value, validate=_one_of(Acquisition)
    )
    max_duration_s = StrictNumber(validate=validate.Range(min=1))
    pruning = fields.Nested(PruningSchema)
    initial_point_generator = fields.String(
        load_default=InitialPointGenerator.CENTER.value, validate=_one_of(InitialPointGenerator)
    )
    grid_steps = StrictInteger(load_default=5, validate=validate.Range(min=2, max=MAX_GRID_STEPS))
    grid_sample = StrictBoolean(load_default=False)
    warm_start = fields.List(
        fields.String(validate=validate.Regexp(r"^[0-9a-f]{32}$", error="Not a job id.")),
        validate=validate.Length(max=MAX_WARM_START_JOBS),
    )
    lr_range = fields.Nested(LrRangeSchema, load_default=LrRangeSpec)
    hyperband = fields.Nested(HyperbandSchema)
    finalists = StrictInteger(load_default=3, validate=validate.Range(min=0, max=10))
    finalist_folds = StrictInteger(load_default=3, validate=validate.Range(min=2, max=10))

    @validates_schema
    def _hyperband_alone(self, data: dict[str, Any], **kwargs: Any) -> None:
        brackets = (Strategy.HYPERBAND.value, Strategy.BOHB.value)
        if data.get("strategy") not in brackets and "hyperband" in data:
            raise ValidationError({"hyperband": ["Only for strategy hyperband or bohb."]})
        if data.get("strategy") in brackets and "pruning" in data:
            raise ValidationError(
                {"pruning": ["Hyperband stops trials at its own rungs; leave pruning out."]}
            )

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> SearchSpec:
        if "warm_start" in data:
            data["warm_start"] = tuple(dict.fromkeys(data["warm_start"]))
        data["strategy"] = Strategy(data["strategy"])
        data["surrogate"] = Surrogate(data["surrogate"])
        data["acquisition"] = Acquisition(data["acquisition"])
        data["initial_point_generator"] = InitialPointGenerator(data["initial_point_generator"])
        return SearchSpec(**data)


class JobSpecSchema(Schema):
    """The whole job spec. Unknown fields anywhere are refused (marshmallow's RAISE)."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    callback_url = fields.String(validate=validate.Length(min=1, max=2000))
    # a spec copied from an earlier job keeps that job's defaults (rerun it as it was)
    defaults_version = StrictInteger(
        validate=validate.Range(1, DEFAULTS_VERSION), load_default=DEFAULTS_VERSION
    )
    dataset = fields.Nested(DatasetRefSchema, required=True)
    model = fields.Nested(ModelSchema, load_default=ModelSpec)
    search_space = SearchSpaceField(load_default=dict)
    fixed = FixedField(load_default=dict)
    training = fields.Nested(TrainingSchema, load_default=dict)
    search = fields.Nested(SearchSchema, load_default=SearchSpec)

    def __init__(
        self,
        *,
        limits: SpecLimits | None = None,
        datasets: DatasetLookup | None = None,
        families: FamilyLookup | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.limits = limits
        self.datasets = datasets
        self.families = families

    @validates_schema
    def _check_whole(self, data: dict[str, Any], **kwargs: Any) -> None:
        ref: DatasetRef = data["dataset"]
        if ref.id is not None:
            info = self.datasets(ref.id) if self.datasets is not None else None
            if info is None:
                raise ValidationError({"dataset": {"id": ["No such dataset."]}})
            # The loaded data is this schema's own result: complete the reference in place.
            data["dataset"] = dataclasses.replace(ref, info=info)
        model: ModelSpec = data["model"]
        if model.plugin is not None:
            found = self.families(model.plugin.name) if self.families is not None else None
            if found is None:
                raise ValidationError({"model": {"family": [
                    f"No live worker offers the family {model.plugin.name!r}; GET /v1/families "
                    "lists those that do."]}})  # fmt: skip
            data["model"] = dataclasses.replace(model, plugin=found)
        errors: dict[str, Any] = {}

        def add(path: str, message: str) -> None:
            node = errors
            *parents, leaf = path.split(".")
            for part in parents:
                child = node.setdefault(part, {})
                if isinstance(child, list):  # a field with messages of its own and below it
                    child = node[part] = {"_schema": child}
                node = child
            found = node.setdefault(leaf, [])
            if isinstance(found, dict):
                found = found.setdefault("_schema", [])
            found.append(message)

        check_spec(data, self.limits, add)
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> JobSpec:
        task = data["dataset"].info.task
        training = dict(data["training"])
        objective = training.pop("objective", {})
        training["objectives"] = resolved_objectives(training.pop("objectives", []), task)
        metric = objective.get("metric") or next(iter(OBJECTIVES[task]))
        direction = Direction(objective.get("direction") or OBJECTIVES[task][metric])
        if training["objectives"]:  # the first of them is the objective
            metric, direction = (
                training["objectives"][0].metric,
                training["objectives"][0].direction,
            )
        search = data["search"]
        if search.strategy == Strategy.LR_RANGE_TEST:
            search = dataclasses.replace(search, max_trials=1, parallelism=1)
        elif search.strategy == Strategy.GRID:
            size = distinct_grid_size(
                data["search_space"], search.grid_steps, resolved_fixed(data), data["model"].family,
                task, data["model"].layers,
            )  # fmt: skip
            search = dataclasses.replace(search, max_trials=min(search.max_trials, size))
        return JobSpec(
            name=data.get("name") or f"{data['dataset'].info.name[:12]}-{_family_label(data)}",
            dataset=data["dataset"],
            model=data["model"],
            search_space=data["search_space"],
            fixed=data["fixed"],
            training=TrainingSpec(objective=ObjectiveSpec(metric, direction), **training),
            search=search,
            callback_url=data.get("callback_url"),
            defaults_version=data["defaults_version"],
        )


def _family_label(data: dict[str, Any]) -> str:
    model: ModelSpec = data["model"]
    return model.plugin.name if model.plugin is not None else str(model.family)


def load_spec(
    payload: Any,
    limits: SpecLimits | None = None,
    datasets: DatasetLookup | None = None,
    families: FamilyLookup | None = None,
) -> JobSpec:
    """Load and validate a job spec; ``datasets`` resolves uploaded dataset ids, ``families``
    the operators' families by name (``service.core.families``).

    Raises:
        marshmallow.ValidationError: with the messages keyed by field path.
    """
    schema = JobSpecSchema(limits=limits, datasets=datasets, families=families)
    try:
        return schema.load(payload)
    except ValidationError as exc:
        raise ValidationError(name_unknown_fields(exc.messages, schema)) from None


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into ``{"a.b.c": [message, ...]}``."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            part = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            if str(key).startswith("["):  # a list's item path: model.layers[3].type
                part = f"{prefix}{key}"
            for path, items in flatten_errors(value, part).items():
                flat.setdefault(path, []).extend(items)
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "body": list(messages)}
    if isinstance(messages, list):
        flat = {}
        for item in messages:
            for path, items in flatten_errors(item, prefix).items():
                flat.setdefault(path, []).extend(items)
        return flat
    return {prefix or "body": [str(messages)]}
