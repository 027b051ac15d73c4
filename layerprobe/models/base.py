"""The model adapter protocol: what extraction and the analyses may ask of a speech model.

Adapters own all model knowledge (module paths, feature extractor settings, frame rates, padding
rules); everything downstream sees numpy arrays keyed by layer id (:mod:`layerprobe.layers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # torch is imported only when a model is loaded
    import torch
    from torch import nn


@dataclass
class LayerOutputs:
    """Every requested layer's output for one utterance.

    Attributes
    ----------
    hidden : dict of str to numpy.ndarray
        Layer id -> features, shape (n_frames_of_that_layer, dim), float32, frames of the real
        audio only (padding cut).  C layers are at their native rate (``adapter.layer_frame_rate``).
    attention : dict of str to numpy.ndarray
        Block id (``T1``..``TL``) -> post-softmax attention, shape (heads, T, T), float32, when
        asked for; T is the number of frames of the real audio.  The maps are cut, not
        renormalised: a row sums to 1 minus the mass its query sent to keys past the real audio
        (Whisper's 30 s padding).
    attention_padding : dict of str to numpy.ndarray
        Block id -> that padding mass per head and real query, shape (heads, T), float32, with
        ``attention``; all zeros for a model that attends over the real frames only.
    pre_softmax : dict of str to numpy.ndarray
        Block id -> attention logits before the softmax (scaled, masked), same shape, when asked for.
    n_frames : int
        Frames of the real audio on the transformer grid (``adapter.frame_rate_hz``).
    """

    hidden: dict[str, np.ndarray]
    n_frames: int
    attention: dict[str, np.ndarray] = field(default_factory=dict)
    attention_padding: dict[str, np.ndarray] = field(default_factory=dict)
    pre_softmax: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class ModelAdapter(Protocol):
    """A loaded speech model seen through layer ids.

    Attributes
    ----------
    spec : str
        The spec it was loaded from (``"hf:facebook/wav2vec2-base"``, ``"tiny:hubert"`` ...).
    family : str
        ``"wav2vec2"``, ``"hubert"``, ``"wavlm"``, ``"data2vec-audio"``, ``"unispeech"``,
        ``"unispeech-sat"``, ``"wav2vec2-conformer"``, ``"wav2vec2-bert"``, ``"sew"``, ``"sew-d"``,
        ``"whisper"`` (:mod:`layerprobe.models.catalog`), ``"avhubert"`` or ``"fastvgs"``.
    layer_ids : tuple of str
        Every layer the model has, in order: ``C1..Cn`` then ``T0..TL``.
    frame_rate_hz : float
        Frame rate of the transformer layers (50 Hz; 25 Hz for SEW, SEW-D and AV-HuBERT).
    sample_rate : int
        Rate of the waveforms :meth:`forward` takes (16000).
    max_seconds : float or None
        Longest input the model accepts (30 s for Whisper's encoder), None without a limit.
    supports_batching : bool
        Whether :meth:`forward_batch` pads with an attention mask and gives each utterance the
        result :meth:`forward` gives it alone (False for group-norm models such as wav2vec 2.0
        base, which must see unpadded input; they are run one by one).
    module : torch.nn.Module
        The underlying encoder, for surgery (local attention) and fine-tuning.
    device : torch.device
        Where the module runs.
    num_layers : int
        Number of transformer blocks L.
    weights_fingerprint : str or None
        A content fingerprint of the weight files the model was loaded from
        (:mod:`layerprobe.models.fingerprint`: ``hf:DIR`` and ``tiny:`` directories, fairseq
        checkpoints; ``hub:<commit>`` for a cached hub id), None when unknown.  Stores, checkpoints
        and fine-tuning results record it, so that a rerun with replaced weights is refused.

    Notes
    -----
    Training (:mod:`layerprobe.training.finetune`), feature audiation (:mod:`layerprobe.audiation`)
    and attention surgery (:mod:`layerprobe.attention.local`) reach into the module only through the
    methods below (:meth:`transformer_blocks`, :meth:`conv_blocks`, :meth:`feature_encoder_modules`,
    :meth:`freeze_feature_encoder`, :meth:`batch_inputs`, :meth:`differentiable_inputs`,
    :meth:`install_local_attention` ...): module paths and family differences stay in the adapter.
    """

    spec: str
    family: str
    layer_ids: tuple[str, ...]
    frame_rate_hz: float
    sample_rate: int
    max_seconds: float | None
    supports_batching: bool
    module: Any
    device: Any
    num_layers: int
    weights_fingerprint: str | None

    def layer_frame_rate(self, layer_id: str) -> float:
        """Native frame rate of a layer in Hz (C layers run faster than the transformer)."""

    def layer_dim(self, layer_id: str) -> int:
        """Feature dimension of a layer."""

    def local_pooling(self, layer_id: str) -> tuple[int, int] | None:
        """(kernel, stride) that average-pools a C layer onto the 10 ms grid, or None to keep it as is.

        For the 7-block wav2vec 2.0 encoder: C1..C6 -> 79/32, 39/16, 19/8, 9/4, 4/2, 2/1
        (REFERENCE.md section 3); C7 stays at 50 Hz.
        """

    def n_frames(self, n_samples: int) -> int:
        """Transformer frames for a waveform of ``n_samples`` samples (0 when it is too short)."""

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
        """Run the model on one waveform, shape (n_samples,), float32 at 16 kHz.

        ``layers`` limits the outputs (all layers by default); ``attention`` / ``pre_softmax`` add the
        maps of every block (eager attention is switched on for this call only).  With
        ``on_attention`` the maps are streamed instead: ``on_attention(block, values, logits)`` gets
        each block's float16 (heads, T, T) maps (``logits`` False) and logits (True) as soon as the
        block has computed them, and the returned ``attention`` / ``pre_softmax`` are empty;
        ``on_padding(block, mass)`` then gets each block's (heads, T) float32 padding mass
        (:attr:`LayerOutputs.attention_padding`) just before its maps.
        """

    def forward_batch(self, waveforms: Sequence[np.ndarray], *, layers: Sequence[str] | None = None) -> list[LayerOutputs]:
        """Run several waveforms at once (padded with an attention mask where supported)."""

    def describe(self) -> Mapping[str, Any]:
        """Provenance: spec, family, model id, revision, config digest, library versions, dtype."""

    def layer_n_frames(self, layer_id: str, n_samples: int) -> int:
        """Frames a layer has for ``n_samples`` samples of real audio (at its native rate)."""

    # ---- the model's parts: for training, audiation and attention surgery ----------------------

    def transformer_blocks(self) -> "dict[str, nn.Module]":
        """Block id (``T1``..``TL``) -> transformer block module, in order.

        Block ``Tk`` takes hidden state ``T(k-1)`` as input and gives hidden state ``Tk``.
        """

    def attention_modules(self) -> "dict[str, nn.Module]":
        """Block id (``T1``..``TL``) -> the block's self-attention module."""

    def conv_blocks(self) -> "dict[str, nn.Module]":
        """Layer id (``C1``..``Cn``) -> the module whose output gives the layer (:meth:`conv_layer_output`)."""

    def conv_layer_output(self, layer_id: str, output: "torch.Tensor") -> "torch.Tensor":
        """The C layer (batch, channels, frames) from the output of its module in :meth:`conv_blocks`."""

    def checked_hidden_states(self, output: Any) -> "tuple[torch.Tensor, ...]":
        """``T0..TL`` of a module output run with ``output_hidden_states=True`` (LayerprobeError if not L + 1)."""

    def feature_encoder_modules(self) -> "list[nn.Module]":
        """The conv feature encoder between the input and the transformer (never trained by fine-tuning)."""

    def feature_encoder_parameters(self) -> "list[nn.Parameter]":
        """Every parameter of :meth:`feature_encoder_modules`."""

    def freeze_feature_encoder(self, frozen: bool = True) -> None:
        """``requires_grad = not frozen`` on the feature encoder's parameters, and the model's own flag."""

    @property
    def feature_encoder_frozen(self) -> bool:
        """Whether the feature encoder is frozen (:meth:`freeze_feature_encoder`)."""

    def model_inputs(self, waveform: np.ndarray) -> "dict[str, torch.Tensor]":
        """The module's keyword inputs for one waveform, as the model's feature extractor builds them."""

    def batch_inputs(self, waveforms: "torch.Tensor", lengths: "torch.Tensor") -> "dict[str, torch.Tensor]":
        """The module's keyword inputs for a zero-padded (batch, n_samples) batch with (batch,) real lengths.

        Each row is prepared as the feature extractor prepares it alone (per-utterance
        normalisation over its real samples, attention mask where the model takes one; Whisper's
        log-mel); used for training.
        """

    def differentiable_inputs(self, waveforms: "torch.Tensor") -> "dict[str, torch.Tensor]":
        """The module's keyword inputs for equal-length (batch, n_samples) waveforms, built with torch ops
        so that gradients reach the waveforms (feature audiation)."""

    def check_local_attention(self) -> None:
        """Raise ConfigError unless the model's attention can take a local-attention band."""

    def install_local_attention(self, block: str, radius: int) -> Callable[[], None]:
        """Restrict block ``block``'s attention to ``|i - j| <= radius`` frames; returns the remover."""


def model_card(adapter: Any, weights_fingerprint: str | None) -> dict[str, Any]:
    """What a store records about the model an adapter runs (part of every adapter's ``describe()``).

    Returns
    -------
    dict
        ``family``, ``model_class``, ``parameter_count`` (every parameter of ``adapter.module``, the
        encoder layerprobe runs: Whisper's encoder without its decoder), ``num_layers``,
        ``layer_ids``, ``layer_frame_rates`` (layer id -> native frame rate in Hz, every layer) and
        ``weights_fingerprint`` (None when unknown).
    """
    return {
        "family": adapter.family,
        "model_class": type(adapter.module).__name__,
        "parameter_count": int(sum(parameter.numel() for parameter in adapter.module.parameters())),
        "num_layers": adapter.num_layers,
        "layer_ids": list(adapter.layer_ids),
        "layer_frame_rates": {layer: float(adapter.layer_frame_rate(layer)) for layer in adapter.layer_ids},
        "weights_fingerprint": weights_fingerprint,
    }


__all__ = ["LayerOutputs", "ModelAdapter", "model_card"]
