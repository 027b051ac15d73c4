"""The adapter of encoders whose module layerprobe writes itself: AV-HuBERT (audio only), FaST-VGS.

:class:`StackAdapter` implements :class:`~layerprobe.models.base.ModelAdapter` for a module that
takes the model's own input features and returns its hidden states ``T0..TL`` as a list of
(batch, frames, dim) tensors, with transformers' wav2vec 2.0 encoder layers at ``module.encoder.layers``.
The family's loader (:mod:`layerprobe.models.avhubert`, :mod:`layerprobe.models.fastvgs`) supplies
the front end (waveform -> module input), the frame count rule and the frame rate.

These models have no C layers (the published code reads none of them): ``layer_ids`` is
``T0..TL``.  Extraction, the CCA, MI and word experiments work on them;
attention maps and logits are read (:meth:`StackAdapter.forward`); local-attention surgery,
fine-tuning and feature audiation are refused with one line (:meth:`StackAdapter.check_local_attention`
...), since their inputs are not waveforms the shared training and audiation code can build.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from layerprobe.errors import AudioError, ConfigError
from layerprobe.layers import CONTEXTUALIZED
from layerprobe.models.base import LayerOutputs, model_card

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class FrontEnd:
    """How a family turns a waveform into its module's input.

    Attributes
    ----------
    prepare : callable
        ``prepare(waveform)`` -> float32 array, the module's input for one utterance (without the
        batch axis): (n_samples,) for waveform models, (frames, dims) for filterbank models.
    n_frames : callable
        ``n_frames(n_samples)`` -> frames of the hidden states (0 when the audio is too short).
    frame_rate_hz : float
        Frame rate of the hidden states.
    min_samples : int
        Fewest samples that give one frame.
    """

    prepare: Callable[[np.ndarray], np.ndarray]
    n_frames: Callable[[int], int]
    frame_rate_hz: float
    min_samples: int = 1


@dataclass
class StackProvenance:
    """What :meth:`StackAdapter.describe` reports beyond the adapter's own attributes."""

    source: str
    config_sha256: str
    settings: dict[str, Any] = field(default_factory=dict)


class StackAdapter:
    """A project-written speech encoder seen through layer ids ``T0..TL`` (the ModelAdapter protocol).

    Parameters
    ----------
    module : torch.nn.Module
        ``module(inputs)`` with inputs (batch, ...) returns the L + 1 hidden states, each
        (batch, frames, hidden_size); ``module.encoder.layers`` are the L blocks.
    spec, family : str
    front_end : FrontEnd
    provenance : StackProvenance
    hidden_size, num_attention_heads : int
    device : torch.device
    weights_fingerprint : str or None
    """

    sample_rate: int = SAMPLE_RATE
    max_seconds: float | None = None
    supports_batching: bool = False

    def __init__(
        self,
        module: nn.Module,
        *,
        spec: str,
        family: str,
        front_end: FrontEnd,
        provenance: StackProvenance,
        hidden_size: int,
        num_attention_heads: int,
        device: torch.device,
        weights_fingerprint: str | None,
    ):
        self.module = module.to(device).float().eval()
        self.spec = spec
        self.family = family
        self.device = device
        self.front_end = front_end
        self._provenance = provenance
        self.weights_fingerprint = weights_fingerprint
        self.num_layers = len(module.encoder.layers)
        self.num_attention_heads = int(num_attention_heads)
        self._hidden_size = int(hidden_size)
        self.layer_ids = tuple(f"{CONTEXTUALIZED}{i}" for i in range(self.num_layers + 1))
        self.frame_rate_hz = float(front_end.frame_rate_hz)
        self._frozen = False

    # ---- layers and frames -----------------------------------------------------------------

    def layer_frame_rate(self, layer_id: str) -> float:
        """Every layer runs at the model's frame rate (25 Hz for AV-HuBERT, 50 Hz for FaST-VGS)."""
        self._check_layer(layer_id)
        return self.frame_rate_hz

    def layer_dim(self, layer_id: str) -> int:
        """The encoder width D of every layer."""
        self._check_layer(layer_id)
        return self._hidden_size

    def local_pooling(self, layer_id: str) -> None:
        """None: these models have no C layers."""
        self._check_layer(layer_id)
        return None

    def n_frames(self, n_samples: int) -> int:
        """Frames of the hidden states for ``n_samples`` samples (0 when too short for one)."""
        return int(self.front_end.n_frames(int(n_samples))) if n_samples >= self.front_end.min_samples else 0

    def layer_n_frames(self, layer_id: str, n_samples: int) -> int:
        """Frames of a layer for ``n_samples`` samples: :meth:`n_frames` for every layer."""
        self._check_layer(layer_id)
        return self.n_frames(n_samples)

    def _check_layer(self, layer_id: str) -> None:
        if layer_id not in self.layer_ids:
            raise ConfigError(f"{self.spec} has no layer {layer_id!r} (layers: {self.layer_ids[0]}..{self.layer_ids[-1]})")

    # ---- running ---------------------------------------------------------------------------

    def model_inputs(self, waveform: np.ndarray) -> dict[str, torch.Tensor]:
        """``{"inputs": (1, ...)}``: the front end's features of one waveform on the device."""
        wave = np.asarray(waveform, dtype=np.float32)
        if wave.ndim != 1:
            raise AudioError(f"{self.spec}: expected a mono waveform of shape (n_samples,), got shape {wave.shape}")
        if self.n_frames(wave.size) < 1:
            raise AudioError(f"{self.spec}: audio of {wave.size} samples is shorter than one model frame")
        features = np.asarray(self.front_end.prepare(wave), dtype=np.float32)
        return {"inputs": torch.from_numpy(features).unsqueeze(0).to(self.device)}

    def forward(
        self,
        waveform: np.ndarray,
        *,
        layers: Sequence[str] | None = None,
        attention: bool = False,
        pre_softmax: bool = False,
        on_attention: Callable[[str, np.ndarray, bool], None] | None = None,
        on_padding: Callable[[str, np.ndarray], None] | None = None,
    ) -> LayerOutputs:
        """Every requested layer (all by default) of one waveform, (frames, D) float32 each.

        ``attention`` / ``pre_softmax`` add every block's post-softmax maps / logits, (heads, T, T),
        computed by transformers' eager attention with layerprobe's capturing implementation
        (:mod:`modellib_addons.hf_attention`).  For FaST-VGS the CLS token's row and column are cut
        away: ``attention_padding`` is then the mass each frame sends to the CLS token (all zeros
        for AV-HuBERT, which attends over its frames only).  With ``on_attention`` the maps are
        streamed block by block as float16 (:class:`~layerprobe.models.base.ModelAdapter`).
        """
        wanted = set(self.layer_ids if layers is None else layers)
        for layer in wanted:
            self._check_layer(layer)
        inputs = self.model_inputs(waveform)["inputs"]
        n_frames = self.n_frames(np.asarray(waveform).size)
        maps = _Maps(int(getattr(self.module, "attention_offset", 0)), n_frames, on_attention, on_padding)
        with torch.inference_mode(), self._capturing(attention, pre_softmax, maps.sink) as recorder:
            states = self.module(inputs)
        if len(states) != self.num_layers + 1:
            raise ConfigError(f"{self.spec}: the module gave {len(states)} hidden states, not {self.num_layers + 1}")
        blocks = [f"{CONTEXTUALIZED}{i + 1}" for i in range(self.num_layers)]
        for logits, asked in ((False, attention), (True, pre_softmax)):
            if asked and (recorder is None or recorder.delivered[logits] != blocks):
                raise ConfigError(f"{self.spec}: attention {'logits' if logits else 'maps'} were not recorded for every block")
        hidden = {}
        for index, layer in enumerate(self.layer_ids):
            if layer in wanted:
                hidden[layer] = states[index][0, :n_frames].float().cpu().numpy()
        return LayerOutputs(
            hidden=hidden, n_frames=n_frames, attention=maps.post, attention_padding=maps.padding, pre_softmax=maps.pre
        )

    @contextlib.contextmanager
    def _capturing(self, attention: bool, pre_softmax: bool, sink: Callable) -> Iterator[Any]:
        """Run the blocks on the capturing eager attention and record maps / logits, restored after."""
        if not (attention or pre_softmax):
            yield None
            return
        from modellib_addons import hf_attention

        config = self.module.encoder.config
        original = config._attn_implementation
        config._attn_implementation = hf_attention.register_capture_attention()
        try:
            with hf_attention.recording_pre_softmax(self.attention_modules(), maps=attention, logits=pre_softmax, sink=sink) as recorder:
                yield recorder
        finally:
            config._attn_implementation = original

    def forward_batch(self, waveforms: Sequence[np.ndarray], *, layers: Sequence[str] | None = None) -> list[LayerOutputs]:
        """One :meth:`forward` per waveform (these models run unpadded, one at a time)."""
        return [self.forward(wave, layers=layers) for wave in waveforms]

    def model_card(self) -> dict[str, Any]:
        """What a store records about the model (:func:`layerprobe.models.base.model_card`; part of :meth:`describe`)."""
        return model_card(self, self.weights_fingerprint)

    def describe(self) -> dict[str, Any]:
        """Provenance: spec, the model card (:meth:`model_card`), source, config digest, library
        versions, dtype, front end."""
        import transformers

        provenance = self._provenance
        return {
            "spec": self.spec,
            **self.model_card(),
            "model_id": provenance.source,
            "revision": None,
            "commit_hash": None,
            "config_sha256": provenance.config_sha256,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "dtype": "float32",
            "device": str(self.device),
            "frame_rate_hz": self.frame_rate_hz,
            "supports_batching": self.supports_batching,
            "attention_implementation": "eager",
            "feature_settings": dict(provenance.settings),
            "feature_settings_source": "checkpoint",
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spec={self.spec!r}, family={self.family!r}, layers={len(self.layer_ids)})"

    # ---- the model's parts ---------------------------------------------------------------------

    def transformer_blocks(self) -> dict[str, nn.Module]:
        """Block id ``Tk`` -> ``module.encoder.layers[k - 1]`` (its output is hidden state ``Tk``).

        Unlike transformers' families, block ``T1``'s input is not ``T0`` (``T0`` is taken before the
        fusion / positional convolution, as published) and FaST-VGS's blocks see the CLS token too:
        code that reads layers from block inputs (audiation) is refused by :meth:`differentiable_inputs`.
        """
        return {f"{CONTEXTUALIZED}{i + 1}": block for i, block in enumerate(self.module.encoder.layers)}

    def attention_modules(self) -> dict[str, nn.Module]:
        """Block id -> the block's self-attention module."""
        return {block_id: block.attention for block_id, block in self.transformer_blocks().items()}

    def conv_blocks(self) -> dict[str, nn.Module]:
        """No C layers: an empty dict."""
        return {}

    def conv_layer_output(self, layer_id: str, output: torch.Tensor) -> torch.Tensor:
        raise ConfigError(f"{self.spec} has no C layers ({layer_id} asked for)")

    def checked_hidden_states(self, output: Any) -> tuple[torch.Tensor, ...]:
        """``T0..TL`` of a module output (ConfigError unless there are L + 1)."""
        states = tuple(output)
        if len(states) != self.num_layers + 1:
            raise ConfigError(f"{self.spec}: the module gave {len(states)} hidden states, not {self.num_layers + 1}")
        return states

    def feature_encoder_modules(self) -> list[nn.Module]:
        """The modules between the input features and the transformer (the family's ``front_modules``)."""
        return list(getattr(self.module, "front_modules", lambda: [])())

    def feature_encoder_parameters(self) -> list[nn.Parameter]:
        return [p for module in self.feature_encoder_modules() for p in module.parameters()]

    def freeze_feature_encoder(self, frozen: bool = True) -> None:
        for parameter in self.feature_encoder_parameters():
            parameter.requires_grad = not frozen
        self._frozen = frozen

    @property
    def feature_encoder_frozen(self) -> bool:
        return self._frozen

    def batch_inputs(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        raise self._unsupported("fine-tuning (padded training batches)")

    def differentiable_inputs(self, waveforms: torch.Tensor) -> dict[str, torch.Tensor]:
        raise self._unsupported("feature audiation")

    def check_local_attention(self) -> None:
        raise self._unsupported("local-attention surgery")

    def install_local_attention(self, block: str, radius: int) -> Callable[[], None]:
        raise self._unsupported("local-attention surgery")

    def _unsupported(self, what: str) -> ConfigError:
        return ConfigError(
            f"{self.spec}: {what} not available for {self.family} models (layerprobe reads their layer "
            "outputs and attention maps only)"
        )


class _Maps:
    """Cuts each block's (1, heads, T', T') maps to the real frames (past ``offset`` leading tokens)
    and keeps them, or hands them to the caller's ``on_attention`` / ``on_padding`` as they come."""

    def __init__(self, offset: int, frames: int, on_attention: Callable | None, on_padding: Callable | None):
        self.offset, self.frames = offset, frames
        self.on_attention, self.on_padding = on_attention, on_padding
        self.post: dict[str, np.ndarray] = {}
        self.pre: dict[str, np.ndarray] = {}
        self.padding: dict[str, np.ndarray] = {}

    def sink(self, block: str, tensor: torch.Tensor, logits: bool) -> None:
        first, last = self.offset, self.offset + self.frames
        maps = tensor[0].to("cpu", torch.float32)
        cut = maps[:, first:last, first:last].numpy().copy()
        if not logits:
            outside = torch.cat([maps[:, first:last, :first], maps[:, first:last, last:]], dim=-1)
            mass = outside.sum(dim=-1).numpy().copy()
            if self.on_attention is None:
                self.padding[block] = mass
            elif self.on_padding is not None:
                self.on_padding(block, mass)
        if self.on_attention is None:
            (self.pre if logits else self.post)[block] = cut
        else:
            with np.errstate(over="ignore"):
                self.on_attention(block, cut.astype(np.float16), logits)


def encoder_layer_outputs(encoder: nn.Module, hidden: torch.Tensor) -> list[torch.Tensor]:
    """The L block outputs of a transformers wav2vec 2.0 encoder run on (batch, frames, D) inputs.

    As fairseq's ``TransformerEncoder.extract_features`` computes its layer results: the
    positional convolution is added, the encoder's layer norm applied first for post-LN encoders
    (``Wav2Vec2Encoder``) and last -- not to the layer results -- for pre-LN ones
    (``Wav2Vec2EncoderStableLayerNorm``); each block's output is kept.
    """
    from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2Encoder

    hidden = hidden + encoder.pos_conv_embed(hidden)
    if isinstance(encoder, Wav2Vec2Encoder):
        hidden = encoder.layer_norm(hidden)
    hidden = encoder.dropout(hidden)
    outputs = []
    for block in encoder.layers:
        hidden = block(hidden, attention_mask=None)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        outputs.append(hidden)
    return outputs


def config_digest(settings: Mapping[str, Any]) -> str:
    """sha256 of a configuration, canonical JSON."""
    import hashlib
    import json

    canonical = json.dumps(settings, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


__all__ = ["FrontEnd", "SAMPLE_RATE", "StackAdapter", "StackProvenance", "config_digest", "encoder_layer_outputs"]
