"""Feature audiation of the real Whisper base encoder (../shared/models/whisper-base).

The default test is short (each step is a 30 s forward and backward pass: ~1-2 s for T1 on 2 CPU
cores): the differentiable log-mel equals the feature extractor's on a real recording, and two units
of block 1 rise far above their start and above white noise of the same RMS in 15 steps of 0.5 s
signals.  The heavy test audiates two units of the last block (T6) for 60 steps.

Figures of the longer runs of scripts/audiate_whisper_base.py (T1 and T6, units 0-2, 100 steps,
1 s, seed 0) are in the README's "Feature audiation" section.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

pytest.importorskip("transformers")

from layerprobe.audiation import audiate_units  # noqa: E402
from layerprobe.io.audio import load_audio  # noqa: E402
from layerprobe.models import load_model  # noqa: E402

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def whisper(shared):
    directory = shared / "models" / "whisper-base"
    if not (directory / "config.json").is_file():
        pytest.skip("../shared/models/whisper-base is not present")
    return load_model(f"hf:{directory}")


def test_differentiable_log_mel_of_a_real_recording(whisper, timit_sample):
    wave = load_audio(sorted(timit_sample.glob("*.wav"))[0])
    expected = whisper.model_inputs(wave)["input_features"]
    got = whisper.differentiable_inputs(torch.from_numpy(wave)[None])["input_features"]
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-4, rtol=0)


def _check(result, margin):
    assert spearmanr(np.arange(len(result.activations)), result.activations)[0] > 0.7
    assert result.final_activation > result.initial_activation + margin
    assert result.final_activation > result.noise_activation + margin


def test_two_units_of_block_1_rise_above_start_and_noise(whisper):
    # Measured (seed 0, lr 0.1, default augmentation): unit 2 0.82 -> 5.21 (noise 0.74), unit 3 0.03 ->
    # 2.77 (noise 0.20); Spearman rho of activation against step 0.98 / 0.96.  ~40 s on 2 busy cores.
    results = audiate_units(whisper, "T1", [2, 3], seconds=0.5, steps=15, lr=0.1, noise_draws=2, progress=False)
    for result in results:
        _check(result, margin=1.5)
        assert result.frame == 12 and result.frame_activations.shape == (25,)


@pytest.mark.heavy
def test_two_units_of_the_last_block_rise_above_start_and_noise(whisper):
    results = audiate_units(whisper, "T6", [0, 1], seconds=1.0, steps=60, noise_draws=4, progress=False)
    for result in results:
        _check(result, margin=1.0)
        assert result.neighbour_activation < result.final_activation
