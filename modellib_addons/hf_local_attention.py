"""Local (banded) self-attention for transformers speech encoders, injected from the outside.

A band of radius ``r`` lets query frame ``i`` attend to key frame ``j`` only when ``|i - j| <= r``.
It reaches each family's attention through the mask the attention already takes, so the model's own
attention code does all the arithmetic and nothing of an installed package is edited.

Where the band goes in, and why there
-------------------------------------
* **wav2vec 2.0, HuBERT, data2vec-audio, Whisper.**  Their attention modules
  (``Wav2Vec2Attention`` and copies, ``WhisperAttention``) are called by their encoder layer with an
  ``attention_mask`` keyword and hand it unchanged to the attention function picked through
  ``ALL_ATTENTION_FUNCTIONS`` (``eager``, ``sdpa``, or layerprobe's capturing eager function).  A
  **forward pre-hook (with kwargs) on the block's attention module** replaces that keyword by the
  band combined with it.  This is the narrowest point that sees exactly one block: the mask the
  encoder builds (:func:`transformers.masking_utils.create_bidirectional_mask`) is shared by every
  block, and a wrapper registered with ``AttentionInterface`` would have to replace the
  implementation name of the whole model (which the adapter already switches per call for maps).
  The combined mask is always an *additive float* mask (0 inside the band, ``finfo(dtype).min``
  outside, the padding mask's own values kept inside the band), which eager attention adds to the
  logits and ``torch.nn.functional.scaled_dot_product_attention`` accepts as well.  A boolean sdpa
  mask (True = attend) is converted to that form first.  A float minimum rather than ``-inf`` keeps
  every row finite: a padded query frame whose band holds only padding still gets a (meaningless,
  later discarded) finite output instead of NaN.  Other implementations (flash attention, flex)
  take masks of other shapes and are refused with a clear error.
* **WavLM.**  ``WavLMAttention`` does not dispatch through the interface: it gates its relative
  position bias and passes it as ``attn_mask`` to ``torch.nn.functional.multi_head_attention_forward``
  inside its method ``torch_multi_head_self_attention(hidden_states, attention_mask,
  gated_position_bias)``; its ``attention_mask`` argument is a (batch, T) padding mask and cannot
  carry a band, and the ungated ``position_bias`` it takes is returned and reused by the next block,
  so it must not be touched either.  The band therefore goes into the **gated bias**: the instance
  gets its own ``torch_multi_head_self_attention`` attribute (shadowing the class method on that one
  object only; deleting the attribute restores it) that fills the gated bias with ``finfo.min``
  outside the band and calls the class method.  The padding mask still goes in as
  ``key_padding_mask`` and is merged by torch as before.  layerprobe's WavLM map hooks
  (``hf_attention.wavlm_head_logits``) recompute the logits from the module's inputs; they call
  :func:`edit_wavlm_gated_bias` so that the recorded maps show the band too.

* **SEW-D.**  DeBERTa's ``DisentangledSelfAttention`` does not dispatch through the interface either:
  it adds its disentangled position scores to the content scores and applies ``XSoftmax`` with the
  boolean padding mask it is given as its second positional argument ((batch, 1, 1, T), 1 = attend),
  which sets masked logits to ``finfo.min`` and their weights to exactly 0.  A **forward pre-hook on
  the module** replaces that mask by its (batch, 1, T, T) conjunction with the band, so the module's
  own code masks outside the band (and the maps it returns show it).

Every installation returns a remover; :func:`banded_modules` tells which modules currently carry a
band (one band per module: a second installation on the same module is refused).
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

import torch
from torch import nn

#: Attention implementations whose modules take a 4-d additive (or boolean) mask.
SUPPORTED_IMPLEMENTATIONS = ("eager", "sdpa", "layerprobe_capture_eager")

# attention module -> radius of its band (only while installed).
_BANDS: "weakref.WeakKeyDictionary[nn.Module, int]" = weakref.WeakKeyDictionary()


class BandInjectionError(RuntimeError):
    """The band cannot be put into this attention call (an unsupported implementation or mask)."""


def band_tensor(n_queries: int, n_keys: int, radius: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (n_queries, n_keys) mask, True where ``|i - j| <= radius``."""
    rows = torch.arange(n_queries, device=device)[:, None]
    cols = torch.arange(n_keys, device=device)[None, :]
    return (rows - cols).abs() <= radius


def combine_with_band(
    attention_mask: torch.Tensor | None,
    radius: int,
    *,
    n_queries: int,
    n_keys: int,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """An additive float mask: ``attention_mask`` inside the band, ``finfo(dtype).min`` outside.

    Parameters
    ----------
    attention_mask : torch.Tensor or None
        The mask the attention function would get: None, an additive float mask or a boolean mask
        (True = attend), broadcastable to (batch, heads, n_queries, n_keys).
    radius : int
        Key ``j`` stays allowed for query ``i`` iff ``|i - j| <= radius``.

    Returns
    -------
    torch.Tensor
        Shape (1, 1, n_queries, n_keys) for ``attention_mask`` None, else the mask's broadcast shape.
    """
    band = band_tensor(n_queries, n_keys, radius, device=device)
    minimum = torch.finfo(dtype).min
    if attention_mask is None:
        base = torch.zeros(1, 1, n_queries, n_keys, dtype=dtype, device=device)
    elif attention_mask.dtype == torch.bool:
        base = torch.zeros(attention_mask.shape, dtype=dtype, device=device).masked_fill(~attention_mask, minimum)
    elif attention_mask.is_floating_point():
        base = attention_mask.to(dtype)
    else:
        raise BandInjectionError(f"cannot combine a band with an attention mask of dtype {attention_mask.dtype}")
    if base.dim() != 4 or (base.shape[-2:] != (n_queries, n_keys) and base.shape[-2:] != (1, n_keys)):
        raise BandInjectionError(
            f"expected a 4-d attention mask ending in ({n_queries}, {n_keys}), got shape {tuple(base.shape)}"
        )
    if base.shape[-2] == 1:
        base = base.expand(*base.shape[:-2], n_queries, n_keys)
    return base.masked_fill(~band, minimum)


def banded_modules() -> dict[nn.Module, int]:
    """Attention modules that currently carry a band -> its radius."""
    return dict(_BANDS.items())


def band_radius(module: nn.Module) -> int | None:
    """The radius of the band installed on ``module``, or None."""
    return _BANDS.get(module)


def install_band(module: nn.Module, radius: int, *, family: str) -> Callable[[], None]:
    """Restrict one attention module to a band of ``radius`` frames; returns the remover.

    Parameters
    ----------
    module : torch.nn.Module
        A block's self-attention module (``Wav2Vec2Attention`` and copies, ``WhisperAttention``,
        ``WavLMAttention``, SEW-D's ``DisentangledSelfAttention``).
    radius : int
        Non-negative band radius in frames.
    family : str
        layerprobe family name; ``"wavlm"`` takes the gated-bias route, ``"sew-d"`` the boolean-mask one.

    Raises
    ------
    ValueError
        When ``module`` already carries a band.
    """
    if module in _BANDS:
        raise ValueError(f"{type(module).__name__} already has a band of radius {_BANDS[module]}")
    if family == "wavlm":
        remover = _install_wavlm(module, radius)
    elif family == "sew-d":
        remover = _install_boolean_mask_hook(module, radius)
    else:
        remover = _install_mask_hook(module, radius)
    _BANDS[module] = radius
    removed = False

    def remove() -> None:
        nonlocal removed
        if removed:
            return
        removed = True
        try:
            remover()
        finally:
            _BANDS.pop(module, None)

    return remove


def _install_mask_hook(module: nn.Module, radius: int) -> Callable[[], None]:
    """A forward pre-hook that puts the band into the ``attention_mask`` keyword."""

    def hook(mod: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        implementation = getattr(getattr(mod, "config", None), "_attn_implementation", None)
        if implementation not in SUPPORTED_IMPLEMENTATIONS:
            raise BandInjectionError(
                f"local attention needs one of the attention implementations {', '.join(SUPPORTED_IMPLEMENTATIONS)}; "
                f"the model runs {implementation!r}"
            )
        hidden_states = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
        if kwargs.get("key_value_states") is not None or (len(args) > 1 and args[1] is not None):
            raise BandInjectionError("local attention applies to self-attention only, not cross-attention")
        if len(args) > 2:  # (hidden_states, key_value_states, attention_mask, ...) passed by position
            raise BandInjectionError("the attention mask was passed by position; expected the attention_mask keyword")
        length = hidden_states.shape[1]
        kwargs = dict(kwargs)
        kwargs["attention_mask"] = combine_with_band(
            kwargs.get("attention_mask"),
            radius,
            n_queries=length,
            n_keys=length,
            dtype=hidden_states.dtype,
            device=hidden_states.device,
        )
        return args, kwargs

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    return handle.remove


def _install_boolean_mask_hook(module: nn.Module, radius: int) -> Callable[[], None]:
    """A forward pre-hook that ANDs the band into the boolean mask of a DeBERTa attention call (SEW-D)."""

    def hook(mod: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        hidden_states = args[0] if args else kwargs["hidden_states"]
        if kwargs.get("query_states") is not None:
            raise BandInjectionError("local attention applies to self-attention only, not to given query states")
        positional = len(args) > 1
        mask = args[1] if positional else kwargs.get("attention_mask")
        length = hidden_states.shape[1]
        band = band_tensor(length, length, radius, device=hidden_states.device)[None, None]
        if mask is None:
            combined = band
        else:
            allowed = mask.to(torch.bool)
            if allowed.dim() == 2:  # (batch, T)
                allowed = allowed[:, None, None, :]
            elif allowed.dim() == 3:  # (batch, T, T)
                allowed = allowed[:, None]
            if allowed.dim() != 4:
                raise BandInjectionError(f"expected a 2-, 3- or 4-d attention mask, got shape {tuple(mask.shape)}")
            combined = allowed & band
        if positional:
            return (args[0], combined, *args[2:]), kwargs
        return args, {**kwargs, "attention_mask": combined}

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    return handle.remove


_WAVLM_METHOD = "torch_multi_head_self_attention"


def _install_wavlm(module: nn.Module, radius: int) -> Callable[[], None]:
    """Shadow ``torch_multi_head_self_attention`` on this instance with a band-filling wrapper."""
    if _WAVLM_METHOD in vars(module):
        raise ValueError(f"{type(module).__name__}.{_WAVLM_METHOD} is already replaced on this module")
    original = getattr(type(module), _WAVLM_METHOD)

    def banded(hidden_states: torch.Tensor, attention_mask: Any, gated_position_bias: torch.Tensor):
        return original(module, hidden_states, attention_mask, edit_wavlm_gated_bias(module, gated_position_bias))

    setattr(module, _WAVLM_METHOD, banded)

    def remove() -> None:
        vars(module).pop(_WAVLM_METHOD, None)

    return remove


def edit_wavlm_gated_bias(module: nn.Module, gated_position_bias: torch.Tensor) -> torch.Tensor:
    """The gated relative position bias (batch * heads, T, T) of ``module`` with its band applied.

    Returned unchanged when ``module`` carries no band.
    """
    radius = _BANDS.get(module)
    if radius is None:
        return gated_position_bias
    n_queries, n_keys = gated_position_bias.shape[-2:]
    band = band_tensor(n_queries, n_keys, radius, device=gated_position_bias.device)
    return gated_position_bias.masked_fill(~band, torch.finfo(gated_position_bias.dtype).min)


__all__ = [
    "SUPPORTED_IMPLEMENTATIONS",
    "BandInjectionError",
    "band_tensor",
    "combine_with_band",
    "banded_modules",
    "band_radius",
    "install_band",
    "edit_wavlm_gated_bias",
]
