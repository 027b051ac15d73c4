"""The ``layerprobe`` command line: a click group whose commands are thin wrappers over the library.

Errors the user can cause are printed as one line (``layerprobe: error: FILE: problem``) with a
non-zero exit status and no traceback; ``-v`` adds the traceback.  Exit statuses: 1 for bad input
or a failed step, 2 for a bad command line, 3 for an internal error (a bug: please report it),
130 when interrupted.

The commands live in one module per group (:mod:`~layerprobe.cli.corpus`, ``sample``, ``extract``,
``jobs`` (merge, status), ``cca``, ``mi``, ``words`` (wordvec, wordsim), ``awd``, ``segment``, ``sts``, ``attention``, ``plot``,
``demo``, ``models``, ``training`` (probe, finetune), ``audiate``, ``importers`` (import-reference)); the options
they share are defined once in :mod:`layerprobe.cli.options`.
"""

from __future__ import annotations

import logging
import sys
import traceback

import click

from layerprobe import __version__
from layerprobe.cli.attention import attention
from layerprobe.cli.audiate import audiate_command
from layerprobe.cli.awd import awd_command
from layerprobe.cli.segment import segment_command
from layerprobe.cli.cca import cca_command
from layerprobe.cli.console import BarSafeHandler
from layerprobe.cli.corpus import corpus
from layerprobe.cli.demo import demo_command
from layerprobe.cli.extract import extract_command
from layerprobe.cli.importers import import_reference_command
from layerprobe.cli.jobs import merge_command, status_command
from layerprobe.cli.mi import mi_command
from layerprobe.cli.models import models_command
from layerprobe.cli.options import CONTEXT_SETTINGS
from layerprobe.cli.plot import plot_command
from layerprobe.cli.sample import sample_command
from layerprobe.cli.sts import sts_command, synth_sts_command
from layerprobe.cli.training import finetune_command, probe_command
from layerprobe.cli.words import wordsim_command, wordvec_command
from layerprobe.errors import LayerprobeError

log = logging.getLogger("layerprobe")

EXIT_INPUT, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 3, 130

#: Set by the group's -v/--verbose; read by :func:`main` to decide whether to show tracebacks.
_verbosity = 0


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="layerprobe")
@click.option("-v", "--verbose", count=True, help="More messages; -v also shows tracebacks, -vv debug messages.")
def cli(verbose: int) -> None:
    """layerprobe: what does each layer of a self-supervised speech model know?

    Make, align or read a corpus with time alignments and draw reproducible data-sample sets from
    it; extract every layer of a model once into feature stores (sharded, or as cluster jobs); then
    score the layers: CCA against mel, phones, words and word embeddings, mutual information of
    k-means clusters, word similarity of static word vectors, acoustic word discrimination, attention maps and patterns, CTC
    probes on frozen layers and fine-tuning with re-initialised or local-attention blocks, and
    audiation of single units; plot the layer-trend curves.

    \b
    Start with the demo, which works offline:
      layerprobe demo
    """
    global _verbosity
    _verbosity = verbose
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    # Only layerprobe's own messages get more verbose; other libraries stay at warnings.
    # Log lines clear the progress bars first (a line written under a bar would start after its text).
    logging.basicConfig(format="layerprobe: %(message)s", level=logging.WARNING, force=True, handlers=[BarSafeHandler()])
    logging.getLogger("layerprobe").setLevel(level)


for _command in (
    corpus, sample_command, extract_command, merge_command, status_command, cca_command, mi_command, wordvec_command,
    wordsim_command, awd_command, attention, plot_command, demo_command, probe_command, audiate_command, finetune_command,
    import_reference_command, models_command, segment_command, sts_command,
):  # fmt: skip
    cli.add_command(_command)
corpus.add_command(synth_sts_command)


def _command_path(exc: click.ClickException) -> str:
    ctx = getattr(exc, "ctx", None)
    return ctx.command_path if ctx is not None else "layerprobe"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn every error into one line on stderr and an exit status."""
    try:
        result = cli.main(args=argv, prog_name="layerprobe", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("layerprobe: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("layerprobe: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        hint = f" (see '{_command_path(exc)} --help')" if isinstance(exc, click.UsageError) else ""
        message = " ".join(exc.format_message().split())
        click.echo(f"{_command_path(exc)}: error: {message}{hint}", err=True)
        sys.exit(exc.exit_code)
    except LayerprobeError as exc:
        if _verbosity:
            traceback.print_exc()
        click.echo(f"layerprobe: error: {exc}", err=True)
        sys.exit(EXIT_INPUT)
    except BrokenPipeError:
        sys.exit(EXIT_INPUT)
    except OSError as exc:  # the file system refused: a path under a file, a name too long, no permission, a full disk
        if _verbosity:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        message = " ".join(f"{where}{exc.strerror or exc}".split())
        click.echo(f"layerprobe: error: {message}", err=True)
        sys.exit(EXIT_INPUT)
    except Exception as exc:  # a bug: still one line unless -v, but say it is ours
        if _verbosity:
            traceback.print_exc()
        message = " ".join(str(exc).split()) or type(exc).__name__
        click.echo(
            f"layerprobe: internal error: {type(exc).__name__}: {message} (rerun with -v for the traceback; please report it)",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(result if isinstance(result, int) else 0)


__all__ = ["cli", "main"]
