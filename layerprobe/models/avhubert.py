"""AV-HuBERT, audio only: ``avhubert:CHECKPOINT.pt`` without av_hubert or fairseq.

Front end (as the published layer-wise code and AV-HuBERT's ``hubert_dataset.load_feature``)
-------------------------------------------------------------------------------------------
* :func:`logfbank`: python_speech_features' ``logfbank`` (version 0.6), reproduced with numpy: 26 mel
  filters, 25 ms rectangular frames every 10 ms (the last one zero-padded), pre-emphasis 0.97,
  512-point FFT, power spectrum / 512, natural log (a zero energy becomes machine epsilon first).
* :func:`stack_frames`: ``stack_order_audio`` (4) consecutive frames concatenated, the last group
  zero-padded: 104 dims at 40 ms (25 Hz).
* When the task's ``normalize`` is set: ``F.layer_norm(feats, feats.shape[1:])`` on the
  (frames, 104) matrix, i.e. each frame standardised over its 104 values (no affine part).

For ``n`` samples the model has ``ceil(F / 4)`` frames, ``F = 1 + ceil((n - 400) / 160)`` filterbank
frames (1 when ``n <= 400``).

Network (:class:`AVHubertAudioModel`)
-------------------------------------
``feature_extractor_audio`` is a linear projection of the stacked filterbanks (AV-HuBERT's
``SubModel`` without a sub-encoder); the video features are zeros of the same shape, as the
published ``extract_finetune`` makes them for ``source={"video": None, ...}``; the two are fused
(``concat`` -> 2D, or ``add``), layer-normed, projected to D (``post_extract_proj``, concat only) and
run through a wav2vec 2.0 transformer encoder (transformers' ``Wav2Vec2EncoderStableLayerNorm`` when
``layer_norm_first``, else ``Wav2Vec2Encoder``; eager attention).

Layers: ``T0`` is the projected audio input (``features_audio``, before the fusion: the published
code's ``in_rep``), ``T1..TL`` the blocks' outputs (fairseq's layer results, before the final layer
norm of a pre-LN encoder).  Every layer is at 25 Hz.  The key map is
:mod:`modellib_addons.avhubert_keymap`.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from layerprobe.errors import ConfigError, PathLike
from layerprobe.models.stack_adapter import FrontEnd, StackAdapter, StackProvenance, config_digest, encoder_layer_outputs

#: fairseq model names of AV-HuBERT pre-training checkpoints.
AVHUBERT_NAMES = ("av_hubert",)

#: python_speech_features' defaults, which AV-HuBERT uses.
N_FILTERS, WINDOW_S, STEP_S, N_FFT, PREEMPHASIS = 26, 0.025, 0.01, 512, 0.97


# --------------------------------------------------------------------------------------------------
# Front end


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


@functools.lru_cache(maxsize=8)
def mel_filterbank(n_filters: int = N_FILTERS, n_fft: int = N_FFT, sample_rate: int = 16000) -> np.ndarray:
    """python_speech_features' triangular mel filters, shape (n_filters, n_fft // 2 + 1), float64."""
    high_mel = 2595 * np.log10(1 + (sample_rate / 2) / 700.0)
    mel_points = np.linspace(0.0, high_mel, n_filters + 2)
    bins = np.floor((n_fft + 1) * (700 * (10 ** (mel_points / 2595.0) - 1)) / sample_rate)
    bank = np.zeros((n_filters, n_fft // 2 + 1))
    for j in range(n_filters):
        for i in range(int(bins[j]), int(bins[j + 1])):
            bank[j, i] = (i - bins[j]) / (bins[j + 1] - bins[j])
        for i in range(int(bins[j + 1]), int(bins[j + 2])):
            bank[j, i] = (bins[j + 2] - i) / (bins[j + 2] - bins[j + 1])
    bank.setflags(write=False)
    return bank


def n_filterbank_frames(n_samples: int, *, sample_rate: int = 16000) -> int:
    """Frames :func:`logfbank` gives ``n_samples`` samples: 1 up to one window, else ``1 + ceil((n - 400) / 160)``."""
    frame_len, frame_step = _round_half_up(WINDOW_S * sample_rate), _round_half_up(STEP_S * sample_rate)
    if n_samples <= frame_len:
        return 1
    return 1 + int(math.ceil((1.0 * n_samples - frame_len) / frame_step))


def logfbank(signal: np.ndarray, *, sample_rate: int = 16000) -> np.ndarray:
    """Log mel filterbank energies as python_speech_features 0.6 ``logfbank(signal, samplerate)`` computes them.

    Parameters
    ----------
    signal : numpy.ndarray
        Shape (n_samples,), n_samples >= 1.
    sample_rate : int, keyword-only

    Returns
    -------
    numpy.ndarray
        Shape (n_frames, 26), float64 (:func:`n_filterbank_frames` frames).
    """
    signal = np.asarray(signal, dtype=np.float64)
    emphasized = np.append(signal[0], signal[1:] - PREEMPHASIS * signal[:-1])
    frame_len, frame_step = _round_half_up(WINDOW_S * sample_rate), _round_half_up(STEP_S * sample_rate)
    n_frames = n_filterbank_frames(signal.size, sample_rate=sample_rate)
    padded = np.concatenate([emphasized, np.zeros((n_frames - 1) * frame_step + frame_len - emphasized.size)])
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_len)[::frame_step][:n_frames]
    power = np.square(np.absolute(np.fft.rfft(frames, N_FFT))) / N_FFT
    energies = power @ mel_filterbank(N_FILTERS, N_FFT, sample_rate).T
    energies = np.where(energies == 0, np.finfo(float).eps, energies)
    return np.log(energies)


def stack_frames(features: np.ndarray, stack_order: int) -> np.ndarray:
    """``stack_order`` consecutive frames side by side, the last group padded with zero frames.

    (T, F) -> (ceil(T / stack_order), stack_order * F), as AV-HuBERT's ``stacker``.
    """
    n_frames, dims = features.shape
    remainder = (-n_frames) % stack_order
    if remainder:
        features = np.concatenate([features, np.zeros((remainder, dims), dtype=features.dtype)], axis=0)
    return features.reshape(-1, stack_order * dims)


def audio_features(waveform: np.ndarray, *, stack_order: int, normalize: bool, sample_rate: int = 16000) -> np.ndarray:
    """AV-HuBERT's audio input for one waveform: (ceil(F / stack_order), 26 * stack_order) float32.

    :func:`logfbank` as float32, :func:`stack_frames`, and with ``normalize`` each frame
    standardised over its values (``F.layer_norm(x, x.shape[1:])``, eps 1e-5).
    """
    stacked = stack_frames(logfbank(waveform, sample_rate=sample_rate).astype(np.float32), stack_order)
    features = torch.from_numpy(stacked)
    if normalize:
        features = nn.functional.layer_norm(features, features.shape[1:])
    return features.numpy()


def n_model_frames(n_samples: int, *, stack_order: int) -> int:
    """Model frames of ``n_samples`` samples: ``ceil(F / stack_order)`` filterbank frames F."""
    return -(-n_filterbank_frames(n_samples) // stack_order) if n_samples >= 1 else 0


# --------------------------------------------------------------------------------------------------
# Network


class FusionProjection(nn.Module):
    """AV-HuBERT's ``layer_norm`` over the fused features and ``post_extract_proj`` (identity for ``add``)."""

    def __init__(self, fused_dim: int, hidden_size: int, eps: float):
        super().__init__()
        self.layer_norm = nn.LayerNorm(fused_dim, eps=eps)
        self.projection = nn.Linear(fused_dim, hidden_size) if fused_dim != hidden_size else nn.Identity()

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        return self.projection(self.layer_norm(fused))


class AVHubertAudioModel(nn.Module):
    """The audio path of AV-HuBERT: stacked filterbanks (batch, frames, F) -> hidden states T0..TL.

    Parameters
    ----------
    config : transformers.Wav2Vec2Config
        The encoder's configuration (:func:`layerprobe.models.fairseq.transformers_config`).
    audio_feat_dim : int
        Input dims (26 x stack order).
    modality_fuse : {"concat", "add"}
    """

    def __init__(self, config: Any, *, audio_feat_dim: int, modality_fuse: str):
        super().__init__()
        from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2Encoder, Wav2Vec2EncoderStableLayerNorm

        self.config = config  # the encoder's transformers configuration (read by code shared with hf models)
        hidden = int(config.hidden_size)
        self.modality_fuse = modality_fuse
        self.audio_projection = nn.Linear(audio_feat_dim, hidden)
        fused = 2 * hidden if modality_fuse == "concat" else hidden
        self.feature_projection = FusionProjection(fused, hidden, float(config.layer_norm_eps))
        encoder_class = Wav2Vec2EncoderStableLayerNorm if config.do_stable_layer_norm else Wav2Vec2Encoder
        self.encoder = encoder_class(config)

    def front_modules(self) -> list[nn.Module]:
        """The modules before the transformer: the audio projection and the fusion."""
        return [self.audio_projection, self.feature_projection]

    def forward(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """(batch, frames, audio_feat_dim) -> [T0, T1, ..., TL], each (batch, frames, D)."""
        audio = self.audio_projection(inputs)
        video = torch.zeros_like(audio)  # audio only: the video front end's features are zeros
        fused = torch.cat([audio, video], dim=-1) if self.modality_fuse == "concat" else audio + video
        return [audio, *encoder_layer_outputs(self.encoder, self.feature_projection(fused))]


# --------------------------------------------------------------------------------------------------
# Loading


def _sections(checkpoint: Mapping[str, Any], path: Path) -> tuple[dict, dict]:
    config = checkpoint.get("cfg") or checkpoint.get("args")
    if not isinstance(config, Mapping):
        raise ConfigError("not an AV-HuBERT checkpoint: it has neither 'cfg' nor 'args'", path=path)
    if isinstance(config.get("model"), Mapping):
        task = config.get("task")
        return dict(config["model"]), dict(task) if isinstance(task, Mapping) else {}
    return dict(config), dict(config)


def avhubert_settings(checkpoint: Mapping[str, Any], path: Path) -> tuple[dict, dict]:
    """(model configuration, front-end settings) of an AV-HuBERT checkpoint, checked.

    Raises
    ------
    ConfigError
        For another model, an audio sub-encoder, a fusion other than concat / add, or an input
        dimension that is not 26 x ``stack_order_audio``.
    """
    model_cfg, task_cfg = _sections(checkpoint, path)
    name = model_cfg.get("_name") or model_cfg.get("arch")
    if name not in AVHUBERT_NAMES:
        raise ConfigError(
            f"model {name!r} is not an AV-HuBERT pre-training checkpoint (supported: {', '.join(AVHUBERT_NAMES)}; "
            "wav2vec 2.0 and HuBERT checkpoints load with fairseq:)",
            path=path,
        )
    stack_order = int(task_cfg.get("stack_order_audio") or 1)
    feat_dim = int(model_cfg.get("audio_feat_dim") or -1)
    fuse = str(model_cfg.get("modality_fuse") or "concat")
    if int(model_cfg.get("sub_encoder_layers") or 0) > 0:
        raise ConfigError(f"sub_encoder_layers={model_cfg['sub_encoder_layers']}: an audio sub-encoder is not supported", path=path)
    if fuse not in ("concat", "add"):
        raise ConfigError(f"modality_fuse={fuse!r} is not supported (concat, add)", path=path)
    if feat_dim != N_FILTERS * stack_order:
        raise ConfigError(
            f"audio_feat_dim={feat_dim} is not {N_FILTERS} filterbanks x stack_order_audio={stack_order}", path=path
        )
    front = {
        "front_end": "python_speech_features.logfbank",
        "n_filters": N_FILTERS,
        "stack_order_audio": stack_order,
        "normalize": bool(task_cfg.get("normalize", False)),
        "audio_feat_dim": feat_dim,
        "modality_fuse": fuse,
        "frame_rate_hz": 100.0 / stack_order,
    }
    return model_cfg, front


def load_avhubert(path: PathLike, *, spec: str, device: torch.device) -> StackAdapter:
    """Load an AV-HuBERT pre-training checkpoint (audio only) as a :class:`StackAdapter`.

    Parameters
    ----------
    path : path-like
        The fairseq ``.pt`` checkpoint (read with fairseq.py's safe unpickler and allow-list).
    spec : str
        Reported as the adapter's spec (``avhubert:PATH``).
    device : torch.device

    Raises
    ------
    ConfigError
        A missing or unsafe file, an unsupported configuration, or weights that do not match it
        (one line naming the file).
    """
    from layerprobe.models.fairseq import _checkpoint_path, read_checkpoint, transformers_config
    from layerprobe.models.fingerprint import files_fingerprint
    from modellib_addons.avhubert_keymap import map_state_dict

    checkpoint_path = _checkpoint_path(path).resolve()
    checkpoint = read_checkpoint(checkpoint_path)
    try:
        model_cfg, front = avhubert_settings(checkpoint, checkpoint_path)
        config = transformers_config(model_cfg, "wav2vec2", path=checkpoint_path)
        config._attn_implementation = "eager"
        module = AVHubertAudioModel(config, audio_feat_dim=front["audio_feat_dim"], modality_fuse=front["modality_fuse"])
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RuntimeError) as exc:
        raise ConfigError(f"does not describe an AV-HuBERT model ({type(exc).__name__}: {exc})", path=checkpoint_path) from None
    load_mapped(module, map_state_dict(checkpoint["model"], _shapes(module)), checkpoint_path)
    stack_order, normalize = front["stack_order_audio"], front["normalize"]
    front_end = FrontEnd(
        prepare=functools.partial(audio_features, stack_order=stack_order, normalize=normalize),
        n_frames=functools.partial(n_model_frames, stack_order=stack_order),
        frame_rate_hz=front["frame_rate_hz"],
        min_samples=1,
    )
    return StackAdapter(
        module, spec=spec, family="avhubert", front_end=front_end,
        provenance=StackProvenance(str(checkpoint_path), config_digest(model_cfg), front),
        hidden_size=config.hidden_size, num_attention_heads=config.num_attention_heads, device=device,
        weights_fingerprint=files_fingerprint([checkpoint_path]),
    )  # fmt: skip


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def load_mapped(module: nn.Module, result: Any, path: Path) -> None:
    """Load a key map's tensors into the module, or say in one line (naming the file) what is amiss."""
    from layerprobe.models.fairseq import _short_list

    if result.unexpected:
        raise ConfigError(f"parameters with no counterpart in layerprobe's module: {_short_list(result.unexpected)}", path=path)
    if result.mismatched:
        details = [f"{key} {got} vs {want}" for key, (got, want) in result.mismatched.items()]
        raise ConfigError(f"parameter shapes disagree with the configuration: {_short_list(details)}", path=path)
    if result.missing:
        raise ConfigError(f"checkpoint lacks parameters the configuration implies: {_short_list(result.missing)}", path=path)
    module.load_state_dict(result.tensors, strict=True)
    module.eval()


__all__ = [
    "AVHUBERT_NAMES",
    "AVHubertAudioModel",
    "FusionProjection",
    "audio_features",
    "avhubert_settings",
    "load_avhubert",
    "load_mapped",
    "logfbank",
    "mel_filterbank",
    "n_filterbank_frames",
    "n_model_frames",
    "stack_frames",
]
