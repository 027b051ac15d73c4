"""The errors users can cause, each printed by the CLI as one line.

Every failure that bad input can provoke (a missing file, unreadable audio, a malformed alignment,
an unknown option value) is raised as a :class:`LayerprobeError` or one of its few subclasses.  The
message names the file (and the line or interval where there is one) and says what is wrong, so the
command line can print it as a single line and exit non-zero without a traceback.
"""

from __future__ import annotations

import os
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]


class LayerprobeError(Exception):
    """A failure caused by the user's input or environment, reported as one line.

    Parameters
    ----------
    message : str
        What is wrong, as a short sentence without a trailing newline.
    path : path-like, optional
        The file or directory concerned; it prefixes the message.
    where : str, optional
        A location inside the file ("line 12", "tier 'phones', interval 3"); it follows the path.
    """

    def __init__(self, message: str, *, path: PathLike | None = None, where: str | None = None):
        self.problem = message
        self.path = os.fspath(path) if path is not None else None
        self.where = where
        prefix = ""
        if self.path is not None:
            prefix = f"{self.path}: "
        if where:
            prefix += f"{where}: "
        # One line, always: a multi-line message from a third-party library is folded.
        super().__init__(" ".join(f"{prefix}{message}".split()))


class AudioError(LayerprobeError):
    """Audio that cannot be read or used: unreadable, empty, non-finite."""


class AlignmentError(LayerprobeError):
    """A time alignment that cannot be read or is inconsistent (order, bounds, labels)."""


class CorpusError(LayerprobeError):
    """A corpus directory that does not have the layout its reader expects."""


class SampleError(LayerprobeError):
    """A data-sample set that cannot be drawn, or a manifest that cannot be read."""


class ConfigError(LayerprobeError):
    """An option value that is not allowed (an unknown name, an out-of-range number)."""


class StoreError(LayerprobeError):
    """A feature store (HDF5) that cannot be written, resumed, read or merged as asked."""


class ResultError(LayerprobeError):
    """A result table (CSV + JSON sidecar) that cannot be read, added to or written, or lacks the rows asked for."""


class OracleError(LayerprobeError):
    """A word-attribute oracle (QVEC file, WordNet sense index, POS counts) that cannot be read or lacks a word."""


class DependencyError(LayerprobeError):
    """An optional dependency that a command needs is not installed; the message says how to get it."""


__all__ = [
    "LayerprobeError",
    "AudioError",
    "AlignmentError",
    "CorpusError",
    "SampleError",
    "ConfigError",
    "StoreError",
    "ResultError",
    "DependencyError",
    "OracleError",
]
