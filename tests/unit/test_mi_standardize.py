"""k-means MI on z-scored features (issue 16): ``standardize=True``, its rows named apart, the default unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from layerprobe.analysis.mi import ClusterMI, check_options, cluster_mi, cluster_mi_result
from layerprobe.experiments.mi import experiment_name


def planted_dominated(seed=0, n_train=1200, n_eval=400, n_labels=8, dim=6, spread=40.0):
    """8 classes well apart in 6 dimensions (noise 0.5 around centres of scale 3), plus a 7th dimension
    of pure noise with std ``spread``: it holds almost all the variance and so steers raw k-means."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.standard_normal((n_labels, dim))
    out = []
    for n in (n_train, n_eval):
        labels = rng.integers(0, n_labels, n)
        X = centres[labels] + 0.5 * rng.standard_normal((n, dim))
        out += [np.hstack([X, spread * rng.standard_normal((n, 1))]).astype(np.float32), labels]
    return out


OPTIONS = dict(n_clusters=16, batch_size=200, seed=0)


@pytest.mark.parametrize("algorithm", ["published", "lloyd"])
def test_z_scoring_lifts_the_score_a_noise_dimension_buries(algorithm):
    train_X, train_y, eval_X, eval_y = planted_dominated()
    raw = cluster_mi_result(train_X, train_y, eval_X, eval_y, algorithm=algorithm, **OPTIONS)
    z = cluster_mi_result(train_X, train_y, eval_X, eval_y, algorithm=algorithm, standardize=True, **OPTIONS)
    # raw: the clusters slice the noise dimension (near chance); z-scored: they find the 8 classes
    assert raw.score < 0.15 and raw.score - raw.chance < 0.05
    assert z.score > 0.95 and z.score > raw.score + 0.8
    assert (raw.standardize, z.standardize) == (False, True)
    assert z.details()["standardize"] is True and raw.details()["standardize"] is False


def test_the_default_is_the_raw_features_with_the_numbers_of_before():
    """Pinned from the code before the option (commit 2953e66): the same clusters, so the same scores."""
    train_X, train_y, eval_X, eval_y = planted_dominated()
    published = cluster_mi_result(train_X, train_y, eval_X, eval_y, **OPTIONS)
    assert published.score == 0.09717980148803995 and published.chance == 0.0684229121228768
    assert published.inertia == pytest.approx(64553.41658306122, rel=1e-6) and published.n_iter == 5
    lloyd = cluster_mi(train_X, train_y, eval_X, eval_y, algorithm="lloyd", **OPTIONS)
    assert lloyd == 0.11737966529013945
    assert cluster_mi_result(train_X, train_y, eval_X, eval_y, standardize=False, **OPTIONS).score == published.score
    assert ClusterMI(16, batch_size=200).fit(train_X, train_y).scaler_ is None


def test_the_training_statistics_are_applied_to_both_splits_and_a_constant_dimension_is_only_centred():
    train_X, train_y, eval_X, eval_y = planted_dominated(n_train=600, n_eval=200)
    train_X = np.hstack([train_X, np.full((len(train_X), 1), 7.0, np.float32)])  # zero std in training
    eval_X = np.hstack([eval_X, np.full((len(eval_X), 1), 9.0, np.float32)])
    estimator = ClusterMI(16, batch_size=200, seed=0, standardize=True).fit(train_X, train_y)
    mean = train_X.astype(np.float64).mean(axis=0)
    std = train_X.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(estimator.scaler_.mean_, mean, rtol=1e-6)
    np.testing.assert_allclose(estimator.scaler_.scale_, np.where(std > 0, std, 1.0), rtol=1e-6)
    assert estimator.scaler_.scale_[-1] == 1.0  # centred: the constant 7 becomes 0, the dev's 9 becomes 2
    centres = estimator.kmeans_.cluster_centers_
    assert np.all(np.abs(centres[:, -1]) < 1e-5) and np.abs(centres[:, :-1]).max() < 5  # fitted on z-scores
    expected = ((eval_X - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)
    assert np.array_equal(estimator.predict(eval_X), estimator.kmeans_.predict(expected))
    assert np.isfinite(estimator.score(eval_X, eval_y))


def test_bad_values_are_refused():
    train_X, train_y, _, _ = planted_dominated(n_train=100, n_eval=10)
    train_X[3, 2] = np.nan
    with pytest.raises(ValueError, match="^the training features hold NaN or infinite values$"):
        ClusterMI(4, batch_size=50, standardize=True).fit(train_X, train_y)
    with pytest.raises(ValueError, match="^standardize must be True or False, got 'yes'$"):
        ClusterMI(4, batch_size=50, standardize="yes").fit(train_X, train_y)
    check_options(n_clusters=4, batch_size=50, max_iter=5, algorithm="lloyd", init=None, tol=0.0, seed=0, device="cpu",
                  standardize=True)  # fmt: skip


def test_rows_of_z_scored_features_are_named_apart_in_one_scheme():
    assert experiment_name("phone") == "mi_phone"  # the published protocol keeps its name
    assert experiment_name("phone", standardize=False) == "mi_phone"
    assert experiment_name("phone", standardize=True) == "mi_phone@zscore"
    assert experiment_name("word", "minibatch", standardize=True) == "mi_word@zscore"
    assert experiment_name("phone", "lloyd", standardize=True) == "mi_phone@lloyd+zscore"
    assert experiment_name("word", n_init=1, standardize=True) == "mi_word@1init+zscore"
    assert experiment_name("phone", "lloyd") == "mi_phone@lloyd" and experiment_name("word", n_init=5) == "mi_word@5init"
