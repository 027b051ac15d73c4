"""Recovering a killed writer: resume a ``.partial`` from its intact prefix, and the one-writer lock.

HDF5 is not crash-safe (see :mod:`layerprobe.io.store`, "Writing, resuming, reading"): a resume copies
the longest prefix of utterances that can all be read back into a fresh file (the salvage copy) that
then replaces the ``.partial``, and discards with a warning a ``.partial`` that cannot be read.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from layerprobe.errors import StoreError
from layerprobe.io.atomic import HeldLock, LockBusy, lock_path
from layerprobe.io.store.layout import (
    PADDING_GROUP,
    _attention_name,
    _create_skeleton,
    _extend,
    _identity_differences,
    _Layout,
    _open_h5,
    _read_layout,
    _read_raw_attrs,
    _strings,
    _valid_prefix,
    _weights_changed,
)
from layerprobe.io.store.writer import StoreWriter, _copy_rows
from layerprobe.io.store_paths import partial_path


# --------------------------------------------------------------------------------------------------
# Creating or resuming, under the writer lock


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


class _WriterLock(HeldLock):
    """An exclusive lock on ``.<store name>.lock`` beside a store, held by its one writer.

    The :func:`~layerprobe.io.atomic.file_lock` scheme, taken without waiting: ``flock`` on a file of
    its own, since the ``.partial`` itself is replaced by a resume, and HDF5's own locking is not there
    to rely on (it is off where ``HDF5_USE_FILE_LOCKING=FALSE``, as on many clusters).  Linux emulates
    ``flock`` with NFS byte-range locks, so jobs on different nodes see it too.  The lock file stays
    (removing it would race with a waiting writer).

    Raises
    ------
    StoreError
        When another writer holds the lock.
    """

    def __init__(self, path: Path):
        try:
            super().__init__(path, blocking=False)
        except LockBusy:
            raise StoreError("is being written by another process (the file is locked)", path=partial_path(path)) from None
        except OSError as exc:
            raise StoreError(f"cannot create the writer lock ({exc.strerror or exc})", path=lock_path(path)) from None


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
            weights = _weights_changed(found_attrs, encoded, action="to start again")
            if weights is not None:
                raise StoreError(weights, path=partial)
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
    # not atomic_path: the salvage copy has a fixed name, so that a kill mid-resume leaves a file the next run removes
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
    for group in ("attention", "attention_logits", PADDING_GROUP):
        if group not in source:  # a file written before the padding group existed
            continue
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
    for group in (file[group_name] for group_name in ("attention", "attention_logits", PADDING_GROUP) if group_name in file):
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
