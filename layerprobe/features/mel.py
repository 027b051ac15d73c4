"""The log-mel baseline of the layer-wise analysis papers (REFERENCE.md section 3).

16 kHz audio is peak-normalised to 0.999 and pre-emphasised (0.97); its magnitude mel spectrogram
uses a 2048-point FFT of a 400-sample Hann window (zero-padded to 2048), a 160-sample hop (10 ms),
80 Slaney-scale, Slaney-normalised mel bands between 50 and 8000 Hz, and centred frames padded with
zeros (not reflected: the edge frames differ); it is converted with ``amplitude_to_db(ref=1,
top_db=80)`` and scaled by ``x / 80 + 1``.  librosa computes the spectrogram and the dB conversion.

Memory: :func:`log_mel` works through the audio in blocks of :data:`CHUNK_FRAMES` frames (10 s).
Each block's frames are the centred frames of the whole waveform (the block reads the 1024
samples on either side of it, zeros beyond the ends, and the sample before it for the
pre-emphasis), computed in float64 as the one-shot recipe does and kept as float32 dB before
the 80 dB floor; the floor is applied at the end relative to the global maximum, and the peak
normalisation uses the global peak (a first pass in blocks).  So the result equals the one-shot
recipe (to float32 rounding, ~1e-7) at any length, and what the computation holds besides the
waveform (4 bytes per sample) and the result (320 bytes per 10 ms frame, 32 kB per second) is one
block: about 60 MB, whatever the length.
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


#: Frames per block of :func:`log_mel` (10 s of audio): bounds its working memory (~60 MB).
CHUNK_FRAMES = 1000


def preprocess(waveform: np.ndarray) -> np.ndarray:
    """Peak-normalise to 0.999 and pre-emphasise: ``y[0] = x[0]``, ``y[n] = x[n] - 0.97 x[n-1]``.

    Parameters
    ----------
    waveform : numpy.ndarray, shape (n_samples,)

    Returns
    -------
    numpy.ndarray, shape (n_samples,), float64
    """
    x = _checked(waveform)
    return _preprocessed_span(x, 0, x.size, _scale(x))


def log_mel(waveform: np.ndarray, sr: int = MEL_SAMPLE_RATE, *, chunk_frames: int = CHUNK_FRAMES) -> np.ndarray:
    """The log-mel baseline features of a 16 kHz waveform, computed block by block.

    Parameters
    ----------
    waveform : numpy.ndarray, shape (n_samples,)
        Mono audio at 16 kHz.
    sr : int
        Its sample rate; only 16000 is accepted (resample with :func:`layerprobe.io.audio.load_audio`).
    chunk_frames : int, keyword-only
        Frames computed at a time (the result does not depend on it; see the module docstring).

    Returns
    -------
    numpy.ndarray, shape (1 + n_samples // 160, 80), float32
        One row per 10 ms frame, values in [0, 1] (``dB / 80 + 1`` after clipping 80 dB below the peak).
    """
    import librosa

    if sr != MEL_SAMPLE_RATE:
        raise AudioError(f"the log-mel baseline is defined at {MEL_SAMPLE_RATE} Hz, got {sr} Hz")
    if chunk_frames < 1:
        raise AudioError(f"chunk_frames must be at least 1, got {chunk_frames}")
    x = _checked(waveform)
    scale = _scale(x)
    n_frames = 1 + x.size // MEL_HOP_LENGTH
    half = MEL_N_FFT // 2
    out = np.empty((n_frames, MEL_N_MELS), dtype=np.float32)
    top = -np.inf
    for first in range(0, n_frames, chunk_frames):
        last = min(first + chunk_frames, n_frames)
        # centred frame f covers samples [f * hop - n_fft / 2, f * hop + n_fft / 2) of the zero-padded signal
        span = _preprocessed_span(x, first * MEL_HOP_LENGTH - half, (last - 1) * MEL_HOP_LENGTH + half, scale)
        magnitude = librosa.feature.melspectrogram(
            y=span,
            sr=MEL_SAMPLE_RATE,
            n_fft=MEL_N_FFT,
            hop_length=MEL_HOP_LENGTH,
            win_length=MEL_WIN_LENGTH,
            window="hann",
            center=False,
            power=1.0,
            n_mels=MEL_N_MELS,
            fmin=MEL_FMIN,
            fmax=MEL_FMAX,
            htk=False,
            norm="slaney",
        )
        decibels = librosa.amplitude_to_db(magnitude, ref=1.0, top_db=None)
        top = max(top, float(decibels.max()))
        out[first:last] = decibels.T
    # amplitude_to_db's top_db: the floor is relative to the maximum over the whole utterance
    np.maximum(out, np.float32(top - MEL_TOP_DB), out=out)
    out /= np.float32(MEL_TOP_DB)
    out += np.float32(1.0)
    return out


def _checked(waveform: np.ndarray) -> np.ndarray:
    x = np.asarray(waveform)
    if x.ndim != 1 or x.size == 0:
        raise AudioError(f"expected a non-empty 1-d waveform, got shape {x.shape}")
    return x


def _scale(x: np.ndarray, block: int = 1 << 20) -> float:
    """The peak-normalisation factor ``0.999 / max|x|`` (1 for silence), the peak found in blocks."""
    peak = 0.0
    for start in range(0, x.size, block):
        part = np.abs(np.asarray(x[start : start + block], dtype=np.float64)).max()
        if not np.isfinite(part):
            raise AudioError("waveform holds NaN or infinite samples")
        peak = max(peak, float(part))
    return PEAK / peak if peak > 0 else 1.0


def _preprocessed_span(x: np.ndarray, start: int, stop: int, scale: float) -> np.ndarray:
    """Samples ``[start, stop)`` of the preprocessed waveform, zeros outside it, float64.

    Pre-emphasis reads the sample before ``start``; positions before 0 or past the end are the
    zero padding of centred frames.
    """
    out = np.zeros(stop - start, dtype=np.float64)
    lo, hi = max(start, 0), min(stop, x.size)
    if lo >= hi:
        return out
    before = max(lo - 1, 0)
    y = np.asarray(x[before:hi], dtype=np.float64) * scale
    if lo == 0:
        out[lo - start] = y[0]
        out[lo - start + 1 : hi - start] = y[1:] - PRE_EMPHASIS * y[:-1]
    else:
        out[lo - start : hi - start] = y[1:] - PRE_EMPHASIS * y[:-1]
    return out


__all__ = ["CHUNK_FRAMES", "MEL_FRAME_RATE_HZ", "MEL_N_MELS", "preprocess", "log_mel"]
