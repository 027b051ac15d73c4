"""mi_phone and mi_word end to end, on stores extracted from a synthesized corpus's train and dev splits.

The stores are those ``layerprobe extract`` writes for tiny:wav2vec2 (contextualized phones and
words of a train and a dev data sample).  The oracle for a layer's score is
:func:`cluster_mi_result` run on the arrays read from the same stores.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from layerprobe import __version__
from layerprobe.analysis.mi import cluster_mi_result
from layerprobe.experiments.mi import DEFAULTS, run_mi
from layerprobe.data.corpora import open_corpus
from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
from layerprobe.data.synth import synthesize_corpus
from layerprobe.errors import ConfigError, LayerprobeError, StoreError
from layerprobe.extraction import extract
from layerprobe.io.store import FeatureStore
from layerprobe.models import load_model
from layerprobe.results import ResultTable

MODEL = "tiny:wav2vec2"  # 3 blocks: T0..T3
T_ALL = ["T0", "T1", "T2", "T3"]
CLUSTERS = 20
# Small per-label counts: 20 utterances give 16 train and 2 dev utterances.
RULES = {
    ("phone", "train"): {"min_per_label": 2, "max_per_label": 8},
    ("phone", "dev"): {"min_per_label": 1, "max_per_label": 6},
    ("word", "train"): {"n_labels": 200, "min_per_label": 1, "max_per_label": 10},
    ("word", "dev"): {"n_labels": 200, "min_per_label": 1, "max_per_label": 10},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Train and dev phone and word stores, laid out as `layerprobe corpus synth / sample / extract` would."""
    root = tmp_path_factory.mktemp("mi")
    synthesize_corpus(root / "synth", n=20, seed=5, progress=False)
    corpus = open_corpus(root / "synth")
    adapter = load_model(MODEL)
    features = root / "features"
    paths = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-wide model: worker threads only spin (and crawl on a busy 2-core machine)
    try:
        for (span, split), counts in RULES.items():
            role = "train" if split == "train" else "eval"
            manifest = draw_sample(corpus, split, span=span, rule=SamplingRule.default(span, role, **counts), progress=False)
            path = write_manifest(manifest, manifest_path(root / "data_samples", corpus.name, split, span, 1))
            report = extract(manifest, adapter, features, rep="contextualized", progress=False, manifest_path=path)
            paths[span, split] = report.path
    finally:
        torch.set_num_threads(threads)
    hashes = {}
    for key, path in paths.items():
        with FeatureStore.open(path) as store:
            hashes[key] = store.attrs["manifest_hash"]
            assert store.n_rows("T0") >= (CLUSTERS if key[1] == "train" else 2)
    return SimpleNamespace(root=root, corpus=corpus.name, features=features, paths=paths, hashes=hashes)


def _run(data, span, **options):
    options = {"n_clusters": CLUSTERS, "progress": False, **options}
    return run_mi(span, features=data.features, model=MODEL, corpus=data.corpus, train_split="train", eval_split="dev",
                  **options)  # fmt: skip


def _arrays(data, span, layer):
    with FeatureStore.open(data.paths[span, "train"]) as train, FeatureStore.open(data.paths[span, "dev"]) as dev:
        return train.read(layer), train.labels, dev.read(layer), dev.labels


@pytest.fixture(scope="module")
def phone_runs(data, tmp_path_factory):
    """mi_phone over all layers, iterations 0 and 1, into one table."""
    results = tmp_path_factory.mktemp("results") / "mi.csv"
    runs = {iteration: _run(data, "phone", iteration=iteration, results=results) for iteration in (0, 1)}
    return SimpleNamespace(path=results, runs=runs)


# --------------------------------------------------------------------------------------------------
# 1. scores


def test_mi_over_all_layers_gives_t0_to_t3(phone_runs):
    for iteration, scores in phone_runs.runs.items():
        assert [score.layer for score in scores] == T_ALL
        for score in scores:
            assert 0.0 <= score.score <= 1.0 + 1e-12 and 0.0 <= score.result.train_score <= 1.0 + 1e-12
            assert score.result.seed == iteration and score.result.n_clusters == CLUSTERS
    values = [score.score for scores in phone_runs.runs.values() for score in scores]
    assert len(set(values)) > 1  # not one number copied around


@pytest.mark.parametrize("span, layer, iteration", [("phone", "T2", 0), ("phone", "T0", 1), ("word", "T3", 2)])
def test_a_layer_score_is_cluster_mi_on_the_stores(data, span, layer, iteration):
    [by_name] = _run(data, span, layers=layer, iteration=iteration, n_clusters=12)
    train_X, train_labels, eval_X, eval_labels = _arrays(data, span, layer)
    direct = cluster_mi_result(train_X, train_labels, eval_X, eval_labels, n_clusters=12, batch_size=DEFAULTS[span]["batch_size"],
                               seed=iteration, max_iter=500)  # fmt: skip
    assert by_name.layer == layer
    assert by_name.score == direct.score and by_name.result.train_score == direct.train_score
    assert by_name.result.inertia == direct.inertia and by_name.result.n_iter == direct.n_iter
    assert (by_name.result.n_train, by_name.result.n_eval) == (len(train_labels), len(eval_labels))
    assert by_name.result.n_labels_eval == len(set(eval_labels.tolist()))
    assert by_name.result.batch_size == DEFAULTS[span]["batch_size"] and by_name.result.max_iter == 500
    assert by_name.result.init == "k-means++"  # auto: up to 1000 clusters


# --------------------------------------------------------------------------------------------------
# 2. the result table


def test_the_table_has_an_nmi_and_an_nmi_chance_row_per_layer_and_iteration(data, phone_runs):
    table = ResultTable.open(phone_runs.path)
    assert len(table) == 16 and table.unique("seed") == [0, 1] and table.unique("experiment") == ["mi_phone"]
    assert table.unique("metric") == ["nmi", "nmi_chance"]
    for iteration, scores in phone_runs.runs.items():
        base = {"model": MODEL, "corpus": "synth", "experiment": "mi_phone", "split": "dev", "sample": 1, "seed": iteration}
        assert table.select(seed=iteration, metric="nmi") == [
            {**base, "layer": s.layer, "metric": "nmi", "value": s.score} for s in scores]  # fmt: skip
        assert table.select(seed=iteration, metric="nmi_chance") == [
            {**base, "layer": s.layer, "metric": "nmi_chance", "value": s.result.chance} for s in scores]  # fmt: skip


@pytest.mark.parametrize("layer, iteration", [("T1", 0), ("T3", 1)])
def test_nmi_chance_is_chance_score_of_the_evaluation_clusters_with_the_iteration_seed(data, phone_runs, layer, iteration):
    from layerprobe.analysis.mi import ClusterMI, chance_score

    train_X, train_labels, eval_X, eval_labels = _arrays(data, "phone", layer)
    clusters = ClusterMI(CLUSTERS, batch_size=1500, seed=iteration).fit(train_X, train_labels).predict(eval_X)
    direct = chance_score(clusters, eval_labels, n_shuffles=10, seed=iteration)
    [row] = ResultTable.open(phone_runs.path).select(layer=layer, seed=iteration, metric="nmi_chance")
    assert row["value"] == direct
    assert 0 < direct < 1 and direct != chance_score(clusters, eval_labels, n_shuffles=10, seed=iteration + 1)


def test_the_sidecar_keeps_sizes_options_and_provenance(data, phone_runs):
    table = ResultTable.open(phone_runs.path)
    [row] = table.select(layer="T2", seed=1, metric="nmi")
    [chance_row] = table.select(layer="T2", seed=1, metric="nmi_chance")
    meta = table.metadata(row)
    assert table.metadata(chance_row) == meta  # one run, one sidecar entry
    details, options, provenance = meta["details"], meta["options"], meta["provenance"]
    [score] = [s for s in phone_runs.runs[1] if s.layer == "T2"]
    with FeatureStore.open(data.paths["phone", "train"]) as train, FeatureStore.open(data.paths["phone", "dev"]) as dev:
        n_train, n_eval = train.n_rows("T2"), dev.n_rows("T2")
        n_labels = len(set(dev.labels.tolist()))
    assert details["n_train"] == n_train and details["n_eval"] == n_eval
    assert details["n_clusters"] == CLUSTERS and details["n_labels_eval"] == n_labels
    assert details["batch_size"] == 1500 and details["seed"] == 1 and details["score"] == row["value"]
    assert details["inertia"] == score.result.inertia > 0 and details["fit_seconds"] >= 0 and details["wall_seconds"] >= 0
    assert details["n_iter"] >= 1 and 1 <= details["n_clusters_used"] <= CLUSTERS
    assert details["chance"] == chance_row["value"] and details["chance_shuffles"] == 10 and details["chance_seed"] == 1
    assert details["chance_spread"] == score.result.chance_spread > 0
    assert details["warnings"] == list(score.warnings)
    assert options == {"train_split": "train", "n_clusters": CLUSTERS, "batch_size": 1500, "max_iter": 500,
                       "n_init": 3, "algorithm": "published", "init": "k-means++", "tol": None, "device": "cpu",
                       "standardize": False}  # fmt: skip
    assert provenance["layerprobe_version"] == __version__
    assert [(s["role"], Path(s["path"]), s["manifest_hash"]) for s in provenance["stores"]] == [
        ("train", data.paths["phone", "train"], data.hashes["phone", "train"]),
        ("eval", data.paths["phone", "dev"], data.hashes["phone", "dev"]),
    ]


def test_a_rerun_replaces_rows_and_another_iteration_adds_them(data, phone_runs, tmp_path):
    results = tmp_path / "mi.csv"
    first = _run(data, "phone", results=results, layers="T1-T2")
    csv_bytes = results.read_bytes()
    again = _run(data, "phone", results=results, layers="T1-T2")
    assert [s.score for s in again] == [s.score for s in first]
    assert results.read_bytes() == csv_bytes and len(ResultTable.open(results)) == 4  # nmi and nmi_chance per layer
    _run(data, "phone", results=results, layers="T1-T2", iteration=1)
    both = ResultTable.open(results)
    assert len(both) == 8 and both.unique("seed") == [0, 1]
    assert [row["value"] for row in both.select(seed=1, metric="nmi")] == [
        s.score for s in phone_runs.runs[1] if s.layer in ("T1", "T2")]  # fmt: skip


def test_mi_word_uses_the_word_stores(data, tmp_path):
    results = tmp_path / "mi.csv"
    scores = _run(data, "word", results=results, layers="T1", n_clusters=15, batch_size=64)
    row, chance_row = ResultTable.open(results).rows
    assert row["experiment"] == "mi_word" and row["metric"] == "nmi" and row["value"] == scores[0].score
    assert chance_row["metric"] == "nmi_chance" and chance_row["value"] == scores[0].result.chance
    meta = ResultTable.open(results).metadata(row)
    assert meta["options"]["n_clusters"] == 15 and meta["options"]["batch_size"] == 64 and meta["options"]["init"] == "k-means++"
    assert meta["options"]["algorithm"] == "published"
    assert Path(meta["provenance"]["stores"][0]["path"]) == data.paths["word", "train"]


@pytest.mark.parametrize("span", ["phone", "word"])
def test_lloyd_rows_carry_the_algorithm_in_the_experiment_name(data, tmp_path, span):
    """Lloyd scores above the published protocol: its rows are never named like the published ones."""
    results = tmp_path / "mi.csv"
    [lloyd] = _run(data, span, results=results, layers="T1", batch_size=64, algorithm="lloyd", init="random")
    [default] = _run(data, span, results=results, layers="T1", batch_size=64)
    [reference] = _run(data, span, results=results, layers="T1", batch_size=64, algorithm="minibatch", iteration=1)
    table = ResultTable.open(results)
    assert table.unique("experiment") == sorted([f"mi_{span}", f"mi_{span}@lloyd"])
    [row] = table.select(experiment=f"mi_{span}@lloyd", metric="nmi")
    assert row["value"] == lloyd.score and lloyd.run.experiment == f"mi_{span}@lloyd"
    meta = table.metadata(row)
    assert meta["options"]["algorithm"] == "lloyd" and meta["options"]["init"] == "random"
    assert [r["value"] for r in table.select(experiment=f"mi_{span}", metric="nmi")] == [default.score, reference.score]
    assert default.run.experiment == reference.run.experiment == f"mi_{span}"


def test_the_minibatch_algorithm_reproduces_the_published_setting(data):
    from sklearn.cluster import MiniBatchKMeans

    from layerprobe.analysis.mi import normalized_mutual_information

    [score] = _run(data, "phone", layers="T3", algorithm="minibatch", batch_size=32, max_iter=50, iteration=4)
    train_X, _, eval_X, eval_labels = _arrays(data, "phone", "T3")
    kmeans = MiniBatchKMeans(CLUSTERS, batch_size=32, max_iter=50, n_init=3, random_state=4).fit(train_X)
    assert score.score == normalized_mutual_information(kmeans.predict(eval_X), eval_labels)
    assert score.result.algorithm == "minibatch" and score.result.init == "k-means++" and score.result.tol is None
    assert score.result.n_init == 3 and score.run.experiment == "mi_phone"


# --------------------------------------------------------------------------------------------------
# 3. errors


@pytest.mark.parametrize(
    "span, options, error, fragment",
    [
        ("phone", {"layers": "T7"}, ConfigError, "layer T7 is not in the stores ("),
        ("phone", {"layers": "C2"}, ConfigError, "mutual information scores contextualized layers (T0..TL), not C2"),
        ("phone", {"n_clusters": 100_000}, StoreError, "training instances are fewer than the 100000 clusters"),
        ("phone", {"corpus": "other"}, StoreError, "other_train_sample1/contextualized_phone.h5: no such feature store"),
        ("word", {"sample": 2}, StoreError, "synth_train_sample2/contextualized_word.h5: no such feature store"),
        ("phone", {"eval_split": "test"}, StoreError, "synth_test_sample1/contextualized_phone.h5: no such feature store"),
        ("frame", {}, ConfigError, "--span must be phone or word for mutual information, got 'frame'"),
        ("phone", {"n_clusters": 0}, ConfigError, "--n-clusters must be a positive integer, got 0"),
        ("phone", {"algorithm": "birch"}, ConfigError, "--algorithm must be one of published, lloyd, minibatch"),
        ("phone", {"device": "cuda:7"}, ConfigError, "--device cuda:7"),
        ("phone", {"device": "tpu"}, ConfigError, "--device 'tpu' is not a device name (use cpu or cuda[:N])"),
        ("phone", {"algorithm": "minibatch", "init": "random"}, ConfigError, "--init is for the lloyd algorithm"),
        ("phone", {"init": "random"}, ConfigError, "--init is for the lloyd algorithm; published always starts"),
    ],
)
def test_errors_are_one_line(data, tmp_path, span, options, error, fragment):
    results = tmp_path / "mi.csv"
    arguments = {"features": data.features, "model": MODEL, "corpus": data.corpus, "train_split": "train", "eval_split": "dev",
                 "n_clusters": CLUSTERS, "results": results, "progress": False, **options}  # fmt: skip
    with pytest.raises(error) as caught:
        run_mi(span, **arguments)
    message = str(caught.value)
    assert fragment in message and len(message.splitlines()) == 1
    assert not results.exists()


def test_an_empty_store_is_named(data, tmp_path):
    """An evaluation sample with no segments (none of its utterances kept a label)."""
    with FeatureStore.open(data.paths["phone", "dev"]) as dev:
        attrs, dims = dev.attrs, dev.dims
    features = tmp_path / "features"
    train_dir = data.paths["phone", "train"].parent
    target = features / train_dir.parent.name
    (target / train_dir.name).mkdir(parents=True)
    (target / train_dir.name / "contextualized_phone.h5").symlink_to(data.paths["phone", "train"])
    empty = target / data.paths["phone", "dev"].parent.name / "contextualized_phone.h5"
    _empty_store(empty, attrs, dims)
    with pytest.raises(StoreError) as caught:
        run_mi("phone", features=features, model=MODEL, corpus=data.corpus, train_split="train", eval_split="dev",
               n_clusters=CLUSTERS, progress=False)  # fmt: skip
    assert str(caught.value) == f"{empty}: holds no segments (an empty store); draw a larger data sample"
    assert isinstance(caught.value, LayerprobeError)


def _empty_store(path, attrs, dims):
    """A complete phone store of the same model with no utterances."""
    keep = {key: attrs[key] for key in ("model", "model_revision", "rep", "span", "frame_rate_hz", "sample_rate")}
    FeatureStore.create(path, attrs=keep, layer_dims=dims).finish()


def test_all_layers_need_both_stores_to_hold_them(data):
    """The layers scored are those both stores hold."""
    assert [s.layer for s in _run(data, "phone", layers="all", n_clusters=5, tol=0.5)] == T_ALL
    with pytest.raises(ConfigError) as caught:
        _run(data, "phone", layers="T2-T5")
    assert "layer T4, T5 is not in the stores" in str(caught.value) and "they hold T0-T3" in str(caught.value)


def test_labels_for_all_layers_are_read_once_per_store(data, monkeypatch):
    """Labels come from the stores' segments, in row order."""
    seen = []
    original = cluster_mi_result

    def spy(train_X, train_labels, eval_X, eval_labels, **options):
        seen.append((len(train_X), len(train_labels), len(eval_X), len(eval_labels)))
        return original(train_X, train_labels, eval_X, eval_labels, **options)

    monkeypatch.setattr("layerprobe.experiments.mi.cluster_mi_result", spy)
    _run(data, "phone", layers="T0,T3")
    with FeatureStore.open(data.paths["phone", "train"]) as train, FeatureStore.open(data.paths["phone", "dev"]) as dev:
        sizes = (train.n_rows("T0"), len(train.labels), dev.n_rows("T0"), len(dev.labels))
    assert seen == [sizes, sizes] and np.all(np.asarray(sizes) > 0)


# --------------------------------------------------------------------------------------------------
# 4. warnings


def test_more_clusters_than_half_the_training_instances_warn_in_the_log_and_the_sidecar(data, tmp_path, caplog):
    with FeatureStore.open(data.paths["phone", "train"]) as train:
        n_train = len(train.labels)
    n_clusters = n_train // 2 + 1
    results = tmp_path / "mi.csv"
    with caplog.at_level("WARNING", logger="layerprobe.experiments.mi"):
        scores = _run(data, "phone", layers="T1,T2", n_clusters=n_clusters, tol=0.5, results=results)
    expected = (
        f"mi_phone: {n_clusters} clusters exceed half of the {n_train} training instances: k-means fits little more "
        "than single points and the plug-in I(C;L)/H(L) is biased upward; compare nmi with nmi_chance, lower "
        "--n-clusters or draw a larger data sample"
    )
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == expected and messages.count(expected) == 1  # once per run
    assert messages[1:] == [warning for score in scores for warning in score.warnings[1:]]
    table = ResultTable.open(results)
    for score in scores:
        assert score.warnings[0] == expected
        [row] = table.select(layer=score.layer, metric="nmi")
        assert table.metadata(row)["details"]["warnings"] == list(score.warnings)


def test_a_run_with_few_clusters_warns_only_where_the_score_is_near_chance(data, phone_runs):
    """CLUSTERS is under half the training instances; each layer warns exactly when nmi - nmi_chance < the margin."""
    from layerprobe.experiments.mi import CHANCE_MARGIN

    table = ResultTable.open(phone_runs.path)
    for scores in phone_runs.runs.values():
        for score in scores:
            result = score.result
            assert 2 * CLUSTERS <= result.n_train
            near = result.score - result.chance < max(CHANCE_MARGIN, 2 * result.chance_spread)
            assert len(score.warnings) == int(near) and all("within noise of its chance level" in w for w in score.warnings)
            [row] = table.select(layer=score.layer, seed=result.seed, metric="nmi")
            assert table.metadata(row)["details"]["warnings"] == list(score.warnings)
