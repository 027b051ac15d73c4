"""Model adapters: load a speech model from a spec and read every layer (see :mod:`.base`).

``load_model("hf:facebook/wav2vec2-base")`` / ``"tiny:wavlm"`` / ``"fairseq:ckpt.pt"`` returns a
:class:`ModelAdapter`.  torch and transformers are imported only when a model is loaded (or when
:class:`HFAdapter` or the tiny-model helpers are first accessed), so importing this package is cheap.
"""

from __future__ import annotations

from typing import Any

from layerprobe.models.base import LayerOutputs, ModelAdapter
from layerprobe.models.registry import SPEC_FORMS, load_model

_LAZY = {
    "HFAdapter": "layerprobe.models.hf",
    "ConvEncoderAdapter": "layerprobe.models.hf",
    "WhisperEncoderAdapter": "layerprobe.models.hf",
    "TINY_MODEL_NAMES": "layerprobe.models.tiny",
    "build_tiny_model": "layerprobe.models.tiny",
    "load_tiny_model": "layerprobe.models.tiny",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LayerOutputs", "ModelAdapter", "SPEC_FORMS", "load_model", *_LAZY]
