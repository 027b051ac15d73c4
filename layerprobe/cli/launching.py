"""The command-line side of :mod:`layerprobe.jobs`: the tasks of a command, and what becomes of them.

A command that can run as a job array takes :func:`~layerprobe.cli.options.launcher_options`; with
``--launcher submitit`` it cuts itself into :class:`~layerprobe.jobs.Task` s, each a runner of
:mod:`layerprobe.jobs.runners` with the parsed arguments of one part (:func:`task`), and hands them
to :func:`run_launch`.  :func:`task_argv` writes the equivalent command line of a task for the launch
record (its own command line, rebuilt from the parsed options, with the launcher options left out
and ``--shard`` / ``--layers`` replaced); the jobs run the runners, not the command lines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import click

from layerprobe.cli.options import LAUNCHER_PARAMS, launch_options
from layerprobe.jobs.launch import LaunchReport, Task, TaskState, launch


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
            arguments.extend(_text(item, param) for item in (value if param.multiple or param.nargs != 1 else [value]))
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
                words.extend([param.opts[0], _text(item, param)])
        else:
            words.extend([param.opts[0], _text(value, param)])
    return tuple(words + arguments)


def _text(value: Any, param: click.Parameter) -> str:
    if isinstance(value, os.PathLike):
        return os.fspath(Path(value).absolute())
    to_text = getattr(param.type, "to_text", None)
    if to_text is not None and not isinstance(value, str):
        return to_text(value)
    return str(value)


def task(name: str, run: Callable[..., Any], kwargs: Mapping[str, Any], overrides: Mapping[str, Any], *,
         output: str | None = None, output_attrs: Mapping[str, Any] | None = None) -> Task:  # fmt: skip
    """A task of the current command: ``run(**kwargs)``, recorded with the command line ``overrides`` make.

    Paths among ``kwargs`` become absolute, so a job that starts elsewhere reads and writes the same files.
    ``output`` and ``output_attrs`` say when it is finished already (:class:`~layerprobe.jobs.Task`).
    """
    absolute = {key: Path(value).absolute() if isinstance(value, os.PathLike) else value for key, value in kwargs.items()}
    return Task(name, run, absolute, output=output, argv=task_argv(click.get_current_context(), overrides),
                output_attrs=dict(output_attrs or {}))  # fmt: skip


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


__all__ = ["run_launch", "task", "task_argv"]
