"""Canonical correlation analysis and projection-weighted CCA (PWCCA), as the layer-wise papers compute it.

:class:`CCA` is a scikit-learn estimator (a :class:`~sklearn.base.BaseEstimator`: ``clone``,
``get_params``/``set_params``; scoring before fitting raises ``NotFittedError``):
``CCA(epsilon).fit(X, Y)`` learns canonical directions, ``score(X, Y)`` is the PWCCA of those
directions on any data (usually held out).
:func:`cca_experiment` runs the published protocol (10 seeded parts, 3 trials, an epsilon grid,
selection on dev, the mean test score) on a pair of row-aligned views.  REFERENCE.md sections 1-3
specify both; the numbers agree with a direct float64 transcription of it to 1e-9.

How it is fast
--------------
Everything is computed from second moments (:class:`~layerprobe.analysis.covariance.CovarianceStats`):

* the data are read once, block by block, into the statistics of the 10 parts; the training
  statistics of a trial are the merge of 8 parts, the dev and test statistics are single parts;
* the held-out PWCCA needs no rows either: with ``S`` the centred scatter of the held-out rows and
  ``m`` their means, the projections' inner products are ``A S A^T`` and the Gram matrix of the
  weighting view's (uncentred) projections is ``A S A^T + n m m^T``, whose Cholesky factor is
  the ``R`` of the reference's QR; so ``Q^T Z = R^-T D^T Z`` comes from the same statistics;
* the covariances of a trial do not depend on epsilon: each view's kept block is
  eigen-decomposed once per trial (``(S + eps I)^(-1/2)`` is then a rescaling of the eigenvalues),
  and the cross-covariance is rotated into both eigenbases once, so a fit costs one small SVD.

Numerical soundness: symmetric eigen-decompositions with eigenvalues clipped at zero before
adding epsilon (rank-deficient and one-hot views never give NaN), float64 throughout, and an SVD
that falls back from LAPACK's divide-and-conquer ``gesdd`` to ``gesvd`` instead of failing.

The one-hot null direction
--------------------------
After centring, a one-hot view whose rows each hold exactly one 1 has a covariance of rank K - 1:
one canonical direction lies in a null space of variance epsilon.  Its training correlation is
about 1e-12 and its held-out correlation is rounding noise, yet the reference keeps it in the PWCCA
sum with a sizeable weight (its projection plus the view mean is nearly the constant vector), so
reference scores of phone and word experiments carry noise of a few 1e-3 that depends on the
machine's rounding.  ``null_directions`` chooses what to do with directions whose training
correlation is below :data:`NULL_CORRELATION` (1e-6, far under any real canonical correlation):

* ``"zero"`` (default): keep the direction in the sum and its weight, as the reference does, but
  take its held-out projection, and so its correlation, as 0 (rounding noise has mean 0); scores
  are reproducible and equal the reference's up to the noise the reference adds.
* ``"keep"``: the reference's arithmetic, noise included.
* ``"drop"``: give the direction zero weight (a different number: the others' weights grow).

Views without such a direction (dense features) give the same score in all three modes.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from layerprobe.analysis.covariance import CovarianceStats
from layerprobe.analysis.splits import cached_split_parts, trial_parts

#: Epsilon values of the protocol: pairs of the first group are tried first, then of the second.
EPSILON_GROUPS: tuple[tuple[float, ...], tuple[float, ...]] = ((1e-11, 1e-10, 1e-9), (1e-8, 1e-7, 1e-6, 1e-5))
#: Training correlations below this mark a null direction (see ``null_directions``).
NULL_CORRELATION = 1e-6
#: What :func:`pwcca` does with null directions (see the module docstring).
NULL_DIRECTION_MODES = ("zero", "keep", "drop")


class CCAFitError(ArithmeticError):
    """A fit that cannot be made at this epsilon (no dimension kept, or the SVD failed twice)."""


# --------------------------------------------------------------------------------------------------
# Fitting from statistics


@dataclass(frozen=True)
class CCAFit:
    """Canonical directions of one fit (the learned state of :class:`CCA`).

    Attributes
    ----------
    epsilon : (float, float)
        ``(eps_x, eps_y)``.
    x_kept, y_kept : numpy.ndarray
        Boolean masks of the dimensions kept, shapes (d1,) and (d2,).
    correlations : numpy.ndarray
        Canonical correlations, descending, shape (nd,), ``nd = min(kept x, kept y)``.
    x_directions, y_directions : numpy.ndarray
        The first ``nd`` rows of ``A_x`` and ``A_y``, shapes (nd, kept x) and (nd, kept y); they
        act on the kept columns of the raw (centred) data.  Each pair of rows is signed so that
        the largest-magnitude entry of the x row is positive (see :func:`_direction_signs`).
    """

    epsilon: tuple[float, float]
    x_kept: np.ndarray
    y_kept: np.ndarray
    correlations: np.ndarray
    x_directions: np.ndarray
    y_directions: np.ndarray

    @property
    def n_components(self) -> int:
        return len(self.correlations)

    @property
    def weights_from_x(self) -> bool:
        """Whether PWCCA weights come from view x (fewer kept dimensions; y on a tie)."""
        return int(self.x_kept.sum()) < int(self.y_kept.sum())


class _EigenCache:
    """One view's scaled covariance and the eigen-decompositions of its kept blocks, by mask."""

    def __init__(self, scaled: np.ndarray):
        self.scaled = scaled
        self.variances = np.abs(np.diagonal(scaled))
        self._by_mask: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def kept(self, epsilon: float) -> np.ndarray:
        return self.variances >= epsilon

    def eigh(self, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = np.packbits(kept).tobytes()
        if key not in self._by_mask:
            values, vectors = np.linalg.eigh(self.scaled[np.ix_(kept, kept)])
            # Rounding makes eigenvalues of a singular block slightly negative: they are zero.
            self._by_mask[key] = (np.clip(values, 0.0, None), vectors)
        return self._by_mask[key]


class CCASolver:
    """Fits CCA at any epsilon from the statistics of the training rows, reusing their decompositions.

    Steps 1-2 of REFERENCE.md section 1 (covariance, scaling) happen once here; steps 3-7 per
    :meth:`fit`, with each view's kept block eigen-decomposed once per mask and the cross
    covariance rotated into the two eigenbases once per pair of masks.
    """

    def __init__(self, stats: CovarianceStats):
        if stats.n < 2:
            raise CCAFitError(f"CCA needs at least 2 training rows, got {stats.n}")
        xx, yy, xy = stats.blocks(stats.covariance)
        x_max, y_max = float(np.abs(xx).max()), float(np.abs(yy).max())
        if x_max == 0.0 or y_max == 0.0:
            raise CCAFitError("a view has zero variance in every dimension")
        self._x = _EigenCache(xx / x_max)
        self._y = _EigenCache(yy / y_max)
        self._xy = xy / math.sqrt(x_max * y_max)
        self._rotated: dict[tuple[bytes, bytes], np.ndarray] = {}

    def fit(self, eps_x: float, eps_y: float) -> CCAFit:
        """Canonical directions at ``(eps_x, eps_y)``; :class:`CCAFitError` when impossible."""
        x_kept, y_kept = self._x.kept(eps_x), self._y.kept(eps_y)
        if not x_kept.any() or not y_kept.any():
            raise CCAFitError(f"no dimension of a view has variance >= epsilon ({eps_x:g}, {eps_y:g})")
        x_values, x_vectors = self._x.eigh(x_kept)
        y_values, y_vectors = self._y.eigh(y_kept)
        key = (np.packbits(x_kept).tobytes(), np.packbits(y_kept).tobytes())
        if key not in self._rotated:
            self._rotated[key] = x_vectors.T @ self._xy[np.ix_(x_kept, y_kept)] @ y_vectors
        # W = V diag((w + eps)^-1/2) V^T, so M = W_x S_xy W_y = V_x (D_x B D_y) V_y^T.
        x_scale = 1.0 / np.sqrt(x_values + eps_x)
        y_scale = 1.0 / np.sqrt(y_values + eps_y)
        u, s, vt = _svd(x_scale[:, None] * self._rotated[key] * y_scale[None, :])
        # A_x = U^T W_x = U'^T D_x V_x^T (and likewise for y); U' has min(n_x, n_y) columns.
        x_directions = (u.T * x_scale[None, :]) @ x_vectors.T
        y_directions = (vt * y_scale[None, :]) @ y_vectors.T
        signs = _direction_signs(x_directions)
        x_directions *= signs[:, None]
        y_directions *= signs[:, None]
        if not (np.isfinite(s).all() and np.isfinite(x_directions).all() and np.isfinite(y_directions).all()):
            raise CCAFitError(f"non-finite canonical directions at epsilon ({eps_x:g}, {eps_y:g})")
        return CCAFit((eps_x, eps_y), x_kept, y_kept, np.abs(s), x_directions, y_directions)


def _direction_signs(directions: np.ndarray) -> np.ndarray:
    """+-1 per row making the row's largest-magnitude entry positive (first of equal magnitudes).

    An SVD fixes singular vectors only up to a joint sign flip of ``u_i`` and ``v_i``.  Correlations
    do not depend on it, but PWCCA weights do: they orthonormalise the projections *plus the view
    means*, and ``-p + m`` is not a flip of ``p + m``.  The reference code inherits whatever signs
    LAPACK returns (differences of about 1e-4 in scores); this convention makes scores reproducible
    across machines and equal to a direct transcription of the algorithm that uses it.
    """
    if directions.size == 0:
        return np.ones(len(directions))
    largest = directions[np.arange(len(directions)), np.argmax(np.abs(directions), axis=1)]
    return np.where(largest < 0, -1.0, 1.0)


def _svd(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD; falls back to the slower, more robust ``gesvd`` when ``gesdd`` does not converge.

    The first try is numpy's (``gesdd``): linear algebra on the hot path stays in numpy's BLAS (see
    :func:`layerprobe.analysis.covariance._gram`); scipy only serves the rare fallback.
    """
    try:
        return np.linalg.svd(matrix, full_matrices=False)
    except np.linalg.LinAlgError:
        try:
            return scipy.linalg.svd(matrix, full_matrices=False, lapack_driver="gesvd", check_finite=False)
        except np.linalg.LinAlgError as exc:
            raise CCAFitError(f"the SVD did not converge ({exc})") from None


# --------------------------------------------------------------------------------------------------
# PWCCA from statistics


def pwcca(fit: CCAFit, stats: CovarianceStats, *, null_directions: str = "zero") -> float:
    """Projection-weighted CCA of fitted directions on the rows summarised by ``stats`` (section 2).

    Parameters
    ----------
    fit : CCAFit
    stats : CovarianceStats
        Statistics of the data to score (at least 2 rows).
    null_directions : {"zero", "keep", "drop"}
        Treatment of directions whose training correlation is below :data:`NULL_CORRELATION`:
        projection and correlation taken as 0, kept as computed, or given zero weight (module
        docstring).

    Returns
    -------
    float
        ``sum_i w_i rho_i``; ``rho_i`` is signed and a direction with a zero projection has
        ``rho_i = 0``.  With fewer rows than directions, directions beyond the rank of the
        projections get zero weight (the reference code fails there).
    """
    if stats.n < 2:
        raise ValueError(f"PWCCA needs at least 2 rows, got {stats.n}")
    if null_directions not in NULL_DIRECTION_MODES:
        raise ValueError(f"null_directions must be one of {', '.join(NULL_DIRECTION_MODES)}, got {null_directions!r}")
    nd = fit.n_components
    xx, yy, xy = stats.blocks()
    x_kept, y_kept = fit.x_kept, fit.y_kept
    ax, ay = fit.x_directions, fit.y_directions
    ax_sxx = ax @ xx[np.ix_(x_kept, x_kept)]
    ay_syy = ay @ yy[np.ix_(y_kept, y_kept)]
    cross = np.einsum("ij,ij->i", ax @ xy[np.ix_(x_kept, y_kept)], ay)
    x_norms = np.einsum("ij,ij->i", ax_sxx, ax)
    y_norms = np.einsum("ij,ij->i", ay_syy, ay)
    denominator = np.sqrt(np.clip(x_norms, 0.0, None) * np.clip(y_norms, 0.0, None))
    # A cosine: clipped, since rounding can put it a few ulps outside [-1, 1] on a handful of rows.
    rho = np.clip(np.divide(cross, denominator, out=np.zeros(nd), where=denominator > 0), -1.0, 1.0)
    if fit.weights_from_x:
        directions, projected, mean = ax, ax_sxx, stats.mean[: stats.d1][x_kept]
    else:
        directions, projected, mean = ay, ay_syy, stats.mean[stats.d1 :][y_kept]
    null = fit.correlations < NULL_CORRELATION
    if null_directions == "zero" and null.any():
        rho[null] = 0.0
        directions, projected = directions.copy(), projected.copy()
        directions[null], projected[null] = 0.0, 0.0
    # D = (P + m)^T with P = A (V - mu)^T; Z = the first nd kept columns, uncentred.  Centred
    # columns sum to zero, so D^T D = A S A^T + n m m^T and D^T Z = A S[:, :nd] + n m m^T.
    m = mean[:nd]
    offset = stats.n * np.outer(m, m)
    gram = projected @ directions.T + offset
    against = projected[:, :nd] + offset
    alpha = np.abs(_orthonormal_coordinates(gram, against)).sum(axis=1)
    if null_directions == "drop":
        alpha[null] = 0.0
    total = alpha.sum()
    if not total > 0:
        return 0.0
    return float(np.dot(alpha / total, rho))


def _orthonormal_coordinates(gram: np.ndarray, against: np.ndarray) -> np.ndarray:
    """``Q^T Z`` from ``G = D^T D`` and ``H = D^T Z``, with ``D = Q R`` the reduced QR of ``D``.

    ``R`` is the Cholesky factor of ``G`` (up to row signs, which the absolute values of the PWCCA
    weights ignore), so ``Q^T Z = R^-T H``.  When ``G`` is singular (fewer rows than directions),
    Gram-Schmidt runs column by column and columns dependent on earlier ones get zero rows.
    """
    try:
        lower = np.linalg.cholesky(gram)  # R = lower^T
        if np.all(np.diagonal(lower) > 0):
            # numpy's LU solve of the triangular system: within numpy's BLAS, backward stable.
            return np.linalg.solve(lower, against)
    except np.linalg.LinAlgError:
        pass
    size = len(gram)
    factor = np.zeros_like(gram)  # rows of R; a zero row for a dependent column
    coordinates = np.zeros_like(against)
    tolerance = 1e-12 * max(float(np.max(np.abs(np.diagonal(gram)))), np.finfo(float).tiny)
    for k in range(size):
        # R[k, j] = (G[k, j] - sum_{i<k} R[i, k] R[i, j]) / R[k, k]
        residual = gram[k, k] - factor[:k, k] @ factor[:k, k]
        if residual <= tolerance:
            continue
        pivot = math.sqrt(residual)
        factor[k, k:] = (gram[k, k:] - factor[:k, k] @ factor[:k, k:]) / pivot
        coordinates[k] = (against[k] - factor[:k, k] @ coordinates[:k]) / pivot
    return coordinates


# --------------------------------------------------------------------------------------------------
# The estimator

#: The message of the :class:`~sklearn.exceptions.NotFittedError` (an AttributeError and a ValueError)
#: raised by scoring before fitting.
_NOT_FITTED = "this %(name)s is not fitted yet; call fit() first"


class CCA(BaseEstimator):
    """CCA with the reference's scaling, dimension dropping and regularisation; PWCCA scoring.

    Parameters
    ----------
    epsilon : float or (float, float)
        Regulariser and dimension-dropping threshold, one for both views or ``(eps_x, eps_y)``.
    null_directions : {"zero", "keep", "drop"}
        Treatment in :meth:`score` of directions with a training correlation below
        :data:`NULL_CORRELATION`, such as the null direction of a one-hot view (module docstring).

    Attributes
    ----------
    correlations_ : numpy.ndarray
        Canonical correlations of the fit, descending, shape (nd,).
    x_kept_, y_kept_ : numpy.ndarray
        Boolean masks of the dimensions kept, shapes (d1,) and (d2,).
    x_directions_, y_directions_ : numpy.ndarray
        Canonical directions (rows) over the kept columns, shapes (nd, kept x) and (nd, kept y).
    n_components_ : int
        ``nd = min(kept x, kept y)``.
    fit_ : CCAFit
        All of the above together.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 8))
    >>> rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    >>> cca = CCA(epsilon=1e-10).fit(X[:1000], X[:1000] @ rotation)
    >>> round(cca.score(X[1000:], X[1000:] @ rotation), 6)
    1.0
    """

    def __init__(self, epsilon: float | tuple[float, float] = 1e-10, *, null_directions: str = "zero"):
        self.epsilon = epsilon
        self.null_directions = null_directions

    def _epsilons(self) -> tuple[float, float]:
        pair = (self.epsilon, self.epsilon) if np.isscalar(self.epsilon) else tuple(self.epsilon)
        if len(pair) != 2 or not all(isinstance(e, (int, float)) and math.isfinite(e) and e >= 0 for e in pair):
            raise ValueError(f"epsilon must be a non-negative number or a pair of them, got {self.epsilon!r}")
        return float(pair[0]), float(pair[1])

    def fit(self, X: np.ndarray, Y: np.ndarray) -> "CCA":
        """Fit on ``X`` (n, d1) and ``Y`` (n, d2), rows are samples."""
        return self.fit_stats(CovarianceStats.from_arrays(X, Y))

    def fit_stats(self, stats: CovarianceStats) -> "CCA":
        """Fit on the statistics of the training rows (for data that does not fit in memory)."""
        self.fit_ = CCASolver(stats).fit(*self._epsilons())
        self.correlations_ = self.fit_.correlations
        self.x_kept_, self.y_kept_ = self.fit_.x_kept, self.fit_.y_kept
        self.x_directions_, self.y_directions_ = self.fit_.x_directions, self.fit_.y_directions
        self.n_components_ = self.fit_.n_components
        return self

    def score(self, X: np.ndarray, Y: np.ndarray) -> float:
        """PWCCA of the fitted directions on ``X`` (m, d1) and ``Y`` (m, d2)."""
        return self.score_stats(CovarianceStats.from_arrays(X, Y))

    def score_stats(self, stats: CovarianceStats) -> float:
        """PWCCA of the fitted directions on the rows summarised by ``stats``."""
        check_is_fitted(self, "fit_", msg=_NOT_FITTED)
        if stats.d1 != len(self.x_kept_) or stats.d2 != len(self.y_kept_):
            raise ValueError(
                f"data of {stats.d1} + {stats.d2} columns for a fit on {len(self.x_kept_)} + {len(self.y_kept_)}"
            )
        return pwcca(self.fit_, stats, null_directions=self.null_directions)

    def __repr__(self) -> str:
        return f"CCA(epsilon={self.epsilon!r})"


# --------------------------------------------------------------------------------------------------
# The protocol


class Views(Protocol):
    """What :func:`cca_experiment` reads: row-aligned views streamed in blocks (see analysis.views)."""

    name: str
    n_rows: int
    dims: tuple[int, int]
    labels: np.ndarray | None
    content_key: str

    def blocks(self, chunk_rows: int = ...) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...


@dataclass(frozen=True)
class ArrayViews:
    """Two in-memory views as :class:`Views` (for arrays that fit in memory, and for tests)."""

    X: np.ndarray
    Y: np.ndarray
    labels: np.ndarray | None = None
    name: str = "X vs Y"

    @property
    def n_rows(self) -> int:
        return len(self.X)

    @property
    def dims(self) -> tuple[int, int]:
        return self.X.shape[1], self.Y.shape[1]

    @property
    def content_key(self) -> str:
        digest = hashlib.sha256(f"arrays|{self.X.shape}|{self.Y.shape}".encode())
        if self.labels is not None:
            digest.update("\0".join(map(str, self.labels)).encode())
        return digest.hexdigest()

    def blocks(self, chunk_rows: int = 16384) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, self.n_rows, chunk_rows):
            yield self.X[start : start + chunk_rows], self.Y[start : start + chunk_rows]


def epsilon_order(*, seed: int = 0, trial: int = 0) -> list[tuple[float, float]]:
    """The order in which a trial tries ``(eps_x, eps_y)`` pairs.

    All pairs of the first group of :data:`EPSILON_GROUPS` in a seeded shuffle, then all pairs of
    the second group in a seeded shuffle (the reference shuffles unseeded).
    """
    rng = np.random.default_rng([seed, 2, trial])
    order: list[tuple[float, float]] = []
    for group in EPSILON_GROUPS:
        pairs = list(itertools.product(group, group))
        order += [pairs[i] for i in rng.permutation(len(pairs))]
    return order


@dataclass(frozen=True)
class CCATrial:
    """One trial: parts used, sizes, the fits tried and the chosen epsilon."""

    dev_part: int
    test_part: int
    n_train: int
    n_dev: int
    n_test: int
    epsilon: tuple[float, float]
    dev_score: float
    test_score: float
    fits: tuple[tuple[tuple[float, float], float], ...]  # ((eps_x, eps_y), dev PWCCA) of every successful fit
    failed: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class CCAResult:
    """The outcome of :func:`cca_experiment`: ``score`` is the number a paper reports."""

    name: str
    score: float
    trials: tuple[CCATrial, ...]
    n_rows: int
    dims: tuple[int, int]
    seed: int
    n_parts: int
    wall_seconds: float
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def trial_scores(self) -> tuple[float, ...]:
        return tuple(trial.test_score for trial in self.trials)

    @property
    def epsilons(self) -> tuple[tuple[float, float], ...]:
        return tuple(trial.epsilon for trial in self.trials)

    def details(self) -> dict[str, Any]:
        """JSON-ready per-trial scores, chosen epsilons and sizes (for a result table's sidecar)."""
        return {
            "n_rows": self.n_rows,
            "dims": list(self.dims),
            "seed": self.seed,
            "n_parts": self.n_parts,
            "wall_seconds": round(self.wall_seconds, 3),
            "trials": [
                {
                    "dev_part": t.dev_part,
                    "test_part": t.test_part,
                    "n_train": t.n_train,
                    "n_dev": t.n_dev,
                    "n_test": t.n_test,
                    "epsilon": list(t.epsilon),
                    "dev_score": t.dev_score,
                    "test_score": t.test_score,
                    "fits": [[list(eps), score] for eps, score in t.fits],
                    "failed": [list(eps) for eps in t.failed],
                }
                for t in self.trials
            ],
        }


def part_statistics(
    views: Views,
    parts: np.ndarray,
    n_parts: int,
    *,
    chunk_rows: int = 16384,
    progress: Callable[[Iterator], Iterator] | None = None,
) -> list[CovarianceStats]:
    """Statistics of each part, in one streamed pass over the views' rows."""
    d1, d2 = views.dims
    stats = [CovarianceStats.empty(d1, d2) for _ in range(n_parts)]
    start = 0
    blocks = views.blocks(chunk_rows)
    for X, Y in progress(blocks) if progress else blocks:
        block_parts = parts[start : start + len(X)]
        if len(block_parts) != len(X):
            raise ValueError(f"{views.name}: the views yield more rows than their n_rows ({views.n_rows})")
        for part in np.unique(block_parts):
            chosen = block_parts == part
            stats[part].update(X[chosen], Y[chosen])
        start += len(X)
    if start != views.n_rows:
        raise ValueError(f"{views.name}: the views yielded {start} rows, expected {views.n_rows}")
    return stats


def cca_experiment(
    views: Views | tuple[np.ndarray, np.ndarray],
    *,
    seed: int = 0,
    n_parts: int = 10,
    n_trials: int = 3,
    n_fits: int = 6,
    split_cache: str | None = None,
    chunk_rows: int = 16384,
    null_directions: str = "zero",
    progress: Callable[[Iterator], Iterator] | None = None,
) -> CCAResult:
    """The CCA protocol of REFERENCE.md section 3 on two row-aligned views.

    Parameters
    ----------
    views : Views or (X, Y)
        Row-aligned views (:mod:`layerprobe.analysis.views`), or two in-memory arrays.
    seed : int
        Seeds the split, the choice of dev/test parts and the epsilon order.
    n_parts, n_trials, n_fits : int
        10 parts, 3 trials, 6 successful epsilon fits per trial in the published protocol.
    split_cache : path, optional
        Directory where the split is cached by a content hash of the rows (reused for every layer).
    chunk_rows : int
        Rows read at a time (memory is about ``chunk_rows * (d1 + d2) * 16`` bytes plus the
        per-part statistics, ``n_parts * (d1 + d2)^2 * 8`` bytes).
    null_directions : {"zero", "keep", "drop"}
        See :class:`CCA`.
    progress : callable, optional
        Wraps the iterator of row blocks (e.g. a tqdm factory).

    Returns
    -------
    CCAResult
        The mean test PWCCA with per-trial scores, chosen epsilons and sizes.

    Raises
    ------
    ValueError
        With fewer rows than 2 per part, or when no trial has a successful fit.
    """
    started = time.perf_counter()
    if isinstance(views, tuple):
        views = ArrayViews(np.asarray(views[0]), np.asarray(views[1]))
    if views.n_rows < 2 * n_parts:
        raise ValueError(f"{views.name}: {views.n_rows} rows are too few for {n_parts} parts")
    parts = cached_split_parts(split_cache, views.content_key, views.n_rows, views.labels, n_parts=n_parts, seed=seed)
    stats = part_statistics(views, parts, n_parts, chunk_rows=chunk_rows, progress=progress)
    trials: list[CCATrial] = []
    for dev, test in trial_parts(n_parts, n_trials, seed=seed):
        trial = _run_trial(stats, dev, test, seed=seed, number=len(trials), n_fits=n_fits,
                           null_directions=null_directions)  # fmt: skip
        if trial is not None:
            trials.append(trial)
        if len(trials) == n_trials:
            break
    if not trials:
        raise ValueError(f"{views.name}: no epsilon gave a CCA fit in any trial")
    score = float(np.mean([trial.test_score for trial in trials]))
    options = {"n_trials": n_trials, "n_fits": n_fits, "null_directions": null_directions}
    return CCAResult(views.name, score, tuple(trials), views.n_rows, tuple(views.dims), seed, n_parts,
                     time.perf_counter() - started, options)  # fmt: skip


def _run_trial(
    stats: Sequence[CovarianceStats], dev: int, test: int, *, seed: int, number: int, n_fits: int,
    null_directions: str,
) -> CCATrial | None:  # fmt: skip
    """Fit on the other parts at successive epsilons, choose on dev, score on test (None: no fit)."""
    train = CovarianceStats.merge_all(s for part, s in enumerate(stats) if part not in (dev, test))
    if stats[dev].n < 2 or stats[test].n < 2:
        return None
    try:
        solver = CCASolver(train)
    except CCAFitError:
        return None
    fits: list[tuple[CCAFit, float]] = []
    failed: list[tuple[float, float]] = []
    for eps_x, eps_y in epsilon_order(seed=seed, trial=number):
        try:
            fit = solver.fit(eps_x, eps_y)
        except CCAFitError:
            failed.append((eps_x, eps_y))
            continue
        fits.append((fit, pwcca(fit, stats[dev], null_directions=null_directions)))
        if len(fits) == n_fits:
            break
    if not fits:
        return None
    best, dev_score = max(fits, key=lambda pair: pair[1])  # first of equal scores, like argmax
    test_score = pwcca(best, stats[test], null_directions=null_directions)
    return CCATrial(
        dev, test, train.n, stats[dev].n, stats[test].n, best.epsilon, dev_score, test_score,
        tuple((fit.epsilon, score) for fit, score in fits), tuple(failed),
    )  # fmt: skip
