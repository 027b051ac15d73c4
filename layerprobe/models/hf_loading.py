"""Transformers speech encoders: family knowledge, configs, feature extractor settings, loading.

What :class:`~layerprobe.models.hf.HFAdapter` needs to know about a transformers checkpoint before it
wraps one: which ``model_type`` is which layerprobe family, the standard wav2vec 2.0 conv stack and
its pooling onto the 10 ms grid, the feature extractor a model without ``preprocessor_config.json``
gets, where a model comes from (local directory or hub id, cache first) and how its module is loaded
and prepared for inference.  Split out of :mod:`layerprobe.models.hf`, which re-exports the public
names.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import pickle
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch import nn

from layerprobe.errors import ConfigError, LayerprobeError

log = logging.getLogger(__name__)

#: transformers ``model_type`` -> layerprobe family name.
SUPPORTED_MODEL_TYPES: dict[str, str] = {
    "wav2vec2": "wav2vec2",
    "hubert": "hubert",
    "wavlm": "wavlm",
    "data2vec-audio": "data2vec-audio",
    "whisper": "whisper",
    "wav2vec2-conformer": "wav2vec2-conformer",
    "wav2vec2-bert": "wav2vec2-bert",
    "sew": "sew",
    "sew-d": "sew-d",
    "unispeech": "unispeech",
    "unispeech-sat": "unispeech-sat",
}

#: Families whose transformer runs on the pooled (squeezed) conv frames: SEW and SEW-D.
SQUEEZED_FAMILIES = ("sew", "sew-d")

#: The family without a conv feature encoder: w2v-BERT 2.0 reads stacked log-mel frames.
LOG_MEL_FAMILIES = ("wav2vec2-bert",)

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
    family = family_of_config(config)
    if family == "whisper":
        return {"feature_extractor_type": "WhisperFeatureExtractor", "feature_size": config.num_mel_bins}
    if family in LOG_MEL_FAMILIES:
        # w2v-BERT 2.0's published preprocessor_config.json: 80 Kaldi mel bins, 2 frames stacked (160 = the
        # model's feature_projection_input_dim), padding value 1 (masked), always an attention mask.
        n_mels = int(config.feature_projection_input_dim) // 2
        return {
            "feature_extractor_type": "SeamlessM4TFeatureExtractor",
            "feature_size": n_mels,
            "num_mel_bins": n_mels,
            "sampling_rate": SAMPLE_RATE,
            "padding_value": 1.0,
            "stride": 2,
            "return_attention_mask": True,
        }
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
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2FeatureExtractor, WhisperFeatureExtractor

    if family == "whisper":
        return WhisperFeatureExtractor
    return SeamlessM4TFeatureExtractor if family in LOG_MEL_FAMILIES else Wav2Vec2FeatureExtractor


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


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to the hub's endpoint opens within ``timeout_s``, with no retries.

    The connection goes to the HTTPS proxy instead where the environment names one for the hub's
    host (``HTTPS_PROXY``, ``NO_PROXY``), as the hub client would.  Checked before a download is
    tried, because the hub client retries an unreachable hub for about half a minute, logging every try.
    """
    import socket
    import urllib.parse
    import urllib.request

    from huggingface_hub import constants

    endpoint = urllib.parse.urlsplit(constants.ENDPOINT)
    host, port = endpoint.hostname, endpoint.port or (443 if endpoint.scheme == "https" else 80)
    if not host:
        return True  # not a URL we can check: let the hub client try
    proxy = urllib.request.getproxies().get(endpoint.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        parsed = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if not parsed.hostname:
            return True
        host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def _downloads_off(local_files_only: bool | None) -> str | None:
    """Why no download may be tried (offline mode, ``local_files_only``, an unreachable hub), or None."""
    if local_files_only:
        return "downloads are off (local_files_only=True)"
    if local_files_only is None and _hub_offline():
        return "the hub cannot be reached (offline mode: HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set)"
    if not _hub_reachable():
        return "the hub cannot be reached"
    return None


def _not_cached(source: str, revision: str | None, why: str) -> LayerprobeError:
    from huggingface_hub import constants

    download = f"hf download {source}" + (f" --revision {revision}" if revision else "")
    return ConfigError(
        f"not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and {why}; download it on a machine "
        f"with network ({download}) or give a local directory (hf:/path/to/model)",
        path=f"hf:{source}",
    )


def _not_downloadable(source: str, cause: BaseException) -> LayerprobeError:
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    reason = lines[0] if lines else type(cause).__name__
    return ConfigError(
        f"cannot be downloaded from the hub ({reason}); check the id and --revision, log in (hf auth login) for a "
        "private model, or give a local directory (hf:/path/to/model)",
        path=f"hf:{source}",
    )


def _from_hub_or_dir(loader, source: str, kind: str, *, revision: str | None, local_files_only: bool | None):
    """Call ``loader(source, revision=..., local_files_only=...)``: the cache first, then the network.

    A hub id is tried in the local cache first, and downloaded only when that fails, neither
    ``local_files_only`` nor hub offline mode forbids it and the hub can be reached (checked once,
    without retries: see :func:`_hub_reachable`).
    """
    if kind == "dir":
        return loader(source, revision=revision, local_files_only=True)
    try:
        return loader(source, revision=revision, local_files_only=True)
    except OSError as exc:
        why = _downloads_off(local_files_only)
        if why is not None:
            raise _not_cached(source, revision, why) from exc
    try:
        return loader(source, revision=revision, local_files_only=False)
    except OSError as exc:
        raise _not_downloadable(source, exc) from exc


def _warn_default_settings(source: str, kind: str, config: Any) -> None:
    """Warn, in one line, that a model without ``preprocessor_config.json`` gets assumed settings.

    Input normalisation matters: a model trained with ``do_normalize: true`` gives other features
    without it.  The settings used are recorded in every store's ``config.model.feature_settings``.
    """
    settings = default_feature_settings(config)
    shown = ", ".join(f"{key}={value}" for key, value in settings.items() if key != "feature_extractor_type")
    where = source if kind == "dir" else f"hf:{source}"
    log.warning(
        "%s: no preprocessor_config.json; assuming the %s settings %s (from config.json); if the model was trained "
        "with others, add its preprocessor_config.json",
        where, settings["feature_extractor_type"], shown,
    )


def _read_preprocessor_config(
    source: str, kind: str, *, revision: str | None, local_files_only: bool | None = None, config: Any = None
) -> dict[str, Any] | None:
    """The model's ``preprocessor_config.json`` as a dict, or None when it has none.

    A hub id is looked up in the cache first, then (when downloads are allowed) on the hub.  With
    ``config`` (the model's), a model without one gets a warning naming the settings assumed
    (:func:`default_feature_settings`).
    """
    if kind == "dir":
        path = Path(source) / "preprocessor_config.json"
        if not path.is_file():
            if config is not None:
                _warn_default_settings(source, kind, config)
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read preprocessor config ({exc})", path=path) from None
    from transformers.utils import cached_file

    resolved = None
    for cache_only in (True, False):
        if not cache_only and _downloads_off(local_files_only) is not None:
            break
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
        if config is not None:
            _warn_default_settings(source, kind, config)
        return None
    return json.loads(Path(resolved).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# Loading and preparing modules
# --------------------------------------------------------------------------------------------


def model_classes() -> dict[str, type]:
    """layerprobe family -> the transformers class ``from_pretrained`` loads for it."""
    import transformers

    names = {
        "wav2vec2": "Wav2Vec2Model",
        "hubert": "HubertModel",
        "wavlm": "WavLMModel",
        "data2vec-audio": "Data2VecAudioModel",
        "whisper": "WhisperModel",
        "wav2vec2-conformer": "Wav2Vec2ConformerModel",
        "wav2vec2-bert": "Wav2Vec2BertModel",
        "sew": "SEWModel",
        "sew-d": "SEWDModel",
        "unispeech": "UniSpeechModel",
        "unispeech-sat": "UniSpeechSatModel",
    }
    return {family: getattr(transformers, name) for family, name in names.items()}


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
    except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError, *_weight_file_errors()) as exc:
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        damaged = _damaged_safetensors(location) if kind == "dir" else None
        if damaged is not None:
            raise ConfigError(
                f"damaged weight file ({reason}); it may be an interrupted copy: copy or download it again",
                path=damaged,
            ) from None
        raise ConfigError(f"cannot load the model weights ({reason})", path=location) from None
    missing = sorted(_relevant_missing_keys(family, info.get("missing_keys", ())))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ConfigError(f"the checkpoint lacks weights the encoder needs: {shown}", path=location)
    return model.get_encoder() if family == "whisper" else model


def _weight_file_errors() -> tuple[type[BaseException], ...]:
    """safetensors' SafetensorError (a damaged ``*.safetensors`` file), where safetensors is installed."""
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - safetensors comes with transformers
        return ()
    return (SafetensorError,)


def _damaged_safetensors(directory: str) -> Path | None:
    """The first ``*.safetensors`` file directly in ``directory`` whose header or length is wrong, or None.

    A safetensors file is an 8-byte little-endian header length, a JSON header whose tensors give
    their byte ranges, then the data; a truncated copy has fewer bytes than the header describes.
    """
    for path in sorted(Path(directory).glob("*.safetensors")):
        try:
            with path.open("rb") as handle:
                size = path.stat().st_size
                head = handle.read(8)
                if len(head) < 8:
                    return path
                n_header = int.from_bytes(head, "little")
                if n_header > size - 8:
                    return path
                header = json.loads(handle.read(n_header).decode("utf-8"))
            if not isinstance(header, dict):
                return path
            ends = [
                int(entry["data_offsets"][1])
                for key, entry in header.items()
                if key != "__metadata__" and isinstance(entry, dict)
            ]
            if 8 + n_header + max(ends, default=0) != size:
                return path
        except (OSError, ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError):
            return path
    return None


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
        f"{type(module).__name__} is not a supported speech encoder (supported: "
        f"{', '.join(cls.__name__ for cls in supported)}, WhisperModel / WhisperEncoder)"
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


__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "STANDARD_CONV_KERNEL",
    "STANDARD_CONV_STRIDE",
    "STANDARD_LOCAL_POOLING",
    "SAMPLE_RATE",
    "SQUEEZED_FAMILIES",
    "LOG_MEL_FAMILIES",
    "conv_output_length",
    "config_digest",
    "family_of_config",
    "default_feature_settings",
    "make_feature_extractor",
    "split_feature_settings",
    "model_classes",
    "quiet_progress_bars",
]
