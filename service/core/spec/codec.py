"""The job spec as JSON-ready data and back, without running the schemas again.

``spec_to_dict`` is what a client sees of a job's spec (defaults filled in, absent values left
out) and what the store keeps. ``spec_from_dict`` rebuilds the typed spec from that stored form:
the API validated it once, at submission, so workers and views decode it instead of validating
it again at every step. A test round-trips every kind of spec through both.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from service.core.architecture import parse_graph, parse_layers
from service.core.catalog import BUILTIN_DATASETS, DatasetInfo
from service.core.families import FamilyDefinition
from service.core.jsonable import plain
from service.core.spec.types import (
    SYNTHETIC,
    Acquisition,
    DatasetRef,
    Dimension,
    DimensionType,
    Direction,
    EarlyStoppingSpec,
    HyperbandSpec,
    InitialPointGenerator,
    JobSpec,
    LrRangeSpec,
    ModelFamily,
    ModelSpec,
    ObjectiveSpec,
    PruningRule,
    PruningSpec,
    SearchSpec,
    Strategy,
    Surrogate,
    TrainingSpec,
    ValidationMethod,
    ValidationSpec,
)


def spec_to_dict(spec: JobSpec) -> dict[str, Any]:
    """The spec as JSON-ready data, defaults filled in, absent values left out."""
    data = plain(spec, drop_none=True)
    ref = spec.dataset
    data["dataset"] = {"builtin": ref.builtin} if ref.builtin else {"id": str(ref.id)}
    if spec.model.family != SYNTHETIC:
        data["model"] = {
            k: data["model"][k] for k in ("family", "input_shape") if k in data["model"]
        }
    if spec.model.layers is not None:
        data["model"].update(spec.model.layers.to_json())
    if spec.model.plugin is not None:  # by name, as a client names it
        data["model"] = {"family": spec.model.plugin.name}
    if not spec.search.hyperband_brackets:  # a copied spec must submit again as it is
        del data["search"]["hyperband"]
    if not spec.training.objectives:
        del data["training"]["objectives"]
    return data


def info_to_dict(info: DatasetInfo) -> dict[str, Any]:
    return plain(info)


def info_from_dict(data: Mapping[str, Any]) -> DatasetInfo:
    shape, names = data.get("image_shape"), data.get("class_names")
    return DatasetInfo(
        **{
            **data,
            "image_shape": tuple(shape) if shape else None,
            "inputs": tuple(tuple(pair) for pair in data.get("inputs") or ()),
            "embedding": tuple(data.get("embedding") or (0, 0, 0)),
            "class_names": tuple(names) if names is not None else None,
        }
    )


def spec_from_dict(
    data: Mapping[str, Any],
    info: DatasetInfo | None = None,
    family: FamilyDefinition | None = None,
) -> JobSpec:
    """Rebuild a spec that ``spec_to_dict`` wrote; ``info`` describes an uploaded dataset
    (a built-in one is known by name), ``family`` an operator's family (stored beside it)."""
    dataset = data["dataset"]
    if "builtin" in dataset:
        ref = DatasetRef(builtin=dataset["builtin"], info=BUILTIN_DATASETS[dataset["builtin"]])
    elif info is None:
        raise ValueError(f"dataset {dataset['id']} needs its description")
    else:
        ref = DatasetRef(id=dataset["id"], info=info)
    return JobSpec(
        name=data["name"],
        dataset=ref,
        model=_model(data["model"], family),
        search_space=MappingProxyType(
            {name: _dimension(dim) for name, dim in data["search_space"].items()}
        ),
        fixed=MappingProxyType(dict(data["fixed"])),
        training=_training(data["training"]),
        search=_search(data["search"]),
        callback_url=data.get("callback_url"),
        # specs stored before versioning were submitted under the first defaults
        defaults_version=int(data.get("defaults_version", 1)),
    )


def _tuple(value: Any) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


def _model(data: Mapping[str, Any], family: FamilyDefinition | None) -> ModelSpec:
    if family is not None:
        return ModelSpec(family=ModelFamily.PLUGIN, plugin=family)
    return ModelSpec(
        family=ModelFamily(data["family"]),
        input_shape=_tuple(data.get("input_shape")),
        sleep_s=data.get("sleep_s", 0.0),
        crash_trials=tuple(data.get("crash_trials", ())),
        hang_trials=tuple(data.get("hang_trials", ())),
        # the API checked it at submission; parsing again only rebuilds the typed form
        layers=parse_layers(data["layers"])
        if "layers" in data
        else parse_graph(data["graph"])
        if "graph" in data
        else None,
    )


def _dimension(data: Mapping[str, Any]) -> Dimension:
    return Dimension(
        type=DimensionType(data["type"]),
        low=data.get("low"),
        high=data.get("high"),
        log=data.get("log", False),
        choices=_tuple(data.get("choices")),
        steps=data.get("steps"),
    )


def _training(data: Mapping[str, Any]) -> TrainingSpec:
    objective = data["objective"]
    validation = data["validation"]
    return TrainingSpec(
        objective=ObjectiveSpec(objective["metric"], Direction(objective["direction"])),
        max_epochs=data["max_epochs"],
        early_stopping=EarlyStoppingSpec(**data["early_stopping"]),
        validation=ValidationSpec(
            method=ValidationMethod(validation["method"]),
            split=validation["split"],
            folds=validation["folds"],
            reason=validation.get("reason"),
        ),
        time_limit_s=data.get("time_limit_s"),
        hard_time_limit_s=data.get("hard_time_limit_s"),
        objectives=tuple(
            ObjectiveSpec(o["metric"], Direction(o["direction"]))
            for o in data.get("objectives", ())
        ),
    )


def _search(data: Mapping[str, Any]) -> SearchSpec:
    pruning = data.get("pruning")
    return SearchSpec(
        strategy=Strategy(data["strategy"]),
        max_trials=data["max_trials"],
        parallelism=data["parallelism"],
        seed=data["seed"],
        initial_points=data.get("initial_points"),
        initial_point_generator=InitialPointGenerator(data["initial_point_generator"]),
        surrogate=Surrogate(data["surrogate"]),
        acquisition=Acquisition(data["acquisition"]),
        max_duration_s=data.get("max_duration_s"),
        pruning=None
        if pruning is None
        else PruningSpec(
            rule=PruningRule(pruning["rule"]),
            min_epochs=pruning["min_epochs"],
            reduction_factor=pruning["reduction_factor"],
        ),
        grid_steps=data["grid_steps"],
        grid_sample=data["grid_sample"],
        warm_start=tuple(data.get("warm_start", ())),
        lr_range=LrRangeSpec(**data["lr_range"]),
        hyperband=HyperbandSpec(**data.get("hyperband", {})),
        # a job stored before finalists existed is finalized as it would have been then
        finalists=data.get("finalists", 0),
        finalist_folds=data.get("finalist_folds", 3),
    )
