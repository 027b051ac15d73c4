"""PublishedKMeans: scikit-learn's MiniBatchKMeans (k-means++ init), the same algorithm, other random draws."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import MiniBatchKMeans
from sklearn.cluster._kmeans import _kmeans_plusplus

from layerprobe.analysis.minibatch import PublishedKMeans, greedy_kmeans_plusplus, nearest_centres


def blobs(n=4000, *, n_labels=40, dim=64, noise=2.0, offset=5.0, seed=1):
    """Overlapping Gaussian blobs, shifted off the origin (large norms: a test of the bfloat16 bound)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_labels, dim))
    return (centres[rng.integers(0, n_labels, n)] + noise * rng.standard_normal((n, dim)) + offset).astype(np.float32)


def potential(X, rows):
    return float(nearest_centres(X, np.einsum("ij,ij->i", X, X), X[rows])[1].sum(dtype=np.float64))


def test_greedy_kmeans_plusplus_has_sklearns_distribution_of_potentials():
    X = blobs()
    x_sq = np.einsum("ij,ij->i", X, X)
    seeds = range(8)
    ours = [potential(X, greedy_kmeans_plusplus(X, x_sq, 300, np.random.RandomState(seed))) for seed in seeds]
    theirs = [potential(X, _kmeans_plusplus(X, 300, x_sq, np.ones(len(X), np.float32), np.random.RandomState(seed))[1])
              for seed in seeds]  # fmt: skip
    # same algorithm: the means differ by the seed-to-seed noise (sd ~0.25 %), far less than k-means++'s
    # advantage over random rows (below)
    assert np.mean(ours) == pytest.approx(np.mean(theirs), rel=0.005)
    random_rows = [potential(X, np.random.RandomState(seed).choice(len(X), 300, replace=False)) for seed in seeds]
    assert np.mean(ours) < 0.97 * np.mean(random_rows)


def test_greedy_kmeans_plusplus_picks_distinct_rows_and_its_best_candidate_exactly():
    X = blobs(600, dim=16)
    x_sq = np.einsum("ij,ij->i", X, X)
    chosen = greedy_kmeans_plusplus(X, x_sq, 50, np.random.RandomState(0))
    assert chosen.shape == (50,) and len(set(chosen.tolist())) == 50
    # one trial per step: plain k-means++; with duplicated rows the potential still reaches 0
    twice = np.concatenate([X[:20], X[:20]])
    picked = greedy_kmeans_plusplus(twice, np.einsum("ij,ij->i", twice, twice), 25, np.random.RandomState(0), n_local_trials=1)
    assert len(set(picked.tolist())) == 25 and potential(twice, picked) == pytest.approx(0, abs=1e-3)


def test_fit_labels_inertia_and_predict_are_the_nearest_centres():
    X = blobs(1500, dim=8)
    km = PublishedKMeans(30, batch_size=256, max_iter=20, seed=0).fit(X)
    labels, distances = nearest_centres(X, np.einsum("ij,ij->i", X, X), km.cluster_centers_)
    full = ((X[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(km.labels_, full.argmin(1))
    np.testing.assert_array_equal(km.predict(X), labels)
    assert km.inertia_ == pytest.approx(float(full.min(1).sum()), rel=1e-4)
    assert km.cluster_centers_.dtype == np.float32 and km.labels_.dtype == np.int64
    assert 1 <= km.n_steps_ <= 20 * 1500 // 256 and km.n_iter_ == int(np.ceil(km.n_steps_ * 256 / 1500))
    starved = PublishedKMeans(100, batch_size=50, max_iter=2, seed=0).fit(X)
    assert starved.n_reassigned_ > 0  # centres no row of a step reached are re-seeded


def test_an_init_size_of_all_rows_takes_every_row_once():
    X = blobs(60, dim=4)  # init_size 3 x 60 >= 60 rows: scikit-learn seeds from the rows themselves, not a draw
    km = PublishedKMeans(60, batch_size=60, max_iter=1, seed=0).fit(X)
    assert sorted(map(tuple, km.init_centers_.tolist())) == sorted(map(tuple, X.tolist()))  # a draw would repeat rows


def test_same_seed_same_centres_other_seed_other_centres():
    X = blobs(1000, dim=8)
    first = PublishedKMeans(20, batch_size=128, max_iter=10, seed=3).fit(X)
    again = PublishedKMeans(20, batch_size=128, max_iter=10, seed=3).fit(X)
    other = PublishedKMeans(20, batch_size=128, max_iter=10, seed=4).fit(X)
    np.testing.assert_array_equal(first.cluster_centers_, again.cluster_centers_)
    assert not np.array_equal(first.cluster_centers_, other.cluster_centers_)


def test_early_stopping_and_max_iter_as_sklearn():
    X = blobs(2000, dim=8)
    capped = PublishedKMeans(20, batch_size=500, max_iter=1, seed=0, max_no_improvement=None).fit(X)
    assert capped.n_steps_ == 2000 // 500 and capped.n_iter_ == 1
    stopped = PublishedKMeans(20, batch_size=500, max_iter=500, seed=0).fit(X)
    assert stopped.n_steps_ < 500 * 2000 // 500  # 10 steps without a new minimum of the smoothed inertia


def test_the_fit_has_sklearns_distribution_of_inertias():
    X = blobs()
    seeds = range(6)
    ours = [PublishedKMeans(300, batch_size=1000, max_iter=500, seed=seed).fit(X) for seed in seeds]
    theirs = [MiniBatchKMeans(300, batch_size=1000, max_iter=500, random_state=seed).fit(X) for seed in seeds]
    # over seeds scikit-learn's inertia spreads by ~0.3 % and its step count by ~30 %
    assert np.mean([k.inertia_ for k in ours]) == pytest.approx(np.mean([k.inertia_ for k in theirs]), rel=0.006)
    assert 0.5 < np.mean([k.n_steps_ for k in ours]) / np.mean([k.n_steps_ for k in theirs]) < 2


def test_n_init_keeps_the_best_init_on_a_validation_draw():
    X = blobs(1500, dim=8)
    one = PublishedKMeans(40, batch_size=200, max_iter=1, n_init=1, seed=0, max_no_improvement=None).fit(X)
    three = PublishedKMeans(40, batch_size=200, max_iter=1, n_init=3, seed=0, max_no_improvement=None).fit(X)
    assert one.inertia_ > 0 and three.inertia_ > 0 and not np.array_equal(one.cluster_centers_, three.cluster_centers_)


@pytest.mark.parametrize(
    "options, X, fragment",
    [
        ({"n_clusters": 0}, np.zeros((4, 2)), "n_clusters must be a positive integer"),
        ({"batch_size": 0}, np.zeros((4, 2)), "batch_size must be a positive integer"),
        ({"n_clusters": 5}, np.zeros((4, 2)), "needs at least 5 rows, got 4"),
        ({}, np.zeros(4), "must be 2-d"),
        ({}, np.full((4, 2), np.nan), "NaN or infinite"),
        ({"seed": -1}, np.zeros((4, 2)), "seed must be a non-negative integer"),
    ],
)
def test_bad_input(options, X, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        PublishedKMeans(**{"n_clusters": 2, **options}).fit(X)
