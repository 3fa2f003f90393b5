"""A table as users have it, for the tests: string and boolean columns, empty cells, an id column
and named classes, with labels that depend on the numeric and the string columns alike."""

from __future__ import annotations

import numpy as np

CITIES = ("rome", "paris", "oslo", "lima")


def messy_csv(rows: int = 240, seed: int = 0, blank: float = 0.1) -> bytes:
    """A CSV whose label (``grade``: ``low``/``mid``/``high``) a model can learn only by reading
    ``income`` (numeric, some empty), ``city`` (strings, some empty), ``member`` (yes/no) and
    ``rooms`` (integer codes); ``verified`` (true/false) and ``note`` add little; ``row_id``
    numbers the rows."""
    rng = np.random.default_rng(seed)
    lines = ["row_id,income,city,member,verified,rooms,note,grade"]
    for i in range(rows):
        income = rng.normal(50, 15)
        city = CITIES[rng.integers(len(CITIES))]
        member = bool(rng.random() < 0.5)
        rooms = int(rng.integers(1, 5))
        score = (income - 50) / 15 + (1.2 if city in ("oslo", "lima") else -0.6)
        score += 1.0 if member else 0.0
        score += 0.3 * rooms + rng.normal(0, 0.3)
        grade = "low" if score < 0.4 else ("mid" if score < 1.6 else "high")
        cells = [
            str(i),
            f"{income:.2f}",
            city,
            "yes" if member else "no",
            "true" if rng.random() < 0.5 else "false",
            str(rooms),
            f"seen in {city} on a weekday afternoon",
        ]
        for j in (1, 2, 4, 5):  # income, city, verified, rooms: some cells empty
            if rng.random() < blank:
                cells[j] = ""
        lines.append(",".join([*cells, grade]))
    return ("\n".join(lines) + "\n").encode()
