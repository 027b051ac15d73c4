"""A command's output as a terminal would show it: run it in a pseudo-terminal, replay the bytes on a screen.

Progress bars (tqdm) redraw lines with carriage returns, cursor-up sequences and erase-line
sequences; what a user finally sees is not the byte stream but the screen after replaying it.
:func:`run_in_terminal` runs a command with its stdout and stderr on a pty (so ``isatty()`` is
true and tqdm draws) and :class:`Screen` replays the bytes it wrote.  Only what tqdm and click
write is understood: printable characters, ``\\r``, ``\\n``, backspace, ``ESC [ n A`` (cursor up),
``ESC [ n B`` (down), ``ESC [ n K`` (erase in line); other escape sequences are skipped.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
from collections.abc import Mapping, Sequence

_CSI = re.compile(rb"\x1b\[([0-9;?]*)([A-Za-z])")


class Screen:
    """A terminal screen of ``width`` columns (wrapping as a terminal does) and unbounded height."""

    def __init__(self, width: int = 120) -> None:
        self.width = width
        self.lines: list[list[str]] = [[]]
        self.row = 0
        self.col = 0

    def _put(self, char: str) -> None:
        if self.col >= self.width:  # a terminal wraps before the character that does not fit
            self._newline()
        line = self.lines[self.row]
        line.extend(" " * (self.col + 1 - len(line)))
        line[self.col] = char
        self.col += 1

    def _newline(self) -> None:
        self.row += 1
        self.col = 0
        while len(self.lines) <= self.row:
            self.lines.append([])

    def feed(self, data: bytes) -> None:
        """Replay bytes (UTF-8) written to the terminal (the pty turns ``\\n`` into ``\\r\\n``)."""
        index = 0
        while index < len(data):
            match = _CSI.match(data, index)
            if match:
                count = int(match.group(1) or b"1") if match.group(1).isdigit() else 1
                command = match.group(2)
                if command == b"A":
                    self.row = max(0, self.row - count)
                elif command == b"B":
                    self.row += count
                    while len(self.lines) <= self.row:
                        self.lines.append([])
                elif command == b"K":
                    mode = int(match.group(1) or b"0") if match.group(1).isdigit() else 0
                    line = self.lines[self.row]
                    if mode == 0:
                        del line[self.col:]
                    elif mode == 1:
                        line[: self.col] = [" "] * min(self.col, len(line))
                    else:
                        line.clear()
                index = match.end()
                continue
            byte = data[index]
            if byte == 0x1B:  # another escape: skip it and its final byte
                index += 2
                continue
            if byte == 0x0D:
                self.col = 0
            elif byte == 0x0A:
                self._newline()
            elif byte == 0x08:
                self.col = max(0, self.col - 1)
            elif byte >= 0x20:
                length = 4 if byte >= 0xF0 else 3 if byte >= 0xE0 else 2 if byte >= 0xC0 else 1
                self._put(data[index:index + length].decode("utf-8", errors="replace"))
                index += length
                continue
            index += 1

    def text(self) -> list[str]:
        """The screen's lines, trailing blanks removed, trailing empty lines dropped."""
        lines = ["".join(line).rstrip() for line in self.lines]
        while lines and not lines[-1]:
            lines.pop()
        return lines


def run_in_terminal(argv: Sequence[str], *, env: Mapping[str, str] | None = None, width: int = 120, timeout: float = 120.0) -> tuple[int, list[str]]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal ``width`` columns wide; return (status, screen lines)."""
    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, width, 0, 0))
    environment = {**os.environ, **(env or {}), "COLUMNS": str(width), "TERM": "xterm"}
    process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=environment, close_fds=True)
    os.close(follower)
    screen = Screen(width)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], timeout)
            if not ready:
                process.kill()
                raise TimeoutError(f"{argv[0]} wrote nothing for {timeout} s")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the follower side is closed, the command has ended
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        status = process.wait(timeout=timeout)
    screen.feed(b"".join(chunks))
    return status, screen.text()
