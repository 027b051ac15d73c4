"""FaST-VGS and FaST-VGS+ (visually grounded speech): ``fastvgs:FOLDER`` without their code or fairseq.

A FaST-VGS training folder holds ``args.pkl`` (a pickled ``argparse.Namespace``: the model's
options) and ``best_bundle.pth`` (``{"dual_encoder": state dict, ...}``).  The published layer-wise
code builds the audio branch's ``Wav2Vec2Model_cls`` from the args, loads the ``conv1_trm1_trm3``
part of the dual encoder into it and reads ``forward(..., features_only=True, superb=True)``'s hidden
states; :class:`FaSTVGSAudioModel` is that network, written with transformers' wav2vec 2.0 modules
(key map: :mod:`modellib_addons.fastvgs_keymap`).

Input: the waveform z-normalised per utterance, ``(x - mean(x)) / std(x)`` (population standard
deviation, no epsilon), as the published code's ``DataLoader.fastvgs``.

Network: the wav2vec 2.0 conv encoder, the layer norm and projection (``post_extract_proj``), a
learned CLS token prepended to the frames, then the post-LN transformer encoder (positional
convolution, layer norm, blocks); the CLS position is removed from every output.

Layers (all at 50 Hz, no C layers, as the published code reads none): ``T0`` is the projected conv
features before the positional convolution (the first of the published ``hidden_states``),
``T1..TL`` the blocks' outputs.  L is the number of blocks the dual encoder builds: all
``encoder_layers`` for FaST-VGS+ (trained with the wav2vec 2.0 loss: ``caption_w2v2_weight`` or
``libri_w2v2_weight`` set; 13 hidden states for the base model), ``layer_use + 1`` for FaST-VGS (the
``DualEncoder`` cuts the encoder there), so the layers are those the published code keeps
(``layer_use + 2`` hidden states).

Safety: ``args.pkl`` is read by an unpickler that builds only :data:`ALLOWED_ARGS_GLOBALS`
(``argparse.Namespace`` and plain builtin values); ``best_bundle.pth`` by ``torch.load(weights_only=True)``
with fairseq.py's allow-list.  Anything else is refused in one line naming the file and the global,
and nothing is called.
"""

from __future__ import annotations

import argparse
import builtins
import collections
import functools
import io
import os
import pickle
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from layerprobe.errors import AudioError, ConfigError, PathLike
from layerprobe.models.stack_adapter import FrontEnd, StackAdapter, StackProvenance, config_digest, encoder_layer_outputs

ARGS_FILE, BUNDLE_FILE, BUNDLE_KEY = "args.pkl", "best_bundle.pth", "dual_encoder"

#: Every global ``args.pkl`` may name, and what builds it.
ALLOWED_ARGS_GLOBALS: dict[tuple[str, str], Any] = {
    ("argparse", "Namespace"): argparse.Namespace,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("pathlib", "PosixPath"): Path,
    ("pathlib", "WindowsPath"): Path,
    **{
        ("builtins", name): getattr(builtins, name)
        for name in ("dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str", "bytes", "bool")
    },
}


class _ArgsUnpickler(pickle.Unpickler):
    """Builds only the allow-listed globals; any other is refused before anything is called."""

    def find_class(self, module: str, name: str) -> Any:
        served = ALLOWED_ARGS_GLOBALS.get((module, name))
        if served is None:
            raise pickle.UnpicklingError(f"GLOBAL {module}.{name}")
        return served


def read_args(path: PathLike) -> dict[str, Any]:
    """FaST-VGS's ``args.pkl`` as a dict, unpickled safely.

    Raises
    ------
    ConfigError
        A missing or unreadable file, a global outside :data:`ALLOWED_ARGS_GLOBALS` (named; nothing
        is executed), or content that is not an ``argparse.Namespace`` / dict.
    """
    args_path = Path(os.fspath(path))
    try:
        data = args_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read FaST-VGS args: {exc.strerror or exc}", path=args_path) from None
    try:
        content = _ArgsUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if text.startswith("GLOBAL "):
            raise ConfigError(
                f"refusing to unpickle {text[7:]}: not on layerprobe's allow-list of harmless classes for "
                "FaST-VGS args; nothing was executed",
                path=args_path,
            ) from None
        raise ConfigError(f"cannot read as a pickle: {text}", path=args_path) from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, MemoryError) as exc:
        raise ConfigError(f"cannot read as a pickle ({type(exc).__name__}: {exc})", path=args_path) from None
    if isinstance(content, argparse.Namespace):
        content = vars(content)
    if not isinstance(content, Mapping):
        raise ConfigError(f"holds a {type(content).__name__}, not FaST-VGS's argparse.Namespace", path=args_path)
    return dict(content)


def read_bundle(path: PathLike) -> dict[str, torch.Tensor]:
    """The ``dual_encoder`` state dict of ``best_bundle.pth``, loaded with torch's safe unpickler and an allow-list."""
    from layerprobe.models.fairseq import _load_pickle, _refuse_unsafe_globals

    bundle_path = Path(os.fspath(path))
    if not bundle_path.is_file():
        raise ConfigError("FaST-VGS bundle not found", path=bundle_path)
    _refuse_unsafe_globals(bundle_path)
    content = _load_pickle(bundle_path)
    state = content.get(BUNDLE_KEY) if isinstance(content, Mapping) else None
    if not isinstance(state, Mapping):
        raise ConfigError(f"has no {BUNDLE_KEY!r} state dict (not a FaST-VGS best_bundle.pth)", path=bundle_path)
    return dict(state)


# --------------------------------------------------------------------------------------------------
# Network


class FaSTVGSAudioModel(nn.Module):
    """FaST-VGS's ``conv1_trm1_trm3``: a waveform (batch, n_samples) -> hidden states T0..TL.

    Parameters
    ----------
    config : transformers.Wav2Vec2Config
        Post-LN encoder (``do_stable_layer_norm`` False).
    """

    #: Leading tokens before the frames (the CLS token): cut from attention maps.
    attention_offset = 1

    def __init__(self, config: Any):
        super().__init__()
        from transformers.models.wav2vec2.modeling_wav2vec2 import (
            Wav2Vec2Encoder,
            Wav2Vec2FeatureEncoder,
            Wav2Vec2FeatureProjection,
        )

        self.config = config  # the encoder's transformers configuration (read by code shared with hf models)
        self.feature_extractor = Wav2Vec2FeatureEncoder(config)
        self.feature_projection = Wav2Vec2FeatureProjection(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, int(config.hidden_size)))
        self.encoder = Wav2Vec2Encoder(config)

    def front_modules(self) -> list[nn.Module]:
        """The conv feature encoder and the projection."""
        return [self.feature_extractor, self.feature_projection]

    def forward(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """(batch, n_samples) -> [T0, T1, ..., TL], each (batch, frames, D) (the CLS position removed)."""
        features = self.feature_extractor(inputs).transpose(1, 2)
        projected, _ = self.feature_projection(features)
        with_cls = torch.cat([self.cls_token.expand(projected.shape[0], -1, -1), projected], dim=1)
        return [projected, *(output[:, 1:] for output in encoder_layer_outputs(self.encoder, with_cls))]


# --------------------------------------------------------------------------------------------------
# Loading


def z_normalize(waveform: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` per utterance (population std), float32; AudioError for a constant waveform."""
    wave = np.asarray(waveform, dtype=np.float64)
    std = float(np.std(wave))
    if not std > 0:
        raise AudioError("a constant waveform cannot be z-normalised for FaST-VGS (its standard deviation is 0)")
    return ((wave - wave.mean()) / std).astype(np.float32)


def is_plus(args: Mapping[str, Any]) -> bool:
    """FaST-VGS+ (trained with the wav2vec 2.0 loss on captions or LibriSpeech: every block kept)."""
    return args.get("caption_w2v2_weight") is not None or args.get("libri_w2v2_weight") is not None


def fastvgs_config(args: Mapping[str, Any], path: Path) -> tuple[dict, dict]:
    """(fairseq-style model configuration with the blocks the dual encoder builds, front-end settings).

    Raises
    ------
    ConfigError
        For a pre-LN encoder (the published ``superb`` read refuses it), quantized inputs, or a
        ``layer_use`` outside the encoder.
    """
    model_cfg = {key: value for key, value in args.items() if value is not None}
    if model_cfg.get("layer_norm_first"):
        raise ConfigError("layer_norm_first=True: the published FaST-VGS layer read (superb=True) takes post-LN encoders only", path=path)
    if model_cfg.get("quantize_input"):
        raise ConfigError("quantize_input=True is not supported", path=path)
    encoder_layers = int(model_cfg.get("encoder_layers", 12))
    layer_use = int(model_cfg.get("layer_use", encoder_layers - 1))
    if not 0 <= layer_use < encoder_layers:
        raise ConfigError(f"layer_use={layer_use} is outside the encoder's {encoder_layers} layers", path=path)
    plus = is_plus(model_cfg)
    model_cfg["encoder_layers"] = encoder_layers if plus else layer_use + 1
    front = {
        "do_normalize": True,
        "normalization": "z-score per utterance (population std, no epsilon)",
        "variant": "fast-vgs-plus" if plus else "fast-vgs",
        "layer_use": layer_use,
        "encoder_layers": model_cfg["encoder_layers"],
    }
    return model_cfg, front


def load_fastvgs(folder: PathLike, *, spec: str, device: torch.device) -> StackAdapter:
    """Load a FaST-VGS / FaST-VGS+ folder (``args.pkl`` + ``best_bundle.pth``) as a :class:`StackAdapter`.

    Raises
    ------
    ConfigError
        A missing folder or file, an unsafe pickle, an unsupported configuration or weights that
        do not match it (one line naming the file).
    """
    from layerprobe.models.avhubert import _shapes, load_mapped
    from layerprobe.models.fairseq import parse_conv_feature_layers, transformers_config
    from layerprobe.models.fingerprint import files_fingerprint
    from layerprobe.models.hf_loading import conv_output_length
    from modellib_addons.fastvgs_keymap import map_state_dict

    root = Path(os.fspath(folder)).expanduser()
    if not root.is_dir():
        raise ConfigError(f"not a folder (expected a FaST-VGS folder with {ARGS_FILE} and {BUNDLE_FILE})", path=root)
    root = root.resolve()
    args_path, bundle_path = root / ARGS_FILE, root / BUNDLE_FILE
    for required in (args_path, bundle_path):
        if not required.is_file():
            raise ConfigError(f"FaST-VGS folder lacks {required.name} (it needs {ARGS_FILE} and {BUNDLE_FILE})", path=root)
    try:
        model_cfg, front = fastvgs_config(read_args(args_path), args_path)
        config = transformers_config(model_cfg, "wav2vec2", path=args_path)
        config._attn_implementation = "eager"
        module = FaSTVGSAudioModel(config)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RuntimeError) as exc:
        raise ConfigError(f"does not describe a FaST-VGS model ({type(exc).__name__}: {exc})", path=args_path) from None
    load_mapped(module, map_state_dict(read_bundle(bundle_path), _shapes(module)), bundle_path)
    _, kernels, strides = zip(*parse_conv_feature_layers(config_conv_layers(model_cfg), args_path))
    front_end = FrontEnd(
        prepare=z_normalize,
        n_frames=functools.partial(conv_output_length, kernels=kernels, strides=strides),
        frame_rate_hz=16000.0 / float(np.prod(strides)),
        min_samples=1,
    )
    return StackAdapter(
        module, spec=spec, family="fastvgs", front_end=front_end,
        provenance=StackProvenance(str(root), config_digest(model_cfg), front),
        hidden_size=config.hidden_size, num_attention_heads=config.num_attention_heads, device=device,
        weights_fingerprint=files_fingerprint([args_path, bundle_path]),
    )  # fmt: skip


def config_conv_layers(model_cfg: Mapping[str, Any]) -> str:
    """The ``conv_feature_layers`` string (fairseq's default when absent)."""
    from layerprobe.models.fairseq import FAIRSEQ_DEFAULTS

    return str(model_cfg.get("conv_feature_layers") or FAIRSEQ_DEFAULTS["conv_feature_layers"])


__all__ = [
    "ALLOWED_ARGS_GLOBALS",
    "ARGS_FILE",
    "BUNDLE_FILE",
    "BUNDLE_KEY",
    "FaSTVGSAudioModel",
    "fastvgs_config",
    "is_plus",
    "load_fastvgs",
    "read_args",
    "read_bundle",
    "z_normalize",
]
