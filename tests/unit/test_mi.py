"""I(C;L)/H(L), the Lloyd k-means behind it, and cluster_mi on arrays."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import mutual_info_score

from layerprobe.analysis.kmeans import LloydKMeans
from layerprobe.analysis.mi import (
    CHANCE_SHUFFLES,
    ClusterMI,
    ClusterMIResult,
    chance_score,
    chance_scores,
    cluster_mi,
    cluster_mi_result,
    normalized_mutual_information,
)
from layerprobe.errors import ConfigError
from layerprobe.experiments.mi import CHANCE_MARGIN, chance_warnings, size_warnings


def planted(n_train, n_eval, *, n_labels, dim, noise, seed=0):
    """Rows drawn around ``n_labels`` random centres with Gaussian noise; train and eval alike."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_labels, dim)).astype(np.float32)
    out = []
    for n in (n_train, n_eval):
        labels = rng.integers(0, n_labels, n)
        out += [(centres[labels] + noise * rng.standard_normal((n, dim))).astype(np.float32), labels]
    return out


# --------------------------------------------------------------------------------------------------
# normalized_mutual_information


def test_a_labelling_explains_itself_fully():
    labels = np.array(["aa", "b", "aa", "iy", "b", "b", "s", "aa"])
    ids = np.unique(labels, return_inverse=True)[1]
    assert normalized_mutual_information(ids, labels) == pytest.approx(1.0, abs=1e-12)
    assert normalized_mutual_information(7 - ids * 3, labels) == pytest.approx(1.0, abs=1e-12)  # names do not matter
    refined = ids * 2 + np.arange(len(ids)) % 2  # each label split in two clusters: still all of H(L)
    assert normalized_mutual_information(refined, labels) == pytest.approx(1.0, abs=1e-12)
    merged = np.where(ids == 3, 0, ids)  # "s" merged into "aa": less
    assert normalized_mutual_information(merged, labels) < 0.9


def test_it_is_the_nats_formula_on_the_contingency_table():
    clusters = np.array([0, 0, 1, 1, 1, 2, 2, 0, 1, 2, 2, 2])
    labels = np.array(list("aabbbcccabca"))
    n = len(labels)
    joint = Counter(zip(clusters.tolist(), labels.tolist()))
    p_c = {c: k / n for c, k in Counter(clusters.tolist()).items()}
    p_l = {l: k / n for l, k in Counter(labels.tolist()).items()}
    mi = sum(k / n * math.log((k / n) / (p_c[c] * p_l[l])) for (c, l), k in joint.items())
    h = -sum(p * math.log(p) for p in p_l.values())
    expected = mi / h
    assert normalized_mutual_information(clusters, labels) == pytest.approx(expected, rel=1e-12)
    assert normalized_mutual_information(clusters, labels) == mutual_info_score(clusters, labels) / mutual_info_score(labels, labels)
    assert 0.1 < expected < 0.9  # a fixed assignment that is neither trivial nor perfect


def test_independent_clusters_score_near_zero():
    """The plug-in bias is about (K-1)(L-1)/(2n) nats; 4x that bounds the score with a wide margin."""
    rng = np.random.default_rng(3)
    n, k, n_labels = 20_000, 10, 5
    clusters, labels = rng.integers(0, k, n), rng.integers(0, n_labels, n)
    score = normalized_mutual_information(clusters, labels)
    bias = (k - 1) * (n_labels - 1) / (2 * n) / math.log(n_labels)
    assert 0.0 <= score < 4 * bias
    assert chance_score(labels, labels) < 4 * bias  # shuffling destroys a perfect clustering too


def test_many_clusters_per_instance_inflate_the_score():
    """5000 clusters over 7500 instances of 500 labels: no information, yet a large plug-in score."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(500), 15)
    clusters = rng.integers(0, 5000, len(labels))
    assert normalized_mutual_information(clusters, labels) > 0.5
    assert abs(chance_score(clusters, labels) - normalized_mutual_information(clusters, labels)) < 0.02


@pytest.mark.parametrize(
    "clusters, labels, fragment",
    [
        ([0, 1, 1], ["a", "b"], "clusters and labels have different lengths (3 and 2)"),
        ([], [], "clusters and labels are empty"),
        ([[0, 1]], ["a", "b"], "clusters must be 1-d, got shape (1, 2)"),
        ([0, 1, 2], ["a", "a", "a"], "the labels take a single value: H(L) = 0"),
    ],
)
def test_nmi_bad_input(clusters, labels, fragment):
    with pytest.raises(ValueError) as caught:
        normalized_mutual_information(clusters, labels)
    assert fragment in str(caught.value) and len(str(caught.value).splitlines()) == 1


# --------------------------------------------------------------------------------------------------
# LloydKMeans


def test_lloyd_assigns_every_row_to_its_nearest_centre_and_reports_the_inertia():
    X = np.random.default_rng(1).standard_normal((700, 12)).astype(np.float32)
    km = LloydKMeans(25, seed=2).fit(X)
    distances = ((X.astype(np.float64)[:, None, :] - km.cluster_centers_.astype(np.float64)[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(km.labels_, distances.argmin(1))
    assert km.inertia_ == pytest.approx(distances.min(1).sum(), rel=1e-5)
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-6)
    # Each centre is the mean of its rows (a converged Lloyd fixed point, up to tol).
    for cluster in range(0, 25, 6):
        np.testing.assert_allclose(km.cluster_centers_[cluster], X[km.labels_ == cluster].mean(0), atol=0.2)
    assert km.cluster_centers_.dtype == np.float32 and km.labels_.dtype == np.int64 and km.n_iter_ >= 1


def test_lloyd_runs_to_a_fixed_point_with_tol_zero():
    X = np.random.default_rng(4).standard_normal((400, 6)).astype(np.float32)
    km = LloydKMeans(10, tol=0.0, seed=0).fit(X)
    assert km.converged_
    for cluster in range(10):
        np.testing.assert_allclose(km.cluster_centers_[cluster], X[km.labels_ == cluster].mean(0), atol=1e-5)


def test_empty_clusters_move_to_far_rows():
    """Duplicate rows make a random init pick one point twice; the empty twin is re-seeded."""
    points = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32) * 10
    X = np.repeat(points, 10, axis=0)
    km = LloydKMeans(10, init="random", seed=0).fit(X)
    assert km.n_relocated_ > 0
    assert sorted(np.unique(km.labels_)) == list(range(10))
    assert km.inertia_ < 1e-6 * float((X.astype(np.float64) ** 2).sum())  # 0 up to float32 rounding
    np.testing.assert_allclose(np.sort(km.cluster_centers_, axis=0), np.sort(points, axis=0), atol=1e-4)


def test_lloyd_inertia_is_within_a_few_percent_of_sklearn():
    X, _, _, _ = planted(3000, 1, n_labels=30, dim=24, noise=0.6, seed=5)
    ours = LloydKMeans(60, seed=0).fit(X)
    full = KMeans(60, n_init=1, random_state=0).fit(X)
    published = MiniBatchKMeans(60, batch_size=1500, max_iter=500, random_state=0).fit(X)
    assert ours.inertia_ <= 1.03 * full.inertia_
    assert ours.inertia_ <= 1.03 * published.inertia_


@pytest.mark.parametrize("init", ["random", "k-means++"])
def test_lloyd_is_deterministic_per_seed(init):
    X = np.random.default_rng(6).standard_normal((500, 10)).astype(np.float32)
    first = LloydKMeans(15, init=init, seed=3).fit(X)
    again = LloydKMeans(15, init=init, seed=3).fit(X)
    other = LloydKMeans(15, init=init, seed=4).fit(X)
    np.testing.assert_array_equal(first.cluster_centers_, again.cluster_centers_)
    np.testing.assert_array_equal(first.labels_, again.labels_)
    assert first.inertia_ == again.inertia_ and first.init_ == init
    assert not np.array_equal(first.cluster_centers_, other.cluster_centers_)


def test_auto_init_is_kmeans_plusplus_for_few_clusters_and_random_for_many():
    X = np.random.default_rng(0).standard_normal((1200, 3)).astype(np.float32)
    assert LloydKMeans(4, max_iter=1).fit(X).init_ == "k-means++"
    assert LloydKMeans(1001, max_iter=1).fit(X).init_ == "random"


@pytest.mark.parametrize(
    "options, X, error, fragment",
    [
        ({"n_clusters": 0}, np.zeros((5, 2)), ValueError, "n_clusters must be a positive integer, got 0"),
        ({"n_clusters": 6}, np.zeros((5, 2)), ValueError, "k-means with 6 clusters needs at least 6 rows, got 5"),
        ({"n_clusters": 2, "init": "kmeans"}, np.zeros((5, 2)), ValueError, "init must be one of auto, random, k-means++"),
        ({"n_clusters": 2, "tol": -1.0}, np.zeros((5, 2)), ValueError, "tol must be a non-negative number"),
        ({"n_clusters": 2}, np.zeros(5), ValueError, "X must be 2-d (rows, features), got shape (5,)"),
        ({"n_clusters": 2}, np.array([[0.0], [np.nan], [1.0]]), ValueError, "X holds NaN or infinite values"),
        ({"n_clusters": 2, "device": "tpu"}, np.zeros((5, 2)), ConfigError, "--device 'tpu' is not a device name"),
    ],
)
def test_lloyd_bad_input(options, X, error, fragment):
    with pytest.raises(error) as caught:
        LloydKMeans(**options).fit(X)
    assert fragment in str(caught.value) and len(str(caught.value).splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_config_error():
    with pytest.raises(ConfigError, match="CUDA is not available on this machine"):
        LloydKMeans(2, device="cuda").fit(np.zeros((4, 2)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_the_cpu_and_is_deterministic():
    X, _, _, _ = planted(2000, 1, n_labels=20, dim=16, noise=0.3, seed=1)
    cpu = LloydKMeans(40, seed=0).fit(X)
    gpu = LloydKMeans(40, seed=0, device="cuda").fit(X)
    again = LloydKMeans(40, seed=0, device="cuda").fit(X)
    np.testing.assert_array_equal(gpu.cluster_centers_, again.cluster_centers_)
    assert gpu.inertia_ == pytest.approx(cpu.inertia_, rel=1e-4)


# --------------------------------------------------------------------------------------------------
# cluster_mi


def test_planted_clusters_are_recovered():
    train_X, train_y, eval_X, eval_y = planted(4000, 2000, n_labels=40, dim=32, noise=0.25, seed=2)
    for n_clusters, init in ((80, "auto"), (200, "random")):  # auto: k-means++ up to 1000 clusters
        result = cluster_mi_result(train_X, train_y, eval_X, eval_y, n_clusters=n_clusters, batch_size=1500, seed=0, init=init,
                                   algorithm="lloyd")  # fmt: skip
        assert result.score > 0.99 and result.train_score > 0.99, (n_clusters, result)
    result = cluster_mi_result(train_X, train_y, eval_X, eval_y, n_clusters=80, batch_size=1500, seed=0)  # the default
    assert result.algorithm == "published" and result.score > 0.99 and result.train_score > 0.99, result
    noisy = cluster_mi(*planted(4000, 2000, n_labels=40, dim=32, noise=2.0, seed=2), n_clusters=40, batch_size=1500, seed=0)
    assert 0.2 < noisy < 0.8  # the score measures the structure: it falls with the noise


def test_cluster_mi_is_the_score_of_the_result_and_reports_sizes():
    train_X, train_y, eval_X, eval_y = planted(600, 150, n_labels=6, dim=8, noise=0.8, seed=4)
    eval_y = np.where(np.arange(150) < 3, 99, eval_y)  # a label the training split lacks
    options = dict(n_clusters=12, batch_size=256, seed=1)
    result = cluster_mi_result(train_X, train_y, eval_X, eval_y, **options)
    assert isinstance(result, ClusterMIResult)
    assert cluster_mi(train_X, train_y, eval_X, eval_y, **options) == result.score
    assert type(cluster_mi(train_X, train_y, eval_X, eval_y, **options)) is float
    assert (result.n_train, result.n_eval, result.n_clusters) == (600, 150, 12)
    assert (result.n_labels_train, result.n_labels_eval, result.n_labels_eval_unseen) == (6, 7, 1)
    assert result.label_entropy == pytest.approx(mutual_info_score(eval_y, eval_y), rel=1e-12)
    assert result.mutual_information == pytest.approx(result.score * result.label_entropy, rel=1e-12)
    estimator = ClusterMI(12, batch_size=256, seed=1).fit(train_X, train_y)
    clusters = estimator.predict(eval_X)
    assert result.n_clusters_used == len(np.unique(clusters)) <= 12
    assert result.score == normalized_mutual_information(clusters, eval_y) == estimator.score(eval_X, eval_y)
    assert result.train_score == normalized_mutual_information(estimator.train_clusters_, train_y)
    assert result.inertia == estimator.inertia_ > 0 and result.n_iter >= 1 and result.init == "k-means++"
    details = result.details()
    assert details["n_train"] == 600 and details["algorithm"] == "published" and details["tol"] is None
    lloyd = cluster_mi_result(train_X, train_y, eval_X, eval_y, algorithm="lloyd", **options).details()
    assert lloyd["algorithm"] == "lloyd" and lloyd["tol"] == 1e-3 and lloyd["init"] == "k-means++"


def test_same_seed_same_result_other_seed_other_result():
    train_X, train_y, eval_X, eval_y = planted(800, 300, n_labels=10, dim=8, noise=1.5, seed=7)

    def run(seed):
        result = cluster_mi_result(train_X, train_y, eval_X, eval_y, n_clusters=30, batch_size=100, seed=seed)
        return {key: value for key, value in result.details().items() if not key.endswith("seconds")}

    first, again, other = run(0), run(0), run(1)
    assert first == again
    assert other["score"] != first["score"] and other["inertia"] != first["inertia"]


def test_minibatch_is_sklearn_minibatchkmeans():
    train_X, train_y, eval_X, eval_y = planted(900, 200, n_labels=8, dim=6, noise=1.0, seed=8)
    result = cluster_mi_result(train_X, train_y, eval_X, eval_y, n_clusters=16, batch_size=64, seed=5, max_iter=40,
                               algorithm="minibatch")  # fmt: skip
    kmeans = MiniBatchKMeans(16, batch_size=64, max_iter=40, n_init=3, random_state=5).fit(train_X)
    assert result.score == normalized_mutual_information(kmeans.predict(eval_X), eval_y)
    assert result.inertia == kmeans.inertia_ and result.init == "k-means++" and result.tol is None and result.n_init == 3


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"train_y": np.zeros(7, dtype=int)}, "the training features and labels have different lengths (8 rows, 7 labels)"),
        ({"eval_y": np.zeros(5, dtype=int)}, "the evaluation features and labels have different lengths (4 rows, 5 labels)"),
        ({"n_clusters": 9}, "8 training instances are fewer than the 9 clusters"),
        ({"train_X": np.zeros((0, 3)), "train_y": np.zeros(0)}, "there are no training instances"),
        ({"eval_y": np.ones(4, dtype=int)}, "the evaluation labels take a single value"),
        ({"n_clusters": 0}, "--n-clusters must be a positive integer, got 0"),
        ({"batch_size": -1}, "--batch-size must be a positive integer, got -1"),
        ({"algorithm": "birch"}, "--algorithm must be one of published, lloyd, minibatch, got 'birch'"),
        ({"init": "random"}, "--init is for the lloyd algorithm; published always starts from k-means++"),
        ({"n_init": 0}, "--n-init must be a positive integer, got 0"),
        ({"algorithm": "lloyd", "n_init": 3}, "--n-init is for the published and minibatch algorithms; lloyd runs one initialisation, got 3"),
    ],
)
def test_cluster_mi_bad_input(change, fragment):
    rng = np.random.default_rng(0)
    arrays = {"train_X": rng.standard_normal((8, 3)), "train_y": np.arange(8) % 2, "eval_X": rng.standard_normal((4, 3)),
              "eval_y": np.arange(4) % 2}  # fmt: skip
    options = {"n_clusters": 3, "batch_size": 10, "seed": 0}
    for key, value in change.items():
        (arrays if key in arrays else options)[key] = value
    with pytest.raises(ValueError) as caught:
        cluster_mi(arrays["train_X"], arrays["train_y"], arrays["eval_X"], arrays["eval_y"], **options)
    assert fragment in str(caught.value) and len(str(caught.value).splitlines()) == 1


def test_the_default_scores_within_the_spread_of_sklearn_minibatchkmeans_and_lloyd_above_it():
    """The published protocol's band (issue 14): 40 overlapping classes, 500 clusters, batch 1500.

    scikit-learn's MiniBatchKMeans over seeds 0-4 spans about 0.20-0.22 here; the default (the same
    algorithm, other random draws) must fall in that spread, widened by one standard deviation of
    sklearn's seeds each side (with 5 seeds from one distribution, a sixth falls outside their range
    1 time in 3; one standard deviation beyond it, rarely), and its mean inside the unwidened range.
    Full-batch Lloyd clusters better and scores far higher (about 0.40): why it is not the default.
    """
    train_X, train_y, eval_X, eval_y = planted(5000, 2000, n_labels=40, dim=128, noise=5.0, seed=0)
    options = dict(n_clusters=500, batch_size=1500, max_iter=500)
    seeds = range(5)
    reference = np.array([
        normalized_mutual_information(MiniBatchKMeans(500, batch_size=1500, max_iter=500, n_init=3, random_state=seed).fit(train_X)
                                      .predict(eval_X), eval_y)
        for seed in seeds
    ])  # fmt: skip
    default = np.array([cluster_mi(train_X, train_y, eval_X, eval_y, seed=seed, **options) for seed in seeds])
    lloyd = np.array([cluster_mi(train_X, train_y, eval_X, eval_y, seed=seed, algorithm="lloyd", **options) for seed in seeds])
    low, high, spread = reference.min(), reference.max(), reference.std(ddof=1)
    assert 0.15 < low and high < 0.3, reference  # the published regime: far from 0 and from 1
    assert low <= default.mean() <= high, (default, reference)
    assert (low - spread <= default).all() and (default <= high + spread).all(), (default, reference)
    assert lloyd.min() > high + 0.1, (lloyd, reference)


# --------------------------------------------------------------------------------------------------
# chance level and warnings


def test_the_result_carries_the_chance_of_its_shuffled_evaluation_clusters():
    train_X, train_y, eval_X, eval_y = planted(600, 150, n_labels=6, dim=8, noise=1.5, seed=4)
    result = cluster_mi_result(train_X, train_y, eval_X, eval_y, n_clusters=12, batch_size=256, seed=3)
    clusters = ClusterMI(12, batch_size=256, seed=3).fit(train_X, train_y).predict(eval_X)
    rng = np.random.default_rng(3)
    shuffled = np.array([normalized_mutual_information(rng.permutation(clusters), eval_y) for _ in range(CHANCE_SHUFFLES)])
    assert CHANCE_SHUFFLES == 10 and result.chance_shuffles == 10 and result.chance_seed == 3
    assert result.chance == chance_score(clusters, eval_y, n_shuffles=10, seed=3) == float(shuffled.mean())
    assert result.chance_spread == float(shuffled.std(ddof=1)) > 0
    np.testing.assert_array_equal(chance_scores(clusters, eval_y, n_shuffles=10, seed=3), shuffled)
    assert 0 < result.chance < 0.2 < result.score  # 12 clusters on 150 instances: a floor well above 0, under the score
    details = result.details()
    assert (details["chance"], details["chance_spread"], details["chance_shuffles"]) == (result.chance, result.chance_spread, 10)
    unmeasured = ClusterMI(12, batch_size=256, seed=3).fit(train_X, train_y).evaluate(eval_X, eval_y, chance_shuffles=0)
    assert unmeasured.chance is None and unmeasured.score == result.score


def test_chance_scores_needs_a_positive_number_of_shuffles():
    with pytest.raises(ValueError, match="n_shuffles must be a positive integer, got 0"):
        chance_scores([0, 1], ["a", "b"], n_shuffles=0)


def test_more_clusters_than_half_the_training_instances_warn():
    [warning] = size_warnings("mi_phone", n_clusters=500, n_train=743)
    assert warning == (
        "mi_phone: 500 clusters exceed half of the 743 training instances: k-means fits little more than single "
        "points and the plug-in I(C;L)/H(L) is biased upward; compare nmi with nmi_chance, lower --n-clusters or "
        "draw a larger data sample"
    )
    assert size_warnings("mi_phone", n_clusters=371, n_train=743) == []  # 371 <= 371.5
    assert size_warnings("mi_word", n_clusters=5000, n_train=10_000) == []


def test_a_score_within_noise_of_chance_warns_and_a_clear_one_does_not():
    train_X, train_y, eval_X, eval_y = planted(600, 150, n_labels=6, dim=8, noise=0.5, seed=4)
    clear = cluster_mi_result(train_X, train_y, eval_X, eval_y, n_clusters=12, batch_size=256, seed=0)
    assert clear.score > 0.9 and clear.chance < 0.15 and chance_warnings("mi_phone", "T3", clear) == []
    # Features that know nothing of the labels: the score sits at its chance level.
    noise = np.random.default_rng(1).standard_normal((150, 8)).astype(np.float32)
    blind = cluster_mi_result(train_X, train_y, noise, eval_y, n_clusters=60, batch_size=256, seed=0)
    margin = max(CHANCE_MARGIN, 2 * blind.chance_spread)
    assert blind.score - blind.chance < margin
    [warning] = chance_warnings("mi_phone", "T3", blind)
    assert warning == (
        f"mi_phone T3: nmi {blind.score:.3f} is within noise of its chance level {blind.chance:.3f} (shuffled clusters; "
        f"margin {margin:.3f}; 60 clusters, 600 training / 150 evaluation instances): it shows no label information"
    )


# --------------------------------------------------------------------------------------------------
# initialisations


def test_the_published_default_runs_three_inits_and_other_counts_are_named_apart():
    """REFERENCE.md section 4: the published code ran scikit-learn < 1.4, whose MiniBatchKMeans tried 3 inits."""
    from layerprobe.experiments.mi import experiment_name

    train_X, train_y, eval_X, eval_y = planted(900, 200, n_labels=8, dim=6, noise=1.0, seed=8)
    default = cluster_mi_result(train_X, train_y, eval_X, eval_y, n_clusters=16, batch_size=64, seed=5, max_iter=40)
    one = cluster_mi_result(train_X, train_y, eval_X, eval_y, n_clusters=16, batch_size=64, seed=5, max_iter=40, n_init=1)
    lloyd = cluster_mi_result(train_X, train_y, eval_X, eval_y, n_clusters=16, batch_size=64, seed=5, algorithm="lloyd")
    assert (default.n_init, one.n_init, lloyd.n_init) == (3, 1, 1)
    assert default.details()["n_init"] == 3
    assert default.inertia != one.inertia  # the other inits were drawn and one of them kept
    assert experiment_name("phone") == experiment_name("phone", "published", 3) == "mi_phone"
    assert experiment_name("word", "minibatch", 1) == "mi_word@1init"
    assert experiment_name("phone", "lloyd") == "mi_phone@lloyd"


def test_the_published_codes_global_seed_gives_the_minibatch_algorithms_clusters_exactly():
    """The published code seeds numpy's global generator (np.random.seed(iteration)) and passes no random_state:
    with the same scikit-learn, its clusters are `minibatch` with seed=iteration (issue 16)."""
    train_X, train_y, eval_X, eval_y = planted(900, 200, n_labels=8, dim=6, noise=1.0, seed=8)
    result = cluster_mi_result(train_X, train_y, eval_X, eval_y, n_clusters=16, batch_size=64, seed=4, max_iter=40,
                               algorithm="minibatch")  # fmt: skip
    state = np.random.get_state()
    try:
        np.random.seed(4)
        published = MiniBatchKMeans(16, batch_size=64, max_iter=40, n_init=3).fit(train_X.astype(np.float32))
    finally:
        np.random.set_state(state)
    assert result.inertia == published.inertia_
    assert result.score == normalized_mutual_information(published.predict(eval_X.astype(np.float32)), eval_y)
