"""Projection-weighted CCA (PWCCA) of fitted canonical directions, from second moments.

REFERENCE.md section 2: ``PWCCA = sum_i alpha_i rho_i / sum_i alpha_i`` where ``rho_i`` is the
held-out correlation of direction pair ``i`` and ``alpha_i = sum_j |<q_i, z_j>|`` weighs it by how
much of the weighting view's first ``nd`` kept columns ``z_j`` lies along ``q_i``, the ``i``-th
column of ``Q`` from the QR of the projections *plus the view's column means* (the published
definition, inherited from the SVCCA/PWCCA reference code).

Everything here works on :class:`~layerprobe.analysis.covariance.CovarianceStats`: with ``S`` the
centred scatter of the scored rows and ``m`` their means, the projections' inner products are
``A S A^T`` and the Gram matrix of the weighting view's (uncentred) projections is
``A S A^T + n m m^T``, whose Cholesky factor is the ``R`` of the reference's QR; so ``Q^T Z =
R^-T D^T Z`` comes from the same statistics and no row is needed.

The sign of each direction
--------------------------
An SVD fixes each pair of singular vectors only up to a joint sign flip.  Correlations do not depend
on it, but the published weights do: ``-p + m`` is not a flip of ``p + m``.  So the published score
is that of the signs LAPACK happens to return, and other signs give other scores, by as much as the
differences between adjacent layers on features with large column means (log-mel, LayerNorm
outputs).  :func:`sign_scores` measures that spread (the score under random sign sets), and
``weighting="centred"`` is a sign-invariant variant: weights from the centred projections ``p``
alone (a deviation from the published definition: flipping ``p_i`` flips a column of ``Q`` and the
absolute values of the weights do not change).

Null directions
---------------
A direction is *null* when the data barely span it: its training correlation is below
:data:`NULL_CORRELATION` (the one-hot view's null direction), or less than
:data:`NULL_VARIANCE_FRACTION` of its regularised variance ``a^T (S + eps I) a = 1`` is variance of
the data, ``a^T S a`` (a view on a hyperplane, such as LayerNorm outputs, has a covariance
eigenvalue near 1e-14: the direction that lives there has a training correlation of 1e-4..1e-3, so
its correlation alone does not reveal it, but almost all of its variance is the regulariser's).
Its held-out correlation is rounding noise.  ``null_directions`` chooses what to do with it:
``"zero"`` (default) keeps its weight and takes its projection and correlation as 0; ``"keep"``
is the reference's arithmetic, noise included; ``"drop"`` gives it zero weight.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from layerprobe.analysis.covariance import CovarianceStats

if TYPE_CHECKING:
    from layerprobe.analysis.cca import CCAFit

#: Training correlations below this mark a null direction (see ``null_directions``).
NULL_CORRELATION = 1e-6
#: A direction whose data variance ``a^T S a`` is below this fraction of its regularised variance
#: (1) is null: 99 % of what normalises it is the regulariser.
NULL_VARIANCE_FRACTION = 1e-2
#: What :func:`pwcca` does with null directions (see the module docstring).
NULL_DIRECTION_MODES = ("zero", "keep", "drop")
#: The weights: ``published`` (projections plus the view's means) or ``centred`` (sign-invariant).
WEIGHTINGS = ("published", "centred")
#: Random sign sets behind :func:`sign_scores` by default.
SIGN_SETS = 32


def pwcca(
    fit: "CCAFit",
    stats: CovarianceStats,
    *,
    null_directions: str = "zero",
    weighting: str = "published",
    flips: np.ndarray | None = None,
) -> float:
    """Projection-weighted CCA of fitted directions on the rows summarised by ``stats`` (section 2).

    Parameters
    ----------
    fit : CCAFit
    stats : CovarianceStats
        Statistics of the data to score (at least 2 rows).
    null_directions : {"zero", "keep", "drop"}
        Treatment of null directions (module docstring).
    weighting : {"published", "centred"}
        The published weights (projections plus means), or the sign-invariant centred ones.
    flips : numpy.ndarray, optional
        Shape (nd,), +-1: flip direction pair ``i`` (both views) where ``flips[i] < 0`` before
        scoring (:func:`sign_scores`).

    Returns
    -------
    float
        ``sum_i w_i rho_i``; ``rho_i`` is signed and a direction with a zero projection has
        ``rho_i = 0``.  With fewer rows than directions, directions beyond the rank of the
        projections get zero weight (the reference code fails there).
    """
    terms = _Terms(fit, stats, null_directions=null_directions, weighting=weighting)
    return terms.score(flips)


def sign_scores(
    fit: "CCAFit",
    stats: CovarianceStats,
    *,
    n_sets: int = SIGN_SETS,
    seed: int = 0,
    null_directions: str = "zero",
) -> np.ndarray:
    """The published PWCCA of ``fit`` on ``stats`` under ``n_sets`` random sign sets of its directions.

    Parameters
    ----------
    fit : CCAFit
    stats : CovarianceStats
    n_sets : int
        Random sign sets (each direction pair flipped with probability 1/2), seeded by ``seed``.
    seed : int
    null_directions : {"zero", "keep", "drop"}

    Returns
    -------
    numpy.ndarray
        Shape (n_sets,): the scores, whose range is the score's dependence on the signs that the
        SVD leaves free.  Cost: one Cholesky factorisation and triangular solve of ``nd x nd`` each.
    """
    terms = _Terms(fit, stats, null_directions=null_directions, weighting="published")
    rng = np.random.default_rng([seed, 16])
    flips = rng.choice(np.array([-1.0, 1.0]), size=(n_sets, fit.n_components))
    return np.array([terms.score(row) for row in flips])


class _Terms:
    """The pieces of one PWCCA that do not depend on the directions' signs."""

    def __init__(self, fit: "CCAFit", stats: CovarianceStats, *, null_directions: str, weighting: str):
        if stats.n < 2:
            raise ValueError(f"PWCCA needs at least 2 rows, got {stats.n}")
        if null_directions not in NULL_DIRECTION_MODES:
            raise ValueError(f"null_directions must be one of {', '.join(NULL_DIRECTION_MODES)}, got {null_directions!r}")
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
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
        null = fit.null
        if null_directions == "zero" and null.any():
            rho[null] = 0.0
            directions, projected = directions.copy(), projected.copy()
            directions[null], projected[null] = 0.0, 0.0
        # D = (P + m)^T with P = A (V - mu)^T; Z = the first nd kept columns, uncentred.  Centred
        # columns sum to zero, so D^T D = A S A^T + n m m^T and D^T Z = A S[:, :nd] + n m m^T.
        m = mean[:nd]
        self.offset = stats.n * np.outer(m, m) if weighting == "published" else np.zeros((nd, nd))
        self.inner = projected @ directions.T  # A S A^T: flips act on both sides
        self.towards = projected[:, :nd]  # A S[:, :nd]: flips act on the rows
        self.rho = rho
        self.dropped = null if null_directions == "drop" else None
        self.weighting = weighting

    def score(self, flips: np.ndarray | None = None) -> float:
        inner, towards = self.inner, self.towards
        if flips is not None:
            inner = flips[:, None] * inner * flips[None, :]
            towards = flips[:, None] * towards
        alpha = np.abs(_orthonormal_coordinates(inner + self.offset, towards + self.offset)).sum(axis=1)
        if self.dropped is not None:
            alpha[self.dropped] = 0.0
        total = alpha.sum()
        if not total > 0:
            return 0.0
        return float(np.dot(alpha / total, self.rho))


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


__all__ = [
    "NULL_CORRELATION",
    "NULL_DIRECTION_MODES",
    "NULL_VARIANCE_FRACTION",
    "SIGN_SETS",
    "WEIGHTINGS",
    "pwcca",
    "sign_scores",
]
