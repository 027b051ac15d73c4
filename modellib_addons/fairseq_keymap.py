"""Parameter names of fairseq wav2vec 2.0 / HuBERT checkpoints -> transformers' ``Wav2Vec2Model`` / ``HubertModel``.

fairseq and transformers implement the same network with different module trees.  This module is the
one place that knows both trees: it renames a fairseq ``model`` state dict into the state dict of the
equivalent transformers module and says, key by key, what it did.  It checks nothing against the
checkpoint's file; :mod:`layerprobe.models.fairseq` turns the :class:`KeyMapResult` into errors.

The renaming, per fairseq key (``i`` a conv block, ``j`` a transformer block)::

    feature_extractor.conv_layers.i.0.{weight,bias}     -> feature_extractor.conv_layers.i.conv.*
    feature_extractor.conv_layers.0.2.{weight,bias}     -> feature_extractor.conv_layers.0.layer_norm.*
                                                           (group norm of block 0, extractor_mode=default)
    feature_extractor.conv_layers.i.2.1.{weight,bias}   -> feature_extractor.conv_layers.i.layer_norm.*
                                                           (layer norm of every block, extractor_mode=layer_norm)
    layer_norm.*                                        -> feature_projection.layer_norm.*
    post_extract_proj.*                                 -> feature_projection.projection.*
    mask_emb                                            -> masked_spec_embed
    encoder.pos_conv.0.weight_g / weight_v / bias       -> encoder.pos_conv_embed.conv.<weight norm g / v> / bias
    encoder.pos_conv.0.* / encoder.pos_conv.1.*         -> encoder.pos_conv_embed.batch_norm.* / conv.*
                                                           (HuBERT's conv_pos_batch_norm variant)
    encoder.layer_norm.*                                -> encoder.layer_norm.*
    encoder.layers.j.self_attn.{q,k,v,out}_proj.*       -> encoder.layers.j.attention.{q,k,v,out}_proj.*
    encoder.layers.j.self_attn_layer_norm.*             -> encoder.layers.j.layer_norm.*
    encoder.layers.j.fc1.*                              -> encoder.layers.j.feed_forward.intermediate_dense.*
    encoder.layers.j.fc2.*                              -> encoder.layers.j.feed_forward.output_dense.*
    encoder.layers.j.final_layer_norm.*                 -> encoder.layers.j.final_layer_norm.*

The weight-norm halves are named ``parametrizations.weight.original0`` / ``original1`` where
transformers builds the positional convolution with ``torch.nn.utils.parametrizations.weight_norm``
(recent torch) and ``weight_g`` / ``weight_v`` where it uses the older ``torch.nn.utils.weight_norm``;
the target state dict decides.  A fine-tuned CTC checkpoint holds the same encoder under
``w2v_encoder.w2v_model.``; the prefix is removed.  When fairseq has no ``post_extract_proj`` (the
last conv block already has the encoder's width) the transformers projection, which always exists,
is filled with the identity and a zero bias, which is what fairseq computes.

Keys that are dropped on purpose are listed in :data:`DROPPED`; any other key without a rule is
reported as unexpected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch

#: Prefix of the pre-trained encoder inside a fine-tuned CTC checkpoint (``wav2vec_ctc``, ``hubert_ctc``).
FINE_TUNED_PREFIX = "w2v_encoder.w2v_model."

#: fairseq keys that have no counterpart in the transformers encoder, with the reason they are dropped.
DROPPED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^quantizer\."), "wav2vec 2.0 pre-training quantizer (produces targets only)"),
    (re.compile(r"^project_q\."), "projection of the quantized pre-training targets"),
    (re.compile(r"^final_proj\."), "projection onto the pre-training targets"),
    (re.compile(r"^target_glu\."), "GLU on the pre-training targets"),
    (re.compile(r"^label_embs_concat$"), "HuBERT embeddings of the pre-training cluster labels"),
    (re.compile(r"^w2v_encoder\.proj\."), "CTC output layer of a fine-tuned model (the encoder is kept)"),
)

_POS_CONV_WEIGHT_NORM = {
    "parametrizations": {
        "g": "encoder.pos_conv_embed.conv.parametrizations.weight.original0",
        "v": "encoder.pos_conv_embed.conv.parametrizations.weight.original1",
        "bias": "encoder.pos_conv_embed.conv.bias",
    },
    "legacy": {
        "g": "encoder.pos_conv_embed.conv.weight_g",
        "v": "encoder.pos_conv_embed.conv.weight_v",
        "bias": "encoder.pos_conv_embed.conv.bias",
    },
}

_RENAMES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"^feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)$", r"feature_extractor.conv_layers.\1.conv.\2"),
        (r"^feature_extractor\.conv_layers\.0\.2\.(weight|bias)$", r"feature_extractor.conv_layers.0.layer_norm.\1"),
        (
            r"^feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)$",
            r"feature_extractor.conv_layers.\1.layer_norm.\2",
        ),
        (r"^layer_norm\.(weight|bias)$", r"feature_projection.layer_norm.\1"),
        (r"^post_extract_proj\.(weight|bias)$", r"feature_projection.projection.\1"),
        (r"^mask_emb$", r"masked_spec_embed"),
        (r"^encoder\.layer_norm\.(weight|bias)$", r"encoder.layer_norm.\1"),
        (
            r"^encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(weight|bias)$",
            r"encoder.layers.\1.attention.\2_proj.\3",
        ),
        (r"^encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)$", r"encoder.layers.\1.layer_norm.\2"),
        (r"^encoder\.layers\.(\d+)\.fc1\.(weight|bias)$", r"encoder.layers.\1.feed_forward.intermediate_dense.\2"),
        (r"^encoder\.layers\.(\d+)\.fc2\.(weight|bias)$", r"encoder.layers.\1.feed_forward.output_dense.\2"),
        (r"^encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)$", r"encoder.layers.\1.final_layer_norm.\2"),
    )
)

_WEIGHT_NORM_POS_CONV = (
    (re.compile(r"^encoder\.pos_conv\.0\.(weight_g|parametrizations\.weight\.original0)$"), "g"),
    (re.compile(r"^encoder\.pos_conv\.0\.(weight_v|parametrizations\.weight\.original1)$"), "v"),
    (re.compile(r"^encoder\.pos_conv\.0\.bias$"), "bias"),
)

_BATCH_NORM_POS_CONV = (
    (
        re.compile(r"^encoder\.pos_conv\.0\.(weight|bias|running_mean|running_var|num_batches_tracked)$"),
        r"encoder.pos_conv_embed.batch_norm.\1",
    ),
    (re.compile(r"^encoder\.pos_conv\.1\.(weight|bias)$"), r"encoder.pos_conv_embed.conv.\1"),
)

_PROJECTION_WEIGHT = "feature_projection.projection.weight"
_PROJECTION_BIAS = "feature_projection.projection.bias"


@dataclass
class KeyMapResult:
    """A fairseq state dict renamed for a transformers module, with an account of every key.

    Attributes
    ----------
    tensors : dict of str to torch.Tensor
        transformers key -> tensor (floating tensors as float32), ready for ``load_state_dict``.
    sources : dict of str to str
        transformers key -> the fairseq key it came from (``"<identity>"`` for a synthesized
        identity projection).
    dropped : dict of str to str
        fairseq key -> why it was dropped (see :data:`DROPPED`).
    unexpected : list of str
        fairseq keys that no rule covers.
    missing : list of str
        transformers keys that nothing filled.
    mismatched : dict of str to tuple
        transformers key -> (shape in the checkpoint, shape transformers expects).
    """

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every fairseq key is mapped or dropped and every transformers key is filled."""
        return not (self.unexpected or self.missing or self.mismatched)


def strip_fine_tuned_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Bring the encoder of a fine-tuned CTC checkpoint to the keys of a pre-trained one.

    ``w2v_encoder.w2v_model.X`` becomes ``X``; every other key (the CTC head ``w2v_encoder.proj.*``)
    is kept as it is so that it is dropped or reported, never lost silently.
    """
    return {
        (key[len(FINE_TUNED_PREFIX) :] if key.startswith(FINE_TUNED_PREFIX) else key): value
        for key, value in state.items()
    }


def drop_reason(fairseq_key: str) -> str | None:
    """Why ``fairseq_key`` has no transformers counterpart, or None when it should have one."""
    for pattern, reason in DROPPED:
        if pattern.search(fairseq_key):
            return reason
    return None


def weight_norm_style(target_keys: Mapping[str, object] | set[str]) -> str:
    """``"parametrizations"`` or ``"legacy"``: how transformers named the positional conv's weight norm."""
    return "parametrizations" if _POS_CONV_WEIGHT_NORM["parametrizations"]["g"] in target_keys else "legacy"


def transformers_key(
    fairseq_key: str, *, pos_conv_batch_norm: bool = False, weight_norm: str = "parametrizations"
) -> str | None:
    """The transformers name of one (prefix-free) fairseq parameter, or None when no rule covers it.

    Parameters
    ----------
    fairseq_key : str
        A key of a pre-trained fairseq ``Wav2Vec2Model`` / ``HubertModel`` state dict.
    pos_conv_batch_norm : bool
        Whether the positional convolution is HuBERT's batch-norm variant (``conv_pos_batch_norm``)
        rather than the weight-normalised one.
    weight_norm : {"parametrizations", "legacy"}
        Naming of the weight-norm halves on the transformers side (see :func:`weight_norm_style`).
    """
    for pattern, replacement in _RENAMES:
        if pattern.match(fairseq_key):
            return pattern.sub(replacement, fairseq_key)
    if pos_conv_batch_norm:
        for pattern, replacement in _BATCH_NORM_POS_CONV:
            if pattern.match(fairseq_key):
                return pattern.sub(replacement, fairseq_key)
        return None
    for pattern, role in _WEIGHT_NORM_POS_CONV:
        if pattern.match(fairseq_key):
            return _POS_CONV_WEIGHT_NORM[weight_norm][role]
    return None


def map_state_dict(
    state: Mapping[str, torch.Tensor],
    target_shapes: Mapping[str, tuple[int, ...]],
    *,
    pos_conv_batch_norm: bool = False,
) -> KeyMapResult:
    """Rename a fairseq ``model`` state dict for a transformers ``Wav2Vec2Model`` / ``HubertModel``.

    Parameters
    ----------
    state : mapping of str to torch.Tensor
        The checkpoint's ``model`` entry (pre-trained, or fine-tuned with ``w2v_encoder.w2v_model.``).
    target_shapes : mapping of str to tuple of int
        Every key of the transformers module's ``state_dict()`` with its shape.
    pos_conv_batch_norm : bool
        Whether the checkpoint uses HuBERT's batch-norm positional convolution.

    Returns
    -------
    KeyMapResult
        The renamed tensors and the account of every key on both sides; check ``complete``.
    """
    style = weight_norm_style(set(target_shapes))
    result = rename_keys(
        strip_fine_tuned_prefix(state), target_shapes, drop_reason=drop_reason,
        target_key=lambda key: transformers_key(key, pos_conv_batch_norm=pos_conv_batch_norm, weight_norm=style),
    )  # fmt: skip
    fill_identity_projection(result, target_shapes)
    return finish_key_map(result, target_shapes)


def rename_keys(
    state: Mapping[str, torch.Tensor],
    target_shapes: Mapping[str, tuple[int, ...]],
    *,
    drop_reason: Callable[[str], str | None],
    target_key: Callable[[str], str | None],
    source_key: Callable[[str], str] = lambda key: key,
) -> KeyMapResult:
    """The renaming loop every checkpoint key map shares (fairseq, AV-HuBERT, FaST-VGS).

    Each stored key is normalised by ``source_key`` (e.g. a ``module.`` prefix removed), then dropped
    with ``drop_reason``'s reason, renamed by ``target_key``, or recorded as unexpected (no rule, or
    a name the module lacks); ``dropped``, ``unexpected`` and ``sources`` name keys as stored.
    Floating tensors become float32.  :func:`finish_key_map` then checks shapes and missing keys.
    """
    result = KeyMapResult()
    for stored, tensor in state.items():
        key = source_key(stored)
        reason = drop_reason(key)
        if reason is not None:
            result.dropped[stored] = reason
            continue
        target = target_key(key)
        if target is None or target not in target_shapes:
            result.unexpected.append(stored)
            continue
        result.tensors[target] = tensor.float() if tensor.is_floating_point() else tensor
        result.sources[target] = stored
    return result


def finish_key_map(result: KeyMapResult, target_shapes: Mapping[str, tuple[int, ...]]) -> KeyMapResult:
    """Record the tensors whose shape differs from the module's and the module keys nothing filled."""
    _check_shapes(result, target_shapes)
    result.missing = sorted(set(target_shapes) - set(result.tensors))
    return result


def fill_identity_projection(result: KeyMapResult, target_shapes: Mapping[str, tuple[int, ...]]) -> None:
    """Fill transformers' feature projection with the identity where the checkpoint has none (equal widths:
    fairseq and FaST-VGS compute no projection then)."""
    if _PROJECTION_WEIGHT in result.tensors or _PROJECTION_WEIGHT not in target_shapes:
        return
    out_dim, in_dim = target_shapes[_PROJECTION_WEIGHT]
    if out_dim != in_dim:
        return
    result.tensors[_PROJECTION_WEIGHT] = torch.eye(out_dim)
    result.tensors[_PROJECTION_BIAS] = torch.zeros(out_dim)
    result.sources[_PROJECTION_WEIGHT] = result.sources[_PROJECTION_BIAS] = "<identity>"


def _check_shapes(result: KeyMapResult, target_shapes: Mapping[str, tuple[int, ...]]) -> None:
    for key, tensor in result.tensors.items():
        expected = tuple(target_shapes[key])
        if tuple(tensor.shape) != expected:
            result.mismatched[key] = (tuple(tensor.shape), expected)


__all__ = [
    "DROPPED",
    "FINE_TUNED_PREFIX",
    "KeyMapResult",
    "drop_reason",
    "fill_identity_projection",
    "finish_key_map",
    "map_state_dict",
    "rename_keys",
    "strip_fine_tuned_prefix",
    "transformers_key",
    "weight_norm_style",
]
