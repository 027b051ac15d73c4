"""``layerprobe cca``: CCA of stored layers against mel, phones, words or embeddings."""

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
    seed_option,
    split_option,
)


@click.command("cca", context_settings=CONTEXT_SETTINGS, short_help="CCA of stored layers against mel, phones, words or embeddings.")
@click.option(
    "--exp",
    "experiment",
    required=True,
    type=click.Choice(["cca_mel", "cca_intra", "cca_phone", "cca_word", "cca_agwe", "cca_glove", "cca_semantic", "cca_syntactic"]),
    help="The experiment (REFERENCE.md section 3).",
)
@model_option(MODEL_OF_FEATURES)
@corpus_option()
@split_option()
@sample_option()
@layers_option("all, T4, T1-T12, C1-C7,T1-T12 ...")
@features_option()
@out_file_option("results/cca.csv")
@seed_option("Seed of the split, trials and epsilon order.")
@click.option("--embeddings", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="cca_agwe / cca_glove: word vectors (word2vec text or binary, GloVe text).")
@click.option("--embeddings-format", type=click.Choice(["auto", "word2vec", "word2vec-binary", "glove"]), default="auto", show_default=True, help="Format of --embeddings.")
@click.option("--vocabulary-size", type=click.IntRange(min=1), default=500, show_default=True, help="cca_word: most frequent words kept.")
@click.option("--base-layer", default="T0", show_default=True, help="cca_intra: the layer every other is compared with.")
@click.option("--oracle", type=click.Path(exists=True, path_type=Path), default=None,
              help="cca_semantic / cca_syntactic: a QVEC oracle file (or a WordNet directory, a words.yml POS-count file) "
                   "[default: built from WordNet 3.0 + SemCor counts / the tagger lexicon of Debian's packages].")
@click.option("--span", "store_span", type=click.Choice(["all_words", "word"]), default=None,
              help="cca_semantic / cca_syntactic: read the all_words store [default] or the word store.")
@click.option("--control", type=click.Choice(["none", "shuffled"]), default="none", show_default=True,
              help="cca_semantic / cca_syntactic: shuffled pairs each word with another word's oracle vector (seeded), "
                   "the score of word identity alone that the real one must beat; rows named cca_semantic@shuffled ...")
@click.option("--signs", type=click.Choice(["lapack", "pinned"]), default="lapack", show_default=True,
              help="Signs of the canonical directions: LAPACK's (the published code's numbers, which depend on the "
                   "LAPACK build) or pinned (the same on every machine; rows named cca_mel@pinned ...).")  # fmt: skip
@click.option("--null-directions", type=click.Choice(["zero", "keep", "drop"]), default="zero", show_default=True, help="Directions the data hardly span (a one-hot view's null space, a LayerNorm view's hyperplane normal): "
                   "correlation 0 (default), as computed (the reference's rounding noise), or weight 0.")
@progress_option
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
    oracle: Path | None,
    store_span: str | None,
    control: str,
    null_directions: str,
    signs: str,
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
      layerprobe cca --exp cca_semantic --model ... --corpus ... --split train   # the all_words store
      layerprobe cca --exp cca_semantic --control shuffled --model ... --corpus ... --split train   # its control
      layerprobe cca --exp cca_mel --model ... --corpus ... --split ... --launcher submitit   # a job per layer
    """
    from layerprobe.jobs.runners import cca_task

    arguments = dict(experiment=experiment, model=model_spec, corpus=corpus, split=split, sample=sample_id, layers=layers,
                     features=features, out=out, seed=seed, embeddings=embeddings, embeddings_format=embeddings_format,
                     vocabulary_size=vocabulary_size, base_layer=base_layer, null_directions=null_directions, signs=signs,
                     progress=progress, oracle=oracle, span=store_span, control=control)  # fmt: skip
    if launcher["launcher"] != "none":
        from layerprobe.experiments.cca import cca_layers
        from layerprobe.cli.launching import run_launch, task

        chosen = cca_layers(experiment, features=features, model=model_spec, corpus=corpus, split=split, sample=sample_id,
                            layers=layers, base_layer=base_layer, span=store_span)  # fmt: skip
        run_launch([task(f"layer {layer}", cca_task, {**arguments, "layers": layer}, {"layers": layer}) for layer in chosen], launcher)
        return
    cca_task(**arguments, echo=click.echo)


__all__ = ["cca_command"]
