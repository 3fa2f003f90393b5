"""The built-in datasets: what the API needs to know about them without loading them.

The worker loads the data (scikit-learn's bundled copies); the API only needs each set's task to
check a spec's objective and output layer.
"""

from __future__ import annotations

from dataclasses import dataclass

CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: str
    n_features: int
    n_classes: int | None
    n_samples: int


BUILTIN_DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("digits", CLASSIFICATION, 64, 10, 1797),
        DatasetInfo("iris", CLASSIFICATION, 4, 3, 150),
        DatasetInfo("wine", CLASSIFICATION, 13, 3, 178),
        DatasetInfo("breast_cancer", CLASSIFICATION, 30, 2, 569),
        DatasetInfo("diabetes", REGRESSION, 10, None, 442),
    )
}

# Fraction of each built-in dataset held out as its test split (fixed seed, stratified for
# classification). Tuning never sees it; only the final refit is scored on it.
TEST_FRACTION = 0.2
TEST_SPLIT_SEED = 20240601

# The validation metrics a job may optimise, by task, with their natural direction.
OBJECTIVES: dict[str, dict[str, str]] = {
    CLASSIFICATION: {"val_accuracy": "max", "val_loss": "min"},
    REGRESSION: {"val_loss": "min", "val_mse": "min", "val_mae": "min"},
}


def monitorable(task: str) -> tuple[str, ...]:
    """Metric names that early stopping may monitor for a task (training and validation)."""
    names = tuple(OBJECTIVES[task])
    return names + tuple(name.removeprefix("val_") for name in names)
