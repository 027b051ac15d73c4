"""A self-contained HTML attention viewer with phone and word tiers, a phone-by-phone matrix and PNG export.

:func:`write_viewer` turns the attention maps of a :class:`~layerprobe.io.store.FeatureStore` into one
HTML file that needs no network: the script, the style and the data are inline.  The page has
utterance, layer and head pickers (with the head average), a softmax switch for stores holding the
pre-softmax logits, zoom to a range of words, phone and word tiers along both axes with their
boundaries drawn over the map, a hover read-out (query and key time, frame, phone, word, value) and
the phone-by-phone matrix of the chosen layer.

Embedded data
-------------
The page carries one JSON object in ``<script type="application/json" id="lp-data">`` (read it back
with :func:`read_viewer_data`).  Each map of an utterance and layer, shape (heads, T, T), is
quantised to uint8 per head and base64-encoded in C order:

* attention weights (post-softmax): ``value = q / 255 * scale[h]`` with ``scale[h]`` the head's
  largest weight, so the error is at most ``scale[h] / 510``;
* logits (pre-softmax): ``value = lo[h] + q / 255 * (hi[h] - lo[h])``, error at most
  ``(hi[h] - lo[h]) / 510``.

With the softmax switch on, the page shows the stored attention weights, ``softmax(logits)``; off,
the raw logits.  The head average is the mean over heads of whichever is shown.

Phone-by-phone matrix
---------------------
For a layer, let ``A_u`` be the head-averaged post-softmax map of utterance ``u`` (rows: query
frames, columns: key frames; each row sums to 1).  Frame ``i`` covers ``[i / r, (i + 1) / r)`` at
frame rate ``r`` and takes the label of the phone interval holding its centre ``(i + 0.5) / r``,
folded to its ARPAbet-39 class (:func:`~layerprobe.data.labels.phone_class`); frames in silence, in
gaps or in phones without a class have no label.  Then, over the utterances ``U`` with maps and
alignments,

.. math::

    P[a, b] = \\frac{\\sum_{u \\in U} \\sum_{i: c_u(i) = a} \\sum_{j: c_u(j) = b} A_u[i, j]}
                   {\\sum_{u \\in U} |\\{i: c_u(i) = a\\}|}

is the mean, over every query frame of phone class ``a`` in the sample, of the attention mass it
puts on key frames of class ``b``; the matrix returned is row-normalised,
``M[a, b] = P[a, b] / \\sum_{b'} P[a, b']``, the share of the mass on labelled keys that goes to
class ``b`` (mass on unlabelled frames is dropped; a row with no mass on labelled keys is zero).
Labels are the classes that occur, in ARPAbet-39 order.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from layerprobe.errors import ConfigError, LayerprobeError, StoreError
from layerprobe.io.alignments import Alignment

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from layerprobe.data.samples import SampleManifest
    from layerprobe.io.store import FeatureStore

PathLike = str | os.PathLike[str]

#: Utterances put on a page unless told otherwise (page size grows with utterances x layers x heads x T^2).
DEFAULT_MAX_UTTERANCES = 10

__all__ = [
    "DEFAULT_MAX_UTTERANCES",
    "find_manifest",
    "load_alignments",
    "phone_matrix",
    "plot_attention_map",
    "read_viewer_data",
    "render_png",
    "write_viewer",
]


# --------------------------------------------------------------------------------------------------
# Store helpers


def _open_store(store: "FeatureStore | PathLike") -> tuple["FeatureStore", bool]:
    from layerprobe.io.store import FeatureStore

    if isinstance(store, FeatureStore):
        return store, False
    return FeatureStore.open(store), True


def _maps(store: Any, utt_id: str, layer: str, *, logits: bool = False) -> np.ndarray | None:
    """The stored maps, or None (also when the store has no logits group at all)."""
    try:
        return store.attention(utt_id, layer, logits=logits)
    except KeyError:
        return None


def _map_utterances(store: "FeatureStore") -> list[str]:
    """Ids of the utterances with stored maps, in store order."""
    config = store.attrs.get("config") or {}
    listed = config.get("attention_utterances")
    ids = store.utterance_ids
    if isinstance(listed, list) and listed:
        chosen = set(listed)
        return [utt for utt in ids if utt in chosen]
    return [utt for utt in ids if any(_maps(store, utt, layer) is not None for layer in store.layer_ids)]


def _map_layers(store: "FeatureStore", utt_id: str) -> list[str]:
    return [layer for layer in store.layer_ids if _maps(store, utt_id, layer) is not None]


def _head_view(maps: np.ndarray, head: int | str) -> np.ndarray:
    """One head of (heads, T, T) maps, or their mean for ``"avg"``."""
    if isinstance(head, str) and head.lower() in ("avg", "mean", "average"):
        return maps.mean(axis=0)
    try:
        index = int(head)
    except (TypeError, ValueError):
        raise ConfigError(f"head must be a head number or avg, got {head!r}") from None
    if not 0 <= index < maps.shape[0]:
        raise ConfigError(f"head {index} does not exist (the maps have {maps.shape[0]} heads: 0-{maps.shape[0] - 1})")
    return maps[index]


# --------------------------------------------------------------------------------------------------
# Manifest and alignments


def find_manifest(
    store: "FeatureStore", *, samples_dir: PathLike | None = "data_samples", manifest: PathLike | None = None
) -> tuple[Path | None, str]:
    """Locate the data-sample manifest a store was extracted from.

    Parameters
    ----------
    store : FeatureStore
    samples_dir : path-like, optional
        Root of the data-sample sets; the manifest is ``<samples_dir>/<corpus>/<file>`` with corpus
        and file from the store's ``config.manifest`` attr.
    manifest : path-like, optional
        The manifest itself (wins over ``samples_dir``).

    Returns
    -------
    (Path or None, str)
        The manifest path (None when not found) and a note for the reader (empty when all is well).
    """
    if manifest is not None:
        path = Path(manifest)
        return (path, "") if path.is_file() else (None, f"manifest {path} does not exist")
    recorded = (store.attrs.get("config") or {}).get("manifest")
    if not isinstance(recorded, Mapping) or not recorded.get("corpus"):
        return None, "the store records no data-sample manifest"
    if samples_dir is None:
        return None, "no samples directory given"
    from layerprobe.data.samples import manifest_path

    file = recorded.get("file")
    if file:
        path = Path(samples_dir) / str(recorded["corpus"]) / str(file)
    else:
        path = manifest_path(samples_dir, recorded["corpus"], recorded["split"], recorded["span"], int(recorded["sample"]))
    if not path.is_file():
        return None, f"manifest {path} not found (pass --samples-dir or --manifest)"
    return path, ""


def _alignment_format(path: Path, corpus_format: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".textgrid":
        return "textgrid"
    if suffix in (".phn", ".wrd"):
        return "timit"
    if corpus_format in ("timit", "librispeech"):
        return corpus_format
    return "textgrid"


def load_alignments(manifest: "SampleManifest | PathLike", utt_ids: Sequence[str]) -> tuple[dict[str, Alignment], list[str]]:
    """Read the alignments of some utterances of a data-sample set.

    Returns
    -------
    (dict, list of str)
        utterance id -> Alignment for those that have one, and notes on those that do not.
    """
    from layerprobe.data.corpora import read_alignment
    from layerprobe.data.samples import SampleManifest, read_manifest

    sample = manifest if isinstance(manifest, SampleManifest) else read_manifest(manifest)
    by_id = {u.utt_id: u for u in sample.utterances}
    found: dict[str, Alignment] = {}
    notes: list[str] = []
    for utt_id in utt_ids:
        utterance = by_id.get(utt_id)
        if utterance is None:
            notes.append(f"{utt_id}: not in the manifest")
            continue
        path = sample.alignment_path(utterance)
        if path is None:
            notes.append(f"{utt_id}: no alignment file")
            continue
        try:
            found[utt_id] = read_alignment(path, _alignment_format(path, str(sample.corpus.get("format", ""))),
                                           utt_id=utt_id, duration=utterance.duration_s)  # fmt: skip
        except LayerprobeError as exc:
            notes.append(f"{utt_id}: {exc}")
    return found, notes


# --------------------------------------------------------------------------------------------------
# Phone-by-phone matrix


def _frame_classes(alignment: Alignment, n_frames: int, frame_rate_hz: float, classes: str | None) -> list[str | None]:
    """The phone class of each frame (by the frame's centre), None where there is none."""
    from layerprobe.data.labels import phone_class

    labels: list[str | None] = [None] * n_frames
    for phone in alignment.phones:
        label = phone_class(phone.label) if classes == "arpabet39" else (phone.label.strip() or None)
        if label is None:
            continue
        first = max(0, int(math.ceil(phone.start * frame_rate_hz - 0.5)))
        end = min(n_frames, int(math.ceil(phone.end * frame_rate_hz - 0.5)))
        for i in range(first, end):
            labels[i] = label
    return labels


def phone_matrix(
    store: Any,
    layer: str,
    alignments: Mapping[str, Alignment],
    *,
    head: int | str = "avg",
    classes: str | None = "arpabet39",
) -> tuple[list[str], np.ndarray]:
    """Attention mass between phone classes, averaged over the stored utterances of a sample.

    The definition is in the module docstring: the mean over query frames of class ``a`` of the
    attention mass on key frames of class ``b``, pooled over utterances, then row-normalised.

    Parameters
    ----------
    store : FeatureStore
        Or any object with ``attention(utt_id, layer)`` -> (heads, T, T) and ``frame_rate_hz``.
    layer : str
        The block, e.g. ``"T3"``.
    alignments : mapping
        Utterance id -> Alignment; utterances without stored maps are skipped.
    head : int or "avg"
        One head or the mean over heads (default).
    classes : "arpabet39" or None
        Fold labels to ARPAbet-39 classes (silence and unclassed labels dropped), or use the
        alignment's labels as they are.

    Returns
    -------
    labels : list of str
        The classes that occur (ARPAbet-39 order, or sorted for raw labels).
    matrix : numpy.ndarray
        (n_labels, n_labels) float64; row ``a``: query class, column ``b``: key class; rows sum to 1
        (or 0 when the class sends no mass to labelled keys).
    """
    from layerprobe.data.labels import ARPABET39

    rate = float(store.frame_rate_hz)
    mass: dict[tuple[str, str], float] = {}
    counts: dict[str, int] = {}
    for utt_id, alignment in alignments.items():
        maps = _maps(store, utt_id, layer)
        if maps is None:
            continue
        view = _head_view(np.asarray(maps, dtype=np.float64), head)
        n_frames = view.shape[0]
        frame_labels = _frame_classes(alignment, n_frames, rate, classes)
        present = sorted({label for label in frame_labels if label is not None})
        index = {label: np.array([i for i, lab in enumerate(frame_labels) if lab == label]) for label in present}
        for a in present:
            counts[a] = counts.get(a, 0) + len(index[a])
            rows = view[index[a]]
            for b in present:
                mass[(a, b)] = mass.get((a, b), 0.0) + float(rows[:, index[b]].sum())
    order = {label: n for n, label in enumerate(ARPABET39)}
    labels = sorted(counts, key=lambda lab: (order.get(lab, len(order)), lab))
    matrix = np.zeros((len(labels), len(labels)))
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            matrix[i, j] = mass.get((a, b), 0.0) / counts[a]
    sums = matrix.sum(axis=1, keepdims=True)
    matrix = np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)
    return labels, matrix


# --------------------------------------------------------------------------------------------------
# Quantisation and the embedded data


def _b64(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=np.uint8).tobytes()).decode("ascii")


def _quantise_weights(maps: np.ndarray) -> dict[str, Any]:
    """uint8 per head: value = q / 255 * scale[h]."""
    maps = np.clip(np.nan_to_num(maps.astype(np.float64)), 0.0, None)
    scale = maps.reshape(maps.shape[0], -1).max(axis=1)
    safe = np.where(scale > 0, scale, 1.0)
    q = np.rint(maps / safe[:, None, None] * 255.0)
    return {"q": _b64(np.clip(q, 0, 255)), "scale": [float(s) for s in scale]}


def _quantise_logits(logits: np.ndarray) -> dict[str, Any]:
    """uint8 per head: value = lo[h] + q / 255 * (hi[h] - lo[h]); -inf (masked) becomes lo."""
    logits = logits.astype(np.float64)
    finite = np.isfinite(logits)
    flat = np.where(finite, logits, np.nan).reshape(logits.shape[0], -1)
    lo = np.nan_to_num(np.nanmin(flat, axis=1)) if finite.any() else np.zeros(logits.shape[0])
    hi = np.nan_to_num(np.nanmax(flat, axis=1)) if finite.any() else np.zeros(logits.shape[0])
    span = np.where(hi > lo, hi - lo, 1.0)
    values = np.where(finite, logits, lo[:, None, None])
    q = np.rint((values - lo[:, None, None]) / span[:, None, None] * 255.0)
    return {"q": _b64(np.clip(q, 0, 255)), "lo": [float(v) for v in lo], "hi": [float(v) for v in hi]}


def decode_map(entry: Mapping[str, Any], shape: tuple[int, int, int]) -> np.ndarray:
    """Maps (heads, T, T) float32 back from an embedded entry (weights or logits)."""
    q = np.frombuffer(base64.b64decode(entry["q"]), dtype=np.uint8).astype(np.float64).reshape(shape) / 255.0
    if "scale" in entry:
        return (q * np.asarray(entry["scale"])[:, None, None]).astype(np.float32)
    lo, hi = np.asarray(entry["lo"]), np.asarray(entry["hi"])
    return (lo[:, None, None] + q * (hi - lo)[:, None, None]).astype(np.float32)


def read_viewer_data(page: PathLike | str) -> dict[str, Any]:
    """The JSON object embedded in a viewer page (a path or the page's text)."""
    text = Path(page).read_text(encoding="utf-8") if not str(page).lstrip().startswith("<") else str(page)
    start_tag = '<script type="application/json" id="lp-data">'
    start = text.index(start_tag) + len(start_tag)
    end = text.index("</script>", start)
    return json.loads(text[start:end])


def _viridis() -> list[int]:
    from matplotlib import colormaps

    table = (colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(int)
    return [int(v) for v in table.ravel()]


def _intervals(intervals: Sequence[Any]) -> list[list[Any]]:
    return [[round(i.start, 5), round(i.end, 5), i.label] for i in intervals]


def _collect(
    store: "FeatureStore",
    *,
    utterances: Sequence[str] | int | None,
    layers: Sequence[str] | None,
    manifest: PathLike | None,
    samples_dir: PathLike | None,
) -> dict[str, Any]:
    with_maps = _map_utterances(store)
    if not with_maps:
        raise StoreError("holds no attention maps (extract with --attention)", path=store.paths[0])
    if utterances is None:
        chosen = with_maps[:DEFAULT_MAX_UTTERANCES]
    elif isinstance(utterances, int):
        if utterances < 1:
            raise ConfigError(f"--utterances must be positive, got {utterances}")
        chosen = with_maps[:utterances]
    else:
        missing = [u for u in utterances if u not in with_maps]
        if missing:
            raise ConfigError(f"no attention maps stored for {', '.join(missing)} (stored: {', '.join(with_maps)})")
        chosen = list(utterances)
    map_layers = _map_layers(store, chosen[0])
    if not map_layers:  # listed in the store's config, but its maps are gone (a damaged store)
        raise StoreError(f"lists attention maps for {chosen[0]!r} but holds none", path=store.paths[0])
    if layers:
        unknown = [layer for layer in layers if layer not in map_layers]
        if unknown:
            raise ConfigError(f"no attention maps stored for layer(s) {', '.join(unknown)} (stored: {', '.join(map_layers)})")
        map_layers = [layer for layer in map_layers if layer in set(layers)]
    has_logits = _maps(store, chosen[0], map_layers[0], logits=True) is not None

    path, note = find_manifest(store, samples_dir=samples_dir, manifest=manifest)
    alignments: dict[str, Alignment] = {}
    notes: list[str] = []
    if path is not None:
        try:
            alignments, notes = load_alignments(path, chosen)
        except LayerprobeError as exc:
            note = f"manifest {path} could not be read: {exc}"
    if not alignments:
        note = f"No alignment available: {note or '; '.join(notes) or 'no utterance has one'}. Tiers are not drawn."
    elif notes:
        note = "Some utterances have no alignment: " + "; ".join(notes)

    rate = float(store.frame_rate_hz)
    entries = []
    for utt_id in chosen:
        entry: dict[str, Any] = {"id": utt_id, "maps": {}, "logits": {}}
        for layer in map_layers:
            maps = _maps(store, utt_id, layer)
            if maps is None:
                continue
            entry["T"], entry["heads"] = int(maps.shape[1]), int(maps.shape[0])
            entry["maps"][layer] = _quantise_weights(maps)
            logits = _maps(store, utt_id, layer, logits=True) if has_logits else None
            if logits is not None:
                entry["logits"][layer] = _quantise_logits(logits)
        alignment = alignments.get(utt_id)
        entry["phones"] = _intervals(alignment.phones) if alignment else []
        entry["words"] = _intervals(alignment.words) if alignment else []
        entry["duration"] = alignment.duration if alignment else entry.get("T", 0) / rate
        entries.append(entry)

    matrices = {}
    if alignments:
        for layer in map_layers:
            labels, matrix = phone_matrix(store, layer, alignments)
            matrices[layer] = {"labels": labels, "matrix": [[round(float(v), 5) for v in row] for row in matrix]}
    recorded = (store.attrs.get("config") or {}).get("manifest") or {}
    return {
        "format": 1,
        "title": f"{store.attrs.get('model', '?')} | {recorded.get('corpus', '?')} {recorded.get('split', '')} "
                 f"sample {recorded.get('sample', '?')}",
        "store": str(store.paths[0]),
        "frame_rate_hz": rate,
        "layers": map_layers,
        "has_logits": bool(has_logits),
        "has_alignment": bool(alignments),
        "note": note,
        "n_matrix_utterances": len([u for u in chosen if u in alignments]),
        "utterances": entries,
        "phone_matrix": matrices,
        "colormap": _viridis(),
    }


def write_viewer(
    store_path: "PathLike | FeatureStore",
    out_html: PathLike,
    *,
    utterances: Sequence[str] | int | None = None,
    manifest: PathLike | None = None,
    samples_dir: PathLike | None = "data_samples",
    layers: Sequence[str] | None = None,
) -> Path:
    """Write the self-contained attention viewer page of a store.

    Parameters
    ----------
    store_path : path-like or FeatureStore
        A store with attention maps (``layerprobe attention maps``).
    out_html : path-like
        The page to write (its folder is created).
    utterances : sequence of str or int, optional
        Utterance ids, or the first N with maps; default the first :data:`DEFAULT_MAX_UTTERANCES`.
    manifest : path-like, optional
        The data-sample manifest for the alignments; found from ``samples_dir`` and the store's
        ``config.manifest`` attr when omitted.  Without alignments the page draws no tiers and says so.
    samples_dir : path-like, optional
        Root of the data-sample sets (default ``data_samples``).
    layers : sequence of str, optional
        Only these blocks (default: every block with maps).

    Returns
    -------
    Path
        ``out_html``.

    Raises
    ------
    StoreError
        When the store holds no attention maps.
    ConfigError
        Unknown utterances or layers.
    """
    store, owned = _open_store(store_path)
    try:
        data = _collect(store, utterances=utterances, layers=layers, manifest=manifest, samples_dir=samples_dir)
    finally:
        if owned:
            store.close()
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    page = (
        _PAGE.replace("@@TITLE@@", html.escape(data["title"]))
        .replace("@@CSS@@", _CSS)
        .replace("@@JS@@", _JS)
        .replace("@@DATA@@", payload)
    )
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


# --------------------------------------------------------------------------------------------------
# Static figures


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

    from layerprobe.plots import save_figure

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


# --------------------------------------------------------------------------------------------------
# The page

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>layerprobe attention viewer: @@TITLE@@</title>
<style>
@@CSS@@
</style>
</head>
<body>
<h1>layerprobe attention viewer</h1>
<p id="lp-title" class="sub">@@TITLE@@</p>
<div id="controls">
  <label>Utterance <select id="lp-utt"></select></label>
  <label>Layer <select id="lp-layer"></select></label>
  <label>Head <select id="lp-head"></select></label>
  <label title="On: attention weights softmax(logits). Off: raw pre-softmax logits (only when the store holds them).">
    <input type="checkbox" id="lp-softmax" checked> softmax</label>
  <label>Words <select id="lp-from"></select> to <select id="lp-to"></select></label>
  <button id="lp-reset" type="button">whole utterance</button>
</div>
<p id="lp-note" class="note"></p>
<div id="main">
  <div><canvas id="lp-map" width="720" height="720"></canvas>
    <div id="lp-hover" class="hover">hover over the map: query (row) and key (column)</div></div>
  <div id="side"><h2>Phone-by-phone attention (<span id="lp-matrix-layer"></span>, head average)</h2>
    <p class="sub">Row a, column b: mean attention mass from query frames of phone class a to key
    frames of class b over the page's utterances with alignments, row-normalised over labelled keys.</p>
    <canvas id="lp-matrix" width="560" height="560"></canvas>
    <div id="lp-matrix-hover" class="hover"></div></div>
</div>
<script type="application/json" id="lp-data">@@DATA@@</script>
<script>
@@JS@@
</script>
</body>
</html>
"""

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px; color: #222; background: #fafafa; }
h1 { font-size: 18px; margin: 0 0 2px 0; } h2 { font-size: 14px; margin: 4px 0; }
.sub { color: #555; font-size: 12px; margin: 2px 0 8px 0; max-width: 560px; }
#controls { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; font-size: 13px; margin-bottom: 6px; }
#controls select { font-size: 13px; }
.note { color: #a04000; font-size: 13px; min-height: 1em; margin: 4px 0; }
#main { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
canvas { background: #fff; border: 1px solid #ccc; image-rendering: pixelated; }
.hover { font-family: ui-monospace, monospace; font-size: 12px; min-height: 3.2em; white-space: pre; margin-top: 4px; }
"""

_JS = r"""
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("lp-data").textContent);
  const $ = (id) => document.getElementById(id);
  const CM = D.colormap;
  const TIER = 18, PAD = 2;
  const cache = new Map();

  function decode(entry, heads, T) {
    const key = entry.q;
    if (cache.has(key)) return cache.get(key);
    const bin = atob(entry.q), n = bin.length, out = new Float32Array(n), per = T * T;
    for (let i = 0; i < n; i++) {
      const h = Math.floor(i / per), q = bin.charCodeAt(i) / 255;
      out[i] = entry.scale ? q * entry.scale[h] : entry.lo[h] + q * (entry.hi[h] - entry.lo[h]);
    }
    cache.set(key, out);
    return out;
  }
  function option(select, value, text) {
    const o = document.createElement("option"); o.value = value; o.textContent = text; select.appendChild(o);
  }
  function utt() { return D.utterances[+$("lp-utt").value]; }
  function labelAt(intervals, t) {
    for (const iv of intervals) if (t >= iv[0] && t < iv[1]) return iv[2];
    return "-";
  }

  // Current map: a Float32Array (T*T) of the chosen head or the head average.
  function currentMap() {
    const u = utt(), layer = $("lp-layer").value, T = u.T, heads = u.heads;
    const useLogits = D.has_logits && !$("lp-softmax").checked && u.logits[layer];
    const entry = useLogits ? u.logits[layer] : u.maps[layer];
    if (!entry) return null;
    const all = decode(entry, heads, T), per = T * T, head = $("lp-head").value;
    if (head !== "avg") return all.subarray(+head * per, (+head + 1) * per);
    const avg = new Float32Array(per);
    for (let h = 0; h < heads; h++) for (let i = 0; i < per; i++) avg[i] += all[h * per + i] / heads;
    return avg;
  }

  function range() {
    const u = utt(), T = u.T;
    if (!zoomed || !u.words.length) return [0, T];
    const a = u.words[+$("lp-from").value], b = u.words[+$("lp-to").value];
    if (!a || !b) return [0, T];
    const r = D.frame_rate_hz;
    let f0 = Math.max(0, Math.floor(a[0] * r)), f1 = Math.min(T, Math.ceil(b[1] * r));
    if (f1 <= f0) { f0 = 0; f1 = T; }
    return [f0, f1];
  }

  let view = null;  // geometry of the last drawing, for hovering
  let zoomed = false;  // false: the whole utterance; true: the chosen word range

  function draw() {
    const u = utt(), T = u.T, m = currentMap(), cv = $("lp-map"), ctx = cv.getContext("2d");
    ctx.clearRect(0, 0, cv.width, cv.height);
    if (!m) { cv.dataset.checksum = "none"; return; }
    const [f0, f1] = range(), n = f1 - f0;
    const tiers = u.phones.length ? 2 : 0, off = tiers * TIER + PAD;
    const size = Math.min(cv.width, cv.height) - off - 2;
    const cell = size / n;
    let lo = Infinity, hi = -Infinity;
    for (let i = f0; i < f1; i++) for (let j = f0; j < f1; j++) {
      const v = m[i * T + j]; if (v < lo) lo = v; if (v > hi) hi = v;
    }
    const spanv = hi > lo ? hi - lo : 1;
    const img = new ImageData(n, n);
    let checksum = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const c = Math.max(0, Math.min(255, Math.round((m[(i + f0) * T + j + f0] - lo) / spanv * 255)));
      const p = (i * n + j) * 4;
      img.data[p] = CM[3 * c]; img.data[p + 1] = CM[3 * c + 1]; img.data[p + 2] = CM[3 * c + 2]; img.data[p + 3] = 255;
      checksum = (checksum * 31 + c + i) % 1000000007;
    }
    const tmp = document.createElement("canvas"); tmp.width = n; tmp.height = n;
    tmp.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, off, off, size, size);
    view = { f0, f1, off, cell, T };
    cv.dataset.checksum = String(checksum);
    cv.dataset.range = f0 + "-" + f1;
    cv.dataset.min = lo.toPrecision(4); cv.dataset.max = hi.toPrecision(4);
    if (tiers) drawTiers(ctx, u, f0, f1, off, cell, size);
  }

  function drawTiers(ctx, u, f0, f1, off, cell, size) {
    const r = D.frame_rate_hz;
    const pos = (t) => off + (t * r - f0) * cell;
    const rows = [[u.words, 0, "#e8eef8", 1.4, "rgba(255,255,255,0.85)"], [u.phones, TIER, "#f4f1e6", 0.5, "rgba(255,255,255,0.35)"]];
    ctx.save();
    ctx.font = "10px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    for (const [ivs, at, bg, lw, line] of rows) {
      ctx.fillStyle = bg;
      ctx.fillRect(off, at, size, TIER - 1); ctx.fillRect(at, off, TIER - 1, size);
      for (const iv of ivs) {
        const a = Math.max(off, pos(iv[0])), b = Math.min(off + size, pos(iv[1]));
        if (b <= off || a >= off + size) continue;
        ctx.strokeStyle = "#666"; ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(a, at); ctx.lineTo(a, at + TIER - 1); ctx.moveTo(b, at); ctx.lineTo(b, at + TIER - 1);
        ctx.moveTo(at, a); ctx.lineTo(at + TIER - 1, a); ctx.moveTo(at, b); ctx.lineTo(at + TIER - 1, b);
        ctx.stroke();
        // boundaries over the map
        ctx.strokeStyle = line; ctx.lineWidth = lw;
        ctx.beginPath();
        for (const x of [a, b]) { ctx.moveTo(x, off); ctx.lineTo(x, off + size); ctx.moveTo(off, x); ctx.lineTo(off + size, x); }
        ctx.stroke();
        const w = b - a;
        if (w > 7) {
          ctx.fillStyle = "#222";
          const text = ctx.measureText(iv[2]).width > w - 2 ? iv[2].slice(0, Math.max(1, Math.floor(w / 6))) : iv[2];
          ctx.fillText(text, (a + b) / 2, at + TIER / 2);
          ctx.save(); ctx.translate(at + TIER / 2, (a + b) / 2); ctx.rotate(-Math.PI / 2);
          ctx.fillText(text, 0, 0); ctx.restore();
        }
      }
    }
    ctx.restore();
  }

  function hover(ev) {
    if (!view) return;
    const cv = $("lp-map"), rect = cv.getBoundingClientRect();
    const x = (ev.clientX - rect.left) * cv.width / rect.width, y = (ev.clientY - rect.top) * cv.height / rect.height;
    const j = Math.floor((x - view.off) / view.cell) + view.f0, i = Math.floor((y - view.off) / view.cell) + view.f0;
    if (i < view.f0 || i >= view.f1 || j < view.f0 || j >= view.f1) { $("lp-hover").textContent = ""; return; }
    const u = utt(), r = D.frame_rate_hz, m = currentMap(), tq = (i + 0.5) / r, tk = (j + 0.5) / r;
    $("lp-hover").textContent =
      "query frame " + i + "  t=" + tq.toFixed(3) + " s  phone " + labelAt(u.phones, tq) + "  word " + labelAt(u.words, tq) + "\n" +
      "key   frame " + j + "  t=" + tk.toFixed(3) + " s  phone " + labelAt(u.phones, tk) + "  word " + labelAt(u.words, tk) + "\n" +
      "value " + m[i * u.T + j].toPrecision(4);
  }

  function drawMatrix() {
    const layer = $("lp-layer").value, pm = D.phone_matrix[layer], cv = $("lp-matrix"), ctx = cv.getContext("2d");
    $("lp-matrix-layer").textContent = layer;
    ctx.clearRect(0, 0, cv.width, cv.height);
    if (!pm || !pm.labels.length) {
      ctx.font = "12px sans-serif"; ctx.fillStyle = "#a04000";
      ctx.fillText("no phone matrix: the utterances have no alignments", 10, 20);
      cv.dataset.checksum = "none"; return;
    }
    const n = pm.labels.length, off = 34, cell = (cv.width - off - 4) / n;
    let hi = 0; for (const row of pm.matrix) for (const v of row) hi = Math.max(hi, v);
    ctx.font = Math.max(7, Math.min(11, cell * 0.8)) + "px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    for (let a = 0; a < n; a++) {
      ctx.fillStyle = "#222";
      ctx.fillText(pm.labels[a], off / 2, off + (a + 0.5) * cell);
      ctx.save(); ctx.translate(off + (a + 0.5) * cell, off / 2); ctx.rotate(-Math.PI / 2);
      ctx.fillText(pm.labels[a], 0, 0); ctx.restore();
      for (let b = 0; b < n; b++) {
        const c = Math.round((hi > 0 ? pm.matrix[a][b] / hi : 0) * 255);
        ctx.fillStyle = "rgb(" + CM[3 * c] + "," + CM[3 * c + 1] + "," + CM[3 * c + 2] + ")";
        ctx.fillRect(off + b * cell, off + a * cell, Math.ceil(cell), Math.ceil(cell));
      }
    }
    cv.dataset.checksum = String(n);
    cv.onmousemove = (ev) => {
      const rect = cv.getBoundingClientRect();
      const b = Math.floor(((ev.clientX - rect.left) * cv.width / rect.width - off) / cell);
      const a = Math.floor(((ev.clientY - rect.top) * cv.height / rect.height - off) / cell);
      $("lp-matrix-hover").textContent = (a >= 0 && a < n && b >= 0 && b < n)
        ? "query " + pm.labels[a] + " -> key " + pm.labels[b] + ": " + pm.matrix[a][b].toFixed(4) : "";
    };
  }

  function fillWords() {
    const u = utt(), from = $("lp-from"), to = $("lp-to");
    from.innerHTML = ""; to.innerHTML = "";
    u.words.forEach((w, k) => { option(from, k, k + ": " + w[2]); option(to, k, k + ": " + w[2]); });
    from.disabled = to.disabled = !u.words.length;
    if (u.words.length) { from.value = "0"; to.value = String(u.words.length - 1); }
  }
  function fillHeads() {
    const u = utt(), head = $("lp-head"), keep = head.value;
    head.innerHTML = ""; option(head, "avg", "average");
    for (let h = 0; h < u.heads; h++) option(head, h, String(h));
    head.value = [...head.options].some((o) => o.value === keep) ? keep : "avg";
  }

  function init() {
    document.title = "layerprobe attention viewer: " + D.title;
    D.utterances.forEach((u, k) => option($("lp-utt"), k, u.id + " (" + u.T + " frames)"));
    D.layers.forEach((l) => option($("lp-layer"), l, l));
    $("lp-softmax").disabled = !D.has_logits;
    if (!D.has_logits) $("lp-softmax").parentElement.title = "the store holds no pre-softmax logits";
    $("lp-note").textContent = D.note || "";
    fillHeads(); fillWords();
    $("lp-utt").onchange = () => { zoomed = false; fillHeads(); fillWords(); draw(); };
    $("lp-layer").onchange = () => { draw(); drawMatrix(); };
    for (const id of ["lp-head", "lp-softmax"]) $(id).onchange = draw;
    for (const id of ["lp-from", "lp-to"]) $(id).onchange = () => { zoomed = true; draw(); };
    $("lp-reset").onclick = () => { zoomed = false; fillWords(); draw(); };
    $("lp-map").onmousemove = hover;
    draw(); drawMatrix();
    document.body.dataset.ready = "1";
  }
  init();
})();
"""
