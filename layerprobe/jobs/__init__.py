"""Cluster jobs: cut a command into tasks (runners with their arguments) and run them through submitit.

:mod:`layerprobe.jobs.launch` submits the tasks as a job array, retries failures and keeps the
launch record; :mod:`layerprobe.jobs.runners` holds the runners (one extraction shard, the CCA or MI
of some layers).  Nothing here imports click or the command line.
"""

from layerprobe.jobs.launch import (
    CLUSTERS,
    LAUNCH_RECORD,
    LaunchOptions,
    LaunchReport,
    Task,
    TaskState,
    launch,
    read_launch_record,
    run_task,
    shard_from_environment,
)

__all__ = [
    "CLUSTERS",
    "LAUNCH_RECORD",
    "LaunchOptions",
    "LaunchReport",
    "Task",
    "TaskState",
    "launch",
    "read_launch_record",
    "run_task",
    "shard_from_environment",
]
