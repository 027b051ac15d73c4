"""The files of one audiated unit: the WAV, its JSON sidecar and a spectrogram PNG (and example clips).

:func:`write_audiation` writes, next to each other::

    <stem>.wav            the waveform peak-normalised to ``peak`` (0.95), 16 kHz mono 16-bit PCM
    <stem>.png            spectrogram over the unit's activation per frame (layerprobe.audiation.figures)
    <stem>.json           the sidecar: AudiationResult.to_json() + "files" (names relative to it) +
                          "peak_scale" (the factor applied for the WAV) + "examples" (dataset frames)
    <stem>_examples/      with dataset examples: NN_<utt_id>.wav, the real audio around each frame

Everything is first written under temporary names in the same folder and renamed into place only
when all of it has been written, the sidecar last, so a sidecar always describes complete files and
a failure leaves no file a reader could take for a result.  :func:`read_audiation` reads a sidecar
back (the gallery is built from sidecars).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from layerprobe.errors import AudioError, ConfigError, ResultError
from layerprobe.io.atomic import atomic_path, json_text

PathLike = str | os.PathLike[str]

#: Peak of the written WAV (a little headroom below full scale).
DEFAULT_PEAK = 0.95

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class AudiationFiles:
    """What :func:`write_audiation` wrote."""

    wav: Path
    sidecar: Path
    png: Path
    examples: tuple[Path, ...] = ()


def peak_normalised(waveform: np.ndarray, *, peak: float = DEFAULT_PEAK) -> tuple[np.ndarray, float]:
    """The waveform scaled so that its largest magnitude is ``peak``, and the scale factor.

    Raises
    ------
    AudioError
        For a silent (all-zero) or non-finite waveform.
    """
    wave = np.asarray(waveform, dtype=np.float64)
    largest = float(np.max(np.abs(wave))) if wave.size else 0.0
    if not np.isfinite(largest) or largest == 0.0:
        raise AudioError("the audiated waveform is silent or not finite; nothing to write")
    scale = peak / largest
    return (wave * scale).astype(np.float32), scale


def sidecar_path(wav: PathLike) -> Path:
    """``<stem>.json`` next to ``<stem>.wav``."""
    return Path(wav).with_suffix(".json")


def write_audiation(
    result: Any,
    out_wav: PathLike,
    *,
    peak: float = DEFAULT_PEAK,
    examples: Sequence[Any] | None = None,
    example_context_s: float = 0.25,
    examples_store: Mapping[str, Any] | None = None,
) -> AudiationFiles:
    """Write an :class:`~layerprobe.audiation.AudiationResult` as WAV + JSON sidecar + spectrogram PNG.

    Parameters
    ----------
    result : AudiationResult
    out_wav : path-like
        The ``.wav`` to write; the sidecar and PNG take its stem; its folder is created.
    peak : float, keyword-only
        Peak of the written samples, in (0, 1].
    examples : sequence of FrameExample, optional, keyword-only
        Dataset examples (:func:`~layerprobe.audiation.examples.top_activating_frames`) to record
        in the sidecar, with a clip of real audio each where the example has an audio file.
    example_context_s : float, keyword-only
        Seconds of audio kept on each side of an example's frame.
    examples_store : mapping, optional, keyword-only
        The store the examples come from (its path, model and weights fingerprint), recorded in
        the sidecar as ``examples_store``.

    Returns
    -------
    AudiationFiles

    Raises
    ------
    ConfigError
        When ``out_wav`` does not end in .wav, or ``peak`` is out of range.
    AudioError
        For a silent waveform, or an example's audio that cannot be read.
    ResultError
        When a file cannot be written.
    """
    from layerprobe.audiation.examples import example_clip
    from layerprobe.audiation.figures import audiation_figure
    from layerprobe.io.audio import write_audio
    from layerprobe.io.figures import save_figure

    wav = Path(out_wav)
    if wav.suffix.lower() != ".wav":
        raise ConfigError("an audiation is written as a .wav file", path=wav)
    if not 0 < peak <= 1:
        raise ConfigError(f"peak must be in (0, 1], got {peak!r}")
    sidecar, png = sidecar_path(wav), wav.with_suffix(".png")
    clips_dir = wav.with_name(f"{wav.stem}_examples")
    samples, scale = peak_normalised(result.waveform, peak=peak)
    try:
        wav.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultError(f"cannot create the folder ({exc.strerror or exc})", path=wav.parent) from None
    # The clips folder is swapped in with a plain os.replace: layerprobe.io.atomic writes files, not folders.
    temporary_clips = clips_dir.with_name(f".{clips_dir.name}.{os.getpid()}-{secrets.token_hex(4)}")
    data = result.to_json()
    data["peak_scale"] = scale
    data["files"] = {"wav": wav.name, "png": png.name}
    data["examples"] = []
    if examples_store is not None:
        data["examples_store"] = dict(examples_store)
    clip_names: list[str] = []
    try:
        with ExitStack() as stack:
            # Entered sidecar first, so that the files are renamed into place wav, png, sidecar: the
            # sidecar last, as it vouches for the rest.  A failure removes every temporary file.
            temporary = {final: stack.enter_context(atomic_path(final)) for final in (sidecar, png, wav)}
            write_audio(temporary[wav], samples, sample_rate=result.sample_rate)
            save_figure(audiation_figure(result), temporary[png], formats=["png"])
            for example in examples or ():
                entry = example.to_json()
                clip = example_clip(example, context_s=example_context_s)
                entry["clip"] = None
                if clip is not None and clip.size:
                    temporary_clips.mkdir(exist_ok=True)
                    name = f"{example.rank:02d}_{_UNSAFE.sub('_', example.utt_id)}.wav"
                    write_audio(temporary_clips / name, clip, sample_rate=result.sample_rate)
                    entry["clip"] = f"{clips_dir.name}/{name}"
                    clip_names.append(name)
                data["examples"].append(entry)
            temporary[sidecar].write_text(json_text(data, indent=1, allow_nan=False), encoding="utf-8")
            shutil.rmtree(clips_dir, ignore_errors=True)  # clips of an earlier result of this name
            if clip_names:
                os.replace(temporary_clips, clips_dir)
    except (OSError, RuntimeError) as exc:  # soundfile's LibsndfileError is a RuntimeError
        raise ResultError(f"cannot write the audiation files ({getattr(exc, 'strerror', None) or exc})", path=wav) from None
    finally:
        shutil.rmtree(temporary_clips, ignore_errors=True)
    return AudiationFiles(wav=wav, sidecar=sidecar, png=png, examples=tuple(clips_dir / name for name in clip_names))


def read_audiation(sidecar: PathLike) -> dict[str, Any]:
    """Read a sidecar written by :func:`write_audiation`; ``"path"`` is added (the sidecar's own path).

    Raises
    ------
    ResultError
        When the file is missing, is not JSON, or lacks the fields of an audiation sidecar.
    """
    path = Path(sidecar)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultError("no such audiation sidecar", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultError(f"cannot read the audiation sidecar ({exc})", path=path) from None
    needed = ("model", "layer", "unit", "mode", "files", "final_activation", "initial_activation", "noise_activation")
    missing = [key for key in needed if not isinstance(data, dict) or key not in data]
    if missing:
        raise ResultError(f"is not an audiation sidecar (missing {', '.join(missing)})", path=path)
    data["path"] = path
    return data


__all__ = ["DEFAULT_PEAK", "AudiationFiles", "peak_normalised", "read_audiation", "sidecar_path", "write_audiation"]
