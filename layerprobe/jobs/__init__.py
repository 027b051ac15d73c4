"""Cluster jobs: cut a command into tasks (runners with their arguments) and run them through submitit.

:mod:`layerprobe.jobs.launch` submits the tasks as a job array, retries failures and keeps the
launch record; :mod:`layerprobe.jobs.runners` holds the runners (one extraction shard, the CCA or MI
of some layers).  Nothing here imports click or the command line.
"""

from layerprobe.jobs import launch as _launch
from layerprobe.jobs.launch import *  # noqa: F403 - the launcher's public names, listed once in its __all__

__all__ = list(_launch.__all__)
