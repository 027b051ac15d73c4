"""The published mini-batch k-means, fast: scikit-learn's MiniBatchKMeans, step for step, in float32 BLAS.

REFERENCE.md section 4 clusters with scikit-learn's ``MiniBatchKMeans(n_clusters,
batch_size=batch_size, max_iter=max_iter, random_state=seed)`` and its defaults otherwise.
:class:`PublishedKMeans` runs the same algorithm, so its clusters (and the MI scores computed from
them) follow the same distribution over seeds, without reproducing scikit-learn's random draws:

* **init**: ``init_size = 3 * batch_size`` rows (``3 * n_clusters`` where that is smaller than
  ``n_clusters``), drawn uniformly with replacement (every row once where ``init_size`` is not
  below the rows there are), seeded by greedy
  k-means++ (:func:`greedy_kmeans_plusplus`: ``2 + int(ln k)`` D^2-sampled candidates per step, the
  one that lowers the potential most kept).  With ``n_init > 1`` each init draws its own rows and the
  one with the lowest inertia on a validation draw of ``init_size`` rows wins (scikit-learn's
  default is one init from 1.4 on, three before).
* **steps**: ``max_iter * n_rows // batch_size`` steps at most; each draws ``batch_size`` rows
  uniformly with replacement, assigns them to the nearest centres, and moves each centre that got
  rows to the mean of everything it has absorbed (per-centre counts: ``(c * n_c + sum) / (n_c + m)``).
* **random reassignment**, as scikit-learn's: whenever a centre has count 0, or once
  ``10 * n_clusters`` rows have been seen since the last one, the centres whose count is below
  ``reassignment_ratio`` (0.01) times the largest (at most ``batch_size / 2`` of them, the smallest
  counts) move to distinct rows of the current batch, and their counts become the smallest count of
  the others.
* **early stopping**, as scikit-learn's with its default ``tol=0``: an exponentially weighted average
  of the batch's mean inertia (weight ``2 * batch_size / (n_rows + 1)``, the first step ignored);
  stop after ``max_no_improvement`` (10) steps without a new minimum.
* **labels**: the training rows' nearest centres after the last step (``labels_``, ``inertia_``).

Why it is fast: scikit-learn's k-means++ computes, at each of its ``k`` steps, the distances from
every candidate to every one of the ``init_size`` rows (for 5000 clusters: 10 candidates x 15,000
rows x 768 dims, 5000 times, about 85 s on 2 cores).  Here a row can only move to a candidate ``c``
if ``|c - m|^2 < 4 d(x)^2``, where ``m`` is the row's current centre and ``d(x)`` its distance to it
(triangle inequality); the candidates' distances to the chosen centres (a small matrix multiply)
rule out most rows, and only the others are computed.  This is exact: the same candidates give the
same choice.  The steps and the final labels are float32 matrix multiplies.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

#: Rows per block of a nearest-centre computation (memory only).
CHUNK_SIZE = 4096


class PublishedKMeans(BaseEstimator):
    """scikit-learn's MiniBatchKMeans with k-means++ init (the published setting), in float32 BLAS.

    Parameters
    ----------
    n_clusters : int
    batch_size : int
        Rows per mini-batch (scikit-learn's ``batch_size``); also sets ``init_size``.
    max_iter : int
        Most epochs: at most ``max_iter * n_rows // batch_size`` steps.
    n_init : int
        k-means++ inits, the best on a validation draw kept (scikit-learn >= 1.4: 1; < 1.4: 3).
    init_size : int, optional
        Rows of each init; default ``3 * batch_size`` (``3 * n_clusters`` if that is fewer than
        ``n_clusters``), at most the rows there are.
    max_no_improvement : int
        Steps without a new minimum of the smoothed batch inertia before stopping.
    reassignment_ratio : float
        Centres with a count below this share of the largest are re-seeded (see the module).
    seed : int
        Seed of every random draw (``numpy.random.RandomState``).

    Attributes
    ----------
    cluster_centers_ : numpy.ndarray
        Shape (n_clusters, dim), float32.
    init_centers_ : numpy.ndarray
        Shape (n_clusters, dim): the centres the steps started from (the k-means++ rows).
    labels_ : numpy.ndarray
        Shape (n_rows,), int64: nearest centre of each training row.
    inertia_ : float
        Sum of squared distances of the training rows to their centres.
    n_steps_ : int
        Mini-batch steps run.
    n_iter_ : int
        Epochs, ``ceil(n_steps_ * batch_size / n_rows)`` (scikit-learn's ``n_iter_``).
    n_reassigned_ : int
        Centres re-seeded at random over all steps.
    init_seconds_, fit_seconds_ : float
    n_features_in_ : int
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        batch_size: int = 1024,
        max_iter: int = 100,
        n_init: int = 1,
        init_size: int | None = None,
        max_no_improvement: int = 10,
        reassignment_ratio: float = 0.01,
        seed: int = 0,
    ):
        self.n_clusters = n_clusters
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_size = init_size
        self.max_no_improvement = max_no_improvement
        self.reassignment_ratio = reassignment_ratio
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> "PublishedKMeans":
        """Cluster the rows of ``X`` (shape (n_rows, dim), float32 used; ``n_rows >= n_clusters``)."""
        self._check_params()
        started = time.perf_counter()
        X = _as_rows(X)
        n, k = X.shape[0], self.n_clusters
        if n < k:
            raise ValueError(f"k-means with {k} clusters needs at least {k} rows, got {n}")
        rng = np.random.RandomState(int(self.seed))
        x_sq = np.einsum("ij,ij->i", X, X)
        batch = min(self.batch_size, n)
        init_size = self.init_size if self.init_size is not None else 3 * batch
        if init_size < k:
            init_size = 3 * k
        init_size = min(init_size, n)

        validation = rng.randint(0, n, init_size)
        best, best_inertia = None, np.inf
        for _ in range(self.n_init):
            rows = rng.randint(0, n, init_size) if init_size < n else np.arange(n)  # all rows once, as scikit-learn
            chosen = greedy_kmeans_plusplus(X[rows], x_sq[rows], k, rng)
            centres = X[rows[chosen]].copy()
            if self.n_init > 1:
                inertia = float(nearest_centres(X[validation], x_sq[validation], centres)[1].sum(dtype=np.float64))
                if inertia >= best_inertia:
                    continue
                best_inertia = inertia
            best = centres
        self.init_centers_ = best.copy()
        centres = best
        self.init_seconds_ = time.perf_counter() - started

        counts = np.zeros(k, dtype=np.float64)
        n_steps = (self.max_iter * n) // batch
        ewa, ewa_min, no_improvement, since_reassign, reassigned = None, None, 0, 0, 0
        alpha = min(batch * 2.0 / (n + 1), 1.0)
        step = 0
        for step in range(n_steps):
            since_reassign += batch
            reassign = bool((counts == 0).any()) or since_reassign >= 10 * k
            if reassign:
                since_reassign = 0
            rows = rng.randint(0, n, batch)
            xb = X[rows]
            labels, distances = nearest_centres(xb, x_sq[rows], centres)
            batch_inertia = float(distances.sum(dtype=np.float64)) / batch
            _update_centres(centres, counts, xb, labels)
            if reassign and self.reassignment_ratio > 0:
                reassigned += _reassign(centres, counts, xb, self.reassignment_ratio, rng)
            if step == 0:  # scikit-learn ignores the first step's inertia (it is the init's)
                continue
            ewa = batch_inertia if ewa is None else ewa * (1 - alpha) + batch_inertia * alpha
            if ewa_min is None or ewa < ewa_min:
                no_improvement, ewa_min = 0, ewa
            else:
                no_improvement += 1
            if self.max_no_improvement is not None and no_improvement >= self.max_no_improvement:
                break

        labels, distances = nearest_centres(X, x_sq, centres)
        self.cluster_centers_ = centres
        self.labels_ = labels
        self.inertia_ = float(distances.sum(dtype=np.float64))
        self.n_steps_ = step + 1 if n_steps else 0
        self.n_iter_ = int(math.ceil(self.n_steps_ * batch / n))
        self.n_reassigned_ = reassigned
        self.n_features_in_ = X.shape[1]
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The nearest centre of each row, shape (n_rows,), int64."""
        check_is_fitted(self, "cluster_centers_", msg="this %(name)s is not fitted yet; call fit() first")
        X = _as_rows(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the centres {self.n_features_in_}")
        return nearest_centres(X, np.einsum("ij,ij->i", X, X), self.cluster_centers_)[0]

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """:meth:`fit`, then :attr:`labels_`."""
        return self.fit(X).labels_

    def _check_params(self) -> None:
        for name in ("n_clusters", "batch_size", "max_iter", "n_init", "max_no_improvement"):
            value = getattr(self, name)
            if name == "max_no_improvement" and value is None:
                continue
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.init_size is not None and (not isinstance(self.init_size, (int, np.integer)) or self.init_size < 1):
            raise ValueError(f"init_size must be a positive integer, got {self.init_size!r}")
        if not isinstance(self.reassignment_ratio, (int, float)) or not self.reassignment_ratio >= 0:
            raise ValueError(f"reassignment_ratio must be a non-negative number, got {self.reassignment_ratio!r}")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")


# --------------------------------------------------------------------------------------------------
# The steps


def greedy_kmeans_plusplus(
    X: np.ndarray, x_sq: np.ndarray, k: int, rng: np.random.RandomState, *, n_local_trials: int | None = None
) -> np.ndarray:
    """Greedy k-means++ seeding, as scikit-learn's ``_kmeans_plusplus``, computed in bulk.

    The first centre is a uniform row; each later step draws ``n_local_trials`` candidates with
    probability proportional to the squared distance ``D(x)`` to the nearest chosen centre and
    keeps the one that lowers the potential ``sum D(x)`` most.  The same draws, computed differently:

    * **candidates in bulk**: a pool of proposals is drawn at once from the current ``D`` and each
      is accepted at its step with probability ``D_now(x) / D_pool(x)`` (``D`` only falls, so this
      rejection sampling gives exactly the draws from ``D_now``); the pool's distances to all rows
      are then one fat matrix multiply instead of one thin, memory-bound one per step.
    * **screened in bfloat16**: the pool's distances are computed in bfloat16 (several times faster
      than float32 on CPUs with AVX-512 BF16), with a bound on the rounding error, ``0.02 |x||c|``
      (the rows centred first, which keeps the norms small); only the (row, candidate) pairs whose
      lower bound falls below ``D(x)``, the ones that can gain, are recomputed exactly in float32.

    Parameters
    ----------
    X : numpy.ndarray
        Shape (n, dim), float32, n >= k.
    x_sq : numpy.ndarray
        Shape (n,): squared norms of the rows (unused beyond the shape: the rows are centred here).
    k : int
    rng : numpy.random.RandomState
    n_local_trials : int, optional
        Default ``2 + int(ln k)`` (scikit-learn's).

    Returns
    -------
    numpy.ndarray
        Shape (k,), int64: indices of the chosen rows (distinct while ``X`` has distinct rows left).
    """
    n = X.shape[0]
    trials = n_local_trials if n_local_trials is not None else 2 + int(np.log(k))
    X = X - X.mean(0, dtype=np.float64).astype(np.float32)  # translation-invariant; smaller norms, tighter bounds
    x_sq = np.einsum("ij,ij->i", X, X)
    x_norm = np.sqrt(x_sq)
    X_t, x_sq_t, x_norm_t = torch.from_numpy(X), torch.from_numpy(x_sq), torch.from_numpy(x_norm)
    X_bf = X_t.to(torch.bfloat16)
    chosen = np.empty(k, dtype=np.int64)
    first = int(rng.randint(n))
    chosen[0] = first
    closest = np.maximum(x_sq + x_sq[first] - 2 * (X @ X[first]), 0).astype(np.float64)
    closest[first] = 0.0
    pool = _Pool()
    for c in range(1, k):
        potential = closest.sum()
        if not potential > 0:  # every row sits on a centre: take an unused row
            unused = np.setdiff1d(np.arange(n), chosen[:c])
            chosen[c] = pick = int(unused[rng.randint(len(unused))])
            continue
        rows, lower = [], []
        while sum(map(len, rows)) < trials:
            if pool.exhausted():
                size = int(1.25 * trials * min(max(1, c // 16), 48, k - c)) + trials
                pool.draw(closest, size, rng, X_t, X_bf, x_sq_t, x_norm_t)
            picked = pool.accept(closest, trials - sum(map(len, rows)), rng)
            rows.append(pool.rows[picked])
            lower.append(pool.lower[picked])
        rows, lower = np.concatenate(rows), np.concatenate(lower)
        cand, pair = np.nonzero(lower < closest[None, :])  # the (candidate, row) pairs that may gain
        exact = x_sq[pair].astype(np.float64) + x_sq[rows[cand]] - 2 * np.einsum("ij,ij->i", X[pair], X[rows[cand]]).astype(np.float64)
        gain = np.maximum(closest[pair] - np.maximum(exact, 0), 0)
        best = int(np.argmax(np.bincount(cand, weights=gain, minlength=trials)))
        chosen[c] = pick = int(rows[best])
        mine = cand == best
        closest[pair[mine]] = np.minimum(closest[pair[mine]], np.maximum(exact[mine], 0))
        closest[pick] = 0.0
    return chosen


class _Pool:
    """Proposals for :func:`greedy_kmeans_plusplus`: rows drawn from one ``D``, with lower bounds on their distances."""

    #: Bound on the bfloat16 error of ``|x - c|^2``, as a multiple of ``|x| |c|``: inputs and the
    #: output rounded to 8 significant bits (3 x 2^-9 on the dot product, twice) plus float32
    #: accumulation, with room to spare.
    ERROR = 0.02

    def __init__(self) -> None:
        self.rows = np.empty(0, dtype=np.int64)
        self.weights = np.empty(0)
        self.lower = np.empty((0, 0), dtype=np.float32)
        self.next = 0

    def exhausted(self) -> bool:
        return self.next >= len(self.rows)

    def draw(self, closest, size, rng, X_t, X_bf, x_sq_t, x_norm_t) -> None:
        cumulative = np.cumsum(closest)
        self.rows = np.minimum(np.searchsorted(cumulative, rng.uniform(size=size) * cumulative[-1]), len(closest) - 1)
        self.weights = closest[self.rows]
        index = torch.from_numpy(self.rows)
        with torch.no_grad():
            dots = (X_bf[index] @ X_bf.T).float()  # (size, n)
            dots.mul_(-2).add_(x_sq_t[None, :]).add_(x_sq_t[index][:, None])
            dots.addr_(x_norm_t[index], x_norm_t, alpha=-self.ERROR)
        self.lower = dots.numpy()
        self.next = 0

    def accept(self, closest, wanted, rng) -> np.ndarray:
        """Up to ``wanted`` proposals, each accepted with probability ``D_now / D_pool``, in order."""
        start = self.next
        weights = self.weights[start:]
        ratio = np.divide(closest[self.rows[start:]], weights, out=np.zeros_like(weights), where=weights > 0)
        accepted = np.flatnonzero(rng.uniform(size=len(ratio)) < ratio)[:wanted]
        self.next = start + int(accepted[-1]) + 1 if len(accepted) == wanted else len(self.rows)
        return start + accepted


def nearest_centres(X: np.ndarray, x_sq: np.ndarray, centres: np.ndarray, chunk_size: int = CHUNK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre (int64; ties to the lowest index) and squared distance (float32, >= 0) of each row."""
    c_sq = np.einsum("ij,ij->i", centres, centres)
    labels = np.empty(len(X), dtype=np.int64)
    distances = np.empty(len(X), dtype=np.float32)
    for start in range(0, len(X), chunk_size):
        stop = min(start + chunk_size, len(X))
        partial = X[start:stop] @ centres.T
        partial *= -2
        partial += c_sq
        index = partial.argmin(1)
        labels[start:stop] = index
        distances[start:stop] = np.maximum(partial[np.arange(stop - start), index] + x_sq[start:stop], 0)
    return labels, distances


def _update_centres(centres: np.ndarray, counts: np.ndarray, xb: np.ndarray, labels: np.ndarray) -> None:
    """Move each centre that got rows to the running mean of all it has absorbed (in place)."""
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    hit = ordered[starts]
    got = np.diff(np.r_[starts, len(ordered)])
    sums = np.add.reduceat(xb[order], starts, axis=0, dtype=np.float64)
    total = counts[hit] + got
    centres[hit] = ((centres[hit] * counts[hit, None] + sums) / total[:, None]).astype(np.float32)
    counts[hit] = total


def _reassign(centres: np.ndarray, counts: np.ndarray, xb: np.ndarray, ratio: float, rng: np.random.RandomState) -> int:
    """scikit-learn's random reassignment of low-count centres to rows of the batch (in place); how many moved."""
    low = counts < ratio * counts.max()
    if low.sum() > 0.5 * len(xb):
        low[np.argsort(counts)[int(0.5 * len(xb)) :]] = False
    moved = int(low.sum())
    if moved:
        centres[low] = xb[rng.choice(len(xb), replace=False, size=moved)]
        counts[low] = counts[~low].min()
    return moved


def _as_rows(X: Any) -> np.ndarray:
    data = np.ascontiguousarray(X, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"X must be 2-d (rows, features), got shape {data.shape}")
    if data.shape[1] == 0:
        raise ValueError("X has no features")
    if not np.isfinite(data).all():
        raise ValueError("X holds NaN or infinite values")
    return data


__all__ = ["CHUNK_SIZE", "PublishedKMeans", "greedy_kmeans_plusplus", "nearest_centres"]
