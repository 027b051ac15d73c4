"""Spoken STS: the scorer (oracle and random features, hand-computed means), the pairs of the published layout, synth-sts."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
import soundfile

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from layerprobe.analysis.sts import sts_spearman  # noqa: E402
from layerprobe.data.corpora import open_corpus  # noqa: E402
from layerprobe.data.spoken_sts import (  # noqa: E402
    StsPair,
    bag_of_words_similarity,
    plan_sts_pairs,
    read_sts_pairs,
    words_of,
)
from layerprobe.errors import ConfigError, CorpusError  # noqa: E402

SPEAKERS = ("s1", "s2", "s3", "s4")


def pairs_of(planned, speakers=SPEAKERS):
    return [StsPair(f"synth_{p['subtask']}_{p['pair_id']}", "synth", p["subtask"], p["similarity"],
                    tuple(f"{p['pair_id']}_{s}_a" for s in speakers), tuple(f"{p['pair_id']}_{s}_b" for s in speakers))
            for p in planned]  # fmt: skip


def bag_of_words_features(planned, speakers=SPEAKERS, noise=0.0, seed=0):
    vocabulary = sorted({w for p in planned for side in "ab" for w in words_of(p[f"text_{side}"])})
    position = {w: i for i, w in enumerate(vocabulary)}
    rng = np.random.default_rng(seed)
    rows, index = [], {}
    for p in planned:
        for side in "ab":
            counts = Counter(words_of(p[f"text_{side}"]))
            vector = np.zeros(len(vocabulary))
            for word, n in counts.items():
                vector[position[word]] = n
            for speaker in speakers:
                index[f"{p['pair_id']}_{speaker}_{side}"] = len(rows)
                rows.append(vector + noise * rng.standard_normal(len(vocabulary)))
    return np.asarray(rows), index


def test_bag_of_words_oracle_features_give_spearman_one():
    planned = plan_sts_pairs(60, seed=3)
    assert len({p["similarity"] for p in planned}) > 20  # graded, not a few levels
    features, index = bag_of_words_features(planned)
    result = sts_spearman(features, index, pairs_of(planned))
    assert result.spearman == pytest.approx(1.0, abs=1e-12)
    assert result.n_pairs == 60 and result.n_combinations == 60 * 16
    assert set(result.per_subtask) == {"synth/complex", "synth/simple"}
    assert all(value == pytest.approx(1.0, abs=1e-12) for value in result.per_subtask.values())
    np.testing.assert_allclose(result.similarities * 5, [p["similarity"] for p in planned], atol=1e-5)


def test_random_features_score_near_zero():
    planned = plan_sts_pairs(300, seed=1)
    features, index = bag_of_words_features(planned)
    random = np.random.default_rng(0).standard_normal(features.shape)
    result = sts_spearman(random, index, pairs_of(planned))
    # seeded: |rho| of 300 independent pairs has standard deviation 1/sqrt(299) = 0.058
    assert abs(result.spearman) < 0.15
    assert result.spearman == pytest.approx(-0.0160, abs=5e-4)


def test_the_mean_over_speaker_combinations_and_every_combination_as_a_point():
    # two speakers: a pair's similarity is the mean of its 4 cosines
    index = {"p_a1": 0, "p_a2": 1, "p_b1": 2, "p_b2": 3, "q_a1": 4, "q_a2": 5, "q_b1": 6, "q_b2": 7}
    e = np.array([[1, 0], [0, 1], [1, 0], [1, 1], [1, 0], [1, 0], [0, 1], [-1, 1]], dtype=float)
    pairs = [StsPair("p", "t", "s", 4.0, ("p_a1", "p_a2"), ("p_b1", "p_b2")),
             StsPair("q", "t", "s", 1.0, ("q_a1", "q_a2"), ("q_b1", "q_b2"))]  # fmt: skip
    result = sts_spearman(e, index, pairs)
    r = 1 / np.sqrt(2)
    np.testing.assert_allclose(result.similarities, [(1 + r + 0 + r) / 4, (0 - r + 0 - r) / 4])
    assert result.spearman == pytest.approx(1.0)
    assert result.per_subtask == {}  # fewer than 3 pairs in the subtask
    every = sts_spearman(e, index, pairs, combine="all")
    assert every.n_combinations == 8 and every.similarities.shape == (2,)
    # points: p (4.0): 1, r, 0, r; q (1.0): 0, -r, 0, -r -> ranks of the cosines against two tied score groups
    from scipy.stats import spearmanr

    expected = spearmanr([1, r, 0, r, 0, -r, 0, -r], [4, 4, 4, 4, 1, 1, 1, 1]).statistic
    assert every.spearman == pytest.approx(expected)


def test_scorer_errors_are_one_line():
    index = {"a": 0, "b": 1}
    pairs = [StsPair("k1", "t", "s", 1.0, ("a",), ("b",)), StsPair("k2", "t", "s", 2.0, ("a",), ("gone",))]
    with pytest.raises(ConfigError) as caught:
        sts_spearman(np.eye(2), index, pairs)
    assert str(caught.value) == ("utterance 'gone' of pair 'k2' has no features; extract every utterance of the dataset "
                                 "(sample --n-utterances at least its number of utterances)")  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        sts_spearman(np.eye(2), index, pairs[:1])
    assert str(caught.value) == "spoken STS needs at least 2 sentence pairs for a Spearman correlation, got 1"
    with pytest.raises(ConfigError) as caught:
        sts_spearman(np.eye(2), index, pairs, combine="max")
    assert str(caught.value) == "unknown --combine 'max' (known: mean, all)"


def test_bag_of_words_similarity_is_five_times_the_cosine_of_word_counts():
    assert bag_of_words_similarity("The dog saw the cat.", "The dog saw the cat.") == 5.0
    assert bag_of_words_similarity("A dog ran.", "Two birds sang.") == 0.0
    # counts (the:2, dog, saw, cat) and (the:2, dog, saw, box): dot 6, norms sqrt(7) each
    assert bag_of_words_similarity("The dog saw the cat.", "The dog saw the box.") == round(5 * 6 / 7, 6)


def _wav(seconds=0.3):
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(int(16000 * seconds), dtype=np.float32) + 0.01, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


AUDIO = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def published_table(rows):
    return pa.table({
        "task": [r[0] for r in rows], "subtask": [r[1] for r in rows], "pair_id": [r[2] for r in rows],
        "speaker_id": [r[3] for r in rows],
        "audio_a": pa.array([None if r[4] is None else {"bytes": r[4], "path": None} for r in rows], type=AUDIO),
        "audio_b": pa.array([{"bytes": _wav(), "path": None} for _ in rows], type=AUDIO),
        "similarity": [r[5] for r in rows],
    })  # fmt: skip


def test_pairs_of_the_published_layout_gather_speakers_across_shards(tmp_path):
    root = tmp_path / "sts"
    (root / "data").mkdir(parents=True)
    wav = _wav()
    pq.write_table(published_table([("STS12", "MSRpar", 7, "m1", wav, 3.2), ("STS12", "MSRpar", 7, "f1", wav, 3.2)]),
                   root / "data" / "test-00000-of-00002.parquet")  # fmt: skip
    pq.write_table(published_table([("STS13", "FNWN", 7, "m1", wav, 0.5), ("STS12", "MSRpar", 7, "f2", wav, 3.2)]),
                   root / "data" / "test-00001-of-00002.parquet")  # fmt: skip
    corpus = open_corpus(root)
    pairs = read_sts_pairs(corpus, "test")
    assert pairs == [
        StsPair("STS12_MSRpar_7", "STS12", "MSRpar", 3.2, ("STS12_MSRpar_7_m1_a", "STS12_MSRpar_7_f1_a", "STS12_MSRpar_7_f2_a"),
                ("STS12_MSRpar_7_m1_b", "STS12_MSRpar_7_f1_b", "STS12_MSRpar_7_f2_b")),
        StsPair("STS13_FNWN_7", "STS13", "FNWN", 0.5, ("STS13_FNWN_7_m1_a",), ("STS13_FNWN_7_m1_b",)),
    ]  # fmt: skip
    # the same pair id in two tasks gives distinct utterances (the published utterance ids collide)
    ids = [u.utt_id for u in corpus.utterances("test")]
    assert len(ids) == len(set(ids)) == 8 and set(ids) >= {*pairs[0].a_ids, *pairs[0].b_ids, *pairs[1].a_ids}


def test_bad_spoken_sts_tables_are_one_line(tmp_path):
    root = tmp_path / "sts"
    root.mkdir()
    shard = root / "test.parquet"
    pq.write_table(published_table([("STS12", "MSRpar", 1, "m1", _wav(), 3.0)]).drop_columns(["similarity"]), shard)
    with pytest.raises(CorpusError) as caught:
        read_sts_pairs(open_corpus(root), "test")
    assert str(caught.value) == (f"{shard}: has no column 'similarity' (columns: task, subtask, pair_id, speaker_id, "
                                 "audio_a, audio_b)")  # fmt: skip

    pq.write_table(published_table([("STS12", "MSRpar", 1, "m1", _wav(), 3.0), ("STS12", "MSRpar", 1, "f1", None, 3.0)]), shard)
    with pytest.raises(CorpusError) as caught:
        list(open_corpus(root).utterances("test"))
    assert str(caught.value) == f"{shard}: row 1, column 'audio_a': has no audio (a null cell); remove the row or add its audio"

    pq.write_table(published_table([("STS12", "MSRpar", 1, "m1", _wav(), 3.0), ("STS12", "MSRpar", 1, "f1", _wav(), 2.0)]), shard)
    with pytest.raises(CorpusError) as caught:
        read_sts_pairs(open_corpus(root), "test")
    assert str(caught.value) == (f"{shard}: row 1: pair 'STS12_MSRpar_1' has similarity 2.0 here but 3.0 in test.parquet row 0; "
                                 "a pair has one human score")  # fmt: skip

    pq.write_table(published_table([("STS12", "MSRpar", 1, "m1", _wav(), float("nan"))]), shard)
    with pytest.raises(CorpusError) as caught:
        read_sts_pairs(open_corpus(root), "test")
    assert str(caught.value) == f"{shard}: row 0: similarity nan is not a finite number"


def test_planned_pairs_are_seeded_and_keep_the_structure():
    first, again = plan_sts_pairs(12, seed=5), plan_sts_pairs(12, seed=5)
    assert first == again and first != plan_sts_pairs(12, seed=6)
    same = [p for p in first if p["pair_id"] % 6 == 0]
    assert all(p["text_a"] == p["text_b"] and p["similarity"] == 5.0 for p in same)
    swapped = [p for p in first if p["pair_id"] % 6 in (1, 2, 3, 4)]
    assert all(len(words_of(p["text_a"])) == len(words_of(p["text_b"])) for p in swapped)
    with pytest.raises(ConfigError) as caught:
        plan_sts_pairs(1, seed=0)
    assert str(caught.value) == "--n-pairs must be at least 2 (Spearman needs two pairs), got 1"


def test_utterance_means_stream_blocks_across_utterances_and_equal_the_plain_means(tmp_path, monkeypatch):
    from layerprobe.analysis.sts import utterance_means
    from layerprobe.io.store import FeatureStore

    rng = np.random.default_rng(0)
    lengths = [5, 1, 9, 3, 7]
    rows = [rng.standard_normal((n, 4)).astype(np.float32) for n in lengths]
    attrs = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0}
    writer = FeatureStore.create(tmp_path / "f.h5", attrs=attrs, layer_dims={"T0": 4})
    for i, values in enumerate(rows):
        writer.append(f"u{i}", {"T0": values})
    path = writer.finish()
    with FeatureStore.open(path) as store:
        plain = store.iter_rows

        def small_blocks(layer, chunk_rows=4):  # 4-row blocks: utterances start, end and span blocks
            return plain(layer, chunk_rows=chunk_rows)

        monkeypatch.setattr(store, "iter_rows", small_blocks)
        means = utterance_means(store, "T0")
    np.testing.assert_allclose(means, [values.astype(np.float64).mean(axis=0) for values in rows], rtol=1e-12)


def test_constant_scores_are_refused_and_constant_similarities_give_no_row():
    from layerprobe.experiments.records import RunKey
    from layerprobe.experiments.sts import LayerSts

    index = {"a": 0, "b": 1, "c": 2, "d": 3}
    same = [StsPair("k1", "t", "s", 2.0, ("a",), ("b",)), StsPair("k2", "t", "s", 2.0, ("c",), ("d",))]
    with pytest.raises(ConfigError) as caught:
        sts_spearman(np.eye(4), index, same)
    assert str(caught.value) == "all 2 sentence pairs have the same human score; Spearman's rho needs scores that differ"
    pairs = [StsPair("k1", "t", "s", 1.0, ("a",), ("b",)), StsPair("k2", "t", "s", 4.0, ("c",), ("d",))]
    result = sts_spearman(np.ones((4, 3)), index, pairs)  # a dead layer: every cosine is 1
    assert np.isnan(result.spearman)
    record = LayerSts("T0", result, RunKey("m", "c", "spoken_sts", "test", 1, 0))
    assert record.rows() == []


def test_pairs_name_the_utterances_the_corpus_reader_makes_also_with_an_id_column(tmp_path):
    root = tmp_path / "sts"
    root.mkdir()
    table = published_table([("STS12", "MSRpar", 1, "m1", _wav(), 3.0), ("STS12", "MSRpar", 1, "f1", _wav(), 3.0),
                             ("STS12", "MSRpar", 2, "m1", _wav(), 1.0)])  # fmt: skip
    pq.write_table(table.append_column("id", pa.array(["r0", "r1", "r2"])), root / "test.parquet")
    corpus = open_corpus(root)
    pairs = read_sts_pairs(corpus, "test")
    assert [(p.a_ids, p.b_ids) for p in pairs] == [(("r0_a", "r1_a"), ("r0_b", "r1_b")), (("r2_a",), ("r2_b",))]
    assert {u.utt_id for u in corpus.utterances("test")} == {utt for p in pairs for utt in (*p.a_ids, *p.b_ids)}


def test_synth_sts_writes_the_published_layout_the_same_for_the_same_seed(tmp_path):
    from layerprobe.data.spoken_sts import synthesize_sts

    first = synthesize_sts(tmp_path / "a", n_pairs=2, seed=4)
    again = synthesize_sts(tmp_path / "b", n_pairs=2, seed=4)
    assert first.path.read_bytes() == again.path.read_bytes()
    assert (first.n_pairs, first.n_rows) == (2, 8)
    table = pq.read_table(first.path)
    assert table.column_names == ["task", "subtask", "pair_id", "speaker_id", "audio_a", "audio_b", "similarity", "text_a", "text_b"]
    assert table.column("speaker_id").to_pylist() == ["en-us", "en-us+f3", "en+m1", "en+f2"] * 2
    assert b'"_type": "Audio"' in table.schema.metadata[b"huggingface"]
    assert [p.name for p in (tmp_path).iterdir()] and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    with pytest.raises(ConfigError) as caught:
        synthesize_sts(tmp_path / "a", n_pairs=2, seed=4)
    assert str(caught.value) == f"{tmp_path / 'a'} exists; give another --out or --overwrite"
