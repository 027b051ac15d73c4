"""The spoken sentence similarity experiment ``spoken_sts`` bound to a frame store and a result table.

:func:`run_sts` reads a frame store extracted from a spoken-STS dataset (a Hugging Face dataset in
the published layout, :mod:`layerprobe.data.spoken_sts`; ``sample --span frame`` with every
utterance, then ``extract --span frame``), averages each utterance's frames per layer
(:func:`~layerprobe.analysis.sts.utterance_means`) and scores the sentence pairs
(:func:`~layerprobe.analysis.sts.sts_spearman`): rows of experiment ``spoken_sts``, metric
``spearman`` per layer, and ``spearman:<task>/<subtask>`` per subtask of at least 3 pairs.  The
pairs and human scores come from the dataset the store's data-sample set was drawn from (its
manifest names it), or from ``dataset``.

Example
-------
>>> from layerprobe.experiments.sts import run_sts                                  # doctest: +SKIP
>>> run_sts(features="features", model="hf:/models/whisper-base", corpus="sts", split="test",  # doctest: +SKIP
...         results="results/sts.csv")
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerprobe.analysis.sts import COMBINE, EXPERIMENT, METRIC, StsResult, sts_spearman, utterance_means
from layerprobe.data.corpora import open_corpus
from layerprobe.data.spoken_sts import StsPair, read_sts_pairs
from layerprobe.errors import ConfigError, StoreError
from layerprobe.experiments.query import StoreQuery, open_store, resolve_store
from layerprobe.experiments.records import RowsMixin, RunKey, open_table, provenance, score_layers, store_entry, store_model
from layerprobe.experiments.wordvec import choose_layers
from layerprobe.io.store import FeatureStore
from layerprobe.results import ResultTable

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


@dataclass(frozen=True)
class LayerSts(RowsMixin):
    """One layer's spoken-STS scores.

    Attributes
    ----------
    layer : str
    result : StsResult
    run : RunKey or None
        The row fields; :meth:`rows` gives ``spearman`` and ``spearman:<task>/<subtask>``.
    """

    layer: str
    result: StsResult
    run: RunKey | None = None

    def metrics(self) -> list[tuple[str, float]]:
        """``spearman`` and ``spearman:<task>/<subtask>``; an undefined rho (constant similarities) gives no row."""
        made = [(METRIC, self.result.spearman)]
        made += [(f"{METRIC}:{group}", value) for group, value in self.result.per_subtask.items()]
        return [(metric, value) for metric, value in made if math.isfinite(value)]


def sts_store_query(store: Any = None, *, rep: str | None = None, what: str = "run_sts", **parts: Any) -> StoreQuery:
    """The frame store named by ``store`` and/or the path strings (contextualized by default)."""
    return resolve_store(store, rep=rep, span="frame", what=what, **parts)


def store_dataset(opened: FeatureStore) -> Path:
    """The dataset a store's data-sample set was drawn from (its manifest's corpus root).

    Raises
    ------
    StoreError
        A store that names no readable manifest (give ``--dataset``).
    """
    from layerprobe.data.samples import read_manifest

    manifest = opened.attrs.get("manifest_file") or ""
    if not manifest or not Path(manifest).is_file():
        raise StoreError(f"names no data-sample set on disk ({manifest or 'none recorded'}); give the spoken-STS dataset "
                         "with --dataset", path=opened.paths[0])  # fmt: skip
    return read_manifest(manifest).corpus_root


def load_pairs(dataset: PathLike, split: str) -> list[StsPair]:
    """The sentence pairs of a spoken-STS dataset's split (:func:`~layerprobe.data.spoken_sts.read_sts_pairs`)."""
    return read_sts_pairs(open_corpus(dataset, format="hf"), split)


def run_sts(
    store: Any = None,
    *,
    features: PathLike | None = None,
    model: str | None = None,
    corpus: str | None = None,
    split: str | None = None,
    sample: int | None = None,
    rep: str | None = None,
    layers: str = "all",
    dataset: PathLike | None = None,
    combine: str = "mean",
    results: ResultTable | PathLike | None = None,
    progress: bool = True,
    on_layer: Callable[[LayerSts], None] | None = None,
) -> list[LayerSts]:
    """Score each chosen layer of a frame store on spoken sentence similarity (Spearman's rho).

    Parameters
    ----------
    store : StoreQuery, FeatureStore, extraction report or store path, optional
        The frame store, instead of the path strings (which override it).
    features : path-like
        Root of the feature stores: ``<features>/<model tag>/<corpus>_<split>_sample<k>/<rep>_frame.h5``.
    model, corpus, split : str
    sample : int
        Default: the store's, else 1.
    rep : {"contextualized", "local", "mel"}, optional
        Default: the store's, else ``contextualized``.
    layers : str
        ``"all"``, ``"T4"``, ``"T1-T6"`` ...
    dataset : path-like, optional
        The spoken-STS dataset (parquet or save_to_disk); default: the corpus of the store's manifest.
    combine : {"mean", "all"}
        Speaker combinations of a pair: their mean cosine (published) or each one a point.
    results : ResultTable or path-like, optional
        Table the rows are added to, saved after every layer; None: nothing is written.
    progress : bool
    on_layer : callable, optional
        Called with each layer's :class:`LayerSts` when it is done.

    Returns
    -------
    list of LayerSts
        In layer order.

    Raises
    ------
    StoreError
        A missing or unfinished store, one that is not of the frame span, or that names no dataset.
    CorpusError
        A dataset without the published layout's columns, or a pair without audio.
    ConfigError
        A layer the store lacks, an unknown ``combine``, or a pair's utterance missing from the store.
    """
    if combine not in COMBINE:
        raise ConfigError(f"unknown --combine {combine!r} (known: {', '.join(COMBINE)})")
    query = sts_store_query(store, rep=rep, features=features, model=model, corpus=corpus, split=split, sample=sample)
    table = open_table(results)
    with open_store(query.path) as opened:
        path = opened.paths[0]
        if opened.span != "frame":
            raise StoreError(f"is a {opened.span} store; spoken STS averages all frames of each utterance: extract --span frame",
                             path=path)  # fmt: skip
        chosen = choose_layers(opened, layers)
        source = Path(dataset) if dataset is not None else store_dataset(opened)
        pairs = load_pairs(source, query.split)
        index = {utt_id: number for number, utt_id in enumerate(opened.utterance_ids)}
        needed = list(dict.fromkeys(utt for pair in pairs for utt in (*pair.a_ids, *pair.b_ids)))
        missing = [utt for utt in needed if utt not in index]
        if missing:
            raise StoreError(f"holds {len(needed) - len(missing)} of the {len(needed)} utterances of the {len(pairs)} sentence pairs "
                             f"of {source} (first missing: {missing[0]!r}); draw the data sample with --n-utterances {len(needed)} "
                             "or more and extract it again", path=path)  # fmt: skip
        attrs = opened.attrs
        row_model = store_model(opened) if attrs.get("model") else query.model
        run = RunKey(row_model, query.corpus, EXPERIMENT, query.split, query.sample, 0)

        def score(layer: str) -> LayerSts:
            result = sts_spearman(utterance_means(opened, layer), index, pairs, combine=combine)
            undefined = [name for name, value in (("all pairs", result.spearman), *result.per_subtask.items()) if not math.isfinite(value)]
            if undefined:
                log.warning(f"spoken_sts {layer}: the similarities are constant over {', '.join(undefined)}: Spearman's rho is "
                            "undefined there and gets no row")  # fmt: skip
            return LayerSts(layer, result, run)

        def metadata(outcome: LayerSts) -> dict[str, Any]:
            result = outcome.result
            return {
                "options": {"embedding": "mean of all frames", "similarity": "cosine", "combine": combine,
                            "dataset": os.fspath(source)},  # fmt: skip
                "provenance": provenance(attrs=attrs, store=store_entry(opened)),
                "details": {"n_pairs": result.n_pairs, "n_combinations": result.n_combinations,
                            "subtasks": sorted(result.per_subtask)},  # fmt: skip
            }

        return score_layers(chosen, score, what=EXPERIMENT, table=table, metadata=metadata, replace_runs=True,
                            progress=progress, on_layer=on_layer)  # fmt: skip


def sts_layers(*, features: PathLike, model: str, corpus: str, split: str, sample: int | None = None, rep: str | None = None,
               layers: str = "all") -> list[str]:  # fmt: skip
    """The layers :func:`run_sts` would score (for one launched task per layer)."""
    query = sts_store_query(features=features, model=model, corpus=corpus, split=split, sample=sample, rep=rep, what="sts_layers")
    with open_store(query.path) as opened:
        return choose_layers(opened, layers)


__all__ = ["LayerSts", "load_pairs", "run_sts", "store_dataset", "sts_layers", "sts_store_query"]
