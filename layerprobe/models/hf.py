"""Adapters for transformers speech encoders: wav2vec 2.0 (incl. XLS-R), HuBERT, WavLM, data2vec-audio, Whisper.

:class:`HFAdapter` implements :class:`~layerprobe.models.base.ModelAdapter`.  Build one with
:meth:`HFAdapter.from_pretrained` (a local directory or a cached hub id) or
:meth:`HFAdapter.from_module` (an already-built transformers module, e.g. one a fairseq checkpoint
was loaded into); both return the subclass for the family, :class:`ConvEncoderAdapter` or
:class:`WhisperEncoderAdapter`.

Layers
------
* wav2vec 2.0 family: ``C1``..``C7`` are the outputs of ``feature_extractor.conv_layers[i]`` (after
  the block's norm and activation), shape (frames, conv_dim), captured with forward hooks that live
  for one call.  ``T0``..``TL`` are transformers' ``output_hidden_states``.  For models with stable
  layer norm (wav2vec 2.0 large / XLS-R, HuBERT and WavLM large) transformers 5 returns the last
  block's output *before* the encoder's final layer norm as ``TL`` (as fairseq's layer results do;
  transformers 4 returned it after the norm).
* Whisper: ``C1`` = gelu(conv1(log-mel)) at 100 Hz, ``C2`` = gelu(conv2(C1)) at 50 Hz; ``T0`` is the
  input of the first block (convolutions plus positional embedding), ``T1``..``TL`` the blocks, the
  last one after the encoder's final layer norm (transformers' ``output_hidden_states``).

Input features follow the model's own ``preprocessor_config.json`` when it has one
(``Wav2Vec2FeatureExtractor``: zero-mean unit-variance normalisation per utterance when
``do_normalize``; ``WhisperFeatureExtractor``: log-mel padded to 30 s).  Without one, wav2vec 2.0
family models normalise and return an attention mask exactly when their conv encoder uses layer norm
(``feat_extract_norm == "layer"``, always for data2vec-audio), as transformers' published configs do.

Whisper frames
--------------
Whisper's encoder always runs on 30 s (3000 mel frames); the outputs are cut to the real audio.  For
``n`` samples the real audio has ``M = n // hop_length`` mel frames (``n // 160``: the frames
``WhisperFeatureExtractor`` gives the unpadded waveform, whose centred STFT drops its last frame).
``C1`` keeps ``M`` frames; ``C2`` and every ``T`` layer keep ``ceil(M / 2)`` frames, the frames
conv2 (kernel 3, stride 2, padding 1) produces from ``M`` mel frames, i.e. the frames whose centre
mel frame ``2j`` lies in the real audio.  Attention maps are cut to (heads, T, T) with that T; their
rows then sum to less than 1 because the padding frames that Whisper attends to are dropped.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import re
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from layerprobe.devices import resolve_device
from layerprobe.errors import AudioError, ConfigError, LayerprobeError
from layerprobe.layers import CONTEXTUALIZED, LOCAL, parse_layer_id, parse_layers
from layerprobe.models.base import LayerOutputs
from modellib_addons import hf_attention

logger = logging.getLogger(__name__)

#: transformers ``model_type`` -> layerprobe family name.
SUPPORTED_MODEL_TYPES: dict[str, str] = {
    "wav2vec2": "wav2vec2",
    "hubert": "hubert",
    "wavlm": "wavlm",
    "data2vec-audio": "data2vec-audio",
    "whisper": "whisper",
}

#: The wav2vec 2.0 conv stack whose C layers have the published pooling onto the 10 ms grid.
STANDARD_CONV_KERNEL = (10, 3, 3, 3, 3, 2, 2)
STANDARD_CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)

#: (kernel, stride) that average-pool C1..C6 of the standard stack onto the 10 ms grid (REFERENCE.md 3).
STANDARD_LOCAL_POOLING: dict[str, tuple[int, int] | None] = {
    "C1": (79, 32),
    "C2": (39, 16),
    "C3": (19, 8),
    "C4": (9, 4),
    "C5": (4, 2),
    "C6": (2, 1),
    "C7": None,
}

SAMPLE_RATE = 16_000

#: Config keys that say nothing about the model itself and stay out of its digest.
_VOLATILE_CONFIG_KEYS = ("transformers_version", "_name_or_path", "_commit_hash")

#: preprocessor_config.json keys that name the class or follow from the other settings.
_DERIVED_SETTINGS = ("feature_extractor_type", "processor_class", "n_samples", "nb_max_frames")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


# --------------------------------------------------------------------------------------------
# Small helpers: devices, sources, configs, feature settings
# --------------------------------------------------------------------------------------------


def conv_output_length(n_samples: int, kernels: Sequence[int], strides: Sequence[int]) -> int:
    """Frames after a stack of unpadded 1-d convolutions (transformers' ``_get_feat_extract_output_lengths``).

    Each layer maps ``n`` to ``floor((n - kernel) / stride) + 1``; 0 once the input is shorter
    than a kernel.
    """
    length = int(n_samples)
    for kernel, stride in zip(kernels, strides):
        length = (length - kernel) // stride + 1 if length >= kernel else 0
    return length


def config_digest(config: Any) -> str:
    """SHA-256 of a transformers config as canonical JSON (without version and path keys)."""
    data = {key: value for key, value in config.to_dict().items() if key not in _VOLATILE_CONFIG_KEYS}
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def family_of_config(config: Any, *, where: str | os.PathLike[str] | None = None) -> str:
    """The layerprobe family of a transformers config.

    Raises
    ------
    ConfigError
        When the config is not one of the supported speech encoders.
    """
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ConfigError(
            f"model type {model_type!r} is not a supported speech encoder "
            f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})",
            path=where,
        )
    return SUPPORTED_MODEL_TYPES[model_type]


def default_feature_settings(config: Any) -> dict[str, Any]:
    """Feature extractor settings for a model without ``preprocessor_config.json``.

    wav2vec 2.0 family: normalise and return an attention mask when the conv encoder uses layer
    norm (data2vec-audio always does), not for group-norm models such as wav2vec 2.0 base.
    Whisper: ``WhisperFeatureExtractor`` defaults with the model's number of mel bins.
    """
    if family_of_config(config) == "whisper":
        return {"feature_extractor_type": "WhisperFeatureExtractor", "feature_size": config.num_mel_bins}
    layer_norm = getattr(config, "feat_extract_norm", "layer") == "layer"
    return {
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1,
        "sampling_rate": SAMPLE_RATE,
        "padding_value": 0.0,
        "do_normalize": layer_norm,
        "return_attention_mask": layer_norm,
    }


def make_feature_extractor(family: str, settings: Mapping[str, Any]) -> Any:
    """A transformers feature extractor built from ``preprocessor_config.json``-style settings.

    Raises
    ------
    ConfigError
        When the settings are not for 16 kHz audio.
    """
    extractor_class = _feature_extractor_class(family)
    known, _ = split_feature_settings(family, settings)
    extractor = extractor_class(**known)
    if extractor.sampling_rate != SAMPLE_RATE:
        raise ConfigError(f"the feature extractor expects {extractor.sampling_rate} Hz audio; layerprobe feeds 16 kHz")
    return extractor


def _feature_extractor_class(family: str) -> type:
    from transformers import Wav2Vec2FeatureExtractor, WhisperFeatureExtractor

    return WhisperFeatureExtractor if family == "whisper" else Wav2Vec2FeatureExtractor


def split_feature_settings(family: str, settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(settings the family's feature extractor takes, everything else).

    The rest (e.g. the checkpoint details a fairseq reader adds) is kept as provenance.
    """
    accepted = set(inspect.signature(_feature_extractor_class(family).__init__).parameters) - {"self", "kwargs"}
    accepted.add("padding_side")
    known = {key: value for key, value in settings.items() if key in accepted}
    rest = {key: value for key, value in settings.items() if key not in accepted and key not in _DERIVED_SETTINGS}
    return known, rest


def _json_settings(extractor: Any) -> dict[str, Any]:
    """The feature extractor's settings as JSON values (Whisper's mel filter bank left out)."""
    data = extractor.to_dict()
    return {key: value for key, value in data.items() if isinstance(value, (bool, int, float, str, type(None)))}


def _classify_source(source: str | os.PathLike[str]) -> tuple[str, str]:
    """``("dir", path)`` for a local model directory, ``("hub", id)`` for a hub id.

    Raises
    ------
    ConfigError
        For a path that is a file or does not exist.
    """
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_dir():
        return "dir", str(path)
    if path.exists():
        raise ConfigError("is a file; hf: takes a model directory (with config.json) or a hub id", path=text)
    if not _HUB_ID.match(text) or text.startswith((".", "~")):
        raise ConfigError("no such model directory", path=text)
    return "hub", text


def _hub_offline() -> bool:
    """Whether the Hugging Face hub is switched to offline mode (``HF_HUB_OFFLINE=1``)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _not_downloadable(source: str, cause: BaseException | None) -> LayerprobeError:
    reason = f" ({' '.join(str(cause).split())[:200]})" if cause is not None else ""
    return ConfigError(
        f"hf:{source} is not in the local Hugging Face cache and cannot be downloaded here{reason}; "
        "download it where there is network access, or pass a local directory (hf:/path/to/model)"
    )


def _from_hub_or_dir(loader, source: str, kind: str, *, revision: str | None, local_files_only: bool | None):
    """Call ``loader(source, revision=..., local_files_only=...)``: the cache first, then the network.

    A hub id is tried in the local cache first, and downloaded only when that fails and neither
    ``local_files_only`` nor hub offline mode forbids it.
    """
    if kind == "dir":
        return loader(source, revision=revision, local_files_only=True)
    try:
        return loader(source, revision=revision, local_files_only=True)
    except OSError as exc:
        offline = _hub_offline() if local_files_only is None else local_files_only
        if offline:
            raise _not_downloadable(source, None) from exc
    try:
        return loader(source, revision=revision, local_files_only=False)
    except OSError as exc:
        raise _not_downloadable(source, exc) from exc


def _read_preprocessor_config(
    source: str, kind: str, *, revision: str | None, local_files_only: bool | None = None
) -> dict[str, Any] | None:
    """The model's ``preprocessor_config.json`` as a dict, or None when it has none.

    A hub id is looked up in the cache first, then (when downloads are allowed) on the hub.
    """
    if kind == "dir":
        path = Path(source) / "preprocessor_config.json"
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read preprocessor config ({exc})", path=path) from None
    from transformers.utils import cached_file

    offline = _hub_offline() if local_files_only is None else local_files_only
    resolved = None
    for cache_only in (True,) if offline else (True, False):
        resolved = cached_file(
            source,
            "preprocessor_config.json",
            revision=revision,
            local_files_only=cache_only,
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False,
        )
        if resolved is not None:
            break
    if resolved is None:
        return None
    return json.loads(Path(resolved).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------------------------


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


@dataclass
class _MapCapture:
    """How one call obtains attention maps: transformers' ``output_attentions`` or our recorder."""

    output_attentions: bool = False
    recorder: hf_attention.AttentionRecorder | None = None


class HFAdapter:
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
        self.num_layers = int(module.config.num_hidden_layers)
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
        settings = _read_preprocessor_config(location, kind, revision=revision, local_files_only=local_files_only)
        return cls.from_module(
            module,
            spec=spec,
            feature_settings=settings,
            feature_settings_source="preprocessor_config.json" if settings is not None else None,
            source=location,
            revision=revision,
            device=resolved_device,
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
        )
        adapter_class = WhisperEncoderAdapter if family == "whisper" else ConvEncoderAdapter
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

        Returns
        -------
        LayerOutputs
            ``hidden[layer]`` (frames, dim) float32 cut to the real audio; ``attention[block]`` and
            ``pre_softmax[block]`` (heads, T, T) when asked for (and not streamed).

        Raises
        ------
        AudioError
            For a waveform that is not 1-d finite audio, too short for one frame, or longer than
            :attr:`max_seconds`.
        """
        wave = self._checked_waveform(waveform)
        wanted = self._wanted_layers(layers)
        return self._run([wave], wanted, attention=attention, pre_softmax=pre_softmax, on_attention=on_attention)[0]

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

    def describe(self) -> dict[str, Any]:
        """Provenance: spec, family, source, revision, config digest, library versions, dtype, features."""
        import transformers

        provenance = self._provenance
        return {
            "spec": self.spec,
            "family": self.family,
            "model_class": type(self.module).__name__,
            "model_id": provenance.source,
            "revision": provenance.revision,
            "commit_hash": provenance.commit_hash,
            "config_sha256": provenance.config_sha256,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "dtype": "float32",
            "device": str(self.device),
            "num_layers": self.num_layers,
            "layer_ids": list(self.layer_ids),
            "frame_rate_hz": self.frame_rate_hz,
            "supports_batching": self.supports_batching,
            "attention_implementation": hf_attention.current_attention_implementation(self.module),
            "feature_settings": dict(provenance.feature_settings),
            "feature_settings_source": provenance.feature_settings_source,
            **provenance.extra,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spec={self.spec!r}, family={self.family!r}, layers={len(self.layer_ids)})"

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

    def attention_modules(self) -> dict[str, nn.Module]:
        """Block id (``T1``..``TL``) -> the block's self-attention module (for surgery and capture)."""
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

    # ---- the run ------------------------------------------------------------------------

    def _run(
        self,
        waves: Sequence[np.ndarray],
        wanted: Sequence[str],
        *,
        attention: bool = False,
        pre_softmax: bool = False,
        on_attention: Callable[[str, np.ndarray, bool], None] | None = None,
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
            sink = _map_sink(on_attention, self.n_frames(len(waves[0])))
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


class ConvEncoderAdapter(HFAdapter):
    """wav2vec 2.0, HuBERT, WavLM and data2vec-audio: a conv feature encoder on the waveform.

    ``supports_batching`` is True when the conv encoder uses layer norm and the feature extractor
    returns an attention mask, and the family is not data2vec-audio: its stacked positional
    convolutions (each followed by a layer norm) turn zero padding into non-zero values that reach
    the last real frames, so a padded batch differs from per-utterance runs.  Group-norm encoders
    (wav2vec 2.0 / HuBERT / WavLM base) normalise over time and must see unpadded audio.
    """

    def _conv_modules(self) -> list[nn.Module]:
        return list(self.module.feature_extractor.conv_layers)

    def _conv_frame_rates(self) -> list[float]:
        rates, rate = [], float(self.sample_rate)
        for stride in self.module.config.conv_stride:
            rate /= stride
            rates.append(rate)
        return rates

    def _conv_lengths(self, n_samples: int) -> list[int]:
        config = self.module.config
        return [
            conv_output_length(n_samples, config.conv_kernel[: i + 1], config.conv_stride[: i + 1])
            for i in range(len(config.conv_kernel))
        ]

    def _transformer_frame_rate(self) -> float:
        return self._conv_frame_rates()[-1]

    def _can_batch(self) -> bool:
        layer_norm = getattr(self.module.config, "feat_extract_norm", "layer") == "layer"
        masks = bool(getattr(self.feature_extractor, "return_attention_mask", False))
        return layer_norm and masks and self.family != "data2vec-audio"

    def local_pooling(self, layer_id: str) -> tuple[int, int] | None:
        """C1..C6 -> 79/32 .. 2/1 and C7 -> None for the standard 7-block stack; None otherwise.

        The published pooling is defined for kernels (10,3,3,3,3,2,2) and strides (5,2,2,2,2,2,2)
        only; for other stacks every C layer is kept at its native rate (None).  T layers: None.
        """
        layer = self._known_layer(layer_id)
        config = self.module.config
        standard = tuple(config.conv_kernel) == STANDARD_CONV_KERNEL and tuple(config.conv_stride) == STANDARD_CONV_STRIDE
        if layer[0] == CONTEXTUALIZED or not standard:
            return None
        return STANDARD_LOCAL_POOLING[layer]

    def n_frames(self, n_samples: int) -> int:
        """transformers' ``_get_feat_extract_output_lengths`` (without the adapter layers)."""
        config = self.module.config
        return conv_output_length(n_samples, config.conv_kernel, config.conv_stride)

    def attention_modules(self) -> dict[str, nn.Module]:
        return {f"{CONTEXTUALIZED}{i + 1}": layer.attention for i, layer in enumerate(self.module.encoder.layers)}

    def _run_front_end(self, inputs: Mapping[str, torch.Tensor]) -> None:
        self.module.feature_extractor(inputs["input_values"])

    def _model_inputs(self, waves: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        if len(waves) == 1:
            # One utterance needs no mask: the model sees exactly its samples.
            features = self.feature_extractor(waves[0], sampling_rate=self.sample_rate, return_tensors="pt")
            return {"input_values": features["input_values"]}
        features = self.feature_extractor(
            list(waves), sampling_rate=self.sample_rate, padding="longest", return_attention_mask=True, return_tensors="pt"
        )
        return {"input_values": features["input_values"], "attention_mask": features["attention_mask"]}

    def _differentiable_inputs(self, waveforms: torch.Tensor) -> dict[str, torch.Tensor]:
        # Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm: population variance, + 1e-7.
        if not getattr(self.feature_extractor, "do_normalize", False):
            return {"input_values": waveforms}
        mean = waveforms.mean(dim=1, keepdim=True)
        variance = waveforms.var(dim=1, unbiased=False, keepdim=True)
        return {"input_values": (waveforms - mean) / torch.sqrt(variance + 1e-7)}


class WhisperEncoderAdapter(HFAdapter):
    """The Whisper encoder: log-mel features padded to 30 s, two convolutions, L blocks.

    ``n_frames(n) = ceil((n // hop_length) / 2)`` (see the module docstring); outputs are cut to it.
    Batches need no mask: every item is padded to the same 30 s, alone or in a batch.
    """

    def __init__(self, module: nn.Module, **kwargs: Any):
        extractor = kwargs["feature_extractor"]
        self.hop_length = int(extractor.hop_length)
        self.max_seconds = extractor.n_samples / extractor.sampling_rate
        expected = module.config.max_source_positions * module.conv1.stride[0] * module.conv2.stride[0]
        if expected != extractor.nb_max_frames:
            raise ConfigError(
                f"{kwargs['spec']}: the encoder takes {expected} mel frames but the feature extractor "
                f"pads to {extractor.nb_max_frames}"
            )
        super().__init__(module, **kwargs)

    def _conv_modules(self) -> list[nn.Module]:
        return [self.module.conv1, self.module.conv2]

    def _conv_output(self, index: int, output: torch.Tensor) -> torch.Tensor:
        # The encoder applies the GELU functionally after each convolution.
        return nn.functional.gelu(output)

    def _conv_frame_rates(self) -> list[float]:
        mel_rate = self.sample_rate / self.hop_length
        return [mel_rate / self.module.conv1.stride[0], mel_rate / self.module.conv1.stride[0] / self.module.conv2.stride[0]]

    def _conv_lengths(self, n_samples: int) -> list[int]:
        lengths, length = [], n_samples // self.hop_length
        for conv in self._conv_modules():
            kernel, stride, padding = conv.kernel_size[0], conv.stride[0], conv.padding[0]
            length = (length + 2 * padding - kernel) // stride + 1 if length > 0 else 0
            lengths.append(length)
        return lengths

    def _transformer_frame_rate(self) -> float:
        return self._conv_frame_rates()[-1]

    def _can_batch(self) -> bool:
        return True

    def local_pooling(self, layer_id: str) -> tuple[int, int] | None:
        """None for every layer: C1 is already on the 10 ms grid, C2 and T layers at 50 Hz."""
        self._known_layer(layer_id)
        return None

    def n_frames(self, n_samples: int) -> int:
        """``ceil((n_samples // hop_length) / 2)``: conv2's frames of the real audio's mel frames."""
        return self._conv_lengths(n_samples)[-1]

    def attention_modules(self) -> dict[str, nn.Module]:
        return {f"{CONTEXTUALIZED}{i + 1}": layer.self_attn for i, layer in enumerate(self.module.layers)}

    def _run_front_end(self, inputs: Mapping[str, torch.Tensor]) -> None:
        self.module.conv2(nn.functional.gelu(self.module.conv1(inputs["input_features"])))

    def _model_inputs(self, waves: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        features = self.feature_extractor(list(waves), sampling_rate=self.sample_rate, return_tensors="pt")
        return {"input_features": features["input_features"].to(torch.float32)}

    def _differentiable_inputs(self, waveforms: torch.Tensor) -> dict[str, torch.Tensor]:
        # WhisperFeatureExtractor._torch_extract_fbank_features on the waveforms padded to 30 s; the
        # power is re**2 + im**2, not abs()**2 (|z| has no derivative at z = 0: the silent padding).
        extractor = self.feature_extractor
        padded = nn.functional.pad(waveforms, (0, int(extractor.n_samples) - waveforms.shape[1]))
        window = torch.hann_window(extractor.n_fft, device=waveforms.device)
        spectrum = torch.stft(padded, extractor.n_fft, extractor.hop_length, window=window, return_complex=True)
        power = torch.view_as_real(spectrum[..., :-1]).pow(2).sum(dim=-1)
        filters = torch.as_tensor(extractor.mel_filters, dtype=torch.float32, device=waveforms.device)
        log_spec = torch.clamp(filters.T @ power, min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        return {"input_features": (log_spec + 4.0) / 4.0}


# --------------------------------------------------------------------------------------------
# Loading and preparing modules
# --------------------------------------------------------------------------------------------


def model_classes() -> dict[str, type]:
    """layerprobe family -> the transformers class ``from_pretrained`` loads for it."""
    from transformers import Data2VecAudioModel, HubertModel, Wav2Vec2Model, WavLMModel, WhisperModel

    return {
        "wav2vec2": Wav2Vec2Model,
        "hubert": HubertModel,
        "wavlm": WavLMModel,
        "data2vec-audio": Data2VecAudioModel,
        "whisper": WhisperModel,
    }


def _config_validation_errors() -> tuple[type[BaseException], ...]:
    """huggingface_hub's StrictDataclassError where this version has it (config value validation)."""
    try:
        from huggingface_hub.errors import StrictDataclassError
    except ImportError:  # pragma: no cover - older huggingface_hub
        return ()
    return (StrictDataclassError,)


def _load_config(location: str, kind: str, *, revision: str | None, local_files_only: bool | None) -> Any:
    """The model's config via ``AutoConfig``.

    Raises
    ------
    ConfigError
        For a directory without a readable config.json, or a model type transformers does not know.
    """
    from transformers import AutoConfig

    def load(source: str, **kwargs: Any) -> Any:
        return AutoConfig.from_pretrained(source, **kwargs)

    try:
        return _from_hub_or_dir(load, location, kind, revision=revision, local_files_only=local_files_only)
    except LayerprobeError:
        raise
    except OSError as exc:
        raise ConfigError(f"no readable config.json ({' '.join(str(exc).split())[:200]})", path=location) from None
    except (ValueError, KeyError, TypeError, IndexError, *_config_validation_errors()) as exc:
        # TypeError, IndexError and huggingface_hub's StrictDataclassError: a config.json whose values
        # have the wrong types (a list where a number or a dtype name belongs ...).
        raise ConfigError(
            f"unsupported model config ({' '.join(str(exc).split())[:200]}); supported model types: "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}",
            path=location,
        ) from None


def _load_module(
    family: str, location: str, kind: str, *, revision: str | None, local_files_only: bool | None
) -> nn.Module:
    """The family's transformers model in float32, Whisper reduced to its encoder.

    Raises
    ------
    ConfigError
        When weights are missing from the checkpoint (they would be random).
    """
    model_class = model_classes()[family]

    def load(source: str, **kwargs: Any) -> Any:
        with quiet_progress_bars():
            return model_class.from_pretrained(source, dtype=torch.float32, output_loading_info=True, **kwargs)

    try:
        model, info = _from_hub_or_dir(load, location, kind, revision=revision, local_files_only=local_files_only)
    except LayerprobeError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"cannot load the model weights ({' '.join(str(exc).split())[:300]})", path=location) from None
    missing = sorted(_relevant_missing_keys(family, info.get("missing_keys", ())))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ConfigError(f"the checkpoint lacks weights the encoder needs: {shown}", path=location)
    return model.get_encoder() if family == "whisper" else model


def _relevant_missing_keys(family: str, missing: Sequence[str]) -> list[str]:
    """Missing weights that matter for feature extraction (not the decoder, not the mask embedding)."""
    if family == "whisper":
        return [key for key in missing if key.startswith("encoder.")]
    return [key for key in missing if key != "masked_spec_embed"]


def _speech_encoder(module: nn.Module) -> nn.Module:
    """The encoder module to run: the bare model (heads unwrapped), Whisper's encoder.

    Raises
    ------
    ConfigError
        When ``module`` is not a supported transformers speech model.
    """
    from transformers import WhisperModel
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    classes = model_classes()
    supported = tuple(cls for family, cls in classes.items() if family != "whisper")
    if isinstance(module, WhisperModel):
        return module.get_encoder()
    if isinstance(module, (WhisperEncoder, *supported)):
        return module
    base = getattr(module, "base_model", None)
    if base is not None and base is not module:
        return _speech_encoder(base)
    raise ConfigError(
        f"{type(module).__name__} is not a supported speech encoder (supported: Wav2Vec2Model, HubertModel, "
        "WavLMModel, Data2VecAudioModel, WhisperModel / WhisperEncoder)"
    )


def _prepare_for_inference(module: nn.Module, family: str, device: torch.device) -> None:
    """eval mode, layer drop 0, float32, on ``device``."""
    if family == "whisper":
        module.config.encoder_layerdrop = 0.0
        module.layerdrop = 0.0
    else:
        module.config.layerdrop = 0.0
    module.eval()
    module.to(device=device, dtype=torch.float32)


@contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Hide transformers' per-load progress bars ("Loading weights") for the block.

    layerprobe reports its own progress; a bar per model load clutters logs and test output.
    """
    from transformers.utils import logging as transformers_logging

    enabled = transformers_logging.is_progress_bar_enabled()
    if enabled:
        transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            transformers_logging.enable_progress_bar()


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


def _map_sink(on_attention: Callable[[str, np.ndarray, bool], None], frames: int) -> hf_attention.MapSink:
    """A recorder sink that cuts one item's (1, heads, T, T) maps like :func:`_cut_map`, as float16."""

    def sink(block: str, maps: torch.Tensor, logits: bool) -> None:
        # Through float32 exactly like the returned maps, then rounded once to the store's float16.
        with np.errstate(over="ignore"):
            half = _cut_map(maps[0], frames).astype(np.float16)
        on_attention(block, half, logits)

    return sink


__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "STANDARD_LOCAL_POOLING",
    "HFAdapter",
    "ConvEncoderAdapter",
    "WhisperEncoderAdapter",
    "resolve_device",
    "conv_output_length",
    "config_digest",
    "family_of_config",
    "default_feature_settings",
    "make_feature_extractor",
    "model_classes",
    "quiet_progress_bars",
]
