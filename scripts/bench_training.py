#!/usr/bin/env python
"""Benchmark: training throughput (seconds of audio trained on per second) of probes and fine-tuning.

On a synthesized corpus (``--seconds`` of speech in its train split), through the one training loop
(:func:`layerprobe.training.trainer.train_ctc`; the time of the training updates only: batching,
forward, CTC loss, backward, clipping, Adam; no evaluation):

1. **probe**: the 3-layer BiLSTM CTC probe (``BiLSTMProbe``, ``--hidden-size`` units per
   direction, 1024 as published) on the stored log-mel frames (the ``mel`` store that
   ``layerprobe extract --rep mel --span frame`` writes, read through ``FeatureCTCData``);
2. **fine-tune**: each ``--models`` model with a CTC head on raw waveforms (``CTCFineTuneModel``):
   the first epoch with the transformer frozen (only the head trains; the encoder runs without
   gradients), the second with the transformer trained (the conv feature encoder stays frozen).

Audio seconds per second = the epoch's seconds of training audio / its update time.  On the CPU the
torch thread count is ``--threads`` (default: torch's own).

Usage::

    python scripts/bench_training.py [--seconds 120] [--device cpu|cuda] [--models tiny:wav2vec2,tiny:wav2vec2-base]
        [--hidden-size 1024] [--work DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

SAMPLE_RATE = 16_000


def build_corpus(work: Path, seconds: float):
    """A synthesized corpus with at least ``seconds`` of speech in train, and its frame data-sample set."""
    from layerprobe.data.corpora import open_corpus
    from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
    from layerprobe.data.synth import synthesize_corpus

    n = max(10, int(seconds / 3.0 / 0.8) + 4)  # ~3 s a sentence, 80 % in train
    corpus_dir = work / "corpus"
    if not corpus_dir.exists():
        synthesize_corpus(corpus_dir, n=n, seed=0, progress=False)
    corpus = open_corpus(corpus_dir)
    manifest = draw_sample(corpus, "train", span="frame", rule=SamplingRule.default("frame", "train"), progress=False)
    write_manifest(manifest, manifest_path(work / "data_samples", corpus.name, "train", "frame", 1), overwrite=True)
    return corpus_dir, manifest


def bench_probe(work: Path, corpus_dir: Path, manifest, *, hidden_size: int, device: str, epochs: int) -> list[dict]:
    from layerprobe.extraction import extract
    from layerprobe.io.store import FeatureStore
    from layerprobe.training.ctc import CharVocabulary
    from layerprobe.training.data import FeatureCTCData, read_transcripts
    from layerprobe.training.probes import BiLSTMProbe
    from layerprobe.training.trainer import TrainConfig, train_ctc

    report = extract(manifest, None, work / "features", rep="mel", overwrite=True, progress=False)
    store = FeatureStore.open(report.path)
    data = FeatureCTCData(store, "mel", read_transcripts(corpus_dir, "train"), preload=True)
    torch.manual_seed(0)
    model = BiLSTMProbe(data.dim, len(CharVocabulary.default()), hidden_size=hidden_size)
    config = TrainConfig(epochs=epochs, peak_lr=1e-3, freeze_epochs=0, max_batch_frames=20_000, device=device)
    result = train_ctc(model, data, None, config, progress=False)
    rows = []
    for record in result.history:
        audio = record["train_items"] / data.frame_rate_hz
        rows.append({"task": "probe", "model": f"BiLSTM 3x{hidden_size} on log-mel", "phase": f"epoch {record['epoch']}",
                     "device": device, "audio_s": audio, "seconds": record["train_seconds"],
                     "audio_per_s": audio / record["train_seconds"]})  # fmt: skip
    store.close()
    return rows


def bench_finetune(spec: str, corpus_dir: Path, *, device: str, batch_seconds: float) -> list[dict]:
    from layerprobe.models import load_model
    from layerprobe.training.data import WaveformCTCData
    from layerprobe.training.finetune import CTCFineTuneModel
    from layerprobe.training.trainer import TrainConfig, train_ctc

    data = WaveformCTCData(corpus_dir, "train", preload=True)
    adapter = load_model(spec)
    torch.manual_seed(0)
    model = CTCFineTuneModel(adapter)
    config = TrainConfig(epochs=2, freeze_epochs=1, peak_lr=1e-4, max_batch_frames=round(batch_seconds * SAMPLE_RATE),
                         device=device)  # fmt: skip
    result = train_ctc(model, data, None, config, frozen=model.transformer_parameters(), progress=False)
    rows = []
    for record in result.history:
        audio = record["train_items"] / SAMPLE_RATE
        phase = "transformer frozen" if record["frozen"] else "transformer trained"
        rows.append({"task": "fine-tune", "model": spec, "phase": phase, "device": device, "audio_s": audio,
                     "seconds": record["train_seconds"], "audio_per_s": audio / record["train_seconds"]})  # fmt: skip
    return rows


def print_table(rows: list[dict]) -> None:
    header = ("task", "model", "phase", "device", "audio (s)", "time (s)", "audio s / s")
    lines = [header] + [
        (r["task"], r["model"], r["phase"], r["device"], f"{r['audio_s']:.1f}", f"{r['seconds']:.2f}", f"{r['audio_per_s']:.1f}")
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths)))
        if number == 0:
            print("-+-".join("-" * width for width in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="seconds of training speech (at least)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--models", default="tiny:wav2vec2,tiny:wav2vec2-base", help="fine-tuned models, comma-separated")
    parser.add_argument("--hidden-size", type=int, default=1024, help="probe LSTM units per direction")
    parser.add_argument("--probe-epochs", type=int, default=2, help="probe epochs timed")
    parser.add_argument("--batch-seconds", type=float, default=40.0, help="padded audio per fine-tuning batch")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--skip-probe", action="store_true")
    parser.add_argument("--work", type=Path, default=None, help="working folder (a temporary one by default)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_training_") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        corpus_dir, manifest = build_corpus(work, args.seconds)
        print(f"corpus: {len(manifest.utterances)} training utterances in {time.perf_counter() - started:.1f} s; "
              f"device {args.device}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}", flush=True)  # fmt: skip
        rows: list[dict] = []
        if not args.skip_probe:
            rows += bench_probe(work, corpus_dir, manifest, hidden_size=args.hidden_size, device=args.device, epochs=args.probe_epochs)
        for spec in [s.strip() for s in args.models.split(",") if s.strip()]:
            rows += bench_finetune(spec, corpus_dir, device=args.device, batch_seconds=args.batch_seconds)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
