"""Frame rules, pooling and the log-mel baseline against direct transcriptions of the spec."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from layerprobe.errors import AlignmentError, AudioError
from layerprobe.features.frames import frame_to_time, segment_frames, time_to_frame
from layerprobe.features.mel import log_mel, preprocess
from layerprobe.features.pooling import average_pool, pool_segments


def spec_segment_frames(start, end, n_frames, middle_third):
    """DESIGN.md "Frames", line by line."""
    stride_s = 0.02
    first = math.floor(start / stride_s)
    last = math.ceil(end / stride_s)
    if middle_third:
        o = (last - first + 1) // 3
        first += o
        last -= o
    if first == last:
        last += 1
    last = min(last, n_frames)
    if first >= last and start < (n_frames + 1) * stride_s:  # the tail no whole frame covers
        first, last = n_frames - 1, n_frames
    return first, last


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 9.9), st.floats(0.001, 3.0), st.booleans())
def test_segment_frames_follow_the_spec(start, length, middle_third):
    n_frames = 500  # 10 s
    end = min(start + length, 10.0)
    expected = spec_segment_frames(start, end, n_frames, middle_third)
    if expected[0] >= expected[1]:
        with pytest.raises(AlignmentError):
            segment_frames(start, end, n_frames, middle_third=middle_third)
    else:
        first, last = segment_frames(start, end, n_frames, middle_third=middle_third)
        assert (first, last) == expected
        assert 0 <= first < last <= n_frames


def test_segment_frames_cases():
    assert segment_frames(0.10, 0.30, 100) == (5, 15)
    assert segment_frames(0.10, 0.30, 100, middle_third=True) == (8, 12)  # o = 11 // 3 = 3
    assert segment_frames(0.10, 0.11, 100, middle_third=True) == (5, 6)  # empty after the cut: one frame
    assert segment_frames(1.95, 2.5, 99) == (97, 99)  # clipped to the frame count
    # the last phone of a 2.4 s utterance whose model has 119 whole frames: middle third in the tail
    assert segment_frames(2.36, 2.40, 119, middle_third=True) == (118, 119)
    assert segment_frames(1.985, 2.0, 99) == (98, 99)  # starts after the last whole frame, within one frame
    assert segment_frames(0.0, 0.01, 1, frame_rate_hz=100.0) == (0, 1)
    with pytest.raises(AlignmentError, match="lies outside the audio"):
        segment_frames(2.0, 2.1, 99)  # a whole frame past the last one
    with pytest.raises(AlignmentError, match="reversed"):
        segment_frames(0.5, 0.5, 99)


def test_time_frame_converters():
    assert time_to_frame(0.059) == 2 and time_to_frame(0.06) == 3
    assert frame_to_time(25) == 0.5
    np.testing.assert_allclose(frame_to_time(np.arange(3), frame_rate_hz=100.0), [0.0, 0.01, 0.02])


def test_pool_segments_are_means_of_the_right_frames():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((120, 7)).astype(np.float32) * 100
    segments = [(0.0, 0.2), (0.31, 0.57), (1.0, 2.39), (2.30, 2.41)]
    pooled = pool_segments(features, segments, frame_rate_hz=50.0)
    for row, (start, end) in zip(pooled, segments):
        first, last = segment_frames(start, end, 120)
        np.testing.assert_allclose(row, features[first:last].mean(axis=0), rtol=1e-6, atol=1e-5)
    thirds = pool_segments(features, segments, frame_rate_hz=50.0, middle_third=True)
    first, last = segment_frames(1.0, 2.39, 120, middle_third=True)
    np.testing.assert_allclose(thirds[2], features[first:last].mean(axis=0), rtol=1e-6, atol=1e-5)
    assert pool_segments(features, [], frame_rate_hz=50.0).shape == (0, 7)
    with pytest.raises(AlignmentError, match="segment 2: segment 3-4 s lies outside the audio"):
        pool_segments(features, [(0.0, 0.1), (3.0, 4.0)], frame_rate_hz=50.0)


def test_average_pool_matches_a_loop_and_the_reference_grid():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((3199, 5)).astype(np.float32)  # C1 of 1 s of audio
    pooled = average_pool(features, 79, 32)
    assert pooled.shape == (98, 5)  # the 10 ms grid: same count for C1..C6 (REFERENCE.md)
    for i in (0, 1, 50, 97):
        np.testing.assert_allclose(pooled[i], features[i * 32 : i * 32 + 79].mean(axis=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(AudioError, match="fewer than the pooling kernel"):
        average_pool(features[:50], 79, 32)


def slow_log_mel(waveform):
    """REFERENCE.md section 3 transcribed with an explicit frame loop and numpy's FFT."""
    x = waveform.astype(np.float64)
    x = x / np.abs(x).max() * 0.999
    y = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    padded = np.pad(y, 1024)  # zeros, n_fft // 2 on each side
    window = np.zeros(2048)
    window[824:1224] = scipy.signal.get_window("hann", 400, fftbins=True)  # 400 centred in 2048
    n = 1 + len(y) // 160
    spectrum = np.stack([np.abs(np.fft.rfft(padded[i * 160 : i * 160 + 2048] * window)) for i in range(n)], axis=1)
    bank = librosa.filters.mel(sr=16000, n_fft=2048, n_mels=80, fmin=50, fmax=8000, htk=False, norm="slaney")
    db = 20 * np.log10(np.maximum(1e-5, bank @ spectrum))
    db = np.maximum(db, db.max() - 80)
    return (db / 80 + 1).T


def test_log_mel_matches_the_spec_transcription():
    rng = np.random.default_rng(2)
    t = np.arange(8000) / 16000
    waveform = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    fast = log_mel(waveform)
    assert fast.shape == (51, 80) and fast.dtype == np.float32
    np.testing.assert_allclose(fast, slow_log_mel(waveform), atol=2e-5)
    assert fast.max() - fast.min() <= 1.0 + 1e-6  # 80 dB below the peak, scaled by 1 / 80


def test_log_mel_edges_use_zero_padding_not_reflection():
    rng = np.random.default_rng(3)
    waveform = rng.standard_normal(4000).astype(np.float32)
    reflected = librosa.amplitude_to_db(
        librosa.feature.melspectrogram(y=preprocess(waveform), sr=16000, n_fft=2048, hop_length=160, win_length=400,
                                       pad_mode="reflect", power=1.0, n_mels=80, fmin=50, fmax=8000),
        ref=1.0, top_db=80,
    ).T / 80 + 1  # fmt: skip
    ours = log_mel(waveform)
    assert np.abs(ours[0] - reflected[0]).max() > 1e-3  # the first frame differs
    np.testing.assert_allclose(ours[10:-10], reflected[10:-10], atol=1e-4)  # the inside does not


def test_log_mel_is_scale_invariant_and_refuses_bad_input():
    rng = np.random.default_rng(4)
    waveform = rng.standard_normal(3200).astype(np.float32)
    np.testing.assert_allclose(log_mel(waveform), log_mel(0.01 * waveform), atol=1e-5)  # peak normalisation
    with pytest.raises(AudioError, match="defined at 16000 Hz"):
        log_mel(waveform, sr=8000)
    with pytest.raises(AudioError, match="non-empty"):
        log_mel(np.zeros(0, dtype=np.float32))
