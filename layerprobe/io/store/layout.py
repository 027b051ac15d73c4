"""The on-disk layout of a feature store: constants, the :class:`_Layout` of a file, attr encoding.

Everything here describes what a store file holds (see :mod:`layerprobe.io.store` for the whole
layout): the allowed spans and dtypes, the attrs, the chunking, the names of datasets and attention
groups, and the low-level helpers that create, extend and check them.  Writing, reading, resuming and
merging build on it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from layerprobe import __version__
from layerprobe.errors import LayerprobeError, StoreError
from layerprobe.io.store_paths import SPANS
from layerprobe.layers import layer_kind, parse_layer_id, sort_layers

PathLike = str | os.PathLike

SEGMENT_SPANS = ("phone", "word", "all_words")
DTYPES = ("float32", "float16")

#: Attributes the caller must give to :meth:`FeatureStore.create`.
REQUIRED_ATTRS = ("model", "rep", "span", "frame_rate_hz")
#: Attributes the writer fills in when the caller leaves them out.
DEFAULT_ATTRS: dict[str, Any] = {"model_revision": "", "sample_rate": 16000, "config": {}, "manifest_hash": ""}
#: Attributes that only shard files carry.
SHARD_ATTRS = ("shard_index", "shard_count")
_WRITER_ATTRS = ("layer_ids", "complete", *SHARD_ATTRS)

#: Target size of one chunk of a layer dataset.
CHUNK_BYTES = 2 * 1024 * 1024
_MAX_CHUNK_ROWS = 1 << 20
_INDEX_CHUNK = 4096
_SEGMENT_CHUNK = 16384
#: Rows moved at a time when merging shards (bounded memory).
_COPY_BYTES = 32 * 1024 * 1024
# Each open dataset gets a chunk cache this large: it holds the chunk being filled (and the next),
# so appends of a few hundred rows do not read and rewrite a chunk from disk each time.
_CACHE_BYTES = 2 * CHUNK_BYTES + 1024 * 1024
# The earliest superblock format: the 1.10 one marks a file "open for write" and HDF5 then refuses
# to open it after a kill (until h5clear), which would defeat resuming.  Objects stay readable by
# HDF5 >= 1.10.
_LIBVER = ("earliest", "v110")

_EXISTS = "a complete store exists already; delete it or pass --overwrite to replace it"


# --------------------------------------------------------------------------------------------------
# Layout: which layers, their dims, dtype and grids


@dataclass(frozen=True, eq=True)
class _Layout:
    """What datasets a store has; the same for a store's shards and its merge."""

    layer_ids: tuple[str, ...]
    dims: tuple[int, ...]
    dtype: str
    frame_rates: tuple[float, ...]
    file_rate: float
    span: str

    @property
    def segmented(self) -> bool:
        return self.span in SEGMENT_SPANS

    def dim(self, layer: str) -> int:
        return self.dims[self.layer_ids.index(layer)]

    def frame_rate(self, layer: str) -> float:
        return self.frame_rates[self.layer_ids.index(layer)]

    def has_own_index(self, layer: str) -> bool:
        """Whether a layer's rows are indexed by ``/utterances/by_layer/<layer>``."""
        return not self.segmented and self.frame_rate(layer) != self.file_rate

    @property
    def own_index_layers(self) -> list[str]:
        return [layer for layer in self.layer_ids if self.has_own_index(layer)]

    @property
    def main_layers(self) -> list[str]:
        return [layer for layer in self.layer_ids if not self.has_own_index(layer)]

    def differences(self, other: "_Layout") -> list[str]:
        """Names of the properties in which two layouts differ."""
        names = []
        if self.layer_ids != other.layer_ids:
            names.append("layer ids")
        elif self.dims != other.dims:
            names.append("layer dims")
        if self.dtype != other.dtype:
            names.append("dtype")
        if self.layer_ids == other.layer_ids and self.frame_rates != other.frame_rates:
            names.append("layer frame rates")
        return names


def _make_layout(
    layer_dims: Mapping[str, int],
    dtype: str,
    layer_frame_rates: Mapping[str, float] | None,
    file_rate: float,
    span: str,
) -> _Layout:
    """Check the writer's arguments and order the layers from input to output."""
    if not layer_dims:
        raise StoreError("a store needs at least one layer (layer_dims is empty)")
    for layer, dim in layer_dims.items():
        _check_layer_id(layer)
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise StoreError(f"layer {layer}: dim must be a positive integer, got {dim!r}")
    try:
        dtype_name = np.dtype(dtype).name
    except TypeError:
        dtype_name = str(dtype)
    if dtype_name not in DTYPES:
        raise StoreError(f"dtype must be float32 or float16, got {dtype!r}")
    rates = dict(layer_frame_rates or {})
    unknown = sorted(set(rates) - set(layer_dims))
    if unknown:
        raise StoreError(f"layer_frame_rates names layers without dims: {', '.join(unknown)}")
    for layer, rate in rates.items():
        if not _positive_number(rate):
            raise StoreError(f"layer {layer}: frame rate must be a positive number, got {rate!r}")
    order = sort_layers(layer_dims)
    layout = _Layout(
        layer_ids=tuple(order),
        dims=tuple(int(layer_dims[layer]) for layer in order),
        dtype=dtype_name,
        frame_rates=tuple(float(rates.get(layer, file_rate)) for layer in order),
        file_rate=float(file_rate),
        span=span,
    )
    if not layout.main_layers:
        raise StoreError(
            f"no layer is on the store's grid (frame_rate_hz = {file_rate:g} Hz); "
            "set frame_rate_hz to the frame rate of at least one layer"
        )
    return layout


def _check_layer_id(layer: Any) -> None:
    try:
        ok = isinstance(layer, str) and parse_layer_id(layer) == layer
    except LayerprobeError:
        ok = False
    if not ok:
        raise StoreError(f"{layer!r} is not a layer id in normal form (C1..C7, T0..TL or mel)")


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
        and value > 0
    )


def _row_chunk(dim: int, dtype: str) -> int:
    """Rows per chunk of a layer dataset: about CHUNK_BYTES of whole rows."""
    row_bytes = dim * np.dtype(dtype).itemsize
    return int(min(_MAX_CHUNK_ROWS, max(1, CHUNK_BYTES // row_bytes)))


# --------------------------------------------------------------------------------------------------
# Attributes


def _encode_attrs(attrs: Mapping[str, Any], layout: _Layout, shard: tuple[int, int] | None) -> dict[str, Any]:
    """The file attrs of a new store: plain scalars, config and layer ids as JSON text."""
    missing = [key for key in REQUIRED_ATTRS if key not in attrs]
    if missing:
        raise StoreError(f"store attrs lack {', '.join(missing)}")
    reserved = sorted(set(attrs) & set(_WRITER_ATTRS) - {"layer_ids"})
    if reserved:
        raise StoreError(f"store attrs {', '.join(reserved)} are set by the writer, not the caller")
    _check_given_layer_ids(attrs.get("layer_ids"), layout)
    values = {**DEFAULT_ATTRS, "layerprobe_version": __version__, **attrs}
    values.pop("layer_ids", None)
    encoded: dict[str, Any] = {}
    for key, value in values.items():
        if key == "config":
            encoded[key] = _config_json(value)
        else:
            encoded[key] = _plain_scalar(key, value)
    encoded["frame_rate_hz"] = float(encoded["frame_rate_hz"])
    encoded["layer_ids"] = json.dumps(list(layout.layer_ids))
    encoded["complete"] = False
    if shard is not None:
        encoded["shard_index"], encoded["shard_count"] = shard
    return encoded


def _check_given_layer_ids(given: Any, layout: _Layout) -> None:
    """A caller may pass ``layer_ids`` too; it must name the layers of ``layer_dims``."""
    if given is None:
        return
    if isinstance(given, str) or not all(isinstance(layer, str) for layer in given):
        raise StoreError(f"store attr layer_ids must be a list of layer ids, got {given!r}")
    if sorted(given) != sorted(layout.layer_ids) or len(set(given)) != len(given):
        raise StoreError(
            f"store attr layer_ids ({', '.join(given)}) does not match layer_dims ({', '.join(layout.layer_ids)})"
        )


def _config_json(config: Any) -> str:
    if not isinstance(config, Mapping):
        raise StoreError(f"store attr config must be a dict of options, got {type(config).__name__}")
    try:
        return json.dumps(dict(config), sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"store attr config is not JSON-serialisable ({exc})") from None


def _plain_scalar(key: str, value: Any) -> str | int | float | bool:
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, (str, int, float, bool)):
        raise StoreError(f"store attr {key} must be a string or a number, got {type(value).__name__}")
    return value


def _read_raw_attrs(attrs: h5py.AttributeManager) -> dict[str, Any]:
    """File attrs as plain Python scalars (JSON text left as text)."""
    raw = {}
    for key, value in attrs.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        raw[key] = value
    return raw


def _decode_attrs(raw: Mapping[str, Any]) -> dict[str, Any]:
    """File attrs with ``layer_ids`` as a list and ``config`` as a dict."""
    decoded = dict(raw)
    for key in ("layer_ids", "config"):
        if key in decoded:
            decoded[key] = json.loads(decoded[key])
    return decoded


def _weights_changed(found: Mapping[str, Any], wanted: Mapping[str, Any], *, action: str) -> str | None:
    """The message for a store written from other model weights (both fingerprints known), else None."""
    old, new = found.get("weights_fingerprint"), wanted.get("weights_fingerprint")
    if not old or not new or old == new:
        return None
    return f"was written with other model weights (fingerprint {str(old)[:12]} vs {str(new)[:12]}); rerun with --overwrite {action}"


#: Attrs that say where things were, not what the store holds: not compared between a resume's or shards' files.
_LOCATION_ATTRS = frozenset({"complete", "manifest_file"})


def _identity_differences(found: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Attr names (other than ``complete`` and ``manifest_file``) whose values differ between two raw attr sets."""
    keys = sorted((set(found) | set(wanted)) - _LOCATION_ATTRS)
    return [key for key in keys if found.get(key) != wanted.get(key)]


# --------------------------------------------------------------------------------------------------
# File skeleton and low-level dataset helpers


def _open_h5(path: Path, mode: str) -> h5py.File:
    """Open an HDF5 file with the store's format and chunk-cache settings."""
    return h5py.File(path, mode, libver=_LIBVER, rdcc_nbytes=_CACHE_BYTES, rdcc_nslots=1009)


def _create_skeleton(file: h5py.File, layout: _Layout, attrs: Mapping[str, Any]) -> None:
    """Every group and empty dataset of a new store, and its attrs."""
    file.attrs.update(attrs)
    text = h5py.string_dtype("utf-8")
    for layer in layout.layer_ids:
        dim = layout.dim(layer)
        dataset = file.create_dataset(
            f"layers/{layer}",
            shape=(0, dim),
            maxshape=(None, dim),
            dtype=layout.dtype,
            chunks=(_row_chunk(dim, layout.dtype), dim),
        )
        dataset.attrs["frame_rate_hz"] = layout.frame_rate(layer)
    _create_vector(file, "utterances/id", text, _INDEX_CHUNK)
    for prefix in ["utterances"] + [f"utterances/by_layer/{layer}" for layer in layout.own_index_layers]:
        _create_vector(file, f"{prefix}/row_start", np.int64, _INDEX_CHUNK)
        _create_vector(file, f"{prefix}/n_rows", np.int64, _INDEX_CHUNK)
    if layout.segmented:
        _create_vector(file, "segments/label", text, _SEGMENT_CHUNK)
        _create_vector(file, "segments/utt_index", np.int64, _SEGMENT_CHUNK)
        _create_vector(file, "segments/start_s", np.float64, _SEGMENT_CHUNK)
        _create_vector(file, "segments/end_s", np.float64, _SEGMENT_CHUNK)
    file.create_group("attention")
    file.create_group("attention_logits")
    file.create_group(PADDING_GROUP)


def _create_vector(file: h5py.File, name: str, dtype: Any, chunk: int) -> None:
    file.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk,))


def _extend(dataset: h5py.Dataset, values: np.ndarray) -> None:
    """Append ``values`` along the first axis of a resizable dataset."""
    if len(values) == 0:
        return
    start = dataset.shape[0]
    dataset.resize(start + len(values), axis=0)
    dataset[start:] = values


#: The group of the attention maps' padding mass: ``/attention_padding/<utt>/<LayerId>`` (heads, T)
#: float32, the mass each real query sent to keys cut away (Whisper's 30 s padding; 0 elsewhere).
#: Files written before it existed lack the group.
PADDING_GROUP = "attention_padding"


def _attention_name(utt_id: str) -> str:
    """The HDF5 group name of an utterance's attention maps (``/`` cannot be in a name)."""
    name = utt_id.replace("%", "%25").replace("/", "%2F")
    return "%2E" + name[1:] if name.startswith(".") else name


def _dataset(file: h5py.File, path: Path, name: str, ndim: int) -> h5py.Dataset:
    """A dataset that must exist with ``ndim`` dimensions (StoreError naming it otherwise)."""
    item = file.get(name)
    if not isinstance(item, h5py.Dataset):
        raise StoreError(f"has no dataset /{name}", path=path)
    if item.ndim != ndim:
        expected = "a vector" if ndim == 1 else "a (rows, dim) matrix"
        raise StoreError(f"dataset /{name} has shape {item.shape}, expected {expected}", path=path)
    return item


def _strings(dataset: h5py.Dataset, stop: int | None = None) -> np.ndarray:
    """A string dataset (or its first ``stop`` entries) as an object array of str."""
    return dataset.asstr()[:stop] if stop is not None else dataset.asstr()[()]


def _read_layout(file: h5py.File, path: Path) -> _Layout:
    """The layout recorded in a store file (StoreError naming what is missing or malformed)."""
    attrs = file.attrs
    for key in ("layer_ids", "span", "frame_rate_hz"):
        if key not in attrs:
            raise StoreError(f"has no attr {key!r}; not a layerprobe feature store", path=path)
    try:
        layer_ids = json.loads(attrs["layer_ids"])
    except (TypeError, ValueError):
        raise StoreError("attr layer_ids is not a JSON list", path=path) from None
    if not isinstance(layer_ids, list) or not layer_ids or not all(isinstance(x, str) for x in layer_ids):
        raise StoreError("attr layer_ids is not a non-empty JSON list of layer ids", path=path)
    span = _read_raw_attrs(attrs)["span"]
    if span not in SPANS:
        raise StoreError(f"attr span is {span!r}, not one of {', '.join(SPANS)}", path=path)
    file_rate = _attr_rate(attrs["frame_rate_hz"], "attr frame_rate_hz", path)
    dims, rates, dtypes = [], [], set()
    for layer in layer_ids:
        dataset = _dataset(file, path, f"layers/{layer}", ndim=2)
        if dataset.dtype.name not in DTYPES:
            raise StoreError(
                f"dataset /layers/{layer} has dtype {dataset.dtype}, expected float32 or float16", path=path
            )
        dims.append(int(dataset.shape[1]))
        rates.append(_attr_rate(dataset.attrs.get("frame_rate_hz", file_rate), f"dataset /layers/{layer} attr frame_rate_hz", path))
        dtypes.add(dataset.dtype.name)
    if len(dtypes) != 1:
        raise StoreError(f"layers mix dtypes {', '.join(sorted(dtypes))}", path=path)
    return _Layout(tuple(layer_ids), tuple(dims), dtypes.pop(), tuple(rates), file_rate, span)


def _attr_rate(value: Any, what: str, path: Path) -> float:
    """A frame rate attr as a positive finite float (StoreError naming it otherwise)."""
    if isinstance(value, np.generic):
        value = value.item()
    if not _positive_number(value):
        raise StoreError(f"{what} is {value!r}, not a positive number of frames per second", path=path)
    return float(value)


def _consecutive(row_start: np.ndarray, n_rows: np.ndarray) -> bool:
    """Whether utterance i's rows start where utterance i-1's end (from row 0)."""
    if np.any(n_rows < 0):
        return False
    expected = np.concatenate([[0], np.cumsum(n_rows)[:-1]]) if len(n_rows) else n_rows
    return bool(np.array_equal(row_start, expected))


def _valid_prefix(row_start: np.ndarray, n_rows: np.ndarray, available: int) -> int:
    """How many leading utterances have consecutive rows that all lie within ``available`` rows."""
    count = min(len(row_start), len(n_rows))
    row_start, n_rows = row_start[:count], n_rows[:count]
    ends = np.cumsum(n_rows)
    starts = ends - n_rows
    good = (n_rows >= 0) & (row_start == starts) & (ends <= available)
    bad = np.flatnonzero(~good)
    return int(bad[0]) if len(bad) else count


def _compact_layers(layer_ids: Sequence[str]) -> str:
    """``"C1-C7,T0-T12"``: a short listing of layer ids, runs of one kind folded."""
    parts: list[str] = []
    for kind in ("mel", "C", "T"):
        of_kind = [layer for layer in layer_ids if layer_kind(layer) == kind]
        if of_kind:
            parts.append(of_kind[0] if len(of_kind) == 1 else f"{of_kind[0]}-{of_kind[-1]}")
    return ",".join(parts)
