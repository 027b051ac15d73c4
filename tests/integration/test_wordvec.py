"""Static word vectors per layer, their files, and wordsim bound to stores.

Part 1 writes a word store by hand with known rows (row ``i`` of layer ``T<l>`` is
``[i, 100 * l + i, code of its word]``), so every mean can be checked exactly.  Part 2 runs on the
word store of tiny:wav2vec2 extracted from a synthesized corpus, as `layerprobe extract` writes it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors

from layerprobe.analysis import wordvec as W
from layerprobe.analysis.wordsim import wordsim_scores
from layerprobe.analysis.wordvec import read_word_vectors, select_instances, static_word_vectors, write_word_vectors
from layerprobe.experiments.wordsim import run_wordsim
from layerprobe.experiments.wordvec import cached_word_vectors, run_wordvec, store_fingerprint
from layerprobe.errors import ConfigError, StoreError
from layerprobe.io.store import FeatureStore
from layerprobe.io.store_paths import store_path
from layerprobe.results import ResultTable

ATTRS = {"model": "hand", "rep": "contextualized", "span": "word", "frame_rate_hz": 50.0}
#: utterance -> its words; "the" has 8 instances, "cat" 4, "Dog"/"dog" 3, "a" 1; "sil" is no word.
UTTERANCES = {
    "u0": ["the", "cat", "sil", "the", "Dog"],
    "u1": ["the", "the", "a", "cat"],
    "u2": ["dog", "the", "the", "cat", "the"],
    "u3": ["the", "cat", "dog"],
}
CODES = {"the": 1.0, "cat": 2.0, "dog": 3.0, "a": 4.0, "sil": 5.0, "<unk>": 6.0}


def expected(rows, layer: int, word: str) -> list[float]:
    """The mean of rows written by :func:`layer_rows` as the float32 vector a store reader returns."""
    mean = float(np.mean(rows))  # a sum of small integers: exact in float64
    return np.array([mean, 100 * layer + mean, CODES[word]], dtype=np.float32).tolist()


def layer_rows(layer: int, first_row: int, labels: list[str]) -> np.ndarray:
    rows = np.arange(first_row, first_row + len(labels), dtype=np.float64)
    return np.stack([rows, 100 * layer + rows, [CODES[label.lower()] for label in labels]], axis=1)


def write_hand_store(path, utterances=UTTERANCES, *, span="word", layers=("T0", "T1")):
    writer = FeatureStore.create(path, attrs={**ATTRS, "span": span}, layer_dims={layer: 3 for layer in layers})
    row = 0
    for utt, labels in utterances.items():
        segments = [(label, 0.1 * i, 0.1 * i + 0.05) for i, label in enumerate(labels)] if span != "frame" else None
        writer.append(utt, {layer: layer_rows(int(layer[1:]), row, labels) for layer in layers}, segments=segments)
        row += len(labels)
    return writer.finish()


@pytest.fixture()
def hand_store(tmp_path):
    with FeatureStore.open(write_hand_store(tmp_path / "contextualized_word.h5")) as store:
        yield store


def all_labels():
    return [label for labels in UTTERANCES.values() for label in labels]


# --------------------------------------------------------------------------------------------------
# 1. means, selection, files, on a store written by hand


def test_means_of_all_instances_when_there_are_few(hand_store):
    vectors = static_word_vectors(hand_store, "T1", max_instances=None)
    labels = [label.lower() for label in all_labels()]
    assert vectors.index_to_key == ["the", "cat", "dog", "a"]  # by count, "sil" left out, "Dog" lower-cased
    for word in vectors.index_to_key:
        rows = [i for i, label in enumerate(labels) if label == word]
        assert vectors[word].tolist() == expected(rows, 1, word)
        assert vectors.get_vecattr(word, "count") == len(rows) == vectors.get_vecattr(word, "n_instances")
    assert vectors.vectors.dtype == np.float32 and vectors.vector_size == 3


def test_at_most_max_instances_rows_the_same_in_every_layer(hand_store):
    selection = select_instances(hand_store.labels, max_instances=3, seed=7)
    assert selection.words == ("the", "cat", "dog", "a")
    assert selection.counts.tolist() == [8, 4, 3, 1] and selection.n_selected.tolist() == [3, 3, 3, 1]
    labels = [label.lower() for label in all_labels()]
    for layer in ("T0", "T1"):
        vectors = static_word_vectors(hand_store, layer, max_instances=3, seed=7)
        for number, word in enumerate(selection.words):
            rows = selection.rows[selection.word_index == number]
            assert all(labels[row] == word for row in rows)
            # column 0 is the row number itself: the mean says exactly which rows were averaged
            assert vectors[word].tolist() == expected(rows, int(layer[1]), word)
        assert vectors.get_vecattr("the", "n_instances") == 3 and vectors.get_vecattr("the", "count") == 8


def test_seeded_choice_is_deterministic_and_depends_on_the_seed_only(hand_store):
    labels = hand_store.labels.tolist()
    draws = [select_instances(labels, max_instances=2, seed=seed).rows.tolist() for seed in range(6)]
    assert draws[3] == select_instances(labels, max_instances=2, seed=3).rows.tolist()
    assert len({tuple(draw) for draw in draws}) > 1
    # another word's instances interleaved: "the" keeps the same instances (counted among its own)
    mixed = [item for label in labels for item in (label, "zebra")]
    for seed in range(4):
        alone, among = select_instances(labels, max_instances=4, seed=seed), select_instances(mixed, max_instances=4, seed=seed)
        the_alone = alone.rows[alone.word_index == alone.words.index("the")]
        the_among = among.rows[among.word_index == among.words.index("the")]
        assert (the_among // 2).tolist() == the_alone.tolist()


def test_streaming_in_small_blocks_gives_the_same_vectors(hand_store, monkeypatch):
    whole = static_word_vectors(hand_store, "T0", max_instances=2, seed=1)
    monkeypatch.setattr(W, "_BLOCK_BYTES", 4 * 3 * 2)  # two rows per block
    blocks = static_word_vectors(hand_store, "T0", max_instances=2, seed=1)
    assert blocks.index_to_key == whole.index_to_key and np.array_equal(blocks.vectors, whole.vectors)


@pytest.mark.parametrize("suffix", [".kv", ".bin"])
def test_files_reload_with_gensim(hand_store, tmp_path, suffix):
    vectors = static_word_vectors(hand_store, "T1", max_instances=2, seed=0)
    path = write_word_vectors(vectors, tmp_path / "out" / f"T1{suffix}", metadata={"layer": "T1"})
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([f"T1{suffix}", "T1.json"])  # one file, no .npy
    if suffix == ".kv":
        loaded = KeyedVectors.load(os.fspath(path))
        assert loaded.get_vecattr("the", "count") == 8
    else:
        loaded = KeyedVectors.load_word2vec_format(os.fspath(path), binary=True)
    assert loaded.index_to_key == vectors.index_to_key and np.array_equal(loaded.vectors, vectors.vectors)
    again = read_word_vectors(path)
    assert np.array_equal(again.vectors, vectors.vectors)
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == W.file_sha256(path)


def test_cached_vectors_are_used_only_when_current(hand_store, tmp_path, caplog):
    folder = tmp_path / "wordvec"
    fingerprint = store_fingerprint(hand_store)
    built, source = cached_word_vectors(hand_store, "T0", folder, max_instances=2, seed=0)
    assert source is None
    run_wordvec_like = static_word_vectors(hand_store, "T0", max_instances=2, seed=0)
    sidecar = {"layer": "T0", "file": "T0.kv", "store_fingerprint": fingerprint, "max_instances": 2, "seed": 0}
    path = write_word_vectors(run_wordvec_like, folder / "T0.kv", metadata=sidecar)
    cached, source = cached_word_vectors(hand_store, "T0", folder, max_instances=2, seed=0)
    assert source == path and np.array_equal(cached.vectors, built.vectors)
    with caplog.at_level(logging.WARNING, logger="layerprobe"):
        _, source = cached_word_vectors(hand_store, "T0", folder, max_instances=3, seed=0)
    assert source is None and "the vectors were made with another max_instances" in caplog.text
    path.write_bytes(path.read_bytes() + b"\0")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="layerprobe"):
        _, source = cached_word_vectors(hand_store, "T0", folder, max_instances=2, seed=0)
    assert source is None and "T0.kv was changed after it was written" in caplog.text


def test_store_errors(tmp_path, hand_store):
    with pytest.raises(StoreError, match="has no layer T5 \\(it has T0, T1\\); extract it first"):
        static_word_vectors(hand_store, "T5")
    with FeatureStore.open(write_hand_store(tmp_path / "phones.h5", span="phone")) as phones:
        with pytest.raises(StoreError, match="is a phone-span store; word vectors need a word-span store"):
            static_word_vectors(phones, "T0")
    with FeatureStore.open(write_hand_store(tmp_path / "silent.h5", {"u0": ["sil", "<unk>"]})) as silent:
        with pytest.raises(StoreError, match=r"silent.h5: holds no word instances \(2 rows, none with a word label\)"):
            static_word_vectors(silent, "T0")
    with pytest.raises(ConfigError, match="max_instances must be a positive integer, got 0"):
        select_instances(["a"], max_instances=0)
    vectors = KeyedVectors(vector_size=2)
    vectors.add_vectors(["new york"], np.ones((1, 2), dtype=np.float32))
    with pytest.raises(ConfigError, match="the word 'new york' is empty or has whitespace"):
        write_word_vectors(vectors, tmp_path / "T0.bin")
    with pytest.raises(ConfigError, match=r"x.txt: a word-vector file must end in .kv or .bin"):
        write_word_vectors(vectors, tmp_path / "x.txt")
    broken = tmp_path / "T0.kv"
    broken.write_bytes(b"not a pickle")
    with pytest.raises(ConfigError, match="T0.kv: cannot be read as a gensim KeyedVectors file"):
        read_word_vectors(broken)


# --------------------------------------------------------------------------------------------------
# 2. the word store of a tiny model on a synthesized corpus


MODEL = "tiny:wav2vec2"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A word store as `layerprobe extract --span word` writes it for tiny:wav2vec2 (24 training utterances)."""
    from layerprobe.data.corpora import open_corpus
    from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
    from layerprobe.data.synth import synthesize_corpus
    from layerprobe.extraction import extract
    from layerprobe.models import load_model

    root = tmp_path_factory.mktemp("wordvec")
    synthesize_corpus(root / "synth", n=30, seed=5, progress=False)
    corpus = open_corpus(root / "synth")
    rule = SamplingRule.default("word", "train", n_labels=200, min_per_label=1, max_per_label=10)
    manifest = draw_sample(corpus, "train", span="word", rule=rule, progress=False)
    path = write_manifest(manifest, manifest_path(root / "data_samples", corpus.name, "train", "word", 1))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-wide model: worker threads only spin (and crawl on a busy 2-core machine)
    try:
        report = extract(manifest, load_model(MODEL), root / "features", rep="contextualized", progress=False, manifest_path=path)
    finally:
        torch.set_num_threads(threads)
    assert report.path == store_path(root / "features", "tiny_wav2vec2", corpus.name, "train", 1, "contextualized", "word")
    with FeatureStore.open(report.path) as store:
        words = sorted({label for label in store.labels.tolist()})
        counts = {word: int((store.labels == word).sum()) for word in words}
    # a benchmark of the store's own words (and two pairs of words it lacks)
    rng = np.random.default_rng(0)
    lines = [f"{words[i]}\t{words[j]}\t{rng.uniform(0, 10):.2f}" for i, j in rng.integers(0, len(words), size=(30, 2))]
    lines += ["zyzzyva\tquokka\t3.0", "the\tquokka\t4.0"]
    benchmark = root / "own.tsv"
    benchmark.write_text("\n".join(lines) + "\n")
    return SimpleNamespace(root=root, corpus=corpus.name, features=root / "features", store=report.path, counts=counts, benchmark=benchmark)


def _common(tiny):
    return {"features": tiny.features, "model": MODEL, "corpus": tiny.corpus, "split": "train", "sample": 1, "progress": False}


def test_wordvec_writes_every_layer_and_equals_the_library(tiny):
    assert max(tiny.counts.values()) > 3  # some word is cut to --max-instances 3
    written = run_wordvec(**_common(tiny), layers="all", max_instances=3, seed=2)
    folder = tiny.store.parent / "wordvec"
    assert [w.layer for w in written] == ["T0", "T1", "T2", "T3"]
    assert {p.name for p in folder.iterdir()} == {f"T{i}{ext}" for i in range(4) for ext in (".kv", ".json")}
    with FeatureStore.open(tiny.store) as store:
        for item in written:
            expected = static_word_vectors(store, item.layer, max_instances=3, seed=2)
            loaded = KeyedVectors.load(os.fspath(item.path))
            assert loaded.index_to_key == expected.index_to_key and np.array_equal(loaded.vectors, expected.vectors)
            assert item.n_words == len(tiny.counts) and item.n_rows == sum(tiny.counts.values())
            assert item.n_instances == sum(min(n, 3) for n in tiny.counts.values())
            meta = json.loads(item.path.with_suffix(".json").read_text())
            assert meta["store_fingerprint"] == store_fingerprint(store) and (meta["max_instances"], meta["seed"]) == (3, 2)
    again = run_wordvec(**_common(tiny), layers="T2", max_instances=3, seed=2, out=tiny.root / "w2v", format="word2vec")
    assert again[0].path == tiny.root / "w2v" / "T2.bin"
    binary = KeyedVectors.load_word2vec_format(os.fspath(again[0].path), binary=True)
    assert np.array_equal(binary.vectors, KeyedVectors.load(os.fspath(folder / "T2.kv")).vectors)


def test_wordsim_on_the_store_matches_scores_of_the_vectors(tiny, tmp_path):
    results = tmp_path / "wordsim.csv"
    benchmarks = ["simlex999", tiny.benchmark]
    scores = run_wordsim(**_common(tiny), layers="T1-T3", benchmarks=benchmarks, max_instances=5, seed=1, results=results)
    assert [s.layer for s in scores] == ["T1", "T2", "T3"]
    table = ResultTable.open(results)
    with FeatureStore.open(tiny.store) as store:
        for score in scores:
            assert score.source is None  # no current wordvec file for max_instances 5: built from the store
            vectors = static_word_vectors(store, score.layer, max_instances=5, seed=1)
            from layerprobe.analysis.wordsim import load_benchmarks

            expected = wordsim_scores(vectors, {name: b.pairs for name, b in load_benchmarks(benchmarks).items()})
            assert score.result == expected
            assert expected.used["own"] == 30 and expected.skipped["own"] == 2
            rows = {row["metric"]: row["value"] for row in table.select(layer=score.layer)}
            assert set(rows) == {"spearman_micro", "spearman_macro", "spearman:own", *(["spearman:simlex999"] if "simlex999" in expected.scored else [])}
            assert rows["spearman_micro"] == expected.micro and rows["spearman:own"] == expected.per_benchmark["own"]
            meta = table.metadata(table.select(layer=score.layer)[0])
            assert meta["details"]["used"] == expected.used and meta["details"]["skipped"] == expected.skipped
            assert meta["options"] == {"benchmarks": ["simlex999", "own"], "max_instances": 5}
    assert {row["seed"] for row in table.rows} == {1} and {row["model"] for row in table.rows} == {MODEL}


def test_wordsim_reads_current_wordvec_files_with_the_same_numbers(tiny, tmp_path):
    written = run_wordvec(**_common(tiny), layers="T0", max_instances=4, seed=0, out=tmp_path / "wv")
    from_files = run_wordsim(**_common(tiny), layers="T0", benchmarks=[tiny.benchmark], max_instances=4, wordvec=tmp_path / "wv")
    from_store = run_wordsim(**_common(tiny), layers="T0", benchmarks=[tiny.benchmark], max_instances=4, wordvec=tmp_path / "none")
    assert from_files[0].source == written[0].path and from_store[0].source is None
    assert from_files[0].result == from_store[0].result
    by_vectors = run_wordsim(**_common(tiny), benchmarks=[tiny.benchmark], vectors=[written[0].path])
    assert by_vectors[0].result == from_store[0].result and by_vectors[0].source == written[0].path


def test_wordsim_errors(tiny, tmp_path):
    oov = tmp_path / "oov.tsv"
    oov.write_text("the\tcat\t1\nzyzzyva\tquokka\t2\nthe\tquokka\t3\n")
    message = f"no benchmark has 2 pairs with both words among the {len(tiny.counts)} words of {tiny.store} (pairs: oov 3)"
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_wordsim(**_common(tiny), benchmarks=[oov], results=tmp_path / "r.csv")
    assert not (tmp_path / "r.csv").exists()
    with pytest.raises(StoreError, match="other_train_sample1/contextualized_word.h5: no such feature store"):
        run_wordsim(**{**_common(tiny), "corpus": "other"}, benchmarks=[tiny.benchmark])
    with pytest.raises(ConfigError, match=r"contextualized_word.h5: the model has no layer T9 \(it has C1-C7, T0-T3\)$"):
        run_wordsim(**_common(tiny), layers="T9", benchmarks=[tiny.benchmark])
    with pytest.raises(ConfigError, match=r"contextualized_word.h5: layer C3 is not in the store \(it has T0-T3\); word vectors are of the transformer layers T0..TL$"):
        run_wordvec(**_common(tiny), layers="C3,T1")
    small = KeyedVectors(vector_size=5)
    small.add_vectors(["the", "a"], np.ones((2, 5), dtype=np.float32))
    small.save(os.fspath(tmp_path / "T1.kv"))
    written = run_wordvec(**_common(tiny), layers="T0", out=tmp_path)
    with pytest.raises(ConfigError, match=r"holds 5-d vectors but .*T0.kv holds 32-d ones"):
        run_wordsim(**_common(tiny), benchmarks=[tiny.benchmark], vectors=[written[0].path, tmp_path / "T1.kv"])
