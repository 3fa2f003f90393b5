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
    image_shape: tuple[int, ...] | None = None
    has_validation: bool = False  # a validation part of its own (validation method "dataset")
    min_class_count: int | None = None  # the rarest class's training samples (bounds k-fold)
    # a table read column by column: the exported model's input columns (name, dtype), in order;
    # ``n_features`` is then the widest encoded row
    inputs: tuple[tuple[str, str], ...] = ()
    class_names: tuple[str, ...] | None = None
    # with ``categorical_encoding: embedding``: the encoded width less the categorical columns,
    # how many there are, and their embeddings' rows together (what the size check counts)
    embedding: tuple[int, int, int] = (0, 0, 0)

    @property
    def tabular(self) -> bool:
        return bool(self.inputs)

    def output_names(self) -> tuple[str, ...] | None:
        """The classes in the order of the model's outputs (their labels as text); None for
        regression."""
        if self.class_names is not None or not self.n_classes:
            return self.class_names
        return tuple(str(c) for c in range(self.n_classes))

    def model_input(self) -> dict[str, object]:
        """What a model tuned on the dataset takes (the exported one): a dict of columns (name
        to dtype) for a table read column by column, else an array of features per sample."""
        if self.tabular:
            return {"type": "columns", "columns": dict(self.inputs)}
        return {"type": "array", "sample_shape": [self.n_features]}


BUILTIN_DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("digits", CLASSIFICATION, 64, 10, 1797, image_shape=(8, 8, 1)),
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

# The metrics each trial reports, by task, with their natural direction. Every one is measured on
# the training part, the validation part (``val_``) and, after the refit, the test set (``test_``);
# a job may optimise any validation one. Precision, recall and F1 are macro averages; AUC is
# one-vs-rest macro for more than two classes; balanced accuracy is the mean recall over the
# classes present (for imbalanced classes).
METRICS: dict[str, dict[str, str]] = {
    CLASSIFICATION: {
        "accuracy": "max",
        "loss": "min",
        "auc": "max",
        "precision": "max",
        "recall": "max",
        "f1": "max",
        "balanced_accuracy": "max",
    },
    REGRESSION: {"loss": "min", "mse": "min", "mae": "min", "rmse": "min", "r2": "max"},
}

OBJECTIVES: dict[str, dict[str, str]] = {
    task: {f"val_{name}": direction for name, direction in metrics.items()}
    for task, metrics in METRICS.items()
}

# What a trained model costs, measured after each trial (``worker.engine.cost``): objectives
# beside a validation metric, never the first (nothing measures them per epoch).
COST_METRICS: dict[str, str] = {"param_count": "min", "inference_ms": "min"}

# What Keras itself tracks per epoch, so early stopping and pruning can watch it.
_PER_EPOCH = {CLASSIFICATION: ("loss", "accuracy"), REGRESSION: ("loss", "mse", "mae")}


def monitorable(task: str) -> tuple[str, ...]:
    """Metric names that early stopping may monitor for a task (validation and training)."""
    names = _PER_EPOCH[task]
    return tuple(f"val_{name}" for name in names) + names
