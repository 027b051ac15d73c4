"""A gallery page: many audiated units side by side, to listen to and look at.

:func:`write_gallery` turns the sidecars written by :func:`~layerprobe.audiation.write_audiation`
into one HTML file.  Each unit gets a card with an audio player for its WAV, its spectrogram PNG,
the activation figures (initial, final, noise baseline, neighbours), the activation over the
optimisation steps as an inline SVG line, and, where the sidecar has dataset examples, a table of
the stored frames that activate the unit most (utterance, time, phone, word, value) with a player
for each clip of real speech (on its own row under the example).

Layout: the cards sit in a CSS grid of columns at least 430 px wide (as many as fit: two at
1000 px, four at 2000 px, one on a narrow screen); everything in a card is sized to the card (the
examples table has fixed column widths, long ids wrap, players take the card's width), so
nothing spills over a card's edge into the next.

The page is self-contained apart from the unit files it points to: the style and a few lines of
script are inline, nothing is loaded from the network, and the WAV, PNG and clip files are linked by
paths relative to the page, so the folder can be moved or zipped as a whole.  The script only makes
one player pause the others and marks ``document.body.dataset.ready``.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote

from layerprobe.errors import ConfigError, ResultError
from layerprobe.io.atomic import atomic_write
from layerprobe.io.figure_style import model_display_name

PathLike = str | os.PathLike[str]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.2em; color: #222; background: #fafafa; }
h1 { font-size: 1.3em; margin-bottom: 0.2em; }
p.lp-about { color: #555; margin-top: 0; font-size: 0.9em; max-width: 70em; }
div.lp-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 430px), 1fr));
              gap: 1em; align-items: start; }
section.lp-unit { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 0.7em;
                  min-width: 0; box-sizing: border-box; overflow-wrap: anywhere; }
section.lp-unit h2 { font-size: 1.05em; margin: 0 0 0.4em 0; }
section.lp-unit img { width: 100%; height: auto; display: block; margin: 0.4em 0; }
section.lp-unit audio { display: block; width: 100%; box-sizing: border-box; }
table { border-collapse: collapse; font-size: 0.85em; width: 100%; }
table.lp-examples { table-layout: fixed; }
table.lp-examples col.lp-rank { width: 1.8em; } table.lp-examples col.lp-time { width: 4.2em; }
table.lp-examples col.lp-phone { width: 4.8em; } table.lp-examples col.lp-value { width: 4.4em; }
td, th { padding: 2px 4px; border-bottom: 1px solid #eee; text-align: left; vertical-align: middle; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.lp-examples td.lp-clip { padding: 0 0 3px 0; }
table.lp-examples audio { height: 28px; }
svg.lp-curve { display: block; width: 100%; height: 60px; background: #f4f6fb; }
"""

_SCRIPT = """
document.addEventListener('play', function (event) {
  document.querySelectorAll('audio').forEach(function (player) {
    if (player !== event.target) { player.pause(); }
  });
}, true);
document.body.dataset.ready = '1';
"""


def _link(target: Path, page_dir: Path) -> str:
    """A URL path from the page's folder to ``target`` (POSIX separators, percent-encoded)."""
    relative = os.path.relpath(target.resolve(), page_dir.resolve())
    return quote(Path(relative).as_posix())


def _number(value: Any) -> str:
    return "" if value is None else f"{float(value):.4g}"


def _curve_svg(values: Sequence[float], *, width: int = 440, height: int = 60) -> str:
    """An inline SVG line of the activation over steps (min to max of the curve)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    last = max(len(values) - 1, 1)
    points = " ".join(
        f"{i / last * (width - 4) + 2:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}" for i, v in enumerate(values)
    )
    label = f"activation over {len(values)} steps: {_number(values[0])} to {_number(values[-1])} (min {_number(low)}, max {_number(high)})"
    return (
        f'<svg class="lp-curve" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
        f'aria-label="{html.escape(label)}"><title>{html.escape(label)}</title>'
        f'<polyline fill="none" stroke="#3060c0" stroke-width="1.5" points="{points}"/></svg>'
    )


def _card(entry: Mapping[str, Any], page_dir: Path) -> str:
    base = Path(entry["path"]).parent
    files = entry["files"]
    where = f", frame {entry['frame']}" if entry.get("frame") is not None else ""
    title = f"{entry['layer']} unit {entry['unit']} ({entry['mode']}{where})"
    figures = [
        ("initial", entry.get("initial_activation")),
        ("final", entry.get("final_activation")),
        ("noise (same RMS)", entry.get("noise_activation")),
    ]
    if entry.get("neighbour_activation") is not None:
        figures.append(("neighbours", entry["neighbour_activation"]))
    rows = "".join(f"<tr><th>{html.escape(name)}</th><td class=\"num\">{_number(value)}</td></tr>" for name, value in figures)
    parts = [
        f'<section class="lp-unit" id="unit-{html.escape(str(entry["layer"]))}-{int(entry["unit"])}" '
        f'data-unit="{int(entry["unit"])}" data-layer="{html.escape(str(entry["layer"]))}">',
        f"<h2>{html.escape(title)}</h2>",
        f'<audio controls preload="metadata" src="{_link(base / files["wav"], page_dir)}"></audio>',
        f'<img src="{_link(base / files["png"], page_dir)}" alt="spectrogram of {html.escape(title)}">',
        f'<table class="lp-figures">{rows}</table>',
        _curve_svg([float(v) for v in entry.get("activations", [])]),
    ]
    examples = entry.get("examples") or []
    if examples:
        header = ('<colgroup><col class="lp-rank"><col class="lp-utt"><col class="lp-time"><col class="lp-phone">'
                  '<col class="lp-word"><col class="lp-value"></colgroup>'
                  "<tr><th>#</th><th>utterance</th><th>time (s)</th><th>phone</th><th>word</th><th>value</th></tr>")
        lines = []
        for example in examples:
            clip = example.get("clip")
            player = f'<audio controls preload="none" src="{_link(base / clip, page_dir)}"></audio>' if clip else ""
            lines.append(
                f"<tr><td>{int(example['rank'])}</td><td>{html.escape(str(example['utt_id']))}</td>"
                f"<td class=\"num\">{float(example['time_s']):.2f}</td><td>{html.escape(str(example.get('phone') or ''))}</td>"
                f"<td>{html.escape(str(example.get('word') or ''))}</td><td class=\"num\">{_number(example['activation'])}</td></tr>"
            )
            if player:  # the clip's player on its own row, the table's full width: it never spills over the card
                lines.append(f'<tr class="lp-clip-row"><td class="lp-clip" colspan="6">{player}</td></tr>')
        parts.append(f'<details open><summary>dataset examples (top {len(examples)})</summary>'
                     f'<table class="lp-examples">{header}{"".join(lines)}</table></details>')  # fmt: skip
    parts.append("</section>")
    return "\n".join(parts)


def write_gallery(sidecars: Sequence[PathLike | Mapping[str, Any]], out_html: PathLike, *, title: str | None = None) -> Path:
    """Write one HTML page with a card per audiated unit.

    Parameters
    ----------
    sidecars : sequence of path-like or mapping
        Sidecar files written by :func:`~layerprobe.audiation.write_audiation` (or what
        :func:`~layerprobe.audiation.read_audiation` returned for them), in page order.
    out_html : path-like
        The page; the unit files are linked relative to its folder.
    title : str, optional
        The page's heading (default: the models and layers of the units).

    Returns
    -------
    Path
        ``out_html``, written atomically.

    Raises
    ------
    ConfigError
        For an empty list or a page name that does not end in .html.
    ResultError
        For a sidecar that cannot be read, or a page that cannot be written.
    """
    from layerprobe.audiation.files import read_audiation

    out = Path(out_html)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError("a gallery page must end in .html", path=out)
    entries = [dict(item) if isinstance(item, Mapping) else read_audiation(item) for item in sidecars]
    if not entries:
        raise ConfigError("no audiated units to put in a gallery")
    page_dir = out.parent
    models = sorted({str(entry["model"]) for entry in entries})
    layers = sorted({str(entry["layer"]) for entry in entries})
    heading = title or f"Audiated units: {', '.join(model_display_name(model) for model in models)}, {', '.join(layers)}"
    settings = entries[0].get("settings") or {}
    about = ", ".join(f"{key} {'none' if settings[key] is None else settings[key]}"
                      for key in ("steps", "seconds", "lr", "seed", "regularizer") if key in settings)  # fmt: skip
    meta = {"models": models, "layers": layers, "units": [[entry["layer"], entry["unit"]] for entry in entries]}
    body = "\n".join(_card(entry, page_dir) for entry in entries)
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(heading)}</title><style>{_STYLE}</style></head>\n<body>\n"
        f"<h1>{html.escape(heading)}</h1>\n<p class=\"lp-about\">{len(entries)} unit(s); {html.escape(about)}. "
        "Figures are the unit's activation: on the first and the last signal, and on white noise of the same RMS.</p>\n"
        f'<script type="application/json" id="lp-meta">{html.escape(json.dumps(meta), quote=False)}</script>\n'
        f'<div class="lp-grid">\n{body}\n</div>\n<script>{_SCRIPT}</script>\n</body></html>\n'
    )
    try:
        atomic_write(out, page)
    except OSError as exc:
        raise ResultError(f"cannot write the gallery page ({exc.strerror or exc})", path=out) from None
    return out


__all__ = ["write_gallery"]
