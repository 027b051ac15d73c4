"""``layerprobe wordvec``: every layer's static word vectors written next to the word store, and reused.

The vectors (:func:`~layerprobe.analysis.wordvec.static_word_vectors`) of each layer go to ::

    <features>/<model tag>/<corpus>_<split>_sample<k>/wordvec/<LAYER>.kv    (gensim native, one file)
    <features>/<model tag>/<corpus>_<split>_sample<k>/wordvec/<LAYER>.bin   (word2vec binary)
    <features>/<model tag>/<corpus>_<split>_sample<k>/wordvec/<LAYER>.json  (how it was made)

The JSON sidecar records the store, a fingerprint of its content (:func:`store_fingerprint`), the
options and the counts; :func:`cached_word_vectors` reuses a file only when its sidecar says it was
made from the same store content with the same options, and builds the vectors afresh otherwise
(so a store extracted again never meets stale word vectors).  No result table is written: the
records are :class:`WordVectorFile` (with no rows).

Example
-------
>>> from layerprobe.experiments.wordvec import run_wordvec                  # doctest: +SKIP
>>> run_wordvec(features="features", model="tiny:wav2vec2", corpus="demo",  # doctest: +SKIP
...             split="train", sample=1, layers="all")
>>> run_wordvec(report)          # report: what extract() returned for a contextualized word store
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerprobe import __version__
from layerprobe.analysis.wordvec import (
    FORMATS,
    MAX_INSTANCES,
    InstanceSelection,
    check_word_store,
    file_sha256,
    read_word_vectors,
    select_instances,
    static_word_vectors,
    write_word_vectors,
)
from layerprobe.errors import ConfigError
from layerprobe.experiments.query import StoreQuery, open_store, resolve_store
from layerprobe.experiments.records import score_layers
from layerprobe.io.store import FeatureStore
from layerprobe.layers import parse_layers, sort_layers

if TYPE_CHECKING:  # gensim is imported only when vectors are made or read (it takes a second to import)
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: The rep of the stores word vectors are made from (transformer layers T0..TL).
REP = "contextualized"
#: Name of the folder next to the store that holds the word-vector files.
FOLDER = "wordvec"


def word_store_query(store: Any = None, *, what: str = "this experiment", span: str = "word", **parts: Any) -> StoreQuery:
    """The contextualized word (or ``span``) store named by ``store`` and/or the path strings (:func:`resolve_store`)."""
    return resolve_store(store, rep=REP, span=span, what=what, **parts)


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
    return word_store_query(features=features, model=model, corpus=corpus, split=split, sample=sample).path


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

    def rows(self) -> list[dict[str, Any]]:
        """No table rows: word vectors are files, not scores."""
        return []


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
    store: Any = None,
    *,
    features: PathLike | None = None,
    model: str | None = None,
    corpus: str | None = None,
    split: str | None = None,
    sample: int | None = None,
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
    store : StoreQuery, FeatureStore, extraction report or store path, optional
        A store of the model on the data sample, instead of the path strings (which override it);
        its contextualized word store is read.
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
    path = word_store_query(store, features=features, model=model, corpus=corpus, split=split, sample=sample,
                            what="run_wordvec").path  # fmt: skip
    folder = Path(out) if out is not None else path.parent / FOLDER
    with open_store(path) as opened:
        check_word_store(opened)
        chosen = choose_layers(opened, layers)
        selection = select_instances(opened.labels, max_instances=max_instances, seed=seed)
        fingerprint = store_fingerprint(opened)

        def write(layer: str) -> WordVectorFile:
            vectors = static_word_vectors(opened, layer, max_instances=max_instances, seed=seed, selection=selection)
            file = folder / f"{layer}{FORMATS[format]}"
            write_word_vectors(vectors, file, format=format,
                               metadata=_metadata(opened, layer, vectors, selection, fingerprint, file, format))  # fmt: skip
            return WordVectorFile(layer, file, len(vectors), int(len(selection.rows)), opened.n_rows(layer), int(vectors.vector_size))

        return score_layers(chosen, write, what="wordvec", progress=progress, on_layer=on_layer)


__all__ = [
    "FOLDER",
    "REP",
    "WordVectorFile",
    "cached_word_vectors",
    "choose_layers",
    "run_wordvec",
    "store_fingerprint",
    "word_store_path",
    "word_store_query",
    "wordvec_dir",
]
