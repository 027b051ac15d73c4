"""The fairseq checkpoint loader without fairseq: safe reading, config mapping, key map, errors.

The checkpoints here are written with plain ``torch.save``: dicts of tensors named the way fairseq
names them (spelled out below), with the configuration as a legacy ``argparse.Namespace``, a plain
dict (what fairseq 0.12 writes), or pickled omegaconf containers (older fairseq), imitated with
stand-in classes so that neither fairseq nor omegaconf is needed.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from layerprobe.errors import ConfigError, LayerprobeError
from layerprobe.models.fairseq import (
    ALLOWED_GLOBALS,
    identify_architecture,
    load_fairseq_checkpoint,
    parse_conv_feature_layers,
    read_checkpoint,
    transformers_config,
)
from modellib_addons.fairseq_keymap import drop_reason, map_state_dict, transformers_key

CONV_LAYERS = "[(8, 10, 5)] + [(8, 3, 2)] * 4 + [(8, 2, 2)] * 2"
KERNELS = (10, 3, 3, 3, 3, 2, 2)
STRIDES = (5, 2, 2, 2, 2, 2, 2)
BASE_DEFAULT_CONV = "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]"

#: One transformer block and the layers around it, fairseq name -> transformers name, written out.
EXPLICIT_NAMES = {
    "mask_emb": "masked_spec_embed",
    "feature_extractor.conv_layers.0.0.weight": "feature_extractor.conv_layers.0.conv.weight",
    "feature_extractor.conv_layers.0.2.weight": "feature_extractor.conv_layers.0.layer_norm.weight",
    "feature_extractor.conv_layers.0.2.bias": "feature_extractor.conv_layers.0.layer_norm.bias",
    "feature_extractor.conv_layers.6.0.weight": "feature_extractor.conv_layers.6.conv.weight",
    "layer_norm.weight": "feature_projection.layer_norm.weight",
    "layer_norm.bias": "feature_projection.layer_norm.bias",
    "post_extract_proj.weight": "feature_projection.projection.weight",
    "post_extract_proj.bias": "feature_projection.projection.bias",
    "encoder.pos_conv.0.weight_g": "encoder.pos_conv_embed.conv.parametrizations.weight.original0",
    "encoder.pos_conv.0.weight_v": "encoder.pos_conv_embed.conv.parametrizations.weight.original1",
    "encoder.pos_conv.0.bias": "encoder.pos_conv_embed.conv.bias",
    "encoder.layer_norm.weight": "encoder.layer_norm.weight",
    "encoder.layer_norm.bias": "encoder.layer_norm.bias",
    "encoder.layers.1.self_attn.k_proj.weight": "encoder.layers.1.attention.k_proj.weight",
    "encoder.layers.1.self_attn.k_proj.bias": "encoder.layers.1.attention.k_proj.bias",
    "encoder.layers.1.self_attn.v_proj.weight": "encoder.layers.1.attention.v_proj.weight",
    "encoder.layers.1.self_attn.v_proj.bias": "encoder.layers.1.attention.v_proj.bias",
    "encoder.layers.1.self_attn.q_proj.weight": "encoder.layers.1.attention.q_proj.weight",
    "encoder.layers.1.self_attn.q_proj.bias": "encoder.layers.1.attention.q_proj.bias",
    "encoder.layers.1.self_attn.out_proj.weight": "encoder.layers.1.attention.out_proj.weight",
    "encoder.layers.1.self_attn.out_proj.bias": "encoder.layers.1.attention.out_proj.bias",
    "encoder.layers.1.self_attn_layer_norm.weight": "encoder.layers.1.layer_norm.weight",
    "encoder.layers.1.self_attn_layer_norm.bias": "encoder.layers.1.layer_norm.bias",
    "encoder.layers.1.fc1.weight": "encoder.layers.1.feed_forward.intermediate_dense.weight",
    "encoder.layers.1.fc1.bias": "encoder.layers.1.feed_forward.intermediate_dense.bias",
    "encoder.layers.1.fc2.weight": "encoder.layers.1.feed_forward.output_dense.weight",
    "encoder.layers.1.fc2.bias": "encoder.layers.1.feed_forward.output_dense.bias",
    "encoder.layers.1.final_layer_norm.weight": "encoder.layers.1.final_layer_norm.weight",
    "encoder.layers.1.final_layer_norm.bias": "encoder.layers.1.final_layer_norm.bias",
}

LARGE_STYLE_NAMES = {
    "feature_extractor.conv_layers.3.0.bias": "feature_extractor.conv_layers.3.conv.bias",
    "feature_extractor.conv_layers.3.2.1.weight": "feature_extractor.conv_layers.3.layer_norm.weight",
    "feature_extractor.conv_layers.3.2.1.bias": "feature_extractor.conv_layers.3.layer_norm.bias",
}


# --------------------------------------------------------------------------------------------------
# Synthetic fairseq checkpoints
# --------------------------------------------------------------------------------------------------


def model_cfg(**overrides) -> dict:
    """A small fairseq wav2vec2 model configuration (the fields a real one has for these settings)."""
    cfg = {
        "_name": "wav2vec2",
        "extractor_mode": "default",
        "encoder_layers": 2,
        "encoder_embed_dim": 16,
        "encoder_ffn_embed_dim": 32,
        "encoder_attention_heads": 2,
        "activation_fn": "gelu",
        "layer_type": "transformer",
        "dropout": 0.1,
        "attention_dropout": 0.1,
        "activation_dropout": 0.0,
        "encoder_layerdrop": 0.05,
        "dropout_input": 0.1,
        "layer_norm_first": False,
        "conv_feature_layers": CONV_LAYERS,
        "conv_bias": False,
        "conv_pos": 4,
        "conv_pos_groups": 2,
        "quantize_targets": True,
        "latent_temp": [2.0, 0.5, 0.999995],
    }
    cfg.update(overrides)
    return cfg


def fairseq_state(
    *,
    layers: int = 2,
    dim: int = 16,
    ffn: int = 32,
    conv_dim: int = 8,
    extractor_mode: str = "default",
    conv_bias: bool = False,
    pos_kernel: int = 4,
    pos_groups: int = 2,
    pos_conv_batch_norm: bool = False,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """A pre-trained fairseq state dict with fairseq's parameter names and random values."""
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    state = {"mask_emb": rand(dim)}
    in_dim = 1
    for i, kernel in enumerate(KERNELS):
        state[f"feature_extractor.conv_layers.{i}.0.weight"] = rand(conv_dim, in_dim, kernel)
        if conv_bias:
            state[f"feature_extractor.conv_layers.{i}.0.bias"] = rand(conv_dim)
        if extractor_mode == "layer_norm":
            state[f"feature_extractor.conv_layers.{i}.2.1.weight"] = rand(conv_dim)
            state[f"feature_extractor.conv_layers.{i}.2.1.bias"] = rand(conv_dim)
        elif i == 0:
            state["feature_extractor.conv_layers.0.2.weight"] = rand(conv_dim)
            state["feature_extractor.conv_layers.0.2.bias"] = rand(conv_dim)
        in_dim = conv_dim
    state["layer_norm.weight"], state["layer_norm.bias"] = rand(conv_dim), rand(conv_dim)
    if conv_dim != dim:
        state["post_extract_proj.weight"], state["post_extract_proj.bias"] = rand(dim, conv_dim), rand(dim)
    if pos_conv_batch_norm:
        for name in ("weight", "bias", "running_mean"):
            state[f"encoder.pos_conv.0.{name}"] = rand(dim)
        state["encoder.pos_conv.0.running_var"] = rand(dim).abs() + 0.5
        state["encoder.pos_conv.0.num_batches_tracked"] = torch.tensor(7)
        state["encoder.pos_conv.1.weight"] = rand(dim, dim // pos_groups, pos_kernel)
        state["encoder.pos_conv.1.bias"] = rand(dim)
    else:
        state["encoder.pos_conv.0.bias"] = rand(dim)
        state["encoder.pos_conv.0.weight_g"] = rand(1, 1, pos_kernel).abs()
        state["encoder.pos_conv.0.weight_v"] = rand(dim, dim // pos_groups, pos_kernel)
    for j in range(layers):
        for projection in ("k", "v", "q", "out"):
            state[f"encoder.layers.{j}.self_attn.{projection}_proj.weight"] = rand(dim, dim)
            state[f"encoder.layers.{j}.self_attn.{projection}_proj.bias"] = rand(dim)
        state[f"encoder.layers.{j}.self_attn_layer_norm.weight"] = rand(dim)
        state[f"encoder.layers.{j}.self_attn_layer_norm.bias"] = rand(dim)
        state[f"encoder.layers.{j}.fc1.weight"], state[f"encoder.layers.{j}.fc1.bias"] = rand(ffn, dim), rand(ffn)
        state[f"encoder.layers.{j}.fc2.weight"], state[f"encoder.layers.{j}.fc2.bias"] = rand(dim, ffn), rand(dim)
        state[f"encoder.layers.{j}.final_layer_norm.weight"] = rand(dim)
        state[f"encoder.layers.{j}.final_layer_norm.bias"] = rand(dim)
    state["encoder.layer_norm.weight"], state["encoder.layer_norm.bias"] = rand(dim), rand(dim)
    return state


def pretraining_extras(*, hubert: bool = False) -> dict[str, torch.Tensor]:
    """Weights a pre-training checkpoint carries that the encoder does not use."""
    extras = {"final_proj.weight": torch.ones(4, 16), "final_proj.bias": torch.ones(4)}
    if hubert:
        extras["label_embs_concat"] = torch.ones(10, 4)
    else:
        extras.update(
            {
                "quantizer.vars": torch.ones(1, 16, 2),
                "quantizer.weight_proj.weight": torch.ones(16, 8),
                "quantizer.weight_proj.bias": torch.ones(16),
                "project_q.weight": torch.ones(4, 2),
                "project_q.bias": torch.ones(4),
            }
        )
    return extras


def save(path: Path, content: dict) -> Path:
    torch.save(content, path)
    return path


@pytest.fixture
def base_state() -> dict[str, torch.Tensor]:
    return fairseq_state()


@pytest.fixture
def legacy_checkpoint(tmp_path, base_state) -> Path:
    """A checkpoint in the legacy layout: flat ``argparse.Namespace`` args, no cfg."""
    model_fields = {key: value for key, value in model_cfg().items() if key != "_name"}
    args = argparse.Namespace(
        arch="wav2vec2", task="audio_pretraining", normalize=False, sample_rate=16000, **model_fields
    )
    return save(tmp_path / "legacy.pt", {"args": args, "model": {**base_state, **pretraining_extras()}})


# --------------------------------------------------------------------------------------------------
# conv_feature_layers
# --------------------------------------------------------------------------------------------------


def test_conv_feature_layers_of_the_base_model():
    assert parse_conv_feature_layers(BASE_DEFAULT_CONV) == [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2


def test_conv_feature_layers_with_repeat_on_the_left():
    assert parse_conv_feature_layers("2 * [(4, 3, 2)] + [(8, 2, 1)]") == [(4, 3, 2), (4, 3, 2), (8, 2, 1)]


@pytest.mark.parametrize(
    "spec",
    [
        "__import__('os').system('echo pwned')",
        "[(512, 10)]",
        "[(512, 10, 5.5)]",
        "[(512, 10, 0)]",
        "[(1, 1, 1)] * 10 ** 9",
        "[(1, 1, 1)] * 100000",
        "[(1, 1, 1)] * 64 * 64 * 64 * 64 * 64 * 64",
        "[]",
        "[(512, 10, 5)] - [(512, 3, 2)]",
        "[(512, 10, 5)",
    ],
)
def test_conv_feature_layers_refuses_anything_else(spec):
    with pytest.raises(ConfigError, match="conv_feature_layers"):
        parse_conv_feature_layers(spec, path="model.pt")


# --------------------------------------------------------------------------------------------------
# fairseq config -> transformers config
# --------------------------------------------------------------------------------------------------


def test_base_config_maps_onto_wav2vec2_config():
    config = transformers_config({"_name": "wav2vec2", "encoder_layerdrop": 0.05}, "wav2vec2")
    assert type(config).__name__ == "Wav2Vec2Config"
    assert list(config.conv_dim) == [512] * 7
    assert list(config.conv_kernel) == [10, 3, 3, 3, 3, 2, 2]
    assert list(config.conv_stride) == [5, 2, 2, 2, 2, 2, 2]
    assert config.num_feat_extract_layers == 7
    assert config.feat_extract_norm == "group"
    assert config.do_stable_layer_norm is False
    assert config.conv_bias is False
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 12)
    assert config.intermediate_size == 3072
    assert (config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups) == (128, 16)
    assert config.hidden_act == "gelu"
    assert config.layerdrop == 0.0
    assert config.layer_norm_eps == 1e-5


def test_large_style_config_maps_onto_stable_layer_norm():
    fairseq_cfg = model_cfg(
        extractor_mode="layer_norm",
        layer_norm_first=True,
        conv_bias=True,
        encoder_layers=24,
        encoder_embed_dim=1024,
        encoder_ffn_embed_dim=4096,
        encoder_attention_heads=16,
        activation_fn="gelu_accurate",
        dropout=0.0,
        attention_dropout=0.05,
        dropout_input=0.0,
    )
    config = transformers_config(fairseq_cfg, "wav2vec2")
    assert config.feat_extract_norm == "layer"
    assert config.do_stable_layer_norm is True
    assert config.conv_bias is True
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (1024, 24, 16)
    assert config.intermediate_size == 4096
    assert list(config.conv_dim) == [8] * 7
    assert (config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups) == (4, 2)
    assert config.hidden_act == "gelu_accurate"
    assert (config.hidden_dropout, config.attention_dropout, config.feat_proj_dropout) == (0.0, 0.05, 0.0)


def test_hubert_config_keeps_the_feature_layer_norm():
    config = transformers_config(model_cfg(_name="hubert", conv_pos_batch_norm=True), "hubert")
    assert type(config).__name__ == "HubertConfig"
    assert config.feat_proj_layer_norm is True
    assert config.conv_pos_batch_norm is True
    assert config.feat_extract_norm == "group"


@pytest.mark.parametrize(
    ("overrides", "family", "setting"),
    [
        ({"layer_type": "conformer"}, "wav2vec2", "layer_type='conformer'"),
        ({"pos_conv_depth": 5}, "wav2vec2", "pos_conv_depth=5"),
        ({"quantize_input": True}, "wav2vec2", "quantize_input=True"),
        ({"conv_pos_batch_norm": True}, "wav2vec2", "conv_pos_batch_norm=True"),
        ({"crop_seq_to_multiple": 2}, "wav2vec2", "crop_seq_to_multiple=2"),
        ({"activation_fn": "softsign"}, "hubert", "activation_fn='softsign'"),
        ({"extractor_mode": "batch_norm"}, "wav2vec2", "extractor_mode='batch_norm'"),
    ],
)
def test_settings_without_transformers_equivalent_are_refused(overrides, family, setting):
    with pytest.raises(ConfigError, match="unsupported architecture") as raised:
        transformers_config(model_cfg(**overrides), family, path="big.pt")
    assert str(raised.value).startswith("big.pt: ")
    assert setting in str(raised.value)


# --------------------------------------------------------------------------------------------------
# Key map
# --------------------------------------------------------------------------------------------------


def target_shapes(**overrides) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of the transformers module for :func:`model_cfg` with ``overrides``."""
    from transformers import HubertModel, Wav2Vec2Model

    family = "hubert" if overrides.get("_name") == "hubert" else "wav2vec2"
    config = transformers_config(model_cfg(**overrides), family)
    with torch.device("meta"):
        module = (HubertModel if family == "hubert" else Wav2Vec2Model)(config)
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


@pytest.mark.parametrize(("fairseq_name", "transformers_name"), sorted({**EXPLICIT_NAMES, **LARGE_STYLE_NAMES}.items()))
def test_each_fairseq_name_has_its_transformers_name(fairseq_name, transformers_name):
    assert transformers_key(fairseq_name) == transformers_name


def test_weight_norm_names_follow_the_transformers_side():
    legacy = {
        name: transformers_key(f"encoder.pos_conv.0.{name}", weight_norm="legacy") for name in ("weight_g", "weight_v")
    }
    assert legacy == {
        "weight_g": "encoder.pos_conv_embed.conv.weight_g",
        "weight_v": "encoder.pos_conv_embed.conv.weight_v",
    }


def test_batch_norm_positional_conv_names():
    assert transformers_key("encoder.pos_conv.0.running_var", pos_conv_batch_norm=True) == (
        "encoder.pos_conv_embed.batch_norm.running_var"
    )
    conv_weight = transformers_key("encoder.pos_conv.1.weight", pos_conv_batch_norm=True)
    assert conv_weight == "encoder.pos_conv_embed.conv.weight"
    assert transformers_key("encoder.pos_conv.0.weight_g", pos_conv_batch_norm=True) is None


def test_key_map_fills_every_transformers_key_and_accounts_for_every_fairseq_key(base_state):
    state = {**base_state, **pretraining_extras()}
    result = map_state_dict(state, target_shapes())
    assert result.complete
    assert set(result.tensors) == set(target_shapes())
    assert set(result.dropped) == set(pretraining_extras())
    assert set(result.sources.values()) | set(result.dropped) == set(state)
    for fairseq_name, transformers_name in EXPLICIT_NAMES.items():
        assert result.sources[transformers_name] == fairseq_name
        assert torch.equal(result.tensors[transformers_name], state[fairseq_name])


def test_key_map_reports_unknown_missing_and_misshapen_keys(base_state):
    state = dict(base_state)
    state["encoder.layers.0.self_attn.in_proj_weight"] = torch.zeros(48, 16)
    del state["encoder.layers.1.fc2.bias"]
    state["encoder.layers.0.fc1.weight"] = torch.zeros(33, 16)
    result = map_state_dict(state, target_shapes())
    assert not result.complete
    assert result.unexpected == ["encoder.layers.0.self_attn.in_proj_weight"]
    assert result.missing == ["encoder.layers.1.feed_forward.output_dense.bias"]
    assert result.mismatched == {"encoder.layers.0.feed_forward.intermediate_dense.weight": ((33, 16), (32, 16))}


@pytest.mark.parametrize(
    ("fairseq_name", "dropped"),
    [
        ("quantizer.weight_proj.weight", True),
        ("project_q.bias", True),
        ("final_proj.weight", True),
        ("target_glu.0.weight", True),
        ("label_embs_concat", True),
        ("w2v_encoder.proj.weight", True),
        ("encoder.layers.0.fc1.weight", False),
        ("layer_norm.weight", False),
        ("encoder.quantizer.vars", False),
        ("label_embs_concat.extra", False),
    ],
)
def test_only_pretraining_heads_are_dropped(fairseq_name, dropped):
    assert (drop_reason(fairseq_name) is not None) is dropped


def test_key_map_casts_half_precision_to_float32(base_state):
    state = {key: value.half() for key, value in base_state.items()}
    result = map_state_dict(state, target_shapes())
    assert result.complete
    assert {tensor.dtype for tensor in result.tensors.values()} == {torch.float32}


# --------------------------------------------------------------------------------------------------
# Loading whole checkpoints
# --------------------------------------------------------------------------------------------------


def assert_weights_from(module: torch.nn.Module, state: dict, names: dict) -> None:
    loaded = module.state_dict()
    for fairseq_name, transformers_name in names.items():
        assert torch.equal(loaded[transformers_name], state[fairseq_name].float()), transformers_name


def test_legacy_namespace_checkpoint_loads(legacy_checkpoint, base_state):
    module, settings = load_fairseq_checkpoint(legacy_checkpoint)
    assert type(module).__name__ == "Wav2Vec2Model"
    assert not module.training
    assert_weights_from(module, base_state, EXPLICIT_NAMES)
    assert settings["do_normalize"] is False
    assert settings["family"] == settings["architecture"] == "wav2vec2"
    assert settings["fine_tuned"] is False
    assert settings["source"] == str(legacy_checkpoint.resolve())
    assert len(settings["config_digest"]) == 64


def test_weight_norm_halves_give_fairseqs_effective_kernel(legacy_checkpoint, base_state):
    module, _ = load_fairseq_checkpoint(legacy_checkpoint)
    g, v = base_state["encoder.pos_conv.0.weight_g"], base_state["encoder.pos_conv.0.weight_v"]
    expected = g * v / v.norm(dim=(0, 1), keepdim=True)  # fairseq: weight_norm(..., dim=2)
    assert torch.allclose(module.encoder.pos_conv_embed.conv.weight, expected, atol=1e-6)


def test_loaded_module_runs_every_layer(legacy_checkpoint):
    module, _ = load_fairseq_checkpoint(legacy_checkpoint)
    with torch.no_grad():
        out = module(torch.randn(1, 4000, generator=torch.Generator().manual_seed(1)), output_hidden_states=True)
    assert len(out.hidden_states) == 3
    assert out.last_hidden_state.shape == (1, 12, 16)
    assert torch.isfinite(out.last_hidden_state).all()


def test_hydra_cfg_checkpoint_with_large_style_and_numpy_extra_state(tmp_path):
    state = fairseq_state(extractor_mode="layer_norm", conv_bias=True, seed=3)
    cfg = {
        "_name": None,
        "model": model_cfg(extractor_mode="layer_norm", conv_bias=True, layer_norm_first=True),
        "task": {"_name": "audio_pretraining", "normalize": True, "sample_rate": 16000},
    }
    extra_state = {
        "best": np.float64(3.25),
        "steps": np.int64(12),
        "metrics": {"loss": [(0, "loss", "AverageMeter", {"val": 1.0})]},
    }
    path = save(tmp_path / "large.pt", {"args": None, "cfg": cfg, "model": state, "extra_state": extra_state})
    module, settings = load_fairseq_checkpoint(path)
    assert module.config.do_stable_layer_norm is True
    assert module.config.feat_extract_norm == "layer"
    assert_weights_from(module, state, LARGE_STYLE_NAMES)
    assert settings["do_normalize"] is True


def test_hubert_with_batch_norm_positional_conv(tmp_path):
    state = {**fairseq_state(pos_conv_batch_norm=True, seed=4), **pretraining_extras(hubert=True)}
    cfg = {"model": model_cfg(_name="hubert", conv_pos_batch_norm=True), "task": {"_name": "hubert_pretraining"}}
    module, settings = load_fairseq_checkpoint(save(tmp_path / "hubert.pt", {"cfg": cfg, "model": state}))
    assert type(module).__name__ == "HubertModel"
    assert settings["family"] == "hubert"
    assert_weights_from(
        module,
        state,
        {
            "encoder.pos_conv.0.running_var": "encoder.pos_conv_embed.batch_norm.running_var",
            "encoder.pos_conv.1.weight": "encoder.pos_conv_embed.conv.weight",
            "layer_norm.weight": "feature_projection.layer_norm.weight",
        },
    )
    assert int(module.encoder.pos_conv_embed.batch_norm.num_batches_tracked) == 7


def test_fine_tuned_ctc_checkpoint_gives_its_encoder(tmp_path, base_state):
    pretraining = {"model": model_cfg(), "task": {"_name": "audio_pretraining", "normalize": True}}
    cfg = {
        "model": {"_name": "wav2vec_ctc", "w2v_path": "/gone.pt", "w2v_args": pretraining, "normalize": True},
        "task": {"_name": "audio_finetuning", "normalize": True, "labels": "ltr"},
    }
    state = {f"w2v_encoder.w2v_model.{key}": value for key, value in base_state.items()}
    state["w2v_encoder.proj.weight"], state["w2v_encoder.proj.bias"] = torch.ones(6, 16), torch.ones(6)
    module, settings = load_fairseq_checkpoint(save(tmp_path / "ctc.pt", {"cfg": cfg, "model": state}))
    assert_weights_from(module, base_state, EXPLICIT_NAMES)
    assert settings["fine_tuned"] is True
    assert settings["architecture"] == "wav2vec_ctc"
    assert settings["family"] == "wav2vec2"
    assert settings["do_normalize"] is True


def test_equal_widths_get_an_identity_projection(tmp_path):
    state = fairseq_state(conv_dim=16, seed=5)
    assert "post_extract_proj.weight" not in state
    cfg = {"model": model_cfg(conv_feature_layers="[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16, 2, 2)] * 2"), "task": {}}
    module, _ = load_fairseq_checkpoint(save(tmp_path / "narrow.pt", {"cfg": cfg, "model": state}))
    projection = module.feature_projection.projection
    assert torch.equal(projection.weight, torch.eye(16))
    assert torch.equal(projection.bias, torch.zeros(16))


# --------------------------------------------------------------------------------------------------
# Pickled omegaconf containers (older fairseq), imitated without omegaconf
# --------------------------------------------------------------------------------------------------


def install_fake_classes(monkeypatch, classes: dict[str, type]) -> None:
    """Make ``module.Name`` importable for pickling, with the module and its parents faked in sys.modules."""
    for dotted, cls in classes.items():
        module_name, _, class_name = dotted.rpartition(".")
        parts = module_name.split(".")
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            if not getattr(sys.modules.get(name), "_fake", False):
                fake = types.ModuleType(name)
                fake._fake = True
                monkeypatch.setitem(sys.modules, name, fake)
        cls.__module__, cls.__qualname__, cls.__name__ = module_name, class_name, class_name
        setattr(sys.modules[module_name], class_name, cls)


class FakeNode:
    """Pickles like omegaconf nodes and containers: NEWOBJ, then BUILD with the instance dict."""

    def __init__(self, **state):
        self.__dict__.update(state)


def fake_omegaconf(monkeypatch):
    classes = {
        "omegaconf.dictconfig.DictConfig": type("DictConfig", (FakeNode,), {}),
        "omegaconf.listconfig.ListConfig": type("ListConfig", (FakeNode,), {}),
        "omegaconf.nodes.AnyNode": type("AnyNode", (FakeNode,), {}),
        "omegaconf.base.ContainerMetadata": type("ContainerMetadata", (FakeNode,), {}),
    }
    install_fake_classes(monkeypatch, classes)
    return {dotted.rpartition(".")[2]: cls for dotted, cls in classes.items()}


def as_omegaconf(value, fakes):
    """Wrap plain config values the way omegaconf lays out a DictConfig's pickled state."""
    metadata = fakes["ContainerMetadata"](ref_type=None, object_type=dict, optional=True, key=None, flags={})
    if isinstance(value, dict):
        content = {key: as_omegaconf(item, fakes) for key, item in value.items()}
        return fakes["DictConfig"](_metadata=metadata, _parent=None, _content=content)
    if isinstance(value, list):
        return fakes["ListConfig"](_metadata=metadata, _parent=None, _content=[as_omegaconf(v, fakes) for v in value])
    return fakes["AnyNode"](_metadata=metadata, _parent=None, _val=value)


def test_pickled_omegaconf_config_loads_with_interpolations_resolved(tmp_path, monkeypatch, base_state):
    fakes = fake_omegaconf(monkeypatch)
    dictionary = type("Dictionary", (FakeNode,), {})
    install_fake_classes(monkeypatch, {"fairseq.data.dictionary.Dictionary": dictionary})
    cfg = {
        "model": {**model_cfg(), "normalize": "${task.normalize}", "w2v_path": "???"},
        "task": {"_name": "audio_pretraining", "normalize": True, "labels": ["km"]},
    }
    content = {
        "cfg": as_omegaconf(cfg, fakes),
        "model": base_state,
        "task_state": {"dictionaries": [dictionary(symbols=["<s>", "0"], count=[1, 1], indices={"0": 1})]},
    }
    path = save(tmp_path / "omegaconf.pt", content)
    monkeypatch.undo()  # nothing of the fakes may be needed to read the file back

    checkpoint = read_checkpoint(path)
    assert checkpoint["cfg"]["model"]["normalize"] is True
    assert checkpoint["cfg"]["model"]["w2v_path"] is None
    assert checkpoint["cfg"]["model"]["latent_temp"] == [2.0, 0.5, 0.999995]
    assert checkpoint["cfg"]["task"]["labels"] == ["km"]
    module, settings = load_fairseq_checkpoint(path)
    assert settings["do_normalize"] is True
    assert_weights_from(module, base_state, EXPLICIT_NAMES)


def test_allow_list_names_no_callable_that_runs_code():
    served = set(map(id, ALLOWED_GLOBALS.values()))
    for dangerous in (eval, exec, getattr, setattr, __import__, open, os.system, pickle.loads, torch.load):
        assert id(dangerous) not in served
    assert all(not name.startswith(("os.", "posix.", "subprocess.", "sys.")) for name in ALLOWED_GLOBALS)


# --------------------------------------------------------------------------------------------------
# Malicious pickles
# --------------------------------------------------------------------------------------------------


class RunsShell:
    """An object whose unpickling runs a shell command (the classic pickle exploit)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class RunsPython:
    """An object whose unpickling runs Python through a builtin not blocked by torch itself."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("payload", [RunsShell, RunsPython])
@pytest.mark.parametrize("zip_format", [True, False])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, base_state, payload, zip_format):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"cfg": payload(marker), "model": base_state}, path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(LayerprobeError, match="refusing to unpickle") as raised:
        load_fairseq_checkpoint(path)
    message = str(raised.value)
    assert message.startswith(f"{path.resolve()}: ")
    assert ("system" in message) if payload is RunsShell else ("exec" in message)
    assert "\n" not in message
    assert not marker.exists()


def test_plain_pickle_with_exploit_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(RunsPython(marker), protocol=2))
    with pytest.raises(LayerprobeError):
        load_fairseq_checkpoint(path)
    assert not marker.exists()


def test_environment_cannot_switch_the_safe_loader_off(tmp_path, base_state, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    path = save(tmp_path / "evil.pt", {"cfg": RunsPython(marker), "model": base_state})
    with pytest.raises(LayerprobeError, match="refusing to unpickle"):
        load_fairseq_checkpoint(path)
    assert not marker.exists()


def test_unlisted_class_is_refused_even_if_harmless(tmp_path, base_state):
    path = save(tmp_path / "odd.pt", {"cfg": {"model": model_cfg()}, "model": base_state, "extra": Path("x")})
    with pytest.raises(ConfigError, match=r"refusing to unpickle pathlib\.\w*Path"):
        read_checkpoint(path)


# --------------------------------------------------------------------------------------------------
# Errors naming the file
# --------------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "absent.pt"
    with pytest.raises(ConfigError, match="fairseq checkpoint not found") as raised:
        load_fairseq_checkpoint(path)
    assert str(path) in str(raised.value)


def test_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="is not a file"):
        load_fairseq_checkpoint(tmp_path)


def test_garbage_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match="cannot read as a torch checkpoint") as raised:
        load_fairseq_checkpoint(path)
    assert str(path) in str(raised.value)


def test_checkpoint_without_model_state(tmp_path):
    path = save(tmp_path / "weights_only.pt", {"state_dict": {}})
    with pytest.raises(ConfigError, match="unsupported architecture.*no 'model' state dict"):
        load_fairseq_checkpoint(path)


def test_checkpoint_without_config(tmp_path, base_state):
    path = save(tmp_path / "bare.pt", {"model": base_state})
    with pytest.raises(ConfigError, match="unsupported architecture.*neither 'cfg' nor 'args'"):
        load_fairseq_checkpoint(path)


def test_data2vec_is_an_unsupported_architecture(tmp_path, base_state):
    cfg = {"model": {**model_cfg(), "_name": "data2vec_audio"}, "task": {"_name": "audio_pretraining"}}
    path = save(tmp_path / "d2v.pt", {"cfg": cfg, "model": base_state})
    with pytest.raises(ConfigError, match="unsupported architecture 'data2vec_audio'") as raised:
        load_fairseq_checkpoint(path)
    assert str(raised.value).startswith(f"{path.resolve()}: ")


def test_fine_tuned_checkpoint_without_pretraining_config(tmp_path, base_state):
    cfg = {"model": {"_name": "wav2vec_ctc", "w2v_path": "/gone.pt", "w2v_args": None}, "task": {"normalize": False}}
    path = save(tmp_path / "ctc.pt", {"cfg": cfg, "model": base_state})
    with pytest.raises(ConfigError, match="unsupported architecture 'wav2vec_ctc'.*w2v_args"):
        load_fairseq_checkpoint(path)


def test_weights_that_disagree_with_the_config(tmp_path, base_state):
    cfg = {"model": model_cfg(encoder_layers=3), "task": {}}
    path = save(tmp_path / "short.pt", {"cfg": cfg, "model": base_state})
    with pytest.raises(ConfigError, match="lacks parameters the configuration implies: encoder.layers.2"):
        load_fairseq_checkpoint(path)


def test_unknown_parameter_is_an_error(tmp_path, base_state):
    state = {**base_state, "encoder.adapter.weight": torch.zeros(3)}
    path = save(tmp_path / "adapter.pt", {"cfg": {"model": model_cfg(), "task": {}}, "model": state})
    with pytest.raises(ConfigError, match="no transformers counterpart: encoder.adapter.weight"):
        load_fairseq_checkpoint(path)


def test_other_sample_rates_are_refused(tmp_path, base_state):
    cfg = {"model": model_cfg(), "task": {"sample_rate": 8000}}
    path = save(tmp_path / "8k.pt", {"cfg": cfg, "model": base_state})
    with pytest.raises(ConfigError, match="8000 Hz"):
        load_fairseq_checkpoint(path)


def test_architecture_of_a_plain_dict_checkpoint():
    checkpoint = {"cfg": {"model": model_cfg(_name="hubert"), "task": {"normalize": False}}, "model": {}}
    architecture = identify_architecture(checkpoint)
    assert (architecture.family, architecture.name, architecture.fine_tuned) == ("hubert", "hubert", False)
    assert architecture.model_cfg["conv_pos_groups"] == 2
    assert architecture.model_cfg["pos_conv_depth"] == 1  # fairseq's default fills the absent field
