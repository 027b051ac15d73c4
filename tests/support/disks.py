"""A small full disk for the fault tests: a tmpfs mounted for one test, a file that fills it, the CLI run beside it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def mounted_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``4m``, ``32m``) mounted at ``where`` for the block; the test skips where it cannot be."""
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", os.fspath(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or done.returncode})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", os.fspath(where)], check=False)


def fill_disk(disk: Path, leave_bytes: int) -> Path:
    """A file that takes all but ``leave_bytes`` of the disk's free space."""
    filler = disk / "filler.bin"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(filler, "wb") as handle:
        block = b"\0" * (1 << 20)
        remaining = max(free - leave_bytes, 0)
        while remaining > 0:
            handle.write(block[: min(len(block), remaining)])
            remaining -= len(block)
    return filler


def run_layerprobe(*argv: str) -> subprocess.CompletedProcess:
    """``python -m layerprobe ARGV`` in a child process (its output captured as text)."""
    return subprocess.run([sys.executable, "-m", "layerprobe", *argv], capture_output=True, text=True, timeout=300)
