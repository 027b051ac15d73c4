"""Test signals: speech-like audio whose numbers are reproducible from a seed."""

from __future__ import annotations

import numpy as np


def speech_like_wave(n_samples: int, seed: int = 0) -> np.ndarray:
    """A few harmonics (140-2300 Hz) with seeded phases plus noise, amplitude ~0.3, 16 kHz float32.

    Parameters
    ----------
    n_samples : int
    seed : int

    Returns
    -------
    numpy.ndarray
        Shape (n_samples,), float32.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / 16000
    tone = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (140, 280, 910, 2300))
    return (0.08 * tone + 0.02 * rng.standard_normal(n_samples) + 0.01).astype(np.float32)
