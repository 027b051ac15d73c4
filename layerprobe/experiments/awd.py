"""The acoustic word discrimination experiment ``awd`` bound to a word store and a result table.

:func:`run_awd` scores every chosen layer of a contextualized word store (``extract --span word``:
one mean-pooled row per word segment) on the same-different task
(:func:`~layerprobe.analysis.awd.same_different_ap`) and adds the rows of experiment ``awd`` to a
:class:`~layerprobe.results.ResultTable`: metric ``ap`` per layer and, when speakers are known
(``speaker_pattern``), ``ap_cross_speaker``; ``ap_chance`` beside ``ap`` is the rate of same-word
pairs, the AP of a random ranking, which ``plot`` draws as the chance line.  The sidecar's details keep the counts of segments,
words, same and different pairs and the warnings (too few same pairs).

Segments are the store rows whose label is a word (:func:`~layerprobe.data.labels.word_label`:
lower-cased; silence markers and ``<unk>`` left out).

Example
-------
>>> from layerprobe.experiments.awd import run_awd                                    # doctest: +SKIP
>>> run_awd(features="features", model="tiny:wav2vec2", corpus="demo", split="train",  # doctest: +SKIP
...         speaker_pattern=r"^(\\d+)-", results="results/awd.csv")
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from layerprobe.analysis.awd import BLOCK, EXPERIMENT, METRIC, METRIC_CHANCE, METRIC_CROSS_SPEAKER, AWDResult, same_different_ap
from layerprobe.analysis.wordvec import check_word_store
from layerprobe.data.labels import word_label
from layerprobe.errors import ConfigError, StoreError
from layerprobe.experiments.query import open_store
from layerprobe.experiments.records import RowsMixin, RunKey, open_table, provenance, score_layers, store_entry, store_model
from layerprobe.experiments.wordvec import choose_layers, word_store_query
from layerprobe.io.store import FeatureStore
from layerprobe.results import ResultTable

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: Fewer same-word pairs than this draw a warning (the AP rests on few pairs).
MIN_SAME_PAIRS = 100
#: The stores ``awd`` reads: the word sample's (default) or the all-words sample's (rows ``awd@all_words``).
SPANS = ("word", "all_words")


@dataclass(frozen=True)
class LayerAWD(RowsMixin):
    """One layer's same-different scores.

    Attributes
    ----------
    layer : str
    result : AWDResult
    warnings : tuple of str
    run : RunKey or None
        The row fields; :meth:`rows` gives ``ap``, its chance level ``ap_chance`` (the same-pair rate,
        which ``plot`` draws as the dashed chance line) and, when scored, ``ap_cross_speaker``.
    """

    layer: str
    result: AWDResult
    warnings: tuple[str, ...] = ()
    run: RunKey | None = None

    def metrics(self) -> list[tuple[str, float]]:
        made = [(METRIC, self.result.ap), (METRIC_CHANCE, self.result.same_rate)]
        if self.result.ap_cross_speaker is not None:
            made.append((METRIC_CROSS_SPEAKER, self.result.ap_cross_speaker))
        return made


def segment_speakers(store: FeatureStore, pattern: str) -> np.ndarray:
    """Each segment's speaker: the first group (else the whole match) of ``pattern`` searched in its utterance id.

    Raises
    ------
    ConfigError
        A pattern that does not compile or does not match an utterance id.
    """
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"--speaker-pattern {pattern!r} is not a regular expression ({exc}); give e.g. '^(\\d+)-'") from None
    speakers = []
    for utt_id in store.utterance_ids:
        match = compiled.search(utt_id)
        if match is None:
            raise ConfigError(f"--speaker-pattern {pattern!r} does not match utterance id {utt_id!r}; give a pattern whose first group is the speaker")
        speakers.append(match.group(1) if compiled.groups else match.group(0))
    return np.asarray(speakers, dtype=object)[store.segment_utt_index]


def awd_warnings(layer: str, result: AWDResult) -> list[str]:
    """Lines when the same pairs (or cross-speaker same pairs) are fewer than :data:`MIN_SAME_PAIRS`."""
    made = []
    if result.n_same < MIN_SAME_PAIRS:
        made.append(f"awd {layer}: only {result.n_same} same-word pairs among {result.n_segments} segments: the AP rests on few pairs; "
                    "draw a larger data sample")  # fmt: skip
    if result.n_same_cross_speaker is not None and result.n_same_cross_speaker < MIN_SAME_PAIRS:
        made.append(f"awd {layer}: only {result.n_same_cross_speaker} same-word different-speaker pairs: "
                    + ("no ap_cross_speaker row" if result.ap_cross_speaker is None else "ap_cross_speaker rests on few pairs"))  # fmt: skip
    return made


def run_awd(
    store: Any = None,
    *,
    features: PathLike | None = None,
    model: str | None = None,
    corpus: str | None = None,
    split: str | None = None,
    sample: int | None = None,
    layers: str = "all",
    speaker_pattern: str | None = None,
    span: str = "word",
    block: int = BLOCK,
    results: ResultTable | PathLike | None = None,
    progress: bool = True,
    on_layer: Callable[[LayerAWD], None] | None = None,
) -> list[LayerAWD]:
    """Score each chosen layer of a word store on the same-different task (AP of same-word pairs).

    Parameters
    ----------
    store : StoreQuery, FeatureStore, extraction report or store path, optional
        The model's contextualized word store, instead of the path strings (which override it).
    features : path-like
        Root of the feature stores: ``<features>/<model tag>/<corpus>_<split>_sample<k>/contextualized_word.h5``.
    model, corpus, split : str
    sample : int
        Default: the store's, else 1.
    layers : str
        ``"all"``, ``"T4"``, ``"T1-T6"`` ...
    speaker_pattern : str, optional
        Regular expression searched in each utterance id; its first group (else the match) is the
        speaker (LibriSpeech ``^(\\d+)-``, TIMIT ``^([^_]+)_``).  Adds ``ap_cross_speaker``.
    span : {"word", "all_words"}
        The store read: the word sample's (``contextualized_word.h5``) or the all-words sample's
        (``contextualized_all_words.h5``, the data of ``cca_semantic``; rows named ``awd@all_words``).
    block : int
        Tile side of the chunked computation (memory, :mod:`layerprobe.analysis.awd`).
    results : ResultTable or path-like, optional
        Table the rows are added to, saved after every layer; None: nothing is written.
    progress : bool
    on_layer : callable, optional
        Called with each layer's :class:`LayerAWD` when it is done.

    Returns
    -------
    list of LayerAWD
        In layer order.

    Raises
    ------
    StoreError
        A missing, unfinished or non-word store, or one whose layer rows and labels disagree.
    ConfigError
        A layer the store lacks, a bad speaker pattern, or no word with two segments.
    """
    _check_span(span)
    query = word_store_query(store, features=features, model=model, corpus=corpus, split=split, sample=sample, what="run_awd",
                             span=span)  # fmt: skip
    table = open_table(results)
    with open_store(query.path) as opened:
        _check_store(opened, span)
        path = opened.paths[0]
        chosen = choose_layers(opened, layers)
        keep = np.array([word_label(str(label)) is not None for label in opened.labels], dtype=bool)
        words = [word_label(str(label)) for label in opened.labels[keep]]
        if not words:
            raise StoreError("holds no word segments (no row with a word label)", path=path)
        if len(set(words)) == len(words):
            raise ConfigError(f"no word has two segments among the {len(words)} segments of {path}: there is no same-word pair "
                              "to rank; draw a larger data sample")  # fmt: skip
        speakers = segment_speakers(opened, speaker_pattern)[keep] if speaker_pattern is not None else None
        attrs = opened.attrs
        row_model = store_model(opened) if attrs.get("model") else query.model
        run = RunKey(row_model, query.corpus, EXPERIMENT if span == "word" else f"{EXPERIMENT}@{span}", query.split, query.sample, 0)

        def score(layer: str) -> LayerAWD:
            values = opened.read(layer)
            if len(values) != len(keep):
                raise StoreError(f"layer {layer} has {len(values)} rows but the store has {len(keep)} segment labels", path=path)
            result = same_different_ap(values[keep], words, speakers=speakers, block=block)
            found = awd_warnings(layer, result)
            for line in found:
                log.warning(line)
            return LayerAWD(layer, result, tuple(found), run)

        def metadata(outcome: LayerAWD) -> dict[str, Any]:
            result = outcome.result
            return {
                "options": {"distance": "cosine", "pooling": "mean", "speaker_pattern": speaker_pattern, "span": span},
                "provenance": provenance(attrs=attrs, store=store_entry(opened)),
                "details": {"n_segments": result.n_segments, "n_words": result.n_words, "n_same": result.n_same,
                            "n_different": result.n_different, "same_rate": result.same_rate,
                            "n_same_cross_speaker": result.n_same_cross_speaker, "n_speakers": result.n_speakers,
                            "warnings": list(outcome.warnings)},  # fmt: skip
            }

        # replace_runs: a run with speakers before and without now must not keep its old ap_cross_speaker row
        return score_layers(chosen, score, what=EXPERIMENT, table=table, metadata=metadata, replace_runs=True,
                            progress=progress, on_layer=on_layer)  # fmt: skip


def awd_layers(*, features: PathLike, model: str, corpus: str, split: str, sample: int | None = None, layers: str = "all",
               span: str = "word") -> list[str]:  # fmt: skip
    """The layers :func:`run_awd` would score (for one launched task per layer)."""
    _check_span(span)
    query = word_store_query(features=features, model=model, corpus=corpus, split=split, sample=sample, what="awd_layers", span=span)
    with open_store(query.path) as opened:
        _check_store(opened, span)
        return choose_layers(opened, layers)


def _check_span(span: str) -> None:
    if span not in SPANS:
        raise ConfigError(f"--span must be one of {', '.join(SPANS)}, got {span!r}")


def _check_store(store: FeatureStore, span: str) -> None:
    """StoreError naming the file unless ``store`` is a store of ``span`` (word or all_words)."""
    if span == "word":
        check_word_store(store)
    elif store.span != span:
        raise StoreError(f"is a {store.span}-span store; awd --span {span} needs an {span}-span store (extract --span {span})",
                         path=store.paths[0])  # fmt: skip


__all__ = ["LayerAWD", "MIN_SAME_PAIRS", "SPANS", "awd_layers", "awd_warnings", "run_awd", "segment_speakers"]
