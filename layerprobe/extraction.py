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

Long audio (memory bounds, stated per second of audio; the README's performance section has the
measured figures):

* ``mel`` is computed in 10 s blocks (:mod:`layerprobe.features.mel`): no length limit.
* A model holds every layer of a whole utterance at once, and its transformer layers see the whole
  utterance, so an utterance cannot be cut without changing their numbers.  ``max_seconds``
  (``--max-seconds``, default :data:`DEFAULT_MAX_SECONDS`) refuses, before anything is computed
  or written, a run whose manifest has a longer utterance.
* ``window_seconds`` (``--window-seconds``) runs utterances longer than the window as consecutive
  windows, each a separate forward; window k covers ``[k W, (k + 1) W)`` seconds and gives the
  layers' frames from ``k W`` times the layer's rate on (the frames are concatenated).  This is
  the model's own view for Whisper, whose encoder takes 30 s at a time; the seams are where a
  window's frames stop seeing the audio after them.  Only windows that put the seams exactly on
  every stored layer's frame grid are accepted (Whisper's frames at multiples of 0.02 s; the
  wav2vec 2.0 family loses frames at each seam, so it is refused), and the store's
  ``config.window_seconds`` records the option.  Utterances within one window are computed as
  without it.
* Attention maps hold ``heads x T x T`` weights per block: ``max_attention_frames``
  (``--max-frames``, default :data:`DEFAULT_MAX_ATTENTION_FRAMES`) refuses up front an utterance
  with more frames, naming the bytes it would need (:func:`attention_bytes`).
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

#: Longest utterance a model extraction takes by default (``--max-seconds``), in seconds.
DEFAULT_MAX_SECONDS = 120.0

#: Most transformer frames (50 per second) an utterance may have for attention maps (``--max-frames``).
DEFAULT_MAX_ATTENTION_FRAMES = 2000

#: Bytes per attention weight that a block's maps take while computed and stored: the float32
#: logits and softmax, the float32 copy cut to the real frames and its float16 copy.
ATTENTION_BYTES_PER_WEIGHT = 14


def attention_bytes(n_heads: int, n_frames: int, *, pre_softmax: bool = False) -> int:
    """Memory the attention maps of one block of one utterance take (``heads x T x T`` weights).

    Parameters
    ----------
    n_heads : int
        Heads per block.
    n_frames : int
        The utterance's transformer frames T.
    pre_softmax : bool, keyword-only
        Whether the logits are stored too (one more cut float32 and float16 copy per weight).

    Returns
    -------
    int
        ``n_heads * T**2 * 14`` bytes (20 with the logits).
    """
    per_weight = ATTENTION_BYTES_PER_WEIGHT + (6 if pre_softmax else 0)
    return int(n_heads) * int(n_frames) ** 2 * per_weight


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
    window_seconds: float | None = None


def plan_extraction(
    adapter: ModelAdapter | None,
    *,
    rep: str,
    span: str,
    layers: str | Sequence[str] = "all",
    dtype: str = "float32",
    attention_ids: Sequence[str] = (),
    pre_softmax: bool = False,
    window_seconds: float | None = None,
) -> ExtractionPlan:
    """Resolve the layers and frame rates a run will store.

    Raises
    ------
    ConfigError
        Unknown rep or dtype, a model missing (or given) for the rep, layers of the wrong kind, a
        window that does not put its seams on every layer's frame grid or exceeds the model's input.
    """
    if rep not in REPS:
        raise ConfigError(f"unknown --rep {rep!r} (known: {', '.join(REPS)})")
    if dtype not in DTYPES:
        raise ConfigError(f"unknown --dtype {dtype!r} (known: {', '.join(DTYPES)})")
    if rep == "mel":
        if attention_ids:
            raise ConfigError("--attention needs a model; the mel baseline has no attention")
        if window_seconds is not None:
            raise ConfigError("--window-seconds is for models; the mel baseline is computed in blocks at any length")
        return ExtractionPlan(rep, span, (MEL,), {MEL: LOCAL_GRID_HZ}, LOCAL_GRID_HZ, dtype, frozenset(), False)
    if adapter is None:
        raise ConfigError(f"--rep {rep} needs --model")
    kind = LOCAL if rep == "local" else CONTEXTUALIZED
    available = [layer for layer in adapter.layer_ids if layer_kind(layer) == kind]
    if not available:  # w2v-BERT 2.0, AV-HuBERT and FaST-VGS have no conv encoder layers, so no C layers
        raise ConfigError(f"--rep {rep}: {adapter.spec} has no {kind} layers (it has {', '.join(adapter.layer_ids)})")
    spec = layers if isinstance(layers, str) else ",".join(layers)
    chosen = parse_layers(spec, adapter.layer_ids) if spec.strip().lower() != "all" else available
    wrong = [layer for layer in chosen if layer_kind(layer) != kind]
    if wrong:
        raise ConfigError(f"--rep {rep} stores {kind} layers; {', '.join(wrong)} belong to another rep")
    if pre_softmax and attention_ids and not getattr(adapter, "supports_pre_softmax", True):
        raise ConfigError(f"--pre-softmax: {adapter.spec} gives post-softmax attention maps only; drop --pre-softmax")
    rates = {layer: _stored_rate(adapter, layer) for layer in chosen}
    grid = LOCAL_GRID_HZ if rep == "local" and LOCAL_GRID_HZ in rates.values() else adapter.frame_rate_hz
    if window_seconds is not None:
        _check_window(adapter, chosen, window_seconds, attention_ids)
    return ExtractionPlan(rep, span, tuple(chosen), rates, grid, dtype, frozenset(attention_ids), pre_softmax, window_seconds)


def _check_window(adapter: ModelAdapter, layers: Sequence[str], window_seconds: float, attention_ids: Sequence[str]) -> None:
    """Refuse a window the model cannot take or whose seams fall between the frames of a stored layer."""
    if attention_ids:
        raise ConfigError(
            "--window-seconds cannot be combined with --attention: the maps of a window are not the "
            "utterance's; store the maps in a run without --window-seconds"
        )
    samples = window_seconds * SAMPLE_RATE
    if not window_seconds > 0 or samples != round(samples):
        raise ConfigError(f"--window-seconds {window_seconds:g} must be a positive whole number of samples at {SAMPLE_RATE} Hz")
    if adapter.max_seconds is not None and window_seconds > adapter.max_seconds:
        raise ConfigError(
            f"--window-seconds {window_seconds:g} is longer than {adapter.family}'s input window of "
            f"{adapter.max_seconds:g} s; give at most {adapter.max_seconds:g}"
        )
    for layer in layers:
        rate = adapter.layer_frame_rate(layer)
        expected = window_seconds * rate
        got = adapter.layer_n_frames(layer, int(round(samples)))
        if got != expected:
            raise ConfigError(
                f"--window-seconds {window_seconds:g} does not put the window seams on {layer}'s frame grid "
                f"({adapter.spec} gives {got} frames per window, not {expected:g} = {window_seconds:g} s x "
                f"{rate:g} Hz); windows suit models such as Whisper whose frames tile the audio exactly"
            )


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


def _check_length(
    adapter: ModelAdapter | None, waveform: np.ndarray, utterance: SampledUtterance, path: Path, *,
    max_seconds: float | None = None, window_seconds: float | None = None, max_attention_frames: int | None = None,
) -> None:  # fmt: skip
    """The loaded audio against the limits (the manifest's durations were checked up front).

    ``max_attention_frames`` is given for an utterance whose attention maps are stored.
    """
    if adapter is not None:
        seconds = waveform.size / SAMPLE_RATE
        frames = adapter.n_frames(waveform.size)
        if frames < 1:
            raise AudioError(f"audio of {seconds:.3f} s is shorter than one model frame", path=path)
        if max_attention_frames is not None and frames > max_attention_frames:
            raise AudioError(
                f"audio of {seconds:.1f} s has {frames} frames, over --max-frames {max_attention_frames} for its "
                f"attention maps (the manifest says {utterance.duration_s:.1f} s); pick shorter utterances with --utterances",
                path=path,
            )
        if max_seconds is not None and waveform.size > max_seconds * SAMPLE_RATE:
            raise AudioError(f"audio of {seconds:.1f} s is longer than --max-seconds {max_seconds:g}; {_MAX_SECONDS_HINT}", path=path)
        if window_seconds is None and adapter.max_seconds is not None and waveform.size > adapter.max_seconds * SAMPLE_RATE:
            raise AudioError(
                f"audio of {seconds:.1f} s is longer than {adapter.family}'s limit of {adapter.max_seconds:g} s; "
                f"run it in windows with --window-seconds {adapter.max_seconds:g}",
                path=path,
            )


_MAX_SECONDS_HINT = (
    "a model holds every layer of a whole utterance in memory (README: Performance); raise --max-seconds "
    "if the memory is there, or cut the recordings into shorter utterances"
)


def check_long_audio(
    plan: ExtractionPlan,
    adapter: ModelAdapter | None,
    utterances: Sequence[SampledUtterance],
    *,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    max_attention_frames: int | None = DEFAULT_MAX_ATTENTION_FRAMES,
) -> None:
    """Refuse, before anything runs, utterances (by the manifest's durations) over a memory limit.

    Parameters
    ----------
    plan : ExtractionPlan
    adapter : ModelAdapter or None
        None (the mel baseline) has no limit: it is computed in blocks.
    utterances : sequence of SampledUtterance
        Those the run will compute.
    max_seconds : float or None, keyword-only
        Longest utterance a model run takes (None: no limit).
    max_attention_frames : int or None, keyword-only
        Most transformer frames of an utterance whose attention maps are stored (None: no limit).

    Raises
    ------
    ConfigError
        One line naming the longest offending utterance, what it would need and the option that helps.
    """
    if adapter is None or not utterances:
        return
    longest = max(utterances, key=lambda u: u.duration_s)
    chosen = [u for u in utterances if u.utt_id in plan.attention_ids]
    if max_attention_frames is not None and chosen:
        widest = max(chosen, key=lambda u: u.duration_s)
        frames = adapter.n_frames(int(round(widest.duration_s * SAMPLE_RATE)))
        if frames > max_attention_frames:
            heads = int(getattr(adapter, "num_attention_heads", 1))
            need = attention_bytes(heads, frames, pre_softmax=plan.pre_softmax)
            bound = attention_bytes(heads, max_attention_frames, pre_softmax=plan.pre_softmax)
            raise ConfigError(
                f"--max-frames {max_attention_frames}: the attention maps of {widest.utt_id} "
                f"({widest.duration_s:.1f} s, {frames} frames) need {_gigabytes(need)} per block ({heads} heads x "
                f"{frames}^2 weights); pick shorter utterances with --utterances, or raise --max-frames "
                f"(it bounds them at {_gigabytes(bound)})"
            )
    if max_seconds is not None and longest.duration_s > max_seconds:
        count = sum(u.duration_s > max_seconds for u in utterances)
        raise ConfigError(
            f"--max-seconds {max_seconds:g}: {count} utterance{'s are' if count != 1 else ' is'} longer "
            f"(the longest, {longest.utt_id}, has {longest.duration_s:.1f} s); {_MAX_SECONDS_HINT}"
        )
    if plan.window_seconds is None and adapter.max_seconds is not None and longest.duration_s > adapter.max_seconds:
        count = sum(u.duration_s > adapter.max_seconds for u in utterances)
        raise ConfigError(
            f"{count} utterance{'s are' if count != 1 else ' is'} longer than {adapter.family}'s input window of "
            f"{adapter.max_seconds:g} s (the longest, {longest.utt_id}, has {longest.duration_s:.1f} s); run them "
            f"in windows with --window-seconds {adapter.max_seconds:g}"
        )


def _gigabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:.2f} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:.1f} MB"


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
    window = None if plan.window_seconds is None else int(round(plan.window_seconds * SAMPLE_RATE))
    # utterances within one window run as without windows; longer ones window by window
    whole = [i for i, item in enumerate(items) if window is None or item[1].size <= window]
    for i in sorted(set(range(len(items))) - set(whole)):
        outputs[i] = _windowed_forward(plan, adapter, items[i][1], window, batch_seconds)
    for batch in _batches(adapter, [items[i] for i in whole], batch_seconds):
        indices = [whole[j] for j in batch]
        waves = [items[i][1] for i in indices]
        if len(indices) == 1:
            results = [adapter.forward(waves[0], layers=plan.layers)]
        else:
            results = adapter.forward_batch(waves, layers=plan.layers)
        for i, result in zip(indices, results):
            outputs[i] = result
    return outputs


def _windowed_forward(plan: ExtractionPlan, adapter: ModelAdapter, waveform: np.ndarray, window: int, batch_seconds: float) -> LayerOutputs:
    """One long utterance as consecutive windows of ``window`` samples, the layers' frames concatenated.

    Window k gives frames ``k * window_seconds * rate`` on of each layer (:func:`_check_window`
    made sure they tile the grid); a last piece too short for one frame gives none (it has none on
    the whole utterance's grid either).  Windows run in batches of at most ``batch_seconds`` of
    audio (padded to the model's input window), so memory holds one batch plus the result.
    """
    pieces = [waveform[start : start + window] for start in range(0, waveform.size, window)]
    if adapter.n_frames(pieces[-1].size) < 1:
        pieces.pop()
    per_batch = max(1, int(batch_seconds * SAMPLE_RATE // max(window, round((adapter.max_seconds or 0) * SAMPLE_RATE))))
    parts: dict[str, list[np.ndarray]] = {layer: [] for layer in plan.layers}
    for start in range(0, len(pieces), per_batch):
        batch = pieces[start : start + per_batch]
        results = adapter.forward_batch(batch, layers=plan.layers) if len(batch) > 1 else [adapter.forward(batch[0], layers=plan.layers)]
        for result in results:
            for layer in plan.layers:
                parts[layer].append(result.hidden[layer])
    hidden = {layer: np.concatenate(chunks, axis=0) for layer, chunks in parts.items()}
    for layer, features in hidden.items():
        expected = adapter.layer_n_frames(layer, waveform.size)
        if features.shape[0] != expected:
            raise LayerprobeError(
                f"{adapter.spec}: the windows of {plan.window_seconds:g} s gave {layer} {features.shape[0]} frames, "
                f"the utterance has {expected}"
            )
    return LayerOutputs(hidden=hidden, n_frames=adapter.n_frames(waveform.size))


def _stream_attention(
    plan: ExtractionPlan, adapter: ModelAdapter, waveform: np.ndarray, writer: StoreWriter, utt_id: str
) -> None:
    """Write an utterance's attention maps (and logits) block by block as the model computes them.

    Each block's padding mass (heads, T) goes to ``/attention_padding`` just before its maps.
    Only one block's (heads, T, T) maps are in memory at a time, as float16; the utterance's
    :meth:`StoreWriter.append` follows.  On an error the maps written so far are removed.
    """

    def store(block: str, values: np.ndarray, logits: bool) -> None:
        writer.write_attention(utt_id, block, values, logits=logits)

    def store_padding(block: str, mass: np.ndarray) -> None:
        writer.write_padding_mass(utt_id, block, mass)

    try:
        adapter.forward(waveform, layers=[], attention=True, pre_softmax=plan.pre_softmax, on_attention=store,
                        on_padding=store_padding)  # fmt: skip
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
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    window_seconds: float | None = None,
    max_attention_frames: int | None = DEFAULT_MAX_ATTENTION_FRAMES,
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
    max_seconds : float or None, keyword-only
        Longest utterance a model run takes (default 120 s; None: no limit); a longer one in the
        manifest is refused before anything runs (the mel baseline has no limit).
    window_seconds : float or None, keyword-only
        Run utterances longer than this as consecutive windows (Whisper: 30; see the module
        docstring); recorded in the store's ``config.window_seconds``.
    max_attention_frames : int or None, keyword-only
        Most transformer frames of an utterance whose attention maps are stored (default 2000,
        40 s at 50 Hz; None: no limit); a longer one is refused up front with the bytes it needs.
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
        Bad options, audio shorter than a frame (or longer than the model takes or the limits
        allow), a segment outside the audio, a store from other options in the way.
    """
    started = time.perf_counter()
    utterances = list(manifest.utterances)
    # chosen over the whole manifest, so that every shard records the same options
    attention_ids = _attention_ids(attention, utterances)
    if shard is not None:
        utterances = list(shard.select(utterances))
    plan = plan_extraction(
        adapter, rep=rep, span=manifest.span, layers=layers, dtype=dtype, attention_ids=attention_ids, pre_softmax=pre_softmax,
        window_seconds=window_seconds,
    )  # fmt: skip
    check_long_audio(plan, adapter, utterances, max_seconds=max_seconds, max_attention_frames=max_attention_frames)
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
                maps = utterance.utt_id in plan.attention_ids
                _check_length(adapter, waveform, utterance, audio_path, max_seconds=max_seconds, window_seconds=plan.window_seconds,
                              max_attention_frames=max_attention_frames if maps else None)  # fmt: skip
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
            "pooling": {"phone": "mean of the middle third", "word": "mean", "all_words": "mean", "frame": "none"}[plan.span],
            "attention_utterances": sorted(plan.attention_ids),
            "pre_softmax": plan.pre_softmax,
            # only with maps: the implementation they came from (the model's own, in config.model, may be sdpa)
            **({"attention_maps": {
                "implementation": getattr(adapter, "attention_maps_implementation", "eager"),
                "cut": "real frames' queries and keys, not renormalised; the mass cut away in /attention_padding",
            }} if plan.attention_ids else {}),  # fmt: skip
            # only when set, so that the stores of runs without windows keep their identity
            **({"window_seconds": plan.window_seconds} if plan.window_seconds is not None else {}),
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


__all__ = [
    "REPS",
    "DTYPES",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_MAX_ATTENTION_FRAMES",
    "Shard",
    "ExtractionPlan",
    "ExtractionReport",
    "attention_bytes",
    "check_long_audio",
    "plan_extraction",
    "extract",
]
