"""Attention patterns per block as scores and a class (REFERENCE.md section 6).

The wav2vec 2.0 attention-pattern study looked at each block's head-averaged map over many
utterances and called it *diagonal* (a frame attends to its neighbours), *vertical* (a few key
frames receive strong attention from every query), *vertical+diagonal* (both), or *heterogeneous*
(neither, e.g. near-uniform with a faint diagonal).  This module turns that judgement into scores
with documented thresholds.

Scores of one row-stochastic map ``A`` (T queries x T keys; rows renormalised over the keys kept,
see :mod:`layerprobe.attention.maps`), all in [0, 1]:

``diagonal``
    How much more mass lies within ``radius`` frames of the diagonal than a uniform map would put
    there: with ``m = mean_i sum_{|i-j| <= r} A[i, j]`` (the in-band mass) and ``u`` its value for a
    uniform map, the band's share of the cells ``(T (2r+1) - r (r+1)) / T**2`` (about (2r+1)/T),
    ``diagonal = (m - u) / (1 - u)``, clipped at 0: 1 when all attention stays in the band, 0 for
    a uniform map whatever T (0 as well when the band covers every cell).  Like ``vertical``, it is
    measured against chance, so short and long utterances compare.  Default r = 5 frames (+-100 ms
    at 50 Hz, about one phone): a frame's neighbours within its phone and the next.  A narrower band
    misses the diagonals of later blocks, which run a few frames off the main diagonal or spread
    over several (Whisper base's blocks 3-6 keep 0.02-0.06 of their mass on the diagonal itself).
``vertical``
    Concentration of the column masses ``c_j = mean_i A[i, j]`` (they sum to 1): with ``K`` the
    ``k = max(1, round(top_fraction * T))`` keys of largest ``c_j`` (default 5 % of the keys),
    ``vertical = (sum_{j in K} c_j - k/T) / (1 - k/T)``: 0 when every key gets the same share
    (uniform and band maps), 1 when all attention goes to at most k keys.  0 when k = T.
``consistency``
    Whether it is the *same* keys for every query: with ``m_i = sum_{j in K} A[i, j]`` (query i's
    mass on the shared keys K), the 10th percentile over queries of ``(m_i - k/T) / (1 - k/T)``,
    clipped to [0, 1].  The mean of that quantity over queries is exactly ``vertical``; its low
    percentile is as large only when (nearly) every query attends to K, and near 0 when some
    queries attend to K and others elsewhere.
``entropy``
    Mean over queries of the row entropy divided by log T (1 for a uniform map, 0 for one key per
    query; 0 when T = 1).

A block's scores are those of its head-averaged map (so a block whose heads each attend to a
different single key gets a high block entropy while each head's is 0); per-head scores are kept
too.  Over utterances the scores are averaged (their standard deviation, min and max are kept)
and the class comes from the mean scores.

The head-averaged map is the heads' mean map of the real frames, its rows renormalised
(``averaging="heads-first"``, the default; :func:`~layerprobe.attention.maps.head_average`): what a
reader of the study means by a block's map.  Whisper's stored maps lack the mass sent to its 30 s
padding, and a head that sends most of its mass there weighs little in that mean.
``averaging="rows-first"`` renormalises each head's rows first, giving such a head a full share (on
Whisper base and LDC93S1 it lowers the diagonal score of T1-T4 by 0.013-0.026 and raises T5/T6's by
0.014/0.020; on the five LibriVox clips it moves T3 under the diagonal threshold, 0.303 -> 0.293);
the orders agree for models without padding.  Each block also reports that padding mass
(mean over heads, real queries and utterances; per head too): 0 for models without padding.

Classes (:data:`THRESHOLDS`, chosen on the canonical synthetic maps of the unit tests, T = 50,
r = 5, and checked on Whisper base):

* diagonal-like when ``diagonal >= 0.3``: a pure band scores 1, the mixture of a band and a few
  columns 0.51, a near-uniform map with a faint diagonal (0.85 uniform + 0.15 band of radius 1)
  0.15, three constant columns 0.02, a uniform map 0; so 0.3 asks that the band hold, beyond
  chance, nearly a third of the mass;
* vertical-like when ``vertical >= 0.2`` and ``consistency >= 0.1``: three constant columns score
  vertical 0.65 and consistency 0.65, the half-and-half mixture of band and columns 0.33 and 0.31,
  a band 0.007 and 0; a map whose first half of queries attend to three keys and second half to
  their neighbours has vertical 0.33 but consistency 0 (not the same keys for every query), so
  it is diagonal only;
* both: ``vertical+diagonal``; neither: ``heterogeneous``.

Example
-------
>>> from layerprobe.attention.patterns import block_patterns          # doctest: +SKIP
>>> for p in block_patterns("features/.../contextualized_frame.h5"):  # doctest: +SKIP
...     print(p.block, p.pattern, p.scores)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from layerprobe.attention.maps import (
    AVERAGING,
    DEFAULT_AVERAGING,
    check_averaging,
    head_average,
    iter_maps,
    load_padding,
    normalize_rows,
)
from layerprobe.errors import ConfigError, StoreError
from layerprobe.layers import layer_sort_key

__all__ = [
    "AVERAGING",
    "CLASSES",
    "DEFAULT_AVERAGING",
    "DEFAULT_RADIUS",
    "DEFAULT_TOP_FRACTION",
    "SCORE_NAMES",
    "THRESHOLDS",
    "BlockPattern",
    "PatternScores",
    "block_patterns",
    "classify",
    "head_scores",
    "pattern_scores",
    "patterns_figure",
]

#: Default radius (frames) of the diagonal band: +-5 frames = +-100 ms at 50 Hz, about one phone.
DEFAULT_RADIUS = 5
#: Default share of the keys counted as "the few key frames" of a vertical pattern.
DEFAULT_TOP_FRACTION = 0.05
#: Percentile over queries used by the consistency score.
CONSISTENCY_PERCENTILE = 10.0
#: The classes, in the order of the study.
CLASSES: tuple[str, ...] = ("diagonal", "vertical", "vertical+diagonal", "heterogeneous")
#: Names of the scores, in report order.
SCORE_NAMES: tuple[str, ...] = ("diagonal", "vertical", "consistency", "entropy")
#: Class thresholds (see the module docstring for how they were chosen).
THRESHOLDS: dict[str, float] = {"diagonal": 0.3, "vertical": 0.2, "consistency": 0.1}


@dataclass(frozen=True)
class PatternScores:
    """The scores of one map (or their mean over utterances); all in [0, 1]."""

    diagonal: float
    vertical: float
    consistency: float
    entropy: float

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in SCORE_NAMES}

    def __str__(self) -> str:
        return ", ".join(f"{name} {value:.3f}" for name, value in self.as_dict().items())


@dataclass(frozen=True)
class BlockPattern:
    """A block's pattern over utterances.

    Attributes
    ----------
    block : str
        Layer id of the block (``T1``..``TL``).
    scores : PatternScores
        Mean over utterances of the head-averaged map's scores.
    spread : dict
        Score name -> {"std", "min", "max"} over utterances (std with ddof=0).
    pattern : str
        The class of ``scores`` (one of :data:`CLASSES`).
    head_scores : tuple of PatternScores
        Per head: mean over utterances of that head's scores.
    head_patterns : tuple of str
        Per head: the class of its mean scores.
    utterances : tuple of str
        The utterances scored.
    per_utterance : dict
        Utterance id -> the head-averaged map's scores on it.
    radius, top_fraction, averaging : as given.
    padding_mass : float
        Mean over utterances, heads and real queries of the mass a query sent to keys cut away
        with the padding (Whisper's 30 s window; 0 for models without padding).
    head_padding_mass : tuple of float
        The same per head.
    padding_stored : bool
        Whether that mass was stored with the maps (False: estimated from the stored rows' sums, a
        store written before it was recorded, or maps given as arrays).
    """

    block: str
    scores: PatternScores
    spread: dict[str, dict[str, float]]
    pattern: str
    head_scores: tuple[PatternScores, ...]
    head_patterns: tuple[str, ...]
    utterances: tuple[str, ...]
    per_utterance: dict[str, PatternScores] = field(repr=False)
    radius: int = DEFAULT_RADIUS
    top_fraction: float = DEFAULT_TOP_FRACTION
    averaging: str = DEFAULT_AVERAGING
    padding_mass: float = 0.0
    head_padding_mass: tuple[float, ...] = ()
    padding_stored: bool = True

    @property
    def n_heads(self) -> int:
        return len(self.head_scores)

    def summary(self) -> str:
        """One line: ``T3: diagonal (diagonal 0.612 +- 0.031, ...; padding 9.3 %; heads: 6 diagonal, 2 vertical; 4 utterances)``."""
        parts = [f"{name} {value:.3f} +- {self.spread[name]['std']:.3f}" for name, value in self.scores.as_dict().items()]
        counts = {name: self.head_patterns.count(name) for name in CLASSES if name in self.head_patterns}
        heads = ", ".join(f"{count} {name}" for name, count in counts.items())
        n = len(self.utterances)
        padding = f"padding {100 * self.padding_mass:.1f} %"
        return f"{self.block}: {self.pattern} ({', '.join(parts)}; {padding}; heads: {heads}; {n} utterance{'s' if n != 1 else ''})"

    def details(self) -> dict[str, Any]:
        """JSON-ready details for a result table's sidecar."""
        return {
            "class": self.pattern,
            "consistency": self.scores.consistency,
            "spread": self.spread,
            "averaging": self.averaging,
            "padding_mass": self.padding_mass,
            "padding_mass_stored": self.padding_stored,
            "heads": [
                {"head": h, "class": c, **s.as_dict(), "padding_mass": m}
                for h, (s, c, m) in enumerate(zip(self.head_scores, self.head_patterns, self.head_padding_mass))
            ],
            "utterances": list(self.utterances),
            "per_utterance": {utt: s.as_dict() for utt, s in self.per_utterance.items()},
            "n_utterances": len(self.utterances),
        }


# --------------------------------------------------------------------------------------------------
# Scores of one map


def _check_options(radius: Any, top_fraction: Any) -> tuple[int, float]:
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 0:
        raise ConfigError(f"the diagonal radius must be a non-negative whole number of frames, got {radius!r}")
    if isinstance(top_fraction, bool) or not isinstance(top_fraction, (int, float)) or not 0 < top_fraction <= 1:
        raise ConfigError(f"top_fraction must be in (0, 1], got {top_fraction!r}")
    return int(radius), float(top_fraction)


def _scores_of(a: np.ndarray, radius: int, top_fraction: float) -> PatternScores:
    """Scores of a row-normalised (T, T) float64 map (no checks)."""
    n_q, n_k = a.shape
    i = np.arange(n_q)[:, None]
    j = np.arange(n_k)[None, :]
    band = np.abs(i - j) <= radius
    in_band = float((a * band).sum(axis=1).mean())
    uniform = float(band.mean())  # a uniform map's in-band mass: the band's share of the cells
    diagonal = (in_band - uniform) / (1.0 - uniform) if uniform < 1.0 else 0.0

    columns = a.mean(axis=0)
    k = max(1, int(round(top_fraction * n_k)))
    if k >= n_k:
        vertical = consistency = 0.0
    else:
        chance = k / n_k
        top = np.argsort(-columns, kind="stable")[:k]
        vertical = (float(columns[top].sum()) - chance) / (1.0 - chance)
        per_query = (a[:, top].sum(axis=1) - chance) / (1.0 - chance)
        consistency = float(np.percentile(per_query, CONSISTENCY_PERCENTILE))

    if n_k > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(a > 0, np.log(np.where(a > 0, a, 1.0)), 0.0)
        entropy = float((-(a * logs).sum(axis=1)).mean() / np.log(n_k))
    else:
        entropy = 0.0
    clip = lambda x: float(min(1.0, max(0.0, x)))  # noqa: E731  (float rounding at the ends)
    return PatternScores(clip(diagonal), clip(vertical), clip(consistency), clip(entropy))


def pattern_scores(
    attention_map: np.ndarray,
    *,
    radius: int = DEFAULT_RADIUS,
    top_fraction: float = DEFAULT_TOP_FRACTION,
    averaging: str = DEFAULT_AVERAGING,
) -> PatternScores:
    """Scores of one map.

    Parameters
    ----------
    attention_map : numpy.ndarray
        ``(T, T)`` attention weights (rows = queries), or ``(heads, T, T)`` which is head-averaged
        first (:func:`~layerprobe.attention.maps.head_average`).  Rows are renormalised to sum to 1.
    radius : int
        Half-width of the diagonal band in frames.
    top_fraction : float
        Share of the keys counted as the vertical pattern's key frames (k = max(1, round(f T))).
    averaging : {"heads-first", "rows-first"}
        The order of averaging heads and renormalising rows (see the module docstring).

    Returns
    -------
    PatternScores

    Raises
    ------
    ConfigError
        For a negative radius, a top_fraction outside (0, 1], a map that is not square or holds
        negative / non-finite weights or an empty row.
    """
    radius, top_fraction = _check_options(radius, top_fraction)
    a = head_average(attention_map, averaging=averaging)
    if a.shape[0] != a.shape[1]:
        raise ConfigError(f"an attention map must be square (T, T), got shape {a.shape}")
    return _scores_of(a, radius, top_fraction)


def head_scores(maps: np.ndarray, *, radius: int = DEFAULT_RADIUS, top_fraction: float = DEFAULT_TOP_FRACTION) -> list[PatternScores]:
    """Scores of each head of ``(heads, T, T)`` maps."""
    radius, top_fraction = _check_options(radius, top_fraction)
    values = normalize_rows(maps)
    if values.ndim != 3 or values.shape[1] != values.shape[2]:
        raise ConfigError(f"head maps must be (heads, T, T), got shape {values.shape}")
    return [_scores_of(head, radius, top_fraction) for head in values]


def classify(scores: PatternScores | Mapping[str, float], thresholds: Mapping[str, float] | None = None) -> str:
    """The class of a block's scores (see the module docstring).

    Parameters
    ----------
    scores : PatternScores or mapping
        With ``diagonal``, ``vertical`` and ``consistency``.
    thresholds : mapping, optional
        Overrides of :data:`THRESHOLDS` (keys ``diagonal``, ``vertical``, ``consistency``).
    """
    limits = dict(THRESHOLDS)
    if thresholds:
        unknown = set(thresholds) - set(THRESHOLDS)
        if unknown:
            raise ConfigError(f"unknown threshold {', '.join(sorted(unknown))} (known: {', '.join(THRESHOLDS)})")
        limits.update({key: float(value) for key, value in thresholds.items()})
    values = scores.as_dict() if isinstance(scores, PatternScores) else scores
    is_diagonal = values["diagonal"] >= limits["diagonal"]
    is_vertical = values["vertical"] >= limits["vertical"] and values["consistency"] >= limits["consistency"]
    if is_diagonal and is_vertical:
        return "vertical+diagonal"
    if is_diagonal:
        return "diagonal"
    if is_vertical:
        return "vertical"
    return "heterogeneous"


# --------------------------------------------------------------------------------------------------
# Blocks over utterances


def _mean_scores(items: Sequence[PatternScores]) -> PatternScores:
    return PatternScores(*(float(np.mean([getattr(s, name) for s in items])) for name in SCORE_NAMES))


def _iter_given(maps: Mapping[str, Mapping[str, np.ndarray]], blocks, utterances):
    """(utt, block, maps) from a mapping utt_id -> block -> (heads, T, T)."""
    if utterances is None or isinstance(utterances, int):
        ids = list(maps)
        ids = ids if utterances is None else ids[: int(utterances)]
    else:
        ids = list(utterances)
        missing = [utt for utt in ids if utt not in maps]
        if missing:
            raise ConfigError(f"no maps for utterance {', '.join(missing)}")
    have = sorted({block for utt in ids for block in maps[utt]}, key=layer_sort_key)
    chosen = have if blocks is None else list(blocks)
    unknown = [block for block in chosen if block not in have]
    if unknown:
        raise ConfigError(f"block {', '.join(unknown)} has no maps (blocks with maps: {', '.join(have) or 'none'})")
    for utt in ids:
        for block in chosen:
            if block not in maps[utt]:
                raise ConfigError(f"utterance {utt!r} has no maps for block {block}")
            yield utt, block, maps[utt][block]


def block_patterns(
    store_or_maps: Any,
    *,
    radius: int = DEFAULT_RADIUS,
    blocks: Sequence[str] | str | None = None,
    utterances: Iterable[str] | int | None = None,
    top_fraction: float = DEFAULT_TOP_FRACTION,
    thresholds: Mapping[str, float] | None = None,
    logits: bool = False,
    averaging: str = DEFAULT_AVERAGING,
) -> list[BlockPattern]:
    """Scores and class of every block over utterances.

    Parameters
    ----------
    store_or_maps : FeatureStore, path-like or mapping
        A store with maps (``layerprobe attention maps``), its path, or a mapping
        ``utt_id -> block -> (heads, T, T)`` array (or ``(T, T)``, one head).
    radius : int
        Diagonal band half-width in frames (default 5 = +-100 ms at 50 Hz).
    blocks : sequence of str or str, optional
        Blocks to score (``"T1,T3"`` or a list); default every block with maps.
    utterances : iterable of str or int, optional
        Utterance ids, or the first N utterances with maps; default all with maps.
    top_fraction : float
        See :func:`pattern_scores`.
    thresholds : mapping, optional
        Overrides of :data:`THRESHOLDS`.
    logits : bool
        Store only: score the softmax of the stored pre-softmax logits (cut before the softmax,
        so every head's rows are renormalised and the two averaging orders agree).
    averaging : {"heads-first", "rows-first"}
        How heads are averaged (see the module docstring); per-head scores are the same either way.

    Returns
    -------
    list of BlockPattern
        In block order.

    Raises
    ------
    ConfigError
        Bad radius / top_fraction / thresholds, an unknown block or utterance.
    StoreError
        A store without attention maps (the message says to run ``layerprobe attention maps``).
    """
    radius, top_fraction = _check_options(radius, top_fraction)
    averaging = check_averaging(averaging)
    classify(PatternScores(0, 0, 0, 0), thresholds)  # validate thresholds before any reading
    if isinstance(blocks, str):
        blocks = [part.strip() for part in blocks.split(",") if part.strip()]
    if isinstance(utterances, bool) or (isinstance(utterances, int) and utterances < 1):
        raise ConfigError(f"utterances must be ids or a positive number, got {utterances!r}")

    own_store = None
    if isinstance(store_or_maps, (str, os.PathLike)):
        from layerprobe.io.store import FeatureStore

        own_store = store_or_maps = FeatureStore.open(Path(store_or_maps))
    try:
        if isinstance(store_or_maps, Mapping):
            source = _iter_given(store_or_maps, blocks, utterances)
        else:
            source = iter_maps(store_or_maps, blocks=blocks, utterances=utterances, logits=logits, normalize=False)
        block_avg: dict[str, dict[str, PatternScores]] = {}
        per_head: dict[str, list[list[PatternScores]]] = {}
        padding: dict[str, list[np.ndarray]] = {}  # block -> per utterance, (heads,) mean mass over queries
        stored = True
        for utt, block, maps in source:
            values = normalize_rows(maps)
            raw = np.asarray(maps, dtype=np.float64)
            if values.ndim == 2:
                values, raw = values[None], raw[None]
            if values.ndim != 3 or values.shape[1] != values.shape[2]:
                raise ConfigError(f"maps of utterance {utt!r}, block {block} must be (heads, T, T), got {values.shape}")
            block_avg.setdefault(block, {})[utt] = _scores_of(head_average(raw, averaging=averaging), radius, top_fraction)
            per_head.setdefault(block, []).append([_scores_of(head, radius, top_fraction) for head in values])
            if isinstance(store_or_maps, Mapping):
                mass, stored = np.clip(1.0 - raw.sum(axis=-1), 0.0, 1.0), False
            else:
                mass, found = load_padding(store_or_maps, utt, block)
                stored = stored and found
            padding.setdefault(block, []).append(mass.mean(axis=-1))
    finally:
        if own_store is not None:
            own_store.close()
    if not block_avg:
        if isinstance(store_or_maps, Mapping):
            raise ConfigError("no attention maps given")
        raise StoreError(
            "has no attention maps; store them first with `layerprobe attention maps` "
            "(or `layerprobe extract --rep contextualized --attention N`)",
            path=store_or_maps.paths[0],
        )

    results = []
    for block in sorted(block_avg, key=layer_sort_key):
        by_utt = block_avg[block]
        items = list(by_utt.values())
        mean = _mean_scores(items)
        spread = {
            name: {
                "std": float(np.std([getattr(s, name) for s in items])),
                "min": float(min(getattr(s, name) for s in items)),
                "max": float(max(getattr(s, name) for s in items)),
            }
            for name in SCORE_NAMES
        }
        n_heads = {len(h) for h in per_head[block]}
        if len(n_heads) != 1:
            raise ConfigError(f"block {block} has different numbers of heads across utterances ({sorted(n_heads)})")
        heads = tuple(_mean_scores([utt_heads[h] for utt_heads in per_head[block]]) for h in range(n_heads.pop()))
        head_mass = np.mean(padding[block], axis=0)
        results.append(
            BlockPattern(
                block=block,
                scores=mean,
                spread=spread,
                pattern=classify(mean, thresholds),
                head_scores=heads,
                head_patterns=tuple(classify(s, thresholds) for s in heads),
                utterances=tuple(by_utt),
                per_utterance=dict(by_utt),
                radius=radius,
                top_fraction=top_fraction,
                averaging=averaging,
                padding_mass=float(head_mass.mean()),
                head_padding_mass=tuple(float(m) for m in head_mass),
                padding_stored=stored,
            )
        )
    return results


def patterns_figure(store_or_maps: Any, patterns: Sequence[BlockPattern], *, n_utterances: int = 3, figure: Any = None):
    """The study's figure: head-averaged maps of a few utterances per block, class and scores in the titles.

    Parameters
    ----------
    store_or_maps : FeatureStore or mapping
        Where ``patterns`` came from (a store, or ``utt_id -> block -> maps``).
    patterns : sequence of BlockPattern
        From :func:`block_patterns`; one row each, its maps head-averaged in its ``averaging`` order.
    n_utterances : int
        Panels per block: the first N utterances the patterns were scored on.  Axes are in seconds
        at the store's frame rate (50 Hz for a mapping) and the title names the store's model.

    Returns
    -------
    matplotlib Figure
    """
    from layerprobe.attention.maps import load_map
    from layerprobe.attention.figures import plot_attention_grid

    if n_utterances < 1:
        raise ConfigError(f"the figure needs at least one utterance, got {n_utterances}")
    if not patterns:
        raise ConfigError("no block patterns to draw")
    grid: dict[str, dict[str, np.ndarray]] = {}
    for pattern in patterns:
        row = grid.setdefault(pattern.block, {})
        for utt in pattern.utterances[:n_utterances]:
            if isinstance(store_or_maps, Mapping):
                row[utt] = head_average(store_or_maps[utt][pattern.block], averaging=pattern.averaging)
            else:
                maps = load_map(store_or_maps, utt, pattern.block, normalize=False)
                row[utt] = head_average(maps, averaging=pattern.averaging)
    classes = {p.block: p.pattern for p in patterns}
    scores = {p.block: {"diag": p.scores.diagonal, "vert": p.scores.vertical, "cons": p.scores.consistency,
                        "ent": p.scores.entropy} for p in patterns}  # fmt: skip
    if isinstance(store_or_maps, Mapping):
        rate, model = 50.0, None
    else:
        rate, model = float(store_or_maps.frame_rate_hz), str(store_or_maps.attrs.get("model") or "") or None
    return plot_attention_grid(grid, classes=classes, scores=scores, figure=figure, frame_rate_hz=rate, model=model)
