"""Attention maps of transformers speech encoders, read from the outside.

Three things live here, each done without editing an installed file:

* :func:`attention_implementation` switches a model's attention implementation (``"eager"``, or the
  capturing one below) for one call and restores the original in ``finally``.  transformers 5 runs
  ``sdpa`` by default, and ``sdpa`` silently returns no maps when ``output_attentions=True``.
* :func:`capturing_eager_attention`, registered with transformers' ``AttentionInterface`` under
  :data:`CAPTURE_IMPLEMENTATION`, computes exactly what transformers' own eager attention computes
  (``softmax(q k^T * scaling + position_bias + mask)``) and records the logits before the softmax
  for the modules of an active :class:`AttentionRecorder`.  This serves every family whose attention
  modules dispatch through ``ALL_ATTENTION_FUNCTIONS``: wav2vec 2.0, HuBERT, data2vec-audio, UniSpeech(-SAT),
  SEW, Whisper, and the conformers (wav2vec2-conformer, w2v-BERT 2.0), whose relative positions come in
  as the ``position_bias`` keyword (rotary positions are applied to the hidden states before the call).
  Whisper multiplies the queries by the scaling before the call and passes ``scaling=1.0``, so its
  logits are scaled too.
* :func:`output_attention_maps`: SEW-D's DeBERTa attention (``DisentangledSelfAttention``) computes
  its maps in its own code (content and disentangled position scores, ``XSoftmax``) and returns them
  as its second output; forward hooks hand them over per block.  Its logits are not reachable from
  the outside (they never leave the module).
* :func:`wavlm_attention_maps`: WavLM does not use the interface; its attention calls
  ``torch.nn.functional.multi_head_attention_forward`` with a gated relative position bias, and the
  maps it returns are averaged over heads (then repeated per head).  Forward hooks on its attention
  modules recompute the per-head logits from the module's inputs and weights, exactly as that
  function does (``baddbmm(bias + key padding, q / sqrt(head_dim), k^T)``); the hooks are removed in
  ``finally``.
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import nn

from modellib_addons import hf_local_attention

logger = logging.getLogger(__name__)

#: The name under which :func:`capturing_eager_attention` is registered with transformers.
CAPTURE_IMPLEMENTATION = "layerprobe_capture_eager"

_ACTIVE_RECORDER: ContextVar["AttentionRecorder | None"] = ContextVar("layerprobe_attention_recorder", default=None)

#: ``sink(block, tensor, logits)``: receives one block's (batch, heads, T, T) maps (``logits``
#: False) or logits (True) as soon as the block has computed them.
MapSink = Callable[[str, torch.Tensor, bool], None]


class AttentionRecorder:
    """Collects attention logits (and maps) per block for one forward call.

    Parameters
    ----------
    modules : mapping of str to torch.nn.Module
        Block id (``"T1"`` ..) -> the attention module of that block.
    maps, logits : bool, keyword-only
        Whether to record the post-softmax maps / the logits before the softmax.
    sink : callable, optional, keyword-only
        ``sink(block, tensor, logits)`` (:data:`MapSink`): hand each block's maps and logits over as
        soon as they are computed instead of keeping them (``pre_softmax`` / ``post_softmax`` stay
        empty then; ``delivered`` lists the blocks handed over).

    Attributes
    ----------
    pre_softmax : dict of str to torch.Tensor
        Block id -> logits before the softmax, shape (batch, heads, T, T).
    post_softmax : dict of str to torch.Tensor
        Block id -> attention maps, same shape (filled by the WavLM hooks and by a capture with
        ``maps=True``; otherwise the families return their maps through ``output_attentions``).
    delivered : dict of bool to list of str
        With a sink: ``delivered[False]`` / ``delivered[True]`` are the blocks whose maps / logits
        were handed over, in call order.
    """

    def __init__(
        self, modules: Mapping[str, nn.Module], *, maps: bool = False, logits: bool = True, sink: MapSink | None = None
    ):
        self._block_of = {id(module): block for block, module in modules.items()}
        self.wants_maps = maps
        self.wants_logits = logits
        self.sink = sink
        self.pre_softmax: dict[str, torch.Tensor] = {}
        self.post_softmax: dict[str, torch.Tensor] = {}
        self.delivered: dict[bool, list[str]] = {False: [], True: []}

    def block_of(self, module: nn.Module) -> str | None:
        """The block id of an attention module, or None when it is not recorded."""
        return self._block_of.get(id(module))

    def record(self, block: str, tensor: torch.Tensor, *, logits: bool) -> None:
        """Keep (or hand to the sink) one block's maps (``logits`` False) or logits (True), if wanted."""
        if not (self.wants_logits if logits else self.wants_maps):
            return
        tensor = tensor.detach()
        if self.sink is not None:
            self.sink(block, tensor, logits)
            self.delivered[logits].append(block)
        elif logits:
            self.pre_softmax[block] = tensor
        else:
            self.post_softmax[block] = tensor


def capturing_eager_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    position_bias: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' eager attention, recording the logits before the softmax.

    Parameters
    ----------
    module : torch.nn.Module
        The attention module calling it.
    query, key, value : torch.Tensor, shape (batch, heads, T, head_dim)
    attention_mask : torch.Tensor or None
        Additive mask broadcastable to (batch, heads, T, T) (transformers' eager mask).
    scaling : float, optional
        Multiplies the dot products; ``head_dim ** -0.5`` when None.
    dropout : float
        Attention dropout (0 in eval mode).
    position_bias : torch.Tensor, optional
        Additive relative-position scores broadcastable to (batch, heads, T, T), added before the mask
        (the conformers' ``eager_attention_forward``).

    Returns
    -------
    attn_output : torch.Tensor, shape (batch, T, heads, head_dim)
    attn_weights : torch.Tensor, shape (batch, heads, T, T)
        The post-softmax maps.
    """
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    logits = torch.matmul(query, key.transpose(2, 3)) * scaling
    if position_bias is not None:
        logits = logits + position_bias
    if attention_mask is not None:
        logits = logits + attention_mask
    recorder = _ACTIVE_RECORDER.get()
    block = recorder.block_of(module) if recorder is not None else None
    if block is not None:
        recorder.record(block, logits, logits=True)
    weights = nn.functional.softmax(logits, dim=-1)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    if block is not None:
        recorder.record(block, weights, logits=False)
    attn_output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return attn_output, weights


def register_capture_attention() -> str:
    """Register :func:`capturing_eager_attention` (and the eager mask for it) with transformers.

    Idempotent.  Returns the implementation name to pass to ``model.set_attn_implementation``.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    AttentionInterface.register(CAPTURE_IMPLEMENTATION, capturing_eager_attention)
    # The capture computes eager attention, so it takes eager's additive float mask.
    AttentionMaskInterface.register(CAPTURE_IMPLEMENTATION, ALL_MASK_ATTENTION_FUNCTIONS["eager"])
    return CAPTURE_IMPLEMENTATION


def current_attention_implementation(model: nn.Module) -> str | None:
    """The attention implementation a transformers model runs (``"sdpa"``, ``"eager"`` ..)."""
    config = getattr(model, "config", None)
    return getattr(config, "_attn_implementation", None)


@contextmanager
def attention_implementation(model: nn.Module, implementation: str) -> Iterator[None]:
    """Run the block with ``model`` on ``implementation``, restoring the original afterwards.

    Parameters
    ----------
    model : transformers.PreTrainedModel
    implementation : str
        ``"eager"`` or :data:`CAPTURE_IMPLEMENTATION` (registered on first use).
    """
    original = current_attention_implementation(model)
    if implementation == original:
        yield
        return
    if implementation == CAPTURE_IMPLEMENTATION:
        register_capture_attention()
    logger.info(
        "%s: switching attention from %s to %s for this call", type(model).__name__, original, implementation
    )
    model.set_attn_implementation(implementation)
    try:
        yield
    finally:
        model.set_attn_implementation(original)


@contextmanager
def recording_pre_softmax(
    modules: Mapping[str, nn.Module], *, maps: bool = False, logits: bool = True, sink: MapSink | None = None
) -> Iterator[AttentionRecorder]:
    """Record the logits :func:`capturing_eager_attention` computes for ``modules`` in this block.

    Parameters
    ----------
    modules : mapping of str to torch.nn.Module
        Block id -> attention module.
    maps, logits : bool, keyword-only
        Record the post-softmax maps too / the logits (by default the logits only).
    sink : callable, optional, keyword-only
        Hand each block's maps and logits to ``sink(block, tensor, logits)`` instead of keeping them.

    Yields
    ------
    AttentionRecorder
        Its ``pre_softmax`` fills while the model runs on :data:`CAPTURE_IMPLEMENTATION`.
    """
    recorder = AttentionRecorder(modules, maps=maps, logits=logits, sink=sink)
    token = _ACTIVE_RECORDER.set(recorder)
    try:
        yield recorder
    finally:
        _ACTIVE_RECORDER.reset(token)


@contextmanager
def output_attention_maps(modules: Mapping[str, nn.Module], *, sink: MapSink | None = None) -> Iterator[AttentionRecorder]:
    """The post-softmax maps that attention modules return as their second output, per block, for this block.

    For modules that compute their maps in their own code (SEW-D's ``DisentangledSelfAttention``):
    a forward hook on each records ``output[1]``, shape (batch, heads, T, T); the hooks are removed in
    ``finally``.

    Parameters
    ----------
    modules : mapping of str to torch.nn.Module
        Block id -> attention module.
    sink : callable, optional, keyword-only
        Hand each block's maps to ``sink(block, maps, False)`` as its hook runs instead of keeping them.

    Yields
    ------
    AttentionRecorder
        ``post_softmax`` holds (batch, heads, T, T) per block after the call (without a sink).
    """
    recorder = AttentionRecorder(modules, maps=True, logits=False, sink=sink)
    handles = []
    try:
        for block, module in modules.items():
            handles.append(module.register_forward_hook(_output_maps_hook(recorder, block)))
        yield recorder
    finally:
        for handle in handles:
            handle.remove()


def _output_maps_hook(recorder: AttentionRecorder, block: str):
    def hook(module: nn.Module, args: tuple, output: tuple) -> None:
        recorder.record(block, output[1], logits=False)

    return hook


def wavlm_head_logits(
    attention: nn.Module,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None,
    position_bias: torch.Tensor,
) -> torch.Tensor:
    """Per-head logits of one ``WavLMAttention`` call, as ``multi_head_attention_forward`` forms them.

    Parameters
    ----------
    attention : transformers.models.wavlm.modeling_wavlm.WavLMAttention
    hidden_states : torch.Tensor, shape (batch, T, embed_dim)
        The module's input.
    attention_mask : torch.Tensor or None, shape (batch, T)
        1 for real frames (the module's ``attention_mask`` argument).
    position_bias : torch.Tensor, shape (batch * heads, T, T)
        The ungated relative position bias (the third output of the module).

    Returns
    -------
    torch.Tensor, shape (batch, heads, T, T)
        Scaled dot products plus the gated position bias, ``-inf`` at padded keys.
    """
    batch, length, _ = hidden_states.shape
    heads = attention.num_heads
    gated_bias = _wavlm_gated_position_bias(attention, hidden_states, position_bias)
    if attention_mask is not None:
        padding = torch.zeros(batch, 1, 1, length, dtype=gated_bias.dtype, device=gated_bias.device)
        padding = padding.masked_fill(attention_mask.ne(1).view(batch, 1, 1, length), float("-inf"))
        gated_bias = gated_bias + padding.expand(-1, heads, -1, -1).reshape(batch * heads, 1, length)
    query = nn.functional.linear(hidden_states, attention.q_proj.weight, attention.q_proj.bias)
    key = nn.functional.linear(hidden_states, attention.k_proj.weight, attention.k_proj.bias)
    head_dim = attention.head_dim
    # (batch, T, E) -> (batch * heads, T, head_dim), the layout multi_head_attention_forward uses.
    query = query.transpose(0, 1).reshape(length, batch * heads, head_dim).transpose(0, 1)
    key = key.transpose(0, 1).reshape(length, batch * heads, head_dim).transpose(0, 1)
    logits = torch.baddbmm(gated_bias, query * math.sqrt(1.0 / float(head_dim)), key.transpose(-2, -1))
    return logits.view(batch, heads, length, length)


def _wavlm_gated_position_bias(
    attention: nn.Module, hidden_states: torch.Tensor, position_bias: torch.Tensor
) -> torch.Tensor:
    """The gated relative position bias of ``WavLMAttention.forward``, shape (batch * heads, T, T).

    With a local-attention band installed on ``attention`` the bias is banded as the module's own
    call bands it (:func:`modellib_addons.hf_local_attention.edit_wavlm_gated_bias`).
    """
    batch, length, _ = hidden_states.shape
    heads = attention.num_heads
    gated = hidden_states.view(batch, length, heads, -1).permute(0, 2, 1, 3)
    projected = attention.gru_rel_pos_linear(gated).view(batch, heads, length, 2, 4).sum(-1)
    gate_a, gate_b = torch.sigmoid(projected).chunk(2, dim=-1)
    gate = gate_a * (gate_b * attention.gru_rel_pos_const - 1.0) + 2.0
    bias = (gate.view(batch * heads, -1, 1) * position_bias).view(-1, length, length)
    # A local-attention band (hf_local_attention) on this module goes into the gated bias.
    return hf_local_attention.edit_wavlm_gated_bias(attention, bias)


@contextmanager
def wavlm_attention_maps(
    modules: Mapping[str, nn.Module], *, maps: bool = True, logits: bool = True, sink: MapSink | None = None
) -> Iterator[AttentionRecorder]:
    """Per-head logits and maps of WavLM attention modules for the calls made in this block.

    Parameters
    ----------
    modules : mapping of str to torch.nn.Module
        Block id -> ``WavLMAttention``.
    maps, logits : bool, keyword-only
        Record the post-softmax maps / the logits (both by default).
    sink : callable, optional, keyword-only
        Hand each block's maps and logits to ``sink(block, tensor, logits)`` as its hook runs
        instead of keeping them.

    Yields
    ------
    AttentionRecorder
        ``pre_softmax`` and ``post_softmax`` hold (batch, heads, T, T) per block after the call.
    """
    recorder = AttentionRecorder(modules, maps=maps, logits=logits, sink=sink)
    handles = []
    try:
        for block, module in modules.items():
            handles.append(module.register_forward_hook(_wavlm_hook(recorder, block), with_kwargs=True))
        yield recorder
    finally:
        for handle in handles:
            handle.remove()


def _wavlm_hook(recorder: AttentionRecorder, block: str):
    """A forward hook that stores the per-head logits and maps of one WavLM block."""

    def hook(module: nn.Module, args: tuple, kwargs: dict, output: tuple) -> None:
        hidden_states = args[0] if args else kwargs["hidden_states"]
        attention_mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
        position_bias = output[2]
        logits = wavlm_head_logits(module, hidden_states, attention_mask, position_bias)
        recorder.record(block, logits, logits=True)
        if recorder.wants_maps:
            recorder.record(block, nn.functional.softmax(logits, dim=-1), logits=False)

    return hook


__all__ = [
    "CAPTURE_IMPLEMENTATION",
    "AttentionRecorder",
    "MapSink",
    "capturing_eager_attention",
    "register_capture_attention",
    "current_attention_implementation",
    "attention_implementation",
    "recording_pre_softmax",
    "output_attention_maps",
    "wavlm_head_logits",
    "wavlm_attention_maps",
]
