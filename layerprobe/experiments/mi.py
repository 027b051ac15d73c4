"""The mutual-information experiments ``mi_phone`` and ``mi_word`` bound to feature stores.

REFERENCE.md section 4: k-means on the training split's contextualized phone (or word) features,
clusters predicted for the evaluation split, score ``I(C;L)/H(L)`` (metric ``nmi``), one row per
layer and iteration, and beside it the score's chance level (metric ``nmi_chance``): the mean
score of the same evaluation clusters shuffled across instances (:data:`CHANCE_SHUFFLES` shuffles
seeded with the iteration; no refit), which the plug-in estimate reaches with no information at
all when clusters are many per instance.  The iteration number is the seed, so several iterations give several seeds
of the same layer, which ``layerprobe plot`` averages (mean and spread).

=========== ======================= ============ ========== ========
experiment  stores (both splits)    clusters     batch      max_iter
=========== ======================= ============ ========== ========
mi_phone    contextualized_phone.h5 500          1500       500
mi_word     contextualized_word.h5  5000         4000       500
=========== ======================= ============ ========== ========

The clustering is the published one by default (``algorithm="published"``: scikit-learn's
MiniBatchKMeans with k-means++ init, see :mod:`layerprobe.analysis.mi`) on the raw features.
Rows of any other setting carry it in the experiment's name (:func:`experiment_name`), as their
scores are not comparable with the published protocol's: ``<experiment>@<variant>[+<variant>]``,
the clustering first (``lloyd``, or ``<n>init`` for another number of initialisations), then
``zscore`` for features standardised with the training split's statistics (``standardize=True``):
``mi_phone@lloyd``, ``mi_word@1init``, ``mi_phone@zscore``, ``mi_phone@lloyd+zscore``.

Stores are found under the extraction layout:
``<features>/<model tag>/<corpus>_<split>_sample<k>/contextualized_<span>.h5`` for the training
split and for the evaluation split, the same sample id for both.  A row's ``split`` is the
evaluation split, its ``seed`` the iteration; the sidecar keeps the sizes that bias the plug-in
estimate (instances, clusters, labels), the chance level and its spread over the shuffles, the
inertia, the iterations, the times and the run's warnings (``details``),
the options (with the training split) and both stores with their manifest hashes (``provenance``).

Example
-------
>>> from layerprobe.experiments.mi import run_mi                             # doctest: +SKIP
>>> run_mi("phone", features="features", model="tiny:wav2vec2", corpus="demo",  # doctest: +SKIP
...        train_split="train", eval_split="dev", iteration=0, results="results/mi.csv")
>>> # report: what extract() returned for the training split's phone store
>>> run_mi("phone", report, eval_split="dev")   # doctest: +SKIP

Warnings
--------
Logged (logger ``layerprobe.experiments.mi``; the CLI prints them as ``layerprobe: ...``) and kept
in each layer's ``details["warnings"]``: more clusters than half the training instances (k-means
then fits little more than single points, and the plug-in score is inflated), and a score within
noise of its chance level (``nmi - nmi_chance`` under ``max(0.02, 2 x`` the shuffles' standard
deviation``)``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from layerprobe.analysis.mi import (
    CHANCE_SHUFFLES,
    DEFAULT_ALGORITHM,
    DEFAULT_N_INIT,
    DEFAULT_TOL,
    ClusterMIResult,
    check_options,
    cluster_mi_result,
    resolve_n_init,
)
from layerprobe.errors import ConfigError, StoreError
from layerprobe.experiments.query import StoreQuery, open_stores, resolve_store
from layerprobe.experiments.records import RunKey, ScoredRecord, open_table, provenance, score_layers, store_entry, store_model
from layerprobe.io.store import FeatureStore
from layerprobe.layers import CONTEXTUALIZED, layer_kind, parse_layers, sort_layers
from layerprobe.results import ResultTable

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: The metric name of MI results in a ResultTable.
METRIC = "nmi"
#: The metric of each layer's chance level (shuffled evaluation clusters), beside its ``nmi`` row.
CHANCE_METRIC = "nmi_chance"
#: A score less than this above its chance level (or 2 standard deviations of the shuffled scores,
#: when larger) is within noise of chance: 0.02 is about the spread of chance over shuffles and
#: seeds at the demo's sizes, and well under the differences between layers worth reading.
CHANCE_MARGIN = 0.02
#: Experiment name per span.
EXPERIMENTS: dict[str, str] = {"phone": "mi_phone", "word": "mi_word"}
#: Algorithms whose rows keep the experiment's name: the published clustering (``published``, and
#: scikit-learn's own ``minibatch``).  Rows of any other (``lloyd``) are named
#: ``<experiment>@<algorithm>`` (``mi_phone@lloyd``): it scores higher than the published protocol,
#: and must not be plotted beside published numbers unlabelled.  So are rows of the mini-batch
#: algorithms with another number of initialisations than the published 3 (``mi_phone@1init``).
PUBLISHED_ALGORITHMS = ("published", "minibatch")
#: The variant name of rows of standardised features (``mi_phone@zscore``, ``mi_phone@lloyd+zscore``).
ZSCORE = "zscore"
#: REFERENCE.md section 4's k-means settings per span.
DEFAULTS: dict[str, dict[str, int]] = {
    "phone": {"n_clusters": 500, "batch_size": 1500, "max_iter": 500},
    "word": {"n_clusters": 5000, "batch_size": 4000, "max_iter": 500},
}
#: The rep whose stores the experiments read.
REP = "contextualized"


@dataclass(frozen=True)
class LayerMI(ScoredRecord):
    """One layer's outcome (``score``); ``run`` holds the row fields and :meth:`rows` the table row (metric ``nmi``)."""

    METRIC: ClassVar[str] = METRIC

    layer: str
    result: ClusterMIResult
    run: RunKey | None = None
    warnings: tuple[str, ...] = ()

    def metrics(self) -> list[tuple[str, float]]:
        """``nmi``, then ``nmi_chance`` when the result measured it."""
        chance = [] if self.result.chance is None else [(CHANCE_METRIC, self.result.chance)]
        return [(METRIC, self.result.score), *chance]


def run_mi(
    span: str,
    store: Any = None,
    *,
    features: PathLike | None = None,
    model: str | None = None,
    corpus: str | None = None,
    train_split: str | None = None,
    eval_split: str,
    sample: int | None = None,
    layers: str = "all",
    iteration: int = 0,
    n_clusters: int | None = None,
    batch_size: int | None = None,
    max_iter: int | None = None,
    algorithm: str = DEFAULT_ALGORITHM,
    init: str | None = None,
    tol: float = DEFAULT_TOL,
    n_init: int | None = None,
    device: str = "cpu",
    standardize: bool = False,
    results: ResultTable | PathLike | None = None,
    progress: bool = True,
    on_layer: Callable[[LayerMI], None] | None = None,
) -> list[LayerMI]:
    """Run ``mi_phone`` or ``mi_word`` over layers of stored features.

    Parameters
    ----------
    span : {"phone", "word"}
    store : StoreQuery, FeatureStore, extraction report or store path, optional
        A store of the model on the training split: its features root, model, corpus, split
        (the default ``train_split``) and sample; the rep and span are the experiment's.  Instead
        of the path strings, which override it when given.
    features : path-like
        Root of the feature stores (``extract --out``).
    model : str
        The model spec the stores were extracted with.
    corpus : str
    train_split, eval_split : str
        Splits whose stores k-means is fitted on and scored on.
    sample : int
        Data-sample id of both stores (default: the store's, else 1).
    layers : str
        ``"all"`` (every T layer both stores hold), ``"T4"``, ``"T1-T6"`` ...
    iteration : int
        Iteration number, which is the seed of the clustering.
    n_clusters, batch_size, max_iter : int, optional
        Default: :data:`DEFAULTS` of the span.
    algorithm, init, tol, n_init, device
        See :class:`layerprobe.analysis.mi.ClusterMI`.  The default, ``published`` with 3
        initialisations, is the published clustering; rows of ``lloyd`` are named
        ``mi_phone@lloyd`` (``mi_word@lloyd``), rows of another ``n_init`` ``mi_phone@1init``, see
        :func:`experiment_name`.
    standardize : bool
        Z-score each dimension with the training split's mean and standard deviation, applied to
        both splits (a dimension of zero std only centred), before k-means.  Not the published
        protocol (the raw features, the default): rows are named ``mi_phone@zscore``
        (``mi_phone@lloyd+zscore`` ...) and the sidecar's options hold ``standardize``.
    results : ResultTable or path-like, optional
        Table (or CSV path) the rows are added to and saved in, after every layer.  None: nothing
        is written; the rows are in the returned scores (:meth:`LayerMI.rows`).
    progress : bool
        A progress bar over layers (on a terminal).
    on_layer : callable, optional
        Called with each layer's :class:`LayerMI` as soon as it is done.

    Returns
    -------
    list of LayerMI
        In layer order.

    Raises
    ------
    ConfigError
        For a bad option or device, or a layer the stores do not hold.
    StoreError
        For a missing or unfinished store (named), an empty one, fewer training instances than
        clusters, or evaluation labels with a single value.
    """
    if span not in EXPERIMENTS:
        raise ConfigError(f"--span must be phone or word for mutual information, got {span!r}")
    settings = {**DEFAULTS[span]}
    settings.update({k: v for k, v in (("n_clusters", n_clusters), ("batch_size", batch_size), ("max_iter", max_iter)) if v is not None})
    check_options(**settings, algorithm=algorithm, init=init, tol=tol, n_init=n_init, seed=iteration, device=device,
                  standardize=standardize)  # fmt: skip
    experiment = experiment_name(span, algorithm, n_init, standardize=standardize)
    table = open_table(results)
    queries = _queries(store, features=features, model=model, corpus=corpus, train_split=train_split, eval_split=eval_split,
                       sample=sample, span=span, what="run_mi")  # fmt: skip
    with ExitStack() as stack:
        stores = open_stores(stack, queries)
        labels = {role: _checked_labels(store, span) for role, store in stores.items()}
        n_train = len(labels["train"])
        if n_train < settings["n_clusters"]:
            raise StoreError(
                f"{n_train} training instances are fewer than the {settings['n_clusters']} clusters; "
                "lower --n-clusters or draw a larger data sample",
                path=stores["train"].paths[0],
            )
        if len(np.unique(labels["eval"])) < 2:
            raise StoreError("the evaluation instances all have one label: I(C;L)/H(L) is undefined", path=stores["eval"].paths[0])
        chosen = _choose_layers(stores, layers)
        attrs = stores["eval"].attrs
        run_warnings = size_warnings(experiment, n_clusters=settings["n_clusters"], n_train=n_train)
        for warning in run_warnings:
            log.warning(warning)

        def score(layer: str) -> LayerMI:
            X = {role: store.read(layer) for role, store in stores.items()}
            for role, store in stores.items():
                if len(X[role]) != len(labels[role]):  # a store the FeatureStore reader let through: say so
                    raise StoreError(
                        f"layer {layer} has {len(X[role])} rows but the store has {len(labels[role])} segment labels",
                        path=store.paths[0],
                    )
            result = cluster_mi_result(
                X["train"], labels["train"], X["eval"], labels["eval"], seed=iteration, algorithm=algorithm, init=init,
                tol=tol, n_init=n_init, device=device, standardize=standardize, **settings,
            )  # fmt: skip
            del X
            warnings = chance_warnings(experiment, layer, result)
            for warning in warnings:
                log.warning(warning)
            run = RunKey(store_model(stores["eval"]), queries["eval"].corpus, experiment, queries["eval"].split, queries["eval"].sample,
                         result.seed)  # fmt: skip
            return LayerMI(layer, result, run, (*run_warnings, *warnings))

        def metadata(score: LayerMI) -> dict[str, Any]:
            result = score.result
            options = {
                "train_split": queries["train"].split,
                "n_clusters": result.n_clusters,
                "batch_size": result.batch_size,
                "max_iter": result.max_iter,
                "n_init": result.n_init,
                "algorithm": result.algorithm,
                "init": result.init,
                "tol": result.tol,
                "device": result.device,
                "standardize": result.standardize,
            }
            stored = [store_entry(store, role=role) for role, store in stores.items()]
            details = {**result.details(), "warnings": list(score.warnings)}
            return {"options": options, "provenance": provenance(attrs=attrs, stores=stored), "details": details}

        return score_layers(chosen, score, what=experiment, table=table, metadata=metadata, progress=progress, on_layer=on_layer)


# --------------------------------------------------------------------------------------------------
# Warnings


def size_warnings(experiment: str, *, n_clusters: int, n_train: int) -> list[str]:
    """One line when the clusters exceed half the training instances (else none)."""
    if n_clusters <= n_train / 2:
        return []
    return [
        f"{experiment}: {n_clusters} clusters exceed half of the {n_train} training instances: k-means fits little "
        "more than single points and the plug-in I(C;L)/H(L) is biased upward; compare nmi with nmi_chance, "
        "lower --n-clusters or draw a larger data sample"
    ]


def chance_warnings(experiment: str, layer: str, result: ClusterMIResult) -> list[str]:
    """One line when the score is within noise of its chance level (else none; none when chance was not measured)."""
    if result.chance is None:
        return []
    margin = max(CHANCE_MARGIN, 2 * (result.chance_spread or 0.0))
    if result.score - result.chance >= margin:
        return []
    return [
        f"{experiment} {layer}: nmi {result.score:.3f} is within noise of its chance level {result.chance:.3f} "
        f"(shuffled clusters; margin {margin:.3f}; {result.n_clusters} clusters, {result.n_train} training / "
        f"{result.n_eval} evaluation instances): it shows no label information"
    ]


# --------------------------------------------------------------------------------------------------
# Pieces


def experiment_name(span: str, algorithm: str = DEFAULT_ALGORITHM, n_init: int | None = None, *, standardize: bool = False) -> str:
    """The experiment name of rows of ``span`` clustered by ``algorithm`` with ``n_init`` initialisations.

    The published setting keeps the plain name; every other setting adds a variant, in this order:
    the clustering (``lloyd``, or ``<n>init``), then ``zscore`` for standardised features, joined
    by ``+`` after an ``@``.

    >>> experiment_name("phone"), experiment_name("word", "minibatch"), experiment_name("phone", "lloyd")
    ('mi_phone', 'mi_word', 'mi_phone@lloyd')
    >>> experiment_name("phone", n_init=3), experiment_name("phone", n_init=1)
    ('mi_phone', 'mi_phone@1init')
    >>> experiment_name("phone", standardize=True), experiment_name("word", "lloyd", standardize=True)
    ('mi_phone@zscore', 'mi_word@lloyd+zscore')
    """
    variants = []
    if algorithm not in PUBLISHED_ALGORITHMS:
        variants.append(algorithm)
    elif (used := resolve_n_init(algorithm, n_init)) != DEFAULT_N_INIT:
        variants.append(f"{used}init")
    if standardize:
        variants.append(ZSCORE)
    base = EXPERIMENTS[span]
    return f"{base}@{'+'.join(variants)}" if variants else base


def _queries(store: Any, *, train_split: str | None, eval_split: str, span: str, what: str, **parts: Any) -> dict[str, StoreQuery]:
    """The training and evaluation stores: the same features root, model, corpus and sample."""
    train = resolve_store(store, split=train_split, rep=REP, span=span, what=what, **parts)
    return {"train": train, "eval": train.replace(split=eval_split)}


def _checked_labels(store: FeatureStore, span: str) -> np.ndarray:
    path = store.paths[0]
    if store.span != span:
        raise StoreError(f"is a {store.span}-span store, not a {span}-span one", path=path)
    labels = store.labels
    if len(labels) == 0:
        raise StoreError("holds no segments (an empty store); draw a larger data sample", path=path)
    return labels


def mi_layers(
    span: str, store: Any = None, *, features: PathLike | None = None, model: str | None = None, corpus: str | None = None,
    train_split: str | None = None, eval_split: str, sample: int | None = None, layers: str = "all",
) -> list[str]:
    """The layers :func:`run_mi` would score with these arguments (for launching one job per layer).

    Raises
    ------
    ConfigError, StoreError
        As :func:`run_mi` does for a bad span, missing stores and layers they do not hold.
    """
    if span not in EXPERIMENTS:
        raise ConfigError(f"--span must be phone or word for mutual information, got {span!r}")
    queries = _queries(store, features=features, model=model, corpus=corpus, train_split=train_split, eval_split=eval_split,
                       sample=sample, span=span, what="mi_layers")  # fmt: skip
    with ExitStack() as stack:
        return _choose_layers(open_stores(stack, queries), layers)


def _choose_layers(stores: dict[str, FeatureStore], layers: str) -> list[str]:
    """T layers both stores hold, or those of ``layers`` (ConfigError naming the stores otherwise)."""
    held = [set(store.layer_ids) for store in stores.values()]
    both = sort_layers(layer for layer in held[0] & held[1] if layer_kind(layer) == CONTEXTUALIZED)
    files = ", ".join(str(store.paths[0]) for store in stores.values())
    if not both:
        raise ConfigError(f"the stores hold no contextualized layer in common ({files})")
    if layers.strip().lower() in ("all", "contextualized"):
        return both
    everything = sort_layers(held[0] | held[1] | {f"T{i}" for i in range(1000)} | {f"C{i}" for i in range(1, 100)})
    chosen = parse_layers(layers, everything)  # the syntax; membership is checked below
    wrong = [layer for layer in chosen if layer_kind(layer) != CONTEXTUALIZED]
    if wrong:
        raise ConfigError(f"mutual information scores contextualized layers (T0..TL), not {', '.join(wrong)}")
    absent = [layer for layer in chosen if layer not in both]
    if absent:
        have = f"{both[0]}-{both[-1]}" if len(both) > 1 else both[0]
        raise ConfigError(f"layer {', '.join(absent)} is not in the stores ({files}; they hold {have}); extract it first")
    return chosen


__all__ = [
    "CHANCE_MARGIN",
    "CHANCE_METRIC",
    "CHANCE_SHUFFLES",
    "DEFAULTS",
    "EXPERIMENTS",
    "METRIC",
    "PUBLISHED_ALGORITHMS",
    "REP",
    "ZSCORE",
    "LayerMI",
    "chance_warnings",
    "experiment_name",
    "mi_layers",
    "run_mi",
    "size_warnings",
]
