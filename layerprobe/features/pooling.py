"""Pooling frames: segments to one row each, and conv layers onto a coarser grid.

Both are averages over runs of frames, computed from a float64 running sum so that one pass over an
utterance pools any number of segments (a word-span utterance has tens of them).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from layerprobe.errors import AlignmentError, AudioError
from layerprobe.features.frames import segment_frames


def _running_sum(features: np.ndarray) -> np.ndarray:
    """Row-wise cumulative sum with a zero row in front, float64: ``sums[j] - sums[i]`` = rows i..j-1."""
    sums = np.zeros((features.shape[0] + 1, features.shape[1]), dtype=np.float64)
    np.cumsum(features, axis=0, dtype=np.float64, out=sums[1:])
    return sums


def segment_ranges(
    segments: Sequence[tuple[float, float]], n_frames: int, *, frame_rate_hz: float, middle_third: bool = False
) -> np.ndarray:
    """Frame ranges ``[first, end)`` of segments, shape (n_segments, 2), int64 (see :func:`segment_frames`).

    Raises
    ------
    AlignmentError
        When a segment lies outside the audio; the message says which one.
    """
    ranges = np.empty((len(segments), 2), dtype=np.int64)
    for i, (start, end) in enumerate(segments):
        try:
            ranges[i] = segment_frames(start, end, n_frames, middle_third=middle_third, frame_rate_hz=frame_rate_hz)
        except AlignmentError as exc:
            raise AlignmentError(f"segment {i + 1}: {exc.problem}") from None
    return ranges


def pool_segments(
    features: np.ndarray,
    segments: Sequence[tuple[float, float]],
    *,
    frame_rate_hz: float,
    middle_third: bool = False,
) -> np.ndarray:
    """Mean of each segment's frames.

    Parameters
    ----------
    features : numpy.ndarray, shape (n_frames, dim)
        One utterance's frames on a grid of ``frame_rate_hz``.
    segments : sequence of (start_s, end_s)
    frame_rate_hz : float, keyword-only
    middle_third : bool, keyword-only
        Keep each segment's middle third (phones).

    Returns
    -------
    numpy.ndarray, shape (n_segments, dim), float32
    """
    ranges = segment_ranges(segments, features.shape[0], frame_rate_hz=frame_rate_hz, middle_third=middle_third)
    if len(ranges) == 0:
        return np.zeros((0, features.shape[1]), dtype=np.float32)
    sums = _running_sum(features)
    counts = (ranges[:, 1] - ranges[:, 0])[:, None]
    return ((sums[ranges[:, 1]] - sums[ranges[:, 0]]) / counts).astype(np.float32)


def average_pool(features: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Average pooling along frames (no padding): row ``i`` is the mean of rows ``[i*stride, i*stride+kernel)``.

    Parameters
    ----------
    features : numpy.ndarray, shape (n_frames, dim)
    kernel, stride : int

    Returns
    -------
    numpy.ndarray, shape ((n_frames - kernel) // stride + 1, dim), float32

    Raises
    ------
    AudioError
        When there are fewer frames than the kernel (the audio is too short for this layer).
    """
    if kernel < 1 or stride < 1:
        raise ValueError(f"kernel and stride must be positive, got {kernel}, {stride}")
    n_out = (features.shape[0] - kernel) // stride + 1
    if n_out < 1:
        raise AudioError(f"too short: {features.shape[0]} frames, fewer than the pooling kernel of {kernel}")
    starts = np.arange(n_out) * stride
    sums = _running_sum(features)
    return ((sums[starts + kernel] - sums[starts]) / kernel).astype(np.float32)


__all__ = ["segment_ranges", "pool_segments", "average_pool"]
