"""Training data for CTC: transcripts, length bucketing, padded batches of stored features or waveforms.

* :func:`read_transcripts` maps the utterances of a corpus split (or of a file list, such as the
  LibriSpeech 10 h / 100 h subsets) to normalised transcripts.
* :func:`length_buckets` packs utterances of similar length into batches under a padded-size budget
  and orders the batches with a seed, deterministically.
* :func:`collate_ctc` pads items into a :class:`CTCBatch`.
* :class:`FeatureCTCData` (probes: one layer of a frame-span feature store, or the log-mel store)
  and :class:`WaveformCTCData` (fine-tuning: 16 kHz waveforms of corpus utterances) hold the
  utterances with their encoded transcripts and yield the batches of an epoch:
  ``data.batches(epoch, max_batch_frames=..., seed=...)`` buckets with the seed ``seed + epoch``,
  so every epoch has its own order and the same epoch always the same one.

Example
-------
>>> from layerprobe.io.store import FeatureStore                          # doctest: +SKIP
>>> transcripts = read_transcripts("synth", "train")                      # doctest: +SKIP
>>> data = FeatureCTCData(FeatureStore.open(path), "T4", transcripts)     # doctest: +SKIP
>>> batch = next(data.batches(0, max_batch_frames=20_000, seed=0))        # doctest: +SKIP
>>> batch.inputs.shape, batch.targets.shape                               # doctest: +SKIP
(torch.Size([12, 1640, 768]), torch.Size([12, 290]))
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from layerprobe.data.corpora import Corpus, Utterance, open_corpus
from layerprobe.errors import ConfigError, CorpusError, StoreError
from layerprobe.io.audio import AUDIO_SUFFIXES, SAMPLE_RATE
from layerprobe.training.ctc import CharVocabulary, normalize_text

if TYPE_CHECKING:  # pragma: no cover
    from layerprobe.io.store import FeatureStore

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: :class:`FeatureCTCData` reads a layer into memory at once when it is at most this large (``preload=None``).
PRELOAD_LIMIT_BYTES = 1 << 30

#: One CTC item: inputs (T, D) or (S,), target ids (U,), text, utterance id.
CTCItem = tuple[np.ndarray, np.ndarray, str, str]


# --------------------------------------------------------------------------------------------------
# Transcripts


def read_utterance_list(path: PathLike) -> list[str]:
    """Utterance ids from a file list: one per line.

    Blank lines and lines starting with ``#`` are skipped; only the first field of a line counts,
    and an audio path (``.../103-1240-0000.flac``) stands for its file stem.

    Raises
    ------
    ConfigError
        For a missing or empty file, or an id listed twice (the line is named).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("no such utterance list", path=path)
    ids: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        token = text.split()[0]
        name = Path(token)
        utt_id = name.stem if name.suffix.lower() in AUDIO_SUFFIXES else name.name
        if utt_id in seen:
            raise ConfigError(f"utterance {utt_id!r} is listed twice (first on line {seen[utt_id]})", path=path, where=f"line {number}")
        seen[utt_id] = number
        ids.append(utt_id)
    if not ids:
        raise ConfigError("lists no utterances", path=path)
    return ids


def _as_corpus(corpus: Corpus | PathLike) -> Corpus:
    return corpus if isinstance(corpus, Corpus) else open_corpus(corpus)


def _split_utterances(corpus: Corpus, split: str, file_list: PathLike | None) -> list[Utterance]:
    """The utterances of a split, restricted to (and in the corpus order of) a file list when given."""
    utterances = list(corpus.utterances(split))
    if file_list is None:
        return utterances
    wanted = read_utterance_list(file_list)
    present = {utt.utt_id for utt in utterances}
    missing = [utt_id for utt_id in wanted if utt_id not in present]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise CorpusError(f"lists {missing[0]!r}{more}, not in split {split!r} of {corpus.root}", path=file_list)
    keep = set(wanted)
    return [utt for utt in utterances if utt.utt_id in keep]


def read_transcripts(corpus: Corpus | PathLike, split: str, *, file_list: PathLike | None = None) -> dict[str, str]:
    """Normalised transcripts of a corpus split.

    Parameters
    ----------
    corpus : Corpus or path-like
        An opened corpus or its directory (:func:`~layerprobe.data.corpora.open_corpus`).
    split : str
    file_list : path-like, optional
        A text file of utterance ids, one per line (:func:`read_utterance_list`), e.g. a 10 h
        subset of LibriSpeech; only those utterances are read.

    Returns
    -------
    dict
        Utterance id -> transcript normalised by :func:`~layerprobe.training.ctc.normalize_text`,
        in corpus order.

    Raises
    ------
    CorpusError
        When an utterance has no transcript (its audio file is named) or the list names one the
        split lacks.
    ConfigError
        For an unknown split or a bad file list.
    """
    opened = _as_corpus(corpus)
    transcripts = {}
    for utt in _split_utterances(opened, split, file_list):
        if utt.transcript is None:
            raise CorpusError(f"utterance {utt.utt_id!r} has no transcript (CTC training needs one per utterance)", path=utt.audio_path)
        transcripts[utt.utt_id] = normalize_text(utt.transcript)
    return transcripts


# --------------------------------------------------------------------------------------------------
# Bucketing and batches


def length_buckets(lengths: Sequence[int], *, max_batch_frames: int, seed: int, shuffle: bool = True) -> list[list[int]]:
    """Batches of item indices with similar lengths under a padded-size budget.

    Items are sorted by length (ties by index) and packed greedily: a batch takes the next item
    while ``batch size * longest length <= max_batch_frames``.  An item longer than the budget is a
    batch of its own.  The batch order is then shuffled with ``seed`` (not the items inside a batch).

    Parameters
    ----------
    lengths : sequence of int
        Length of each item (frames or samples).
    max_batch_frames : int, keyword-only
        Budget of a padded batch: ``B * max length``.
    seed : int, keyword-only
    shuffle : bool, keyword-only
        Shuffle the batch order; without it batches run from the shortest items to the longest.

    Returns
    -------
    list of list of int
        Every index exactly once; the same arguments give the same batches.

    Examples
    --------
    >>> length_buckets([5, 3, 8, 2], max_batch_frames=10, seed=0, shuffle=False)
    [[3, 1], [0], [2]]
    """
    if isinstance(max_batch_frames, bool) or not isinstance(max_batch_frames, (int, np.integer)) or max_batch_frames < 1:
        raise ConfigError(f"the batch budget must be a positive number of frames, got {max_batch_frames!r}")
    values = np.asarray(lengths, dtype=np.int64).reshape(-1)
    if (values < 0).any():
        raise ValueError("lengths must not be negative")
    order = np.lexsort((np.arange(values.size), values))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order.tolist():
        longest = max(int(values[index]), 1)  # sorted: the newest item is the longest
        if current and (len(current) + 1) * longest > max_batch_frames:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    if shuffle:
        permutation = np.random.default_rng(seed).permutation(len(batches))
        batches = [batches[i] for i in permutation.tolist()]
    return batches


@dataclass
class CTCBatch:
    """A padded batch for CTC training.

    Attributes
    ----------
    inputs : torch.Tensor
        (B, T, D) float32 frame features or (B, S) float32 waveforms, zero-padded.
    input_lengths : torch.Tensor
        (B,) int64: valid frames (samples) per row.
    targets : torch.Tensor
        (B, U) int64 token ids, padded with 0 (the blank; masked by ``target_lengths``).
    target_lengths : torch.Tensor
        (B,) int64.
    texts : list of str
        The normalised transcripts.
    utt_ids : list of str
    """

    inputs: torch.Tensor
    input_lengths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor
    texts: list[str]
    utt_ids: list[str]

    def __len__(self) -> int:
        return len(self.utt_ids)

    def to(self, device: str | torch.device) -> "CTCBatch":
        """The same batch with its tensors on ``device``."""
        return CTCBatch(
            self.inputs.to(device),
            self.input_lengths.to(device),
            self.targets.to(device),
            self.target_lengths.to(device),
            list(self.texts),
            list(self.utt_ids),
        )


def collate_ctc(items: Sequence[CTCItem]) -> CTCBatch:
    """Pad items into a :class:`CTCBatch`.

    Parameters
    ----------
    items : sequence of (inputs, targets, text, utt_id)
        ``inputs`` of shape (T, D) (features; same D for all) or (S,) (waveforms), ``targets``
        int token ids of shape (U,).

    Returns
    -------
    CTCBatch
        Inputs zero-padded to the longest, targets padded with 0.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    arrays = [np.asarray(item[0], dtype=np.float32) for item in items]
    ndim = arrays[0].ndim
    if ndim not in (1, 2) or any(a.ndim != ndim for a in arrays):
        raise ValueError(f"inputs must all be (T, D) or all (S,), got shapes {[a.shape for a in arrays]}")
    if ndim == 2 and len({a.shape[1] for a in arrays}) != 1:
        raise ValueError(f"feature inputs must share their dimension, got {sorted({a.shape[1] for a in arrays})}")
    input_lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    inputs = np.zeros((len(arrays), int(input_lengths.max()), *arrays[0].shape[1:]), dtype=np.float32)
    for row, values in enumerate(arrays):
        inputs[row, : values.shape[0]] = values
    target_arrays = [np.asarray(item[1], dtype=np.int64).reshape(-1) for item in items]
    target_lengths = np.array([t.size for t in target_arrays], dtype=np.int64)
    targets = np.zeros((len(items), max(int(target_lengths.max()), 1)), dtype=np.int64)
    for row, values in enumerate(target_arrays):
        targets[row, : values.size] = values
    return CTCBatch(
        torch.from_numpy(inputs),
        torch.from_numpy(input_lengths),
        torch.from_numpy(targets),
        torch.from_numpy(target_lengths),
        [str(item[2]) for item in items],
        [str(item[3]) for item in items],
    )


class _CTCData:
    """What both datasets share: ids, texts, encoded targets, lengths, items, epoch batches."""

    #: Rate of :attr:`lengths` (frames per second, or samples per second for waveforms).
    frame_rate_hz: float

    def __init__(self, utt_ids: Sequence[str], texts: Sequence[str], lengths: Sequence[int], vocab: CharVocabulary | None):
        self.vocab = vocab if vocab is not None else CharVocabulary.default()
        self.utt_ids = list(utt_ids)
        self.texts = list(texts)
        self.targets = [self.vocab.encode(text) for text in self.texts]
        self.lengths = [int(n) for n in lengths]

    def __len__(self) -> int:
        return len(self.utt_ids)

    @property
    def total_seconds(self) -> float:
        """Seconds of audio the items cover (their lengths over the frame rate)."""
        return float(sum(self.lengths)) / self.frame_rate_hz

    def inputs(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def item(self, index: int) -> CTCItem:
        """``(inputs, target ids, text, utt_id)`` of one utterance."""
        return self.inputs(index), self.targets[index], self.texts[index], self.utt_ids[index]

    def batches(self, epoch: int, *, max_batch_frames: int, seed: int, shuffle: bool = True) -> Iterator[CTCBatch]:
        """The batches of one epoch, bucketed by length with the seed ``seed + epoch``.

        Parameters
        ----------
        epoch : int
        max_batch_frames : int, keyword-only
            Padded-size budget of a batch (:func:`length_buckets`), in this data's length unit.
        seed : int, keyword-only
        shuffle : bool, keyword-only
            Shuffle the batch order (training); evaluation may keep the length order.

        Yields
        ------
        CTCBatch
        """
        for indices in length_buckets(self.lengths, max_batch_frames=max_batch_frames, seed=seed + epoch, shuffle=shuffle):
            yield collate_ctc([self.item(i) for i in indices])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self)} utterances, {self.total_seconds:.1f} s>"


class FeatureCTCData(_CTCData):
    """One layer of a frame-span feature store with the utterances' transcripts, for probes.

    Parameters
    ----------
    store : FeatureStore
        A frame-span store (a model's ``contextualized``/``local`` store, or the log-mel store with
        layer ``mel``); kept open and read utterance by utterance unless preloaded.
    layer : str
        The layer id whose frames are the inputs.
    transcripts : mapping
        Utterance id -> transcript (normalised by :func:`read_transcripts`; normalised again anyway).
    vocab : CharVocabulary, optional
        The default 30-token vocabulary when omitted.
    utterance_ids : sequence of str, optional
        Use only these utterances of the store (in store order).
    preload : bool or None
        Read the whole layer into memory once; None: when it takes at most
        :data:`PRELOAD_LIMIT_BYTES`.

    Attributes
    ----------
    dim : int
        Feature dimension.
    frame_rate_hz : float
        Frame rate of the layer.
    lengths : list of int
        Frames per utterance.

    Raises
    ------
    StoreError
        For a store of another span, a missing layer, or utterance ids the store lacks.
    CorpusError
        When an utterance of the store has no transcript.
    """

    def __init__(
        self,
        store: "FeatureStore",
        layer: str,
        transcripts: Mapping[str, str],
        *,
        vocab: CharVocabulary | None = None,
        utterance_ids: Sequence[str] | None = None,
        preload: bool | None = None,
    ):
        path = store.paths[0]
        if store.span != "frame":
            raise StoreError(f"is a {store.span}-span store; CTC training reads frame-span features (extract --span frame)", path=path)
        if layer not in store.layer_ids:
            raise StoreError(f"has no layer {layer!r} (it has {', '.join(store.layer_ids)})", path=path)
        all_ids = store.utterance_ids
        starts, counts = store.row_ranges(layer)
        positions = {utt: number for number, utt in enumerate(all_ids)}
        if utterance_ids is not None:
            absent = [utt for utt in utterance_ids if utt not in positions]
            if absent:
                raise StoreError(f"has no utterance {absent[0]!r}" + (f" (and {len(absent) - 1} more)" if len(absent) > 1 else ""), path=path)
            wanted = set(utterance_ids)
            chosen = [number for number, utt in enumerate(all_ids) if utt in wanted]
        else:
            chosen = list(range(len(all_ids)))
        untranscribed = [all_ids[n] for n in chosen if all_ids[n] not in transcripts]
        if untranscribed:
            more = f" and {len(untranscribed) - 1} more" if len(untranscribed) > 1 else ""
            raise CorpusError(f"utterance {untranscribed[0]!r}{more} of the store has no transcript; is it the right corpus and split?", path=path)
        empty = [all_ids[n] for n in chosen if counts[n] == 0]
        if empty:
            log.warning("%s: skipping %d utterance(s) without frames (%s)", path, len(empty), empty[0])
            chosen = [n for n in chosen if counts[n] > 0]
        self.store = store
        self.layer = layer
        self.dim = int(store.dims[layer])
        self.frame_rate_hz = float(store.layer_frame_rate(layer))
        self._starts = starts[chosen].astype(np.int64)
        ids = [all_ids[n] for n in chosen]
        super().__init__(ids, [normalize_text(transcripts[utt]) for utt in ids], counts[chosen].tolist(), vocab)
        self._rows: np.ndarray | None = None
        if preload is None:
            preload = store.n_rows(layer) * self.dim * 4 <= PRELOAD_LIMIT_BYTES
        if preload:
            self._rows = store.read(layer)

    def inputs(self, index: int) -> np.ndarray:
        """The frames of utterance ``index``, shape (T, dim), float32."""
        start, count = int(self._starts[index]), self.lengths[index]
        if self._rows is not None:
            return self._rows[start : start + count]
        return self.store.read(self.layer, slice(start, start + count))


class WaveformCTCData(_CTCData):
    """16 kHz waveforms of corpus utterances with their transcripts, for fine-tuning.

    Parameters
    ----------
    corpus : Corpus or path-like
    split : str
    vocab : CharVocabulary, optional
    file_list : path-like, optional
        Only the utterances listed (:func:`read_utterance_list`), e.g. a LibriSpeech 10 h subset.
    max_seconds : float, optional
        Leave out utterances longer than this (they would dominate a batch's padding).
    preload : bool
        Keep the waveforms in memory after the first read (small corpora, many epochs).

    Attributes
    ----------
    lengths : list of int
        Samples per utterance at 16 kHz, from the audio headers (a resampled file may differ by a
        sample; batches use the loaded lengths).
    frame_rate_hz : float
        16000.

    Raises
    ------
    CorpusError
        When an utterance has no transcript, or no utterance is left.
    """

    frame_rate_hz = float(SAMPLE_RATE)

    def __init__(
        self,
        corpus: Corpus | PathLike,
        split: str,
        *,
        vocab: CharVocabulary | None = None,
        file_list: PathLike | None = None,
        max_seconds: float | None = None,
        preload: bool = False,
    ):
        opened = _as_corpus(corpus)
        utterances = _split_utterances(opened, split, file_list)
        for utt in utterances:
            if utt.transcript is None:
                raise CorpusError(f"utterance {utt.utt_id!r} has no transcript (CTC training needs one per utterance)", path=utt.audio_path)
        durations = [utt.duration() for utt in utterances]
        if max_seconds is not None:
            kept = [(u, d) for u, d in zip(utterances, durations) if d <= max_seconds]
            if len(kept) < len(utterances):
                log.info("%s/%s: leaving out %d utterance(s) longer than %g s", opened.name, split, len(utterances) - len(kept), max_seconds)
            utterances, durations = [u for u, _ in kept], [d for _, d in kept]
        if not utterances:
            raise CorpusError(f"split {split!r} has no utterances to train on", path=opened.root)
        self.corpus = opened
        self.split = split
        self.utterances = utterances
        self._cache: dict[int, np.ndarray] | None = {} if preload else None
        super().__init__(
            [utt.utt_id for utt in utterances],
            [normalize_text(utt.transcript or "") for utt in utterances],
            [max(1, math.ceil(d * SAMPLE_RATE - 1e-6)) for d in durations],
            vocab,
        )

    def inputs(self, index: int) -> np.ndarray:
        """The waveform of utterance ``index``, shape (S,), float32, 16 kHz."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        waveform = self.utterances[index].load_audio()
        if self._cache is not None:
            self._cache[index] = waveform
        return waveform


__all__ = [
    "PRELOAD_LIMIT_BYTES",
    "CTCItem",
    "read_utterance_list",
    "read_transcripts",
    "length_buckets",
    "CTCBatch",
    "collate_ctc",
    "FeatureCTCData",
    "WaveformCTCData",
]
