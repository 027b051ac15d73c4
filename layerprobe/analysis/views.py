"""Row-aligned pairs of views for the CCA experiments, streamed from feature stores.

Each CCA experiment of REFERENCE.md section 3 compares two views of the same samples: a layer's
features and log-mel frames, another layer, one-hot labels or word vectors.  The constructors here
bind the stores to a :class:`PairedViews`, which streams the paired rows in blocks of consecutive
rows without reading a whole layer into memory:

====================  =======================  ========================  ======================
experiment            constructor              X (view 1)                Y (view 2)
====================  =======================  ========================  ======================
cca_mel               :func:`mel_views`        log-mel frames (80)       frame features
cca_intra             :func:`intra_views`      layer ``base`` (T0)       layer Tl
cca_phone             :func:`onehot_views`     phone-pooled features     one-hot phone (39)
cca_word              :func:`onehot_views`     word-pooled features      one-hot word (500)
cca_agwe / cca_glove  :func:`embedding_views`  word-pooled features      the word's vector
cca_semantic          :func:`oracle_views`     word-pooled features      supersense distribution
cca_syntactic         :func:`oracle_views`     word-pooled features      POS-tag distribution
====================  =======================  ========================  ======================

Pairing of log-mel frames (10 ms, 100 Hz) with a layer's frames, per utterance (matched by id):
with ``r = mel rate / layer rate`` (a whole number), mel frame ``r * i`` pairs with model frame
``i``, for ``i < min(n_model, ceil(n_mel / r))``.  T layers and C7 (50 Hz) use mel frames 0, 2, 4,
...; C1..C6, stored average-pooled onto the 10 ms grid, pair frame by frame.

:attr:`PairedViews.content_key` identifies which rows are paired, not their values: every layer of
one store that pairs the same rows under the same rule gets the same key, so the CCA protocol's data
splits (computed once per key) are shared across layers.  It hashes the stores' model and manifest
hash, utterance ids and per-utterance row counts, the segment labels, the rows dropped, the
pairing rule and the vocabulary or word vectors; not the layer id, the rep or the file paths (a
merged store and its shards give the same key).

A :class:`PairedViews` reads from the stores it was made from: keep them open while drawing blocks.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from layerprobe.analysis.embeddings import lookup_table
from layerprobe.data.labels import ARPABET39, is_silence, phone_class, word_label
from layerprobe.data.oracles import AttributeOracle, oracle_fingerprint
from layerprobe.errors import ConfigError, StoreError
from layerprobe.io.store import FeatureStore
from layerprobe.layers import MEL

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

Block = tuple[np.ndarray, np.ndarray]
BlockSource = Callable[[int], Iterator[Block]]

#: Rows per block unless the caller asks otherwise.
DEFAULT_CHUNK_ROWS = 16384
# Rows read at a time from a store when some are dropped (the kept ones are gathered into blocks).
_READ_ROWS = 4096
# Bumped whenever a pairing rule changes, so keys (and the split caches keyed by them) change too.
_KEY_VERSION = 1


@dataclass(frozen=True)
class PairedViews:
    """Two row-aligned views (X, Y) of the same n samples, streamed in blocks of consecutive rows.

    Made by :func:`mel_views`, :func:`intra_views`, :func:`onehot_views` and
    :func:`embedding_views`; the stores they read must stay open while blocks are drawn.

    Attributes
    ----------
    name : str
        Human-readable, e.g. ``"mel vs T4"``, ``"T4 vs one-hot phone (39)"``.
    n_rows : int
        Paired samples n.
    dims : tuple of int
        ``(d1, d2)``: columns of X and of Y.
    labels : numpy.ndarray or None
        Shape (n_rows,), str: the label of each row, for label-stratified splits (read-only);
        None for frame experiments.
    content_key : str
        sha256 hex digest of which rows are paired (see the module docstring).
    n_dropped : int
        Instances left out: a label outside the vocabulary, a word without a vector.
    """

    name: str
    n_rows: int
    dims: tuple[int, int]
    labels: np.ndarray | None = field(compare=False)
    content_key: str
    n_dropped: int = 0
    _source: BlockSource | None = field(default=None, repr=False, compare=False)

    def blocks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Block]:
        """Stream the paired rows, in order; each call starts over.

        Parameters
        ----------
        chunk_rows : int
            Rows per block; every block but the last has exactly this many.

        Yields
        ------
        X : numpy.ndarray
            Shape (m, d1), float64.
        Y : numpy.ndarray
            Shape (m, d2), float64; row i of Y is paired with row i of X.  All blocks together
            hold ``n_rows`` rows.

        Raises
        ------
        ConfigError
            When ``chunk_rows`` is not a positive integer.
        """
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
            raise ConfigError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
        if self._source is None:
            raise TypeError("PairedViews made without a block source; use the constructors of analysis.views")
        return self._source(int(chunk_rows))

    def arrays(self) -> Block:
        """All paired rows in memory (for tests and small data).

        Returns
        -------
        X : numpy.ndarray
            Shape (n_rows, d1), float64.
        Y : numpy.ndarray
            Shape (n_rows, d2), float64.
        """
        X = np.empty((self.n_rows, self.dims[0]), dtype=np.float64)
        Y = np.empty((self.n_rows, self.dims[1]), dtype=np.float64)
        row = 0
        for x, y in self.blocks():
            X[row : row + len(x)], Y[row : row + len(y)] = x, y
            row += len(x)
        if row != self.n_rows:
            raise AssertionError(f"{self.name}: the blocks held {row} rows, expected {self.n_rows}")
        return X, Y


# --------------------------------------------------------------------------------------------------
# Vocabularies


def phone_vocabulary() -> tuple[str, ...]:
    """The 39 ARPAbet phone classes (:data:`layerprobe.data.labels.ARPABET39`), silence not among them."""
    return ARPABET39


def word_vocabulary(labels: Iterable[str], *, size: int = 500) -> tuple[str, ...]:
    """The ``size`` most frequent words of ``labels``.

    Parameters
    ----------
    labels : iterable of str
        Word labels, one per instance (e.g. a word store's :attr:`~FeatureStore.labels`).
    size : int, keyword-only
        Words kept (fewer when fewer distinct words occur).

    Returns
    -------
    tuple of str
        By descending count, ties in alphabetical order; silence markers and ``<unk>``
        (:func:`~layerprobe.data.labels.is_silence`) are left out.

    Raises
    ------
    ConfigError
        When ``size`` is not a positive integer.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"vocabulary size must be a positive integer, got {size!r}")
    counts = Counter(str(label) for label in labels if not is_silence(str(label)))
    return tuple(sorted(counts, key=lambda word: (-counts[word], word))[: int(size)])


# --------------------------------------------------------------------------------------------------
# Constructors


def mel_views(model_store: FeatureStore, mel_store: FeatureStore, layer: str) -> PairedViews:
    """cca_mel: log-mel frames paired with a layer's frames, utterance by utterance.

    Parameters
    ----------
    model_store : FeatureStore
        A frame-span store holding ``layer``.
    mel_store : FeatureStore
        A frame-span log-mel store (layer ``mel``) of the same utterances, in any order (it may
        hold more).
    layer : str
        The model layer, e.g. ``"T4"`` or ``"C3"``.

    Returns
    -------
    PairedViews
        X: log-mel frames, shape (n, 80); Y: the layer's frames, shape (n, dim).  Rows follow the
        model store's utterance order; with ``r = mel rate / layer rate``, mel frame ``r * i``
        pairs with model frame ``i`` for ``i < min(n_model, ceil(n_mel / r))`` (the module
        docstring).  ``labels`` is None.

    Raises
    ------
    StoreError
        A store of another span, a missing layer, a layer rate that does not divide the mel rate,
        an utterance of the model store missing from the mel store, no rows to pair.
    """
    _check_span(model_store, ("frame",), "cca_mel", layer)
    _check_span(mel_store, ("frame",), "cca_mel", MEL)
    _check_layer(model_store, layer)
    _check_layer(mel_store, MEL, hint="; give a log-mel store (extract --rep mel)")
    model_path, mel_path = _path(model_store), _path(mel_store)
    layer_rate, mel_rate = model_store.layer_frame_rate(layer), mel_store.layer_frame_rate(MEL)
    ratio = mel_rate / layer_rate
    stride = int(round(ratio))
    if stride < 1 or abs(ratio - stride) > 1e-6:
        raise StoreError(
            f"layer {layer} is at {layer_rate:g} Hz, the log-mel frames of {mel_path} at {mel_rate:g} Hz: "
            "the mel rate must be a whole multiple of the layer's",
            path=model_path,
        )
    ids = model_store.utterance_ids
    mel_ids = mel_store.utterance_ids
    position: dict[str, int] = {}
    for number, utt in enumerate(mel_ids):
        if position.setdefault(utt, number) != number:
            raise StoreError(f"utterance {utt!r} occurs twice", path=mel_path)
    missing = [utt for utt in ids if utt not in position]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise StoreError(
            f"utterance {missing[0]!r}{more} of layer {layer} is missing from the log-mel store {mel_path}",
            path=model_path,
        )
    model_start, model_count = model_store.row_ranges(layer)
    mel_start_all, mel_count_all = mel_store.row_ranges(MEL)
    where = np.asarray([position[utt] for utt in ids], dtype=np.int64)
    mel_start, mel_count = mel_start_all[where], mel_count_all[where]
    pairs = np.minimum(model_count, -(-mel_count // stride))
    n_rows = int(pairs.sum())
    if n_rows == 0:
        raise StoreError(f"layer {layer}: no frames to pair with the log-mel store {mel_path}", path=model_path)
    # Utterances consecutive in both stores form a run: a block reads one range of each store per run.
    new_run = np.ones(len(ids), dtype=bool)
    new_run[1:] = where[1:] != where[:-1] + 1
    run = np.cumsum(new_run)
    key = _content_key(
        {"pairing": "mel", "stride": stride, "model": _identity(model_store), "mel": _identity(mel_store)},
        strings=[ids],
        integers=[model_count, mel_count, pairs],
    )

    def source(chunk_rows: int) -> Iterator[Block]:
        for piece in _pieces(pairs, chunk_rows):
            xs, ys = [], []
            for utts, offsets, counts in _split_runs(piece, run):
                ys.append(_gather(model_store, layer, model_start[utts] + offsets, counts, 1))
                xs.append(_gather(mel_store, MEL, mel_start[utts] + stride * offsets, counts, stride))
            yield _join(xs), _join(ys)

    dims = (mel_store.dims[MEL], model_store.dims[layer])
    return PairedViews(f"mel vs {layer}", n_rows, dims, None, key, 0, source)


def intra_views(store: FeatureStore, layer: str, *, base: str = "T0") -> PairedViews:
    """cca_intra: one layer's frames against another's (``base``, T0 by default), row by row.

    Parameters
    ----------
    store : FeatureStore
        A frame-span store holding both layers.
    layer : str
        View 2, e.g. ``"T4"``.
    base : str, keyword-only
        View 1.

    Returns
    -------
    PairedViews
        X: ``base`` rows, shape (n, dim_base); Y: ``layer`` rows, shape (n, dim).  ``labels`` is None.

    Raises
    ------
    StoreError
        A store of another span, a missing layer, layers on different grids, an empty store.
    """
    _check_span(store, ("frame",), "cca_intra", layer)
    _check_layer(store, base)
    _check_layer(store, layer)
    path = _path(store)
    start, count = store.row_ranges(layer)
    base_start, base_count = store.row_ranges(base)
    if not np.array_equal(count, base_count):
        raise StoreError(
            f"layers {base} ({store.layer_frame_rate(base):g} Hz) and {layer} ({store.layer_frame_rate(layer):g} Hz) "
            "do not have the same rows; cca_intra pairs layers on one grid",
            path=path,
        )
    n_rows = store.n_rows(layer)
    if n_rows == 0:
        raise StoreError(f"layer {layer} has no rows", path=path)
    key = _content_key(
        {"pairing": "intra", "base": base, "store": _identity(store)}, strings=[store.utterance_ids], integers=[count]
    )

    def source(chunk_rows: int) -> Iterator[Block]:
        for first in range(0, n_rows, chunk_rows):
            rows = slice(first, min(first + chunk_rows, n_rows))
            yield store.read(base, rows).astype(np.float64), store.read(layer, rows).astype(np.float64)

    dims = (store.dims[base], store.dims[layer])
    return PairedViews(f"{base} vs {layer}", n_rows, dims, None, key, 0, source)


def onehot_views(store: FeatureStore, layer: str, *, vocabulary: Sequence[str]) -> PairedViews:
    """cca_phone / cca_word: segment features against one-hot labels.

    Parameters
    ----------
    store : FeatureStore
        A phone- or word-span store holding ``layer``.
    layer : str
        View 1, e.g. ``"T4"``.
    vocabulary : sequence of str, keyword-only
        The classes, one column each in this order (:func:`phone_vocabulary`,
        :func:`word_vocabulary`).  A stored label outside it is first normalised
        (:func:`~layerprobe.data.labels.phone_class` in phone stores, so ``AH0`` -> ``AH``;
        :func:`~layerprobe.data.labels.word_label` in word stores); rows whose label is still
        outside are dropped.

    Returns
    -------
    PairedViews
        X: the layer's rows, shape (n, dim); Y: one-hot, shape (n, len(vocabulary)), float64.
        ``labels``: each kept row's class; ``n_dropped``: the rows dropped.

    Raises
    ------
    StoreError
        A frame-span store, a missing layer, no row with a label in the vocabulary.
    ConfigError
        An empty vocabulary or one that lists a label twice.
    """
    _check_span(store, ("phone", "word"), "one-hot labels (cca_phone, cca_word)", layer)
    _check_layer(store, layer)
    vocab = _check_vocabulary(vocabulary)
    column = {label: number for number, label in enumerate(vocab)}
    stored = store.labels
    normalise = phone_class if store.span == "phone" else word_label
    classes = np.asarray(
        [label if label in column else (normalise(label) or label) for label in stored.tolist()], dtype=str
    )
    codes = np.asarray([column.get(label, -1) for label in classes.tolist()], dtype=np.int64)
    kept = codes >= 0
    n_rows = int(kept.sum())
    if n_rows == 0:
        raise StoreError(
            f"layer {layer}: none of the {len(stored)} {store.span} labels is in the vocabulary of {len(vocab)} "
            f"(it starts {', '.join(vocab[:3])})",
            path=_path(store),
        )
    key = _content_key(
        {"pairing": "onehot", "span": store.span, "vocabulary": list(vocab), "store": _identity(store)},
        strings=[store.utterance_ids, stored.tolist()],
        integers=[store.row_ranges(layer)[1], kept.astype(np.int64)],
    )
    n_columns = len(vocab)

    def targets(codes_kept: np.ndarray) -> np.ndarray:
        onehot = np.zeros((len(codes_kept), n_columns), dtype=np.float64)
        onehot[np.arange(len(codes_kept)), codes_kept] = 1.0
        return onehot

    source = _masked_source(store, layer, codes, targets)
    name = f"{layer} vs one-hot {store.span} ({n_columns})"
    dims = (store.dims[layer], n_columns)
    return PairedViews(name, n_rows, dims, _frozen(classes[kept]), key, len(kept) - n_rows, source)


def embedding_views(
    store: FeatureStore, layer: str, vectors: "Mapping[str, np.ndarray] | KeyedVectors"
) -> PairedViews:
    """cca_agwe / cca_glove: word-pooled features against each word's vector.

    Parameters
    ----------
    store : FeatureStore
        A word-span store holding ``layer``.
    layer : str
        View 1, e.g. ``"T4"``.
    vectors : mapping of str to numpy.ndarray, or gensim.models.KeyedVectors
        Word -> vector (:func:`~layerprobe.analysis.embeddings.read_embeddings`).  A word is looked
        up by its spelling, then lower-cased (:func:`~layerprobe.analysis.embeddings.lookup_table`).

    Returns
    -------
    PairedViews
        X: the layer's rows, shape (n, dim); Y: the word's vector, shape (n, dim_vectors), float64.
        Instances whose word has no vector are dropped (``n_dropped``); ``labels``: the kept words.

    Raises
    ------
    StoreError
        A store of another span, a missing layer, no word with a vector.
    ConfigError
        Vectors of the store's words that are not 1-d, differ in length, or hold NaN or infinity.
    """
    _check_span(store, ("word",), "word embeddings (cca_agwe, cca_glove)", layer)
    _check_layer(store, layer)
    path = _path(store)
    stored = store.labels
    table = lookup_table(vectors, stored.tolist())
    if not table:
        raise StoreError(
            f"layer {layer}: none of the {len(set(stored.tolist()))} words of the store has a vector", path=path
        )
    words = sorted(table)
    matrix = _vector_matrix(table, words)
    number = {word: index for index, word in enumerate(words)}
    codes = np.asarray([number.get(word, -1) for word in stored.tolist()], dtype=np.int64)
    kept = codes >= 0
    n_rows = int(kept.sum())
    vectors_hash = _content_key({"words": words}, strings=[], integers=[], arrays=[matrix])
    key = _content_key(
        {"pairing": "embedding", "vectors": vectors_hash, "store": _identity(store)},
        strings=[store.utterance_ids, stored.tolist()],
        integers=[store.row_ranges(layer)[1], kept.astype(np.int64)],
    )
    source = _masked_source(store, layer, codes, lambda codes_kept: matrix[codes_kept])
    name = f"{layer} vs word embedding ({matrix.shape[1]}-d)"
    dims = (store.dims[layer], matrix.shape[1])
    return PairedViews(name, n_rows, dims, _frozen(stored[kept]), key, len(kept) - n_rows, source)


def oracle_views(store: FeatureStore, layer: str, oracle: AttributeOracle, *, shuffle_seed: int | None = None) -> PairedViews:
    """cca_semantic / cca_syntactic: word-pooled features against the word's oracle vector.

    Parameters
    ----------
    store : FeatureStore
        An ``all_words``- or ``word``-span store holding ``layer``.
    layer : str
        View 1, e.g. ``"T4"``.
    oracle : AttributeOracle
        Word -> probability vector over the oracle's features
        (:func:`~layerprobe.data.oracles.load_oracle`); a word is looked up as the oracle does
        (lower-cased; POS oracles: digits -> ``0``; the built supersense oracle: through morphy).
    shuffle_seed : int, optional
        The control: each word of the store gets the oracle vector of another word of the store
        (a seeded permutation of the words' vectors), so the views share word identity but not
        the attributes.  A score that a shuffled oracle matches measures how well the layer tells
        words apart, not what it knows about their meaning or syntax.

    Returns
    -------
    PairedViews
        X: the layer's rows, shape (n, dim); Y: the word's oracle vector, shape (n, n_features),
        float64.  Instances of words the oracle lacks are dropped (``n_dropped``); ``labels``: the
        kept words.

    Raises
    ------
    StoreError
        A store of another span, a missing layer, no word in the oracle.
    """
    _check_span(store, ("all_words", "word"), "word-attribute oracles (cca_semantic, cca_syntactic)", layer)
    _check_layer(store, layer)
    stored = store.labels
    distinct = list(dict.fromkeys(stored.tolist()))
    words = sorted(word for word in distinct if word in oracle)
    if not words:
        raise StoreError(
            f"layer {layer}: none of the {len(distinct)} words of the store is in the oracle {oracle.source}; "
            "draw the sample with --span all_words --oracle of this experiment",
            path=_path(store),
        )
    matrix = oracle.matrix(words)
    if shuffle_seed is not None:
        matrix = matrix[np.random.default_rng(shuffle_seed).permutation(len(words))]
    number = {word: index for index, word in enumerate(words)}
    codes = np.asarray([number.get(word, -1) for word in stored.tolist()], dtype=np.int64)
    kept = codes >= 0
    n_rows = int(kept.sum())
    key = _content_key(
        {"pairing": "oracle", "oracle": oracle_fingerprint(oracle), "shuffle_seed": shuffle_seed, "store": _identity(store)},
        strings=[store.utterance_ids, stored.tolist()],
        integers=[store.row_ranges(layer)[1], kept.astype(np.int64)],
    )
    source = _masked_source(store, layer, codes, lambda codes_kept: matrix[codes_kept])
    name = f"{layer} vs oracle ({matrix.shape[1]} features{', shuffled between words' if shuffle_seed is not None else ''})"
    dims = (store.dims[layer], matrix.shape[1])
    return PairedViews(name, n_rows, dims, _frozen(stored[kept]), key, len(kept) - n_rows, source)


# --------------------------------------------------------------------------------------------------
# Streaming


def _pieces(pairs: np.ndarray, chunk_rows: int) -> Iterator[list[tuple[int, int, int]]]:
    """Blocks of exactly ``chunk_rows`` pairs (the last may be shorter) as (utterance, offset, count) lists."""
    piece: list[tuple[int, int, int]] = []
    room = chunk_rows
    for utt in np.flatnonzero(pairs).tolist():
        offset, left = 0, int(pairs[utt])
        while left:
            take = min(left, room)
            piece.append((utt, offset, take))
            offset, left, room = offset + take, left - take, room - take
            if room == 0:
                yield piece
                piece, room = [], chunk_rows
    if piece:
        yield piece


def _split_runs(
    piece: list[tuple[int, int, int]], run: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A piece's (utterances, offsets, counts) arrays, one triple per run of consecutive utterances."""
    utts, offsets, counts = (np.asarray(column, dtype=np.int64) for column in zip(*piece))
    runs = run[utts]
    bounds = np.flatnonzero(runs[1:] != runs[:-1]) + 1
    for low, high in zip([0, *bounds.tolist()], [*bounds.tolist(), len(utts)]):
        yield utts[low:high], offsets[low:high], counts[low:high]


def _gather(store: FeatureStore, layer: str, firsts: np.ndarray, counts: np.ndarray, stride: int) -> np.ndarray:
    """Rows ``first + stride * j`` (j < count) for each (first, count), in order, as float64.

    The ranges must lie in increasing order (one run): one contiguous read covers them.
    """
    lasts = firsts + stride * (counts - 1)
    low, high = int(firsts[0]), int(lasts[-1]) + 1
    block = store.read(layer, slice(low, high))
    total = int(counts.sum())
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    index = np.repeat(firsts - low, counts) + stride * within
    return block[index].astype(np.float64)


def _masked_source(
    store: FeatureStore, layer: str, codes: np.ndarray, targets: Callable[[np.ndarray], np.ndarray]
) -> BlockSource:
    """Blocks of the rows with ``codes >= 0``: X their layer rows, Y ``targets(codes of the block)``."""
    n_total = len(codes)

    def source(chunk_rows: int) -> Iterator[Block]:
        def pieces() -> Iterator[Block]:
            window = max(chunk_rows, _READ_ROWS)
            for first in range(0, n_total, window):
                local = codes[first : first + window]
                where = np.flatnonzero(local >= 0)
                if len(where) == 0:
                    continue
                rows = store.read(layer, slice(first + int(where[0]), first + int(where[-1]) + 1))
                yield rows[where - where[0]].astype(np.float64), targets(local[where])

        return _rechunk(pieces(), chunk_rows)

    return source


def _rechunk(pieces: Iterator[Block], chunk_rows: int) -> Iterator[Block]:
    """Re-cut a stream of (X, Y) pieces into blocks of exactly ``chunk_rows`` rows (the last may be shorter)."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    have = 0
    for x, y in pieces:
        while len(x):
            take = min(chunk_rows - have, len(x))
            xs.append(x[:take])
            ys.append(y[:take])
            x, y, have = x[take:], y[take:], have + take
            if have == chunk_rows:
                yield _join(xs), _join(ys)
                xs, ys, have = [], [], 0
    if have:
        yield _join(xs), _join(ys)


def _join(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


# --------------------------------------------------------------------------------------------------
# Checks, keys and helpers


def _path(store: FeatureStore) -> str:
    """The store's file, or its first shard's, for messages."""
    return str(store.paths[0])


def _check_span(store: FeatureStore, spans: Sequence[str], what: str, layer: str) -> None:
    if store.span not in spans:
        wanted = " or ".join(spans)
        raise StoreError(
            f"is a {store.span}-span store; {what} needs a {wanted}-span store (layer {layer})", path=_path(store)
        )


def _check_layer(store: FeatureStore, layer: str, *, hint: str = "") -> None:
    if layer not in store.layer_ids:
        raise StoreError(f"has no layer {layer!r} (it has {', '.join(store.layer_ids)}){hint}", path=_path(store))


def _check_vocabulary(vocabulary: Sequence[str]) -> tuple[str, ...]:
    if isinstance(vocabulary, str):
        raise ConfigError(f"vocabulary must be a sequence of labels, not the string {vocabulary!r}")
    vocab = tuple(str(label) for label in vocabulary)
    if not vocab:
        raise ConfigError("the vocabulary is empty")
    repeated = [label for label, n in Counter(vocab).items() if n > 1]
    if repeated:
        raise ConfigError(f"the vocabulary lists {repeated[0]!r} more than once")
    return vocab


def _vector_matrix(table: Mapping[str, np.ndarray], words: Sequence[str]) -> np.ndarray:
    """The vectors of ``words`` stacked, shape (len(words), dim), float64 (ConfigError when they do not stack)."""
    first = table[words[0]]
    for word in words:
        vector = table[word]
        if vector.ndim != 1 or vector.shape != first.shape or vector.size == 0:
            raise ConfigError(
                f"word vectors must be 1-d of one length: {words[0]!r} has shape {first.shape}, "
                f"{word!r} has shape {vector.shape}"
            )
        if not np.isfinite(vector).all():
            raise ConfigError(f"the vector of {word!r} has NaN or infinite values")
    return np.stack([table[word] for word in words]).astype(np.float64)


def _identity(store: FeatureStore) -> dict[str, Any]:
    """What names a store's data, not its file: model, revision, manifest hash, span."""
    attrs = store.attrs
    return {key: str(attrs.get(key, "")) for key in ("model", "model_revision", "manifest_hash", "span")}


def _content_key(
    header: Mapping[str, Any],
    *,
    strings: Sequence[Sequence[str]],
    integers: Sequence[np.ndarray],
    arrays: Sequence[np.ndarray] = (),
) -> str:
    """sha256 hex of a JSON header, string lists, int64 arrays and float64 arrays, each length-prefixed."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"version": _KEY_VERSION, **header}, sort_keys=True).encode())
    for items in strings:
        encoded = "\0".join(items).encode("utf-8")
        digest.update(b"S%d:%d:" % (len(items), len(encoded)) + encoded)
    for values in integers:
        data = np.ascontiguousarray(values, dtype="<i8")
        digest.update(b"I%d:" % data.size + data.tobytes())
    for values in arrays:
        data = np.ascontiguousarray(values, dtype="<f8")
        digest.update(b"F%s:" % repr(data.shape).encode() + data.tobytes())
    return digest.hexdigest()


def _frozen(values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=str)
    out.flags.writeable = False
    return out


__all__ = [
    "PairedViews",
    "DEFAULT_CHUNK_ROWS",
    "phone_vocabulary",
    "word_vocabulary",
    "mel_views",
    "intra_views",
    "onehot_views",
    "embedding_views",
    "oracle_views",
]
