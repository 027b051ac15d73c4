"""The feature store: every layer's features of one model on one data-sample set, in one HDF5 file.

Layout (DESIGN.md, "FeatureStore (HDF5)")
-----------------------------------------
One file ``<out>/<model_tag>/<corpus>_<split>_sample<k>/<rep>_<span>[.shard-00003-of-00016].h5``
(:func:`store_path`)::

    attrs:    layerprobe_version, model, model_revision, rep, span, frame_rate_hz, sample_rate,
              manifest_hash, layer_ids (JSON list), config (JSON of the resolved options),
              complete (bool); shard files also shard_index, shard_count
    /layers/<LayerId>              float32 or float16 (n_rows, dim), chunked along rows;
                                   attr frame_rate_hz (the grid of its rows)
    /utterances/id                 (n_utts,) str
    /utterances/row_start, n_rows  (n_utts,) int64: rows of each utterance on the file's grid
    /utterances/by_layer/<LayerId>/row_start, n_rows
                                   (n_utts,) int64: the same for a layer on another grid
    /segments/label                (n_rows,) str       (phone / word spans only)
    /segments/utt_index            (n_rows,) int64     index into /utterances
    /segments/start_s, end_s       (n_rows,) float64
    /attention/<utt>/<LayerId>         (heads, T, T) float16, post-softmax, a sampled few utterances
    /attention_logits/<utt>/<LayerId>  (heads, T, T) float16, pre-softmax, the same utterances

Extensions to DESIGN.md
-----------------------
*Per-layer grids.*  In a ``local`` frame-span store the conv layers are on two grids (C1..C6 pooled
onto 10 ms = 100 Hz, C7 at 50 Hz).  Every ``/layers/<LayerId>`` dataset carries an attr
``frame_rate_hz``.  ``/utterances/row_start`` and ``/utterances/n_rows`` index the layers at the
file's ``frame_rate_hz``; a layer on another grid has its own index
``/utterances/by_layer/<LayerId>/row_start`` and ``/n_rows``.  Every frame-span store has at least
one layer on the file's grid (for a local store, set ``frame_rate_hz`` to 100 so that only C7 needs
its own index).  In phone and word stores every layer has one row per segment, whatever its frame
rate, so the ``by_layer`` index never appears there.

*Pre-softmax attention.*  ``/attention_logits`` mirrors ``/attention`` for the maps before the
softmax (scaled and masked; ``-inf`` marks masked positions).  Both groups always exist, empty when
no maps were stored.  A group is named after its utterance id with ``%`` written ``%25`` and ``/``
written ``%2F`` (HDF5 names cannot hold ``/``).

*Provenance.*  ``manifest_hash`` is the data-sample manifest's
:meth:`~layerprobe.data.samples.SampleManifest.content_hash` ("" when not given).  ``config`` is
JSON with sorted keys and must not hold the shard: shard files of one store differ only in the
``shard_index`` / ``shard_count`` attrs.

Writing, resuming, reading
--------------------------
:meth:`FeatureStore.create` writes to ``<path>.partial``; :meth:`StoreWriter.finish` sets
``complete`` and renames the file to ``path`` atomically, so a file at ``path`` is always complete.
:meth:`StoreWriter.append` writes the rows of all layers, then the segments and attention maps, and
extends the utterance index last; a rerun with the same options copies the utterances the index
records from the ``.partial`` into a fresh file that replaces it, and reports them in
:attr:`StoreWriter.done_ids` so the caller skips them.  The file is flushed every ``flush_every``
utterances or ``flush_seconds`` seconds, and after every utterance with attention maps, so a kill
loses little work.  :meth:`StoreWriter.write_attention` streams an utterance's maps block by block
before its :meth:`~StoreWriter.append`; maps of an utterance the index does not record are dropped by
a resume.

HDF5 is not crash-safe: a kill between flushes can leave the newest index entries pointing at
string data that never reached the disk, or a half-written attention group.  The resume keeps the
longest prefix of utterances whose ids, rows, segments and maps can all be read, and warns about the
rest (they are redone).  It never writes into the killed file: damaged metadata that reading the
intact prefix never meets can still break the next write into it.  A ``.partial`` that cannot be
opened or read back is discarded with a warning and the extraction starts afresh.

:meth:`FeatureStore.open` reads one complete file, or the shards 1..N of one store together in shard
order; :meth:`FeatureStore.iter_rows` streams rows in blocks, nothing loads every row.

Chunking and compression
------------------------
Layer datasets are chunked along rows, ``CHUNK_BYTES`` (2 MiB) per chunk whole rows (682 rows of a
768-d float32 layer, 1024 of a 512-d one), uncompressed by default: for speed, since a lossless
filter would sit in the path of every write and read, and features are read far more often than
they are written.  Files are
written with the earliest HDF5 superblock (HDF5 1.10's marks a file "open for write", and a file
killed while open could then not be reopened for a resume without ``h5clear``) and objects readable
by HDF5 >= 1.10.  Each open dataset gets a chunk cache of two chunks, so that appending a few hundred
rows does not read back and rewrite a partly filled chunk (twice the append speed).  Index and
segment datasets use small fixed chunks (4096 and 16384 entries).

Shards
------
Shard ``i`` of ``n`` (1-based, ``1 <= i <= n``) of ``<stem>.h5`` is
``<stem>.shard-0000i-of-0000n.h5`` (:func:`shard_path`).  :func:`merge_shards` concatenates the
shards in order into ``<stem>.h5``, which then equals, dataset for dataset and attr for attr, a store
written by one process with the same rows in the same order.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import resource
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import h5py
import numpy as np

from layerprobe import __version__
from layerprobe.errors import LayerprobeError, StoreError
from layerprobe.io.store_paths import (
    _PARTIAL,
    REPS,
    SPANS,
    find_shards,
    model_tag,
    parse_shard_path,
    partial_path,
    shard_path,
    store_path,
)
from layerprobe.layers import layer_kind, parse_layer_id, sort_layers

PathLike = str | os.PathLike

SEGMENT_SPANS = ("phone", "word")
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


def _identity_differences(found: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Attr names (other than ``complete``) whose values differ between two raw attr sets."""
    keys = sorted((set(found) | set(wanted)) - {"complete"})
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


def _create_vector(file: h5py.File, name: str, dtype: Any, chunk: int) -> None:
    file.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk,))


def _extend(dataset: h5py.Dataset, values: np.ndarray) -> None:
    """Append ``values`` along the first axis of a resizable dataset."""
    if len(values) == 0:
        return
    start = dataset.shape[0]
    dataset.resize(start + len(values), axis=0)
    dataset[start:] = values


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


# --------------------------------------------------------------------------------------------------
# Writing


class StoreWriter:
    """Appends utterances to a store's ``.partial`` file; :meth:`finish` makes it the store.

    Made by :meth:`FeatureStore.create`.  Usable as a context manager: leaving the block closes the
    file and keeps the ``.partial`` (for a later resume) unless :meth:`finish` was called; finishing
    is always explicit, so an interrupted loop never marks a store complete.

    Attributes
    ----------
    path : Path
        Where the finished store will be.
    partial_path : Path
        The file being written.
    """

    def __init__(
        self,
        file: h5py.File,
        path: Path,
        layout: _Layout,
        done_ids: Iterable[str],
        *,
        flush_every: int,
        flush_seconds: float,
    ):
        self.path = path
        self.partial_path = partial_path(path)
        self._file: h5py.File | None = file
        self._layout = layout
        self._done = set(done_ids)
        self._flush_every = flush_every
        self._flush_seconds = flush_seconds
        self._unflushed = 0
        self._last_flush = time.monotonic()
        self._layers = {layer: file[f"layers/{layer}"] for layer in layout.layer_ids}
        # utterance id -> (logits?) -> blocks streamed by write_attention, not yet appended
        self._pending_maps: dict[str, dict[bool, list[str]]] = {}
        # The one-writer lock (set by FeatureStore.create), released when the file is closed.
        self._lock: _WriterLock | None = None

    # -- state

    @property
    def done_ids(self) -> frozenset[str]:
        """The utterance ids already in the store (a snapshot; after a resume, those to skip)."""
        return frozenset(self._done)

    @property
    def n_utterances(self) -> int:
        return len(self._done)

    @property
    def layer_ids(self) -> list[str]:
        return list(self._layout.layer_ids)

    @property
    def closed(self) -> bool:
        return self._file is None

    def _open_file(self) -> h5py.File:
        if self._file is None:
            raise StoreError("the store writer is closed", path=self.partial_path)
        return self._file

    def _error(self, message: str, utt_id: str | None = None) -> StoreError:
        where = None if utt_id is None else f"utterance {utt_id!r}"
        return StoreError(message, path=self.partial_path, where=where)

    # -- appending

    def append(
        self,
        utt_id: str,
        rows: Mapping[str, np.ndarray],
        *,
        segments: Sequence[tuple[str, float, float]] | None = None,
        attention: Mapping[str, np.ndarray] | None = None,
        attention_logits: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Append one utterance.

        Parameters
        ----------
        utt_id : str
            Must not be in the store yet.
        rows : mapping of str to numpy.ndarray
            Every layer of the store -> its rows, shape (n, dim), real numbers, cast to the store
            dtype.  Layers on one grid have equal n; in phone and word stores every layer has one
            row per segment.
        segments : sequence of (label, start_s, end_s), optional
            Phone and word stores only (required there): one per row, in row order.
        attention, attention_logits : mapping of str to numpy.ndarray, optional
            Layer id -> post-softmax maps / pre-softmax logits, shape (heads, T, T), stored as float16.
            Maps must be finite; logits may hold ``-inf`` (masked positions) but no NaN or ``+inf``.

        Raises
        ------
        StoreError
            For a repeated id, a missing or extra layer, a wrong dim, unequal row counts on one grid,
            NaN or infinite values (also values beyond the float16 range in a float16 store),
            segments that do not match the rows or the span, or malformed attention maps.
        """
        self._open_file()
        if not isinstance(utt_id, str) or not utt_id:
            raise self._error(f"utterance id must be a non-empty string, got {utt_id!r}")
        if utt_id in self._done:
            raise self._error("is already in the store", utt_id)
        arrays = self._checked_rows(utt_id, rows)
        n_main = self._checked_counts(utt_id, arrays)
        segment_columns = self._checked_segments(utt_id, segments, n_main)
        maps = self._checked_maps(utt_id, attention, logits=False)
        logit_maps = self._checked_maps(utt_id, attention_logits, logits=True)
        streamed = self._pending_maps.get(utt_id, {False: [], True: []})
        for what, given, logits in (("attention", maps, False), ("attention_logits", logit_maps, True)):
            clash = [layer for layer in given if layer in streamed[logits]]
            if clash:
                raise self._error(f"{what} {', '.join(clash)}: already written by write_attention", utt_id)
        self._check_room(sum(a.nbytes for a in arrays.values()) + sum(m.size * 2 for m in (*maps.values(), *logit_maps.values())))
        try:
            self._write_utterance(utt_id, arrays, n_main, segment_columns, maps, logit_maps)
        except (OSError, RuntimeError) as exc:
            # Rows may be on disk without their index: only a resume (which cuts them) may go on.
            self._abandon()
            raise _write_failure(exc, self.partial_path) from None
        except BaseException:
            self._abandon()
            raise
        had_streamed = self._pending_maps.pop(utt_id, None) is not None
        # Creating map groups rewrites shared metadata; flushing at once keeps a kill from damaging it.
        self._after_append(flush_now=bool(maps or logit_maps or had_streamed))

    def write_attention(self, utt_id: str, block: str, values: np.ndarray, *, logits: bool = False) -> None:
        """Write one block's attention maps (or logits) of an utterance that :meth:`append` completes later.

        Streams the maps of a long utterance block by block instead of holding them all for
        :meth:`append`.  They land at ``/attention[_logits]/<utt>/<block>`` as float16; until the
        utterance is appended they have no index entry, so a resume drops them (and
        :meth:`discard_attention` removes them from this writer).

        Parameters
        ----------
        utt_id : str
            An utterance not in the store yet.
        block : str
            Layer id of the block (``"T1"`` ..); each block once per utterance and kind.
        values : numpy.ndarray, shape (heads, T, T)
            As for ``append(attention=...)``: finite maps, or logits that may hold ``-inf``.
        logits : bool, keyword-only
            The pre-softmax logits (``/attention_logits``) instead of the maps.

        Raises
        ------
        StoreError
            For an utterance already in the store, a block written before, or malformed maps.
        """
        self._open_file()
        if not isinstance(utt_id, str) or not utt_id:
            raise self._error(f"utterance id must be a non-empty string, got {utt_id!r}")
        if utt_id in self._done:
            raise self._error("is already in the store; its attention maps cannot be written again", utt_id)
        checked = self._checked_maps(utt_id, {block: values}, logits=logits)
        written = self._pending_maps.setdefault(utt_id, {False: [], True: []})[logits]
        if block in written:
            what = "attention_logits" if logits else "attention"
            raise self._error(f"{what} {block}: already written", utt_id)
        group = "attention_logits" if logits else "attention"
        self._check_room(sum(m.size * 2 for m in checked.values()))
        try:
            self._write_maps(group, utt_id, checked)
        except (OSError, RuntimeError) as exc:
            self._abandon()
            raise _write_failure(exc, self.partial_path) from None
        except BaseException:
            self._abandon()
            raise
        written.append(block)

    def discard_attention(self, utt_id: str) -> None:
        """Delete the maps :meth:`write_attention` wrote for an utterance not appended (no-op if none)."""
        file = self._open_file()
        if utt_id in self._done:
            raise self._error("is already in the store; its attention maps stay", utt_id)
        self._pending_maps.pop(utt_id, None)
        name = _attention_name(utt_id)
        for group in ("attention", "attention_logits"):
            if name in file[group]:
                del file[group][name]

    def _write_utterance(
        self,
        utt_id: str,
        arrays: Mapping[str, np.ndarray],
        n_main: int,
        segment_columns: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
        maps: Mapping[str, np.ndarray],
        logit_maps: Mapping[str, np.ndarray],
    ) -> None:
        """Write checked rows, segments and maps, then the index entries, then the id."""
        file = self._open_file()
        starts = {layer: self._layers[layer].shape[0] for layer in self._layout.layer_ids}
        for layer, values in arrays.items():
            _extend(self._layers[layer], values)
        if segment_columns is not None:
            self._write_segments(segment_columns)
        self._write_maps("attention", utt_id, maps)
        self._write_maps("attention_logits", utt_id, logit_maps)
        # The utterance index goes last: a kill before it leaves rows the resume cuts away.
        for layer in self._layout.own_index_layers:
            self._extend_index(f"utterances/by_layer/{layer}", [starts[layer]], [len(arrays[layer])])
        main_layer = self._layout.main_layers[0]
        self._extend_index("utterances", [starts[main_layer]], [n_main])
        _extend(file["utterances/id"], np.array([utt_id], dtype=object))
        self._done.add(utt_id)

    def _checked_rows(self, utt_id: str, rows: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [layer for layer in self._layout.layer_ids if layer not in rows]
        extra = sorted(set(rows) - set(self._layout.layer_ids), key=str)
        if missing or extra:
            parts = [f"lacks layers {', '.join(missing)}"] if missing else []
            parts += [f"has layers the store does not ({', '.join(map(str, extra))})"] if extra else []
            raise self._error(" and ".join(parts), utt_id)
        return {layer: self._checked_matrix(utt_id, layer, rows[layer]) for layer in self._layout.layer_ids}

    def _checked_matrix(self, utt_id: str, layer: str, values: Any) -> np.ndarray:
        array = np.asarray(values)
        dim = self._layout.dim(layer)
        if array.ndim != 2 or array.shape[1] != dim:
            raise self._error(f"layer {layer}: rows have shape {array.shape}, expected (n, {dim})", utt_id)
        if array.dtype.kind not in "fiu":
            raise self._error(f"layer {layer}: rows have dtype {array.dtype}, expected real numbers", utt_id)
        with np.errstate(over="ignore"):
            cast = np.ascontiguousarray(array, dtype=self._layout.dtype)
        if not np.isfinite(cast).all():
            if np.isfinite(array).all():
                raise self._error(f"layer {layer}: values beyond the {self._layout.dtype} range", utt_id)
            raise self._error(f"layer {layer}: rows contain NaN or infinite values", utt_id)
        return cast

    def _checked_counts(self, utt_id: str, arrays: Mapping[str, np.ndarray]) -> int:
        """The utterance's row count on the file's grid, after checking every grid is consistent."""
        counts_by_rate: dict[float, dict[str, int]] = {}
        for layer, values in arrays.items():
            rate = self._layout.file_rate if self._layout.segmented else self._layout.frame_rate(layer)
            counts_by_rate.setdefault(rate, {})[layer] = len(values)
        for rate, counts in counts_by_rate.items():
            if len(set(counts.values())) > 1:
                listing = ", ".join(f"{layer}: {n}" for layer, n in counts.items())
                grid = "" if self._layout.segmented else f" at {rate:g} Hz"
                raise self._error(f"layers{grid} have different row counts ({listing})", utt_id)
        return len(arrays[self._layout.main_layers[0]])

    def _checked_segments(
        self, utt_id: str, segments: Sequence[tuple[str, float, float]] | None, n_rows: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(labels, starts, ends)`` of a phone / word utterance; None for frame stores."""
        if not self._layout.segmented:
            if segments is not None:
                raise self._error("segments given, but this is a frame-span store", utt_id)
            return None
        if segments is None:
            raise self._error(f"a {self._layout.span}-span store needs segments", utt_id)
        if len(segments) != n_rows:
            raise self._error(f"{len(segments)} segments for {n_rows} rows", utt_id)
        try:
            labels = np.array([str(label) for label, _, _ in segments] or [], dtype=object)
            times = np.array([(start, end) for _, start, end in segments], dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError) as exc:
            raise self._error(f"segments must be (label, start_s, end_s) triples ({exc})", utt_id) from None
        if not np.isfinite(times).all() or np.any(times[:, 0] > times[:, 1]):
            raise self._error("a segment has a non-finite time or ends before it starts", utt_id)
        return labels, times[:, 0], times[:, 1]

    def _checked_maps(
        self, utt_id: str, maps: Mapping[str, np.ndarray] | None, *, logits: bool
    ) -> dict[str, np.ndarray]:
        """Attention maps as float16 (heads, T, T) arrays, after checking shapes and values."""
        if not maps:
            return {}
        what = "attention_logits" if logits else "attention"
        checked = {}
        for layer, values in maps.items():
            try:
                _check_layer_id(layer)
            except StoreError as exc:
                raise self._error(f"{what}: {exc.problem}", utt_id) from None
            array = np.asarray(values)
            if array.ndim != 3 or array.shape[1] != array.shape[2] or array.dtype.kind not in "fiu":
                found = f"shape {array.shape} / dtype {array.dtype}"
                raise self._error(f"{what} {layer}: {found}, expected real (heads, T, T)", utt_id)
            with np.errstate(over="ignore"):
                half = array.astype(np.float16)
            allowed = ~np.isnan(half) & (half != np.inf) if logits else np.isfinite(half)
            if not allowed.all():
                problem = "NaN or +inf" if logits else "non-finite values"
                raise self._error(f"{what} {layer}: {problem} (or values beyond float16)", utt_id)
            checked[layer] = half
        return checked

    def _write_segments(self, columns: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        file = self._open_file()
        labels, starts, ends = columns
        _extend(file["segments/label"], labels)
        _extend(file["segments/utt_index"], np.full(len(labels), len(self._done), dtype=np.int64))
        _extend(file["segments/start_s"], starts)
        _extend(file["segments/end_s"], ends)

    def _write_maps(self, group: str, utt_id: str, maps: Mapping[str, np.ndarray]) -> None:
        if not maps:
            return
        target = self._open_file()[group].require_group(_attention_name(utt_id))
        for layer, values in maps.items():
            target.create_dataset(layer, data=values)

    def _extend_index(self, prefix: str, row_start: Sequence[int], n_rows: Sequence[int]) -> None:
        file = self._open_file()
        _extend(file[f"{prefix}/row_start"], np.asarray(row_start, dtype=np.int64))
        _extend(file[f"{prefix}/n_rows"], np.asarray(n_rows, dtype=np.int64))

    def _check_room(self, n_bytes: int) -> None:
        """Refuse a write the disk (or the process's file-size limit) has no room for, before HDF5 tries it.

        HDF5 does not recover from a refused write: the file's cached metadata can no longer be
        written, every object freed afterwards fails again, and closing the file can crash the
        process.  So the room is checked first, with a margin for metadata and chunk padding:
        twice the data plus :data:`_ROOM_MARGIN`.  A write that still fails (another process
        filling the disk at the same moment) is reported by :func:`_write_failure`.

        Raises
        ------
        StoreError
            When there is not enough room; nothing has been written for the utterance then.
        """
        needed = 2 * n_bytes + _ROOM_MARGIN
        try:
            free = shutil.disk_usage(self.partial_path.parent).free
            size = self.partial_path.stat().st_size
        except OSError:
            return  # the write itself will say what is wrong
        room, where = free, "the disk is full"
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and limit - size < room:
            room, where = limit - size, f"the process's file-size limit (ulimit -f) is {limit} bytes"
        if room < needed:
            raise StoreError(
                f"cannot write the store: {where} ({max(room, 0)} bytes of room, about {needed} needed for the "
                "next utterance); free space and rerun, it resumes from the last complete utterance",
                path=self.partial_path,
            )

    def _after_append(self, *, flush_now: bool) -> None:
        self._unflushed += 1
        due = self._unflushed >= self._flush_every or time.monotonic() - self._last_flush >= self._flush_seconds
        if due or flush_now:
            self.flush()

    # -- copying whole files (merge)

    def _append_file(self, source: "_StoreFile") -> None:
        """Append every utterance of a complete store file, streaming rows in bounded blocks."""
        file = self._open_file()
        clash = next((utt for utt in source.utterance_ids if utt in self._done), None)
        if clash is not None:
            raise StoreError(f"utterance {clash!r} is also in an earlier shard", path=source.path)
        self._check_room(source.path.stat().st_size // 2)  # the file's size, with the same margin as appends
        main_offset = self._layers[self._layout.main_layers[0]].shape[0]
        utt_offset = len(self._done)
        offsets = {layer: self._layers[layer].shape[0] for layer in self._layout.layer_ids}
        for layer in self._layout.layer_ids:
            _copy_rows(source.file[f"layers/{layer}"], self._layers[layer])
        if self._layout.segmented:
            for name in ("label", "utt_index", "start_s", "end_s"):
                shift = utt_offset if name == "utt_index" else 0
                _copy_rows(source.file[f"segments/{name}"], file[f"segments/{name}"], shift=shift)
        for group in ("attention", "attention_logits"):
            for name in source.file[group]:
                source.file[group].copy(source.file[group][name], file[group], name=name)
        for layer in self._layout.own_index_layers:
            start, count = source.row_index[layer]
            self._extend_index(f"utterances/by_layer/{layer}", start + offsets[layer], count)
        start, count = source.main_index
        self._extend_index("utterances", start + main_offset, count)
        _extend(file["utterances/id"], np.asarray(source.utterance_ids, dtype=object))
        self._done.update(source.utterance_ids)

    # -- ending

    def flush(self) -> None:
        """Write buffered data to disk (a kill after this loses nothing appended before it).

        Raises
        ------
        StoreError
            When the disk refuses the data (full, or a file-size limit); the writer is closed and
            the ``.partial`` file stays for a resume once there is room.
        """
        file = self._open_file()
        try:
            file.flush()
        except (OSError, RuntimeError) as exc:
            self._abandon()
            raise _write_failure(exc, self.partial_path) from None
        self._unflushed = 0
        self._last_flush = time.monotonic()

    def finish(self) -> Path:
        """Mark the store complete, close it and rename the ``.partial`` file to :attr:`path`.

        Returns
        -------
        Path
            The finished store.
        """
        file = self._open_file()
        try:
            file.attrs["complete"] = True
            file.flush()
            file.close()
        except (OSError, RuntimeError) as exc:
            self._abandon()
            raise _write_failure(exc, self.partial_path) from None
        self._file = None
        os.replace(self.partial_path, self.path)
        self._release_lock()
        return self.path

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _abandon(self) -> None:
        """Close after a failed write, ignoring further errors (the ``.partial`` stays for a resume)."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except Exception:  # the write already failed; its error is the one to report
                pass
        self._release_lock()

    def close(self) -> None:
        """Flush and close, keeping the ``.partial`` file for a resume (no-op when closed).

        Raises
        ------
        StoreError
            When the buffered data cannot be written (see :meth:`flush`).
        """
        if self._file is not None:
            try:
                self._file.flush()
                self._file.close()
            except (OSError, RuntimeError) as exc:
                self._abandon()
                raise _write_failure(exc, self.partial_path) from None
            self._file = None
        self._release_lock()

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        if exc_type is None:
            self.close()
        else:  # an error is on its way out: closing must not replace it with another
            try:
                self.close()
            except StoreError:
                pass

    def describe(self) -> str:
        """One line: where, how many layers and utterances, open or closed."""
        state = "closed" if self.closed else "open"
        layers = f"{len(self._layout.layer_ids)} layers {_compact_layers(self._layout.layer_ids)}"
        return f"{self.partial_path.name}: writing {layers}, {self.n_utterances} utterances, {state}"

    def __repr__(self) -> str:
        return f"<StoreWriter {self.describe()}>"


#: Room kept free beyond twice an utterance's data, for HDF5 metadata and chunk padding (bytes).
_ROOM_MARGIN = 4 << 20

_HDF5_ERRNO_MESSAGE = re.compile(r"error message = '([^']+)'")


def _write_failure(exc: BaseException, partial: Path) -> StoreError:
    """One line for a write the disk refused (HDF5 reports errno inside a long message)."""
    found = _HDF5_ERRNO_MESSAGE.search(str(exc))
    reason = found.group(1) if found else (getattr(exc, "strerror", None) or " ".join(str(exc).split())[:160])
    return StoreError(
        f"cannot write the store ({reason}); the disk may be full: free space and rerun, it resumes from the "
        "last complete utterance",
        path=partial,
    )


def _copy_rows(
    source: h5py.Dataset, target: h5py.Dataset, *, shift: int = 0, stop: int | None = None
) -> None:
    """Append ``source`` (its first ``stop`` rows) to ``target`` in blocks of about _COPY_BYTES.

    ``shift`` is added to every value (utterance numbers of a later shard).
    """
    row_bytes = max(1, int(np.prod(source.shape[1:], dtype=np.int64)) * source.dtype.itemsize)
    block = max(1, _COPY_BYTES // row_bytes)
    strings = h5py.check_string_dtype(source.dtype) is not None
    total = source.shape[0] if stop is None else stop
    for first in range(0, total, block):
        last = min(first + block, total)
        values = source.asstr()[first:last] if strings else source[first:last]
        _extend(target, values + shift if shift else values)


# --------------------------------------------------------------------------------------------------
# Reading one file


class _StoreFile:
    """One complete, checked store file opened for reading (a whole store or one shard)."""

    def __init__(self, path: Path):
        self.path = path
        if path.name.endswith(_PARTIAL):
            raise StoreError("is an unfinished store (.partial); rerun the extraction to resume it", path=path)
        try:
            self.file = _open_h5(path, "r")
        except FileNotFoundError:
            raise StoreError("no such feature store", path=path) from None
        except OSError as exc:
            raise StoreError(f"cannot be read as HDF5 ({exc})", path=path) from None
        try:
            self._load()
        except OSError as exc:
            self.file.close()
            raise StoreError(f"cannot be read ({exc})", path=path) from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, RuntimeError) as exc:
            # a damaged file shows h5py objects of unexpected kinds where the checks below expect others,
            # and h5py raises RuntimeError for damaged object headers ("bad version number ...")
            self.file.close()
            raise StoreError(f"is damaged ({type(exc).__name__}: {exc})", path=path) from None
        except BaseException:
            self.file.close()
            raise

    def _load(self) -> None:
        raw = _read_raw_attrs(self.file.attrs)
        if raw.get("complete") is not True:
            raise StoreError("is incomplete (complete=False); rerun the extraction to finish it", path=self.path)
        self.layout = _read_layout(self.file, self.path)
        try:
            decoded = _decode_attrs(raw)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"attr config is not JSON ({exc})", path=self.path) from None
        if not isinstance(decoded.get("config", {}), dict):
            raise StoreError("attr config is not a JSON object of options", path=self.path)
        self.raw_attrs = raw
        parsed = parse_shard_path(self.path)
        self.shard = (raw.get("shard_index"), raw.get("shard_count")) if "shard_index" in raw else None
        if parsed is not None and self.shard != parsed[1:]:
            raise StoreError(
                f"the file name says shard {parsed[1]}/{parsed[2]}, its attrs say {self.shard}", path=self.path
            )
        self._load_index()

    def _load_index(self) -> None:
        file, path, layout = self.file, self.path, self.layout
        ids = _dataset(file, path, "utterances/id", ndim=1)
        if not h5py.check_string_dtype(ids.dtype):
            raise StoreError(f"dataset /utterances/id holds {ids.dtype}, not strings", path=path)
        self.utterance_ids: list[str] = list(_strings(ids))
        self.main_index = self._index("utterances", len(self.utterance_ids))
        self.row_index: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.rows: dict[str, int] = {}
        for layer in layout.layer_ids:
            prefix = f"utterances/by_layer/{layer}" if layout.has_own_index(layer) else "utterances"
            index = self._index(prefix, len(self.utterance_ids)) if prefix != "utterances" else self.main_index
            n = int(file[f"layers/{layer}"].shape[0])
            if n != int(index[1].sum()):
                raise StoreError(
                    f"dataset /layers/{layer} has {n} rows but /{prefix} indexes {int(index[1].sum())}", path=path
                )
            self.row_index[layer], self.rows[layer] = index, n
        if layout.segmented:
            n_segments = int(self.main_index[1].sum())
            for name in ("label", "utt_index", "start_s", "end_s"):
                dataset = _dataset(file, path, f"segments/{name}", ndim=1)
                if dataset.shape[0] != n_segments:
                    raise StoreError(
                        f"dataset /segments/{name} has {dataset.shape[0]} entries, expected {n_segments}", path=path
                    )
                is_text = bool(h5py.check_string_dtype(dataset.dtype))
                if is_text != (name == "label") or (not is_text and dataset.dtype.kind not in ("iu" if name == "utt_index" else "iuf")):
                    raise StoreError(f"dataset /segments/{name} holds {dataset.dtype}", path=path)
            utt_index = file["segments/utt_index"][()]
            if n_segments and (utt_index.min() < 0 or utt_index.max() >= len(self.utterance_ids)):
                raise StoreError(
                    f"dataset /segments/utt_index points outside the store's {len(self.utterance_ids)} utterances", path=path
                )

    def _index(self, prefix: str, n_utts: int) -> tuple[np.ndarray, np.ndarray]:
        columns = [_dataset(self.file, self.path, f"{prefix}/{name}", ndim=1) for name in ("row_start", "n_rows")]
        for column in columns:
            if column.dtype.kind not in "iu":
                raise StoreError(f"dataset {column.name} holds {column.dtype}, not integers", path=self.path)
        start, count = (column[()].astype(np.int64) for column in columns)
        if len(start) != n_utts or len(count) != n_utts:
            raise StoreError(
                f"/{prefix}/row_start and /n_rows have {len(start)} and {len(count)} entries "
                f"for {n_utts} utterances",
                path=self.path,
            )
        if not _consecutive(start, count):
            raise StoreError(f"/{prefix}/row_start and /n_rows do not describe consecutive rows", path=self.path)
        return start, count

    @property
    def identity(self) -> dict[str, Any]:
        """Raw attrs without the shard-specific ones: equal for all shards of one store."""
        return {key: value for key, value in self.raw_attrs.items() if key not in SHARD_ATTRS}

    def close(self) -> None:
        self.file.close()


# --------------------------------------------------------------------------------------------------
# The store


class FeatureStore:
    """A complete feature store opened for reading: one file, or the shards 1..N of one store.

    Open with :meth:`FeatureStore.open`; write with :meth:`FeatureStore.create`.  Rows of layers
    are returned as float32 whatever the on-disk dtype.  Usable as a context manager.
    """

    def __init__(self, files: Sequence[_StoreFile]):
        self._files = list(files)
        self._layout = self._files[0].layout
        self._position: dict[str, int] | None = None

    # -- opening and creating

    @classmethod
    def open(cls, path_or_paths: PathLike | Iterable[PathLike]) -> "FeatureStore":
        """Open a complete store for reading.

        Parameters
        ----------
        path_or_paths : path-like or iterable of path-likes
            One store file; or a store path that does not exist but whose shards do (they are read
            together); or the shard files of one store, all N of them, in any order.

        Raises
        ------
        StoreError
            For a ``.partial`` or incomplete file, a file that is not a store or lacks a dataset or
            has one of the wrong shape, or shards that are not the complete, consistent set 1..N of
            one store (a missing shard is named).
        """
        if isinstance(path_or_paths, (str, os.PathLike)):
            paths = [Path(path_or_paths)]
        else:
            paths = [Path(path) for path in path_or_paths]
            if not paths:
                raise StoreError("no store files given")
        if len(paths) > 1:
            return cls._open_shards(paths)
        path = paths[0]
        if path.is_file() or path.name.endswith(_PARTIAL) or parse_shard_path(path) is not None:
            return cls([_StoreFile(path)])
        shards = find_shards(path)
        if shards:
            return cls._open_shards(shards, base=path)
        if partial_path(path).exists():
            only = partial_path(path).name
            raise StoreError(f"is unfinished: only {only} exists; rerun the extraction to resume it", path=path)
        raise StoreError("no such feature store (and no shards of it)", path=path)

    @classmethod
    def _open_shards(cls, paths: Sequence[Path], base: Path | None = None) -> "FeatureStore":
        ordered = _ordered_shard_set(paths, base)
        files: list[_StoreFile] = []
        try:
            for path in ordered:
                files.append(_StoreFile(path))
            _check_consistent(files)
        except BaseException:
            for opened in files:
                opened.close()
            raise
        return cls(files)

    @staticmethod
    def create(
        path: PathLike,
        *,
        attrs: Mapping[str, Any],
        layer_dims: Mapping[str, int],
        dtype: str = "float32",
        layer_frame_rates: Mapping[str, float] | None = None,
        resume: bool = True,
        overwrite: bool = False,
        flush_every: int = 50,
        flush_seconds: float = 30.0,
    ) -> StoreWriter:
        """Start (or resume) writing a store.

        Parameters
        ----------
        path : path-like
            The finished store's path (``.h5``; a shard's name from :func:`shard_path` makes a shard
            and records ``shard_index`` / ``shard_count``).  Written as ``<path>.partial`` until
            :meth:`StoreWriter.finish`.
        attrs : mapping
            ``model``, ``rep``, ``span``, ``frame_rate_hz`` (required), ``model_revision``,
            ``sample_rate``, ``manifest_hash``, ``config`` (a JSON-serialisable dict of the resolved
            options, without the shard), ``layerprobe_version`` (default: this version), and any
            extra string or number.  ``layer_ids`` may be given (it must name the layers of
            ``layer_dims``; the file lists them from input to output); ``complete`` and the shard
            attrs are the writer's.
        layer_dims : mapping of str to int
            Layer id -> feature dimension.
        dtype : {"float32", "float16"}
            On-disk dtype of the layer datasets.
        layer_frame_rates : mapping of str to float, optional
            Layer id -> frame rate of its rows (Hz); layers left out are at ``attrs["frame_rate_hz"]``.
        resume : bool
            Reopen an existing ``.partial`` written with the same options and keep its complete
            utterances (:attr:`StoreWriter.done_ids`); False discards it.
        overwrite : bool
            Allow replacing a complete store at ``path`` (kept until :meth:`StoreWriter.finish`);
            also discards any ``.partial``.
        flush_every, flush_seconds : int, float
            Flush after this many utterances or seconds, whichever comes first.

        Returns
        -------
        StoreWriter

        Raises
        ------
        StoreError
            For bad arguments, a complete store at ``path`` without ``overwrite``, a ``.partial``
            written with other options, or a ``.partial`` in use by another process.

        Warns
        -----
        UserWarning
            When a ``.partial`` cannot be opened or is damaged beyond its index, and is discarded.
        """
        path = Path(path)
        if path.suffix != ".h5":
            raise StoreError("a store path must end in .h5", path=path)
        if not isinstance(flush_every, int) or flush_every < 1 or not _positive_number(flush_seconds):
            raise StoreError(
                f"flush_every and flush_seconds must be positive, got {flush_every!r}, {flush_seconds!r}"
            )
        span = attrs.get("span")
        if span not in SPANS:
            raise StoreError(f"store attr span is {span!r}, expected one of {', '.join(SPANS)}")
        if attrs.get("rep") not in REPS:
            raise StoreError(f"store attr rep is {attrs.get('rep')!r}, expected one of {', '.join(REPS)}")
        file_rate = attrs.get("frame_rate_hz")
        if not _positive_number(file_rate):
            raise StoreError(f"store attr frame_rate_hz must be a positive number, got {file_rate!r}")
        layout = _make_layout(layer_dims, dtype, layer_frame_rates, float(file_rate), span)
        parsed = parse_shard_path(path)
        encoded = _encode_attrs(attrs, layout, parsed[1:] if parsed else None)
        if path.exists() and not overwrite:
            raise StoreError(_EXISTS, path=path)
        options = {"flush_every": flush_every, "flush_seconds": float(flush_seconds)}
        lock = _WriterLock(path)
        try:
            writer = _create_or_resume(path, layout, encoded, options, resume=resume, overwrite=overwrite)
        except BaseException:
            lock.release()
            raise
        writer._lock = lock
        return writer

    # -- metadata

    @property
    def paths(self) -> list[Path]:
        """The files read (one, or the shards in order)."""
        return [store_file.path for store_file in self._files]

    @property
    def attrs(self) -> dict[str, Any]:
        """File attrs, decoded: ``layer_ids`` a list, ``config`` a dict.

        Shards read together report the attrs they share (no ``shard_index`` / ``shard_count``),
        that is, the attrs of their merge.
        """
        raw = self._files[0].identity if len(self._files) > 1 else self._files[0].raw_attrs
        return _decode_attrs(raw)

    @property
    def layer_ids(self) -> list[str]:
        return list(self._layout.layer_ids)

    @property
    def dims(self) -> dict[str, int]:
        """Layer id -> feature dimension."""
        return dict(zip(self._layout.layer_ids, self._layout.dims))

    @property
    def dtype(self) -> str:
        """On-disk dtype of the layers (reads return float32)."""
        return self._layout.dtype

    @property
    def span(self) -> str:
        return self._layout.span

    @property
    def frame_rate_hz(self) -> float:
        """The file's grid: the rate of the layers indexed by ``/utterances/row_start``."""
        return self._layout.file_rate

    def layer_frame_rate(self, layer: str) -> float:
        """Frame rate (Hz) of a layer's rows (in phone / word stores: of the frames pooled)."""
        self._check_layer(layer)
        return self._layout.frame_rate(layer)

    def n_rows(self, layer: str) -> int:
        """Rows of a layer across all files."""
        self._check_layer(layer)
        return sum(store_file.rows[layer] for store_file in self._files)

    @property
    def utterance_ids(self) -> list[str]:
        """Utterance ids in row order."""
        return [utt for store_file in self._files for utt in store_file.utterance_ids]

    @property
    def n_utterances(self) -> int:
        return sum(len(store_file.utterance_ids) for store_file in self._files)

    # -- segments

    @property
    def labels(self) -> np.ndarray:
        """Segment labels, shape (n_rows,), str (phone and word stores)."""
        parts = [_strings(f.file["segments/label"]) for f in self._segment_files()]
        return np.asarray(np.concatenate(parts), dtype=str) if parts else np.array([], dtype=str)

    @property
    def segment_utt_index(self) -> np.ndarray:
        """Index into :attr:`utterance_ids` of each segment, shape (n_rows,), int64."""
        parts, offset = [], 0
        for store_file in self._segment_files():
            parts.append(store_file.file["segments/utt_index"][()].astype(np.int64) + offset)
            offset += len(store_file.utterance_ids)
        return np.concatenate(parts)

    @property
    def segment_times(self) -> np.ndarray:
        """``[start_s, end_s]`` of each segment, shape (n_rows, 2), float64."""
        parts = [
            np.stack([f.file["segments/start_s"][()], f.file["segments/end_s"][()]], axis=1).astype(np.float64)
            for f in self._segment_files()
        ]
        return np.concatenate(parts).reshape(-1, 2)

    def _segment_files(self) -> list[_StoreFile]:
        if not self._layout.segmented:
            raise StoreError("is a frame-span store; it has no segments", path=self._files[0].path)
        return self._files

    # -- rows

    def read(self, layer: str, rows: slice | None = None) -> np.ndarray:
        """Rows of a layer as float32.

        Parameters
        ----------
        layer : str
        rows : slice, optional
            A contiguous range of rows (step 1) across the whole store; all rows when omitted.

        Returns
        -------
        numpy.ndarray
            Shape (n, dim), float32.
        """
        total = self.n_rows(layer)
        start, stop, step = (rows or slice(None)).indices(total)
        if step != 1:
            raise ValueError(f"read() takes a contiguous slice, got step {step}")
        stop = max(start, stop)
        out = np.empty((stop - start, self._layout.dim(layer)), dtype=np.float32)
        offset = 0
        for store_file in self._files:
            n = store_file.rows[layer]
            low, high = max(start, offset), min(stop, offset + n)
            if low < high:
                try:
                    store_file.file[f"layers/{layer}"].read_direct(
                        out, np.s_[low - offset : high - offset], np.s_[low - start : high - start]
                    )
                except (OSError, RuntimeError) as exc:  # a damaged chunk
                    raise StoreError(f"cannot read rows of layer {layer} ({exc})", path=store_file.path) from None
            offset += n
        return out

    def iter_rows(self, layer: str, *, chunk_rows: int = 65536) -> Iterator[np.ndarray]:
        """Stream a layer's rows in blocks.

        Parameters
        ----------
        layer : str
        chunk_rows : int
            Rows per block (the last may be shorter).

        Yields
        ------
        numpy.ndarray
            Shape (<= chunk_rows, dim), float32; concatenated they equal :meth:`read`.
        """
        if not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
        total = self.n_rows(layer)
        for start in range(0, total, chunk_rows):
            yield self.read(layer, slice(start, min(start + chunk_rows, total)))

    def utterance_rows(self, utt_id: str, layer: str) -> np.ndarray:
        """One utterance's rows of a layer, shape (n, dim), float32."""
        self._check_layer(layer)
        store_file, local = self._locate(utt_id)
        start, count = store_file.row_index[layer]
        first = self._row_offset(store_file, layer) + int(start[local])
        return self.read(layer, slice(first, first + int(count[local])))

    def row_ranges(self, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """Where each utterance's rows of a layer lie, across all files.

        Parameters
        ----------
        layer : str

        Returns
        -------
        row_start : numpy.ndarray
            Shape (n_utterances,), int64: the first row of each utterance in the store's row order
            (the index :meth:`read` takes), in :attr:`utterance_ids` order.
        n_rows : numpy.ndarray
            Shape (n_utterances,), int64: the utterance's row count on the layer's grid.
        """
        self._check_layer(layer)
        starts, counts, offset = [], [], 0
        for store_file in self._files:
            start, count = store_file.row_index[layer]
            starts.append(start.astype(np.int64) + offset)
            counts.append(count.astype(np.int64))
            offset += store_file.rows[layer]
        return np.concatenate(starts), np.concatenate(counts)

    def attention(self, utt_id: str, layer: str, logits: bool = False) -> np.ndarray | None:
        """Stored attention maps of one utterance and block.

        Parameters
        ----------
        utt_id : str
        layer : str
        logits : bool
            The pre-softmax logits instead of the post-softmax maps.

        Returns
        -------
        numpy.ndarray or None
            Shape (heads, T, T), float32; None when none were stored for this utterance and block.
        """
        store_file, _ = self._locate(utt_id)
        group = store_file.file.get("attention_logits" if logits else "attention")
        maps = group.get(f"{_attention_name(utt_id)}/{layer}") if isinstance(group, h5py.Group) else None
        if maps is None:
            return None
        if not isinstance(maps, h5py.Dataset) or maps.ndim != 3 or maps.dtype.kind != "f":
            raise StoreError(f"{maps.name} is not a (heads, T, T) array of attention maps", path=store_file.path)
        return maps[()].astype(np.float32)

    def _check_layer(self, layer: str) -> None:
        if layer not in self._layout.layer_ids:
            have = ", ".join(self._layout.layer_ids)
            raise StoreError(f"has no layer {layer!r} (it has {have})", path=self._files[0].path)

    def _locate(self, utt_id: str) -> tuple[_StoreFile, int]:
        """The file holding an utterance and its position there."""
        if self._position is None:
            self._position = {}
            for number, utt in enumerate(self.utterance_ids):
                if self._position.setdefault(utt, number) != number:
                    raise StoreError(f"utterance {utt!r} occurs twice", path=self._files[0].path)
        number = self._position.get(utt_id)
        if number is None:
            raise StoreError(f"has no utterance {utt_id!r}", path=self._files[0].path)
        for store_file in self._files:
            if number < len(store_file.utterance_ids):
                return store_file, number
            number -= len(store_file.utterance_ids)
        raise AssertionError("unreachable: the position index covers every file")

    def _row_offset(self, target: _StoreFile, layer: str) -> int:
        offset = 0
        for store_file in self._files:
            if store_file is target:
                return offset
            offset += store_file.rows[layer]
        raise AssertionError("unreachable: the file belongs to this store")

    # -- summary and closing

    def describe(self) -> str:
        """One line: name, layers, rows, utterances, completeness and size on disk."""
        layout = self._layout
        first = self._files[0].path
        name = first.name if len(self._files) == 1 else f"{first.name} (+{len(self._files) - 1} more shards)"
        dims = sorted(set(layout.dims))
        dim_text = f"{dims[0]}-d" if len(dims) == 1 else f"{dims[0]}..{dims[-1]}-d"
        rows = {}
        for layer in layout.layer_ids:
            rate = layout.file_rate if layout.segmented else layout.frame_rate(layer)
            rows.setdefault(rate, self.n_rows(layer))
        what = "segments" if layout.segmented else "rows"
        row_text = ", ".join(
            f"{n} {what}" if len(rows) == 1 else f"{n} {what} at {rate:g} Hz" for rate, n in rows.items()
        )
        size = sum(store_file.path.stat().st_size for store_file in self._files)
        return (
            f"{name}: {len(layout.layer_ids)} layers {_compact_layers(layout.layer_ids)} "
            f"({dim_text} {layout.dtype}), "
            f"{row_text}, {self.n_utterances} utterances, complete, {_format_bytes(size)}"
        )

    def __repr__(self) -> str:
        return f"<FeatureStore {self.describe()}>"

    def close(self) -> None:
        for store_file in self._files:
            store_file.close()

    def __enter__(self) -> "FeatureStore":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def _compact_layers(layer_ids: Sequence[str]) -> str:
    """``"C1-C7,T0-T12"``: a short listing of layer ids, runs of one kind folded."""
    parts: list[str] = []
    for kind in ("mel", "C", "T"):
        of_kind = [layer for layer in layer_ids if layer_kind(layer) == kind]
        if of_kind:
            parts.append(of_kind[0] if len(of_kind) == 1 else f"{of_kind[0]}-{of_kind[-1]}")
    return ",".join(parts)


def _format_bytes(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _create_or_resume(
    path: Path, layout: _Layout, encoded: Mapping[str, Any], options: Mapping[str, Any], *, resume: bool, overwrite: bool
) -> StoreWriter:
    """Resume the ``.partial`` of ``path`` or start a new one (the caller holds the writer lock)."""
    partial = partial_path(path)
    if partial.exists() and not partial.is_file():
        raise StoreError("is in the way of the partial store: it is not a file; remove it", path=partial)
    if partial.exists():
        if resume and not overwrite:
            writer = _resume(path, layout, encoded, options)
            if writer is not None:
                return writer
        else:
            partial.unlink()
    _salvage_path(path).unlink(missing_ok=True)  # left by a kill in the middle of a resume
    file = _open_h5(partial, "w")
    try:
        _create_skeleton(file, layout, encoded)
        file.flush()
    except BaseException:
        file.close()
        raise
    return StoreWriter(file, path, layout, (), **options)


class _WriterLock:
    """An exclusive lock on ``.<store name>.lock`` beside a store, held by its one writer.

    ``flock`` on a file of its own: the ``.partial`` itself is replaced by a resume, and HDF5's own
    locking is not there to rely on (it is off where ``HDF5_USE_FILE_LOCKING=FALSE``, as on many
    clusters).  Linux emulates ``flock`` with NFS byte-range locks, so jobs on different nodes see
    it too.  The lock file stays (removing it would race with a waiting writer).

    Raises
    ------
    StoreError
        When another writer holds the lock.
    """

    def __init__(self, path: Path):
        lock_path = path.with_name(f".{path.name}.lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle: Any = open(lock_path, "a+")
        except OSError as exc:
            raise StoreError(f"cannot create the writer lock ({exc.strerror or exc})", path=lock_path) from None
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise StoreError("is being written by another process (the file is locked)", path=partial_path(path)) from None

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the descriptor drops the lock
            self._handle = None


# --------------------------------------------------------------------------------------------------
# Resume


def _resume(
    path: Path, layout: _Layout, encoded: Mapping[str, Any], options: Mapping[str, Any]
) -> StoreWriter | None:
    """Resume a ``.partial`` written with the same options from a salvaged copy of its intact prefix.

    The utterances whose ids, index, rows, segments and maps can all be read are copied into a fresh
    file, which then replaces the ``.partial``.  Writing on into the killed file itself is not safe:
    HDF5 metadata (the global heap of the string datasets, chunk indexes) can be damaged in ways
    that reads of the intact prefix never meet but the next write does.  Copying costs one read and
    write of the stored rows, once per resume.

    Returns None (after discarding the file with a warning) when it cannot be opened or read.
    """
    partial = partial_path(path)
    try:
        source = _open_h5(partial, "r")
    except BlockingIOError:
        raise StoreError("is being written by another process (the file is locked)", path=partial) from None
    except OSError as exc:
        return _discard(partial, f"cannot be opened ({exc})")
    try:
        try:
            found_layout = _read_layout(source, partial)
            found_attrs = _read_raw_attrs(source.attrs)
        except (StoreError, KeyError, ValueError, TypeError, OSError, RuntimeError) as exc:
            damage = f"is damaged ({exc})"
        else:
            differences = _identity_differences(found_attrs, encoded) + layout.differences(found_layout)
            if differences:
                raise StoreError(
                    f"is a partial store written with other options (differing: {', '.join(differences)}); "
                    "delete it or pass --overwrite to start afresh",
                    path=partial,
                )
            done, damage = _salvage(source, path, layout, encoded, options)
    finally:
        source.close()
    if damage is not None:
        return _discard(partial, damage)
    os.replace(_salvage_path(path), partial)
    return StoreWriter(_open_h5(partial, "r+"), path, layout, done, **options)


def _salvage(
    source: h5py.File, path: Path, layout: _Layout, encoded: Mapping[str, Any], options: Mapping[str, Any]
) -> tuple[list[str], str | None]:
    """Copy the intact prefix of an open ``.partial`` to :func:`_salvage_path`.

    Returns
    -------
    done : list of str
        The ids of the utterances copied.
    damage : str or None
        Why the file cannot be read back (nothing is left at the salvage path then), else None.
    """
    partial, salvage = partial_path(path), _salvage_path(path)
    try:
        target = _open_h5(salvage, "w")
    except BlockingIOError:
        raise StoreError("is being resumed by another process (its salvage copy is locked)", path=partial) from None
    damage = None
    try:
        _create_skeleton(target, layout, encoded)
        done = _copy_intact_prefix(source, StoreWriter(target, path, layout, (), **options), layout, partial)
        target.flush()
    except (KeyError, ValueError, TypeError, OSError, RuntimeError) as exc:
        done, damage = [], f"cannot be read back ({type(exc).__name__}: {exc})"
    except BaseException:
        target.close()
        salvage.unlink(missing_ok=True)
        raise
    target.close()
    if damage is not None:
        salvage.unlink()
    return done, damage


def _salvage_path(path: Path) -> Path:
    """Where a resume copies the intact part of ``<path>.partial`` before replacing it."""
    return path.with_name(path.name + ".salvage")


def _discard(partial: Path, reason: str) -> None:
    warnings.warn(f"{partial}: {reason}; discarding it and starting afresh", UserWarning, stacklevel=4)
    partial.unlink()
    return None


def _copy_intact_prefix(source: h5py.File, writer: StoreWriter, layout: _Layout, partial: Path) -> list[str]:
    """Copy the leading utterances whose index, rows, segments and maps can all be read.

    Returns
    -------
    list of str
        The ids of the utterances copied.

    Raises
    ------
    OSError, RuntimeError, KeyError
        When the file cannot be read back (the caller discards it).
    """
    ids = _readable_strings(source["utterances/id"])
    indexes = {"utterances": (source["utterances/row_start"][()], source["utterances/n_rows"][()])}
    for layer in layout.own_index_layers:
        prefix = f"utterances/by_layer/{layer}"
        indexes[prefix] = (source[f"{prefix}/row_start"][()], source[f"{prefix}/n_rows"][()])
    kept = min(len(ids), _rows_on_disk(source, layout, indexes))
    kept = _readable_maps_prefix(source, [str(utt) for utt in ids[:kept]])
    recorded = source["utterances/id"].shape[0]
    if kept < recorded:
        warnings.warn(
            f"{partial}: {recorded - kept} of {recorded} indexed utterances are damaged on disk; "
            "they will be redone",
            UserWarning,
            stacklevel=5,
        )
    target = writer._open_file()
    for prefix, (start, count) in indexes.items():
        rows = int(count[:kept].sum())
        layers = layout.main_layers if prefix == "utterances" else [prefix.rsplit("/", 1)[1]]
        for layer in layers:
            _copy_rows(source[f"layers/{layer}"], target[f"layers/{layer}"], stop=rows)
        if prefix == "utterances" and layout.segmented:
            for name in ("label", "utt_index", "start_s", "end_s"):
                _copy_rows(source[f"segments/{name}"], target[f"segments/{name}"], stop=rows)
        writer._extend_index(prefix, start[:kept], count[:kept])
    kept_ids = [str(utt) for utt in ids[:kept]]
    for group in ("attention", "attention_logits"):
        for utt in kept_ids:
            name = _attention_name(utt)
            if name in source[group]:
                maps = {layer: source[group][name][layer][()] for layer in source[group][name]}
                writer._write_maps(group, utt, maps)
    _extend(target["utterances/id"], np.asarray(kept_ids, dtype=object))
    return kept_ids


def _rows_on_disk(file: h5py.File, layout: _Layout, indexes: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> int:
    """How many leading utterances have a consistent index and all their rows and segments."""
    main_rows = [file[f"layers/{layer}"].shape[0] for layer in layout.main_layers]
    if layout.segmented:
        main_rows += [file[f"segments/{name}"].shape[0] for name in ("utt_index", "start_s", "end_s")]
        main_rows.append(len(_readable_strings(file["segments/label"])))
    kept = _valid_prefix(*indexes["utterances"], min(main_rows))
    for layer in layout.own_index_layers:
        start, count = indexes[f"utterances/by_layer/{layer}"]
        kept = min(kept, _valid_prefix(start, count, file[f"layers/{layer}"].shape[0]))
    return kept


def _readable_maps_prefix(file: h5py.File, ids: Sequence[str]) -> int:
    """How many leading utterances of ``ids`` have attention maps that can be opened (all, usually)."""
    position = {_attention_name(utt): number for number, utt in enumerate(ids)}
    kept = len(ids)
    for group in (file["attention"], file["attention_logits"]):
        for name in group:
            if name not in position:
                continue
            try:
                for layer in group[name]:
                    group[name][layer].shape
            except (OSError, RuntimeError, KeyError):
                kept = min(kept, position[name])
    return kept


def _readable_strings(dataset: h5py.Dataset) -> np.ndarray:
    """The longest prefix of a string dataset that can be read.

    A kill can leave the newest entries pointing at string data (in the HDF5 global heap) that never
    reached the disk; reading them fails, the entries before them are intact.
    """
    try:
        return _strings(dataset)
    except OSError:
        pass
    readable, unreadable = 0, dataset.shape[0]
    while unreadable - readable > 1:
        middle = (readable + unreadable) // 2
        try:
            dataset.asstr()[:middle]
            readable = middle
        except OSError:
            unreadable = middle
    return _strings(dataset, readable)


# --------------------------------------------------------------------------------------------------
# Shards


def _ordered_shard_set(paths: Sequence[Path], base: Path | None) -> list[Path]:
    """The shard files 1..N of one store, in order (StoreError naming a missing or stray file)."""
    parsed = []
    for path in paths:
        info = parse_shard_path(path)
        if info is None:
            raise StoreError("is not a shard file (<stem>.shard-00001-of-00004.h5); give shards only", path=path)
        parsed.append((path, *info))
    bases = {shard_base for _, shard_base, _, _ in parsed}
    counts = {count for _, _, _, count in parsed}
    if len(bases) > 1:
        raise StoreError(f"shards of different stores given together: {', '.join(sorted(map(str, bases)))}")
    shard_base = bases.pop()
    if len(counts) > 1:
        listing = ", ".join(map(str, sorted(counts)))
        raise StoreError(f"shards of different counts ({listing}) of one store", path=base or shard_base)
    count = counts.pop()
    by_index: dict[int, Path] = {}
    for path, _, index, _ in parsed:
        if by_index.setdefault(index, path) != path:
            raise StoreError(f"shard {index} is given twice ({by_index[index]} and {path})", path=path)
    missing = [shard_path(shard_base, index, count) for index in range(1, count + 1) if index not in by_index]
    if missing:
        first = missing[0]
        unfinished = " (only its .partial exists: unfinished)" if partial_path(first).exists() else ""
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise StoreError(f"shard {first.name} is missing{unfinished}{more}", path=base or shard_base)
    return [by_index[index] for index in range(1, count + 1)]


def _check_consistent(files: Sequence[_StoreFile]) -> None:
    """Shards must share every attr but the shard ones, and the layout."""
    first = files[0]
    for other in files[1:]:
        differences = _identity_differences(other.identity, first.identity)
        differences += first.layout.differences(other.layout)
        if differences:
            raise StoreError(
                f"differs from {first.path.name} in {', '.join(differences)}; shards must come from one extraction",
                path=other.path,
            )


def merge_shards(path: PathLike, *, remove_shards: bool = False, overwrite: bool = False) -> Path:
    """Concatenate a store's shards, in shard order, into the store file ``path``.

    The result equals a store written by one process with the same rows in the same order (every
    dataset, dataset attr and file attr, without ``shard_index`` / ``shard_count``).  Rows are copied
    in blocks of about 32 MB, so memory stays bounded; the merge is written to ``<path>.partial`` and
    renamed when complete.

    Parameters
    ----------
    path : path-like
        The store path (``<stem>.h5``); its shards are ``<stem>.shard-*-of-*.h5``.
    remove_shards : bool
        Delete the shard files after a successful merge.
    overwrite : bool
        Replace an existing store at ``path``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    StoreError
        When no shards are found, one is missing (named), incomplete or inconsistent, or ``path``
        exists without ``overwrite``.
    """
    path = Path(path)
    if parse_shard_path(path) is not None:
        raise StoreError("give the merged store's path, not a shard's", path=path)
    shards = find_shards(path)
    if not shards:
        raise StoreError("no shard files of this store found", path=path)
    if path.exists() and not overwrite:
        raise StoreError(_EXISTS, path=path)
    with FeatureStore._open_shards(shards, base=path) as store:
        layout = store._layout
        attrs = {key: value for key, value in store.attrs.items() if key not in _WRITER_ATTRS}
        writer = FeatureStore.create(
            path,
            attrs=attrs,
            layer_dims=store.dims,
            dtype=layout.dtype,
            layer_frame_rates=dict(zip(layout.layer_ids, layout.frame_rates)),
            resume=False,
            overwrite=overwrite,
        )
        with writer:
            for store_file in store._files:
                try:
                    writer._append_file(store_file)
                except (OSError, RuntimeError) as exc:
                    writer._abandon()
                    raise _write_failure(exc, writer.partial_path) from None
            writer.finish()
    if remove_shards:
        for shard in shards:
            shard.unlink()
    return path


def merge_directory(directory: PathLike, *, remove_shards: bool = False) -> list[Path]:
    """Merge every store whose shard files lie in ``directory`` (see :func:`merge_shards`).

    Returns
    -------
    list of Path
        The merged stores, sorted; empty when the directory holds no shard files.
    """
    stores = {info[0] for info in map(parse_shard_path, Path(directory).glob("*.shard-*-of-*.h5")) if info is not None}
    return [merge_shards(store, remove_shards=remove_shards) for store in sorted(stores)]


__all__ = [
    "SPANS",
    "REPS",
    "DTYPES",
    "REQUIRED_ATTRS",
    "DEFAULT_ATTRS",
    "SHARD_ATTRS",
    "CHUNK_BYTES",
    "FeatureStore",
    "StoreWriter",
    "model_tag",
    "store_path",
    "shard_path",
    "parse_shard_path",
    "find_shards",
    "partial_path",
    "merge_shards",
    "merge_directory",
]
