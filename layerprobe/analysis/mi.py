"""Mutual information between k-means clusters of a layer's features and phone or word labels.

REFERENCE.md section 4: cluster the training split's segment features with k-means, assign the
evaluation split's segments to the nearest centres, and report ``I(C; L) / H(L)`` in nats, the
mutual information of clusters and labels over the entropy of the labels, that is
``mutual_info_score(clusters, labels) / mutual_info_score(labels, labels)``.  This is not
scikit-learn's ``normalized_mutual_info_score`` (which divides by a mean of ``H(C)`` and ``H(L)``).

The plug-in estimate is biased upward when the clusters are many relative to the evaluation
instances (5000 clusters and 7500 evaluation words leave most clusters with one or two instances,
and even random clusters then score far above 0): :class:`ClusterMIResult` keeps the sizes with
the score, and ``chance_score`` measures the floor for the sizes at hand.

Clustering
----------
``algorithm="published"`` (default): the published setting, scikit-learn's
``MiniBatchKMeans(n_clusters, batch_size=batch_size, max_iter=max_iter, random_state=seed)`` with
its defaults of the time otherwise (``n_init=3`` greedy k-means++ inits on ``3 * batch_size`` rows,
the best on a validation draw kept: scikit-learn >= 1.4 runs one; per-centre counts, random
reassignment, early stopping after 10 steps without improvement), run by
:class:`~layerprobe.analysis.minibatch.PublishedKMeans`: the same algorithm, so the same
distribution of clusters and scores over seeds (not scikit-learn's draws), about 8x faster at
5000 clusters and 3x at 500 with 3 inits each (``scripts/bench_kmeans.py``).  ``algorithm="minibatch"``: scikit-learn's MiniBatchKMeans itself
(the reference; slow for 5000 clusters).  ``algorithm="lloyd"``:
:class:`~layerprobe.analysis.kmeans.LloydKMeans`, full-batch Lloyd in float32 from a seeded init
(k-means++ up to 1000 clusters, random rows above), stopped when an iteration gains less than
``tol`` (1e-3) of the inertia; ``batch_size`` is then the rows per block of the distance
computation (memory only).  Lloyd clusters better (lower inertia) than the mini-batch algorithm, so
its I(C;L)/H(L) is higher (on 40 overlapping classes with 500 clusters: 0.40 against the published
0.20-0.22, tests/unit/test_mi.py) and not comparable with published numbers: the experiments name its rows apart
(``mi_phone@lloyd``).

Standardisation
---------------
The published protocol clusters the raw features, so k-means's distances are dominated by the few
dimensions of largest variance (issue 16: on Whisper's T6, 3 dimensions hold 17 % of the variance).
``standardize=True`` z-scores each dimension with the training split's mean and standard deviation
(scikit-learn's ``StandardScaler``, population std; a dimension of zero std is only centred) before
k-means, and applies the same statistics to the evaluation split.  It is not the published
protocol: the experiments name its rows apart (``mi_phone@zscore``).

Examples
--------
>>> import numpy as np
>>> from layerprobe.analysis.mi import normalized_mutual_information, cluster_mi
>>> normalized_mutual_information([0, 0, 1, 1], ["a", "a", "b", "b"])
1.0
>>> rng = np.random.default_rng(0)
>>> centres = rng.standard_normal((4, 8)) * 5
>>> y_train, y_eval = rng.integers(0, 4, 400), rng.integers(0, 4, 100)
>>> X_train = centres[y_train] + rng.standard_normal((400, 8))
>>> X_eval = centres[y_eval] + rng.standard_normal((100, 8))
>>> round(cluster_mi(X_train, y_train, X_eval, y_eval, n_clusters=8, batch_size=100, seed=0), 6)
1.0
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.metrics import mutual_info_score
from sklearn.utils.validation import check_is_fitted

from layerprobe.analysis.kmeans import DEFAULT_TOL, INITS, LloydKMeans
from layerprobe.analysis.minibatch import PublishedKMeans
from layerprobe.devices import resolve_device
from layerprobe.errors import ConfigError

#: Clustering algorithms :func:`cluster_mi` knows; the first is the default.
ALGORITHMS = ("published", "lloyd", "minibatch")
#: The default algorithm: the published clustering (scikit-learn's MiniBatchKMeans, fast).
DEFAULT_ALGORITHM = "published"
#: Initialisations of the mini-batch algorithms (``published``, ``minibatch``): the published code
#: passes none and ran under scikit-learn < 1.4, whose default was 3 (REFERENCE.md section 4).
DEFAULT_N_INIT = 3
#: Shuffles of the evaluation clusters behind :attr:`ClusterMIResult.chance` (cheap: no refit).
CHANCE_SHUFFLES = 10


def normalized_mutual_information(clusters: Any, labels: Any) -> float:
    """``I(C; L) / H(L)`` in nats: the share of the labels' entropy that the clusters explain.

    Parameters
    ----------
    clusters : array-like
        Shape (n,): the cluster of each instance (any hashable values).
    labels : array-like
        Shape (n,): the label of each instance (ints or strings).

    Returns
    -------
    float
        ``mutual_info_score(clusters, labels) / mutual_info_score(labels, labels)``, in [0, 1]
        (up to rounding); 1 when the clusters determine the labels.

    Raises
    ------
    ValueError
        For inputs that are not 1-d, of different lengths or empty, or labels with a single
        value (``H(L) = 0``: the ratio is undefined).
    """
    clusters, labels = _as_labels(clusters, "clusters"), _as_labels(labels, "labels")
    if len(clusters) != len(labels):
        raise ValueError(f"clusters and labels have different lengths ({len(clusters)} and {len(labels)})")
    if len(labels) == 0:
        raise ValueError("clusters and labels are empty")
    entropy = mutual_info_score(labels, labels)
    if not entropy > 0:
        raise ValueError("the labels take a single value: H(L) = 0 and I(C;L)/H(L) is undefined")
    return float(mutual_info_score(clusters, labels) / entropy)


@dataclass(frozen=True)
class ClusterMIResult:
    """Held-out ``I(C;L)/H(L)`` of one clustering, with the sizes that bias it.

    Attributes
    ----------
    score : float
        ``I(C;L)/H(L)`` on the evaluation instances (the number a paper reports).
    train_score : float
        The same on the training instances (their clusters from the fit).
    mutual_information, label_entropy : float
        ``I(C;L)`` and ``H(L)`` on the evaluation instances, nats.
    n_train, n_eval : int
        Instances clustered and evaluated.
    n_clusters : int
        Clusters asked for.
    standardize : bool
        Whether each dimension was z-scored with the training split's statistics before k-means.
    n_clusters_used : int
        Distinct clusters among the evaluation instances.
    n_labels_train, n_labels_eval : int
        Distinct labels of each split.
    n_labels_eval_unseen : int
        Evaluation labels with no training instance.
    algorithm : str
    init : str
        The init used (k-means++ or random).
    batch_size, max_iter : int
    n_init : int
        Initialisations tried (the mini-batch algorithms; 1 for ``lloyd``).
    tol : float or None
        Lloyd's stopping tolerance (None for the mini-batch algorithms).
    seed : int
    device : str
    n_iter : int
        Lloyd iterations, or mini-batch epochs.
    inertia : float
        Sum of squared distances of the training instances to their centres.
    fit_seconds, wall_seconds : float
        The k-means fit, and everything (fit, prediction, scores).
    chance : float or None
        Mean ``I(C;L)/H(L)`` of the evaluation clusters shuffled across instances
        (:func:`chance_score` with ``chance_shuffles`` and ``chance_seed``): the level clusters
        with no information reach at these sizes.  None when not measured.
    chance_spread : float or None
        The standard deviation (ddof=1) of the shuffled scores.
    chance_shuffles : int
    chance_seed : int or None
    """

    score: float
    train_score: float
    mutual_information: float
    label_entropy: float
    n_train: int
    n_eval: int
    n_clusters: int
    n_clusters_used: int
    n_labels_train: int
    n_labels_eval: int
    n_labels_eval_unseen: int
    algorithm: str
    init: str
    batch_size: int
    max_iter: int
    tol: float | None
    seed: int
    device: str
    n_iter: int
    inertia: float
    fit_seconds: float
    wall_seconds: float
    n_init: int = 1
    standardize: bool = False
    chance: float | None = None
    chance_spread: float | None = None
    chance_shuffles: int = 0
    chance_seed: int | None = None

    def details(self) -> dict[str, Any]:
        """JSON-ready fields (for a result table's sidecar); times rounded to milliseconds."""
        values = asdict(self)
        for key in ("fit_seconds", "wall_seconds"):
            values[key] = round(values[key], 3)
        return values


class ClusterMI(BaseEstimator):
    """k-means fitted on training features, scored by ``I(C;L)/H(L)`` on labelled instances.

    Parameters
    ----------
    n_clusters : int
    batch_size : int
        ``published``, ``minibatch``: the mini-batch size; ``lloyd``: rows per block of the distance
        computation (memory only).
    max_iter : int
        ``lloyd``: most full passes; ``published``, ``minibatch``: most epochs (scikit-learn's
        ``max_iter``).
    algorithm : {"published", "lloyd", "minibatch"}
        ``published`` (default): scikit-learn's MiniBatchKMeans algorithm, fast
        (:class:`~layerprobe.analysis.minibatch.PublishedKMeans`); ``minibatch``: scikit-learn's
        own; ``lloyd``: full-batch Lloyd (not the published protocol: higher scores).
    init : {"auto", "random", "k-means++"}, optional
        ``lloyd`` only (default ``"auto"``: k-means++ up to 1000 clusters, random rows above; see
        :class:`~layerprobe.analysis.kmeans.LloydKMeans`); the others always use k-means++.
    tol : float
        ``lloyd`` only: stop when an iteration gains less than ``tol`` of the inertia.
    n_init : int, optional
        ``published`` and ``minibatch``: k-means++ initialisations, the one with the lowest inertia
        on a validation draw kept (default :data:`DEFAULT_N_INIT`, 3: scikit-learn's default before
        1.4, which the published code ran under).  ``lloyd`` runs one initialisation.
    seed : int
        Seed of the init (``lloyd``) or of everything random (the others).
    device : str
        ``lloyd``: ``"cpu"`` or ``"cuda[:N]"``; ``published`` and ``minibatch`` run on the CPU only.
    standardize : bool
        Z-score each dimension with the training features' mean and standard deviation (ddof=0)
        before k-means, in :meth:`fit` and, with the same statistics, in :meth:`predict`; a
        dimension of zero standard deviation is only centred.  Default False: the raw features,
        as the published protocol clusters them.

    Attributes
    ----------
    kmeans_ : PublishedKMeans, LloydKMeans or sklearn.cluster.MiniBatchKMeans
    scaler_ : sklearn.preprocessing.StandardScaler or None
        The training split's per-dimension statistics (``mean_``, ``scale_``, shape (dim,)) when
        ``standardize``, else None.
    train_labels_ : numpy.ndarray
        Shape (n_train,): the labels given to :meth:`fit`.
    train_clusters_ : numpy.ndarray
        Shape (n_train,), int64: the cluster of each training instance.
    train_score_ : float
    inertia_ : float
    n_iter_ : int
    init_ : str
        The init used.
    fit_seconds_ : float
    """

    def __init__(
        self,
        n_clusters: int,
        *,
        batch_size: int,
        max_iter: int = 500,
        algorithm: str = DEFAULT_ALGORITHM,
        init: str | None = None,
        tol: float = DEFAULT_TOL,
        n_init: int | None = None,
        seed: int = 0,
        device: str = "cpu",
        standardize: bool = False,
    ):
        self.n_clusters = n_clusters
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.algorithm = algorithm
        self.init = init
        self.tol = tol
        self.n_init = n_init
        self.seed = seed
        self.device = device
        self.standardize = standardize

    def fit(self, X: Any, labels: Any) -> "ClusterMI":
        """Cluster the training instances ``X`` (``labels`` give :attr:`train_score_`).

        Parameters
        ----------
        X : array-like
            Shape (n_train, dim); float32 is used.
        labels : array-like
            Shape (n_train,).

        Returns
        -------
        ClusterMI
            ``self``, fitted.

        Raises
        ------
        ValueError
            For bad options, mismatched lengths, fewer instances than clusters, non-finite
            features, or a single training label.
        ConfigError
            For a device this machine does not have, or ``minibatch`` on a GPU.
        """
        self._check_params()
        X, labels = _checked_pair(X, labels, "training")
        if len(X) < self.n_clusters:
            raise ValueError(f"{len(X)} training instances are fewer than the {self.n_clusters} clusters")
        started = time.perf_counter()
        self.scaler_ = None
        if self.standardize:
            from sklearn.preprocessing import StandardScaler

            if not np.isfinite(X).all():
                raise ValueError("the training features hold NaN or infinite values")
            self.scaler_ = StandardScaler().fit(X)
            X = np.ascontiguousarray(self.scaler_.transform(X), dtype=np.float32)
        if self.algorithm == "lloyd":
            kmeans = LloydKMeans(
                self.n_clusters, init=self.init or "auto", max_iter=self.max_iter, tol=self.tol,
                chunk_size=self.batch_size, seed=self.seed, device=self.device,
            ).fit(X)  # fmt: skip
            clusters, n_iter, init = kmeans.labels_, kmeans.n_iter_, kmeans.init_
        elif self.algorithm == "published":
            kmeans = PublishedKMeans(
                self.n_clusters, batch_size=self.batch_size, max_iter=self.max_iter, n_init=self.n_init_used, seed=self.seed
            ).fit(X)
            clusters, n_iter, init = kmeans.labels_, kmeans.n_iter_, "k-means++"
        else:
            from sklearn.cluster import MiniBatchKMeans

            if not np.isfinite(X).all():
                raise ValueError("the training features hold NaN or infinite values")
            kmeans = MiniBatchKMeans(
                self.n_clusters, batch_size=self.batch_size, max_iter=self.max_iter, n_init=self.n_init_used,
                random_state=self.seed,
            )  # fmt: skip
            kmeans.fit(X)
            clusters, n_iter, init = np.asarray(kmeans.labels_, dtype=np.int64), int(kmeans.n_iter_), "k-means++"
        self.fit_seconds_ = time.perf_counter() - started
        self.kmeans_ = kmeans
        self.train_labels_ = labels
        self.train_clusters_ = clusters
        self.train_score_ = normalized_mutual_information(clusters, labels)
        self.inertia_ = float(kmeans.inertia_)
        self.n_iter_ = n_iter
        self.init_ = init
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The cluster of each row of ``X``, shape (n,), int64."""
        self._check_fitted()
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.kmeans_.n_features_in_:
            raise ValueError(f"X must have shape (n, {self.kmeans_.n_features_in_}), got {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("the features hold NaN or infinite values")
        if getattr(self, "scaler_", None) is not None:
            X = np.ascontiguousarray(self.scaler_.transform(X), dtype=np.float32)
        return np.asarray(self.kmeans_.predict(X), dtype=np.int64)

    def score(self, X: Any, labels: Any) -> float:
        """``I(C;L)/H(L)`` of the predicted clusters of ``X`` and ``labels``."""
        return self.evaluate(X, labels).score

    def evaluate(
        self, X: Any, labels: Any, *, chance_shuffles: int = CHANCE_SHUFFLES, chance_seed: int | None = None
    ) -> ClusterMIResult:
        """The held-out score of ``(X, labels)`` with its chance level, the sizes and the fit's details.

        Parameters
        ----------
        X : array-like
            Shape (n_eval, dim).
        labels : array-like
            Shape (n_eval,), at least two distinct values.
        chance_shuffles : int
            Shuffles of the predicted clusters for :attr:`ClusterMIResult.chance` (0: not measured).
        chance_seed : int, optional
            Seed of the shuffles (default: the estimator's ``seed``).

        Returns
        -------
        ClusterMIResult
        """
        self._check_fitted()
        started = time.perf_counter()
        X, labels = _checked_pair(X, labels, "evaluation")
        clusters = self.predict(X)
        entropy = float(mutual_info_score(labels, labels))
        score = normalized_mutual_information(clusters, labels)
        train_set = set(self.train_labels_.tolist())
        eval_labels = np.unique(labels)
        chance_seed = self.seed if chance_seed is None else chance_seed
        shuffled = chance_scores(clusters, labels, n_shuffles=chance_shuffles, seed=chance_seed) if chance_shuffles else None
        return ClusterMIResult(
            score=score,
            train_score=self.train_score_,
            mutual_information=score * entropy,
            label_entropy=entropy,
            n_train=len(self.train_labels_),
            n_eval=len(labels),
            n_clusters=self.n_clusters,
            standardize=bool(self.standardize),
            n_clusters_used=len(np.unique(clusters)),
            n_labels_train=len(train_set),
            n_labels_eval=len(eval_labels),
            n_labels_eval_unseen=sum(1 for label in eval_labels.tolist() if label not in train_set),
            algorithm=self.algorithm,
            init=self.init_,
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            tol=self.tol if self.algorithm == "lloyd" else None,
            n_init=self.n_init_used,
            seed=self.seed,
            device=str(self.device),
            n_iter=self.n_iter_,
            inertia=self.inertia_,
            fit_seconds=self.fit_seconds_,
            wall_seconds=self.fit_seconds_ + time.perf_counter() - started,
            chance=None if shuffled is None else float(shuffled.mean()),
            chance_spread=None if shuffled is None else float(shuffled.std(ddof=1)) if len(shuffled) > 1 else 0.0,
            chance_shuffles=int(chance_shuffles),
            chance_seed=None if shuffled is None else int(chance_seed),
        )

    @property
    def n_init_used(self) -> int:
        """The initialisations this estimator runs: ``n_init``, else 3 (mini-batch) or 1 (``lloyd``)."""
        return resolve_n_init(self.algorithm, self.n_init)

    def _check_fitted(self) -> None:
        check_is_fitted(self, "kmeans_", msg="this %(name)s is not fitted yet; call fit() first")

    def _check_params(self) -> None:
        check_options(
            n_clusters=self.n_clusters, batch_size=self.batch_size, max_iter=self.max_iter, algorithm=self.algorithm,
            init=self.init, tol=self.tol, n_init=self.n_init, seed=self.seed, device=self.device, standardize=self.standardize,
            error=ValueError,
        )  # fmt: skip


def cluster_mi_result(
    train_X: Any,
    train_labels: Any,
    eval_X: Any,
    eval_labels: Any,
    *,
    n_clusters: int,
    batch_size: int,
    seed: int,
    max_iter: int = 500,
    algorithm: str = DEFAULT_ALGORITHM,
    init: str | None = None,
    tol: float = DEFAULT_TOL,
    n_init: int | None = None,
    device: str = "cpu",
    standardize: bool = False,
    chance_shuffles: int = CHANCE_SHUFFLES,
) -> ClusterMIResult:
    """Fit k-means on training features, score its clusters of the evaluation instances (and their chance level).

    Parameters
    ----------
    train_X : array-like
        Shape (n_train, dim), n_train >= n_clusters.
    train_labels : array-like
        Shape (n_train,).
    eval_X : array-like
        Shape (n_eval, dim).
    eval_labels : array-like
        Shape (n_eval,).
    n_clusters, batch_size, seed, max_iter, algorithm, init, tol, n_init, device, standardize
        See :class:`ClusterMI`.
    chance_shuffles : int
        Shuffles of the evaluation clusters, seeded with ``seed``, for ``chance`` (see
        :meth:`ClusterMI.evaluate`).

    Returns
    -------
    ClusterMIResult
    """
    estimator = ClusterMI(n_clusters, batch_size=batch_size, max_iter=max_iter, algorithm=algorithm, init=init, tol=tol,
                          n_init=n_init, seed=seed, device=device, standardize=standardize)  # fmt: skip
    return estimator.fit(train_X, train_labels).evaluate(eval_X, eval_labels, chance_shuffles=chance_shuffles)


def cluster_mi(
    train_X: Any,
    train_labels: Any,
    eval_X: Any,
    eval_labels: Any,
    *,
    n_clusters: int,
    batch_size: int,
    seed: int,
    max_iter: int = 500,
    algorithm: str = DEFAULT_ALGORITHM,
    init: str | None = None,
    tol: float = DEFAULT_TOL,
    n_init: int | None = None,
    device: str = "cpu",
    standardize: bool = False,
) -> float:
    """``I(C;L)/H(L)`` on the evaluation split of k-means clusters fitted on the training split.

    Parameters are those of :func:`cluster_mi_result`, which also returns the sizes.

    Returns
    -------
    float
    """
    return cluster_mi_result(
        train_X, train_labels, eval_X, eval_labels, n_clusters=n_clusters, batch_size=batch_size, seed=seed,
        max_iter=max_iter, algorithm=algorithm, init=init, tol=tol, n_init=n_init, device=device, standardize=standardize,
    ).score  # fmt: skip


def chance_scores(clusters: Any, labels: Any, *, n_shuffles: int = 5, seed: int = 0) -> np.ndarray:
    """``I(C;L)/H(L)`` of the clusters shuffled across instances, once per shuffle, shape (n_shuffles,).

    Shuffle ``i`` is the ``i``-th ``rng.permutation(clusters)`` of ``numpy.random.default_rng(seed)``.
    """
    clusters = _as_labels(clusters, "clusters")
    if isinstance(n_shuffles, bool) or not isinstance(n_shuffles, (int, np.integer)) or n_shuffles < 1:
        raise ValueError(f"n_shuffles must be a positive integer, got {n_shuffles!r}")
    rng = np.random.default_rng(seed)
    return np.array([normalized_mutual_information(rng.permutation(clusters), labels) for _ in range(n_shuffles)])


def chance_score(clusters: Any, labels: Any, *, n_shuffles: int = 5, seed: int = 0) -> float:
    """Mean ``I(C;L)/H(L)`` of the clusters shuffled across instances: the score of no information.

    With many clusters per instance this floor is far above 0 (the plug-in bias); compare scores
    with it.  The shuffles are those of :func:`chance_scores`.

    Parameters
    ----------
    clusters, labels : array-like
        Shape (n,) each.
    n_shuffles : int
    seed : int

    Returns
    -------
    float
    """
    return float(chance_scores(clusters, labels, n_shuffles=n_shuffles, seed=seed).mean())


def check_options(
    *,
    n_clusters: Any,
    batch_size: Any,
    max_iter: Any,
    algorithm: Any,
    init: Any,
    tol: Any,
    seed: Any,
    device: Any,
    n_init: Any = None,
    standardize: Any = False,
    error: type[Exception] = ConfigError,
) -> None:
    """Raise ``error`` (one line, naming the option) for an option :class:`ClusterMI` cannot take.

    A device this machine does not have is always a :class:`ConfigError`.
    """
    for name, value in (("n_clusters", n_clusters), ("batch_size", batch_size), ("max_iter", max_iter)):
        if not _positive_int(value):
            raise error(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise error(f"the seed must be a non-negative integer, got {seed!r}")
    if algorithm not in ALGORITHMS:
        raise error(f"--algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    if init is not None and init not in INITS:
        raise error(f"--init must be one of {', '.join(INITS)}, got {init!r}")
    if algorithm != "lloyd" and init not in (None, "k-means++"):
        raise error(f"--init is for the lloyd algorithm; {algorithm} always starts from k-means++")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not np.isfinite(tol) or tol < 0:
        raise error(f"--tol must be a non-negative number, got {tol!r}")
    if n_init is not None and not _positive_int(n_init):
        raise error(f"--n-init must be a positive integer, got {n_init!r}")
    if not isinstance(standardize, (bool, np.bool_)):
        raise error(f"standardize must be True or False, got {standardize!r}")
    if algorithm == "lloyd" and n_init not in (None, 1):
        raise error(f"--n-init is for the published and minibatch algorithms; lloyd runs one initialisation, got {n_init!r}")
    resolved = resolve_device(device)
    if algorithm != "lloyd" and resolved.type != "cpu":
        raise ConfigError(f"--device {device}: the {algorithm} algorithm runs on the CPU only (lloyd runs on a GPU)")


def resolve_n_init(algorithm: str, n_init: int | None) -> int:
    """``n_init``, or its default: :data:`DEFAULT_N_INIT` for the mini-batch algorithms, 1 for ``lloyd``."""
    if n_init is not None:
        return int(n_init)
    return 1 if algorithm == "lloyd" else DEFAULT_N_INIT


# --------------------------------------------------------------------------------------------------
# Inputs


def _positive_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def _as_labels(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {array.shape}")
    return array


def _checked_pair(X: Any, labels: Any, which: str) -> tuple[np.ndarray, np.ndarray]:
    """Features as float32 (n, dim) and labels (n,), or a one-line ValueError."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    labels = _as_labels(labels, f"the {which} labels")
    if X.ndim != 2:
        raise ValueError(f"the {which} features must be 2-d (instances, dims), got shape {X.shape}")
    if len(X) != len(labels):
        raise ValueError(f"the {which} features and labels have different lengths ({len(X)} rows, {len(labels)} labels)")
    if len(X) == 0:
        raise ValueError(f"there are no {which} instances")
    if len(np.unique(labels)) < 2:
        raise ValueError(f"the {which} labels take a single value: H(L) = 0 and I(C;L)/H(L) is undefined")
    return X, labels


__all__ = [
    "ALGORITHMS",
    "CHANCE_SHUFFLES",
    "DEFAULT_ALGORITHM",
    "DEFAULT_TOL",
    "ClusterMI",
    "ClusterMIResult",
    "chance_score",
    "chance_scores",
    "check_options",
    "cluster_mi",
    "cluster_mi_result",
    "normalized_mutual_information",
]
