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

_LAYER = re.compile(r"^([CT])(\d+)$")


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
    wanted: list[str] = []
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
            wanted += [f"{first[0]}{i}" for i in range(layer_index(first), layer_index(last) + 1)]
        else:
            wanted.append(parse_layer_id(item))
    missing = [layer for layer in wanted if layer not in have]
    if missing:
        raise ConfigError(
            f"the model has no layer {', '.join(missing)} (it has {_describe(have)})"
        )
    return sort_layers(wanted)


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
