"""Writing a feature store: :func:`create` starts (or resumes) one, :class:`StoreWriter` fills it.

A writer appends to ``<path>.partial`` and :meth:`StoreWriter.finish` renames it to ``path``; see
:mod:`layerprobe.io.store` for the protocol.  Resuming a killed ``.partial`` and the one-writer lock
are in :mod:`layerprobe.io.store.recovery`.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import h5py
import numpy as np

from layerprobe.errors import StoreError
from layerprobe.io.store.layout import (
    PADDING_GROUP,
    _COPY_BYTES,
    _EXISTS,
    PathLike,
    _attention_name,
    _check_layer_id,
    _compact_layers,
    _encode_attrs,
    _extend,
    _Layout,
    _make_layout,
    _open_h5,
    _positive_number,
    _read_raw_attrs,
    _weights_changed,
)
from layerprobe.io.store_paths import REPS, SPANS, parse_shard_path, partial_path

if TYPE_CHECKING:
    from layerprobe.io.store.reader import _StoreFile
    from layerprobe.io.store.recovery import _WriterLock


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
        # Rows may be on disk without their index after a failure: only a resume (which cuts them) may go on.
        with self._disk_writes():
            self._write_utterance(utt_id, arrays, n_main, segment_columns, maps, logit_maps)
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
        with self._disk_writes():
            self._write_maps(group, utt_id, checked)
        written.append(block)

    def write_padding_mass(self, utt_id: str, block: str, values: np.ndarray) -> None:
        """Write one block's attention padding mass of an utterance that :meth:`append` completes later.

        Lands at ``/attention_padding/<utt>/<block>`` as float32, beside the maps
        :meth:`write_attention` writes (a resume keeps or drops both together).

        Parameters
        ----------
        utt_id : str
            An utterance not in the store yet.
        block : str
            Layer id of the block (``"T1"`` ..), once per utterance.
        values : numpy.ndarray, shape (heads, T)
            Per head and real query, the post-softmax mass sent to keys past the real frames, in [0, 1].

        Raises
        ------
        StoreError
            For an utterance already in the store, a block written before, or values that are not a
            (heads, T) array in [0, 1].
        """
        file = self._open_file()
        if utt_id in self._done:
            raise self._error("is already in the store; its attention padding mass cannot be written again", utt_id)
        try:
            _check_layer_id(block)
        except StoreError as exc:
            raise self._error(f"{PADDING_GROUP}: {exc.problem}", utt_id) from None
        array = np.asarray(values)
        if array.ndim != 2 or array.dtype.kind not in "fiu":
            raise self._error(f"{PADDING_GROUP} {block}: shape {array.shape} / dtype {array.dtype}, expected real (heads, T)", utt_id)
        array = array.astype(np.float32)
        # float32 sums of softmax rows can exceed 1 (or dip below 0) by rounding alone
        if not np.isfinite(array).all() or array.min(initial=0.0) < -1e-4 or array.max(initial=0.0) > 1 + 1e-4:
            raise self._error(f"{PADDING_GROUP} {block}: values outside [0, 1] (a padding mass is a share of a row)", utt_id)
        target = file.require_group(PADDING_GROUP).require_group(_attention_name(utt_id))
        if block in target:
            raise self._error(f"{PADDING_GROUP} {block}: already written", utt_id)
        self._check_room(array.nbytes)
        with self._disk_writes():
            target.create_dataset(block, data=np.clip(array, 0.0, 1.0))
        self._pending_maps.setdefault(utt_id, {False: [], True: []})

    def discard_attention(self, utt_id: str) -> None:
        """Delete the maps :meth:`write_attention` wrote for an utterance not appended (no-op if none)."""
        file = self._open_file()
        if utt_id in self._done:
            raise self._error("is already in the store; its attention maps stay", utt_id)
        self._pending_maps.pop(utt_id, None)
        name = _attention_name(utt_id)
        for group in ("attention", "attention_logits", PADDING_GROUP):
            if group in file and name in file[group]:
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
        for group in ("attention", "attention_logits", PADDING_GROUP):
            if group not in source.file:  # a file written before the padding group existed
                continue
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
        with self._disk_writes(interrupted_too=False):
            file.flush()
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
        with self._disk_writes(interrupted_too=False):
            file.attrs["complete"] = True
            file.flush()
            file.close()
        self._file = None
        # not atomic_path: the ``.partial`` has a fixed name, since a rerun resumes it
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
            with self._disk_writes(interrupted_too=False):
                self._file.flush()
                self._file.close()
            self._file = None
        self._release_lock()

    @contextmanager
    def _disk_writes(self, *, interrupted_too: bool = True) -> Iterator[None]:
        """Run writes to the file: a refused write (full disk, file-size limit) closes the writer and
        raises one :class:`StoreError` line (the ``.partial`` file stays for a resume); with
        ``interrupted_too``, any other exception (an interrupt between two datasets) closes it too."""
        try:
            yield
        except (OSError, RuntimeError) as exc:
            self._abandon()
            raise _write_failure(exc, self.partial_path) from None
        except BaseException:
            if interrupted_too:
                self._abandon()
            raise

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


def _existing_store_problem(path: Path, encoded: Mapping[str, Any]) -> str:
    """Why a complete store at ``path`` is in the way: other model weights, or simply its existence."""
    try:
        with _open_h5(path, "r") as file:
            found = _read_raw_attrs(file.attrs)
    except (OSError, KeyError, ValueError, TypeError):
        return _EXISTS
    return _weights_changed(found, encoded, action="to replace it") or _EXISTS


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
        raise StoreError(_existing_store_problem(path, encoded), path=path)
    options = {"flush_every": flush_every, "flush_seconds": float(flush_seconds)}
    # imported here: recovery builds StoreWriters, so it imports this module
    from layerprobe.io.store.recovery import _create_or_resume, _WriterLock

    lock = _WriterLock(path)
    try:
        writer = _create_or_resume(path, layout, encoded, options, resume=resume, overwrite=overwrite)
    except BaseException:
        lock.release()
        raise
    writer._lock = lock
    return writer
