"""``layerprobe probe`` and ``layerprobe finetune``: CTC probes on frozen layers, and CTC fine-tuning."""

from __future__ import annotations

from pathlib import Path

import click

from layerprobe.cli.console import echo
from layerprobe.cli.options import (
    CONTEXT_SETTINGS,
    IntegerList,
    corpus_dir_option,
    corpus_option,
    device_option,
    epochs_option,
    features_option,
    layers_option,
    lm_options,
    lr_option,
    model_option,
    out_dir_option,
    out_file_option,
    overwrite_option,
    progress_option,
    sample_option,
    samples_dir_option,
    seed_option,
    train_list_option,
    training_splits_options,
    untrained_baseline_option,
)


@click.command("probe", context_settings=CONTEXT_SETTINGS, short_help="Train BiLSTM CTC probes on frozen stored layers; test WER per layer.")
@model_option("Model spec the features were extracted with (not needed for --layers mel).", required=False)
@corpus_option("Corpus name (or its directory) of the data-sample sets.")
@training_splits_options("Split whose frame store trains the probe.", "Split for early stopping (see --stop-metric).")
@sample_option("Sample id k of the three frame data-sample sets.")
@layers_option("all (the model's stored layers), mel (log-mel baseline), T8, T1-T12, mel,T4 ...")
@features_option()
@samples_dir_option("Where the data-sample sets are (they name the corpus directory with the transcripts).")
@click.option("--corpus-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help="Read transcripts from this corpus directory instead.")
@train_list_option("Train only on the utterance ids in this file (one per line), e.g. a 10 h subset.")
@click.option("--hidden-size", type=click.IntRange(min=1), default=1024, show_default=True, help="LSTM units per direction.")
@click.option("--lstm-layers", type=click.IntRange(min=1), default=3, show_default=True, help="Stacked bidirectional LSTM layers.")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True, help="Dropout between LSTM layers and before the output.")
@epochs_option(30, "Most epochs.")
@click.option("--patience", type=click.IntRange(min=1), default=3, show_default=True, help="Stop after this many epochs without a better dev --stop-metric (the best epoch is kept).")
@click.option("--stop-metric", type=click.Choice(["loss", "cer", "wer"]), default="loss", show_default=True, help="Dev metric of early stopping (the CER sits at 1.0 while CTC learns blanks first).")
@lr_option(1e-3, "Adam learning rate after a one-epoch warm-up.")
@click.option("--batch-frames", type=click.IntRange(min=1), default=20_000, show_default=True, help="Padded feature frames per batch (batch size x longest utterance).")
@seed_option("Seed of the initial weights, batch order and dropout.")
@device_option()
@lm_options("KenLM n-gram model (ARPA or binary): also report LM beam-search WER (wer_lm).")
@untrained_baseline_option("Also score the initial (untrained) probe on test: the chance level, in the sidecar.")
@click.option("--checkpoints", type=click.Path(file_okay=False, path_type=Path), default=None, help="Keep per-layer training checkpoints here: an interrupted run resumes, finished layers are not retrained.")
@out_file_option("results/probe.csv")
@progress_option
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
    from layerprobe.experiments.probe import run_probe

    def report(result) -> None:
        metrics = result.test_metrics
        lm = f", LM WER {metrics['beam_wer']:.3f}" if "beam_wer" in metrics else ""
        untrained = f"; untrained CER {result.untrained_metrics['cer']:.3f}" if result.untrained_metrics else ""
        echo(  # while the layer bar is shown: on a line of its own
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


@click.command("finetune", context_settings=CONTEXT_SETTINGS, short_help="CTC fine-tuning with re-initialised blocks or local attention; test WER.")
@model_option()
@corpus_dir_option("corpus_dir", "Corpus directory with transcripts (LibriSpeech, TIMIT, folder, synthesized).")
@training_splits_options("Split to train on.", "Split evaluated after every epoch (history only); none to skip.")
@train_list_option("Train only on the utterance ids in this file (one per line), e.g. a LibriSpeech 10 h subset.")
@click.option("--reinit", default=None, help="Re-initialise these transformer blocks before fine-tuning, e.g. T10-T12.")
@click.option("--local-attention", "local_attention", default=None, help="Restrict these blocks to local attention, e.g. T2-T12.")
@click.option("--radius", type=click.IntRange(min=0), default=30, show_default=True, help="Local-attention radius in frames (each side).")
@epochs_option(10, "Epochs.")
@lr_option(1e-4, "Peak learning rate of the tri-stage schedule (Adam).")
@click.option("--warmup-epochs", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Linear warm-up over these first epochs.")
@click.option("--decay-start-epoch", type=click.FloatRange(min=0), default=6.0, show_default=True, help="Linear decay to 0 from this epoch to the end.")
@click.option("--freeze-epochs", type=click.IntRange(min=0), default=3, show_default=True, help="Epochs during which only the CTC head trains (the conv feature encoder never does).")
@click.option("--grad-clip", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Largest gradient norm.")
@click.option("--seeds", type=IntegerList(mode="distinct", ranges=False), default="0", show_default=True, help="Comma-separated seeds, one run each (e.g. 0,1,2); rows per seed plus mean and std.")
@click.option("--batch-seconds", type=click.FloatRange(min=0, min_open=True), default=100.0, show_default=True, help="Padded audio per training batch (batch size x longest utterance).")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=None, help="Leave out training utterances longer than this.")
@click.option("--preload", is_flag=True, help="Keep the waveforms in memory after their first read (small corpora).")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=None, help="Also checkpoint every N updates (besides every epoch).")
@device_option("cpu, cuda, cuda:1 ... (under accelerate launch / torchrun: cpu or cuda).")
@lm_options("KenLM n-gram model (ARPA or binary): also report LM beam-search WER and CER (wer_lm, cer_lm).")
@untrained_baseline_option("Also score each seed's untrained model (random CTC head) on test: the chance level, in the sidecar.")
@out_dir_option("Folder of the checkpoints: OUT/seed<k>/checkpoint.pt and result.json; a rerun resumes there.", default=Path("finetune"))
@overwrite_option("Start each seed afresh, removing its checkpoints and result.json in OUT (a run of other options or weights there is otherwise refused).")
@out_file_option("results/finetune.csv", flag="--results")
@progress_option
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
    overwrite: bool,
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

    _check_table_path(results)
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
        echo(f"seed {seed} epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.3f}{dev_text}, "
                   f"lr {record['lr']:.2e}{frozen}")  # fmt: skip

    result = finetune(
        model_spec, train, dev, test, reinit=reinit, local_attention=local_attention, radius=radius, config=config,
        seeds=seeds, out_dir=out, lm_path=lm_path, beam_width=beam_width, lm_alpha=lm_alpha, lm_beta=lm_beta,
        results=results, test_split=test_split, untrained_baseline=untrained_baseline, progress=progress,
        on_epoch_end=report, overwrite=overwrite,
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


def _check_table_path(path: Path) -> None:
    """Refuse a result table that cannot be written (a path under a file) before hours of training, not after."""
    from layerprobe.errors import ResultError

    for folder in Path(path).absolute().parents:
        if folder.exists():
            if not folder.is_dir():
                raise ResultError(f"cannot write the result table ({folder} is not a folder)", path=path)
            return


def _is_main_process() -> bool:
    """False in the non-main processes of a multi-process launch (accelerate launch / torchrun)."""
    import os

    return os.environ.get("RANK", "0") == "0"


__all__ = ["finetune_command", "probe_command"]
