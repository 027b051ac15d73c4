"""Load fairseq wav2vec 2.0 and HuBERT checkpoints into transformers modules, without fairseq.

A fairseq checkpoint is a torch pickle: ``{"model": state_dict, "cfg": ..., "args": ..., ...}``, where
``cfg`` (hydra era) or ``args`` (legacy ``argparse.Namespace``) describe the model and the task.
:func:`load_fairseq_checkpoint` reads it safely, maps the configuration onto a transformers
``Wav2Vec2Config`` / ``HubertConfig``, renames the weights (:mod:`modellib_addons.fairseq_keymap`)
and returns the equivalent ``Wav2Vec2Model`` / ``HubertModel`` in eval mode, float32.

Safety.  Unpickling can run arbitrary code, so the file is read with ``torch.load(weights_only=True)``
and an explicit allow-list (:data:`ALLOWED_GLOBALS`): ``argparse.Namespace``, a few builtin types,
numeric numpy scalars, omegaconf's config containers and nodes, and fairseq's ``Dictionary`` (the
label dictionaries in the task state of HuBERT and fine-tuned checkpoints).  The omegaconf and
fairseq names are served by local stand-ins that only record their pickled state (neither package
is imported, nor needs to be installed); the configurations are then turned into plain dicts and
lists, and the task state is ignored.  Any other global
(``os.system``, ``builtins.eval``, a fairseq class ...) is refused with a :class:`ConfigError` that
names the file and the global; nothing is called.

Supported: pre-trained ``wav2vec2`` (base style: group norm in the first conv block, post-LN
transformer; large / XLS-R style: layer norm in every conv block, ``layer_norm_first``) and
``hubert``; fine-tuned ``wav2vec_ctc`` / ``hubert_ctc`` give their encoder (the CTC output layer is
dropped).  Everything else -- data2vec, conformer layers, quantized inputs, deep positional
convolutions -- is refused as an unsupported architecture, naming the file.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch

from layerprobe.errors import ConfigError, PathLike
from modellib_addons.fairseq_keymap import map_state_dict

if TYPE_CHECKING:
    from transformers import PretrainedConfig

#: fairseq model names (``cfg.model._name`` or legacy ``args.arch``) of pre-trained models -> family.
PRETRAINED_FAMILIES = {"wav2vec2": "wav2vec2", "hubert": "hubert"}

#: fairseq model names of fine-tuned CTC models; the family is that of the pre-trained ``w2v_args``.
FINE_TUNED_NAMES = ("wav2vec_ctc", "hubert_ctc")

#: The defaults of fairseq's ``Wav2Vec2Config`` / ``HubertConfig`` (identical for the fields used
#: here), for checkpoints whose configuration predates a field.
FAIRSEQ_DEFAULTS: dict[str, Any] = {
    "extractor_mode": "default",
    "encoder_layers": 12,
    "encoder_embed_dim": 768,
    "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12,
    "activation_fn": "gelu",
    "layer_type": "transformer",
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "activation_dropout": 0.0,
    "dropout_input": 0.0,
    "layer_norm_first": False,
    "conv_feature_layers": "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]",
    "conv_bias": False,
    "conv_pos": 128,
    "conv_pos_groups": 16,
    "conv_pos_batch_norm": False,
    "pos_conv_depth": 1,
    "quantize_input": False,
    "crop_seq_to_multiple": 1,
}

#: fairseq ``activation_fn`` -> transformers ``hidden_act`` computing the same function.
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_accurate": "gelu_accurate",
    "gelu_fast": "gelu_accurate",  # fairseq maps the deprecated gelu_fast to gelu_accurate
    "relu": "relu",
    "relu_squared": "relu2",
    "tanh": "tanh",
    "swish": "swish",
    "linear": "linear",
}

_EXTRACTOR_NORMS = {"default": "group", "layer_norm": "layer"}
_MAX_CONV_LAYERS = 64
_SAMPLE_RATE = 16000


# --------------------------------------------------------------------------------------------------
# Safe unpickling
# --------------------------------------------------------------------------------------------------


class _PickledState:
    """Stand-in for an allow-listed class: accepts any constructor arguments and records its state."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "_PickledState":
        instance = super().__new__(cls)
        instance.state = None
        return instance

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _DictConfigStandIn(_PickledState):
    """omegaconf ``DictConfig``: state ``{"_content": {key: node}, "_metadata": ..., "_parent": ...}``."""


class _ListConfigStandIn(_PickledState):
    """omegaconf ``ListConfig``: state ``{"_content": [node, ...], ...}``."""


class _ValueNodeStandIn(_PickledState):
    """omegaconf value node (``AnyNode``, ``IntegerNode`` ...): state ``{"_val": value, ...}``."""


class _InertStandIn(_PickledState):
    """omegaconf metadata, type tags (``typing.Any``) and fairseq's task state: kept, never read."""


def _empty_mapping(*_args: Any) -> dict:
    """Stand-in for ``collections.defaultdict`` (omegaconf's resolver cache): an empty dict, no factory."""
    return {}


def _numpy_scalar(dtype: np.dtype, data: bytes | None = None) -> Any:
    """Stand-in for numpy's scalar reconstructor, limited to numeric and boolean dtypes."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc" or not isinstance(data, bytes):
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype!r} is not on the allow-list")
    return np.frombuffer(data, dtype=dtype, count=1)[0].item()


def _numpy_dtype_classes() -> dict[str, type]:
    dtype_classes = {}
    for code in "?bhilqBHILQefdFD":
        dtype_class = type(np.dtype(code))
        dtype_classes[f"{dtype_class.__module__}.{dtype_class.__qualname__}"] = dtype_class
    return dtype_classes


_OMEGACONF_VALUE_NODES = ("AnyNode", "StringNode", "IntegerNode", "FloatNode", "BooleanNode", "BytesNode", "PathNode")

#: Every pickle global a checkpoint may name beyond torch's own tensor machinery, and what serves it.
ALLOWED_GLOBALS: dict[str, Any] = {
    "argparse.Namespace": argparse.Namespace,
    "builtins.dict": dict,
    "builtins.list": list,
    "builtins.tuple": tuple,
    "builtins.int": int,
    "builtins.float": float,
    "builtins.str": str,
    "builtins.bool": bool,
    "collections.defaultdict": _empty_mapping,
    "typing.Any": _InertStandIn,
    "omegaconf.dictconfig.DictConfig": _DictConfigStandIn,
    "omegaconf.listconfig.ListConfig": _ListConfigStandIn,
    "omegaconf.base.Metadata": _InertStandIn,
    "omegaconf.base.ContainerMetadata": _InertStandIn,
    **{f"omegaconf.nodes.{name}": _ValueNodeStandIn for name in _OMEGACONF_VALUE_NODES},
    # The task state of HuBERT and fine-tuned checkpoints holds the label dictionaries.
    "fairseq.data.dictionary.Dictionary": _InertStandIn,
    "numpy.core.multiarray.scalar": _numpy_scalar,
    "numpy._core.multiarray.scalar": _numpy_scalar,
    "numpy.dtype": np.dtype,
    **_numpy_dtype_classes(),
}


def _checkpoint_path(path: PathLike) -> Path:
    checkpoint = Path(os.fspath(path)).expanduser()
    if not checkpoint.exists():
        raise ConfigError("fairseq checkpoint not found", path=checkpoint)
    if not checkpoint.is_file():
        raise ConfigError("is not a file (expected a fairseq checkpoint .pt)", path=checkpoint)
    return checkpoint


def _refusal(path: Path, names: list[str]) -> ConfigError:
    listed = ", ".join(sorted(names))
    return ConfigError(
        f"refusing to unpickle {listed}: not on layerprobe's allow-list of harmless classes for model "
        "checkpoints; nothing was executed",
        path=path,
    )


def _refuse_unsafe_globals(path: Path) -> None:
    """List every disallowed global of a zip checkpoint up front (legacy files are checked while loading)."""
    if not zipfile.is_zipfile(path):
        return
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except (ValueError, RuntimeError, pickle.UnpicklingError, KeyError) as exc:
        raise ConfigError(f"cannot read as a torch checkpoint: {exc}", path=path) from exc
    refused = [name for name in unsafe if name not in ALLOWED_GLOBALS]
    if refused:
        raise _refusal(path, refused)


def _load_pickle(path: Path) -> Any:
    # (object, "module.name") pairs: each pickled name is served by the object beside it, so the
    # stand-ins answer for omegaconf and fairseq names without either package being imported.
    entries = [(served_by, name) for name, served_by in ALLOWED_GLOBALS.items()]
    # Memory-map zip checkpoints: optimizer state and pre-training heads are then never read.
    memory_map = zipfile.is_zipfile(path)
    try:
        with torch.serialization.safe_globals(entries):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=memory_map)
    except pickle.UnpicklingError as exc:
        named = re.findall(r"GLOBAL ([\w.]+)", str(exc))
        if named:
            raise _refusal(path, named[:1]) from exc
        detail = re.search(r"WeightsUnpickler error: (.*)", str(exc))
        reason = detail.group(1) if detail else _first_line(exc)
        problem = f"cannot read as a torch checkpoint (the safe unpickler stopped: {reason})"
        raise ConfigError(problem, path=path) from exc
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"cannot read as a torch checkpoint: {_first_line(exc)}", path=path) from exc
    except (IndexError, KeyError, TypeError, AttributeError) as exc:  # a malformed pickle stream (b"Q": pop from empty list)
        raise ConfigError(f"cannot read as a torch checkpoint (malformed pickle: {type(exc).__name__}: {_first_line(exc)})", path=path) from exc


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its class name when the message is empty (an empty file)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# --------------------------------------------------------------------------------------------------
# Plain configuration
# --------------------------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"^\$\{([A-Za-z_][\w.]*)\}$")
_MISSING = "???"


def _plain(value: Any) -> Any:
    """Turn stand-ins, namespaces and containers into dicts, lists and scalars."""
    if isinstance(value, _DictConfigStandIn):
        return _plain_container(value, dict)
    if isinstance(value, _ListConfigStandIn):
        return _plain_container(value, list)
    if isinstance(value, _ValueNodeStandIn):
        return _plain((value.state or {}).get("_val"))
    if isinstance(value, _PickledState):
        return None
    if isinstance(value, argparse.Namespace):
        return {key: _plain(item) for key, item in vars(value).items()}
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, str) and value == _MISSING:
        return None
    return value


def _plain_container(stand_in: _PickledState, kind: type) -> Any:
    content = (stand_in.state or {}).get("_content")
    if content is None or content == _MISSING:
        return None
    if isinstance(content, str):  # an interpolation of the whole container
        return content
    if kind is dict:
        return {key: _plain(item) for key, item in content.items()}
    return [_plain(item) for item in content]


def _lookup(tree: Any, dotted: str) -> Any:
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _resolve_interpolations(tree: Any, root: Any | None = None, depth: int = 0) -> Any:
    """Replace ``"${a.b}"`` strings (omegaconf interpolations left unresolved) by the value at ``a.b``."""
    root = tree if root is None else root
    if isinstance(tree, dict):
        return {key: _resolve_interpolations(item, root, depth) for key, item in tree.items()}
    if isinstance(tree, list):
        return [_resolve_interpolations(item, root, depth) for item in tree]
    if isinstance(tree, str) and depth < 8:
        match = _INTERPOLATION.match(tree)
        if match:
            return _resolve_interpolations(_lookup(root, match.group(1)), root, depth + 1)
    return tree


def read_checkpoint(path: PathLike) -> dict[str, Any]:
    """Read a fairseq checkpoint safely.

    Parameters
    ----------
    path : path-like
        The ``.pt`` file.

    Returns
    -------
    dict
        ``{"model": state dict, "cfg": dict or None, "args": dict or None}``; the configurations are
        plain nested dicts (omegaconf containers and ``argparse.Namespace`` converted, interpolations
        resolved).

    Raises
    ------
    ConfigError
        When the file is missing, unreadable, needs a global outside :data:`ALLOWED_GLOBALS`, or is
        not a dict with a ``model`` state dict.
    """
    checkpoint = _checkpoint_path(path)
    _refuse_unsafe_globals(checkpoint)
    content = _load_pickle(checkpoint)
    if not isinstance(content, Mapping) or not isinstance(content.get("model"), Mapping):
        raise ConfigError("unsupported architecture: not a fairseq checkpoint (no 'model' state dict)", path=checkpoint)
    checkpoint: dict[str, Any] = {"model": dict(content["model"])}
    for key in ("cfg", "args"):
        config = _plain(content.get(key))
        checkpoint[key] = _resolve_interpolations(config) if isinstance(config, dict) else None
    return checkpoint


# --------------------------------------------------------------------------------------------------
# Architecture
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FairseqArchitecture:
    """What a checkpoint holds, read from its configuration.

    Attributes
    ----------
    family : str
        ``"wav2vec2"`` or ``"hubert"``.
    name : str
        fairseq's model name (``"wav2vec2"``, ``"hubert"``, ``"wav2vec_ctc"``, ``"hubert_ctc"``).
    model_cfg : dict
        The pre-trained model's configuration (the ``w2v_args`` model of a fine-tuned checkpoint).
    normalize : bool
        Whether the model expects zero-mean unit-variance waveforms (the task's ``normalize``).
    sample_rate : int
        The task's sample rate.
    fine_tuned : bool
        Whether the checkpoint is a fine-tuned CTC model (its output layer is dropped).
    """

    family: str
    name: str
    model_cfg: dict
    normalize: bool
    sample_rate: int
    fine_tuned: bool


def _sections(config: Mapping[str, Any]) -> tuple[dict, dict]:
    """(model, task) sections of a hydra ``cfg``; a legacy flat ``args`` is both."""
    if isinstance(config.get("model"), Mapping):
        task = config.get("task")
        return dict(config["model"]), dict(task) if isinstance(task, Mapping) else {}
    return dict(config), dict(config)


def _model_name(model_cfg: Mapping[str, Any]) -> str | None:
    name = model_cfg.get("_name") or model_cfg.get("arch")
    return str(name) if name is not None else None


def _unsupported(name: str | None, path: PathLike | None, detail: str = "") -> ConfigError:
    supported = ", ".join([*PRETRAINED_FAMILIES, *FINE_TUNED_NAMES])
    reason = f" ({detail})" if detail else ""
    return ConfigError(f"unsupported architecture {name!r}{reason}; supported: {supported}", path=path)


def _first_defined(*values: Any, default: Any) -> Any:
    return next((value for value in values if value is not None), default)


def identify_architecture(checkpoint: Mapping[str, Any], path: PathLike | None = None) -> FairseqArchitecture:
    """Find the family, the pre-trained model configuration and the input settings of a checkpoint.

    Parameters
    ----------
    checkpoint : mapping
        As returned by :func:`read_checkpoint`.
    path : path-like, optional
        Named in error messages.

    Raises
    ------
    ConfigError
        ``unsupported architecture ...`` for anything but wav2vec2 / hubert and their CTC models.
    """
    config = checkpoint.get("cfg") or checkpoint.get("args")
    if not isinstance(config, Mapping):
        raise _unsupported(None, path, "the checkpoint has neither 'cfg' nor 'args'")
    model_cfg, task_cfg = _sections(config)
    name = _model_name(model_cfg)
    fine_tuned = name in FINE_TUNED_NAMES
    pretrained_cfg, pretrained_task = model_cfg, task_cfg
    if fine_tuned:
        w2v_args = model_cfg.get("w2v_args")
        if not isinstance(w2v_args, Mapping):
            raise _unsupported(name, path, "fine-tuned checkpoint without its pre-training configuration w2v_args")
        pretrained_cfg, pretrained_task = _sections(w2v_args)
    family = PRETRAINED_FAMILIES.get(_model_name(pretrained_cfg) or "")
    if family is None:
        raise _unsupported(_model_name(pretrained_cfg) if fine_tuned else name, path)
    normalize = _first_defined(
        task_cfg.get("normalize"), model_cfg.get("normalize"), pretrained_task.get("normalize"), default=False
    )
    sample_rate = _first_defined(task_cfg.get("sample_rate"), pretrained_task.get("sample_rate"), default=_SAMPLE_RATE)
    return FairseqArchitecture(
        family=family,
        name=name or family,
        model_cfg={**FAIRSEQ_DEFAULTS, **{k: v for k, v in pretrained_cfg.items() if v is not None}},
        normalize=bool(normalize),
        sample_rate=int(sample_rate),
        fine_tuned=fine_tuned,
    )


# --------------------------------------------------------------------------------------------------
# fairseq configuration -> transformers configuration
# --------------------------------------------------------------------------------------------------


def _literal(node: ast.AST) -> Any:
    """Evaluate the small expression language of ``conv_feature_layers``: lists, tuples, ints, + and *."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(element) for element in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        left, right = _literal(node.left), _literal(node.right)
        if isinstance(node.op, ast.Add) and isinstance(left, list) and isinstance(right, list):
            return _bounded(left + right)
        if isinstance(node.op, ast.Mult):
            sequence, count = (left, right) if isinstance(left, list) else (right, left)
            if isinstance(sequence, list) and type(count) is int and 0 <= count <= _MAX_CONV_LAYERS:
                return _bounded(sequence * count)
    raise ValueError(ast.dump(node))


def _bounded(layers: list) -> list:
    # Checked at every step so that nested repeats cannot build a huge list before the final check.
    if len(layers) > _MAX_CONV_LAYERS:
        raise ValueError(f"more than {_MAX_CONV_LAYERS} conv layers")
    return layers


def parse_conv_feature_layers(spec: str, path: PathLike | None = None) -> list[tuple[int, int, int]]:
    """Read fairseq's ``conv_feature_layers`` string without ``eval``.

    Parameters
    ----------
    spec : str
        E.g. ``"[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]"``.
    path : path-like, optional
        Named in error messages.

    Returns
    -------
    list of (dim, kernel, stride)

    Raises
    ------
    ConfigError
        When the string is anything but a list of positive (dim, kernel, stride) integer triples
        built with list literals, ``+`` and ``*``.
    """
    problem = f"conv_feature_layers {spec!r} is not a list of (dim, kernel, stride) triples"
    try:
        layers = _literal(ast.parse(str(spec).strip(), mode="eval").body)
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise ConfigError(problem, path=path) from exc
    if not isinstance(layers, list) or not 0 < len(layers) <= _MAX_CONV_LAYERS:
        raise ConfigError(problem, path=path)
    for layer in layers:
        if not (isinstance(layer, tuple) and len(layer) == 3 and all(type(v) is int and v > 0 for v in layer)):
            raise ConfigError(problem, path=path)
    return layers


def _check_supported(model_cfg: Mapping[str, Any], family: str, path: PathLike | None) -> None:
    name = _model_name(model_cfg) or family
    checks = (
        (model_cfg["layer_type"] == "transformer", f"layer_type={model_cfg['layer_type']!r}"),
        (int(model_cfg["pos_conv_depth"]) == 1, f"pos_conv_depth={model_cfg['pos_conv_depth']}"),
        (not model_cfg["quantize_input"], "quantize_input=True"),
        (int(model_cfg["crop_seq_to_multiple"]) == 1, f"crop_seq_to_multiple={model_cfg['crop_seq_to_multiple']}"),
        (family == "hubert" or not model_cfg["conv_pos_batch_norm"], "conv_pos_batch_norm=True"),
        (model_cfg["activation_fn"] in ACTIVATIONS, f"activation_fn={model_cfg['activation_fn']!r}"),
        (model_cfg["extractor_mode"] in _EXTRACTOR_NORMS, f"extractor_mode={model_cfg['extractor_mode']!r}"),
    )
    for supported, setting in checks:
        if not supported:
            raise _unsupported(name, path, f"{setting} has no transformers equivalent")
    if int(model_cfg["encoder_embed_dim"]) % int(model_cfg["encoder_attention_heads"]):
        raise ConfigError(
            f"encoder_embed_dim={model_cfg['encoder_embed_dim']} is not a multiple of "
            f"encoder_attention_heads={model_cfg['encoder_attention_heads']}",
            path=path,
        )


def transformers_config(
    model_cfg: Mapping[str, Any], family: str, *, path: PathLike | None = None
) -> "PretrainedConfig":
    """The transformers configuration of the network a fairseq model configuration describes.

    Parameters
    ----------
    model_cfg : mapping
        A fairseq ``Wav2Vec2Config`` / ``HubertConfig`` as a dict; missing fields take fairseq's
        defaults (:data:`FAIRSEQ_DEFAULTS`).
    family : {"wav2vec2", "hubert"}
    path : path-like, optional
        Named in error messages.

    Returns
    -------
    transformers.Wav2Vec2Config or transformers.HubertConfig
        Layer drop is 0 (every layer always runs); dropout rates are carried over, which matters
        only in training mode.

    Raises
    ------
    ConfigError
        For settings transformers cannot reproduce (conformer layers, deep or batch-norm positional
        convolution on wav2vec2, quantized inputs, cropping, unknown activations or extractor modes).
    """
    from transformers import HubertConfig, Wav2Vec2Config  # imported on use: slow to import

    if family not in PRETRAINED_FAMILIES.values():
        raise _unsupported(family, path)
    cfg = {**FAIRSEQ_DEFAULTS, **{k: v for k, v in model_cfg.items() if v is not None}}
    _check_supported(cfg, family, path)
    dims, kernels, strides = zip(*parse_conv_feature_layers(cfg["conv_feature_layers"], path))
    settings = dict(
        conv_dim=list(dims),
        conv_kernel=list(kernels),
        conv_stride=list(strides),
        num_feat_extract_layers=len(dims),
        conv_bias=bool(cfg["conv_bias"]),
        feat_extract_norm=_EXTRACTOR_NORMS[cfg["extractor_mode"]],
        feat_extract_activation="gelu",
        hidden_size=int(cfg["encoder_embed_dim"]),
        num_hidden_layers=int(cfg["encoder_layers"]),
        num_attention_heads=int(cfg["encoder_attention_heads"]),
        intermediate_size=int(cfg["encoder_ffn_embed_dim"]),
        hidden_act=ACTIVATIONS[cfg["activation_fn"]],
        num_conv_pos_embeddings=int(cfg["conv_pos"]),
        num_conv_pos_embedding_groups=int(cfg["conv_pos_groups"]),
        do_stable_layer_norm=bool(cfg["layer_norm_first"]),
        layer_norm_eps=1e-5,
        hidden_dropout=float(cfg["dropout"]),
        attention_dropout=float(cfg["attention_dropout"]),
        activation_dropout=float(cfg["activation_dropout"]),
        feat_proj_dropout=float(cfg["dropout_input"]),
        layerdrop=0.0,
    )
    if family == "hubert":
        return HubertConfig(**settings, feat_proj_layer_norm=True, conv_pos_batch_norm=bool(cfg["conv_pos_batch_norm"]))
    return Wav2Vec2Config(**settings)


# --------------------------------------------------------------------------------------------------
# Building the module
# --------------------------------------------------------------------------------------------------


def _empty_module(config: "PretrainedConfig") -> torch.nn.Module:
    """The transformers module with allocated, uninitialised weights (every one is overwritten)."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2Model

    model_class = HubertModel if isinstance(config, HubertConfig) else Wav2Vec2Model
    with torch.device("meta"):
        module = model_class(config)
    return module.to_empty(device="cpu")


def _short_list(keys: list[str], limit: int = 5) -> str:
    names = list(keys)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _load_weights(
    module: torch.nn.Module, state: Mapping[str, torch.Tensor], pos_conv_batch_norm: bool, path: Path
) -> None:
    """Fill every entry of the module's state dict from the fairseq state dict, or say what is amiss."""
    target = module.state_dict()
    persistent = set(target)
    unsaved = [name for name, _ in module.named_buffers() if name not in persistent]
    if unsaved:  # to_empty leaves them uninitialised and no checkpoint can fill them
        raise ConfigError(f"transformers module has buffers outside its state dict: {_short_list(unsaved)}", path=path)
    shapes = {key: tuple(value.shape) for key, value in target.items()}
    result = map_state_dict(state, shapes, pos_conv_batch_norm=pos_conv_batch_norm)
    if result.unexpected:
        raise ConfigError(f"parameters with no transformers counterpart: {_short_list(result.unexpected)}", path=path)
    if result.mismatched:
        details = [f"{key} {got} vs {want}" for key, (got, want) in result.mismatched.items()]
        raise ConfigError(f"parameter shapes disagree with the configuration: {_short_list(details)}", path=path)
    if result.missing:
        missing = _short_list(result.missing)
        raise ConfigError(f"checkpoint lacks parameters the configuration implies: {missing}", path=path)
    module.load_state_dict(result.tensors, strict=True)


def _config_digest(model_cfg: Mapping[str, Any]) -> str:
    canonical = json.dumps(model_cfg, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_fairseq_checkpoint(path: PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a fairseq wav2vec 2.0 / HuBERT checkpoint as the equivalent transformers module.

    Parameters
    ----------
    path : path-like
        A fairseq ``.pt`` checkpoint (pre-trained ``wav2vec2`` / ``hubert`` or fine-tuned
        ``wav2vec_ctc`` / ``hubert_ctc``).  fairseq need not be installed.

    Returns
    -------
    module : transformers.Wav2Vec2Model or transformers.HubertModel
        In eval mode, float32, with every parameter from the checkpoint.
    feature_settings : dict
        ``do_normalize`` (bool, the task's ``normalize``: waveforms are standardised per utterance),
        ``sampling_rate`` (16000), ``source`` (absolute path), ``family``, ``architecture`` (fairseq's
        model name), ``fine_tuned`` (bool) and ``config_digest`` (sha256 of the model configuration).

    Raises
    ------
    ConfigError
        When the file is missing or unsafe to unpickle, the architecture is unsupported, or the
        weights do not match the configuration; the message names the file.
    """
    checkpoint_path = _checkpoint_path(path).resolve()
    checkpoint = read_checkpoint(checkpoint_path)
    architecture = identify_architecture(checkpoint, checkpoint_path)
    if architecture.sample_rate != _SAMPLE_RATE:
        problem = f"model trained at {architecture.sample_rate} Hz; layerprobe feeds {_SAMPLE_RATE} Hz audio"
        raise ConfigError(problem, path=checkpoint_path)
    config = transformers_config(architecture.model_cfg, architecture.family, path=checkpoint_path)
    module = _empty_module(config)
    _load_weights(module, checkpoint["model"], bool(architecture.model_cfg["conv_pos_batch_norm"]), checkpoint_path)
    module = module.float().eval()
    settings = {
        "do_normalize": architecture.normalize,
        "sampling_rate": architecture.sample_rate,
        "source": str(checkpoint_path),
        "family": architecture.family,
        "architecture": architecture.name,
        "fine_tuned": architecture.fine_tuned,
        "config_digest": _config_digest(architecture.model_cfg),
    }
    return module, settings


__all__ = [
    "ACTIVATIONS",
    "ALLOWED_GLOBALS",
    "FAIRSEQ_DEFAULTS",
    "FINE_TUNED_NAMES",
    "PRETRAINED_FAMILIES",
    "FairseqArchitecture",
    "identify_architecture",
    "load_fairseq_checkpoint",
    "parse_conv_feature_layers",
    "read_checkpoint",
    "transformers_config",
]
