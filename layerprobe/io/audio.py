"""Audio in and out: soundfile to read and write, soxr to resample, always 16 kHz mono float32.

Every model layerprobe supports reads 16 kHz mono audio, so :func:`load_audio` returns exactly that:
it reads WAV, FLAC (and the other formats libsndfile knows, NIST SPHERE for TIMIT among them),
averages the channels, resamples with soxr, and refuses audio that is empty or holds NaN / inf.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import soundfile
import soxr

from layerprobe.errors import AudioError

#: The sample rate every waveform in layerprobe has after loading.
SAMPLE_RATE = 16_000

#: File suffixes the corpus readers take for audio (case-insensitive).
AUDIO_SUFFIXES = (".wav", ".flac")

AudioSource = Union[str, "os.PathLike[str]", BinaryIO]


def _name(source: AudioSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", "<audio bytes>")


def load_audio(source: AudioSource, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read an audio file as mono float32 at ``sample_rate``.

    Parameters
    ----------
    source : path-like or binary file object
        The audio file (WAV, FLAC or any format libsndfile reads) or an open binary stream.
    sample_rate : int, keyword-only
        Rate of the returned waveform in Hz; the file is resampled with soxr when it differs.

    Returns
    -------
    numpy.ndarray, shape (n_samples,), float32
        The waveform, channels averaged, in [-1, 1] for integer PCM input.

    Raises
    ------
    AudioError
        When the file is missing or unreadable, has no samples, or holds non-finite values.
    """
    name = _name(source)
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise AudioError("no such audio file", path=name)
    try:
        data, file_rate = soundfile.read(source, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as exc:
        raise AudioError(f"cannot read audio ({exc})", path=name) from None
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise AudioError("audio is empty (0 samples)", path=name)
    if not np.isfinite(data).all():
        raise AudioError("audio holds NaN or infinite samples", path=name)
    # Float files may hold values near the float32 limit: their channel mean or the resampling
    # filter's ringing overflows to inf or NaN, which is refused below rather than returned.
    with np.errstate(over="ignore", invalid="ignore"):
        mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
        if file_rate != sample_rate:
            mono = soxr.resample(mono, file_rate, sample_rate).astype(np.float32, copy=False)
            if mono.size == 0:
                raise AudioError(
                    f"audio is too short to resample from {file_rate} Hz to {sample_rate} Hz", path=name
                )
    if not np.isfinite(mono).all():
        peak = float(np.abs(data).max())
        raise AudioError(f"audio holds samples too large to process (up to {peak:.3g} in magnitude)", path=name)
    return np.ascontiguousarray(mono, dtype=np.float32)


def audio_duration(path: str | os.PathLike[str]) -> float:
    """Duration of an audio file in seconds, read from its header without decoding the samples.

    Raises
    ------
    AudioError
        When the file is missing or its header cannot be read.
    """
    if not Path(path).is_file():
        raise AudioError("no such audio file", path=path)
    try:
        info = soundfile.info(os.fspath(path))
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(f"cannot read audio header ({exc})", path=path) from None
    if info.frames <= 0:
        raise AudioError("audio is empty (0 samples)", path=path)
    return info.frames / info.samplerate


def write_audio(
    path: str | os.PathLike[str], waveform: np.ndarray, *, sample_rate: int = SAMPLE_RATE
) -> None:
    """Write a mono waveform as 16-bit PCM (WAV or FLAC, chosen by the suffix).

    Parameters
    ----------
    path : path-like
        Destination; ``.wav`` or ``.flac``.
    waveform : numpy.ndarray, shape (n_samples,)
        Float samples in [-1, 1] (values outside are clipped) or int16 samples.
    sample_rate : int, keyword-only
        Sample rate written in the header.
    """
    samples = np.asarray(waveform)
    if samples.ndim != 1 or samples.size == 0:
        raise AudioError(f"expected a non-empty 1-d waveform, got shape {samples.shape}", path=path)
    if samples.dtype.kind == "f":
        if not np.isfinite(samples).all():
            raise AudioError("refusing to write NaN or infinite samples", path=path)
        samples = np.clip(samples, -1.0, 1.0)
    soundfile.write(os.fspath(path), samples, sample_rate, subtype="PCM_16")


def audio_bytes_source(data: bytes, name: str = "<audio bytes>") -> BinaryIO:
    """Wrap raw file bytes so that :func:`load_audio` can read them (errors mention ``name``)."""
    stream = io.BytesIO(data)
    stream.name = name  # type: ignore[attr-defined]
    return stream


__all__ = ["SAMPLE_RATE", "AUDIO_SUFFIXES", "load_audio", "audio_duration", "write_audio", "audio_bytes_source"]
