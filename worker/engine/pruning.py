"""Stopping hopeless trials early, from the learning curves of the others.

Values are the objective per epoch, turned so that higher is better. A trial is compared at
epoch ``e`` on its best value up to ``e``, against the other trials' best values up to ``e``.

- ``median``: from ``min_epochs`` on, prune when worse than the median of the others that
  reached ``e`` (the median stopping rule of Google Vizier).
- ``asha``: at the rungs ``min_epochs * reduction_factor**k``, prune unless among the top
  ``1 / reduction_factor`` of every trial that reached that rung (asynchronous successive
  halving, as in Li et al. 2018).
- Hyperband's brackets (``strategy: hyperband`` or ``bohb``): the same rule at the rungs of the
  trial's bracket, against the trials of that bracket only (``service.core.spec.brackets``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from service.core.spec import JobSpec, PruningSpec
from service.core.spec.brackets import bracket_of, brackets


def best_so_far(curve: Sequence[float], epoch: int) -> float:
    return max(curve[:epoch])


def outside_top(mine: float, peers: Sequence[float], reduction_factor: int) -> bool:
    """Whether ``mine`` is not among the best ``1 / reduction_factor`` of itself and its
    peers (the first at a rung always is: ASHA never waits for a rung to fill)."""
    ranked = sorted([*peers, mine], reverse=True)
    keep = max(1, len(ranked) // reduction_factor)
    return mine < ranked[keep - 1]


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

    def peer(self, number: int) -> bool:
        """Whether trial ``number`` is compared with: every trial of the job is."""
        return True

    def should_prune(
        self, epoch: int, own: Sequence[float], others: Sequence[Sequence[float]]
    ) -> bool:
        if not self.checks_at(epoch) or len(own) < epoch:
            return False
        mine = best_so_far(own, epoch)
        peers = [best_so_far(curve, epoch) for curve in others if len(curve) >= epoch]
        if self.spec.rule == "median":
            return bool(peers) and mine < statistics.median(peers)
        return outside_top(mine, peers, self.spec.reduction_factor)


class BracketPruner(Pruner):
    """Successive halving within trial ``number``'s Hyperband bracket."""

    def __init__(self, spec: JobSpec, number: int) -> None:
        hyperband, max_epochs = spec.search.hyperband, spec.training.max_epochs
        super().__init__(
            PruningSpec("asha", hyperband.min_epochs, hyperband.reduction_factor), max_epochs
        )
        self.layout = brackets(max_epochs, hyperband)
        self.bracket = bracket_of(number, self.layout)

    def checks_at(self, epoch: int) -> bool:
        return epoch in self.bracket.rungs

    def peer(self, number: int) -> bool:
        return bracket_of(number, self.layout) == self.bracket


def pruner_for(spec: JobSpec, number: int) -> Pruner | None:
    """The rule that may stop trial ``number`` of the job early (None: nothing does)."""
    if spec.search.hyperband_brackets:
        return BracketPruner(spec, number)
    if spec.search.pruning is not None:
        return Pruner(spec.search.pruning, spec.training.max_epochs)
    return None
