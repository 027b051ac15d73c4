"""Tiny seeded checkpoints in the published layouts of AV-HuBERT and FaST-VGS, and reference forwards.

The writers produce files laid out as the original code saves them (key names, nesting, config
sections), with small random weights, including the parts layerprobe drops (video front end,
pre-training heads, the dual encoder's image and cross-modal layers).  The reference forwards
compute the published layer outputs straight from those raw tensors with torch functions, following
fairseq's ``TransformerEncoder`` / ``TransformerSentenceEncoderLayer`` (and AV-HuBERT's
``extract_finetune``, FaST-VGS's ``Wav2Vec2Model_cls.forward(superb=True)``), so that they check
the key maps and modules independently of layerprobe's code.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

#: Sizes of the tiny models.
HIDDEN, HEADS, FFN, CONV_POS, CONV_POS_GROUPS = 32, 4, 64, 16, 4
CONV_DIM = 16
CONV_LAYERS = f"[({CONV_DIM}, 10, 5)] + [({CONV_DIM}, 3, 2)] * 4 + [({CONV_DIM}, 2, 2)] * 2"


class _Weights:
    """Seeded random tensors, std 0.2 (layer-norm gains around 1)."""

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)

    def normal(self, *shape: int, std: float = 0.2) -> torch.Tensor:
        return torch.randn(*shape, generator=self.generator) * std

    def gain(self, dim: int) -> torch.Tensor:
        return 1.0 + self.normal(dim, std=0.1)


def _encoder_state(w: _Weights, n_layers: int, prefix: str = "encoder.") -> dict[str, torch.Tensor]:
    """fairseq ``TransformerEncoder`` keys (weight-normed positional convolution, ``n_layers`` blocks)."""
    state = {
        f"{prefix}pos_conv.0.bias": w.normal(HIDDEN),
        f"{prefix}pos_conv.0.weight_g": w.normal(1, 1, CONV_POS).abs() + 0.5,
        f"{prefix}pos_conv.0.weight_v": w.normal(HIDDEN, HIDDEN // CONV_POS_GROUPS, CONV_POS),
        f"{prefix}layer_norm.weight": w.gain(HIDDEN),
        f"{prefix}layer_norm.bias": w.normal(HIDDEN, std=0.1),
    }
    for j in range(n_layers):
        block = f"{prefix}layers.{j}."
        for name in ("q", "k", "v", "out"):
            state[f"{block}self_attn.{name}_proj.weight"] = w.normal(HIDDEN, HIDDEN)
            state[f"{block}self_attn.{name}_proj.bias"] = w.normal(HIDDEN, std=0.1)
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            state[f"{block}{norm}.weight"] = w.gain(HIDDEN)
            state[f"{block}{norm}.bias"] = w.normal(HIDDEN, std=0.1)
        state[f"{block}fc1.weight"], state[f"{block}fc1.bias"] = w.normal(FFN, HIDDEN), w.normal(FFN, std=0.1)
        state[f"{block}fc2.weight"], state[f"{block}fc2.bias"] = w.normal(HIDDEN, FFN), w.normal(HIDDEN, std=0.1)
    return state


# --------------------------------------------------------------------------------------------------
# AV-HuBERT


def write_tiny_avhubert(
    path: Path, *, seed: int = 0, n_layers: int = 2, fuse: str = "concat", layer_norm_first: bool = True,
    normalize: bool = True, stack_order: int = 4, extra: Mapping[str, torch.Tensor] | None = None,
    model_overrides: Mapping[str, Any] | None = None,
) -> Path:  # fmt: skip
    """An AV-HuBERT pre-training checkpoint (``AVHubertModel`` keys, hydra-style ``cfg``) at ``path``."""
    w = _Weights(seed)
    feat_dim = 26 * stack_order
    fused = 2 * HIDDEN if fuse == "concat" else HIDDEN
    state = {
        "feature_extractor_audio.proj.weight": w.normal(HIDDEN, feat_dim),
        "feature_extractor_audio.proj.bias": w.normal(HIDDEN, std=0.1),
        "feature_extractor_video.resnet.frontend3D.0.weight": w.normal(4, 1, 5, 7, 7),
        "feature_extractor_video.resnet.frontend3D.1.running_mean": torch.zeros(4),
        "feature_extractor_video.proj.weight": w.normal(HIDDEN, 8),
        "feature_extractor_video.proj.bias": w.normal(HIDDEN),
        "mask_emb": w.normal(feat_dim),
        "layer_norm.weight": w.gain(fused),
        "layer_norm.bias": w.normal(fused, std=0.1),
        **_encoder_state(w, n_layers),
        "final_proj.weight": w.normal(HIDDEN, HIDDEN),
        "final_proj.bias": w.normal(HIDDEN),
        "label_embs_concat": w.normal(10, HIDDEN),
    }
    if fuse == "concat":
        state["post_extract_proj.weight"] = w.normal(HIDDEN, fused)
        state["post_extract_proj.bias"] = w.normal(HIDDEN, std=0.1)
    state.update(extra or {})
    model = {
        "_name": "av_hubert", "label_rate": 25, "input_modality": "${task.input_modality}",
        "encoder_layers": n_layers, "encoder_embed_dim": HIDDEN, "encoder_ffn_embed_dim": FFN,
        "encoder_attention_heads": HEADS, "activation_fn": "gelu", "dropout": 0.1, "attention_dropout": 0.1,
        "activation_dropout": 0.0, "encoder_layerdrop": 0.05, "dropout_input": 0.1, "dropout_features": 0.1,
        "final_dim": HIDDEN, "layer_norm_first": layer_norm_first, "conv_pos": CONV_POS,
        "conv_pos_groups": CONV_POS_GROUPS, "audio_feat_dim": feat_dim, "modality_fuse": fuse,
        "sub_encoder_layers": 0, "resnet_relu_type": "prelu", "masking_type": "input",
        **(model_overrides or {}),
    }  # fmt: skip
    task = {
        "_name": "av_hubert_pretraining", "input_modality": "image", "modalities": ["video", "audio"],
        "stack_order_audio": stack_order, "normalize": normalize, "sample_rate": 25, "label_rate": 25,
    }  # fmt: skip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "cfg": {"model": model, "task": task, "common": {"seed": 1}}, "optimizer_history": []}, path)
    return path


def _layer_norm(x: torch.Tensor, state: Mapping[str, torch.Tensor], name: str) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], state[f"{name}.weight"], state[f"{name}.bias"], eps=1e-5)


def _linear(x: torch.Tensor, state: Mapping[str, torch.Tensor], name: str) -> torch.Tensor:
    return F.linear(x, state[f"{name}.weight"], state[f"{name}.bias"])


def _attention(x: torch.Tensor, state: Mapping[str, torch.Tensor], name: str, record: list | None = None) -> torch.Tensor:
    """fairseq ``MultiheadAttention`` (self-attention, no mask) on (T, D); ``record`` gets the (heads, T, T) maps."""
    t, d = x.shape
    head = d // HEADS
    q = _linear(x, state, f"{name}.q_proj") * head**-0.5
    k, v = _linear(x, state, f"{name}.k_proj"), _linear(x, state, f"{name}.v_proj")
    q, k, v = (m.reshape(t, HEADS, head).transpose(0, 1) for m in (q, k, v))
    weights = torch.softmax(q @ k.transpose(1, 2), dim=-1)
    if record is not None:
        record.append(weights)
    return _linear((weights @ v).transpose(0, 1).reshape(t, d), state, f"{name}.out_proj")


def reference_encoder(
    x: torch.Tensor, state: Mapping[str, torch.Tensor], n_layers: int, *, layer_norm_first: bool,
    prefix: str = "encoder.", record: list | None = None,
) -> list[torch.Tensor]:  # fmt: skip
    """fairseq ``TransformerEncoder.extract_features``'s layer results for one (T, D) input (``record``: each block's maps)."""
    v, g = state[f"{prefix}pos_conv.0.weight_v"], state[f"{prefix}pos_conv.0.weight_g"]
    weight = g * v / v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()  # weight norm over every dim but 2
    conv = F.conv1d(x.T[None], weight, state[f"{prefix}pos_conv.0.bias"], padding=CONV_POS // 2, groups=CONV_POS_GROUPS)
    conv = conv[..., :-1] if CONV_POS % 2 == 0 else conv  # SamePad
    x = x + F.gelu(conv)[0].T
    if not layer_norm_first:
        x = _layer_norm(x, state, f"{prefix}layer_norm")
    results = []
    for j in range(n_layers):
        block = f"{prefix}layers.{j}."
        if layer_norm_first:
            x = x + _attention(_layer_norm(x, state, f"{block}self_attn_layer_norm"), state, f"{block}self_attn", record)
            h = _layer_norm(x, state, f"{block}final_layer_norm")
            x = x + _linear(F.gelu(_linear(h, state, f"{block}fc1")), state, f"{block}fc2")
        else:
            x = _layer_norm(x + _attention(x, state, f"{block}self_attn", record), state, f"{block}self_attn_layer_norm")
            x = _layer_norm(x + _linear(F.gelu(_linear(x, state, f"{block}fc1")), state, f"{block}fc2"), state, f"{block}final_layer_norm")
        results.append(x)
    return results


def reference_avhubert(path: Path, features: np.ndarray, record: list | None = None) -> list[np.ndarray]:
    """The published ``extract_finetune`` layers (in_rep, then the layer results) for stacked (T, F) features."""
    checkpoint = torch.load(path, weights_only=True)
    state, model = checkpoint["model"], checkpoint["cfg"]["model"]
    with torch.no_grad():
        audio = _linear(torch.from_numpy(features), state, "feature_extractor_audio.proj")
        fused = torch.cat([audio, torch.zeros_like(audio)], -1) if model["modality_fuse"] == "concat" else audio
        x = _layer_norm(fused, state, "layer_norm")
        if "post_extract_proj.weight" in state:
            x = _linear(x, state, "post_extract_proj")
        layers = reference_encoder(x, state, model["encoder_layers"], layer_norm_first=model["layer_norm_first"], record=record)
    return [audio.numpy(), *(layer.numpy() for layer in layers)]


# --------------------------------------------------------------------------------------------------
# FaST-VGS


def write_tiny_fastvgs(
    folder: Path, *, seed: int = 0, plus: bool = False, encoder_layers: int = 4, layer_use: int = 1,
    parallel: bool = False, args_overrides: Mapping[str, Any] | None = None,
) -> Path:  # fmt: skip
    """A FaST-VGS (or FaST-VGS+) training folder: ``args.pkl`` + ``best_bundle.pth`` with a dual encoder.

    FaST-VGS's ``DualEncoder`` cuts its w2v2 encoder to ``layer_use + 1`` blocks; FaST-VGS+ (the
    wav2vec 2.0 loss on: ``caption_w2v2_weight`` set) keeps ``encoder_layers``.
    """
    w = _Weights(seed)
    blocks = encoder_layers if plus else layer_use + 1
    inner = {
        "feature_extractor.conv_layers.0.0.weight": w.normal(CONV_DIM, 1, 10, std=0.5),
        "feature_extractor.conv_layers.0.2.weight": w.gain(CONV_DIM),
        "feature_extractor.conv_layers.0.2.bias": w.normal(CONV_DIM, std=0.1),
        **{f"feature_extractor.conv_layers.{i}.0.weight": w.normal(CONV_DIM, CONV_DIM, 3, std=0.3) for i in range(1, 5)},
        **{f"feature_extractor.conv_layers.{i}.0.weight": w.normal(CONV_DIM, CONV_DIM, 2, std=0.3) for i in (5, 6)},
        "layer_norm.weight": w.gain(CONV_DIM),
        "layer_norm.bias": w.normal(CONV_DIM, std=0.1),
        "post_extract_proj.weight": w.normal(HIDDEN, CONV_DIM),
        "post_extract_proj.bias": w.normal(HIDDEN, std=0.1),
        "mask_emb": w.normal(HIDDEN),
        "quantizer.vars": w.normal(1, 8, 8),
        "quantizer.weight_proj.weight": w.normal(8, CONV_DIM),
        "quantizer.weight_proj.bias": w.normal(8),
        "project_q.weight": w.normal(HIDDEN, 8),
        "project_q.bias": w.normal(HIDDEN),
        "final_proj.weight": w.normal(HIDDEN, HIDDEN),
        "final_proj.bias": w.normal(HIDDEN),
        "cls_token": w.normal(1, 1, HIDDEN, std=1.0),
        **_encoder_state(w, blocks),
    }
    dual = {f"conv1_trm1_trm3.{key}": value for key, value in inner.items()}
    dual.update({
        "conv2.linear.weight": w.normal(8, HIDDEN), "conv2.bn1.running_var": torch.ones(8),
        "audio_cls_token_proj_coarse.0.weight": w.normal(2 * HIDDEN, HIDDEN),
        "trm2.attention.self.query.weight": w.normal(HIDDEN, HIDDEN), "trm2_proj.weight": w.normal(HIDDEN, HIDDEN),
        "visn_fc.visn_fc.weight": w.normal(HIDDEN, 20), "visual_cls_token": w.normal(1, 1, HIDDEN),
        "trm.0.attention.self.query.weight": w.normal(HIDDEN, HIDDEN),
    })  # fmt: skip
    if plus:
        dual["xtrm.0.visual_attention.att.query.weight"] = w.normal(HIDDEN, HIDDEN)
    if parallel:
        dual = {f"module.{key}": value for key, value in dual.items()}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"dual_encoder": dual, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]},
                "indices": torch.arange(4), "epoch": 3, "best_acc": 0.25}, folder / "best_bundle.pth")  # fmt: skip
    args = argparse.Namespace(
        conv_feature_layers=CONV_LAYERS, extractor_mode="default", conv_bias=False,
        encoder_embed_dim=HIDDEN, encoder_layers=encoder_layers, encoder_ffn_embed_dim=FFN,
        encoder_attention_heads=HEADS, activation_fn="gelu", layer_norm_first=False, conv_pos=CONV_POS,
        conv_pos_groups=CONV_POS_GROUPS, dropout=0.1, attention_dropout=0.1, activation_dropout=0.0,
        dropout_input=0.1, dropout_features=0.1, encoder_layerdrop=0.0, layer_use=layer_use,
        caption_w2v2_weight=1.0 if plus else None, libri_w2v2_weight=None, trim_mask=False,
        quantize_input=False, quantize_targets=True, final_dim=HIDDEN, xtrm_layers=1, trm_layers=1,
        hidden_size=HIDDEN, fb_w2v2_weights_fn="/pretrained/wav2vec_small.pt", exp_dir="/exp/fast-vgs",
    )  # fmt: skip
    for key, value in (args_overrides or {}).items():
        setattr(args, key, value)
    with open(folder / "args.pkl", "wb") as handle:
        pickle.dump(args, handle)
    return folder


def reference_fastvgs(folder: Path, waveform: np.ndarray, record: list | None = None) -> list[np.ndarray]:
    """The published ``superb=True`` hidden states (CLS removed) for one waveform, from the raw bundle."""
    dual = torch.load(Path(folder) / "best_bundle.pth", weights_only=True)["dual_encoder"]
    state = {key.removeprefix("module.").removeprefix("conv1_trm1_trm3."): value for key, value in dual.items()}
    with open(Path(folder) / "args.pkl", "rb") as handle:
        args = pickle.load(handle)
    blocks = args.encoder_layers if args.caption_w2v2_weight is not None else args.layer_use + 1
    wave = (waveform.astype(np.float64) - waveform.mean()) / waveform.std()
    with torch.no_grad():
        x = torch.from_numpy(wave.astype(np.float32))[None, None]
        for i, (kernel, stride) in enumerate([(10, 5)] + [(3, 2)] * 4 + [(2, 2)] * 2):
            x = F.conv1d(x, state[f"feature_extractor.conv_layers.{i}.0.weight"], stride=stride)
            if i == 0:
                x = F.group_norm(x, CONV_DIM, state["feature_extractor.conv_layers.0.2.weight"], state["feature_extractor.conv_layers.0.2.bias"])
            x = F.gelu(x)
        features = _linear(_layer_norm(x[0].T, state, "layer_norm"), state, "post_extract_proj")
        with_cls = torch.cat([state["cls_token"][0], features], dim=0)
        layers = reference_encoder(with_cls, state, blocks, layer_norm_first=False, record=record)
    return [features.numpy(), *(layer[1:].numpy() for layer in layers)]


class RunsPython:
    """Unpickled without an allow-list, it creates ``marker`` (through ``builtins.exec``)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


class RunsShell:
    """Unpickled without an allow-list, it creates ``marker`` (through ``os.system``)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {str(self.marker)!r}",))


__all__ = [
    "CONV_LAYERS",
    "HIDDEN",
    "RunsPython",
    "RunsShell",
    "reference_avhubert",
    "reference_encoder",
    "reference_fastvgs",
    "write_tiny_avhubert",
    "write_tiny_fastvgs",
]
