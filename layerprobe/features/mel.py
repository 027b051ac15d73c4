"""The log-mel baseline of the layer-wise analysis papers (REFERENCE.md section 3).

16 kHz audio is peak-normalised to 0.999 and pre-emphasised (0.97); its magnitude mel spectrogram
uses a 2048-point FFT of a 400-sample Hann window (zero-padded to 2048), a 160-sample hop (10 ms),
80 Slaney-scale, Slaney-normalised mel bands between 50 and 8000 Hz, and centred frames padded with
zeros (not reflected: the edge frames differ); it is converted with ``amplitude_to_db(ref=1,
top_db=80)`` and scaled by ``x / 80 + 1``.  librosa computes the spectrogram and the dB conversion.
"""

from __future__ import annotations

import numpy as np

from layerprobe.errors import AudioError

MEL_SAMPLE_RATE = 16_000
MEL_N_FFT = 2048
MEL_WIN_LENGTH = 400
MEL_HOP_LENGTH = 160
MEL_N_MELS = 80
MEL_FMIN = 50.0
MEL_FMAX = 8000.0
MEL_TOP_DB = 80.0
PEAK = 0.999
PRE_EMPHASIS = 0.97

#: Frame rate of the log-mel features (one frame per 10 ms hop).
MEL_FRAME_RATE_HZ = MEL_SAMPLE_RATE / MEL_HOP_LENGTH


def preprocess(waveform: np.ndarray) -> np.ndarray:
    """Peak-normalise to 0.999 and pre-emphasise: ``y[0] = x[0]``, ``y[n] = x[n] - 0.97 x[n-1]``.

    Parameters
    ----------
    waveform : numpy.ndarray, shape (n_samples,)

    Returns
    -------
    numpy.ndarray, shape (n_samples,), float64
    """
    x = np.asarray(waveform, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise AudioError(f"expected a non-empty 1-d waveform, got shape {x.shape}")
    peak = np.abs(x).max()
    if not np.isfinite(peak):
        raise AudioError("waveform holds NaN or infinite samples")
    if peak > 0:
        x = x / peak * PEAK
    return np.concatenate([x[:1], x[1:] - PRE_EMPHASIS * x[:-1]])


def log_mel(waveform: np.ndarray, sr: int = MEL_SAMPLE_RATE) -> np.ndarray:
    """The log-mel baseline features of a 16 kHz waveform.

    Parameters
    ----------
    waveform : numpy.ndarray, shape (n_samples,)
        Mono audio at 16 kHz.
    sr : int
        Its sample rate; only 16000 is accepted (resample with :func:`layerprobe.io.audio.load_audio`).

    Returns
    -------
    numpy.ndarray, shape (1 + n_samples // 160, 80), float32
        One row per 10 ms frame, values in [0, 1] (``dB / 80 + 1`` after clipping 80 dB below the peak).
    """
    import librosa

    if sr != MEL_SAMPLE_RATE:
        raise AudioError(f"the log-mel baseline is defined at {MEL_SAMPLE_RATE} Hz, got {sr} Hz")
    magnitude = librosa.feature.melspectrogram(
        y=preprocess(waveform),
        sr=MEL_SAMPLE_RATE,
        n_fft=MEL_N_FFT,
        hop_length=MEL_HOP_LENGTH,
        win_length=MEL_WIN_LENGTH,
        window="hann",
        center=True,
        pad_mode="constant",
        power=1.0,
        n_mels=MEL_N_MELS,
        fmin=MEL_FMIN,
        fmax=MEL_FMAX,
        htk=False,
        norm="slaney",
    )
    decibels = librosa.amplitude_to_db(magnitude, ref=1.0, top_db=MEL_TOP_DB)
    return (decibels / MEL_TOP_DB + 1.0).T.astype(np.float32)


__all__ = ["MEL_FRAME_RATE_HZ", "MEL_N_MELS", "preprocess", "log_mel"]
