"""Forced alignment with PocketSphinx on real recordings (the TIMIT sample and five LibriVox clips).

Boundaries are checked against TIMIT's hand-made word boundaries; the LibriVox clips check that a
whole folder aligns and reads back; small corpora built from the clips check the OOV policies,
missing audio and failures.
"""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from layerprobe.data.align import (
    REPORT_NAME,
    AlignmentFailedError,
    ForcedAligner,
    OutOfVocabularyError,
    align_corpus,
    normalize_transcript,
    read_transcript_file,
    read_transcripts,
)
from layerprobe.data.labels import ARPABET39
from layerprobe.errors import ConfigError, DependencyError, LayerprobeError
from layerprobe.io.alignments import read_textgrid, read_timit
from layerprobe.io.audio import SAMPLE_RATE, audio_duration, load_audio, write_audio

pytestmark = pytest.mark.shared

CLIP = "sense_and_sensibility_01_austen_64kb-{}.wav"
#: Transcript of clip 0880, whose last word "man" the OOV tests replace by a made-up word.
CLIP_0880_WORDS = "he was not an ill disposed young man"
#: PocketSphinx's phone HMMs have 3 states and no skips, so a phone lasts at least 3 frames of 10 ms.
MIN_PHONE_S = 0.03
EPS = 1e-9


@pytest.fixture(scope="module")
def aligner() -> ForcedAligner:
    return ForcedAligner(oov="skip")


def make_corpus(directory: Path, librivox_dir: Path, clips: dict[str, str], transcripts: dict[str, str]) -> Path:
    """A folder with LibriVox clips under new ids (``{utt_id: clip number}``) and a transcripts file."""
    directory.mkdir(parents=True, exist_ok=True)
    for utt_id, clip in clips.items():
        shutil.copyfile(librivox_dir / CLIP.format(clip), directory / f"{utt_id}.wav")
    lines = "".join(f"{utt_id} {text}\n" for utt_id, text in transcripts.items())
    (directory / "transcripts.txt").write_text(lines, encoding="utf-8")
    return directory / "transcripts.txt"


def read_report(out_dir: Path) -> dict:
    return json.loads((out_dir / REPORT_NAME).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------------
# TIMIT: boundaries against hand labels


def test_timit_word_boundaries_match_the_hand_alignment(aligner, timit_sample):
    waveform = load_audio(timit_sample / "LDC93S1.wav")
    duration = waveform.size / SAMPLE_RATE
    words = normalize_transcript(read_transcript_file(timit_sample / "LDC93S1.txt"))
    reference = read_timit(timit_sample / "LDC93S1.phn", timit_sample / "LDC93S1.wrd", duration=duration)

    alignment = aligner.align(waveform, words, utt_id="LDC93S1")

    assert [w.label for w in alignment.words] == [w.label for w in reference.words] == words
    starts = np.array([[h.start, r.start] for h, r in zip(alignment.words, reference.words)])
    ends = np.array([[h.end, r.end] for h, r in zip(alignment.words, reference.words)])
    start_errors = np.abs(starts[:, 0] - starts[:, 1])
    end_errors = np.abs(ends[:, 0] - ends[:, 1])
    # Measured: mean 26 ms over the 22 boundaries, 46 ms at most inside the utterance (the start of
    # "your", which TIMIT overlaps with "had" and PocketSphinx cannot).  The final "year" runs on
    # through the 138 ms of trailing silence to the last frame (123 ms late): PocketSphinx puts
    # no silence after the last word here.  Thresholds leave ~50 % headroom over these values,
    # still well under the 60-100 ms of a phone, so a shifted or misordered alignment fails.
    assert np.mean(np.concatenate([start_errors, end_errors])) < 0.040
    assert np.max(np.concatenate([start_errors, end_errors[:-1]])) < 0.060
    assert end_errors[-1] < 0.150
    assert alignment.words[-1].end <= duration


def test_timit_phones_are_arpabet_inside_their_words(aligner, timit_sample):
    waveform = load_audio(timit_sample / "LDC93S1.wav")
    alignment = aligner.align(waveform, "she had your dark suit".split() + ["in"], utt_id="part")
    assert [p.label for p in alignment.phones_in(alignment.words[0])] == ["SH", "IY"]
    assert [p.label for p in alignment.phones_in(alignment.words[3])] == ["D", "AA", "R", "K"]
    assert all(p.label in ARPABET39 for p in alignment.phones)
    assert alignment.utt_id == "part" and alignment.duration == waveform.size / SAMPLE_RATE


def test_align_refuses_bad_arguments_before_decoding(aligner):
    waveform = np.zeros(SAMPLE_RATE, dtype=np.float32)
    with pytest.raises(ConfigError, match="not one string"):
        aligner.align(waveform, "she had", utt_id="u")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="has no words"):
        aligner.align(waveform, [], utt_id="u")
    with pytest.raises(LayerprobeError, match="utterance 'u': expected a non-empty 1-d float waveform"):
        aligner.align(np.zeros((2, 100), dtype=np.float32), ["she"], utt_id="u")


def test_align_raises_for_oov_words_under_skip_and_for_text_that_does_not_fit(aligner, timit_sample):
    waveform = load_audio(timit_sample / "LDC93S1.wav")
    expected = "utterance 'u': 1 word not in the pronunciation dictionary: zorblax"
    with pytest.raises(OutOfVocabularyError, match=expected) as info:
        aligner.align(waveform, ["she", "zorblax"], utt_id="u")
    assert info.value.words == ("zorblax",)
    with pytest.raises(AlignmentFailedError, match="utterance 'v': PocketSphinx cannot align"):
        aligner.align(waveform[:4000], "she had your dark suit in greasy wash water all year".split() * 3, utt_id="v")
    # The decoder is still usable after a failure.
    assert len(aligner.align(waveform, ["she", "had"], utt_id="w").words) == 2


# --------------------------------------------------------------------------------------------------
# The five LibriVox clips


@pytest.fixture(scope="module")
def librivox_aligned(librivox_dir, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("librivox_aligned")
    report = align_corpus(librivox_dir, librivox_dir / "transcripts.txt", out_dir, progress=False)
    return report, out_dir


def test_librivox_all_clips_align_and_are_reported(librivox_aligned, librivox_dir):
    report, out_dir = librivox_aligned
    ids = list(read_transcripts(librivox_dir / "transcripts.txt"))
    assert report.aligned == ids and not report.skipped and not report.failed
    assert report.summary().startswith("aligned 5 of 5 utterances (details in ")
    data = read_report(out_dir)
    assert data["counts"] == {
        "utterances": 5, "aligned": 5, "skipped": 0, "failed": 0, "missing_audio": 0, "oov_words": 0, "g2p_words": 0,
    }  # fmt: skip
    assert sorted(data["utterances"]) == sorted(ids)
    assert data["utterances"][ids[1]]["n_words"] == len(CLIP_0880_WORDS.split())
    text = (out_dir / REPORT_NAME).read_text(encoding="utf-8")
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_librivox_textgrids_read_back_with_plausible_intervals(librivox_aligned, librivox_dir):
    report, out_dir = librivox_aligned
    transcripts = read_transcripts(librivox_dir / "transcripts.txt")
    for utt_id, text in transcripts.items():
        duration = audio_duration(librivox_dir / f"{utt_id}.wav")
        alignment = read_textgrid(out_dir / f"{utt_id}.TextGrid", duration=duration)
        words, phones = alignment.words, alignment.phones
        assert [w.label for w in words] == normalize_transcript(text)
        assert all(p.label in ARPABET39 for p in phones)
        assert all(0 <= p.start < p.end <= duration for p in phones)
        assert all(a.end <= b.start + EPS for a, b in zip(words, words[1:]))  # words in order, no overlap
        for phone in phones:
            assert any(w.start - EPS <= phone.start and phone.end <= w.end + EPS for w in words), phone
        for word in words:
            inside = alignment.phones_in(word)
            assert inside and word.duration >= MIN_PHONE_S * len(inside) - EPS, word
        assert min(p.duration for p in phones) >= MIN_PHONE_S - EPS
        assert max(w.duration for w in words) < 1.2  # no word swallows a pause of a second
        # The speech fills the clip: LibriVox clips are cut at pauses of a few hundred ms.
        assert words[0].start < 0.5 and words[-1].end > duration - 0.5
        assert report.utterances[list(transcripts).index(utt_id)].n_phones == len(phones)


def test_librivox_known_pronunciation(librivox_aligned):
    _, out_dir = librivox_aligned
    alignment = read_textgrid(out_dir / "sense_and_sensibility_01_austen_64kb-0870.TextGrid")
    dashwood = next(w for w in alignment.words if w.label == "dashwood")
    assert [p.label for p in alignment.phones_in(dashwood)] == ["D", "AE", "SH", "W", "UH", "D"]


def test_align_corpus_is_deterministic(librivox_dir, tmp_path):
    transcripts = make_corpus(tmp_path / "audio", librivox_dir, {"u1": "0880"}, {"u1": CLIP_0880_WORDS})
    outputs = [tmp_path / "first", tmp_path / "second"]
    for out_dir in outputs:
        align_corpus(tmp_path / "audio", transcripts, out_dir, progress=False)
    for name in ("u1.TextGrid", REPORT_NAME):
        assert (outputs[0] / name).read_bytes() == (outputs[1] / name).read_bytes()


# --------------------------------------------------------------------------------------------------
# Out-of-dictionary words


@pytest.fixture
def oov_corpus(librivox_dir, tmp_path) -> tuple[Path, Path]:
    """u1: clip 0880 with "man" replaced by the made-up "zorblax"; u2: clip 0930 as spoken."""
    transcripts = make_corpus(
        tmp_path / "audio",
        librivox_dir,
        {"u1": "0880", "u2": "0930"},
        {"u1": CLIP_0880_WORDS.replace("man", "Zorblax."), "u2": "he might even have been made amiable himself"},
    )
    return tmp_path / "audio", transcripts


def test_oov_skip_reports_the_word_and_writes_no_textgrid(oov_corpus, tmp_path):
    audio_dir, transcripts = oov_corpus
    report = align_corpus(audio_dir, transcripts, tmp_path / "out", oov="skip", progress=False)
    assert report.aligned == ["u2"] and report.skipped == ["u1"]
    assert report.unaligned_oov_words == ["zorblax"] and report.g2p_words == []
    assert not (tmp_path / "out" / "u1.TextGrid").exists() and (tmp_path / "out" / "u2.TextGrid").is_file()
    entry = read_report(tmp_path / "out")["utterances"]["u1"]
    assert entry["status"] == "skipped" and entry["oov"] == {"zorblax": "skipped"}
    assert entry["reason"] == "1 word not in the dictionary: zorblax" and entry["textgrid"] is None
    assert "1 word not in the dictionary (zorblax) left unaligned" in report.summary()


def test_oov_error_names_the_word_before_aligning_anything(oov_corpus, tmp_path):
    audio_dir, transcripts = oov_corpus
    with pytest.raises(OutOfVocabularyError) as info:
        align_corpus(audio_dir, transcripts, tmp_path / "out", oov="error", progress=False)
    assert isinstance(info.value, LayerprobeError) and info.value.words == ("zorblax",)
    assert str(info.value).startswith(f"{transcripts}: 1 word not in the pronunciation dictionary: zorblax (u1);")
    assert not (tmp_path / "out").exists()


def test_user_dictionary_supplies_the_missing_word(oov_corpus, tmp_path, librivox_dir):
    audio_dir, transcripts = oov_corpus
    dictionary = tmp_path / "extra.dict"
    dictionary.write_text(";;; made-up, pronounced as the 'man' it replaces\nZORBLAX  M AE1 N\n", encoding="utf-8")
    report = align_corpus(audio_dir, transcripts, tmp_path / "out", oov="error", dictionary=dictionary, progress=False)
    assert report.aligned == ["u1", "u2"] and report.oov_words == []
    with_dictionary = read_textgrid(tmp_path / "out" / "u1.TextGrid")
    zorblax = with_dictionary.words[-1]
    assert zorblax.label == "zorblax"
    assert [p.label for p in with_dictionary.phones_in(zorblax)] == ["M", "AE", "N"]
    # Same phones as the real word, so the same boundaries as aligning "man".
    as_spoken = ForcedAligner(oov="error").align(
        load_audio(librivox_dir / CLIP.format("0880")), CLIP_0880_WORDS.split(), utt_id="u1"
    )
    assert (zorblax.start, zorblax.end) == pytest.approx((as_spoken.words[-1].start, as_spoken.words[-1].end))


def test_oov_g2p_plumbing_with_a_stand_in_for_espeak(oov_corpus, tmp_path, monkeypatch):
    def arpabet_pronunciation(word: str) -> list[str]:
        if word == "zorblax":
            return ["M", "AE", "N"]
        raise ConfigError(f"no phoneme for {word!r}")

    stand_in = types.ModuleType("layerprobe.data.espeak")
    stand_in.arpabet_pronunciation = arpabet_pronunciation  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "layerprobe.data.espeak", stand_in)
    audio_dir, transcripts = oov_corpus
    with transcripts.open("a", encoding="utf-8") as handle:
        handle.write("u3 he might even have been made xyzzy himself\n")
    shutil.copyfile(audio_dir / "u2.wav", audio_dir / "u3.wav")

    report = align_corpus(audio_dir, transcripts, tmp_path / "out", progress=False)  # default policy: g2p

    assert report.aligned == ["u1", "u2"] and report.skipped == ["u3"]
    assert report.g2p_words == ["zorblax"] and report.unaligned_oov_words == ["xyzzy"]
    assert report.pronunciations == {"zorblax": ("M", "AE", "N")}
    data = read_report(tmp_path / "out")
    assert data["oov_words"]["zorblax"] == {"pronunciation": "M AE N", "utterances": ["u1"]}
    assert data["utterances"]["u1"]["oov"] == {"zorblax": "g2p"}
    assert data["utterances"]["u3"]["oov"] == {"xyzzy": "no pronunciation"}
    assert "eSpeak NG gives no ARPAbet pronunciation for xyzzy" in data["utterances"]["u3"]["reason"]
    assert report.summary().startswith(
        "aligned 2 of 3 utterances; 1 word not in the dictionary (zorblax) pronounced by eSpeak NG; "
        "1 word not in the dictionary (xyzzy) left unaligned; 1 skipped"
    )


def test_oov_g2p_with_espeak(librivox_dir, tmp_path):
    espeak = pytest.importorskip("layerprobe.data.espeak")
    if not hasattr(espeak, "arpabet_pronunciation"):
        pytest.skip("layerprobe.data.espeak has no arpabet_pronunciation yet")
    try:
        expected = espeak.arpabet_pronunciation("dispozed")
    except DependencyError as exc:
        pytest.skip(f"eSpeak NG is not available ({exc})")
    # A misspelling the CMU dictionary lacks, which eSpeak pronounces as the word that is spoken.
    transcripts = make_corpus(
        tmp_path / "audio", librivox_dir, {"u1": "0880"}, {"u1": CLIP_0880_WORDS.replace("disposed", "dispozed")}
    )
    report = align_corpus(tmp_path / "audio", transcripts, tmp_path / "out", oov="g2p", progress=False)
    assert report.aligned == ["u1"] and report.g2p_words == ["dispozed"]
    alignment = read_textgrid(tmp_path / "out" / "u1.TextGrid")
    word = next(w for w in alignment.words if w.label == "dispozed")
    assert [p.label for p in alignment.phones_in(word)] == list(expected)
    assert read_report(tmp_path / "out")["oov_words"]["dispozed"]["pronunciation"] == " ".join(expected)
    assert "1 word not in the dictionary (dispozed) pronounced by eSpeak NG" in report.summary()


# --------------------------------------------------------------------------------------------------
# Missing audio, failures, transcripts beside the audio


def test_missing_audio_unreadable_audio_and_wrong_text_are_reported(librivox_dir, tmp_path):
    transcripts = make_corpus(
        tmp_path / "audio",
        librivox_dir,
        {"good": "0880", "wrong": "0930"},
        {
            "good": CLIP_0880_WORDS,
            "wrong": "the quick brown fox jumps over the lazy dog again and again and again",
            "ghost": "nobody recorded this",
            "broken": "he was not",
        },
    )
    (tmp_path / "audio" / "broken.flac").write_bytes(b"not audio at all")
    # PocketSphinx does not check that a transcript matches the speech: with the aligner's wide
    # beams a wrong transcript that fits gets aligned.  One that cannot fit in the audio fails:
    # 14 words (~40 phones of at least 3 frames) do not fit in 0.25 s (25 frames).
    write_audio(tmp_path / "audio" / "wrong.wav", load_audio(librivox_dir / CLIP.format("0930"))[:4000])

    report = align_corpus(tmp_path / "audio", transcripts, tmp_path / "out", progress=False)

    assert report.aligned == ["good"] and report.failed == ["wrong", "broken"] and report.missing_audio == ["ghost"]
    utterances = read_report(tmp_path / "out")["utterances"]
    assert utterances["ghost"]["status"] == "skipped"
    assert utterances["ghost"]["reason"] == "no audio file (ghost.wav or ghost.flac)"
    assert utterances["wrong"]["reason"].startswith("PocketSphinx cannot align the transcript to the audio")
    assert utterances["broken"]["reason"].startswith(f"{tmp_path / 'audio' / 'broken.flac'}: cannot read audio")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [REPORT_NAME, "good.TextGrid"]
    assert report.summary().startswith("aligned 1 of 4 utterances; 1 without audio; 2 failed")


def test_transcripts_beside_the_audio(timit_sample, librivox_dir, tmp_path):
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    shutil.copyfile(timit_sample / "LDC93S1.wav", audio_dir / "LDC93S1.wav")
    shutil.copyfile(timit_sample / "LDC93S1.txt", audio_dir / "LDC93S1.txt")  # "0 46797 She had ..."
    write_audio(audio_dir / "clip.flac", load_audio(librivox_dir / CLIP.format("0880")))
    (audio_dir / "clip.txt").write_text(f"{CLIP_0880_WORDS} 42\n", encoding="utf-8")
    write_audio(audio_dir / "untranscribed.wav", np.zeros(SAMPLE_RATE, dtype=np.float32))

    report = align_corpus(audio_dir, None, tmp_path / "out", progress=False)

    assert report.aligned == ["LDC93S1", "clip"] and report.skipped == ["untranscribed"]
    timit = read_textgrid(tmp_path / "out" / "LDC93S1.TextGrid")
    assert [w.label for w in timit.words] == "she had your dark suit in greasy wash water all year".split()
    utterances = read_report(tmp_path / "out")["utterances"]
    assert utterances["clip"]["audio"] == "clip.flac" and utterances["LDC93S1"]["warnings"] == []
    assert utterances["clip"]["warnings"] == ["left out '42': write numbers as words to align them"]
    assert utterances["untranscribed"]["reason"] == "no transcript file (untranscribed.txt)"


def test_align_corpus_input_errors(tmp_path):
    with pytest.raises(LayerprobeError, match="audio folder does not exist"):
        align_corpus(tmp_path / "absent", None, tmp_path / "out", progress=False)
    with pytest.raises(LayerprobeError, match="holds no audio files"):
        align_corpus(tmp_path, None, tmp_path / "out", progress=False)
    (tmp_path / "t.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(LayerprobeError, match=r"t\.txt: transcripts file holds no utterances"):
        align_corpus(tmp_path, tmp_path / "t.txt", tmp_path / "out", progress=False)
