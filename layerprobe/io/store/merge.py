"""Merging a store's shards, in shard order, into one store file (:func:`merge_shards`).

The merge equals, dataset for dataset and attr for attr, a store written by one process with the
same rows in the same order; see :mod:`layerprobe.io.store`, "Shards".
"""

from __future__ import annotations

from pathlib import Path

from layerprobe.errors import StoreError
from layerprobe.io.store.layout import _EXISTS, _WRITER_ATTRS, PathLike
from layerprobe.io.store.reader import FeatureStore
from layerprobe.io.store.writer import _write_failure
from layerprobe.io.store_paths import find_shards, parse_shard_path


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
