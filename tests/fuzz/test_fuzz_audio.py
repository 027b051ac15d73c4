"""Fuzzing the audio reader: random bytes, hand-built WAV headers, damaged WAV/FLAC files, NaN samples.

``load_audio`` and ``audio_duration`` either refuse a file with an AudioError naming it, or return
what they promise: a non-empty finite float32 waveform at 16 kHz, a positive finite duration.
"""

from __future__ import annotations

import io
import math
import struct

import numpy as np
import pytest
import soundfile
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.errors import AudioError
from layerprobe.io.audio import SAMPLE_RATE, audio_duration, load_audio
from support.fuzz import fuzz, mutated_bytes, refuses


def _check_accepted(result, path) -> None:
    if isinstance(result, AudioError):
        return
    assert isinstance(result, np.ndarray) and result.dtype == np.float32 and result.ndim == 1, path
    assert result.size > 0 and np.isfinite(result).all(), path


def _read_both(target: str, path, *, may_accept: bool = True) -> None:
    waveform = refuses(f"audio: {target} (load_audio)", load_audio, path, names=path, error=AudioError, may_accept=may_accept)
    _check_accepted(waveform, path)
    duration = refuses(f"audio: {target} (audio_duration)", audio_duration, path, names=path, error=AudioError, may_accept=True)
    if not isinstance(duration, AudioError):
        assert isinstance(duration, float) and math.isfinite(duration) and duration > 0, (path, duration)


def _file(tmp_path_factory, data: bytes, suffix: str):
    path = tmp_path_factory.mktemp("audio") / f"clip{suffix}"
    path.write_bytes(data)
    return path


@fuzz()
@given(data=st.binary(max_size=512), suffix=st.sampled_from([".wav", ".flac", ".WAV", ".sph"]))
@example(data=b"", suffix=".wav")
@example(data=b"RIFF", suffix=".wav")
@example(data=b"fLaC", suffix=".flac")
def test_random_bytes(tmp_path_factory, data, suffix):
    _read_both("random bytes", _file(tmp_path_factory, data, suffix))


def wav_bytes(*, tag: int, channels: int, rate: int, bits: int, block_align: int | None, payload: bytes,
              data_size: int | None = None, riff_size: int | None = None, extra_chunk: bytes = b"") -> bytes:  # fmt: skip
    """A RIFF/WAVE file from its header fields, consistent or not."""
    align = block_align if block_align is not None else max(1, channels * bits // 8)
    fmt = struct.pack("<HHIIHH", tag, channels & 0xFFFF, rate & 0xFFFFFFFF, (rate * align) & 0xFFFFFFFF, align & 0xFFFF, bits & 0xFFFF)
    size = len(payload) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunk + b"data" + struct.pack("<I", size & 0xFFFFFFFF) + payload
    total = len(body) if riff_size is None else riff_size
    return b"RIFF" + struct.pack("<I", total & 0xFFFFFFFF) + body


wav_headers = st.builds(
    wav_bytes,
    tag=st.sampled_from([1, 3, 0xFFFE, 0, 2, 6, 7, 0x1234]),
    channels=st.sampled_from([0, 1, 2, 3, 8, 255, 1024, 1025, 65535]),
    rate=st.sampled_from([0, 1, 7, 8000, 11025, 16000, 22050, 44100, 48000, 96000, 2**31 - 1, 2**32 - 1]),
    bits=st.sampled_from([0, 1, 7, 8, 16, 24, 32, 64, 65535]),
    block_align=st.one_of(st.none(), st.sampled_from([0, 1, 3, 65535])),
    payload=st.binary(max_size=256),
    data_size=st.one_of(st.none(), st.sampled_from([0, 1, 2**31 - 1, 2**32 - 1])),
    riff_size=st.one_of(st.none(), st.sampled_from([0, 4, 2**32 - 1])),
    extra_chunk=st.sampled_from([b"", b"LIST\x04\x00\x00\x00INFO", b"junk\xff\xff\xff\xff"]),
)


@fuzz()
@given(data=wav_headers)
@example(data=wav_bytes(tag=3, channels=1, rate=16000, bits=32, block_align=None, payload=struct.pack("<4f", 0.1, math.nan, 0.2, 0.3)))
# float samples near the float32 limit: their channel mean overflowed, load_audio returned inf / NaN
@example(data=wav_bytes(tag=3, channels=2, rate=16000, bits=32, block_align=None, payload=struct.pack("<4f", 3e38, 3e38, 3e38, 3e38)))
@example(data=wav_bytes(tag=3, channels=1, rate=22050, bits=32, block_align=None, payload=struct.pack("<4f", 1e38, 1e38, 1e38, 1e38)))
@example(data=wav_bytes(tag=1, channels=65535, rate=16000, bits=16, block_align=None, payload=b"\x00" * 64))
@example(data=wav_bytes(tag=1, channels=1, rate=0, bits=16, block_align=None, payload=b"\x00" * 64))
@example(data=wav_bytes(tag=1, channels=1, rate=16000, bits=16, block_align=None, payload=b""))
def test_wav_headers(tmp_path_factory, data):
    _read_both("hand-built WAV header", _file(tmp_path_factory, data, ".wav"))


@pytest.fixture(scope="module")
def valid_files():
    """A short 16-bit WAV, a float WAV and a FLAC file (bytes), as written by soundfile."""
    rng = np.random.default_rng(0)
    waveform = (0.3 * rng.standard_normal(800)).clip(-1, 1)
    files = {}
    for name, kwargs in (("wav16", dict(format="WAV", subtype="PCM_16")), ("wavfloat", dict(format="WAV", subtype="FLOAT")),
                         ("flac", dict(format="FLAC", subtype="PCM_16"))):  # fmt: skip
        buffer = io.BytesIO()
        soundfile.write(buffer, waveform, 22050, **kwargs)
        files[name] = buffer.getvalue()
    return files


@fuzz()
@given(data=st.data(), which=st.sampled_from(["wav16", "wavfloat", "flac"]), protect=st.sampled_from([0, 4, 12, 36]))
def test_damaged_files(valid_files, tmp_path_factory, data, which, protect):
    damaged = data.draw(mutated_bytes(valid_files[which], protect=protect))
    names = {"wav16": "16-bit WAV", "wavfloat": "float WAV", "flac": "FLAC"}
    _read_both(f"damaged {names[which]} file", _file(tmp_path_factory, damaged, ".flac" if which == "flac" else ".wav"))


@fuzz(scale=0.5)
@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=64).filter(
        lambda v: not all(math.isfinite(x) for x in v)
    ),
    channels=st.integers(1, 3),
)
def test_non_finite_samples_are_refused(tmp_path_factory, values, channels):
    samples = np.repeat(np.array(values, dtype=np.float32)[:, None], channels, axis=1)
    path = tmp_path_factory.mktemp("audio") / "nan.wav"
    soundfile.write(path, samples, 16000, subtype="FLOAT")
    refuses("audio: NaN or infinite samples (load_audio)", load_audio, path, names=path, error=AudioError)


@fuzz(scale=0.5)
@given(
    rate=st.sampled_from([1, 2, 100, 4000, 8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000, 384000]),
    n_frames=st.integers(1, 400),
    channels=st.sampled_from([1, 2, 5, 64]),
)
def test_any_sample_rate_is_resampled(tmp_path_factory, rate, n_frames, channels):
    """Valid audio at any rate reads as 16 kHz mono (or is refused as too short to resample)."""
    path = tmp_path_factory.mktemp("audio") / "rate.wav"
    samples = np.full((n_frames, channels), 0.25, dtype=np.float32)
    soundfile.write(path, samples, rate, subtype="PCM_16")
    waveform = refuses("audio: valid file at another sample rate (load_audio)", load_audio, path, names=path, error=AudioError, may_accept=True)
    if isinstance(waveform, AudioError):
        assert "too short to resample" in str(waveform) and n_frames * SAMPLE_RATE / rate < 2
        return
    _check_accepted(waveform, path)
    assert abs(waveform.size - n_frames * SAMPLE_RATE / rate) <= 2
