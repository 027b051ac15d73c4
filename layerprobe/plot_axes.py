"""The parts of a layer-trend panel that read a table's sidecar or lay out the layer axis.

Helpers of :mod:`layerprobe.plots` (same rank): the ranges over direction signs, the untrained
model's scores and the warnings a sidecar holds for the drawn rows; the categorical layer axis
(ticks thinned to what fits the panel's width, a dotted line between mel, C and T layers); the
NaN gaps that keep a line from joining the mel baseline or jumping over missing layers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from layerprobe.layers import MEL, layer_kind

if TYPE_CHECKING:
    from matplotlib.axes import Axes

log = logging.getLogger("layerprobe.plots")

Line = tuple[str, str]
#: Inches a layer tick label needs at print size (a label like ``T10`` and the room beside it).
TICK_LABEL_IN = 0.24


def _metadata_of(source: Any, row: Mapping[str, Any]) -> Mapping[str, Any]:
    """The sidecar entry of a row's run, where ``source`` is a table that has one; else ``{}``."""
    metadata = getattr(source, "metadata", None)
    if not callable(metadata):
        return {}
    try:
        return metadata(row) or {}
    except (KeyError, TypeError, ValueError):
        return {}


def _details(source: Any, row: Mapping[str, Any]) -> Mapping[str, Any]:
    details = _metadata_of(source, row).get("details")
    return details if isinstance(details, Mapping) else {}


def sign_ranges(source: Any, chosen: Sequence[Mapping[str, Any]]) -> dict[Line, dict[str, list[tuple[float, float]]]]:
    """Per line and layer, the ``(low, high)`` ranges over direction signs that the sidecar holds for ``chosen``."""
    ranges: dict[Line, dict[str, list[tuple[float, float]]]] = {}
    for row in chosen:
        signs = _details(source, row).get("signs") or {}
        low, high = signs.get("low"), signs.get("high")
        if isinstance(low, (int, float)) and isinstance(high, (int, float)):
            ranges.setdefault((row["model"], row.get("corpus", "")), {}).setdefault(row["layer"], []).append((float(low), float(high)))
    return ranges


def baselines(source: Any, chosen: Sequence[Mapping[str, Any]], metric: str) -> dict[Line, dict[str, list[float]]]:
    """Per line and layer, the untrained model's ``metric`` of the sidecar (probe's ``untrained_metrics``,
    fine-tuning's ``untrained_test``; ``wer_lm`` is their ``beam_wer``)."""
    key = {"wer_lm": "beam_wer", "cer_lm": "beam_cer"}.get(metric, metric)
    found: dict[Line, dict[str, list[float]]] = {}
    for row in chosen:
        details = _details(source, row)
        for name in ("untrained_metrics", "untrained_test"):
            scores = details.get(name)
            if isinstance(scores, Mapping) and isinstance(scores.get(key), (int, float)):
                found.setdefault((row["model"], row.get("corpus", "")), {}).setdefault(row["layer"], []).append(float(scores[key]))
                break
    return found


def zero_reason(source: Any, chosen: Sequence[Mapping[str, Any]], reasons: Sequence[tuple[str, str]]) -> str:
    """Why the scores of ``chosen`` are near 0, from the sidecar's warnings: a known reason, else a pointer to them."""
    warnings = [str(w) for row in chosen for w in (_details(source, row).get("warnings") or [])]
    for phrase, reason in reasons:
        if any(phrase in warning for warning in warnings):
            return f"{reason} (see warnings)"
    return "see the warnings in the sidecar" if warnings else ""


def warn_sign_overlaps(experiment: str, model: str, layers: Sequence[str], ranges: Mapping[str, list[tuple[float, float]]]) -> None:
    """Log one line when the sign ranges of adjacent layers overlap (their order depends on the signs)."""
    mean = {layer: (float(np.mean([r[0] for r in ranges[layer]])), float(np.mean([r[1] for r in ranges[layer]]))) for layer in layers}
    overlaps = [(a, b) for a, b in zip(layers, layers[1:]) if mean[a][0] <= mean[b][1] and mean[b][0] <= mean[a][1]]
    if overlaps:
        shown = ", ".join(f"{a}/{b} ({mean[a][0]:.3f}-{mean[a][1]:.3f} vs {mean[b][0]:.3f}-{mean[b][1]:.3f})" for a, b in overlaps[:3])
        more = f" and {len(overlaps) - 3} more" if len(overlaps) > 3 else ""
        log.warning(
            f"{experiment} ({model}): the score's range over the signs of the canonical directions overlaps between "
            f"adjacent layers {shown}{more}: their order depends on the signs LAPACK gives; compare pwcca_centred, "
            "which does not depend on them"
        )


def break_gaps(layers: list[str], x: list[float], series: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Insert a NaN point (which matplotlib leaves unconnected) where a line must not be drawn.

    A model's points are joined from layer to layer, skipped layers included, except from the
    mel baseline (not a layer of the model) and across a change of kind (C -> T) over layers the
    model lacks (Whisper's C2 -> T0 on an axis that also has C3..C7).
    """
    out_x: list[float] = []
    out_series: list[list[float]] = [[] for _ in series]
    for index, layer in enumerate(layers):
        if index:
            previous = layers[index - 1]
            jump = layer_kind(previous) != layer_kind(layer) and (previous == MEL or x[index] - x[index - 1] > 1)
            if jump:
                out_x.append((x[index - 1] + x[index]) / 2)
                for values in out_series:
                    values.append(np.nan)
        out_x.append(x[index])
        for values, source in zip(out_series, series):
            values.append(float(source[index]))
    return np.array(out_x), [np.array(values) for values in out_series]


def panel_width_in(ax: "Axes") -> float:
    """About how wide ``ax`` is, in inches: its figure's width over the columns of its grid."""
    width = float(ax.figure.get_figwidth())
    spec = ax.get_subplotspec() if hasattr(ax, "get_subplotspec") else None
    if spec is not None:
        columns = spec.get_gridspec().ncols
        return width * (spec.colspan.stop - spec.colspan.start) / columns
    return width * float(ax.get_position().width)


def tick_labels(layers: Sequence[str], fits: int) -> list[str]:
    """The layer ids to show under ticks, ``""`` for those left out so that at most about ``fits`` show.

    The first transformer layer (T0) and the mel baseline always show, the first layer of
    another kind where it has room; then, from the left, every layer at least k ticks from any
    shown one (k: the thinning step).

    >>> tick_labels(["mel", "C1", "C2", "C3", "T0", "T1", "T2", "T3"], 5)
    ['mel', '', 'C2', '', 'T0', '', 'T2', '']
    """
    step = max(1, -(-len(layers) // max(1, fits)))
    if step == 1:
        return list(layers)
    kinds = [layer_kind(layer) for layer in layers]
    first = [i for i in range(len(layers)) if i == 0 or kinds[i] != kinds[i - 1]]
    priority = sorted(first, key=lambda i: {"T": 0, "mel": 1}.get(kinds[i], 2))
    shown: set[int] = set()
    for i in priority + list(range(len(layers))):
        if all(abs(i - j) >= step for j in shown):
            shown.add(i)
    return [layer if i in shown else "" for i, layer in enumerate(layers)]


def style_layer_axis(ax: "Axes", layers: list[str]) -> None:
    """Categorical layer ticks (labels thinned to what fits the panel); a dotted line between mel, C and T layers."""
    fits = int(max(panel_width_in(ax) - 0.45, TICK_LABEL_IN) / TICK_LABEL_IN)
    ax.set_xticks(range(len(layers)), labels=tick_labels(layers, fits))
    ax.set_xlim(-0.5, len(layers) - 0.5)
    ax.set_xlabel("layer")
    for index in range(1, len(layers)):
        if layer_kind(layers[index]) != layer_kind(layers[index - 1]):
            ax.axvline(index - 0.5, color="0.6", linewidth=0.8, linestyle=":", zorder=1, gid="layer-kind-boundary")


__all__ = ["baselines", "break_gaps", "panel_width_in", "sign_ranges", "style_layer_axis", "tick_labels", "warn_sign_overlaps", "zero_reason"]
