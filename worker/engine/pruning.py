"""Stopping hopeless trials early, from the learning curves of the others.

Values are the objective per epoch, turned so that higher is better. A trial is compared at
epoch ``e`` on its best value up to ``e``, against the other trials' best values up to ``e``.

- ``median``: from ``min_epochs`` on, prune when worse than the median of the others that
  reached ``e`` (the median stopping rule of Google Vizier).
- ``asha``: at the rungs ``min_epochs * reduction_factor**k``, prune unless among the top
  ``1 / reduction_factor`` of every trial that reached that rung (asynchronous successive
  halving, as in Li et al. 2018).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from service.core.spec import PruningSpec


def best_so_far(curve: Sequence[float], epoch: int) -> float:
    return max(curve[:epoch])


class Pruner:
    def __init__(self, spec: PruningSpec, max_epochs: int) -> None:
        self.spec = spec
        self.max_epochs = max_epochs

    def checks_at(self, epoch: int) -> bool:
        """Whether ``epoch`` is one where this rule may stop a trial."""
        if epoch < self.spec.min_epochs or epoch >= self.max_epochs:
            return False
        if self.spec.rule == "median":
            return True
        rung = self.spec.min_epochs
        while rung < epoch:
            rung *= self.spec.reduction_factor
        return rung == epoch

    def should_prune(
        self, epoch: int, own: Sequence[float], others: Sequence[Sequence[float]]
    ) -> bool:
        if not self.checks_at(epoch) or len(own) < epoch:
            return False
        mine = best_so_far(own, epoch)
        peers = [best_so_far(curve, epoch) for curve in others if len(curve) >= epoch]
        if self.spec.rule == "median":
            return bool(peers) and mine < statistics.median(peers)
        ranked = sorted([*peers, mine], reverse=True)
        keep = max(1, len(ranked) // self.spec.reduction_factor)
        return mine < ranked[keep - 1]
