"""The real Whisper base encoder in ../shared (float16 weights) through ``hf:<dir>``.

Reference: ``WhisperModel.from_pretrained(dir)`` in float32, its encoder run on
``WhisperFeatureExtractor`` features (30 s log-mel), outputs cut to the real frames.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from layerprobe.errors import AudioError  # noqa: E402
from layerprobe.io.audio import load_audio  # noqa: E402
from layerprobe.models import load_model  # noqa: E402

pytestmark = pytest.mark.shared

# Both runs execute the same float32 operations (measured difference: 0.0).  The bound
# |a - b| <= 1e-5 + 1e-5 * |b| leaves room for another BLAS's summation order: the upper blocks
# reach |x| ~ 15 on this utterance, where float32 spacing is ~1e-6 and rounding differences that
# accumulate over a block scale with the magnitude, so the bound is relative where values are large.
# (Eager and sdpa attention differ by up to 1.3e-5 at T6 here: the reference uses sdpa, as the adapter.)
ATOL = RTOL = 1e-5


@pytest.fixture(scope="module")
def whisper_dir(shared):
    directory = shared / "models" / "whisper-base"
    if not (directory / "config.json").is_file():
        pytest.skip("../shared/models/whisper-base is not present")
    return directory


@pytest.fixture(scope="module")
def adapter(whisper_dir):
    return load_model(f"hf:{whisper_dir}")


@pytest.fixture(scope="module")
def timit_wave(timit_sample):
    return load_audio(timit_sample / "LDC93S1.wav")


def test_whisper_base_layers_and_settings(adapter):
    assert adapter.family == "whisper"
    assert adapter.layer_ids == ("C1", "C2", "T0", "T1", "T2", "T3", "T4", "T5", "T6")
    assert adapter.module.config.d_model == 512
    assert all(parameter.dtype == torch.float32 for parameter in adapter.module.parameters())  # stored as float16
    described = adapter.describe()
    assert described["feature_settings_source"] == "preprocessor_config.json"
    assert described["feature_settings"]["feature_extractor_type"] == "WhisperFeatureExtractor"
    assert adapter.max_seconds == 30


def test_timit_sample_equals_a_direct_float32_encoder_run(adapter, whisper_dir, timit_wave):
    n_samples = timit_wave.size
    assert n_samples == 46_797  # 2.92 s
    out = adapter.forward(timit_wave)
    # 292 mel frames of real audio (n // 160) -> 146 encoder frames (ceil(292 / 2)), 2.92 s at 50 Hz
    assert out.n_frames == 146 == round(n_samples / 16_000 * 50)
    assert out.hidden["C1"].shape == (292, 512) and out.hidden["C2"].shape == (146, 512)

    model = transformers.WhisperModel.from_pretrained(whisper_dir, dtype=torch.float32).get_encoder().eval()
    extractor = transformers.WhisperFeatureExtractor.from_pretrained(whisper_dir)
    features = extractor(timit_wave, sampling_rate=16_000, return_tensors="pt")["input_features"]
    with torch.no_grad():
        direct = model(features, output_hidden_states=True).hidden_states
    assert len(direct) == 7
    for index, states in enumerate(direct):
        expected = states[0, : out.n_frames].numpy()
        assert out.hidden[f"T{index}"].shape == expected.shape == (146, 512)
        np.testing.assert_allclose(out.hidden[f"T{index}"], expected, rtol=RTOL, atol=ATOL)
    assert np.abs(out.hidden["T6"]).max() > 1.0  # real activations, not zeros


def test_audio_longer_than_30_seconds_is_a_clear_error(adapter):
    with pytest.raises(AudioError, match=r"30\.50 s is longer than the model's 30 s input window"):
        adapter.forward(np.zeros(int(30.5 * 16_000), dtype=np.float32))
