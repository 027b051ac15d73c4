"""Messages on a terminal that shows progress bars: cleared bars, the message on a line of its own, bars redrawn.

tqdm draws its bars (``leave=False``: gone when they close) on the terminal line under the cursor
and leaves the cursor at the bar's end.  A message printed while a bar is shown would start there:
after the bar's text, wrapped at the terminal's edge (``robe T2: WER ...`` under a bar that keeps its
``p``), and the bar's text would stay on screen.  :func:`echo` (for the command's own lines) and
:class:`BarSafeHandler` (for log messages, installed by the CLI group) clear every bar first, write,
and redraw the bars under the message (:meth:`tqdm.tqdm.external_write_mode`); without bars they
are plain ``click.echo`` and a plain stream handler.
"""

from __future__ import annotations

import logging
import sys

import click


def echo(message: str = "", *, err: bool = False) -> None:
    """``click.echo(message, err=err)`` with any progress bars cleared first and redrawn after."""
    from tqdm import tqdm

    with tqdm.external_write_mode(file=sys.stderr if err else sys.stdout):
        click.echo(message, err=err)


class BarSafeHandler(logging.StreamHandler):
    """A stream handler (stderr by default) that clears progress bars around each message."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        with tqdm.external_write_mode(file=self.stream):
            super().emit(record)


__all__ = ["BarSafeHandler", "echo"]
