"""Rules that span several fields of a job spec: each names the field a client must change.

The schemas in ``schema`` check each field alone; these check that the fields make
sense together (the objective fits the task, a conditional hyperparameter can ever be active, a
grid fits the trial budget, the largest model fits the server's cap...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from service.core.architecture import vocabulary
from service.core.architecture.slots import uses
from service.core.catalog import OBJECTIVES, DatasetInfo, monitorable
from service.core.spec.brackets import too_short
from service.core.spec.capacity import largest_model, largest_value
from service.core.spec.declared_rules import (
    OWN,
    check_declared,
    check_own_names,
    reachable_encodings,
    spec_vocabulary,
)
from service.core.spec.grid import MAX_GRID_POINTS, distinct_grid_size, grid_size
from service.core.spec.objectives import check_objectives
from service.core.spec.types import (
    SYNTHETIC,
    DimensionType,
    EarlyStoppingSpec,
    HyperbandSpec,
    ModelFamily,
    SearchSpec,
    SpecLimits,
    Strategy,
    ValidationMethod,
    ValidationSpec,
)
from service.core.vocabulary import (
    DEFAULTS_VERSION,
    HYPERPARAMETERS,
    defaults,
    earlier_defaults,
)

Add = Callable[[str, str], None]


def resolved_fixed(data: dict[str, Any]) -> dict[str, Any]:
    """The fixed values with the defaults of the spec's version where they differ from
    today's (a spec copied from an earlier job keeps that job's architecture)."""
    version = data.get("defaults_version", DEFAULTS_VERSION)
    return {**earlier_defaults(data["model"].family, version), **data["fixed"]}


KFOLD_FOLDS = 5


def default_validation(data: dict[str, Any], limits: SpecLimits | None) -> ValidationSpec | None:
    """The validation of a spec that does not say, on a dataset of fewer rows than
    ``limits.kfold_below_rows``: k-fold, with the reason (None: the plain 20 % hold-out). One
    hold-out of a small dataset is a few dozen rows: the best of many trials on it is the
    luckiest split, not the best model. Where k-fold cannot go (pruning compares one curve per
    trial, a class too rare for two folds, more trial-epochs than a tenant may use a day) the
    hold-out stays and the reason says why."""
    info, training, search = data["dataset"].info, data["training"], data["search"]
    most = limits.kfold_below_rows if limits is not None else 0
    if (
        not most
        or "validation" in training
        or info.n_samples >= most
        or search.strategy == Strategy.LR_RANGE_TEST
        or data["model"].family == SYNTHETIC
    ):
        return None
    small = (
        f"the dataset has {info.n_samples:,} rows, fewer than TUNEQ_KFOLD_BELOW_ROWS "
        f"({most:,}): one 20 % hold-out of them is too few to pick a model by"
    )
    folds = min(KFOLD_FOLDS, info.min_class_count or KFOLD_FOLDS)
    budget = limits.trial_epochs_per_day if limits is not None else 0
    epochs = search.max_trials * training.get("max_epochs", 30) * folds
    why_not = None
    if search.stops_early:
        rule = "pruning" if search.pruning is not None else "Hyperband"
        why_not = f"{rule} compares one learning curve per trial"
    elif folds < 2:
        why_not = "its rarest class has a single training row"
    elif budget and epochs > budget:
        why_not = f"{folds} folds would train {epochs:,} trial-epochs, over the {budget:,} a day"
    if why_not is not None:
        return ValidationSpec(reason=f"the 20 % hold-out, not k-fold although {small}: {why_not}")
    reason = f"{folds}-fold cross-validation by default: {small}; set training.validation to choose"
    return ValidationSpec(method=ValidationMethod.KFOLD, folds=folds, reason=reason)


def check_spec(data: dict[str, Any], limits: SpecLimits | None, add: Add) -> None:
    """Report every cross-field problem of a loaded spec through ``add(path, message)``."""
    info = data["dataset"].info
    problems: list[str] = []
    if (chosen := default_validation(data, limits)) is not None:
        data["training"]["validation"] = chosen  # checked below like one the spec wrote

    def counted(path: str, message: str) -> None:
        problems.append(path)
        add(path, message)

    if data["model"].layers is not None:
        for path, message in vocabulary(data["model"].layers)[1]:
            counted(f"model.{path}", message)  # a slot no dimension could fill
    _check_names(data, info, counted)
    _check_training(data, info, add)
    _check_search(data, add)
    shape = input_shape(data["model"].family, data["model"].input_shape, info)
    if isinstance(shape, str):
        add("model.family" if info.tabular else "model.input_shape", shape)
    elif data["model"].layers is not None and not problems:
        check_declared(data, shape, resolved_fixed(data), limits, add)
    elif data["model"].plugin is not None and not problems:
        if info.task not in data["model"].plugin.tasks:
            add(
                "model.family",
                f"Family {data['model'].plugin.name!r} is for "
                f"{' and '.join(data['model'].plugin.tasks)}; this dataset is {info.task}.",
            )
        check_own_names(data, add)
    if limits is not None:
        _check_limits(data, limits, add)
        declared = data["model"].family in (ModelFamily.DECLARED, ModelFamily.PLUGIN)
        if not isinstance(shape, str) and data["model"].family != SYNTHETIC and not declared:
            size = largest_model(
                data["search_space"],
                resolved_fixed(data),
                data["model"].family,
                shape,
                info.task,
                info.n_classes,
            )
            size = max(size, _largest_embedded(data, info))
            if size > limits.max_model_params:
                add(
                    "search_space",
                    f"The largest model in this space has {size:,} parameters; the limit is "
                    f"{limits.max_model_params:,}. Narrow units, filters or depth.",
                )


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def callback_problem(url: str, limits: SpecLimits) -> str | None:
    """Why a webhook URL is refused, or None. Only allowlisted hosts, only over HTTPS (plain
    HTTP to a loopback host when the server allows it for development), no credentials."""
    if not limits.webhook_hosts:
        return "Webhooks are off on this server (no TUNEQ_WEBHOOK_ALLOWED_HOSTS)."
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        return "Control characters and spaces are refused; percent-encode them."
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        return "Not a valid URL."
    if parts.username or parts.password:
        return "Credentials in the URL are refused."
    if parts.scheme == "http":
        if not (limits.webhook_http_loopback and host in LOOPBACK_HOSTS):
            return "Use https:// (plain http only to a loopback host, when the server allows)."
    elif parts.scheme != "https":
        return "Use https://."
    if host not in limits.webhook_hosts:
        return f"Host {host!r} is not in the server's webhook allowlist."
    return None


def input_shape(
    family: str, given: tuple[int, ...] | None, info: DatasetInfo
) -> tuple[int, ...] | str:
    """The shape one sample enters the model with, or why there is none."""
    if info.tabular and family in (ModelFamily.CONV1D, ModelFamily.CONV2D):
        return (
            f"Dataset '{info.name}' is a table with string, boolean or empty cells; its columns "
            "are not a sequence or an image. Use the mlp family."
        )
    if family == ModelFamily.DECLARED and given and math.prod(given) != info.n_features:
        return f"{list(given)} holds {math.prod(given)} values; each sample has {info.n_features}."
    if family in (ModelFamily.DECLARED, ModelFamily.PLUGIN) and not given:
        # a declared model or an operator's family starts from an image dataset's images,
        # anything else from rows (a family takes no input_shape)
        image = None if info.tabular else info.image_shape
        return (*image, 1) if image and len(image) == 2 else (image or (info.n_features,))
    if family == ModelFamily.DECLARED and info.tabular:
        return "A table's encoded columns enter as one row; leave input_shape out."
    if family == ModelFamily.DECLARED:
        return tuple(given)  # type: ignore[arg-type]
    if family == ModelFamily.CONV1D:
        return (info.n_features, 1)
    if family != ModelFamily.CONV2D:
        return (info.n_features,)
    shape = given or info.image_shape
    if shape is None:
        return f"Dataset '{info.name}' has no image shape; give [height, width, channels]."
    if len(shape) == 2:
        shape = (*shape, 1)
    if math.prod(shape) != info.n_features:
        return f"{list(shape)} holds {math.prod(shape)} values; each sample has {info.n_features}."
    return tuple(shape)


def _largest_embedded(data: dict[str, Any], info: DatasetInfo) -> int:
    """The largest model with ``categorical_encoding: embedding``, embeddings included (0 when
    the space never embeds): each categorical column enters as ``embedding_dim`` values."""
    dense, columns, rows = info.embedding
    space, fixed = data["search_space"], data["fixed"]
    if not columns or "embedding" not in reachable_encodings(data):
        return 0
    searched = space.get("embedding_dim")
    dim = int(
        largest_value(searched)
        if searched is not None
        else fixed.get("embedding_dim", defaults()["embedding_dim"])
    )
    body = largest_model(space, fixed, data["model"].family, (dense + columns * dim,),
                         info.task, info.n_classes)  # fmt: skip
    return body + rows * dim


def _check_names(data: dict[str, Any], info: DatasetInfo, add: Add) -> None:
    space, fixed, family = data["search_space"], data["fixed"], data["model"].family
    for name in sorted(set(space) & set(fixed)):
        add(f"fixed.{name}", "Already in search_space: search it or fix it, not both.")
    if family == SYNTHETIC:
        return
    hps = spec_vocabulary(data)
    for section, names in (("search_space", space), ("fixed", fixed)):
        for name in sorted(names):
            hp = hps.get(name)
            layers = data["model"].layers
            if hp is None and layers is not None and name in uses(layers):
                continue  # a slot with a problem of its own, reported at its layer
            if hp is None:  # a declared model's: neither a training knob nor one of its slots
                own = sorted(n for n, hp in hps.items() if hp.group in OWN and not hp.fallback)
                what = "a declared model" if layers is not None else "this family"
                lead = (
                    f"Shapes a built-in family's model; {what} takes its own: "
                    if name in HYPERPARAMETERS
                    else f"Not a training hyperparameter or one of {what}'s, which are: "
                )
                add(f"{section}.{name}", f"{lead}{', '.join(own) or 'none'}.")
            elif not hp.applies_to(family, info.task, info.tabular):
                where = f"the {'/'.join(hp.families)} families" if hp.families else ""
                where = where or (f"{'/'.join(hp.tasks)} tasks" if hp.tasks else "")
                where = where or "tables with string, boolean or empty cells"
                add(f"{section}.{name}", f"Only for {where}.")
            elif hp.when is not None and not _can_be_active(name, data):
                add(f"{section}.{name}", f"Never active: it needs {hp.when.describe()}.")


def _can_be_active(name: str, data: dict[str, Any]) -> bool:
    """Whether some configuration of the space makes ``name`` active."""
    hp = spec_vocabulary(data)[name]
    if hp.when is None:
        return True
    parent = hp.when.parent
    dim = data["search_space"].get(parent)
    if dim is None:
        values: list[Any] = [
            resolved_fixed(data).get(parent, defaults(data["model"].family).get(parent))
        ]
    elif dim.type == DimensionType.CATEGORICAL:
        values = list(dim.choices or ())
    else:
        values = [dim.high]
    return any(hp.when.holds(v) for v in values) and _can_be_active(parent, data)


def _check_training(data: dict[str, Any], info: DatasetInfo, add: Add) -> None:
    task = info.task
    training = data["training"]
    objective = training.get("objective", {})
    allowed = OBJECTIVES[task]
    metric = objective.get("metric")
    if metric is not None and metric not in allowed:
        add("training.objective.metric", f"For {task} use one of {sorted(allowed)}.")
    elif metric is not None and objective.get("direction") not in (None, allowed[metric]):
        add("training.objective.direction", f"{metric} must be {allowed[metric]}imized.")
    check_objectives(data, task, add)
    stopping = training.get("early_stopping", EarlyStoppingSpec())
    if stopping.monitor not in monitorable(task):
        add(
            "training.early_stopping.monitor", f"For {task} use one of {sorted(monitorable(task))}."
        )
    validation = training.get("validation", ValidationSpec())
    if validation.method == ValidationMethod.DATASET and not info.has_validation:
        add("training.validation.method", f"Dataset '{info.name}' has no validation part.")
    if (
        validation.method == ValidationMethod.KFOLD
        and info.min_class_count is not None
        and validation.folds > info.min_class_count
    ):
        add(
            "training.validation.folds",
            f"The rarest class has {info.min_class_count} training samples; use at most that "
            "many folds.",
        )
    search: SearchSpec = data["search"]
    rarest = info.min_class_count
    if search.finalists >= 2 and rarest is not None and search.finalist_folds > rarest:
        add(
            "search.finalist_folds",
            f"The rarest class has {rarest} training samples; use at most that many folds.",
        )
    if search.stops_early:
        path, what = "search.pruning", "Pruning"
        if search.pruning is None:
            path, what = "search.strategy", "Hyperband"
        if validation.method == ValidationMethod.KFOLD:
            add(path, f"{what} compares per-epoch curves; use holdout validation.")
        first = (training.get("objectives") or [{}])[0].get("metric")
        if (metric or first or next(iter(allowed))) not in monitorable(task):
            add(
                path,
                f"{what} needs an objective measured every epoch: {sorted(monitorable(task))}.",
            )
    epochs = data["training"].get("max_epochs", 30)
    if search.hyperband_brackets and (problem := too_short(epochs, search.hyperband)):
        default = search.hyperband == HyperbandSpec()  # then the epochs are what to change
        add("training.max_epochs" if default else "search.hyperband.min_epochs", problem)


def _check_search(data: dict[str, Any], add: Add) -> None:
    search: SearchSpec = data["search"]
    space = data["search_space"]
    if search.strategy == Strategy.LR_RANGE_TEST:
        if space:
            add("search_space", "The range test trains the fixed configuration: leave it empty.")
        if "learning_rate" in data["fixed"]:
            add("fixed.learning_rate", "The range test sweeps the learning rate itself.")
        return
    if not space:
        add("search_space", "Search at least one hyperparameter.")
    if search.initial_points is not None and search.initial_points > search.max_trials:
        add("search.initial_points", "Must not exceed max_trials.")
    if search.strategy == Strategy.GRID and space:
        size = grid_size(space, search.grid_steps)
        if size <= MAX_GRID_POINTS:
            task = data["dataset"].info.task
            size = distinct_grid_size(
                space, search.grid_steps, resolved_fixed(data), data["model"].family, task,
                data["model"].layers,
            )  # fmt: skip
        if size > MAX_GRID_POINTS:
            add("search_space", f"The grid has {size:,} points; at most {MAX_GRID_POINTS:,}.")
        elif size > search.max_trials and not search.grid_sample:
            add(
                "search.max_trials",
                f"The grid has {size} points; raise max_trials to {size}, use fewer steps, "
                "or set grid_sample to try a random subset.",
            )


def _check_limits(data: dict[str, Any], limits: SpecLimits, add: Add) -> None:
    search, training = data["search"], data["training"]
    if "callback_url" in data:
        problem = callback_problem(data["callback_url"], limits)
        if problem:
            add("callback_url", problem)
    if data["model"].family == SYNTHETIC and not limits.allow_synthetic:
        add("model.family", "The synthetic family is disabled on this server.")
    if search.max_trials > limits.max_trials:
        add("search.max_trials", f"Must be at most {limits.max_trials}.")
    if search.parallelism > limits.max_parallelism:
        add("search.parallelism", f"Must be at most {limits.max_parallelism}.")
    if len(data["search_space"]) > limits.max_dimensions:
        add("search_space", f"Search at most {limits.max_dimensions} hyperparameters at once.")
    if training.get("max_epochs", 30) > limits.max_epochs:
        add("training.max_epochs", f"Must be at most {limits.max_epochs}.")
    for name in ("time_limit_s", "hard_time_limit_s"):
        if training.get(name, 0) > limits.max_trial_time_s:
            add(f"training.{name}", f"Must be at most {limits.max_trial_time_s:g}.")
    if (search.max_duration_s or 0) > limits.max_duration_s:
        add("search.max_duration_s", f"Must be at most {limits.max_duration_s:g}.")
    validation = training.get("validation", ValidationSpec())
    folds = validation.folds if validation.method == ValidationMethod.KFOLD else 1
    most = search.max_trials * training.get("max_epochs", 30) * folds
    if limits.trial_epochs_per_day and most > limits.trial_epochs_per_day:
        add(
            "search.max_trials",
            f"This search may train up to {most:,} trial-epochs (max_trials x max_epochs x "
            f"folds); a tenant may use {limits.trial_epochs_per_day:,} a day. Ask for fewer "
            "trials or epochs.",
        )
