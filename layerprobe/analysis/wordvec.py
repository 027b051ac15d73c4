"""Static word vectors per layer: the mean of up to 200 instance vectors of each word.

A word-span store (``extract --span word``) holds one row per word instance: the mean of the frames
``[floor(s / 0.02), ceil(e / 0.02))`` of the word, computed from a pass over the whole utterance
(REFERENCE.md section 5).  A layer's *static* vector of a word is the mean of up to
``max_instances`` (200) of those rows; when a word has more instances, which ones is a seeded
random choice (:func:`select_instances`).  The choice depends on the store's labels,
``max_instances`` and the seed only, so every layer averages the same instances.

Words are the stores' labels as :func:`~layerprobe.data.labels.word_label` normalises them
(lower-cased; silence markers and ``<unk>`` are left out).  The vectors of a layer are a gensim
:class:`~gensim.models.KeyedVectors` (words by descending instance count, ties alphabetical; vector
attributes ``count``, the word's instances in the store, and ``n_instances``, those averaged),
written per layer so that other tools can read them::

    <features>/<model tag>/<corpus>_<split>_sample<k>/wordvec/<LAYER>.kv    (gensim native, one file)
    <features>/<model tag>/<corpus>_<split>_sample<k>/wordvec/<LAYER>.bin   (word2vec binary)
    <features>/<model tag>/<corpus>_<split>_sample<k>/wordvec/<LAYER>.json  (how it was made)

The JSON sidecar records the store, a fingerprint of its content (:func:`store_fingerprint`), the
options and the counts; :func:`cached_word_vectors` reuses a file only when its sidecar says it was
made from the same store content with the same options, and builds the vectors afresh otherwise
(so a store extracted again never meets stale word vectors).

Example
-------
>>> from layerprobe.analysis.wordvec import run_wordvec                     # doctest: +SKIP
>>> run_wordvec(features="features", model="tiny:wav2vec2", corpus="demo",  # doctest: +SKIP
...             split="train", sample=1, layers="all")
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from layerprobe import __version__
from layerprobe.analysis.progress import layer_progress
from layerprobe.data.labels import word_label
from layerprobe.errors import ConfigError, StoreError
from layerprobe.io.store import FeatureStore
from layerprobe.io.store_paths import model_tag, store_path
from layerprobe.layers import parse_layers, sort_layers

if TYPE_CHECKING:  # gensim is imported only when vectors are made or read (it takes a second to import)
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: Instances averaged per word at most (REFERENCE.md section 5).
MAX_INSTANCES = 200
#: The rep of the stores word vectors are made from (transformer layers T0..TL).
REP = "contextualized"
#: File formats: gensim native (``.kv``) and word2vec binary (``.bin``).
FORMATS = {"kv": ".kv", "word2vec": ".bin"}
#: Name of the folder next to the store that holds the word-vector files.
FOLDER = "wordvec"

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
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            if format == "kv":
                vectors.save(os.fspath(temporary), separately=[])
            else:
                vectors.save_word2vec_format(os.fspath(temporary), binary=True)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        if metadata is not None:
            _write_json(path.with_suffix(".json"), {**metadata, "sha256": file_sha256(path)})
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


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def file_sha256(path: PathLike) -> str:
    """The SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def store_fingerprint(store: FeatureStore) -> str:
    """A SHA-256 of what a store's word vectors depend on: its attrs, utterances, labels and row counts.

    Two stores with the same fingerprint give the same word vectors; a store extracted again with
    another model, revision, manifest or layer set gets another fingerprint.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(store.attrs, sort_keys=True, default=str).encode("utf-8"))
    digest.update(json.dumps({layer: store.n_rows(layer) for layer in store.layer_ids}, sort_keys=True).encode("utf-8"))
    for values in (store.utterance_ids, store.labels.tolist()):
        digest.update(b"\x00".join(str(value).encode("utf-8") for value in values))
        digest.update(b"\x01")
    return digest.hexdigest()


def wordvec_dir(features: PathLike, model: str, corpus: str, split: str, sample: int) -> Path:
    """``<features>/<model tag>/<corpus>_<split>_sample<k>/wordvec``: where ``layerprobe wordvec`` writes."""
    return word_store_path(features, model, corpus, split, sample).parent / FOLDER


def word_store_path(features: PathLike, model: str, corpus: str, split: str, sample: int) -> Path:
    """The contextualized word store of a model on a data sample (``extract --span word``)."""
    return store_path(features, model_tag(model), corpus, split, sample, REP, "word")


def _metadata(store: FeatureStore, layer: str, vectors: "KeyedVectors", selection: InstanceSelection, fingerprint: str, file: Path, format: str) -> dict[str, Any]:
    attrs = store.attrs
    return {
        "layerprobe_version": __version__,
        "layer": layer,
        "file": file.name,
        "format": format,
        "store": os.fspath(store.paths[0]),
        "store_fingerprint": fingerprint,
        "model": attrs.get("model"),
        "model_revision": attrs.get("model_revision"),
        "manifest_hash": attrs.get("manifest_hash"),
        "max_instances": selection.max_instances,
        "seed": selection.seed,
        "n_words": len(vectors),
        "n_instances": int(len(selection.rows)),
        "n_rows": store.n_rows(layer),
        "dim": int(vectors.vector_size),
    }


def cached_word_vectors(
    store: FeatureStore,
    layer: str,
    folder: PathLike,
    *,
    max_instances: int | None = MAX_INSTANCES,
    seed: int = 0,
    selection: InstanceSelection | None = None,
    fingerprint: str | None = None,
) -> tuple["KeyedVectors", Path | None]:
    """A layer's word vectors from the file ``folder/<LAYER>.json`` names when it is current, else from the store.

    A file is current when its sidecar records the same store content (:func:`store_fingerprint`),
    ``max_instances`` and ``seed``, and the file still has the SHA-256 recorded; its vectors are
    then those :func:`static_word_vectors` would build.  A file that is not current is left alone
    (a warning says why it is ignored) and the vectors are built from the store.

    Parameters
    ----------
    store : FeatureStore
        The word store the vectors are of.
    layer : str
    folder : path-like
        Where ``layerprobe wordvec`` wrote the files.
    max_instances, seed, selection
        As for :func:`static_word_vectors`.
    fingerprint : str, optional
        The store's :func:`store_fingerprint`, when already computed.

    Returns
    -------
    vectors : gensim.models.KeyedVectors
    source : Path or None
        The file read, or None when the vectors were built from the store.
    """
    sidecar = Path(folder) / f"{layer}.json"
    if sidecar.is_file():
        file, reason = _current_file(sidecar, layer, fingerprint or store_fingerprint(store), max_instances, seed)
        if file is not None:
            vectors = read_word_vectors(file)
            if vectors.vector_size != store.dims[layer]:
                raise ConfigError(f"holds {vectors.vector_size}-d vectors but layer {layer} of {store.paths[0]} is {store.dims[layer]}-d", path=file)
            return vectors, file
        log.warning("ignoring %s: %s; building the vectors from the store (rerun 'layerprobe wordvec' to refresh them)", sidecar, reason)
    vectors = static_word_vectors(store, layer, max_instances=max_instances, seed=seed, selection=selection)
    return vectors, None


def _current_file(sidecar: Path, layer: str, fingerprint: str, max_instances: int | None, seed: int) -> tuple[Path | None, str]:
    """The vectors file a sidecar names when it is current, else None and the reason it is not."""
    try:
        recorded = json.loads(sidecar.read_text(encoding="utf-8"))
        file = sidecar.with_name(str(recorded["file"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"it cannot be read ({type(exc).__name__}: {exc})"
    wanted = {"layer": layer, "store_fingerprint": fingerprint, "max_instances": max_instances, "seed": seed}
    differ = [name for name, value in wanted.items() if recorded.get(name) != value]
    if differ:
        names = ", ".join("store content" if name == "store_fingerprint" else name for name in differ)
        return None, f"the vectors were made with another {names}"
    if not file.is_file():
        return None, f"{file.name} is missing"
    if file_sha256(file) != recorded.get("sha256"):
        return None, f"{file.name} was changed after it was written"
    return file, ""


# --------------------------------------------------------------------------------------------------
# The command


@dataclass(frozen=True)
class WordVectorFile:
    """One layer's written word vectors.

    Attributes
    ----------
    layer : str
    path : Path
        The vectors file (its ``.json`` sidecar is next to it).
    n_words : int
    n_instances : int
        Rows averaged over all words.
    n_rows : int
        Rows of the layer in the store.
    dim : int
    """

    layer: str
    path: Path
    n_words: int
    n_instances: int
    n_rows: int
    dim: int


def choose_layers(store: FeatureStore, layers: str) -> list[str]:
    """The layers of a layer spec that a word store holds (ConfigError naming the store otherwise).

    ``"all"`` is every layer the store holds.  A layer of the model that the store lacks (the model's
    layers are in the store's config) is reported as not extracted.
    """
    held = store.layer_ids
    if layers.strip().lower() == "all":
        return sort_layers(held)
    model_layers = (store.attrs.get("config") or {}).get("model", {}).get("layer_ids") or ()
    try:
        chosen = parse_layers(layers, sort_layers([*held, *model_layers]))
    except ConfigError as exc:
        raise ConfigError(exc.problem, path=store.paths[0]) from None
    absent = [layer for layer in chosen if layer not in held]
    if absent:
        hint = "extract it first" if all(layer.startswith("T") for layer in absent) else "word vectors are of the transformer layers T0..TL"
        raise ConfigError(f"layer {', '.join(absent)} is not in the store (it has {_compact(held)}); {hint}", path=store.paths[0])
    return chosen


def _compact(layers: Iterable[str]) -> str:
    ordered = sort_layers(layers)
    return f"{ordered[0]}-{ordered[-1]}" if len(ordered) > 2 else ", ".join(ordered)


def run_wordvec(
    *,
    features: PathLike,
    model: str,
    corpus: str,
    split: str,
    sample: int = 1,
    layers: str = "all",
    max_instances: int | None = MAX_INSTANCES,
    seed: int = 0,
    out: PathLike | None = None,
    format: str = "kv",
    progress: bool = True,
    on_layer: Callable[[WordVectorFile], None] | None = None,
) -> list[WordVectorFile]:
    """Write every chosen layer's static word vectors from a model's word store.

    Parameters
    ----------
    features : path-like
        Root of the feature stores (``extract --out``); the store read is
        ``<features>/<model tag>/<corpus>_<split>_sample<k>/contextualized_word.h5``.
    model : str
        The model spec the store was extracted with.
    corpus, split : str
    sample : int
    layers : str
        ``"all"``, ``"T4"``, ``"T1-T6"`` ...
    max_instances : int or None
        Instances averaged per word at most.
    seed : int
        Seed of the choice among a word's instances.
    out : path-like, optional
        Folder of the files (default: :func:`wordvec_dir`, the ``wordvec`` folder next to the store).
    format : {"kv", "word2vec"}
        gensim native ``<LAYER>.kv`` or word2vec binary ``<LAYER>.bin``.  Files are replaced.
    progress : bool
    on_layer : callable, optional
        Called with each layer's :class:`WordVectorFile` as soon as it is written.

    Returns
    -------
    list of WordVectorFile
        In layer order.

    Raises
    ------
    StoreError
        A missing, unfinished or non-word store, or one without word instances.
    ConfigError
        Bad options, a layer the store lacks.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown word-vector format {format!r} (known: {', '.join(FORMATS)})")
    path = word_store_path(features, model, corpus, split, sample)
    folder = Path(out) if out is not None else path.parent / FOLDER
    written = []
    with FeatureStore.open(path) as store:
        check_word_store(store)
        chosen = choose_layers(store, layers)
        selection = select_instances(store.labels, max_instances=max_instances, seed=seed)
        fingerprint = store_fingerprint(store)
        for layer in layer_progress(chosen, progress=progress, what="wordvec"):
            vectors = static_word_vectors(store, layer, max_instances=max_instances, seed=seed, selection=selection)
            file = folder / f"{layer}{FORMATS[format]}"
            write_word_vectors(vectors, file, format=format,
                               metadata=_metadata(store, layer, vectors, selection, fingerprint, file, format))  # fmt: skip
            result = WordVectorFile(layer, file, len(vectors), int(len(selection.rows)), store.n_rows(layer), int(vectors.vector_size))
            written.append(result)
            if on_layer is not None:
                on_layer(result)
    return written



__all__ = [
    "FOLDER",
    "FORMATS",
    "MAX_INSTANCES",
    "InstanceSelection",
    "WordVectorFile",
    "cached_word_vectors",
    "check_word_store",
    "choose_layers",
    "file_sha256",
    "read_word_vectors",
    "run_wordvec",
    "select_instances",
    "static_word_vectors",
    "store_fingerprint",
    "word_store_path",
    "wordvec_dir",
    "write_word_vectors",
]
