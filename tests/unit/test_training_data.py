"""CTC training data: file lists, transcripts, length bucketing, collation, feature and waveform datasets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from layerprobe.data.corpora import open_corpus
from layerprobe.errors import ConfigError, CorpusError, StoreError
from layerprobe.io.store import FeatureStore
from layerprobe.training.ctc import CharVocabulary
from layerprobe.training.data import (
    FeatureCTCData,
    WaveformCTCData,
    collate_ctc,
    length_buckets,
    read_transcripts,
    read_utterance_list,
)
from support.corpora import make_folder_corpus, make_librispeech_corpus

VOCAB = CharVocabulary.default()


# --------------------------------------------------------------------------------------------------
# File lists and transcripts


def test_utterance_list_skips_comments_takes_first_fields_and_stems_of_audio_paths(tmp_path):
    path = tmp_path / "subset.txt"
    path.write_text("# 10 h subset\n\n103-1240-0000\ntrain-clean-100/19/198/19-198-0001.flac extra\nu.v 3.2\n")
    assert read_utterance_list(path) == ["103-1240-0000", "19-198-0001", "u.v"]


@pytest.mark.parametrize(
    "text, message",
    [("a\nb\na\n", r"line 3: utterance 'a' is listed twice \(first on line 1\)"), ("# nothing\n\n", "lists no utterances")],
)
def test_utterance_list_refuses_repeats_and_empty_lists(tmp_path, text, message):
    path = tmp_path / "list.txt"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_utterance_list(path)
    with pytest.raises(ConfigError, match="no such utterance list"):
        read_utterance_list(tmp_path / "absent.txt")


def test_transcripts_of_librispeech_are_normalised_and_restricted_to_a_file_list(tmp_path):
    written = make_librispeech_corpus(tmp_path / "LibriSpeech", None, per_chapter=2)
    utts = written["dev-clean"]
    transcripts = read_transcripts(tmp_path / "LibriSpeech", "dev-clean")
    assert list(transcripts) == sorted(u.utt_id for u in utts)
    for utt in utts:  # the corpus holds upper-case text; transcripts are lower case
        assert transcripts[utt.utt_id] == " ".join(w.label for w in utt.alignment.words)
    subset = tmp_path / "subset.txt"
    subset.write_text(f"{utts[3].utt_id}\n{utts[0].utt_id}\n")
    chosen = read_transcripts(open_corpus(tmp_path / "LibriSpeech"), "dev-clean", file_list=subset)
    assert list(chosen) == [utts[0].utt_id, utts[3].utt_id]  # corpus order, not list order
    subset.write_text("19-198-0000\nnot-there\n")
    with pytest.raises(CorpusError, match=r"subset.txt: lists 'not-there', not in split 'dev-clean'"):
        read_transcripts(tmp_path / "LibriSpeech", "dev-clean", file_list=subset)


def test_an_utterance_without_transcript_is_a_corpus_error_naming_its_audio(tmp_path):
    make_folder_corpus(tmp_path / "c", splits=("train",), per_split=3)
    (tmp_path / "c" / "train" / "train-001.txt").unlink()
    with pytest.raises(CorpusError, match=r"train-001\.wav: utterance 'train-001' has no transcript"):
        read_transcripts(tmp_path / "c", "train")
    with pytest.raises(CorpusError, match="utterance 'train-001' has no transcript"):
        WaveformCTCData(tmp_path / "c", "train")


# --------------------------------------------------------------------------------------------------
# Length buckets


def test_length_buckets_on_a_hand_made_case():
    lengths = [5, 3, 8, 2, 3]
    # Sorted: 2 (3), 3 (1), 3 (4), 5 (0), 8 (2); budget 10: [3, 1, 4] (3 * 3 = 9), [0] (2 * 5 > 10), [2].
    assert length_buckets(lengths, max_batch_frames=10, seed=0, shuffle=False) == [[3, 1, 4], [0], [2]]
    # A longer item than the budget is a batch of its own.
    assert length_buckets([50, 1], max_batch_frames=10, seed=0, shuffle=False) == [[1], [0]]
    assert length_buckets([], max_batch_frames=10, seed=0) == []
    with pytest.raises(ConfigError, match="positive number of frames"):
        length_buckets(lengths, max_batch_frames=0, seed=0)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 300), max_size=60), st.integers(1, 2000), st.integers(0, 2**31))
def test_length_buckets_cover_every_item_once_within_budget_deterministically(lengths, budget, seed):
    batches = length_buckets(lengths, max_batch_frames=budget, seed=seed)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= budget
    assert batches == length_buckets(lengths, max_batch_frames=budget, seed=seed)
    ordered = length_buckets(lengths, max_batch_frames=budget, seed=seed, shuffle=False)
    assert sorted(map(tuple, batches)) == sorted(map(tuple, ordered))  # shuffling reorders batches only
    flat = [lengths[i] for batch in ordered for i in batch]
    assert flat == sorted(flat)


def test_length_buckets_seed_changes_batch_order_only():
    lengths = list(np.random.default_rng(0).integers(10, 100, 200))
    a = length_buckets(lengths, max_batch_frames=400, seed=1)
    b = length_buckets(lengths, max_batch_frames=400, seed=2)
    assert a != b and sorted(a) == sorted(b)


# --------------------------------------------------------------------------------------------------
# Collation


def test_collate_pads_features_with_zeros_and_targets_with_blank():
    items = [
        (np.ones((3, 2), np.float32), np.array([5, 6]), "cd", "u1"),
        (np.full((5, 2), 2.0, np.float32), np.array([7, 8, 9, 10]), "efgh", "u2"),
    ]
    batch = collate_ctc(items)
    assert batch.inputs.shape == (2, 5, 2) and batch.inputs.dtype == torch.float32
    assert batch.inputs[0, :3].eq(1).all() and batch.inputs[0, 3:].eq(0).all() and batch.inputs[1].eq(2).all()
    assert batch.input_lengths.tolist() == [3, 5] and batch.input_lengths.dtype == torch.int64
    assert batch.targets.tolist() == [[5, 6, 0, 0], [7, 8, 9, 10]] and batch.targets.dtype == torch.int64
    assert batch.target_lengths.tolist() == [2, 4]
    assert batch.texts == ["cd", "efgh"] and batch.utt_ids == ["u1", "u2"] and len(batch) == 2
    moved = batch.to("meta")
    assert moved.inputs.device.type == "meta" and moved.targets.device.type == "meta"
    assert batch.inputs.device.type == "cpu"  # the original is untouched


def test_collate_pads_waveforms_and_refuses_mixed_shapes():
    batch = collate_ctc([(np.arange(4, dtype=np.float32), np.array([3]), "a", "a"), (np.ones(2, np.float32), np.array([], np.int64), "", "b")])
    assert batch.inputs.tolist() == [[0, 1, 2, 3], [1, 1, 0, 0]]
    assert batch.targets.tolist() == [[3], [0]] and batch.target_lengths.tolist() == [1, 0]
    with pytest.raises(ValueError, match="must all be"):
        collate_ctc([(np.ones(3), np.array([3]), "a", "a"), (np.ones((3, 2)), np.array([3]), "a", "b")])
    with pytest.raises(ValueError, match="share their dimension"):
        collate_ctc([(np.ones((3, 3)), np.array([3]), "a", "a"), (np.ones((3, 2)), np.array([3]), "a", "b")])
    with pytest.raises(ValueError, match="empty batch"):
        collate_ctc([])


# --------------------------------------------------------------------------------------------------
# Datasets


ATTRS = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0}


def _feature_store(path, lengths, *, dim=3, seed=0):
    """A frame store with layers T0, T1 whose rows are (utterance number, frame number, noise)."""
    rng = np.random.default_rng(seed)
    writer = FeatureStore.create(path, attrs=ATTRS, layer_dims={"T0": dim, "T1": dim})
    for number, n in enumerate(lengths):
        rows = np.column_stack([np.full(n, number), np.arange(n), rng.standard_normal((n, dim - 2))]).astype(np.float32)
        writer.append(f"u{number}", {"T0": rows, "T1": rows + 100})
    return FeatureStore.open(writer.finish())


@pytest.mark.parametrize("preload", [True, False])
def test_feature_data_yields_each_utterances_frames_with_its_encoded_transcript(tmp_path, preload):
    lengths = [4, 7, 2, 9, 5]
    texts = {f"u{i}": f"Word {chr(97 + i)}!" for i in range(5)}
    with _feature_store(tmp_path / "s.h5", lengths) as store:
        data = FeatureCTCData(store, "T1", texts, preload=preload)
        assert len(data) == 5 and data.lengths == lengths and data.dim == 3 and data.frame_rate_hz == 50.0
        assert data.total_seconds == pytest.approx(sum(lengths) / 50)
        inputs, targets, text, utt = data.item(3)
        assert utt == "u3" and text == "word d" and targets.tolist() == VOCAB.encode("word d").tolist()
        assert inputs.shape == (9, 3) and inputs[:, 0].tolist() == [103] * 9 and inputs[:, 1].tolist() == list(range(100, 109))
        seen = []
        for batch in data.batches(0, max_batch_frames=14, seed=5):
            assert batch.inputs.shape[0] * batch.inputs.shape[1] <= 14 or len(batch) == 1
            for row, utt_id in enumerate(batch.utt_ids):
                n = int(batch.input_lengths[row])
                assert n == lengths[int(utt_id[1:])]
                assert batch.inputs[row, :n, 0].eq(100 + int(utt_id[1:])).all() and batch.inputs[row, n:].eq(0).all()
                assert batch.texts[row] == texts[utt_id].lower().rstrip("!")
            seen += batch.utt_ids
        assert sorted(seen) == sorted(texts)
        subset = FeatureCTCData(store, "T0", texts, utterance_ids=["u4", "u1"])
        assert subset.utt_ids == ["u1", "u4"] and subset.item(1)[0][:, 0].tolist() == [4] * 5


def test_feature_data_epochs_have_their_own_deterministic_order(tmp_path):
    lengths = list(range(1, 41))
    texts = {f"u{i}": "a" for i in range(40)}
    with _feature_store(tmp_path / "s.h5", lengths) as store:
        data = FeatureCTCData(store, "T0", texts)
        order = lambda epoch: [b.utt_ids for b in data.batches(epoch, max_batch_frames=60, seed=3)]  # noqa: E731
        assert order(0) == order(0) and order(1) == order(1) and order(0) != order(1)
        # batches(epoch, seed) is length_buckets seeded with seed + epoch.
        assert order(1) == [[f"u{i}" for i in b] for b in length_buckets(lengths, max_batch_frames=60, seed=4)]


def test_feature_data_refuses_untranscribed_utterances_missing_layers_and_segment_stores(tmp_path):
    with _feature_store(tmp_path / "s.h5", [3, 4]) as store:
        with pytest.raises(CorpusError, match="s.h5: utterance 'u1' of the store has no transcript"):
            FeatureCTCData(store, "T0", {"u0": "a"})
        with pytest.raises(StoreError, match="has no layer 'T7'"):
            FeatureCTCData(store, "T7", {"u0": "a", "u1": "b"})
        with pytest.raises(StoreError, match="has no utterance 'zz'"):
            FeatureCTCData(store, "T0", {"u0": "a", "u1": "b"}, utterance_ids=["zz"])
    writer = FeatureStore.create(tmp_path / "p.h5", attrs={**ATTRS, "span": "phone"}, layer_dims={"T0": 2})
    writer.append("u0", {"T0": np.zeros((1, 2))}, segments=[("aa", 0.0, 0.1)])
    with FeatureStore.open(writer.finish()) as store:
        with pytest.raises(StoreError, match="is a phone-span store; CTC training reads frame-span features"):
            FeatureCTCData(store, "T0", {"u0": "a"})


def test_waveform_data_reads_16k_audio_with_header_lengths(tmp_path):
    written = make_folder_corpus(tmp_path / "c", splits=("train", "dev"), per_split=4)
    data = WaveformCTCData(tmp_path / "c", "train", preload=True)
    utts = written["train"]
    assert data.utt_ids == [u.utt_id for u in utts] and data.frame_rate_hz == 16000.0
    assert data.lengths == [len(u.waveform) for u in utts]
    inputs, targets, text, utt_id = data.item(2)
    assert inputs.dtype == np.float32 and inputs.shape == (len(utts[2].waveform),)
    np.testing.assert_allclose(inputs, utts[2].waveform, atol=1e-4)  # 16-bit WAV round trip
    assert text == " ".join(w.label for w in utts[2].alignment.words) and targets.tolist() == VOCAB.encode(text).tolist()
    assert data.item(2)[0] is inputs  # preloaded: read once
    batches = list(data.batches(0, max_batch_frames=10**6, seed=0))
    assert sum(len(b) for b in batches) == 4 and all(b.inputs.ndim == 2 for b in batches)
    longest = max(data.lengths)
    short = WaveformCTCData(tmp_path / "c", "train", max_seconds=(longest - 1) / 16000)
    assert len(short) == sum(n < longest for n in data.lengths)
    subset = tmp_path / "subset.txt"
    subset.write_text(f"{utts[1].utt_id}\n")
    assert WaveformCTCData(tmp_path / "c", "train", file_list=subset).utt_ids == [utts[1].utt_id]
