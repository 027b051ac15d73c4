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
  and ``W_x S_xy`` is formed once per ``eps_x``, so a fit costs one matrix product and one SVD.

Numerical soundness: symmetric eigen-decompositions with eigenvalues clipped at zero before
adding epsilon (rank-deficient and one-hot views never give NaN), float64 throughout, and an SVD
that falls back from LAPACK's divide-and-conquer ``gesdd`` to ``gesvd`` instead of failing.

Signs and null directions
-------------------------
The published PWCCA depends on the sign LAPACK gives each canonical direction pair, and on
rounding noise in directions the data do not span (the one-hot view's null direction, a LayerNorm
view's hyperplane normal).  :mod:`layerprobe.analysis.pwcca` explains both: by default the signs
are LAPACK's (``signs="lapack"``: the published code's number; ``signs="pinned"`` for numbers that
do not depend on the LAPACK build), :func:`cca_experiment` measures the spread over random sign
sets and the sign-invariant ``centred`` score beside it, and ``null_directions="zero"`` (default)
takes null directions' held-out correlations as 0 (``"keep"``: the reference's arithmetic, noise
included; ``"drop"``: zero weight).  Views without null directions (dense features) give the same
score in all three modes.
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
from layerprobe.analysis.pwcca import (
    NULL_CORRELATION,
    NULL_DIRECTION_MODES,
    NULL_VARIANCE_FRACTION,
    SIGN_SETS,
    WEIGHTINGS,
    pwcca,
    sign_scores,
)
from layerprobe.analysis.splits import cached_split_parts, trial_parts

#: Epsilon values of the protocol: pairs of the first group are tried first, then of the second.
EPSILON_GROUPS: tuple[tuple[float, ...], tuple[float, ...]] = ((1e-11, 1e-10, 1e-9), (1e-8, 1e-7, 1e-6, 1e-5))
#: How each direction pair's sign is taken: ``lapack`` (default), as LAPACK's SVD of the whitened
#: cross-covariance returns it, which is what the published code scores; ``pinned``: the x row's
#: largest-magnitude entry positive, the same on every machine (see :func:`_direction_signs`).
SIGN_CONVENTIONS = ("lapack", "pinned")


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
        act on the kept columns of the raw (centred) data.  Each pair of rows has the sign of
        ``signs`` (:data:`SIGN_CONVENTIONS`).
    data_variance : numpy.ndarray
        Shape (nd,): per direction pair, the smaller over the two views of ``a^T S a``, the share of
        the direction's regularised variance ``a^T (S + eps I) a = 1`` that is the training data's.
    signs : str
        The sign convention of the directions.
    """

    epsilon: tuple[float, float]
    x_kept: np.ndarray
    y_kept: np.ndarray
    correlations: np.ndarray
    x_directions: np.ndarray
    y_directions: np.ndarray
    data_variance: np.ndarray | None = None
    signs: str = "lapack"

    @property
    def null(self) -> np.ndarray:
        """Shape (nd,), bool: null directions (:mod:`layerprobe.analysis.pwcca`), by correlation or data variance."""
        null = self.correlations < NULL_CORRELATION
        if self.data_variance is not None:
            null = null | (self.data_variance < NULL_VARIANCE_FRACTION)
        return null

    @property
    def n_components(self) -> int:
        return len(self.correlations)

    @property
    def weights_from_x(self) -> bool:
        """Whether PWCCA weights come from view x (fewer kept dimensions; y on a tie)."""
        return int(self.x_kept.sum()) < int(self.y_kept.sum())


class _EigenCache:
    """One view's scaled covariance, the eigen-decompositions of its kept blocks and their inverse roots."""

    def __init__(self, scaled: np.ndarray):
        self.scaled = scaled
        self.variances = np.abs(np.diagonal(scaled))
        self._by_mask: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self._roots: dict[tuple[bytes, float], np.ndarray] = {}

    def kept(self, epsilon: float) -> np.ndarray:
        return self.variances >= epsilon

    def eigh(self, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = np.packbits(kept).tobytes()
        if key not in self._by_mask:
            values, vectors = np.linalg.eigh(self.scaled[np.ix_(kept, kept)])
            # Rounding makes eigenvalues of a singular block slightly negative: they are zero.
            self._by_mask[key] = (np.clip(values, 0.0, None), vectors)
        return self._by_mask[key]

    def inverse_sqrt(self, kept: np.ndarray, epsilon: float) -> np.ndarray:
        """``W = (S_kept + eps I)^(-1/2) = V diag((w + eps)^(-1/2)) V^T``, symmetric, cached."""
        key = (np.packbits(kept).tobytes(), epsilon)
        if key not in self._roots:
            values, vectors = self.eigh(kept)
            self._roots[key] = (vectors * (1.0 / np.sqrt(values + epsilon))[None, :]) @ vectors.T
        return self._roots[key]

    def data_variance(self, kept: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """``a^T S a`` per row ``a`` of ``directions`` (the data's share of its regularised variance 1)."""
        return np.einsum("ij,ij->i", directions @ self.scaled[np.ix_(kept, kept)], directions)


class CCASolver:
    """Fits CCA at any epsilon from the statistics of the training rows, reusing their decompositions.

    Steps 1-2 of REFERENCE.md section 1 (covariance, scaling) happen once here; steps 3-7 per
    :meth:`fit`, with each view's kept block eigen-decomposed once per mask, its inverse square
    root formed once per epsilon, and ``W_x S_xy`` once per pair of masks and ``eps_x``.  The SVD is
    of ``M = W_x S_xy W_y`` itself, in the data's own basis, as the published code takes it: the
    signs LAPACK gives its singular vectors are then the published code's (they depend on the
    matrix LAPACK is handed, not only on the subspaces).
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
        self._left: dict[tuple[bytes, bytes, float], np.ndarray] = {}

    def fit(self, eps_x: float, eps_y: float, *, signs: str = "lapack") -> CCAFit:
        """Canonical directions at ``(eps_x, eps_y)`` with ``signs``; :class:`CCAFitError` when impossible."""
        if signs not in SIGN_CONVENTIONS:
            raise ValueError(f"signs must be one of {', '.join(SIGN_CONVENTIONS)}, got {signs!r}")
        x_kept, y_kept = self._x.kept(eps_x), self._y.kept(eps_y)
        if not x_kept.any() or not y_kept.any():
            raise CCAFitError(f"no dimension of a view has variance >= epsilon ({eps_x:g}, {eps_y:g})")
        wx = self._x.inverse_sqrt(x_kept, eps_x)
        wy = self._y.inverse_sqrt(y_kept, eps_y)
        key = (np.packbits(x_kept).tobytes(), np.packbits(y_kept).tobytes(), eps_x)
        if key not in self._left:
            self._left[key] = wx @ self._xy[np.ix_(x_kept, y_kept)]
        u, s, vt = _svd(self._left[key] @ wy)
        # A_x = U^T W_x, A_y = V^T W_y; the thin SVD keeps nd = min(kept x, kept y) pairs.
        x_directions = u.T @ wx
        y_directions = vt @ wy
        if signs == "pinned":
            flips = _direction_signs(x_directions)
            x_directions *= flips[:, None]
            y_directions *= flips[:, None]
        if not (np.isfinite(s).all() and np.isfinite(x_directions).all() and np.isfinite(y_directions).all()):
            raise CCAFitError(f"non-finite canonical directions at epsilon ({eps_x:g}, {eps_y:g})")
        variance = np.minimum(self._x.data_variance(x_kept, x_directions), self._y.data_variance(y_kept, y_directions))
        return CCAFit((eps_x, eps_y), x_kept, y_kept, np.abs(s), x_directions, y_directions, variance, signs)


def _direction_signs(directions: np.ndarray) -> np.ndarray:
    """+-1 per row making the row's largest-magnitude entry positive (first of equal magnitudes).

    An SVD fixes singular vectors only up to a joint sign flip of ``u_i`` and ``v_i``.  Correlations
    do not depend on it, but PWCCA weights do: they orthonormalise the projections *plus the view
    means*, and ``-p + m`` is not a flip of ``p + m``.  The reference code inherits whatever signs
    LAPACK returns (the default here too, so that the numbers are the published code's); this
    convention (``signs="pinned"``) makes scores reproducible across machines and LAPACK builds,
    but they differ from the published ones by up to the sign spread (:func:`sign_scores`).
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
        Treatment in :meth:`score` of null directions, such as the null direction of a one-hot
        view (:mod:`layerprobe.analysis.pwcca`).
    signs : {"lapack", "pinned"}
        The directions' signs: LAPACK's (the published code's), or pinned (:data:`SIGN_CONVENTIONS`).
    weighting : {"published", "centred"}
        :meth:`score`'s PWCCA weights (:mod:`layerprobe.analysis.pwcca`).

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

    def __init__(
        self,
        epsilon: float | tuple[float, float] = 1e-10,
        *,
        null_directions: str = "zero",
        signs: str = "lapack",
        weighting: str = "published",
    ):
        self.epsilon = epsilon
        self.null_directions = null_directions
        self.signs = signs
        self.weighting = weighting

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
        self.fit_ = CCASolver(stats).fit(*self._epsilons(), signs=self.signs)
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
        return pwcca(self.fit_, stats, null_directions=self.null_directions, weighting=self.weighting)

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
    n_null: int = 0  # null directions of the chosen fit
    centred_epsilon: tuple[float, float] | None = None  # the same selection with the centred weights
    centred_dev_score: float | None = None
    centred_test_score: float | None = None
    sign_scores: tuple[float, ...] = ()  # test PWCCA of the chosen fit under random sign sets


@dataclass(frozen=True)
class CCAResult:
    """The outcome of :func:`cca_experiment`: ``score`` is the number a paper reports.

    ``centred_score`` is the same protocol with the sign-invariant centred weights; ``sign_scores``
    the score (the mean over trials) under each random sign set of the directions, whose range is
    how much the published number depends on the signs LAPACK happens to give.
    """

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

    @property
    def centred_score(self) -> float | None:
        """The mean test score with centred weights (None when not measured)."""
        scores = [t.centred_test_score for t in self.trials]
        return None if not scores or any(score is None for score in scores) else float(np.mean(scores))

    @property
    def sign_scores(self) -> tuple[float, ...]:
        """The score under each random sign set (the mean over trials of their test scores)."""
        if not self.trials or not all(t.sign_scores for t in self.trials):
            return ()
        return tuple(float(v) for v in np.mean([t.sign_scores for t in self.trials], axis=0))

    @property
    def sign_range(self) -> tuple[float, float] | None:
        """``(min, max)`` of :attr:`sign_scores` and the score itself (None when not measured)."""
        scores = self.sign_scores
        return None if not scores else (min(*scores, self.score), max(*scores, self.score))

    def details(self) -> dict[str, Any]:
        """JSON-ready per-trial scores, chosen epsilons and sizes (for a result table's sidecar)."""
        return {
            "n_rows": self.n_rows,
            "dims": list(self.dims),
            "seed": self.seed,
            "n_parts": self.n_parts,
            "wall_seconds": round(self.wall_seconds, 3),
            "centred_score": self.centred_score,
            "signs": {
                "convention": self.options.get("signs", "lapack"),
                "n_sets": len(self.sign_scores),
                "low": None if self.sign_range is None else self.sign_range[0],
                "high": None if self.sign_range is None else self.sign_range[1],
                "std": float(np.std(self.sign_scores, ddof=1)) if len(self.sign_scores) > 1 else None,
            },
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
                    "n_null": t.n_null,
                    "centred_epsilon": None if t.centred_epsilon is None else list(t.centred_epsilon),
                    "centred_dev_score": t.centred_dev_score,
                    "centred_test_score": t.centred_test_score,
                    "sign_scores": list(t.sign_scores),
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
    signs: str = "lapack",
    sign_sets: int = SIGN_SETS,
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
    signs : {"lapack", "pinned"}
        The directions' signs (:data:`SIGN_CONVENTIONS`): LAPACK's, as the published code; or
        pinned, the same on every machine.
    sign_sets : int
        Random sign sets scored on each trial's test part (:attr:`CCAResult.sign_scores`; 0: none).
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
    if signs not in SIGN_CONVENTIONS:
        raise ValueError(f"signs must be one of {', '.join(SIGN_CONVENTIONS)}, got {signs!r}")
    if views.n_rows < 2 * n_parts:
        raise ValueError(f"{views.name}: {views.n_rows} rows are too few for {n_parts} parts")
    parts = cached_split_parts(split_cache, views.content_key, views.n_rows, views.labels, n_parts=n_parts, seed=seed)
    stats = part_statistics(views, parts, n_parts, chunk_rows=chunk_rows, progress=progress)
    trials: list[CCATrial] = []
    for dev, test in trial_parts(n_parts, n_trials, seed=seed):
        trial = _run_trial(stats, dev, test, seed=seed, number=len(trials), n_fits=n_fits,
                           null_directions=null_directions, signs=signs, sign_sets=sign_sets)  # fmt: skip
        if trial is not None:
            trials.append(trial)
        if len(trials) == n_trials:
            break
    if not trials:
        raise ValueError(f"{views.name}: no epsilon gave a CCA fit in any trial")
    score = float(np.mean([trial.test_score for trial in trials]))
    options = {"n_trials": n_trials, "n_fits": n_fits, "null_directions": null_directions, "signs": signs,
               "sign_sets": sign_sets}  # fmt: skip
    return CCAResult(views.name, score, tuple(trials), views.n_rows, tuple(views.dims), seed, n_parts,
                     time.perf_counter() - started, options)  # fmt: skip


def _run_trial(
    stats: Sequence[CovarianceStats], dev: int, test: int, *, seed: int, number: int, n_fits: int,
    null_directions: str, signs: str, sign_sets: int,
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
            fit = solver.fit(eps_x, eps_y, signs=signs)
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
    # The sign-invariant variant, selected on dev by its own score.
    centred = [(fit, pwcca(fit, stats[dev], null_directions=null_directions, weighting="centred")) for fit, _ in fits]
    centred_best, centred_dev = max(centred, key=lambda pair: pair[1])
    centred_test = pwcca(centred_best, stats[test], null_directions=null_directions, weighting="centred")
    spread = sign_scores(best, stats[test], n_sets=sign_sets, seed=seed * 1000 + number, null_directions=null_directions) if sign_sets else ()
    return CCATrial(
        dev, test, train.n, stats[dev].n, stats[test].n, best.epsilon, dev_score, test_score,
        tuple((fit.epsilon, score) for fit, score in fits), tuple(failed), int(best.null.sum()),
        centred_best.epsilon, centred_dev, centred_test, tuple(float(v) for v in spread),
    )  # fmt: skip
