"""The word segmentation experiment ``segment``: frame stores and word alignments in, boundary scores per layer out.

:func:`run_segment` reads a model's contextualized frame store (``extract`` of a frame-span data
sample: every frame of every utterance, layer by layer) and the word alignments of its utterances
(through the data-sample manifest the store was extracted from), and for each chosen layer runs the
published peak-picking segmentation (:mod:`layerprobe.analysis.segmentation`): the 180 settings of
the grid are searched on the *tuning* split's store and the best setting per convention (boundary
F1) is scored on the *evaluation* split (``--split``).  ``tune_on_eval`` is the published protocol,
which tunes and reports on the same data.

Rows
----
One row set per convention, named by the experiment's variant: ``segment@librispeech`` (+-20 ms,
many-to-one) and ``segment@buckeye`` (vqwordseg: +-2 10 ms slices, one-to-one); tuned on the
evaluation data they are ``segment@librispeech+same-data`` and ``segment@buckeye+same-data``.  Metrics: ``precision``,
``recall``, ``f1``, ``os``, ``r_value`` (both left out when no boundary is correct: precision 0) and
``token_f1``; split and sample are the evaluation store's.  The sidecar keeps per run the chosen
``distance``, ``window`` and ``prominence``, the tuning split and its F1, and the counts: utterances,
those scored, those left out (no alignment, no word), those without a predicted boundary, gold and
predicted boundaries.

Utterances without a word (only silence, or an empty word tier) or without an alignment are left
out of the scores (all frames still enter the z-score, which is over the whole sample) and counted;
an utterance without a peak is scored with no boundaries (the published code drops its prediction
list and pairs every later utterance with the wrong reference).

Example
-------
>>> from layerprobe.experiments.segment import run_segment                             # doctest: +SKIP
>>> run_segment(features="features", model="tiny:wav2vec2", corpus="demo", split="test",  # doctest: +SKIP
...             tune_split="dev", results="results/segment.csv")
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np

from layerprobe.analysis.segmentation import (
    BUCKEYE_SLICE_S,
    BUCKEYE_TOLERANCE,
    CONVENTIONS,
    LIBRISPEECH_TOLERANCE_S,
    BoundaryScore,
    Setting,
    TokenScore,
    gold_boundaries,
    gold_words,
    random_boundaries,
    score_boundaries,
    search_grid,
    segment_frames,
    token_scores,
    zscore,
)
from layerprobe.errors import ConfigError, StoreError
from layerprobe.experiments.query import StoreQuery, check_same_weights, manifest_candidates, resolve_store
from layerprobe.experiments.records import RunKey, open_table, provenance, score_layers, store_entry, store_model
from layerprobe.experiments.wordvec import choose_layers
from layerprobe.io.store import FeatureStore
from layerprobe.results import ResultTable

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

EXPERIMENT = "segment"
#: The variant suffix of runs tuned on the evaluation data (the published protocol).
SAME_DATA = "same-data"
METRICS = ("precision", "recall", "f1", "os", "r_value", "token_f1")


def experiment_name(convention: str, *, tune_on_eval: bool = False) -> str:
    """``segment@<convention>``, with ``+same-data`` when tuned on the evaluation data.

    >>> experiment_name("buckeye", tune_on_eval=True)
    'segment@buckeye+same-data'
    """
    return f"{EXPERIMENT}@{convention}" + (f"+{SAME_DATA}" if tune_on_eval else "")


@dataclass(frozen=True)
class ConventionScore:
    """One convention's outcome on one layer.

    Attributes
    ----------
    convention : str
    setting : Setting
        The setting chosen on the tuning data.
    tune : BoundaryScore
        Its counts on the tuning data.
    score : BoundaryScore
        Its counts on the evaluation data.
    tokens : TokenScore
        Word-token counts on the evaluation data.
    n_without_boundaries : int
        Evaluation utterances scored without a predicted boundary.
    chance : BoundaryScore or None
        The chance level: as many boundaries per utterance, placed at random frames
        (:func:`~layerprobe.analysis.segmentation.random_boundaries`), scored the same way.
    """

    convention: str
    setting: Setting
    tune: BoundaryScore
    score: BoundaryScore
    tokens: TokenScore
    n_without_boundaries: int
    chance: BoundaryScore | None = None

    def metrics(self) -> list[tuple[str, float]]:
        s = self.score
        made = [("precision", s.precision), ("recall", s.recall), ("f1", s.f1)]
        if s.precision > 0:
            made += [("os", s.os), ("r_value", s.r_value)]
        made.append(("token_f1", self.tokens.f1))
        if self.chance is not None:  # drawn by plot as the chance line of f1 and r_value
            made.append(("f1_chance", self.chance.f1))
            if self.chance.precision > 0:
                made.append(("r_value_chance", self.chance.r_value))
        return made


@dataclass(frozen=True)
class LayerSegmentation:
    """One layer's segmentation scores, one :class:`ConventionScore` per convention.

    ``rows()`` gives each convention's metrics under its experiment name (:func:`experiment_name`).
    """

    layer: str
    conventions: tuple[ConventionScore, ...]
    counts: dict[str, int]
    tune_on_eval: bool = False
    run: RunKey | None = None

    def by_convention(self, convention: str) -> ConventionScore:
        return next(c for c in self.conventions if c.convention == convention)

    def rows(self) -> list[dict[str, Any]]:
        if self.run is None:
            return []
        made = []
        for outcome in self.conventions:
            run = dataclasses.replace(self.run, experiment=experiment_name(outcome.convention, tune_on_eval=self.tune_on_eval))
            made += run.rows(self.layer, outcome.metrics())
        return made


@dataclass(frozen=True)
class WordTimes:
    """The word alignments of a frame store's utterances, in store order.

    Attributes
    ----------
    gold : list of numpy.ndarray
        Gold boundary times (s) of the utterances kept.
    words : list of numpy.ndarray
        Their word intervals, shape (n, 2).
    ends : list of float
        Their audio durations (s).
    keep : numpy.ndarray
        (n_utterances,), bool: which store utterances are scored.
    counts : dict
        ``n_utterances``, ``n_scored``, ``n_without_alignment``, ``n_without_words``.
    """

    gold: list[np.ndarray]
    words: list[np.ndarray]
    ends: list[float]
    keep: np.ndarray
    counts: dict[str, int]


def segment_store_query(store: Any = None, *, what: str = "this experiment", **parts: Any) -> StoreQuery:
    """The contextualized frame store named by ``store`` and/or the path strings."""
    return resolve_store(store, rep="contextualized", span="frame", what=what, **parts)


def check_frame_store(store: FeatureStore) -> None:
    """StoreError unless the store holds frames (``extract`` of a frame-span sample)."""
    if store.span != "frame":
        raise StoreError(f"is a {store.span}-span store; segment needs frame features (draw a frame-span sample and extract it)",
                         path=store.paths[0])  # fmt: skip


def find_manifest(store: FeatureStore, samples_dir: PathLike | None) -> Any:
    """The data-sample manifest a store was extracted from (StoreError when none is found)."""
    from layerprobe.data.samples import read_manifest

    for candidate in manifest_candidates(store.attrs, samples_dir):
        if candidate.is_file():
            return read_manifest(candidate)
    raise StoreError("its data-sample manifest (which names the word alignments) is not found; pass --samples-dir "
                     "(the folder sample wrote it under)", path=store.paths[0])  # fmt: skip


def word_times(store: FeatureStore, samples_dir: PathLike | None = None) -> WordTimes:
    """The gold word boundaries of each utterance of a frame store, from its manifest's alignments.

    Raises
    ------
    StoreError
        No manifest found.
    ConfigError
        No utterance has a word (nothing to score).
    """
    from layerprobe.attention.view_inputs import load_alignments

    manifest = find_manifest(store, samples_dir)
    ids = store.utterance_ids
    found, notes = load_alignments(manifest, ids)
    for note in notes:
        log.warning("segment: %s", note)
    gold, words, ends, keep = [], [], [], np.zeros(len(ids), dtype=bool)
    n_without_words = 0
    for index, utt_id in enumerate(ids):
        alignment = found.get(utt_id)
        if alignment is None:
            continue
        intervals = gold_words(alignment.words)
        if len(intervals) == 0:
            n_without_words += 1
            continue
        keep[index] = True
        gold.append(gold_boundaries(alignment.words))
        words.append(intervals)
        ends.append(float(alignment.duration))
    counts = {"n_utterances": len(ids), "n_scored": int(keep.sum()), "n_without_alignment": len(ids) - len(found),
              "n_without_words": n_without_words}  # fmt: skip
    if not keep.any():
        raise ConfigError(f"none of the {len(ids)} utterances of {store.paths[0]} has a word in its alignment "
                          f"({counts['n_without_alignment']} without an alignment, {n_without_words} without a word); "
                          "segment needs word alignments")  # fmt: skip
    return WordTimes(gold, words, ends, keep, counts)


def layer_frames(store: FeatureStore, layer: str) -> tuple[np.ndarray, np.ndarray, float]:
    """A layer's z-scored frames (all utterances), frames per utterance, and frame rate."""
    frames = store.read(layer)
    _, counts = store.row_ranges(layer)
    return zscore(frames), counts, store.layer_frame_rate(layer)


def _evaluate(convention: str, setting: Setting, z: np.ndarray, counts: np.ndarray, rate: float,
              times: WordTimes) -> tuple[BoundaryScore, TokenScore, int, BoundaryScore]:  # fmt: skip
    """One setting's boundary and token counts on the utterances ``times`` keeps, and the boundary
    counts of as many boundaries at random frames (the chance level)."""
    frames = segment_frames(z, counts, distance=setting.distance, window=setting.window, prominence=setting.prominence,
                            standardized=True)  # fmt: skip
    kept = [f for f, k in zip(frames, times.keep) if k]
    kept_counts = counts[times.keep]
    score = score_boundaries(times.gold, kept, kept_counts, rate, convention)
    tokens = token_scores(times.words, kept, times.ends, rate, convention)
    chance = score_boundaries(times.gold, random_boundaries(kept, kept_counts), kept_counts, rate, convention)
    return score, tokens, sum(1 for f in kept if len(f) == 0), chance


def run_segment(
    store: Any = None,
    *,
    features: PathLike | None = None,
    model: str | None = None,
    corpus: str | None = None,
    split: str | None = None,
    sample: int | None = None,
    tune_split: str | None = "dev",
    tune_sample: int | None = None,
    tune_on_eval: bool = False,
    conventions: Sequence[str] = CONVENTIONS,
    layers: str = "all",
    samples_dir: PathLike | None = "data_samples",
    results: ResultTable | PathLike | None = None,
    progress: bool = True,
    on_layer: Callable[[LayerSegmentation], None] | None = None,
) -> list[LayerSegmentation]:
    """Segment each chosen layer's frames into words: tune the grid on one split, score on another.

    Parameters
    ----------
    store : StoreQuery, FeatureStore, extraction report or store path, optional
        The evaluation split's contextualized frame store, instead of the path strings.
    features : path-like
        Root of the stores: ``<features>/<model tag>/<corpus>_<split>_sample<k>/contextualized_frame.h5``.
    model, corpus : str
    split : str
        The evaluation split (its rows).
    sample : int
        Default: the store's, else 1.
    tune_split : str
        The split whose store the grid is searched on (default ``dev``).
    tune_sample : int, optional
        Its data sample (default: ``sample``).
    tune_on_eval : bool
        Search the grid on the evaluation store itself (the published protocol; rows ``+same-data``).
    conventions : sequence of str
        ``librispeech`` and/or ``buckeye``.
    layers : str
        ``"all"``, ``"T4"``, ``"T1-T6"`` ...
    samples_dir : path-like, optional
        Where the data-sample manifests are (``<samples_dir>/<corpus>/<split>_frame_sample<k>.json``)
        when the store's recorded manifest path is gone.
    results : ResultTable or path-like, optional
        Table the rows are added to, saved after every layer; None: nothing is written.
    progress : bool
    on_layer : callable, optional
        Called with each layer's :class:`LayerSegmentation`.

    Returns
    -------
    list of LayerSegmentation
        In layer order.

    Raises
    ------
    StoreError
        A missing or non-frame store, or no manifest to read the alignments from.
    ConfigError
        The same split for tuning and evaluation without ``tune_on_eval``, an unknown convention, a
        layer the store lacks, or no utterance with a word.
    """
    unknown = [c for c in conventions if c not in CONVENTIONS]
    if unknown or not conventions:
        raise ConfigError(f"--convention {', '.join(unknown) or '(none)'} is not one of {', '.join(CONVENTIONS)}")
    query = segment_store_query(store, features=features, model=model, corpus=corpus, split=split, sample=sample, what="run_segment")
    if not tune_on_eval:
        if tune_split is None:
            raise ConfigError("give --tune-split (the split the 180 settings are searched on, e.g. dev) or --tune-on-eval")
        tune_query = query.replace(split=tune_split, sample=tune_sample if tune_sample is not None else query.sample)
        if tune_query == query:
            raise ConfigError(f"--tune-split {tune_split} is the evaluation split: give another split to tune on, or "
                              "--tune-on-eval for the published same-data protocol")  # fmt: skip
    table = open_table(results)
    with ExitStack() as stack:
        opened = query.open(stack)
        check_frame_store(opened)
        chosen = choose_layers(opened, layers)
        times = word_times(opened, samples_dir)
        tuned, tune_times = opened, times
        if not tune_on_eval:
            tuned = tune_query.open(stack)
            check_frame_store(tuned)
            check_same_weights([opened, tuned])
            missing = [layer for layer in chosen if layer not in tuned.layer_ids]
            if missing:
                raise ConfigError(f"layer {', '.join(missing)} is not in the tuning store; extract it there too", path=tuned.paths[0])
            tune_times = word_times(tuned, samples_dir)
        attrs = opened.attrs
        row_model = store_model(opened) if attrs.get("model") else query.model
        run = RunKey(row_model, query.corpus, EXPERIMENT, query.split, query.sample, 0)

        def score(layer: str) -> LayerSegmentation:
            z, counts, rate = layer_frames(tuned, layer)
            searched = search_grid(z, counts, tune_times.gold, rate, conventions, keep=tune_times.keep)
            if not tune_on_eval:
                z, counts, rate = layer_frames(opened, layer)
            made = []
            for convention in conventions:
                found = searched[convention]
                boundaries, tokens, without, chance = _evaluate(convention, found.setting, z, counts, rate, times)
                if tune_on_eval and boundaries != found.score:  # pragma: no cover - the grid and one setting must agree
                    raise RuntimeError(f"segment {layer}: the grid's counts {found.score} differ from the setting's {boundaries}")
                made.append(ConventionScore(convention, found.setting, found.score, boundaries, tokens, without, chance))
            return LayerSegmentation(layer, tuple(made), dict(times.counts), tune_on_eval, run)

        entries = {"store": store_entry(opened)}
        if not tune_on_eval:
            entries["tune_store"] = store_entry(tuned)

        def record(outcome: LayerSegmentation) -> None:
            if table is None:
                return
            for convention in outcome.conventions:
                rows = [row for row in outcome.rows() if row["experiment"] == experiment_name(convention.convention, tune_on_eval=tune_on_eval)]
                table.add(rows, options=_options(convention.convention, tune_on_eval, tune_split, tune_sample),
                          provenance=provenance(attrs=attrs, **entries),
                          details=_details(convention, outcome.counts, tune_times.counts if not tune_on_eval else None),
                          replace_runs=True)  # fmt: skip
            table.save()
            if on_layer is not None:
                on_layer(outcome)

        return score_layers(chosen, score, what=EXPERIMENT, table=None, progress=progress, on_layer=record)


def _options(convention: str, tune_on_eval: bool, tune_split: str | None, tune_sample: int | None) -> dict[str, Any]:
    made: dict[str, Any] = {"convention": convention, "tune_on_eval": tune_on_eval,
                            "tune_split": None if tune_on_eval else tune_split, "tune_sample": tune_sample,
                            "grid": "published: prominence 15 x distance 2 x window 6", "selected_by": "boundary f1 on the tuning data"}  # fmt: skip
    if convention == "librispeech":
        made["tolerance_s"] = LIBRISPEECH_TOLERANCE_S
        made["matching"] = "many-to-one"
    else:
        made["tolerance_slices"] = BUCKEYE_TOLERANCE
        made["slice_s"] = BUCKEYE_SLICE_S
        made["matching"] = "one-to-one"
    return made


def _details(outcome: ConventionScore, counts: dict[str, int], tune_counts: dict[str, int] | None) -> dict[str, Any]:
    s, t = outcome.score, outcome.tokens
    made: dict[str, Any] = {**outcome.setting.as_dict(), "tune_f1": outcome.tune.f1, "tune_precision": outcome.tune.precision,
                            "tune_recall": outcome.tune.recall, **counts, "n_without_boundaries": outcome.n_without_boundaries,
                            "n_gold": s.n_gold, "n_pred": s.n_pred, "correct_pred": s.correct_pred, "correct_gold": s.correct_gold,
                            "n_gold_tokens": t.n_gold, "n_pred_tokens": t.n_pred, "correct_tokens": t.correct}  # fmt: skip
    if tune_counts is not None:
        made["tune_counts"] = dict(tune_counts)
    return made


def segment_layers(*, features: PathLike, model: str, corpus: str, split: str, sample: int | None = None, layers: str = "all") -> list[str]:
    """The layers :func:`run_segment` would score (for one launched task per layer)."""
    query = segment_store_query(features=features, model=model, corpus=corpus, split=split, sample=sample, what="segment_layers")
    with ExitStack() as stack:
        opened = query.open(stack)
        check_frame_store(opened)
        return choose_layers(opened, layers)


__all__ = ["ConventionScore", "EXPERIMENT", "LayerSegmentation", "METRICS", "SAME_DATA", "WordTimes", "check_frame_store",
           "experiment_name", "find_manifest", "layer_frames", "run_segment", "segment_layers", "segment_store_query", "word_times"]
