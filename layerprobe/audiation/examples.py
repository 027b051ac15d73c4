"""Dataset examples of a unit: the stored frames of real speech that activate it most.

:func:`top_activating_frames` streams one layer of a frame-span
:class:`~layerprobe.io.store.FeatureStore` (``layerprobe extract --span frame``) and keeps the
``k`` rows with the largest value of the unit (ties: the earlier row first).  Each row is located in
its utterance with :meth:`FeatureStore.row_ranges`: row ``i`` of an utterance is its frame ``i`` on
the layer's grid (``store.layer_frame_rate(layer)``: 50 Hz for T layers, 100 Hz for C1..C6 pooled
onto 10 ms), covering ``[i / r, (i + 1) / r)`` (:mod:`layerprobe.features.frames`); ``time_s`` is its
start ``i / r``.  The frame's phone and word are the alignment intervals holding the frame's centre
``(i + 0.5) / r``, labels as the alignment writes them (None in a gap or silence without a label).

Alignments and audio come from the data-sample manifest the store records (found under
``samples_dir``, as the attention viewer finds it, or given as ``manifest``); without one the
examples have no phone, word or audio.  :func:`example_clip` cuts the real audio around a frame so
that a gallery can play it next to the synthetic sound.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from layerprobe.errors import ConfigError

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class FrameExample:
    """One stored frame that activates a unit strongly.

    Attributes
    ----------
    rank : int
        1 for the strongest.
    utt_id : str
    frame : int
        Frame index within the utterance on the layer's grid.
    frame_rate_hz : float
        The layer's frame rate in the store.
    time_s : float
        Start of the frame, ``frame / frame_rate_hz``.
    activation : float
        The unit's stored value.
    phone, word : str or None
        The alignment's phone and word at the frame's centre.
    audio : Path or None
        The utterance's audio file.
    """

    rank: int
    utt_id: str
    frame: int
    frame_rate_hz: float
    time_s: float
    activation: float
    phone: str | None = None
    word: str | None = None
    audio: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "utt_id": self.utt_id,
            "frame": self.frame,
            "frame_rate_hz": self.frame_rate_hz,
            "time_s": self.time_s,
            "activation": self.activation,
            "phone": self.phone,
            "word": self.word,
            "audio": None if self.audio is None else str(self.audio),
        }


def examples_store_record(store: Any, adapter: Any) -> dict[str, Any]:
    """Check that a store of dataset examples holds features of ``adapter``'s model; what to record of it.

    The store's ``weights_fingerprint`` attr is compared with the adapter's
    (:mod:`layerprobe.models.fingerprint`) where both have one, else the canonical model names
    (:func:`~layerprobe.io.store_paths.model_name`) of the store's ``model`` attr and the adapter's spec.

    Parameters
    ----------
    store : FeatureStore
        The open store.
    adapter : ModelAdapter
        The model being audiated.

    Returns
    -------
    dict
        ``{"path", "model", "weights_fingerprint"}`` of the store (for the audiation's sidecar); the
        path of a store of several shards is its first shard's, with their count.

    Raises
    ------
    ConfigError
        Naming the store and both models, when the store holds features of another model.
    """
    from layerprobe.io.store_paths import model_name
    from layerprobe.models.fingerprint import short

    files = [os.fspath(Path(path).absolute()) for path in store.paths]
    where = files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} shards)"
    stored_model = str(store.attrs.get("model") or "")
    stored_weights = str(store.attrs.get("weights_fingerprint") or "") or None
    weights = getattr(adapter, "weights_fingerprint", None) or None
    if stored_weights is not None and weights is not None:
        same = stored_weights == weights
    else:
        same = bool(stored_model) and model_name(stored_model) == model_name(adapter.spec)
    if not same:
        raise ConfigError(
            f"holds features of {stored_model or 'an unknown model'} (weights {short(stored_weights)}), not of "
            f"{adapter.spec} (weights {short(weights)}): its top frames would be another model's; give a frame store "
            f"extracted with this model (layerprobe extract --model {adapter.spec} --span frame)",
            path=where,
        )
    return {"path": where, "model": stored_model, "weights_fingerprint": stored_weights}


def top_k_rows(values_in_chunks: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest values of a stream of 1-d chunks and their global row indices.

    Parameters
    ----------
    values_in_chunks : iterable of numpy.ndarray
        1-d arrays, concatenated in order they are the column.
    k : int

    Returns
    -------
    rows : numpy.ndarray, shape (min(k, n),), int64
        Largest value first; equal values by row, earlier first.
    values : numpy.ndarray, same shape, float64
    """
    best_rows = np.empty(0, dtype=np.int64)
    best_values = np.empty(0, dtype=np.float64)
    offset = 0
    for chunk in values_in_chunks:
        chunk = np.asarray(chunk, dtype=np.float64)
        rows = np.concatenate([best_rows, offset + np.arange(chunk.size, dtype=np.int64)])
        values = np.concatenate([best_values, chunk])
        order = np.lexsort((rows, -values))[:k]  # by value descending, then row ascending
        best_rows, best_values = rows[order], values[order]
        offset += chunk.size
    return best_rows, best_values


def top_activating_frames(
    store: Any,
    layer: str,
    unit: int,
    k: int = 10,
    *,
    manifest: Any = None,
    samples_dir: PathLike | None = "data_samples",
    chunk_rows: int = 65536,
) -> list[FrameExample]:
    """The ``k`` stored frames where a unit is largest, with utterance, time, phone and word.

    Parameters
    ----------
    store : FeatureStore or path-like
        A complete frame-span store holding ``layer``.
    layer : str
    unit : int
        Dimension of the layer, in ``[0, dim)``.
    k : int
        How many frames.
    manifest : SampleManifest or path-like, optional, keyword-only
        The data-sample set of the store (for alignments and audio); found from the store's
        ``config.manifest`` attr under ``samples_dir`` when omitted.
    samples_dir : path-like or None, keyword-only
        Root of the data-sample sets.
    chunk_rows : int, keyword-only
        Rows read at a time (the layer is streamed, never loaded whole).

    Returns
    -------
    list of FrameExample
        Strongest first; fewer than ``k`` when the store has fewer rows.

    Raises
    ------
    ConfigError
        For a store that is not frame-span, a layer it lacks, a unit out of range or k < 1.
    StoreError
        For a store that cannot be opened.
    """
    from layerprobe.io.store import FeatureStore

    opened = store if isinstance(store, FeatureStore) else FeatureStore.open(store)
    try:
        return _top_frames(opened, layer, unit, k, manifest=manifest, samples_dir=samples_dir, chunk_rows=chunk_rows)
    finally:
        if opened is not store:
            opened.close()


def _top_frames(store: Any, layer: str, unit: int, k: int, *, manifest: Any, samples_dir: PathLike | None,
                chunk_rows: int) -> list[FrameExample]:  # fmt: skip
    where = store.paths[0]
    if store.span != "frame":
        raise ConfigError(f"is a {store.span}-span store; dataset examples need a frame-span store (extract --span frame)", path=where)
    if layer not in store.layer_ids:
        raise ConfigError(f"has no layer {layer} (it has {', '.join(store.layer_ids)})", path=where)
    dim = store.dims[layer]
    if not 0 <= int(unit) < dim:
        raise ConfigError(f"layer {layer} has units 0..{dim - 1}, not {unit}", path=where)
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    column = (block[:, int(unit)] for block in store.iter_rows(layer, chunk_rows=chunk_rows))
    rows, values = top_k_rows(column, k)
    starts, counts = store.row_ranges(layer)
    utt_index = np.searchsorted(starts, rows, side="right") - 1
    utt_ids = store.utterance_ids
    rate = float(store.layer_frame_rate(layer))
    chosen = sorted({utt_ids[i] for i in utt_index})
    alignments, audio = _alignments_and_audio(store, chosen, manifest=manifest, samples_dir=samples_dir)
    examples = []
    for rank, (row, value, index) in enumerate(zip(rows, values, utt_index), start=1):
        utt_id = utt_ids[index]
        frame = int(row - starts[index])
        centre = (frame + 0.5) / rate
        alignment = alignments.get(utt_id)
        examples.append(
            FrameExample(
                rank=rank,
                utt_id=utt_id,
                frame=frame,
                frame_rate_hz=rate,
                time_s=frame / rate,
                activation=float(value),
                phone=_label_at(alignment.phones, centre) if alignment is not None else None,
                word=_label_at(alignment.words, centre) if alignment is not None else None,
                audio=audio.get(utt_id),
            )
        )
    return examples


def _label_at(intervals: Any, time_s: float) -> str | None:
    """The label of the first interval with ``start <= time_s < end`` (None when there is none)."""
    for interval in intervals:
        if interval.start <= time_s < interval.end:
            return interval.label.strip() or None
    return None


def _alignments_and_audio(store: Any, utt_ids: list[str], *, manifest: Any, samples_dir: PathLike | None) -> tuple[dict, dict]:
    """(utt_id -> Alignment, utt_id -> audio Path) from the store's data-sample manifest, empty without one."""
    from layerprobe.attention.view import find_manifest, load_alignments
    from layerprobe.data.samples import SampleManifest, read_manifest

    sample = manifest if isinstance(manifest, SampleManifest) else None
    if sample is None:
        path, note = find_manifest(store, samples_dir=samples_dir, manifest=manifest)
        if path is None:
            logger.info("dataset examples without phones or audio: %s", note)
            return {}, {}
        sample = read_manifest(path)
    alignments, notes = load_alignments(sample, utt_ids)
    for note in notes:
        logger.info("dataset examples: %s", note)
    by_id = {utterance.utt_id: utterance for utterance in sample.utterances}
    audio = {utt_id: sample.audio_path(by_id[utt_id]) for utt_id in utt_ids if utt_id in by_id}
    return alignments, audio


def example_clip(example: FrameExample, *, context_s: float = 0.25) -> np.ndarray | None:
    """The real audio around an example's frame: ``[time_s - context_s, time_s + 1 / r + context_s)``.

    Returns
    -------
    numpy.ndarray or None
        16 kHz float32 samples cut to the audio's bounds; None when the example has no audio file.

    Raises
    ------
    AudioError
        When the audio file cannot be read.
    """
    from layerprobe.io.audio import SAMPLE_RATE, load_audio

    if example.audio is None:
        return None
    wave = load_audio(example.audio)
    start = max(0, int(round((example.time_s - context_s) * SAMPLE_RATE)))
    end = min(wave.size, int(round((example.time_s + 1.0 / example.frame_rate_hz + context_s) * SAMPLE_RATE)))
    return wave[start:end] if end > start else None


__all__ = ["FrameExample", "example_clip", "examples_store_record", "top_activating_frames", "top_k_rows"]
