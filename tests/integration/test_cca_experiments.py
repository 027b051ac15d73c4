"""The six named CCA experiments end to end, on stores extracted from a synthesized corpus.

One corpus, its train split's frame, phone and word data samples, and the stores ``layerprobe
extract`` would write for tiny:wav2vec2 (local and contextualized frames, contextualized phones and
words) and for the log-mel baseline.  The oracle for a layer's score is the protocol itself
(``cca_experiment``) run on views built by hand from the same stores.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from layerprobe import __version__
from layerprobe.analysis import views as V
from layerprobe.analysis.cca import EPSILON_GROUPS, cca_experiment
from layerprobe.analysis.embeddings import read_embeddings
from layerprobe.experiments.cca import run_cca
from layerprobe.analysis.splits import split_key, split_parts
from layerprobe.data.corpora import open_corpus
from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
from layerprobe.data.synth import synthesize_corpus
from layerprobe.errors import ConfigError, LayerprobeError, StoreError
from layerprobe.extraction import extract
from layerprobe.io.store import FeatureStore
from layerprobe.io.store_paths import store_path
from layerprobe.models import load_model
from layerprobe.results import ResultTable

MODEL = "tiny:wav2vec2"  # 7 conv layers, 3 blocks
SPLIT = "train"
# Small per-label counts: 14 utterances give 11 train utterances, ~140 phone and ~90 word instances
# (every word: with fewer, a test part of the 10-part split holds 2 rows and scores exactly +-1).
RULES = {
    "frame": {},
    "phone": {"min_per_label": 3, "max_per_label": 8},
    "word": {"n_labels": 200, "min_per_label": 1, "max_per_label": 10},
}
STORES = [("local", "frame"), ("contextualized", "frame"), ("contextualized", "phone"), ("contextualized", "word"), ("mel", "frame")]
T_ALL = ["T0", "T1", "T2", "T3"]
LAYERS = {
    "cca_mel": [f"C{i}" for i in range(1, 8)] + ["T1", "T2", "T3"],
    "cca_intra": ["T1", "T2", "T3"],
    "cca_phone": T_ALL,
    "cca_word": T_ALL,
    "cca_agwe": T_ALL,
    "cca_glove": T_ALL,
}
EPSILON_PAIRS = {(x, y) for group in EPSILON_GROUPS for x in group for y in group}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Corpus, data samples and stores laid out as `layerprobe corpus synth / sample / extract` would."""
    root = tmp_path_factory.mktemp("cca")
    synthesize_corpus(root / "synth", n=14, seed=5, progress=False)
    corpus = open_corpus(root / "synth")
    manifests = {}
    for span, counts in RULES.items():
        manifest = draw_sample(corpus, SPLIT, span=span, rule=SamplingRule.default(span, "train", **counts), progress=False)
        path = write_manifest(manifest, manifest_path(root / "data_samples", corpus.name, SPLIT, span, 1))
        manifests[span] = (manifest, path)
    adapter = load_model(MODEL)
    features = root / "features"
    paths = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-wide model: worker threads only spin (and crawl on a busy 2-core machine)
    try:
        for rep, span in STORES:
            manifest, path = manifests[span]
            report = extract(manifest, adapter if rep != "mel" else None, features, rep=rep, progress=False, manifest_path=path)
            tag = "logmel" if rep == "mel" else "tiny_wav2vec2"
            assert report.path == store_path(features, tag, corpus.name, SPLIT, 1, rep, span)
            paths[rep, span] = report.path
    finally:
        torch.set_num_threads(threads)
    with FeatureStore.open(paths["contextualized", "word"]) as store:
        words = store.labels.tolist()
    return SimpleNamespace(root=root, corpus=corpus.name, features=features, manifests=manifests, paths=paths, words=words)


@pytest.fixture(scope="module")
def embeddings(data):
    """A word2vec text file and a GloVe text file covering all words of the word store but two.

    Left out: the most frequent word and one seen once, so n_dropped counts instances, not words.
    """
    from gensim.models import KeyedVectors

    counts = Counter(data.words)
    frequent = counts.most_common(1)[0][0]
    once = sorted(word for word, n in counts.items() if n == 1)[0]
    assert counts[frequent] > 1
    kept = sorted(set(counts) - {frequent, once})
    rng = np.random.default_rng(0)
    vectors = KeyedVectors(vector_size=6)
    vectors.add_vectors(kept, rng.standard_normal((len(kept), 6)).astype(np.float32))
    word2vec = data.root / "agwe.w2v.txt"
    vectors.save_word2vec_format(os.fspath(word2vec), binary=False)
    glove = data.root / "glove.txt"
    glove.write_text("".join(f"{word} {' '.join(f'{v:.6f}' for v in rng.standard_normal(5))}\n" for word in kept))
    return SimpleNamespace(
        files={"cca_agwe": word2vec, "cca_glove": glove}, left_out=(frequent, once), n_dropped=counts[frequent] + 1
    )


def _run(data, experiment, **options):
    return run_cca(experiment, features=data.features, model=MODEL, corpus=data.corpus, split=SPLIT, progress=False, **options)


@pytest.fixture(scope="module")
def table_runs(data, embeddings, tmp_path_factory):
    """Every experiment over all its layers, seed 0, into one result table."""
    results = tmp_path_factory.mktemp("results") / "cca.csv"
    scores = {}
    for experiment in LAYERS:
        scores[experiment] = _run(data, experiment, results=results, embeddings=embeddings.files.get(experiment))
    return SimpleNamespace(path=results, scores=scores)


def _views_by_hand(data, embeddings, experiment, layer, stack):
    """The experiment's views of one layer, built from the stores with analysis.views."""
    def store(rep, span):
        return stack.enter_context(FeatureStore.open(data.paths[rep, span]))

    if experiment == "cca_mel":
        model_store = store("local" if layer.startswith("C") else "contextualized", "frame")
        return V.mel_views(model_store, store("mel", "frame"), layer)
    if experiment == "cca_intra":
        return V.intra_views(store("contextualized", "frame"), layer, base="T0")
    if experiment == "cca_phone":
        return V.onehot_views(store("contextualized", "phone"), layer, vocabulary=V.phone_vocabulary())
    words = store("contextualized", "word")
    if experiment == "cca_word":
        return V.onehot_views(words, layer, vocabulary=V.word_vocabulary(words.labels, size=500))
    return V.embedding_views(words, layer, read_embeddings(embeddings.files[experiment]))


# --------------------------------------------------------------------------------------------------
# 1. every experiment, every layer


@pytest.mark.parametrize("experiment", list(LAYERS))
def test_every_experiment_scores_its_layers(experiment, data, embeddings, table_runs):
    scores = table_runs.scores[experiment]
    assert [score.layer for score in scores] == LAYERS[experiment]
    for score in scores:
        assert np.isfinite(score.score) and -1.0 <= score.score <= 1.0
        assert len(score.result.trials) == 3
        assert all(abs(s) <= 1.0 + 1e-12 for s in score.result.trial_scores)  # a correlation, up to rounding
        assert score.score == float(np.mean(score.result.trial_scores))
    with FeatureStore.open(data.paths["contextualized", "word"]) as words, \
         FeatureStore.open(data.paths["contextualized", "phone"]) as phones:  # fmt: skip
        n_words, n_phones = words.n_rows("T0"), phones.n_rows("T0")
    if experiment in ("cca_agwe", "cca_glove"):
        assert {score.n_dropped for score in scores} == {embeddings.n_dropped}
        assert {score.result.n_rows for score in scores} == {n_words - embeddings.n_dropped}
    else:
        assert {score.n_dropped for score in scores} == {0}  # every phone is an ARPAbet class; < 500 words
    if experiment == "cca_phone":
        assert {score.result.n_rows for score in scores} == {n_phones}
        assert {score.result.dims[1] for score in scores} == {39}
    if experiment == "cca_word":
        assert {score.result.dims[1] for score in scores} == {len(set(data.words))}
    if experiment == "cca_mel":
        rows = {score.layer: score.result.n_rows for score in scores}
        assert len({rows[f"C{i}"] for i in range(1, 7)}) == 1  # C1..C6 pair on the 10 ms grid
        assert rows["C7"] == rows["T1"] == rows["T3"] < rows["C1"]  # 50 Hz layers: every other mel frame
        assert {score.result.dims[0] for score in scores} == {80}


def test_the_scores_differ_between_layers_and_experiments(table_runs):
    """Not one number copied around: each layer of each experiment is its own CCA."""
    values = [score.score for scores in table_runs.scores.values() for score in scores]
    assert len(set(values)) == len(values)


# --------------------------------------------------------------------------------------------------
# 2. run_cca is the protocol on the views


@pytest.mark.parametrize(
    "experiment, layer",
    [("cca_mel", "C3"), ("cca_mel", "C7"), ("cca_mel", "T2"), ("cca_intra", "T2"), ("cca_phone", "T1"),
     ("cca_word", "T3"), ("cca_agwe", "T2"), ("cca_glove", "T0")],
)  # fmt: skip
def test_a_layer_score_is_cca_experiment_on_the_views(experiment, layer, data, embeddings, table_runs):
    from contextlib import ExitStack

    [by_name] = _run(data, experiment, layers=layer, seed=3, embeddings=embeddings.files.get(experiment))
    with ExitStack() as stack:
        views = _views_by_hand(data, embeddings, experiment, layer, stack)
        direct = cca_experiment(views, seed=3)
        direct_seed0 = cca_experiment(views, seed=0)
    assert by_name.layer == layer and by_name.n_dropped == views.n_dropped
    assert by_name.score == direct.score
    assert by_name.result.trial_scores == direct.trial_scores and by_name.result.epsilons == direct.epsilons
    assert (by_name.result.n_rows, by_name.result.dims) == (direct.n_rows, direct.dims)
    # The table's run (seed 0, split read from the cache next to the table) is the same protocol too.
    [in_table] = [score for score in table_runs.scores[experiment] if score.layer == layer]
    assert in_table.score == direct_seed0.score and in_table.score != by_name.score


# --------------------------------------------------------------------------------------------------
# 3. the result table


def test_the_table_has_a_pwcca_row_per_layer_with_its_centred_score_and_the_sign_range_beside_it(data, table_runs):
    table = ResultTable.open(table_runs.path)
    metrics = ["pwcca", "pwcca_centred"]
    assert len(table) == len(metrics) * sum(len(layers) for layers in LAYERS.values())
    for experiment, layers in LAYERS.items():
        rows = table.select(experiment=experiment, metric="pwcca")
        assert [row["layer"] for row in rows] == layers
        for row, score in zip(rows, table_runs.scores[experiment]):
            assert row == {"model": MODEL, "corpus": "synth", "experiment": experiment, "layer": score.layer, "split": SPLIT,
                           "sample": 1, "seed": 0, "metric": "pwcca", "value": score.score}  # fmt: skip
            values = {r["metric"]: r["value"] for r in table.select(experiment=experiment, layer=score.layer)}
            assert sorted(values) == metrics
            assert values["pwcca_centred"] == score.result.centred_score
            signs = table.metadata(row)["details"]["signs"]  # the range over direction signs, in the sidecar
            assert signs["low"] <= score.score <= signs["high"] and (signs["low"], signs["high"]) == score.result.sign_range
            assert signs["convention"] == "lapack" and signs["n_sets"] == 32


def test_a_run_on_another_corpus_adds_its_rows_and_replaces_none(data, tmp_path):
    # issue 14: cca_mel on corpus demo replaced the row of corpus synth (same model, split, sample, layer)
    synthesize_corpus(tmp_path / "demo", n=8, seed=11, progress=False)
    demo = open_corpus(tmp_path / "demo")
    manifest = draw_sample(demo, SPLIT, span="frame", rule=SamplingRule.default("frame", "train", **RULES["frame"]), progress=False)
    path = write_manifest(manifest, manifest_path(tmp_path / "data_samples", demo.name, SPLIT, "frame", 1))
    features = tmp_path / "features"
    for rep in ("contextualized", "mel"):
        extract(manifest, load_model(MODEL) if rep != "mel" else None, features, rep=rep, progress=False, manifest_path=path)
    results = tmp_path / "cca.csv"
    synth = _run(data, "cca_mel", layers="T1", results=results)
    ours = run_cca("cca_mel", features=features, model=MODEL, corpus="demo", split=SPLIT, layers="T1", results=results,
                   progress=False)  # fmt: skip
    table = ResultTable.open(results)
    assert [(row["corpus"], row["layer"], row["value"]) for row in table.select(experiment="cca_mel", metric="pwcca")] == [
        ("demo", "T1", ours[0].score), ("synth", "T1", synth[0].score)]
    assert table.metadata(table.select(corpus="demo")[0])["provenance"]["stores"][0]["path"].startswith(str(features))


def test_the_sidecar_keeps_trials_options_and_provenance(data, embeddings, table_runs):
    table = ResultTable.open(table_runs.path)
    frame_hash = data.manifests["frame"][0].content_hash()
    word_hash = data.manifests["word"][0].content_hash()
    expected_stores = {
        ("cca_mel", "C3"): [(data.paths["local", "frame"], frame_hash), (data.paths["mel", "frame"], frame_hash)],
        ("cca_mel", "T1"): [(data.paths["contextualized", "frame"], frame_hash), (data.paths["mel", "frame"], frame_hash)],
        ("cca_intra", "T3"): [(data.paths["contextualized", "frame"], frame_hash)],
        ("cca_phone", "T0"): [(data.paths["contextualized", "phone"], data.manifests["phone"][0].content_hash())],
        ("cca_word", "T2"): [(data.paths["contextualized", "word"], word_hash)],
        ("cca_glove", "T1"): [(data.paths["contextualized", "word"], word_hash)],
    }
    extra_options = {
        "cca_mel": {}, "cca_intra": {"base_layer": "T0"}, "cca_phone": {}, "cca_word": {"vocabulary_size": 500},
        "cca_glove": {"embeddings_format": "auto"},
    }  # fmt: skip
    for (experiment, layer), stores in expected_stores.items():
        [row] = table.select(experiment=experiment, layer=layer, metric="pwcca")
        meta = table.metadata(row)
        details, options, provenance = meta["details"], meta["options"], meta["provenance"]
        trials = details["trials"]
        assert len(trials) == 3
        assert row["value"] == float(np.mean([trial["test_score"] for trial in trials]))
        for trial in trials:
            assert tuple(trial["epsilon"]) in EPSILON_PAIRS
            assert trial["dev_part"] != trial["test_part"]
            assert trial["n_train"] + trial["n_dev"] + trial["n_test"] <= details["n_rows"]
            assert len(trial["fits"]) == 6  # the protocol's six successful fits
            assert trial["dev_score"] == max(score for _, score in trial["fits"])
        assert len({(t["dev_part"], t["test_part"]) for t in trials}) == 3
        assert details["seed"] == 0 and details["n_parts"] == 10
        assert options == {"n_trials": 3, "n_fits": 6, "null_directions": "zero", "signs": "lapack", "sign_sets": 32, "n_parts": 10,
                           **extra_options[experiment]}  # fmt: skip
        [centred] = table.select(experiment=experiment, layer=layer, metric="pwcca_centred")
        assert table.metadata(centred) == meta  # one run, one sidecar entry
        assert centred["value"] == float(np.mean([trial["centred_test_score"] for trial in trials])) == details["centred_score"]
        assert provenance["layerprobe_version"] == __version__
        assert provenance["model_spec"] == MODEL and provenance["model_path"] is None  # a tiny model has no path
        assert [(Path(s["path"]), s["manifest_hash"]) for s in provenance["stores"]] == stores
        assert provenance["embeddings"] == (str(embeddings.files["cca_glove"]) if experiment == "cca_glove" else None)
        if experiment == "cca_glove":
            assert details["n_dropped"] == embeddings.n_dropped


def test_a_rerun_replaces_rows_and_another_seed_adds_them(data, tmp_path):
    results = tmp_path / "phone.csv"
    first = _run(data, "cca_phone", results=results)
    table = ResultTable.open(results)
    assert len(table) == 8  # pwcca and pwcca_centred of T0..T3
    csv_bytes = results.read_bytes()
    _run(data, "cca_phone", results=results)
    again = ResultTable.open(results)
    assert len(again) == 8 and again.rows == table.rows and results.read_bytes() == csv_bytes
    other_seed = _run(data, "cca_phone", results=results, seed=1)
    both = ResultTable.open(results)
    assert len(both) == 16 and both.unique("seed") == [0, 1]
    assert [row["value"] for row in both.select(seed=0, metric="pwcca")] == [score.score for score in first]
    assert [row["value"] for row in both.select(seed=1, metric="pwcca")] == [score.score for score in other_seed]
    assert [s.score for s in first] != [s.score for s in other_seed]  # another split, other trials
    assert both.metadata(both.select(seed=1, layer="T2")[0])["details"]["seed"] == 1


def test_one_split_file_per_set_of_paired_rows(data, tmp_path):
    results = tmp_path / "r" / "cca.csv"
    cache = results.parent / "cca_splits"
    _run(data, "cca_mel", results=results)
    keys = {}
    with FeatureStore.open(data.paths["local", "frame"]) as local, \
         FeatureStore.open(data.paths["contextualized", "frame"]) as contextualized, \
         FeatureStore.open(data.paths["mel", "frame"]) as mel:  # fmt: skip
        for layer in LAYERS["cca_mel"]:
            views = V.mel_views(local if layer.startswith("C") else contextualized, mel, layer)
            keys[layer] = (views.content_key, views.n_rows)
    assert len({keys[f"C{i}"] for i in range(1, 7)}) == 1
    assert keys["C7"] == keys["T1"] == keys["T2"] == keys["T3"] != keys["C1"]
    files = sorted(path.name for path in cache.iterdir())
    expected = sorted(f"split-{split_key(keys[layer][0], n_parts=10, seed=0)[:20]}.npz" for layer in ("C1", "T1"))
    assert files == expected
    for layer in ("C1", "T1"):
        key, n_rows = keys[layer]
        with np.load(cache / f"split-{split_key(key, n_parts=10, seed=0)[:20]}.npz") as cached:
            np.testing.assert_array_equal(cached["parts"], split_parts(n_rows, None, n_parts=10, seed=0))
    _run(data, "cca_mel", results=results, layers="C2,T3")  # reuses both
    assert sorted(path.name for path in cache.iterdir()) == files
    _run(data, "cca_intra", results=results)
    _run(data, "cca_phone", results=results, layers="T1-T2")
    _run(data, "cca_mel", results=results, seed=1, layers="C5")
    assert len(list(cache.iterdir())) == 5  # + intra, + phone, + the C1..C6 rows under seed 1


# --------------------------------------------------------------------------------------------------
# 4. errors


@pytest.mark.parametrize(
    "experiment, options, error, fragment",
    [
        ("cca_intra", {"layers": "T0"}, ConfigError, "cca_intra does not score layer T0"),
        ("cca_intra", {"layers": "T1-T3", "base_layer": "T2"}, ConfigError, "cca_intra does not score layer T2"),
        ("cca_phone", {"layers": "C3"}, ConfigError, "cca_phone does not score layer C3"),
        ("cca_mel", {"layers": "T0,T1"}, ConfigError, "cca_mel does not score layer T0"),
        ("cca_word", {"layers": "T4"}, ConfigError, "has no layer T4 (it has C1-C7, T0-T3)"),
        ("cca_agwe", {}, ConfigError, "cca_agwe needs word vectors: give --embeddings FILE"),
        ("cca_glove", {}, ConfigError, "cca_glove needs word vectors"),
        ("cca_phone", {"embeddings": "vectors.txt"}, ConfigError, "--embeddings is only for cca_agwe and cca_glove, not cca_phone"),
        ("cca_phone", {"corpus": "other"}, StoreError, "other_train_sample1/contextualized_phone.h5: no such feature store"),
        ("cca_word", {"sample": 2}, StoreError, "synth_train_sample2/contextualized_word.h5: no such feature store"),
        ("cca_mel", {"corpus": "other"}, ConfigError, "no feature store for cca_mel: extract one first"),
        ("cca_intra", {"base_layer": "T9"}, ConfigError, "--base-layer T9 is not in the store"),
        ("cca_pitch", {}, ConfigError, "unknown CCA experiment 'cca_pitch' (known: cca_mel, cca_intra"),
        ("cca_word", {"null_directions": "ignore"}, ConfigError, "--null-directions must be one of zero, keep, drop"),
    ],
)
def test_errors_are_one_line(experiment, options, error, fragment, data, tmp_path):
    results = tmp_path / "cca.csv"
    options = {"corpus": data.corpus, **options}
    with pytest.raises(error) as caught:
        run_cca(experiment, features=data.features, model=MODEL, split=SPLIT, results=results, progress=False, **options)
    message = str(caught.value)
    assert fragment in message and len(message.splitlines()) == 1
    assert not results.exists() and not (tmp_path / "cca_splits").exists()


def test_cca_mel_without_a_log_mel_store_names_it(data, tmp_path):
    features = tmp_path / "features"
    features.mkdir()
    (features / "tiny_wav2vec2").symlink_to(data.features / "tiny_wav2vec2", target_is_directory=True)
    assert run_cca("cca_intra", features=features, model=MODEL, corpus=data.corpus, split=SPLIT, layers="T1", progress=False)
    with pytest.raises(StoreError) as caught:
        run_cca("cca_mel", features=features, model=MODEL, corpus=data.corpus, split=SPLIT, layers="T1", progress=False)
    mel = features / "logmel" / f"{data.corpus}_{SPLIT}_sample1" / "mel_frame.h5"
    assert str(caught.value).startswith(f"{mel}: no such feature store") and len(str(caught.value).splitlines()) == 1


def test_too_few_paired_rows_is_an_input_error(data, embeddings, tmp_path):
    """Vectors for one word leave fewer rows than the 10 parts need: a one-line StoreError, not a bug."""
    word = Counter(data.words).most_common(2)[1][0]
    vectors = tmp_path / "one_word.txt"
    vectors.write_text(f"{word} 0.1 0.2 0.3\n")
    results = tmp_path / "cca.csv"
    with pytest.raises(StoreError) as caught:
        _run(data, "cca_glove", embeddings=vectors, layers="T1", results=results)
    message = str(caught.value)
    assert message.startswith(f"{data.paths['contextualized', 'word']}: T1 vs word embedding (3-d): ")
    assert f"{Counter(data.words)[word]} paired rows are too few for the CCA protocol's 10 parts" in message
    assert not results.exists()
    assert isinstance(caught.value, LayerprobeError)


def test_cca_mel_reads_whichever_frame_stores_exist(data, tmp_path):
    """Without the local store, cca_mel scores the T layers, and asking for a C layer says to extract it."""
    sample_dir = tmp_path / "features" / "tiny_wav2vec2" / f"{data.corpus}_{SPLIT}_sample1"
    sample_dir.mkdir(parents=True)
    (sample_dir / "contextualized_frame.h5").symlink_to(data.paths["contextualized", "frame"])
    (tmp_path / "features" / "logmel").symlink_to(data.features / "logmel", target_is_directory=True)
    options = dict(features=tmp_path / "features", model=MODEL, corpus=data.corpus, split=SPLIT, progress=False)
    assert [score.layer for score in run_cca("cca_mel", **options)] == ["T1", "T2", "T3"]
    with pytest.raises(ConfigError) as caught:
        run_cca("cca_mel", layers="C3,T1", **options)
    assert str(caught.value) == f"layer C3 is not in the stores ({sample_dir / 'contextualized_frame.h5'}); extract it first"


# ------------------------------------------------------------------------------ stale stores, unknown models


def test_a_store_of_an_older_draw_of_its_sample_is_refused(data, tmp_path, monkeypatch):
    from layerprobe.jobs.status import collect_status, format_status

    monkeypatch.chdir(tmp_path)
    corpus = open_corpus(data.root / "synth")
    rule = SamplingRule.default("phone", "train", **RULES["phone"])
    manifest = draw_sample(corpus, SPLIT, span="phone", rule=rule, progress=False)
    path = write_manifest(manifest, manifest_path(Path("data_samples"), corpus.name, SPLIT, "phone", 1))
    report = extract(manifest, load_model(MODEL), Path("features"), progress=False, manifest_path=path)
    options = dict(features=Path("features"), model=MODEL, corpus=corpus.name, split=SPLIT, layers="T1", progress=False)
    assert run_cca("cca_phone", **options)
    # `layerprobe sample --overwrite` draws again (another seed): the store is of the old draw
    redrawn = draw_sample(corpus, SPLIT, span="phone", rule=rule, seed=7, progress=False)
    assert redrawn.content_hash() != manifest.content_hash()
    write_manifest(redrawn, path, overwrite=True)
    with pytest.raises(StoreError) as caught:
        run_cca("cca_phone", **options)
    assert str(caught.value) == (
        f"{report.path}: was extracted from an older draw of data_samples/{corpus.name}/train_phone_sample1.json "
        "(manifest changed); re-extract with --overwrite"
    )
    (store,) = collect_status(Path("features")).stores
    assert store.stale and store.state.startswith("stale")
    assert any(line.endswith("contextualized_phone.h5: stale (manifest redrawn; re-extract with --overwrite)")
               for line in format_status(collect_status(Path("features"))))  # fmt: skip
    # the manifest cannot be found: nothing is said
    path.unlink()
    assert run_cca("cca_phone", **options)
    assert not collect_status(Path("features")).stores[0].stale


def test_an_unknown_model_spec_is_named_rather_than_a_missing_store(data, tmp_path):
    known = "wav2vec2, wav2vec2-large-style, hubert, wavlm, data2vec-audio, whisper"
    for experiment, error in (("cca_phone", ConfigError), ("cca_mel", ConfigError)):
        with pytest.raises(error) as caught:
            run_cca(experiment, features=data.features, model="tiny:wav2vec", corpus=data.corpus, split=SPLIT, progress=False)
        assert str(caught.value).startswith(f"--model tiny:wav2vec: unknown tiny model (known: {known}, "), caught.value
    # a valid spec without a store: the model folders that exist are listed
    with pytest.raises(StoreError) as caught:
        run_cca("cca_phone", features=data.features, model="tiny:hubert", corpus=data.corpus, split=SPLIT, progress=False)
    assert str(caught.value).endswith(f"extract it first (model folders under {data.features}: logmel, tiny_wav2vec2)")
    with pytest.raises(ConfigError) as caught:
        run_cca("cca_mel", features=data.features, model="tiny:hubert", corpus=data.corpus, split=SPLIT, progress=False)
    assert str(caught.value).endswith(f"; model folders under {data.features}: logmel, tiny_wav2vec2)")


def test_an_unknown_model_spec_is_one_line_on_the_command_line(data, capsys):
    from layerprobe.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["cca", "--exp", "cca_mel", "--model", "tiny:wav2vec", "--corpus", data.corpus, "--split", SPLIT,
              "--features", str(data.features), "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert caught.value.code == 1 and len(err) == 1
    assert err[0].startswith("layerprobe: error: --model tiny:wav2vec: unknown tiny model (known: wav2vec2, ")


# --------------------------------------------------------------------------------------------------
# 5. warnings: too few rows per dimension, a score within noise of 0


def _result(n_rows, dims, score):
    from layerprobe.analysis.cca import CCAResult

    return CCAResult(name="T3 vs one-hot word", score=score, trials=(), n_rows=n_rows, dims=dims, seed=0, n_parts=10, wall_seconds=0.0)


def test_the_warning_texts():
    from layerprobe.experiments.cca import cca_warnings

    assert cca_warnings("cca_word", "T3", _result(33, (32, 12), 0.4)) == [
        "cca_word T3: 33 rows for views of 32 and 12 dimensions (1.0 rows per dimension, under 10): CCA fits noise "
        "and PWCCA is unreliable; draw a larger data sample"
    ]
    assert cca_warnings("cca_phone", "T0", _result(5000, (32, 39), -0.031)) == [
        "cca_phone T0: PWCCA -0.031 is within 0.05 of 0, the held-out score of independent views: it shows no shared structure"
    ]
    assert cca_warnings("cca_mel", "C1", _result(800, (80, 32), 0.05)) == []  # 10 rows per dimension, |PWCCA| 0.05


def test_a_word_sample_of_33_rows_warns_in_the_log_and_the_sidecar(data, tmp_path, caplog):
    """cca_word on the 33 instances of its most frequent words: far fewer than 10 rows per dimension."""
    counts = Counter(data.words).most_common()
    size = next(k for k in range(1, len(counts) + 1) if sum(n for _, n in counts[:k]) >= 33)
    n_rows = sum(n for _, n in counts[:size])
    results = tmp_path / "cca.csv"
    with caplog.at_level("WARNING", logger="layerprobe.experiments.cca"):
        [score] = _run(data, "cca_word", layers="T2", vocabulary_size=size, results=results)
    assert score.result.n_rows == n_rows and 33 <= n_rows < 33 + counts[size - 1][1]
    assert score.result.dims == (32, size)
    expected = (
        f"cca_word T2: {n_rows} rows for views of 32 and {size} dimensions ({n_rows / 32:.1f} rows per dimension, "
        "under 10): CCA fits noise and PWCCA is unreliable; draw a larger data sample"
    )
    assert score.warnings[0] == expected
    assert [record.getMessage() for record in caplog.records] == list(score.warnings)
    [row] = ResultTable.open(results).select(metric="pwcca")
    assert ResultTable.open(results).metadata(row)["details"]["warnings"] == list(score.warnings)


def test_cca_mel_on_thousands_of_frames_does_not_warn(data, tmp_path, caplog):
    with caplog.at_level("WARNING", logger="layerprobe.experiments.cca"):
        [score] = _run(data, "cca_mel", layers="C3", results=tmp_path / "cca.csv")
    assert score.result.n_rows >= 10 * 80 and abs(score.score) >= 0.05
    assert score.warnings == () and caplog.records == []
    table = ResultTable.open(tmp_path / "cca.csv")
    assert table.metadata(table.rows[0])["details"]["warnings"] == []
