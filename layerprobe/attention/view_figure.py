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

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from layerprobe.io.store import FeatureStore



def _draw_tier(ax: "Axes", intervals: Sequence[Any], rate: float, *, vertical: bool, fontsize: float) -> None:
    for interval in intervals:
        a, b = interval.start * rate - 0.5, interval.end * rate - 0.5
        mid = (a + b) / 2
        if vertical:
            ax.axhline(a, color="0.3", lw=0.5)
            ax.axhline(b, color="0.3", lw=0.5)
            ax.text(0.5, mid, interval.label, ha="center", va="center", fontsize=fontsize, rotation=90, clip_on=True)
        else:
            ax.axvline(a, color="0.3", lw=0.5)
            ax.axvline(b, color="0.3", lw=0.5)
            ax.text(mid, 0.5, interval.label, ha="center", va="center", fontsize=fontsize, rotation=0, clip_on=True)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_attention_map(
    map: np.ndarray,
    *,
    alignment: Alignment | None = None,
    ax: "Axes | None" = None,
    frame_rate_hz: float = 50.0,
    cmap: str = "viridis",
    title: str | None = None,
    colorbar: bool = True,
) -> "Axes":
    """Draw one attention map (T, T) with phone and word tiers along both axes.

    Rows are query frames (y, top to bottom), columns key frames (x).  With an alignment, a phone
    and a word strip run above the map and left of it, and phone (thin) and word (thick)
    boundaries are drawn over the map.

    Returns
    -------
    matplotlib Axes
        The axes of the map.
    """
    import matplotlib.pyplot as plt
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    values = np.asarray(map, dtype=np.float32)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ConfigError(f"an attention map must be square (T, T), got shape {values.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 6.5))
    n = values.shape[0]
    image = ax.imshow(values, cmap=cmap, interpolation="nearest", origin="upper", extent=(-0.5, n - 0.5, n - 0.5, -0.5))
    ax.set_xlabel(f"key frame ({frame_rate_hz:g} Hz)")
    ax.set_ylabel(f"query frame ({frame_rate_hz:g} Hz)")
    if title:
        ax.set_title(title, fontsize=9, pad=40 if alignment is not None else 6)
    divider = make_axes_locatable(ax)
    if colorbar:
        cax = divider.append_axes("right", size="3%", pad=0.08)
        ax.figure.colorbar(image, cax=cax)
    if alignment is not None:
        for interval in alignment.phones:
            for edge in (interval.start * frame_rate_hz - 0.5, interval.end * frame_rate_hz - 0.5):
                ax.axvline(edge, color="white", lw=0.3, alpha=0.4)
                ax.axhline(edge, color="white", lw=0.3, alpha=0.4)
        for interval in alignment.words:
            for edge in (interval.start * frame_rate_hz - 0.5, interval.end * frame_rate_hz - 0.5):
                ax.axvline(edge, color="white", lw=0.8, alpha=0.8)
                ax.axhline(edge, color="white", lw=0.8, alpha=0.8)
        small = max(3.0, min(7.0, 400.0 / max(n, 1)))
        tiers = [("phones", alignment.phones, small), ("words", alignment.words, small + 1)]
        for name, intervals, size in reversed(tiers):
            top = divider.append_axes("top", size="4%", pad=0.02, sharex=ax)
            _draw_tier(top, intervals, frame_rate_hz, vertical=False, fontsize=size)
            top.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
            top.tick_params(labelbottom=False)
        left = ax
        for name, intervals, size in reversed(tiers):
            left = divider.append_axes("left", size="4%", pad=0.02, sharey=ax)
            _draw_tier(left, intervals, frame_rate_hz, vertical=True, fontsize=size)
        ax.set_ylabel("")
        left.set_ylabel(f"query frame ({frame_rate_hz:g} Hz)")
        ax.set_xlim(-0.5, n - 0.5)
        ax.set_ylim(n - 0.5, -0.5)
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
) -> Path:
    """Write a static PNG of one map (a head or the head average) with phone and word tiers.

    The alignment is ``alignment`` if given, else read through the store's manifest (see
    :func:`find_manifest`); without one the map is drawn without tiers.

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
    figure, ax = plt.subplots(figsize=(6.5, 6.5))
    try:
        head_text = "head average" if isinstance(head, str) else f"head {head}"
        plot_attention_map(view, alignment=alignment, ax=ax, frame_rate_hz=rate,
                           title=f"{model} {layer} {head_text}{' logits' if logits else ''}: {utt}")  # fmt: skip
        save_figure(figure, out, formats=["png"])
    finally:
        plt.close(figure)
    return out


__all__ = ["plot_attention_map", "render_png"]
