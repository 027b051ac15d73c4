"""Attention-map figures: head-averaged maps of blocks x utterances (:func:`plot_attention_grid`).

The figure is drawn in the package's paper style (:func:`~layerprobe.io.figure_style.paper_style`):
each block is a sub-figure titled with the block, its class and scores, holding one square panel
per utterance (titled with the utterance id) and one colour bar, "attention weight", shared by the
block's panels (one scale per block: blocks differ by orders of magnitude, utterances of one block
do not).  Both axes are in seconds (queries top to bottom, keys left to right), from the model's
frame rate.  Blocks are laid out several to a row when there are few utterances (three blocks a
row for one utterance, two for two), so one utterance gives a compact grid, not a column.  Long
utterance ids are wrapped at ``_`` and ``-`` to the panel's width.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from layerprobe.errors import ConfigError
from layerprobe.io.figure_style import PAGE_WIDTH_IN, model_display_name, paper_style
from layerprobe.layers import sort_layers

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn
    from matplotlib.figure import Figure

#: Blocks side by side in one row of the figure, by the number of utterances (panels per block);
#: one block a row for more (a block's utterances are never split across rows).
BLOCKS_PER_ROW = {1: 3, 2: 2}
#: Colour-bar label of every attention figure.
WEIGHT_LABEL = "attention weight"


def wrap_id(text: str, width: int) -> str:
    r"""Break an id into lines of at most ``width`` characters, after ``_``, ``-`` or ``/`` where it can.

    >>> wrap_id("sense_and_sensibility_01_austen_64kb-0860", 22)
    'sense_and_sensibility_\n01_austen_64kb-0860'
    >>> wrap_id("LDC93S1", 5)
    'LDC93\nS1'
    """
    width = max(1, width)
    lines: list[str] = []
    rest = text
    while len(rest) > width:
        cut = max(rest.rfind(sep, 0, width) for sep in "_-/") + 1
        cut = cut if cut > 0 else width
        lines.append(rest[:cut])
        rest = rest[cut:]
    return "\n".join([*lines, rest]) if rest else "\n".join(lines)


def _seconds_axis(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10], min_n_ticks=2))
    ax.grid(False)
    ax.tick_params(length=2, pad=1)


def plot_attention_grid(
    maps_by_block_and_utt: Mapping[str, Mapping[str, np.ndarray]],
    *,
    classes: Mapping[str, str] | None = None,
    scores: Mapping[str, Mapping[str, float]] | None = None,
    figure: "Figure | None" = None,
    cmap: str = "viridis",
    percentile: float = 99.0,
    frame_rate_hz: float = 50.0,
    model: str | None = None,
) -> "Figure":
    """Draw head-averaged attention maps: one sub-figure per block, one panel per utterance.

    Parameters
    ----------
    maps_by_block_and_utt : mapping
        Block (``"T1"``..) -> utterance id -> map, ``(heads, T, T)`` (averaged over heads here by
        :func:`~layerprobe.attention.maps.head_average`, heads first) or ``(T, T)``.  Blocks are
        drawn in block order; panels follow the utterances of the first block.
    classes : mapping, optional
        Block -> its class (``"diagonal"``...), shown in the block's title.
    scores : mapping, optional
        Block -> score name -> value, shown in the block's title (``diag 0.61, vert 0.02``).
    figure : matplotlib Figure, optional
        An empty figure to draw in; a headless one is made when omitted.
    cmap : str
        Colour map.
    percentile : float
        Each block's colour scale tops out at this percentile of its panels' weights (a few very
        large weights would otherwise hide the pattern); 100 for the maximum.  Where that
        percentile is the block's smallest weight (a flat background under a stripe of under
        1 - percentile / 100 of the entries) the scale tops out at the maximum instead.
    frame_rate_hz : float
        Frames per second of the maps (axes in seconds: frame ``t`` covers ``[t / r, (t + 1) / r)``).
    model : str, optional
        Model spec, shown (as :func:`model_display_name`) in the figure's title.

    Returns
    -------
    matplotlib Figure
        Its sub-figures (``fig.subfigs``) are the blocks, row by row, each with the block's title as
        its ``suptitle`` (``"T1: diagonal"`` and a line of scores), its panels (utterance ids as
        titles when there are several; the utterance is in the figure's title when there is one)
        and a colour bar labelled :data:`WEIGHT_LABEL`.  The figure's title names the model.
        Panels: queries on the y axis (top to bottom, ``"query (s)"``), keys on the x axis
        (``"key (s)"``).

    Raises
    ------
    ConfigError
        For no maps, a map that is not (heads, T, T) or (T, T), percentile outside (0, 100] or a
        frame rate that is not positive.
    """
    from matplotlib.figure import Figure

    if not 0 < percentile <= 100:
        raise ConfigError(f"percentile must be in (0, 100], got {percentile!r}")
    if not frame_rate_hz > 0:
        raise ConfigError(f"frame_rate_hz must be positive, got {frame_rate_hz!r}")
    blocks = sort_layers(maps_by_block_and_utt)
    if not blocks or not any(maps_by_block_and_utt[block] for block in blocks):
        raise ConfigError("no attention maps to plot")
    utterances = list(maps_by_block_and_utt[blocks[0]])
    n_utts = max(1, len(utterances))
    blocks_per_row = max(1, min(len(blocks), BLOCKS_PER_ROW.get(n_utts, 1)))
    n_rows = math.ceil(len(blocks) / blocks_per_row)
    panels_per_row = blocks_per_row * n_utts
    with paper_style():
        panel = min(1.9, (PAGE_WIDTH_IN - 0.8 * blocks_per_row) / panels_per_row)
        width = min(PAGE_WIDTH_IN, panels_per_row * panel + 0.8 * blocks_per_row + 0.2)
        # panel titles: the ids wrapped to the panel (about 16 characters an inch at 7 points)
        titles = {utt: wrap_id(str(utt), max(8, int(panel * 16))) for utt in utterances} if n_utts > 1 else {}
        title_lines = max((title.count("\n") + 1 for title in titles.values()), default=0)
        if figure is None:
            row_height = panel + 0.85 + 0.13 * title_lines
            figure = Figure(figsize=(width, n_rows * row_height + 0.35), layout="constrained")
        subfigs = np.atleast_1d(figure.subfigures(n_rows, blocks_per_row, squeeze=False)).reshape(n_rows, blocks_per_row)
        for index, sub in enumerate(subfigs.ravel()):
            if index >= len(blocks):
                continue
            block = blocks[index]
            axes = sub.subplots(1, n_utts, squeeze=False)[0]
            values_by_utt = {}
            for utt in utterances:
                given = maps_by_block_and_utt[block].get(utt)
                if given is None:
                    continue
                values = np.asarray(given, dtype=np.float64)
                if values.ndim not in (2, 3) or values.shape[-1] != values.shape[-2]:
                    raise ConfigError(f"the map of block {block}, utterance {utt!r} must be (heads, T, T) or (T, T), got {values.shape}")
                if values.ndim == 3:
                    values = values.mean(axis=0)  # heads first, as head_average: the real frames' mean map
                    sums = values.sum(axis=-1, keepdims=True)
                    values = values / np.where(sums > 0, sums, 1.0)
                values_by_utt[utt] = values
            pooled = np.concatenate([v.ravel() for v in values_by_utt.values()]) if values_by_utt else np.zeros(1)
            top = float(np.percentile(pooled, percentile))
            if top <= float(pooled.min()):  # a flat background under a few stripes: the percentile is the background
                top = float(pooled.max())
            top = top or 1.0
            image = None
            for col, utt in enumerate(utterances):
                ax = axes[col]
                values = values_by_utt.get(utt)
                if values is None:
                    ax.set_axis_off()
                    continue
                seconds = values.shape[0] / frame_rate_hz
                image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest", aspect="equal",
                                  extent=(0.0, seconds, seconds, 0.0))  # fmt: skip
                _seconds_axis(ax)
                if n_utts > 1:
                    ax.set_title(titles[utt], fontsize=7)
                ax.set_xlabel("key (s)")
                if col == 0:
                    ax.set_ylabel("query (s)")
            if image is not None:
                bar = sub.colorbar(image, ax=list(axes), shrink=0.85, aspect=18, pad=0.02)
                bar.set_label(WEIGHT_LABEL)
                bar.ax.tick_params(length=2)
            title = f"{block}: {classes[block]}" if classes and block in classes else block
            if scores and block in scores:
                parts = [f"{name} {value:.2f}" for name, value in scores[block].items()]
                per_line = 2 if blocks_per_row > 1 else 4
                title += "".join(("\n" if k % per_line == 0 else ", ") + part for k, part in enumerate(parts))
            sub.suptitle(title, fontsize=7, ha="left", x=0.02, multialignment="left")
        heading = "Attention maps"
        if model:
            heading += f" of {model_display_name(model)}"
        if len(utterances) == 1:
            heading += f", utterance {utterances[0]}"
        figure.suptitle(heading)
    return figure


__all__ = ["BLOCKS_PER_ROW", "WEIGHT_LABEL", "model_display_name", "plot_attention_grid", "wrap_id"]
