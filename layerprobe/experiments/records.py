"""The one per-layer loop of every runner, the records it returns, and the result-table plumbing.

A runner chooses its layers, then :func:`score_layers` iterates them under the ``layer_progress``
bar: it calls the runner's per-layer scoring function, and for each result with rows (its
:meth:`LayerRecord.rows`) adds them to the :class:`~layerprobe.results.ResultTable` with the options,
provenance and details the runner's ``metadata`` function gives, and saves the table after every
layer (an interrupted run keeps the layers it finished: a killed run leaves a readable table whose
rows are final values), then calls ``on_layer``.

Records
-------
A record is one layer's outcome.  Besides its own fields (``result``, ``score`` ...) it carries
``run``, a :class:`RunKey` (model, corpus, experiment, split, sample, seed: the row fields its rows
share), ``layer``, and :meth:`rows`, the table rows it gives: dicts with exactly the columns of
:attr:`ResultTable.COLUMNS <layerprobe.results.ResultTable.COLUMNS>` (model, corpus, experiment,
layer, split, sample, seed, metric, value), the same rows whether or not a table is written.  The
model is the canonical name of the store's model (:func:`store_model`), the corpus the store's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from layerprobe import __version__
from layerprobe.experiments.progress import layer_progress
from layerprobe.io.store_paths import model_name, model_path
from layerprobe.results import ResultTable

PathLike = str | os.PathLike


@dataclass(frozen=True)
class RunKey:
    """The row fields shared by one layer's rows (all but ``layer``, ``metric`` and ``value``)."""

    model: str
    corpus: str
    experiment: str
    split: str
    sample: int
    seed: int

    def rows(self, layer: str, metrics: Iterable[tuple[str, float]]) -> list[dict[str, Any]]:
        """Table rows of ``layer``: one per ``(metric, value)``, in order."""
        base = {"model": self.model, "corpus": self.corpus, "experiment": self.experiment, "layer": layer,
                "split": self.split, "sample": self.sample, "seed": self.seed}  # fmt: skip
        return [{**base, "metric": metric, "value": value} for metric, value in metrics]


class LayerRecord(Protocol):
    """What :func:`score_layers` needs of a per-layer result."""

    layer: str

    def rows(self) -> list[dict[str, Any]]: ...


class RowsMixin:
    """``rows()`` of a record from its ``run`` (a :class:`RunKey`), ``layer`` and ``metrics()``."""

    run: RunKey | None
    layer: str

    def metrics(self) -> list[tuple[str, float]]:  # pragma: no cover - each record defines its own
        raise NotImplementedError

    def rows(self) -> list[dict[str, Any]]:
        """The table rows of this layer (model, corpus, experiment, layer, split, sample, seed, metric, value)."""
        return [] if self.run is None else self.run.rows(self.layer, self.metrics())


class ScoredRecord(RowsMixin):
    """A record of one ``result`` with one score: ``score`` is ``result.score``, its row metric :attr:`METRIC`."""

    METRIC: ClassVar[str]
    result: Any

    @property
    def score(self) -> float:
        return self.result.score

    def metrics(self) -> list[tuple[str, float]]:
        return [(self.METRIC, self.result.score)]


R = TypeVar("R", bound=LayerRecord)


def open_table(results: ResultTable | PathLike | None) -> ResultTable | None:
    """``results`` as a table: a ResultTable as it is, a CSV path opened (:meth:`ResultTable.open`), None as None."""
    return ResultTable.open(results) if results is not None and not isinstance(results, ResultTable) else results


def provenance(*, attrs: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """``{"layerprobe_version", "model_revision", "model_spec", "model_path" (from ``attrs``, when
    given), **fields}``, in that order: the spec as typed at extraction and, for a local model, its
    path (the model column holds the canonical name, :func:`store_model`)."""
    made: dict[str, Any] = {"layerprobe_version": __version__}
    if attrs is not None:
        made["model_revision"] = attrs.get("model_revision")
        spec = str(attrs.get("model") or "")
        made["model_spec"] = spec
        made["model_path"] = _store_model_path(attrs, spec)
    made.update(fields)
    return made


def _store_model_path(attrs: Mapping[str, Any], spec: str) -> str | None:
    """A local model's path: the source its adapter resolved at extraction, else the spec resolved here.

    None for a ``tiny:`` model (its cached weights are not a path the user gave) and a hub id.
    """
    if not spec or spec.strip().lower().startswith("tiny:"):
        return None
    described = (attrs.get("config") or {}).get("model") if isinstance(attrs.get("config"), Mapping) else None
    source = described.get("model_id") if isinstance(described, Mapping) else None
    if isinstance(source, str) and os.path.isabs(source):
        return source
    return model_path(spec)


def store_model(store: Any) -> str:
    """The canonical model name of a store's rows: :func:`~layerprobe.io.store_paths.model_name` of
    its ``model`` attribute (the spec as typed at extraction), with its folder's model tag."""
    tag = os.path.basename(os.path.dirname(os.path.dirname(os.fspath(store.paths[0])))) if getattr(store, "paths", None) else None
    return model_name(str(store.attrs.get("model")), tag=tag or None)


def store_entry(store: Any, *, role: str | None = None) -> dict[str, Any]:
    """A store in provenance: ``{"role"?, "path", "manifest_hash"}``."""
    entry = {} if role is None else {"role": role}
    entry.update(path=str(store.paths[0]), manifest_hash=store.attrs.get("manifest_hash"))
    return entry


def score_layers(
    layers: Sequence[str],
    score: Callable[[str], R],
    *,
    what: str,
    table: ResultTable | None = None,
    metadata: Callable[[R], Mapping[str, Any]] | None = None,
    replace_runs: bool = False,
    save: bool = True,
    progress: bool = True,
    on_layer: Callable[[R], None] | None = None,
) -> list[R]:
    """Score each layer, add its rows to ``table`` and save it, and report it.

    Parameters
    ----------
    layers : sequence of str
        In the order scored (and returned).
    score : callable
        ``score(layer) -> record``; the record's :meth:`~LayerRecord.rows` are what the table gets.
    what : str
        The progress bar's label.
    table : ResultTable, optional
        None: nothing is written (the records are still returned).
    metadata : callable, optional
        ``metadata(record) -> {"options": ..., "provenance": ..., "details": ...}`` (any of them)
        for :meth:`ResultTable.add`.
    replace_runs : bool
        Passed to :meth:`ResultTable.add`.
    save : bool
        Save the table after every layer that added rows (False: the caller saves).
    progress : bool
    on_layer : callable, optional
        Called with each record as soon as it is done (and recorded).

    Returns
    -------
    list
        The records, in layer order.
    """
    records: list[R] = []
    for layer in layer_progress(layers, progress=progress, what=what):
        record = score(layer)
        records.append(record)
        if table is not None:
            rows = record.rows()
            if rows:
                table.add(rows, **(metadata(record) if metadata is not None else {}), replace_runs=replace_runs)
                if save:
                    table.save()  # after every layer: an interrupted run keeps what it finished
        if on_layer is not None:
            on_layer(record)
    return records


__all__ = ["LayerRecord", "RowsMixin", "RunKey", "ScoredRecord", "open_table", "provenance", "score_layers", "store_entry",
           "store_model"]
