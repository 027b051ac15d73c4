"""A layer's activations as a differentiable function of the waveform.

:func:`layer_activations` runs an adapter's module on a batch of waveforms with gradients on
(never through ``adapter.forward``, which runs under ``torch.inference_mode`` and returns numpy)
and returns one layer's output, shape (batch, frames, dim), cut to the frames of the real audio.

The run stops as soon as the layer is computed: a hook that lives for one call raises an internal
exception carrying the tensor, so the blocks after the layer never run (Whisper base's ``T1``
costs the convolutions and one block, not six):

* ``C1..Cn``: a forward hook on the layer's module (``adapter.conv_blocks()``), whose output goes
  through ``adapter.conv_layer_output`` (Whisper applies its GELU there);
* ``T0..T(L-1)``: a forward pre-hook on block ``k + 1`` (``adapter.transformer_blocks()``) takes its
  input hidden states, which is what transformers' ``output_hidden_states`` reports as
  ``hidden_states[k]``;
* ``TL``: the full run with ``output_hidden_states=True`` (the last entry carries the encoder's
  final layer norm where the family applies one).

A test checks every layer of every family against ``output_hidden_states`` and the conv hooks of
the adapter.  :func:`frozen_module` keeps the module in eval mode with its parameters'
``requires_grad`` off for the duration of an optimisation and restores both afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn

from layerprobe.errors import ConfigError
from layerprobe.layers import CONTEXTUALIZED, LOCAL, parse_layer_id


class _LayerReached(Exception):
    """Raised by a one-call hook to stop the forward pass once the wanted layer is computed."""

    def __init__(self, value: torch.Tensor):
        super().__init__("layer reached")
        self.value = value


def checked_layer(adapter: Any, layer: str) -> str:
    """``layer`` normalised (``"t3"`` -> ``"T3"``), or a ConfigError naming the layers the model has."""
    name = parse_layer_id(layer)
    if name not in adapter.layer_ids:
        raise ConfigError(f"{adapter.spec} has no layer {layer} (it has {', '.join(adapter.layer_ids)})")
    return name


def transformer_blocks(adapter: Any) -> list[nn.Module]:
    """The transformer blocks ``T1..TL`` in order (``adapter.transformer_blocks()``)."""
    return list(adapter.transformer_blocks().values())


def layer_activations(adapter: Any, layer: str, waveforms: torch.Tensor) -> torch.Tensor:
    """One layer's output on a batch of waveforms, differentiable with respect to them.

    Parameters
    ----------
    adapter : HFAdapter
        A loaded model (``layerprobe.models.load_model``); the module runs as it is (call it inside
        :func:`frozen_module` to be sure of eval mode).
    layer : str
        ``C1..Cn`` or ``T0..TL``.
    waveforms : torch.Tensor, shape (batch, n_samples)
        16 kHz waveforms on the adapter's device.

    Returns
    -------
    torch.Tensor, shape (batch, n_frames, dim)
        The layer's output cut to the frames of the real audio
        (``adapter.layer_n_frames(layer, n_samples)``), attached to the graph of ``waveforms``.
    """
    layer = checked_layer(adapter, layer)
    n_samples = int(waveforms.shape[1])
    inputs = adapter.differentiable_inputs(waveforms)
    index = int(layer[1:])
    if layer[0] == CONTEXTUALIZED:
        states = _transformer_layer(adapter, index, inputs)
    else:
        states = _conv_layer(adapter, index - 1, inputs).transpose(1, 2)
    return states[:, : adapter.layer_n_frames(layer, n_samples)]


def _conv_layer(adapter: Any, index: int, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """(batch, channels, frames) of conv block ``index`` (0-based), the rest of the model not run."""
    layer = f"{LOCAL}{index + 1}"
    module = adapter.conv_blocks()[layer]

    def hook(_module: nn.Module, _args: tuple, output: torch.Tensor) -> None:
        raise _LayerReached(adapter.conv_layer_output(layer, output))

    handle = module.register_forward_hook(hook)
    try:
        adapter.module(**inputs)
    except _LayerReached as reached:
        return reached.value
    finally:
        handle.remove()
    raise ConfigError(f"{adapter.spec}: conv block C{index + 1} did not run")


def _transformer_layer(adapter: Any, index: int, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """(batch, frames, dim) of ``T<index>``: block ``index``'s input, or the full run for ``TL``."""
    if index < adapter.num_layers:
        block = transformer_blocks(adapter)[index]

        def hook(_module: nn.Module, args: tuple, kwargs: dict) -> None:
            states = args[0] if args else kwargs.get("hidden_states")
            if isinstance(states, torch.Tensor) and states.ndim == 3:
                raise _LayerReached(states)

        handle = block.register_forward_pre_hook(hook, with_kwargs=True)
        try:
            output = adapter.module(**inputs, output_hidden_states=True)
        except _LayerReached as reached:
            return reached.value
        finally:
            handle.remove()
    else:
        output = adapter.module(**inputs, output_hidden_states=True)
    hidden_states = adapter.checked_hidden_states(output)
    return hidden_states[index]


@contextmanager
def frozen_module(module: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and ``requires_grad`` off for every parameter, with gradients enabled; restored after.

    Gradients then flow to the input only, and the module's own state is left as found (training
    mode, each parameter's ``requires_grad``) even when the block raises.
    """
    was_training = module.training
    flags = [(parameter, parameter.requires_grad) for parameter in module.parameters()]
    try:
        module.eval()
        for parameter, _ in flags:
            parameter.requires_grad_(False)
        with torch.enable_grad():
            yield module
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
        module.train(was_training)


__all__ = ["checked_layer", "frozen_module", "layer_activations", "transformer_blocks"]
