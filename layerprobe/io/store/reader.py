"""Reading a feature store: :class:`FeatureStore` over one complete file or the shards 1..N of one store.

Each file is opened and checked by :class:`_StoreFile` (a ``.partial``, incomplete, damaged or
inconsistent file is refused with a :class:`~layerprobe.errors.StoreError` naming it); rows are read
as float32 in bounded blocks.  See :mod:`layerprobe.io.store` for the layout.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import h5py
import numpy as np

from layerprobe.errors import StoreError
from layerprobe.io.store.layout import (
    PADDING_GROUP,
    SHARD_ATTRS,
    PathLike,
    _attention_name,
    _compact_layers,
    _consecutive,
    _dataset,
    _decode_attrs,
    _identity_differences,
    _open_h5,
    _read_layout,
    _read_raw_attrs,
    _strings,
)
from layerprobe.io.store.writer import create
from layerprobe.io.store_paths import _PARTIAL, find_shards, parse_shard_path, partial_path, shard_path


# --------------------------------------------------------------------------------------------------
# A cheap check of a finished file (layerprobe status)

#: The 8 bytes every HDF5 file starts with (the stores have no user block).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def store_file_problem(path: PathLike) -> str | None:
    """Why a finished store file (``<rep>_<span>.h5`` or a shard) is not a readable, complete store, or None.

    Cheap: the HDF5 signature, the superblock (HDF5 refuses a file shorter than the size it
    records, so a truncated copy is caught) and the ``complete`` attr; no rows are read.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(len(HDF5_SIGNATURE))
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if head != HDF5_SIGNATURE:
        return f"not an HDF5 file: no HDF5 signature in its {size} bytes"
    try:
        # The reader's own settings: a file this process holds open already is then shared, not refused.
        with _open_h5(path, "r") as file:
            complete = file.attrs.get("complete")
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        message = " ".join(str(exc).split())
        truncated = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", message)
        if truncated:
            return f"truncated to {truncated.group(1)} of {truncated.group(2)} bytes"
        return f"unreadable as HDF5: {message}"
    if complete is None:
        return "not a layerprobe feature store: no 'complete' attr"
    if not bool(complete):
        return "incomplete: complete=False"
    return None


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

    # Start (or resume) writing a store (the function documents it).
    create = staticmethod(create)

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
        return self._utterance_array(utt_id, "attention_logits" if logits else "attention", layer, ndim=3,
                                     what="a (heads, T, T) array of attention maps")  # fmt: skip

    def attention_padding(self, utt_id: str, layer: str) -> np.ndarray | None:
        """The padding mass stored with an utterance's attention maps of one block.

        Returns
        -------
        numpy.ndarray or None
            Shape (heads, T), float32: per head and real query, the post-softmax mass sent to keys
            past the real frames (Whisper's 30 s padding), which the stored maps' rows lack; zeros
            for a model without padding.  None when none was stored (no maps, or a store written
            before the padding mass was recorded).
        """
        return self._utterance_array(utt_id, PADDING_GROUP, layer, ndim=2, what="a (heads, T) array of padding mass")

    def _utterance_array(self, utt_id: str, group_name: str, layer: str, *, ndim: int, what: str) -> np.ndarray | None:
        """``/<group_name>/<utterance>/<layer>`` as float32 (None when absent); a StoreError when it is not ``what``."""
        store_file, _ = self._locate(utt_id)
        group = store_file.file.get(group_name)
        found = group.get(f"{_attention_name(utt_id)}/{layer}") if isinstance(group, h5py.Group) else None
        if found is None:
            return None
        if not isinstance(found, h5py.Dataset) or found.ndim != ndim or found.dtype.kind != "f":
            raise StoreError(f"{found.name} is not {what}", path=store_file.path)
        return found[()].astype(np.float32)

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


def _format_bytes(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------------
# A set of shards


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
