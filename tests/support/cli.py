"""Running the command line in-process from tests: exit status and captured output, or a step that must succeed."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from layerprobe.cli import main


def run(argv: Sequence[str], capsys) -> tuple[int, str, str]:
    """Run ``layerprobe ARGV`` in-process; return (exit status, stdout, stderr) as captured by ``capsys``."""
    with pytest.raises(SystemExit) as caught:
        main(list(argv))
    out = capsys.readouterr()
    return caught.value.code, out.out, out.err


def run_ok(argv: Sequence[str]) -> None:
    """Run a command in-process where capsys is not at hand (a module fixture); it must exit 0."""
    with pytest.raises(SystemExit) as caught:
        main(list(argv))
    assert caught.value.code == 0, argv


__all__ = ["run", "run_ok"]
