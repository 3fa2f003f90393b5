from __future__ import annotations

from service.core.spec import PruningSpec
from worker.engine.pruning import Pruner

GOOD = [0.5, 0.7, 0.8, 0.85, 0.9, 0.92, 0.93, 0.94, 0.95, 0.95]
OK = [0.4, 0.6, 0.7, 0.75, 0.8, 0.82, 0.83, 0.84, 0.85, 0.85]
BAD = [0.1, 0.1, 0.12, 0.12, 0.13, 0.13, 0.14, 0.14, 0.15, 0.15]


def test_median_rule_waits_for_min_epochs_then_prunes_the_worse_half() -> None:
    pruner = Pruner(PruningSpec("median", min_epochs=3), max_epochs=10)
    assert not pruner.should_prune(2, BAD[:2], [GOOD, OK])  # too early
    assert pruner.should_prune(3, BAD[:3], [GOOD, OK])
    assert not pruner.should_prune(3, GOOD[:3], [OK, BAD])
    assert not pruner.should_prune(3, BAD[:3], [])  # nobody to compare with
    assert not pruner.should_prune(10, BAD, [GOOD, OK])  # the last epoch: nothing to save


def test_median_rule_uses_the_best_value_so_far() -> None:
    dipped = [*GOOD[:4], 0.1]  # one bad epoch after good ones
    assert not Pruner(PruningSpec("median", min_epochs=1), 10).should_prune(5, dipped, [OK])


def test_asha_checks_only_at_rungs_and_keeps_the_top_fraction() -> None:
    pruner = Pruner(PruningSpec("asha", min_epochs=1, reduction_factor=3), max_epochs=10)
    assert [e for e in range(1, 11) if pruner.checks_at(e)] == [1, 3, 9]
    others = [GOOD, OK, [0.3] * 10, [0.2] * 10, [0.25] * 10]
    assert pruner.should_prune(3, BAD[:3], others)
    assert not pruner.should_prune(3, GOOD[:3], others)
    assert not pruner.should_prune(2, BAD[:2], others)  # not a rung
    assert not pruner.should_prune(3, BAD[:3], [])  # alone at its rung: kept
