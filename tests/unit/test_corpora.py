"""Corpus readers: layouts, splits, lazy iteration, alignments, and errors."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from layerprobe.data.corpora import (
    FolderCorpus,
    LibriSpeechCorpus,
    TimitCorpus,
    detect_format,
    open_corpus,
    summarize_split,
)
from layerprobe.errors import ConfigError, CorpusError
from layerprobe.io.audio import SAMPLE_RATE, write_audio
from support.corpora import make_folder_corpus, make_librispeech_corpus, make_timit_corpus


def test_folder_corpus(tmp_path):
    written = make_folder_corpus(tmp_path / "c", splits=("train", "dev"), per_split=4)
    corpus = open_corpus(tmp_path / "c")
    assert isinstance(corpus, FolderCorpus) and corpus.name == "c"
    assert corpus.splits() == ["dev", "train"]
    utterances = corpus.utterances("train")
    assert isinstance(utterances, types.GeneratorType)  # lazy: nothing read up front
    utterances = list(utterances)
    assert [u.utt_id for u in utterances] == [u.utt_id for u in written["train"]]
    first = utterances[0]
    assert first.transcript == " ".join(w.label for w in written["train"][0].alignment.words)
    np.testing.assert_allclose(first.load_audio(), written["train"][0].waveform, atol=1 / 32768)
    assert first.load_alignment() == written["train"][0].alignment


def test_folder_with_audio_at_the_root_is_one_split(tmp_path):
    make_folder_corpus(tmp_path, splits=("a",), per_split=2)
    write_audio(tmp_path / "top.wav", np.zeros(1600, dtype=np.float32))
    corpus = open_corpus(tmp_path, format="folder")
    assert corpus.splits() == ["all"]
    ids = [u.utt_id for u in corpus.utterances("all")]
    assert ids == ["top", "a-000", "a-001"]  # files of a directory before its subdirectories
    assert [u.alignment_path is not None for u in corpus.utterances("all")] == [False, True, True]


def test_folder_duplicate_ids_are_an_error(tmp_path):
    for sub in ("x", "y"):
        (tmp_path / "s" / sub).mkdir(parents=True)
        write_audio(tmp_path / "s" / sub / "same.wav", np.zeros(160, dtype=np.float32))
    with pytest.raises(CorpusError, match="two audio files share the utterance id 'same'"):
        list(open_corpus(tmp_path).utterances("s"))


def test_librispeech_corpus_with_alignments(tmp_path):
    written = make_librispeech_corpus(tmp_path / "LibriSpeech", tmp_path / "ali", splits=("dev-clean", "train-clean-100"))
    assert detect_format(tmp_path / "LibriSpeech") == "librispeech"
    corpus = open_corpus(tmp_path / "LibriSpeech", alignments=tmp_path / "ali")
    assert isinstance(corpus, LibriSpeechCorpus)
    assert corpus.splits() == ["dev-clean", "train-clean-100"]
    utterances = list(corpus.utterances("dev-clean"))
    assert [u.utt_id for u in utterances] == [u.utt_id for u in written["dev-clean"]]
    first = utterances[0]
    assert first.speaker == "19" and first.audio_path.suffix == ".flac"
    assert first.transcript == " ".join(w.label.upper() for w in written["dev-clean"][0].alignment.words)
    alignment = first.load_alignment()
    assert alignment.phones[0].label == "sil"
    assert [w.label for w in alignment.words] == [w.label for w in written["dev-clean"][0].alignment.words]


def test_librispeech_split_directory_given_directly(tmp_path):
    make_librispeech_corpus(tmp_path / "LibriSpeech", None)
    corpus = open_corpus(tmp_path / "LibriSpeech" / "dev-clean")
    assert corpus.format == "librispeech" and corpus.splits() == ["dev-clean"]
    assert len(list(corpus.utterances("dev-clean"))) == 6
    assert all(u.alignment_path is None for u in corpus.utterances("dev-clean"))


def test_librispeech_without_alignments_cannot_load_one(tmp_path):
    make_librispeech_corpus(tmp_path / "LS", None)
    utt = next(open_corpus(tmp_path / "LS").utterances("dev-clean"))
    with pytest.raises(CorpusError, match="has no alignment"):
        utt.load_alignment()


def test_librispeech_transcript_without_audio(tmp_path):
    make_librispeech_corpus(tmp_path / "LS", None)
    (tmp_path / "LS" / "dev-clean" / "19" / "198" / "19-198-0000.flac").unlink()
    with pytest.raises(CorpusError, match="transcript names '19-198-0000' but there is no 19-198-0000.flac"):
        list(open_corpus(tmp_path / "LS").utterances("dev-clean"))


def test_timit_corpus_upper_case_layout(tmp_path):
    written = make_timit_corpus(tmp_path / "TIMIT")
    corpus = open_corpus(tmp_path / "TIMIT")
    assert isinstance(corpus, TimitCorpus)
    assert corpus.splits() == ["test", "train"]
    utterances = list(corpus.utterances("train"))
    assert [u.utt_id for u in utterances] == [u.utt_id for u in written["train"]]
    assert utterances[0].speaker == "FCJF0"
    assert utterances[0].transcript == " ".join(w.label for w in written["train"][0].alignment.words) + "."
    alignment = utterances[0].load_alignment()
    assert [p.label for p in alignment.phones] == [p.label.lower() for p in written["train"][0].alignment.phones]
    assert alignment.words == written["train"][0].alignment.words


@pytest.mark.shared
def test_timit_sample_folder_is_one_split(timit_sample: Path):
    corpus = open_corpus(timit_sample)
    assert corpus.format == "timit" and corpus.splits() == ["all"]
    (utt,) = corpus.utterances("all")
    assert utt.utt_id == "LDC93S1"
    assert utt.transcript == "She had your dark suit in greasy wash water all year."
    assert utt.duration() == pytest.approx(46797 / SAMPLE_RATE, abs=1e-3)
    assert utt.load_alignment().words[-1].label == "year"


def test_unknown_split_and_format(tmp_path):
    make_folder_corpus(tmp_path / "c", splits=("train",), per_split=1)
    corpus = open_corpus(tmp_path / "c")
    with pytest.raises(ConfigError, match=r"has no split 'dev' \(splits: train\)"):
        corpus.utterances("dev")
    with pytest.raises(ConfigError, match="unknown corpus format 'kaldi'"):
        open_corpus(tmp_path / "c", format="kaldi")
    with pytest.raises(ConfigError, match="--alignments is for LibriSpeech"):
        open_corpus(tmp_path / "c", alignments=tmp_path)


def test_directory_without_audio(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(CorpusError, match="holds no audio files"):
        open_corpus(tmp_path)
    with pytest.raises(CorpusError, match="no such corpus directory"):
        open_corpus(tmp_path / "missing")


def test_summarize_split(tmp_path):
    written = make_folder_corpus(tmp_path / "c", splits=("train",), per_split=3)
    summary = summarize_split(open_corpus(tmp_path / "c"), "train", progress=False)
    assert summary.n_utterances == 3 and summary.n_aligned == 3 and summary.n_transcribed == 3
    assert summary.seconds == pytest.approx(sum(len(u.waveform) for u in written["train"]) / SAMPLE_RATE)
