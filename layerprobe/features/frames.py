"""Time <-> frame conversions and the segment-to-frames rule of the layer-wise analysis papers.

A model frame ``i`` at ``frame_rate_hz`` stands for the time ``i / frame_rate_hz``.  A segment
``[start_s, end_s)`` covers the frames ``[floor(start_s / stride_s), ceil(end_s / stride_s))`` with
``stride_s = 1 / frame_rate_hz``, computed with that division, as the reference code does, so that
boundaries on the frame grid round the same way.  For phones only the middle third is kept
(``o = (end - first + 1) // 3``; ``first += o``; ``end -= o``); an empty range takes one frame; the
end is clipped to the utterance's frame count.

A model's last whole frame ends before the audio does (wav2vec 2.0 needs 400 samples for a frame,
so up to ~25 ms at the end belong to no frame).  A segment that starts in that tail, or whose
middle third falls there, takes the last frame; a segment starting a whole frame or more past the
last frame lies outside the audio and is an error.
"""

from __future__ import annotations

import math

import numpy as np

from layerprobe.errors import AlignmentError

#: The transformer frame rate of every supported model family (stride 320 samples at 16 kHz).
DEFAULT_FRAME_RATE_HZ = 50.0


def time_to_frame(time_s: float, *, frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ) -> int:
    """Index of the frame a time falls in: ``floor(time_s / stride_s)``."""
    return int(math.floor(time_s / (1.0 / frame_rate_hz)))


def frame_to_time(frame: int | np.ndarray, *, frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ) -> float | np.ndarray:
    """Start time in seconds of a frame index (or an array of them)."""
    return frame / frame_rate_hz


def segment_frames(
    start_s: float,
    end_s: float,
    n_frames: int,
    *,
    middle_third: bool = False,
    frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ,
) -> tuple[int, int]:
    """The frames ``[first, end)`` that represent a segment (DESIGN.md, "Frames").

    Parameters
    ----------
    start_s, end_s : float
        The segment in seconds, ``start_s < end_s``.
    n_frames : int
        Frames of the utterance on this grid.
    middle_third : bool, keyword-only
        Keep only the middle third (phones).
    frame_rate_hz : float, keyword-only
        Frame rate of the grid (50 Hz for transformer layers).

    Returns
    -------
    (int, int)
        ``first < end <= n_frames``.

    Raises
    ------
    AlignmentError
        When the segment is empty or reversed, or starts a whole frame or more after the last one.

    Examples
    --------
    >>> segment_frames(0.10, 0.30, 100)
    (5, 15)
    >>> segment_frames(0.10, 0.30, 100, middle_third=True)
    (8, 12)
    """
    if not (math.isfinite(start_s) and math.isfinite(end_s)) or start_s >= end_s or start_s < 0:
        raise AlignmentError(f"segment {start_s:.6g}-{end_s:.6g} s is empty, reversed or negative")
    stride_s = 1.0 / frame_rate_hz
    first = int(math.floor(start_s / stride_s))
    end = int(math.ceil(end_s / stride_s))
    if middle_third:
        offset = (end - first + 1) // 3
        first += offset
        end -= offset
    if first == end:
        end += 1
    end = min(end, n_frames)
    if first >= end and n_frames > 0 and start_s < (n_frames + 1) * stride_s:
        first, end = n_frames - 1, n_frames  # in the tail that no whole frame covers
    if first >= end:
        raise AlignmentError(
            f"segment {start_s:.6g}-{end_s:.6g} s lies outside the audio ({n_frames} frames of "
            f"{stride_s * 1000:g} ms = {n_frames * stride_s:.6g} s)"
        )
    return first, end


__all__ = ["DEFAULT_FRAME_RATE_HZ", "time_to_frame", "frame_to_time", "segment_frames"]
