"""Parameter names of FaST-VGS / FaST-VGS+ bundles -> layerprobe's FaST-VGS audio module.

A FaST-VGS training folder (jasonppy/FaST-VGS-Family) holds ``best_bundle.pth``, whose
``"dual_encoder"`` entry is the state dict of the ``DualEncoder``: the audio branch starts with
``conv1_trm1_trm3`` (``Wav2Vec2Model_cls``: a wav2vec 2.0 conv encoder and transformer with a
learned CLS token prepended to the frames), followed by a ResDAVEnet (``conv2``), a transformer
layer (``trm2``), the image branch and, for FaST-VGS+, the cross-modal layers.  The published
layer-wise code reads only ``conv1_trm1_trm3`` (``Wav2Vec2Model_cls.carefully_load_state_dict``);
:class:`layerprobe.models.fastvgs.FaSTVGSAudioModel` is that part, and this module renames the
bundle onto it.

The renaming, per key (a DataParallel ``module.`` prefix is removed first; ``i`` a conv block,
``j`` a transformer block)::

    conv1_trm1_trm3.cls_token                                -> cls_token                 (1, 1, D)
    conv1_trm1_trm3.feature_extractor.conv_layers.i.0.weight -> feature_extractor.conv_layers.i.conv.weight
    conv1_trm1_trm3.feature_extractor.conv_layers.0.2.*      -> feature_extractor.conv_layers.0.layer_norm.*  (group norm)
    conv1_trm1_trm3.layer_norm.*                             -> feature_projection.layer_norm.*
    conv1_trm1_trm3.post_extract_proj.*                      -> feature_projection.projection.*
    conv1_trm1_trm3.encoder.pos_conv.0.weight_g / _v / bias  -> encoder.pos_conv_embed.conv.<weight norm g / v> / bias
    conv1_trm1_trm3.encoder.layer_norm.*                     -> encoder.layer_norm.*
    conv1_trm1_trm3.encoder.layers.j.*                       -> encoder.layers.j.*  (as for fairseq wav2vec 2.0,
                                                                :mod:`modellib_addons.fairseq_keymap`)

Dropped on purpose (:data:`DROPPED`): every key outside ``conv1_trm1_trm3`` (the later audio
layers, the image branch, the cross-modal layers) and, inside it, the pre-training quantizer,
projections and masking embedding.  Any other key is reported as unexpected.
"""

from __future__ import annotations

import re
from typing import Mapping

import torch

from modellib_addons.fairseq_keymap import (
    KeyMapResult,
    fill_identity_projection,
    finish_key_map,
    rename_keys,
    transformers_key,
    weight_norm_style,
)

#: The audio encoder's prefix in the dual encoder's state dict.
AUDIO_ENCODER_PREFIX = "conv1_trm1_trm3."

#: DataParallel's prefix, removed first.
PARALLEL_PREFIX = "module."

#: Keys (after the DataParallel prefix) that have no counterpart, with the reason they are dropped.
DROPPED: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"^(?!conv1_trm1_trm3\.)"),
        "outside the w2v2 audio encoder (ResDAVEnet, trm2, image branch, cross-modal layers): "
        "the published layer-wise code reads only conv1_trm1_trm3",
    ),
    (re.compile(r"^conv1_trm1_trm3\.quantizer\."), "wav2vec 2.0 loss quantizer (produces targets only)"),
    (re.compile(r"^conv1_trm1_trm3\.project_q\."), "projection of the quantized targets"),
    (re.compile(r"^conv1_trm1_trm3\.final_proj\."), "projection onto the wav2vec 2.0 loss targets"),
    (re.compile(r"^conv1_trm1_trm3\.target_glu\."), "GLU on the wav2vec 2.0 loss targets"),
    (re.compile(r"^conv1_trm1_trm3\.mask_emb$"), "masking embedding of the wav2vec 2.0 loss"),
)


def strip_parallel_prefix(key: str) -> str:
    """``module.X`` -> ``X`` (a bundle saved from ``torch.nn.DataParallel``)."""
    return key[len(PARALLEL_PREFIX) :] if key.startswith(PARALLEL_PREFIX) else key


def drop_reason(key: str) -> str | None:
    """Why a (prefix-free) dual-encoder key has no counterpart in the audio module, or None."""
    for pattern, reason in DROPPED:
        if pattern.search(key):
            return reason
    return None


def module_key(key: str, *, weight_norm: str = "parametrizations") -> str | None:
    """The audio module's name of one dual-encoder parameter, or None when no rule covers it."""
    if not key.startswith(AUDIO_ENCODER_PREFIX):
        return None
    inner = key[len(AUDIO_ENCODER_PREFIX) :]
    if inner == "cls_token":
        return "cls_token"
    return transformers_key(inner, weight_norm=weight_norm)


def map_state_dict(state: Mapping[str, torch.Tensor], target_shapes: Mapping[str, tuple[int, ...]]) -> KeyMapResult:
    """Rename a ``best_bundle.pth["dual_encoder"]`` state dict for the FaST-VGS audio module.

    Parameters
    ----------
    state : mapping of str to torch.Tensor
        The dual encoder's state dict.
    target_shapes : mapping of str to tuple of int
        Every key of the module's ``state_dict()`` with its shape.

    Returns
    -------
    KeyMapResult
        The renamed tensors (floating ones as float32) and the account of every key (``dropped`` and
        ``unexpected`` name the keys as stored); check ``complete``.
    """
    style = weight_norm_style(set(target_shapes))
    result = rename_keys(state, target_shapes, drop_reason=drop_reason, target_key=lambda key: module_key(key, weight_norm=style),
                         source_key=strip_parallel_prefix)  # fmt: skip
    fill_identity_projection(result, target_shapes)  # no post_extract_proj where conv width = encoder width
    return finish_key_map(result, target_shapes)


__all__ = ["AUDIO_ENCODER_PREFIX", "DROPPED", "PARALLEL_PREFIX", "drop_reason", "map_state_dict", "module_key", "strip_parallel_prefix"]
