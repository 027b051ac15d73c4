"""The word-similarity experiment ``wordsim`` bound to a word store (or word-vector files) and a result table.

:func:`run_wordsim` scores every chosen layer's static word vectors
(:mod:`layerprobe.analysis.wordvec`, read from ``layerprobe wordvec`` files when current,
:func:`~layerprobe.experiments.wordvec.cached_word_vectors`) on word-similarity benchmarks
(:func:`~layerprobe.analysis.wordsim.wordsim_scores`) and adds the rows of experiment ``wordsim`` to
a :class:`~layerprobe.results.ResultTable`: metrics ``spearman_micro``, ``spearman_macro`` and
``spearman:<benchmark>``; the sidecar keeps the pairs used and skipped per benchmark.  A benchmark
with no correlation (fewer than 2 pairs used, or constant scores) gets no row; the result and the
command line say why.

Example
-------
>>> from layerprobe.experiments.wordsim import run_wordsim                     # doctest: +SKIP
>>> run_wordsim(features="features", model="tiny:wav2vec2", corpus="demo", split="train",  # doctest: +SKIP
...             benchmarks=["simlex999"], results="results/wordsim.csv")
>>> run_wordsim(report)      # report: extract()'s of a contextualized word store; no table written
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerprobe.analysis.wordsim import (
    DEFAULT_BENCHMARKS,
    EXPERIMENT,
    METRIC_MACRO,
    METRIC_MICRO,
    METRIC_PREFIX,
    Benchmark,
    WordSimResult,
    load_benchmarks,
    wordsim_scores,
)
from layerprobe.analysis.wordvec import MAX_INSTANCES, check_word_store, read_word_vectors, select_instances
from layerprobe.errors import ConfigError, LayerprobeError
from layerprobe.experiments.query import open_store
from layerprobe.experiments.records import RowsMixin, RunKey, open_table, provenance, score_layers, store_model
from layerprobe.experiments.wordvec import FOLDER, cached_word_vectors, choose_layers, store_fingerprint, word_store_query
from layerprobe.io.store_paths import model_name, model_path
from layerprobe.layers import parse_layer_id, parse_layers, sort_layers
from layerprobe.results import ResultTable

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

PathLike = str | os.PathLike


@dataclass(frozen=True)
class LayerWordSim(RowsMixin):
    """One layer's scores.

    Attributes
    ----------
    layer : str
    result : WordSimResult
    n_words : int
        Words with a vector.
    dim : int
    source : Path or None
        The word-vector file read, or None when the vectors were built from the store.
    run : RunKey or None
        The row fields (model, experiment, split, sample, seed); :meth:`rows` gives the layer's
        rows: one per scored benchmark, then the micro and macro averages (none when no benchmark
        is scored).
    """

    layer: str
    result: WordSimResult
    n_words: int
    dim: int
    source: Path | None
    run: RunKey | None = None

    def metrics(self) -> list[tuple[str, float]]:
        result = self.result
        if not result.scored:
            return []
        return [(f"{METRIC_PREFIX}{name}", result.per_benchmark[name]) for name in result.scored] + [
            (METRIC_MICRO, result.micro), (METRIC_MACRO, result.macro)]


def parse_vector_files(specs: Iterable[PathLike]) -> dict[str, Path]:
    """``[LAYER=]FILE`` items -> layer -> file; without ``LAYER=`` the file's stem is the layer (``T3.kv``).

    Raises
    ------
    ConfigError
        An item whose layer cannot be told, or two files for one layer.
    """
    files: dict[str, Path] = {}
    for spec in specs:
        text = os.fspath(spec)
        head, sep, tail = text.partition("=")
        if sep and re.fullmatch(r"\s*[CcTt]\d+\s*", head):
            layer, path = parse_layer_id(head), Path(tail)
        else:
            path = Path(text)
            try:
                layer = parse_layer_id(path.name.split(".")[0])
            except LayerprobeError:
                raise ConfigError("cannot tell which layer the vectors are of: name the file <LAYER>.kv (T3.kv) or give T3=FILE", path=path) from None
        if layer in files:
            raise ConfigError(f"two vector files for layer {layer}: {files[layer]} and {path}")
        files[layer] = path
    return files


def run_wordsim(
    store: Any = None,
    *,
    features: PathLike | None = None,
    model: str | None = None,
    corpus: str | None = None,
    split: str | None = None,
    sample: int | None = None,
    layers: str = "all",
    benchmarks: Iterable[PathLike] = DEFAULT_BENCHMARKS,
    vectors: Iterable[PathLike] | None = None,
    wordvec: PathLike | None = None,
    max_instances: int | None = MAX_INSTANCES,
    seed: int = 0,
    results: ResultTable | PathLike | None = None,
    progress: bool = True,
    on_layer: Callable[[LayerWordSim], None] | None = None,
) -> list[LayerWordSim]:
    """Score the static word vectors of each chosen layer on word-similarity benchmarks.

    Parameters
    ----------
    store : StoreQuery, FeatureStore, extraction report or store path, optional
        A store of the model on the data sample, instead of the path strings (which override it);
        its contextualized word store is read.
    features : path-like
        Root of the feature stores: the word store read is
        ``<features>/<model tag>/<corpus>_<split>_sample<k>/contextualized_word.h5``.
    model : str
        Model spec the store was extracted with (the results' model column).
    corpus, split : str
    sample : int
        Default: the store's, else 1.
    layers : str
        ``"all"``, ``"T4"``, ``"T1-T6"`` ... (with ``vectors``: among the files' layers).
    benchmarks : iterable of path-like
        Bundled names and benchmark files (:func:`~layerprobe.analysis.wordsim.read_benchmark`).
    vectors : iterable of path-like, optional
        Word-vector files ``[LAYER=]FILE`` (:func:`parse_vector_files`; ``.kv`` gensim native, else
        word2vec text or binary or GloVe text) scored instead of the store's layers; they must all
        have the same dim.
    wordvec : path-like, optional
        Folder of ``layerprobe wordvec`` files (default: the ``wordvec`` folder next to the store).
        A layer's file is read when it is current for the store, ``max_instances`` and ``seed``
        (:func:`~layerprobe.experiments.wordvec.cached_word_vectors`); otherwise its vectors are
        built from the store, which gives the same numbers.
    max_instances : int or None
        Instances averaged per word at most.
    seed : int
        Seed of the choice among a word's instances (the results' seed column).
    results : ResultTable or path-like, optional
        Table the rows are added to, saved after every layer.  None: nothing is written; the rows
        are in the returned scores (:meth:`LayerWordSim.rows`).
    progress : bool
    on_layer : callable, optional
        Called with each layer's :class:`LayerWordSim` when it is done.

    Returns
    -------
    list of LayerWordSim
        In layer order.

    Raises
    ------
    ConfigError
        A benchmark or vector file that cannot be read, vector files of different dims, a layer
        the store lacks, or benchmarks none of which can be scored (too few pairs in vocabulary).
    StoreError
        A missing, unfinished or non-word store.
    """
    loaded = load_benchmarks(benchmarks)
    pairs = {name: benchmark.pairs for name, benchmark in loaded.items()}
    table = open_table(results)
    query = None if vectors is not None and store is None else word_store_query(
        store, features=features, model=model, corpus=corpus, split=split, sample=sample, what="run_wordsim")  # fmt: skip
    row_split, row_sample = (query.split, query.sample) if query is not None else (split, 1 if sample is None else sample)
    row_corpus = query.corpus if query is not None else Path(corpus).name if corpus else ""
    options = {"benchmarks": list(loaded), "max_instances": max_instances}
    known = {"benchmarks": {name: {"path": os.fspath(b.path), "sha256": b.sha256, "n_pairs": len(b.pairs)} for name, b in loaded.items()}}

    def scored(layer: str, kv: "KeyedVectors", source: Path | None, row_model: str) -> LayerWordSim:
        run = RunKey(row_model, row_corpus, EXPERIMENT, row_split, row_sample, seed)
        return LayerWordSim(layer, wordsim_scores(kv, pairs), len(kv), int(kv.vector_size), source, run)

    def run_layers(chosen: Sequence[str], score: Callable[[str], LayerWordSim], extra: Mapping[str, Any]) -> list[LayerWordSim]:
        def metadata(outcome: LayerWordSim) -> dict[str, Any]:
            result = outcome.result
            source = outcome.source
            return {
                "options": options,
                "provenance": provenance(**known, **extra, vectors=os.fspath(source) if source is not None else None),
                "details": {"used": result.used, "skipped": result.skipped, "unscored": result.unscored,
                            "n_words": outcome.n_words, "dim": outcome.dim},  # fmt: skip
            }

        # replace_runs: a benchmark scored before but not now must not leave its old row behind
        return score_layers(chosen, score, what=EXPERIMENT, table=table, metadata=metadata, replace_runs=True,
                            progress=progress, on_layer=on_layer)  # fmt: skip

    if vectors is not None:
        files = parse_vector_files(vectors)
        if not files:
            raise ConfigError("no vector files given")
        chosen = parse_layers(layers, sort_layers(files)) if layers.strip().lower() != "all" else sort_layers(files)
        read = {layer: read_word_vectors(files[layer]) for layer in chosen}
        _check_same_dims({files[layer]: kv.vector_size for layer, kv in read.items()})
        _check_coverage({layer: read[layer].index_to_key for layer in chosen}, loaded, what="vector files")
        row_model = model if model is not None else query.model if query is not None else None
        typed = {"model_spec": row_model, "model_path": model_path(row_model)} if row_model else {}
        row_model = model_name(row_model) if row_model else row_model
        scores = run_layers(chosen, lambda layer: scored(layer, read[layer], files[layer], row_model), typed)
    else:
        path = query.path
        folder = Path(wordvec) if wordvec is not None else path.parent / FOLDER
        with open_store(path) as opened:
            check_word_store(opened)
            chosen = choose_layers(opened, layers)
            selection = select_instances(opened.labels, max_instances=max_instances, seed=seed)
            _check_coverage({"store": selection.words}, loaded, what=f"words of {path}")
            fingerprint = store_fingerprint(opened)
            attrs = opened.attrs
            extra = {
                **{key: value for key, value in provenance(attrs=attrs).items() if key != "layerprobe_version"},
                "store": {"path": os.fspath(opened.paths[0]), "manifest_hash": attrs.get("manifest_hash"), "fingerprint": fingerprint},
            }

            def score(layer: str) -> LayerWordSim:
                kv, source = cached_word_vectors(opened, layer, folder, max_instances=max_instances, seed=seed,
                                                 selection=selection, fingerprint=fingerprint)  # fmt: skip
                return scored(layer, kv, source, store_model(opened) if attrs.get("model") else model_name(query.model))

            scores = run_layers(chosen, score, extra)
    if not any(outcome.result.scored for outcome in scores):
        reasons = "; ".join(f"{name}: {why}" for name, why in scores[0].result.unscored.items()) if scores else "no layer"
        raise ConfigError(f"no benchmark could be scored on any layer ({reasons})")
    return scores


def _check_same_dims(dims: Mapping[Path, int]) -> None:
    first_path, first_dim = next(iter(dims.items()))
    for path, dim in dims.items():
        if dim != first_dim:
            raise ConfigError(f"holds {dim}-d vectors but {first_path} holds {first_dim}-d ones; give vector files of one model", path=path)


def _check_coverage(vocabularies: Mapping[str, Sequence[str]], loaded: Mapping[str, Benchmark], *, what: str) -> None:
    """ConfigError before any work when no benchmark has 2 pairs with both words in any vocabulary."""
    for words in vocabularies.values():
        known = set(words)

        def found(word: str) -> bool:
            return word in known or word.lower() in known

        if any(sum(found(first) and found(second) for first, second, _ in benchmark.pairs) >= 2 for benchmark in loaded.values()):
            return
    sizes = ", ".join(f"{name} {len(b.pairs)}" for name, b in loaded.items())
    n_words = max((len(words) for words in vocabularies.values()), default=0)
    raise ConfigError(
        f"no benchmark has 2 pairs with both words among the {n_words} {what} (pairs: {sizes}); "
        "give a benchmark of words the data sample holds"
    )


__all__ = ["LayerWordSim", "parse_vector_files", "run_wordsim"]
