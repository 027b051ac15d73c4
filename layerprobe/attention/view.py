"""A self-contained HTML attention viewer with phone and word tiers, a phone-by-phone matrix and PNG export.

:func:`write_viewer` turns the attention maps of one or more :class:`~layerprobe.io.store.FeatureStore`
into one HTML file that needs no network: the script, the style and the data are inline.  The page has
utterance, layer and head pickers (with the head average), a softmax switch for stores holding the
pre-softmax logits, zoom to a range of words, phone and word tiers along both axes with their
boundaries drawn over the map (thin, dark, semi-transparent), a hover read-out (query and key time,
frame, phone, word, value), colour scales of the map and of the matrix, and the phone-by-phone matrix
of the chosen layer, by phone or grouped by articulatory class.

Beyond STEVE
------------
* Unaligned audio: an utterance without an alignment gets placeholder tiers, 200 ms windows cut in
  40 ms pieces (:func:`placeholder_tiers`, ``tiers: "placeholder"``), so zoom (by windows) and the
  boundary grid work without one; the page says so.
* Several stores: one panel per store, side by side, on one utterance and one time range (each store
  maps the range to its own frames); layer and head are chosen per panel.
* The matrix grouped by manner, place, voicing, vowel height, backness or rounding
  (:mod:`~layerprobe.attention.articulation`) as well as by phone.
* Image interpolation (nearest, or smooth: bilinear) and the time-to-frame rounding: "overlapping
  frames" shows every frame a range overlaps, ``floor(t0 r)`` to ``ceil(t1 r)``, with boundaries at
  their exact times; "frame centres" shows the frames whose centre lies in the range,
  ``ceil(t0 r - 0.5)`` to ``ceil(t1 r - 0.5)``, with boundaries moved to the frame edges the
  phone matrix's labelling puts them on.

Embedded data
-------------
The page carries one JSON object in ``<script type="application/json" id="lp-data">`` (read it back
with :func:`read_viewer_data`): ``format`` 2, the page ``title``, the ``groupings``, the ``colormap``
and ``stores``, one object per store (its ``model``, ``frame_rate_hz``, ``layers``, ``note``,
``utterances`` and ``phone_matrix``).  An utterance carries ``T``, ``heads``, ``duration``,
``tiers`` (``"alignment"`` or ``"placeholder"``), ``phones`` and ``words`` (``[start, end, label]``,
seconds; an aligned phone is ``[start, end, class, raw label]``: the page shows its ARPAbet-39
class, blank for silence and closures such as TIMIT's ``h#``, ``kcl``, and the hover adds the raw label), ``maps``, ``logits`` and ``padding`` per layer.  Each map of an utterance and layer, shape (heads, T, T), is
quantised to uint8 per head and base64-encoded in C order:

* attention weights (post-softmax): ``value = q / 255 * scale[h]`` with ``scale[h]`` the head's
  largest weight, so the error is at most ``scale[h] / 510``;
* logits (pre-softmax): ``value = lo[h] + q / 255 * (hi[h] - lo[h])``, error at most
  ``(hi[h] - lo[h]) / 510``.

With the softmax switch on, the page shows the stored attention weights; off, the raw logits.  The
head average is the mean over heads of whichever is shown.  The weights are the model's softmax
over *its* keys, cut to the real frames: for Whisper, whose keys span the padded 30 s window, a row
sums to 1 minus the mass its query sent to the padding, and ``softmax`` of the stored (cut) logits
is that row renormalised, not the stored row.  For every other model the two are the same.

Padding mass
------------
Each utterance's ``padding[layer]`` is the ``(heads, T)`` mass every real query sent past the real
frames (:func:`~layerprobe.attention.maps.load_padding`, rounded to 4 decimals; all 0 for models
without padding).  The page shows its mean over the queries (and heads, for the head average) of
the chosen map under the map, and the hovered query's share in the hover read-out.

Phone-by-phone matrix
---------------------
For a layer, let ``A_u`` be the head-averaged post-softmax map of utterance ``u`` as stored (rows:
query frames, columns: key frames; a row sums to 1, or for Whisper to 1 minus its padding mass).  Frame ``i`` covers ``[i / r, (i + 1) / r)`` at
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
class ``b`` (mass on unlabelled frames, and Whisper's padding mass, is dropped; a row with no mass on
labelled keys is zero).
Labels are the classes that occur, in ARPAbet-39 order.  Grouped by an articulatory feature, ``a``
and ``b`` are the feature's groups and a frame's class is its phone's group; ``phone_matrix[layer]``
holds every grouping under ``groups`` (and the phone one also at its top level).

Modules
-------
This module collects the data and writes the page; the store and alignment readers are in
:mod:`~layerprobe.attention.view_inputs`, the static figures in :mod:`~layerprobe.attention.view_figure`
and the page templates in :mod:`~layerprobe.attention.view_page`.  Every public name is importable
from here.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from layerprobe.io.figure_style import model_display_name
from layerprobe.attention.maps import load_padding
from layerprobe.attention.view_figure import plot_attention_map, render_png
from layerprobe.attention.view_inputs import (
    PathLike,
    _head_view,
    _map_layers,
    _map_utterances,
    _maps,
    _open_store,
    find_manifest,
    load_alignments,
)
from layerprobe.attention.view_page import page_html
from layerprobe.errors import ConfigError, LayerprobeError, StoreError
from layerprobe.io.alignments import Alignment
from layerprobe.io.atomic import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from layerprobe.io.store import FeatureStore

#: Utterances put on a page unless told otherwise (page size grows with utterances x layers x heads x T^2).
DEFAULT_MAX_UTTERANCES = 10
#: Placeholder tiers of an utterance without an alignment (as STEVE): 200 ms windows in 40 ms pieces.
PLACEHOLDER_WINDOW_S = 0.2
PLACEHOLDER_PIECE_S = 0.04

__all__ = [
    "DEFAULT_MAX_UTTERANCES",
    "find_manifest",
    "load_alignments",
    "phone_matrix",
    "placeholder_tiers",
    "plot_attention_map",
    "read_viewer_data",
    "render_png",
    "write_viewer",
]


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


def _phone_mass(
    store: Any, layer: str, alignments: Mapping[str, Alignment], *, head: int | str, classes: str | None
) -> tuple[dict[tuple[str, str], float], dict[str, int]]:
    """Summed attention mass between labelled query and key frames, and the labelled query frames per label."""
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
    return mass, counts


def _grouped_matrix(
    mass: Mapping[tuple[str, str], float], counts: Mapping[str, int], group: str
) -> tuple[list[str], np.ndarray]:
    """Pool the per-label mass and counts into groups, then row-normalise (see the module docstring)."""
    from layerprobe.attention.articulation import group_order, phone_group
    from layerprobe.data.labels import ARPABET39

    if group == "phone":
        order = {label: n for n, label in enumerate(ARPABET39)}
        of = {label: label for label in counts}
    else:
        order = {label: n for n, label in enumerate(group_order(group))}
        of = {label: phone_group(label, group) for label in counts}
    grouped_counts: dict[str, int] = {}
    for label, count in counts.items():
        grouped_counts[of[label]] = grouped_counts.get(of[label], 0) + count
    grouped_mass: dict[tuple[str, str], float] = {}
    for (a, b), value in mass.items():
        key = (of[a], of[b])
        grouped_mass[key] = grouped_mass.get(key, 0.0) + value
    labels = sorted(grouped_counts, key=lambda lab: (order.get(lab, len(order)), lab))
    matrix = np.zeros((len(labels), len(labels)))
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            matrix[i, j] = grouped_mass.get((a, b), 0.0) / grouped_counts[a]
    sums = matrix.sum(axis=1, keepdims=True)
    matrix = np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)
    return labels, matrix


def phone_matrix(
    store: Any,
    layer: str,
    alignments: Mapping[str, Alignment],
    *,
    head: int | str = "avg",
    classes: str | None = "arpabet39",
    group: str = "phone",
) -> tuple[list[str], np.ndarray]:
    """Attention mass between phone classes (or articulatory groups), averaged over a sample's utterances.

    The definition is in the module docstring: the mean over query frames of class ``a`` of the
    attention mass on key frames of class ``b``, pooled over utterances, then row-normalised.
    Grouped by an articulatory feature, ``a`` and ``b`` are groups of phones
    (:mod:`~layerprobe.attention.articulation`): the mass and the query frames of the phones of a
    group are pooled before the division, so a group's row is the mean over all its query frames.

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
    group : str
        ``"phone"`` (default), or a feature of :data:`~layerprobe.attention.articulation.FEATURES`
        (manner, place, voicing, height, backness, rounding; needs ``classes="arpabet39"``).

    Returns
    -------
    labels : list of str
        The classes (or groups) that occur, in ARPAbet-39 (or the feature's) order; sorted for raw labels.
    matrix : numpy.ndarray
        (n_labels, n_labels) float64; row ``a``: query class, column ``b``: key class; rows sum to 1
        (or 0 when the class sends no mass to labelled keys).

    Raises
    ------
    ConfigError
        For an unknown grouping, or a grouping other than phone with raw labels.
    """
    from layerprobe.attention.articulation import GROUPINGS

    if group not in GROUPINGS:
        raise ConfigError(f"unknown grouping {group!r}; choose one of {', '.join(GROUPINGS)}")
    if group != "phone" and classes != "arpabet39":
        raise ConfigError(f"grouping by {group} needs classes='arpabet39' (raw labels have no articulatory features)")
    mass, counts = _phone_mass(store, layer, alignments, head=head, classes=classes)
    return _grouped_matrix(mass, counts, group)


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
    """The JSON object embedded in a viewer page (a path or the page's text).

    The page holds one entry per store in ``"stores"``; for convenience the first store's fields
    (``utterances``, ``layers``, ``phone_matrix``, ``has_alignment``, ``note`` ...) are also returned
    at the top level, under the page's own (``title``, ``stores``, ``colormap`` ...).
    """
    text = Path(page).read_text(encoding="utf-8") if not str(page).lstrip().startswith("<") else str(page)
    start_tag = '<script type="application/json" id="lp-data">'
    start = text.index(start_tag) + len(start_tag)
    end = text.index("</script>", start)
    data = json.loads(text[start:end])
    if data.get("stores"):
        merged = dict(data["stores"][0])
        merged.update(data)
        return merged
    return data


def placeholder_tiers(
    duration: float, *, window_s: float = PLACEHOLDER_WINDOW_S, piece_s: float = PLACEHOLDER_PIECE_S
) -> tuple[list[list[Any]], list[list[Any]]]:
    """Time tiers for an utterance without an alignment: windows, and the pieces each is cut into.

    As STEVE does, the page draws these in place of the word and phone tiers, so that the word-range
    zoom and the boundary grid work on unaligned audio.

    Parameters
    ----------
    duration : float
        Seconds of audio.
    window_s, piece_s : float
        Window and piece lengths (default 200 ms windows in 40 ms pieces); the last of each is
        cut at ``duration``.

    Returns
    -------
    pieces, windows : list of [start, end, label]
        Seconds rounded to 5 decimals; a window's label is its start time (``"0.2"``), pieces are
        unlabelled.

    Examples
    --------
    >>> pieces, windows = placeholder_tiers(0.5)
    >>> windows
    [[0.0, 0.2, '0.0'], [0.2, 0.4, '0.2'], [0.4, 0.5, '0.4']]
    >>> len(pieces), pieces[-1]
    (13, [0.48, 0.5, ''])
    """
    if not (window_s > 0 and piece_s > 0):
        raise ConfigError(f"placeholder windows and pieces must be positive, got {window_s} and {piece_s}")

    def cut(step: float, labelled: bool) -> list[list[Any]]:
        out: list[list[Any]] = []
        k = 0
        while k * step < duration - 1e-9:
            start, end = round(k * step, 5), round(min((k + 1) * step, duration), 5)
            out.append([start, end, f"{start:.1f}" if labelled else ""])
            k += 1
        return out

    return cut(piece_s, False), cut(window_s, True)


def _viridis() -> list[int]:
    from matplotlib import colormaps

    table = (colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(int)
    return [int(v) for v in table.ravel()]


def _intervals(intervals: Sequence[Any], *, fold: bool = False) -> list[list[Any]]:
    """``[start, end, label]`` per interval; folded phones: ``[start, end, class or "", raw label]``."""
    if not fold:
        return [[round(i.start, 5), round(i.end, 5), i.label] for i in intervals]
    from layerprobe.data.labels import phone_class

    return [[round(i.start, 5), round(i.end, 5), phone_class(i.label) or "", i.label] for i in intervals]


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
        note = (f"No alignment available: {note or '; '.join(notes) or 'no utterance has one'}. Placeholder tiers "
                f"({PLACEHOLDER_WINDOW_S * 1000:.0f} ms windows in {PLACEHOLDER_PIECE_S * 1000:.0f} ms pieces) are drawn instead.")
    elif notes:
        note = "Some utterances have no alignment (placeholder tiers drawn): " + "; ".join(notes)

    rate = float(store.frame_rate_hz)
    entries = []
    for utt_id in chosen:
        entry: dict[str, Any] = {"id": utt_id, "maps": {}, "logits": {}, "padding": {}}
        for layer in map_layers:
            maps = _maps(store, utt_id, layer)
            if maps is None:
                continue
            entry["T"], entry["heads"] = int(maps.shape[1]), int(maps.shape[0])
            entry["maps"][layer] = _quantise_weights(maps)
            mass, _ = load_padding(store, utt_id, layer)
            entry["padding"][layer] = [[round(float(v), 4) for v in head] for head in mass]
            logits = _maps(store, utt_id, layer, logits=True) if has_logits else None
            if logits is not None:
                entry["logits"][layer] = _quantise_logits(logits)
        alignment = alignments.get(utt_id)
        entry["duration"] = alignment.duration if alignment else entry.get("T", 0) / rate
        if alignment:
            entry["tiers"] = "alignment"
            entry["phones"], entry["words"] = _intervals(alignment.phones, fold=True), _intervals(alignment.words)
        else:
            entry["tiers"] = "placeholder"
            entry["phones"], entry["words"] = placeholder_tiers(entry["duration"])
        entries.append(entry)

    matrices = {}
    if alignments:
        from layerprobe.attention.articulation import GROUPINGS

        for layer in map_layers:
            mass, counts = _phone_mass(store, layer, alignments, head="avg", classes="arpabet39")
            groups = {}
            for grouping in GROUPINGS:
                labels, matrix = _grouped_matrix(mass, counts, grouping)
                groups[grouping] = {"labels": labels, "matrix": [[round(float(v), 5) for v in row] for row in matrix]}
            matrices[layer] = {**groups["phone"], "groups": groups}
    recorded = (store.attrs.get("config") or {}).get("manifest") or {}
    model = str(store.attrs.get("model", "?"))
    return {
        "title": f"{model} | {recorded.get('corpus', '?')} {recorded.get('split', '')} sample {recorded.get('sample', '?')}",
        "model": model,
        "model_name": model_display_name(model),
        "store": str(store.paths[0]),
        "frame_rate_hz": rate,
        "layers": map_layers,
        "has_logits": bool(has_logits),
        "has_alignment": bool(alignments),
        "note": note,
        "n_matrix_utterances": len([u for u in chosen if u in alignments]),
        "utterances": entries,
        "phone_matrix": matrices,
    }


def write_viewer(
    store_path: "PathLike | FeatureStore | Sequence[PathLike | FeatureStore]",
    out_html: PathLike,
    *,
    utterances: Sequence[str] | int | None = None,
    manifest: PathLike | None = None,
    samples_dir: PathLike | None = "data_samples",
    layers: Sequence[str] | None = None,
) -> Path:
    """Write the self-contained attention viewer page of one store, or of several side by side.

    With several stores (several models, or runs, over the same sample) the page shows one panel
    per store, synchronised: one utterance picker (the utterances of all stores, in order of first
    appearance; a panel whose store lacks the chosen one says so), one time range (the word-range
    zoom, in seconds, mapped to each store's frames) and one softmax, interpolation, rounding and
    matrix grouping choice; each panel has its own layer and head pickers, padding read-out and
    phone matrix.

    Parameters
    ----------
    store_path : path-like or FeatureStore, or a sequence of them
        Stores with attention maps (``layerprobe attention maps``).
    out_html : path-like
        The page to write (its folder is created).
    utterances : sequence of str or int, optional
        Utterance ids (every store must hold them), or the first N with maps of each store;
        default the first :data:`DEFAULT_MAX_UTTERANCES`.
    manifest : path-like, optional
        The data-sample manifest for the alignments (of every store); found from ``samples_dir`` and
        each store's ``config.manifest`` attr when omitted.  Utterances without an alignment get
        placeholder tiers (:func:`placeholder_tiers`) and the page says so.
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
        When a store holds no attention maps.
    ConfigError
        No stores, unknown utterances or layers.
    """
    from layerprobe.attention.articulation import GROUPINGS

    given = list(store_path) if isinstance(store_path, (list, tuple)) else [store_path]
    if not given:
        raise ConfigError("no stores given to the attention viewer")
    stores = []
    for one in given:
        store, owned = _open_store(one)
        try:
            stores.append(_collect(store, utterances=utterances, layers=layers, manifest=manifest, samples_dir=samples_dir))
        finally:
            if owned:
                store.close()
    data = {
        "format": 2,
        "title": stores[0]["title"] if len(stores) == 1 else " vs ".join(entry["title"] for entry in stores),
        "stores": stores,
        "groupings": list(GROUPINGS),
        "colormap": _viridis(),
    }
    return atomic_write(Path(out_html), page_html(data))
