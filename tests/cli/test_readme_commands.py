"""The README's command lines name commands and options that exist (click's own parser, nothing run).

Every ``layerprobe ...`` line of the README's code blocks (with ``\\`` continuations joined, and the
``-m layerprobe`` of ``accelerate launch`` / ``torchrun`` lines) is walked through the click group:
each subcommand must exist, and each option must be one the command declares.  A renamed option or
command that the README still shows fails here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from layerprobe.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def code_blocks(text: str, *, languages: tuple[str, ...] | None = None) -> list[str]:
    """The contents of the fenced code blocks of a Markdown text, in order (of these languages only)."""
    blocks, current, language = [], None, ""
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current, language = [], line[3:].strip()
            else:
                if languages is None or language in languages:
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def readme_command_lines(text: str) -> list[str]:
    """The layerprobe invocations in the fenced code blocks of ``text`` (continuations joined)."""
    lines = []
    for block in code_blocks(text, languages=("bash", "sh", "console", "")):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()  # a trailing comment
            if line.startswith("#"):
                continue
            for part in line.split("&&"):
                match = re.match(r"\s*(?:\S.*\s)?(?:-m\s+)?layerprobe\s+(.*)$", part)
                if match and not re.match(r"\s*(pip|cd|scripts/)", part):
                    lines.append(" ".join(["layerprobe", *match.group(1).split()]))
    return lines


def check_command_line(line: str) -> list[str]:
    """Problems of one command line: unknown subcommands or options (empty when it parses)."""
    tokens = shlex.split(line)[1:]
    command: click.Command = cli
    path = ["layerprobe"]
    problems = []
    while tokens:
        token = tokens.pop(0)
        if token in ("...", "|") or token.startswith(("<", "$")):
            continue
        if token.startswith("-") and not re.fullmatch(r"-\d+(\.\d+)?", token):
            name = token.split("=", 1)[0]
            options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
            options |= {"-h", "--help"}
            if name not in options:
                problems.append(f"{' '.join(path)}: no option {name}")
            continue
        if isinstance(command, click.Group):
            sub = command.commands.get(token)
            if sub is None:
                problems.append(f"{' '.join(path)}: no command {token!r}")
                return problems
            command = sub
            path.append(token)
    if isinstance(command, click.Group) and command is not cli:
        problems.append(f"{' '.join(path)}: a group, not a command")
    return problems


def test_the_readme_shows_commands():
    lines = readme_command_lines(README.read_text(encoding="utf-8"))
    commands = {shlex.split(line)[1] for line in lines if len(shlex.split(line)) > 1}
    # the tour shows every top-level command the CLI has (a new command gets a line in the README)
    assert sorted(set(cli.commands) - commands) == []
    assert len(lines) >= 30


@pytest.mark.parametrize("line", readme_command_lines(README.read_text(encoding="utf-8")))
def test_readme_command_line_parses(line):
    assert check_command_line(line) == []


def test_the_checker_catches_drift():
    assert check_command_line("layerprobe cca --exp cca_mel --no-such-option 3") == ["layerprobe cca: no option --no-such-option"]
    assert check_command_line("layerprobe attention mapz --model x") == ["layerprobe attention: no command 'mapz'"]
    assert check_command_line("layerprobe extract --model tiny:hubert --rep mel") == []
    assert readme_command_lines("```bash\nlayerprobe cca \\\n    --exp cca_mel  # a comment\n```\n") == ["layerprobe cca --exp cca_mel"]
    assert readme_command_lines("```bash\ntorchrun --nproc_per_node 4 -m layerprobe finetune --seeds 0\n```") == [
        "layerprobe finetune --seeds 0"
    ]


def readme_imports(text: str) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every ``from layerprobe... import ...`` line in the README's code blocks."""
    found = []
    for block in code_blocks(text, languages=("python",)):
        for line in block.splitlines():
            match = re.match(r"\s*from (layerprobe[\w.]*) import ([\w, ]+)", line)
            if match:
                found.append((match.group(1), [name.strip() for name in match.group(2).split(",") if name.strip()]))
    return found


@pytest.mark.parametrize("module, names", readme_imports(README.read_text(encoding="utf-8")))
def test_readme_python_imports_exist(module, names):
    import importlib

    imported = importlib.import_module(module)
    assert [name for name in names if not hasattr(imported, name)] == []


def test_readme_flat_api_names_exist():
    import layerprobe

    used = set(re.findall(r"\blp\.(\w+)", README.read_text(encoding="utf-8")))
    assert sorted(name for name in used if not hasattr(layerprobe, name)) == []
