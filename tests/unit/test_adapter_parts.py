"""The adapter methods that training, audiation and attention surgery use instead of module paths.

``transformer_blocks`` / ``conv_blocks`` name the modules the layers come from, ``feature_encoder_*``
and ``freeze_feature_encoder`` own the conv front end that fine-tuning freezes, ``batch_inputs``
prepares a padded batch as the feature extractor prepares each waveform alone, and
``install_local_attention`` puts a band on one block.  Every tiny family is checked.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from layerprobe.models import ModelAdapter  # noqa: E402
from layerprobe.models.tiny import load_tiny_model  # noqa: E402
from modellib_addons import hf_local_attention  # noqa: E402
from support.signals import speech_like_wave  # noqa: E402

TINY = ("wav2vec2", "wav2vec2-large-style", "hubert", "wavlm", "data2vec-audio", "whisper")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on one thread (a busy shared machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _fresh(tiny_root, name):
    """A private copy of a tiny model (these tests change requires_grad and gradients)."""
    return load_tiny_model(name, root=tiny_root)


def _tensor(output):
    return output[0] if isinstance(output, tuple) else output


@pytest.mark.parametrize("name", TINY)
def test_transformer_blocks_are_the_blocks_the_hidden_states_come_from(tiny_root, name):
    adapter = _fresh(tiny_root, name)
    assert isinstance(adapter, ModelAdapter)
    blocks = adapter.transformer_blocks()
    assert list(blocks) == [f"T{k}" for k in range(1, adapter.num_layers + 1)]
    assert len({id(block) for block in blocks.values()}) == adapter.num_layers
    # each block holds its own self-attention module
    for block, attention in adapter.attention_modules().items():
        assert any(module is attention for module in blocks[block].modules())
    inputs, outputs, handles = {}, {}, []
    for block, module in blocks.items():
        handles.append(module.register_forward_pre_hook(
            lambda _m, args, kwargs, block=block: inputs.__setitem__(block, args[0] if args else kwargs["hidden_states"]),
            with_kwargs=True))  # fmt: skip
        handles.append(module.register_forward_hook(lambda _m, _a, out, block=block: outputs.__setitem__(block, _tensor(out))))
    try:
        wave = speech_like_wave(6400, seed=2)
        with torch.no_grad():
            states = adapter.checked_hidden_states(adapter.module(**adapter.model_inputs(wave), output_hidden_states=True))
    finally:
        for handle in handles:
            handle.remove()
    assert len(states) == adapter.num_layers + 1
    for k in range(1, adapter.num_layers + 1):
        torch.testing.assert_close(inputs[f"T{k}"], states[k - 1], atol=0, rtol=0)  # block k reads T(k-1)
        if k < adapter.num_layers:  # TL may carry the encoder's final layer norm
            torch.testing.assert_close(outputs[f"T{k}"], states[k], atol=0, rtol=0)


@pytest.mark.parametrize("name", TINY)
def test_conv_blocks_give_the_c_layers(tiny_root, name):
    adapter = _fresh(tiny_root, name)
    blocks = adapter.conv_blocks()
    assert list(blocks) == [layer for layer in adapter.layer_ids if layer.startswith("C")]
    captured, handles = {}, []
    for layer, module in blocks.items():
        handles.append(module.register_forward_hook(
            lambda _m, _a, out, layer=layer: captured.__setitem__(layer, adapter.conv_layer_output(layer, out))))  # fmt: skip
    wave = speech_like_wave(6400, seed=4)
    try:
        with torch.no_grad():
            adapter.module(**adapter.model_inputs(wave))
    finally:
        for handle in handles:
            handle.remove()
    expected = adapter.forward(wave, layers=list(blocks))
    for layer in blocks:
        n = adapter.layer_n_frames(layer, len(wave))
        np.testing.assert_allclose(captured[layer][0].T[:n].numpy(), expected.hidden[layer], atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", TINY)
def test_freezing_the_feature_encoder_stops_its_gradients(tiny_root, name):
    adapter = _fresh(tiny_root, name)
    conv = adapter.feature_encoder_parameters()
    modules = adapter.feature_encoder_modules()
    assert conv and conv == [p for module in modules for p in module.parameters()]
    assert all(any(p is q for q in adapter.module.parameters()) for p in conv)
    assert not adapter.feature_encoder_frozen
    waves = torch.from_numpy(np.stack([speech_like_wave(6400, seed=1), np.pad(speech_like_wave(4000, seed=2), (0, 2400))]))
    lengths = torch.tensor([6400, 4000])

    def gradients():
        adapter.module.zero_grad(set_to_none=True)
        adapter.module.train()
        adapter.module(**adapter.batch_inputs(waves, lengths)).last_hidden_state.square().mean().backward()
        adapter.module.eval()
        return [p.grad for p in conv], [p.grad for p in adapter.module.parameters() if all(p is not q for q in conv)]

    adapter.freeze_feature_encoder()
    assert adapter.feature_encoder_frozen and not any(p.requires_grad for p in conv)
    conv_grads, other_grads = gradients()
    assert all(grad is None for grad in conv_grads)
    assert any(grad is not None and grad.abs().sum() > 0 for grad in other_grads)  # the rest still trains

    adapter.freeze_feature_encoder(False)
    assert not adapter.feature_encoder_frozen and all(p.requires_grad for p in conv)
    conv_grads, _ = gradients()
    assert all(grad is not None for grad in conv_grads) and any(grad.abs().sum() > 0 for grad in conv_grads)
    adapter.module.zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", TINY)
def test_batch_inputs_prepare_each_row_as_the_feature_extractor_does_alone(tiny_root, name):
    adapter = _fresh(tiny_root, name)
    waves = [speech_like_wave(8000, seed=5), 1.5 * speech_like_wave(5000, seed=6)]
    padded = torch.from_numpy(np.stack([np.pad(w, (0, 8000 - len(w))) for w in waves]))
    inputs = adapter.batch_inputs(padded, torch.tensor([len(w) for w in waves]))
    for row, wave in enumerate(waves):
        alone = adapter.model_inputs(wave)
        for key, value in alone.items():
            if key == "input_values":
                torch.testing.assert_close(inputs[key][row, : len(wave)], value[0], atol=1e-5, rtol=1e-5)
                assert not inputs[key][row, len(wave):].any()
            else:
                torch.testing.assert_close(inputs[key][row], value[0], atol=1e-5, rtol=0)
    masked = bool(getattr(adapter.feature_extractor, "return_attention_mask", False)) and name != "whisper"
    assert ("attention_mask" in inputs) == masked
    if masked:
        assert inputs["attention_mask"].sum(dim=1).tolist() == [8000, 5000]


@pytest.mark.parametrize("name", TINY)
def test_install_local_attention_bands_one_block_and_removes_cleanly(tiny_root, name):
    adapter = _fresh(tiny_root, name)
    adapter.check_local_attention()
    wave = speech_like_wave(6400, seed=7)
    before = adapter.forward(wave, layers="T1", attention=True)
    remove = adapter.install_local_attention("T1", 1)
    try:
        assert hf_local_attention.band_radius(adapter.attention_modules()["T1"]) == 1
        banded = adapter.forward(wave, layers="T1", attention=True).attention["T1"]
        far = np.abs(np.subtract.outer(np.arange(banded.shape[1]), np.arange(banded.shape[2]))) > 1
        assert not banded[:, far].any()
    finally:
        remove()
    assert hf_local_attention.band_radius(adapter.attention_modules()["T1"]) is None
    after = adapter.forward(wave, layers="T1", attention=True)
    np.testing.assert_array_equal(after.attention["T1"], before.attention["T1"])
