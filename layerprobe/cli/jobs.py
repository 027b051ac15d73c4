"""``layerprobe merge`` and ``layerprobe status``: join shard files, and see what is done."""

from __future__ import annotations

from pathlib import Path

import click

from layerprobe.cli.options import CONTEXT_SETTINGS


@click.command("merge", context_settings=CONTEXT_SETTINGS, short_help="Join the shard files of feature stores.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--remove-shards", is_flag=True, help="Delete the shard files after a successful merge.")
def merge_command(directory: Path, remove_shards: bool) -> None:
    """Join the shard files (<rep>_<span>.shard-I-of-N.h5) in DIRECTORY into one store each.

    The merged store holds the same rows in the same order as a single-process run.

    \b
    Example:
      layerprobe merge features/hf_facebook_wav2vec2-base/LibriSpeech_dev-clean_sample1
    """
    from layerprobe.io.store import merge_directory

    merged = merge_directory(directory, remove_shards=remove_shards)
    if not merged:
        raise click.UsageError(f"no shard files (*.shard-*-of-*.h5) in {directory}")
    for path in merged:
        click.echo(f"merged -> {path}")


@click.command("status", context_settings=CONTEXT_SETTINGS, short_help="Show which stores, shards, layers and jobs are done.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def status_command(directory: Path) -> None:
    """List the feature stores (complete, partial, shards done / missing), the layers in each result
    table and the tasks of launched job arrays found under DIRECTORY.

    Reads names, result tables and launch records only: safe while jobs are running.

    \b
    Examples:
      layerprobe status features/
      layerprobe status .
      layerprobe status layerprobe-jobs
    """
    from layerprobe.jobs.status import collect_status, format_status

    for line in format_status(collect_status(directory)):
        click.echo(line)


__all__ = ["merge_command", "status_command"]
