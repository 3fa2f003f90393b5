"""Generate the example datasets the sequence specs tune on, offline and seeded.

``python -m service.specs.generate sequences sequences.npz``: integer sequences (20 token ids
from 0 to 9, for an ``Embedding``), labelled 1 when the first 7 comes before the first 3: an
order a bag of tokens cannot see, so a recurrent model has something to learn.

``python -m service.specs.generate sine sine.npz``: windows of 24 steps of a noisy sine wave
with a drifting period, and the value that follows each (regression: a forecaster).

Both write ``x_train``, ``y_train``, ``x_test`` and ``y_test`` for ``tuneq submit --dataset``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

STEPS, TOKENS, WINDOW = 20, 10, 24


def sequences(n: int = 2500, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, TOKENS, size=(n, STEPS))
    for row in tokens:  # both marks appear, at random places
        a, b = rng.choice(STEPS, size=2, replace=False)
        row[row == 7] = rng.choice([0, 1, 2, 4, 5, 6, 8, 9], size=int((row == 7).sum()))
        row[row == 3] = rng.choice([0, 1, 2, 4, 5, 6, 8, 9], size=int((row == 3).sum()))
        row[a], row[b] = 7, 3
    labels = (np.argmax(tokens == 7, axis=1) < np.argmax(tokens == 3, axis=1)).astype(np.int64)
    return _split(tokens.astype(np.float32), labels, n // 5)


def sine(n: int = 3000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n + WINDOW, dtype=np.float64)
    period = 40 + 10 * np.sin(t / 700)
    series = np.sin(2 * np.pi * np.cumsum(1 / period)) + rng.normal(0, 0.1, size=t.shape)
    x = np.stack([series[i : i + WINDOW] for i in range(n)]).astype(np.float32)
    y = series[WINDOW : WINDOW + n].astype(np.float32)
    return _split(x, y, n // 5)


def _split(x: np.ndarray, y: np.ndarray, test: int) -> dict[str, np.ndarray]:
    """The last rows are the test part (for the series: the future, never seen in training)."""
    return {"x_train": x[:-test], "y_train": y[:-test], "x_test": x[-test:], "y_test": y[-test:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["sequences", "sine"])
    parser.add_argument("out", type=Path, help="the .npz to write")
    args = parser.parse_args(argv)
    arrays = sequences() if args.kind == "sequences" else sine()
    np.savez_compressed(args.out, **arrays)
    print(f"Wrote {args.out} ({', '.join(f'{k} {v.shape}' for k, v in arrays.items())}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
