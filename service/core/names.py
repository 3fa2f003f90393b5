"""The closest known name to a misspelt one, shared by the API's 422s and the CLI's gate checks.

Standard library only, so the light client install can use it. difflib's ratio alone prefers
``test_auc`` for ``test_acc``; people misspell by abbreviating, so a name whose every
underscore-separated part begins a part of a known name wins first.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def _abbreviates(short: str, full: str) -> bool:
    """Whether each part of ``short`` begins the same part of ``full`` (``test_acc``)."""
    parts, whole = short.split("_"), full.split("_")
    if len(parts) != len(whole):
        return False
    return all(w.startswith(p) for p, w in zip(parts, whole, strict=True))


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` most likely meant, or None when nothing is close."""
    candidates = sorted(set(known))
    abbreviated = [c for c in candidates if c != name and _abbreviates(name, c)]
    if abbreviated:
        return min(abbreviated, key=len)
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return close[0] if close else None
