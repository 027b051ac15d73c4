"""Audio behind data-sample manifests: fingerprints and durations checked at extraction, bad audio refused at sampling."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace

import numpy as np
import pytest
import soundfile

from layerprobe.data.corpora import open_corpus
from layerprobe.data.sample_checks import check_audio
from layerprobe.data.samples import draw_sample, manifest_path, read_manifest, write_manifest
from layerprobe.errors import AudioError, SampleError
from layerprobe.extraction import extract
from layerprobe.io.audio import (
    MIN_SAMPLES,
    audio_fingerprint,
    load_audio,
    probe_audio,
    wav_data_shortfall,
    write_audio,
)
from layerprobe.io.store import FeatureStore
from support.corpora import make_folder_corpus

REMEDY = "restore the sampled audio, or re-run `layerprobe sample ... --overwrite` and extract again"


@pytest.fixture()
def sampled(tmp_path):
    """A 5-utterance folder corpus and its frame-span manifest (written and read back)."""
    root = tmp_path / "corpus"
    make_folder_corpus(root, splits=("train",), per_split=5, seed=4)
    manifest = draw_sample(open_corpus(root), "train", span="frame", progress=False)
    path = write_manifest(manifest, manifest_path(tmp_path / "samples", "corpus", "train", "frame", 1))
    return root, read_manifest(path), path


def _tone(seconds: float, frequency: float = 220.0) -> np.ndarray:
    time = np.arange(int(round(seconds * 16_000))) / 16_000
    return (0.3 * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


def test_manifests_record_each_utterance_duration_and_fingerprint(sampled):
    root, manifest, path = sampled
    rows = json.loads(path.read_text())["utterances"]
    assert [row["fingerprint"] for row in rows] == [audio_fingerprint(root / u.audio) for u in manifest.utterances]
    assert [row["duration_s"] for row in rows] == [soundfile.info(root / u.audio).duration for u in manifest.utterances]
    assert list(rows[0]) == ["id", "audio", "alignment", "duration_s", "fingerprint", "subset", "segments"]
    assert check_audio(manifest) == 0


def test_fingerprint_is_size_and_hash_of_both_ends(tmp_path):
    small, large = tmp_path / "small.bin", tmp_path / "large.bin"
    small.write_bytes(b"abc")
    payload = bytes(range(256)) * 1024  # 256 KiB: more than the two 64 KiB ends
    large.write_bytes(payload)
    assert audio_fingerprint(small) == "3:" + hashlib.blake2b(b"abc", digest_size=16).hexdigest()
    ends = hashlib.blake2b(payload[: 64 * 1024] + payload[-64 * 1024 :], digest_size=16).hexdigest()
    assert audio_fingerprint(large) == f"{len(payload)}:{ends}"
    with pytest.raises(AudioError, match="^.*missing.bin: no such audio file$"):
        audio_fingerprint(tmp_path / "missing.bin")


def test_a_wav_replaced_by_a_longer_one_is_refused_before_extraction(sampled, tmp_path):
    root, manifest, _ = sampled
    utt = manifest.utterances[1]
    write_audio(root / utt.audio, _tone(5.05))
    with pytest.raises(AudioError) as caught:
        extract(manifest, None, tmp_path / "out", rep="mel", progress=False)
    assert str(caught.value) == (
        f"{root / utt.audio}: audio of utterance {utt.utt_id!r} changed since sampling: its duration is 5.050 s, "
        f"the data-sample manifest says {utt.duration_s:.3f} s; {REMEDY}"
    )
    assert not list((tmp_path / "out").rglob("*.h5*"))  # refused before the store was opened


def test_audio_regenerated_with_the_same_length_is_refused_by_its_fingerprint(sampled, tmp_path):
    root, manifest, _ = sampled
    utt = manifest.utterances[0]
    old = utt.fingerprint
    write_audio(root / utt.audio, _tone(utt.duration_s, frequency=330.0))
    new = audio_fingerprint(root / utt.audio)
    assert new != old and new.split(":")[0] == old.split(":")[0]  # same size, other content
    with pytest.raises(AudioError) as caught:
        extract(manifest, None, tmp_path / "out", rep="mel", progress=False)
    assert str(caught.value) == (
        f"{root / utt.audio}: audio of utterance {utt.utt_id!r} changed since sampling: its content differs from the "
        f"data-sample manifest's fingerprint ({new} vs {old}); {REMEDY}"
    )


def test_a_resumed_extraction_refuses_when_an_already_stored_utterance_changed(sampled, tmp_path, monkeypatch):
    root, manifest, _ = sampled
    import layerprobe.extraction as extraction

    calls = {"n": 0}
    real = extraction.load_audio

    def failing_after_two(path):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt  # a run stopped after two utterances (the store stays .partial)
        return real(path)

    monkeypatch.setattr(extraction, "load_audio", failing_after_two)
    extraction.BATCH_WINDOW, window = 1, extraction.BATCH_WINDOW
    try:
        with pytest.raises(KeyboardInterrupt):
            extract(manifest, None, tmp_path / "out", rep="mel", progress=False)
    finally:
        extraction.BATCH_WINDOW = window
    monkeypatch.setattr(extraction, "load_audio", real)
    (partial,) = (tmp_path / "out").rglob("*.h5.partial")
    stored = manifest.utterances[0]
    # the corpus is regenerated (other audio of the same length), then the run is resumed
    write_audio(root / stored.audio, _tone(stored.duration_s, frequency=500.0))
    with pytest.raises(AudioError, match=f"audio of utterance {stored.utt_id!r} changed since sampling: its content"):
        extract(manifest, None, tmp_path / "out", rep="mel", progress=False)
    assert partial.exists() and not list((tmp_path / "out").rglob("*.h5"))
    # restored: the resumed run finishes
    make_folder_corpus(root, splits=("train",), per_split=5, seed=4)
    report = extract(manifest, None, tmp_path / "out", rep="mel", progress=False)
    assert (report.n_skipped, report.n_utterances) == (2, 3)
    with FeatureStore.open(report.path) as store:
        assert list(store.utterance_ids) == [u.utt_id for u in manifest.utterances]


def test_old_manifests_without_fingerprints_stay_readable_and_warn_once(sampled, tmp_path, caplog):
    root, manifest, path = sampled
    data = json.loads(path.read_text())
    for row in data["utterances"]:
        del row["fingerprint"]
    data["summary"] = {}  # hand-written or old: nothing may rely on the summary's counts
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(data))
    old = read_manifest(old_path)
    assert all(u.fingerprint is None for u in old.utterances)
    with caplog.at_level(logging.WARNING, logger="layerprobe"):
        assert check_audio(old) == 5
        assert check_audio(old) == 5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "corpus train frame sample 1 (seed 1): data-sample manifest without audio fingerprints (written by an older "
        "layerprobe): the content of 5 audio files cannot be checked, only their durations; re-run "
        "`layerprobe sample --overwrite` to add them"
    ]
    report = extract(old, None, tmp_path / "out", rep="mel", progress=False)
    assert report.n_utterances == 5
    # durations are still checked
    write_audio(root / old.utterances[2].audio, _tone(3.0))
    with pytest.raises(AudioError, match="its duration is 3.000 s"):
        check_audio(old)


def test_a_manifest_with_a_bad_fingerprint_is_one_line_error(sampled, tmp_path):
    _, _, path = sampled
    data = json.loads(path.read_text())
    data["utterances"][1]["fingerprint"] = "12:xyz"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(SampleError) as caught:
        read_manifest(bad)
    assert str(caught.value) == (
        f"{bad}: not a valid data-sample manifest (ValueError: utterance 2: fingerprint must be "
        "'<bytes>:<32 hex digits>', got '12:xyz')"
    )


# --------------------------------------------------------------------------------------------------
# Bad audio at sampling


def _truncate(path, keep_fraction=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: 44 + int((len(data) - 44) * keep_fraction)])


def test_a_truncated_wav_is_refused_not_read_as_a_shorter_file(tmp_path):
    path = tmp_path / "cut.wav"
    write_audio(path, _tone(1.0))
    _truncate(path)
    assert soundfile.info(path).frames == 8000  # what libsndfile alone reports: half, without a word
    assert wav_data_shortfall(path) == (32000, 16000)
    message = f"{path}: truncated WAV: its header declares 32000 bytes of samples but the file holds 16000 (50%); restore or re-export the file"
    for call in (load_audio, probe_audio):
        with pytest.raises(AudioError) as caught:
            call(path)
        assert str(caught.value) == message


def test_a_truncated_flac_is_refused_by_the_probe(tmp_path):
    path = tmp_path / "cut.flac"
    soundfile.write(path, _tone(1.0), 16_000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match=r"cut.flac: cannot read audio \(truncated or damaged\? "):
        probe_audio(path)


def test_the_length_bound_is_one_model_frame(tmp_path):
    write_audio(tmp_path / "ok.wav", np.full(MIN_SAMPLES, 0.1, dtype=np.float32))
    assert probe_audio(tmp_path / "ok.wav").frames == 400
    write_audio(tmp_path / "short.wav", np.full(MIN_SAMPLES - 1, 0.1, dtype=np.float32))
    with pytest.raises(AudioError) as caught:
        probe_audio(tmp_path / "short.wav")
    assert str(caught.value) == (
        f"{tmp_path / 'short.wav'}: audio is too short: 399 samples at 16000 Hz (24.9 ms); the models need at least "
        "400 samples at 16000 Hz (25 ms, one frame)"
    )
    soundfile.write(tmp_path / "8k.wav", np.full(200, 0.1), 8_000)  # 25 ms at 8 kHz: enough
    assert probe_audio(tmp_path / "8k.wav").duration_s == 0.025


@pytest.mark.parametrize("span", ["frame", "word"])
def test_sampling_skips_bad_audio_with_a_reason_and_counts_it(tmp_path, span):
    root = tmp_path / "corpus"
    written = make_folder_corpus(root, splits=("train",), per_split=6, seed=5)
    ids = [u.utt_id for u in written["train"]]
    write_audio(root / "train" / f"{ids[1]}.wav", np.full(200, 0.1, dtype=np.float32))
    _truncate(root / "train" / f"{ids[3]}.wav")
    options = {"span": span, "progress": False}
    if span == "word":
        from layerprobe.data.samples import SamplingRule

        options["rule"] = SamplingRule.default("word", "train", n_labels=3, min_per_label=1, max_per_label=2)
    manifest = draw_sample(open_corpus(root), "train", **options)
    kept = {u.utt_id for u in manifest.utterances}
    assert ids[1] not in kept and ids[3] not in kept
    assert manifest.summary["n_audio_skipped"] == 2
    reasons = manifest.summary["audio_skipped"]
    assert [row[0] for row in reasons] == [f"train/{ids[1]}.wav", f"train/{ids[3]}.wav"]
    assert reasons[0][1] == (
        "audio is too short: 200 samples at 16000 Hz (12.5 ms); the models need at least 400 samples at 16000 Hz "
        "(25 ms, one frame)"
    )
    assert reasons[1][1].startswith("truncated WAV: its header declares ")
    assert manifest.skipped_lines()[0] == f"skipped train/{ids[1]}.wav: {reasons[0][1]}"
    assert manifest.describe().endswith(", 2 unusable audio file(s) skipped")
    if span == "frame":
        assert manifest.summary["n_utterances"] == 4
        report = extract(manifest, None, tmp_path / "out", rep="mel", progress=False)  # nothing bad reaches it
        assert report.n_utterances == 4


def test_a_split_of_only_bad_audio_says_why(tmp_path):
    root = tmp_path / "corpus" / "train"
    root.mkdir(parents=True)
    write_audio(root / "a.wav", np.full(100, 0.1, dtype=np.float32))
    with pytest.raises(SampleError) as caught:
        draw_sample(open_corpus(root.parent), "train", span="frame", progress=False)
    assert str(caught.value) == (
        f"{root.parent}: split 'train' of corpus 'corpus' has no usable utterances (1 audio files skipped, e.g. "
        "train/a.wav: audio is too short: 100 samples at 16000 Hz (6.2 ms); the models need at least 400 samples "
        "at 16000 Hz (25 ms, one frame))"
    )


def test_manifest_subsets_keep_the_fingerprints(sampled):
    _, manifest, _ = sampled
    moved = replace(manifest.utterances[0], subset=3)
    assert moved.fingerprint == manifest.utterances[0].fingerprint
