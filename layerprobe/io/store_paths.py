"""Where feature stores live: model tags, store and shard paths, partial files.

``<out>/<model_tag>/<corpus>_<split>_sample<k>/<rep>_<span>[.shard-00003-of-00016].h5``
(DESIGN.md, "FeatureStore (HDF5)"); shard ``i`` of ``n`` is 1-based; a store is written to
``<path>.partial`` until it is complete.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from layerprobe.errors import ConfigError

PathLike = str | os.PathLike

SPANS = ("frame", "phone", "word", "all_words")
REPS = ("local", "contextualized", "mel")

_PARTIAL = ".partial"
_SHARD_NAME = re.compile(r"^(?P<stem>.+)\.shard-(?P<index>\d{5})-of-(?P<count>\d{5})\.h5$")
_MAX_SHARDS = 99_999


def model_tag(spec: str) -> str:
    """A filesystem-safe directory name for a model spec.

    A hub id keeps its name (``hf:facebook/wav2vec2-base`` -> ``hf_facebook_wav2vec2-base``).  A
    local path (absolute, starting with ``.`` or ``~``, or existing on disk) becomes its name plus
    the first 8 hex digits of the SHA-256 of its resolved absolute path, so two checkpoints called
    ``checkpoint_best.pt`` in different folders get different tags
    (``fairseq:/ckpt/run1/checkpoint_best.pt`` -> ``fairseq_checkpoint_best.pt-1a2b3c4d``).

    Raises
    ------
    ConfigError
        For an empty spec.
    """
    scheme, sep, rest = spec.strip().partition(":")
    if not sep or len(scheme) == 1:  # no scheme, or a Windows drive letter
        scheme, rest = "", spec.strip()
    if not rest:
        raise ConfigError(f"empty model spec {spec!r}")
    if _is_local_path(rest):
        resolved = Path(rest).expanduser().resolve()
        digest = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:8]
        rest = f"{resolved.name or 'root'}-{digest}"
    tag = re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(part for part in (scheme, rest) if part)).lstrip(".")
    if not tag.strip("_"):
        raise ConfigError(f"model spec {spec!r} gives no usable directory name")
    return tag


def model_name(spec: str, *, tag: str | None = None) -> str:
    """The name a result table gives a model: one name however its spec was typed.

    A hub id, a ``tiny:`` model and a spec without a scheme (``logmel``, an imported reference
    model) keep their spec (``hf:facebook/wav2vec2-base``, ``tiny:wav2vec2``).  A local path (as in
    :func:`model_tag`) becomes ``<scheme>:<folder or file name>-<8 hex digits>``, the part of its
    model tag after the scheme (``hf:../models/x`` and ``hf:/abs/models/x`` both give
    ``hf:x-1a2b3c4d``): the same path typed two ways is one model, and it is named like its store
    folder.

    Parameters
    ----------
    spec : str
        The spec as typed.
    tag : str, optional
        The model tag of the store the rows come from (the folder ``<features>/<tag>/``), computed
        where the store was extracted: it decides over the spec, whose relative path may point
        elsewhere from the folder an analysis runs in.
    """
    spec = spec.strip()
    scheme, sep, rest = spec.partition(":")
    if not sep or len(scheme) == 1 or scheme.lower() == "tiny" or not rest.strip():
        return spec
    as_hub = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{scheme}_{rest.strip()}").lstrip(".")
    if tag is None:
        if not _is_local_path(rest.strip()):
            return spec
        tag = model_tag(spec)
    elif tag == as_hub or not tag.startswith(f"{scheme}_"):
        return spec
    return f"{scheme}:{tag[len(scheme) + 1:]}"


def model_path(spec: str) -> str | None:
    """The absolute path of a local model spec (resolved from the working folder); None for others."""
    scheme, sep, rest = spec.strip().partition(":")
    if not sep or len(scheme) == 1:
        rest = spec.strip()
    if not rest or scheme.lower() == "tiny" or not _is_local_path(rest):
        return None
    return str(Path(rest).expanduser().resolve())


def _is_local_path(text: str) -> bool:
    return text.startswith(("/", ".", "~")) or os.path.exists(text)


def store_path(
    out_dir: PathLike,
    model_tag: str,
    corpus: str,
    split: str,
    sample: int,
    rep: str,
    span: str,
    shard: tuple[int, int] | None = None,
) -> Path:
    """Where a store lives: ``<out_dir>/<model_tag>/<corpus>_<split>_sample<k>/<rep>_<span>.h5``.

    Parameters
    ----------
    out_dir : path-like
    model_tag : str
        From :func:`model_tag`.
    corpus, split : str
    sample : int
        The data-sample id.
    rep : {"local", "contextualized", "mel"}
    span : {"frame", "phone", "word", "all_words"}
    shard : (int, int), optional
        ``(index, count)``, 1-based: the path of that shard (:func:`shard_path`).

    Raises
    ------
    ConfigError
        For an unknown rep or span, a name with a path separator, or a bad shard.
    """
    if rep not in REPS:
        raise ConfigError(f"unknown rep {rep!r} (known: {', '.join(REPS)})")
    if span not in SPANS:
        raise ConfigError(f"unknown span {span!r} (known: {', '.join(SPANS)})")
    for what, name in (("model tag", model_tag), ("corpus", corpus), ("split", split)):
        if not name or "/" in name or os.sep in name or name in (".", ".."):
            raise ConfigError(f"{what} {name!r} cannot be a directory name")
    if not isinstance(sample, int) or sample < 0:
        raise ConfigError(f"sample must be a non-negative integer, got {sample!r}")
    path = Path(out_dir) / model_tag / f"{corpus}_{split}_sample{sample}" / f"{rep}_{span}.h5"
    return path if shard is None else shard_path(path, *shard)


def shard_path(path: PathLike, index: int, count: int) -> Path:
    """The file of shard ``index`` of ``count`` (1-based): ``<stem>.shard-00003-of-00016.h5``.

    Raises
    ------
    ConfigError
        When ``path`` does not end in ``.h5`` or is a shard already, or ``1 <= index <= count``
        fails.
    """
    path = Path(path)
    if path.suffix != ".h5" or parse_shard_path(path) is not None:
        raise ConfigError("a store path must end in .h5 and not be a shard already", path=path)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (index, count)):
        raise ConfigError(f"shard {index!r}/{count!r} must be two integers")
    if not 1 <= index <= count <= _MAX_SHARDS:
        raise ConfigError(f"shard {index}/{count} is out of range (1 <= index <= count <= {_MAX_SHARDS})")
    return path.with_name(f"{path.stem}.shard-{index:05d}-of-{count:05d}.h5")


def parse_shard_path(path: PathLike) -> tuple[Path, int, int] | None:
    """``(store path, index, count)`` of a shard file name, None for a name that is not a shard's."""
    path = Path(path)
    match = _SHARD_NAME.match(path.name)
    if match is None:
        return None
    return path.with_name(match["stem"] + ".h5"), int(match["index"]), int(match["count"])


def find_shards(path: PathLike) -> list[Path]:
    """The finished shard files of a store, sorted by shard count then index.

    Parameters
    ----------
    path : path-like
        The store path (``<stem>.h5``) or the path of one of its shards.

    Returns
    -------
    list of Path
        Existing ``<stem>.shard-*-of-*.h5`` files (``.partial`` files are not shards yet); the list
        may be incomplete, :meth:`FeatureStore.open` and :func:`merge_shards` check it.
    """
    parsed = parse_shard_path(path)
    base = parsed[0] if parsed else Path(path)
    if not base.parent.is_dir():
        return []
    found = []
    for candidate in base.parent.glob(f"{_glob_escape(base.stem)}.shard-*-of-*.h5"):
        info = parse_shard_path(candidate)
        if info is not None and info[0] == base and candidate.is_file():
            found.append((info[2], info[1], candidate))
    return [candidate for _, _, candidate in sorted(found)]


def _glob_escape(text: str) -> str:
    """``text`` with glob metacharacters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def partial_path(path: PathLike) -> Path:
    """The file a store is written to until it is complete: ``<path>.partial``."""
    path = Path(path)
    return path.with_name(path.name + _PARTIAL)


__all__ = ["SPANS", "REPS", "model_tag", "model_name", "model_path", "store_path", "shard_path", "parse_shard_path", "find_shards", "partial_path"]
