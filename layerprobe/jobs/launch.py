"""Run a command's shards or layers as cluster jobs through submitit, or pick a shard from the environment.

layerprobe schedules nothing itself.  A long command is cut into independent *tasks* (the shards of
an extraction, the layers of an analysis); each task is a *runner*, a module-level function with the
keyword arguments of one part (:mod:`layerprobe.jobs.runners`: one shard, one layer, one layer and
iteration), and :func:`launch` hands them to `submitit <https://github.com/facebookincubator/submitit>`_
as one job array, whose jobs call ``run(**kwargs)`` (``cluster="slurm"`` on a SLURM cluster;
``"local"`` runs the same pickled jobs as processes on this machine, which is how the tests exercise
this path; ``"debug"`` runs them in this process).  Each task writes where the plain command writes;
tasks that were already finished (a complete shard file) are not submitted again, and failed tasks
are resubmitted alone, up to ``retries`` times.  Every launch records its tasks and their states in
``JOBS/launch.json`` (shown by ``layerprobe status``); submitit keeps each job's logs next to it.
This module knows nothing of the command line: the CLI builds the tasks.

Shards started by hand (``sbatch --array``, ``torchrun``) take ``--shard auto``:
:func:`shard_from_environment` reads ``SLURM_ARRAY_TASK_ID`` (with the array's bounds) or
torchrun's ``RANK`` and ``WORLD_SIZE``.

Examples
--------
>>> from layerprobe.jobs.runners import extract_task
>>> tasks = [Task(f"shard {i}/4", extract_task, {"manifest": ..., "shard": f"{i}/4", ...}) for i in range(1, 5)]  # doctest: +SKIP
>>> report = launch(tasks, LaunchOptions(jobs_dir="jobs", cluster="local"))                   # doctest: +SKIP
>>> report.failed                                                                            # doctest: +SKIP
[]
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from layerprobe.errors import ConfigError, DependencyError, LayerprobeError
from layerprobe.io.atomic import write_json

#: submitit clusters: ``auto`` picks SLURM where ``sbatch`` is available and local processes elsewhere.
CLUSTERS = ("auto", "slurm", "local", "debug")

#: The record of a launch, inside the jobs folder.
LAUNCH_RECORD = "launch.json"


@dataclass(frozen=True)
class Task:
    """One job: a runner, its keyword arguments, and when it counts as done.

    Attributes
    ----------
    name : str
        What the task is, for messages and the record (``"shard 3/16"``, ``"layer T4"``).
    run : callable
        A module-level function (submitit pickles it by reference), called as ``run(**kwargs)`` in
        the job; it raises on failure.
    kwargs : mapping
        Its keyword arguments (picklable: paths, strings, numbers).
    output : str or None
        A file whose existence means the task is finished (a complete shard store); such a task is
        never submitted again.  None: always run.
    argv : tuple of str
        The equivalent layerprobe command line (without the program name), for the record and the
        people who read it; it is not run.
    output_attrs : mapping
        Attrs the output (a feature store) must hold to count as finished, e.g. the
        ``weights_fingerprint`` of the model the task would load: a shard finished with other
        weights is not skipped (its job then refuses or, with ``--overwrite``, redoes it).  A value
        None (not known before the job loads the model) means the output never counts as finished
        here: the job's own check decides.
    """

    name: str
    run: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    output: str | None = None
    argv: tuple[str, ...] = ()
    output_attrs: Mapping[str, Any] = field(default_factory=dict)

    def is_done(self) -> bool:
        return output_finished(self.output, self.output_attrs)


def output_finished(output: str | os.PathLike[str] | None, attrs: Mapping[str, Any] | None = None) -> bool:
    """Whether a task's output exists and, where ``attrs`` are given, is a complete store holding them.

    See :attr:`Task.output_attrs`; a damaged store or one whose attrs differ is not finished.
    """
    if output is None or not Path(output).is_file():
        return False
    if not attrs:
        return True
    if any(value is None for value in attrs.values()):
        return False
    from layerprobe.io.store import FeatureStore, store_file_problem

    if store_file_problem(output) is not None:
        return False
    try:
        with FeatureStore.open(output) as store:
            stored = store.attrs
    except (LayerprobeError, OSError):
        return False
    return all(str(stored.get(key) or "") == str(value) for key, value in attrs.items())


@dataclass(frozen=True)
class LaunchOptions:
    """Where and how the jobs run.

    Parameters
    ----------
    jobs_dir : path-like
        submitit's folder (pickled jobs, logs) and the launch record.
    cluster : str
        One of :data:`CLUSTERS`.
    retries : int
        How many times a failed task is resubmitted (alone).
    timeout_min : int
        Wall-clock limit of each job, minutes.
    partition : str, optional
        SLURM partition.
    gpus : int
        GPUs per job.
    cpus : int
        CPUs per job.
    mem_gb : float, optional
        Memory per job.
    max_parallel : int, optional
        Most array jobs running at once (SLURM's ``%N``).
    """

    jobs_dir: str | os.PathLike[str]
    cluster: str = "auto"
    retries: int = 2
    timeout_min: int = 240
    partition: str | None = None
    gpus: int = 0
    cpus: int = 2
    mem_gb: float | None = None
    max_parallel: int | None = None

    def __post_init__(self) -> None:
        if self.cluster not in CLUSTERS:
            raise ConfigError(f"--cluster must be one of {', '.join(CLUSTERS)}, got {self.cluster!r}")
        for name in ("retries", "gpus"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name} must not be negative, got {getattr(self, name)}")
        for name in ("timeout_min", "cpus"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")


@dataclass
class TaskState:
    """What became of one task in a launch."""

    name: str
    argv: list[str]
    state: str = "pending"  # pending | skipped (already done) | done | failed
    attempts: int = 0
    job_ids: list[str] = field(default_factory=list)
    error: str | None = None
    #: The task's output file and the attrs it must hold (``Task.output``, ``Task.output_attrs``), by
    #: which ``layerprobe status`` sees it finished when the launcher stopped waiting.
    output: str | None = None
    output_attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class LaunchReport:
    """The outcome of :func:`launch`."""

    tasks: list[TaskState]
    jobs_dir: Path

    @property
    def failed(self) -> list[TaskState]:
        return [task for task in self.tasks if task.state == "failed"]

    @property
    def skipped(self) -> list[TaskState]:
        return [task for task in self.tasks if task.state == "skipped"]

    @property
    def done(self) -> list[TaskState]:
        return [task for task in self.tasks if task.state == "done"]


# --------------------------------------------------------------------------------------------------
# shards from the environment


def shard_from_environment(
    environ: Mapping[str, str] | None = None, *, existing_counts: Sequence[int] = ()
) -> tuple[int, int]:
    """(index, count), 1-based, of the shard this process is, from SLURM or torchrun variables.

    ``SLURM_ARRAY_TASK_ID`` with ``SLURM_ARRAY_TASK_MIN`` / ``SLURM_ARRAY_TASK_MAX`` (or
    ``SLURM_ARRAY_TASK_COUNT``) gives shard ``id - min + 1`` of ``max - min + 1``, so ``--array 0-15``
    and ``--array 1-16`` both mean 16 shards.  Without SLURM, torchrun's ``RANK`` and
    ``WORLD_SIZE`` give shard ``RANK + 1`` of ``WORLD_SIZE``.

    An array that starts above 1 (``SLURM_ARRAY_TASK_MIN=2``) is refused: it is most likely a
    resubmission of some tasks of a larger array (``--array=2-3`` of ``--array=1-4``), whose shard
    count the variables do not tell.  So is a count that differs from the shard files the store
    has already (``existing_counts``, the N of its ``shard-I-of-N`` files).

    Raises
    ------
    ConfigError
        When neither is set, the values are not integers that make a shard, or the shard count is
        ambiguous (the message says to pass ``--shard I/N``).
    """
    env = os.environ if environ is None else environ
    try:
        if "SLURM_ARRAY_TASK_ID" in env:
            task = int(env["SLURM_ARRAY_TASK_ID"])
            low = int(env.get("SLURM_ARRAY_TASK_MIN", 0 if "SLURM_ARRAY_TASK_COUNT" in env else task))
            if "SLURM_ARRAY_TASK_MIN" in env and low > 1:
                high = env.get("SLURM_ARRAY_TASK_MAX", "?")
                raise ConfigError(
                    f"--shard auto: the SLURM array runs tasks {low}-{high} (SLURM_ARRAY_TASK_MIN={low}), not from 0 or 1, "
                    "as a resubmission of some tasks of a larger array does, whose shard count it cannot tell; pass "
                    f"--shard I/N explicitly (this task: --shard {task}/N, or {task + 1}/N for an array that started at 0)"
                )
            if "SLURM_ARRAY_TASK_MAX" in env:
                count = int(env["SLURM_ARRAY_TASK_MAX"]) - low + 1
            elif "SLURM_ARRAY_TASK_COUNT" in env:
                count = int(env["SLURM_ARRAY_TASK_COUNT"])
            else:
                raise ConfigError("--shard auto: SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_MAX or _COUNT")
            index, source = task - low + 1, "SLURM_ARRAY_TASK_ID"
        elif "RANK" in env and "WORLD_SIZE" in env:
            index, count, source = int(env["RANK"]) + 1, int(env["WORLD_SIZE"]), "RANK/WORLD_SIZE"
        else:
            raise ConfigError("--shard auto needs SLURM_ARRAY_TASK_ID (sbatch --array) or RANK and WORLD_SIZE (torchrun)")
    except ValueError:
        raise ConfigError("--shard auto: the SLURM or torchrun variables are not integers") from None
    if not 1 <= index <= count:
        raise ConfigError(f"--shard auto: {source} gives shard {index} of {count}")
    others = sorted(set(int(n) for n in existing_counts) - {count})
    if others and count not in existing_counts:
        raise ConfigError(
            f"--shard auto: {source} gives shard {index} of {count}, but the store has shard files of "
            f"{' and '.join(map(str, others))} shards; pass --shard I/N explicitly"
        )
    return index, count


# --------------------------------------------------------------------------------------------------
# running tasks


def run_task(run: Callable[..., Any], kwargs: Mapping[str, Any]) -> None:
    """Call one task's runner in this process (the function every job calls).

    Logging is set up as the ``layerprobe`` command sets it up without ``-v`` (warnings, prefixed
    ``layerprobe:``), as in a job that ran the task's command line.

    Raises
    ------
    LayerprobeError
        When the task fails (submitit then marks the job failed and keeps the message).
    """
    import logging

    logging.basicConfig(format="layerprobe: %(message)s", level=logging.WARNING, force=True)
    logging.getLogger("layerprobe").setLevel(logging.WARNING)
    run(**kwargs)


def _executor(options: LaunchOptions, jobs_dir: Path) -> Any:
    try:
        import submitit
    except ModuleNotFoundError:
        raise DependencyError("--launcher submitit needs the submitit package: pip install submitit") from None
    cluster = None if options.cluster == "auto" else options.cluster
    if cluster is None:
        cluster = "slurm" if submitit.SlurmExecutor.affinity() > 0 else "local"
    executor = submitit.AutoExecutor(folder=jobs_dir, cluster=cluster)
    parameters: dict[str, Any] = {
        "name": "layerprobe",
        "timeout_min": options.timeout_min,
        "cpus_per_task": options.cpus,
        "gpus_per_node": options.gpus,
        "tasks_per_node": 1,
        "nodes": 1,
    }
    if options.mem_gb is not None:
        parameters["mem_gb"] = options.mem_gb
    if options.partition is not None:
        parameters["slurm_partition"] = options.partition
    if options.max_parallel is not None:
        parameters["slurm_array_parallelism"] = options.max_parallel
    executor.update_parameters(**parameters)
    return executor


def launch(
    tasks: Sequence[Task],
    options: LaunchOptions,
    *,
    wait: bool = True,
    on_change: Callable[[TaskState], None] | None = None,
    poll_seconds: float = 1.0,
) -> LaunchReport:
    """Submit the unfinished tasks as one submitit job array; resubmit failures alone; record states.

    Parameters
    ----------
    tasks : sequence of Task
        Independent tasks (their outputs must not overlap).
    options : LaunchOptions
        Cluster, resources and retries.
    wait : bool
        Wait for the jobs (and retry failures).  Without waiting, the record lists the submitted job
        ids and ``layerprobe status`` shows progress from the tasks' outputs.
    on_change : callable, optional
        Called with a task's state each time it changes (for messages).
    poll_seconds : float
        How often finished jobs are looked for.

    Returns
    -------
    LaunchReport

    Raises
    ------
    ConfigError
        For no tasks or two tasks with one name.
    """
    if not tasks:
        raise ConfigError("nothing to launch: no tasks")
    names = [task.name for task in tasks]
    if len(set(names)) != len(names):
        raise ConfigError("two tasks of one launch have the same name")
    jobs_dir = Path(options.jobs_dir).resolve()
    jobs_dir.mkdir(parents=True, exist_ok=True)
    states = [TaskState(task.name, list(task.argv), output=task.output, output_attrs=dict(task.output_attrs)) for task in tasks]
    record = _Record(jobs_dir, options)
    todo = []
    for task, state in zip(tasks, states):
        if task.is_done():
            state.state = "skipped"
            _notify(on_change, state)
        else:
            todo.append((task, state))
    executor = _executor(options, jobs_dir) if todo else None
    record.write(states)
    attempt = 0
    while todo:
        attempt += 1
        jobs = executor.map_array(run_task, [task.run for task, _ in todo], [dict(task.kwargs) for task, _ in todo])
        for job, (_, state) in zip(jobs, todo):
            state.attempts += 1
            state.job_ids.append(str(job.job_id))
            state.state = "submitted"
        record.write(states)
        if not wait:
            break
        failed = []
        for job, (task, state) in _as_completed(jobs, todo, poll_seconds):
            error = _job_error(job)
            state.state, state.error = ("done", None) if error is None else ("failed", error)
            record.write(states)
            _notify(on_change, state)
            if error is not None:
                failed.append((task, state))
        if attempt > options.retries:
            break
        todo = failed
    return LaunchReport(states, jobs_dir)


def _as_completed(jobs: Sequence[Any], todo: Sequence[tuple[Task, TaskState]], poll_seconds: float):
    """Yield (job, (task, state)) as each job finishes."""
    pending = list(zip(jobs, todo))
    while pending:
        still = []
        for job, item in pending:
            if job.done():
                yield job, item
            else:
                still.append((job, item))
        pending = still
        if pending:
            time.sleep(poll_seconds)


def _job_error(job: Any) -> str | None:
    """None for a job that succeeded, else the last line of what went wrong."""
    try:
        exception = job.exception()
    except Exception as exc:  # submitit could not even read the job's result
        exception = exc
    if exception is None:
        return None
    # submitit's message: a header, the job's traceback between two "-----" rules, then where the
    # logs are; the traceback's last line is the error itself.
    lines = [line.strip() for line in str(exception).splitlines() if line.strip()]
    rules = [i for i, line in enumerate(lines) if set(line) == {"-"}]
    if len(rules) >= 2 and rules[-1] - rules[-2] > 1:
        return lines[rules[-1] - 1]
    return lines[-1] if lines else type(exception).__name__


def _notify(on_change: Callable[[TaskState], None] | None, state: TaskState) -> None:
    if on_change is not None:
        on_change(state)


class _Record:
    """``JOBS/launch.json``: the tasks of the latest launch from this folder and their states."""

    def __init__(self, jobs_dir: Path, options: LaunchOptions):
        self.path = jobs_dir / LAUNCH_RECORD
        self.started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.options = {key: os.fspath(value) if isinstance(value, os.PathLike) else value for key, value in asdict(options).items()}

    def write(self, states: Sequence[TaskState]) -> None:
        document = {"started": self.started, "options": self.options, "tasks": [asdict(state) for state in states]}
        write_json(self.path, document)


def read_launch_record(jobs_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The launch record of a jobs folder, or None when it has none.

    Raises
    ------
    LayerprobeError
        When the record exists but is not a launch record.
    """
    path = Path(jobs_dir) / LAUNCH_RECORD
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayerprobeError(f"is not a readable launch record ({exc})", path=path) from None
    if not isinstance(document, dict) or not isinstance(document.get("tasks"), list):
        raise LayerprobeError("is not a launch record (no list of tasks)", path=path)
    return document


__all__ = [
    "CLUSTERS",
    "LAUNCH_RECORD",
    "LaunchOptions",
    "LaunchReport",
    "Task",
    "TaskState",
    "launch",
    "output_finished",
    "read_launch_record",
    "run_task",
    "shard_from_environment",
]
