"""Layer ids: stable names for a model's layers, separate from its module paths.

* ``C1`` .. ``C7``: outputs of the convolutional feature encoder blocks (the *local* representation;
  Whisper has two, ``C1`` and ``C2``).
* ``T0``: the transformer's input (after the positional convolution, and after the encoder layer
  norm when the model applies it before the first block; Whisper: after the two convolutions and the
  positional embedding).  ``T1`` .. ``TL``: outputs of the L transformer blocks (the *contextualized*
  representation), as transformers' ``output_hidden_states`` returns them.
* ``mel``: the log-mel baseline (REFERENCE.md section 3), stored like a layer.

Specs on the command line: ``T4``; ``T0-T12`` (a range of one kind); ``T1,T3,C2`` (a list, items may
be ranges); ``all`` (every layer the model has); ``local`` / ``contextualized`` (all C / all T layers).
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from layerprobe.errors import ConfigError

LOCAL, CONTEXTUALIZED = "C", "T"

#: The pseudo-layer id of the log-mel baseline.
MEL = "mel"

# ASCII digits only (``\d`` would take other scripts' digits), and few enough for a real model.
_LAYER = re.compile(r"^([CT])([0-9]{1,6})$")

#: Missing layers named one by one in an error message before the rest are counted.
_MAX_LISTED = 10


def parse_layer_id(text: str) -> str:
    """Check and normalise one layer id (``"t4"`` -> ``"T4"``).

    Raises
    ------
    ConfigError
        When ``text`` is not ``C<n>``, ``T<n>`` or ``mel``.
    """
    cleaned = text.strip()
    if cleaned.lower() == MEL:
        return MEL
    match = _LAYER.match(cleaned.upper())
    if match is None:
        raise ConfigError(f"{text!r} is not a layer id (expected C1..C7, T0..TL or mel, e.g. T4)")
    return f"{match.group(1)}{int(match.group(2))}"


def layer_kind(layer_id: str) -> str:
    """``"C"`` for conv layers, ``"T"`` for transformer layers, ``"mel"`` for the mel baseline."""
    return MEL if layer_id == MEL else parse_layer_id(layer_id)[0]


def layer_index(layer_id: str) -> int:
    """The number of a layer id (``"T12"`` -> 12); -1 for ``mel``."""
    return -1 if layer_id == MEL else int(parse_layer_id(layer_id)[1:])


def layer_sort_key(layer_id: str) -> tuple[int, int]:
    """Order: mel, C1..Cn, T0..TL (input to output)."""
    order = {MEL: 0, LOCAL: 1, CONTEXTUALIZED: 2}
    return order[layer_kind(layer_id)], layer_index(layer_id)


def sort_layers(layer_ids: Iterable[str]) -> list[str]:
    """Layer ids from input to output, without repeats."""
    return sorted(set(layer_ids), key=layer_sort_key)


def parse_layers(spec: str, available: Sequence[str]) -> list[str]:
    """Expand a layer spec against the layers a model has.

    Parameters
    ----------
    spec : str
        ``"T4"``, ``"T0-T12"``, ``"T1,T3,C2-C4"``, ``"all"``, ``"local"`` or ``"contextualized"``.
    available : sequence of str
        The model's layer ids (``adapter.layer_ids``).

    Returns
    -------
    list of str
        In model order (C before T, ascending), without repeats.

    Raises
    ------
    ConfigError
        For a malformed spec, a range across kinds or backwards, or a layer the model does not
        have (the message lists what it has).

    Examples
    --------
    >>> parse_layers("T2-T4,C7", ["C1", "C7", "T0", "T1", "T2", "T3", "T4"])
    ['C7', 'T2', 'T3', 'T4']
    """
    have = sort_layers(available)
    text = spec.strip().lower()
    if text == "all":
        return have
    if text in ("local", "contextualized"):
        kind = LOCAL if text == "local" else CONTEXTUALIZED
        return [layer for layer in have if layer_kind(layer) == kind]
    wanted: dict[str, list[tuple[int, int]]] = {}  # kind -> inclusive index ranges (never expanded)
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            raise ConfigError(f"empty item in layer spec {spec!r}")
        if "-" in item:
            first_text, _, last_text = item.partition("-")
            first, last = parse_layer_id(first_text), parse_layer_id(last_text)
            if MEL in (first, last) or first[0] != last[0]:
                raise ConfigError(f"layer range {item!r} must stay within one kind (C or T)")
            if layer_index(last) < layer_index(first):
                raise ConfigError(f"layer range {item!r} runs backwards")
            wanted.setdefault(first[0], []).append((layer_index(first), layer_index(last)))
        else:
            layer = parse_layer_id(item)
            wanted.setdefault(layer_kind(layer), []).append((layer_index(layer), layer_index(layer)))
    listed, n_missing = _missing(wanted, have)
    if n_missing:
        more = f" and {n_missing - len(listed)} more" if n_missing > len(listed) else ""
        raise ConfigError(f"the model has no layer {', '.join(listed)}{more} (it has {_describe(have)})")
    return [layer for layer in have if _in_ranges(layer, wanted)]


def _in_ranges(layer: str, wanted: dict[str, list[tuple[int, int]]]) -> bool:
    index = layer_index(layer)
    return any(low <= index <= high for low, high in wanted.get(layer_kind(layer), ()))


def _missing(wanted: dict[str, list[tuple[int, int]]], have: Sequence[str]) -> tuple[list[str], int]:
    """The first :data:`_MAX_LISTED` wanted layers the model lacks, and how many it lacks in all.

    Ranges are merged and counted, never expanded: ``T0-T99999999`` costs as much as ``T0-T9``.
    """
    present = set(have)
    listed: list[str] = []
    n_missing = 0
    for kind in (MEL, LOCAL, CONTEXTUALIZED):
        merged: list[list[int]] = []
        for low, high in sorted(wanted.get(kind, ())):
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        for low, high in merged:
            held = sum(1 for layer in present if layer_kind(layer) == kind and low <= layer_index(layer) <= high)
            n_missing += high - low + 1 - held
            index = low  # each step lists a missing layer or passes a present one: at most 10 + len(have) steps
            while index <= high and len(listed) < _MAX_LISTED:
                layer = MEL if kind == MEL else f"{kind}{index}"
                if layer not in present:
                    listed.append(layer)
                index += 1
    return listed, n_missing


def _describe(layer_ids: Sequence[str]) -> str:
    """``"C1-C7, T0-T12"``: a compact listing of layer ids."""
    parts = []
    for kind in (MEL, LOCAL, CONTEXTUALIZED):
        of_kind = [layer for layer in layer_ids if layer_kind(layer) == kind]
        if not of_kind:
            continue
        parts.append(of_kind[0] if len(of_kind) == 1 else f"{of_kind[0]}-{of_kind[-1]}")
    return ", ".join(parts) or "no layers"


__all__ = [
    "LOCAL",
    "CONTEXTUALIZED",
    "MEL",
    "parse_layer_id",
    "layer_kind",
    "layer_index",
    "layer_sort_key",
    "sort_layers",
    "parse_layers",
]
