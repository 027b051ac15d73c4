"""Audio loading: 16 kHz mono float32, channel mixing, resampling, and clear errors on bad files."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerprobe.errors import AudioError
from layerprobe.io.audio import audio_bytes_source, audio_duration, load_audio, write_audio


def _wav_bytes(samples: np.ndarray, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_pcm16_wav_reads_exactly(tmp_path):
    ints = np.array([0, 1, -1, 16384, -32768, 32767], dtype=np.int16)
    soundfile.write(tmp_path / "a.wav", ints, 16_000, subtype="PCM_16")
    waveform = load_audio(tmp_path / "a.wav")
    assert waveform.dtype == np.float32 and waveform.shape == (6,)
    np.testing.assert_array_equal(waveform, ints.astype(np.float32) / 32768)


def test_stereo_is_averaged(tmp_path):
    left = np.full(800, 0.5)
    right = np.full(800, -0.25)
    soundfile.write(tmp_path / "s.flac", np.stack([left, right], axis=1), 16_000, subtype="PCM_24")
    waveform = load_audio(tmp_path / "s.flac")
    np.testing.assert_allclose(waveform, 0.125, atol=1e-6)


def test_resampling_keeps_the_pitch(tmp_path):
    rate, seconds, pitch = 44_100, 1.0, 440.0
    t = np.arange(int(rate * seconds)) / rate
    soundfile.write(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * pitch * t), rate, subtype="FLOAT")
    waveform = load_audio(tmp_path / "tone.wav")
    assert abs(len(waveform) - 16_000) <= 1
    spectrum = np.abs(np.fft.rfft(waveform))
    peak_hz = np.argmax(spectrum) * 16_000 / len(waveform)
    assert abs(peak_hz - pitch) <= 1.0
    # a band-limited resampler keeps the amplitude of an in-band tone
    assert abs(np.abs(waveform[1000:-1000]).max() - 0.5) < 0.01


def test_duration_from_header(tmp_path):
    write_audio(tmp_path / "d.wav", np.zeros(12_345, dtype=np.float32))
    assert audio_duration(tmp_path / "d.wav") == pytest.approx(12_345 / 16_000)


def test_write_then_read_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    samples = (rng.uniform(-0.9, 0.9, 1000) * 32767).round() / 32768
    write_audio(tmp_path / "r.wav", samples.astype(np.float32))
    np.testing.assert_allclose(load_audio(tmp_path / "r.wav"), samples, atol=1 / 32768)


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: p, "no such audio file"),
        (lambda p: (p.write_bytes(b"not audio at all"), p)[1], "cannot read audio"),
        (lambda p: (p.write_bytes(_wav_bytes(np.zeros(0, dtype=np.int16))), p)[1], "empty"),
    ],
    ids=["missing", "garbage", "empty"],
)
def test_bad_files_are_clear_errors(tmp_path, make, problem):
    path = make(tmp_path / "bad.wav")
    with pytest.raises(AudioError) as caught:
        load_audio(path)
    assert problem in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_non_finite_samples_are_refused(tmp_path):
    samples = np.array([0.0, np.nan, 0.1], dtype=np.float32)
    soundfile.write(tmp_path / "nan.wav", samples, 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(tmp_path / "nan.wav")


def test_writer_refuses_empty_and_non_finite(tmp_path):
    with pytest.raises(AudioError):
        write_audio(tmp_path / "x.wav", np.zeros(0))
    with pytest.raises(AudioError):
        write_audio(tmp_path / "x.wav", np.array([0.0, np.inf]))
    assert not (tmp_path / "x.wav").exists()


def test_python_wave_module_file_reads(tmp_path):
    # a WAV written by another tool (the standard library) reads as well
    with wave.open(str(tmp_path / "w.wav"), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(np.arange(80, dtype=np.int16).tobytes())
    waveform = load_audio(tmp_path / "w.wav")
    assert len(waveform) == 160  # 10 ms at 8 kHz -> 10 ms at 16 kHz


_VALID = _wav_bytes((np.sin(np.arange(1600) / 5) * 10000).astype(np.int16))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=400),
        # a valid file with a few bytes replaced: broken headers and chunk sizes
        st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8).map(
            lambda edits: bytes(
                b if i not in dict(edits) else dict(edits)[i] for i, b in enumerate(_VALID)
            )
        ),
        # a valid file cut short
        st.integers(0, len(_VALID)).map(lambda n: _VALID[:n]),
    )
)
def test_broken_audio_bytes_give_audio_error_or_finite_audio(data):
    try:
        waveform = load_audio(audio_bytes_source(data, "fuzz.wav"))
    except AudioError as exc:
        assert "fuzz.wav" in str(exc) and "\n" not in str(exc)
    else:
        assert waveform.ndim == 1 and waveform.size > 0 and waveform.dtype == np.float32
        assert np.isfinite(waveform).all()
