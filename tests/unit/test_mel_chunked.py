"""The log-mel baseline computed in blocks: the one-shot recipe's numbers, memory bounded by a block.

The oracle is the published recipe run in one shot (REFERENCE.md section 3, written out here with
librosa exactly as layerprobe computed it before the blocks): peak normalisation over the whole
waveform, pre-emphasis, centred zero-padded frames, ``amplitude_to_db(ref=1, top_db=80)`` with the
floor relative to the global maximum, ``x / 80 + 1``.
"""

from __future__ import annotations

import tracemalloc
import warnings

import librosa
import numpy as np
import pytest

from layerprobe.errors import AudioError
from layerprobe.features.mel import CHUNK_FRAMES, log_mel, preprocess


@pytest.fixture(autouse=True)
def _short_input_warning():
    with warnings.catch_warnings():
        # librosa warns that n_fft exceeds a short input; the recipe pads it, as intended
        warnings.filterwarnings("ignore", message="n_fft=2048 is too large", category=UserWarning)
        yield


def one_shot(waveform: np.ndarray) -> np.ndarray:
    x = np.asarray(waveform, dtype=np.float64)
    x = x / np.abs(x).max() * 0.999
    y = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    magnitude = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=2048, hop_length=160, win_length=400, window="hann", center=True,
        pad_mode="constant", power=1.0, n_mels=80, fmin=50.0, fmax=8000.0, htk=False, norm="slaney",
    )  # fmt: skip
    return (librosa.amplitude_to_db(magnitude, ref=1.0, top_db=80.0) / 80.0 + 1.0).T.astype(np.float32)


def quiet_then_loud(n_samples: int, seed: int = 0) -> np.ndarray:
    """Digital silence, a quiet hum, then loud noise: the global max and the 80 dB floor lie in late blocks."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / 16000
    wave = 1e-4 * np.sin(2 * np.pi * 220 * t)
    wave[: n_samples // 5] = 0.0
    loud = slice(2 * n_samples // 3, n_samples)
    wave[loud] += 0.8 * rng.standard_normal(n_samples - 2 * n_samples // 3)
    return wave.astype(np.float32)


@pytest.mark.parametrize("n_samples", [100, 2047, 2048 + 160 * 7 + 3, 16000 * 4 + 17])
@pytest.mark.parametrize("chunk_frames", [1, 3, 64, CHUNK_FRAMES])
def test_blocks_give_the_one_shot_recipe(n_samples, chunk_frames):
    wave = quiet_then_loud(n_samples)
    expected = one_shot(wave)
    got = log_mel(wave, chunk_frames=chunk_frames)
    assert got.dtype == np.float32 and got.shape == expected.shape == (1 + n_samples // 160, 80)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_frames_at_the_block_seams_and_the_80_db_floor_match():
    wave = quiet_then_loud(16000 * 6 + 77, seed=1)
    expected = one_shot(wave)
    got = log_mel(wave, chunk_frames=50)
    seams = np.array([k * 50 + d for k in range(1, len(expected) // 50) for d in (-2, -1, 0, 1)])
    np.testing.assert_allclose(got[seams], expected[seams], rtol=0, atol=1e-5)
    # the silent start sits on the floor, 80 dB below the loud end's maximum: (top - 80) / 80 + 1
    top = expected.max()
    floor = expected[:50] == expected.min()
    assert floor.all() and expected.min() == pytest.approx(top - 1.0, abs=1e-6)
    np.testing.assert_allclose(got[:50], expected[:50], rtol=0, atol=1e-6)


def test_peak_normalisation_is_global():
    wave = quiet_then_loud(16000 * 3)
    np.testing.assert_allclose(log_mel(wave * 0.01, chunk_frames=20), log_mel(wave, chunk_frames=20), rtol=0, atol=1e-5)
    x = wave.astype(np.float64) / np.abs(wave.astype(np.float64)).max() * 0.999
    np.testing.assert_allclose(preprocess(wave), np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]]), rtol=1e-12, atol=1e-15)


def test_memory_is_one_block_not_the_utterance():
    """Two minutes of audio: the one-shot recipe held ~500 MB (complex128 STFT, float64 copies)."""
    wave = quiet_then_loud(16000 * 120)
    tracemalloc.start()
    try:
        out = log_mel(wave)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (12001, 80) and out.dtype == np.float32
    assert peak < 100e6, f"log_mel of 120 s peaked at {peak / 1e6:.0f} MB"


def test_bad_input_is_one_line():
    with pytest.raises(AudioError, match="^waveform holds NaN or infinite samples$"):
        log_mel(np.array([0.1, np.nan, 0.2] * 1000, dtype=np.float32))
    with pytest.raises(AudioError, match=r"^expected a non-empty 1-d waveform, got shape \(0,\)$"):
        log_mel(np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioError, match="^chunk_frames must be at least 1, got 0$"):
        log_mel(np.ones(400, dtype=np.float32), chunk_frames=0)
