"""Analysis results as one tidy long table: a CSV of rows plus a JSON sidecar with provenance.

Every number an analysis produces is one row::

    model, corpus, experiment, layer, split, sample, seed, metric, value
    hf:facebook/wav2vec2-base, LibriSpeech, cca_mel, T4, dev-clean, 1, 0, pwcca, 0.7312...

The *key* of a row is every column but ``value``: adding a row whose key is already in the table
replaces it, so rerunning an analysis never duplicates rows (and a run on another corpus never
replaces one on this corpus).  ``model`` is the model's canonical name
(:func:`~layerprobe.io.store_paths.model_name`: a hub id or ``tiny:`` spec as typed, a local path
as ``<scheme>:<folder name>-<8 hex digits of its resolved path>``, its store folder's tag), so the
same model typed two ways is one model; the producers keep the spec as typed and the path in the
sidecar's provenance (``model_spec``, ``model_path``).  ``corpus`` is the corpus name of the data
(``""`` when unknown, e.g. a migrated or imported row without one).  The *run key* (model, corpus,
experiment, layer, split, sample, seed) names one analysis run; the sidecar (``results.csv`` ->
``results.json``) holds each run's options, provenance (model revision, store paths, ...) and
details (anything else worth keeping, such as all canonical correlations), plus the layerprobe
version and the columns.  Both files are written atomically; rows are sorted by model, corpus,
experiment, split, sample, seed, layer (in model order: mel, C1..C7, T0..TL) and metric, so the same
results give the same files byte for byte.

A table of the older layout without ``corpus`` (:data:`OLD_COLUMNS`) is read and migrated: each
run's corpus comes from the store paths in its provenance (``<features>/<tag>/<corpus>_<split>_sample<k>/...``)
or an imported run's ``dataset`` detail, else it is ``""``; the next save writes the new layout.

Several processes may add to one file at the same time (the per-layer jobs of a cluster array):
:meth:`ResultTable.save` holds an exclusive lock on a hidden lock file next to the CSV
(``.results.csv.lock``), reads what the others saved since this table was opened, applies this
table's own changes on top and writes the result, so no process's rows are lost.  Separate files
can still be merged for plotting with :meth:`ResultTable.read`.

Examples
--------
>>> from layerprobe.results import ResultTable
>>> table = ResultTable.open(tmp / "results.csv")          # doctest: +SKIP
>>> table.add(
...     [{"model": "tiny:wav2vec2", "corpus": "synth", "experiment": "cca_mel", "layer": "T1", "split": "train",
...       "sample": 1, "seed": 0, "metric": "pwcca", "value": 0.62}],
...     options={"epsilon": 1e-10}, provenance={"model_revision": "abc123"},
... )                                                        # doctest: +SKIP
1
>>> table.save()                                             # doctest: +SKIP
PosixPath('.../results.csv')
>>> ResultTable.open(tmp / "results.csv").select(experiment="cca_mel", layer=["T1", "T2"])  # doctest: +SKIP
[{'model': 'tiny:wav2vec2', 'corpus': 'synth', 'experiment': 'cca_mel', 'layer': 'T1', ..., 'value': 0.62}]
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import math
import numbers
import os
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from layerprobe import __version__
from layerprobe.errors import ConfigError, DependencyError, LayerprobeError, ResultError
from layerprobe.io.atomic import HeldLock, atomic_path, json_text, lock_path
from layerprobe.layers import layer_sort_key, parse_layer_id

if TYPE_CHECKING:
    import pandas

PathLike = Union[str, "os.PathLike[str]"]

#: The columns of a result table, in file order.
COLUMNS: tuple[str, ...] = ("model", "corpus", "experiment", "layer", "split", "sample", "seed", "metric", "value")
#: The columns of the older layout (before ``corpus``), read and migrated.
OLD_COLUMNS: tuple[str, ...] = ("model", "experiment", "layer", "split", "sample", "seed", "metric", "value")
#: The key of a row: every column but ``value``.
KEY_COLUMNS: tuple[str, ...] = COLUMNS[:-1]
#: The key of an analysis run, under which the sidecar keeps options, provenance and details.
RUN_COLUMNS: tuple[str, ...] = ("model", "corpus", "experiment", "layer", "split", "sample", "seed")
#: The kinds of metadata a run carries in the sidecar.
METADATA_FIELDS: tuple[str, ...] = ("options", "provenance", "details")

_INT_COLUMNS = ("sample", "seed")
_OPTIONAL_TEXT = ("corpus",)  # text columns that may be empty (unknown)
_N_RUN = len(RUN_COLUMNS)
_DIGITS = re.compile(r"^[0-9]+$")

Key = tuple  # (model, corpus, experiment, layer, split, sample, seed, metric)
RunKey = tuple  # (model, corpus, experiment, layer, split, sample, seed)


class ResultTable:
    """Analysis results: long rows in a CSV, run metadata in a JSON sidecar.

    Parameters
    ----------
    path : path-like
        The CSV file.  The sidecar is the same path with the suffix ``.json``.  The constructor
        reads nothing: use :meth:`open` to add to an existing file (saving a table made with the
        constructor replaces the file with that table's rows).

    Attributes
    ----------
    path : Path or None
        The CSV file; None for a table merged by :meth:`read`, which cannot be saved.
    sidecar_path : Path or None
        The JSON sidecar.
    """

    COLUMNS: tuple[str, ...] = COLUMNS

    def __init__(self, path: PathLike | None):
        self.path: Path | None = Path(path) if path is not None else None
        if self.path is not None and self.path.suffix.lower() == ".json":
            raise ConfigError("a result table's CSV file cannot end in .json (that is its sidecar's name)", path=self.path)
        self._values: dict[Key, float] = {}
        self._runs: dict[RunKey, dict[str, Any]] = {}
        # What this table changed since it was opened, replayed onto the file's current contents
        # by save() (None for a table made by the constructor: its save replaces the file).
        self._changes: _Changes | None = None

    # ---------------------------------------------------------------------------------------------
    # reading

    @property
    def sidecar_path(self) -> Path | None:
        """The JSON sidecar next to the CSV (``results.csv`` -> ``results.json``)."""
        return self.path.with_suffix(".json") if self.path is not None else None

    @classmethod
    def open(cls, path: PathLike) -> "ResultTable":
        """Read a table from its CSV and sidecar where they exist; else an empty table bound to ``path``.

        Raises
        ------
        ResultError
            When the CSV or the sidecar is malformed (the message names the file and the line).
        """
        table = cls(path)
        table._load()
        table._changes = _Changes()
        return table

    def _load(self) -> None:
        """Read the CSV and the sidecar where they exist (empty otherwise)."""
        assert self.path is not None and self.sidecar_path is not None
        # The sidecar first: it migrates the run keys of an old-layout table, which its CSV follows.
        self._runs, migrated = _read_sidecar(self.sidecar_path) if self.sidecar_path.exists() else ({}, {})
        self._values = _read_csv(self.path, migrated) if self.path.exists() else {}

    @classmethod
    def read(cls, paths: PathLike | Iterable[PathLike]) -> "ResultTable":
        """Merge several result files into one table (for plotting and summaries).

        Parameters
        ----------
        paths : path-like or iterable of path-like
            CSV files, each with its optional sidecar.  Where two files hold the same row key (or
            run key), the later file wins.

        Returns
        -------
        ResultTable
            With ``path`` None: it cannot be saved.

        Raises
        ------
        ResultError
            When a file does not exist or is malformed.
        """
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        merged = cls(None)
        for path in paths:
            if not Path(path).is_file():
                raise ResultError("no such results file", path=path)
            part = cls.open(path)
            merged._values.update(part._values)
            merged._runs.update(part._runs)
        return merged

    # ---------------------------------------------------------------------------------------------
    # adding and writing

    def add(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
        replace_runs: bool = False,
    ) -> int:
        """Add rows, replacing those with the same key; record the runs' metadata.

        Parameters
        ----------
        rows : iterable of mapping
            Each with exactly the columns of :attr:`COLUMNS`: text ``model``, ``experiment``,
            ``split``, ``metric``; text ``corpus`` (may be empty: unknown); a layer id ``layer`` (``C1``..``C7``, ``T0``..``TL`` or
            ``mel``; ``t4`` is normalised to ``T4``); non-negative integers ``sample`` and
            ``seed``; a finite number ``value``.
        options, provenance, details : mapping, optional
            Stored in the sidecar for the run key of every row added (each run gets its own copy).
            A field given replaces that field of an earlier add for the same run; a field left out
            keeps it.  numpy scalars and arrays become JSON numbers and lists, tuples lists, paths
            strings, integer mapping keys strings.
        replace_runs : bool
            First remove every row of the runs being added (same model, corpus, experiment, layer,
            split, sample and seed), whatever its metric: for analyses whose set of metrics can shrink on
            a rerun (a benchmark no longer scored), so no stale row survives.

        Returns
        -------
        int
            The number of rows added or replaced.

        Raises
        ------
        ResultError
            For a row with a missing, unknown or ill-typed column, a non-finite value, a key
            repeated within ``rows``, or metadata that JSON cannot hold (NaN included).  Nothing is
            added then.
        """
        where_table = self.path
        metadata: dict[str, Any] = {}
        for name, given in (("options", options), ("provenance", provenance), ("details", details)):
            if given is None:
                continue
            if not isinstance(given, Mapping):
                raise ResultError(f"{name} must be a mapping, not a {type(given).__name__}", path=where_table)
            metadata[name] = _to_json(given, name, where_table)
        if isinstance(rows, Mapping):
            raise ResultError("add() takes an iterable of rows, not a single row mapping", path=where_table)
        new: dict[Key, float] = {}
        first_seen: dict[Key, int] = {}
        for number, row in enumerate(rows, start=1):
            key, value = _row_from_mapping(row, where=f"row {number}", path=where_table)
            if key in new:
                raise ResultError(f"repeats the key of row {first_seen[key]}", path=where_table, where=f"row {number}")
            new[key] = value
            first_seen[key] = number
        runs = list(dict.fromkeys(key[:_N_RUN] for key in new))
        self._apply(new, runs, metadata, replace_runs=replace_runs)
        if self._changes is not None:
            self._changes.record(new, runs, metadata, replace_runs=replace_runs)
        return len(new)

    def remove_runs(self, runs: Iterable[Mapping[str, Any] | tuple]) -> int:
        """Remove every row and the metadata of the given runs (rows, run keys or row keys).

        Returns
        -------
        int
            The number of rows removed.
        """
        keys = []
        for run in runs:
            raw = [run[column] for column in RUN_COLUMNS] if isinstance(run, Mapping) else list(run)[:_N_RUN]
            keys.append(tuple(_normalise_condition(column, value) for column, value in zip(RUN_COLUMNS, raw)))
        keys = list(dict.fromkeys(keys))
        before = len(self._values)
        self._apply({}, keys, {}, replace_runs=True)
        if self._changes is not None:
            self._changes.record({}, keys, {}, replace_runs=True)
        return before - len(self._values)

    def _apply(self, new: Mapping[Key, float], runs: Iterable[RunKey], metadata: Mapping[str, Any], *, replace_runs: bool) -> None:
        """Add checked rows and their runs' metadata (the one place where rows change).

        ``replace_runs`` with no rows and no metadata removes the runs (:meth:`remove_runs`).
        """
        runs = list(runs)
        if replace_runs:
            replaced = set(runs)
            for stale in [key for key in self._values if key[:_N_RUN] in replaced]:
                del self._values[stale]
            if not new and not metadata:
                for run in runs:
                    self._runs.pop(run, None)
                return
        self._values.update(new)
        for run in runs:
            entry = self._runs.setdefault(run, {field: {} for field in METADATA_FIELDS})
            entry.update(copy.deepcopy(metadata))

    def save(self) -> Path:
        """Write the CSV and its sidecar atomically (temporary files in the same folder, then renames).

        For a table made by :meth:`open`, what other processes saved to the file since then is
        kept: under an exclusive lock, the file is read again and this table's additions are
        applied on top (a row key both added wins here).  A table made by the constructor replaces
        the file.  Either way the table then holds what the file holds.

        Returns
        -------
        Path
            The CSV file.

        Raises
        ------
        ResultError
            For a table without a file (made by :meth:`read`) or when the folder cannot be written.
        """
        if self.path is None or self.sidecar_path is None:
            raise ResultError(
                "this table was merged from several files by ResultTable.read and has no file of its own; "
                "add its rows to ResultTable.open(path) to save them"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultError(f"cannot write the result table ({exc.strerror or exc})", path=self.path) from None
        with _locked(self.path):
            if self._changes is not None:
                self._changes.replay_onto(self)
            self._write_files()
            if self._changes is not None:
                self._changes.clear()
        return self.path

    def _write_files(self) -> None:
        """Write both files, each through a temporary file and a rename (the caller holds the lock)."""
        assert self.path is not None and self.sidecar_path is not None
        csv_text = self._csv_text()
        json_text = self._sidecar_text()
        try:
            # Both files are complete on disk before either replaces its predecessor; the sidecar
            # goes first so that a CSV row never lacks its run's metadata (the inner block ends first).
            with atomic_path(self.path) as csv_tmp, atomic_path(self.sidecar_path) as sidecar_tmp:
                _write_text(sidecar_tmp, json_text)
                _write_text(csv_tmp, csv_text)
        except OSError as exc:
            raise ResultError(f"cannot write the result table ({exc.strerror or exc})", path=self.path) from None

    def _sorted_keys(self) -> list[Key]:
        return sorted(self._values, key=_sort_key)

    def _csv_text(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for key in self._sorted_keys():
            # repr of a float is the shortest text that reads back as the same float.
            writer.writerow([*key[:5], str(key[5]), str(key[6]), key[7], repr(self._values[key])])
        return buffer.getvalue()

    def _sidecar_text(self) -> str:
        runs_with_rows = dict.fromkeys(key[:_N_RUN] for key in self._sorted_keys())
        runs = []
        for run in runs_with_rows:
            entry = self._runs.get(run, {field: {} for field in METADATA_FIELDS})
            runs.append({**dict(zip(RUN_COLUMNS, run)), **{field: entry.get(field, {}) for field in METADATA_FIELDS}})
        document = {"layerprobe_version": __version__, "columns": list(COLUMNS), "runs": runs}
        try:
            return json_text(document, indent=2, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:  # only reachable if the metadata was changed behind add()'s back
            raise ResultError(f"the run metadata cannot be written as JSON ({exc})", path=self.sidecar_path) from None

    # ---------------------------------------------------------------------------------------------
    # querying

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every row as a new dict, in the table's sorted order."""
        return [self._row(key) for key in self._sorted_keys()]

    def to_pandas(self) -> "pandas.DataFrame":
        """The table as a pandas DataFrame, one row per table row in sorted order.

        Returns
        -------
        pandas.DataFrame
            Columns :attr:`COLUMNS` in file order (model, corpus, experiment, layer, split, sample,
            seed, metric, value): text, ``sample`` and ``seed`` int64, ``value`` float64 (also when the
            table is empty).

        Raises
        ------
        DependencyError
            When pandas is not installed (it is optional: ``pip install pandas``).
        """
        try:
            import pandas
        except ImportError:
            raise DependencyError("ResultTable.to_pandas needs pandas: pip install pandas") from None
        keys = self._sorted_keys()
        cells = [[*key, self._values[key]] for key in keys]
        dtypes: dict[str, Any] = {column: str for column in COLUMNS}
        dtypes.update({column: "int64" for column in _INT_COLUMNS}, value="float64")
        return pandas.DataFrame(
            {column: pandas.Series([row[index] for row in cells], dtype=dtypes[column]) for index, column in enumerate(COLUMNS)},
            columns=list(COLUMNS),
        )

    def select(self, **conditions: Any) -> list[dict[str, Any]]:
        """The rows matching every condition, in sorted order.

        Parameters
        ----------
        **conditions
            ``column=value``, or ``column=collection`` meaning any of its values, e.g.
            ``select(experiment="cca_mel", metric="pwcca", layer=["T1", "T2"])``.  Layer ids are
            normalised (``t4`` matches ``T4``).

        Raises
        ------
        ConfigError
            For a column that does not exist.
        """
        wanted: dict[int, set[Any]] = {}
        for column, condition in conditions.items():
            if column not in COLUMNS:
                raise ConfigError(f"a result table has no column {column!r} (columns: {', '.join(COLUMNS)})")
            if isinstance(condition, Collection) and not isinstance(condition, (str, bytes)):
                candidates = list(condition)
            else:
                candidates = [condition]
            wanted[COLUMNS.index(column)] = {_normalise_condition(column, c) for c in candidates}
        selected = []
        for key in self._sorted_keys():
            full = (*key, self._values[key])
            if all(full[index] in allowed for index, allowed in wanted.items()):
                selected.append(self._row(key))
        return selected

    def unique(self, column: str) -> list[Any]:
        """The distinct values of one column, sorted (layers in model order)."""
        if column not in COLUMNS:
            raise ConfigError(f"a result table has no column {column!r} (columns: {', '.join(COLUMNS)})")
        index = COLUMNS.index(column)
        values = {(*key, value)[index] for key, value in self._values.items()}
        return sorted(values, key=layer_sort_key) if column == "layer" else sorted(values)

    def metadata(self, row_or_key: Mapping[str, Any] | tuple) -> dict[str, Any] | None:
        """The sidecar entry (``{"options": ..., "provenance": ..., "details": ...}``) of a row's run.

        Parameters
        ----------
        row_or_key : mapping or tuple
            A row (any mapping with the run-key columns), a run key ``(model, corpus, experiment,
            layer, split, sample, seed)`` or a row key (the same plus ``metric``).

        Returns
        -------
        dict or None
            A copy of the entry; None when the run has none.
        """
        if isinstance(row_or_key, Mapping):
            missing = [column for column in RUN_COLUMNS if column not in row_or_key]
            if missing:
                raise ConfigError(f"the row lacks the run-key column(s) {', '.join(missing)}")
            raw = [row_or_key[column] for column in RUN_COLUMNS]
        elif isinstance(row_or_key, (tuple, list)) and len(row_or_key) in (len(RUN_COLUMNS), len(KEY_COLUMNS)):
            raw = list(row_or_key[: len(RUN_COLUMNS)])
        else:
            raise ConfigError("metadata() takes a row mapping, a run key (7 values) or a row key (8 values)")
        run = tuple(_normalise_condition(column, value) for column, value in zip(RUN_COLUMNS, raw))
        entry = self._runs.get(run)
        return copy.deepcopy(entry) if entry is not None else None

    def _row(self, key: Key) -> dict[str, Any]:
        return {**dict(zip(KEY_COLUMNS, key)), "value": self._values[key]}

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __repr__(self) -> str:
        where = os.fspath(self.path) if self.path is not None else "merged"
        return f"ResultTable({where!r}, {len(self)} rows)"


# --------------------------------------------------------------------------------------------------
# concurrent writers


class _Changes:
    """The additions a table made since it was opened, in order, to replay onto the file's contents."""

    def __init__(self) -> None:
        self._log: list[tuple[dict[Key, float], list[RunKey], dict[str, Any], bool]] = []

    def record(self, new: Mapping[Key, float], runs: list[RunKey], metadata: Mapping[str, Any], *, replace_runs: bool) -> None:
        self._log.append((dict(new), list(runs), copy.deepcopy(dict(metadata)), replace_runs))

    def replay_onto(self, table: "ResultTable") -> None:
        """Reload ``table`` from its file and apply the recorded additions again, in order."""
        table._load()
        for new, runs, metadata, replace_runs in self._log:
            table._apply(new, runs, metadata, replace_runs=replace_runs)

    def clear(self) -> None:
        """Forget the additions (they are in the file now)."""
        self._log.clear()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``.<name>.lock`` next to ``path`` (waits for other writers).

    The one lock scheme of layerprobe (:func:`~layerprobe.io.atomic.file_lock`), which also works on
    NFS, where cluster jobs write their results.  The lock file stays (removing it would race with a
    waiting writer).
    """
    try:
        held = HeldLock(path)
    except OSError as exc:
        raise ResultError(f"cannot create the lock file ({exc.strerror or exc})", path=lock_path(path)) from None
    try:
        yield
    finally:
        held.release()


# --------------------------------------------------------------------------------------------------
# rows


def _sort_key(key: Key) -> tuple:
    model, corpus, experiment, layer, split, sample, seed, metric = key
    return (model, corpus, experiment, split, sample, seed, layer_sort_key(layer), metric)


def _coerce(column: str, raw: Any) -> Any:
    """One cell, checked and converted to its column's type; ValueError says what is wrong."""
    if column in _INT_COLUMNS:
        if isinstance(raw, (bool, np.bool_)):
            raise ValueError(f"{raw!r} is not a non-negative integer")
        if isinstance(raw, str):
            text = raw.strip()
            if not _DIGITS.match(text):
                raise ValueError(f"{raw!r} is not a non-negative integer")
            return int(text)
        if isinstance(raw, numbers.Integral) and int(raw) >= 0:
            return int(raw)
        raise ValueError(f"{raw!r} is not a non-negative integer")
    if column == "value":
        if isinstance(raw, (bool, np.bool_)):
            raise ValueError(f"{raw!r} is not a number")
        if isinstance(raw, str):
            try:
                number = float(raw.strip())
            except ValueError:
                raise ValueError(f"{raw!r} is not a number") from None
        elif isinstance(raw, numbers.Real) or (isinstance(raw, np.ndarray) and raw.ndim == 0):
            number = float(raw)
        else:
            raise ValueError(f"{raw!r} is not a number")
        if not math.isfinite(number):
            raise ValueError(f"{raw!r} is not a finite number")
        return number
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not text")
    text = raw.strip()
    if not text and column not in _OPTIONAL_TEXT:
        raise ValueError("is empty")
    if column == "layer":
        try:
            return parse_layer_id(text)
        except LayerprobeError:
            raise ValueError(f"{raw!r} is not a layer id (C1..C7, T0..TL or mel)") from None
    return text


def _row_from_mapping(row: Any, *, where: str, path: Path | None) -> tuple[Key, float]:
    if not isinstance(row, Mapping):
        raise ResultError(f"is a {type(row).__name__}, not a mapping of column -> value", path=path, where=where)
    missing = [column for column in COLUMNS if column not in row]
    unknown = [str(column) for column in row if column not in COLUMNS]
    if missing:
        raise ResultError(f"lacks the column(s) {', '.join(missing)}", path=path, where=where)
    if unknown:
        raise ResultError(f"has unknown column(s) {', '.join(unknown)} (columns: {', '.join(COLUMNS)})", path=path, where=where)
    cells = []
    for column in COLUMNS:
        try:
            cells.append(_coerce(column, row[column]))
        except ValueError as exc:
            raise ResultError(f"column '{column}': {exc}", path=path, where=where) from None
    return tuple(cells[:-1]), cells[-1]


def _normalise_condition(column: str, value: Any) -> Any:
    """A select()/metadata() value in the form the table stores, or the value itself if it cannot be."""
    try:
        return _coerce(column, value)
    except ValueError:
        return value


def _read_csv(path: Path, migrated: Mapping[tuple, RunKey] | None = None) -> dict[Key, float]:
    """The rows of a CSV; one of the old layout (:data:`OLD_COLUMNS`) gets each run's new key from
    ``migrated`` (old run key -> new run key, from the sidecar), else corpus ``""``."""
    migrated = migrated or {}
    values: dict[Key, float] = {}
    seen_on: dict[Key, int] = {}
    columns = COLUMNS
    try:
        # utf-8-sig: a file saved by a spreadsheet starts with a byte-order mark (its CRLF line ends
        # the csv module reads as it reads LF)
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ResultError("is empty; a result table starts with the header line " + ",".join(COLUMNS), path=path)
            if tuple(cell.strip() for cell in header) == OLD_COLUMNS:
                columns = OLD_COLUMNS
            elif tuple(cell.strip() for cell in header) != COLUMNS:
                raise ResultError(f"the header is {','.join(header)!r}, expected {','.join(COLUMNS)!r}", path=path, where="line 1")
            for fields in reader:
                line = reader.line_num
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                if len(fields) != len(columns):
                    raise ResultError(f"{len(fields)} fields, expected {len(columns)} ({','.join(columns)})", path=path, where=f"line {line}")
                cells = []
                for column, text in zip(columns, fields):
                    try:
                        cells.append(_coerce(column, text))
                    except ValueError as exc:
                        raise ResultError(str(exc), path=path, where=f"line {line}, column '{column}'") from None
                key = tuple(cells[:-1])
                if key in seen_on:
                    raise ResultError(f"repeats the row key of line {seen_on[key]}", path=path, where=f"line {line}")
                seen_on[key] = line
                if columns is OLD_COLUMNS:  # migrated: the run's new key, else corpus "" (two old keys may meet)
                    run = migrated.get(key[:-1]) or (key[0], "", *key[1:-1])
                    key = (*run, key[-1])
                values[key] = cells[-1]
    except UnicodeDecodeError:
        raise ResultError("is not a UTF-8 text file", path=path) from None
    except csv.Error as exc:
        raise ResultError(f"is not a readable CSV file ({exc})", path=path) from None
    except OSError as exc:
        raise ResultError(f"cannot be read ({exc.strerror or exc})", path=path) from None
    return values


def _read_sidecar(path: Path) -> tuple[dict[RunKey, dict[str, Any]], dict[tuple, RunKey]]:
    """The runs of a sidecar, and (old run key -> new run key) for the CSV's rows to follow.

    A sidecar of the old layout (:data:`OLD_COLUMNS`) is migrated: see :func:`_migrated_run`.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultError(f"is not a JSON file ({exc})", path=path) from None
    except RecursionError:
        raise ResultError("is not a result-table sidecar (JSON nested too deeply to read)", path=path) from None
    except OSError as exc:
        raise ResultError(f"cannot be read ({exc.strerror or exc})", path=path) from None
    if not isinstance(document, dict) or not isinstance(document.get("runs"), list):
        raise ResultError("is not a result-table sidecar (no list of runs)", path=path)
    old = document.get("columns") == list(OLD_COLUMNS)
    if not old and document.get("columns", list(COLUMNS)) != list(COLUMNS):
        raise ResultError(f"describes the columns {document.get('columns')!r}, expected {list(COLUMNS)!r}", path=path)
    run_columns = [column for column in RUN_COLUMNS if column != "corpus"] if old else RUN_COLUMNS
    runs: dict[RunKey, dict[str, Any]] = {}
    migrated: dict[tuple, RunKey] = {}
    for number, entry in enumerate(document["runs"], start=1):
        where = f"run {number}"
        if not isinstance(entry, dict):
            raise ResultError("is not an object", path=path, where=where)
        cells = []
        for column in run_columns:
            if column not in entry:
                raise ResultError(f"lacks {column!r}", path=path, where=where)
            try:
                cells.append(_coerce(column, entry[column]))
            except ValueError as exc:
                raise ResultError(f"{column!r}: {exc}", path=path, where=where) from None
        metadata = {}
        for field in METADATA_FIELDS:
            value = entry.get(field, {})
            if not isinstance(value, dict):
                raise ResultError(f"{field!r} is not an object", path=path, where=where)
            metadata[field] = value
        run = _migrated_run(tuple(cells), metadata) if old else tuple(cells)
        runs[run] = metadata
        migrated[tuple(cells) if old else (run[0], *run[2:])] = run
    return runs, migrated


_SAMPLE_FOLDER = re.compile(r"^(?P<corpus>.+)_(?P<split>[^_]+)_sample(?P<sample>[0-9]+)$")


def _migrated_run(old: tuple, metadata: Mapping[str, Any]) -> RunKey:
    """The new run key of an old-layout run ``(model, experiment, layer, split, sample, seed)``.

    The corpus (and the model's store tag) come from the first store path in the provenance
    (``stores``: a list or a mapping of ``{"path": ...}``; ``store``) that lies in a data-sample
    folder ``<features>/<tag>/<corpus>_<split>_sample<k>/``; else an imported run's ``dataset``
    detail; else the corpus is ``""``.  With a store tag, the model becomes its canonical name
    (:func:`~layerprobe.io.store_paths.model_name`); without one it stays as it was.
    """
    from layerprobe.io.store_paths import model_name

    model, experiment, layer, split, sample, seed = old
    provenance = metadata.get("provenance") or {}
    stores = provenance.get("stores")
    entries = list(stores.values()) if isinstance(stores, dict) else list(stores) if isinstance(stores, list) else []
    paths = [entry.get("path") for entry in entries if isinstance(entry, dict)] + [provenance.get("store")]
    for text in paths:
        if not isinstance(text, str) or not text:
            continue
        for folder in list(Path(text).parents)[:3]:
            match = _SAMPLE_FOLDER.match(folder.name)
            if match is None:
                continue
            suffix = f"_{split}_sample{sample}"
            corpus = folder.name[: -len(suffix)] if folder.name.endswith(suffix) else match["corpus"]
            tag = folder.parent.name
            return (model_name(model, tag=tag) if tag else model, corpus, experiment, layer, split, sample, seed)
    dataset = (metadata.get("details") or {}).get("dataset")
    corpus = dataset.strip() if isinstance(dataset, str) else ""
    return (model, corpus, experiment, layer, split, sample, seed)


# --------------------------------------------------------------------------------------------------
# JSON metadata and files


def _to_json(value: Any, where: str, path: Path | None) -> Any:
    """A copy of ``value`` made of JSON types only; ResultError names the offending entry otherwise."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ResultError(f"{where} is {number}, which JSON cannot hold (store None or a string instead)", path=path)
        return number
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufU":
            raise ResultError(f"{where} is a numpy array of {value.dtype}, which JSON cannot hold", path=path)
        return _to_json(value.tolist(), where, path)
    if isinstance(value, np.generic):  # other numpy scalars (str_, complex, ...)
        return _to_json(value.item(), where, path)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        converted = {}
        for key, item in value.items():
            if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, numbers.Integral)):
                raise ResultError(f"{where} has the key {key!r}; JSON keys are strings", path=path)
            name = key if isinstance(key, str) else str(int(key))
            converted[name] = _to_json(item, f"{where}[{name!r}]", path)
        return converted
    if isinstance(value, (list, tuple)):
        return [_to_json(item, f"{where}[{index}]", path) for index, item in enumerate(value)]
    raise ResultError(f"{where} is of type {type(value).__name__}, which JSON cannot hold", path=path)


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 to an (empty, temporary) file, newlines as given."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


__all__ = ["COLUMNS", "OLD_COLUMNS", "KEY_COLUMNS", "RUN_COLUMNS", "METADATA_FIELDS", "ResultTable"]
