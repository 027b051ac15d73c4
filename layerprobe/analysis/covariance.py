"""Sufficient statistics of two views: row count, means and the centred scatter, merged exactly.

CCA needs only second moments, so a layer with millions of rows never has to sit in memory: rows
are folded into :class:`CovarianceStats` block by block, and statistics of blocks, files, shards or
data-split parts merge into those of their union.  Merging uses the pairwise update of Chan, Golub
and LeVeque (1979) on centred scatter matrices, which keeps float64 accuracy where the textbook
``sum(x x^T) - n mu mu^T`` loses digits to cancellation (features with large means and small
variances, such as log-mel frames).

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X, Y = rng.normal(size=(1000, 5)), rng.normal(size=(1000, 3))
>>> stats = CovarianceStats.empty(5, 3)
>>> for start in range(0, 1000, 300):
...     stats.update(X[start:start + 300], Y[start:start + 300])
>>> bool(np.allclose(stats.covariance, np.cov(np.hstack([X, Y]), rowvar=False)))
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass
class CovarianceStats:
    """Row count, column means and centred scatter of the joint matrix ``[X | Y]``.

    Attributes
    ----------
    n : int
        Rows folded in.
    mean : numpy.ndarray
        Column means, shape (d1 + d2,), float64.
    scatter : numpy.ndarray
        ``sum_i (z_i - mean)(z_i - mean)^T`` over the rows ``z_i = [x_i, y_i]``, shape
        (d1 + d2, d1 + d2), float64, symmetric.
    d1 : int
        Columns of the first view; the second view has ``len(mean) - d1``.
    """

    n: int
    mean: np.ndarray
    scatter: np.ndarray
    d1: int

    @classmethod
    def empty(cls, d1: int, d2: int) -> "CovarianceStats":
        """Statistics of no rows, for views of ``d1`` and ``d2`` columns."""
        d = d1 + d2
        return cls(0, np.zeros(d), np.zeros((d, d)), d1)

    @classmethod
    def from_arrays(cls, X: np.ndarray, Y: np.ndarray) -> "CovarianceStats":
        """Statistics of the rows of ``X`` (n, d1) and ``Y`` (n, d2)."""
        X, Y = _as_rows(X, "X"), _as_rows(Y, "Y")
        stats = cls.empty(X.shape[1], Y.shape[1])
        stats.update(X, Y)
        return stats

    @property
    def d2(self) -> int:
        return len(self.mean) - self.d1

    def update(self, X: np.ndarray, Y: np.ndarray) -> "CovarianceStats":
        """Fold in a block of rows, in place.

        Parameters
        ----------
        X, Y : numpy.ndarray
            Shapes (m, d1) and (m, d2); any real dtype (computed in float64).

        Returns
        -------
        CovarianceStats
            ``self``.
        """
        X, Y = _as_rows(X, "X"), _as_rows(Y, "Y")
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}")
        if X.shape[1] != self.d1 or Y.shape[1] != self.d2:
            raise ValueError(f"blocks of {X.shape[1]} + {Y.shape[1]} columns for statistics of {self.d1} + {self.d2}")
        if X.shape[0] == 0:
            return self
        joint = np.hstack([X, Y])
        block_mean = joint.mean(axis=0)
        joint -= block_mean
        self._merge_in(joint.shape[0], block_mean, _gram(joint))
        return self

    def merge(self, other: "CovarianceStats") -> "CovarianceStats":
        """Statistics of the union of the rows of ``self`` and ``other`` (a new object)."""
        if other.d1 != self.d1 or len(other.mean) != len(self.mean):
            raise ValueError("statistics of views with different column counts cannot be merged")
        merged = CovarianceStats(self.n, self.mean.copy(), self.scatter.copy(), self.d1)
        merged._merge_in(other.n, other.mean, other.scatter)
        return merged

    @classmethod
    def merge_all(cls, parts: Iterable["CovarianceStats"]) -> "CovarianceStats":
        """Statistics of the union of several parts (at least one)."""
        parts = list(parts)
        if not parts:
            raise ValueError("merge_all needs at least one part")
        total = parts[0].merge(cls.empty(parts[0].d1, parts[0].d2))
        for part in parts[1:]:
            total._merge_in(part.n, part.mean, part.scatter)
        return total

    def _merge_in(self, n_other: int, mean_other: np.ndarray, scatter_other: np.ndarray) -> None:
        if n_other == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.scatter = n_other, mean_other.copy(), scatter_other.copy()
            return
        n = self.n + n_other
        delta = mean_other - self.mean
        self.scatter += scatter_other
        self.scatter += np.outer(delta, delta) * (self.n * n_other / n)
        self.mean += delta * (n_other / n)
        self.n = n

    @property
    def covariance(self) -> np.ndarray:
        """Sample covariance (ddof = 1) of ``[X | Y]``, shape (d1 + d2, d1 + d2)."""
        if self.n < 2:
            raise ValueError(f"a covariance needs at least 2 rows, got {self.n}")
        return self.scatter / (self.n - 1)

    def blocks(self, matrix: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(xx, yy, xy)`` blocks of ``matrix`` (default: :attr:`scatter`)."""
        matrix = self.scatter if matrix is None else matrix
        d1 = self.d1
        return matrix[:d1, :d1], matrix[d1:, d1:], matrix[:d1, d1:]


def _gram(centred: np.ndarray) -> np.ndarray:
    """``centred^T centred``, shape (d, d).

    numpy recognises ``A.T @ A`` and calls BLAS syrk (half the work of a general product).  Using
    numpy's BLAS for every product here (not scipy's, a second OpenBLAS) also matters: two
    OpenBLAS thread pools spinning after their calls slow each other down severalfold.
    """
    return centred.T @ centred


def _as_rows(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a (rows, columns) matrix, got shape {array.shape}")
    return array
