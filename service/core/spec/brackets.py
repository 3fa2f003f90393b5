"""Hyperband's brackets over epochs, as plain arithmetic the API and the workers share.

Hyperband (Li et al., JMLR 2018) hedges over how early a configuration can be judged: with
``R`` = ``max_epochs`` and ``eta`` = ``reduction_factor`` it runs ``s_max + 1`` brackets of
successive halving, where ``s_max`` is the largest ``s`` with ``min_epochs * eta**s <= R``.
Bracket ``s`` starts ``n_s = ceil((s_max + 1) / (s + 1) * eta**s)`` configurations and judges
them at the rungs ``R / eta**k`` epochs (``k = s .. 1``), keeping the best ``1 / eta`` at each;
bracket 0 trains its ``s_max + 1`` configurations for all ``R`` epochs (less where early
stopping ends them), as plain random search would. One *round* is every bracket's trials.

Our trials are independent tasks on any worker, so the brackets run asynchronously, as in Li et
al.'s ASHA paper (MLSys 2020): trial ``n`` belongs to the bracket at its position in the round,
and at each of its bracket's rungs it goes on only while among the best ``1 / eta`` of the
trials of its bracket that have reached that rung so far (``worker.engine.pruning``). Nothing
waits for a rung to fill, which keeps every worker busy and makes a killed or redelivered trial
an ordinary one: where a trial belongs follows from its number alone. The brackets are
interleaved in the round in proportion to their sizes (a smooth weighted round-robin), so a
budget shorter than a round (49 trials for ``R`` = 30) still hedges over every bracket instead
of running the most aggressive one alone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from service.core.spec.types import HyperbandSpec


@dataclass(frozen=True)
class Bracket:
    """One bracket: ``index`` (``s``, how many times it halves), ``size`` (``n_s``, its
    trials in a round) and ``rungs`` (the epochs where it judges, ascending)."""

    index: int
    size: int
    rungs: tuple[int, ...]


def brackets(max_epochs: int, spec: HyperbandSpec) -> tuple[Bracket, ...]:
    """The brackets of one round, the most aggressive first (empty when ``max_epochs`` is
    below ``min_epochs * reduction_factor``: there is nothing to halve)."""
    eta = spec.reduction_factor
    s_max = -1
    while spec.min_epochs * eta ** (s_max + 1) <= max_epochs:
        s_max += 1
    if s_max < 1:
        return ()
    out = []
    for s in range(s_max, -1, -1):
        size = -(-(s_max + 1) * eta**s // (s + 1))  # the ceiling, in integers
        rungs = {round(max_epochs / eta**k) for k in range(1, s + 1)}  # each >= min_epochs
        out.append(Bracket(s, size, tuple(sorted(r for r in rungs if r < max_epochs))))
    return tuple(out)


@functools.cache
def _round(layout: tuple[Bracket, ...]) -> tuple[Bracket, ...]:
    """The brackets at each position of a round: bracket ``b``'s ``k``-th trial at
    ``(k + 0.5) / b.size`` of the way through, the more aggressive first on a tie."""
    slots = [((k + 0.5) / b.size, -b.index, b) for b in layout for k in range(b.size)]
    return tuple(b for _, _, b in sorted(slots, key=lambda slot: slot[:2]))


def bracket_of(number: int, layout: tuple[Bracket, ...]) -> Bracket:
    """The bracket of trial ``number``: its position in its round."""
    order = _round(layout)
    return order[number % len(order)]


def budgets(max_epochs: int, layout: tuple[Bracket, ...]) -> tuple[int, ...]:
    """Every epoch count a trial can be judged at (the rungs of all brackets, then
    ``max_epochs``), ascending: the budgets BOHB's surrogate may be fitted at."""
    return tuple(sorted({r for b in layout for r in b.rungs} | {max_epochs}))


def too_short(max_epochs: int, spec: HyperbandSpec) -> str | None:
    """Why ``max_epochs`` leaves Hyperband nothing to halve (None: it does not)."""
    if brackets(max_epochs, spec):
        return None
    least = spec.min_epochs * spec.reduction_factor
    return (
        f"Hyperband judges trials at min_epochs and stops all but 1 / reduction_factor of them: "
        f"max_epochs must be at least min_epochs x reduction_factor ({least})."
    )
