"""``layerprobe demo``: the pipeline, offline, on a synthesized corpus."""

from __future__ import annotations

from pathlib import Path

import click

from layerprobe.cli.options import CONTEXT_SETTINGS, model_option, out_dir_option, progress_option, seed_option


@click.command("demo", context_settings=CONTEXT_SETTINGS, short_help="Run the pipeline offline on a synthesized corpus.")
@out_dir_option("Directory for everything the demo writes.", default=Path("layerprobe-demo"))
@click.option("--n", "n_utterances", type=click.IntRange(min=10), default=400, show_default=True, help="Utterances to synthesize.")
@seed_option("Seed of the corpus and samples.")
@model_option("Model whose layers are extracted.", required=False, default="tiny:wav2vec2")
@progress_option
def demo_command(out: Path, n_utterances: int, seed: int, model_spec: str, progress: bool) -> None:
    """Run the pipeline offline on a synthesized corpus and say what each step did.

    Synthesize an English corpus with eSpeak NG (exact phone and word timings) into OUT/corpus,
    draw frame (48 utterances), phone and word data-sample sets from its training split and a phone
    sample of its dev split (OUT/data_samples), extract every layer of a model (a seeded tiny random
    wav2vec 2.0 by default) and the log-mel baseline into HDF5 stores (OUT/features), run cca_mel
    and cca_phone over all layers into OUT/results/cca.csv and mi_phone (10 k-means clusters fitted
    on train, scored on dev, beside its shuffled-cluster chance level) into OUT/results/mi.csv (each
    with a JSON sidecar), and draw their layer-trend curves, OUT/results/cca_trend.png and
    mi_trend.png, each also as .pdf.  The default --n of 400 leaves ~540 dev phones, enough for
    mi_phone to score clearly above chance; much smaller corpora warn that it does not.

    \b
    Examples:
      layerprobe demo --out layerprobe-demo
      layerprobe demo --model tiny:hubert --out demo-hubert
      layerprobe demo --model hf:/models/wav2vec2-base --out demo-w2v2
    """
    from layerprobe.demo import run_demo

    for line in run_demo(out, n_utterances=n_utterances, seed=seed, model=model_spec, progress=progress):
        click.echo(line)


__all__ = ["demo_command"]
