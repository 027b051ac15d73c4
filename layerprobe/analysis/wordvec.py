"""Static word vectors per layer: the mean of up to 200 instance vectors of each word.

A word-span store (``extract --span word``) holds one row per word instance: the mean of the frames
``[floor(s / stride), ceil(e / stride))`` of the word (stride 0.02 s at 50 Hz, 0.04 s for AV-HuBERT), computed from a pass over the whole utterance
(REFERENCE.md section 5).  A layer's *static* vector of a word is the mean of up to
``max_instances`` (200) of those rows; when a word has more instances, which ones is a seeded
random choice (:func:`select_instances`).  The choice depends on the store's labels,
``max_instances`` and the seed only, so every layer averages the same instances.

Words are the stores' labels as :func:`~layerprobe.data.labels.word_label` normalises them
(lower-cased; silence markers and ``<unk>`` are left out).  The vectors of a layer are a gensim
:class:`~gensim.models.KeyedVectors` (words by descending instance count, ties alphabetical; vector
attributes ``count``, the word's instances in the store, and ``n_instances``, those averaged),
which :func:`write_word_vectors` writes so that other tools can read them (gensim native ``.kv``,
one file, or word2vec binary ``.bin``, with a JSON sidecar saying how they were made).

Writing every layer's vectors next to the store, and reusing them only while they are current, is
:mod:`layerprobe.experiments.wordvec` (``layerprobe wordvec``).

Example
-------
>>> from layerprobe.analysis.wordvec import static_word_vectors, write_word_vectors  # doctest: +SKIP
>>> vectors = static_word_vectors(store, "T4", max_instances=200, seed=0)          # doctest: +SKIP
>>> write_word_vectors(vectors, "T4.kv")                                           # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from layerprobe.data.labels import word_label
from layerprobe.errors import ConfigError, StoreError
from layerprobe.io.atomic import atomic_path, write_json
from layerprobe.io.store import FeatureStore

if TYPE_CHECKING:  # gensim is imported only when vectors are made or read (it takes a second to import)
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: Instances averaged per word at most (REFERENCE.md section 5).
MAX_INSTANCES = 200
#: File formats: gensim native (``.kv``) and word2vec binary (``.bin``).
FORMATS = {"kv": ".kv", "word2vec": ".bin"}

# Bytes of float32 rows read per block when streaming a layer.
_BLOCK_BYTES = 16 << 20


# --------------------------------------------------------------------------------------------------
# Which instances


@dataclass(frozen=True)
class InstanceSelection:
    """The instances averaged into each word's vector.

    Attributes
    ----------
    words : tuple of str
        The words, by descending instance count, ties in alphabetical order.
    counts : numpy.ndarray
        Shape (n_words,), int64: instances of each word in the store.
    rows : numpy.ndarray
        Shape (n_selected,), int64, ascending: the store rows averaged.
    word_index : numpy.ndarray
        Shape (n_selected,), int64: the index into ``words`` of each selected row.
    max_instances : int or None
    seed : int
    """

    words: tuple[str, ...]
    counts: np.ndarray
    rows: np.ndarray
    word_index: np.ndarray
    max_instances: int | None
    seed: int

    @property
    def n_selected(self) -> np.ndarray:
        """Shape (n_words,), int64: instances averaged per word (``min(count, max_instances)``)."""
        return np.bincount(self.word_index, minlength=len(self.words)).astype(np.int64)


def select_instances(labels: Iterable[str], *, max_instances: int | None = MAX_INSTANCES, seed: int = 0) -> InstanceSelection:
    """Choose up to ``max_instances`` instances of each word, by a seeded random draw.

    Parameters
    ----------
    labels : iterable of str
        One word label per store row, shape (n_rows,) (a word store's :attr:`~FeatureStore.labels`).
        Labels are normalised with :func:`~layerprobe.data.labels.word_label`; rows of silence
        markers and ``<unk>`` are never selected.
    max_instances : int or None, keyword-only
        Instances kept per word at most; None keeps all.
    seed : int, keyword-only
        Seed of the draw.  Each word's draw uses its own generator, seeded by ``seed`` and the
        word, so a word's choice does not depend on which other words the store holds.

    Returns
    -------
    InstanceSelection

    Raises
    ------
    ConfigError
        When ``max_instances`` is not a positive integer (or None) or ``seed`` not a non-negative
        integer.
    """
    if max_instances is not None and (isinstance(max_instances, bool) or not isinstance(max_instances, (int, np.integer)) or max_instances < 1):
        raise ConfigError(f"max_instances must be a positive integer, got {max_instances!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    by_word: dict[str, list[int]] = {}
    for row, label in enumerate(labels):
        word = word_label(str(label))
        if word:
            by_word.setdefault(word, []).append(row)
    words = tuple(sorted(by_word, key=lambda w: (-len(by_word[w]), w)))
    counts = np.array([len(by_word[w]) for w in words], dtype=np.int64)
    chosen_rows, chosen_words = [], []
    for number, word in enumerate(words):
        rows = np.asarray(by_word[word], dtype=np.int64)
        if max_instances is not None and len(rows) > max_instances:
            rng = np.random.default_rng([int(seed), _word_entropy(word)])
            rows = np.sort(rng.choice(rows, size=int(max_instances), replace=False))
        chosen_rows.append(rows)
        chosen_words.append(np.full(len(rows), number, dtype=np.int64))
    rows = np.concatenate(chosen_rows) if chosen_rows else np.zeros(0, dtype=np.int64)
    index = np.concatenate(chosen_words) if chosen_words else np.zeros(0, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    return InstanceSelection(words, counts, rows[order], index[order], None if max_instances is None else int(max_instances), int(seed))


def _word_entropy(word: str) -> int:
    """A stable 64-bit number for a word (Python's hash() changes between processes)."""
    return int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "little")


# --------------------------------------------------------------------------------------------------
# Vectors of one layer


def static_word_vectors(
    store: FeatureStore,
    layer: str,
    *,
    max_instances: int | None = MAX_INSTANCES,
    seed: int = 0,
    selection: InstanceSelection | None = None,
) -> "KeyedVectors":
    """Each word's static vector in one layer: the mean of up to ``max_instances`` instance rows.

    The layer is streamed in blocks (one pass); the selected rows are summed in float64.

    Parameters
    ----------
    store : FeatureStore
        A word-span store holding ``layer``.
    layer : str
        E.g. ``"T4"``.
    max_instances : int or None, keyword-only
        Instances averaged per word at most (None: all).
    seed : int, keyword-only
        Seed of the choice among a word's instances (:func:`select_instances`).
    selection : InstanceSelection, optional, keyword-only
        A selection already made from this store's labels with the same ``max_instances`` and
        ``seed`` (saves redoing it for every layer).

    Returns
    -------
    gensim.models.KeyedVectors
        ``n_words`` words (order of :attr:`InstanceSelection.words`), vectors of shape
        (n_words, dim), float32; vector attributes ``count`` and ``n_instances``.

    Raises
    ------
    StoreError
        A store that is not word-span, lacks the layer, or holds no word instance.
    ConfigError
        Bad ``max_instances`` or ``seed``, or a ``selection`` made with other options.
    """
    from gensim.models import KeyedVectors

    path = store.paths[0]
    check_word_store(store)
    if layer not in store.layer_ids:
        raise StoreError(f"has no layer {layer} (it has {', '.join(store.layer_ids)}); extract it first", path=path)
    if selection is None:
        selection = select_instances(store.labels, max_instances=max_instances, seed=seed)
    elif (selection.max_instances, selection.seed) != (max_instances, seed):
        raise ConfigError(
            f"the instance selection was made with max_instances={selection.max_instances}, seed={selection.seed}, "
            f"not max_instances={max_instances}, seed={seed}"
        )
    n_rows = store.n_rows(layer)
    if len(selection.rows) and selection.rows[-1] >= n_rows:
        raise StoreError(f"layer {layer} has {n_rows} rows, fewer than the store's labels", path=path)
    if not selection.words:
        raise StoreError(f"holds no word instances ({n_rows} rows, none with a word label)", path=path)
    dim = store.dims[layer]
    sums = np.zeros((len(selection.words), dim), dtype=np.float64)
    block = max(1, _BLOCK_BYTES // (4 * dim))
    rows, index = selection.rows, selection.word_index
    for start in range(0, n_rows, block):
        stop = min(start + block, n_rows)
        low, high = np.searchsorted(rows, [start, stop])
        if low == high:
            continue
        values = store.read(layer, slice(start, stop)).astype(np.float64)
        # a 0/1 matrix (words x block rows) sums each word's selected rows (4x faster than np.add.at)
        members = sparse.csr_matrix(
            (np.ones(high - low), (index[low:high], rows[low:high] - start)), shape=(len(selection.words), stop - start)
        )
        sums += members @ values
    averaged = selection.n_selected
    means = (sums / averaged[:, None]).astype(np.float32)
    if not np.isfinite(means).all():
        raise StoreError(f"layer {layer}: word vectors with NaN or infinite values (the store holds such rows)", path=path)
    vectors = KeyedVectors(vector_size=dim, count=0, dtype=np.float32)
    vectors.add_vectors(list(selection.words), means)
    for word, count, used in zip(selection.words, selection.counts.tolist(), averaged.tolist()):
        vectors.set_vecattr(word, "count", int(count))
        vectors.set_vecattr(word, "n_instances", int(used))
    return vectors


def check_word_store(store: FeatureStore) -> None:
    """StoreError naming the file unless ``store`` is a word-span store."""
    if store.span != "word":
        raise StoreError(f"is a {store.span}-span store; word vectors need a word-span store (extract --span word)", path=store.paths[0])


# --------------------------------------------------------------------------------------------------
# Files


def write_word_vectors(
    vectors: "KeyedVectors", path: PathLike, *, format: str = "auto", metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write word vectors to a file other tools can read, atomically.

    Parameters
    ----------
    vectors : gensim.models.KeyedVectors
    path : path-like
        The file.  Its suffix chooses the format when ``format`` is ``"auto"``: ``.kv`` gensim
        native (:meth:`KeyedVectors.load`), ``.bin`` word2vec binary
        (:meth:`KeyedVectors.load_word2vec_format` with ``binary=True``).
    format : {"auto", "kv", "word2vec"}, keyword-only
    metadata : mapping, optional, keyword-only
        Written as JSON to ``path`` with the suffix ``.json`` (after the vectors), with the
        vectors file's SHA-256 added under ``sha256``.

    Returns
    -------
    Path
        The vectors file.  The native format is one file (no separate ``.npy`` arrays).

    Raises
    ------
    ConfigError
        An unknown format or suffix; a word with whitespace in a word2vec file (the format cannot
        hold it); a folder that cannot be written.
    """
    path = Path(path)
    if format == "auto":
        by_suffix = {suffix: name for name, suffix in FORMATS.items()}
        if path.suffix not in by_suffix:
            raise ConfigError(f"a word-vector file must end in {' or '.join(FORMATS.values())}", path=path)
        format = by_suffix[path.suffix]
    if format not in FORMATS:
        raise ConfigError(f"unknown word-vector format {format!r} (known: {', '.join(FORMATS)})")
    if format == "word2vec":
        spaced = next((word for word in vectors.index_to_key if not str(word) or any(c.isspace() for c in str(word))), None)
        if spaced is not None:
            raise ConfigError(f"the word {spaced!r} is empty or has whitespace, which a word2vec file cannot hold; use the kv format", path=path)
    try:
        with atomic_path(path) as temporary:
            if format == "kv":
                vectors.save(os.fspath(temporary), separately=[])
            else:
                vectors.save_word2vec_format(os.fspath(temporary), binary=True)
        if metadata is not None:
            write_json(path.with_suffix(".json"), {**metadata, "sha256": file_sha256(path)}, indent=2, sort_keys=True)
    except OSError as exc:
        raise ConfigError(f"cannot write word vectors ({exc.strerror or exc})", path=path) from None
    return path


def read_word_vectors(path: PathLike) -> "KeyedVectors":
    """Read word vectors: gensim native (``.kv``), else word2vec text or binary or GloVe text.

    Parameters
    ----------
    path : path-like
        A ``.kv`` file is loaded with :meth:`KeyedVectors.load` (a pickle: read only files you
        trust); any other file with :func:`~layerprobe.analysis.embeddings.read_embeddings`.

    Returns
    -------
    gensim.models.KeyedVectors
        Shape (n, dim) vectors.

    Raises
    ------
    ConfigError
        A missing file, one that cannot be read in its format, no vectors, non-finite values.
    """
    from gensim.models import KeyedVectors

    from layerprobe.analysis.embeddings import read_embeddings

    path = Path(path)
    if path.suffix != FORMATS["kv"]:
        return read_embeddings(path)
    if not path.is_file():
        raise ConfigError("no such word-vector file", path=path)
    try:
        vectors = KeyedVectors.load(os.fspath(path))
    except Exception as exc:  # unpickling raises anything (EOFError, UnpicklingError, AttributeError ...)
        raise ConfigError(f"cannot be read as a gensim KeyedVectors file ({type(exc).__name__}: {exc})", path=path) from None
    if not isinstance(vectors, KeyedVectors):
        raise ConfigError(f"holds a {type(vectors).__name__}, not gensim KeyedVectors", path=path)
    problem = _damage(vectors)
    if problem:
        raise ConfigError(f"is a damaged KeyedVectors file ({problem})", path=path)
    if len(vectors) == 0:
        raise ConfigError("holds no vectors", path=path)
    if not np.isfinite(vectors.vectors).all():
        raise ConfigError("holds vectors with NaN or infinite values", path=path)
    return vectors


def _damage(vectors: "KeyedVectors") -> str:
    """What is inconsistent in an unpickled KeyedVectors (a damaged file unpickles into odd objects), or ``""``."""
    try:
        keys, matrix, size = vectors.index_to_key, vectors.vectors, vectors.vector_size
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            return "its words are not a list of strings"
        if not isinstance(matrix, np.ndarray) or matrix.dtype.kind != "f" or matrix.shape != (len(keys), size):
            return f"its vectors are not a ({len(keys)}, {size}) float matrix"
        index = vectors.key_to_index
        if not isinstance(index, dict) or len(index) != len(keys) or any(index.get(key) != row for row, key in enumerate(keys)):
            return "its word index does not match its words"
    except Exception as exc:  # noqa: BLE001 - any attribute of a damaged pickle may be missing or of any type
        return f"{type(exc).__name__}: {exc}"
    return ""


def file_sha256(path: PathLike) -> str:
    """The SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = [
    "FORMATS",
    "MAX_INSTANCES",
    "InstanceSelection",
    "check_word_store",
    "file_sha256",
    "read_word_vectors",
    "select_instances",
    "static_word_vectors",
    "write_word_vectors",
]
