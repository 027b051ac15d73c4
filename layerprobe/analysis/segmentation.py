"""Unsupervised word segmentation from frame features: the published peak picking, its grid, two evaluations.

The training-free segmentation of Pasad et al.'s layer-wise code (``word_segmentation_librispeech.py``,
``word_segmentation_buckeye.py``), per utterance and layer:

1. z-score each feature dimension over all frames of the data sample (a constant dimension becomes 0);
2. ``d[t]`` = distance between frames ``t`` and ``t + 1``: ``euclidean`` (norm of the difference) or
   ``cosine`` (``1 - cos``; 1 when a frame is the zero vector);
3. moving average over a window of ``w`` distances, ``'valid'`` (``T - w`` values for ``T`` frames);
4. peaks: :func:`scipy.signal.find_peaks` with ``prominence=p``;
5. a peak at ``k`` is a boundary at frame ``k + w // 2``, time ``(k + w // 2) / frame_rate``.

The grid (:data:`GRID`, 180 settings, in the published search order: prominence, then distance,
then window) is searched per layer; the setting with the best boundary F1 on the tuning data wins
(the first in grid order among ties, as the published strict ``>`` does).

Vectorised grid search
----------------------
:func:`search_grid` needs one pass over a layer's frames: the two distance curves, six moving
averages of each, and one :func:`~scipy.signal.find_peaks` call per (distance, window) on all
utterances' curves concatenated, each utterance followed by one separator sample higher than every
value (so no prominence search crosses an utterance and no peak sits at an utterance's edge: the
same peaks and prominences as one call per utterance; separator peaks are dropped).  A prominence
threshold ``p`` keeps the peaks of prominence ``>= p``, exactly what ``find_peaks(prominence=p)``
keeps, so the 15 thresholds are 15 masks over one peak list.  The librispeech scores of all 15 come
from two searches over the gold boundaries (each peak: is a gold boundary near; each gold
boundary: the highest prominence of the peaks near it); the buckeye one-to-one matching runs once
per setting as a two-pointer walk.

Evaluations (conventions)
-------------------------
Gold boundaries (:func:`gold_boundaries`): the sorted unique start and end times of the word
intervals whose label is not empty and not a silence, pause or noise marker
(:func:`layerprobe.data.labels.is_silence`).

``librispeech`` (the published tuning metric)
    A predicted boundary is correct when a gold boundary lies within +-20 ms of it; a gold boundary
    is found when a predicted boundary lies within +-20 ms (many-to-one: one prediction may account
    for two gold boundaries and the reverse).  Counts are summed over utterances (micro average).
    A tolerance of exactly 20 ms counts (1e-9 s slack for float rounding).  Recall is the gold
    boundaries found over the gold boundaries; the published ``f1_score`` divides the *correct
    predictions* by correct predictions + gold boundaries missed, which counts a gold boundary once
    per prediction near it (precision is the same).
``buckeye`` (Kamper's vqwordseg ``eval_segmentation.py``)
    Times on vqwordseg's 10 ms slices (``round(t / 0.01)``); a predicted boundary matches the first
    unmatched gold boundary within 2 slices, in time order (one-to-one).  The final boundary is left
    out: vqwordseg drops the utterance end, which every segmentation has; here gold boundaries at or
    after the slice of the utterance's last frame (which no peak can reach) are left out, and no
    utterance-end boundary is predicted.
    vqwordseg compares the predicted slice ``2 k`` with the gold slice ``end - 1``; here both are
    ``round(t / 0.01)`` (no 10 ms shift between them).

Both give precision, recall, F1, over-segmentation ``OS = R / P - 1`` and the R-value
``1 - (|r1| + |r2|) / 2`` with ``r1 = sqrt((1 - R)^2 + OS^2)``, ``r2 = (-OS + R - 1) / sqrt(2)``,
and word-token F1 (:func:`token_scores`): predicted tokens are the stretches between consecutive
boundaries of ``[0, peaks..., utterance end]``; one matches an unmatched gold word when both its ends
lie within the tolerance of the word's (the start's lower limit clipped at 0), one-to-one.

The experiment over a model's layers (``layerprobe segment``) is :mod:`layerprobe.experiments.segment`.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> frames = np.repeat(rng.normal(size=(4, 8)), 10, axis=0) + 0.01 * rng.normal(size=(40, 8))
>>> [b.tolist() for b in segment_frames(frames, [40], distance="euclidean", window=1, prominence=1.0)]
[[9, 19, 29]]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from layerprobe.data.labels import is_silence
from layerprobe.errors import ConfigError

#: The published prominence thresholds.
PROMINENCES: tuple[float, ...] = (0.0, 1e-5, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0)
#: Distances between adjacent frames.
DISTANCES: tuple[str, ...] = ("euclidean", "cosine")
#: Moving-average windows (in distances).
WINDOWS: tuple[int, ...] = (1, 2, 4, 6, 8, 16)
#: The evaluation conventions.
CONVENTIONS: tuple[str, ...] = ("librispeech", "buckeye")
#: librispeech: tolerance in seconds (and the slack that makes exactly 20 ms count).
LIBRISPEECH_TOLERANCE_S = 0.02
TIME_SLACK_S = 1e-9
#: buckeye: vqwordseg's slice (10 ms) and its tolerance in slices.
BUCKEYE_SLICE_S = 0.01
BUCKEYE_TOLERANCE = 2
#: Frames z-scored and differenced at a time (bounds the float64 temporaries).
BLOCK_ROWS = 65536


@dataclass(frozen=True)
class Setting:
    """One point of the grid: distance, moving-average window, peak prominence."""

    distance: str
    window: int
    prominence: float

    def as_dict(self) -> dict[str, object]:
        return {"distance": self.distance, "window": self.window, "prominence": self.prominence}


#: The 180 settings, in the published search order (prominence, distance, window).
GRID: tuple[Setting, ...] = tuple(Setting(d, w, p) for p in PROMINENCES for d in DISTANCES for w in WINDOWS)


@dataclass(frozen=True)
class BoundaryScore:
    """Boundary counts of one setting, summed over utterances, and the scores they give.

    Attributes
    ----------
    n_pred, n_gold : int
        Predicted and gold boundaries.
    correct_pred : int
        Predicted boundaries counted correct (precision's numerator).
    correct_gold : int
        Gold boundaries found (recall's numerator; equal to ``correct_pred`` one-to-one).
    """

    n_pred: int
    n_gold: int
    correct_pred: int
    correct_gold: int

    @property
    def precision(self) -> float:
        return self.correct_pred / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.correct_gold / self.n_gold if self.n_gold else 0.0

    @property
    def f1(self) -> float:
        return f_score(self.precision, self.recall)

    @property
    def os(self) -> float:
        """Over-segmentation ``R / P - 1`` (nan when P = 0)."""
        return over_segmentation(self.precision, self.recall)

    @property
    def r_value(self) -> float:
        """The R-value (nan when P = 0)."""
        return r_value(self.precision, self.recall)


def f_score(precision: float, recall: float) -> float:
    """``2 P R / (P + R)``, 0 when both are 0."""
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def over_segmentation(precision: float, recall: float) -> float:
    """``OS = R / P - 1``; nan when P = 0 (vqwordseg: -inf)."""
    return recall / precision - 1 if precision > 0 else math.nan


def r_value(precision: float, recall: float) -> float:
    """``1 - (|r1| + |r2|) / 2``, ``r1 = sqrt((1 - R)^2 + OS^2)``, ``r2 = (-OS + R - 1) / sqrt(2)``; nan when P = 0.

    >>> r_value(1.0, 1.0)
    1.0
    """
    os_ = over_segmentation(precision, recall)
    if math.isnan(os_):
        return math.nan
    r1 = math.sqrt((1 - recall) ** 2 + os_**2)
    r2 = (-os_ + recall - 1) / math.sqrt(2)
    return 1 - (abs(r1) + abs(r2)) / 2


# --------------------------------------------------------------------------------------------------
# Gold


def gold_words(words: Iterable[object]) -> np.ndarray:
    """``[start, end]`` of the word intervals that are words (label not empty nor a silence marker), shape (n, 2)."""
    kept = [(float(w.start), float(w.end)) for w in words if not is_silence(str(w.label))]  # type: ignore[attr-defined]
    return np.asarray(sorted(kept), dtype=np.float64).reshape(-1, 2)


def gold_boundaries(words: Iterable[object]) -> np.ndarray:
    """Sorted unique start and end times (s) of the word intervals that are words, shape (n,)."""
    return np.unique(gold_words(words).ravel())


# --------------------------------------------------------------------------------------------------
# Features -> distance curves -> peaks


def zscore(frames: np.ndarray) -> np.ndarray:
    """Each dimension z-scored over all rows (population std); a constant dimension becomes 0.

    Parameters
    ----------
    frames : numpy.ndarray
        Shape (n_frames, dim).

    Returns
    -------
    numpy.ndarray
        Shape (n_frames, dim), float32 (mean and std computed in float64).
    """
    frames = np.asarray(frames)
    if frames.ndim != 2 or len(frames) == 0:
        raise ConfigError(f"segmentation needs frames of shape (n_frames, dim) with n_frames > 0, got shape {frames.shape}")
    mean = frames.mean(axis=0, dtype=np.float64)
    std = frames.std(axis=0, dtype=np.float64)
    scale = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
    out = np.empty(frames.shape, dtype=np.float32)
    for start in range(0, len(frames), BLOCK_ROWS):
        block = frames[start : start + BLOCK_ROWS].astype(np.float64)
        out[start : start + BLOCK_ROWS] = (block - mean) * scale
    return out


def _check_counts(counts: Sequence[int], n_frames: int) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or (counts < 0).any() or int(counts.sum()) != n_frames:
        raise ConfigError(f"utterance frame counts must be non-negative and sum to the {n_frames} frames given, got a sum of {int(counts.sum())}")
    return counts


def adjacent_distances(z: np.ndarray, counts: Sequence[int]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both distance curves between adjacent frames of each utterance.

    Parameters
    ----------
    z : numpy.ndarray
        Shape (n_frames, dim): the z-scored frames of all utterances, in order.
    counts : sequence of int
        Frames per utterance, shape (n_utts,).

    Returns
    -------
    dict
        ``{"euclidean": (d, lengths), "cosine": (d, lengths)}``: ``d`` of shape (sum(lengths),),
        float64, the utterances' curves concatenated; ``lengths`` (n_utts,) = ``max(T - 1, 0)``.
    """
    counts = _check_counts(counts, len(z))
    lengths = np.maximum(counts - 1, 0)
    ends = np.cumsum(counts)
    # pair i = frames (i, i + 1); keep pairs inside one utterance
    keep = np.ones(max(len(z) - 1, 0), dtype=bool)
    inner_ends = ends[:-1][(ends[:-1] > 0) & (ends[:-1] < len(z))]
    keep[inner_ends - 1] = False
    euclid = np.empty(len(keep), dtype=np.float64)
    cosine = np.empty(len(keep), dtype=np.float64)
    for start in range(0, len(keep), BLOCK_ROWS):
        a = z[start : start + BLOCK_ROWS + 1].astype(np.float64)
        left, right = a[:-1], a[1:]
        euclid[start : start + len(left)] = np.linalg.norm(right - left, axis=1)
        norms = np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1)
        dots = np.einsum("ij,ij->i", left, right)
        cosine[start : start + len(left)] = 1.0 - np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return {"euclidean": (euclid[keep], lengths), "cosine": (cosine[keep], lengths)}


def moving_average(d: np.ndarray, lengths: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The 'valid' moving average of each utterance's curve.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The smoothed curves concatenated, float64, and their lengths ``max(L - window + 1, 0)``.
    """
    if window < 1:
        raise ConfigError(f"the moving-average window must be a positive integer, got {window}")
    out_lengths = np.maximum(lengths - window + 1, 0)
    starts = np.cumsum(lengths) - lengths
    # position i of utterance u's output = window over d[starts[u] + i : starts[u] + i + window]
    first = np.repeat(starts, out_lengths) + (np.arange(int(out_lengths.sum())) - np.repeat(np.cumsum(out_lengths) - out_lengths, out_lengths))
    total = np.zeros(len(first), dtype=np.float64)
    for j in range(window):
        total += d[first + j]
    return total / window, out_lengths


@dataclass(frozen=True)
class Peaks:
    """Every peak of one (distance, window) curve, over all utterances, in time order.

    Attributes
    ----------
    utt : numpy.ndarray
        (n_peaks,), int64: the utterance of each peak.
    frame : numpy.ndarray
        (n_peaks,), int64: the boundary frame ``k + window // 2`` within its utterance.
    prominence : numpy.ndarray
        (n_peaks,), float64.
    """

    utt: np.ndarray
    frame: np.ndarray
    prominence: np.ndarray

    def at(self, prominence: float) -> "Peaks":
        """The peaks ``find_peaks(prominence=p)`` keeps: prominence ``>= p``."""
        keep = self.prominence >= prominence
        return Peaks(self.utt[keep], self.frame[keep], self.prominence[keep])

    def per_utterance(self, n_utts: int) -> list[np.ndarray]:
        """Boundary frames of each utterance (sorted), a list of n_utts int64 arrays (empty without peaks)."""
        cuts = np.searchsorted(self.utt, np.arange(n_utts + 1))
        return [self.frame[cuts[u] : cuts[u + 1]] for u in range(n_utts)]


def curve_peaks(smoothed: np.ndarray, lengths: np.ndarray, window: int) -> Peaks:
    """All peaks (prominence >= 0) of each utterance's smoothed curve, from one find_peaks call.

    Each utterance's curve is followed by one separator sample above every value, so the result is
    what a call per utterance gives (see the module docstring).
    """
    n_utts = len(lengths)
    if len(smoothed) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Peaks(empty, empty, np.zeros(0, dtype=np.float64))
    wall = float(np.max(smoothed)) + 1.0
    offsets = np.cumsum(lengths + 1) - (lengths + 1)  # start of each utterance in the joined signal
    joined = np.full(int(lengths.sum()) + n_utts, wall, dtype=np.float64)
    positions = np.repeat(offsets, lengths) + (np.arange(len(smoothed)) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    joined[positions] = smoothed
    is_wall = np.ones(len(joined), dtype=bool)
    is_wall[positions] = False
    found, properties = find_peaks(joined, prominence=0)
    keep = ~is_wall[found]
    found, prominences = found[keep], properties["prominences"][keep]
    utt = np.searchsorted(offsets, found, side="right") - 1
    frame = found - offsets[utt] + window // 2
    return Peaks(utt.astype(np.int64), frame.astype(np.int64), prominences.astype(np.float64))


def all_peaks(frames: np.ndarray, counts: Sequence[int], *, standardized: bool = False) -> dict[tuple[str, int], Peaks]:
    """The peaks of every (distance, window) of the grid for one layer: one pass over its frames.

    Parameters
    ----------
    frames : numpy.ndarray
        Shape (n_frames, dim), all utterances in order.
    counts : sequence of int
        Frames per utterance.
    standardized : bool, keyword-only
        The frames are z-scored already.
    """
    z = frames if standardized else zscore(frames)
    curves = adjacent_distances(z, counts)
    made = {}
    for distance in DISTANCES:
        d, lengths = curves[distance]
        for window in WINDOWS:
            smoothed, smoothed_lengths = moving_average(d, lengths, window)
            made[(distance, window)] = curve_peaks(smoothed, smoothed_lengths, window)
    return made


def segment_frames(
    frames: np.ndarray, counts: Sequence[int], *, distance: str, window: int, prominence: float, standardized: bool = False
) -> list[np.ndarray]:
    """Boundary frames of each utterance for one setting.

    Returns
    -------
    list of numpy.ndarray
        One sorted int64 array of boundary frames per utterance (empty where no peak).
    """
    if distance not in DISTANCES:
        raise ConfigError(f"distance {distance!r} is not one of {', '.join(DISTANCES)}")
    z = frames if standardized else zscore(frames)
    d, lengths = adjacent_distances(z, counts)[distance]
    smoothed, smoothed_lengths = moving_average(d, lengths, window)
    return curve_peaks(smoothed, smoothed_lengths, window).at(prominence).per_utterance(len(lengths))


# --------------------------------------------------------------------------------------------------
# Scoring


def _joined_times(values: Sequence[np.ndarray], spans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-utterance sorted values placed on one axis (utterance u shifted by sum of earlier spans)."""
    offsets = np.cumsum(spans) - spans
    lengths = np.array([len(v) for v in values], dtype=np.int64)
    flat = np.concatenate([np.asarray(v, dtype=np.float64) for v in values]) if len(values) else np.zeros(0)
    return flat + np.repeat(offsets, lengths), offsets


def _spans(gold: Sequence[np.ndarray], pred_max: np.ndarray, margin: float) -> np.ndarray:
    gold_max = np.array([float(g[-1]) if len(g) else 0.0 for g in gold])
    return np.maximum(gold_max, pred_max) + margin


def librispeech_counts(gold: Sequence[np.ndarray], peaks: Peaks, frame_rate: float,
                       prominences: Sequence[float] = PROMINENCES, *, tolerance_s: float = LIBRISPEECH_TOLERANCE_S) -> list[BoundaryScore]:  # fmt: skip
    """Many-to-one boundary counts of the peaks at each prominence threshold (librispeech convention).

    Parameters
    ----------
    gold : sequence of numpy.ndarray
        Sorted gold boundary times (s) of each utterance.
    peaks : Peaks
        All peaks of one curve (:func:`curve_peaks`), utterance indices into ``gold``.
    frame_rate : float
        Frames per second.
    prominences : sequence of float
        Thresholds.

    Returns
    -------
    list of BoundaryScore
        One per threshold.
    """
    tol = tolerance_s + TIME_SLACK_S
    n_utts = len(gold)
    pred_times = peaks.frame / frame_rate
    pred_max = np.zeros(n_utts)
    if len(pred_times):
        np.maximum.at(pred_max, peaks.utt, pred_times)
    spans = _spans(gold, pred_max, 10 * tol + 1.0)
    gold_axis, offsets = _joined_times(gold, spans)
    pred_axis = pred_times + offsets[peaks.utt]
    # each prediction: a gold boundary within the tolerance?
    hit = np.searchsorted(gold_axis, pred_axis - tol, side="left") < np.searchsorted(gold_axis, pred_axis + tol, side="right")
    # each gold boundary: the highest prominence among predictions within the tolerance
    lo = np.searchsorted(pred_axis, gold_axis - tol, side="left")
    hi = np.searchsorted(pred_axis, gold_axis + tol, side="right")
    best = np.full(len(gold_axis), -np.inf)
    for j in range(int((hi - lo).max()) if len(lo) else 0):
        inside = lo + j < hi
        best[inside] = np.maximum(best[inside], peaks.prominence[lo[inside] + j])
    thresholds = np.asarray(prominences, dtype=np.float64)
    kept = peaks.prominence[:, None] >= thresholds[None, :]
    n_pred = kept.sum(axis=0)
    correct_pred = (kept & hit[:, None]).sum(axis=0)
    correct_gold = (best[:, None] >= thresholds[None, :]).sum(axis=0)
    return [BoundaryScore(int(n_pred[i]), len(gold_axis), int(correct_pred[i]), int(correct_gold[i])) for i in range(len(thresholds))]


def to_slices(times: np.ndarray) -> np.ndarray:
    """Times (s) on vqwordseg's 10 ms slices: ``round(t / 0.01)``, int64."""
    return np.rint(np.asarray(times, dtype=np.float64) / BUCKEYE_SLICE_S).astype(np.int64)


def buckeye_gold(gold: Sequence[np.ndarray], counts: Sequence[int], frame_rate: float) -> list[np.ndarray]:
    """Each utterance's gold boundaries in slices, unique, those at or after its last frame's slice left out.

    Parameters
    ----------
    gold : sequence of numpy.ndarray
        Gold boundary times (s) per utterance.
    counts : sequence of int
        Frames per utterance (the same utterances).
    frame_rate : float
    """
    made = []
    for times, n_frames in zip(gold, counts, strict=True):
        slices = np.unique(to_slices(times))
        made.append(slices[slices < to_slices((max(int(n_frames), 1) - 1) / frame_rate)])
    return made


def _one_to_one(pred: list[int], ref: list[int], tolerance: int) -> int:
    """vqwordseg's greedy matching on sorted positions: each prediction, in order, takes the first
    unmatched reference within the tolerance (a two-pointer walk: same matches)."""
    correct, j, n = 0, 0, len(ref)
    for x in pred:
        while j < n and ref[j] < x - tolerance:
            j += 1
        if j < n and ref[j] <= x + tolerance:
            correct += 1
            j += 1
    return correct


def buckeye_counts(gold_slices: Sequence[np.ndarray], peaks: Peaks, frame_rate: float,
                   prominences: Sequence[float] = PROMINENCES, *, tolerance: int = BUCKEYE_TOLERANCE) -> list[BoundaryScore]:  # fmt: skip
    """One-to-one boundary counts of the peaks at each prominence threshold (buckeye convention).

    Parameters
    ----------
    gold_slices : sequence of numpy.ndarray
        :func:`buckeye_gold` of the utterances.
    peaks, frame_rate, prominences
        As for :func:`librispeech_counts`.
    """
    n_utts = len(gold_slices)
    pred = to_slices(peaks.frame / frame_rate)
    # predictions on one frame can share a slice at coarse frame rates: vqwordseg's boolean vector merges them
    pred_max = np.zeros(n_utts)
    if len(pred):
        np.maximum.at(pred_max, peaks.utt, pred.astype(np.float64))
    spans = _spans(gold_slices, pred_max, 10 * tolerance + 10).astype(np.int64)
    gold_axis, offsets = _joined_times(gold_slices, spans)
    pred_axis = pred + offsets[peaks.utt]
    ref = gold_axis.astype(np.int64).tolist()
    made = []
    for threshold in prominences:
        chosen = np.unique(pred_axis[peaks.prominence >= threshold])
        made.append(BoundaryScore(len(chosen), len(ref), *(2 * [_one_to_one(chosen.astype(np.int64).tolist(), ref, tolerance)])))
    return made


def grid_counts(peaks: dict[tuple[str, int], Peaks], gold: Sequence[np.ndarray], counts: Sequence[int], frame_rate: float,
                convention: str) -> list[BoundaryScore]:  # fmt: skip
    """Boundary counts of all :data:`GRID` settings (in grid order) under one convention.

    ``gold`` and ``counts`` (frames) are those of the utterances the peaks' indices point to.
    """
    if convention not in CONVENTIONS:
        raise ConfigError(f"convention {convention!r} is not one of {', '.join(CONVENTIONS)}")
    by_curve = {}
    reference = buckeye_gold(gold, counts, frame_rate) if convention == "buckeye" else gold
    for key, curve in peaks.items():
        counter = buckeye_counts if convention == "buckeye" else librispeech_counts
        by_curve[key] = counter(reference, curve, frame_rate, PROMINENCES)
    return [by_curve[(s.distance, s.window)][PROMINENCES.index(s.prominence)] for s in GRID]


def best_setting(scores: Sequence[BoundaryScore]) -> int:
    """Index into :data:`GRID` of the best F1, the first in grid order among ties."""
    f1 = [score.f1 for score in scores]
    return int(np.argmax(f1))


def score_boundaries(gold: Sequence[np.ndarray], pred_frames: Sequence[np.ndarray], counts: Sequence[int], frame_rate: float,
                     convention: str) -> BoundaryScore:  # fmt: skip
    """Boundary counts of given predictions (frames per utterance; ``counts``: frames per utterance) under one convention."""
    utt = np.concatenate([np.full(len(p), u, dtype=np.int64) for u, p in enumerate(pred_frames)]) if pred_frames else np.zeros(0, np.int64)
    frame = np.concatenate([np.asarray(p, dtype=np.int64) for p in pred_frames]) if pred_frames else np.zeros(0, np.int64)
    peaks = Peaks(utt, frame, np.zeros(len(frame)))
    if convention == "librispeech":
        return librispeech_counts(gold, peaks, frame_rate, (0.0,))[0]
    if convention == "buckeye":
        return buckeye_counts(buckeye_gold(gold, counts, frame_rate), peaks, frame_rate, (0.0,))[0]
    raise ConfigError(f"convention {convention!r} is not one of {', '.join(CONVENTIONS)}")


def random_boundaries(pred_frames: Sequence[np.ndarray], counts: Sequence[int], *, seed: int = 0) -> list[np.ndarray]:
    """The chance level of a segmentation: as many boundaries per utterance as ``pred_frames`` has,
    at frames drawn uniformly without replacement (seeded), sorted.

    Scored like the real boundaries, they give the precision, recall and F1 that boundary placement
    alone earns at that boundary rate: a segmentation near them has found nothing.

    >>> [b.tolist() for b in random_boundaries([np.array([3, 9]), np.array([], dtype=np.int64)], [20, 5])]
    [[12, 16], []]
    """
    rng = np.random.default_rng(seed)
    made = []
    for pred, n_frames in zip(pred_frames, counts):
        n = min(len(pred), int(n_frames))
        made.append(np.sort(rng.choice(int(n_frames), size=n, replace=False)).astype(np.int64) if n else np.zeros(0, np.int64))
    return made


@dataclass(frozen=True)
class TokenScore:
    """Word-token counts: predicted tokens, gold words, tokens matching a word."""

    n_pred: int
    n_gold: int
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.n_gold if self.n_gold else 0.0

    @property
    def f1(self) -> float:
        return f_score(self.precision, self.recall)


def token_scores(words: Sequence[np.ndarray], pred_frames: Sequence[np.ndarray], ends: Sequence[float], frame_rate: float,
                 convention: str) -> TokenScore:  # fmt: skip
    """Word-token matches (one-to-one, both ends within the convention's tolerance).

    Parameters
    ----------
    words : sequence of numpy.ndarray
        Each utterance's gold words, shape (n, 2), seconds (:func:`gold_words`).
    pred_frames : sequence of numpy.ndarray
        Each utterance's boundary frames.
    ends : sequence of float
        Each utterance's end (s): the last predicted token ends there.
    frame_rate : float
    convention : {"librispeech", "buckeye"}
    """
    if convention == "buckeye":
        def place(t):
            return to_slices(t)
        tol: float = BUCKEYE_TOLERANCE
    elif convention == "librispeech":
        def place(t):
            return np.asarray(t, dtype=np.float64)
        tol = LIBRISPEECH_TOLERANCE_S + TIME_SLACK_S
    else:
        raise ConfigError(f"convention {convention!r} is not one of {', '.join(CONVENTIONS)}")
    n_pred = n_gold = correct = 0
    for gold, frames, end in zip(words, pred_frames, ends, strict=True):
        cuts = place(np.concatenate([[0.0], np.asarray(frames, dtype=np.float64) / frame_rate, [float(end)]])).tolist()
        tokens = [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
        ref = [(max(0, s - tol), s + tol, e - tol, e + tol) for s, e in place(gold).reshape(-1, 2).tolist()]
        n_pred += len(tokens)
        n_gold += len(ref)
        for start, stop in tokens:
            for i, (s_lo, s_hi, e_lo, e_hi) in enumerate(ref):
                if s_lo <= start <= s_hi and e_lo <= stop <= e_hi:
                    correct += 1
                    ref.pop(i)
                    break
    return TokenScore(n_pred, n_gold, correct)


@dataclass(frozen=True)
class GridSearch:
    """One layer's grid search under one convention: the counts of every setting and the best one."""

    convention: str
    scores: tuple[BoundaryScore, ...]
    best: int

    @property
    def setting(self) -> Setting:
        return GRID[self.best]

    @property
    def score(self) -> BoundaryScore:
        return self.scores[self.best]


def search_grid(frames: np.ndarray, counts: Sequence[int], gold: Sequence[np.ndarray], frame_rate: float,
                conventions: Sequence[str] = CONVENTIONS, *, keep: np.ndarray | None = None) -> dict[str, GridSearch]:  # fmt: skip
    """All 180 settings of one layer under each convention, from one pass over its frames.

    Parameters
    ----------
    frames : numpy.ndarray
        Shape (n_frames, dim), every utterance of the sample (all of them are z-scored together).
    counts : sequence of int
        Frames per utterance, shape (n_utts,).
    gold : sequence of numpy.ndarray
        Gold boundary times of the utterances scored (those where ``keep``), in order.
    frame_rate : float
    conventions : sequence of str
    keep : numpy.ndarray of bool, optional
        (n_utts,): the utterances scored (default all).

    Returns
    -------
    dict
        convention -> :class:`GridSearch`.
    """
    peaks = all_peaks(frames, counts)
    kept_counts = np.asarray(counts, dtype=np.int64)
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        peaks = {key: _subset(curve, keep) for key, curve in peaks.items()}
        kept_counts = kept_counts[keep]
    made = {}
    for convention in conventions:
        scores = grid_counts(peaks, gold, kept_counts, frame_rate, convention)
        made[convention] = GridSearch(convention, tuple(scores), best_setting(scores))
    return made


def _subset(peaks: Peaks, keep: np.ndarray) -> Peaks:
    """The peaks of the kept utterances, utterance indices renumbered among them."""
    new_index = np.cumsum(keep) - 1
    mask = keep[peaks.utt]
    return Peaks(new_index[peaks.utt[mask]].astype(np.int64), peaks.frame[mask], peaks.prominence[mask])


__all__ = [
    "BLOCK_ROWS", "BUCKEYE_SLICE_S", "BUCKEYE_TOLERANCE", "BoundaryScore", "CONVENTIONS", "DISTANCES", "GRID", "GridSearch",
    "LIBRISPEECH_TOLERANCE_S", "PROMINENCES", "Peaks", "Setting", "TIME_SLACK_S", "TokenScore", "WINDOWS", "adjacent_distances",
    "all_peaks", "best_setting", "buckeye_counts", "buckeye_gold", "curve_peaks", "f_score", "gold_boundaries", "gold_words",
    "grid_counts", "librispeech_counts", "moving_average", "over_segmentation", "r_value", "random_boundaries", "score_boundaries", "search_grid",
    "segment_frames", "to_slices", "token_scores", "zscore",
]
