"""The ``layerprobe`` command line: a click group whose commands are thin wrappers over the library.

Errors the user can cause are printed as one line (``layerprobe: error: FILE: problem``) with a
non-zero exit status and no traceback; ``-v`` adds the traceback.  Exit statuses: 1 for bad input
or a failed step, 2 for a bad command line, 3 for an internal error (a bug: please report it),
130 when interrupted.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from layerprobe import __version__
from layerprobe.errors import LayerprobeError
from layerprobe.launch_cli import launcher_options, run_launch, task_argv

log = logging.getLogger("layerprobe")

EXIT_INPUT, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 3, 130

#: Set by the group's -v/--verbose; read by :func:`main` to decide whether to show tracebacks.
_verbosity = 0

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="layerprobe")
@click.option("-v", "--verbose", count=True, help="More messages; -v also shows tracebacks, -vv debug messages.")
def cli(verbose: int) -> None:
    """layerprobe: what does each layer of a self-supervised speech model know?

    Make or read a corpus with time alignments, draw reproducible data-sample sets from it, and
    (in the commands to come) extract every layer once and run the layer-wise analyses.

    \b
    Start with the demo, which works offline:
      layerprobe demo
    """
    global _verbosity
    _verbosity = verbose
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    # Only layerprobe's own messages get more verbose; other libraries stay at warnings.
    logging.basicConfig(format="layerprobe: %(message)s", level=logging.WARNING, force=True)
    logging.getLogger("layerprobe").setLevel(level)


# --------------------------------------------------------------------------------------------------
# corpus


@cli.group(context_settings=CONTEXT_SETTINGS)
def corpus() -> None:
    """Make, align and inspect corpora.

    \b
    Examples:
      layerprobe corpus synth --out synth --n 200 --seed 0
      layerprobe corpus align clips/ --transcripts clips/transcripts.txt --out clips-aligned/
      layerprobe corpus info synth
    """


_progress_option = click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show progress bars (on a terminal)."
)


def _corpus_options(func):
    """The options that say how to open a corpus directory (shared by the commands that read one)."""
    func = click.option(
        "--corpus-name", default=None, help="Name used in output paths (default: the directory's name)."
    )(func)
    func = click.option(
        "--alignments",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="LibriSpeech: directory of the alignment TextGrids (split/speaker/chapter/utt.TextGrid).",
    )(func)
    func = click.option(
        "--format",
        "corpus_format",
        type=click.Choice(["auto", "librispeech", "timit", "folder"]),
        default="auto",
        show_default=True,
        help="Layout of the corpus directory.",
    )(func)
    return func


def _open_corpus(path: Path, corpus_format: str, corpus_name: str | None, alignments: Path | None):
    from layerprobe.data.corpora import open_corpus

    return open_corpus(path, format=corpus_format, name=corpus_name, alignments=alignments)


@corpus.command("info", context_settings=CONTEXT_SETTINGS)
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_corpus_options
def corpus_info(path: Path, corpus_format: str, corpus_name: str | None, alignments: Path | None) -> None:
    """Show a corpus's layout, splits, utterance counts, hours and alignment coverage.

    \b
    Example:
      layerprobe corpus info /data/LibriSpeech --alignments /data/librispeech_alignments
    """
    from layerprobe.data.corpora import format_seconds, summarize_split

    handle = _open_corpus(path, corpus_format, corpus_name, alignments)
    splits = handle.splits()
    click.echo(f"{handle.name}: {handle.format} corpus at {handle.root}")
    if not splits:
        click.echo("  no splits with audio")
    for split in splits:
        summary = summarize_split(handle, split)
        click.echo(
            f"  {split}: {summary.n_utterances} utterances, {format_seconds(summary.seconds)}, "
            f"{summary.n_aligned} with alignments, {summary.n_transcribed} with transcripts"
        )


@corpus.command("synth", context_settings=CONTEXT_SETTINGS)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Corpus directory to create.")
@click.option("--n", "n_utterances", type=click.IntRange(min=1), default=200, show_default=True, help="Utterances.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of sentences, voices and rates.")
@click.option("--overwrite", is_flag=True, help="Replace an existing corpus directory.")
@_progress_option
def corpus_synth(out: Path, n_utterances: int, seed: int, overwrite: bool, progress: bool) -> None:
    """Synthesize an English corpus with eSpeak NG: 16 kHz WAV + TextGrid with exact timings, offline.

    Sentences from a seeded grammar are spoken in 8 voices (American and British, male and female)
    at rates of 140-190 words per minute, and split 80/10/10 into train, dev and test with
    different sentences.  Phone and word times are the synthesizer's own events; phones are
    ARPAbet-39 classes (tier "phones") and eSpeak's IPA (tier "phones_ipa").  Same seed, same files.

    \b
    Example:
      layerprobe corpus synth --out synth --n 200 --seed 0
    """
    from layerprobe.data.corpora import format_seconds
    from layerprobe.data.synth import synthesize_corpus

    report = synthesize_corpus(out, n=n_utterances, seed=seed, overwrite=overwrite, progress=progress)
    splits = ", ".join(f"{split} {count}" for split, count in report.counts.items())
    click.echo(
        f"synthesized {report.n_utterances} utterances ({splits}; {format_seconds(report.total_seconds)} of speech, "
        f"{report.n_words} words, {report.n_phones} phones) with eSpeak NG {report.espeak_version} -> {report.out_dir}"
    )


@corpus.command("align", context_settings=CONTEXT_SETTINGS)
@click.argument("audio_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--transcripts",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File of 'utt_id text' lines [default: a same-named .txt beside each audio file].",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder for the TextGrids.")
@click.option(
    "--oov",
    type=click.Choice(["g2p", "skip", "error"]),
    default="g2p",
    show_default=True,
    help="Words missing from the dictionary: pronounce them with eSpeak NG, skip their utterances, or stop.",
)
@click.option(
    "--dict",
    "dictionary",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Extra pronunciations in CMU format (WORD PH1 PH2 ...).",
)
@_progress_option
def corpus_align(
    audio_dir: Path, transcripts: Path | None, out: Path, oov: str, dictionary: Path | None, progress: bool
) -> None:
    """Force-align audio that has only transcripts: writes word and phone TextGrids (PocketSphinx, offline).

    Phones are ARPAbet-39 classes; words missing from the CMU dictionary are reported, never
    dropped.  Put the TextGrids beside the audio (--out AUDIO_DIR) to read the folder as a corpus.

    \b
    Example:
      layerprobe corpus align clips/ --transcripts clips/transcripts.txt --out clips/
    """
    from layerprobe.data.align import align_corpus

    report = align_corpus(audio_dir, transcripts, out, oov=oov, dictionary=dictionary, progress=progress)
    click.echo(report.summary())
    if not report.aligned:
        from layerprobe.errors import CorpusError

        raise CorpusError("no utterance was aligned (the report above and align_report.json say why)", path=out)


# --------------------------------------------------------------------------------------------------
# sample


@cli.command("sample", context_settings=CONTEXT_SETTINGS, short_help="Draw a reproducible data-sample set from a corpus split.")
@click.option(
    "--corpus",
    "corpus_path",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Corpus directory (LibriSpeech, TIMIT, or a folder of audio + TextGrids).",
)
@click.option("--split", required=True, help="Split to sample (e.g. train, dev-clean, test).")
@click.option("--span", required=True, type=click.Choice(["frame", "phone", "word"]), help="What is sampled.")
@click.option("--sample", "sample_id", type=click.IntRange(min=0), default=1, show_default=True, help="Sample id k.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed of the draw [default: the sample id].")
@click.option(
    "--role",
    type=click.Choice(["auto", "train", "eval"]),
    default="auto",
    show_default=True,
    help="Which published counts apply; auto: train when the split's name contains 'train'.",
)
@click.option("--n-utterances", type=click.IntRange(min=1), default=None, help="Frame span: utterances [500].")
@click.option("--n-labels", type=click.IntRange(min=1), default=None, help="Keep the N most frequent labels [word: 500].")
@click.option("--min-per-label", type=click.IntRange(min=1), default=None, help="Fewest instances per label.")
@click.option("--max-per-label", type=click.IntRange(min=1), default=None, help="Most instances per label.")
@click.option(
    "--labels-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Use the labels of this manifest (or text file, one per line), e.g. the training sample's words.",
)
@click.option(
    "--max-subset-duration",
    type=click.FloatRange(min=0, min_open=True),
    default=10_000.0,
    show_default=True,
    help="Seconds of audio per subset (subsets are extracted in parallel).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data_samples"),
    show_default=True,
    help="Directory of data-sample sets; the manifest goes to OUT/<corpus>/<split>_<span>_sample<k>.json.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing manifest that differs.")
@_progress_option
@_corpus_options
def sample_command(
    corpus_path: Path,
    split: str,
    span: str,
    sample_id: int,
    seed: int | None,
    role: str,
    n_utterances: int | None,
    n_labels: int | None,
    min_per_label: int | None,
    max_per_label: int | None,
    labels_from: Path | None,
    max_subset_duration: float,
    out: Path,
    overwrite: bool,
    progress: bool,
    corpus_format: str,
    corpus_name: str | None,
    alignments: Path | None,
) -> None:
    """Draw a reproducible data-sample set (utterances or phone/word segments) from a corpus split.

    The counts follow the layer-wise analysis papers (500 utterances; 3000-7000 training instances
    per phone, 200 for evaluation; the 500 most frequent words with 600-1200 training instances, 15
    for evaluation); the options change them.  Same corpus, options and seed: same file, byte for byte.

    \b
    Examples:
      layerprobe sample --corpus synth --split train --span phone --sample 1 --min-per-label 20 --max-per-label 50
      layerprobe sample --corpus /data/LibriSpeech --alignments /data/ls_alignments \\
          --split dev-clean --span word --labels-from data_samples/LibriSpeech/train-clean-100_word_sample1.json
    """
    from layerprobe.data.samples import SamplingRule, default_role, draw_sample, manifest_path, read_label_list, write_manifest

    handle = _open_corpus(corpus_path, corpus_format, corpus_name, alignments)
    chosen_role = default_role(split) if role == "auto" else role
    rule = SamplingRule.default(
        span,
        chosen_role,
        n_utterances=n_utterances,
        n_labels=n_labels,
        min_per_label=min_per_label,
        max_per_label=max_per_label,
        max_subset_duration_s=max_subset_duration,
    )
    labels = read_label_list(labels_from) if labels_from is not None else None
    manifest = draw_sample(handle, split, span=span, sample=sample_id, seed=seed, rule=rule, labels=labels, progress=progress)
    path = write_manifest(manifest, manifest_path(out, handle.name, split, span, sample_id), overwrite=overwrite)
    click.echo(f"{manifest.describe()} -> {path}")


# --------------------------------------------------------------------------------------------------
# extract, merge


@cli.command("extract", context_settings=CONTEXT_SETTINGS, short_help="Store every layer of a model over a data-sample set.")
@click.option("--model", "model_spec", default=None, help="hf:ID_OR_DIR, fairseq:CKPT.pt or tiny:FAMILY (not needed for --rep mel).")
@click.option("--revision", default=None, help="hf: a branch, tag or commit of the model repository.")
@click.option("--corpus", "corpus", default=None, help="Corpus name (or its directory) whose data-sample set to read.")
@click.option("--split", default=None, help="Split of the data-sample set.")
@click.option("--sample", "sample_id", type=click.IntRange(min=0), default=1, show_default=True, help="Sample id k.")
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A data-sample manifest given directly (instead of --corpus/--split/--sample/--span).",
)
@click.option("--rep", type=click.Choice(["local", "contextualized", "mel"]), required=True, help="Which layers.")
@click.option("--span", type=click.Choice(["frame", "phone", "word"]), default=None, help="Span of the data-sample set.")
@click.option("--layers", default="all", show_default=True, help="Layers within the rep: all, T4, T0-T12, C1,C3 ...")
@click.option("--dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True, help="On-disk precision.")
@click.option("--shard", default=None, help="Process shard I of N (I/N, 1-based); auto: from SLURM_ARRAY_TASK_ID or torchrun's RANK/WORLD_SIZE.")
@click.option("--shards", type=click.IntRange(min=1), default=None, help="With --launcher submitit: run N shard jobs (then `layerprobe merge`).")
@click.option("--attention", default=None, help="Store attention maps for these utterance ids (comma-separated) or the first N.")
@click.option("--pre-softmax", is_flag=True, help="With --attention: also store the logits before the softmax.")
@click.option("--batch-seconds", type=click.FloatRange(min=0), default=120.0, show_default=True, help="Padded audio per batch (models that batch exactly).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1 ...")
@click.option("--samples-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data_samples"), show_default=True, help="Where the data-sample sets are.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("features"), show_default=True, help="Root of the feature stores.")
@click.option("--overwrite", is_flag=True, help="Replace an existing complete store.")
@_progress_option
@launcher_options
def extract_command(
    model_spec: str | None,
    revision: str | None,
    corpus: str | None,
    split: str | None,
    sample_id: int,
    manifest: Path | None,
    rep: str,
    span: str | None,
    layers: str,
    dtype: str,
    shard: str | None,
    shards: int | None,
    attention: str | None,
    pre_softmax: bool,
    batch_seconds: float,
    device: str,
    samples_dir: Path,
    out: Path,
    overwrite: bool,
    progress: bool,
    **launcher: Any,
) -> None:
    """Run a model over a data-sample set and store every layer at frame, phone or word level (HDF5).

    The store goes to OUT/<model>/<corpus>_<split>_sample<k>/<rep>_<span>.h5; an interrupted run
    resumes where it stopped.  With --shard I/N each process writes one shard; `layerprobe merge`
    joins them.  --shard auto takes I/N from a SLURM array or torchrun; --launcher submitit
    --shards N submits the N shards as a job array itself (finished shards are skipped, failed
    ones retried alone).

    \b
    Examples:
      layerprobe extract --model tiny:wav2vec2 --corpus demo --split train --sample 1 --rep contextualized --span phone
      layerprobe extract --model hf:/models/wav2vec2-base --corpus LibriSpeech --split dev-clean \\
          --rep local --span frame --shard 3/16
      layerprobe extract --model hf:/models/wav2vec2-base --corpus LibriSpeech --split train-clean-100 \\
          --rep contextualized --span frame --launcher submitit --shards 64 --partition gpu --gpus 1
    """
    from layerprobe.data.corpora import corpus_name, format_seconds
    from layerprobe.data.samples import manifest_path, read_manifest
    from layerprobe.extract import Shard, extract, extraction_path
    from layerprobe.launch import shard_from_environment

    if manifest is None:
        missing = [name for name, value in (("--corpus", corpus), ("--split", split), ("--span", span)) if value is None]
        if missing:
            raise click.UsageError(f"give --manifest, or {', '.join(missing)} to find the data-sample set")
        manifest = manifest_path(samples_dir, corpus_name(Path(corpus).name), split, span, sample_id)
    sample_set = read_manifest(manifest)
    if span is not None and span != sample_set.span:
        raise click.BadParameter(f"the manifest {manifest} is a {sample_set.span}-span sample", param_hint="--span")
    if launcher["launcher"] != "none":
        if shards is None or shard is not None:
            raise click.UsageError("--launcher submitit takes --shards N (and no --shard)")
        from layerprobe.launch import Task

        ctx = click.get_current_context()
        tasks = [
            Task(f"shard {index}/{shards}",
                 task_argv(ctx, {"shard": f"{index}/{shards}", "shards": None, "manifest": manifest.absolute()}),
                 output=os.fspath(extraction_path(out, model_spec, sample_set, rep, shard=Shard(index, shards))))
            for index in range(1, shards + 1)
        ]  # fmt: skip
        run_launch(tasks, launcher)
        return
    if shards is not None:
        raise click.UsageError("--shards is for --launcher submitit; a single process takes --shard I/N")
    if shard is not None and shard.strip().lower() == "auto":
        shard = "{}/{}".format(*shard_from_environment())
    adapter = None
    if model_spec is not None:
        from layerprobe.models import load_model

        adapter = load_model(model_spec, revision=revision, device=device)
    attention_arg: list[str] | int = ()
    if attention:
        count = _count(attention)
        attention_arg = count if count is not None else [a.strip() for a in attention.split(",") if a.strip()]
    report = extract(
        sample_set,
        adapter,
        out,
        rep=rep,
        layers=layers,
        dtype=dtype,
        shard=Shard.parse(shard) if shard else None,
        attention=attention_arg,
        pre_softmax=pre_softmax,
        batch_seconds=batch_seconds,
        overwrite=overwrite,
        progress=progress,
        manifest_path=manifest,
    )
    resumed = f" (resumed after {report.n_skipped})" if report.n_skipped else ""
    click.echo(
        f"stored {report.n_rows} rows of {report.n_utterances} utterances{resumed}, "
        f"{format_seconds(report.audio_seconds)} of audio in {format_seconds(report.wall_seconds)} -> {report.path}"
    )


@cli.command("merge", context_settings=CONTEXT_SETTINGS, short_help="Join the shard files of feature stores.")
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


@cli.command("status", context_settings=CONTEXT_SETTINGS, short_help="Show which stores, shards, layers and jobs are done.")
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
    from layerprobe.status import collect_status, format_status

    for line in format_status(collect_status(directory)):
        click.echo(line)


# --------------------------------------------------------------------------------------------------
# cca


@cli.command("cca", context_settings=CONTEXT_SETTINGS, short_help="CCA of stored layers against mel, phones, words or embeddings.")
@click.option(
    "--exp",
    "experiment",
    required=True,
    type=click.Choice(["cca_mel", "cca_intra", "cca_phone", "cca_word", "cca_agwe", "cca_glove"]),
    help="The experiment (REFERENCE.md section 3).",
)
@click.option("--model", "model_spec", required=True, help="Model spec the features were extracted with (tiny:wav2vec2, hf:...).")
@click.option("--corpus", required=True, help="Corpus name of the data-sample set.")
@click.option("--split", required=True, help="Split of the data-sample set.")
@click.option("--sample", "sample_id", type=click.IntRange(min=0), default=1, show_default=True, help="Sample id k.")
@click.option("--layers", "--layer", "layers", default="all", show_default=True, help="all, T4, T1-T12, C1-C7,T1-T12 ...")
@click.option("--features", type=click.Path(file_okay=False, path_type=Path), default=Path("features"), show_default=True, help="Root of the feature stores (extract --out).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("results/cca.csv"), show_default=True, help="Result table (CSV; a JSON sidecar goes next to it).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the split, trials and epsilon order.")
@click.option("--embeddings", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="cca_agwe / cca_glove: word vectors (word2vec text or binary, GloVe text).")
@click.option("--embeddings-format", type=click.Choice(["auto", "word2vec", "word2vec-binary", "glove"]), default="auto", show_default=True, help="Format of --embeddings.")
@click.option("--vocabulary-size", type=click.IntRange(min=1), default=500, show_default=True, help="cca_word: most frequent words kept.")
@click.option("--base-layer", default="T0", show_default=True, help="cca_intra: the layer every other is compared with.")
@click.option("--null-directions", type=click.Choice(["zero", "keep", "drop"]), default="zero", show_default=True, help="Directions in the null space of a one-hot view: correlation 0 (default), as computed (the reference's noise), or weight 0.")
@_progress_option
@launcher_options
def cca_command(
    experiment: str,
    model_spec: str,
    corpus: str,
    split: str,
    sample_id: int,
    layers: str,
    features: Path,
    out: Path,
    seed: int,
    embeddings: Path | None,
    embeddings_format: str,
    vocabulary_size: int,
    base_layer: str,
    null_directions: str,
    progress: bool,
    **launcher: Any,
) -> None:
    """Run a CCA experiment on stored features, one PWCCA score per layer, into a result table.

    Each score is the published protocol: 10 seeded parts (label-stratified for phones and words),
    3 trials of fit on 8 parts, epsilon chosen on a dev part, the mean PWCCA on the test parts.
    Stores are read from FEATURES/<model>/<corpus>_<split>_sample<k>/ (cca_mel also reads the
    log-mel store under FEATURES/logmel/); rows go to OUT, replacing earlier ones with the same key.

    \b
    Examples:
      layerprobe cca --exp cca_mel --model tiny:wav2vec2 --corpus demo --split train --layers all
      layerprobe cca --exp cca_phone --model hf:facebook/wav2vec2-base --corpus LibriSpeech \\
          --split dev-clean --layer T4 --out results/w2v2.csv
      layerprobe cca --exp cca_glove --embeddings glove.840B.300d.txt --model ... --corpus ... --split ...
      layerprobe cca --exp cca_mel --model ... --corpus ... --split ... --launcher submitit   # a job per layer
    """
    from layerprobe.analysis.experiments import cca_layers, run_cca

    if launcher["launcher"] != "none":
        chosen = cca_layers(experiment, features=features, model=model_spec, corpus=corpus, split=split, sample=sample_id,
                            layers=layers, base_layer=base_layer)  # fmt: skip
        _launch_layers(chosen, launcher)
        return

    def report(score) -> None:
        result = score.result
        dropped = f", {score.n_dropped} dropped" if score.n_dropped else ""
        trials = ", ".join(f"{value:.3f}" for value in result.trial_scores)
        click.echo(
            f"{experiment} {score.layer}: PWCCA {result.score:.4f} (trials {trials}; "
            f"{result.n_rows} rows{dropped}; {result.wall_seconds:.1f} s)"
        )

    scores = run_cca(
        experiment,
        features=features,
        model=model_spec,
        corpus=corpus,
        split=split,
        sample=sample_id,
        layers=layers,
        seed=seed,
        results=out,
        embeddings=embeddings,
        embeddings_format=embeddings_format,
        vocabulary_size=vocabulary_size,
        base_layer=base_layer,
        null_directions=null_directions,
        progress=progress,
        on_layer=report,
    )
    click.echo(f"{len(scores)} layer{'s' if len(scores) != 1 else ''} -> {out}")


# --------------------------------------------------------------------------------------------------
# mi


@cli.command("mi", context_settings=CONTEXT_SETTINGS, short_help="Mutual information of k-means clusters of stored layers with phones or words.")
@click.option("--span", required=True, type=click.Choice(["phone", "word"]), help="mi_phone or mi_word.")
@click.option("--model", "model_spec", required=True, help="Model spec the features were extracted with (tiny:wav2vec2, hf:...).")
@click.option("--corpus", required=True, help="Corpus name of the data-sample sets.")
@click.option("--train-split", required=True, help="Split whose features k-means is fitted on.")
@click.option("--eval-split", required=True, help="Split whose clusters are scored (the rows' split).")
@click.option("--sample", "sample_id", type=click.IntRange(min=0), default=1, show_default=True, help="Sample id k (of both splits).")
@click.option("--layers", "--layer", "layers", default="all", show_default=True, help="all, T4, T1-T12 ...")
@click.option("--iter", "--seed", "iteration", type=click.IntRange(min=0), default=0, show_default=True, help="Iteration number, the seed of the clustering.")
@click.option("--iters", "iterations", default=None, help="Several iterations (0-4, 0,2,5): a sweep, one job per layer and iteration with --launcher.")
@click.option("--n-clusters", type=click.IntRange(min=1), default=None, help="Clusters [phone: 500, word: 5000].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="minibatch: batch size; lloyd: rows per distance block [phone: 1500, word: 4000].")
@click.option("--max-iter", type=click.IntRange(min=1), default=500, show_default=True, help="Most Lloyd passes (minibatch: epochs).")
@click.option("--algorithm", type=click.Choice(["lloyd", "minibatch"]), default="lloyd", show_default=True, help="lloyd: full-batch float32 Lloyd iterations (fast); minibatch: the published scikit-learn MiniBatchKMeans setting.")
@click.option("--init", type=click.Choice(["auto", "random", "k-means++"]), default=None, help="lloyd: the init [auto: k-means++ up to 1000 clusters, random rows above].")
@click.option("--tol", type=click.FloatRange(min=0), default=1e-3, show_default=True, help="lloyd: stop when a pass lowers the inertia by less than this fraction.")
@click.option("--device", default="cpu", show_default=True, help="lloyd: cpu, cuda, cuda:1 ...")
@click.option("--features", type=click.Path(file_okay=False, path_type=Path), default=Path("features"), show_default=True, help="Root of the feature stores (extract --out).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("results/mi.csv"), show_default=True, help="Result table (CSV; a JSON sidecar goes next to it).")
@_progress_option
@launcher_options
def mi_command(
    span: str,
    model_spec: str,
    corpus: str,
    train_split: str,
    eval_split: str,
    sample_id: int,
    layers: str,
    iteration: int,
    n_clusters: int | None,
    batch_size: int | None,
    max_iter: int,
    algorithm: str,
    init: str | None,
    tol: float,
    device: str,
    features: Path,
    out: Path,
    progress: bool,
    iterations: str | None,
    **launcher: Any,
) -> None:
    """Score each layer by the mutual information of its k-means clusters with phone or word labels.

    k-means is fitted on the contextualized phone (word) features of TRAIN_SPLIT and predicts the
    clusters of EVAL_SPLIT; the score is I(C;L)/H(L) in nats (metric nmi), one row per layer with
    seed = the iteration.  Run several iterations for the mean and spread that `layerprobe plot`
    draws.  Stores are read from FEATURES/<model>/<corpus>_<split>_sample<k>/contextualized_<span>.h5;
    rows go to OUT, replacing earlier ones with the same key; the sidecar keeps the sizes
    (instances, clusters, labels), which bias the estimate upward when clusters are many.

    \b
    Examples:
      layerprobe mi --span phone --model tiny:wav2vec2 --corpus demo --train-split train --eval-split dev
      layerprobe mi --span word --layers all --iters 0-4 --model hf:facebook/wav2vec2-base \\
          --corpus LibriSpeech --train-split train-clean-100 --eval-split dev-clean --launcher submitit
    """
    from layerprobe.analysis.mi_experiments import mi_layers, run_mi

    iteration_list = [iteration] if iterations is None else _integer_list(iterations, "--iters")
    if launcher["launcher"] != "none":
        chosen = mi_layers(span, features=features, model=model_spec, corpus=corpus, train_split=train_split,
                           eval_split=eval_split, sample=sample_id, layers=layers)  # fmt: skip
        _launch_layers(chosen, launcher, iterations=iteration_list if iterations is not None else None)
        return

    def report(score) -> None:
        r = score.result
        click.echo(
            f"mi_{span} {score.layer}: NMI {r.score:.4f} (train {r.train_score:.4f}; {r.n_train} train / {r.n_eval} eval "
            f"instances, {r.n_clusters} clusters, {r.n_labels_eval} labels; {r.n_iter} iterations; {r.wall_seconds:.1f} s)"
        )

    scores = [
        score
        for seed in iteration_list
        for score in run_mi(
            span,
            features=features,
            model=model_spec,
            corpus=corpus,
            train_split=train_split,
            eval_split=eval_split,
            sample=sample_id,
            layers=layers,
            iteration=seed,
            n_clusters=n_clusters,
            batch_size=batch_size,
            max_iter=max_iter,
            algorithm=algorithm,
            init=init,
            tol=tol,
            device=device,
            results=out,
            progress=progress,
            on_layer=report,
        )
    ]
    what = "layer" if len(iteration_list) == 1 else "score"
    click.echo(f"{len(scores)} {what}{'s' if len(scores) != 1 else ''} -> {out}")


def _integer_list(text: str, option: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0,2,5' -> [0, 2, 5] (UsageError naming the option otherwise)."""
    values: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if _count(low) is None or (dash and _count(high) is None):  # ASCII digits: int('²') fails
            raise click.BadParameter(f"{text[:60]!r} is not a list of non-negative integers or ranges (0-4, 0,2,5)", param_hint=option)
        if dash and int(high) < int(low):
            raise click.BadParameter(f"the range {part.strip()} is empty", param_hint=option)
        if int(high if dash else low) - int(low) + len(values) >= 10_000:
            raise click.BadParameter(f"{text[:60]!r} names more than 10000 values", param_hint=option)
        values.extend(range(int(low), int(high if dash else low) + 1))
    return sorted(set(values))


def _launch_layers(layers: list[str], launcher: dict[str, Any], *, iterations: list[int] | None = None) -> None:
    """Run the current command once per layer (and per iteration of a sweep) as a submitit job array."""
    from layerprobe.launch import Task

    ctx = click.get_current_context()
    if iterations is None:
        tasks = [Task(f"layer {layer}", task_argv(ctx, {"layers": layer})) for layer in layers]
    else:
        tasks = [
            Task(f"layer {layer} iter {seed}", task_argv(ctx, {"layers": layer, "iteration": seed, "iterations": None}))
            for seed in iterations
            for layer in layers
        ]
    run_launch(tasks, launcher)


# --------------------------------------------------------------------------------------------------
# wordvec and wordsim


def _word_store_options(func):
    """The options that find a model's word store (shared by wordvec and wordsim)."""
    for option in reversed([
        click.option("--model", "model_spec", required=True, help="Model spec the features were extracted with (tiny:wav2vec2, hf:...)."),
        click.option("--corpus", required=True, help="Corpus name of the data-sample set."),
        click.option("--split", required=True, help="Split of the data-sample set."),
        click.option("--sample", "sample_id", type=click.IntRange(min=0), default=1, show_default=True, help="Sample id k."),
        click.option("--features", type=click.Path(file_okay=False, path_type=Path), default=Path("features"), show_default=True, help="Root of the feature stores (extract --out)."),
        click.option("--layers", "--layer", "layers", default="all", show_default=True, help="all, T4, T1-T12 ..."),
        click.option("--max-instances", type=click.IntRange(min=1), default=200, show_default=True, help="Instances averaged per word at most."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the choice among a word's instances."),
    ]):  # fmt: skip
        func = option(func)
    return func


@cli.command("wordvec", context_settings=CONTEXT_SETTINGS, short_help="Static word vectors per layer from a word store.")
@_word_store_options
@click.option("--format", "file_format", type=click.Choice(["kv", "word2vec"]), default="kv", show_default=True, help="gensim native <LAYER>.kv or word2vec binary <LAYER>.bin.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder of the files [default: the wordvec folder next to the store].")
@_progress_option
def wordvec_command(
    model_spec: str, corpus: str, split: str, sample_id: int, features: Path, layers: str, max_instances: int, seed: int,
    file_format: str, out: Path | None, progress: bool,
) -> None:  # fmt: skip
    """Write each layer's static word vectors: the mean of up to 200 instances of each word.

    Reads FEATURES/<model>/<corpus>_<split>_sample<k>/contextualized_word.h5 (extract --span
    word); which instances a word with more than --max-instances keeps is a seeded random choice,
    the same for every layer.  One gensim KeyedVectors file per layer goes to
    <store folder>/wordvec/<LAYER>.kv (or .bin), with a .json saying how it was made; files are
    replaced.  Read them with gensim (KeyedVectors.load) or score them with `layerprobe wordsim`.

    \b
    Examples:
      layerprobe wordvec --model tiny:wav2vec2 --corpus demo --split train --layers all
      layerprobe wordvec --model hf:facebook/wav2vec2-base --corpus LibriSpeech --split dev-clean \\
          --layer T6 --format word2vec --out vectors/
    """
    from layerprobe.analysis.wordvec import run_wordvec

    def report(written) -> None:
        click.echo(f"wordvec {written.layer}: {written.n_words} words from {written.n_instances} of {written.n_rows} instances -> {written.path}")

    files = run_wordvec(features=features, model=model_spec, corpus=corpus, split=split, sample=sample_id, layers=layers,
                        max_instances=max_instances, seed=seed, out=out, format=file_format, progress=progress, on_layer=report)  # fmt: skip
    click.echo(f"{len(files)} layer{'s' if len(files) != 1 else ''} -> {files[0].path.parent}")


@cli.command("wordsim", context_settings=CONTEXT_SETTINGS, short_help="Word similarity (Spearman) of each layer's word vectors.")
@_word_store_options
@click.option("--benchmark", "benchmarks", multiple=True, help="wordsim353, simlex999 or a file of 'word1 word2 score' lines (repeat) [default: wordsim353 and simlex999].")
@click.option("--vectors", multiple=True, help="Score these word-vector files instead of the store's layers: [LAYER=]FILE, e.g. T3.kv or T3=glove.txt (repeat).")
@click.option("--wordvec", "wordvec_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder of `layerprobe wordvec` files [default: the wordvec folder next to the store].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("results/wordsim.csv"), show_default=True, help="Result table (CSV; a JSON sidecar goes next to it).")
@_progress_option
def wordsim_command(
    model_spec: str, corpus: str, split: str, sample_id: int, features: Path, layers: str, max_instances: int, seed: int,
    benchmarks: tuple[str, ...], vectors: tuple[str, ...], wordvec_dir: Path | None, out: Path, progress: bool,
) -> None:  # fmt: skip
    """Score each layer's static word vectors on word-similarity benchmarks into a result table.

    Per benchmark: Spearman's rho between the cosine similarity of each pair's vectors and the
    human score, over the pairs whose two words have vectors (the others are skipped and counted);
    then the pair-weighted (micro) and plain (macro) means.  Rows: experiment wordsim, metrics
    spearman_micro, spearman_macro and spearman:<benchmark>; pairs used and skipped go to the
    sidecar.  A benchmark with fewer than 2 pairs in the vocabulary gets no row (the output says
    so).  Vectors come from the `layerprobe wordvec` files when they are current for the store and
    options, and are built from the store otherwise (the same numbers either way).

    \b
    Examples:
      layerprobe wordsim --model tiny:wav2vec2 --corpus demo --split train --layers all
      layerprobe wordsim --model hf:facebook/wav2vec2-base --corpus LibriSpeech --split dev-clean \\
          --benchmark simlex999 --benchmark my_pairs.tsv --out results/wordsim.csv
      layerprobe plot results/wordsim.csv --metric spearman_micro --out wordsim.png
    """
    from layerprobe.analysis.wordsim import DEFAULT_BENCHMARKS, run_wordsim

    def report(score) -> None:
        result = score.result
        parts = []
        for name in result.per_benchmark:
            counts = f"{result.used[name]} of {result.used[name] + result.skipped[name]} pairs"
            parts.append(f"{name} not scored ({result.unscored[name]})" if name in result.unscored
                         else f"{name} {result.per_benchmark[name]:.4f} ({counts})")  # fmt: skip
        source = f"vectors of {score.n_words} words from {score.source}" if score.source else f"vectors of {score.n_words} words built from the store"
        averages = f"micro {result.micro:.4f}, macro {result.macro:.4f}" if result.scored else "no rows"
        click.echo(f"wordsim {score.layer}: {averages}; {'; '.join(parts)}; {source}")

    scores = run_wordsim(features=features, model=model_spec, corpus=corpus, split=split, sample=sample_id, layers=layers,
                         benchmarks=benchmarks or DEFAULT_BENCHMARKS, vectors=vectors or None, wordvec=wordvec_dir,
                         max_instances=max_instances, seed=seed, results=out, progress=progress, on_layer=report)  # fmt: skip
    scored = sum(1 for score in scores if score.result.scored)
    click.echo(f"{scored} layer{'s' if scored != 1 else ''} -> {out}")


# --------------------------------------------------------------------------------------------------
# attention


@cli.group(context_settings=CONTEXT_SETTINGS)
def attention() -> None:
    """Attention maps, block patterns and an attention viewer with phone and word alignments.

    \b
    Examples:
      layerprobe attention maps --model tiny:whisper --corpus demo --split train --span frame --utterances 4
      layerprobe attention patterns --model tiny:whisper --corpus demo --split train
      layerprobe attention view features/tiny_whisper/demo_train_sample1/contextualized_frame.h5 --out page.html
    """


@attention.command("maps", context_settings=CONTEXT_SETTINGS, short_help="Store attention maps (and logits) of chosen utterances.")
@click.option("--model", "model_spec", required=True, help="hf:ID_OR_DIR, fairseq:CKPT.pt or tiny:FAMILY.")
@click.option("--revision", default=None, help="hf: a branch, tag or commit of the model repository.")
@click.option("--corpus", required=True, help="Corpus name (or its directory) whose data-sample set to read.")
@click.option("--split", required=True, help="Split of the data-sample set.")
@click.option("--span", type=click.Choice(["frame", "phone", "word"]), default="frame", show_default=True, help="Span of the data-sample set.")
@click.option("--sample", "sample_id", type=click.IntRange(min=0), default=1, show_default=True, help="Sample id k.")
@click.option("--utterances", default="all", show_default=True, help="Utterance ids (comma-separated), the first N, or all.")
@click.option("--pre-softmax", is_flag=True, help="Also store the attention logits before the softmax.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1 ...")
@click.option("--samples-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data_samples"), show_default=True, help="Where the data-sample sets are.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("features"), show_default=True, help="Root of the feature stores.")
@click.option("--overwrite", is_flag=True, help="Replace an existing complete store.")
@_progress_option
def attention_maps_command(
    model_spec: str, revision: str | None, corpus: str, split: str, span: str, sample_id: int, utterances: str,
    pre_softmax: bool, device: str, samples_dir: Path, out: Path, overwrite: bool, progress: bool,
) -> None:  # fmt: skip
    """Run a model over a data-sample set and store every block's attention maps, per head.

    The maps (heads, T, T) go, float16, into the contextualized store of the sample
    (OUT/<model>/<corpus>_<split>_sample<k>/contextualized_<span>.h5) with the layers' rows; Whisper's
    maps are cut to the real audio.  Models run with a fused attention kernel are switched to eager
    attention for the call.  This is `layerprobe extract --rep contextualized --attention ...`.

    \b
    Examples:
      layerprobe attention maps --model tiny:wav2vec2 --corpus demo --split train --utterances 3 --pre-softmax
      layerprobe attention maps --model hf:/models/whisper-base --corpus timit --split test --utterances all
    """
    from layerprobe.data.corpora import corpus_name, format_seconds
    from layerprobe.data.samples import manifest_path, read_manifest
    from layerprobe.extract import extract
    from layerprobe.models import load_model

    manifest = manifest_path(samples_dir, corpus_name(Path(corpus).name), split, span, sample_id)
    sample_set = read_manifest(manifest)
    text = utterances.strip()
    if text.lower() == "all":
        chosen: list[str] | int = len(sample_set.utterances)
    elif _count(text) is not None:
        chosen = _count(text)
    else:
        chosen = [utt.strip() for utt in text.split(",") if utt.strip()]
    if not chosen:
        raise click.BadParameter("give utterance ids, a number or all", param_hint="--utterances")
    adapter = load_model(model_spec, revision=revision, device=device)
    report = extract(sample_set, adapter, out, rep="contextualized", attention=chosen, pre_softmax=pre_softmax,
                     overwrite=overwrite, progress=progress, manifest_path=manifest)  # fmt: skip
    click.echo(
        f"stored attention maps{' and logits' if pre_softmax else ''} with {report.n_rows} rows of "
        f"{report.n_utterances} utterances in {format_seconds(report.wall_seconds)} -> {report.path}"
    )


@attention.command("patterns", context_settings=CONTEXT_SETTINGS, short_help="Score and classify each block's attention pattern.")
@click.option("--model", "model_spec", required=True, help="Model spec the maps were stored with (tiny:wav2vec2, hf:...).")
@click.option("--corpus", required=True, help="Corpus name (or its directory) of the data-sample set.")
@click.option("--split", required=True, help="Split of the data-sample set.")
@click.option("--sample", "sample_id", type=click.IntRange(min=0), default=1, show_default=True, help="Sample id k.")
@click.option("--span", type=click.Choice(["frame", "phone", "word"]), default="frame", show_default=True, help="Span of the store holding the maps.")
@click.option("--blocks", default=None, help="Blocks to score, e.g. T1,T3 [default: every block with maps].")
@click.option("--radius", type=int, default=5, show_default=True, help="Half-width of the diagonal band in frames (5 = +-100 ms at 50 Hz).")
@click.option("--utterances", type=click.IntRange(min=1), default=None, help="Score the first N utterances with maps [default: all].")
@click.option("--show", type=click.IntRange(min=1), default=3, show_default=True, help="Utterances per block in the figure.")
@click.option("--features", type=click.Path(file_okay=False, path_type=Path), default=Path("features"), show_default=True, help="Root of the feature stores (attention maps --out).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("results/attention.csv"), show_default=True, help="Result table (CSV; a JSON sidecar goes next to it).")
@click.option("--figure", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also draw the maps grid (.png or .pdf; the other format is written next to it).")
def attention_patterns_command(
    model_spec: str, corpus: str, split: str, sample_id: int, span: str, blocks: str | None, radius: int,
    utterances: int | None, show: int, features: Path, out: Path, figure: Path | None,
) -> None:  # fmt: skip
    """Score each block's head-averaged attention maps and name its pattern.

    Reads the maps stored by `layerprobe attention maps` in
    FEATURES/<model>/<corpus>_<split>_sample<k>/contextualized_<span>.h5.  Scores per block, mean
    over utterances, all in [0, 1]: diagonal (mass within --radius frames of the diagonal),
    vertical (excess mass of the top 5 % key columns), consistency (whether every query attends to
    those keys) and entropy (normalised by log T).  Class: diagonal, vertical, vertical+diagonal or
    heterogeneous (thresholds in layerprobe.attention.patterns).  Rows (experiment
    attention_patterns, metrics diagonal, vertical, consistency, entropy) go to OUT; the class,
    spreads and per-head scores go to its JSON sidecar.

    \b
    Examples:
      layerprobe attention patterns --model tiny:wav2vec2 --corpus demo --split train --figure patterns.png
      layerprobe attention patterns --model hf:/models/whisper-base --corpus timit --split test --radius 5
    """
    from layerprobe.attention.patterns import EXPERIMENT, run_patterns
    from layerprobe.data.corpora import corpus_name

    if radius < 0:
        raise click.BadParameter(f"{radius} is negative; give a radius of 0 frames or more", param_hint="--radius")
    report = run_patterns(features=features, model=model_spec, corpus=corpus_name(Path(corpus).name), split=split,
                          sample=sample_id, span=span, blocks=blocks, radius=radius, utterances=utterances,
                          results=out, figure=figure, show=show)  # fmt: skip
    for pattern in report.patterns:
        click.echo(pattern.summary())
    n = len(report.patterns)
    figures = f"; figure {', '.join(str(path) for path in report.figures)}" if report.figures else ""
    click.echo(f"{EXPERIMENT}: {n} block{'s' if n != 1 else ''} -> {out}{figures}")


@attention.command("view", context_settings=CONTEXT_SETTINGS, short_help="Write a self-contained HTML attention viewer (and a PNG).")
@click.argument("store", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("attention.html"), show_default=True, help="The HTML page to write.")
@click.option("--utterances", default="10", show_default=True, help="Utterance ids (comma-separated) or the first N with maps.")
@click.option("--layers", "layers_text", default=None, help="Only these blocks, e.g. T1,T3 [default: every block with maps].")
@click.option("--samples-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data_samples"), show_default=True, help="Where the data-sample sets are (for the alignments).")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="The data-sample manifest itself (wins over --samples-dir).")
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write a static PNG of one map (with --utt, --layer, --head).")
@click.option("--utt", default=None, help="--png: the utterance [default: the first with maps].")
@click.option("--layer", default=None, help="--png: the block [default: the last with maps].")
@click.option("--head", default="avg", show_default=True, help="--png: a head number or avg.")
def attention_view_command(
    store: Path, out: Path, utterances: str, layers_text: str | None, samples_dir: Path, manifest: Path | None,
    png: Path | None, utt: str | None, layer: str | None, head: str,
) -> None:  # fmt: skip
    """Write one HTML page (no network needed) to explore a store's attention maps.

    The page has utterance, layer and head pickers (and the head average), a softmax switch when
    the store holds pre-softmax logits, zoom to a range of words, phone and word tiers along both
    axes with boundaries drawn, a hover read-out, and the phone-by-phone attention matrix.  The
    alignments come from the data-sample manifest recorded in the store (found under
    --samples-dir, or given with --manifest); without them the page draws no tiers and says so.

    \b
    Examples:
      layerprobe attention view features/tiny_wav2vec2/demo_train_sample1/contextualized_frame.h5 --out page.html
      layerprobe attention view STORE.h5 --out page.html --png fig.png --utt demo-00001 --layer T3 --head avg
    """
    from layerprobe.attention.view import render_png, write_viewer
    from layerprobe.io.store import FeatureStore

    text = utterances.strip()
    count = _count(text)
    chosen: list[str] | int = count if count is not None else [u.strip() for u in text.split(",") if u.strip()]
    if not chosen:
        raise click.BadParameter("give utterance ids or a number", param_hint="--utterances")
    layers = [part.strip() for part in layers_text.split(",") if part.strip()] if layers_text else None
    with FeatureStore.open(store) as opened:
        page = write_viewer(opened, out, utterances=chosen, manifest=manifest, samples_dir=samples_dir, layers=layers)
        click.echo(f"attention viewer -> {page}")
        if png is not None:
            from layerprobe.attention.view import read_viewer_data

            data = read_viewer_data(page)
            head_arg: int | str = _count(head) if _count(head) is not None else head.strip()
            try:
                figure = render_png(opened, utt or data["utterances"][0]["id"], layer or data["layers"][-1], head_arg, out=png,
                                    manifest=manifest, samples_dir=samples_dir)  # fmt: skip
            except BaseException:
                page.unlink(missing_ok=True)  # a failed command leaves no output behind
                raise
            click.echo(f"attention map -> {figure}")


# --------------------------------------------------------------------------------------------------
# plot


@cli.command("plot", context_settings=CONTEXT_SETTINGS, short_help="Draw layer-trend curves from result tables.")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("trend.png"),
    show_default=True,
    help="Figure file (.png or .pdf); the other format is written next to it.",
)
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    help="Experiment to draw, one panel each (repeat the option) [default: every experiment with the metric].",
)
@click.option("--metric", default="pwcca", show_default=True, help="Metric on the y axis (pwcca, nmi, ...).")
@click.option(
    "--spread",
    type=click.Choice(["std", "range", "none"]),
    default="std",
    show_default=True,
    help="Band around each line: +- standard deviation across samples and seeds, min-max range, or none.",
)
def plot_command(results: tuple[Path, ...], out: Path, experiments: tuple[str, ...], metric: str, spread: str) -> None:
    """Draw a metric per layer, one line per model and one panel per experiment, from result CSVs.

    Rows of all RESULTS files are merged (a later file wins where two hold the same row); each
    point is the mean over data samples and seeds, the band their spread.  Writes OUT as PNG
    (200 dpi) and PDF.

    \b
    Examples:
      layerprobe plot results/*.csv --out trend.png
      layerprobe plot results/wav2vec2.csv results/hubert.csv --experiment cca_mel --experiment cca_phone \\
          --metric pwcca --spread range --out figures/cca.pdf
    """
    from layerprobe.plots import plot_trends, save_figure
    from layerprobe.results import ResultTable

    table = ResultTable.read(results)
    figure = plot_trends(table, experiments=list(experiments) or None, metric=metric, spread=spread)
    written = save_figure(figure, out)
    drawn = [ax.get_title() for ax in figure.axes]
    models = {row["model"] for row in table.select(experiment=drawn, metric=metric)}
    click.echo(
        f"plotted {metric} of {len(models)} model{'s' if len(models) != 1 else ''} in {', '.join(drawn)} "
        f"-> {', '.join(str(path) for path in written)}"
    )


# --------------------------------------------------------------------------------------------------
# demo


@cli.command("demo", context_settings=CONTEXT_SETTINGS, short_help="Run the pipeline offline on a synthesized corpus.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("layerprobe-demo"),
    show_default=True,
    help="Directory for everything the demo writes.",
)
@click.option("--n", "n_utterances", type=click.IntRange(min=10), default=60, show_default=True, help="Utterances to synthesize.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the corpus and samples.")
@click.option("--model", "model_spec", default="tiny:wav2vec2", show_default=True, help="Model whose layers are extracted.")
@_progress_option
def demo_command(out: Path, n_utterances: int, seed: int, model_spec: str, progress: bool) -> None:
    """Run the pipeline offline on a synthesized corpus and say what each step did.

    Synthesize an English corpus with eSpeak NG (exact phone and word timings), draw frame, phone
    and word data-sample sets from its training split, extract every layer of a model (a seeded
    tiny random wav2vec 2.0 by default) and the log-mel baseline into HDF5 stores, run cca_mel and
    cca_phone over all layers into OUT/results/cca.csv, and draw OUT/results/trend.png and .pdf.

    \b
    Examples:
      layerprobe demo --out layerprobe-demo
      layerprobe demo --model tiny:hubert --out demo-hubert
      layerprobe demo --model hf:/models/wav2vec2-base --out demo-w2v2
    """
    from layerprobe.demo import run_demo

    for line in run_demo(out, n_utterances=n_utterances, seed=seed, model=model_spec, progress=progress):
        click.echo(line)


# --------------------------------------------------------------------------------------------------
# probe


@cli.command("probe", context_settings=CONTEXT_SETTINGS, short_help="Train BiLSTM CTC probes on frozen stored layers; test WER per layer.")
@click.option("--model", "model_spec", default=None, help="Model spec the features were extracted with (not needed for --layers mel).")
@click.option("--corpus", required=True, help="Corpus name (or its directory) of the data-sample sets.")
@click.option("--train", "train_split", default="train", show_default=True, help="Split whose frame store trains the probe.")
@click.option("--dev", "dev_split", default="dev", show_default=True, help="Split for early stopping (see --stop-metric).")
@click.option("--test", "test_split", default="test", show_default=True, help="Split scored into the result table.")
@click.option("--sample", "sample_id", type=click.IntRange(min=0), default=1, show_default=True, help="Sample id k of the three frame data-sample sets.")
@click.option("--layers", "--layer", "layers", default="all", show_default=True, help="all (the model's stored layers), mel (log-mel baseline), T8, T1-T12, mel,T4 ...")
@click.option("--features", type=click.Path(file_okay=False, path_type=Path), default=Path("features"), show_default=True, help="Root of the feature stores (extract --out).")
@click.option("--samples-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data_samples"), show_default=True, help="Where the data-sample sets are (they name the corpus directory with the transcripts).")
@click.option("--corpus-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help="Read transcripts from this corpus directory instead.")
@click.option("--train-list", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Train only on the utterance ids in this file (one per line), e.g. a 10 h subset.")
@click.option("--hidden-size", type=click.IntRange(min=1), default=1024, show_default=True, help="LSTM units per direction.")
@click.option("--lstm-layers", type=click.IntRange(min=1), default=3, show_default=True, help="Stacked bidirectional LSTM layers.")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True, help="Dropout between LSTM layers and before the output.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True, help="Most epochs.")
@click.option("--patience", type=click.IntRange(min=1), default=3, show_default=True, help="Stop after this many epochs without a better dev --stop-metric (the best epoch is kept).")
@click.option("--stop-metric", type=click.Choice(["loss", "cer", "wer"]), default="loss", show_default=True, help="Dev metric of early stopping (the CER sits at 1.0 while CTC learns blanks first).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True, help="Adam learning rate after a one-epoch warm-up.")
@click.option("--batch-frames", type=click.IntRange(min=1), default=20_000, show_default=True, help="Padded feature frames per batch (batch size x longest utterance).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the initial weights, batch order and dropout.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1 ...")
@click.option("--lm", "lm_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="KenLM n-gram model (ARPA or binary): also report LM beam-search WER (wer_lm).")
@click.option("--beam-width", type=click.IntRange(min=1), default=50, show_default=True, help="With --lm: beams kept per frame.")
@click.option("--lm-alpha", type=float, default=0.5, show_default=True, help="With --lm: weight of the LM score.")
@click.option("--lm-beta", type=float, default=1.0, show_default=True, help="With --lm: bonus per word.")
@click.option("--untrained-baseline", is_flag=True, help="Also score the initial (untrained) probe on test: the chance level, in the sidecar.")
@click.option("--checkpoints", type=click.Path(file_okay=False, path_type=Path), default=None, help="Keep per-layer training checkpoints here: an interrupted run resumes, finished layers are not retrained.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("results/probe.csv"), show_default=True, help="Result table (CSV; a JSON sidecar goes next to it).")
@_progress_option
def probe_command(
    model_spec: str | None,
    corpus: str,
    train_split: str,
    dev_split: str,
    test_split: str,
    sample_id: int,
    layers: str,
    features: Path,
    samples_dir: Path,
    corpus_dir: Path | None,
    train_list: Path | None,
    hidden_size: int,
    lstm_layers: int,
    dropout: float,
    epochs: int,
    patience: int,
    stop_metric: str,
    lr: float,
    batch_frames: int,
    seed: int,
    device: str,
    lm_path: Path | None,
    beam_width: int,
    lm_alpha: float,
    lm_beta: float,
    untrained_baseline: bool,
    checkpoints: Path | None,
    out: Path,
    progress: bool,
) -> None:
    """Train a 3-layer BiLSTM with CTC on characters on the frozen frames of each layer; test WER and CER.

    Reads the frame-span stores of the train, dev and test data-sample sets (extract --span frame)
    and the transcripts of the corpus they were drawn from; stops early on the dev loss; adds rows
    (experiment probe, metrics wer and cer, with --lm also wer_lm and cer_lm) to OUT, one layer at
    a time.  `layerprobe plot OUT --metric wer` draws WER per layer.

    \b
    Examples:
      layerprobe probe --model tiny:wav2vec2 --corpus synth --layers all --hidden-size 256 --out results/probe.csv
      layerprobe probe --corpus synth --layers mel --hidden-size 256 --untrained-baseline
      layerprobe probe --model hf:facebook/wav2vec2-base --corpus LibriSpeech --train train-clean-100 \\
          --dev dev-clean --test test-clean --layer T8 --device cuda --lm 4-gram.arpa
      layerprobe plot results/probe.csv --metric wer --out probe_wer.png
    """
    from layerprobe.training.probes import run_probe

    def report(result) -> None:
        metrics = result.test_metrics
        lm = f", LM WER {metrics['beam_wer']:.3f}" if "beam_wer" in metrics else ""
        untrained = f"; untrained CER {result.untrained_metrics['cer']:.3f}" if result.untrained_metrics else ""
        click.echo(
            f"probe {result.layer}: WER {metrics['wer']:.3f}, CER {metrics['cer']:.3f}{lm} (best epoch {result.best_epoch} "
            f"of {result.epochs_done}{untrained}; {result.throughput:.0f} s of audio per s)"
        )

    results = run_probe(
        model=model_spec,
        corpus=corpus,
        train_split=train_split,
        dev_split=dev_split,
        test_split=test_split,
        layers=layers,
        features=features,
        sample=sample_id,
        samples_dir=samples_dir,
        corpus_dir=corpus_dir,
        train_list=train_list,
        results=out,
        checkpoints=checkpoints,
        progress=progress,
        on_layer=report,
        hidden_size=hidden_size,
        num_layers=lstm_layers,
        dropout=dropout,
        epochs=epochs,
        patience=patience,
        stop_metric=stop_metric,
        lr=lr,
        max_batch_frames=batch_frames,
        seed=seed,
        device=device,
        lm_path=lm_path,
        beam_width=beam_width,
        lm_alpha=lm_alpha,
        lm_beta=lm_beta,
        untrained_baseline=untrained_baseline,
    )
    click.echo(f"{len(results)} layer{'s' if len(results) != 1 else ''} -> {out}")


# --------------------------------------------------------------------------------------------------
# audiate


@cli.command("audiate", context_settings=CONTEXT_SETTINGS, short_help="Optimise a waveform that makes a unit fire, and write it as WAV.")
@click.option("--model", "model_spec", required=True, help="hf:ID_OR_DIR, fairseq:CKPT.pt or tiny:FAMILY.")
@click.option("--revision", default=None, help="hf: a branch, tag or commit of the model repository.")
@click.option("--layer", required=True, help="The layer: C1..Cn or T0..TL.")
@click.option("--unit", type=click.IntRange(min=0), default=None, help="One unit (dimension of the layer); OUT is a .wav file.")
@click.option("--units", "units_text", default=None, help="Several units, e.g. 0-31 or 0,4,9-12; OUT is a folder with a gallery page.")
@click.option("--mode", type=click.Choice(["unit", "channel"]), default="unit", show_default=True, help="unit: one frame, neighbours penalised, silence elsewhere; channel: the mean over all frames.")
@click.option("--frame", type=click.IntRange(min=0), default=None, help="unit mode: the target frame on the layer's grid [default: the middle frame].")
@click.option("--steps", type=click.IntRange(min=1), default=500, show_default=True, help="Adam steps.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Length of the waveform.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the initial signal and the augmentations.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True, help="Adam's learning rate on the frequency coefficients.")
@click.option("--neighbour-weight", type=click.FloatRange(min=0), default=0.5, show_default=True, help="unit mode: penalty on the unit at the 2 frames either side.")
@click.option("--silence-weight", type=click.FloatRange(min=0), default=1.0, show_default=True, help="unit mode: penalty on the energy share outside the target frame (+-50 ms).")
@click.option("--regularizer", type=click.Choice(["none", "tv", "highfreq"]), default="none", show_default=True, help="tv: total variation; highfreq: power-weighted squared frequency.")
@click.option("--reg-weight", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Weight of --regularizer.")
@click.option("--shift-frames", type=click.FloatRange(min=0), default=0.25, show_default=True, help="Augmentation: largest random time shift, in frames of the layer (0: none).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="--units: units optimised together.")
@click.option("--examples-store", type=click.Path(exists=True, path_type=Path), default=None, help="A frame-span feature store of the same model: add each unit's top activating frames of real speech.")
@click.option("--top-k", type=click.IntRange(min=1), default=10, show_default=True, help="--examples-store: frames per unit.")
@click.option("--samples-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data_samples"), show_default=True, help="--examples-store: where the data-sample sets are (for phones and audio).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1 ...")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="--unit: the .wav to write (with .json and .png); --units: the folder.")
@_progress_option
def audiate_command(
    model_spec: str, revision: str | None, layer: str, unit: int | None, units_text: str | None, mode: str, frame: int | None,
    steps: int, seconds: float, seed: int, lr: float, neighbour_weight: float, silence_weight: float, regularizer: str,
    reg_weight: float, shift_frames: float, batch_size: int, examples_store: Path | None, top_k: int, samples_dir: Path,
    device: str, out: Path, progress: bool,
) -> None:  # fmt: skip
    """Optimise a waveform so that a unit of a layer fires strongly, and write it to listen to.

    The signal is parameterised by Fourier coefficients scaled by 1/frequency and kept at a fixed
    RMS; each Adam step sees it shifted and with a little noise added.  In unit mode one frame is
    maximised while the same unit at the neighbouring frames is penalised and the signal is asked to
    be silent away from that frame; in channel mode the unit's mean over all frames is maximised.
    The WAV is peak-normalised, 16 kHz; a JSON sidecar holds the settings, the activation per step
    and the figures (initial, final, and white noise of the same RMS), and a PNG the spectrogram.
    With --units, OUT is a folder with one set of files per unit and an index.html gallery to
    listen side by side.  --examples-store adds the stored frames of real speech that activate
    each unit most (utterance, time, phone, word, and a clip of the audio).

    \b
    Examples:
      layerprobe audiate --model tiny:whisper --layer T2 --unit 5 --steps 200 --out unit5.wav
      layerprobe audiate --model hf:/models/whisper-base --layer T3 --units 0-31 --steps 300 --out gallery/
      layerprobe audiate --model hf:/models/wav2vec2-base --layer T6 --unit 42 --mode channel --device cuda \\
          --examples-store features/hf_models_wav2vec2-base/LibriSpeech_dev-clean_sample1/contextualized_frame.h5 --out u42.wav
    """
    from contextlib import ExitStack

    from layerprobe.audiation import audiate_units, parse_units, top_activating_frames, write_audiation, write_gallery
    from layerprobe.models import load_model

    if (unit is None) == (units_text is None):
        raise click.UsageError("give exactly one of --unit N (one WAV) or --units SPEC (a folder with a gallery)")
    single = unit is not None
    if single and out.suffix.lower() != ".wav":
        raise click.BadParameter(f"{out} is not a .wav file; with --unit, OUT is the WAV to write", param_hint="--out")
    if not single and out.suffix.lower() == ".wav":
        raise click.BadParameter(f"{out} is a .wav file; with --units, OUT is a folder", param_hint="--out")
    chosen = [unit] if single else parse_units(units_text)
    adapter = load_model(model_spec, revision=revision, device=device)
    results = audiate_units(
        adapter, layer, chosen, batch_size=batch_size, progress=progress, mode=mode, frame=frame, steps=steps,
        seconds=seconds, seed=seed, lr=lr, neighbour_weight=neighbour_weight, silence_weight=silence_weight,
        regularizer=None if regularizer == "none" else regularizer, reg_weight=reg_weight, shift_frames=shift_frames,
    )  # fmt: skip
    sidecars = []
    with ExitStack() as stack:
        store = None
        if examples_store is not None:
            from layerprobe.io.store import FeatureStore

            store = stack.enter_context(FeatureStore.open(examples_store))
            if store.attrs.get("model") != adapter.spec:
                log.warning("--examples-store %s holds features of %s, not of %s", examples_store, store.attrs.get("model"), adapter.spec)
        for result in results:
            examples = None if store is None else top_activating_frames(store, result.layer, result.unit, top_k, samples_dir=samples_dir)
            wav = out if single else out / f"{result.layer}_unit{result.unit:04d}.wav"
            files = write_audiation(result, wav, examples=examples)
            sidecars.append(files.sidecar)
            click.echo(f"{result.summary()} -> {files.wav}")
    if not single:
        page = write_gallery(sidecars, out / "index.html")
        click.echo(f"gallery of {len(sidecars)} unit{'s' if len(sidecars) != 1 else ''} -> {page}")


# --------------------------------------------------------------------------------------------------
# finetune


def _parse_seeds(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``"0,1,2"`` -> (0, 1, 2): distinct non-negative integers."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts or any(_count(part) is None for part in parts):  # ASCII digits only: int('²') fails
        raise click.BadParameter(f"expected comma-separated non-negative integers, got {value!r}")
    seeds = tuple(int(part) for part in parts)
    if len(set(seeds)) != len(seeds):
        raise click.BadParameter(f"seeds repeat: {value!r}")
    return seeds


@cli.command("finetune", context_settings=CONTEXT_SETTINGS, short_help="CTC fine-tuning with re-initialised blocks or local attention; test WER.")
@click.option("--model", "model_spec", required=True, help="hf:ID_OR_DIR, fairseq:CKPT.pt or tiny:FAMILY.")
@click.option("--corpus", "corpus_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), help="Corpus directory with transcripts (LibriSpeech, TIMIT, folder, synthesized).")
@click.option("--train", "train_split", default="train", show_default=True, help="Split to train on.")
@click.option("--dev", "dev_split", default="dev", show_default=True, help="Split evaluated after every epoch (history only); none to skip.")
@click.option("--test", "test_split", default="test", show_default=True, help="Split scored into the result table.")
@click.option("--train-list", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Train only on the utterance ids in this file (one per line), e.g. a LibriSpeech 10 h subset.")
@click.option("--reinit", default=None, help="Re-initialise these transformer blocks before fine-tuning, e.g. T10-T12.")
@click.option("--local-attention", "local_attention", default=None, help="Restrict these blocks to local attention, e.g. T2-T12.")
@click.option("--radius", type=click.IntRange(min=0), default=30, show_default=True, help="Local-attention radius in frames (each side).")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True, help="Epochs.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True, help="Peak learning rate of the tri-stage schedule (Adam).")
@click.option("--warmup-epochs", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Linear warm-up over these first epochs.")
@click.option("--decay-start-epoch", type=click.FloatRange(min=0), default=6.0, show_default=True, help="Linear decay to 0 from this epoch to the end.")
@click.option("--freeze-epochs", type=click.IntRange(min=0), default=3, show_default=True, help="Epochs during which only the CTC head trains (the conv feature encoder never does).")
@click.option("--grad-clip", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Largest gradient norm.")
@click.option("--seeds", default="0", show_default=True, callback=_parse_seeds, help="Comma-separated seeds, one run each (e.g. 0,1,2); rows per seed plus mean and std.")
@click.option("--batch-seconds", type=click.FloatRange(min=0, min_open=True), default=100.0, show_default=True, help="Padded audio per training batch (batch size x longest utterance).")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=None, help="Leave out training utterances longer than this.")
@click.option("--preload", is_flag=True, help="Keep the waveforms in memory after their first read (small corpora).")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=None, help="Also checkpoint every N updates (besides every epoch).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1 ... (under accelerate launch / torchrun: cpu or cuda).")
@click.option("--lm", "lm_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="KenLM n-gram model (ARPA or binary): also report LM beam-search WER and CER (wer_lm, cer_lm).")
@click.option("--beam-width", type=click.IntRange(min=1), default=50, show_default=True, help="With --lm: beams kept per frame.")
@click.option("--lm-alpha", type=float, default=0.5, show_default=True, help="With --lm: weight of the LM score.")
@click.option("--lm-beta", type=float, default=1.0, show_default=True, help="With --lm: bonus per word.")
@click.option("--untrained-baseline", is_flag=True, help="Also score each seed's untrained model (random CTC head) on test: the chance level, in the sidecar.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("finetune"), show_default=True, help="Folder of the checkpoints: OUT/seed<k>/checkpoint.pt and result.json; a rerun resumes there.")
@click.option("--results", type=click.Path(dir_okay=False, path_type=Path), default=Path("results/finetune.csv"), show_default=True, help="Result table (CSV; a JSON sidecar goes next to it).")
@_progress_option
def finetune_command(
    model_spec: str,
    corpus_dir: Path,
    train_split: str,
    dev_split: str,
    test_split: str,
    train_list: Path | None,
    reinit: str | None,
    local_attention: str | None,
    radius: int,
    epochs: int,
    lr: float,
    warmup_epochs: float,
    decay_start_epoch: float,
    freeze_epochs: int,
    grad_clip: float,
    seeds: tuple[int, ...],
    batch_seconds: float,
    max_seconds: float | None,
    preload: bool,
    checkpoint_every: int | None,
    device: str,
    lm_path: Path | None,
    beam_width: int,
    lm_alpha: float,
    lm_beta: float,
    untrained_baseline: bool,
    out: Path,
    results: Path,
    progress: bool,
) -> None:
    """Fine-tune a model with a CTC head on characters for each seed; test WER and CER.

    The encoder (with --reinit blocks re-initialised, or --local-attention blocks restricted to
    +-RADIUS frames) gets a linear CTC head and trains with Adam and a tri-stage learning-rate
    schedule; the conv feature encoder stays frozen, the transformer for the first
    --freeze-epochs.  Checkpoints go to OUT/seed<k> after every epoch (and every
    --checkpoint-every updates), and a rerun resumes an interrupted seed.  Test CER and WER (greedy;
    with --lm also LM beam search) go to RESULTS under the experiment finetune,
    finetune_reinit:<blocks> or finetune_local:<blocks>@<radius>, layer TL, one row per seed plus
    <metric>_mean and <metric>_std rows.  Several GPUs: run the same command under
    `accelerate launch -m layerprobe finetune ...` or `torchrun --nproc_per_node N -m layerprobe finetune ...`.

    \b
    Examples:
      layerprobe finetune --model tiny:whisper --corpus synth --epochs 15 --lr 3e-3 --freeze-epochs 0 --batch-seconds 8
      layerprobe finetune --model hf:/models/wav2vec2-base --corpus /data/LibriSpeech --train train-clean-100 \\
          --train-list train-10h.txt --dev dev-clean --test test-clean --reinit T10-T12 --seeds 0,1,2 --device cuda \\
          --lm 4-gram.arpa --out runs/reinit3
      layerprobe finetune --model hf:/models/wav2vec2-base --corpus /data/LibriSpeech --local-attention T2-T12 --radius 30 ...
      accelerate launch -m layerprobe finetune --model hf:/models/wav2vec2-base --corpus /data/LibriSpeech --device cuda ...
    """
    from layerprobe.training.data import WaveformCTCData
    from layerprobe.training.finetune import finetune
    from layerprobe.training.trainer import TrainConfig

    config = TrainConfig(
        epochs=epochs,
        peak_lr=lr,
        warmup_epochs=warmup_epochs,
        decay_start_epoch=decay_start_epoch,
        freeze_epochs=freeze_epochs,
        grad_clip=grad_clip,
        max_batch_frames=max(1, round(batch_seconds * 16_000)),
        checkpoint_every_steps=checkpoint_every,
        device=device,
    )
    train = WaveformCTCData(corpus_dir, train_split, file_list=train_list, max_seconds=max_seconds, preload=preload)
    dev = WaveformCTCData(corpus_dir, dev_split, preload=preload) if dev_split.lower() != "none" else None
    test = WaveformCTCData(corpus_dir, test_split, preload=preload)
    main_process = _is_main_process()

    def report(seed: int, record: dict) -> None:
        if not main_process:
            return
        dev_text = f", dev CER {record['dev_cer']:.3f} WER {record['dev_wer']:.3f}" if "dev_cer" in record else ""
        frozen = " (transformer frozen)" if record.get("frozen") else ""
        click.echo(f"seed {seed} epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.3f}{dev_text}, "
                   f"lr {record['lr']:.2e}{frozen}")  # fmt: skip

    result = finetune(
        model_spec, train, dev, test, reinit=reinit, local_attention=local_attention, radius=radius, config=config,
        seeds=seeds, out_dir=out, lm_path=lm_path, beam_width=beam_width, lm_alpha=lm_alpha, lm_beta=lm_beta,
        results=results, test_split=test_split, untrained_baseline=untrained_baseline, progress=progress,
        on_epoch_end=report,
    )  # fmt: skip
    if not main_process:
        return
    for seed, metrics in result.test_metrics.items():
        lm = f", LM WER {metrics['beam_wer']:.3f} CER {metrics['beam_cer']:.3f}" if "beam_wer" in metrics else ""
        untrained = result.untrained_metrics.get(seed)
        baseline = f" (untrained: CER {untrained['cer']:.3f})" if untrained else ""
        click.echo(f"{result.experiment} seed {seed}: test WER {metrics['wer']:.3f}, CER {metrics['cer']:.3f}{lm}{baseline}")
    if len(result.seeds) > 1:
        aggregate = result.aggregate
        click.echo(f"{result.experiment} over {len(result.seeds)} seeds: WER {aggregate['wer_mean']:.3f} +- {aggregate['wer_std']:.3f}, "
                   f"CER {aggregate['cer_mean']:.3f} +- {aggregate['cer_std']:.3f}")  # fmt: skip
    click.echo(f"checkpoints in {out}; results -> {result.results_path}")


def _is_main_process() -> bool:
    """False in the non-main processes of a multi-process launch (accelerate launch / torchrun)."""
    import os

    return os.environ.get("RANK", "0") == "0"


# --------------------------------------------------------------------------------------------------
# import-reference


@cli.command("import-reference", context_settings=CONTEXT_SETTINGS, short_help="Add result files of the published reference code to a result table.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", default=None, help="Model name of the rows [default: <model> of the logs/<dataset>_<model>/ folder].")
@click.option("--experiment", default=None, help="Experiment of the rows [default: from the file name].")
@click.option("--split", default=None, help="Split of the rows [default: from the file name].")
@click.option("--sample", "sample_id", type=click.IntRange(min=0), default=None, help="Data-sample id of the rows [default: from the file name or the lines].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("results/reference.csv"), show_default=True, help="Result table (CSV; a JSON sidecar goes next to it).")
def import_reference_command(
    files: tuple[Path, ...], model: str | None, experiment: str | None, split: str | None, sample_id: int | None, out: Path
) -> None:
    """Read the score files of the published layer-wise analysis code into a result table.

    Reads what its get_scores.py writes under logs/<dataset>_<model>/: CCA scores of every layer
    (<exp>_<split>_sample<k>.json; _mean.json: metric pwcca_mean), single-layer CCA lines
    (<exp>_<split>.lst: layer,sample,score), MI lines (mi_<span>_<eval>_<train>.lst:
    layer,sample,iteration,score; metric nmi, seed = iteration) and word similarity
    (wordsim_*.pkl or .json; metrics spearman_micro, spearman_macro, spearman:<task>).  Layer
    numbers become T<n>.  Rows are added to OUT (same key: replaced) with the file and its format
    as provenance; plot them next to layerprobe's own results.  Every file is read before OUT is
    written.

    \b
    Examples:
      layerprobe import-reference logs/librispeech_wav2vec_small/*.json --out results/reference.csv
      layerprobe import-reference logs/librispeech_wav2vec_small/mi_phone_dev-clean_train-clean.lst \\
          --model wav2vec2-base-reference --out results/reference.csv
      layerprobe plot results/reference.csv results/cca.csv --experiment cca_mel --out cca_mel.png
    """
    from layerprobe.importers import describe, import_reference

    read = import_reference(files, out, model=model, experiment=experiment, split=split, sample=sample_id)
    for result in read:
        click.echo(describe(result))
    total = sum(len(result.rows) for result in read)
    click.echo(f"{total} row{'s' if total != 1 else ''} from {len(read)} file{'s' if len(read) != 1 else ''} -> {out}")


# --------------------------------------------------------------------------------------------------
# entry point


def _count(text: str) -> int | None:
    """``text`` as a count when it is one (ASCII digits, at most 9 of them), else None.

    ``str.isdigit`` alone would take ``'²'``, which ``int`` refuses, and ``int`` refuses more than 4300 digits.
    """
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


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
