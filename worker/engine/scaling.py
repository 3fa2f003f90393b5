"""Feature standardization that fits the model family.

A table's columns measure different things, so an MLP gets each column its own shift and
scale. A sequence's positions or an image's pixels measure the same thing at different places:
a convolution relies on that, applying one kernel everywhere, so conv families get one shift and
scale per channel, shared by every position. Per-position scaling there would give a pattern a
different look at each place it appears, and a shifted input would no longer give a shifted
activation map.

Either way the scaler ends as per-feature ``mean_`` and ``scale_`` vectors (the per-channel
values repeated over the positions), which is what the exported model's ``Normalization``
layer takes, so the shipped model takes raw features as uploaded.
"""

from __future__ import annotations

import numpy as np

CONV_FAMILIES = ("conv1d", "conv2d")


class FeatureScaler:
    """``(x - mean_) / scale_`` with statistics per column, or per channel (``channels``)."""

    def __init__(self, channels: int | None = None, tokens: bool = False) -> None:
        self.channels, self.tokens = channels, tokens
        self.mean_: np.ndarray = np.zeros(0)
        self.scale_: np.ndarray = np.ones(0)

    @classmethod
    def for_family(
        cls, family: str, sample_shape: tuple[int, ...], tokens: bool = False
    ) -> FeatureScaler:
        """Per channel (the last axis of a sample) for conv families and declared models that
        take images or sequences, per column otherwise; none at all for ``tokens`` (a declared
        model whose ``Embedding`` reads the input: scaling would change which token it is)."""
        shaped = family in ("declared", "plugin") and len(sample_shape) > 1
        grid = family in CONV_FAMILIES or shaped
        return cls(int(sample_shape[-1]) if grid else None, tokens)

    def fit(self, x: np.ndarray) -> FeatureScaler:
        x = np.asarray(x, dtype=np.float64)
        if self.tokens:
            if not np.all((x >= 0) & (x == np.floor(x))):
                raise ValueError(
                    "an Embedding reads the input: its features must be token ids (whole "
                    "numbers from 0)"
                )
            self.mean_, self.scale_ = np.zeros(x.shape[1]), np.ones(x.shape[1])
            return self
        if self.channels is None:
            mean, std = x.mean(axis=0), x.std(axis=0)
        else:
            if x.shape[1] % self.channels:
                raise ValueError(f"{x.shape[1]} features do not split into {self.channels}")
            grid = x.reshape(len(x), -1, self.channels)  # samples, positions, channels
            positions = grid.shape[1]
            mean = np.tile(grid.mean(axis=(0, 1)), positions)
            std = np.tile(grid.std(axis=(0, 1)), positions)
        self.mean_, self.scale_ = mean, np.where(std == 0, 1.0, std)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean_) / self.scale_

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)
