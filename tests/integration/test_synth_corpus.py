"""The synthesized corpus end to end: files, timings, determinism, splits, atomic writing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from layerprobe.data import synth
from layerprobe.data.espeak import words_of
from layerprobe.data.labels import ARPABET39
from layerprobe.data.synth import DEFAULT_VOICES, split_sizes, synthesize_corpus
from layerprobe.errors import ConfigError
from layerprobe.io.alignments import read_textgrid
from layerprobe.io.audio import audio_duration, load_audio

N = 12


def _files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "corpus"
    synthesize_corpus(out, n=N, seed=0, progress=False)
    return out


@pytest.fixture(scope="module")
def manifest(corpus) -> dict:
    return json.loads((corpus / "corpus.json").read_text(encoding="utf-8"))


def _utterances(corpus: Path) -> list[Path]:
    return sorted(corpus.glob("*/*.wav"))


def test_layout_and_manifest(corpus, manifest):
    assert sorted(p.name for p in corpus.iterdir()) == ["corpus.json", "dev", "test", "train"]
    assert [len(list((corpus / split).glob("*.wav"))) for split in ("train", "dev", "test")] == [10, 1, 1]
    for wav in _utterances(corpus):
        assert wav.with_suffix(".TextGrid").is_file() and wav.with_suffix(".txt").is_file()
    assert manifest["n"] == N and manifest["seed"] == 0 and manifest["espeak_ng_version"].startswith("1.52")
    assert manifest["generator"] == "layerprobe.data.synth" and manifest["voices"] == list(DEFAULT_VOICES)
    records = manifest["utterances"]
    assert sorted(records) == [f"synth-{i:05d}" for i in range(N)]
    for utt_id, record in records.items():
        assert (corpus / record["split"] / f"{utt_id}.wav").is_file()
        assert record["voice"] in DEFAULT_VOICES and 140 <= record["rate"] <= 190 and 35 <= record["pitch"] <= 65
    assert len({record["voice"] for record in records.values()}) >= 6  # voices take turns
    assert manifest == json.loads(json.dumps(manifest, sort_keys=True))


def test_same_seed_gives_byte_identical_files(corpus, tmp_path):
    report = synthesize_corpus(tmp_path / "again", n=N, seed=0, progress=False)
    assert _files(tmp_path / "again") == _files(corpus)
    assert report.counts == {"train": 10, "dev": 1, "test": 1} and report.n_utterances == N
    durations = [audio_duration(wav) for wav in _utterances(corpus)]
    assert report.total_seconds == pytest.approx(sum(durations))
    records = json.loads((corpus / "corpus.json").read_text(encoding="utf-8"))["utterances"].values()
    assert report.n_words == sum(len(words_of(record["text"])) for record in records)


def test_another_seed_gives_another_corpus(corpus, manifest, tmp_path):
    synthesize_corpus(tmp_path / "other", n=N, seed=1, progress=False)
    other = json.loads((tmp_path / "other" / "corpus.json").read_text(encoding="utf-8"))
    texts = {r["text"] for r in manifest["utterances"].values()}
    assert texts != {r["text"] for r in other["utterances"].values()}
    first_wav = Path("train") / "synth-00000.wav"
    assert (tmp_path / "other" / first_wav).read_bytes() != (corpus / first_wav).read_bytes()


def test_phones_lie_inside_their_words_and_the_audio(corpus, manifest):
    for wav in _utterances(corpus):
        duration = audio_duration(wav)
        alignment = read_textgrid(wav.with_suffix(".TextGrid"), duration=duration)
        assert alignment.words and alignment.phones
        assert alignment.words[0].start >= synth.PADDING_SAMPLES / 22050 - 1e-12
        assert alignment.phones[-1].end <= duration
        for phone in alignment.phones:
            assert phone.label in ARPABET39
            assert 0 <= phone.start < phone.end <= duration
            containing = [w for w in alignment.words if w.start <= phone.start and phone.end <= w.end]
            assert len(containing) == 1, (wav.name, phone)
        for word in alignment.words:
            inside = alignment.phones_in(word)
            assert inside and inside[0].start == word.start and inside[-1].end == word.end
        text = manifest["utterances"][wav.stem]["text"]
        assert [w.label for w in alignment.words] == words_of(text)
        assert wav.with_suffix(".txt").read_text(encoding="utf-8") == " ".join(words_of(text)) + "\n"


def test_ipa_tier_has_the_phone_intervals(corpus):
    for wav in _utterances(corpus):
        arpabet = read_textgrid(wav.with_suffix(".TextGrid"))
        ipa = read_textgrid(wav.with_suffix(".TextGrid"), phone_tier="phones_ipa")
        assert [(p.start, p.end) for p in ipa.phones] == [(p.start, p.end) for p in arpabet.phones]
        assert all(not set(p.label) & set("ˈˌ") for p in ipa.phones)
        assert any(not p.label.isascii() for p in ipa.phones)  # IPA, not ARPAbet


def test_audio_is_16k_speech(corpus):
    for wav in _utterances(corpus):
        waveform = load_audio(wav)
        assert waveform.size == round(audio_duration(wav) * 16000)
        assert 0.3 < np.abs(waveform).max() < 1.0
        padding = synth.PADDING_SAMPLES * 16000 // 22050  # silence before the speech (resampling rings a little)
        assert np.abs(waveform[: padding - 200]).max() < 1e-3 < np.abs(waveform[padding : padding + 4000]).max()


def test_splits_have_disjoint_sentences(manifest):
    by_split: dict[str, set[str]] = {}
    for record in manifest["utterances"].values():
        by_split.setdefault(record["split"], set()).add(record["text"])
    assert sum(map(len, by_split.values())) == N
    assert not by_split["train"] & by_split["dev"] and not by_split["train"] & by_split["test"]
    assert not by_split["dev"] & by_split["test"]


def test_split_sizes():
    assert split_sizes(12, synth.DEFAULT_SPLITS) == [("train", 10), ("dev", 1), ("test", 1)]
    assert split_sizes(200, synth.DEFAULT_SPLITS) == [("train", 160), ("dev", 20), ("test", 20)]
    assert split_sizes(3, synth.DEFAULT_SPLITS) == [("train", 1), ("dev", 1), ("test", 1)]
    assert split_sizes(1, synth.DEFAULT_SPLITS) == [("train", 1), ("dev", 0), ("test", 0)]


def test_existing_non_empty_directory_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty") as caught:
        synthesize_corpus(out, n=3, seed=0, progress=False)
    assert str(out) in str(caught.value)
    assert _files(out) == {"notes.txt": b"mine"}
    synthesize_corpus(out, n=3, seed=0, overwrite=True, progress=False)
    assert not (out / "notes.txt").exists() and (out / "corpus.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no staging or retired folder left


def test_an_empty_existing_directory_is_filled(tmp_path):
    (tmp_path / "empty").mkdir()
    report = synthesize_corpus(tmp_path / "empty", n=3, seed=0, progress=False)
    assert report.counts == {"train": 1, "dev": 1, "test": 1}
    assert (tmp_path / "empty" / "corpus.json").is_file()


def test_an_interrupted_run_leaves_no_corpus(tmp_path, monkeypatch):
    rendered = []
    real_render = synth.render_utterance

    def render_then_fail(planned):
        if len(rendered) == 4:
            raise KeyboardInterrupt
        rendered.append(planned.utt_id)
        return real_render(planned)

    monkeypatch.setattr(synth, "render_utterance", render_then_fail)
    with pytest.raises(KeyboardInterrupt):
        synthesize_corpus(tmp_path / "corpus", n=8, seed=0, progress=False)
    assert len(rendered) == 4
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n": 0}, "positive integer"),
        ({"seed": -1}, "non-negative"),
        ({"split_fractions": (("train", 0.5), ("dev", 0.2))}, "add up to 1"),
        ({"split_fractions": (("train", 0.5), ("train", 0.5))}, "more than once"),
        ({"split_fractions": (("a/b", 1.0),)}, "letters, digits"),
        ({"voices": ()}, "no voices"),
        ({"voices": ("en-us", "xx-nowhere")}, "no voice 'xx-nowhere'"),
        ({"rate_range": (190, 140)}, "rate range"),
    ],
)
def test_bad_options_are_config_errors_and_write_nothing(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        synthesize_corpus(tmp_path / "corpus", **{"n": 3, **options}, progress=False)
    assert list(tmp_path.iterdir()) == []
