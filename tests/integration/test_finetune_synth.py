"""CTC fine-tuning of seeded tiny random models on the synthesized speech corpus.

A tiny random encoder keeps its random conv front end frozen (as fine-tuning does), so it learns
slowly.  The default test is short: a few epochs of ``tiny:wav2vec2`` must bring the test CTC loss
far below the untrained model's and its CER below it (the model has left the random-output regime,
typically for the blank / character-prior solution), and the same seed must give identical numbers
and weights twice.  The heavy test trains ``tiny:whisper`` (whose frozen front end is a random
projection of log-mel features) long enough to read characters: test CER clearly below the
untrained model's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from layerprobe.data.synth import synthesize_corpus
from layerprobe.models.tiny import load_tiny_model
from layerprobe.training.data import WaveformCTCData
from layerprobe.training.finetune import finetune
from layerprobe.training.trainer import CHECKPOINT_NAME, TrainConfig, load_checkpoint


pytestmark = pytest.mark.usefixtures("one_thread")


def _splits(root: Path, n: int):
    synthesize_corpus(root, n=n, seed=7, progress=False)
    return tuple(WaveformCTCData(root, split, preload=True) for split in ("train", "dev", "test"))


def test_short_finetune_learns_and_repeats_exactly(tmp_path):
    train, dev, test = _splits(tmp_path / "synth", 30)
    # A learning rate far above the study's 1e-4: a random tiny model learns nothing in 4 epochs at 1e-4.
    config = TrainConfig(epochs=4, peak_lr=3e-3, freeze_epochs=1, warmup_epochs=0.5, decay_start_epoch=3,
                         max_batch_frames=8 * 16_000)  # fmt: skip
    runs = []
    for name in ("a", "b"):
        adapter = load_tiny_model("wav2vec2", root=tmp_path / "tiny")
        runs.append(finetune(adapter, train, dev, test, config=config, out_dir=tmp_path / name,
                             untrained_baseline=True, progress=False))  # fmt: skip
    first, second = runs
    trained, untrained = first.test_metrics[0], first.untrained_metrics[0]
    print(f"test CER {trained['cer']:.3f} (untrained {untrained['cer']:.3f}), loss {trained['loss']:.2f} "
          f"(untrained {untrained['loss']:.2f})")  # fmt: skip
    assert trained["loss"] < 0.65 * untrained["loss"]
    assert trained["cer"] < untrained["cer"] - 0.1
    # one seed on the CPU: the same numbers and weights twice
    assert second.test_metrics == first.test_metrics
    assert second.train_results[0].history[-1]["train_loss"] == first.train_results[0].history[-1]["train_loss"]
    weights = [load_checkpoint(tmp_path / name / "seed0" / CHECKPOINT_NAME)["model"] for name in ("a", "b")]
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


@pytest.mark.heavy
def test_finetuned_tiny_whisper_reads_characters(tmp_path):
    train, dev, test = _splits(tmp_path / "synth", 60)
    config = TrainConfig(epochs=15, peak_lr=3e-3, freeze_epochs=0, warmup_epochs=0.5, decay_start_epoch=10,
                         max_batch_frames=8 * 16_000)  # fmt: skip
    adapter = load_tiny_model("whisper", root=tmp_path / "tiny")
    result = finetune(adapter, train, dev, test, config=config, out_dir=tmp_path / "ft", untrained_baseline=True,
                      progress=False)  # fmt: skip
    trained, untrained = result.test_metrics[0], result.untrained_metrics[0]
    print(f"test CER {trained['cer']:.3f} (untrained {untrained['cer']:.3f})")
    assert trained["cer"] < 0.9 and trained["cer"] < untrained["cer"] - 0.2
