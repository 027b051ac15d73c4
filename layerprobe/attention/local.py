"""Local attention: restrict chosen transformer blocks to a band of frames around each query.

>>> handle = apply_local_attention(adapter, blocks="T2-T12", radius=30)   # doctest: +SKIP
>>> out = adapter.forward(wave, attention=True)                            # doctest: +SKIP
>>> handle.remove()                                                        # doctest: +SKIP

In a restricted block, query frame ``i`` may attend to key frame ``j`` only when ``|i - j| <= radius``
(the frames of the block's input sequence: for Whisper the whole 30 s window of 1500 frames).  The band
goes in through the attention mask: outside it the logits are ``finfo(float32).min`` (so the maps
are exactly 0 there), inside it the model's own padding mask still applies, so padded batches
(:meth:`~layerprobe.models.hf.HFAdapter.forward_batch`) keep their padding.  How the mask reaches
each family's attention is model knowledge: the adapter installs it
(:meth:`~layerprobe.models.hf.HFAdapter.install_local_attention`, through
:mod:`modellib_addons.hf_local_attention`).

Unlike the one-call hooks of :meth:`HFAdapter.forward`, the surgery stays on the model until
:meth:`LocalAttentionHandle.remove` (or the end of a ``with`` block): it is meant for several
forward calls, e.g. a whole extraction or fine-tuning run.  ``remove`` is idempotent and restores
the model exactly (no hook or attribute is left behind; the attention implementation is never
changed).

A block carries at most one band: applying local attention to a block that already has one is a
:class:`~layerprobe.errors.ConfigError` (remove the first handle, then apply again), so that two
handles can never disagree about which radius is in force or undo each other's surgery.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Sequence

import numpy as np

from layerprobe.errors import ConfigError
from layerprobe.layers import CONTEXTUALIZED, parse_layers
from modellib_addons import hf_local_attention


def band_mask(n_frames: int, radius: int) -> np.ndarray:
    """Which keys each query may attend to under local attention.

    Parameters
    ----------
    n_frames : int
        Sequence length T.
    radius : int
        Non-negative band radius in frames.

    Returns
    -------
    numpy.ndarray of bool, shape (n_frames, n_frames)
        ``mask[i, j]`` is True iff ``|i - j| <= radius``.

    Raises
    ------
    ConfigError
        For a negative or non-integer ``radius`` or a negative ``n_frames``.
    """
    radius = _checked_radius(radius)
    if isinstance(n_frames, bool) or not isinstance(n_frames, numbers.Integral) or n_frames < 0:
        raise ConfigError(f"n_frames must be a non-negative integer, got {n_frames!r}")
    index = np.arange(int(n_frames))
    return np.abs(index[:, None] - index[None, :]) <= radius


class LocalAttentionHandle:
    """Local attention installed on some blocks of a model; :meth:`remove` takes it off.

    Attributes
    ----------
    blocks : tuple of str
        The restricted blocks (``"T2"`` ..), in model order.
    radius : int
        The band radius in frames.
    adapter : object
        The adapter whose model carries the surgery.
    """

    def __init__(self, adapter: Any, blocks: Sequence[str], radius: int, removers: Sequence[Callable[[], None]]):
        self.adapter = adapter
        self.blocks = tuple(blocks)
        self.radius = radius
        self._removers = list(removers)

    @property
    def active(self) -> bool:
        """Whether the surgery is still installed."""
        return bool(self._removers)

    def remove(self) -> None:
        """Take the band off every block (idempotent)."""
        removers, self._removers = self._removers, []
        errors = []
        for remover in removers:
            try:
                remover()
            except Exception as error:  # pragma: no cover - removers only pop hooks / attributes
                errors.append(error)
        if errors:
            raise errors[0]

    def __enter__(self) -> "LocalAttentionHandle":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        spec = getattr(self.adapter, "spec", type(self.adapter).__name__)
        state = "active" if self.active else "removed"
        return f"LocalAttentionHandle(model={spec!r}, blocks={list(self.blocks)}, radius={self.radius}, {state})"


def apply_local_attention(adapter: Any, blocks: str | Sequence[str] = "contextualized", *, radius: int) -> LocalAttentionHandle:
    """Restrict transformer blocks of ``adapter``'s model to attention within ``radius`` frames.

    Parameters
    ----------
    adapter : layerprobe.models.hf.HFAdapter
        Any adapter with ``layer_ids``, ``attention_modules()`` (block id -> attention module),
        ``check_local_attention()`` and ``install_local_attention(block, radius)``
        (:class:`~layerprobe.models.base.ModelAdapter`).
    blocks : str or sequence of str
        A layer spec of T blocks: ``"T2-T12"``, ``"T3,T5"``, ``["T1", "T2"]``, ``"contextualized"``
        (every block; ``T0`` is dropped from that spec since it is not a block).
    radius : int
        Non-negative band radius in frames: key ``j`` is allowed for query ``i`` iff ``|i - j| <= radius``.

    Returns
    -------
    LocalAttentionHandle
        Also a context manager.

    Raises
    ------
    ConfigError
        For a malformed spec, a layer the model does not have, ``T0`` or a conv layer named
        explicitly, a negative or non-integer radius, a model whose attention implementation cannot
        take a band, or a block that already has local attention.
    """
    radius = _checked_radius(radius)
    modules_of = getattr(adapter, "attention_modules", None)
    layer_ids = getattr(adapter, "layer_ids", None)
    if modules_of is None or layer_ids is None or not hasattr(adapter, "install_local_attention"):
        raise ConfigError(f"{type(adapter).__name__} does not expose attention modules; local attention needs an HF adapter")
    spec = blocks if isinstance(blocks, str) else ",".join(blocks)
    if not spec.strip():
        raise ConfigError("no blocks given for local attention (e.g. blocks='T2-T12')")
    chosen = parse_layers(spec, layer_ids)
    if spec.strip().lower() in ("all", "contextualized"):
        chosen = [layer for layer in chosen if layer[0] == CONTEXTUALIZED and layer != f"{CONTEXTUALIZED}0"]
    modules = modules_of()
    not_blocks = [layer for layer in chosen if layer not in modules]
    if not_blocks:
        raise ConfigError(
            f"local attention applies to transformer blocks T1-T{len(modules)}; "
            f"{', '.join(not_blocks)} {'is not a block' if len(not_blocks) == 1 else 'are not blocks'}"
        )
    adapter.check_local_attention()
    busy = [
        f"{layer} (radius {hf_local_attention.band_radius(modules[layer])})"
        for layer in chosen
        if hf_local_attention.band_radius(modules[layer]) is not None
    ]
    if busy:
        raise ConfigError(f"local attention is already applied to {', '.join(busy)}; remove that handle first")
    removers: list[Callable[[], None]] = []
    try:
        for layer in chosen:
            removers.append(adapter.install_local_attention(layer, radius))
    except BaseException:
        for remover in removers:
            remover()
        raise
    return LocalAttentionHandle(adapter, chosen, radius, removers)


def _checked_radius(radius: Any) -> int:
    if isinstance(radius, bool) or not isinstance(radius, numbers.Integral):
        raise ConfigError(f"the local-attention radius must be a non-negative integer number of frames, got {radius!r}")
    if radius < 0:
        raise ConfigError(f"the local-attention radius must be >= 0 frames, got {radius}")
    return int(radius)


__all__ = ["band_mask", "LocalAttentionHandle", "apply_local_attention"]
