"""Reading attention maps from feature stores: row normalisation, softmax of logits, head average.

A stored map of one utterance and block is ``(heads, T, T)``: rows are queries, columns keys.
Post-softmax maps are row-stochastic, except where the adapter cut them to the real audio: Whisper
attends over its 30 s padded window, and its stored maps keep the real frames' keys only, so a row
sums to 1 minus the mass its query sent to the padding (:func:`load_padding`; on TIMIT's LDC93S1
Whisper base sends 7-30 % of a block's mass there, single heads up to 70 %).
:func:`normalize_rows` renormalises rows over the keys kept, which is also what the softmax of the
stored (cut) logits gives.

:func:`head_average` gives a block's map of the real frames in one of two orders
(:data:`AVERAGING`): ``heads-first`` (the default) averages the heads' stored weights and then
renormalises each row, so a head that sends most of its mass to the padding weighs little;
``rows-first`` renormalises each head's rows first, which gives every head an equal share.  The two
agree when no mass is cut away (every model but Whisper).

Nothing here imports torch; everything works on numpy arrays or a
:class:`~layerprobe.io.store.FeatureStore`.

Example
-------
>>> from layerprobe.attention.maps import iter_maps, head_average    # doctest: +SKIP
>>> for utt_id, block, maps in iter_maps(store, blocks=["T3"]):      # doctest: +SKIP
...     mean_map = head_average(maps)                                # (T, T), rows sum to 1
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from layerprobe.errors import ConfigError, StoreError
from layerprobe.layers import layer_index, layer_kind, sort_layers

__all__ = [
    "AVERAGING",
    "DEFAULT_AVERAGING",
    "attention_blocks",
    "head_average",
    "iter_maps",
    "load_map",
    "load_padding",
    "normalize_rows",
    "softmax",
    "utterances_with_maps",
]


#: The orders of averaging heads and renormalising rows (see the module docstring).
AVERAGING: tuple[str, ...] = ("heads-first", "rows-first")
#: The default: the head-averaged map of the real frames, renormalised.
DEFAULT_AVERAGING = "heads-first"


def check_averaging(averaging: object) -> str:
    """``averaging`` if it is one of :data:`AVERAGING`, else a ConfigError."""
    if averaging not in AVERAGING:
        raise ConfigError(f"averaging must be one of {', '.join(AVERAGING)}, got {averaging!r}")
    return str(averaging)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax (float64 inside, float32 out) along ``axis``.

    ``-inf`` logits (masked keys) get probability 0; a row of only ``-inf`` is an error.
    """
    values = np.asarray(logits, dtype=np.float64)
    top = np.max(values, axis=axis, keepdims=True)
    if not np.all(np.isfinite(top)):
        raise ConfigError("attention logits hold a row with no finite value (or NaN)")
    weights = np.exp(values - top)
    return (weights / weights.sum(axis=axis, keepdims=True)).astype(np.float32)


def normalize_rows(maps: np.ndarray) -> np.ndarray:
    """Rescale each query row to sum to 1 (over the keys present).

    Parameters
    ----------
    maps : numpy.ndarray
        ``(..., T_q, T_k)`` non-negative attention weights.

    Returns
    -------
    numpy.ndarray
        float64, same shape, rows summing to 1.

    Raises
    ------
    ConfigError
        For negative or non-finite weights, or a row with no mass.
    """
    values = np.asarray(maps, dtype=np.float64)
    if values.ndim < 2 or values.shape[-1] == 0 or values.shape[-2] == 0:
        raise ConfigError(f"an attention map must be (..., T, T) with T > 0, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ConfigError("attention maps must hold finite non-negative weights (are these logits? use softmax)")
    sums = values.sum(axis=-1, keepdims=True)
    if np.any(sums <= 0):
        raise ConfigError("an attention map has a query row with no mass")
    return values / sums


def head_average(maps: np.ndarray, *, averaging: str = DEFAULT_AVERAGING) -> np.ndarray:
    """The block-level map of the real frames: heads averaged, rows renormalised.

    Parameters
    ----------
    maps : numpy.ndarray
        ``(heads, T, T)`` weights as stored (rows may sum to less than 1: mass cut away with the
        padding), or an already averaged ``(T, T)``.
    averaging : {"heads-first", "rows-first"}, keyword-only
        ``heads-first``: ``normalize_rows(mean_h maps[h])``, the heads' mean map of the real frames
        (a head weighs by the mass it kept).  ``rows-first``: ``mean_h normalize_rows(maps[h])``
        (every head weighs the same).  Equal when no row lost mass.

    Returns
    -------
    numpy.ndarray
        ``(T, T)`` float64, rows summing to 1.
    """
    averaging = check_averaging(averaging)
    values = normalize_rows(maps)  # checks the values, and every head's rows
    if values.ndim == 2:
        return values
    if values.ndim != 3:
        raise ConfigError(f"attention maps must be (heads, T, T) or (T, T), got shape {values.shape}")
    if averaging == "rows-first":
        return values.mean(axis=0)
    return normalize_rows(np.asarray(maps, dtype=np.float64).mean(axis=0))


def _candidate_blocks(store) -> list[str]:
    """Transformer blocks that can carry maps: T1..TL (T0 is the blocks' input)."""
    return [layer for layer in sort_layers(store.layer_ids) if layer_kind(layer) == "T" and layer_index(layer) >= 1]


def load_map(store, utt_id: str, block: str, *, logits: bool = False, normalize: bool = True) -> np.ndarray:
    """One utterance's maps of one block, ``(heads, T, T)`` float64 with rows summing to 1.

    With ``logits=True`` the stored pre-softmax logits are read and put through :func:`softmax`.
    With ``normalize=False`` the maps are returned as stored (rows sum to 1 minus the padding mass,
    see :func:`load_padding`), checked but not renormalised.

    Raises
    ------
    StoreError
        When the store has no such utterance, or no maps (logits) for it and this block.
    """
    raw = store.attention(utt_id, block, logits=logits)
    if raw is None:
        what = "attention logits" if logits else "attention maps"
        raise StoreError(
            f"has no {what} for utterance {utt_id!r} and block {block}; store them with "
            f"`layerprobe attention maps{' --pre-softmax' if logits else ''}`",
            path=store.paths[0],
        )
    values = softmax(raw) if logits else raw
    if normalize:
        return normalize_rows(values)
    normalize_rows(values)  # the checks only
    return np.asarray(values, dtype=np.float64)


def load_padding(store, utt_id: str, block: str) -> tuple[np.ndarray, bool]:
    """The padding mass of an utterance's maps of one block: per head and real query, mass sent past the real frames.

    Returns
    -------
    (numpy.ndarray, bool)
        ``(heads, T)`` float64 in [0, 1], and whether it was stored with the maps (True) or, for a
        store written before the padding mass was recorded, estimated as 1 minus the stored
        float16 rows' sums (False; within about 5e-4 of the true mass).

    Raises
    ------
    StoreError
        When the store has no maps for this utterance and block.
    """
    stored = store.attention_padding(utt_id, block) if hasattr(store, "attention_padding") else None
    if stored is not None:
        return np.asarray(stored, dtype=np.float64), True
    maps = load_map(store, utt_id, block, normalize=False)
    return np.clip(1.0 - maps.sum(axis=-1), 0.0, 1.0), False


def utterances_with_maps(store, *, block: str | None = None, logits: bool = False) -> list[str]:
    """The utterance ids (store order) that have maps for ``block`` (default: the first block)."""
    blocks = _candidate_blocks(store)
    if not blocks:
        return []
    block = block or blocks[0]
    return [utt for utt in store.utterance_ids if store.attention(utt, block, logits=logits) is not None]


def attention_blocks(store, *, utt_id: str | None = None, logits: bool = False) -> list[str]:
    """The blocks (``T1``..) that have maps for ``utt_id`` (default: the first utterance with maps)."""
    blocks = _candidate_blocks(store)
    ids = [utt_id] if utt_id is not None else store.utterance_ids
    for utt in ids:
        found = [block for block in blocks if store.attention(utt, block, logits=logits) is not None]
        if found:
            return found
    return []


def iter_maps(
    store,
    *,
    blocks: Sequence[str] | None = None,
    utterances: Iterable[str] | int | None = None,
    logits: bool = False,
    normalize: bool = True,
) -> Iterator[tuple[str, str, np.ndarray]]:
    """Yield ``(utt_id, block, maps)`` for every stored map, utterance by utterance.

    Parameters
    ----------
    store : FeatureStore
    blocks : sequence of str, optional
        Blocks to read (default every block with maps); a block the store lacks is a ConfigError.
    utterances : iterable of str or int, optional
        Utterance ids, or the first N utterances that have maps (default all of them).
    logits : bool
        Read the pre-softmax logits and apply :func:`softmax`.
    normalize : bool
        Renormalise each row (default); False yields the maps as stored (see :func:`load_map`).

    Yields
    ------
    (str, str, numpy.ndarray)
        Utterance id, block, ``(heads, T, T)`` row-normalised float64 maps.  Utterances without
        maps are skipped; a requested block missing for an utterance that has maps is an error.
    """
    candidates = _candidate_blocks(store)
    if blocks is None:
        chosen = attention_blocks(store, logits=logits)
    else:
        chosen = list(blocks)
        unknown = [block for block in chosen if block not in candidates]
        if unknown:
            raise ConfigError(
                f"block {', '.join(unknown)} is not in the store (its blocks: {', '.join(candidates) or 'none'})"
            )
    if not chosen:
        return
    if utterances is None or isinstance(utterances, int):
        limit = None if utterances is None else int(utterances)
        ids = utterances_with_maps(store, block=chosen[0], logits=logits)
        ids = ids if limit is None else ids[:limit]
    else:
        ids = list(utterances)
    for utt in ids:
        for block in chosen:
            yield utt, block, load_map(store, utt, block, logits=logits, normalize=normalize)
