"""The job spec: marshmallow schemas that load a client's JSON into frozen dataclasses.

Everything a client can get wrong is caught here and reported with the path of the field, so the
worker can trust a loaded ``JobSpec``. The same schema reloads a stored spec on the worker (with
``limits=None``: a job accepted under one set of limits keeps running if they change).

A spec names a built-in dataset or an uploaded one by id; ``datasets`` (a lookup the caller
passes: the API's is limited to the caller's tenant) resolves an id to what the checks need.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from service.core.catalog import BUILTIN_DATASETS, OBJECTIVES, DatasetInfo
from service.core.vocabulary import HYPERPARAMETERS

STRATEGIES = ("bayesian", "random", "grid", "lr_range_test")
SURROGATES = ("GP", "RF", "ET", "GBRT", "dummy")
ACQUISITIONS = ("gp_hedge", "EI", "PI", "LCB")
INITIAL_POINT_GENERATORS = ("random", "sobol", "halton", "hammersly", "lhs", "grid")
PRUNING_RULES = ("median", "asha")
VALIDATION_METHODS = ("holdout", "kfold", "dataset")
SYNTHETIC = "synthetic"
MODEL_FAMILIES = ("mlp", "conv1d", "conv2d", SYNTHETIC)
MAX_CHOICES = 256
MAX_DIMENSIONS = 48
MAX_GRID_STEPS = 100
MAX_WARM_START_JOBS = 10


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: a numeric range or a list of choices."""

    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None
    steps: int | None = None


@dataclass(frozen=True)
class DatasetRef:
    """A built-in dataset by name or an uploaded one by id, with what is known about it."""

    builtin: str | None = None
    id: str | None = None
    info: DatasetInfo = field(default=BUILTIN_DATASETS["iris"], compare=False, repr=False)

    def to_dict(self) -> dict[str, str]:
        return {"builtin": self.builtin} if self.builtin else {"id": str(self.id)}


@dataclass(frozen=True)
class ModelSpec:
    """The model family. ``synthetic`` trains nothing: it scores a configuration with a fixed
    formula, sleeping ``sleep_s`` per trial, so scheduling and fault handling can be tested and
    benchmarked apart from training. It is refused unless the server enables it; its
    ``crash_trials`` / ``hang_trials`` make those trial numbers kill or hang their process."""

    family: str = "mlp"
    input_shape: tuple[int, ...] | None = None
    sleep_s: float = 0.0
    crash_trials: tuple[int, ...] = ()
    hang_trials: tuple[int, ...] = ()


@dataclass(frozen=True)
class EarlyStoppingSpec:
    enabled: bool = True
    monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    restore_best_weights: bool = True
    start_from_epoch: int = 0


@dataclass(frozen=True)
class ValidationSpec:
    """``holdout``: a stratified ``split`` of the training data. ``kfold``: ``folds`` stratified
    folds, the trial's score is their mean (its spread is reported). ``dataset``: the dataset's
    own validation part."""

    method: str = "holdout"
    split: float = 0.2
    folds: int = 5


@dataclass(frozen=True)
class ObjectiveSpec:
    metric: str
    direction: str


@dataclass(frozen=True)
class TrainingSpec:
    """How each trial trains. ``time_limit_s`` stops a trial at its next batch (recorded
    ``timed_out`` with what it measured so far); ``hard_time_limit_s`` kills its process."""

    objective: ObjectiveSpec
    max_epochs: int = 30
    early_stopping: EarlyStoppingSpec = field(default_factory=EarlyStoppingSpec)
    validation: ValidationSpec = field(default_factory=ValidationSpec)
    time_limit_s: float | None = None
    hard_time_limit_s: float | None = None


@dataclass(frozen=True)
class PruningSpec:
    """Stopping hopeless trials early: the median rule or asynchronous successive halving."""

    rule: str = "median"
    min_epochs: int = 5
    reduction_factor: int = 3


@dataclass(frozen=True)
class LrRangeSpec:
    """The learning-rate range test: ``steps`` optimizer steps from ``min_lr`` to ``max_lr``."""

    min_lr: float = 1e-6
    max_lr: float = 1.0
    steps: int = 100


@dataclass(frozen=True)
class SearchSpec:
    strategy: str = "bayesian"
    max_trials: int = 20
    parallelism: int = 1
    seed: int = 0
    initial_points: int | None = None
    initial_point_generator: str = "random"
    surrogate: str = "GP"
    acquisition: str = "gp_hedge"
    max_duration_s: float | None = None
    pruning: PruningSpec | None = None
    grid_steps: int = 5
    grid_sample: bool = False
    warm_start: tuple[str, ...] = ()
    lr_range: LrRangeSpec = field(default_factory=LrRangeSpec)

    @property
    def n_initial_points(self) -> int:
        """Random points before the surrogate takes over (default: a fifth of the budget, 3 to
        10). A fifth rather than a third: on small digits (6 seeds other than the benchmark's)
        5 initial points of 25 reached 0.950 after 10 trials where 8 reached 0.944, because the
        surrogate had 5 suggestions by then instead of 2."""
        if self.initial_points is not None:
            return self.initial_points
        return max(3, min(10, self.max_trials // 5))


@dataclass(frozen=True)
class JobSpec:
    name: str
    dataset: DatasetRef
    model: ModelSpec
    search_space: dict[str, Dimension]
    fixed: dict[str, Any]
    training: TrainingSpec
    search: SearchSpec
    callback_url: str | None = None  # POSTed the job's result when it finishes (a webhook)

    @property
    def task(self) -> str:
        return self.dataset.info.task

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data, defaults filled in, absent values left out."""
        data = _drop_none(dataclasses.asdict(self))
        data["dataset"] = self.dataset.to_dict()
        if self.model.family != SYNTHETIC:
            data["model"] = {
                k: data["model"][k] for k in ("family", "input_shape") if k in data["model"]
            }
        return data


@dataclass(frozen=True)
class SpecLimits:
    """Server-side bounds on what one job may ask for."""

    max_trials: int = 1000
    max_epochs: int = 1000
    max_parallelism: int = 64
    max_trial_time_s: float = 3 * 3600
    allow_synthetic: bool = False
    max_model_params: int = 50_000_000
    max_dimensions: int = 32
    webhook_hosts: tuple[str, ...] = ()  # hosts a callback_url may name; none: webhooks off
    webhook_http_loopback: bool = False  # allow http:// to a loopback host (development)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(v) for v in value]
    return value


# ---- strict scalar fields: JSON types are checked, never coerced ("3" is not 3, true is not 1)


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


# ---- schemas


class DimensionSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(["float", "int", "categorical"]))
    low = StrictNumber()
    high = StrictNumber()
    log = StrictBoolean(load_default=False)
    choices = fields.List(Scalar(), validate=validate.Length(min=1, max=MAX_CHOICES))
    steps = StrictInteger(validate=validate.Range(min=2, max=MAX_GRID_STEPS))

    @validates_schema
    def _check_shape(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data["type"] == "categorical":
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
                elif data["type"] == "int" and not isinstance(data[name], int):
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
        return Dimension(**data)


class SearchSpaceField(fields.Field):
    """A mapping of hyperparameter name to dimension, checked against the vocabulary."""

    default_error_messages = {
        "invalid": "Must be an object of hyperparameter name to dimension.",
        "too_many": f"At most {MAX_DIMENSIONS} dimensions.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict:
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        if len(value) > MAX_DIMENSIONS:
            raise self.make_error("too_many")
        errors: dict[str, Any] = {}
        dims: dict[str, Dimension] = {}
        for name, raw in value.items():
            hp = HYPERPARAMETERS.get(name)
            if hp is None:
                errors[name] = [f"Unknown hyperparameter. Known: {sorted(HYPERPARAMETERS)}."]
                continue
            if not isinstance(raw, dict):
                errors[name] = ["Must be an object with type and low/high or choices."]
                continue
            try:
                dim = DimensionSchema().load(raw)
            except ValidationError as exc:
                errors[name] = exc.messages
                continue
            problem = _check_dimension(name, dim)
            if problem:
                errors[name] = problem
            else:
                dims[name] = dim
        if errors:
            raise ValidationError(errors)
        return dims


def _check_dimension(name: str, dim: Dimension) -> dict[str, list[str]] | None:
    """Check a well-formed dimension against what its hyperparameter accepts."""
    hp = HYPERPARAMETERS[name]
    if dim.type == "categorical":
        bad = {
            str(i): [f"{choice!r} {reason}."]
            for i, choice in enumerate(dim.choices or ())
            if (reason := hp.check(choice))
        }
        return {"choices": bad} if bad else None  # type: ignore[dict-item]
    if not hp.numeric:
        return {"type": [f"'{name}' takes choices; use a categorical dimension."]}
    if hp.kind == "int" and dim.type == "float":
        return {"type": [f"'{name}' is an integer; use an int or categorical dimension."]}
    for bound in ("low", "high"):
        reason = hp.check(getattr(dim, bound))
        if reason:
            return {bound: [reason[0].upper() + reason[1:] + "."]}
    return None


class FixedField(fields.Field):
    """A mapping of hyperparameter name to one fixed value."""

    default_error_messages = {"invalid": "Must be an object of hyperparameter name to value."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict:
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        errors: dict[str, list[str]] = {}
        for name, item in value.items():
            hp = HYPERPARAMETERS.get(name)
            if hp is None:
                errors[name] = [f"Unknown hyperparameter. Known: {sorted(HYPERPARAMETERS)}."]
            elif reason := hp.check(item):
                errors[name] = [reason[0].upper() + reason[1:] + "."]
        if errors:
            raise ValidationError(errors)
        return {
            name: int(item) if HYPERPARAMETERS[name].kind == "int" else item
            for name, item in value.items()
        }


DatasetLookup = Callable[[str], DatasetInfo | None]


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


class ModelSchema(Schema):
    family = fields.String(load_default="mlp", validate=validate.OneOf(MODEL_FAMILIES))
    input_shape = fields.List(
        StrictInteger(validate=validate.Range(min=1, max=4096)),
        validate=validate.Length(min=2, max=3),
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
        if data["family"] != SYNTHETIC:
            extra = {"sleep_s", "crash_trials", "hang_trials"} & set(data)
            if extra:
                raise ValidationError(
                    {name: ["Only for the synthetic family."] for name in sorted(extra)}
                )
        if "input_shape" in data and data["family"] != "conv2d":
            raise ValidationError({"input_shape": ["Only for the conv2d family."]})

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> ModelSpec:
        for name in ("crash_trials", "hang_trials", "input_shape"):
            if name in data:
                data[name] = tuple(data[name])
        return ModelSpec(**data)


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
    method = fields.String(load_default="holdout", validate=validate.OneOf(VALIDATION_METHODS))
    folds = StrictInteger(
        load_default=5, validate=validate.Range(min=2, max=10, error="Must be between 2 and 10.")
    )
    split = StrictNumber(
        load_default=0.2,
        validate=validate.Range(min=0.05, max=0.5, error="Must be between 0.05 and 0.5."),
    )

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> ValidationSpec:
        return ValidationSpec(**data)


class ObjectiveSchema(Schema):
    metric = fields.String(validate=validate.Length(max=64))
    direction = fields.String(validate=validate.OneOf(["max", "min"]))


class PruningSchema(Schema):
    rule = fields.String(load_default="median", validate=validate.OneOf(PRUNING_RULES))
    min_epochs = StrictInteger(load_default=5, validate=validate.Range(min=1, max=10_000))
    reduction_factor = StrictInteger(load_default=3, validate=validate.Range(min=2, max=10))

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> PruningSpec:
        return PruningSpec(**data)


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
    validation = fields.Nested(ValidationSchema, load_default=ValidationSpec)
    objective = fields.Nested(ObjectiveSchema, load_default=dict)


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
    strategy = fields.String(load_default="bayesian", validate=validate.OneOf(STRATEGIES))
    max_trials = StrictInteger(load_default=20, validate=validate.Range(min=1))
    parallelism = StrictInteger(load_default=1, validate=validate.Range(min=1))
    seed = StrictInteger(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))
    initial_points = StrictInteger(validate=validate.Range(min=1))
    surrogate = fields.String(load_default="GP", validate=validate.OneOf(SURROGATES))
    acquisition = fields.String(load_default="gp_hedge", validate=validate.OneOf(ACQUISITIONS))
    max_duration_s = StrictNumber(validate=validate.Range(min=1))
    pruning = fields.Nested(PruningSchema)
    initial_point_generator = fields.String(
        load_default="random", validate=validate.OneOf(INITIAL_POINT_GENERATORS)
    )
    grid_steps = StrictInteger(load_default=5, validate=validate.Range(min=2, max=MAX_GRID_STEPS))
    grid_sample = StrictBoolean(load_default=False)
    warm_start = fields.List(
        fields.String(validate=validate.Regexp(r"^[0-9a-f]{32}$", error="Not a job id.")),
        validate=validate.Length(max=MAX_WARM_START_JOBS),
    )
    lr_range = fields.Nested(LrRangeSchema, load_default=LrRangeSpec)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> SearchSpec:
        if "warm_start" in data:
            data["warm_start"] = tuple(dict.fromkeys(data["warm_start"]))
        return SearchSpec(**data)


class JobSpecSchema(Schema):
    """The whole job spec. Unknown fields anywhere are refused (marshmallow's RAISE)."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    callback_url = fields.String(validate=validate.Length(min=1, max=2000))
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.limits = limits
        self.datasets = datasets

    @validates_schema
    def _check_whole(self, data: dict[str, Any], **kwargs: Any) -> None:
        ref: DatasetRef = data["dataset"]
        if ref.id is not None:
            info = self.datasets(ref.id) if self.datasets is not None else None
            if info is None:
                raise ValidationError({"dataset": {"id": ["No such dataset."]}})
            # The loaded data is this schema's own result: complete the reference in place.
            data["dataset"] = dataclasses.replace(ref, info=info)
        errors: dict[str, Any] = {}

        def add(path: str, message: str) -> None:
            node = errors
            *parents, leaf = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node.setdefault(leaf, []).append(message)

        from service.core.spec_rules import check_spec  # it builds on this module's types

        check_spec(data, self.limits, add)
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> JobSpec:
        task = data["dataset"].info.task
        training = dict(data["training"])
        objective = training.pop("objective", {})
        metric = objective.get("metric") or next(iter(OBJECTIVES[task]))
        direction = objective.get("direction") or OBJECTIVES[task][metric]
        search = data["search"]
        if search.strategy == "lr_range_test":
            search = dataclasses.replace(search, max_trials=1, parallelism=1)
        elif search.strategy == "grid":
            from service.core.grid import distinct_grid_size  # it builds on this module's types

            size = distinct_grid_size(
                data["search_space"], search.grid_steps, data["fixed"], data["model"].family, task
            )
            search = dataclasses.replace(search, max_trials=min(search.max_trials, size))
        return JobSpec(
            name=data.get("name") or f"{data['dataset'].info.name[:12]}-{data['model'].family}",
            dataset=data["dataset"],
            model=data["model"],
            search_space=data["search_space"],
            fixed=data["fixed"],
            training=TrainingSpec(objective=ObjectiveSpec(metric, direction), **training),
            search=search,
            callback_url=data.get("callback_url"),
        )


def load_spec(
    payload: Any, limits: SpecLimits | None = None, datasets: DatasetLookup | None = None
) -> JobSpec:
    """Load and validate a job spec; ``datasets`` resolves uploaded dataset ids.

    Raises:
        marshmallow.ValidationError: with the messages keyed by field path.
    """
    return JobSpecSchema(limits=limits, datasets=datasets).load(payload)


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into ``{"a.b.c": [message, ...]}``."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            part = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
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
