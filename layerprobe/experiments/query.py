"""Which feature store an experiment reads: :class:`StoreQuery` and :func:`resolve_store`.

A store lives at ``<features>/<model tag>/<corpus>_<split>_sample<k>/<rep>_<span>.h5`` (the
extraction layout, :func:`layerprobe.io.store_paths.store_path`).  A :class:`StoreQuery` names one
by those seven parts; a runner takes one (or a :class:`~layerprobe.io.store.FeatureStore`, the
:class:`~layerprobe.extraction.ExtractionReport` that :func:`~layerprobe.extraction.extract` returned, or
a store path) in place of the path strings, and derives the other stores it needs (another rep,
span or split, the log-mel baseline) with :meth:`StoreQuery.replace` and :meth:`StoreQuery.mel`.

Example
-------
>>> q = StoreQuery("features", "tiny:wav2vec2", "demo", "train", 1, "contextualized", "phone")
>>> q.path.as_posix()
'features/tiny_wav2vec2/demo_train_sample1/contextualized_phone.h5'
>>> q.mel().path.as_posix()
'features/logmel/demo_train_sample1/mel_frame.h5'
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerprobe.errors import ConfigError, StoreError
from layerprobe.io.store import FeatureStore
from layerprobe.io.store_paths import find_shards, model_tag, parse_shard_path, partial_path, store_path

PathLike = str | os.PathLike

#: The model tag under which the log-mel baseline is stored (``extract --rep mel``).
MEL_TAG = "logmel"

_SAMPLE_DIR = re.compile(r"^(?P<prefix>.+)_sample(?P<sample>\d+)$")
_STORE_NAME = re.compile(r"^(?P<rep>[a-z]+)_(?P<span>[a-z]+(?:_[a-z]+)?)$")


@dataclass(frozen=True)
class StoreQuery:
    """One feature store of the extraction layout, by its parts.

    Attributes
    ----------
    features : Path
        Root of the feature stores (``extract --out``).
    model : str
        The model spec the store was extracted with (``tiny:wav2vec2``, ``hf:...``), or ``logmel``
        for the log-mel baseline.  A query read from a path alone holds the model tag here.
    corpus, split : str
    sample : int
        The data-sample id.
    rep : {"local", "contextualized", "mel"}
    span : {"frame", "phone", "word", "all_words"}
    tag : str or None
        The model's directory name; None: :func:`~layerprobe.io.store_paths.model_tag` of ``model``
        (set when the query was read from a path, whose folder name is the tag).
    """

    features: Path
    model: str
    corpus: str
    split: str
    sample: int = 1
    rep: str = "contextualized"
    span: str = "frame"
    tag: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", Path(self.features))

    @property
    def model_tag(self) -> str:
        """The model's folder under ``features`` (``logmel`` for the baseline)."""
        return self.tag if self.tag is not None else model_tag(self.model)

    @property
    def path(self) -> Path:
        """The store file: ``<features>/<model tag>/<corpus>_<split>_sample<k>/<rep>_<span>.h5``."""
        return store_path(self.features, self.model_tag, self.corpus, self.split, self.sample, self.rep, self.span)

    @property
    def is_mel(self) -> bool:
        return self.model_tag == MEL_TAG

    def replace(self, **changes: Any) -> "StoreQuery":
        """The same query with some parts changed (``q.replace(rep="local", split="dev")``)."""
        return dataclasses.replace(self, **changes)

    def mel(self) -> "StoreQuery":
        """The log-mel baseline store of the same features root, corpus, split and sample."""
        return self.replace(model=MEL_TAG, tag=MEL_TAG, rep="mel", span="frame")

    def exists(self, *, partial: bool = True) -> bool:
        """Whether the store, its shards or (with ``partial``) its unfinished file is on disk."""
        return store_exists(self.path, partial=partial)

    def open(self, stack: ExitStack | None = None) -> FeatureStore:
        """Open the store (entered into ``stack`` when given).

        StoreError names a missing store, and one extracted from an older draw of its data-sample
        set (:func:`stale_manifest`).
        """
        if not self.is_mel and not self.exists():
            explain_missing(self)
        store = open_store(self.path)
        return stack.enter_context(store) if stack is not None else store

    @classmethod
    def of(cls, source: Any) -> "StoreQuery":
        """The query of a StoreQuery, FeatureStore, extraction report (anything with ``.path``) or store path.

        The features root, model tag, sample, rep and span come from the path; corpus and split from
        the store's manifest attrs where they match the folder name (a corpus or split name may hold
        ``_``), else from the folder name split at its last ``_``; the model spec from the store's
        attrs when the store can be read.

        Raises
        ------
        ConfigError
            For a path outside the extraction layout or an object that names no store.
        """
        if isinstance(source, StoreQuery):
            return source
        if isinstance(source, FeatureStore):
            return cls._from_path(source.paths[0], source.attrs)
        if isinstance(source, (str, os.PathLike)):
            return cls._from_path(Path(source), None)
        path = getattr(source, "path", None)
        if isinstance(path, (str, os.PathLike)):
            return cls._from_path(Path(path), None)
        raise ConfigError(f"cannot tell which feature store a {type(source).__name__} names "
                          "(give a StoreQuery, a FeatureStore, an extraction report or a store path)")  # fmt: skip

    @classmethod
    def _from_path(cls, path: Path, attrs: dict[str, Any] | None) -> "StoreQuery":
        parsed = parse_shard_path(path)
        base = parsed[0] if parsed is not None else Path(str(path).removesuffix(".partial"))
        folder = _SAMPLE_DIR.match(base.parent.name)
        name = _STORE_NAME.match(base.stem) if base.suffix == ".h5" else None
        if folder is None or name is None:
            raise ConfigError("is not a store path of the extraction layout "
                              "(<features>/<model tag>/<corpus>_<split>_sample<k>/<rep>_<span>.h5)", path=path)  # fmt: skip
        if attrs is None:
            attrs = _read_attrs(path)
        manifest = ((attrs or {}).get("config") or {}).get("manifest") or {}
        prefix = folder["prefix"]
        corpus, split = manifest.get("corpus"), manifest.get("split")
        if not (isinstance(corpus, str) and isinstance(split, str) and f"{corpus}_{split}" == prefix):
            corpus, _, split = prefix.rpartition("_")
            if not corpus or not split:
                raise ConfigError("is not a store path of the extraction layout (no <corpus>_<split> folder)", path=path)
        tag = base.parent.parent.name
        model = (attrs or {}).get("model") or tag
        return cls(base.parent.parent.parent, str(model), corpus, split, int(folder["sample"]), name["rep"], name["span"], tag=tag)


def explain_missing(query: StoreQuery) -> None:
    """Raise the clearest error for a query whose store is not on disk.

    A model spec that is not valid (an unknown ``tiny:`` name, a missing ``hf:`` directory ...) is
    named as such (ConfigError); for a valid one the StoreError lists the model folders that exist
    under the features root.
    """
    raise StoreError(f"no such feature store (and no shards of it); extract it first ({missing_hint(query)})", path=query.path)


def missing_hint(query: StoreQuery) -> str:
    """For a store not on disk: ConfigError for an invalid model spec, else the model folders there are."""
    from layerprobe.models.registry import check_spec

    if ":" in query.model and query.tag is None:
        check_spec(query.model)
    root = query.features
    folders = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return f"model folders under {root}: {', '.join(folders)}" if folders else f"no model folders under {root}"


def open_store(path: PathLike) -> FeatureStore:
    """Open a store for an experiment: StoreError for a missing one, and for one extracted from an
    older draw of its data-sample set (:func:`stale_manifest`)."""
    store = FeatureStore.open(path)
    problem = stale_manifest(store.attrs)
    if problem is not None:
        store.close()
        raise StoreError(problem, path=path)
    return store


def manifest_candidates(attrs: Mapping[str, Any], samples_dir: PathLike | None = None) -> list[Path]:
    """Where the manifest a store was extracted from may be: the file recorded at extraction
    (``manifest_file``), then ``<samples_dir>/<corpus>/<split>_<span>_sample<k>.json`` (``data_samples``
    under the working directory by default)."""
    candidates = [Path(attrs["manifest_file"])] if attrs.get("manifest_file") else []
    config = attrs.get("config")
    manifest = config.get("manifest") if isinstance(config, Mapping) else None
    if isinstance(manifest, Mapping) and manifest.get("corpus") and manifest.get("split"):
        name = manifest.get("file") or f"{manifest['split']}_{manifest.get('span')}_sample{manifest.get('sample')}.json"
        candidates.append(Path(samples_dir if samples_dir is not None else "data_samples") / str(manifest["corpus"]) / str(name))
    return candidates


def stale_manifest(attrs: Mapping[str, Any], samples_dir: PathLike | None = None) -> str | None:
    """Why a store's features are stale: its manifest file was redrawn after extraction, else None.

    The store's ``manifest_hash`` is compared with the hash of the first manifest file found
    (:func:`manifest_candidates`); when none is found or it cannot be read, nothing is said.
    """
    recorded = attrs.get("manifest_hash")
    if not recorded:
        return None
    from layerprobe.errors import LayerprobeError

    for candidate in manifest_candidates(attrs, samples_dir):
        if not candidate.is_file():
            continue
        try:
            current = _manifest_hash(candidate)
        except (LayerprobeError, OSError, ValueError):
            return None
        if current == recorded:
            return None
        shown = os.path.relpath(candidate) if not candidate.is_absolute() else _short_path(candidate)
        return f"was extracted from an older draw of {shown} (manifest changed); re-extract with --overwrite"
    return None


_HASHES: dict[tuple[str, int, int], str] = {}


def _manifest_hash(path: Path) -> str:
    """The content hash of a manifest file (cached by path, size and modification time)."""
    from layerprobe.data.samples import read_manifest

    stat = path.stat()
    key = (os.fspath(path.absolute()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = read_manifest(path).content_hash()
    return _HASHES[key]


def _short_path(path: Path) -> str:
    """A path relative to the working directory when it is under it, else as it is."""
    try:
        return os.fspath(path.relative_to(Path.cwd()))
    except ValueError:
        return os.fspath(path)


def store_exists(path: PathLike, *, partial: bool = True) -> bool:
    """Whether a store file, its shards or (with ``partial``) its unfinished ``.partial`` file is on disk."""
    path = Path(path)
    return path.exists() or bool(find_shards(path)) or (partial and partial_path(path).exists())


def _read_attrs(path: Path) -> dict[str, Any] | None:
    try:
        with FeatureStore.open(path) as store:
            return store.attrs
    except Exception:  # noqa: BLE001 - a store not (yet) readable: the path alone names it
        return None


def open_stores(stack: ExitStack, queries: Mapping[str, StoreQuery], *, required: bool = True) -> dict[str, FeatureStore]:
    """Open the stores of ``queries`` into ``stack``: all of them when ``required``, else those on disk.

    Raises
    ------
    StoreError
        For a required store that is missing or unfinished (named).
    """
    stores = {key: query.open(stack) for key, query in queries.items() if required or query.exists()}
    check_same_weights(stores.values())
    return stores


def check_same_weights(stores: Iterable[FeatureStore]) -> None:
    """Refuse stores paired in one analysis that were extracted from different model weights.

    Stores of one model tag are found by path (``<features>/<model tag>/...``): a model folder whose
    weights changed between two extractions gives stores that look alike.  Each store records the
    ``weights_fingerprint`` of the model it came from; stores without one (the log-mel baseline,
    older stores) are not compared.

    Raises
    ------
    StoreError
        Naming the first store whose fingerprint differs from the first one's, and that one.
    """
    first: FeatureStore | None = None
    for store in stores:
        weights = str(store.attrs.get("weights_fingerprint") or "")
        if not weights:
            continue
        if first is None:
            first = store
        elif weights != str(first.attrs.get("weights_fingerprint")):
            raise StoreError(
                f"was extracted from other model weights than {first.paths[0]} (weights fingerprints "
                f"{weights[:12]} vs {str(first.attrs.get('weights_fingerprint'))[:12]}); extract both again from the same model",
                path=store.paths[0],
            )


def resolve_store(
    source: Any = None,
    *,
    features: PathLike | None = None,
    model: str | None = None,
    corpus: str | None = None,
    split: str | None = None,
    sample: int | None = None,
    rep: str | None = None,
    span: str | None = None,
    what: str = "this experiment",
) -> StoreQuery:
    """A :class:`StoreQuery` from a source (:meth:`StoreQuery.of`) and/or the path-string arguments.

    Arguments given (not None) replace the source's parts; without a source, ``features``,
    ``model``, ``corpus`` and ``split`` are needed (``sample`` defaults to 1, ``rep`` to
    ``contextualized``, ``span`` to ``frame``).  A ``model`` given with a source changes the tag too.

    Raises
    ------
    TypeError
        Neither a source nor all of ``features``, ``model``, ``corpus``, ``split``.
    ConfigError
        A source that names no store.
    """
    given = {"features": features, "model": model, "corpus": corpus, "split": split, "sample": sample, "rep": rep, "span": span}
    changes = {key: value for key, value in given.items() if value is not None}
    if source is None:
        missing = [key for key in ("features", "model", "corpus", "split") if key not in changes]
        if missing:
            raise TypeError(f"{what} needs {', '.join(f'{key}=' for key in missing)} or a store (StoreQuery, FeatureStore, extraction report)")
        return StoreQuery(**changes)
    query = StoreQuery.of(source)
    if "model" in changes:
        changes["tag"] = None
    return query.replace(**changes) if changes else query


__all__ = ["MEL_TAG", "StoreQuery", "check_same_weights", "explain_missing", "manifest_candidates", "missing_hint", "open_store", "open_stores", "resolve_store", "stale_manifest", "store_exists"]
