"""Parameter names of AV-HuBERT checkpoints -> layerprobe's audio-only AV-HuBERT module.

An AV-HuBERT pre-training checkpoint (facebookresearch/av_hubert, ``AVHubertModel``) is a fairseq
checkpoint whose ``model`` state dict holds an audio and a video front end, a fusion layer norm, a
projection and a wav2vec 2.0 transformer encoder.  :class:`layerprobe.models.avhubert.AVHubertAudioModel`
keeps the audio half; this module renames the state dict onto it and accounts for every key.

The renaming, per AV-HuBERT key (``j`` a transformer block)::

    feature_extractor_audio.proj.{weight,bias}   -> audio_projection.*        (104 stacked filterbanks -> D)
    layer_norm.{weight,bias}                     -> feature_projection.layer_norm.*   (over the fused 2D or D)
    post_extract_proj.{weight,bias}              -> feature_projection.projection.*   (2D -> D, concat fusion)
    encoder.pos_conv.0.weight_g / weight_v / bias -> encoder.pos_conv_embed.conv.<weight norm g / v> / bias
    encoder.layer_norm.*                         -> encoder.layer_norm.*
    encoder.layers.j.*                           -> encoder.layers.j.*  (as for fairseq wav2vec 2.0,
                                                    :mod:`modellib_addons.fairseq_keymap`)

Dropped on purpose (:data:`DROPPED`): the video front end (audio-only use feeds it no frames; its
features are zeros, as the published ``extract_finetune`` makes them), the masking embedding and the
pre-training heads.  Any other key -- an audio sub-encoder (``sub_encoder_layers > 0``), an unknown
module -- is reported as unexpected.
"""

from __future__ import annotations

import re
from typing import Mapping

import torch

from modellib_addons.fairseq_keymap import KeyMapResult, finish_key_map, rename_keys, transformers_key, weight_norm_style

#: AV-HuBERT keys with no counterpart in the audio-only module, with the reason they are dropped.
DROPPED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^feature_extractor_video\."), "video front end (audio only: its features are zeros)"),
    (re.compile(r"^mask_emb$"), "masking embedding of pre-training"),
    (re.compile(r"^final_proj\."), "projection onto the pre-training targets"),
    (re.compile(r"^label_embs_concat$"), "embeddings of the pre-training cluster labels"),
    (re.compile(r"^target_glu\."), "GLU on the pre-training targets"),
)

_AUDIO_PROJECTION = re.compile(r"^feature_extractor_audio\.proj\.(weight|bias)$")
_SHARED = re.compile(r"^(layer_norm|post_extract_proj)\.(weight|bias)$|^encoder\.")


def drop_reason(key: str) -> str | None:
    """Why an AV-HuBERT key has no counterpart in the audio-only module, or None."""
    for pattern, reason in DROPPED:
        if pattern.search(key):
            return reason
    return None


def module_key(key: str, *, weight_norm: str = "parametrizations") -> str | None:
    """The audio-only module's name of one AV-HuBERT parameter, or None when no rule covers it."""
    match = _AUDIO_PROJECTION.match(key)
    if match:
        return f"audio_projection.{match.group(1)}"
    if _SHARED.match(key):
        return transformers_key(key, weight_norm=weight_norm)
    return None


def map_state_dict(state: Mapping[str, torch.Tensor], target_shapes: Mapping[str, tuple[int, ...]]) -> KeyMapResult:
    """Rename an AV-HuBERT ``model`` state dict for the audio-only module.

    Parameters
    ----------
    state : mapping of str to torch.Tensor
        The checkpoint's ``model`` entry.
    target_shapes : mapping of str to tuple of int
        Every key of the module's ``state_dict()`` with its shape.

    Returns
    -------
    KeyMapResult
        The renamed tensors (floating ones as float32) and the account of every key; check ``complete``.
    """
    style = weight_norm_style(set(target_shapes))
    result = rename_keys(state, target_shapes, drop_reason=drop_reason, target_key=lambda key: module_key(key, weight_norm=style))
    return finish_key_map(result, target_shapes)


__all__ = ["DROPPED", "drop_reason", "map_state_dict", "module_key"]
