"""Spoken sentence similarity (spoken STS): utterance embeddings, pair similarities, Spearman's rho.

As in the published code (``get_scores.py evaluate_spokensts``, after Merkx et al.): an utterance's
embedding at a layer is the mean of its frames; a sentence pair's similarity is the mean, over every
combination of a speaker of sentence a and a speaker of sentence b (4 x 4 = 16 in the published
data), of the cosine similarity of the two embeddings (``combine="mean"``; ``combine="all"`` keeps
every combination as its own point against the pair's score, the published ``mean=False``); the
layer's score is Spearman's rho (scipy) of these similarities against the human scores, over all
pairs and per subtask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from layerprobe.errors import ConfigError, StoreError

#: The experiment's name in result tables and its metric.
EXPERIMENT = "spoken_sts"
METRIC = "spearman"

#: Cosine similarities are rounded to this many decimals before ranking (float noise must not break ties).
ROUND_DECIMALS = 12

#: How the speaker combinations of a pair are scored.
COMBINE = ("mean", "all")


@dataclass(frozen=True)
class StsResult:
    """One layer's spoken-STS scores.

    Attributes
    ----------
    spearman : float
        Spearman's rho over all pairs (NaN when the similarities or the scores are constant).
    per_subtask : dict of str to float
        Spearman's rho within each subtask of at least 3 pairs (``"<task>/<subtask>"`` keys).
    n_pairs : int
    n_combinations : int
        Speaker combinations scored over all pairs (16 per pair in the published data).
    similarities : numpy.ndarray
        Shape (n_pairs,): each pair's mean cosine similarity, in pair order.
    """

    spearman: float
    per_subtask: dict[str, float]
    n_pairs: int
    n_combinations: int
    similarities: np.ndarray = field(repr=False)


def utterance_means(store: Any, layer: str) -> np.ndarray:
    """The mean over each utterance's rows of one layer of a frame store, streamed.

    Parameters
    ----------
    store : FeatureStore
        Open store (frame span: one row per frame).
    layer : str

    Returns
    -------
    numpy.ndarray
        Shape (n_utterances, dim), float64, in ``store.utterance_ids`` order.

    Raises
    ------
    StoreError
        An utterance without rows at this layer.
    """
    starts, counts = store.row_ranges(layer)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise StoreError(f"utterance {store.utterance_ids[int(empty[0])]!r} has no rows at layer {layer}; it cannot be averaged",
                         path=store.paths[0])  # fmt: skip
    order = np.argsort(starts, kind="stable")
    first = starts[order]
    if first[0] != 0 or np.any(first[1:] != first[:-1] + counts[order][:-1]) or first[-1] + counts[order][-1] != store.n_rows(layer):
        raise StoreError(f"layer {layer}'s rows do not tile the store's utterances; the store is damaged", path=store.paths[0])
    sums = np.zeros((len(counts), store.dims[layer]), dtype=np.float64)
    done = 0
    for block in store.iter_rows(layer):
        # the utterances whose rows begin in this block (and the one running into it from the previous block)
        lo, hi = np.searchsorted(first, done, side="right") - 1, np.searchsorted(first, done + len(block), side="left")
        cuts = np.maximum(first[lo:hi], done) - done
        sums[order[lo:hi]] += np.add.reduceat(block.astype(np.float64), cuts, axis=0)
        done += len(block)
    return sums / counts[:, None]


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, embeddings / np.where(norms > 0, norms, 1.0), 0.0)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(spearmanr(x, y).statistic)


def sts_spearman(
    embeddings: np.ndarray,
    index: Mapping[str, int],
    pairs: Sequence[Any],
    *,
    combine: str = "mean",
    min_subtask_pairs: int = 3,
) -> StsResult:
    """Score utterance embeddings on sentence pairs: Spearman's rho of cosine similarities against human scores.

    Parameters
    ----------
    embeddings : numpy.ndarray
        Shape (n_utterances, dim): one embedding per utterance.
    index : mapping of str to int
        Each utterance id's row in ``embeddings``.
    pairs : sequence of StsPair
        (:func:`layerprobe.data.spoken_sts.read_sts_pairs`): ``key``, ``task``, ``subtask``,
        ``similarity``, ``a_ids``, ``b_ids``.
    combine : {"mean", "all"}, keyword-only
        ``mean``: a pair's similarity is the mean over its speaker combinations (published default);
        ``all``: every combination is a point of its own.
    min_subtask_pairs : int, keyword-only
        Subtasks with fewer pairs get no score of their own.

    Returns
    -------
    StsResult

    Raises
    ------
    ConfigError
        An unknown ``combine``, fewer than 2 pairs, or an utterance of a pair without an embedding.
    """
    if combine not in COMBINE:
        raise ConfigError(f"unknown --combine {combine!r} (known: {', '.join(COMBINE)})")
    if len(pairs) < 2:
        raise ConfigError(f"spoken STS needs at least 2 sentence pairs for a Spearman correlation, got {len(pairs)}")
    if len({pair.similarity for pair in pairs}) < 2:
        raise ConfigError(f"all {len(pairs)} sentence pairs have the same human score; Spearman's rho needs scores that differ")
    unit = _unit_rows(np.asarray(embeddings, dtype=np.float64))
    pair_means, points, scores, groups = [], [], [], []
    n_combinations = 0
    for pair in pairs:
        rows = []
        for side in (pair.a_ids, pair.b_ids):
            missing = [utt for utt in side if utt not in index]
            if missing:
                raise ConfigError(f"utterance {missing[0]!r} of pair {pair.key!r} has no features; extract every utterance "
                                  "of the dataset (sample --n-utterances at least its number of utterances)")  # fmt: skip
            rows.append([index[utt] for utt in side])
        cosines = unit[rows[0]] @ unit[rows[1]].T  # (speakers of a, speakers of b)
        n_combinations += cosines.size
        pair_means.append(float(cosines.mean()))
        values = [pair_means[-1]] if combine == "mean" else cosines.ravel().tolist()
        points.extend(values)
        scores.extend([pair.similarity] * len(values))
        groups.extend([f"{pair.task}/{pair.subtask}"] * len(values))
    # cosines equal but for rounding (the same embeddings in two pairs) must tie, not rank apart
    points_array = np.round(np.asarray(points), ROUND_DECIMALS)
    scores_array, groups_array = np.asarray(scores), np.asarray(groups)
    per_subtask = {}
    for group in sorted(set(groups)):
        chosen = groups_array == group
        n_pairs_in = sum(1 for pair in pairs if f"{pair.task}/{pair.subtask}" == group)
        if n_pairs_in >= min_subtask_pairs:
            per_subtask[group] = _spearman(points_array[chosen], scores_array[chosen])
    return StsResult(_spearman(points_array, scores_array), per_subtask, len(pairs), n_combinations, np.asarray(pair_means))


__all__ = ["COMBINE", "EXPERIMENT", "METRIC", "StsResult", "sts_spearman", "utterance_means"]
