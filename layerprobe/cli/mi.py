"""``layerprobe mi``: mutual information of k-means clusters of stored layers with phones or words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from layerprobe.cli.options import (
    CONTEXT_SETTINGS,
    MODEL_OF_FEATURES,
    IntegerList,
    corpus_option,
    device_option,
    features_option,
    launcher_options,
    layers_option,
    model_option,
    out_file_option,
    progress_option,
    sample_option,
    span_option,
)


@click.command("mi", context_settings=CONTEXT_SETTINGS, short_help="Mutual information of k-means clusters of stored layers with phones or words.")
@span_option("mi_phone or mi_word.", required=True, choices=("phone", "word"))
@model_option(MODEL_OF_FEATURES)
@corpus_option("Corpus name of the data-sample sets.")
@click.option("--train-split", required=True, help="Split whose features k-means is fitted on.")
@click.option("--eval-split", required=True, help="Split whose clusters are scored (the rows' split).")
@sample_option("Sample id k (of both splits).")
@layers_option("all, T4, T1-T12 ...")
@click.option("--iter", "--seed", "iteration", type=click.IntRange(min=0), default=0, show_default=True, help="Iteration number, the seed of the clustering.")
@click.option("--iters", "iterations", type=IntegerList(), default=None, help="Several iterations (0-4, 0,2,5): a sweep, one job per layer and iteration with --launcher.")
@click.option("--n-clusters", type=click.IntRange(min=1), default=None, help="Clusters [phone: 500, word: 5000].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Mini-batch size; lloyd: rows per distance block [phone: 1500, word: 4000].")
@click.option("--max-iter", type=click.IntRange(min=1), default=500, show_default=True, help="Most epochs (lloyd: full passes).")
@click.option("--algorithm", type=click.Choice(["published", "lloyd", "minibatch"]), default="published", show_default=True,
              help="published: the published MiniBatchKMeans (k-means++) clustering, fast; minibatch: scikit-learn's own (slow); "
                   "lloyd: full-batch Lloyd, which scores higher than the published protocol (rows named mi_phone@lloyd).")  # fmt: skip
@click.option("--init", type=click.Choice(["auto", "random", "k-means++"]), default=None, help="lloyd: the init [auto: k-means++ up to 1000 clusters, random rows above].")
@click.option("--tol", type=click.FloatRange(min=0), default=1e-3, show_default=True, help="lloyd: stop when a pass lowers the inertia by less than this fraction.")
@click.option("--n-init", type=click.IntRange(min=1), default=None,
              help="published, minibatch: k-means++ initialisations, the best kept [3: the published setting, "
                   "scikit-learn's default before 1.4]; rows of another count are named mi_phone@1init ...")  # fmt: skip
@click.option("--standardize", is_flag=True, default=False,
              help="z-score each dimension with the training split's mean and std (applied to both splits; a zero-std "
                   "dimension only centred) before k-means; not the published protocol (raw features): rows named "
                   "mi_phone@zscore, mi_phone@lloyd+zscore ...")  # fmt: skip
@device_option("lloyd: cpu, cuda, cuda:1 ...")
@features_option()
@out_file_option("results/mi.csv")
@progress_option
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
    n_init: int | None,
    standardize: bool,
    device: str,
    features: Path,
    out: Path,
    progress: bool,
    iterations: list[int] | None,
    **launcher: Any,
) -> None:
    """Score each layer by the mutual information of its k-means clusters with phone or word labels.

    k-means is fitted on the contextualized phone (word) features of TRAIN_SPLIT and predicts the
    clusters of EVAL_SPLIT; the score is I(C;L)/H(L) in nats (metric nmi), one row per layer with
    seed = the iteration.  Run several iterations for the mean and spread that `layerprobe plot`
    draws.  Stores are read from FEATURES/<model>/<corpus>_<split>_sample<k>/contextualized_<span>.h5;
    rows go to OUT, replacing earlier ones with the same key; the sidecar keeps the sizes
    (instances, clusters, labels), which bias the estimate upward when clusters are many.  The
    default clustering is the published one (scikit-learn's MiniBatchKMeans algorithm) on the raw
    features; rows of --algorithm lloyd are named mi_phone@lloyd (mi_word@lloyd), rows of
    --standardize (features z-scored with the training split's statistics) mi_phone@zscore
    (mi_phone@lloyd+zscore ...), apart from published numbers.

    \b
    Examples:
      layerprobe mi --span phone --model tiny:wav2vec2 --corpus demo --train-split train --eval-split dev
      layerprobe mi --span word --layers all --iters 0-4 --model hf:facebook/wav2vec2-base \\
          --corpus LibriSpeech --train-split train-clean-100 --eval-split dev-clean --launcher submitit
    """
    from layerprobe.jobs.runners import mi_task

    iteration_list = [iteration] if iterations is None else list(iterations)
    arguments = dict(span=span, model=model_spec, corpus=corpus, train_split=train_split, eval_split=eval_split,
                     sample=sample_id, layers=layers, iterations=iteration_list, n_clusters=n_clusters, batch_size=batch_size,
                     max_iter=max_iter, algorithm=algorithm, init=init, tol=tol, n_init=n_init, standardize=standardize, device=device,
                     features=features, out=out, progress=progress)  # fmt: skip
    if launcher["launcher"] != "none":
        from layerprobe.experiments.mi import mi_layers
        from layerprobe.cli.launching import run_launch, task

        chosen = mi_layers(span, features=features, model=model_spec, corpus=corpus, train_split=train_split,
                           eval_split=eval_split, sample=sample_id, layers=layers)  # fmt: skip
        if iterations is None:
            tasks = [task(f"layer {layer}", mi_task, {**arguments, "layers": layer}, {"layers": layer}) for layer in chosen]
        else:
            tasks = [
                task(f"layer {layer} iter {seed}", mi_task, {**arguments, "layers": layer, "iterations": [seed]},
                     {"layers": layer, "iteration": seed, "iterations": None})
                for seed in iteration_list
                for layer in chosen
            ]  # fmt: skip
        run_launch(tasks, launcher)
        return
    mi_task(**arguments, echo=click.echo)


__all__ = ["mi_command"]
