"""The adapter class of transformers speech encoders: construction, the protocol, checks.

:class:`HFAdapter` implements :class:`~layerprobe.models.base.ModelAdapter`; the family subclasses
live in :mod:`layerprobe.models.hf_families`, the run machinery in :mod:`layerprobe.models.hf_capture`
and the loading helpers in :mod:`layerprobe.models.hf_loading`.  See :mod:`layerprobe.models.hf`
for the layers and frames of each family.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from layerprobe.devices import resolve_device
from layerprobe.errors import AudioError, ConfigError
from layerprobe.layers import CONTEXTUALIZED, LOCAL, parse_layer_id, parse_layers
from layerprobe.models.base import LayerOutputs, model_card
from layerprobe.models.fingerprint import directory_fingerprint
from layerprobe.models.hf_capture import _LayerCapture
from layerprobe.models.hf_loading import (
    SAMPLE_RATE,
    _classify_source,
    _json_settings,
    _load_config,
    _load_module,
    _prepare_for_inference,
    _read_preprocessor_config,
    _speech_encoder,
    config_digest,
    default_feature_settings,
    family_of_config,
    make_feature_extractor,
    split_feature_settings,
)
from modellib_addons import hf_attention, hf_local_attention


@dataclass
class _Provenance:
    """Where a model came from, for :meth:`HFAdapter.describe`."""

    source: str | None
    revision: str | None
    commit_hash: str | None
    config_sha256: str
    feature_settings: dict[str, Any]
    feature_settings_source: str
    extra: dict[str, Any] = field(default_factory=dict)
    weights_fingerprint: str | None = None


class HFAdapter(_LayerCapture):
    """A transformers speech encoder seen through layer ids (the :class:`ModelAdapter` protocol).

    Build it with :meth:`from_pretrained` or :meth:`from_module`; they return the subclass for the
    family.  Attributes are those of :class:`~layerprobe.models.base.ModelAdapter`, plus
    ``device`` (torch.device), ``num_layers`` (L) and ``feature_extractor`` (the transformers
    feature extractor that prepares the input).
    """

    sample_rate: int = SAMPLE_RATE
    max_seconds: float | None = None

    def __init__(
        self,
        module: nn.Module,
        *,
        spec: str,
        family: str,
        feature_extractor: Any,
        provenance: _Provenance,
        device: torch.device,
    ):
        self.module = module
        self.spec = spec
        self.family = family
        self.feature_extractor = feature_extractor
        self.device = device
        self._provenance = provenance
        #: Content fingerprint of the weight files (:mod:`layerprobe.models.fingerprint`), None when unknown.
        self.weights_fingerprint = provenance.weights_fingerprint
        self.num_layers = int(module.config.num_hidden_layers)
        #: Heads per transformer block (a block's attention maps are (heads, T, T): the memory they need).
        self.num_attention_heads = int(module.config.num_attention_heads)
        conv_ids = tuple(f"{LOCAL}{i + 1}" for i in range(len(self._conv_modules())))
        self.layer_ids = conv_ids + tuple(f"{CONTEXTUALIZED}{i}" for i in range(self.num_layers + 1))
        self.frame_rate_hz = self._transformer_frame_rate()
        self.supports_batching = self._can_batch()

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike[str],
        *,
        spec: str | None = None,
        revision: str | None = None,
        device: str | torch.device = "cpu",
        local_files_only: bool | None = None,
    ) -> "HFAdapter":
        """Load a model from a local directory or a hub id with transformers' ``from_pretrained``.

        Parameters
        ----------
        source : str or path-like
            A directory with ``config.json`` and weights, or a hub id (``facebook/wav2vec2-base``).
        spec : str, optional
            The spec to report (``"hf:<source>"`` by default).
        revision : str, optional
            Hub revision (branch, tag or commit).
        device : str or torch.device
            ``"cpu"`` or ``"cuda[:N]"``.
        local_files_only : bool, optional
            Never download; by default a hub id missing from the cache is downloaded unless hub
            offline mode (``HF_HUB_OFFLINE=1``) is on.

        Raises
        ------
        ConfigError
            Missing directory, a config that is not a supported speech encoder, missing weights,
            or a hub id that is not cached and cannot be downloaded.
        """
        kind, location = _classify_source(source)
        spec = spec or f"hf:{os.fspath(source)}"
        resolved_device = resolve_device(device)
        config = _load_config(location, kind, revision=revision, local_files_only=local_files_only)
        family = family_of_config(config, where=location if kind == "dir" else None)
        module = _load_module(family, location, kind, revision=revision, local_files_only=local_files_only)
        settings = _read_preprocessor_config(
            location, kind, revision=revision, local_files_only=local_files_only, config=config
        )
        if kind == "dir":
            fingerprint = directory_fingerprint(location)
        else:
            commit = getattr(module.config, "_commit_hash", None)
            fingerprint = f"hub:{commit}" if commit else None
        return cls.from_module(
            module,
            spec=spec,
            feature_settings=settings,
            feature_settings_source="preprocessor_config.json" if settings is not None else None,
            source=location,
            revision=revision,
            device=resolved_device,
            weights_fingerprint=fingerprint,
        )

    @classmethod
    def from_module(
        cls,
        module: nn.Module,
        *,
        spec: str,
        feature_settings: Mapping[str, Any] | None = None,
        feature_settings_source: str | None = None,
        source: str | os.PathLike[str] | None = None,
        revision: str | None = None,
        device: str | torch.device = "cpu",
        weights_fingerprint: str | None = None,
    ) -> "HFAdapter":
        """Wrap an already-built transformers module.

        Parameters
        ----------
        module : torch.nn.Module
            ``Wav2Vec2Model``, ``HubertModel``, ``WavLMModel``, ``Data2VecAudioModel``,
            ``WhisperModel`` or ``WhisperEncoder`` (a model with a head, e.g. ``Wav2Vec2ForCTC``,
            is unwrapped to its ``base_model``).  It is put in eval mode, float32, layer drop 0.
        spec : str
            The spec to report (``"fairseq:/path/ckpt.pt"`` ...).
        feature_settings : mapping, optional
            Feature extractor settings shaped like ``preprocessor_config.json``
            (``do_normalize``, ``return_attention_mask``, ...); missing keys take the defaults of
            :func:`default_feature_settings`; keys the feature extractor does not take are kept
            in :meth:`describe` under ``source_details``.
        feature_settings_source : str, optional
            Where the settings came from, for :meth:`describe` (``"given"`` by default, or
            ``"defaults"`` when there are none).
        source, revision : optional
            Recorded in :meth:`describe`.
        weights_fingerprint : str, optional
            The content fingerprint of the files the weights came from
            (:mod:`layerprobe.models.fingerprint`), exposed as ``weights_fingerprint``.
        device : str or torch.device

        Raises
        ------
        ConfigError
            For a module of an unsupported class.
        """
        encoder = _speech_encoder(module)
        family = family_of_config(encoder.config)
        digest = config_digest(encoder.config)
        settings = default_feature_settings(encoder.config)
        if feature_settings is None:
            settings_source, details = "defaults", {}
        else:
            given, details = split_feature_settings(family, feature_settings)
            settings.update(given)
            settings_source = feature_settings_source or "given"
        extractor = make_feature_extractor(family, settings)
        resolved_device = resolve_device(device)
        _prepare_for_inference(encoder, family, resolved_device)
        provenance = _Provenance(
            source=os.fspath(source) if source is not None else None,
            revision=revision,
            commit_hash=getattr(encoder.config, "_commit_hash", None),
            config_sha256=digest,
            feature_settings=_json_settings(extractor),
            feature_settings_source=settings_source,
            extra={"source_details": details} if details else {},
            weights_fingerprint=weights_fingerprint,
        )
        from layerprobe.models.hf_families import ConvEncoderAdapter, LogMelConformerAdapter, WhisperEncoderAdapter

        adapter_class = {"whisper": WhisperEncoderAdapter, "wav2vec2-bert": LogMelConformerAdapter}.get(
            family, ConvEncoderAdapter
        )
        return adapter_class(
            encoder,
            spec=spec,
            family=family,
            feature_extractor=extractor,
            provenance=provenance,
            device=resolved_device,
        )

    # ---- the protocol -------------------------------------------------------------------

    def layer_frame_rate(self, layer_id: str) -> float:
        """Native frame rate of a layer in Hz (C1 runs at 3200 Hz in the wav2vec 2.0 stack)."""
        layer = self._known_layer(layer_id)
        if layer[0] == CONTEXTUALIZED:
            return self.frame_rate_hz
        return self._conv_frame_rates()[int(layer[1:]) - 1]

    def local_pooling(self, layer_id: str) -> tuple[int, int] | None:
        """(kernel, stride) that average-pools a C layer onto the 10 ms grid, or None to keep it."""
        raise NotImplementedError

    def n_frames(self, n_samples: int) -> int:
        """Transformer frames of ``n_samples`` samples of real audio (0 when too short)."""
        raise NotImplementedError

    def layer_dim(self, layer_id: str) -> int:
        """Feature dimension of a layer (conv channels for C layers, the model width for T layers)."""
        layer = self._known_layer(layer_id)
        if layer[0] == CONTEXTUALIZED:
            return int(self.module.config.hidden_size)
        conv = self._conv_modules()[int(layer[1:]) - 1]
        return int((conv if isinstance(conv, nn.Conv1d) else conv.conv).out_channels)

    def model_inputs(self, waveform: np.ndarray) -> dict[str, torch.Tensor]:
        """The module's keyword inputs for one waveform (normalised samples or Whisper log-mel), on its device."""
        return {name: tensor.to(self.device) for name, tensor in self._model_inputs([self._checked_waveform(waveform)]).items()}

    def differentiable_inputs(self, waveforms: torch.Tensor) -> dict[str, torch.Tensor]:
        """The module's keyword inputs built with torch ops, so that gradients reach the waveforms.

        The same features as :meth:`model_inputs` (to float rounding, ~1e-4), computed with
        differentiable torch operations on the waveforms' device: for the wav2vec 2.0 family the
        feature extractor's zero-mean unit-variance normalisation per item when its
        ``do_normalize`` is set (the samples unchanged otherwise); for Whisper the log-mel
        spectrogram of ``WhisperFeatureExtractor`` (n_fft 400, hop 160, Hann window, its mel
        filters, log10 of the power clamped at 1e-10, floored at the item's maximum - 8,
        ``(x + 4) / 4``) of the waveforms zero-padded to 30 s.  The feature extractor's dither is
        not applied (it is random; Whisper's published configs set it to 0).

        Parameters
        ----------
        waveforms : torch.Tensor, shape (batch, n_samples)
            16 kHz float waveforms of equal length (no padding mask is made).

        Returns
        -------
        dict of str to torch.Tensor
            ``{"input_values": (batch, n_samples)}`` or ``{"input_features": (batch, n_mels, 3000)}``,
            float32, attached to the waveforms' graph.

        Raises
        ------
        AudioError
            For a tensor that is not 2-d float, too short for one frame, or longer than
            :attr:`max_seconds`.
        """
        if not isinstance(waveforms, torch.Tensor) or waveforms.ndim != 2 or not waveforms.is_floating_point():
            shape = tuple(waveforms.shape) if isinstance(waveforms, torch.Tensor) else type(waveforms).__name__
            raise AudioError(f"{self.spec}: expected a float tensor of shape (batch, n_samples), got {shape}")
        n_samples = waveforms.shape[1]
        if self.max_seconds is not None and n_samples > round(self.max_seconds * self.sample_rate):
            raise AudioError(
                f"{self.spec}: audio of {n_samples / self.sample_rate:.2f} s is longer than the model's "
                f"{self.max_seconds:g} s input window"
            )
        if waveforms.shape[0] == 0 or self.n_frames(n_samples) == 0:
            raise AudioError(f"{self.spec}: {n_samples} samples are too short for one frame (or the batch is empty)")
        return self._differentiable_inputs(waveforms.to(torch.float32))

    def layer_n_frames(self, layer_id: str, n_samples: int) -> int:
        """Frames a layer has for ``n_samples`` samples of real audio."""
        layer = self._known_layer(layer_id)
        if layer[0] == CONTEXTUALIZED:
            return self.n_frames(n_samples)
        return self._conv_lengths(n_samples)[int(layer[1:]) - 1]

    def forward(
        self,
        waveform: np.ndarray,
        *,
        layers: Sequence[str] | str | None = None,
        attention: bool = False,
        pre_softmax: bool = False,
        on_attention: Callable[[str, np.ndarray, bool], None] | None = None,
        on_padding: Callable[[str, np.ndarray], None] | None = None,
    ) -> LayerOutputs:
        """Run the model on one waveform.

        Parameters
        ----------
        waveform : numpy.ndarray, shape (n_samples,)
            16 kHz mono audio.
        layers : sequence of str or str, optional
            Layer ids (or a spec such as ``"T0-T4"``) to return; all by default.
        attention : bool
            Add the post-softmax maps of every block (eager attention for this call only).
        pre_softmax : bool
            Add the attention logits before the softmax (scaled, masked) of every block.
        on_attention : callable, optional
            Stream the maps instead of returning them: ``on_attention(block, values, logits)`` is
            called as soon as a block has computed its maps (``logits`` False, when ``attention``)
            and its logits (``logits`` True, when ``pre_softmax``), blocks in order, ``values`` a
            float16 (heads, T, T) numpy array cut to the real audio.  The returned ``attention`` and
            ``pre_softmax`` are empty then, so at most one block's maps are in memory at a time.
        on_padding : callable, optional
            With ``on_attention``: ``on_padding(block, mass)`` gets each block's padding mass, a
            float32 (heads, T) array (see ``attention_padding`` below), just before its maps.

        Returns
        -------
        LayerOutputs
            ``hidden[layer]`` (frames, dim) float32 cut to the real audio; ``attention[block]`` and
            ``pre_softmax[block]`` (heads, T, T) when asked for (and not streamed); the maps are cut
            to the real frames without renormalising, and ``attention_padding[block]`` (heads, T)
            holds the mass each real query sent past them (Whisper's 30 s padding; 0 elsewhere).

        Raises
        ------
        AudioError
            For a waveform that is not 1-d finite audio, too short for one frame, or longer than
            :attr:`max_seconds`.
        """
        wave = self._checked_waveform(waveform)
        wanted = self._wanted_layers(layers)
        return self._run(
            [wave], wanted, attention=attention, pre_softmax=pre_softmax, on_attention=on_attention, on_padding=on_padding
        )[0]

    def forward_batch(
        self, waveforms: Sequence[np.ndarray], *, layers: Sequence[str] | str | None = None
    ) -> list[LayerOutputs]:
        """Run several waveforms: one padded batch with an attention mask where supported, else one by one.

        Each item gets what :meth:`forward` gives it alone (to float rounding).
        """
        waves = [self._checked_waveform(waveform) for waveform in waveforms]
        wanted = self._wanted_layers(layers)
        if not waves:
            return []
        if not self.supports_batching or len(waves) == 1:
            return [self._run([wave], wanted)[0] for wave in waves]
        return self._run(waves, wanted)

    def model_card(self) -> dict[str, Any]:
        """What a store records about the model (:func:`layerprobe.models.base.model_card`; part of :meth:`describe`)."""
        return model_card(self, self._provenance.weights_fingerprint)

    def describe(self) -> dict[str, Any]:
        """Provenance: spec, the model card (:meth:`model_card`), source, revision, config digest, library
        versions, dtype, features.  Every store keeps it as ``config.model``."""
        import transformers

        provenance = self._provenance
        return {
            "spec": self.spec,
            **self.model_card(),
            "model_id": provenance.source,
            "revision": provenance.revision,
            "commit_hash": provenance.commit_hash,
            "config_sha256": provenance.config_sha256,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "dtype": "float32",
            "device": str(self.device),
            "frame_rate_hz": self.frame_rate_hz,
            "supports_batching": self.supports_batching,
            "attention_implementation": hf_attention.current_attention_implementation(self.module),
            "feature_settings": dict(provenance.feature_settings),
            "feature_settings_source": provenance.feature_settings_source,
            **provenance.extra,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spec={self.spec!r}, family={self.family!r}, layers={len(self.layer_ids)})"

    # ---- the model's parts, for training, audiation and surgery ------------------------

    def transformer_blocks(self) -> dict[str, nn.Module]:
        """The transformer blocks of the encoder, in order.

        Returns
        -------
        dict of str to torch.nn.Module
            Block id (``T1``..``TL``) -> the block module (``encoder.layers[i]`` of the wav2vec 2.0
            family, ``layers[i]`` of Whisper's encoder).  Block ``Tk``'s output is hidden state
            ``Tk`` (for ``TL`` before the encoder's final layer norm where the family applies one
            after the blocks); its input is hidden state ``T(k-1)``.
        """
        return {f"{CONTEXTUALIZED}{i + 1}": block for i, block in enumerate(self._block_modules())}

    def conv_blocks(self) -> dict[str, nn.Module]:
        """The modules whose outputs give the C layers, in order.

        Returns
        -------
        dict of str to torch.nn.Module
            Layer id (``C1``..``Cn``) -> module (``feature_extractor.conv_layers[i]``; Whisper:
            ``conv1``, ``conv2``).  A module's output becomes the layer through
            :meth:`conv_layer_output`.
        """
        return {f"{LOCAL}{i + 1}": module for i, module in enumerate(self._conv_modules())}

    def conv_layer_output(self, layer_id: str, output: torch.Tensor) -> torch.Tensor:
        """A C layer from the output of its module in :meth:`conv_blocks`.

        Parameters
        ----------
        layer_id : str
            ``C1``..``Cn``.
        output : torch.Tensor, shape (batch, channels, frames)
            What the module returned.

        Returns
        -------
        torch.Tensor, shape (batch, channels, frames)
            The layer (Whisper applies its GELU here; the wav2vec 2.0 family's blocks end with
            their activation, so the output is the layer).
        """
        return self._conv_output(int(self._known_layer(layer_id)[1:]) - 1, output)

    def checked_hidden_states(self, output: Any) -> tuple[torch.Tensor, ...]:
        """The hidden states ``T0..TL`` of a module output run with ``output_hidden_states=True``.

        Parameters
        ----------
        output : transformers model output
            ``adapter.module(**inputs, output_hidden_states=True)``.

        Returns
        -------
        tuple of torch.Tensor
            L + 1 tensors of shape (batch, frames, dim).

        Raises
        ------
        LayerprobeError
            When the model returned another number of hidden states (a block skipped or removed).
        """
        return self._checked_hidden_states(output)

    def feature_encoder_modules(self) -> list[nn.Module]:
        """The conv feature encoder: the modules between the waveform (or log-mel) and the transformer.

        Returns
        -------
        list of torch.nn.Module
            ``[feature_extractor]`` for the wav2vec 2.0 family; ``[conv1, conv2]`` for Whisper.
            Fine-tuning never trains them (:meth:`freeze_feature_encoder`).
        """
        raise NotImplementedError

    def feature_encoder_parameters(self) -> list[nn.Parameter]:
        """Every parameter of :meth:`feature_encoder_modules`, in module order."""
        return [parameter for module in self.feature_encoder_modules() for parameter in module.parameters()]

    def freeze_feature_encoder(self, frozen: bool = True) -> None:
        """Stop (or restart) training of the conv feature encoder.

        Sets ``requires_grad`` of every :meth:`feature_encoder_parameters` to ``not frozen`` and,
        where transformers has one, the feature encoder's own gradient flag (the flag of
        ``freeze_feature_encoder()``, which also keeps the encoder from making its input require a
        gradient in training mode).

        Parameters
        ----------
        frozen : bool
            True to freeze, False to make the feature encoder trainable again.
        """
        for parameter in self.feature_encoder_parameters():
            parameter.requires_grad_(not frozen)

    @property
    def feature_encoder_frozen(self) -> bool:
        """Whether the conv feature encoder is frozen (:meth:`freeze_feature_encoder`).

        transformers' gradient flag where the family has one, else whether no feature encoder
        parameter requires a gradient.
        """
        return not any(parameter.requires_grad for parameter in self.feature_encoder_parameters())

    def batch_inputs(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """The module's keyword inputs for a zero-padded batch of waveforms (training, batched scoring).

        Built as the feature extractor builds them for each waveform alone: for the wav2vec 2.0
        family each row is normalised to zero mean and unit variance over its own real samples
        (population variance, + 1e-7, as ``Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm``) when
        ``do_normalize`` is set, padding stays 0, and an attention mask is added when the extractor
        returns one (layer-norm models; group-norm models such as wav2vec 2.0 base see zero padding
        without a mask, as in their published fine-tuning); this path is differentiable.  For Whisper
        each row's real samples go through the feature extractor (log-mel of 30 s, on the CPU; not
        differentiable: use :meth:`differentiable_inputs` for gradients).

        Parameters
        ----------
        waveforms : torch.Tensor, shape (batch, n_samples)
            16 kHz float waveforms, zero-padded.
        lengths : torch.Tensor, shape (batch,)
            Real samples per row.

        Returns
        -------
        dict of str to torch.Tensor
            ``input_values`` (batch, n_samples) [+ ``attention_mask`` (batch, n_samples)], or
            Whisper's ``input_features`` (batch, n_mels, 3000), on the waveforms' device.

        Raises
        ------
        AudioError
            For an utterance longer than :attr:`max_seconds`.
        """
        raise NotImplementedError

    def check_local_attention(self) -> None:
        """Raise unless the model's attention can take a local-attention band.

        Raises
        ------
        ConfigError
            When the attention implementation takes no 4-d mask (flash attention, flex).
        """
        if self.family in ("wavlm", "sew-d"):
            return  # their own attention code (WavLM's, DeBERTa's), whatever the configured implementation
        implementation = getattr(self.module.config, "_attn_implementation", None)
        if implementation is not None and implementation not in hf_local_attention.SUPPORTED_IMPLEMENTATIONS:
            raise ConfigError(f"local attention needs eager or sdpa attention; {self.spec} runs {implementation!r}")

    def install_local_attention(self, block: str, radius: int) -> Callable[[], None]:
        """Restrict one block's self-attention to keys within ``radius`` frames of each query.

        How the band reaches the family's attention is :mod:`modellib_addons.hf_local_attention`'s
        (the attention mask, WavLM's gated position bias, SEW-D's boolean mask).

        Parameters
        ----------
        block : str
            A block id of :meth:`transformer_blocks` (``T1``..``TL``).
        radius : int
            Non-negative band radius in frames.

        Returns
        -------
        callable
            Takes the band off again (restores the block exactly).
        """
        self.check_local_attention()
        return hf_local_attention.install_band(self.attention_modules()[block], radius, family=self.family)

    # ---- family specifics (overridden) --------------------------------------------------

    def _conv_modules(self) -> list[nn.Module]:
        """The modules whose outputs are C1..Cn."""
        raise NotImplementedError

    def _conv_output(self, index: int, output: torch.Tensor) -> torch.Tensor:
        """C layer ``index`` (0-based) from its module's output, shape (batch, channels, frames)."""
        return output

    def _conv_frame_rates(self) -> list[float]:
        raise NotImplementedError

    def _conv_lengths(self, n_samples: int) -> list[int]:
        """Frames of C1..Cn for ``n_samples`` samples of real audio."""
        raise NotImplementedError

    def _transformer_frame_rate(self) -> float:
        raise NotImplementedError

    def _can_batch(self) -> bool:
        raise NotImplementedError

    @property
    def supports_pre_softmax(self) -> bool:
        """Whether :meth:`forward` can return attention logits (``pre_softmax``): all families but SEW-D,
        whose DeBERTa attention computes them inside its own module."""
        return self.family != "sew-d"

    @property
    def attention_maps_implementation(self) -> str:
        """How :meth:`forward` computes attention maps, whatever :meth:`describe`'s ``attention_implementation``.

        ``"eager"``: transformers' eager attention (or :mod:`modellib_addons.hf_attention`'s capturing
        copy of it, the same operations) for the call only, the model's own implementation (often
        ``sdpa``) restored after; ``"wavlm-hooks"``: WavLM's own attention, per-head maps from hooks;
        ``"sew-d-hooks"``: SEW-D's own disentangled attention, its returned maps taken by hooks.
        """
        return {"wavlm": "wavlm-hooks", "sew-d": "sew-d-hooks"}.get(self.family, "eager")

    def attention_modules(self) -> dict[str, nn.Module]:
        """Block id (``T1``..``TL``) -> the block's self-attention module (for surgery and capture)."""
        raise NotImplementedError

    def _block_modules(self) -> Sequence[nn.Module]:
        """The transformer blocks, in order (:meth:`transformer_blocks`)."""
        raise NotImplementedError

    def _model_inputs(self, waves: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        """Keyword arguments for the module for these waveforms (features, padding, mask)."""
        raise NotImplementedError

    def _differentiable_inputs(self, waveforms: torch.Tensor) -> dict[str, torch.Tensor]:
        """:meth:`_model_inputs` with torch ops on a (batch, n_samples) tensor of equal-length waveforms."""
        raise NotImplementedError

    def _run_front_end(self, inputs: Mapping[str, torch.Tensor]) -> None:
        """Run only the modules that produce C1..Cn (their hooks capture the outputs)."""
        raise NotImplementedError

    # ---- checks -------------------------------------------------------------------------

    def _known_layer(self, layer_id: str) -> str:
        layer = parse_layer_id(layer_id)
        if layer not in self.layer_ids:
            raise ConfigError(f"{self.spec} has no layer {layer_id} (it has {', '.join(self.layer_ids)})")
        return layer

    def _wanted_layers(self, layers: Sequence[str] | str | None) -> list[str]:
        if layers is None:
            return list(self.layer_ids)
        if isinstance(layers, str):
            return parse_layers(layers, self.layer_ids)
        return parse_layers(",".join(layers), self.layer_ids) if layers else []

    def _checked_waveform(self, waveform: np.ndarray) -> np.ndarray:
        """A 1-d finite float32 waveform the model can take.

        Raises
        ------
        AudioError
            For another shape, non-finite samples, audio too short for one frame or too long.
        """
        wave = np.asarray(waveform)
        if wave.ndim != 1 or wave.size == 0:
            raise AudioError(f"{self.spec}: expected a non-empty 1-d waveform, got shape {wave.shape}")
        if wave.dtype.kind != "f":
            raise AudioError(f"{self.spec}: expected float samples in [-1, 1], got dtype {wave.dtype}")
        wave = np.ascontiguousarray(wave, dtype=np.float32)
        if not np.isfinite(wave).all():
            raise AudioError(f"{self.spec}: the waveform holds NaN or infinite samples")
        if self.max_seconds is not None and wave.size > round(self.max_seconds * self.sample_rate):
            raise AudioError(
                f"{self.spec}: audio of {wave.size / self.sample_rate:.2f} s is longer than the model's "
                f"{self.max_seconds:g} s input window; cut it into shorter utterances"
            )
        if self.n_frames(wave.size) == 0:
            raise AudioError(f"{self.spec}: audio of {wave.size} samples is too short for one frame")
        return wave


__all__ = ["HFAdapter"]
