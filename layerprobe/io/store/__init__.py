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
    /attention_padding/<utt>/<LayerId> (heads, T) float32, per real query the mass sent past the
                                       real frames (Whisper's 30 s padding; 0 for other models)

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

*Cut maps.*  The maps hold the real frames' queries and keys only.  Whisper attends over its
padded 30 s window, so a stored row sums to 1 minus its query's ``/attention_padding`` mass (not
renormalised); stores written before that group existed lack it.

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

Modules
-------
:mod:`~layerprobe.io.store.layout` (the on-disk layout, attrs, dataset names),
:mod:`~layerprobe.io.store.writer` (:class:`StoreWriter`, :func:`~layerprobe.io.store.writer.create`),
:mod:`~layerprobe.io.store.reader` (:class:`FeatureStore`), :mod:`~layerprobe.io.store.recovery`
(resume, salvage, the writer lock) and :mod:`~layerprobe.io.store.merge` (shards); paths are in
:mod:`layerprobe.io.store_paths`.  Everything is importable from ``layerprobe.io.store``.
"""

from __future__ import annotations

# Every name the single module ``store.py`` defined, or imported from layerprobe, is importable from here
# (private helpers too, for code written against that module).
from layerprobe.errors import LayerprobeError, StoreError
from layerprobe.io.store.layout import (
    _CACHE_BYTES,
    _COPY_BYTES,
    _EXISTS,
    _INDEX_CHUNK,
    _LIBVER,
    _MAX_CHUNK_ROWS,
    _SEGMENT_CHUNK,
    _WRITER_ATTRS,
    CHUNK_BYTES,
    DEFAULT_ATTRS,
    DTYPES,
    REQUIRED_ATTRS,
    SEGMENT_SPANS,
    SHARD_ATTRS,
    PathLike,
    _attention_name,
    _attr_rate,
    _check_given_layer_ids,
    _check_layer_id,
    _compact_layers,
    _config_json,
    _consecutive,
    _create_skeleton,
    _create_vector,
    _dataset,
    _decode_attrs,
    _encode_attrs,
    _extend,
    _identity_differences,
    _Layout,
    _make_layout,
    _open_h5,
    _plain_scalar,
    _positive_number,
    _read_layout,
    _read_raw_attrs,
    _row_chunk,
    _strings,
    _valid_prefix,
)
from layerprobe.io.store.merge import merge_directory, merge_shards
from layerprobe.io.store.reader import (
    FeatureStore,
    _check_consistent,
    _format_bytes,
    _ordered_shard_set,
    _StoreFile,
    store_file_problem,
)
from layerprobe.io.store.recovery import (
    _copy_intact_prefix,
    _create_or_resume,
    _discard,
    _readable_maps_prefix,
    _readable_strings,
    _resume,
    _rows_on_disk,
    _salvage,
    _salvage_path,
    _WriterLock,
)
from layerprobe.io.store.writer import _HDF5_ERRNO_MESSAGE, _ROOM_MARGIN, StoreWriter, _copy_rows, _write_failure
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
    "store_file_problem",
]
