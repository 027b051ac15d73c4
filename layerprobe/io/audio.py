"""Audio in and out: soundfile to read and write, soxr to resample, always 16 kHz mono float32.

Every model layerprobe supports reads 16 kHz mono audio, so :func:`load_audio` returns exactly that:
it reads WAV, FLAC, MP3, Ogg (Vorbis, Opus) and the other formats libsndfile knows (NIST SPHERE for
TIMIT among them), averages the channels, resamples with soxr, and refuses audio that is empty,
truncated (a WAV whose header declares more sample bytes than the file holds; a FLAC that cannot
be decoded to its end) or holds NaN / inf.

:func:`probe_audio` checks a file from its header and its last frame without decoding it all (what
sampling does for every file it may draw), and :func:`audio_fingerprint` gives the cheap content
fingerprint that data-sample manifests record, so that extraction can tell changed audio.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import shutil
import struct
from dataclasses import dataclass
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

#: Further suffixes a folder corpus reads (libsndfile >= 1.1 decodes MP3, Ogg Vorbis and Opus).
COMPRESSED_AUDIO_SUFFIXES = (".mp3", ".ogg", ".oga", ".opus")

#: Suffixes of audio formats libsndfile does not read: a folder corpus counts such files as skipped.
UNREADABLE_AUDIO_SUFFIXES = (".m4a", ".aac", ".mp4", ".wma", ".webm", ".amr")

#: Fewest samples (at 16 kHz) an utterance needs: the wav2vec 2.0 / HuBERT conv encoder's receptive
#: field is 400 samples (25 ms) with a 320-sample (20 ms) stride, so 400 samples give exactly one
#: 20 ms frame; shorter audio gives no frame at all.  Whisper's 25 ms / 10 ms log-mel window has the
#: same bound.  Sampling refuses shorter files (:func:`probe_audio`).
MIN_SAMPLES = 400

#: Bytes read at each end of a file for :func:`audio_fingerprint`.
FINGERPRINT_BLOCK = 64 * 1024

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
    _refuse_truncated_wav(source, name)
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


def wav_data_shortfall(source: AudioSource) -> tuple[int, int] | None:
    """For a RIFF/RIFX WAVE file holding fewer sample bytes than its ``data`` chunk declares: the bytes
    declared and the bytes present; None for a complete WAV, another format, or an unknown size.

    libsndfile reads such a file without a word as a shorter one (the frames it reports are the
    bytes present); only the header's ``data`` chunk size tells.  A size of 0 or 0xFFFFFFFF (written
    by streaming recorders that never went back to fill it in) is "unknown", not truncated.
    """
    opened = isinstance(source, (str, os.PathLike))
    try:
        stream = open(source, "rb") if opened else source
    except OSError:
        return None
    try:
        if not (hasattr(stream, "seek") and hasattr(stream, "tell")):
            return None
        start = stream.tell()
        try:
            stream.seek(0, os.SEEK_END)
            size = stream.tell()
            stream.seek(0)
            head = stream.read(12)
            if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RIFX"):
                return None
            order = "<" if head[:4] == b"RIFF" else ">"
            position = 12
            for _ in range(1024):  # a WAVE file has a handful of chunks; stop on garbage
                stream.seek(position)
                chunk = stream.read(8)
                if len(chunk) < 8:
                    return None
                chunk_id, chunk_size = chunk[:4], struct.unpack(f"{order}I", chunk[4:])[0]
                if chunk_id == b"data":
                    present = size - (position + 8)
                    if chunk_size in (0, 0xFFFFFFFF) or present >= chunk_size:
                        return None
                    return chunk_size, max(present, 0)
                position += 8 + chunk_size + (chunk_size & 1)
            return None
        finally:
            stream.seek(start)
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    finally:
        if opened:
            stream.close()


def _refuse_truncated_wav(source: AudioSource, name: str) -> None:
    shortfall = wav_data_shortfall(source)
    if shortfall is not None:
        declared, present = shortfall
        raise AudioError(
            f"truncated WAV: its header declares {declared} bytes of samples but the file holds {present} "
            f"({100 * present / declared:.0f}%); restore or re-export the file",
            path=name,
        )


@dataclass(frozen=True)
class AudioProbe:
    """What :func:`probe_audio` found: the file's frames, rate and duration in seconds."""

    frames: int
    sample_rate: int
    duration_s: float


def probe_audio(path: str | os.PathLike[str], *, min_samples: int = MIN_SAMPLES) -> AudioProbe:
    """Check that an audio file can be used, without decoding all of it.

    Reads the header, refuses a truncated WAV (:func:`wav_data_shortfall`), decodes the last frame
    (a truncated FLAC or MP3 fails there), and refuses audio shorter than ``min_samples`` at 16 kHz
    (:data:`MIN_SAMPLES`: one model frame).

    Returns
    -------
    AudioProbe

    Raises
    ------
    AudioError
        Naming the file and what is wrong: missing, unreadable, empty, truncated or too short.
    """
    name = os.fspath(path)
    if not Path(path).is_file():
        raise AudioError("no such audio file", path=name)
    _refuse_truncated_wav(path, name)
    try:
        with soundfile.SoundFile(name) as handle:
            frames, rate = handle.frames, handle.samplerate
            if frames > 0:
                handle.seek(frames - 1)
                last = handle.read(1, dtype="float32", always_2d=True)
                if last.shape[0] != 1:
                    raise AudioError(f"truncated: the header says {frames} frames but the last cannot be read", path=name)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as exc:
        raise AudioError(f"cannot read audio (truncated or damaged? {exc})", path=name) from None
    if frames <= 0:
        raise AudioError("audio is empty (0 samples)", path=name)
    if frames * SAMPLE_RATE < min_samples * rate:
        raise AudioError(
            f"audio is too short: {frames} samples at {rate} Hz ({1000 * frames / rate:.1f} ms); the models need "
            f"at least {min_samples} samples at {SAMPLE_RATE} Hz ({1000 * min_samples / SAMPLE_RATE:.0f} ms, one frame)",
            path=name,
        )
    return AudioProbe(frames, rate, frames / rate)


def audio_fingerprint(path: str | os.PathLike[str]) -> str:
    """A cheap fingerprint of an audio file's bytes: ``"<size>:<blake2b-128 of the first and last 64 KiB>"``.

    Why not a hash of the whole file: a manifest of a large corpus lists ~10^5 files and extraction
    checks every one on each (resumed) run; reading 128 KiB per file keeps that to seconds, while a
    full hash would read the corpus twice more.  What it catches: any change of length (a file
    replaced by a longer one), and any change of the header or the first / last 64 KiB (audio
    regenerated with another seed, another recording, re-encoding); a file under 128 KiB (~4 s of
    16 kHz PCM) is hashed whole.  What it misses: an edit confined to the middle of a long file that
    keeps its size, which no accident produces.

    Raises
    ------
    AudioError
        When the file is missing or cannot be read.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            digest = hashlib.blake2b(digest_size=16)
            if size <= 2 * FINGERPRINT_BLOCK:
                digest.update(handle.read())
            else:
                digest.update(handle.read(FINGERPRINT_BLOCK))
                handle.seek(size - FINGERPRINT_BLOCK)
                digest.update(handle.read(FINGERPRINT_BLOCK))
    except FileNotFoundError:
        raise AudioError("no such audio file", path=name) from None
    except OSError as exc:
        raise AudioError(f"cannot be read ({exc.strerror or exc})", path=name) from None
    return f"{size}:{digest.hexdigest()}"


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

    Raises
    ------
    OSError
        ENOSPC, naming the file, when the disk is full (the partial file is removed).
    AudioError
        When the waveform is not 1-d or holds NaN / inf, or libsndfile fails otherwise.
    """
    samples = np.asarray(waveform)
    if samples.ndim != 1 or samples.size == 0:
        raise AudioError(f"expected a non-empty 1-d waveform, got shape {samples.shape}", path=path)
    if samples.dtype.kind == "f":
        if not np.isfinite(samples).all():
            raise AudioError("refusing to write NaN or infinite samples", path=path)
        samples = np.clip(samples, -1.0, 1.0)
    try:
        soundfile.write(os.fspath(path), samples, sample_rate, subtype="PCM_16")
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        # libsndfile reports a failed write as "System error." without the errno; a full disk is by
        # far the likeliest cause, and is told apart by the free space left against the file's size.
        with contextlib.suppress(OSError):
            os.remove(path)
        needed = 2 * samples.size + 1024
        try:
            free = shutil.disk_usage(Path(path).parent).free
        except OSError:
            free = needed
        if free < needed:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path)) from None
        raise AudioError(f"cannot write audio ({exc})", path=path) from None


def audio_bytes_source(data: bytes, name: str = "<audio bytes>") -> BinaryIO:
    """Wrap raw file bytes so that :func:`load_audio` can read them (errors mention ``name``)."""
    stream = io.BytesIO(data)
    stream.name = name  # type: ignore[attr-defined]
    return stream


__all__ = [
    "SAMPLE_RATE",
    "AUDIO_SUFFIXES",
    "COMPRESSED_AUDIO_SUFFIXES",
    "UNREADABLE_AUDIO_SUFFIXES",
    "MIN_SAMPLES",
    "AudioProbe",
    "load_audio",
    "probe_audio",
    "audio_fingerprint",
    "wav_data_shortfall",
    "audio_duration",
    "write_audio",
    "audio_bytes_source",
]
