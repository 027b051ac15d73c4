"""Extraction: a data-sample set through a model into a FeatureStore, every layer once.

For each utterance of the manifest (or of one shard of it) the model runs once; the requested layers
are pooled by span and appended to the store in manifest order:

* ``frame``: every frame (T layers at 50 Hz; for ``local``, conv layers C1..C6 average-pooled onto
  the 10 ms grid as REFERENCE.md prescribes and the others at their own rate);
* ``phone``: the mean of the middle third of each phone's frames; ``word``: the mean of each word's
  frames (:func:`layerprobe.features.frames.segment_frames`).

``--rep mel`` stores the log-mel baseline (:func:`layerprobe.features.mel.log_mel`) at 10 ms, without
a model.  Models that pad exactly (layer-norm conv front ends, Whisper) run batches of utterances of
similar length; group-norm models run one utterance at a time.  The store is written as
``<file>.partial`` and renamed when complete; a rerun resumes after the last stored utterance.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from layerprobe import __version__
from layerprobe.data.sample_checks import check_audio
from layerprobe.data.samples import SampledUtterance, SampleManifest
from layerprobe.errors import AudioError, ConfigError, LayerprobeError
from layerprobe.features.mel import MEL_FRAME_RATE_HZ, MEL_N_MELS, log_mel
from layerprobe.features.pooling import average_pool, pool_segments
from layerprobe.io.audio import SAMPLE_RATE, load_audio
from layerprobe.io.store import FeatureStore, StoreWriter, model_tag, store_path
from layerprobe.layers import CONTEXTUALIZED, LOCAL, MEL, layer_kind, parse_layers
from layerprobe.models.base import LayerOutputs, ModelAdapter

log = logging.getLogger("layerprobe.extract")

REPS = ("local", "contextualized", "mel")
DTYPES = ("float32", "float16")

#: Frame rate of conv layers pooled onto the log-mel grid.
LOCAL_GRID_HZ = MEL_FRAME_RATE_HZ

#: Utterances read ahead and sorted by length to form batches (bounds memory; keeps store order).
BATCH_WINDOW = 32


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``: a contiguous block of the manifest's utterances."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"3/16"`` -> Shard(3, 16)."""
        try:
            index_text, count_text = text.split("/")
            shard = cls(int(index_text), int(count_text))
        except ValueError:
            raise ConfigError(f"--shard must be I/N (e.g. 3/16), got {text!r}") from None
        if not 1 <= shard.index <= shard.count:
            raise ConfigError(f"--shard {text}: the index must be between 1 and {shard.count}")
        return shard

    def select(self, items: Sequence[Any]) -> Sequence[Any]:
        """This shard's contiguous block of ``items`` (the blocks of all shards tile ``items`` in order)."""
        n = len(items)
        return items[(self.index - 1) * n // self.count : self.index * n // self.count]


@dataclass(frozen=True)
class ExtractionPlan:
    """What one extraction run stores (resolved from the options and the model)."""

    rep: str
    span: str
    layers: tuple[str, ...]
    layer_rates: dict[str, float]
    grid_hz: float
    dtype: str
    attention_ids: frozenset[str]
    pre_softmax: bool


def plan_extraction(
    adapter: ModelAdapter | None,
    *,
    rep: str,
    span: str,
    layers: str | Sequence[str] = "all",
    dtype: str = "float32",
    attention_ids: Sequence[str] = (),
    pre_softmax: bool = False,
) -> ExtractionPlan:
    """Resolve the layers and frame rates a run will store.

    Raises
    ------
    ConfigError
        Unknown rep or dtype, a model missing (or given) for the rep, layers of the wrong kind.
    """
    if rep not in REPS:
        raise ConfigError(f"unknown --rep {rep!r} (known: {', '.join(REPS)})")
    if dtype not in DTYPES:
        raise ConfigError(f"unknown --dtype {dtype!r} (known: {', '.join(DTYPES)})")
    if rep == "mel":
        if attention_ids:
            raise ConfigError("--attention needs a model; the mel baseline has no attention")
        return ExtractionPlan(rep, span, (MEL,), {MEL: LOCAL_GRID_HZ}, LOCAL_GRID_HZ, dtype, frozenset(), False)
    if adapter is None:
        raise ConfigError(f"--rep {rep} needs --model")
    kind = LOCAL if rep == "local" else CONTEXTUALIZED
    available = [layer for layer in adapter.layer_ids if layer_kind(layer) == kind]
    spec = layers if isinstance(layers, str) else ",".join(layers)
    chosen = parse_layers(spec, adapter.layer_ids) if spec.strip().lower() != "all" else available
    wrong = [layer for layer in chosen if layer_kind(layer) != kind]
    if wrong:
        raise ConfigError(f"--rep {rep} stores {kind} layers; {', '.join(wrong)} belong to another rep")
    rates = {layer: _stored_rate(adapter, layer) for layer in chosen}
    grid = LOCAL_GRID_HZ if rep == "local" and LOCAL_GRID_HZ in rates.values() else adapter.frame_rate_hz
    return ExtractionPlan(rep, span, tuple(chosen), rates, grid, dtype, frozenset(attention_ids), pre_softmax)


def _stored_rate(adapter: ModelAdapter, layer: str) -> float:
    """Frame rate a layer is stored at: the 10 ms grid when the adapter pools it there, else its own."""
    if layer_kind(layer) == LOCAL and adapter.local_pooling(layer) is not None:
        return LOCAL_GRID_HZ
    return adapter.layer_frame_rate(layer)


# --------------------------------------------------------------------------------------------------
# Per utterance


def _frames_by_layer(plan: ExtractionPlan, adapter: ModelAdapter | None, waveform: np.ndarray, outputs: LayerOutputs | None) -> dict[str, np.ndarray]:
    """Each stored layer's frames on its stored grid, shape (n_frames_of_layer, dim)."""
    if plan.rep == "mel":
        return {MEL: log_mel(waveform)}
    frames = {}
    for layer in plan.layers:
        features = outputs.hidden[layer]
        pooling = adapter.local_pooling(layer) if layer_kind(layer) == LOCAL else None
        frames[layer] = average_pool(features, *pooling) if pooling is not None else features
    return frames


def _rows(plan: ExtractionPlan, frames: dict[str, np.ndarray], utterance: SampledUtterance) -> dict[str, np.ndarray]:
    if plan.span == "frame":
        return frames
    segments = [(s.start, s.end) for s in utterance.segments]
    return {
        layer: pool_segments(features, segments, frame_rate_hz=plan.layer_rates[layer], middle_third=plan.span == "phone")
        for layer, features in frames.items()
    }


def _check_length(adapter: ModelAdapter | None, waveform: np.ndarray, utterance: SampledUtterance, path: Path) -> None:
    if adapter is not None:
        if adapter.n_frames(waveform.size) < 1:
            raise AudioError(f"audio of {waveform.size / SAMPLE_RATE:.3f} s is shorter than one model frame", path=path)
        if adapter.max_seconds is not None and waveform.size > adapter.max_seconds * SAMPLE_RATE:
            raise AudioError(
                f"audio of {waveform.size / SAMPLE_RATE:.1f} s is longer than {adapter.family}'s limit of "
                f"{adapter.max_seconds:g} s",
                path=path,
            )


def _batches(adapter: ModelAdapter | None, items: list[tuple[SampledUtterance, np.ndarray]], batch_seconds: float) -> Iterator[list[int]]:
    """Indices of ``items`` grouped into batches of similar length (singletons when the model cannot batch)."""
    if adapter is None or not adapter.supports_batching or batch_seconds <= 0:
        yield from ([i] for i in range(len(items)))
        return
    order = sorted(range(len(items)), key=lambda i: items[i][1].size)
    # A model with a fixed input window (Whisper's 30 s) pads every item to all of it.
    window = adapter.max_seconds * SAMPLE_RATE if adapter.max_seconds is not None else 0
    batch: list[int] = []
    for i in order:
        longest = max([items[j][1].size for j in batch] + [items[i][1].size, window])
        if batch and longest * (len(batch) + 1) > batch_seconds * SAMPLE_RATE:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _run_model(plan: ExtractionPlan, adapter: ModelAdapter | None, items, batch_seconds: float) -> list[LayerOutputs | None]:
    """Model outputs for a window of utterances, in the window's order."""
    if adapter is None:
        return [None] * len(items)
    outputs: list[LayerOutputs | None] = [None] * len(items)
    for batch in _batches(adapter, items, batch_seconds):
        waves = [items[i][1] for i in batch]
        if len(batch) == 1:
            results = [adapter.forward(waves[0], layers=plan.layers)]
        else:
            results = adapter.forward_batch(waves, layers=plan.layers)
        for i, result in zip(batch, results):
            outputs[i] = result
    return outputs


def _stream_attention(
    plan: ExtractionPlan, adapter: ModelAdapter, waveform: np.ndarray, writer: StoreWriter, utt_id: str
) -> None:
    """Write an utterance's attention maps (and logits) block by block as the model computes them.

    Only one block's (heads, T, T) maps are in memory at a time, as float16; the utterance's
    :meth:`StoreWriter.append` follows.  On an error the maps written so far are removed.
    """

    def store(block: str, values: np.ndarray, logits: bool) -> None:
        writer.write_attention(utt_id, block, values, logits=logits)

    try:
        adapter.forward(waveform, layers=[], attention=True, pre_softmax=plan.pre_softmax, on_attention=store)
    except BaseException:
        if not writer.closed:
            writer.discard_attention(utt_id)
        raise


# --------------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class ExtractionReport:
    """What a run did: the store, utterances and rows written, seconds of audio and of work."""

    path: Path
    n_utterances: int
    n_skipped: int
    n_rows: int
    audio_seconds: float
    wall_seconds: float


def extract(
    manifest: SampleManifest,
    adapter: ModelAdapter | None,
    out_dir: str | Path,
    *,
    rep: str = "contextualized",
    layers: str | Sequence[str] = "all",
    dtype: str = "float32",
    shard: Shard | None = None,
    attention: Sequence[str] | int = (),
    pre_softmax: bool = False,
    batch_seconds: float = 120.0,
    overwrite: bool = False,
    progress: bool = True,
    manifest_path: str | Path | None = None,
) -> ExtractionReport:
    """Extract a data-sample set into a FeatureStore (see the module docstring).

    Parameters
    ----------
    manifest : SampleManifest
    adapter : ModelAdapter or None
        The model; None only for ``rep="mel"``.
    out_dir : path-like
        Root of the feature stores; the file goes to
        ``out_dir/<model_tag>/<corpus>_<split>_sample<k>/<rep>_<span>[.shard-...].h5``.
    rep : {"local", "contextualized", "mel"}, keyword-only
        Which layers: the conv blocks, the transformer layers (default), or the log-mel baseline
        (``adapter`` None).
    layers : str or sequence of str, keyword-only
        Layer spec (``"all"``, ``"T0-T12"``, ...) within the rep.
    dtype : {"float32", "float16"}, keyword-only
        On-disk precision of the features.
    shard : Shard, optional, keyword-only
        Process only this block of the manifest (written to a shard file; ``merge_shards`` joins them).
    attention : sequence of str or int, keyword-only
        Utterance ids whose attention maps to store, or the number of utterances (the first N of
        this run) to store them for.
    pre_softmax : bool, keyword-only
        Also store the attention logits before the softmax.
    batch_seconds : float, keyword-only
        Most padded audio per batch for models that batch exactly.
    overwrite : bool, keyword-only
        Replace an existing complete store.
    progress : bool, keyword-only
        Show a progress bar (on a terminal).
    manifest_path : path-like, optional, keyword-only
        Where the manifest was read from (recorded as provenance).

    Returns
    -------
    ExtractionReport

    Raises
    ------
    ConfigError, AudioError, AlignmentError, StoreError
        Bad options, audio shorter than a frame (or longer than the model takes), a segment outside
        the audio, a store from other options in the way.
    """
    started = time.perf_counter()
    utterances = list(manifest.utterances)
    # chosen over the whole manifest, so that every shard records the same options
    attention_ids = _attention_ids(attention, utterances)
    if shard is not None:
        utterances = list(shard.select(utterances))
    plan = plan_extraction(
        adapter, rep=rep, span=manifest.span, layers=layers, dtype=dtype, attention_ids=attention_ids, pre_softmax=pre_softmax
    )
    path = extraction_path(out_dir, None if adapter is None else adapter.spec, manifest, rep, shard=shard)
    # every utterance of the run, the ones a resumed store already holds too: audio changed since sampling is refused
    check_audio(manifest, utterances)
    attrs = _store_attrs(plan, adapter, manifest, manifest_path)
    dims = _layer_dims(plan, adapter)
    # A flush after every utterance costs milliseconds against a model forward of ~0.1-1 s, and a
    # killed run then loses at most the utterance in flight.
    writer = FeatureStore.create(
        path, attrs=attrs, layer_dims=dims, dtype=dtype, layer_frame_rates=plan.layer_rates, resume=True,
        overwrite=overwrite, flush_every=1,
    )  # fmt: skip
    done = set(writer.done_ids)
    todo = [u for u in utterances if u.utt_id not in done]
    if done:
        log.info("resuming %s: %d of %d utterances already stored", path, len(done), len(utterances))
    audio_seconds = 0.0
    rows = stored_count = 0
    with writer, tqdm(total=len(utterances), initial=len(done), desc=f"extract {rep} {manifest.span}", unit="utt",
                      disable=None if progress else True) as bar:  # fmt: skip
        for start in range(0, len(todo), BATCH_WINDOW):
            window = []
            for utterance in todo[start : start + BATCH_WINDOW]:
                audio_path = manifest.audio_path(utterance)
                waveform = load_audio(audio_path)
                _check_length(adapter, waveform, utterance, audio_path)
                window.append((utterance, waveform))
            outputs = _run_model(plan, adapter, window, batch_seconds)
            for (utterance, waveform), output in zip(window, outputs):
                audio_path = manifest.audio_path(utterance)
                try:
                    stored = _rows(plan, _frames_by_layer(plan, adapter, waveform, output), utterance)
                except LayerprobeError as exc:
                    raise type(exc)(exc.problem, path=audio_path, where=exc.where) from None
                if utterance.utt_id in plan.attention_ids:
                    # streamed into the store block by block: a long utterance's maps never pile up
                    _stream_attention(plan, adapter, waveform, writer, utterance.utt_id)
                segments = None if manifest.span == "frame" else [(s.label, s.start, s.end) for s in utterance.segments]
                writer.append(utterance.utt_id, stored, segments=segments)
                audio_seconds += waveform.size / SAMPLE_RATE
                rows += next(iter(stored.values())).shape[0]
                stored_count += 1
                bar.update(1)
                log.debug("stored %s (%d/%d)", utterance.utt_id, len(done) + stored_count, len(utterances))
        writer.finish()
    return ExtractionReport(path, len(todo), len(done), rows, audio_seconds, time.perf_counter() - started)


def extraction_path(
    out_dir: str | os.PathLike[str], model_spec: str | None, manifest: SampleManifest, rep: str, *, shard: Shard | None = None
) -> Path:
    """Where :func:`extract` writes: ``out_dir/<model_tag or logmel>/<corpus>_<split>_sample<k>/<rep>_<span>[.shard].h5``."""
    tag = "logmel" if model_spec is None else model_tag(model_spec)
    return store_path(
        out_dir, tag, manifest.corpus["name"], manifest.split, manifest.sample, rep, manifest.span,
        shard=None if shard is None else (shard.index, shard.count),
    )  # fmt: skip


def _attention_ids(attention: Sequence[str] | int, utterances: Sequence[SampledUtterance]) -> frozenset[str]:
    if isinstance(attention, int):
        if attention < 0:
            raise ConfigError(f"--attention N must be non-negative, got {attention}")
        return frozenset(u.utt_id for u in utterances[:attention])
    wanted = frozenset(attention)
    known = {u.utt_id for u in utterances}
    missing = sorted(wanted - known)
    if missing:
        raise ConfigError(f"--attention names utterances not in this sample: {', '.join(missing[:5])}")
    return wanted


def _layer_dims(plan: ExtractionPlan, adapter: ModelAdapter | None) -> dict[str, int]:
    if plan.rep == "mel":
        return {MEL: MEL_N_MELS}
    return {layer: adapter.layer_dim(layer) for layer in plan.layers}


def _store_attrs(plan: ExtractionPlan, adapter: ModelAdapter | None, manifest: SampleManifest, manifest_path) -> dict[str, Any]:
    """The store's attributes; identical for every shard of a run (the file name says which shard)."""
    described = dict(adapter.describe()) if adapter is not None else {"spec": None}
    described.pop("device", None)  # shards may run on different devices; the features do not depend on it
    manifest_hash = manifest.content_hash()
    return {
        "layerprobe_version": __version__,
        "model": described.get("spec") or "logmel",
        "model_revision": described.get("revision") or "",
        "rep": plan.rep,
        "span": plan.span,
        "frame_rate_hz": plan.grid_hz,
        "sample_rate": SAMPLE_RATE,
        "layer_ids": list(plan.layers),
        "manifest_hash": manifest_hash,
        # where the manifest was read from (not part of the store's identity): a runner opening the store
        # compares manifest_hash with that file, so a redrawn sample is not analysed with stale features
        "manifest_file": "" if manifest_path is None else os.fspath(Path(manifest_path).absolute()),
        # the content of the weight files (not their path): a resume or reuse with replaced weights is refused
        "weights_fingerprint": (getattr(adapter, "weights_fingerprint", None) or "") if adapter is not None else "",
        "config": {
            "dtype": plan.dtype,
            "layers": list(plan.layers),
            "layer_frame_rates": plan.layer_rates,
            "pooling": {"phone": "mean of the middle third", "word": "mean", "frame": "none"}[plan.span],
            "attention_utterances": sorted(plan.attention_ids),
            "pre_softmax": plan.pre_softmax,
            "model": described,
            "manifest": {
                "file": None if manifest_path is None else Path(manifest_path).name,
                "sha256": manifest_hash,
                "corpus": manifest.corpus["name"],
                "split": manifest.split,
                "span": manifest.span,
                "sample": manifest.sample,
            },
        },
    }


__all__ = ["REPS", "DTYPES", "Shard", "ExtractionPlan", "ExtractionReport", "plan_extraction", "extract"]
