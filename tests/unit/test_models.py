"""Model adapters on seeded tiny models: layers against direct transformers runs, attention maps,
hooks, batching, the registry and the tiny-model cache.

Every reference below is computed independently of the adapter: a fresh ``from_pretrained`` of the
saved tiny model, the normalisation written out, the conv blocks run one by one.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from layerprobe.errors import AudioError, ConfigError, DependencyError, LayerprobeError  # noqa: E402
from layerprobe.models import LayerOutputs, ModelAdapter, load_model  # noqa: E402
from layerprobe.models.hf import (  # noqa: E402
    STANDARD_LOCAL_POOLING,
    HFAdapter,
    conv_output_length,
    model_classes,
)
from layerprobe.models.tiny import build_tiny_model, load_tiny_model, tiny_model_dir  # noqa: E402
from support.signals import speech_like_wave  # noqa: E402
from support.hooks import hook_counts  # noqa: E402

TINY = ("wav2vec2", "wav2vec2-large-style", "hubert", "wavlm", "data2vec-audio", "whisper")
CONV_TINY = tuple(name for name in TINY if name != "whisper")
SDPA_TINY = tuple(name for name in TINY if name != "wavlm")  # WavLM has its own attention

# Outputs of the same float32 computation, run by the adapter and directly: only summation order
# may differ (it does not here; the bound leaves room for other BLAS builds).
ATOL = 1e-5
MAP_ATOL = 1e-6






def _fresh_module(adapter: HFAdapter):
    """An independent ``from_pretrained`` of the adapter's directory (the encoder for Whisper)."""
    directory = adapter.describe()["model_id"]
    model = model_classes()[adapter.family].from_pretrained(directory, dtype=torch.float32)
    model = model.get_encoder() if adapter.family == "whisper" else model
    return model.eval()


def _direct_input(adapter: HFAdapter, wave: np.ndarray) -> dict[str, torch.Tensor]:
    """The model input written out: normalised waveform, or Whisper's 30 s log-mel."""
    directory = adapter.describe()["model_id"]
    if adapter.family == "whisper":
        extractor = transformers.WhisperFeatureExtractor.from_pretrained(directory)
        features = extractor(wave, sampling_rate=16000, return_tensors="pt")["input_features"]
        assert features.shape[-1] == 3000  # padded to 30 s
        return {"input_features": features}
    settings = json.loads((Path(directory) / "preprocessor_config.json").read_text())
    values = wave.astype(np.float32)
    if settings["do_normalize"]:
        values = (values - values.mean()) / np.sqrt(values.var() + 1e-7)
    return {"input_values": torch.from_numpy(values)[None]}


def _expected_frames(adapter: HFAdapter, n_samples: int) -> int:
    if adapter.family == "whisper":
        return -(-(n_samples // 160) // 2)  # ceil(mel frames / 2)
    return conv_output_length(n_samples, (10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))


# ------------------------------------------------------------------------------ layers and frames


@pytest.mark.parametrize("name", TINY)
def test_layer_ids_frames_and_inference_settings(adapters, name):
    adapter = adapters(name)
    assert isinstance(adapter, ModelAdapter)
    n_layers = adapter.module.config.num_hidden_layers
    n_conv = 2 if name == "whisper" else 7
    assert adapter.layer_ids == tuple(f"C{i}" for i in range(1, n_conv + 1)) + tuple(f"T{i}" for i in range(n_layers + 1))
    assert adapter.num_layers == n_layers
    assert not adapter.module.training
    if name == "whisper":
        assert adapter.module.config.encoder_layerdrop == 0.0 and adapter.module.layerdrop == 0.0
    else:
        assert adapter.module.config.layerdrop == 0.0  # the saved configs have 0.1
    wave = speech_like_wave(12_345)
    out = adapter.forward(wave)
    assert isinstance(out, LayerOutputs)
    assert out.n_frames == adapter.n_frames(wave.size) == _expected_frames(adapter, wave.size)
    assert list(out.hidden) == list(adapter.layer_ids)
    for layer, values in out.hidden.items():
        assert values.dtype == np.float32 and values.flags.c_contiguous
        assert values.shape[0] == adapter.layer_n_frames(layer, wave.size)
    assert out.hidden["T0"].shape == (out.n_frames, adapter.module.config.hidden_size)


@pytest.mark.parametrize("name", TINY)
def test_transformer_layers_equal_a_direct_transformers_forward(adapters, name):
    adapter = adapters(name)
    wave = speech_like_wave(14_000, seed=1)
    out = adapter.forward(wave, layers="contextualized")
    model = _fresh_module(adapter)
    with torch.no_grad():
        direct = model(**_direct_input(adapter, wave), output_hidden_states=True).hidden_states
    assert len(direct) == adapter.num_layers + 1
    frames = _expected_frames(adapter, wave.size)
    for index, states in enumerate(direct):
        expected = states[0, :frames].numpy()
        np.testing.assert_allclose(out.hidden[f"T{index}"], expected, rtol=0, atol=ATOL)
    assert set(out.hidden) == {f"T{i}" for i in range(adapter.num_layers + 1)}


@pytest.mark.parametrize("name", TINY)
def test_conv_layers_equal_the_conv_blocks_run_one_by_one(adapters, name):
    adapter = adapters(name)
    wave = speech_like_wave(9_000, seed=2)
    out = adapter.forward(wave, layers="local")
    model = _fresh_module(adapter)
    inputs = _direct_input(adapter, wave)
    with torch.no_grad():
        if name == "whisper":
            mel_frames = wave.size // 160
            c1 = torch.nn.functional.gelu(model.conv1(inputs["input_features"]))
            c2 = torch.nn.functional.gelu(model.conv2(c1))
            expected = {"C1": c1[0, :, :mel_frames], "C2": c2[0, :, : -(-mel_frames // 2)]}
        else:
            states, expected = inputs["input_values"][:, None], {}
            for index, block in enumerate(model.feature_extractor.conv_layers):
                states = block(states)
                expected[f"C{index + 1}"] = states[0]
    assert set(out.hidden) == set(expected)
    for layer, values in expected.items():
        np.testing.assert_allclose(out.hidden[layer], values.T.numpy(), rtol=0, atol=ATOL)
    if name != "whisper":
        assert out.hidden["C1"].shape[0] == (wave.size - 10) // 5 + 1


def test_layer_subsets_and_unknown_layers(adapters):
    adapter = adapters("hubert")
    wave = speech_like_wave(8_000)
    assert set(adapter.forward(wave, layers=["T2", "c3"]).hidden) == {"C3", "T2"}
    assert set(adapter.forward(wave, layers="T0-T1").hidden) == {"T0", "T1"}
    with pytest.raises(ConfigError, match="T9"):
        adapter.forward(wave, layers=["T9"])


# ------------------------------------------------------------------------------ frame rates


def test_frame_rates_pooling_and_frame_counts_of_the_wav2vec2_stack(adapters):
    adapter = adapters("wav2vec2")
    assert [adapter.layer_frame_rate(f"C{i}") for i in range(1, 8)] == [3200, 1600, 800, 400, 200, 100, 50]
    assert adapter.frame_rate_hz == 50 and adapter.layer_frame_rate("T3") == 50
    assert {f"C{i}": adapter.local_pooling(f"C{i}") for i in range(1, 8)} == STANDARD_LOCAL_POOLING
    assert adapter.local_pooling("C1") == (79, 32) and adapter.local_pooling("C7") is None
    assert adapter.local_pooling("T1") is None
    lengths = torch.arange(400, 20_000, 37)
    expected = adapter.module._get_feat_extract_output_lengths(lengths)
    assert [adapter.n_frames(int(n)) for n in lengths] == expected.tolist()
    assert adapter.n_frames(399) == 0 and adapter.n_frames(400) == 1 and adapter.n_frames(0) == 0
    with pytest.raises(ConfigError):
        adapter.layer_frame_rate("C8")


def test_other_conv_stacks_have_no_local_pooling():
    config = transformers.Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=(8, 8, 8),
        conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2), num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
    )
    adapter = HFAdapter.from_module(transformers.Wav2Vec2Model(config), spec="test:short-stack")
    assert adapter.layer_ids == ("C1", "C2", "C3", "T0", "T1")
    assert adapter.frame_rate_hz == 800 and adapter.layer_frame_rate("C1") == 3200
    assert [adapter.local_pooling(layer) for layer in ("C1", "C2", "C3")] == [None, None, None]
    assert adapter.forward(speech_like_wave(4_000)).hidden["T1"].shape == (adapter.n_frames(4_000), 16)


def test_whisper_frames_rates_and_limits(adapters):
    adapter = adapters("whisper")
    assert adapter.layer_frame_rate("C1") == 100 and adapter.layer_frame_rate("C2") == 50
    assert adapter.frame_rate_hz == 50 and adapter.max_seconds == 30
    assert adapter.local_pooling("C1") is None and adapter.local_pooling("C2") is None
    # mel frames = n // 160; transformer frames = ceil(mel frames / 2)
    assert [adapter.n_frames(n) for n in (0, 159, 160, 320, 480, 481, 46_797, 480_000)] == [0, 0, 1, 1, 2, 2, 146, 1500]
    assert adapter.layer_n_frames("C1", 46_797) == 292
    with pytest.raises(AudioError, match="longer than the model's 30 s"):
        adapter.forward(np.zeros(30 * 16000 + 1, dtype=np.float32))
    out = adapter.forward(speech_like_wave(30 * 16000), layers=["T2"])
    assert out.hidden["T2"].shape[0] == 1500


@pytest.mark.parametrize(
    ("waveform", "message"),
    [
        (np.zeros(399, dtype=np.float32), "too short"),
        (np.zeros((2, 8000), dtype=np.float32), "1-d"),
        (np.full(8000, np.nan, dtype=np.float32), "NaN"),
        (np.zeros(8000, dtype=np.int16), "float"),
    ],
)
def test_bad_waveforms_are_clear_errors(adapters, waveform, message):
    with pytest.raises(AudioError, match=message):
        adapters("wav2vec2").forward(waveform)


# ------------------------------------------------------------------------------ attention


@pytest.mark.parametrize("name", SDPA_TINY)
def test_attention_maps_equal_transformers_eager_maps(adapters, name):
    adapter = adapters(name)
    assert adapter.module.config._attn_implementation == "sdpa"
    wave = speech_like_wave(11_000, seed=3)
    only_maps = adapter.forward(wave, layers=[], attention=True)
    both = adapter.forward(wave, layers=[], attention=True, pre_softmax=True)
    assert adapter.module.config._attn_implementation == "sdpa"  # restored after each call
    model = _fresh_module(adapter)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        direct = model(**_direct_input(adapter, wave), output_attentions=True).attentions
    assert len(direct) == adapter.num_layers
    frames = adapter.n_frames(wave.size)
    heads = adapter.module.config.num_attention_heads
    for index, maps in enumerate(direct):
        block = f"T{index + 1}"
        expected = maps[0, :, :frames, :frames].numpy()
        assert only_maps.attention[block].shape == (heads, frames, frames)
        np.testing.assert_allclose(only_maps.attention[block], expected, rtol=0, atol=MAP_ATOL)
        np.testing.assert_allclose(both.attention[block], expected, rtol=0, atol=MAP_ATOL)
    assert set(only_maps.attention) == {f"T{i}" for i in range(1, adapter.num_layers + 1)}
    assert only_maps.pre_softmax == {}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("name", ("wav2vec2", "data2vec-audio", "wavlm"))
def test_softmax_of_pre_softmax_logits_is_the_attention_map(adapters, name):
    adapter = adapters(name)
    out = adapter.forward(speech_like_wave(10_000, seed=4), layers=[], attention=True, pre_softmax=True)
    assert set(out.pre_softmax) == set(out.attention) == {f"T{i}" for i in range(1, adapter.num_layers + 1)}
    for block, logits in out.pre_softmax.items():
        assert logits.shape == out.attention[block].shape
        np.testing.assert_allclose(_softmax(logits.astype(np.float64)), out.attention[block], rtol=0, atol=MAP_ATOL)
        # rows span over e-fold in weight: the maps are far from uniform, so the check is not trivial
        assert np.ptp(logits, axis=-1).mean() > 1.0


def test_whisper_softmax_of_cut_logits_is_the_cut_map_renormalised(adapters):
    # Whisper attends over the whole 30 s window; cut to the real frames, each map row keeps the mass
    # on real keys, which is the softmax over real keys times that row's kept mass.
    adapter = adapters("whisper")
    out = adapter.forward(speech_like_wave(8_000, seed=5), layers=[], attention=True, pre_softmax=True)
    for block, cut in out.attention.items():
        kept = cut.sum(axis=-1, keepdims=True)
        assert kept.max() < 1.0  # the padding frames took some of the mass
        np.testing.assert_allclose(_softmax(out.pre_softmax[block].astype(np.float64)), cut / kept, rtol=0, atol=MAP_ATOL)


def test_wavlm_per_head_maps_match_its_head_average_and_its_output(adapters):
    adapter = adapters("wavlm")
    wave = speech_like_wave(9_500, seed=6)
    out = adapter.forward(wave, layers=[], attention=True, pre_softmax=True)
    model = _fresh_module(adapter)
    captured = {}

    def keep(module, args, kwargs, output):
        captured["input"], captured["output"] = args[0], output[0]

    handle = model.encoder.layers[0].attention.register_forward_hook(keep, with_kwargs=True)
    try:
        with torch.no_grad():
            averaged = model(**_direct_input(adapter, wave), output_attentions=True).attentions
    finally:
        handle.remove()
    # transformers' WavLM maps are the head average, repeated for every head
    for index, maps in enumerate(averaged):
        per_head = out.attention[f"T{index + 1}"]
        np.testing.assert_allclose(per_head.mean(axis=0), maps[0, 0].numpy(), rtol=0, atol=MAP_ATOL)
        assert np.abs(per_head - per_head.mean(axis=0)).max() > 1e-3  # the heads do differ
    # The per-head maps of block 1 rebuild the block's attention output exactly.
    attention = model.encoder.layers[0].attention
    values = attention.v_proj(captured["input"])[0].view(-1, attention.num_heads, attention.head_dim).transpose(0, 1)
    mixed = torch.from_numpy(out.attention["T1"]) @ values.detach()
    rebuilt = attention.out_proj(mixed.transpose(0, 1).reshape(values.shape[1], -1))
    np.testing.assert_allclose(rebuilt.detach().numpy(), captured["output"][0].detach().numpy(), rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", ("wav2vec2", "wavlm", "whisper"))
def test_hooks_and_attention_settings_do_not_leak_after_an_exception(adapters, name, monkeypatch):
    adapter = adapters(name)
    wave = speech_like_wave(8_000, seed=7)
    before = adapter.forward(wave, layers=["C1", "T1"])  # transformers installs its own recorders once
    hooks = hook_counts(adapter.module)
    original_implementation = adapter.module.config._attn_implementation
    blocks = adapter.module.layers if name == "whisper" else adapter.module.encoder.layers
    if name == "whisper":
        conv_blocks = [adapter.module.conv1, adapter.module.conv2]
    else:
        conv_blocks = list(adapter.module.feature_extractor.conv_layers)
    during = {}

    def broken(*args, **kwargs):
        during["hooks"] = hook_counts(adapter.module)
        during["implementation"] = adapter.module.config._attn_implementation
        raise RuntimeError("block failed")

    monkeypatch.setattr(blocks[-1], "forward", broken)
    with pytest.raises(RuntimeError, match="block failed"):
        adapter.forward(wave, attention=True, pre_softmax=True)
    monkeypatch.undo()
    # the call did set things up: hooks on every conv block (and WavLM's attention), another attention
    assert sum(count[0] for count in during["hooks"].values()) >= sum(count[0] for count in hooks.values()) + 2
    assert during["implementation"] != original_implementation or name == "wavlm"
    # ... and took all of it down
    assert hook_counts(adapter.module) == hooks
    assert all(len(block._forward_hooks) == 0 for block in conv_blocks)
    assert adapter.module.config._attn_implementation == original_implementation
    after = adapter.forward(wave, layers=["C1", "T1"])
    np.testing.assert_array_equal(after.hidden["T1"], before.hidden["T1"])
    np.testing.assert_array_equal(after.hidden["C1"], before.hidden["C1"])


def test_fewer_hidden_states_than_layers_is_an_error(adapters, monkeypatch):
    adapter = adapters("hubert")
    layers = adapter.module.encoder.layers
    monkeypatch.setattr(adapter.module.encoder, "layers", torch.nn.ModuleList(list(layers)[:-1]))
    with pytest.raises(LayerprobeError, match=r"returned 2 hidden states, expected 3 \(T0-T2\)"):
        adapter.forward(speech_like_wave(8_000))


def test_forward_restores_training_mode(adapters):
    adapter = adapters("wav2vec2")
    wave = speech_like_wave(8_000)
    reference = adapter.forward(wave, layers=["T3"]).hidden["T3"]
    adapter.module.train()
    try:
        np.testing.assert_array_equal(adapter.forward(wave, layers=["T3"]).hidden["T3"], reference)
        assert adapter.module.training
    finally:
        adapter.module.eval()


# ------------------------------------------------------------------------------ batching


@pytest.mark.parametrize("name", ("wav2vec2-large-style", "whisper", "wav2vec2"))
def test_forward_batch_equals_forward_per_utterance(adapters, name):
    adapter = adapters(name)
    assert adapter.supports_batching == (name != "wav2vec2")
    waves = [speech_like_wave(n, seed=n) for n in (16_000, 7_301, 11_999)]
    batch = adapter.forward_batch(waves)
    assert len(batch) == 3
    for wave, item in zip(waves, batch):
        alone = adapter.forward(wave)
        assert item.n_frames == alone.n_frames == adapter.n_frames(wave.size)
        assert set(item.hidden) == set(alone.hidden) == set(adapter.layer_ids)
        for layer, values in alone.hidden.items():
            assert item.hidden[layer].shape == values.shape
            np.testing.assert_allclose(item.hidden[layer], values, rtol=0, atol=ATOL)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")  # inside transformers' WavLM
def test_layer_norm_encoders_batch_and_data2vec_does_not():
    # data2vec-audio's stacked positional convolutions (each with a layer norm) carry padding into
    # the last real frames: a padded batch differs from per-utterance runs, so it is not batched.
    common = dict(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=(8,) * 7,
        num_conv_pos_embedding_groups=2,
    )
    torch.manual_seed(0)
    data2vec = transformers.Data2VecAudioModel(
        transformers.Data2VecAudioConfig(num_conv_pos_embeddings=2, conv_pos_kernel_size=5, **common)
    ).eval()
    adapter = HFAdapter.from_module(data2vec, spec="test:data2vec")
    assert not adapter.supports_batching
    short, long = speech_like_wave(6_000), speech_like_wave(10_000, seed=1)
    padded = torch.zeros(2, 10_000)
    padded[0, :6_000], padded[1] = torch.from_numpy(short), torch.from_numpy(long)
    mask = torch.zeros(2, 10_000, dtype=torch.long)
    mask[0, :6_000], mask[1] = 1, 1
    with torch.no_grad():
        batched = data2vec(padded, attention_mask=mask, output_hidden_states=True).hidden_states[0][0]
        alone = data2vec(torch.from_numpy(short)[None], output_hidden_states=True).hidden_states[0][0]
    assert (batched[: alone.shape[0]] - alone).abs().max() > 1e-2
    # ... while a layer-norm WavLM (as WavLM large) batches like the other layer-norm encoders.
    wavlm = transformers.WavLMModel(
        transformers.WavLMConfig(
            feat_extract_norm="layer", do_stable_layer_norm=True, num_conv_pos_embeddings=8, num_buckets=16,
            max_bucket_distance=50, **common,
        )
    )
    adapter = HFAdapter.from_module(wavlm, spec="test:wavlm-large-style")
    assert adapter.supports_batching
    waves = [speech_like_wave(9_000, seed=2), speech_like_wave(5_500, seed=3)]
    for item, wave in zip(adapter.forward_batch(waves), waves):
        np.testing.assert_allclose(item.hidden["T1"], adapter.forward(wave).hidden["T1"], rtol=0, atol=ATOL)


# ------------------------------------------------------------------------------ from_module, settings


def test_from_module_unwraps_heads_casts_to_float32_and_keeps_given_settings(adapters):
    source = adapters("wav2vec2-large-style")
    ctc = transformers.Wav2Vec2ForCTC(source.module.config)
    ctc.wav2vec2.load_state_dict(source.module.state_dict())
    ctc = ctc.half().train()
    settings = {"do_normalize": True, "sampling_rate": 16000, "architecture": "wav2vec2", "fine_tuned": True}
    adapter = HFAdapter.from_module(ctc, spec="fairseq:/ckpt/x.pt", feature_settings=settings, source="/ckpt/x.pt")
    assert type(adapter.module).__name__ == "Wav2Vec2Model"
    assert not adapter.module.training
    assert all(p.dtype == torch.float32 for p in adapter.module.parameters())
    described = adapter.describe()
    assert described["feature_settings"]["do_normalize"] is True
    assert described["feature_settings"]["return_attention_mask"] is True  # layer-norm default filled in
    assert described["source_details"] == {"architecture": "wav2vec2", "fine_tuned": True}
    assert described["feature_settings_source"] == "given"
    wave = speech_like_wave(8_000)
    # float16 weights cast back to float32 stay within float16 rounding of the originals
    np.testing.assert_allclose(adapter.forward(wave).hidden["T2"], source.forward(wave).hidden["T2"], atol=0.05)
    with pytest.raises(ConfigError, match="Linear is not a supported speech encoder"):
        HFAdapter.from_module(torch.nn.Linear(2, 2), spec="test:linear")


@pytest.mark.parametrize(
    ("name", "normalize"), [("wav2vec2", False), ("wav2vec2-large-style", True), ("data2vec-audio", True)]
)
def test_default_feature_settings_without_a_preprocessor_config(tiny_root, tmp_path, name, normalize):
    directory = tmp_path / name
    shutil.copytree(build_tiny_model(name, root=tiny_root), directory)
    (directory / "preprocessor_config.json").unlink()
    described = load_model(f"hf:{directory}").describe()
    assert described["feature_settings_source"] == "defaults"
    assert described["feature_settings"]["do_normalize"] is normalize
    assert described["feature_settings"]["return_attention_mask"] is normalize


def test_describe_records_provenance(adapters, tiny_root):
    described = adapters("whisper").describe()
    assert described["spec"] == "tiny:whisper" and described["family"] == "whisper"
    assert described["model_id"] == str(tiny_model_dir("whisper", root=tiny_root))
    assert described["transformers_version"] == transformers.__version__
    assert described["torch_version"] == torch.__version__ and described["dtype"] == "float32"
    assert described["feature_settings"]["chunk_length"] == 30 and described["feature_settings"]["hop_length"] == 160
    assert len(described["config_sha256"]) == 64
    again = HFAdapter.from_pretrained(described["model_id"]).describe()
    assert again["config_sha256"] == described["config_sha256"]
    assert again["spec"] == f"hf:{described['model_id']}"
    assert json.dumps(described)  # JSON-serialisable as it is


# ------------------------------------------------------------------------------ tiny models


def test_same_seed_gives_identical_weights_through_from_pretrained(tmp_path, monkeypatch):
    calls = []
    original = transformers.HubertModel.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        calls.append(str(args[0]))
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(transformers.HubertModel, "from_pretrained", classmethod(spy))
    dir_a, dir_b = tiny_model_dir("hubert", root=tmp_path / "a"), tiny_model_dir("hubert", root=tmp_path / "b")
    dir_seed1 = tiny_model_dir("hubert", seed=1, root=tmp_path / "a")
    first = load_tiny_model("hubert", root=tmp_path / "a")
    second = load_tiny_model("hubert", root=tmp_path / "b")
    other_seed = load_tiny_model("hubert", seed=1, root=tmp_path / "a")
    assert calls == [str(dir_a), str(dir_b), str(dir_seed1)]  # each load is a real from_pretrained
    state_a, state_b = first.module.state_dict(), second.module.state_dict()
    assert state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[key], state_b[key]) for key in state_a)
    query = "encoder.layers.0.attention.q_proj.weight"
    assert not torch.equal(state_a[query], other_seed.module.state_dict()[query])
    assert other_seed.spec == "tiny:hubert@1"
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= {p.name for p in dir_a.iterdir()}
    # renamed into place: no staging directories left behind
    assert sorted(p.name for p in (tmp_path / "a" / "tiny").iterdir()) == sorted([dir_a.name, dir_seed1.name])


def test_tiny_models_use_the_cache_variable_and_are_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERPROBE_CACHE", str(tmp_path))
    adapter = load_model("tiny:wavlm")
    directory = Path(adapter.describe()["model_id"])
    assert directory.parent == tmp_path / "tiny" and directory.name.startswith("wavlm-seed0-")
    stamp = (directory / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model("wavlm") == directory
    assert (directory / "model.safetensors").stat().st_mtime_ns == stamp


# ------------------------------------------------------------------------------ registry errors


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("foo:bar", "not supported; use one of: hf:ID_OR_DIR"),
        ("wav2vec2", "not supported; use one of"),
        ("hf:", "names no model"),
        ("tiny:bert", "unknown tiny model 'bert'"),
        ("tiny:wav2vec2@x", "seed"),
        ("hf:/nonexistent/layerprobe/model", "no such model directory"),
    ],
)
def test_registry_rejects_bad_specs(spec, message):
    with pytest.raises(ConfigError, match=message):
        load_model(spec)


def test_registry_rejects_a_directory_with_a_non_speech_config(tmp_path):
    transformers.BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match=r"model type 'bert' is not a supported speech encoder \(supported: wav2vec2"):
        load_model(f"hf:{tmp_path}")


def test_registry_rejects_a_directory_without_a_config(tmp_path):
    with pytest.raises(ConfigError, match="config.json"):
        load_model(f"hf:{tmp_path}")


def test_uncached_hub_id_offline_is_a_clear_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError) as caught:
        load_model("hf:layerprobe-test/no-such-model")
    assert str(caught.value) == (
        f"hf:layerprobe-test/no-such-model: not in the local Hugging Face cache ({huggingface_hub.constants.HF_HUB_CACHE}) "
        "and the hub cannot be reached (offline mode: HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set); download it on "
        "a machine with network (hf download layerprobe-test/no-such-model) or give a local directory (hf:/path/to/model)"
    )


def test_uncached_hub_id_with_an_unreachable_hub_fails_at_once_without_trying_to_download(monkeypatch, tmp_path):
    import huggingface_hub.constants

    from layerprobe.models import hf_loading

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hf_loading, "_hub_reachable", lambda timeout_s=3.0: False)
    tries = []

    def cache_only(source, **kwargs):
        tries.append(kwargs["local_files_only"])
        raise OSError(f"{source} is not in the cache")

    with pytest.raises(ConfigError) as caught:
        hf_loading._from_hub_or_dir(cache_only, "nobody/nothing", "hub", revision="v2", local_files_only=None)
    assert tries == [True]  # the cache only: no download, so no retries
    assert str(caught.value) == (
        f"hf:nobody/nothing: not in the local Hugging Face cache ({tmp_path / 'hub'}) and the hub cannot be reached; "
        "download it on a machine with network (hf download nobody/nothing --revision v2) or give a local directory "
        "(hf:/path/to/model)"
    )


def test_hub_reachability_is_one_quick_connection_attempt(monkeypatch):
    import socket

    from layerprobe.models import hf_loading

    attempts = []

    def refuse(address, timeout=None):
        attempts.append((address, timeout))
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert hf_loading._hub_reachable() is False
    assert len(attempts) == 1 and attempts[0][1] == 3.0  # one attempt, never the hub client's retries


def test_revision_only_for_hf_and_unavailable_cuda(tmp_path):
    with pytest.raises(ConfigError, match="revision"):
        load_model("tiny:wav2vec2", revision="main")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            load_model("tiny:wav2vec2", device="cuda")
    with pytest.raises(ConfigError, match="device"):
        load_model("tiny:wav2vec2", device="tpu-9")


def test_fairseq_without_its_reader_is_a_dependency_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "layerprobe.models.fairseq", None)
    with pytest.raises(DependencyError, match="layerprobe.models.fairseq"):
        load_model("fairseq:/ckpt/model.pt")


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("name", "n_conv", "n_layers", "width"),
    [("wav2vec2-base", 7, 12, 768), ("hubert-base", 7, 12, 768), ("wavlm-base", 7, 12, 768),
     ("data2vec-audio-base", 7, 12, 768), ("whisper-base", 2, 6, 512)],
)
def test_base_size_random_models(tmp_path, name, n_conv, n_layers, width):
    adapter = load_tiny_model(name, root=tmp_path)
    assert len(adapter.layer_ids) == n_conv + n_layers + 1 and adapter.num_layers == n_layers
    out = adapter.forward(speech_like_wave(16_000), layers=["C1", f"T{n_layers}"])
    assert out.hidden[f"T{n_layers}"].shape == (adapter.n_frames(16_000), width)
    assert np.isfinite(out.hidden[f"T{n_layers}"]).all()


@pytest.mark.parametrize("family", ["wav2vec2", "whisper"])
def test_conv_layers_alone_equal_those_of_a_full_forward(family):
    """The front-end-only path (no transformer run) gives the C layers of a full forward."""
    from layerprobe.models import load_model

    adapter = load_model(f"tiny:{family}")
    waveform = np.random.default_rng(5).uniform(-0.5, 0.5, 16000).astype(np.float32)
    conv_ids = [layer for layer in adapter.layer_ids if layer.startswith("C")]
    alone = adapter.forward(waveform, layers=conv_ids)
    full = adapter.forward(waveform)
    assert sorted(alone.hidden) == sorted(conv_ids)
    for layer in conv_ids:
        np.testing.assert_array_equal(alone.hidden[layer], full.hidden[layer])
