"""Static figures of attention maps: one map with phone and word tiers, and the PNG export of the viewer.

Part of :mod:`layerprobe.attention.view` (whose public names are importable from there as before).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from layerprobe.attention.view_inputs import PathLike, _head_view, _maps, _open_store, find_manifest, load_alignments
from layerprobe.errors import ConfigError
from layerprobe.io.alignments import Alignment
from layerprobe.io.figure_style import PAGE_WIDTH_IN, paper_style

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from layerprobe.io.store import FeatureStore



#: Phone and word boundaries over the map: thin, semi-transparent, in a colour that shows on viridis.
BOUNDARY_COLOR = "#D55E00"
#: Font size (points) of the tier labels: readable when the figure is printed at its size.
TIER_FONT_SIZE = 6.0


def _tier_label(label: str, fold: bool) -> str:
    from layerprobe.data.labels import phone_class

    if not fold:
        return label
    return phone_class(label) or ""


def _draw_tier(ax: "Axes", intervals: Sequence[Any], *, vertical: bool, fontsize: float, fold: bool = False) -> None:
    """Label the intervals (seconds) of one tier on a strip along the map, where a label fits its interval."""
    box = ax.get_window_extent()  # laid out: the caller has drawn the figure once
    pixels = box.height if vertical else box.width
    low, high = ax.get_ylim() if vertical else ax.get_xlim()
    per_second = pixels / abs(high - low) if high != low else 0.0
    renderer = ax.figure.canvas.get_renderer()
    line = ax.axhline if vertical else ax.axvline
    for interval in intervals:
        a, b = interval.start, interval.end
        line(a, color="0.35", lw=0.4)
        line(b, color="0.35", lw=0.4)
        text = _tier_label(interval.label, fold)
        if not text:
            continue
        if vertical:
            drawn = ax.text(0.5, (a + b) / 2, text, ha="center", va="center", fontsize=fontsize, rotation=90, clip_on=True,
                            transform=ax.get_yaxis_transform())  # fmt: skip
        else:
            drawn = ax.text((a + b) / 2, 0.5, text, ha="center", va="center", fontsize=fontsize, clip_on=True,
                            transform=ax.get_xaxis_transform())  # fmt: skip
        extent = drawn.get_window_extent(renderer)
        if (extent.height if vertical else extent.width) > (b - a) * per_second:
            drawn.remove()  # a label wider than its interval is left out rather than drawn over its neighbours
    # the strips share the map's time axis: hide their ticks, never remove them (that would clear the map's)
    ax.tick_params(axis="both", which="both", left=False, bottom=False, labelleft=False, labelbottom=False)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_linewidth(0.5)


def plot_attention_map(
    map: np.ndarray,
    *,
    alignment: Alignment | None = None,
    ax: "Axes | None" = None,
    frame_rate_hz: float = 50.0,
    cmap: str = "viridis",
    title: str | None = None,
    colorbar: bool = True,
    value_label: str = "attention weight",
    phone_labels: str = "arpabet39",
) -> "Axes":
    """Draw one attention map (T, T) with phone and word tiers along both axes, in seconds.

    Rows are query frames (y, top to bottom), columns key frames (x); frame ``t`` covers
    ``[t / r, (t + 1) / r)`` seconds at frame rate ``r``, and both axes are labelled in seconds.
    With an alignment, a phone and a word strip run above the map and left of it (labels in
    :data:`TIER_FONT_SIZE` points, left out where they do not fit their interval), and phone (thin)
    and word (thicker) boundaries are drawn over the map, semi-transparent in :data:`BOUNDARY_COLOR`.

    Parameters
    ----------
    map : numpy.ndarray, shape (T, T)
    alignment : Alignment, optional
    ax : matplotlib Axes, optional
        Where to draw; a new figure a page wide (7 in) and square is made when omitted.
    frame_rate_hz : float
        Frames per second of the map.
    cmap : str
    title : str, optional
    colorbar : bool
        Draw a colour bar labelled ``value_label``.
    value_label : str
        The colour bar's label ("attention weight"; "attention logit" for pre-softmax maps).
    phone_labels : {"arpabet39", "raw"}
        Phone tier labels folded to the 39 ARPAbet classes (:func:`~layerprobe.data.labels.phone_class`:
        TIMIT ``ix`` -> ``IH``; silence and stop closures such as ``h#``, ``kcl`` unlabelled), or as
        the alignment has them.

    Returns
    -------
    matplotlib Axes
        The axes of the map.
    """
    import matplotlib.pyplot as plt
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    if phone_labels not in ("arpabet39", "raw"):
        raise ConfigError(f"phone_labels must be arpabet39 or raw, got {phone_labels!r}")
    values = np.asarray(map, dtype=np.float32)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ConfigError(f"an attention map must be square (T, T), got shape {values.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, PAGE_WIDTH_IN))
    n = values.shape[0]
    seconds = n / frame_rate_hz
    image = ax.imshow(values, cmap=cmap, interpolation="nearest", origin="upper", extent=(0.0, seconds, seconds, 0.0))
    ax.grid(False)
    ax.set_xlabel("key time (s)")
    ax.set_ylabel("query time (s)")
    if title:
        ax.set_title(title, pad=6)
    divider = make_axes_locatable(ax)
    if colorbar:
        cax = divider.append_axes("right", size="3%", pad=0.08)
        bar = ax.figure.colorbar(image, cax=cax)
        bar.set_label(value_label)
    if alignment is not None:
        for intervals, lw, alpha in ((alignment.phones, 0.25, 0.3), (alignment.words, 0.6, 0.55)):
            for interval in intervals:
                for edge in (interval.start, interval.end):
                    ax.axvline(edge, color=BOUNDARY_COLOR, lw=lw, alpha=alpha)
                    ax.axhline(edge, color=BOUNDARY_COLOR, lw=lw, alpha=alpha)
        fold = phone_labels == "arpabet39"
        tiers = [("phones", alignment.phones, TIER_FONT_SIZE, fold), ("words", alignment.words, TIER_FONT_SIZE + 0.5, False)]
        ax.set_xlim(0.0, seconds)
        ax.set_ylim(seconds, 0.0)
        strips = []
        for name, intervals, size, folded in tiers:
            top = divider.append_axes("top", size="4.5%", pad=0.03, sharex=ax)
            top.set_ylabel(name, rotation=0, ha="right", va="center")
            top.tick_params(labelbottom=False)
            strips.append((top, intervals, size, folded, False))
        left = None
        for name, intervals, size, folded in tiers:
            left = divider.append_axes("left", size="4.5%", pad=0.03, sharey=ax)
            strips.append((left, intervals, size, folded, True))
        if title:  # above the tiers
            ax.set_title("")
            strips[1][0].set_title(title, pad=6)
        ax.set_ylabel("")
        assert left is not None
        left.set_ylabel("query time (s)")
        ax.figure.canvas.draw()
        for strip, intervals, size, folded, vertical in strips:
            _draw_tier(strip, intervals, vertical=vertical, fontsize=size, fold=folded)
        # query times left of the outer strip (the map's own labels would sit under the strips)
        ax.tick_params(axis="y", labelleft=False)
        left.tick_params(axis="y", left=True, labelleft=True)
        ax.set_xlim(0.0, seconds)
        ax.set_ylim(seconds, 0.0)
    return ax


def render_png(
    store: "FeatureStore | PathLike",
    utt: str,
    layer: str,
    head: int | str = "avg",
    out: PathLike = "attention.png",
    *,
    logits: bool = False,
    alignment: Alignment | None = None,
    manifest: PathLike | None = None,
    samples_dir: PathLike | None = "data_samples",
    phone_labels: str = "arpabet39",
) -> Path:
    """Write a static PNG of one map (a head or the head average) with phone and word tiers.

    The alignment is ``alignment`` if given, else read through the store's manifest (see
    :func:`find_manifest`); without one the map is drawn without tiers.  The figure (paper style,
    :func:`plot_attention_map`) is titled with the model's display name, the block, the head and
    the utterance; phone labels are folded to the 39 ARPAbet classes unless ``phone_labels="raw"``.

    Returns
    -------
    Path
        The PNG written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from layerprobe.io.figures import save_figure

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--png must end in .png, got {out}")
    opened, owned = _open_store(store)
    try:
        if layer not in opened.layer_ids:
            raise ConfigError(f"the store has no layer {layer!r} (it has {', '.join(opened.layer_ids)})")
        maps = _maps(opened, utt, layer, logits=logits)
        if maps is None:
            what = "logits" if logits else "attention maps"
            raise ConfigError(f"no {what} stored for utterance {utt!r} at {layer}")
        view = _head_view(maps, head)
        if alignment is None:
            path, _ = find_manifest(opened, samples_dir=samples_dir, manifest=manifest)
            if path is not None:
                found, _ = load_alignments(path, [utt])
                alignment = found.get(utt)
        rate = float(opened.frame_rate_hz)
        model = opened.attrs.get("model", "")
    finally:
        if owned:
            opened.close()
    from layerprobe.io.figure_style import model_display_name
    head_text = "head average" if isinstance(head, str) else f"head {head}"
    title = f"{model_display_name(str(model)) or 'model'}, {layer}, {head_text}{' (logits)' if logits else ''}\nutterance {utt}"
    with paper_style():
        figure, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, PAGE_WIDTH_IN))
        try:
            plot_attention_map(view, alignment=alignment, ax=ax, frame_rate_hz=rate, title=title,
                               value_label="attention logit" if logits else "attention weight",
                               phone_labels=phone_labels)  # fmt: skip
            save_figure(figure, out, formats=["png"])
        finally:
            plt.close(figure)
    return out


__all__ = ["plot_attention_map", "render_png"]
