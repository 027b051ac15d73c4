"""Attention-map figures: head-averaged maps of blocks x utterances (:func:`plot_attention_grid`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from layerprobe.errors import ConfigError
from layerprobe.layers import sort_layers

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn
    from matplotlib.figure import Figure


def plot_attention_grid(
    maps_by_block_and_utt: Mapping[str, Mapping[str, np.ndarray]],
    *,
    classes: Mapping[str, str] | None = None,
    scores: Mapping[str, Mapping[str, float]] | None = None,
    figure: "Figure | None" = None,
    cmap: str = "viridis",
    percentile: float = 99.0,
) -> "Figure":
    """Draw head-averaged attention maps: one row per block, one column per utterance.

    Parameters
    ----------
    maps_by_block_and_utt : mapping
        Block (``"T1"``..) -> utterance id -> map, ``(heads, T, T)`` (averaged over heads here by
        :func:`~layerprobe.attention.maps.head_average`, heads first) or ``(T, T)``.  Rows are drawn in block order;
        columns follow the utterances of the first block.
    classes : mapping, optional
        Block -> its class (``"diagonal"``...), shown in the block's title.
    scores : mapping, optional
        Block -> score name -> value, shown in the block's title (``diagonal 0.61, vertical 0.02``).
    figure : matplotlib Figure, optional
        An empty figure to draw in; a headless one is made when omitted.
    cmap : str
        Colour map.
    percentile : float
        Each panel's colour scale tops out at this percentile of its weights (a few very large
        weights would otherwise hide the pattern); 100 for the maximum.

    Returns
    -------
    matplotlib Figure
        ``fig.axes`` row by row (block), column by column (utterance); the first panel of each
        row is titled ``"<block>: <class>"`` with the scores on a second line, the top row's
        panels name their utterance in a corner; queries on the y axis (top to bottom), keys on the x axis, in frames.

    Raises
    ------
    ConfigError
        For no maps, a map that is not (heads, T, T) or (T, T), or percentile outside (0, 100].
    """
    from matplotlib.figure import Figure

    if not 0 < percentile <= 100:
        raise ConfigError(f"percentile must be in (0, 100], got {percentile!r}")
    blocks = sort_layers(maps_by_block_and_utt)
    if not blocks or not any(maps_by_block_and_utt[block] for block in blocks):
        raise ConfigError("no attention maps to plot")
    utterances = list(maps_by_block_and_utt[blocks[0]])
    n_rows, n_cols = len(blocks), max(1, len(utterances))
    if figure is None:
        figure = Figure(figsize=(2.6 * n_cols + 0.6, 2.5 * n_rows + 0.3), layout="constrained")
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    for row, block in enumerate(blocks):
        for col, utt in enumerate(utterances):
            ax = axes[row][col]
            given = maps_by_block_and_utt[block].get(utt)
            if given is None:
                ax.set_axis_off()
                continue
            values = np.asarray(given, dtype=np.float64)
            if values.ndim not in (2, 3) or values.shape[-1] != values.shape[-2]:
                raise ConfigError(f"the map of block {block}, utterance {utt!r} must be (heads, T, T) or (T, T), got {values.shape}")
            if values.ndim == 3:
                values = values.mean(axis=0)  # heads first, as head_average: the real frames' mean map
                sums = values.sum(axis=-1, keepdims=True)
                values = values / np.where(sums > 0, sums, 1.0)
            top = float(np.percentile(values, percentile)) or float(values.max()) or 1.0
            ax.imshow(values, cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest", aspect="equal")
            ax.tick_params(labelsize=6, length=2)
            if row == 0:  # the utterance inside the panel: the title above is the block's
                ax.text(0.98, 0.98, str(utt), transform=ax.transAxes, ha="right", va="top", fontsize=6, color="white",
                        bbox={"facecolor": "black", "alpha": 0.4, "linewidth": 0, "pad": 1})  # fmt: skip
            if col == 0:
                ax.set_ylabel(f"{block} query", fontsize=8)
            if row == n_rows - 1:
                ax.set_xlabel("key frame", fontsize=7)
        parts = [block]
        if classes and block in classes:
            parts[0] = f"{block}: {classes[block]}"
        if scores and block in scores:
            parts.append(", ".join(f"{name} {value:.2f}" for name, value in scores[block].items()))
        axes[row][0].set_title("\n".join(parts) if len(parts) > 1 else parts[0], fontsize=8, loc="left", fontweight="bold")
    return figure
