"""Acoustic word discrimination: the same-different task's average precision, chunked and exact.

The same-different task (Carlin et al. 2011; used by Pasad et al. 2024 and acoustic word
embedding work): every pair of word segments is labelled *same* (the same word) or *different*;
the distance of a pair is the cosine distance ``1 - cos(x_i, x_j)`` between the segments'
mean-pooled layer features (one word-store row each).  Pairs ranked by increasing distance should
put the same-word pairs first; the score is the average precision (AP) of "same":

``AP = sum_k (R_k - R_{k-1}) P_k``

over the distinct distances ``d_k`` in increasing order, with ``P_k`` and ``R_k`` the precision and
recall of "same" among the pairs at distance ``<= d_k`` (tied pairs enter together): the area under
the precision-recall curve as :func:`sklearn.metrics.average_precision_score` computes it for the
scores ``-distance``.  Equivalently ``AP = (1/P) sum_{same pairs p} S(d_p) / N(d_p)`` with ``P``
the same pairs, ``S(d)`` the same pairs and ``N(d)`` all pairs at distance ``<= d``: that form is
what makes the chunked computation exact.

Chunked, no ``n x n`` matrix
----------------------------
Pass 1 walks the upper triangle of the distance matrix in ``block x block`` tiles and keeps only the
same-pair distances (sorted; ``P`` of them).  Pass 2 walks the same tiles again and, for every
different pair, counts with a binary search how many same pairs are at least as far, accumulating
``N - S`` per same pair in an integer array.  Nothing is binned, so the result equals sklearn's up
to float64 rounding of the sum (tested to 1e-9).  Memory, O(n dim + P + block^2), never O(n^2): the
unit-normalised features (``8 n dim`` bytes, plus the float64 copy made on the way); per AP computed
up to about ``100 P`` bytes at the peak (the same-pair distances as gathered and sorted, the count
array added per tile, the running counts and the precisions); and a few tile-sized temporaries
(about ``40 block^2`` bytes: 160 MiB at ``block`` = 2048).  ``P`` is the number of same-word pairs,
``sum_w c_w (c_w - 1) / 2`` over the words' segment counts ``c_w``: small next to ``n^2 / 2`` unless
one word dominates the segments.  Time: ``n^2 / 2`` dot products of length ``dim``, twice, plus a
binary search among the ``P`` same pairs for every different pair (the tile's keys sorted first).
Measured: 10,000 segments of dim 768 (5e7 pairs, 8.6e6 of them same, Zipf-distributed words, with
speakers): 14 s and 870 MiB peak for the whole process on a shared 2-core machine.

Speaker control
---------------
With a speaker per segment, :func:`same_different_ap` also gives ``ap_cross_speaker``: the AP of the
same-word *different-speaker* pairs against all different-word pairs (same-word same-speaker pairs
left out), so that speaker identity cannot carry the score.

The experiment over a model's layers (experiment ``awd``, metrics ``ap`` and ``ap_cross_speaker``)
is :mod:`layerprobe.experiments.awd`.

Example
-------
>>> import numpy as np
>>> from layerprobe.analysis.awd import same_different_ap
>>> features = np.eye(3)[[0, 0, 1, 1, 2]]           # one-hot word features
>>> same_different_ap(features, ["a", "a", "b", "b", "c"]).ap
1.0
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from layerprobe.errors import ConfigError

#: Experiment name and row metrics.
EXPERIMENT = "awd"
METRIC = "ap"
METRIC_CROSS_SPEAKER = "ap_cross_speaker"
#: The chance level of ``ap``: the rate of same-word pairs among all pairs (the AP of a random ranking).
METRIC_CHANCE = "ap_chance"
#: Rows per tile side (a tile of float64 distances is 8 * BLOCK**2 bytes: 32 MiB).
BLOCK = 2048


@dataclass(frozen=True)
class AWDResult:
    """The same-different scores of one set of segments.

    Attributes
    ----------
    ap : float
        AP of the same-word pairs against the different-word pairs.
    ap_cross_speaker : float or None
        AP of the same-word different-speaker pairs against the different-word pairs; None without
        speakers or without such a pair.
    n_segments : int
    n_words : int
        Distinct words.
    n_same : int
        Same-word pairs.
    n_different : int
        Different-word pairs.
    n_same_cross_speaker : int or None
        Same-word different-speaker pairs (None without speakers).
    n_speakers : int or None
    """

    ap: float
    ap_cross_speaker: float | None
    n_segments: int
    n_words: int
    n_same: int
    n_different: int
    n_same_cross_speaker: int | None = None
    n_speakers: int | None = None

    @property
    def same_rate(self) -> float:
        """Fraction of pairs that are same-word pairs: the AP of random distances, in expectation."""
        return self.n_same / (self.n_same + self.n_different)


def _codes(values: Sequence[object], n: int, what: str) -> np.ndarray:
    values = list(values)
    if len(values) != n:
        raise ConfigError(f"{what}: {len(values)} given for {n} segments; give one per feature row")
    _, codes = np.unique(np.asarray([str(value) for value in values], dtype=object), return_inverse=True)
    return codes.astype(np.int64).reshape(-1)


def _unit_rows(features: np.ndarray) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"features must be a 2-d array (segments x dims), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ConfigError("features hold NaN or infinite values; the cosine distance is undefined for them")
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        raise ConfigError(f"{int((norms == 0).sum())} feature rows are all zeros; the cosine distance is undefined for them")
    return x / norms[:, None]


def _tiles(n: int, block: int) -> Iterator[tuple[int, int, int, int]]:
    for i in range(0, n, block):
        for j in range(i, n, block):
            yield i, min(i + block, n), j, min(j + block, n)


def _tile(unit: np.ndarray, i0: int, i1: int, j0: int, j1: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distances of rows i0:i1 x j0:j1, and the mask of pairs i < j (the upper triangle)."""
    distances = 1.0 - unit[i0:i1] @ unit[j0:j1].T
    if i0 == j0:
        upper = np.triu(np.ones((i1 - i0, j1 - j0), dtype=bool), k=1)
    else:
        upper = np.ones((i1 - i0, j1 - j0), dtype=bool)
    return distances, upper


def cosine_distances(features: np.ndarray) -> np.ndarray:
    """All pairs' cosine distances ``1 - cos``, shape (n, n), float64, computed as the tiles are.

    Only for small inputs (tests, the slow transcription): the chunked path never builds it.
    """
    unit = _unit_rows(features)
    return 1.0 - unit @ unit.T


def same_different_ap(
    features: np.ndarray,
    words: Sequence[object],
    *,
    speakers: Sequence[object] | None = None,
    block: int = BLOCK,
) -> AWDResult:
    """Average precision of the same-different task, exact, without an ``n x n`` matrix.

    Parameters
    ----------
    features : numpy.ndarray
        Shape (n_segments, dim): one mean-pooled feature vector per word segment; no row all zeros.
    words : sequence
        Shape (n_segments,): each segment's word (compared as strings).
    speakers : sequence, optional, keyword-only
        Shape (n_segments,): each segment's speaker; adds ``ap_cross_speaker``.
    block : int, keyword-only
        Rows per tile side (memory: ``8 block^2`` bytes per tile; see the module docstring).

    Returns
    -------
    AWDResult

    Raises
    ------
    ConfigError
        Fewer than 2 segments, labels not one per row, non-finite or all-zero rows, or no word with
        two segments (no same pair: the AP is undefined).
    """
    unit = _unit_rows(features)
    n = unit.shape[0]
    if n < 2:
        raise ConfigError(f"the same-different task needs at least 2 word segments, got {n}")
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ConfigError(f"block must be a positive integer, got {block!r}")
    word = _codes(words, n, "words")
    speaker = _codes(speakers, n, "speakers") if speakers is not None else None
    counts = np.bincount(word)
    n_same = int((counts * (counts - 1) // 2).sum())
    n_pairs = n * (n - 1) // 2
    if n_same == 0:
        raise ConfigError(f"no word has two segments among the {n} segments ({len(counts)} words): there is no same-word pair to rank")

    # pass 1: the same-pair distances (all, and cross-speaker)
    same_parts: list[np.ndarray] = []
    cross_parts: list[np.ndarray] = []
    for i0, i1, j0, j1 in _tiles(n, block):
        distances, upper = _tile(unit, i0, i1, j0, j1)
        same = upper & (word[i0:i1, None] == word[None, j0:j1])
        same_parts.append(distances[same])
        if speaker is not None:
            cross = same & (speaker[i0:i1, None] != speaker[None, j0:j1])
            cross_parts.append(distances[cross])
    same_sorted = np.sort(np.concatenate(same_parts))
    cross_sorted = np.sort(np.concatenate(cross_parts)) if speaker is not None else None

    # pass 2: per same pair, the different pairs at distance <= its own
    below_same = np.zeros(len(same_sorted) + 1, dtype=np.int64)
    below_cross = np.zeros(len(cross_sorted) + 1, dtype=np.int64) if cross_sorted is not None else None
    for i0, i1, j0, j1 in _tiles(n, block):
        distances, upper = _tile(unit, i0, i1, j0, j1)
        different = distances[upper & (word[i0:i1, None] != word[None, j0:j1])]
        if not len(different):
            continue
        # sorted keys: numpy's binary search starts from the previous key's place (about 15x faster here)
        different.sort()
        # a different pair at distance x is counted by every same pair at distance >= x
        below_same += np.bincount(np.searchsorted(same_sorted, different, side="left"), minlength=len(below_same))
        if below_cross is not None:
            below_cross += np.bincount(np.searchsorted(cross_sorted, different, side="left"), minlength=len(below_cross))
    ap = _average_precision(same_sorted, below_same)
    ap_cross = _average_precision(cross_sorted, below_cross) if cross_sorted is not None and len(cross_sorted) else None
    return AWDResult(
        ap=ap,
        ap_cross_speaker=ap_cross,
        n_segments=n,
        n_words=len(counts),
        n_same=n_same,
        n_different=n_pairs - n_same,
        n_same_cross_speaker=None if cross_sorted is None else len(cross_sorted),
        n_speakers=None if speaker is None else int(speaker.max()) + 1,
    )


def _average_precision(positives: np.ndarray, counts: np.ndarray) -> float:
    """AP from the sorted positive distances and the per-slot counts of negatives (pass 2).

    ``counts[k]`` negatives fall just before sorted positive ``k``; a positive's negatives at
    distance ``<=`` its own are the cumulative sum up to its slot, and ties among positives share
    the last tied positive's count of positives at distance ``<=`` theirs.
    """
    negatives_below = np.cumsum(counts)[:-1]
    # positives at distance <= d_k: the index after the last tie of d_k
    positives_below = np.searchsorted(positives, positives, side="right").astype(np.float64)
    # a negative tied with a positive at d counts for it (side="left" put it in the positive's slot)
    precision = positives_below / (positives_below + negatives_below)
    return float(precision.sum() / len(positives))


__all__ = ["AWDResult", "BLOCK", "EXPERIMENT", "METRIC", "METRIC_CROSS_SPEAKER", "cosine_distances", "same_different_ap"]
