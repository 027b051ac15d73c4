"""Fuzz: the log-mel baseline in blocks equals the one-shot recipe for any length, block size and signal.

Signals mix digital silence, tiny and loud stretches (so the 80 dB floor, set by the global maximum,
falls in other blocks than the maximum) and all-silent input (no peak normalisation).
"""

from __future__ import annotations

import warnings

import librosa
import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.features.mel import log_mel
from support.fuzz import fuzz


def one_shot(waveform: np.ndarray) -> np.ndarray:
    """REFERENCE.md section 3 in one librosa call (the recipe before the blocks)."""
    x = np.asarray(waveform, dtype=np.float64)
    peak = np.abs(x).max()
    if peak > 0:
        x = x / peak * 0.999
    y = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_fft=2048 is too large", category=UserWarning)
        magnitude = librosa.feature.melspectrogram(
            y=y, sr=16000, n_fft=2048, hop_length=160, win_length=400, window="hann", center=True,
            pad_mode="constant", power=1.0, n_mels=80, fmin=50.0, fmax=8000.0, htk=False, norm="slaney",
        )  # fmt: skip
    return (librosa.amplitude_to_db(magnitude, ref=1.0, top_db=80.0) / 80.0 + 1.0).T.astype(np.float32)


stretch = st.tuples(st.integers(1, 6000), st.sampled_from([0.0, 1e-6, 1e-3, 0.1, 1.0, 3e4]))


@fuzz(scale=0.5)
@given(stretches=st.lists(stretch, min_size=1, max_size=5), chunk_frames=st.integers(1, 120), seed=st.integers(0, 2**16))
@example(stretches=[(3000, 0.0)], chunk_frames=1, seed=0)
@example(stretches=[(5000, 0.0), (1, 1.0), (9000, 1e-6)], chunk_frames=7, seed=1)
def test_blocks_equal_the_one_shot_recipe(stretches, chunk_frames, seed):
    rng = np.random.default_rng(seed)
    wave = np.concatenate([level * rng.standard_normal(n) for n, level in stretches]).astype(np.float32)
    expected = one_shot(wave)
    got = log_mel(wave, chunk_frames=chunk_frames)
    assert got.dtype == np.float32 and got.shape == expected.shape == (1 + wave.size // 160, 80)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
