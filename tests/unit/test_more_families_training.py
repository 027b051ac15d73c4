"""Fine-tuning and feature audiation of the families added for issue 19, through the adapter interface only.

Smoke tests on the tiny models: one epoch of CTC fine-tuning with a re-initialised block and a
local-attention band runs, scores and leaves the adapter as it was
(heavy: ``-m heavy``); audiation of a T2 unit raises its activation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from layerprobe.audiation.optimize import audiate  # noqa: E402
from layerprobe.models.tiny import load_tiny_model  # noqa: E402
from layerprobe.training.data import WaveformCTCData  # noqa: E402
from layerprobe.training.finetune import finetune  # noqa: E402
from layerprobe.training.trainer import TrainConfig  # noqa: E402
from modellib_addons import hf_local_attention  # noqa: E402
from support.corpora import make_folder_corpus  # noqa: E402
from support.hooks import n_hooks  # noqa: E402

NEW = ("wav2vec2-conformer", "wav2vec2-conformer-rope", "wav2vec2-bert", "sew", "sew-d", "unispeech", "unispeech-sat")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("tones")
    make_folder_corpus(root, splits=("train", "dev", "test"), per_split=3, seed=3)
    return tuple(WaveformCTCData(root, split, preload=True) for split in ("train", "dev", "test"))


@pytest.mark.heavy  # the first run of a session takes ~30 s (one-time set-up); later ones 2-4 s
@pytest.mark.parametrize("name", NEW)
def test_finetuning_runs_and_restores_the_adapter(tiny_root, data, tmp_path, name):
    adapter = load_tiny_model(name, root=tiny_root)
    original = {key: value.clone() for key, value in adapter.module.state_dict().items()}
    config = TrainConfig(epochs=1, freeze_epochs=0, peak_lr=1e-3, max_batch_frames=24_000)
    result = finetune(adapter, *data, reinit="T2", config=config, seeds=(0,), out_dir=tmp_path / "ft", progress=False,
                      local_attention="T1", radius=3)  # fmt: skip
    metrics = result.test_metrics[0]
    assert 0.0 <= metrics["cer"] and np.isfinite(metrics["cer"])
    assert np.isfinite(result.train_results[0].history[0]["train_loss"])
    restored = adapter.module.state_dict()
    assert all(torch.equal(original[key], restored[key]) for key in original)
    assert not hf_local_attention.banded_modules() and n_hooks(adapter.module) == 0


@pytest.mark.parametrize("name", NEW)
def test_audiation_raises_a_unit(adapters, name):
    result = audiate(adapters(name), "T2", 1, seconds=0.3, steps=15, lr=0.05, shift_frames=0.0, progress=False)
    assert result.final_activation > result.initial_activation + 0.3
