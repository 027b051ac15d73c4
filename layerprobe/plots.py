"""Layer-trend curves: one score per layer, one line per model, from a :class:`ResultTable`.

The x axis lists the layers in model order (``mel``, ``C1``..``C7``, ``T0``..``TL``) as categories;
models with different layer sets share the union of their layers, each line having points only
where its model has results.  A point is the mean over the rows of that model and layer (across
data samples and seeds); the shaded band is their spread.  Where the rows also hold the metric's
chance level (metric ``<metric>_chance``, as ``mi_phone`` and ``mi_word`` write ``nmi_chance``) for
the same model, experiment and layer, it is drawn as a dashed grey line under the model's line
(its mean at each layer), labelled :data:`CHANCE_LABEL` in the legend: a score near it says nothing.
A metric whose chance level is known without measuring it (:data:`CHANCE_LEVELS`: PWCCA, a held-out
correlation, is 0 for independent views) gets a dashed grey line at that level instead.  From a
:class:`ResultTable` whose sidecar holds the range of a PWCCA over the signs of its canonical
directions (``details["signs"]``, :mod:`layerprobe.analysis.pwcca`), that range is drawn as a
hatched band (labelled :data:`SIGNS_LABEL`), and a warning is logged when the ranges of adjacent
layers overlap: their order then depends on the signs LAPACK happened to give.

Figures are made with :class:`matplotlib.figure.Figure` directly, never through pyplot: no GUI
backend is needed and no global figure state is left behind.

Examples
--------
>>> from layerprobe.results import ResultTable
>>> from layerprobe.plots import plot_trends, save_figure
>>> table = ResultTable.read(["results/wav2vec2.csv", "results/hubert.csv"])   # doctest: +SKIP
>>> fig = plot_trends(table, experiments=["cca_mel", "cca_phone"], metric="pwcca")  # doctest: +SKIP
>>> save_figure(fig, "trend.png")                                                 # doctest: +SKIP
[PosixPath('trend.png'), PosixPath('trend.pdf')]

With an axes of your own::

    fig, ax = plt.subplots()
    plot_layer_trend(table, experiment="cca_mel", metric="pwcca", ax=ax, spread="range")
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from layerprobe.errors import ConfigError, LayerprobeError, ResultError
from layerprobe.attention.figures import plot_attention_grid
from layerprobe.io.figures import FIGURE_FORMATS, save_figure
from layerprobe.layers import MEL, layer_kind, parse_layer_id, sort_layers
from layerprobe.results import ResultTable

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn, not when this module is
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PathLike = Union[str, "os.PathLike[str]"]

#: Spread bands: standard deviation, min-max range, or none.
SPREADS: tuple[str, ...] = ("std", "range", "none")
#: The suffix of a metric's chance level (``nmi`` -> ``nmi_chance``).
CHANCE_SUFFIX = "_chance"
#: The legend entry of the chance lines.
CHANCE_LABEL = "chance (shuffled clusters)"
#: The legend entry of the bands of a score's range over the signs of its canonical directions.
SIGNS_LABEL = "range over direction signs"
#: Chance levels known without measuring them, per metric: (level, legend entry).  PWCCA is scored
#: on held-out rows, so views that share nothing sit at 0 whatever the sizes (REFERENCE.md section 2's
#: sanity check; ``layerprobe.experiments.cca.CHANCE_PWCCA`` is the band around it that warns).
CHANCE_LEVELS: dict[str, tuple[float, str]] = {"pwcca": (0.0, "chance (independent views: 0)")}
#: The metric an experiment's rows imply, by the prefix of its name (the score its runner reports;
#: ``mi_phone@lloyd`` is an ``mi_`` experiment too): what a plot draws when no metric is given.
IMPLIED_METRICS: tuple[tuple[str, str], ...] = (("cca_", "pwcca"), ("mi_", "nmi"), ("awd", "ap"))

_ACRONYMS = {"cca", "pwcca", "svcca", "mi", "nmi", "wer", "cer", "per", "ctc", "glove", "agwe", "lm"}
_NEEDED = ("model", "experiment", "layer", "metric", "value")


#: Metrics whose name would mislead as an axis label (mi's ``nmi`` is not scikit-learn's NMI).
_LABELS = {"nmi": "I(C;L) / H(L)", "spearman_micro": "Spearman rho (micro)", "spearman_macro": "Spearman rho (macro)"}


def _line_of(row: Mapping[str, Any]) -> tuple[str, str]:
    """The line a row belongs to: (model, corpus); rows without a corpus column have corpus ``""``."""
    return row["model"], row.get("corpus", "")


def metric_label(metric: str) -> str:
    """The axis label of a metric: ``"pwcca"`` -> ``"PWCCA"``, ``"cca_mean"`` -> ``"CCA mean"``."""
    if metric in _LABELS:
        return _LABELS[metric]
    words = metric.replace("-", "_").split("_")
    return " ".join(word.upper() if word.lower() in _ACRONYMS else word for word in words if word)


def plot_layer_trend(
    table: "ResultTable | Iterable[Mapping[str, Any]] | Iterable[Any]",
    *,
    experiment: str | None = None,
    metric: str | None = None,
    ax: "Axes | None" = None,
    spread: str = "std",
    title: str | None = None,
) -> "Axes":
    """Draw one experiment's metric per layer, one line per model (per model and corpus where a
    model's rows span several corpora: then its lines are labelled ``<model> (<corpus>)``).

    Parameters
    ----------
    table : ResultTable, iterable of mapping, or a runner's records
        Result rows (mappings with at least ``model``, ``experiment``, ``layer``, ``metric`` and
        ``value``), or the per-layer records a runner returned (``run_cca(...)``: anything with a
        ``rows()`` method giving such mappings).
    experiment : str, optional
        The experiment to draw; may be left out when the rows hold only one.
    metric : str, optional
        The metric to draw (``pwcca``, ``nmi``, ...); default the one the experiment's rows imply
        (:func:`default_metric`).
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made when omitted (``ax.figure``).
    spread : {"std", "range", "none"}
        The band around each line: mean +- the sample standard deviation (ddof=1) of the values
        at a layer (across samples and seeds), their min-max range, or no band.  A band is drawn
        only for a model with more than one value at some layer.
    title : str, optional
        The axes title; default the experiment's name ("" for none).

    Returns
    -------
    matplotlib Axes
        ``ax`` (or the new one): x ticks at 0..n-1 labelled with the layer ids, one line per model
        (labelled with the model, legend when there are several), bands as ``fill_between``
        collections; where rows of ``<metric>_chance`` match, a dashed grey line per model (gid
        ``"chance"``; the first labelled :data:`CHANCE_LABEL`, and a legend); else, for a metric of
        :data:`CHANCE_LEVELS`, one dashed grey line at its level (gid ``"chance"``, labelled).

    Raises
    ------
    ConfigError
        For an unknown ``spread``, no ``experiment`` given while the rows hold several (the
        message lists them), or no ``metric`` given while the experiment's rows imply none.
    ResultError
        When no row has the experiment and metric, or a row lacks a column.
    """
    _check_spread(spread)
    rows = _rows_of(table)
    if metric is None:
        present = sorted({row["experiment"] for row in rows})
        if experiment is None and len(present) > 1:
            raise ConfigError(
                f"the results hold several experiments ({', '.join(present)}); choose one with experiment= "
                "(or draw them side by side with plot_trends)"
            )
        metric = default_metric(rows, None if experiment is None else [experiment])
    if experiment is None:
        present = sorted({row["experiment"] for row in rows if row["metric"] == metric})
        if not present:
            raise ResultError(_no_rows_message(rows, None, metric))
        if len(present) > 1:
            raise ConfigError(
                f"the results hold several experiments ({', '.join(present)}); choose one with experiment= "
                "(or draw them side by side with plot_trends)"
            )
        experiment = present[0]
    chosen = [row for row in rows if row["experiment"] == experiment and row["metric"] == metric]
    if not chosen:
        raise ResultError(_no_rows_message(rows, experiment, metric))

    # One line per (model, corpus): two corpora are never averaged into one line.
    by_point: dict[tuple[str, str], dict[str, list[float]]] = {}
    for row in chosen:
        by_point.setdefault(_line_of(row), {}).setdefault(row["layer"], []).append(row["value"])
    chance: dict[tuple[str, str], dict[str, list[float]]] = {}
    for row in rows:
        same_point = row["layer"] in by_point.get(_line_of(row), {})
        if row["experiment"] == experiment and row["metric"] == metric + CHANCE_SUFFIX and same_point:
            chance.setdefault(_line_of(row), {}).setdefault(row["layer"], []).append(row["value"])
    sign_ranges = _sign_ranges(table, chosen)
    corpora: dict[str, set[str]] = {}
    for model, corpus in by_point:
        corpora.setdefault(model, set()).add(corpus)
    layers = sort_layers(layer for points in by_point.values() for layer in points)
    position = {layer: index for index, layer in enumerate(layers)}

    if ax is None:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(_panel_width(len(layers)), 3.8), layout="constrained")
        ax = figure.add_subplot()

    low_high: list[float] = []
    models = sorted(by_point)
    for model in models:
        points = by_point[model]
        model_layers = sort_layers(points)
        values = [np.asarray(points[layer], dtype=float) for layer in model_layers]
        mean = np.array([v.mean() for v in values])
        if spread == "std":
            half = np.array([v.std(ddof=1) if v.size > 1 else 0.0 for v in values])
            low, high = mean - half, mean + half
        else:
            low = np.array([v.min() for v in values])
            high = np.array([v.max() for v in values])
        x = [float(position[layer]) for layer in model_layers]
        x, (mean, low, high) = _break_gaps(model_layers, x, [mean, low, high])
        label = model[0] if len(corpora[model[0]]) == 1 else f"{model[0]} ({model[1] or 'corpus unknown'})"
        (line,) = ax.plot(x, mean, marker="o", markersize=4, linewidth=1.6, label=label, zorder=3)
        low_high += [float(np.nanmin(mean)), float(np.nanmax(mean))]
        if spread != "none" and any(v.size > 1 for v in values):
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0, zorder=2)
            # A point joined to nothing (the mel baseline) gets its band as a bar of the same shade.
            alone = [
                i for i in range(len(x))
                if not np.isnan(mean[i]) and (i == 0 or np.isnan(mean[i - 1])) and (i == len(x) - 1 or np.isnan(mean[i + 1]))
            ]
            if alone:
                ax.vlines(x[alone], low[alone], high[alone], color=line.get_color(), alpha=0.35, linewidth=4, zorder=2)
            low_high += [float(np.nanmin(low)), float(np.nanmax(high))]
        if model in sign_ranges:
            ranged = [layer for layer in model_layers if layer in sign_ranges[model]]
            band_low = np.array([np.mean([r[0] for r in sign_ranges[model][layer]]) for layer in ranged])
            band_high = np.array([np.mean([r[1] for r in sign_ranges[model][layer]]) for layer in ranged])
            bx, (band_low, band_high) = _break_gaps(ranged, [float(position[layer]) for layer in ranged], [band_low, band_high])
            first = not any(c.get_gid() == "signs" for c in ax.collections)
            ax.fill_between(bx, band_low, band_high, facecolor="none", edgecolor=line.get_color(), hatch="////", linewidth=0,
                            alpha=0.6, zorder=2, gid="signs", label=SIGNS_LABEL if first else "_" + SIGNS_LABEL)  # fmt: skip
            low_high += [float(np.nanmin(band_low)), float(np.nanmax(band_high))]
            _warn_sign_overlaps(experiment, model[0], ranged, sign_ranges[model])
        if model in chance:
            chance_layers = sort_layers(chance[model])
            level = np.array([np.mean(chance[model][layer]) for layer in chance_layers])
            x, (level,) = _break_gaps(chance_layers, [float(position[layer]) for layer in chance_layers], [level])
            first = not any(line.get_gid() == "chance" for line in ax.get_lines())
            ax.plot(x, level, color="0.45", linestyle="--", linewidth=1.2, marker="", zorder=2.5, gid="chance",
                    label=CHANCE_LABEL if first else "_" + CHANCE_LABEL)  # fmt: skip
            low_high += [float(np.nanmin(level)), float(np.nanmax(level))]

    known = CHANCE_LEVELS.get(metric) if not chance else None
    if known is not None:
        level, label = known
        ax.axhline(level, color="0.45", linestyle="--", linewidth=1.2, zorder=2.5, gid="chance", label=label)
        low_high.append(level)
    _style_layer_axis(ax, layers)
    bottom, top = min(low_high), max(low_high)
    pad = 0.08 * (top - bottom) if top > bottom else max(0.05 * abs(top), 0.05)
    ax.set_ylim(bottom - pad, top + pad)
    ax.set_ylabel(metric_label(metric))
    ax.grid(True, color="0.85", linewidth=0.6)
    ax.set_axisbelow(True)
    if len(models) > 1 or chance or known is not None or sign_ranges:
        handles, labels = ax.get_legend_handles_labels()
        rank = {"signs": 1, "chance": 2}  # the models first, then the sign ranges, chance last
        order = sorted(range(len(labels)), key=lambda i: rank.get(handles[i].get_gid(), 0))
        ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize="small", frameon=False)
    chosen_title = experiment if title is None else title
    if chosen_title:
        ax.set_title(chosen_title)
    return ax


def plot_trends(
    table: ResultTable | Iterable[Mapping[str, Any]],
    *,
    experiments: Sequence[str] | None = None,
    metric: str | None = None,
    spread: str = "std",
) -> "Figure":
    """Draw several experiments side by side, one panel each (y axes not shared), titled with the experiment.

    Parameters
    ----------
    table : ResultTable or iterable of mapping
        Result rows.
    experiments : sequence of str, optional
        The panels, in this order; default every experiment that has ``metric``, alphabetically.
    metric : str, optional
        The metric to draw; default the one the chosen experiments' rows (all rows, when
        ``experiments`` is omitted) imply (:func:`default_metric`).
    spread
        As in :func:`plot_layer_trend`.

    Returns
    -------
    matplotlib Figure
        A headless :class:`~matplotlib.figure.Figure` (no pyplot state); ``fig.axes`` in panel order.

    Raises
    ------
    ResultError
        When no row has ``metric``, or a chosen experiment has no row with it.
    ConfigError
        For an unknown ``spread``, an empty ``experiments``, or no ``metric`` given while the
        experiments imply none (or different ones).
    """
    from matplotlib.figure import Figure

    _check_spread(spread)
    rows = _rows_of(table)
    if isinstance(experiments, str):
        experiments = [experiments]
    if metric is None:
        metric = default_metric(rows, experiments)
    if experiments is None:
        chosen = sorted({row["experiment"] for row in rows if row["metric"] == metric})
        if not chosen:
            raise ResultError(_no_rows_message(rows, None, metric))
    else:
        chosen = list(dict.fromkeys(experiments))
        if not chosen:
            raise ConfigError("no experiments to plot")
        for experiment in chosen:
            if not any(row["experiment"] == experiment and row["metric"] == metric for row in rows):
                raise ResultError(_no_rows_message(rows, experiment, metric))
    n_layers = max(
        len({row["layer"] for row in rows if row["experiment"] == experiment and row["metric"] == metric})
        for experiment in chosen
    )
    figure = Figure(figsize=(_panel_width(n_layers) * len(chosen), 3.8), layout="constrained")
    axes = figure.subplots(1, len(chosen), squeeze=False)[0]
    for ax, experiment in zip(axes, chosen):
        # the table itself where there is one: its sidecar holds the ranges over direction signs
        source = table if isinstance(table, ResultTable) else rows
        plot_layer_trend(source, experiment=experiment, metric=metric, ax=ax, spread=spread, title=experiment)
    return figure


def default_metric(
    table: "ResultTable | Iterable[Mapping[str, Any]] | Iterable[Any]",
    experiments: Sequence[str] | None = None,
    *,
    option: str = "metric=",
) -> str:
    """The metric a plot of ``experiments`` draws when none is given: the one their rows imply.

    An experiment implies the metric of :data:`IMPLIED_METRICS` for its name's prefix (``pwcca``
    for ``cca_*``, ``nmi`` for ``mi_*``, ``ap`` for ``awd``) where its rows have it; otherwise its metrics are the
    candidates (chance levels, ``<metric>_chance``, left out).  The metric all the experiments
    share among their candidates is the answer; there must be exactly one.

    Parameters
    ----------
    table : ResultTable, iterable of mapping, or a runner's records
        Result rows, as for :func:`plot_layer_trend`.
    experiments : sequence of str, optional
        The experiments to be drawn; default every experiment of the rows.
    option : str
        How the message names the metric option (the CLI passes ``"--metric"``).

    Returns
    -------
    str

    Raises
    ------
    ResultError
        When there are no rows, or a chosen experiment has none (the message lists those there are).
    ConfigError
        For an empty ``experiments``, or when no one metric is implied: the experiments imply
        different ones, or one has several and none implied (one line listing each experiment's).

    Examples
    --------
    >>> row = {"model": "m", "layer": "T1", "value": 0.5}
    >>> default_metric([{**row, "experiment": "mi_phone", "metric": m} for m in ("nmi", "nmi_chance")])
    'nmi'
    """
    rows = _rows_of(table)
    if not rows:
        raise ResultError(_no_rows_message(rows, None, ""))
    metrics: dict[str, set[str]] = {}
    for row in rows:
        metrics.setdefault(row["experiment"], set()).add(row["metric"])
    if isinstance(experiments, str):
        experiments = [experiments]
    if experiments is None:
        chosen = sorted(metrics)
    else:
        chosen = list(dict.fromkeys(experiments))
        if not chosen:
            raise ConfigError("no experiments to plot")
        for experiment in chosen:
            if experiment not in metrics:
                raise ResultError(_no_rows_message(rows, experiment, ""))
    candidates = {experiment: _candidate_metrics(experiment, metrics[experiment]) for experiment in chosen}
    shared = set.intersection(*candidates.values())
    if len(shared) == 1:
        return shared.pop()
    groups: dict[tuple[str, ...], list[str]] = {}
    for experiment in chosen:
        groups.setdefault(tuple(sorted(candidates[experiment])), []).append(experiment)
    if len(chosen) == 1:
        listing = f"experiment {chosen[0]} (metrics: {', '.join(sorted(candidates[chosen[0]]))})"
    else:
        listing = "experiments (" + "; ".join(f"{', '.join(names)}: {', '.join(found)}" for found, names in groups.items()) + ")"
    raise ConfigError(f"no one metric is implied by the {listing}; choose one with {option}")


def _candidate_metrics(experiment: str, metrics: set[str]) -> set[str]:
    """The metrics an experiment's rows may be drawn by: the implied one where present, else all but chance levels."""
    for prefix, implied in IMPLIED_METRICS:
        if experiment.startswith(prefix) and implied in metrics:
            return {implied}
    scores = {metric for metric in metrics if not metric.endswith(CHANCE_SUFFIX)}
    return scores or set(metrics)


# --------------------------------------------------------------------------------------------------
# helpers


def _check_spread(spread: str) -> None:
    if spread not in SPREADS:
        raise ConfigError(f"spread must be one of {', '.join(SPREADS)}, not {spread!r}")


def _sign_ranges(table: Any, chosen: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, list[tuple[float, float]]]]:
    """Per line and layer, the ``(low, high)`` ranges over direction signs that the sidecar holds for ``chosen``."""
    if not isinstance(table, ResultTable):
        return {}
    ranges: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = {}
    for row in chosen:
        meta = table.metadata(row) or {}
        signs = (meta.get("details") or {}).get("signs") or {}
        low, high = signs.get("low"), signs.get("high")
        if isinstance(low, (int, float)) and isinstance(high, (int, float)):
            ranges.setdefault(_line_of(row), {}).setdefault(row["layer"], []).append((float(low), float(high)))
    return ranges


def _warn_sign_overlaps(experiment: str, model: str, layers: Sequence[str], ranges: Mapping[str, list[tuple[float, float]]]) -> None:
    """Log one line when the sign ranges of adjacent layers overlap (their order depends on the signs)."""
    import logging

    mean = {layer: (float(np.mean([r[0] for r in ranges[layer]])), float(np.mean([r[1] for r in ranges[layer]]))) for layer in layers}
    overlaps = [(a, b) for a, b in zip(layers, layers[1:]) if mean[a][0] <= mean[b][1] and mean[b][0] <= mean[a][1]]
    if overlaps:
        shown = ", ".join(f"{a}/{b} ({mean[a][0]:.3f}-{mean[a][1]:.3f} vs {mean[b][0]:.3f}-{mean[b][1]:.3f})" for a, b in overlaps[:3])
        more = f" and {len(overlaps) - 3} more" if len(overlaps) > 3 else ""
        logging.getLogger(__name__).warning(
            f"{experiment} ({model}): the score's range over the signs of the canonical directions overlaps between "
            f"adjacent layers {shown}{more}: their order depends on the signs LAPACK gives; compare pwcca_centred, "
            "which does not depend on them"
        )


def _rows_of(table: "ResultTable | Iterable[Mapping[str, Any]] | Iterable[Any]") -> list[dict[str, Any]]:
    """The rows with the columns a plot needs, layer ids normalised and values as floats.

    ``table`` is a ResultTable, an iterable of row mappings, or what a runner returned: records
    (or a report) with a ``rows()`` method giving such mappings.
    """
    if isinstance(table, ResultTable):
        return table.rows
    if isinstance(table, Mapping):
        raise ConfigError("plots take a ResultTable or an iterable of rows, not a single row")
    if callable(getattr(table, "rows", None)):
        table = table.rows()
    given = []
    for item in table:
        given.extend(item.rows() if callable(getattr(item, "rows", None)) else [item])
    rows = []
    for number, row in enumerate(given, start=1):
        if not isinstance(row, Mapping):
            raise ResultError(f"row {number} is a {type(row).__name__}, not a mapping of column -> value")
        missing = [column for column in _NEEDED if column not in row]
        if missing:
            raise ResultError(f"row {number} lacks the column(s) {', '.join(missing)}")
        try:
            layer = parse_layer_id(str(row["layer"]))
            value = float(row["value"])
        except (LayerprobeError, TypeError, ValueError) as exc:
            raise ResultError(f"row {number}: {exc}") from None
        rows.append({**row, "layer": layer, "value": value})
    return rows


def _no_rows_message(rows: list[dict[str, Any]], experiment: str | None, metric: str) -> str:
    if not rows:
        return "there are no result rows to plot"
    experiments = sorted({row["experiment"] for row in rows})
    if experiment is not None and experiment not in experiments:
        return f"no results for experiment {experiment!r} (experiments: {', '.join(experiments)})"
    scope = [row for row in rows if experiment is None or row["experiment"] == experiment]
    metrics = sorted({row["metric"] for row in scope})
    where = f" of experiment {experiment!r}" if experiment is not None else ""
    return f"no results with metric {metric!r}{where} (metrics: {', '.join(metrics)})"


def _break_gaps(layers: list[str], x: list[float], series: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
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


def _panel_width(n_layers: int) -> float:
    """Inches for one panel: room for the layer labels, never cramped or huge."""
    return float(min(max(4.2, 0.3 * n_layers + 1.6), 11.0))


def _style_layer_axis(ax: "Axes", layers: list[str]) -> None:
    """Categorical layer ticks; a faint line between mel, C and T layers."""
    ax.set_xticks(
        range(len(layers)),
        labels=layers,
        rotation=90 if len(layers) > 40 else 0,
        fontsize="small" if len(layers) > 16 else "medium",
    )
    ax.set_xlim(-0.5, len(layers) - 0.5)
    ax.set_xlabel("layer")
    for index in range(1, len(layers)):
        if layer_kind(layers[index]) != layer_kind(layers[index - 1]):
            ax.axvline(index - 0.5, color="0.6", linewidth=0.8, linestyle=":", zorder=1, gid="layer-kind-boundary")


__all__ = [
    "CHANCE_LABEL", "CHANCE_SUFFIX", "IMPLIED_METRICS", "SPREADS", "FIGURE_FORMATS", "default_metric", "metric_label", "plot_layer_trend", "plot_trends", "save_figure",
    "plot_attention_grid",
]  # fmt: skip
