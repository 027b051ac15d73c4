"""How :class:`~layerprobe.models.hf.HFAdapter` runs its module and captures layers and attention maps.

:class:`_LayerCapture` is the adapter's run machinery (a mixin of :class:`HFAdapter`): one call of the
module with forward hooks on the requested conv blocks, transformers' ``output_hidden_states`` for
the T layers and, when asked for, the attention maps and logits of every block (eager attention,
the capturing implementation of :mod:`modellib_addons.hf_attention`, or WavLM's hooks), all removed
or restored when the call ends; each item's outputs are cut to its real frames.  Split out of
:mod:`layerprobe.models.hf`.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from layerprobe.errors import ConfigError, LayerprobeError
from layerprobe.layers import CONTEXTUALIZED, LOCAL
from layerprobe.models.base import LayerOutputs
from modellib_addons import hf_attention


@dataclass
class _MapCapture:
    """How one call obtains attention maps: transformers' ``output_attentions`` or our recorder."""

    output_attentions: bool = False
    recorder: hf_attention.AttentionRecorder | None = None


class _LayerCapture:
    """The run of :class:`~layerprobe.models.hf.HFAdapter`: one module call, hooks for one call, cut outputs.

    Mixed into :class:`HFAdapter`, which provides ``module``, ``spec``, ``family``, ``num_layers``,
    ``n_frames``, ``attention_modules`` and the family specifics (``_model_inputs``,
    ``_conv_modules``, ``_conv_output``, ``_conv_lengths``, ``_run_front_end``).
    """

    # ---- the run ------------------------------------------------------------------------

    def _run(
        self,
        waves: Sequence[np.ndarray],
        wanted: Sequence[str],
        *,
        attention: bool = False,
        pre_softmax: bool = False,
        on_attention: Callable[[str, np.ndarray, bool], None] | None = None,
        on_padding: Callable[[str, np.ndarray], None] | None = None,
    ) -> list[LayerOutputs]:
        """Run the module once on ``waves`` and cut every requested output per item."""
        inputs = {name: tensor.to(self.device) for name, tensor in self._model_inputs(waves).items()}
        conv_wanted = [layer for layer in wanted if layer[0] == LOCAL]
        # Conv layers alone need only the front end: the transformer is most of the compute.
        front_end_only = len(conv_wanted) == len(wanted) and not (attention or pre_softmax)
        sink = None
        if on_attention is not None and (attention or pre_softmax):
            if len(waves) != 1:
                raise ConfigError("streamed attention maps (on_attention) need one waveform per call")
            sink = _map_sink(on_attention, self.n_frames(len(waves[0])), on_padding=on_padding)
        with ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            stack.enter_context(_eval_mode(self.module))
            conv = stack.enter_context(self._capturing_conv(conv_wanted))
            if front_end_only:
                self._run_front_end(inputs)
            else:
                maps = stack.enter_context(self._capturing_attention(attention, pre_softmax, sink=sink))
                output = self.module(**inputs, output_hidden_states=True, output_attentions=maps.output_attentions)
        if front_end_only:
            hidden_states, post, pre = (), {}, {}
        else:
            hidden_states = self._checked_hidden_states(output)
            if sink is None:
                post, pre = self._collected_maps(output, maps, attention=attention, pre_softmax=pre_softmax)
            else:
                post, pre = {}, {}
                self._check_delivered(maps.recorder, attention=attention, pre_softmax=pre_softmax)
        return [
            self._item_outputs(item, len(wave), wanted, hidden_states, conv, post, pre)
            for item, wave in enumerate(waves)
        ]

    def _item_outputs(
        self,
        item: int,
        n_samples: int,
        wanted: Sequence[str],
        hidden_states: Sequence[torch.Tensor],
        conv: Mapping[str, torch.Tensor],
        post: Mapping[str, torch.Tensor],
        pre: Mapping[str, torch.Tensor],
    ) -> LayerOutputs:
        """One item's outputs, cut to its real frames, as float32 numpy arrays."""
        frames = self.n_frames(n_samples)
        conv_lengths = self._conv_lengths(n_samples)
        hidden: dict[str, np.ndarray] = {}
        for layer in wanted:
            index = int(layer[1:])
            if layer[0] == CONTEXTUALIZED:
                states = hidden_states[index][item]
                hidden[layer] = _cut_numpy(states, frames, layer=layer, spec=self.spec)
            else:
                states = conv[layer][item].transpose(0, 1)
                hidden[layer] = _cut_numpy(states, conv_lengths[index - 1], layer=layer, spec=self.spec)
        return LayerOutputs(
            hidden=hidden,
            n_frames=frames,
            attention={block: _cut_map(maps[item], frames) for block, maps in post.items()},
            attention_padding={block: _padding_mass(maps[item], frames) for block, maps in post.items()},
            pre_softmax={block: _cut_map(maps[item], frames) for block, maps in pre.items()},
        )

    def _checked_hidden_states(self, output: Any) -> tuple[torch.Tensor, ...]:
        """transformers' hidden states, checked to be T0..TL.

        Raises
        ------
        LayerprobeError
            When the model returned another number of hidden states than ``num_hidden_layers + 1``
            (a block skipped by layer drop, or a model surgery gone wrong).
        """
        hidden_states = tuple(getattr(output, "hidden_states", None) or ())
        expected = self.num_layers + 1
        if len(hidden_states) != expected:
            raise LayerprobeError(
                f"{self.spec}: the model returned {len(hidden_states)} hidden states, expected {expected} "
                f"(T0-T{self.num_layers}); was a block skipped or removed?"
            )
        return hidden_states

    @contextmanager
    def _capturing_conv(self, conv_wanted: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
        """Forward hooks on the requested conv blocks for one call, removed in ``finally``.

        Yields a dict that fills with layer id -> (batch, channels, frames) as the model runs.
        """
        captured: dict[str, torch.Tensor] = {}
        modules = self._conv_modules()
        handles = []
        try:
            for layer in conv_wanted:
                index = int(layer[1:]) - 1
                handles.append(modules[index].register_forward_hook(self._conv_hook(captured, layer, index)))
            yield captured
        finally:
            for handle in handles:
                handle.remove()

    def _conv_hook(self, captured: dict[str, torch.Tensor], layer: str, index: int):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            captured[layer] = self._conv_output(index, output).detach()

        return hook

    @contextmanager
    def _capturing_attention(
        self, attention: bool, pre_softmax: bool, *, sink: hf_attention.MapSink | None = None
    ) -> Iterator[_MapCapture]:
        """Set up the call for attention maps: eager or the capturing implementation, restored after.

        With a ``sink`` every block hands its maps / logits over as it computes them (the capturing
        implementation, or WavLM's hooks) and transformers collects none (``output_attentions`` off).
        """
        if not (attention or pre_softmax):
            yield _MapCapture()
            return
        blocks = self.attention_modules()
        if self.family == "sew-d":
            # DeBERTa's attention computes its maps in its own code: they come from hooks, its logits not at all.
            if pre_softmax:
                raise ConfigError(
                    f"{self.spec}: SEW-D's disentangled attention computes its logits inside its own module, so "
                    "pre-softmax logits are not available; ask for the post-softmax maps only (no --pre-softmax)"
                )
            with hf_attention.output_attention_maps(blocks, sink=sink) as recorder:
                yield _MapCapture(recorder=recorder)
            return
        if self.family == "wavlm":
            # WavLM's own maps are averaged over heads: per-head maps come from hooks.
            wanted = {"maps": attention, "logits": pre_softmax} if sink is not None else {}
            with hf_attention.wavlm_attention_maps(blocks, sink=sink, **wanted) as recorder:
                yield _MapCapture(recorder=recorder)
            return
        streamed = sink is not None
        implementation = hf_attention.CAPTURE_IMPLEMENTATION if pre_softmax or streamed else "eager"
        with ExitStack() as stack:
            stack.enter_context(hf_attention.attention_implementation(self.module, implementation))
            recorder = None
            if pre_softmax or streamed:
                recording = hf_attention.recording_pre_softmax(
                    blocks, maps=attention and streamed, logits=pre_softmax, sink=sink
                )
                recorder = stack.enter_context(recording)
            yield _MapCapture(output_attentions=not streamed, recorder=recorder)

    def _check_delivered(
        self, recorder: hf_attention.AttentionRecorder | None, *, attention: bool, pre_softmax: bool
    ) -> None:
        """Raise unless every block handed its maps (and logits) to the sink once, in order."""
        blocks = [f"{CONTEXTUALIZED}{i + 1}" for i in range(self.num_layers)]
        for logits, wanted in ((False, attention), (True, pre_softmax)):
            delivered = recorder.delivered[logits] if recorder is not None else []
            if wanted and delivered != blocks:
                what = "attention logits" if logits else "attention maps"
                raise LayerprobeError(
                    f"{self.spec}: {what} were streamed for {', '.join(delivered) or 'no block'}, "
                    f"expected {', '.join(blocks)}"
                )

    def _collected_maps(
        self, output: Any, maps: _MapCapture, *, attention: bool, pre_softmax: bool
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(post-softmax, pre-softmax) maps per block, each (batch, heads, T, T)."""
        blocks = [f"{CONTEXTUALIZED}{i + 1}" for i in range(self.num_layers)]
        post: dict[str, torch.Tensor] = {}
        pre: dict[str, torch.Tensor] = {}
        if maps.output_attentions and attention:
            attentions = tuple(getattr(output, "attentions", None) or ())
            if len(attentions) != self.num_layers:
                raise LayerprobeError(
                    f"{self.spec}: the model returned {len(attentions)} attention maps, expected {self.num_layers}"
                )
            post = dict(zip(blocks, attentions))
        elif attention and maps.recorder is not None:
            post = {block: maps.recorder.post_softmax[block] for block in blocks}
        if pre_softmax and maps.recorder is not None:
            missing = [block for block in blocks if block not in maps.recorder.pre_softmax]
            if missing:
                raise LayerprobeError(f"{self.spec}: no attention logits were recorded for {', '.join(missing)}")
            pre = {block: maps.recorder.pre_softmax[block] for block in blocks}
        return post, pre


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Run in eval mode, restoring training mode afterwards if the module was training."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        if was_training:
            module.train()


def _cut_numpy(states: torch.Tensor, frames: int, *, layer: str, spec: str) -> np.ndarray:
    """The first ``frames`` rows of (T, dim) as a float32 numpy copy.

    Raises
    ------
    LayerprobeError
        When the model produced fewer frames than the real audio has.
    """
    if states.shape[0] < frames:
        raise LayerprobeError(f"{spec}: layer {layer} has {states.shape[0]} frames, expected at least {frames}")
    return states[:frames].to("cpu", torch.float32).numpy().copy()


def _cut_map(maps: torch.Tensor, frames: int) -> np.ndarray:
    """(heads, T, T) maps cut to the real frames, as a float32 numpy copy."""
    return maps[:, :frames, :frames].to("cpu", torch.float32).numpy().copy()


def _padding_mass(maps: torch.Tensor, frames: int) -> np.ndarray:
    """The mass each real query of (heads, T, T) post-softmax maps sends to keys past the real frames.

    Returns
    -------
    numpy.ndarray
        ``(heads, frames)`` float32: ``sum_{j >= frames} maps[h, i, j]`` for the real queries
        ``i < frames``, what :func:`_cut_map` cuts away from each row.  Whisper's keys past the real
        audio are its 30 s window's padding; a model that runs on the real frames alone has none
        (all zeros).
    """
    return maps[:, :frames, frames:].to("cpu", torch.float32).sum(dim=-1).numpy().copy()


def _map_sink(
    on_attention: Callable[[str, np.ndarray, bool], None],
    frames: int,
    *,
    on_padding: Callable[[str, np.ndarray], None] | None = None,
) -> hf_attention.MapSink:
    """A recorder sink that cuts one item's (1, heads, T, T) maps like :func:`_cut_map`, as float16.

    With ``on_padding``, each block's post-softmax padding mass (:func:`_padding_mass`, float32
    (heads, T)) is handed over first, from the uncut maps.
    """

    def sink(block: str, maps: torch.Tensor, logits: bool) -> None:
        if on_padding is not None and not logits:
            on_padding(block, _padding_mass(maps[0], frames))
        # Through float32 exactly like the returned maps, then rounded once to the store's float16.
        with np.errstate(over="ignore"):
            half = _cut_map(maps[0], frames).astype(np.float16)
        on_attention(block, half, logits)

    return sink


__all__: list[str] = []
