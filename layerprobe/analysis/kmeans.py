"""Lloyd's k-means in float32 with torch: matrix-multiply distances, a seeded init, deterministic.

:class:`LloydKMeans` is the clustering behind :func:`layerprobe.analysis.mi.cluster_mi`.  It is a
scikit-learn estimator (a :class:`~sklearn.base.BaseEstimator`: hyper-parameters stored unchanged
in ``__init__``, learned state with a trailing ``_``, so ``sklearn.base.clone`` and
``get_params``/``set_params`` work) that runs on the CPU or on a CUDA device.

Why not the published MiniBatchKMeans
-------------------------------------
REFERENCE.md section 4 clusters with scikit-learn's ``MiniBatchKMeans`` (5000 clusters, batch 4000,
``max_iter`` 500, greedy k-means++ init).  On 50,000 x 768 rows and 2 cores that takes 1.5-2
minutes, almost all of it in the k-means++ init (5000 sequential greedy steps over an init sample
of 12,000 rows, each step memory-bound; with a random init the same mini-batch run takes 12 s);
the mini-batch steps then stop early (after 4-5 epochs), and held-out rows reach fewer than a
fifth of the centres.  A full-batch Lloyd iteration costs one ``(rows, clusters)``
matrix multiply, the same as one epoch of mini-batches, and from a random init (free; every label
gets seeds when clusters outnumber labels tenfold) 3-5 of them reach a lower inertia.  Empty
clusters are re-seeded at the rows farthest from their centres, so every centre is used.
``scripts/bench_kmeans.py`` measures both.

Determinism
-----------
Every random choice draws from a ``torch.Generator`` seeded with ``seed``; assignment ties go to
the lowest cluster index; cluster sums are accumulated in a fixed order (``index_add_`` on the CPU,
a one-hot matrix multiply on CUDA, where ``index_add_`` is atomic and its sums vary from run to
run).  The same data, seed, device and thread count give the same centres and labels bit for bit.

Example
-------
>>> import numpy as np
>>> from layerprobe.analysis.kmeans import LloydKMeans
>>> X = np.random.default_rng(0).standard_normal((1000, 16)).astype(np.float32)
>>> km = LloydKMeans(20, seed=0).fit(X)
>>> km.cluster_centers_.shape, km.labels_.shape
((20, 16), (1000,))
>>> bool((km.predict(X) == km.labels_).all())
True
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from layerprobe.devices import resolve_device

#: Default relative inertia gain below which Lloyd iterations stop.
DEFAULT_TOL = 1e-3
#: Initialisations :class:`LloydKMeans` knows.
INITS = ("auto", "random", "k-means++")
#: Fewest rows the k-means++ seeding draws from by default.
DEFAULT_INIT_SIZE = 4096
#: ``init="auto"`` seeds with k-means++ up to this many clusters, with random rows above.
AUTO_KMEANS_PLUSPLUS_MAX = 1000


class LloydKMeans(BaseEstimator):
    """k-means by Lloyd's algorithm in float32, with distances as matrix multiplies.

    Parameters
    ----------
    n_clusters : int
        Number of clusters ``k``.
    init : {"auto", "random", "k-means++"}
        ``"random"``: ``k`` distinct training rows drawn uniformly (free).
        ``"k-means++"``: greedy k-means++ seeding (scikit-learn's: ``2 + ln k`` D^2-sampled
        candidates per step, the best kept) on ``init_size`` rows drawn uniformly: ``k``
        sequential, memory-bound steps of ``init_size x dim`` work each: on 2 cores and 768-d rows
        about 0.5 s for 500 clusters (4096 rows), but 35 s for 5000 (15,000 rows).
        ``"auto"`` (default): k-means++ up to :data:`AUTO_KMEANS_PLUSPLUS_MAX` clusters, random
        above, where the clusters far outnumber any labels and the seeding would cost more than
        the iterations (``scripts/bench_kmeans.py``: the same inertia and score for 5000 clusters).
    init_size : int, optional
        Rows the k-means++ seeding draws from; default ``min(n_rows, max(3 * n_clusters, 4096))``
        (like scikit-learn's MiniBatchKMeans: 3 batches of rows, at least 3 per cluster).
    max_iter : int
        Most Lloyd iterations (full passes over the rows).
    tol : float
        Stop when an iteration lowers the inertia by less than ``tol`` times the inertia (or
        changes no assignment).  0 runs until no assignment changes or ``max_iter``.
    chunk_size : int
        Rows per block of the distance computation: memory only (a block needs
        ``chunk_size x n_clusters`` float32 values), the result does not depend on it beyond
        floating-point rounding.
    seed : int
        Seed of the init (and of nothing else: the iterations are deterministic).
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Attributes
    ----------
    init_ : str
        The init used (``"auto"`` resolved).
    cluster_centers_ : numpy.ndarray
        Shape (n_clusters, dim), float32.
    labels_ : numpy.ndarray
        Shape (n_rows,), int64: the cluster of each training row (for the final centres).
    inertia_ : float
        Sum of squared distances of the training rows to their centres (final centres).
    n_iter_ : int
        Lloyd iterations run.
    converged_ : bool
        Whether ``tol`` (or unchanged assignments) stopped the iterations before ``max_iter``.
    n_relocated_ : int
        Empty clusters re-seeded at far rows, over all iterations.
    n_features_in_ : int
    fit_seconds_ : float
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: str = "auto",
        init_size: int | None = None,
        max_iter: int = 500,
        tol: float = DEFAULT_TOL,
        chunk_size: int = 4096,
        seed: int = 0,
        device: str = "cpu",
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.init_size = init_size
        self.max_iter = max_iter
        self.tol = tol
        self.chunk_size = chunk_size
        self.seed = seed
        self.device = device

    # -- the estimator

    def fit(self, X: Any, y: Any = None) -> "LloydKMeans":
        """Cluster the rows of ``X``.

        Parameters
        ----------
        X : array-like
            Shape (n_rows, dim); converted to float32.  Needs ``n_rows >= n_clusters``.
        y : ignored

        Returns
        -------
        LloydKMeans
            ``self``, fitted.

        Raises
        ------
        ValueError
            For bad hyper-parameters, non-2-d or non-finite data, or fewer rows than clusters.
        ConfigError
            For a device this machine does not have.
        """
        self._check_params()
        device = resolve_device(self.device)
        started = time.perf_counter()
        data = _as_rows(X, "X")
        n, k = data.shape[0], self.n_clusters
        if n < k:
            raise ValueError(f"k-means with {k} clusters needs at least {k} rows, got {n}")
        generator = torch.Generator().manual_seed(int(self.seed))  # on the CPU: the same draws on every device
        with torch.no_grad():
            X_t = torch.from_numpy(data).to(device)
            x_sq = (X_t * X_t).sum(1)
            centres = self._initial_centres(X_t, x_sq, generator)
            labels, distances = _assign(X_t, x_sq, centres, self.chunk_size)
            inertia = float(distances.double().sum())
            n_iter, converged, relocated = 0, False, 0
            while n_iter < self.max_iter:
                centres, n_empty = _update(X_t, labels, distances, centres)
                relocated += n_empty
                new_labels, distances = _assign(X_t, x_sq, centres, self.chunk_size)
                new_inertia = float(distances.double().sum())
                n_iter += 1
                unchanged = bool((new_labels == labels).all()) and n_empty == 0
                small_gain = inertia - new_inertia <= self.tol * new_inertia
                labels, inertia = new_labels, new_inertia
                if unchanged or small_gain:
                    converged = True
                    break
        self.init_ = self._resolved_init()
        self.cluster_centers_ = centres.cpu().numpy()
        self.labels_ = labels.cpu().numpy().astype(np.int64)
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        self.converged_ = converged
        self.n_relocated_ = relocated
        self.n_features_in_ = data.shape[1]
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The nearest centre of each row.

        Parameters
        ----------
        X : array-like
            Shape (n_rows, dim) with the training dim.

        Returns
        -------
        numpy.ndarray
            Shape (n_rows,), int64.
        """
        return self._labels_and_distances(X)[0]

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """:meth:`fit`, then the training rows' clusters (:attr:`labels_`)."""
        return self.fit(X).labels_

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the inertia of ``X`` under the fitted centres (scikit-learn's convention)."""
        return -float(self._labels_and_distances(X)[1].sum(dtype=np.float64))

    # -- pieces

    def _labels_and_distances(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "cluster_centers_", msg="this %(name)s is not fitted yet; call fit() first")
        data = _as_rows(X, "X")
        if data.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {data.shape[1]} features, the centres {self.n_features_in_}")
        device = resolve_device(self.device)
        with torch.no_grad():
            X_t = torch.from_numpy(data).to(device)
            centres = torch.from_numpy(self.cluster_centers_).to(device)
            labels, distances = _assign(X_t, (X_t * X_t).sum(1), centres, self.chunk_size)
        return labels.cpu().numpy().astype(np.int64), distances.cpu().numpy()

    def _check_params(self) -> None:
        for name in ("n_clusters", "max_iter", "chunk_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.init_size is not None and (not isinstance(self.init_size, (int, np.integer)) or self.init_size < 1):
            raise ValueError(f"init_size must be a positive integer, got {self.init_size!r}")
        if not isinstance(self.tol, (int, float)) or not np.isfinite(self.tol) or self.tol < 0:
            raise ValueError(f"tol must be a non-negative number, got {self.tol!r}")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    def _resolved_init(self) -> str:
        if self.init == "auto":
            return "k-means++" if self.n_clusters <= AUTO_KMEANS_PLUSPLUS_MAX else "random"
        return self.init

    def _initial_centres(self, X: torch.Tensor, x_sq: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, k = X.shape[0], self.n_clusters
        if self._resolved_init() == "random":
            rows = torch.randperm(n, generator=generator)[:k]
            return X[rows.to(X.device)].clone()
        size = min(n, max(k, self.init_size if self.init_size is not None else max(3 * k, DEFAULT_INIT_SIZE)))
        sample = torch.randperm(n, generator=generator)[:size].to(X.device)
        chosen = kmeans_plusplus(X[sample], x_sq[sample], k, generator)
        return X[sample[chosen]].clone()

    def __repr__(self) -> str:
        return (
            f"LloydKMeans({self.n_clusters}, init={self.init!r}, max_iter={self.max_iter}, tol={self.tol:g}, "
            f"seed={self.seed}, device={self.device!r})"
        )


# --------------------------------------------------------------------------------------------------
# The steps


def kmeans_plusplus(
    X: torch.Tensor, x_sq: torch.Tensor, k: int, generator: torch.Generator, *, n_local_trials: int | None = None
) -> torch.Tensor:
    """Greedy k-means++ seeding, as scikit-learn's (Arthur and Vassilvitskii 2007).

    Each step draws ``n_local_trials`` candidate rows with probability proportional to their
    squared distance to the nearest chosen centre and keeps the one that lowers the sum of those
    distances most.  The candidates' distances are one small matrix multiply per step, so the
    greedy choice costs little more than plain k-means++ (both read all rows once per step).

    Parameters
    ----------
    X : torch.Tensor
        Shape (n, dim), float32, n >= k.
    x_sq : torch.Tensor
        Shape (n,): squared norms of the rows.
    k : int
    generator : torch.Generator
        A CPU generator: the draws are the same on every device.
    n_local_trials : int, optional
        Candidates per step; default ``2 + int(ln k)`` (scikit-learn's).

    Returns
    -------
    torch.Tensor
        Shape (k,), int64, on the CPU: indices of distinct rows of ``X`` (as long as ``X`` has
        ``k`` distinct rows).
    """
    n = X.shape[0]
    trials = n_local_trials if n_local_trials is not None else 2 + int(math.log(k))
    chosen = torch.empty(k, dtype=torch.long)
    chosen[0] = int(torch.randint(n, (1,), generator=generator))
    closest = (x_sq + x_sq[chosen[0]] - 2 * (X @ X[chosen[0]])).clamp_min_(0)
    closest[chosen[0]] = 0
    for i in range(1, k):
        weights = closest.double().cpu()
        if not float(weights.sum()) > 0:  # every row sits on a centre: take an unused row
            unused = torch.ones(n, dtype=torch.bool)
            unused[chosen[:i]] = False
            chosen[i] = int(unused.nonzero()[0])
            continue
        candidates = torch.multinomial(weights, trials, replacement=True, generator=generator).to(X.device)
        distances = (x_sq[None, :] + x_sq[candidates][:, None] - 2 * (X[candidates] @ X.T)).clamp_min_(0)
        distances[torch.arange(trials, device=X.device), candidates] = 0
        torch.minimum(distances, closest[None, :], out=distances)
        best = int(distances.double().sum(1).argmin())
        chosen[i] = int(candidates[best])
        closest = distances[best]
    return chosen


def _assign(X: torch.Tensor, x_sq: torch.Tensor, centres: torch.Tensor, chunk_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centre and squared distance of every row, ``chunk_size`` rows at a time.

    Returns
    -------
    labels : torch.Tensor
        Shape (n,), int64; ties go to the lowest index.
    distances : torch.Tensor
        Shape (n,), float32, clipped at 0 (``|x|^2 - 2 x.c + |c|^2`` can round below it).
    """
    c_sq = (centres * centres).sum(1)
    n = X.shape[0]
    labels = torch.empty(n, dtype=torch.long, device=X.device)
    distances = torch.empty(n, dtype=X.dtype, device=X.device)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        partial = torch.addmm(c_sq, X[start:stop], centres.T, alpha=-2)  # |c|^2 - 2 x.c
        values, index = partial.min(1)
        labels[start:stop] = index
        distances[start:stop] = (values + x_sq[start:stop]).clamp_min_(0)
    return labels, distances


def _update(X: torch.Tensor, labels: torch.Tensor, distances: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, int]:
    """New centres: the mean of each cluster's rows; an empty cluster moves to a far row.

    The rows farthest from their centres (largest ``distances``; each row at most once) re-seed
    the empty clusters, as scikit-learn's k-means does.

    Returns
    -------
    centres : torch.Tensor
        Shape (k, dim).
    n_empty : int
    """
    k = centres.shape[0]
    counts = torch.bincount(labels, minlength=k)
    sums = _cluster_sums(X, labels, k)
    new = sums / counts.clamp_min(1).to(sums.dtype)[:, None]
    empty = (counts == 0).nonzero().flatten()
    if len(empty):
        far = torch.topk(distances, len(empty)).indices
        new[empty] = X[far]
    return new.to(X.dtype), len(empty)


def _cluster_sums(X: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Sum of each cluster's rows, shape (k, dim), accumulated in a fixed order."""
    if X.device.type == "cpu":
        return torch.zeros(k, X.shape[1], dtype=X.dtype).index_add_(0, labels, X)
    # CUDA's index_add_ accumulates with atomics (sums vary in the last bits from run to run); a
    # one-hot matrix multiply per block of rows does not.
    sums = torch.zeros(k, X.shape[1], dtype=X.dtype, device=X.device)
    block = max(1, (1 << 26) // max(k, 1))
    for start in range(0, X.shape[0], block):
        part = labels[start : start + block]
        one_hot = torch.zeros(k, len(part), dtype=X.dtype, device=X.device)
        one_hot[part, torch.arange(len(part), device=X.device)] = 1
        sums += one_hot @ X[start : start + block]
    return sums


# --------------------------------------------------------------------------------------------------
# Inputs


def _as_rows(X: Any, name: str) -> np.ndarray:
    data = np.ascontiguousarray(X, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"{name} must be 2-d (rows, features), got shape {data.shape}")
    if data.shape[1] == 0:
        raise ValueError(f"{name} has no features")
    if not np.isfinite(data).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return data


__all__ = ["AUTO_KMEANS_PLUSPLUS_MAX", "DEFAULT_TOL", "INITS", "LloydKMeans", "kmeans_plusplus"]
