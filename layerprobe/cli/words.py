"""``layerprobe wordvec`` and ``layerprobe wordsim``: static word vectors per layer, and their word similarity."""

from __future__ import annotations

from pathlib import Path

import click

from layerprobe.cli.console import echo
from layerprobe.cli.options import (
    CONTEXT_SETTINGS,
    MODEL_OF_FEATURES,
    corpus_option,
    features_option,
    layers_option,
    model_option,
    out_dir_option,
    out_file_option,
    progress_option,
    sample_option,
    seed_option,
    split_option,
    stack,
)

#: The options that find a model's word store (shared by wordvec and wordsim).
word_store_options = stack(
    model_option(MODEL_OF_FEATURES),
    corpus_option(),
    split_option(),
    sample_option(),
    features_option(),
    layers_option("all, T4, T1-T12 ..."),
    click.option("--max-instances", type=click.IntRange(min=1), default=200, show_default=True, help="Instances averaged per word at most."),
    seed_option("Seed of the choice among a word's instances."),
)  # fmt: skip


@click.command("wordvec", context_settings=CONTEXT_SETTINGS, short_help="Static word vectors per layer from a word store.")
@word_store_options
@click.option("--format", "file_format", type=click.Choice(["kv", "word2vec"]), default="kv", show_default=True, help="gensim native <LAYER>.kv or word2vec binary <LAYER>.bin.")
@out_dir_option("Folder of the files [default: the wordvec folder next to the store].")
@progress_option
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
    from layerprobe.experiments.wordvec import run_wordvec

    def report(written) -> None:
        echo(f"wordvec {written.layer}: {written.n_words} words from {written.n_instances} of {written.n_rows} instances -> {written.path}")

    files = run_wordvec(features=features, model=model_spec, corpus=corpus, split=split, sample=sample_id, layers=layers,
                        max_instances=max_instances, seed=seed, out=out, format=file_format, progress=progress, on_layer=report)  # fmt: skip
    click.echo(f"{len(files)} layer{'s' if len(files) != 1 else ''} -> {files[0].path.parent}")


@click.command("wordsim", context_settings=CONTEXT_SETTINGS, short_help="Word similarity (Spearman) of each layer's word vectors.")
@word_store_options
@click.option("--benchmark", "benchmarks", multiple=True, help="wordsim353, simlex999 or a file of 'word1 word2 score' lines (repeat) [default: wordsim353 and simlex999].")
@click.option("--vectors", multiple=True, help="Score these word-vector files instead of the store's layers: [LAYER=]FILE, e.g. T3.kv or T3=glove.txt (repeat).")
@click.option("--wordvec", "wordvec_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder of `layerprobe wordvec` files [default: the wordvec folder next to the store].")
@out_file_option("results/wordsim.csv")
@progress_option
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
    from layerprobe.analysis.wordsim import DEFAULT_BENCHMARKS
    from layerprobe.experiments.wordsim import run_wordsim

    def report(score) -> None:
        result = score.result
        parts = []
        for name in result.per_benchmark:
            counts = f"{result.used[name]} of {result.used[name] + result.skipped[name]} pairs"
            parts.append(f"{name} not scored ({result.unscored[name]})" if name in result.unscored
                         else f"{name} {result.per_benchmark[name]:.4f} ({counts})")  # fmt: skip
        source = f"vectors of {score.n_words} words from {score.source}" if score.source else f"vectors of {score.n_words} words built from the store"
        averages = f"micro {result.micro:.4f}, macro {result.macro:.4f}" if result.scored else "no rows"
        echo(f"wordsim {score.layer}: {averages}; {'; '.join(parts)}; {source}")

    scores = run_wordsim(features=features, model=model_spec, corpus=corpus, split=split, sample=sample_id, layers=layers,
                         benchmarks=benchmarks or DEFAULT_BENCHMARKS, vectors=vectors or None, wordvec=wordvec_dir,
                         max_instances=max_instances, seed=seed, results=out, progress=progress, on_layer=report)  # fmt: skip
    scored = sum(1 for score in scores if score.result.scored)
    click.echo(f"{scored} layer{'s' if scored != 1 else ''} -> {out}")


__all__ = ["wordsim_command", "wordvec_command"]
