"""``layerprobe models``: the supported model families, spec forms and layer naming."""

from __future__ import annotations

import click

from layerprobe.cli.options import CONTEXT_SETTINGS
from layerprobe.models.catalog import FAMILIES, catalog_lines


@click.command("models", context_settings=CONTEXT_SETTINGS, short_help="List the supported model families and spec forms.")
@click.option("--family", type=click.Choice([info.family for info in FAMILIES]), default=None, metavar="NAME",
              help="Show one family only (e.g. sew-d).")
def models_command(family: str | None) -> None:
    """List the spec forms --model takes and every supported model family with its layer naming.

    For each family: the transformers class, the frame rate of its T layers, which modules give the
    C layers, what T0 and T1..TL are, the published checkpoints that use the class, and its tiny:
    names.  Nothing is loaded.

    \b
    Examples:
      layerprobe models
      layerprobe models --family wav2vec2-bert
    """
    lines = catalog_lines()
    if family is not None:
        start = next(i for i, line in enumerate(lines) if line.startswith(f"  {family} ("))
        lines = lines[start : start + 6]
    for line in lines:
        click.echo(line)


__all__ = ["models_command"]
