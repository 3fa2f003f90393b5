"""The job spec: typed data (``types``), the schemas that load it from a client's JSON
(``schema``, with ``dimensions`` and ``fields``), the rules across fields (``rules``), the grid
and model-size arithmetic the rules need (``grid``, ``capacity``), and the stored form
(``codec``).

The modules depend on one another in that order and never in a circle: ``types`` imports
nothing from this package; ``grid`` and ``capacity`` build on ``types``; ``rules`` on those;
``schema`` on all of them. This file re-exports what callers use.
"""

from service.core.spec.codec import spec_from_dict, spec_to_dict
from service.core.spec.schema import DatasetLookup, JobSpecSchema, flatten_errors, load_spec
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
    SpecLimits,
    Strategy,
    Surrogate,
    TrainingSpec,
    ValidationMethod,
    ValidationSpec,
)

__all__ = [
    "SYNTHETIC",
    "Acquisition",
    "DatasetLookup",
    "DatasetRef",
    "Dimension",
    "DimensionType",
    "Direction",
    "EarlyStoppingSpec",
    "HyperbandSpec",
    "InitialPointGenerator",
    "JobSpec",
    "JobSpecSchema",
    "LrRangeSpec",
    "ModelFamily",
    "ModelSpec",
    "ObjectiveSpec",
    "PruningRule",
    "PruningSpec",
    "SearchSpec",
    "SpecLimits",
    "Strategy",
    "Surrogate",
    "TrainingSpec",
    "ValidationMethod",
    "ValidationSpec",
    "flatten_errors",
    "load_spec",
    "spec_from_dict",
    "spec_to_dict",
]
