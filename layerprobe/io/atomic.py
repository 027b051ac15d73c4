"""Atomic file writes and the one inter-process lock used by every writer in layerprobe.

Every file a later step reads (stores, manifests, result tables, sidecars, checkpoints, split caches,
figures, word vectors, pages) is written to a temporary file in the target's own folder and renamed
onto the target with :func:`os.replace` only when complete, so a reader never sees a half-written
file and a killed writer leaves either the old file or nothing.  The temporary file lives in the
same folder because a rename is atomic only within one file system.

Examples
--------
>>> from layerprobe.io.atomic import atomic_path, atomic_write, file_lock
>>> atomic_write("out/report.json", '{"ok": true}\\n')                  # doctest: +SKIP
>>> with atomic_path("out/model.pt") as tmp:                             # doctest: +SKIP
...     torch.save(state, tmp)                                           # replaces out/model.pt on success
>>> with file_lock("results/cca.csv"):                                   # doctest: +SKIP
...     ...                                                              # one writer at a time
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

PathLike = str | os.PathLike[str]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The process's umask, read once at import (reading it means setting it, which is not thread-safe).
_UMASK = _read_umask()


def remove_quietly(path: PathLike | None) -> None:
    """Remove a file if it exists; errors are ignored (used for clean-up after a failure)."""
    if path is None:
        return
    with contextlib.suppress(OSError):
        os.remove(path)


@contextlib.contextmanager
def atomic_path(path: PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; it replaces ``path`` when the block succeeds.

    Parameters
    ----------
    path : path-like
        The final file.  Its folder is created if needed.
    suffix : str, optional
        Suffix of the temporary name (default: the final name's suffix, so that writers that pick a
        format from the extension, such as ``np.savez`` or ``savefig``, see the right one).

    Yields
    ------
    pathlib.Path
        An empty temporary file (``.<name>.<random><suffix>``) in the same folder.  Write it
        completely; when the block raises, it is removed and ``path`` is untouched.

    Raises
    ------
    OSError
        When the folder or the temporary file cannot be created, or the rename fails.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix if suffix is None else suffix, dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    # mkstemp creates the file 0600; give it the mode a plain open() would (0666 less the umask)
    os.chmod(temporary, 0o666 & ~_UMASK)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        remove_quietly(temporary)


def atomic_write(path: PathLike, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` (text or bytes) to ``path`` atomically and return the path.

    Raises
    ------
    OSError
        When the file cannot be written (the earlier ``path``, if any, is left as it was).
    """
    target = Path(path)
    with atomic_path(target) as temporary:
        if isinstance(data, bytes):
            temporary.write_bytes(data)
        else:
            with open(temporary, "w", encoding=encoding, newline="") as stream:
                stream.write(data)
    return target


def json_text(document: Any, *, indent: int | None = 2, sort_keys: bool = False, ensure_ascii: bool = True,
              allow_nan: bool = True, default: Callable[[Any], Any] | None = None) -> str:
    """The JSON text layerprobe writes: ``json.dumps`` with the given options and a final newline."""
    return json.dumps(document, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii, allow_nan=allow_nan,
                      default=default) + "\n"  # fmt: skip


def write_json(path: PathLike, document: Mapping[str, Any] | list[Any], *, indent: int | None = 2,
               sort_keys: bool = False, ensure_ascii: bool = True, allow_nan: bool = True,
               default: Callable[[Any], Any] | None = None) -> Path:
    """Write ``document`` as JSON (:func:`json_text`) to ``path`` atomically and return the path.

    Raises
    ------
    OSError
        When the file cannot be written.
    TypeError, ValueError
        When the document is not JSON-serialisable (nothing is written then).
    """
    text = json_text(document, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii, allow_nan=allow_nan, default=default)
    return atomic_write(path, text)


def lock_path(path: PathLike) -> Path:
    """The lock file of ``path``: ``.<name>.lock`` in the same folder."""
    target = Path(path)
    return target.with_name(f".{target.name}.lock")


class LockBusy(BlockingIOError):
    """Another process (or another open file in this one) holds the lock (``blocking=False``)."""


@contextlib.contextmanager
def file_lock(path: PathLike, *, blocking: bool = True) -> Iterator[Path]:
    """Hold an exclusive lock on ``.<name>.lock`` beside ``path`` for the block.

    One scheme for every lock in layerprobe: ``flock`` on a lock file of its own.

    - ``flock`` locks belong to an open file description, so two opens in one process exclude each
      other as two processes do (the store's "one writer" check is tested in one process);
      ``lockf``/``fcntl`` byte-range locks belong to the process, are not exclusive within it, and
      are dropped when *any* descriptor of the file is closed, which any library reading the lock
      file would do by accident.
    - Local disks: ``flock`` is exact.  NFS: since Linux 2.6.12 the client emulates ``flock`` with an
      NFS byte-range lock over the whole file, so jobs on different nodes see each other's locks
      (the same lock ``lockf`` would take); only NFS mounted with ``nolock`` (or ``local_lock=flock``)
      keeps locks node-local, where no scheme would help.
    - A lock file of its own, never the data file: the data file is replaced by ``os.replace`` while
      locked, and a lock on a replaced inode protects nothing.  The lock file stays afterwards
      (removing it would race with a process waiting for it).

    Parameters
    ----------
    path : path-like
        The file being protected (the lock is :func:`lock_path` of it; the folder is created).
    blocking : bool
        Wait for the lock (True) or raise :class:`LockBusy` at once when it is held (False).

    Yields
    ------
    pathlib.Path
        The lock file.

    Raises
    ------
    LockBusy
        ``blocking=False`` and the lock is held.
    OSError
        When the lock file cannot be created.
    """
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LockBusy(f"{lock} is held by another writer") from None
        yield lock
    finally:
        handle.close()  # closing the descriptor drops the lock


class HeldLock:
    """A :func:`file_lock` held beyond one ``with`` block (a store writer holds it until it closes).

    Parameters and raises are those of :func:`file_lock`; :meth:`release` drops it (idempotent).
    """

    def __init__(self, path: PathLike, *, blocking: bool = True):
        self._context = file_lock(path, blocking=blocking)
        self.path = self._context.__enter__()

    def release(self) -> None:
        if self._context is not None:
            context, self._context = self._context, None
            context.__exit__(None, None, None)
