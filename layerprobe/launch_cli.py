"""The command-line side of :mod:`layerprobe.launch`: the launcher options and per-task command lines.

A command that can run as a job array takes :func:`launcher_options`; when ``--launcher submitit``
is given it cuts itself into tasks with :func:`task_argv` (its own command line, rebuilt from the
parsed options, with the launcher options left out and ``--shard`` / ``--layers`` replaced) and
hands them to :func:`run_launch`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import click

from layerprobe.launch import CLUSTERS, LaunchOptions, LaunchReport, Task, TaskState, launch

#: Parameter names of the launcher options (left out of the tasks' command lines).
LAUNCHER_PARAMS = (
    "launcher", "cluster", "jobs_dir", "retries", "timeout_min", "partition", "gpus", "cpus", "mem_gb", "max_parallel", "wait",
)  # fmt: skip


def launcher_options(func: Callable) -> Callable:
    """Add ``--launcher`` and the job options to a click command."""
    options = [
        click.option("--launcher", type=click.Choice(["none", "submitit"]), default="none", show_default=True,
                     help="submitit: run the shards / layers as a job array (SLURM, or local processes)."),
        click.option("--cluster", type=click.Choice(CLUSTERS), default="auto", show_default=True,
                     help="submitit cluster: auto = slurm where sbatch exists, else local processes; debug = in this process (pdb on failure)."),
        click.option("--jobs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("layerprobe-jobs"),
                     show_default=True, help="submitit: job scripts, logs and the launch record (layerprobe status)."),
        click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True, help="submitit: resubmissions of a failed task."),
        click.option("--timeout-min", type=click.IntRange(min=1), default=240, show_default=True, help="submitit: wall-clock limit per job (minutes)."),
        click.option("--partition", default=None, help="submitit: SLURM partition."),
        click.option("--gpus", type=click.IntRange(min=0), default=0, show_default=True, help="submitit: GPUs per job."),
        click.option("--cpus", type=click.IntRange(min=1), default=2, show_default=True, help="submitit: CPUs per job."),
        click.option("--mem-gb", type=click.FloatRange(min=0, min_open=True), default=None, help="submitit: memory per job (GB)."),
        click.option("--max-parallel", type=click.IntRange(min=1), default=None, help="submitit: most jobs of the array at once."),
        click.option("--wait/--no-wait", default=True, show_default=True, help="submitit: wait for the jobs (and retry failures)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def launch_options(params: Mapping[str, Any]) -> LaunchOptions:
    """The :class:`LaunchOptions` a command's parsed launcher options ask for."""
    return LaunchOptions(
        jobs_dir=params["jobs_dir"], cluster=params["cluster"], retries=params["retries"], timeout_min=params["timeout_min"],
        partition=params["partition"], gpus=params["gpus"], cpus=params["cpus"], mem_gb=params["mem_gb"],
        max_parallel=params["max_parallel"],
    )  # fmt: skip


def task_argv(ctx: click.Context, overrides: Mapping[str, Any], *, drop: Sequence[str] = ()) -> tuple[str, ...]:
    """The command line of ``ctx``'s command with ``overrides`` and without the launcher options.

    Option values are written back in their canonical form (first option name, ``--flag`` /
    ``--no-flag``); paths become absolute, so a job that starts elsewhere reads the same files.
    ``overrides`` maps parameter names to new values (None leaves the option out); ``drop`` names
    further parameters to leave out.
    """
    params = {**ctx.params, **overrides}
    words: list[str] = []  # the (sub)command names below the program, e.g. ["attention", "maps"]
    level = ctx
    while level.parent is not None:
        words.insert(0, str(level.info_name))
        level = level.parent
    arguments: list[str] = []
    for param in ctx.command.params:
        name = param.name
        if name in LAUNCHER_PARAMS or name in drop or name not in params:
            continue
        value = params[name]
        if isinstance(param, click.Argument):
            arguments.extend(_text(item) for item in (value if param.multiple or param.nargs != 1 else [value]))
            continue
        assert isinstance(param, click.Option)
        if param.is_flag and param.secondary_opts:
            words.append(param.opts[0] if value else param.secondary_opts[0])
        elif param.is_flag:
            if value:
                words.append(param.opts[0])
        elif value is None:
            continue
        elif param.multiple:
            for item in value:
                words.extend([param.opts[0], _text(item)])
        else:
            words.extend([param.opts[0], _text(value)])
    return tuple(words + arguments)


def _text(value: Any) -> str:
    if isinstance(value, os.PathLike):
        return os.fspath(Path(value).absolute())
    return str(value)


def run_launch(tasks: Sequence[Task], params: Mapping[str, Any]) -> LaunchReport:
    """Launch the tasks as the parsed launcher options say, echo what becomes of each, fail if any failed.

    Raises
    ------
    LayerprobeError
        When tasks still fail after the retries (naming them and the jobs folder).
    """
    from layerprobe.errors import LayerprobeError

    def say(state: TaskState) -> None:
        detail = f" ({state.error})" if state.error else ""
        click.echo(f"{state.name}: {state.state}{detail}")

    options = launch_options(params)
    report = launch(tasks, options, wait=params["wait"], on_change=say)
    if report.failed:
        names = ", ".join(state.name for state in report.failed)
        raise LayerprobeError(
            f"{len(report.failed)} of {len(tasks)} tasks failed after {options.retries} retries ({names}); "
            f"logs in {report.jobs_dir}, `layerprobe status {report.jobs_dir}` lists them"
        )
    submitted = [state for state in report.tasks if state.state == "submitted"]
    if submitted:
        click.echo(f"submitted {len(submitted)} jobs; `layerprobe status {report.jobs_dir}` shows their progress")
    else:
        click.echo(f"{len(report.done)} tasks done, {len(report.skipped)} already finished; records in {report.jobs_dir}")
    return report


__all__ = ["LAUNCHER_PARAMS", "launch_options", "launcher_options", "run_launch", "task_argv"]
