"""``layerprobe segment``: unsupervised word segmentation (published peak picking) of each layer of a frame store."""

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
    out_file_option,
    progress_option,
    sample_option,
    samples_dir_option,
    split_option,
)


@click.command("segment", context_settings=CONTEXT_SETTINGS, short_help="Unsupervised word segmentation (boundary F1, R-value) per layer.")
@model_option(MODEL_OF_FEATURES)
@corpus_option()
@split_option("Split the chosen settings are scored on (its rows).")
@sample_option()
@click.option("--tune-split", default="dev", show_default=True, help="Split whose frame store the 180 settings are searched on.")
@click.option("--tune-on-eval", is_flag=True, help="Search the settings on --split itself (the published protocol); rows '+same-data'.")
@click.option("--convention", "conventions", type=click.Choice(["librispeech", "buckeye"]), multiple=True,
              help="Evaluation convention(s) (repeatable; default both).")  # fmt: skip
@layers_option("all, T4, T1-T12 ...")
@features_option()
@samples_dir_option("Where the data-sample sets are (their manifests name the word alignments).")
@out_file_option("results/segment.csv")
@progress_option
@launcher_options
def segment_command(
    model_spec: str, corpus: str, split: str, sample_id: int, tune_split: str, tune_on_eval: bool, conventions: tuple[str, ...],
    layers: str, features: Path, samples_dir: Path, out: Path, progress: bool, **launcher: Any,
) -> None:  # fmt: skip
    """Segment each layer's frames into words by peak picking and score the boundaries.

    Reads FEATURES/<model>/<corpus>_<split>_sample<k>/contextualized_frame.h5 (extract of a
    frame-span sample) and the word alignments its manifest names.  Per utterance: z-score over the
    sample, distance of adjacent frames (euclidean or cosine), moving average over w, peaks of
    prominence >= p; a peak at k is a boundary at frame k + w//2.  The 180 settings (15 p x 2
    distances x 6 w) are searched on the --tune-split store; the best per convention (boundary
    F1) is scored on --split.  Conventions: librispeech (+-20 ms, many-to-one; experiment
    segment@librispeech) and buckeye (vqwordseg: +-2 10 ms slices, one-to-one, final boundary
    left out; segment@buckeye); with --tune-on-eval they end in +same-data.  Metrics precision, recall, f1, os, r_value, token_f1; the
    chosen distance, w and p go to the sidecar.

    \b
    Examples:
      layerprobe segment --model tiny:wav2vec2 --corpus demo --split test --tune-split dev
      layerprobe segment --model ... --corpus ... --split dev --tune-on-eval     # published: same data
      layerprobe segment --model ... --corpus ... --split test --launcher submitit   # a job per layer
    """
    from layerprobe.jobs.runners import segment_task

    arguments = dict(model=model_spec, corpus=corpus, split=split, sample=sample_id, tune_split=tune_split, tune_on_eval=tune_on_eval,
                     conventions=conventions or ("librispeech", "buckeye"), layers=layers, features=features,
                     samples_dir=samples_dir, out=out, progress=progress)  # fmt: skip
    if launcher["launcher"] != "none":
        from layerprobe.cli.launching import run_launch, task
        from layerprobe.experiments.segment import segment_layers

        chosen = segment_layers(features=features, model=model_spec, corpus=corpus, split=split, sample=sample_id, layers=layers)
        run_launch([task(f"layer {layer}", segment_task, {**arguments, "layers": layer}, {"layers": layer}) for layer in chosen], launcher)
        return
    segment_task(**arguments, echo=click.echo)


__all__ = ["segment_command"]
