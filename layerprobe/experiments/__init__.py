"""Experiments over a model's layers: stores in, per-layer records and result-table rows out.

One module per experiment family, each with a ``run_*`` function (what the CLI commands call):

=============== ============================================ =================================
module          runner (and helpers)                         records returned
=============== ============================================ =================================
:mod:`.cca`     ``run_cca``, ``cca_layers``, ``get_experiment`` :class:`~.cca.LayerScore`
:mod:`.mi`      ``run_mi``, ``mi_layers``                    :class:`~.mi.LayerMI`
:mod:`.wordvec` ``run_wordvec``, ``cached_word_vectors``      :class:`~.wordvec.WordVectorFile`
:mod:`.wordsim` ``run_wordsim``                              :class:`~.wordsim.LayerWordSim`
:mod:`.awd`     ``run_awd``, ``awd_layers``                   :class:`~.awd.LayerAWD`
:mod:`.segment` ``run_segment``, ``segment_layers``           :class:`~.segment.LayerSegmentation`
:mod:`.sts`     ``run_sts``, ``sts_layers``                   :class:`~.sts.LayerSts`
:mod:`.patterns` ``run_patterns``                            :class:`~.patterns.PatternsReport`
                                                             (``.scores``: :class:`~.patterns.BlockScore`)
:mod:`.probe`   ``run_probe``, ``probe_layers``               :class:`~.probe.ProbeScore`
=============== ============================================ =================================

Shared pieces
-------------
:mod:`.query`
    :class:`~.query.StoreQuery` (features root, model, corpus, split, sample, rep, span;
    ``.path`` is the store file) and :func:`~.query.resolve_store`.  Every runner takes, as its
    first argument after the experiment name, a StoreQuery, a
    :class:`~layerprobe.io.store.FeatureStore`, the :class:`~layerprobe.extraction.ExtractionReport`
    that :func:`~layerprobe.extraction.extract` returned, or a store path, in place of (or besides)
    the keyword arguments ``features``, ``model``, ``corpus``, ``split``, ``sample``; keyword
    arguments given override the store's parts.  The runner derives the stores it reads (rep,
    span, other splits, the log-mel baseline) from it.
:mod:`.records`
    :func:`~.records.score_layers`, the one per-layer loop (progress bar, scoring, rows with
    options and provenance into the table, a save after every layer), :func:`~.records.open_table`,
    :func:`~.records.provenance`, :func:`~.records.store_entry`.

Records
-------
Each runner returns a list of records, one per layer, in layer order.  A record has ``layer``,
``run`` (a :class:`~.records.RunKey`: model, corpus, experiment, split, sample, seed) and ``rows()``:
the table rows it gives, dicts with exactly the columns of ``ResultTable.COLUMNS`` (model, corpus,
experiment, layer, split, sample, seed, metric, value), the same whether or not a table was written;
``[row for r in records for row in r.rows()]`` is what the run added to the table.  (Word vectors
are files: a ``WordVectorFile`` has no rows.  ``run_patterns`` returns a report whose ``scores``
are the records and whose ``rows()`` are all of them.)

``results=`` (a ResultTable or a CSV path) is optional in the Python API: without it nothing is
written and the rows are only in the records (``run_cca`` then computes its data split in memory
instead of caching it next to the table).

Adding an experiment
--------------------
A new experiment family gets a module here, ``<family>.py``, with:

1. the array-level computation in :mod:`layerprobe.analysis` (taking arrays or an open
   FeatureStore; it must not import this package, :mod:`layerprobe.results` or the CLI);
2. a record: a frozen dataclass with ``layer``, its result, ``run: RunKey | None = None``,
   subclassing :class:`~.records.RowsMixin` and defining ``metrics()`` ->
   ``[(metric, value), ...]``;
3. ``run_<family>(name, store=None, *, features=None, model=None, corpus=None, split=None,
   sample=None, layers="all", seed=0, results=None, progress=True, on_layer=None, ...)``:
   :func:`~.query.resolve_store` for the store(s), :func:`~.records.open_table` for ``results``,
   choose the layers, then ``score_layers(chosen, score, what=name, table=table,
   metadata=..., progress=progress, on_layer=on_layer)`` where ``score(layer)`` returns the record
   and ``metadata(record)`` its ``options``, ``provenance`` (:func:`~.records.provenance`) and
   ``details`` for the sidecar;
4. a ``<family>_layers`` function when the CLI launches one job per layer, and tests in
   ``tests/integration/test_<family>_experiments.py``.
"""

from __future__ import annotations

from typing import Any

from layerprobe.experiments.query import MEL_TAG, StoreQuery, resolve_store
from layerprobe.experiments.records import RunKey, score_layers

# The runners are imported on first use (the probe pulls in torch).
_RUNNERS = {
    "run_cca": "cca",
    "cca_layers": "cca",
    "run_mi": "mi",
    "mi_layers": "mi",
    "run_wordvec": "wordvec",
    "run_wordsim": "wordsim",
    "run_awd": "awd",
    "awd_layers": "awd",
    "run_segment": "segment",
    "segment_layers": "segment",
    "run_sts": "sts",
    "sts_layers": "sts",
    "run_patterns": "patterns",
    "run_probe": "probe",
    "probe_layers": "probe",
}


def __getattr__(name: str) -> Any:
    if name in _RUNNERS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_RUNNERS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MEL_TAG", "RunKey", "StoreQuery", "resolve_store", "score_layers", *_RUNNERS]
