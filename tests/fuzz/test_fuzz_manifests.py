"""Fuzzing data-sample manifests that carry audio fingerprints, and the audio check extraction runs on them.

Mutated fingerprints, durations and audio paths, damaged utterance lines, and whole mutated
manifests given to ``layerprobe extract --rep mel``: each is refused in one line (SampleError when
the manifest is read, AudioError when its audio does not match), or accepted with audio that does
match; never another exception, an internal error (exit 3) or a traceback.  The audio checks
themselves (``probe_audio``, ``audio_fingerprint``) are fuzzed with damaged WAV, FLAC, MP3 and Ogg files.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.cli import main
from layerprobe.data.sample_checks import check_audio
from layerprobe.data.samples import SampleManifest, read_manifest
from layerprobe.errors import AudioError, SampleError
from support.fuzz import LEDGER, dump_json, fuzz, json_mutation, junk_text, mutated_bytes, mutated_lines, number_text, refuses


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    """A 3-utterance folder corpus and the JSON text of its frame and word manifests (with fingerprints)."""
    from layerprobe.data.corpora import open_corpus
    from layerprobe.data.samples import SamplingRule, draw_sample
    from support.corpora import make_folder_corpus

    root = tmp_path_factory.mktemp("fingerprints") / "mini"
    make_folder_corpus(root, splits=("train",), per_split=3, seed=7)
    corpus = open_corpus(root)
    frame = draw_sample(corpus, "train", span="frame", progress=False)
    word = draw_sample(corpus, "train", span="word", rule=SamplingRule.default("word", "train", n_labels=3, min_per_label=1,
                                                                                 max_per_label=2), progress=False)  # fmt: skip
    assert all(u.fingerprint for u in frame.utterances + word.utterances)
    return {"frame": frame.to_json_text(), "word": word.to_json_text()}


fingerprint_values = st.one_of(
    junk_text,
    number_text,
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.builds(lambda n, digest: f"{n}:{digest}", st.integers(-3, 10**21), st.text("0123456789abcdefABCDEF:", max_size=40)),
)
FIELDS = ("fingerprint", "duration_s", "audio", "id")


def _check_accepted(manifest: SampleManifest, target: str) -> None:
    """An accepted manifest's audio check passes (audio that matches) or refuses in one line."""
    assert isinstance(manifest, SampleManifest)
    for utt in manifest.utterances:
        assert utt.fingerprint is None or isinstance(utt.fingerprint, str)
    refuses(target, check_audio, manifest, error=AudioError, may_accept=True)


@fuzz()
@given(data=st.data(), span=st.sampled_from(["frame", "word"]), field=st.sampled_from(FIELDS), drop=st.booleans())
@example(data=None, span="frame", field="fingerprint", drop=False)  # a well-formed fingerprint of other content
def test_mutated_fingerprints_durations_and_paths(sampled, tmp_path_factory, data, span, field, drop):
    document = json.loads(sampled[span])
    if data is None:
        document["utterances"][0]["fingerprint"] = "1:" + "0" * 32
    else:
        row = document["utterances"][data.draw(st.integers(0, len(document["utterances"]) - 1))]
        if drop:
            row.pop(field, None)
        else:
            row[field] = data.draw(fingerprint_values if field != "duration_s" else st.one_of(fingerprint_values, st.floats()))
    path = tmp_path_factory.mktemp("m") / f"train_{span}_sample1.json"
    path.write_text(dump_json(document), encoding="utf-8", errors="surrogatepass")
    result = refuses("manifest with fingerprints (one field)", read_manifest, path, names=path, error=SampleError, may_accept=True)
    if not isinstance(result, SampleError):
        _check_accepted(result, "audio check (one field mutated)")
    if data is None:
        assert isinstance(result, SampleManifest)
        with pytest.raises(AudioError, match="its content differs from the data-sample manifest's fingerprint"):
            check_audio(result)


@fuzz()
@given(data=st.data(), span=st.sampled_from(["frame", "word"]))
def test_damaged_utterance_lines(sampled, tmp_path_factory, data, span):
    text = data.draw(mutated_lines(sampled[span]))
    path = tmp_path_factory.mktemp("m") / f"train_{span}_sample1.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = refuses("manifest with fingerprints (damaged lines)", read_manifest, path, names=path, error=SampleError, may_accept=True)
    if not isinstance(result, SampleError):
        _check_accepted(result, "audio check (damaged lines)")


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        with pytest.raises(SystemExit) as caught:
            main(argv)
    return caught.value.code, err.getvalue()


@fuzz(scale=0.5)
@given(data=st.data(), span=st.sampled_from(["frame", "word"]))
def test_extract_on_mutated_manifests_never_fails_internally(sampled, tmp_path_factory, data, span):
    document = data.draw(json_mutation(json.loads(sampled[span])))
    folder = tmp_path_factory.mktemp("x")
    path = folder / f"train_{span}_sample1.json"
    path.write_text(dump_json(document), encoding="utf-8", errors="surrogatepass")
    code, err = _run(["extract", "--manifest", str(path), "--rep", "mel", "--span", span, "--out", str(folder / "features"),
                      "--no-progress"])  # fmt: skip
    LEDGER.tried("extract --rep mel (mutated manifest)", "accepted" if code == 0 else "refused")
    assert code in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("layerprobe: error:")]
    assert len(errors) == (1 if code == 1 else 0), err
    if code == 1:
        assert err.splitlines()[-1] == errors[0]


# --------------------------------------------------------------------------------------------------
# the audio checks sampling runs on every file (probe_audio) and the fingerprint manifests record


@pytest.fixture(scope="module")
def valid_audio():
    """A 16-bit WAV, a FLAC, an MP3 and an Ogg Vorbis file (bytes) of 0.1 s, as written by soundfile."""
    import numpy as np
    import soundfile

    rng = np.random.default_rng(1)
    waveform = (0.3 * rng.standard_normal(1600)).clip(-1, 1)
    files = {}
    for suffix, kwargs in ((".wav", dict(format="WAV", subtype="PCM_16")), (".flac", dict(format="FLAC", subtype="PCM_16")),
                           (".mp3", dict(format="MP3")), (".ogg", dict(format="OGG", subtype="VORBIS"))):  # fmt: skip
        buffer = io.BytesIO()
        soundfile.write(buffer, waveform, 16_000, **kwargs)
        files[suffix] = buffer.getvalue()
    return files


@fuzz()
@given(data=st.data(), suffix=st.sampled_from([".wav", ".flac", ".mp3", ".ogg"]), protect=st.sampled_from([0, 12, 44]))
def test_probe_and_fingerprint_of_damaged_audio(valid_audio, tmp_path_factory, data, suffix, protect):
    import math

    from layerprobe.io.audio import MIN_SAMPLES, audio_fingerprint, probe_audio

    damaged = data.draw(st.one_of(mutated_bytes(valid_audio[suffix], protect=protect), st.binary(max_size=96)))
    path = tmp_path_factory.mktemp("audio") / f"clip{suffix}"
    path.write_bytes(damaged)
    probe = refuses(f"audio: damaged {suffix} (probe_audio)", probe_audio, path, names=path, error=AudioError, may_accept=True)
    if not isinstance(probe, AudioError):
        assert probe.frames > 0 and probe.sample_rate > 0 and math.isfinite(probe.duration_s)
        assert probe.frames * 16_000 >= MIN_SAMPLES * probe.sample_rate
    fingerprint = audio_fingerprint(path)
    assert fingerprint.split(":")[0] == str(len(damaged)) and len(fingerprint.split(":")[1]) == 32
