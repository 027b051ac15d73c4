"""Local attention (layerprobe.attention.local) on seeded tiny models of every family.

References are runs of the same adapter without surgery; the band is checked on the maps and logits
the adapter returns, which come from the model's own attention call (or, for WavLM, a recomputation
checked here against the module's own head-averaged weights).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from layerprobe.attention.local import LocalAttentionHandle, apply_local_attention, band_mask  # noqa: E402
from layerprobe.errors import ConfigError  # noqa: E402
from layerprobe.models.hf import HFAdapter  # noqa: E402
from modellib_addons import hf_local_attention  # noqa: E402
from support.signals import speech_like_wave  # noqa: E402
from support.hooks import hook_counts  # noqa: E402

FAMILIES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "whisper")
RADIUS = 3
TOL = 1e-6






def _surgery_state(adapter: HFAdapter) -> dict[str, object]:
    """Everything the surgery could leave behind: hooks, instance attributes, implementation."""
    state: dict[str, object] = {"implementation": adapter.module.config._attn_implementation}
    hooks = hook_counts(adapter.module)
    for name, module in adapter.module.named_modules():
        state[name] = (*hooks[name], sorted(key for key in vars(module) if not key.startswith("_")))
    state["banded"] = len(hf_local_attention.banded_modules())
    return state


# ------------------------------------------------------------------------------ band_mask


def test_band_mask():
    mask = band_mask(6, 1)
    assert mask.dtype == bool and mask.shape == (6, 6)
    expected = np.array([[abs(i - j) <= 1 for j in range(6)] for i in range(6)])
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(band_mask(4, 0), np.eye(4, dtype=bool))
    assert band_mask(4, 10).all()
    assert band_mask(0, 2).shape == (0, 0)
    with pytest.raises(ConfigError, match="radius"):
        band_mask(4, -1)
    with pytest.raises(ConfigError, match="radius"):
        band_mask(4, 1.5)


# ------------------------------------------------------------------------------ effect per family


@pytest.mark.parametrize("name", FAMILIES)
def test_masked_block_attends_within_the_band_only(adapters, name):
    adapter = adapters(name)
    wave = speech_like_wave(16_000, seed=1)
    reference = adapter.forward(wave, attention=True, pre_softmax=True)
    plain_reference = adapter.forward(wave)  # sdpa (default) path
    with apply_local_attention(adapter, blocks="T2", radius=RADIUS) as handle:
        assert handle.blocks == ("T2",) and handle.radius == RADIUS
        out = adapter.forward(wave, attention=True, pre_softmax=True)
        plain = adapter.forward(wave)
    frames = out.n_frames
    outside = ~band_mask(frames, RADIUS)
    assert outside.any()
    # the masked block: no mass outside the band, logits at the dtype minimum (or -inf) there
    maps = out.attention["T2"]
    assert maps.shape[1:] == (frames, frames)
    assert np.abs(maps[:, outside]).max() < 1e-7
    logits = out.pre_softmax["T2"][:, outside]
    assert np.all(logits <= np.finfo(np.float32).min / 2)
    inside = out.pre_softmax["T2"][:, ~outside]
    assert np.isfinite(inside).all() and np.abs(inside).max() < 1e3
    if name != "whisper":  # Whisper's cut maps drop the padding frames, so rows sum to less than 1
        np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)
    # the unmasked block before it and everything up to its input: unchanged
    np.testing.assert_allclose(out.attention["T1"], reference.attention["T1"], rtol=0, atol=TOL)
    np.testing.assert_allclose(out.pre_softmax["T1"], reference.pre_softmax["T1"], rtol=0, atol=1e-5)
    for layer in ("T0", "T1"):
        np.testing.assert_allclose(out.hidden[layer], reference.hidden[layer], rtol=0, atol=TOL)
        np.testing.assert_allclose(plain.hidden[layer], plain_reference.hidden[layer], rtol=0, atol=TOL)
    # the masked block's output does change, on the eager and the default (sdpa) path alike
    assert np.abs(out.hidden["T2"] - reference.hidden["T2"]).max() > 1e-3
    assert np.abs(plain.hidden["T2"] - plain_reference.hidden["T2"]).max() > 1e-3
    np.testing.assert_allclose(plain.hidden["T2"], out.hidden["T2"], rtol=0, atol=1e-5)
    # the reference maps really did reach outside the band
    assert np.abs(reference.attention["T2"][:, outside]).max() > 1e-3


@pytest.mark.parametrize("name", FAMILIES)
def test_a_band_wider_than_the_sequence_changes_nothing(adapters, name):
    adapter = adapters(name)
    wave = speech_like_wave(12_000, seed=2)
    reference = adapter.forward(wave, attention=True, pre_softmax=True)
    plain_reference = adapter.forward(wave)
    # the whole sequence the blocks see: 1500 frames for Whisper's 30 s window
    length = adapter.module.config.max_source_positions if name == "whisper" else reference.n_frames
    with apply_local_attention(adapter, blocks="contextualized", radius=length):
        out = adapter.forward(wave, attention=True, pre_softmax=True)
        plain = adapter.forward(wave)
    for layer in reference.hidden:
        np.testing.assert_allclose(out.hidden[layer], reference.hidden[layer], rtol=0, atol=TOL)
        np.testing.assert_allclose(plain.hidden[layer], plain_reference.hidden[layer], rtol=0, atol=TOL)
    for block in reference.attention:
        np.testing.assert_allclose(out.attention[block], reference.attention[block], rtol=0, atol=TOL)


def test_combined_mask_is_neutral_for_a_wide_band():
    padding = torch.zeros(2, 1, 5, 5)
    padding[1, ..., 3:] = torch.finfo(torch.float32).min
    for mask in (None, padding, padding == 0):
        combined = hf_local_attention.combine_with_band(
            mask, 5, n_queries=5, n_keys=5, dtype=torch.float32, device=torch.device("cpu")
        )
        expected = torch.zeros(1, 1, 5, 5) if mask is None else padding
        assert torch.equal(combined, expected)
    narrow = hf_local_attention.combine_with_band(
        padding, 1, n_queries=5, n_keys=5, dtype=torch.float32, device=torch.device("cpu")
    )
    assert torch.equal(narrow == 0, (padding == 0) & torch.from_numpy(band_mask(5, 1)))


def test_wavlm_recorded_maps_match_its_own_banded_weights(adapters):
    # WavLM's per-head maps are recomputed by layerprobe's hooks; the module's own (head-averaged)
    # weights come from its banded call.
    adapter = adapters("wavlm")
    wave = speech_like_wave(9_000, seed=3)
    attention = adapter.attention_modules()["T2"]
    captured = {}
    hook = attention.register_forward_hook(lambda module, args, output: captured.update(weights=output[1]))
    try:
        with apply_local_attention(adapter, blocks="T2", radius=2):
            out = adapter.forward(wave, attention=True)
    finally:
        hook.remove()
    own = captured["weights"][0].numpy()  # (heads, T, T), every head the average
    np.testing.assert_allclose(out.attention["T2"].mean(0), own[0], rtol=0, atol=1e-6)
    assert np.abs(own[0][~band_mask(out.n_frames, 2)]).max() < 1e-7


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("name", ("wav2vec2-large-style", "whisper"))
def test_padded_batches_keep_padding_and_band(adapters, name):
    adapter = adapters(name)
    assert adapter.supports_batching
    waves = [speech_like_wave(n, seed=n) for n in (16_000, 7_301)]
    with apply_local_attention(adapter, blocks="T1-T2", radius=RADIUS):
        batch = adapter.forward_batch(waves, layers="T1-T2")
        alone = [adapter.forward(wave, layers="T1-T2") for wave in waves]
    unmasked = adapter.forward(waves[0], layers="T2")
    for item, single in zip(batch, alone):
        for layer in ("T1", "T2"):
            np.testing.assert_allclose(item.hidden[layer], single.hidden[layer], rtol=0, atol=1e-5)
    assert np.abs(alone[0].hidden["T2"] - unmasked.hidden["T2"]).max() > 1e-3


# ------------------------------------------------------------------------------ removal and hygiene


@pytest.mark.parametrize("name", FAMILIES)
def test_remove_restores_the_model_exactly_also_after_an_exception(adapters, name):
    adapter = adapters(name)
    wave = speech_like_wave(8_000, seed=4)
    reference = adapter.forward(wave, attention=True, pre_softmax=True)
    plain_reference = adapter.forward(wave)
    clean = _surgery_state(adapter)
    handle = apply_local_attention(adapter, blocks="T1-T2", radius=1)
    installed = _surgery_state(adapter)
    assert installed != clean
    blocks = adapter.module.layers if name == "whisper" else adapter.module.encoder.layers

    def broken(module, args):
        raise RuntimeError("block failed")

    failing = blocks[-1].register_forward_pre_hook(broken)  # after the masked blocks ran
    try:
        with pytest.raises(RuntimeError, match="block failed"):
            adapter.forward(wave, attention=True, pre_softmax=True)
    finally:
        failing.remove()
    assert _surgery_state(adapter) == installed  # the call's own hooks are gone, the surgery stays
    handle.remove()
    handle.remove()  # idempotent
    assert not handle.active and "removed" in repr(handle)
    assert _surgery_state(adapter) == clean
    after = adapter.forward(wave, attention=True, pre_softmax=True)
    plain_after = adapter.forward(wave)
    for layer in reference.hidden:
        np.testing.assert_array_equal(after.hidden[layer], reference.hidden[layer])
        np.testing.assert_array_equal(plain_after.hidden[layer], plain_reference.hidden[layer])
    for block in reference.attention:
        np.testing.assert_array_equal(after.attention[block], reference.attention[block])
        np.testing.assert_array_equal(after.pre_softmax[block], reference.pre_softmax[block])


def test_context_manager_removes_on_an_exception(adapters):
    adapter = adapters("wav2vec2")
    clean = _surgery_state(adapter)
    with pytest.raises(KeyError):
        with apply_local_attention(adapter, blocks=["T1", "T3"], radius=0) as handle:
            assert handle.blocks == ("T1", "T3")
            assert _surgery_state(adapter) != clean
            raise KeyError("stop")
    assert _surgery_state(adapter) == clean


def test_applying_twice_to_a_block_is_an_error_and_leaves_the_first(adapters):
    adapter = adapters("wav2vec2")
    clean = _surgery_state(adapter)
    first = apply_local_attention(adapter, blocks="T2-T3", radius=4)
    try:
        installed = _surgery_state(adapter)
        with pytest.raises(ConfigError, match=r"already applied to T3 \(radius 4\)"):
            apply_local_attention(adapter, blocks="T1,T3", radius=2)
        assert _surgery_state(adapter) == installed  # T1 was not touched either
        with apply_local_attention(adapter, blocks="T1", radius=2):  # other blocks are free
            pass
        assert _surgery_state(adapter) == installed
    finally:
        first.remove()
    assert _surgery_state(adapter) == clean
    apply_local_attention(adapter, blocks="T3", radius=2).remove()  # free again after remove


def test_all_blocks_spec_and_repr(adapters):
    adapter = adapters("hubert")
    with apply_local_attention(adapter, blocks="contextualized", radius=5) as handle:
        assert isinstance(handle, LocalAttentionHandle)
        assert handle.blocks == ("T1", "T2")
        assert repr(handle) == "LocalAttentionHandle(model='tiny:hubert', blocks=['T1', 'T2'], radius=5, active)"


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "blocks, radius, message",
    [
        ("T2", -1, "radius must be >= 0"),
        ("T2", 2.5, "non-negative integer"),
        ("T2", "3", "non-negative integer"),
        ("T2", True, "non-negative integer"),
        ("T0", 3, "T0 is not a block"),
        ("T0-T2", 3, "T0 is not a block"),
        ("C3,T1", 3, "C3 is not a block"),
        ("T9", 3, "the model has no layer T9"),  # a block of a bigger model
        ("T2-T12", 3, "the model has no layer T4"),
        ("X2", 3, "is not a layer id"),
        ("", 3, "no blocks"),
    ],
)
def test_bad_arguments_are_one_line_config_errors(adapters, blocks, radius, message):
    adapter = adapters("wav2vec2")
    clean = _surgery_state(adapter)
    with pytest.raises(ConfigError, match=message) as error:
        apply_local_attention(adapter, blocks=blocks, radius=radius)
    assert "\n" not in str(error.value)
    assert _surgery_state(adapter) == clean


def test_unsupported_attention_implementation_is_a_config_error(adapters, monkeypatch):
    adapter = adapters("hubert")
    monkeypatch.setattr(adapter.module.config, "_attn_implementation", "flash_attention_2")
    with pytest.raises(ConfigError, match="eager or sdpa"):
        apply_local_attention(adapter, blocks="T1", radius=3)
