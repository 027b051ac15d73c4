"""What is done under a directory: feature stores and their shards, result tables, launched jobs.

:func:`collect_status` reads names, sizes, small files (result CSVs, launch records) and, of each
finished store file, its HDF5 signature, superblock, ``complete`` attr and attrs (never rows, never a
``.partial``; complete stores are never written again: a rerun writes a ``.partial`` and renames it),
so it is cheap and safe to run while jobs are writing.  ``layerprobe status DIR`` prints
:func:`format_status`.

A store is *complete* when its ``<rep>_<span>.h5`` exists (stores are renamed into place only when
finished), *damaged* when that file is not a readable, complete store (truncated by a copy, a full
disk or a killed transfer: :func:`layerprobe.io.store.store_file_problem` says why), *partial* while
only ``.h5.partial`` exists (a running or interrupted extraction, which resumes where it stopped),
and *sharded* while its shards ``<rep>_<span>.shard-I-of-N.h5`` are being written: the report lists
the shards that are finished, damaged, partial and missing, and as *stray* the shard files of another
count N (left over from an earlier sharding; the store's count is the one with the most files).  A complete store is *stale* when its
data-sample manifest was redrawn after extraction (its ``manifest_hash`` differs from the manifest
file's: :func:`layerprobe.experiments.query.stale_manifest`); experiments refuse it.
"""

from __future__ import annotations

import os
import pickle
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerprobe.errors import ConfigError, LayerprobeError
from layerprobe.io.store_paths import parse_shard_path
from layerprobe.layers import layer_sort_key

_PARTIAL = ".partial"


@dataclass
class StoreStatus:
    """One feature store (``<rep>_<span>.h5``) and its shards."""

    path: Path
    complete: bool = False
    partial: bool = False
    shard_count: int | None = None
    shards_done: list[int] = field(default_factory=list)
    shards_partial: list[int] = field(default_factory=list)
    stale: bool = False
    problem: str | None = None
    shards_damaged: dict[int, str] = field(default_factory=dict)
    shard_files: dict[int, Path] = field(default_factory=dict)
    #: Shard files (finished or ``.partial``) of another shard count than the store's: left over from
    #: an earlier sharding, never merged with these.
    stray_shards: list[Path] = field(default_factory=list)
    _found: list[tuple[int, int, bool, Path]] = field(default_factory=list, repr=False)

    @property
    def shards_missing(self) -> list[int]:
        if self.shard_count is None:
            return []
        started = set(self.shards_done) | set(self.shards_partial) | set(self.shards_damaged)
        return [index for index in range(1, self.shard_count + 1) if index not in started]

    @property
    def state(self) -> str:
        if self.complete:
            if self.problem is not None:
                return "damaged"
            return "stale (manifest redrawn; re-extract with --overwrite)" if self.stale else "complete"
        if self.shard_count is not None:
            if len(self.shards_done) == self.shard_count:
                return "shards complete (merge them)"
            return f"{len(self.shards_done)}/{self.shard_count} shards"
        return "partial" if self.partial else "missing"


@dataclass
class ResultStatus:
    """One result table: the layers done per (model, corpus, experiment, split, sample, seed)."""

    path: Path
    runs: dict[tuple[str, str, str, str, int, int], list[str]]
    error: str | None = None


@dataclass
class StatusReport:
    """Everything :func:`collect_status` found."""

    root: Path
    stores: list[StoreStatus]
    results: list[ResultStatus]
    launches: list[tuple[Path, dict[str, Any]]]


def collect_status(directory: str | os.PathLike[str]) -> StatusReport:
    """Scan ``directory`` (recursively) for feature stores, result tables and launch records.

    Raises
    ------
    ConfigError
        When ``directory`` is not a directory.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError("is not a directory", path=root)
    stores: dict[Path, StoreStatus] = {}
    results: list[ResultStatus] = []
    launches: list[tuple[Path, dict[str, Any]]] = []
    for folder, _, names in sorted(os.walk(root)):
        base = Path(folder)
        for name in sorted(names):
            path = base / name
            if name.endswith(".h5") or name.endswith(".h5" + _PARTIAL):
                _note_store(stores, path)
            elif name.endswith(".csv") and not name.startswith("."):
                results.append(_result_status(path))
            elif name == "launch.json":
                launches.append((path, _launch_record(path)))
    ordered = [stores[key] for key in sorted(stores)]
    for status in ordered:
        _settle_shards(status)
        _check_finished_files(status)
        if status.complete and status.problem is None:
            status.stale = _is_stale(status.path)
    return StatusReport(root, ordered, results, launches)


def _is_stale(path: Path) -> bool:
    """Whether a complete store was extracted from an older draw of its manifest (False when unknown)."""
    from layerprobe.experiments.query import stale_manifest
    from layerprobe.io.store import FeatureStore

    try:
        with FeatureStore.open(path) as store:
            attrs = store.attrs
    except (LayerprobeError, OSError):
        return False
    return stale_manifest(attrs) is not None


def _note_store(stores: dict[Path, StoreStatus], path: Path) -> None:
    partial = path.name.endswith(_PARTIAL)
    final = path.with_name(path.name[: -len(_PARTIAL)]) if partial else path
    shard = parse_shard_path(final)
    store_path = shard[0] if shard is not None else final
    status = stores.setdefault(store_path, StoreStatus(store_path))
    if shard is None:
        status.complete |= not partial
        status.partial |= partial
        return
    _, index, count = shard
    status._found.append((index, count, partial, path))


def _settle_shards(status: StoreStatus) -> None:
    """Pick the store's shard count and sort its shard files into done, partial and stray.

    The count is the one with the most shard files (ties: the one of the newest file); shard files
    of other counts are strays (an earlier ``--shards`` left them), not missing shards of this one.
    """
    if not status._found:
        return
    per_count: dict[int, list[tuple[int, int, bool, Path]]] = defaultdict(list)
    for entry in status._found:
        per_count[entry[1]].append(entry)

    def weight(count: int) -> tuple[int, float]:
        newest = 0.0
        for *_, path in per_count[count]:
            try:
                newest = max(newest, path.stat().st_mtime)
            except OSError:
                pass
        return len({index for index, *_ in per_count[count]}), newest

    count = max(per_count, key=weight)
    status.shard_count = count
    for index, other, partial, path in sorted(status._found, key=lambda entry: (entry[1], entry[0], entry[2])):
        if other != count:
            status.stray_shards.append(path)
        elif partial:
            status.shards_partial.append(index)
        else:
            status.shards_done.append(index)
            status.shard_files[index] = path


def _check_finished_files(status: StoreStatus) -> None:
    """Look into the finished files of a store (cheaply): a damaged one is no longer counted as done."""
    from layerprobe.io.store import store_file_problem

    if status.complete:
        status.problem = store_file_problem(status.path)
    for index in list(status.shards_done):
        problem = store_file_problem(status.shard_files[index])
        if problem is not None:
            status.shards_done.remove(index)
            status.shards_damaged[index] = problem


def _result_status(path: Path) -> ResultStatus:
    from layerprobe.results import ResultTable

    try:
        table = ResultTable.read(path)
    except LayerprobeError as exc:
        return ResultStatus(path, {}, error=str(exc))
    runs: dict[tuple[str, str, str, str, int, int], set[str]] = defaultdict(set)
    for row in table:
        runs[(row["model"], row["corpus"], row["experiment"], row["split"], row["sample"], row["seed"])].add(row["layer"])
    return ResultStatus(path, {key: sorted(layers, key=layer_sort_key) for key, layers in sorted(runs.items())})


def _launch_record(path: Path) -> dict[str, Any]:
    from layerprobe.jobs.launch import read_launch_record

    try:
        record = read_launch_record(path.parent) or {}
    except LayerprobeError as exc:
        return {"error": str(exc)}
    for task in record.get("tasks", []):
        if isinstance(task, dict) and task.get("state") in ("submitted", "pending"):
            _settle_task(task, path.parent)
    return record


def _settle_task(task: dict[str, Any], jobs_dir: Path) -> None:
    """Update a task the record left ``submitted`` (the launcher stopped waiting) from what is on disk.

    A finished job leaves submitit's result file in the jobs folder (``<job id>_<task>_result.pkl``):
    ``("success", ...)`` or ``("error", traceback)``.  A task whose output (a shard file) exists and
    is a complete store is done too.  Otherwise the job has not finished (or died without a word).
    """
    from layerprobe.io.store import store_file_problem
    from layerprobe.jobs.launch import output_finished

    job_ids = task.get("job_ids") or []
    outcome = _job_outcome(jobs_dir, str(job_ids[-1])) if job_ids else None
    if outcome is not None:
        kind, detail = outcome
        if kind == "success":
            task["state"], task["error"] = "done", None
        else:
            lines = [line.strip() for line in str(detail).splitlines() if line.strip()]
            task["state"], task["error"] = "failed", lines[-1] if lines else "the job failed"
        return
    output, attrs = task.get("output"), task.get("output_attrs")
    if isinstance(output, str) and output.endswith(".h5") and store_file_problem(output) is None:
        if output_finished(output, attrs if isinstance(attrs, dict) else None):
            task["state"], task["error"] = "done", None


class _PlainUnpickler(pickle.Unpickler):
    """Reads only plain values (a result file of a layerprobe job holds a tuple of strings and None)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"{module}.{name} is not a plain value")


def _job_outcome(jobs_dir: Path, job_id: str) -> tuple[str, Any] | None:
    """submitit's ``(outcome, result or traceback)`` of a finished job, None while it has none (or unreadable)."""
    if not job_id or "/" in job_id or job_id.startswith("."):
        return None
    result = jobs_dir / f"{job_id}_0_result.pkl"  # submitit's JobPaths.result_pickle of task 0
    try:
        with result.open("rb") as handle:
            outcome = _PlainUnpickler(handle).load()
    except (OSError, EOFError, ValueError, TypeError, IndexError, pickle.UnpicklingError):
        return None
    if isinstance(outcome, tuple) and len(outcome) == 2 and outcome[0] in ("success", "error"):
        return outcome[0], outcome[1]
    return None


def format_status(report: StatusReport) -> list[str]:
    """The report as lines of text (paths relative to the scanned directory)."""
    lines: list[str] = []

    def relative(path: Path) -> str:
        try:
            return os.fspath(path.relative_to(report.root))
        except ValueError:
            return os.fspath(path)

    if report.stores:
        lines.append("feature stores:")
        for store in report.stores:
            detail = ""
            if store.complete and store.problem is not None:
                detail = f" ({store.problem}); delete it and rerun the extraction"
            elif store.shard_count is not None and not store.complete:
                parts = [f"damaged {index} ({problem}; delete it and rerun the shard)"
                         for index, problem in sorted(store.shards_damaged.items())]  # fmt: skip
                if store.shards_partial:
                    parts.append(f"partial {_ranges(store.shards_partial)}")
                if store.shards_missing:
                    parts.append(f"missing {_ranges(store.shards_missing)}")
                if store.stray_shards:
                    names = ", ".join(path.name for path in store.stray_shards)
                    them = "it" if len(store.stray_shards) == 1 else "them"
                    parts.append(f"stray {names} (of another shard count; delete {them})")
                detail = f" ({'; '.join(parts)})" if parts else ""
            lines.append(f"  {relative(store.path)}: {store.state}{detail}")
    if report.results:
        lines.append("result tables:")
        for result in report.results:
            if result.error is not None:
                lines.append(f"  {relative(result.path)}: unreadable ({result.error})")
                continue
            lines.append(f"  {relative(result.path)}:")
            for (model, corpus, experiment, split, sample, seed), layers in result.runs.items():
                where = f"{corpus} {split}" if corpus else split
                lines.append(f"    {experiment} {model} {where} sample {sample} seed {seed}: {_layer_ranges(layers)}")
    for path, record in report.launches:
        if "error" in record:
            lines.append(f"launch {relative(path)}: {record['error']}")
            continue
        tasks = record.get("tasks", [])
        counts: dict[str, int] = defaultdict(int)
        for task in tasks:
            counts[str(task.get("state"))] += 1
        summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
        lines.append(f"launch {relative(path)} (started {record.get('started', '?')}): {summary}")
        for task in tasks:
            if task.get("state") not in ("done", "skipped"):
                error = f": {task['error']}" if task.get("error") else ""
                jobs = ", ".join(task.get("job_ids", [])) or "-"
                lines.append(f"  {task.get('name')}: {task.get('state')} after {task.get('attempts', 0)} attempt(s) (jobs {jobs}){error}")
    if not lines:
        lines.append(f"nothing found under {report.root}: no feature stores, result tables or launch records")
    return lines


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3,7'."""
    numbers = sorted(set(numbers))
    parts, start = [], None
    for i, number in enumerate(numbers):
        if start is None:
            start = number
        if i + 1 == len(numbers) or numbers[i + 1] != number + 1:
            parts.append(str(start) if start == number else f"{start}-{number}")
            start = None
    return ",".join(parts)


def _layer_ranges(layers: list[str]) -> str:
    """['C1', 'C2', 'T0', 'T1', 'T2', 'T5'] -> 'C1-C2,T0-T2,T5'."""
    by_kind: dict[str, list[int]] = defaultdict(list)
    others = []
    for layer in layers:
        if layer[:1] in "CT" and layer[1:].isdigit():
            by_kind[layer[0]].append(int(layer[1:]))
        else:
            others.append(layer)
    parts = list(others)
    for kind in sorted(by_kind, key=lambda k: 0 if k == "C" else 1):
        for chunk in _ranges(by_kind[kind]).split(","):
            low, _, high = chunk.partition("-")
            parts.append(f"{kind}{low}" + (f"-{kind}{high}" if high else ""))
    return ",".join(parts)


__all__ = ["StatusReport", "StoreStatus", "ResultStatus", "collect_status", "format_status"]
