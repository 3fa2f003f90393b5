"""A second look before the refit: the best few trials scored again by k-fold cross-validation.

Picking the best of 40 trials on one hold-out of a few hundred rows picks noise as much as
quality: on digits the search's best read 0.986 on its 288 validation images and 0.961 on test.
Peers refit that winner as it is. Here the best ``search.finalists`` distinct configurations
are trained again by ``search.finalist_folds``-fold cross-validation on the whole training part
(the hold-out rows included) and the refit takes the best mean: each finalist is then judged on
every training row, not on the one split that flattered it. ``bench/selection.py`` measures it.

A job searched by k-fold already averages over splits, and one validated on the dataset's own
validation part was told which rows to judge by; a synthetic job trains nothing; a range test
has one trial: none of them gets a second look. Nor does a job cancelled with its best to ship,
or out of time: it wants its model now. The second look renews the finalization lease before
each training, so that no second finalizer joins a live one, and stops when the lease is lost.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from service.core.records import TrialRecord, TrialState
from service.core.spec import SYNTHETIC, JobSpec, Strategy, ValidationSpec
from service.core.spec.types import Direction, ValidationMethod

if TYPE_CHECKING:  # the loader brings scikit-learn; it is imported when a second look runs
    from worker.engine.dataset_loader import Dataset, Fetch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finalist:
    """One finalist: its trial, the value the search saw, and the cross-validated one (None
    when the re-scoring diverged or failed) with its spread over the folds."""

    trial: int
    search_value: float
    rescored_value: float | None
    rescored_std: float | None = None
    chosen: bool = False
    error: str | None = None  # why it could not be scored again

    def view(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def candidates(spec: JobSpec, trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The best ``spec.search.finalists`` completed trials with distinct configurations, best
    first; none when the job gets no second look or fewer than two qualify. Pruned trials are
    left out: their value is a partial run's."""
    search = spec.search
    if (
        search.finalists < 2
        or spec.training.validation.method != ValidationMethod.HOLDOUT
        or spec.model.family == SYNTHETIC
        or search.strategy == Strategy.LR_RANGE_TEST
    ):
        return []
    done = [
        t
        for t in trials
        if t.state == TrialState.COMPLETED and t.value is not None and math.isfinite(t.value)
    ]
    sign = _sign(spec)
    chosen: list[TrialRecord] = []
    seen: set[str] = set()
    for trial in sorted(done, key=lambda t: (sign * float(t.value or 0.0), t.number)):
        key = json.dumps(dict(trial.params), sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            chosen.append(trial)
        if len(chosen) == search.finalists:
            break
    return chosen if len(chosen) >= 2 else []


def cross_validated(spec: JobSpec) -> JobSpec:
    """The job's spec with its validation replaced by the finalists' k-fold."""
    folds = ValidationSpec(method=ValidationMethod.KFOLD, folds=spec.search.finalist_folds)
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, validation=folds))


def rescore(
    spec: JobSpec,
    finalists: Sequence[TrialRecord],
    dataset: Dataset,
    keep_going: Callable[[], bool] = lambda: True,
) -> list[Finalist] | None:
    """Each finalist trained again on ``finalist_folds`` folds of the training part, with the
    seed its trial had; the best mean is ``chosen`` (the search's order breaks ties, and when
    none could be scored again the search's best stays). None as soon as ``keep_going`` (asked
    before each finalist) says to stop."""
    from worker.engine.training import fit_trial

    kfold = cross_validated(spec)
    metric = spec.training.objective.metric
    scored: list[Finalist] = []
    for trial in finalists:
        if not keep_going():
            return None
        try:
            result = fit_trial(
                kfold,
                spec.configuration(trial.params),
                dataset,
                seed=spec.search.seed * 100_003 + trial.number,
            )
        except Exception as exc:  # this finalist is out; the others still count
            log.exception("finalist %s of %s could not be scored again", trial.number, spec.name)
            error = f"{type(exc).__name__}: {exc}"[:500]
            scored.append(Finalist(trial.number, float(trial.value or 0.0), None, error=error))
            continue
        value = result.metrics.get(metric)
        usable = not result.diverged and value is not None and math.isfinite(value)
        spread = result.metrics.get(f"{metric}_std")
        scored.append(
            Finalist(
                trial.number,
                float(trial.value or 0.0),
                float(value) if usable and value is not None else None,
                float(spread) if usable and spread is not None else None,
            )
        )
    return mark_chosen(spec, scored)


def mark_chosen(spec: JobSpec, scored: Sequence[Finalist]) -> list[Finalist]:
    """The finalists with the best re-scored value marked ``chosen``."""
    sign = _sign(spec)
    usable = [(i, f) for i, f in enumerate(scored) if f.rescored_value is not None]
    best = (
        min(usable, key=lambda p: (sign * float(p[1].rescored_value or 0.0), p[0]))[0]
        if (usable)
        else 0
    )
    return [dataclasses.replace(f, chosen=i == best) for i, f in enumerate(scored)]


def second_look(
    spec: JobSpec,
    trials: Sequence[TrialRecord],
    best: TrialRecord,
    fetch: Fetch,
    keep_going: Callable[[], bool] = lambda: True,
) -> tuple[TrialRecord, list[Finalist]] | None:
    """The trial the refit takes (the search's ``best`` when there is no second look) and the
    finalists as scored; None when ``keep_going`` said to stop (the finalization lease was
    lost: another finalizer, or a reopened job, owns what comes next). A dataset that fails to
    load keeps the search's best: the job still ships, as without the second look."""
    chosen = candidates(spec, trials)
    if not chosen:
        return best, []
    from worker.engine.dataset_loader import load_dataset
    from worker.engine.heap import freeze_startup_heap

    freeze_startup_heap()
    try:
        dataset = load_dataset(spec.dataset, fetch)
    except Exception:
        log.exception("finalists of %s not scored again; the search's best stands", spec.name)
        return best, []
    scored = rescore(spec, chosen, dataset, keep_going)
    if scored is None:
        return None
    winner = next(f.trial for f in scored if f.chosen)
    return next(t for t in chosen if t.number == winner), scored


def _sign(spec: JobSpec) -> float:
    """-1 where the objective is maximised: sorting by ``sign * value`` puts the best first."""
    return -1.0 if spec.training.objective.direction == Direction.MAX else 1.0
