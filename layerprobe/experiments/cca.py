"""The named CCA experiments bound to feature stores, with results in a ResultTable.

=========== ================================ ======================================== ===========
experiment  view 1                           view 2                                   layers
=========== ================================ ======================================== ===========
cca_mel     log-mel frames (80)              frame features (mel alignment rules)     C1..C7, T1..TL
cca_intra   layer T0 (``base_layer``)        layer Tl, frame level                    T1..TL
cca_phone   phone-pooled features            one-hot phone (39 classes)               T0..TL
cca_word    word-pooled features             one-hot word (500 most frequent)         T0..TL
cca_agwe    word-pooled features             acoustically grounded word embedding     T0..TL
cca_glove   word-pooled features             GloVe vector                             T0..TL
cca_seman.  all-words word-pooled features   supersense distribution (41, WordNet)    T0..TL
cca_syntac. all-words word-pooled features   POS-tag distribution (Penn Treebank)     T0..TL
=========== ================================ ======================================== ===========

``cca_semantic`` and ``cca_syntactic`` (Pasad et al., TACL 2024) read the ``all_words`` store
(``layerprobe sample --span all_words``; ``span="word"`` reads the word store instead) and pair
each word instance with its word's vector in a word-attribute oracle
(:func:`layerprobe.data.oracles.load_oracle`: built from WordNet / the tagger lexicon, or a QVEC
file given as ``oracle``); instances of words the oracle lacks are dropped, counted in the sidecar
(``details["n_dropped"]``, ``details["oracle"]``), and the oracle's source and content fingerprint
are in the options.

(REFERENCE.md section 3; views are built by :mod:`layerprobe.analysis.views`.)  Stores are found
under the extraction layout: ``<features>/<model tag>/<corpus>_<split>_sample<k>/<rep>_<span>.h5``,
the log-mel baseline under the model tag ``logmel``.  Each layer's score is one row of the table
(metric ``pwcca``: the published number, with the signs LAPACK gives the canonical directions), with
a row beside it for the sign-invariant variant (``pwcca_centred``), and the range of the published
score over random sign sets of the directions in the sidecar (``details["signs"]``: ``low``,
``high``; see :mod:`layerprobe.analysis.pwcca`), which ``plot`` draws as a band; rows of
``signs="pinned"`` are named ``<experiment>@pinned`` (``cca_mel@pinned``), apart from the
published numbers.  Per-trial scores, chosen epsilons, sizes, options and provenance (store paths
and their manifest hashes) go to the table's JSON sidecar.  The data split is computed once per
set of paired rows and cached next to the table, so every layer of an experiment sees the same
parts.

Warnings, logged (logger ``layerprobe.experiments.cca``; the CLI prints them as ``layerprobe: ...``)
and kept in each layer's ``details["warnings"]``: fewer than :data:`MIN_ROWS_PER_DIMENSION` paired
rows per dimension of the wider view (CCA then finds correlations in noise on the training rows and
the held-out score means little), and a PWCCA within :data:`CHANCE_PWCCA` of 0 (the held-out score of
independent views).

Example
-------
>>> from layerprobe.experiments.cca import run_cca                     # doctest: +SKIP
>>> run_cca("cca_phone", features="features", model="tiny:wav2vec2",  # doctest: +SKIP
...         corpus="demo", split="train", sample=1, layers="all", results="results/cca.csv")
>>> report = extract(manifest, adapter, "features", rep="contextualized")  # doctest: +SKIP
>>> run_cca("cca_mel", report)          # the local and log-mel stores beside it; no table written
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from layerprobe.analysis.cca import NULL_DIRECTION_MODES, SIGN_CONVENTIONS, SIGN_SETS, CCAResult, cca_experiment
from layerprobe.errors import ConfigError, StoreError
from layerprobe.experiments.query import MEL_TAG, StoreQuery, missing_hint, open_stores, resolve_store
from layerprobe.experiments.records import RunKey, ScoredRecord, open_table, provenance, score_layers, store_entry, store_model
from layerprobe.io.store import FeatureStore
from layerprobe.layers import layer_index, layer_kind, parse_layers, sort_layers
from layerprobe.results import ResultTable

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: The metric name of CCA results in a ResultTable.
METRIC = "pwcca"
#: Controls of the oracle experiments: ``shuffled`` pairs each word with another word's oracle vector.
CONTROLS = ("none", "shuffled")
#: The sign-invariant variant's metric: PWCCA weights from the centred projections.
CENTRED_METRIC = "pwcca_centred"
#: Parts of the protocol's split (REFERENCE.md section 3); each needs at least 2 rows.
N_PARTS = 10
#: Fewer paired rows than this per dimension of the wider view get a warning: with d dimensions, the
#: training rows' covariance needs many more than d rows before CCA stops fitting noise.
MIN_ROWS_PER_DIMENSION = 10
#: A PWCCA below this in absolute value is within noise of chance.  The score is a held-out
#: correlation, so independent views sit near 0 (REFERENCE.md section 2's sanity check), not at a
#: positive floor as MI's plug-in estimate does; their scores scatter by a few hundredths on the
#: sizes of a small data sample, which 0.05 covers.
CHANCE_PWCCA = 0.05


@dataclass(frozen=True)
class Experiment:
    """What one named experiment reads.

    Attributes
    ----------
    name : str
    span : str
        Span of the model's stores.
    description : str
        View 1 vs view 2, for help texts.
    """

    name: str
    span: str
    description: str

    @property
    def needs_embeddings(self) -> bool:
        return self.name in ("cca_agwe", "cca_glove")

    @property
    def oracle_kind(self) -> str | None:
        """``semantic`` / ``syntactic`` for the experiments paired with a word-attribute oracle, else None."""
        return {"cca_semantic": "semantic", "cca_syntactic": "syntactic"}.get(self.name)

    def reps(self) -> tuple[str, ...]:
        """Reps of the model's stores that hold its layers."""
        return ("local", "contextualized") if self.name == "cca_mel" else ("contextualized",)

    def eligible(self, layer: str) -> bool:
        """Whether ``layer`` is one the experiment scores (REFERENCE.md's layer column)."""
        kind = layer_kind(layer)
        if self.name == "cca_mel":
            return kind == "C" or (kind == "T" and layer_index(layer) >= 1)
        if self.name == "cca_intra":
            return kind == "T" and layer_index(layer) >= 1
        return kind == "T"


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment("cca_mel", "frame", "log-mel frames vs frame features (C1..C7, T1..TL)"),
        Experiment("cca_intra", "frame", "layer T0 vs layer Tl at frame level (T1..TL)"),
        Experiment("cca_phone", "phone", "phone-pooled features vs one-hot phones (T0..TL)"),
        Experiment("cca_word", "word", "word-pooled features vs one-hot words (T0..TL)"),
        Experiment("cca_agwe", "word", "word-pooled features vs acoustically grounded word embeddings (T0..TL)"),
        Experiment("cca_glove", "word", "word-pooled features vs GloVe vectors (T0..TL)"),
        Experiment("cca_semantic", "all_words", "word-pooled features vs WordNet supersense distributions (T0..TL)"),
        Experiment("cca_syntactic", "all_words", "word-pooled features vs POS-tag distributions (T0..TL)"),
    )
}


@dataclass(frozen=True)
class LayerScore(ScoredRecord):
    """One layer's outcome: the protocol's result (``score``) and the number of instances dropped.

    ``run`` holds the row fields (model, experiment, split, sample, seed); :meth:`rows` gives the
    layer's table row (metric ``pwcca``).
    """

    METRIC: ClassVar[str] = METRIC

    layer: str
    result: CCAResult
    n_dropped: int
    run: RunKey | None = None
    warnings: tuple[str, ...] = ()

    def metrics(self) -> list[tuple[str, float]]:
        """``pwcca``, then ``pwcca_centred`` when measured."""
        found = [(METRIC, self.result.score)]
        if self.result.centred_score is not None:
            found.append((CENTRED_METRIC, self.result.centred_score))
        return found


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name`` (ConfigError listing the known ones otherwise)."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ConfigError(f"unknown CCA experiment {name!r} (known: {', '.join(EXPERIMENTS)})") from None


def run_cca(
    experiment: str,
    store: Any = None,
    *,
    features: PathLike | None = None,
    model: str | None = None,
    corpus: str | None = None,
    split: str | None = None,
    sample: int | None = None,
    layers: str = "all",
    seed: int = 0,
    results: ResultTable | PathLike | None = None,
    embeddings: PathLike | None = None,
    embeddings_format: str = "auto",
    vocabulary_size: int = 500,
    base_layer: str = "T0",
    oracle: PathLike | None = None,
    span: str | None = None,
    control: str = "none",
    null_directions: str = "zero",
    signs: str = "lapack",
    sign_sets: int = SIGN_SETS,
    progress: bool = True,
    on_layer: Callable[[LayerScore], None] | None = None,
) -> list[LayerScore]:
    """Run a named CCA experiment over layers of stored features.

    Parameters
    ----------
    experiment : str
        One of :data:`EXPERIMENTS`.
    store : StoreQuery, FeatureStore, extraction report or store path, optional
        Any store of the model on the data sample: its features root, model, corpus, split and
        sample name the stores read (the rep and span are the experiment's).  Instead of
        ``features``, ``model``, ``corpus``, ``split`` and ``sample``, which override it when given.
    features : path-like
        Root of the feature stores (``extract --out``).
    model : str
        The model spec the stores were extracted with (``tiny:wav2vec2``, ``hf:...``).
    corpus, split : str
    sample : int
        Data-sample id (default: the store's, else 1).
    layers : str
        ``"all"`` (every layer the experiment scores that the stores hold), ``"T4"``, ``"T1-T6"`` ...
    seed : int
        Seed of the split, the trials and the epsilon order.
    results : ResultTable or path-like, optional
        Table (or CSV path) the rows are added to and saved in, after every layer; the split cache
        goes to ``<its folder>/cca_splits``.  None: nothing is written (the split is computed in
        memory) and the rows are only in the returned scores (:meth:`LayerScore.rows`).
    embeddings : path-like, optional
        Word vectors (word2vec text / binary or GloVe text) for ``cca_agwe`` and ``cca_glove``.
    embeddings_format : str
        ``auto``, ``word2vec``, ``word2vec-binary`` or ``glove``.
    vocabulary_size : int
        ``cca_word``: the most frequent words kept as one-hot columns.
    base_layer : str
        ``cca_intra``: view 1.
    oracle : path-like, optional
        ``cca_semantic`` / ``cca_syntactic``: a QVEC oracle file (or a WordNet directory, a
        ``words.yml`` POS-count file); default: built from Debian's packages
        (:func:`layerprobe.data.oracles.load_oracle`).
    span : {"all_words", "word"}, optional
        ``cca_semantic`` / ``cca_syntactic``: the store read (default ``all_words``).
    control : {"none", "shuffled"}
        ``cca_semantic`` / ``cca_syntactic``: ``shuffled`` pairs each word with the oracle vector of
        another word of the store (a permutation seeded by ``seed``): the score of word identity
        alone, the control the real score must beat; rows named ``<experiment>@shuffled``.
    null_directions : {"zero", "keep", "drop"}
        See :class:`layerprobe.analysis.cca.CCA`.
    signs : {"lapack", "pinned"}
        The canonical directions' signs: LAPACK's (default: the published code's numbers), or
        pinned (the same on every machine; rows named ``<experiment>@pinned``).
    sign_sets : int
        Random sign sets behind the sidecar's ``details["signs"]`` range (0: none).
    progress : bool
        Progress bars (on a terminal).
    on_layer : callable, optional
        Called with each layer's :class:`LayerScore` as soon as it is done.

    Returns
    -------
    list of LayerScore
        In layer order.

    Raises
    ------
    ConfigError
        For an unknown experiment or layer, missing embeddings, or bad options.
    StoreError
        For a missing or unfinished store (named).
    """
    spec = get_experiment(experiment)
    if null_directions not in NULL_DIRECTION_MODES:
        raise ConfigError(f"--null-directions must be one of {', '.join(NULL_DIRECTION_MODES)}, got {null_directions!r}")
    if signs not in SIGN_CONVENTIONS:
        raise ConfigError(f"--signs must be one of {', '.join(SIGN_CONVENTIONS)}, got {signs!r}")
    if isinstance(sign_sets, bool) or not isinstance(sign_sets, int) or sign_sets < 0:
        raise ConfigError(f"--sign-sets must be a non-negative integer, got {sign_sets!r}")
    if control not in CONTROLS:
        raise ConfigError(f"--control must be one of {', '.join(CONTROLS)}, got {control!r}")
    if control != "none" and spec.oracle_kind is None:
        raise ConfigError(f"--control {control} is only for cca_semantic and cca_syntactic, not {experiment}")
    variants = [variant for variant in (signs if signs != "lapack" else None, control if control != "none" else None) if variant]
    experiment_name = spec.name + ("@" + "+".join(variants) if variants else "")
    if spec.needs_embeddings and embeddings is None:
        raise ConfigError(f"{experiment} needs word vectors: give --embeddings FILE")
    if not spec.needs_embeddings and embeddings is not None:
        raise ConfigError(f"--embeddings is only for cca_agwe and cca_glove, not {experiment}")
    if vocabulary_size < 1:
        raise ConfigError(f"--vocabulary-size must be positive, got {vocabulary_size}")
    if spec.oracle_kind is None and oracle is not None:
        raise ConfigError(f"--oracle is only for cca_semantic and cca_syntactic, not {experiment}")
    store_span = _store_span(spec, span)
    query = resolve_store(store, features=features, model=model, corpus=corpus, split=split, sample=sample,
                          rep="contextualized", span=store_span, what="run_cca")  # fmt: skip
    table = open_table(results)
    split_cache = Path(table.path).parent / "cca_splits" if table is not None and table.path is not None else None
    with ExitStack() as stack:
        stores = _open_stores(stack, spec, query)
        chosen = _choose_layers(spec, stores, layers, base_layer)
        mel_store = query.mel().open(stack) if spec.name == "cca_mel" else None
        vectors = _load_vectors(embeddings, embeddings_format) if spec.needs_embeddings else None
        attributes = _load_oracle(spec, oracle)
        if attributes is not None:
            vectors = attributes
        vocabulary = _vocabulary(spec, stores.get("contextualized"), vocabulary_size)
        coverage = _oracle_coverage(stores["contextualized"], attributes) if attributes is not None else None
        options = {"vocabulary_size": vocabulary_size if spec.name == "cca_word" else None,
                   "base_layer": base_layer if spec.name == "cca_intra" else None,
                   "embeddings_format": embeddings_format if spec.needs_embeddings else None,
                   "span": store_span if attributes is not None else None,
                   "oracle_source": attributes.source if attributes is not None else None,
                   "oracle_fingerprint": _fingerprint(attributes),
                   "control": control if attributes is not None else None}  # fmt: skip

        def store_of(layer: str) -> FeatureStore:
            return stores["local" if layer_kind(layer) == "C" else "contextualized"]

        def score(layer: str) -> LayerScore:
            store = store_of(layer)
            views = _views(spec, store, layer, mel_store=mel_store, vectors=vectors, vocabulary=vocabulary, base_layer=base_layer,
                           shuffle_seed=seed if control == "shuffled" else None)  # fmt: skip
            if views.n_rows < 2 * N_PARTS:  # a data sample too small for the protocol: the user's to fix, not a bug
                raise StoreError(
                    f"{views.name}: {views.n_rows} paired rows are too few for the CCA protocol's {N_PARTS} parts "
                    f"(it needs at least {2 * N_PARTS}); draw a larger data sample",
                    path=store.paths[0],
                )
            result = cca_experiment(views, seed=seed, n_parts=N_PARTS, split_cache=split_cache,
                                    null_directions=null_directions, signs=signs, sign_sets=sign_sets)  # fmt: skip
            run = RunKey(store_model(store), query.corpus, experiment_name, query.split, query.sample, result.seed)
            warnings = cca_warnings(experiment_name, layer, result)
            for warning in warnings:
                log.warning(warning)
            return LayerScore(layer, result, views.n_dropped, run, tuple(warnings))

        def metadata(score: LayerScore) -> dict[str, Any]:
            store = store_of(score.layer)
            result = score.result
            used = [store] + ([mel_store] if mel_store is not None else [])
            return {
                "options": {**result.options, "n_parts": result.n_parts, **{k: v for k, v in options.items() if v is not None}},
                "provenance": provenance(attrs=store.attrs, stores=[store_entry(s) for s in used],
                                         embeddings=str(embeddings) if embeddings is not None else None),  # fmt: skip
                "details": {**result.details(), "views": result.name, "n_dropped": score.n_dropped,
                            "warnings": list(score.warnings), **({"oracle": coverage} if coverage else {})},  # fmt: skip
            }

        return score_layers(chosen, score, what=experiment_name, table=table, metadata=metadata, progress=progress, on_layer=on_layer)


# --------------------------------------------------------------------------------------------------
# Warnings


def cca_warnings(experiment: str, layer: str, result: CCAResult) -> list[str]:
    """The warning lines of one layer's result: too few rows per dimension, a score within noise of 0."""
    warnings = []
    widest = max(result.dims)
    if result.n_rows < MIN_ROWS_PER_DIMENSION * widest:
        warnings.append(
            f"{experiment} {layer}: {result.n_rows} rows for views of {result.dims[0]} and {result.dims[1]} dimensions "
            f"({result.n_rows / widest:.1f} rows per dimension, under {MIN_ROWS_PER_DIMENSION}): CCA fits noise and "
            "PWCCA is unreliable; draw a larger data sample"
        )
    if abs(result.score) < CHANCE_PWCCA:
        warnings.append(
            f"{experiment} {layer}: PWCCA {result.score:.3f} is within {CHANCE_PWCCA} of 0, the held-out score of "
            "independent views: it shows no shared structure"
        )
    return warnings


# --------------------------------------------------------------------------------------------------
# Pieces


def cca_layers(
    experiment: str, store: Any = None, *, features: PathLike | None = None, model: str | None = None,
    corpus: str | None = None, split: str | None = None, sample: int | None = None, layers: str = "all",
    base_layer: str = "T0", span: str | None = None,
) -> list[str]:
    """The layers :func:`run_cca` would score with these arguments (for launching one job per layer).

    Raises
    ------
    ConfigError
        As :func:`run_cca` does for missing stores and layers it cannot score.
    """
    spec = get_experiment(experiment)
    query = resolve_store(store, features=features, model=model, corpus=corpus, split=split, sample=sample,
                          rep="contextualized", span=_store_span(spec, span), what="cca_layers")  # fmt: skip
    with ExitStack() as stack:
        return _choose_layers(spec, _open_stores(stack, spec, query), layers, base_layer)


def _open_stores(stack: ExitStack, spec: Experiment, query: StoreQuery) -> dict[str, FeatureStore]:
    """The model's stores the experiment reads (``cca_mel``: those of its two reps on disk)."""
    queries = {rep: query.replace(rep=rep) for rep in spec.reps()}
    stores = open_stores(stack, queries, required=spec.name != "cca_mel")
    if not stores:
        missing = " or ".join(str(q.path) for q in queries.values())
        hint = f"; {missing_hint(query)}" if not query.is_mel else ""
        raise ConfigError(f"no feature store for {spec.name}: extract one first ({missing}{hint})")
    return stores


def _choose_layers(spec: Experiment, stores: Mapping[str, FeatureStore], layers: str, base_layer: str) -> list[str]:
    available = sort_layers(layer for store in stores.values() for layer in store.layer_ids if spec.eligible(layer))
    if spec.name == "cca_intra":
        store = stores["contextualized"]
        if base_layer not in store.layer_ids:
            raise ConfigError(f"--base-layer {base_layer} is not in the store", path=store.paths[0])
        available = [layer for layer in available if layer != base_layer]
    if not available:
        raise ConfigError(f"the stores hold none of the layers {spec.name} scores ({spec.description})")
    if layers.strip().lower() == "all":
        return available
    held = {layer for store in stores.values() for layer in store.layer_ids}
    # The model's other layers (C3 for cca_phone, whose stores hold T layers only) parse too, so that
    # asking for one says the experiment does not score it rather than that the model lacks it.
    model_layers = {
        layer for store in stores.values() for layer in (store.attrs.get("config") or {}).get("model", {}).get("layer_ids") or ()
    }  # fmt: skip
    chosen = parse_layers(layers, sort_layers(held | model_layers))
    wrong = [layer for layer in chosen if not spec.eligible(layer) or (spec.name == "cca_intra" and layer == base_layer)]
    if wrong:
        raise ConfigError(f"{spec.name} does not score layer {', '.join(wrong)} ({spec.description})")
    absent = [layer for layer in chosen if layer not in available]
    if absent:
        files = ", ".join(str(store.paths[0]) for store in stores.values())
        raise ConfigError(f"layer {', '.join(absent)} is not in the stores ({files}); extract it first")
    return chosen


def _vocabulary(spec: Experiment, store: FeatureStore | None, size: int) -> tuple[str, ...] | None:
    from layerprobe.analysis.views import phone_vocabulary, word_vocabulary

    if spec.name == "cca_phone":
        return phone_vocabulary()
    if spec.name == "cca_word":
        return word_vocabulary(store.labels, size=size)
    return None


#: Spans of the stores the oracle experiments may read.
ORACLE_SPANS = ("all_words", "word")


def _store_span(spec: Experiment, span: str | None) -> str:
    """The span of the stores read: the experiment's, or (oracle experiments) ``all_words`` / ``word``."""
    if span is None or span == spec.span:
        return spec.span
    if spec.oracle_kind is None:
        raise ConfigError(f"--span is only for cca_semantic and cca_syntactic, not {spec.name} (which reads {spec.span} stores)")
    if span not in ORACLE_SPANS:
        raise ConfigError(f"{spec.name} reads {' or '.join(ORACLE_SPANS)} stores, not {span!r}")
    return span


def _load_oracle(spec: Experiment, path: PathLike | None) -> Any:
    if spec.oracle_kind is None:
        return None
    from layerprobe.data.oracles import load_oracle

    return load_oracle(spec.oracle_kind, path)


def _fingerprint(oracle: Any) -> str | None:
    if oracle is None:
        return None
    from layerprobe.data.oracles import oracle_fingerprint

    return oracle_fingerprint(oracle)


def _oracle_coverage(store: FeatureStore, oracle: Any) -> dict[str, Any]:
    """The sidecar's ``details["oracle"]``: words and instances of the store the oracle has or lacks."""
    from collections import Counter

    counts = Counter(store.labels.tolist())
    lacking = sorted((word for word in counts if word not in oracle), key=lambda word: (-counts[word], word))
    return {
        "n_features": len(oracle.features),
        "features": list(oracle.features),
        "n_words": len(counts),
        "n_words_dropped": len(lacking),
        "n_instances_dropped": sum(counts[word] for word in lacking),
        "words_dropped": lacking[:20],
    }


def _load_vectors(path: PathLike, format: str) -> Any:
    from layerprobe.analysis.embeddings import read_embeddings

    return read_embeddings(path, format=format)


def _views(spec: Experiment, store: FeatureStore, layer: str, *, mel_store, vectors, vocabulary, base_layer, shuffle_seed=None):
    from layerprobe.analysis import views

    if spec.name == "cca_mel":
        return views.mel_views(store, mel_store, layer)
    if spec.name == "cca_intra":
        return views.intra_views(store, layer, base=base_layer)
    if spec.name in ("cca_phone", "cca_word"):
        return views.onehot_views(store, layer, vocabulary=vocabulary)
    if spec.oracle_kind is not None:
        return views.oracle_views(store, layer, vectors, shuffle_seed=shuffle_seed)
    return views.embedding_views(store, layer, vectors)


__all__ = [
    "CHANCE_PWCCA",
    "CONTROLS",
    "EXPERIMENTS",
    "METRIC",
    "MEL_TAG",
    "MIN_ROWS_PER_DIMENSION",
    "N_PARTS",
    "ORACLE_SPANS",
    "Experiment",
    "LayerScore",
    "cca_layers",
    "cca_warnings",
    "get_experiment",
    "run_cca",
]
