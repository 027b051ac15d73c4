"""The options and parameter types the commands share, each defined once.

An option that several commands take is a factory here that takes only what differs between them
(the help text, a default, whether it is required): ``@model_option(help=MODEL_OF_FEATURES)``,
``@split_option()``, ``@out_file_option("results/cca.csv")``.  Options that are the same everywhere
are plain decorators (``@progress_option``, ``@revision_option``).  The parameter types parse what
layerprobe parses itself with :mod:`layerprobe.selections` (integer lists, utterance selections),
so every command accepts and refuses the same texts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import click

from layerprobe.jobs.launch import CLUSTERS, LaunchOptions
from layerprobe.selections import SelectionError, parse_integers, parse_utterances

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

Decorator = Callable[[Callable], Callable]

SPANS = ("frame", "phone", "word", "all_words")

#: Help of --model for commands that load the model.
MODEL_TO_LOAD = "hf:ID_OR_DIR, fairseq:CKPT.pt or tiny:FAMILY."
#: Help of --model for commands that read stored features.
MODEL_OF_FEATURES = "Model spec the features were extracted with (tiny:wav2vec2, hf:...)."
#: Help of a result-table --out.
RESULT_TABLE = "Result table (CSV; a JSON sidecar goes next to it)."
#: Help of --device.
DEVICES = "cpu, cuda, cuda:1 ..."


def stack(*decorators: Decorator) -> Decorator:
    """One decorator applying ``decorators`` as if written one above the other, in this order."""

    def apply(func: Callable) -> Callable:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


# --------------------------------------------------------------------------------------------------
# parameter types


def _hinted(param: click.Parameter | None, ctx: click.Context | None, message: str, quoted: bool) -> click.BadParameter:
    """A BadParameter naming the option quoted (click's own style) or bare (``Invalid value for --iters``)."""
    hint = None if quoted or param is None or not getattr(param, "opts", None) else param.opts[0]
    return click.BadParameter(message, ctx=ctx, param=param, param_hint=hint)


class IntegerList(click.ParamType):
    """A comma-separated list of non-negative integers (and ranges ``a-b``), ASCII digits only.

    ``mode="sorted"``: the distinct values in increasing order (``--iters``); ``mode="distinct"``:
    the values in the order given, a repeat refused, as a tuple (``--seeds``).  The metavar stays
    click's ``TEXT``.
    """

    name = "text"

    def __init__(self, *, mode: str = "sorted", ranges: bool = True):
        self.mode = mode
        self.ranges = ranges

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (list, tuple)):
            return value
        text = str(value)
        if self.mode == "sorted":
            try:
                return sorted(set(parse_integers(text, ranges=self.ranges)))
            except SelectionError as exc:
                if exc.reason == "backwards":
                    message = f"the range {exc.part} is empty"
                elif exc.reason == "too_many":
                    message = str(exc)
                else:
                    message = f"{text[:60]!r} is not a list of non-negative integers or ranges (0-4, 0,2,5)"
                raise _hinted(param, ctx, message, quoted=False) from None
        try:
            values = parse_integers(text, ranges=self.ranges, skip_empty=True)
        except SelectionError:
            raise _hinted(param, ctx, f"expected comma-separated non-negative integers, got {text!r}", quoted=True) from None
        if not values:
            raise _hinted(param, ctx, f"expected comma-separated non-negative integers, got {text!r}", quoted=True)
        if len(set(values)) != len(values):
            raise _hinted(param, ctx, f"seeds repeat: {text!r}", quoted=True)
        return tuple(values)

    @staticmethod
    def to_text(value: Any) -> str:
        return ",".join(str(v) for v in value)


class UtteranceSelection(click.ParamType):
    """Utterance ids (comma-separated), the first N, or (``allow_all``) all.

    Converts to a count, a list of ids or ``"all"`` (:func:`layerprobe.selections.parse_utterances`);
    ``empty`` is the message for a selection of nothing (None: allowed).  The metavar stays ``TEXT``.
    """

    name = "text"

    def __init__(self, *, allow_all: bool = False, empty: str | None = None):
        self.allow_all = allow_all
        self.empty = empty

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        chosen = parse_utterances(value, allow_all=self.allow_all)
        if self.empty is not None and not chosen:
            raise _hinted(param, ctx, self.empty, quoted=False)
        return chosen

    @staticmethod
    def to_text(value: Any) -> str:
        return ",".join(value) if isinstance(value, list) else str(value)


# --------------------------------------------------------------------------------------------------
# options shared by many commands

progress_option = click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show progress bars (on a terminal)."
)

revision_option = click.option("--revision", default=None, help="hf: a branch, tag or commit of the model repository.")


def model_option(help: str = MODEL_TO_LOAD, *, required: bool = True, default: str | None = None) -> Decorator:
    """``--model`` (parameter ``model_spec``): a model spec, hf:..., fairseq:... or tiny:...."""
    return click.option("--model", "model_spec", required=required, default=default, show_default=default is not None, help=help)


def corpus_option(help: str = "Corpus name of the data-sample set.", *, required: bool = True) -> Decorator:
    """``--corpus``: the corpus name (or its directory) of the data-sample sets to read."""
    return click.option("--corpus", required=required, default=None, help=help)


def corpus_dir_option(dest: str, help: str) -> Decorator:
    """``--corpus`` as an existing corpus directory (the commands that read audio and transcripts)."""
    return click.option("--corpus", dest, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), help=help)


def split_option(help: str = "Split of the data-sample set.", *, required: bool = True) -> Decorator:
    return click.option("--split", required=required, default=None, help=help)


def sample_option(help: str = "Sample id k.", *, default: int | None = 1) -> Decorator:
    """``--sample`` (parameter ``sample_id``): the data-sample id k."""
    return click.option("--sample", "sample_id", type=click.IntRange(min=0), default=default, show_default=default is not None, help=help)


def span_option(help: str, *, required: bool = False, default: str | None = None, choices: tuple[str, ...] = SPANS) -> Decorator:
    return click.option("--span", required=required, type=click.Choice(list(choices)), default=default,
                        show_default=default is not None, help=help)  # fmt: skip


def layers_option(help: str, *, alias: bool = True, dest: str = "layers", default: str | None = "all") -> Decorator:
    """``--layers`` (and ``--layer`` with ``alias``): a layer spec, parsed by :mod:`layerprobe.layers`."""
    names = ("--layers", "--layer") if alias else ("--layers",)
    return click.option(*names, dest, default=default, show_default=default is not None, help=help)


def seed_option(help: str, *, default: int | None = 0) -> Decorator:
    return click.option("--seed", type=click.IntRange(min=0), default=default, show_default=default is not None, help=help)


def device_option(help: str = DEVICES) -> Decorator:
    return click.option("--device", default="cpu", show_default=True, help=help)


def features_option(help: str = "Root of the feature stores (extract --out).") -> Decorator:
    """``--features``: the root folder of the feature stores to read."""
    return click.option("--features", type=click.Path(file_okay=False, path_type=Path), default=Path("features"), show_default=True, help=help)


def samples_dir_option(help: str = "Where the data-sample sets are.") -> Decorator:
    return click.option("--samples-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data_samples"),
                        show_default=True, help=help)  # fmt: skip


def manifest_option(help: str) -> Decorator:
    return click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help=help)


def store_root_option(help: str = "Root of the feature stores.") -> Decorator:
    """``--out``: the root folder the feature stores are written under."""
    return click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("features"), show_default=True, help=help)


def out_dir_option(help: str, *, default: Path | None = None, required: bool = False) -> Decorator:
    """``--out``: a folder to write."""
    return click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=default, required=required,
                        show_default=default is not None, help=help)  # fmt: skip


def out_file_option(default: str, *, flag: str = "--out", help: str = RESULT_TABLE) -> Decorator:
    """``--out`` (or ``flag``): a file to write, by default the result table a command adds its rows to."""
    return click.option(flag, type=click.Path(dir_okay=False, path_type=Path), default=Path(default), show_default=True, help=help)


def overwrite_option(help: str) -> Decorator:
    return click.option("--overwrite", is_flag=True, help=help)


def pre_softmax_option(help: str) -> Decorator:
    return click.option("--pre-softmax", is_flag=True, help=help)


#: The defaults of layerprobe.extraction (DEFAULT_MAX_SECONDS, DEFAULT_MAX_ATTENTION_FRAMES), kept
#: here so that the command line starts without importing it (a test checks they agree).
MAX_SECONDS_DEFAULT = 120.0
MAX_FRAMES_DEFAULT = 2000


def max_seconds_option(func: Callable) -> Callable:
    """``--max-seconds``: refuse a model run whose sample has a longer utterance (0: no limit)."""
    return click.option("--max-seconds", type=click.FloatRange(min=0), default=MAX_SECONDS_DEFAULT, show_default=True,
                        help="Refuse up front a sample with an utterance longer than this (a model holds every layer "
                             "of an utterance in memory: README, Performance); 0: no limit.")(func)  # fmt: skip


def max_frames_option(func: Callable) -> Callable:
    """``--max-frames``: refuse attention maps of an utterance with more transformer frames (0: no limit)."""
    return click.option("--max-frames", type=click.IntRange(min=0), default=MAX_FRAMES_DEFAULT, show_default=True,
                        help="Refuse up front attention maps of an utterance with more frames (50 per second): one "
                             "block's maps need heads x T^2 x 14 bytes (20 with --pre-softmax), 2000 frames and 12 "
                             "heads 0.67 GB; 0: no limit.")(func)  # fmt: skip


def window_seconds_option(func: Callable) -> Callable:
    """``--window-seconds``: run longer utterances as consecutive windows (Whisper)."""
    return click.option("--window-seconds", type=float, default=None,
                        help="Run utterances longer than this as consecutive windows of it, frames concatenated "
                             "(Whisper: 30; window k starts at k x this; recorded in the store) [default: refuse "
                             "utterances longer than the model's input].")(func)  # fmt: skip


def utterances_option(help: str, *, default: str, allow_all: bool, empty: str) -> Decorator:
    """``--utterances``: utterance ids, the first N (or all)."""
    return click.option("--utterances", type=UtteranceSelection(allow_all=allow_all, empty=empty), default=default,
                        show_default=True, help=help)  # fmt: skip


def training_splits_options(train_help: str, dev_help: str, test_help: str = "Split scored into the result table.") -> Decorator:
    """``--train``, ``--dev`` and ``--test``: the splits a CTC training run (probe, fine-tune) reads."""
    return stack(
        click.option("--train", "train_split", default="train", show_default=True, help=train_help),
        click.option("--dev", "dev_split", default="dev", show_default=True, help=dev_help),
        click.option("--test", "test_split", default="test", show_default=True, help=test_help),
    )


def train_list_option(help: str) -> Decorator:
    return click.option("--train-list", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help=help)


def lr_option(default: float, help: str) -> Decorator:
    return click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=default, show_default=True, help=help)


def epochs_option(default: int, help: str) -> Decorator:
    return click.option("--epochs", type=click.IntRange(min=1), default=default, show_default=True, help=help)


def lm_options(lm_help: str) -> Decorator:
    """``--lm`` and the beam search's ``--beam-width``, ``--lm-alpha``, ``--lm-beta``."""
    return stack(
        click.option("--lm", "lm_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help=lm_help),
        click.option("--beam-width", type=click.IntRange(min=1), default=50, show_default=True, help="With --lm: beams kept per frame."),
        click.option("--lm-alpha", type=float, default=0.5, show_default=True, help="With --lm: weight of the LM score."),
        click.option("--lm-beta", type=float, default=1.0, show_default=True, help="With --lm: bonus per word."),
    )  # fmt: skip


def untrained_baseline_option(help: str) -> Decorator:
    return click.option("--untrained-baseline", is_flag=True, help=help)


def corpus_format_options(func: Callable) -> Callable:
    """The options that say how to open a corpus directory (shared by the commands that read one)."""
    return stack(
        click.option("--format", "corpus_format", type=click.Choice(["auto", "librispeech", "timit", "folder", "hf"]), default="auto",
                     show_default=True, help="Layout of the corpus directory."),
        click.option("--alignments", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
                     help="LibriSpeech: directory of the alignment TextGrids (split/speaker/chapter/utt.TextGrid)."),
        click.option("--corpus-name", default=None, help="Name used in output paths (default: the directory's name)."),
    )(func)  # fmt: skip


def tier_options(func: Callable) -> Callable:
    """``--phone-tier`` / ``--word-tier``: the TextGrid tier names, for the commands that read alignments."""
    return stack(
        click.option("--phone-tier", default=None, metavar="NAME",
                     help="TextGrid tier of the phones [default: the first of phones, phone, phonemes, ...]."),
        click.option("--word-tier", default=None, metavar="NAME",
                     help="TextGrid tier of the words [default: the first of words, word, wrds, wrd]."),
    )(func)  # fmt: skip


def open_corpus_dir(
    path: Path,
    corpus_format: str,
    corpus_name: str | None,
    alignments: Path | None,
    phone_tier: str | None = None,
    word_tier: str | None = None,
):
    """The corpus the :func:`corpus_format_options` (and :func:`tier_options`) describe."""
    from layerprobe.data.corpora import open_corpus

    return open_corpus(path, format=corpus_format, name=corpus_name, alignments=alignments, phone_tier=phone_tier,
                       word_tier=word_tier)  # fmt: skip


# --------------------------------------------------------------------------------------------------
# launcher options

#: Parameter names of the launcher options (left out of the tasks' command lines).
LAUNCHER_PARAMS = (
    "launcher", "cluster", "jobs_dir", "retries", "timeout_min", "partition", "gpus", "cpus", "mem_gb", "max_parallel", "wait",
)  # fmt: skip


def launcher_options(func: Callable) -> Callable:
    """Add ``--launcher`` and the job options to a click command."""
    return stack(
        click.option("--launcher", type=click.Choice(["none", "submitit"]), default="none", show_default=True,
                     help="submitit: run the shards / layers as a job array (SLURM, or local processes)."),
        click.option("--cluster", type=click.Choice(CLUSTERS), default="auto", show_default=True,
                     help="submitit cluster: auto = slurm where sbatch exists, else local processes; debug = in this process (pdb on failure)."),
        click.option("--jobs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("layerprobe-jobs"),
                     show_default=True, help="submitit: job scripts, logs and the launch record (layerprobe status)."),
        click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True, help="submitit: resubmissions of a failed task."),
        click.option("--timeout-min", type=click.IntRange(min=1), default=240, show_default=True, help="submitit: wall-clock limit per job (minutes)."),
        click.option("--partition", default=None, help="submitit: SLURM partition."),
        click.option("--gpus", type=click.IntRange(min=0), default=0, show_default=True, help="submitit: GPUs per job."),
        click.option("--cpus", type=click.IntRange(min=1), default=2, show_default=True, help="submitit: CPUs per job."),
        click.option("--mem-gb", type=click.FloatRange(min=0, min_open=True), default=None, help="submitit: memory per job (GB)."),
        click.option("--max-parallel", type=click.IntRange(min=1), default=None, help="submitit: most jobs of the array at once."),
        click.option("--wait/--no-wait", default=True, show_default=True, help="submitit: wait for the jobs (and retry failures)."),
    )(func)  # fmt: skip


def launch_options(params: Mapping[str, Any]) -> LaunchOptions:
    """The :class:`LaunchOptions` a command's parsed launcher options ask for."""
    return LaunchOptions(
        jobs_dir=params["jobs_dir"], cluster=params["cluster"], retries=params["retries"], timeout_min=params["timeout_min"],
        partition=params["partition"], gpus=params["gpus"], cpus=params["cpus"], mem_gb=params["mem_gb"],
        max_parallel=params["max_parallel"],
    )  # fmt: skip


__all__ = [
    "MAX_FRAMES_DEFAULT",
    "MAX_SECONDS_DEFAULT",
    "max_frames_option",
    "max_seconds_option",
    "window_seconds_option",
    "CONTEXT_SETTINGS", "DEVICES", "IntegerList", "LAUNCHER_PARAMS", "MODEL_OF_FEATURES", "MODEL_TO_LOAD", "RESULT_TABLE",
    "UtteranceSelection", "corpus_dir_option", "corpus_format_options", "corpus_option", "device_option", "epochs_option",
    "features_option", "launch_options", "launcher_options", "layers_option", "lm_options", "lr_option", "manifest_option",
    "model_option", "open_corpus_dir", "out_dir_option", "overwrite_option", "pre_softmax_option", "progress_option",
    "out_file_option", "revision_option", "sample_option", "samples_dir_option", "seed_option", "span_option", "split_option",
    "stack", "store_root_option", "tier_options", "train_list_option", "untrained_baseline_option", "utterances_option",
]  # fmt: skip
