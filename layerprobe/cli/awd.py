"""``layerprobe awd``: acoustic word discrimination (same-different AP) of each layer of a word store."""

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
    split_option,
)


@click.command("awd", context_settings=CONTEXT_SETTINGS, short_help="Acoustic word discrimination (same-different AP) per layer.")
@model_option(MODEL_OF_FEATURES)
@corpus_option()
@split_option()
@sample_option()
@layers_option("all, T4, T1-T12 ...")
@features_option()
@click.option("--speaker-pattern", default=None,
              help="Regular expression searched in utterance ids whose first group is the speaker (LibriSpeech '^(\\d+)-', "
                   "TIMIT '^([^_]+)_'); adds ap_cross_speaker.")  # fmt: skip
@click.option("--span", "store_span", type=click.Choice(["word", "all_words"]), default="word", show_default=True,
              help="The store read: the word sample's or the all-words sample's (the data of cca_semantic; rows awd@all_words).")
@out_file_option("results/awd.csv")
@progress_option
@launcher_options
def awd_command(
    model_spec: str, corpus: str, split: str, sample_id: int, layers: str, features: Path, speaker_pattern: str | None,
    store_span: str, out: Path, progress: bool, **launcher: Any,
) -> None:  # fmt: skip
    """Score each layer on the same-different task: the average precision of same-word pairs.

    Reads FEATURES/<model>/<corpus>_<split>_sample<k>/contextualized_word.h5 (extract --span
    word: one mean-pooled row per word segment; --span all_words: contextualized_all_words.h5).  Every pair of segments is ranked by the cosine
    distance of its rows; the AP of the same-word pairs (sklearn's average precision of the
    scores -distance, computed exactly in tiles: memory grows with the same-word pairs, never with
    all n^2 pairs) is row `ap`.  With --speaker-pattern, `ap_cross_speaker` ranks the same-word
    different-speaker pairs against the different-word pairs.  Pair counts go to the sidecar.

    \b
    Examples:
      layerprobe awd --model tiny:wav2vec2 --corpus demo --split train --layers all
      layerprobe awd --model hf:facebook/wav2vec2-base --corpus LibriSpeech --split dev-clean \\
          --speaker-pattern '^(\\d+)-' --out results/awd.csv
      layerprobe awd --model ... --corpus ... --split ... --launcher submitit     # a job per layer
      layerprobe awd --model ... --corpus ... --split train --span all_words     # the all-words sample
    """
    from layerprobe.jobs.runners import awd_task

    arguments = dict(model=model_spec, corpus=corpus, split=split, sample=sample_id, layers=layers, features=features, out=out,
                     speaker_pattern=speaker_pattern, span=store_span, progress=progress)  # fmt: skip
    if launcher["launcher"] != "none":
        from layerprobe.cli.launching import run_launch, task
        from layerprobe.experiments.awd import awd_layers

        chosen = awd_layers(features=features, model=model_spec, corpus=corpus, split=split, sample=sample_id, layers=layers,
                            span=store_span)  # fmt: skip
        run_launch([task(f"layer {layer}", awd_task, {**arguments, "layers": layer}, {"layers": layer}) for layer in chosen], launcher)
        return
    awd_task(**arguments, echo=click.echo)


__all__ = ["awd_command"]
