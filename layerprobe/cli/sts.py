"""``layerprobe sts`` (spoken sentence similarity per layer) and ``layerprobe corpus synth-sts`` (a synthesized set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from layerprobe.cli.options import (
    CONTEXT_SETTINGS,
    MODEL_OF_FEATURES,
    corpus_option,
    features_option,
    launcher_options,
    layers_option,
    model_option,
    out_dir_option,
    out_file_option,
    overwrite_option,
    progress_option,
    sample_option,
    seed_option,
    split_option,
)


@click.command("sts", context_settings=CONTEXT_SETTINGS, short_help="Spoken sentence similarity (Spearman) per layer.")
@model_option(MODEL_OF_FEATURES)
@corpus_option()
@split_option()
@sample_option()
@click.option("--rep", type=click.Choice(["contextualized", "local", "mel"]), default="contextualized", show_default=True,
              help="Which frame store (mel: the log-mel baseline, with --model left out).")  # fmt: skip
@layers_option("all, T4, T1-T12 ...")
@features_option()
@click.option("--dataset", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The spoken-STS dataset (parquet or save_to_disk folder) [default: the corpus of the store's data-sample set].")  # fmt: skip
@click.option("--combine", type=click.Choice(["mean", "all"]), default="mean", show_default=True,
              help="A pair's speaker combinations: their mean cosine (published), or each one a point.")  # fmt: skip
@out_file_option("results/sts.csv")
@progress_option
@launcher_options
def sts_command(
    model_spec: str | None, corpus: str, split: str, sample_id: int, rep: str, layers: str, features: Path, dataset: Path | None,
    combine: str, out: Path, progress: bool, **launcher: Any,
) -> None:  # fmt: skip
    """Score each layer on spoken sentence similarity: Spearman's rho against human scores.

    Reads FEATURES/<model>/<corpus>_<split>_sample<k>/<rep>_frame.h5, extracted from a spoken-STS
    dataset in the published parquet layout (task, subtask, pair_id, speaker_id, audio_a, audio_b,
    similarity) with every utterance in the sample.  An utterance's embedding is the mean of its
    frames; a pair's similarity the mean cosine over every speaker of sentence a with every speaker
    of sentence b.  Rows: `spearman` per layer and `spearman:<task>/<subtask>` per subtask.

    \b
    Examples:
      layerprobe corpus synth-sts --out sts --n-pairs 60
      layerprobe sample --corpus sts --split test --span frame --n-utterances 1000000
      layerprobe extract --model tiny:wav2vec2 --corpus sts --split test --rep contextualized --span frame
      layerprobe sts --model tiny:wav2vec2 --corpus sts --split test --out results/sts.csv
      layerprobe sts --model ... --corpus ... --split ... --launcher submitit     # a job per layer
    """
    from layerprobe.jobs.runners import sts_task

    if model_spec is None and rep != "mel":
        raise click.UsageError("--model is needed (only --rep mel, the log-mel baseline, has none)")
    from layerprobe.experiments.query import MEL_TAG

    model = MEL_TAG if rep == "mel" and model_spec is None else model_spec
    arguments = dict(model=model, corpus=corpus, split=split, sample=sample_id, rep=rep, layers=layers, features=features,
                     dataset=dataset, combine=combine, out=out, progress=progress)  # fmt: skip
    if launcher["launcher"] != "none":
        from layerprobe.cli.launching import run_launch, task
        from layerprobe.experiments.sts import sts_layers

        chosen = sts_layers(features=features, model=model, corpus=corpus, split=split, sample=sample_id, rep=rep, layers=layers)
        run_launch([task(f"layer {layer}", sts_task, {**arguments, "layers": layer}, {"layers": layer}) for layer in chosen], launcher)
        return
    sts_task(**arguments, echo=click.echo)


@click.command("synth-sts", context_settings=CONTEXT_SETTINGS, short_help="Synthesize a spoken-STS set (published parquet layout).")
@out_dir_option("Destination folder (OUT/data/test-00000-of-00001.parquet).", required=True)
@click.option("--n-pairs", type=click.IntRange(min=2, max=100_000), default=60, show_default=True, help="Sentence pairs.")
@seed_option("Seed of the sentences, the word swaps and eSpeak.")
@overwrite_option("Replace an existing OUT.")
def synth_sts_command(out: Path, n_pairs: int, seed: int, overwrite: bool) -> None:
    """Write sentence pairs of the synthesized grammar with a designed similarity, spoken by 4 eSpeak voices.

    Sentence b is sentence a with none, a quarter, half, three quarters or all of its content words
    swapped for others of the same kind, or an unrelated sentence; the score is 5 x the cosine of
    the two sentences' word counts.  The layout is the published one (juice500/spoken_sts: task,
    subtask, pair_id, speaker_id, audio_a, audio_b, similarity; text_a and text_b besides), so
    `corpus info`, `sample`, `extract` and `sts` read it as they read the real set.

    \b
    Example:
      layerprobe corpus synth-sts --out sts --n-pairs 60 --seed 0
    """
    from layerprobe.data.corpora import format_seconds
    from layerprobe.data.spoken_sts import synthesize_sts

    report = synthesize_sts(out, n_pairs=n_pairs, seed=seed, overwrite=overwrite)
    click.echo(f"{report.n_pairs} pairs x 4 voices = {report.n_rows} rows ({2 * report.n_rows} utterances, "
               f"{format_seconds(report.seconds)} of speech) -> {report.path}")  # fmt: skip


__all__ = ["sts_command", "synth_sts_command"]
