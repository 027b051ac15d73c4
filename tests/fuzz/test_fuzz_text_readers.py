"""Fuzzing the text readers: data-sample manifests, label lists, transcripts, pronunciation dictionaries
and word-similarity benchmarks.

Each reader either refuses a file with its LayerprobeError subclass, one line naming the file, or
returns a value that keeps the reader's promises (checked here).
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.data.align import read_pronunciations, read_transcript_file, read_transcripts
from layerprobe.data.labels import ARPABET39
from layerprobe.data.samples import SPANS, SampleManifest, read_label_list, read_manifest
from layerprobe.errors import ConfigError, CorpusError, SampleError
from support.fuzz import (
    dump_json,
    fuzz,
    json_mutation,
    json_values,
    junk_text,
    mutated_bytes,
    mutated_lines,
    number_text,
    refuses,
    word_text,
)


def _write(tmp_path_factory, name: str, content: str | bytes):
    path = tmp_path_factory.mktemp("text") / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    return path


# --------------------------------------------------------------------------------------------------
# data-sample manifests


@pytest.fixture(scope="module")
def manifest_texts(tmp_path_factory):
    """The JSON text of a phone and a frame manifest drawn from a miniature corpus."""
    from layerprobe.data.corpora import open_corpus
    from layerprobe.data.samples import SamplingRule, draw_sample
    from support.corpora import make_folder_corpus

    root = tmp_path_factory.mktemp("manifests")
    make_folder_corpus(root / "mini", splits=("train",), per_split=2)
    corpus = open_corpus(root / "mini")
    phone = draw_sample(corpus, "train", span="phone", rule=SamplingRule.default("phone", "train", min_per_label=1, max_per_label=2), progress=False)
    frame = draw_sample(corpus, "train", span="frame", progress=False)
    return {"phone": phone.to_json_text(), "frame": frame.to_json_text()}


def check_manifest(manifest: SampleManifest) -> None:
    """What extraction relies on in a manifest it was given."""
    assert isinstance(manifest, SampleManifest)
    assert manifest.span in SPANS and manifest.rule.span == manifest.span
    assert isinstance(manifest.sample, int) and manifest.sample >= 0 and isinstance(manifest.seed, int) and manifest.seed >= 0
    for key in ("name", "format", "root"):
        assert isinstance(manifest.corpus[key], str)
    ids = [u.utt_id for u in manifest.utterances]
    assert len(set(ids)) == len(ids), "repeated utterance ids"
    for utt in manifest.utterances:
        assert utt.utt_id and isinstance(utt.audio, str) and utt.audio
        assert math.isfinite(utt.duration_s) and utt.duration_s > 0, utt.duration_s
        assert isinstance(utt.subset, int) and utt.subset >= 0
        if manifest.span == "frame":
            assert not utt.segments
        for segment in utt.segments:
            assert math.isfinite(segment.start) and math.isfinite(segment.end) and 0 <= segment.start < segment.end
            assert segment.label
    manifest.to_json_text()  # what stores hash (content_hash) must work


@fuzz()
@given(data=st.data(), span=st.sampled_from(["phone", "frame"]))
@example(data=None, span="subset:1e999")  # int(inf): OverflowError escaped read_manifest
@example(data=None, span="duration:1e999")
@example(data=None, span="deep")  # 10^5 nested lists: json's RecursionError escaped read_manifest
def test_mutated_manifests(manifest_texts, tmp_path_factory, data, span):
    if span == "subset:1e999":
        text = manifest_texts["frame"].replace('"subset":0', '"subset":1e999', 1)
    elif span == "duration:1e999":
        text = manifest_texts["frame"].replace('"duration_s":', '"duration_s":1e999,"x":', 1)
    elif span == "deep":
        text = "[" * 100_000 + "]" * 100_000
    else:
        document = json.loads(manifest_texts[span])
        text = dump_json(data.draw(json_mutation(document)))
    path = _write(tmp_path_factory, "train_phone_sample1.json", text)
    result = refuses("data-sample manifest (JSON mutations)", read_manifest, path, names=path, error=SampleError, may_accept=True)
    if not isinstance(result, SampleError):
        check_manifest(result)


@fuzz()
@given(data=st.data(), span=st.sampled_from(["phone", "frame"]))
def test_damaged_manifest_text(manifest_texts, tmp_path_factory, data, span):
    raw = manifest_texts[span].encode("utf-8")
    path = _write(tmp_path_factory, "train_frame_sample1.json", data.draw(st.one_of(mutated_bytes(raw), st.binary(max_size=64))))
    result = refuses("data-sample manifest (damaged bytes)", read_manifest, path, names=path, error=SampleError, may_accept=True)
    if not isinstance(result, SampleError):
        check_manifest(result)


@fuzz()
@given(content=st.one_of(st.lists(word_text, max_size=5).map("\n".join), st.binary(max_size=32)), suffix=st.sampled_from([".txt", ".json", ""]))
def test_label_lists(tmp_path_factory, content, suffix):
    path = _write(tmp_path_factory, f"labels{suffix}", content)
    result = refuses("label list (read_label_list)", read_label_list, path, names=path, error=(ConfigError, SampleError), may_accept=True)
    if not isinstance(result, (ConfigError, SampleError)):
        assert result and all(isinstance(label, str) and label and label == label.strip() for label in result)


# --------------------------------------------------------------------------------------------------
# transcripts and pronunciations (forced alignment)

TRANSCRIPTS = "clip-01 She had your dark suit\nclip-02 in greasy wash water\n\nclip-03 all year\n"
transcript_lines = st.lists(st.builds(lambda a, sep, b: f"{a}{sep}{b}", word_text, st.sampled_from([" ", "\t", "", "  "]), junk_text), max_size=5)


@fuzz()
@given(content=st.one_of(mutated_lines(TRANSCRIPTS), transcript_lines.map("\n".join), mutated_bytes(TRANSCRIPTS.encode())))
@example(content=b"\xff\xfeclip 1")
@example(content="clip-01 a\nclip-01 b\n")
@example(content="../x hello\n")
def test_transcripts_files(tmp_path_factory, content):
    path = _write(tmp_path_factory, "transcripts.txt", content)
    result = refuses("transcripts file (read_transcripts)", read_transcripts, path, names=path, error=CorpusError, may_accept=True)
    if not isinstance(result, CorpusError):
        for utt_id, text in result.items():
            assert utt_id and "/" not in utt_id and utt_id not in (".", "..") and text.strip() == text and text


@fuzz()
@given(content=st.one_of(junk_text, st.binary(max_size=32), mutated_lines("0 46797 She had your dark suit.\n")))
def test_single_transcript_files(tmp_path_factory, content):
    path = _write(tmp_path_factory, "clip.txt", content)
    result = refuses("transcript beside the audio (read_transcript_file)", read_transcript_file, path, names=path, error=CorpusError, may_accept=True)
    if not isinstance(result, CorpusError):
        assert isinstance(result, str) and result.strip()


DICTIONARY = ";;; comment\nQUOKKA  K W AA1 K AH0\nQUOKKA(2)  K W OW1 K AH0\nZYZZYVA  Z IH1 Z IH0 V AH0\n"


@fuzz()
@given(content=st.one_of(mutated_lines(DICTIONARY), mutated_bytes(DICTIONARY.encode()),
                         st.lists(st.lists(st.one_of(word_text, st.sampled_from(["AH0", "K", "(2)", "AA3"])), max_size=4).map(" ".join), max_size=4).map("\n".join)))  # fmt: skip
def test_pronunciation_dictionaries(tmp_path_factory, content):
    path = _write(tmp_path_factory, "extra.dict", content)
    result = refuses("pronunciation dictionary (read_pronunciations)", read_pronunciations, path, names=path, error=CorpusError, may_accept=True)
    if not isinstance(result, CorpusError):
        for word, variants in result.items():
            assert word == word.lower() and variants
            assert all(phones and set(phones) <= set(ARPABET39) for phones in variants)


# --------------------------------------------------------------------------------------------------
# word-similarity benchmarks

BENCHMARK = "# pairs\nWord 1,Word 2,Human (mean)\ntiger,cat,7.35\nbook,paper,7.46\ncomputer,keyboard,7.62\n"


@fuzz()
@given(content=st.one_of(mutated_lines(BENCHMARK), mutated_bytes(BENCHMARK.encode()),
                         st.lists(st.builds(lambda a, b, c, sep: sep.join([a, b, c]), word_text, word_text, number_text,
                                            st.sampled_from(["\t", ",", " "])), max_size=4).map("\n".join)),
       suffix=st.sampled_from([".tsv", ".csv", ".txt"]))  # fmt: skip
@example(content="a\tb\t1e999\nc\td\t2\n", suffix=".tsv")  # the number pattern took 1e999 (inf) as a score
def test_wordsim_benchmarks(tmp_path_factory, content, suffix):
    from layerprobe.analysis.wordsim import read_benchmark

    path = _write(tmp_path_factory, f"pairs{suffix}", content)
    result = refuses("word-similarity benchmark (read_benchmark)", read_benchmark, path, names=path, error=ConfigError, may_accept=True)
    if not isinstance(result, ConfigError):
        assert result
        for first, second, score in result:
            assert first and second and isinstance(score, float) and math.isfinite(score)


@fuzz(scale=0.5)
@given(name=st.one_of(junk_text, st.sampled_from(["wordsim353", "SIMLEX999", " simlex999 ", "", ".", "/", "..."])))
def test_benchmark_names(tmp_path_factory, name):
    from layerprobe.analysis.wordsim import load_benchmarks

    if "\x00" in name:
        name = name.replace("\x00", "")  # a NUL cannot come from a command line
    result = refuses("word-similarity benchmark name or path (load_benchmarks)", load_benchmarks, [name], error=ConfigError, may_accept=True)
    if not isinstance(result, ConfigError):
        assert len(result) == 1 and all(b.pairs for b in result.values())


@fuzz(scale=0.3)
@given(values=st.lists(json_values, max_size=3))
def test_manifest_of_junk_json(tmp_path_factory, values):
    path = _write(tmp_path_factory, "junk.json", dump_json(values))
    refuses("data-sample manifest (any JSON)", read_manifest, path, names=path, error=SampleError)
