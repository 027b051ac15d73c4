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
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerprobe.errors import ConfigError
from layerprobe.io.store import FeatureStore
from layerprobe.io.store_paths import find_shards, model_tag, parse_shard_path, partial_path, store_path

PathLike = str | os.PathLike

#: The model tag under which the log-mel baseline is stored (``extract --rep mel``).
MEL_TAG = "logmel"

_SAMPLE_DIR = re.compile(r"^(?P<prefix>.+)_sample(?P<sample>\d+)$")
_STORE_NAME = re.compile(r"^(?P<rep>[a-z]+)_(?P<span>[a-z]+)$")


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
    span : {"frame", "phone", "word"}
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
        """Open the store (entered into ``stack`` when given).  StoreError names a missing store."""
        store = FeatureStore.open(self.path)
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
    return {key: query.open(stack) for key, query in queries.items() if required or query.exists()}


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


__all__ = ["MEL_TAG", "StoreQuery", "open_stores", "resolve_store", "store_exists"]
