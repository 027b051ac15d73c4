"""The analysis estimators are scikit-learn estimators: clone, get_params/set_params, NotFittedError."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

from layerprobe.analysis.cca import CCA
from layerprobe.analysis.kmeans import LloydKMeans
from layerprobe.analysis.mi import ClusterMI


def _views(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 6))
    y = x[:, :4] @ rng.normal(size=(4, 5)) + 0.3 * rng.normal(size=(400, 5))
    return x, y


def _rows_and_labels(seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=300)
    rows = (rng.normal(size=(4, 5)) * 3)[labels] + rng.normal(size=(300, 5))
    return rows.astype(np.float32), labels


ESTIMATORS = {
    "CCA": lambda: CCA(),
    "CCA pair": lambda: CCA((1e-9, 1e-7), null_directions="keep"),
    "LloydKMeans": lambda: LloydKMeans(8),
    "LloydKMeans options": lambda: LloydKMeans(5, init="random", max_iter=20, tol=0.0, chunk_size=64, seed=3),
    "ClusterMI": lambda: ClusterMI(6, batch_size=128, seed=2),
}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_clone_gives_an_unfitted_estimator_with_equal_params(name):
    estimator = ESTIMATORS[name]()
    assert isinstance(estimator, BaseEstimator)
    copy = clone(estimator)
    assert type(copy) is type(estimator) and copy is not estimator
    assert copy.get_params() == estimator.get_params()
    assert not [key for key in vars(copy) if key.endswith("_")]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_get_params_round_trip(name):
    estimator = ESTIMATORS[name]()
    params = estimator.get_params()
    rebuilt = type(estimator)(**params)
    assert rebuilt.get_params() == params
    other = type(estimator)(**params)
    key = "seed" if "seed" in params else "epsilon"
    other.set_params(**{key: 11 if key == "seed" else 1e-6})
    assert other.get_params()[key] == (11 if key == "seed" else 1e-6)
    assert other.set_params(**params).get_params() == params


def test_parameters_are_stored_unchanged():
    epsilon = (1e-9, 1e-7)
    assert CCA(epsilon).get_params()["epsilon"] is epsilon
    assert LloydKMeans(3, init_size=None).get_params()["init_size"] is None
    assert ClusterMI(3, batch_size=9).get_params()["init"] is None


def test_unfitted_cca_score_raises_not_fitted():
    x, y = _views()
    with pytest.raises(NotFittedError, match="not fitted"):
        CCA().score(x, y)
    with pytest.raises(AttributeError, match="not fitted"):  # NotFittedError is an AttributeError too
        CCA().score(x, y)


def test_unfitted_kmeans_predict_and_score_raise_not_fitted():
    rows, _ = _rows_and_labels()
    with pytest.raises(NotFittedError, match="not fitted"):
        LloydKMeans(4).predict(rows)
    with pytest.raises(NotFittedError, match="not fitted"):
        LloydKMeans(4).score(rows)


def test_unfitted_cluster_mi_predict_and_score_raise_not_fitted():
    rows, labels = _rows_and_labels()
    with pytest.raises(NotFittedError, match="not fitted"):
        ClusterMI(4, batch_size=64).predict(rows)
    with pytest.raises(NotFittedError, match="not fitted"):
        ClusterMI(4, batch_size=64).score(rows, labels)


def test_cloned_and_refitted_cca_gives_identical_results():
    x, y = _views(1)
    fitted = CCA((1e-9, 1e-7)).fit(x[:300], y[:300])
    copy = clone(fitted)
    with pytest.raises(NotFittedError):
        copy.score(x[300:], y[300:])
    copy.fit(x[:300], y[:300])
    np.testing.assert_array_equal(copy.correlations_, fitted.correlations_)
    np.testing.assert_array_equal(copy.x_directions_, fitted.x_directions_)
    assert copy.score(x[300:], y[300:]) == fitted.score(x[300:], y[300:])


def test_cloned_and_refitted_kmeans_gives_identical_results():
    rows, _ = _rows_and_labels(2)
    fitted = LloydKMeans(6, seed=1).fit(rows[:200])
    copy = clone(fitted)
    with pytest.raises(NotFittedError):
        copy.predict(rows)
    copy.fit(rows[:200])
    np.testing.assert_array_equal(copy.cluster_centers_, fitted.cluster_centers_)
    np.testing.assert_array_equal(copy.predict(rows[200:]), fitted.predict(rows[200:]))
    assert copy.score(rows[200:]) == fitted.score(rows[200:])


def test_cloned_and_refitted_cluster_mi_gives_identical_results():
    rows, labels = _rows_and_labels(3)
    fitted = ClusterMI(6, batch_size=64, seed=2).fit(rows[:200], labels[:200])
    copy = clone(fitted).fit(rows[:200], labels[:200])
    np.testing.assert_array_equal(copy.train_clusters_, fitted.train_clusters_)
    assert copy.score(rows[200:], labels[200:]) == fitted.score(rows[200:], labels[200:])
