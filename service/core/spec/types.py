"""The job spec as typed, immutable data: string enums and frozen dataclasses.

This module is the leaf of the ``spec`` package: the schema, the rules, the grid and capacity
helpers and the codec build on it, and it imports nothing from them. Mappings in a loaded spec
are read-only (``MappingProxyType``) and sequences are tuples, so a spec shared between a record,
a cache and the engine cannot be changed behind anyone's back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from service.core.architecture import Architecture, vocabulary
from service.core.catalog import BUILTIN_DATASETS, DatasetInfo
from service.core.families import FamilyDefinition
from service.core.vocabulary import (
    DEFAULTS_VERSION,
    HYPERPARAMETERS,
    Vocabulary,
    configuration,
    earlier_defaults,
)


class Strategy(StrEnum):
    BAYESIAN = "bayesian"
    RANDOM = "random"
    GRID = "grid"
    LR_RANGE_TEST = "lr_range_test"
    HYPERBAND = "hyperband"  # random configurations in brackets of successive halving
    BOHB = "bohb"  # the same brackets, configurations from the surrogate (Falkner et al. 2018)


class Direction(StrEnum):
    MAX = "max"
    MIN = "min"


class ModelFamily(StrEnum):
    """The built-in model families, and ``declared`` for a model a job declares as layers.
    ``synthetic`` trains nothing (see ``ModelSpec``)."""

    MLP = "mlp"
    CONV1D = "conv1d"
    CONV2D = "conv2d"
    DECLARED = "declared"
    PLUGIN = "plugin"
    SYNTHETIC = "synthetic"


class DimensionType(StrEnum):
    FLOAT = "float"
    INT = "int"
    CATEGORICAL = "categorical"


class ValidationMethod(StrEnum):
    HOLDOUT = "holdout"
    KFOLD = "kfold"
    DATASET = "dataset"


class PruningRule(StrEnum):
    MEDIAN = "median"
    ASHA = "asha"


class Surrogate(StrEnum):
    GP = "GP"
    RF = "RF"
    ET = "ET"
    GBRT = "GBRT"
    DUMMY = "dummy"


class Acquisition(StrEnum):
    GP_HEDGE = "gp_hedge"
    EI = "EI"
    PI = "PI"
    LCB = "LCB"


class InitialPointGenerator(StrEnum):
    CENTER = "center"  # the middle of the space first, then random (bench/search_suite.py)
    RANDOM = "random"
    SOBOL = "sobol"
    HALTON = "halton"
    HAMMERSLY = "hammersly"
    LHS = "lhs"
    GRID = "grid"


SYNTHETIC = ModelFamily.SYNTHETIC
# The model fields only the synthetic family (tests and benchmarks) reads: refused for the
# others, left out of the public document and of "did you mean" suggestions.
SYNTHETIC_ONLY = ("sleep_s", "crash_trials", "hang_trials")
MAX_CHOICES = 256
MAX_DIMENSIONS = 48
MAX_GRID_STEPS = 100
MAX_WARM_START_JOBS = 10

EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only view of a copy of ``value`` (an existing read-only view is kept)."""
    return value if isinstance(value, MappingProxyType) else MappingProxyType(dict(value))


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: a numeric range or a list of choices."""

    type: DimensionType
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


@dataclass(frozen=True)
class ModelSpec:
    """The model family. ``synthetic`` trains nothing: it scores a configuration with a fixed
    formula, sleeping ``sleep_s`` per trial, so scheduling and fault handling can be tested and
    benchmarked apart from training. It is refused unless the server enables it; its
    ``crash_trials`` / ``hang_trials`` make those trial numbers kill or hang their process."""

    family: ModelFamily = ModelFamily.MLP
    input_shape: tuple[int, ...] | None = None
    layers: Architecture | None = None  # the declared model (family ``declared``)
    plugin: FamilyDefinition | None = None  # the operator's family (family ``plugin``)
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

    method: ValidationMethod = ValidationMethod.HOLDOUT
    split: float = 0.2
    folds: int = 5
    # why this validation, when the spec did not say (``rules.default_validation``); not part
    # of how a job validates (two jobs that validate alike compare equal)
    reason: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ObjectiveSpec:
    metric: str
    direction: Direction


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
    # Two or more objectives, the first being ``objective``: the job reports their Pareto front
    # (``service.core.pareto``); empty for a job with one objective.
    objectives: tuple[ObjectiveSpec, ...] = ()

    @property
    def all_objectives(self) -> tuple[ObjectiveSpec, ...]:
        return self.objectives or (self.objective,)


@dataclass(frozen=True)
class PruningSpec:
    """Stopping hopeless trials early: the median rule or asynchronous successive halving."""

    rule: PruningRule = PruningRule.MEDIAN
    min_epochs: int = 5
    reduction_factor: int = 3


@dataclass(frozen=True)
class HyperbandSpec:
    """Hyperband's brackets over epochs: the most aggressive judges trials first after
    ``min_epochs`` or more; each rung keeps the best ``1 / reduction_factor``
    (``service.core.spec.brackets``)."""

    min_epochs: int = 1
    reduction_factor: int = 3


@dataclass(frozen=True)
class LrRangeSpec:
    """The learning-rate range test: ``steps`` optimizer steps from ``min_lr`` to ``max_lr``."""

    min_lr: float = 1e-6
    max_lr: float = 1.0
    steps: int = 100


@dataclass(frozen=True)
class SearchSpec:
    strategy: Strategy = Strategy.BAYESIAN
    max_trials: int = 20
    parallelism: int = 1
    seed: int = 0
    initial_points: int | None = None
    initial_point_generator: InitialPointGenerator = InitialPointGenerator.CENTER
    surrogate: Surrogate = Surrogate.GP
    acquisition: Acquisition = Acquisition.GP_HEDGE
    max_duration_s: float | None = None
    pruning: PruningSpec | None = None
    grid_steps: int = 5
    grid_sample: bool = False
    warm_start: tuple[str, ...] = ()
    lr_range: LrRangeSpec = field(default_factory=LrRangeSpec)
    hyperband: HyperbandSpec = field(default_factory=HyperbandSpec)
    # Before the refit, the best ``finalists`` trials are scored again by ``finalist_folds``-fold
    # cross-validation on the training part and the refit takes the best of that second look
    # (``worker.engine.finalists``); 0 or 1: the search's best is refit as it is.
    finalists: int = 3
    finalist_folds: int = 3

    @property
    def hyperband_brackets(self) -> bool:
        """Whether trials run in Hyperband's brackets (and are stopped at its rungs)."""
        return self.strategy in (Strategy.HYPERBAND, Strategy.BOHB)

    @property
    def stops_early(self) -> bool:
        """Whether trials may be stopped from the learning curves of others: one curve per
        trial is compared, so validation must be one hold-out."""
        return self.pruning is not None or self.hyperband_brackets

    @property
    def n_initial_points(self) -> int:
        """Points of the initial design before the surrogate takes over (default: a fifth of
        the budget, 3 to 10; ``bench/README.md`` says how that was chosen)."""
        if self.initial_points is not None:
            return self.initial_points
        return max(3, min(10, self.max_trials // 5))


@dataclass(frozen=True)
class JobSpec:
    name: str
    dataset: DatasetRef
    model: ModelSpec
    search_space: Mapping[str, Dimension]
    fixed: Mapping[str, Any]
    training: TrainingSpec
    search: SearchSpec
    callback_url: str | None = None  # POSTed the job's result when it finishes (a webhook)
    # the vocabulary's defaults this job was submitted under (``vocabulary.DEFAULTS_VERSION``)
    defaults_version: int = DEFAULTS_VERSION

    @property
    def task(self) -> str:
        return self.dataset.info.task

    @property
    def resolved_fixed(self) -> Mapping[str, Any]:
        """The fixed values, with the defaults of the job's own version where they differ from
        today's: what its trials train with, whatever the defaults are now."""
        earlier = earlier_defaults(self.model.family, self.defaults_version)
        return {**earlier, **self.fixed} if earlier else self.fixed

    def configuration(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """What a trial with ``params`` trains with (``vocabulary.configuration`` for this job:
        its family, task, dataset and defaults version)."""
        return configuration(
            self.resolved_fixed, params, self.model.family, self.task, self.tabular,
            self.hyperparameters,
        )  # fmt: skip

    @property
    def hyperparameters(self) -> Vocabulary:
        """The names this job may search or fix: the vocabulary, or for a declared model its
        training knobs and slots (cached per architecture)."""
        if self.model.plugin is not None:
            return self.model.plugin.vocabulary
        if self.model.layers is None:
            return HYPERPARAMETERS
        return vocabulary(self.model.layers)[0]

    @property
    def tabular(self) -> bool:
        """The dataset is a table read column by column (its encoding knobs apply)."""
        return self.dataset.info.tabular


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
    max_duration_s: float = 7 * 24 * 3600.0
    trial_epochs_per_day: int = 0  # a tenant's daily compute (0: no limit)
    # a spec that does not say how to validate gets k-fold on a dataset of fewer rows (0: never)
    kfold_below_rows: int = 0
