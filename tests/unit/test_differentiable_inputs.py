"""HFAdapter.differentiable_inputs: the model inputs built with torch ops, equal to model_inputs, with gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from layerprobe.errors import AudioError  # noqa: E402
from support.signals import speech_like_wave  # noqa: E402

TINY = ("wav2vec2", "wav2vec2-large-style", "hubert", "wavlm", "data2vec-audio", "whisper")
# float32 features computed by two implementations (numpy / torch.stft vs ours): rounding only.
ATOL = 1e-4


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("n_samples", [8000, 8123])  # 8123: not a multiple of Whisper's hop of 160
def test_equal_to_the_feature_extractor(adapters, name, n_samples):
    adapter = adapters(name)
    wave = speech_like_wave(n_samples, seed=3)
    expected = adapter.model_inputs(wave)
    got = adapter.differentiable_inputs(torch.from_numpy(wave)[None])
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key].shape == expected[key].shape and got[key].dtype == torch.float32
        np.testing.assert_allclose(got[key].numpy(), expected[key].numpy(), atol=ATOL, rtol=0)


def test_normalisation_follows_the_feature_extractor_setting(adapters):
    wave = speech_like_wave(4000, seed=1) * 3 + 0.5
    tensor = torch.from_numpy(wave)[None]
    assert not adapters("wav2vec2").feature_extractor.do_normalize  # group norm: raw samples
    assert torch.equal(adapters("wav2vec2").differentiable_inputs(tensor)["input_values"], tensor)
    assert adapters("wav2vec2-large-style").feature_extractor.do_normalize
    values = adapters("wav2vec2-large-style").differentiable_inputs(tensor)["input_values"].double()
    assert abs(values.mean().item()) < 1e-6 and values.var(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)


def test_whisper_log_mel_written_out_with_librosa(adapters):
    """The spec transcribed independently: centred reflect-padded STFT (n_fft 400, hop 160, periodic
    Hann), power, the extractor's mel filters, log10 clamped at 1e-10, floor at max - 8, (x + 4) / 4,
    the waveform zero-padded to 30 s and the last STFT frame dropped."""
    import librosa

    adapter = adapters("whisper")
    extractor = adapter.feature_extractor
    wave = speech_like_wave(5000, seed=7)
    padded = np.zeros(extractor.n_samples, dtype=np.float64)
    padded[: wave.size] = wave
    stft = librosa.stft(padded, n_fft=400, hop_length=160, window="hann", center=True, pad_mode="reflect")
    power = np.abs(stft[:, :-1]) ** 2
    log_spec = np.log10(np.maximum(extractor.mel_filters.T @ power, 1e-10))
    expected = (np.maximum(log_spec, log_spec.max() - 8.0) + 4.0) / 4.0
    got = adapter.differentiable_inputs(torch.from_numpy(wave)[None])["input_features"][0].numpy()
    assert got.shape == expected.shape == (80, 3000)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["wav2vec2-large-style", "whisper"])
def test_a_batch_equals_its_items_alone(adapters, name):
    adapter = adapters(name)
    waves = [speech_like_wave(6000, seed=1), 0.2 * speech_like_wave(6000, seed=2)]  # different levels: per-item max / stats
    batch = adapter.differentiable_inputs(torch.from_numpy(np.stack(waves)))
    for item, wave in enumerate(waves):
        alone = adapter.differentiable_inputs(torch.from_numpy(wave)[None])
        for key in alone:
            np.testing.assert_allclose(batch[key][item].numpy(), alone[key][0].numpy(), atol=1e-6, rtol=0)


def test_gradients_reach_the_waveform(adapters):
    wave = torch.from_numpy(speech_like_wave(4000, seed=5))[None].requires_grad_(True)
    features = adapters("whisper").differentiable_inputs(wave)["input_features"]
    features[:, :, :25].sum().backward()  # the mel frames of the real audio
    assert torch.isfinite(wave.grad).all() and wave.grad.abs().sum() > 0
    # Normalised values always sum to 0 (to 1e-7 relative): the gradient of their sum is 0.
    wave.grad = None
    values = adapters("wav2vec2-large-style").differentiable_inputs(wave)["input_values"]
    values.sum().backward()
    assert wave.grad.abs().max() < 1e-4
    wave.grad = None
    values = adapters("wav2vec2-large-style").differentiable_inputs(wave)["input_values"]
    values[0, 100].backward()
    assert wave.grad[0, 100] > 0.5 / wave.detach().std()


@pytest.mark.parametrize(
    "name, tensor, message",
    [
        ("wav2vec2", torch.zeros(4000), "expected a float tensor of shape (batch, n_samples), got (4000,)"),
        ("wav2vec2", torch.zeros(1, 4000, dtype=torch.int16), "expected a float tensor"),
        ("wav2vec2", torch.zeros(1, 300), "300 samples are too short for one frame"),
        ("whisper", torch.zeros(1, 16000 * 30 + 1), "longer than the model's 30 s input window"),
    ],
)
def test_bad_tensors_are_clear_errors(adapters, name, tensor, message):
    with pytest.raises(AudioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        adapters(name).differentiable_inputs(tensor)
