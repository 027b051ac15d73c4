"""cca_semantic / cca_syntactic views: word instances paired with their word's oracle vector, the
planted-signal checks of the protocol (features = oracle vector x random map + noise -> PWCCA near 1;
words shuffled -> near 0), the experiment's sidecar, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from layerprobe.analysis.cca import cca_experiment
from layerprobe.analysis.views import oracle_views
from layerprobe.data.oracles import load_oracle, oracle_fingerprint
from layerprobe.errors import ConfigError, StoreError
from layerprobe.experiments.cca import run_cca
from layerprobe.io.store import FeatureStore

ATTRS = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "all_words", "frame_rate_hz": 50.0}


def write_qvec(path: Path, table: dict) -> Path:
    path.write_text("".join(f"{word}\t{json.dumps(values)}\n" for word, values in table.items()), encoding="utf-8")
    return path


def write_word_store(path: Path, words: list[str], layers: dict[str, np.ndarray], *, span: str = "all_words",
                     per_utt: int = 10) -> Path:  # fmt: skip
    """A segment store of ``words`` (``per_utt`` a utterance), each layer's rows given (n_words, dim)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = FeatureStore.create(path, attrs={**ATTRS, "span": span}, layer_dims={k: v.shape[1] for k, v in layers.items()},
                                 layer_frame_rates={k: 50.0 for k in layers})  # fmt: skip
    for number, first in enumerate(range(0, len(words), per_utt)):
        chunk = words[first : first + per_utt]
        segments = [(word, 0.1 * i, 0.1 * i + 0.08) for i, word in enumerate(chunk)]
        writer.append(f"u{number:04d}", {k: v[first : first + len(chunk)] for k, v in layers.items()}, segments=segments)
    return writer.finish()


def test_each_instance_gets_its_words_oracle_vector_and_words_without_one_are_dropped(tmp_path):
    oracle = load_oracle("semantic", write_qvec(tmp_path / "o.txt", {
        "cat": {"semcor.noun.animal": 1.0}, "dog": {"semcor.noun.animal": 0.5, "semcor.noun.person": 0.5},
        "run": {"semcor.verb.motion": 1.0}}))  # fmt: skip
    words = ["cat", "the", "Dog", "run", "cat", "emu", "dog"]
    values = np.arange(len(words), dtype=np.float32)[:, None] * np.ones((1, 3), dtype=np.float32)
    with FeatureStore.open(write_word_store(tmp_path / "w.h5", words, {"T0": values, "T3": values + 100}, per_utt=3)) as store:
        views = oracle_views(store, "T3", oracle)
        X, Y = views.arrays()
        assert views.name == "T3 vs oracle (3 features)" and views.dims == (3, 3)
        assert (views.n_rows, views.n_dropped) == (5, 2)
        assert views.labels.tolist() == ["cat", "Dog", "run", "cat", "dog"]
        np.testing.assert_array_equal(X[:, 0], [100, 102, 103, 104, 106])
        np.testing.assert_array_equal(Y, [[1, 0, 0], [0.5, 0.5, 0], [0, 0, 1], [1, 0, 0], [0.5, 0.5, 0]])
        for chunk_rows in (1, 2, 100):
            np.testing.assert_array_equal(np.concatenate([y for _, y in views.blocks(chunk_rows)]), Y)
        assert oracle_views(store, "T0", oracle).content_key == views.content_key
        other = load_oracle("semantic", write_qvec(tmp_path / "p.txt", {"cat": {"semcor.noun.animal": 1.0}}))
        assert oracle_views(store, "T3", other).content_key != views.content_key
        assert oracle_views(store, "T3", other).n_dropped == 5
        with pytest.raises(StoreError) as caught:
            oracle_views(store, "T3", load_oracle("semantic", write_qvec(tmp_path / "z.txt", {"zebra": {"semcor.noun.animal": 1.0}})))
        assert str(caught.value) == (
            f"{tmp_path / 'w.h5'}: layer T3: none of the 6 words of the store is in the oracle {tmp_path / 'z.txt'}; "
            "draw the sample with --span all_words --oracle of this experiment"
        )
    frame = {**ATTRS, "span": "frame"}
    writer = FeatureStore.create(tmp_path / "f.h5", attrs=frame, layer_dims={"T3": 3}, layer_frame_rates={"T3": 50.0})
    writer.append("u0", {"T3": np.zeros((4, 3), dtype=np.float32)})
    with FeatureStore.open(writer.finish()) as store, pytest.raises(StoreError) as caught:
        oracle_views(store, "T3", oracle)
    assert str(caught.value) == (f"{tmp_path / 'f.h5'}: is a frame-span store; word-attribute oracles (cca_semantic, "
                                 "cca_syntactic) needs a all_words or word-span store (layer T3)")  # fmt: skip


def planted(tmp_path: Path, *, n_words: int = 40, per_word: int = 30, dim: int = 12, seed: int = 0):
    """A store whose T1 = the word's oracle vector x a random map + noise, T2 = the same for a shuffled word."""
    rng = np.random.default_rng(seed)
    features = [f"semcor.noun.f{k}" for k in range(6)]
    table = {f"w{i:02d}": dict(zip(features, rng.dirichlet(np.full(6, 0.5)).tolist())) for i in range(n_words)}
    for values in table.values():  # QVEC's lines sum to 1 within 0.01: renormalise the rounding
        total = sum(values.values())
        for name in values:
            values[name] /= total
    path = write_qvec(tmp_path / "planted.supersenses", table)
    oracle = load_oracle("semantic", path)
    words = [str(word) for word in rng.permutation(np.repeat(sorted(table), per_word))]
    Y = oracle.matrix(words)
    mapping = rng.standard_normal((Y.shape[1], dim))
    signal = Y @ mapping + 0.01 * rng.standard_normal((len(words), dim))
    shuffled = Y[rng.permutation(len(words))] @ mapping + 0.01 * rng.standard_normal((len(words), dim))
    layers = {"T0": rng.standard_normal((len(words), dim)).astype(np.float32), "T1": signal.astype(np.float32),
              "T2": shuffled.astype(np.float32)}  # fmt: skip
    store = write_word_store(tmp_path / "features" / "tiny_wav2vec2" / "planted_train_sample1" / "contextualized_all_words.h5",
                             words, layers)  # fmt: skip
    return store, path, oracle


def test_a_planted_oracle_signal_scores_near_1_and_shuffled_words_near_0(tmp_path):
    store_path, _, oracle = planted(tmp_path)
    with FeatureStore.open(store_path) as store:
        signal = cca_experiment(oracle_views(store, "T1", oracle), seed=0, sign_sets=0, null_directions="drop")
        shuffled = cca_experiment(oracle_views(store, "T2", oracle), seed=0, sign_sets=0, null_directions="drop")
        default = cca_experiment(oracle_views(store, "T1", oracle), seed=0, sign_sets=0)
    assert signal.n_rows == 1200 and signal.dims == (12, 6)
    assert signal.score > 0.97
    assert abs(shuffled.score) < 0.1
    # An oracle row is a distribution (it sums to 1), so the centred oracle view has rank 5 of 6, as a
    # one-hot view does: by default (null directions "zero") that direction counts 0 with its weight kept.
    assert 0.7 < default.score < 0.9


def test_run_cca_scores_every_T_layer_and_records_the_oracle(tmp_path):
    store_path, qvec, oracle = planted(tmp_path, n_words=30, per_word=20)
    scores = run_cca("cca_semantic", store_path, oracle=qvec, results=tmp_path / "cca.csv", sign_sets=4,
                     null_directions="drop", progress=False)  # fmt: skip
    assert [s.layer for s in scores] == ["T0", "T1", "T2"]
    by_layer = {s.layer: s.result.score for s in scores}
    assert by_layer["T1"] > 0.95 and abs(by_layer["T0"]) < 0.15 and abs(by_layer["T2"]) < 0.15
    from layerprobe.results import ResultTable

    table = ResultTable.open(tmp_path / "cca.csv")
    assert sorted({(r["experiment"], r["layer"], r["metric"]) for r in table.rows}) == [
        ("cca_semantic", layer, metric) for layer in ("T0", "T1", "T2") for metric in ("pwcca", "pwcca_centred")
    ]
    meta = table.metadata(table.select(layer="T1", metric="pwcca")[0])
    assert meta["options"]["oracle_source"] == str(qvec) and meta["options"]["span"] == "all_words"
    assert meta["options"]["oracle_fingerprint"] == oracle_fingerprint(oracle)
    assert meta["details"]["oracle"] == {"n_features": 6, "features": [f"noun.f{k}" for k in range(6)], "n_words": 30,
                                         "n_words_dropped": 0, "n_instances_dropped": 0, "words_dropped": []}  # fmt: skip
    assert meta["details"]["n_dropped"] == 0 and {"low", "high"} <= set(meta["details"]["signs"])


def test_oracle_options_are_refused_where_they_do_not_belong(tmp_path):
    store_path, qvec, _ = planted(tmp_path, n_words=5, per_word=3)
    with pytest.raises(ConfigError, match=r"^--oracle is only for cca_semantic and cca_syntactic, not cca_word$"):
        run_cca("cca_word", store_path, oracle=qvec, progress=False)
    with pytest.raises(ConfigError, match=r"^--span is only for cca_semantic and cca_syntactic, not cca_word \(which reads word stores\)$"):
        run_cca("cca_word", store_path, span="all_words", progress=False)
    with pytest.raises(ConfigError, match=r"^cca_syntactic reads all_words or word stores, not 'phone'$"):
        run_cca("cca_syntactic", store_path, span="phone", progress=False)
    with pytest.raises(StoreError) as caught:
        run_cca("cca_semantic", store_path, oracle=qvec, progress=False, layers="T1")
    assert str(caught.value) == (f"{store_path}: T1 vs oracle (6 features): 15 paired rows are too few for the CCA "
                                 "protocol's 10 parts (it needs at least 20); draw a larger data sample")  # fmt: skip


def test_span_word_reads_the_word_store_beside_it(tmp_path):
    store_path, qvec, oracle = planted(tmp_path, n_words=10, per_word=6)
    with FeatureStore.open(store_path) as store:
        words = store.labels.tolist()
        layers = {layer: store.read(layer) for layer in ("T0", "T1")}
    word_store = write_word_store(store_path.with_name("contextualized_word.h5"), words, layers, span="word")
    scores = run_cca("cca_syntactic", store_path, oracle=qvec, span="word", sign_sets=0, progress=False)
    assert [s.layer for s in scores] == ["T0", "T1"]  # the word store has no T2
    with FeatureStore.open(word_store) as store:
        expected = cca_experiment(oracle_views(store, "T1", load_oracle("syntactic", qvec)), seed=0, sign_sets=0)
    assert scores[1].result.score == expected.score and scores[1].result.n_rows == 60


def test_the_shuffled_control_breaks_the_attributes_but_not_word_identity(tmp_path):
    """--control shuffled: each word gets another word's oracle vector.  The planted attribute signal
    (T1) falls far under it; a layer that only knows which word it is (T3: the word's one-hot
    code x a random map) scores as high under the control as with the real oracle, which is what the
    control is for: a real score no higher than its control measures word identity, not attributes."""
    store_path, qvec, _ = planted(tmp_path, n_words=30, per_word=20)
    with FeatureStore.open(store_path) as store:
        words, rows_t1 = store.labels.tolist(), store.read("T1")
    rng = np.random.default_rng(1)
    vocabulary = sorted(set(words))
    identity = np.eye(len(vocabulary))[[vocabulary.index(word) for word in words]] @ rng.standard_normal((len(vocabulary), 40))
    identity += 0.01 * rng.standard_normal(identity.shape)
    path = write_word_store(tmp_path / "features" / "tiny_wav2vec2" / "ident_train_sample1" / "contextualized_all_words.h5",
                            words, {"T1": rows_t1, "T3": identity.astype(np.float32)})  # fmt: skip
    real = run_cca("cca_semantic", path, oracle=qvec, null_directions="drop", sign_sets=0, progress=False,
                   results=tmp_path / "cca.csv")  # fmt: skip
    control = run_cca("cca_semantic", path, oracle=qvec, null_directions="drop", sign_sets=0, progress=False,
                      control="shuffled", results=tmp_path / "cca.csv")  # fmt: skip
    real_by, control_by = ({s.layer: s.result.score for s in scores} for scores in (real, control))
    # T1 holds 6 numbers per word: over 30 words, a linear map between them and another word's 6
    # numbers fits some correlation that holds out (the test parts hold the same words), far below the real
    assert real_by["T1"] > 0.95 and control_by["T1"] < 0.5
    assert real_by["T3"] > 0.9 and control_by["T3"] > 0.9  # word identity predicts any per-word vector
    assert control[0].run.experiment == "cca_semantic@shuffled" and "shuffled between words" in control[0].result.name
    from layerprobe.results import ResultTable

    table = ResultTable.open(tmp_path / "cca.csv")
    assert sorted({r["experiment"] for r in table.rows}) == ["cca_semantic", "cca_semantic@shuffled"]
    assert table.metadata(table.select(experiment="cca_semantic@shuffled", layer="T1", metric="pwcca")[0])["options"]["control"] == "shuffled"
    again = run_cca("cca_semantic", path, oracle=qvec, null_directions="drop", sign_sets=0, progress=False, control="shuffled",
                    signs="pinned", layers="T1")  # fmt: skip
    assert again[0].run.experiment == "cca_semantic@pinned+shuffled"


def test_the_control_is_only_for_the_oracle_experiments(tmp_path):
    store_path, qvec, _ = planted(tmp_path, n_words=5, per_word=3)
    with pytest.raises(ConfigError, match=r"^--control shuffled is only for cca_semantic and cca_syntactic, not cca_word$"):
        run_cca("cca_word", store_path, control="shuffled", progress=False)
    with pytest.raises(ConfigError, match=r"^--control must be one of none, shuffled, got 'words'$"):
        run_cca("cca_semantic", store_path, oracle=qvec, control="words", progress=False)
