"""The transformers families added for issue 19: wav2vec2-conformer (relative and rotary positions),
w2v-BERT 2.0, SEW, SEW-D, UniSpeech and UniSpeech-SAT, on their seeded tiny models.

Every reference is transformers' own pipeline, independent of the adapter: ``AutoFeatureExtractor``
and ``AutoModel.from_pretrained`` of the saved tiny model, ``output_hidden_states`` /
``output_attentions`` of an eager copy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from layerprobe.attention.local import apply_local_attention, band_mask  # noqa: E402
from layerprobe.errors import ConfigError  # noqa: E402
from layerprobe.models import load_model  # noqa: E402
from layerprobe.models.hf import HFAdapter, conv_output_length, model_classes  # noqa: E402
from layerprobe.models.registry import check_spec  # noqa: E402
from support.hooks import hook_counts  # noqa: E402
from support.signals import speech_like_wave  # noqa: E402

NEW = ("wav2vec2-conformer", "wav2vec2-conformer-rope", "wav2vec2-bert", "sew", "sew-d", "unispeech", "unispeech-sat")
#: Families whose attention dispatches through transformers' attention functions (capture, band).
INTERFACE = tuple(name for name in NEW if name != "sew-d")
STACK = ((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))
#: Outputs of one float32 computation run twice: only summation order may differ.
TOL = 1e-6


def _transformers_run(adapter: HFAdapter, wave: np.ndarray, **options):
    """transformers' own pipeline on the adapter's saved directory: feature extractor + model."""
    directory = adapter.describe()["model_id"]
    extractor = transformers.AutoFeatureExtractor.from_pretrained(directory)
    inputs = extractor(wave, sampling_rate=16000, return_tensors="pt")
    model = transformers.AutoModel.from_pretrained(directory, dtype=torch.float32)
    assert type(model) is model_classes()[adapter.family]
    if options.get("output_attentions"):
        model.set_attn_implementation("eager")
    with torch.no_grad():
        return model.eval()(**inputs, **options)


def _expected_frames(name: str, n_samples: int) -> int:
    if name == "wav2vec2-bert":
        return (1 + (n_samples - 400) // 160) // 2
    frames = conv_output_length(n_samples, *STACK)
    return frames // 2 if name in ("sew", "sew-d") else frames


@pytest.mark.parametrize("name", NEW)
def test_hidden_states_equal_transformers_own_output_hidden_states(adapters, name):
    adapter = adapters(name)
    wave = speech_like_wave(14_123, seed=1)
    out = adapter.forward(wave)
    direct = _transformers_run(adapter, wave, output_hidden_states=True).hidden_states
    frames = _expected_frames(name, wave.size)
    assert out.n_frames == adapter.n_frames(wave.size) == frames
    assert len(direct) == adapter.num_layers + 1 == 3
    for index, states in enumerate(direct):
        np.testing.assert_allclose(out.hidden[f"T{index}"], states[0, :frames].numpy(), rtol=0, atol=TOL)
    n_conv = 0 if name == "wav2vec2-bert" else 7
    assert adapter.layer_ids == tuple(f"C{i}" for i in range(1, n_conv + 1)) + ("T0", "T1", "T2")
    assert adapter.frame_rate_hz == (25.0 if name in ("sew", "sew-d") else 50.0)
    assert not adapter.module.training and adapter.module.config.layerdrop == 0.0


@pytest.mark.parametrize("name", tuple(name for name in NEW if name != "wav2vec2-bert"))
def test_conv_layers_are_the_conv_blocks_at_their_native_rates(adapters, name):
    adapter = adapters(name)
    wave = speech_like_wave(9_000, seed=2)
    out = adapter.forward(wave, layers="C1-C7")
    values = torch.from_numpy(adapter.model_inputs(wave)["input_values"].numpy())[:, None]
    with torch.no_grad():
        for index, block in enumerate(adapter.conv_blocks().values()):
            values = block(values)
            np.testing.assert_allclose(out.hidden[f"C{index + 1}"], values[0].T.numpy(), rtol=0, atol=TOL)
    assert [adapter.layer_frame_rate(f"C{i}") for i in (1, 7)] == [3200.0, 50.0]
    assert adapter.local_pooling("C1") == (79, 32) and adapter.local_pooling("C7") is None


def test_w2v_bert_has_no_conv_layers_and_its_input_is_stacked_log_mel(adapters):
    adapter = adapters("wav2vec2-bert")
    assert adapter.conv_blocks() == {} and adapter.feature_encoder_modules() == []
    wave = speech_like_wave(16_240, seed=3)  # 100 mel frames -> 50 stacked frames
    inputs = adapter.model_inputs(wave)
    assert inputs["input_features"].shape == (1, 50, 160) and inputs["attention_mask"].all()
    assert adapter.n_frames(16_240) == 50 and adapter.n_frames(16_239) == 49 and adapter.n_frames(16_000) == 49 and adapter.n_frames(399) == 0
    with pytest.raises(ConfigError, match="has no layer C1"):
        adapter.forward(wave, layers="C1")


def test_w2v_bert_differentiable_inputs_equal_the_feature_extractor(adapters):
    adapter = adapters("wav2vec2-bert")
    wave = speech_like_wave(16_400, seed=4)  # 101 mel frames: the odd last one is padded and masked
    built = adapter.differentiable_inputs(torch.from_numpy(wave)[None].requires_grad_(True))
    reference = adapter.model_inputs(wave)
    assert reference["input_features"].shape == (1, 51, 160) and not reference["attention_mask"][0, -1]
    features = built["input_features"]
    assert features.shape == (1, 50, 160) and features.requires_grad
    np.testing.assert_allclose(features.detach().numpy(), reference["input_features"][:, :50].numpy(), rtol=0, atol=5e-4)
    # the model gives the real frames the same outputs from either input
    with torch.no_grad():
        ours = adapter.module(**built, output_hidden_states=True).hidden_states[-1]
        theirs = adapter.module(**reference, output_hidden_states=True).hidden_states[-1]
    np.testing.assert_allclose(ours[0].numpy(), theirs[0, :50].numpy(), rtol=0, atol=5e-3)


@pytest.mark.parametrize("name", ("wav2vec2-bert", "wav2vec2-conformer", "sew"))
def test_forward_batch_equals_forward_per_utterance(adapters, name):
    adapter = adapters(name)
    assert adapter.supports_batching is (name == "wav2vec2-bert")
    waves = [speech_like_wave(n, seed=n) for n in (9_000, 16_000, 12_345)]
    batch = adapter.forward_batch(waves)
    for wave, item in zip(waves, batch):
        alone = adapter.forward(wave)
        for layer, values in alone.hidden.items():
            np.testing.assert_allclose(item.hidden[layer], values, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NEW)
def test_attention_maps_equal_transformers_eager_maps(adapters, name):
    adapter = adapters(name)
    wave = speech_like_wave(11_000, seed=5)
    out = adapter.forward(wave, layers=[], attention=True)
    direct = _transformers_run(adapter, wave, output_attentions=True).attentions
    frames = adapter.n_frames(wave.size)
    assert len(direct) == adapter.num_layers
    for index, maps in enumerate(direct):
        np.testing.assert_allclose(out.attention[f"T{index + 1}"], maps[0, :, :frames, :frames].numpy(), rtol=0, atol=TOL)
    streamed = {}
    adapter.forward(wave, layers=[], attention=True, on_attention=lambda block, values, logits: streamed.update({block: values}))
    assert sorted(streamed) == ["T1", "T2"]
    np.testing.assert_allclose(streamed["T2"], out.attention["T2"].astype(np.float16), rtol=0, atol=0)
    assert adapter.module.config._attn_implementation == ("eager" if name == "sew-d" else "sdpa")


@pytest.mark.parametrize("name", INTERFACE)
def test_pre_softmax_logits_include_the_relative_position_scores(adapters, name):
    adapter = adapters(name)
    wave = speech_like_wave(10_000, seed=6)
    out = adapter.forward(wave, layers=[], attention=True, pre_softmax=True)
    eager = adapter.forward(wave, layers=[], attention=True)  # transformers' own eager attention
    for block, logits in out.pre_softmax.items():
        np.testing.assert_allclose(out.attention[block], eager.attention[block], rtol=0, atol=TOL)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        np.testing.assert_allclose(shifted / shifted.sum(-1, keepdims=True), out.attention[block], rtol=0, atol=TOL)


def test_sew_d_refuses_pre_softmax_logits_in_one_line(adapters):
    adapter = adapters("sew-d")
    hooks = hook_counts(adapter.module)
    with pytest.raises(ConfigError) as caught:
        adapter.forward(speech_like_wave(8_000), layers=[], attention=True, pre_softmax=True)
    assert str(caught.value) == (
        "tiny:sew-d: SEW-D's disentangled attention computes its logits inside its own module, so pre-softmax "
        "logits are not available; ask for the post-softmax maps only (no --pre-softmax)"
    )
    assert hook_counts(adapter.module) == hooks
    assert not adapter.supports_pre_softmax and adapters("sew").supports_pre_softmax


@pytest.mark.parametrize("name", NEW)
def test_local_attention_keeps_each_query_within_its_band(adapters, name):
    adapter = adapters(name)
    wave = speech_like_wave(16_000, seed=7)
    reference = adapter.forward(wave)
    hooks = hook_counts(adapter.module)
    with apply_local_attention(adapter, blocks="T2", radius=2):
        out = adapter.forward(wave, attention=True)
        plain = adapter.forward(wave)
    outside = ~band_mask(out.n_frames, 2)
    assert np.abs(out.attention["T2"][:, outside]).max() < 1e-7
    assert np.abs(out.attention["T1"][:, outside]).max() > 1e-3  # the other block is untouched
    np.testing.assert_allclose(plain.hidden["T1"], reference.hidden["T1"], rtol=0, atol=TOL)
    assert np.abs(plain.hidden["T2"] - reference.hidden["T2"]).max() > 1e-3
    np.testing.assert_allclose(plain.hidden["T2"], out.hidden["T2"], rtol=0, atol=1e-5)  # sdpa == eager with the band
    np.testing.assert_allclose(out.attention["T2"].sum(-1), 1.0, rtol=0, atol=1e-5)
    after = adapter.forward(wave)
    np.testing.assert_allclose(after.hidden["T2"], reference.hidden["T2"], rtol=0, atol=0)
    assert hook_counts(adapter.module) == hooks


def test_sew_d_band_in_a_padded_batch_keeps_padding_masked(adapters):
    # SEW-D runs one utterance at a time in extraction; training pads: the band must keep the padding mask.
    adapter = adapters("sew-d")
    waves = [speech_like_wave(n, seed=n) for n in (16_000, 9_000)]
    lengths = torch.tensor([w.size for w in waves])
    padded = torch.zeros(2, 16_000)
    for row, wave in enumerate(waves):
        padded[row, : wave.size] = torch.from_numpy(wave)
    attention = adapter.attention_modules()["T1"]
    seen = {}
    handle = attention.register_forward_hook(lambda module, args, output: seen.update(maps=output[1].detach()))
    try:
        with apply_local_attention(adapter, blocks="T1", radius=2), torch.no_grad():
            adapter.module(**adapter.batch_inputs(padded, lengths), attention_mask=torch.arange(16_000)[None] < lengths[:, None])
    finally:
        handle.remove()
    maps = seen["maps"]
    # the pooled mask counts a pooled frame as real when one of its 2 conv frames is: ceil(27 / 2) = 14
    short = -(-conv_output_length(9_000, *STACK) // 2)
    assert maps.shape[-1] == adapter.n_frames(16_000) > short == 14
    assert float(maps[1, :, :, short:].abs().max()) == 0.0  # padded keys stay masked
    assert float(maps[1, :, short - 1, short - 3 : short].min()) > 0.0  # the band's keys that are real are not
    outside = torch.from_numpy(~band_mask(maps.shape[-1], 2))
    assert float(maps[:, :, outside].abs().max()) == 0.0


@pytest.mark.parametrize("name", NEW)
def test_model_card_in_describe(adapters, name):
    adapter = adapters(name)
    card = adapter.model_card()
    assert card["family"] == ("wav2vec2-conformer" if name.startswith("wav2vec2-conformer") else name)
    assert card["parameter_count"] == sum(p.numel() for p in adapter.module.parameters()) > 10_000
    assert list(card["layer_frame_rates"]) == list(adapter.layer_ids)
    assert card["layer_frame_rates"]["T0"] == adapter.frame_rate_hz
    assert card["weights_fingerprint"] == adapter.weights_fingerprint and card["weights_fingerprint"]
    described = adapter.describe()
    assert {key: described[key] for key in card} == card


def test_distilhubert_shape_loads_as_hubert_with_two_layers(tmp_path):
    # DistilHuBERT (ntu-spml/distilhubert) is a HubertModel with 2 blocks and no projection layer norm.
    config = transformers.HubertConfig(
        num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64, conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, feat_proj_layer_norm=False,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.HubertModel(config).save_pretrained(tmp_path)
    adapter = load_model(f"hf:{tmp_path}")
    assert adapter.family == "hubert" and adapter.layer_ids[-3:] == ("T0", "T1", "T2")
    wave = speech_like_wave(8_000)
    model = transformers.HubertModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        direct = model(torch.from_numpy(wave)[None], output_hidden_states=True).hidden_states
    np.testing.assert_allclose(adapter.forward(wave, layers="T2").hidden["T2"], direct[2][0].numpy(), rtol=0, atol=TOL)


def test_tiny_specs_of_the_new_families_pass_the_spec_check():
    for name in NEW:
        check_spec(f"tiny:{name}")


def test_extraction_plans_name_missing_c_layers_and_the_25_hz_grid(adapters):
    from layerprobe.extraction import plan_extraction

    with pytest.raises(ConfigError) as caught:
        plan_extraction(adapters("wav2vec2-bert"), rep="local", span="frame")
    assert str(caught.value) == "--rep local: tiny:wav2vec2-bert has no C layers (it has T0, T1, T2)"
    with pytest.raises(ConfigError) as caught:  # refused before a store is opened
        plan_extraction(adapters("sew-d"), rep="contextualized", span="frame", attention_ids=["u1"], pre_softmax=True)
    assert str(caught.value) == "--pre-softmax: tiny:sew-d gives post-softmax attention maps only; drop --pre-softmax"
    plan = plan_extraction(adapters("sew"), rep="contextualized", span="phone")
    assert plan.layers == ("T0", "T1", "T2") and plan.grid_hz == 25.0
    assert plan.layer_rates == {"T0": 25.0, "T1": 25.0, "T2": 25.0}


def test_a_sew_with_the_published_13_block_conv_stack(tmp_path):
    # asapp/sew-tiny-100k's conv stack (channels scaled down): C1..C13 at their native rates, T at 25 Hz.
    kernels, strides = (10, 3, 1, 3, 1, 3, 1, 3, 1, 2, 1, 2, 1), (5, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1)
    config = transformers.SEWConfig(
        num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64, squeeze_factor=2,
        conv_dim=(16,) * 13, conv_kernel=kernels, conv_stride=strides, num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.SEWModel(config).save_pretrained(tmp_path)
    adapter = load_model(f"hf:{tmp_path}")
    assert adapter.layer_ids == tuple(f"C{i}" for i in range(1, 14)) + ("T0", "T1", "T2")
    assert [adapter.layer_frame_rate(f"C{i}") for i in (1, 2, 3, 12, 13)] == [3200.0, 1600.0, 1600.0, 50.0, 50.0]
    assert adapter.local_pooling("C1") is None and adapter.frame_rate_hz == 25.0
    wave = speech_like_wave(12_000, seed=8)
    out = adapter.forward(wave)
    model = transformers.SEWModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        direct = model(torch.from_numpy(wave)[None], output_hidden_states=True).hidden_states
    frames = conv_output_length(wave.size, kernels, strides) // 2
    assert out.n_frames == frames == direct[0].shape[1]
    for index, states in enumerate(direct):
        np.testing.assert_allclose(out.hidden[f"T{index}"], states[0].numpy(), rtol=0, atol=TOL)


def test_w2v_bert_without_a_preprocessor_config_gets_the_published_settings(tmp_path, caplog):
    config = transformers.Wav2Vec2BertConfig(
        num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64, conv_depthwise_kernel_size=7
    )
    torch.manual_seed(0)
    transformers.Wav2Vec2BertModel(config).save_pretrained(tmp_path)
    with caplog.at_level("WARNING"):
        adapter = load_model(f"hf:{tmp_path}")
    assert "no preprocessor_config.json; assuming the SeamlessM4TFeatureExtractor settings" in caplog.text
    settings = adapter.describe()["feature_settings"]
    assert (settings["num_mel_bins"], settings["stride"], settings["padding_value"]) == (80, 2, 1.0)
    wave = speech_like_wave(10_000, seed=9)
    extractor = transformers.SeamlessM4TFeatureExtractor(padding_value=1.0, stride=2)
    model = transformers.Wav2Vec2BertModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        direct = model(**extractor(wave, sampling_rate=16000, return_tensors="pt"), output_hidden_states=True).hidden_states
    out = adapter.forward(wave)
    for index, states in enumerate(direct):
        np.testing.assert_allclose(out.hidden[f"T{index}"], states[0, : out.n_frames].numpy(), rtol=0, atol=TOL)
