"""Layer-trend curves: one score per layer, one line per model, from a :class:`ResultTable`.

The x axis lists the layers in model order (``mel``, ``C1``..``C7``, ``T0``..``TL``) as categories,
a dotted line between the kinds (mel | C | T); models with different layer sets share the union of
their layers, each line having points only where its model has results.  A point is the mean over
the rows of that model and layer (across data samples and seeds); the shaded band is their spread.
Where the rows also hold the metric's chance level (metric ``<metric>_chance``, as ``mi_phone`` and
``mi_word`` write ``nmi_chance``) for the same model, experiment and layer, it is drawn as a dashed
grey line under the model's line (its mean at each layer), labelled :data:`CHANCE_LABEL` in the
legend: a score near it says nothing.  A metric whose chance level is known without measuring it
(:data:`CHANCE_LEVELS`: PWCCA, a held-out correlation, is 0 for independent views) gets a dashed
grey line at that level instead.  From a :class:`ResultTable` whose sidecar holds the range of a
PWCCA over the signs of its canonical directions (``details["signs"]``,
:mod:`layerprobe.analysis.pwcca`), that range is drawn as a hatched band (labelled
:data:`SIGNS_LABEL`), and a warning is logged when the ranges of adjacent layers overlap: their
order then depends on the signs LAPACK happened to give.  Where the sidecar holds the scores of the
untrained model (``probe`` / ``finetune --untrained-baseline``), they are drawn as a dotted grey line
(:data:`BASELINE_LABEL`).

Figures are drawn for print (:func:`layerprobe.io.figure_style.paper_style`): panels titled with
the experiment's human name, axes labelled in words, every model named in a legend (by its
display name, :func:`~layerprobe.io.figure_style.model_display_name`) with one colour and marker
per model across panels; scores in [0, 1] get a y axis from 0 (``y_range="auto"``: fitted to the
data); panels that draw one metric share one y range, and wrap onto rows of at most
:data:`MAX_COLUMNS`; a panel whose scores are all near 0 (:data:`NEAR_ZERO`) says so, with the reason
the sidecar's warnings give.  Figures are made with :class:`matplotlib.figure.Figure` directly,
never through pyplot: no GUI backend is needed and no global figure state is left behind.

Examples
--------
>>> from layerprobe.results import ResultTable
>>> from layerprobe.plots import plot_grid, plot_trends, save_figure
>>> table = ResultTable.read(["results/wav2vec2.csv", "results/hubert.csv"])   # doctest: +SKIP
>>> fig = plot_trends(table, experiments=["cca_mel", "cca_phone"], metric="pwcca")  # doctest: +SKIP
>>> save_figure(fig, "trend.png")                                                 # doctest: +SKIP
[PosixPath('trend.png'), PosixPath('trend.pdf')]
>>> fig = plot_grid(["results/cca.csv", "results/mi.csv"])   # each experiment its own metric  # doctest: +SKIP
>>> save_figure(fig, "grid.svg", formats=["svg", "pdf"])                          # doctest: +SKIP

With an axes of your own::

    fig, ax = plt.subplots()
    plot_layer_trend(table, experiment="cca_mel", metric="pwcca", ax=ax, spread="range")
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from layerprobe.errors import ConfigError, LayerprobeError, ResultError
from layerprobe.attention.figures import plot_attention_grid
from layerprobe.io.figure_style import (
    COLUMN_WIDTH_IN, EXPERIMENT_NAMES, METRIC_NAMES, PAGE_WIDTH_IN, PALETTE, display_names, experiment_title, paper_style,
)  # fmt: skip
from layerprobe.io.figures import FIGURE_FORMATS, save_figure
from layerprobe.layers import parse_layer_id, sort_layers
from layerprobe.plot_axes import baselines, break_gaps, panel_width_in, sign_ranges, style_layer_axis, warn_sign_overlaps, zero_reason
from layerprobe.results import ResultTable

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn, not when this module is
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PathLike = Union[str, "os.PathLike[str]"]

#: Spread bands: standard deviation, min-max range, or none.
SPREADS: tuple[str, ...] = ("std", "range", "none")
#: Y ranges: from 0 for scores in [0, 1] (:data:`UNIT_METRICS`; others fitted), or fitted to the data.
Y_RANGES: tuple[str, ...] = ("zero", "auto")
#: Metrics whose scores lie in [0, 1] (error rates from 0 up): their y axis starts at 0 by default.
UNIT_METRICS: frozenset[str] = frozenset(
    {"pwcca", "pwcca_centred", "cca_mean", "nmi", "nmi_chance", "ap", "wer", "cer", "wer_lm", "cer_lm", "wer_mean", "cer_mean",
     "cer_lm_mean", "wer_lm_mean", "ap_cross_speaker", "precision", "recall", "f1", "token_f1"}
)  # fmt: skip
#: Scores that mean "nothing found" at 0: a panel whose means all lie within this of 0 gets a note
#: (the band ``layerprobe.experiments.cca.CHANCE_PWCCA`` in which a PWCCA run warns).
NEAR_ZERO = 0.05
NEAR_ZERO_METRICS: frozenset[str] = frozenset({"pwcca", "pwcca_centred", "cca_mean", "spearman_micro", "spearman_macro"})
#: The note of such a panel (the reason follows after a colon, where the sidecar's warnings give one).
NEAR_ZERO_NOTE = "all scores near 0"
#: Panels per row of a figure of several experiments.
MAX_COLUMNS = 3
#: One marker per line (with its colour of the palette), so that lines stay apart in grey print.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
#: The suffix of a metric's chance level (``nmi`` -> ``nmi_chance``).
CHANCE_SUFFIX = "_chance"
#: The legend entry of the chance lines.
CHANCE_LABEL = "chance (shuffled clusters)"
#: Legend entries of measured chance levels whose meaning is not MI's shuffled clusters, per metric.
CHANCE_LABELS: dict[str, str] = {"ap": "chance (same-word pair rate)"}
#: The legend entry of the bands of a score's range over the signs of its canonical directions.
SIGNS_LABEL = "range over direction signs"
#: The legend entry of the lines of the untrained model's scores (sidecar ``untrained_metrics`` /
#: ``untrained_test``).
BASELINE_LABEL = "untrained model"
#: The variant of a control run (``cca_semantic@shuffled``: the oracle shuffled between words), drawn
#: in its experiment's panel as a dash-dot grey line labelled :data:`CONTROL_LABEL`, not as a panel.
CONTROL_VARIANT = "shuffled"
CONTROL_LABEL = "control (oracle shuffled between words)"
#: Chance levels known without measuring them, per metric: (level, legend entry).  PWCCA is scored
#: on held-out rows, so views that share nothing sit at 0 whatever the sizes (REFERENCE.md section 2's
#: sanity check; ``layerprobe.experiments.cca.CHANCE_PWCCA`` is the band around it that warns).
CHANCE_LEVELS: dict[str, tuple[float, str]] = {"pwcca": (0.0, "chance (independent views: 0)")}
#: The metric an experiment's rows imply, by the prefix of its name (the score its runner reports;
#: ``mi_phone@lloyd`` is an ``mi_`` experiment too): what a plot draws when no metric is given.
IMPLIED_METRICS: tuple[tuple[str, str], ...] = (
    ("cca_", "pwcca"), ("mi_", "nmi"), ("awd", "ap"), ("wordsim", "spearman_micro"), ("probe", "wer"), ("finetune", "wer"),
    ("segment", "f1"),
    ("spoken_sts", "spearman"),
)  # fmt: skip

_ACRONYMS = {"cca", "pwcca", "svcca", "mi", "nmi", "wer", "cer", "per", "ctc", "glove", "agwe", "lm"}
_NEEDED = ("model", "experiment", "layer", "metric", "value")
#: Known reasons for scores near 0, by a phrase of the sidecar's warning lines.
_ZERO_REASONS = (("rows per dimension", "too few rows per dimension"),)
_PANEL_HEIGHT_IN = 2.1
_LEGEND_HEIGHT_IN = 0.25


def _line_of(row: Mapping[str, Any]) -> tuple[str, str]:
    """The line a row belongs to: (model, corpus); rows without a corpus column have corpus ``""``."""
    return row["model"], row.get("corpus", "")


def metric_label(metric: str) -> str:
    """The axis label of a metric, in words: ``"wer"`` -> ``"Word error rate"``, ``"cca_mean"`` -> ``"CCA mean"``.

    Names of :data:`~layerprobe.io.figure_style.METRIC_NAMES` first; other metrics are spelled
    out, acronyms in capitals.
    """
    if metric in METRIC_NAMES:
        return METRIC_NAMES[metric]
    words = metric.replace("-", "_").split("_")
    return " ".join(word.upper() if word.lower() in _ACRONYMS else word for word in words if word)


@dataclass
class _Styles:
    """How each line looks and is named, the same in every panel of a figure."""

    labels: dict[tuple[str, str], str]
    colors: dict[tuple[str, str], str]
    markers: dict[tuple[str, str], str]

    @classmethod
    def of(cls, rows: Sequence[Mapping[str, Any]]) -> "_Styles":
        found = {_line_of(row) for row in rows}
        shown = display_names(sorted({model for model, _ in found}))
        corpora: dict[str, set[str]] = {}
        for model, corpus in found:
            corpora.setdefault(model, set()).add(corpus)
        labels = {(m, c): shown[m] if len(corpora[m]) == 1 else f"{shown[m]} ({c or 'corpus unknown'})" for m, c in found}
        keys = sorted(found, key=lambda key: (labels[key], key))  # legend order: by the name shown
        colors = {key: PALETTE[index % len(PALETTE)] for index, key in enumerate(keys)}
        markers = {key: MARKERS[index % len(MARKERS)] for index, key in enumerate(keys)}
        return cls(labels, colors, markers)


@dataclass
class _Drawn:
    """What one panel drew: the y range it wants, and whether its metric's scores were all near 0."""

    low: float
    high: float
    near_zero: bool = False
    legend: list[tuple[Any, str]] = field(default_factory=list)


def plot_layer_trend(
    table: "ResultTable | Iterable[Mapping[str, Any]] | Iterable[Any]",
    *,
    experiment: str | None = None,
    metric: str | None = None,
    ax: "Axes | None" = None,
    spread: str = "std",
    title: str | None = None,
    y_range: str = "zero",
    legend: bool = True,
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
        Where to draw; a new figure (one column wide) is made when omitted (``ax.figure``).
    spread : {"std", "range", "none"}
        The band around each line: mean +- the sample standard deviation (ddof=1) of the values
        at a layer (across samples and seeds), their min-max range, or no band.  A band is drawn
        only for a model with more than one value at some layer.
    title : str, optional
        The axes title; default the experiment's human name
        (:func:`~layerprobe.io.figure_style.experiment_title`; "" for none).
    y_range : {"zero", "auto"}
        ``"zero"``: a y axis from 0 for scores in [0, 1] (:data:`UNIT_METRICS`), others fitted;
        ``"auto"``: fitted to what is drawn.
    legend : bool
        Draw the legend on the axes (always, so that even one model is named).

    Returns
    -------
    matplotlib Axes
        ``ax`` (or the new one): x ticks at 0..n-1 (labelled with the layer ids, thinned where
        they would crowd), one line per model labelled with its display name; bands as
        ``fill_between`` collections; where rows of ``<metric>_chance`` match, a dashed grey line
        per model (gid ``"chance"``; the first labelled :data:`CHANCE_LABEL`); else, for a metric of
        :data:`CHANCE_LEVELS`, one dashed grey line at its level (gid ``"chance"``, labelled); the
        untrained model's scores as dotted grey lines (gid ``"baseline"``); a note (a text of gid
        ``"note"``) where every score is near 0.  ``ax.get_label()`` is the experiment's id.

    Raises
    ------
    ConfigError
        For an unknown ``spread`` or ``y_range``, no ``experiment`` given while the rows hold
        several (the message lists them), or no ``metric`` given while the experiment's rows imply none.
    ResultError
        When no row has the experiment and metric, or a row lacks a column.
    """
    _check_spread(spread)
    _check_y_range(y_range)
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
    if not any(row["experiment"] == experiment and row["metric"] == metric for row in rows):
        raise ResultError(_no_rows_message(rows, experiment, metric))
    with paper_style():
        if ax is None:
            from matplotlib.figure import Figure

            ax = Figure(figsize=(COLUMN_WIDTH_IN, 2.6), layout="constrained").add_subplot()
        drawn = _draw_trend(ax, rows, table, experiment=experiment, metric=metric, spread=spread, y_range=y_range,
                            styles=_Styles.of(rows), title=title)  # fmt: skip
        ax.set_ylim(drawn.low, drawn.high)
        if legend:
            ax.legend([h for h, _ in drawn.legend], [label for _, label in drawn.legend], loc="best")
    return ax


def plot_trends(
    table: ResultTable | Iterable[Mapping[str, Any]],
    *,
    experiments: Sequence[str] | None = None,
    metric: str | None = None,
    spread: str = "std",
    y_range: str = "zero",
) -> "Figure":
    """Draw several experiments' panels of one metric, in rows of at most :data:`MAX_COLUMNS`, one y range.

    Parameters
    ----------
    table : ResultTable or iterable of mapping
        Result rows.
    experiments : sequence of str, optional
        The panels, in this order; default every experiment that has ``metric``, in the order of
        :data:`~layerprobe.io.figure_style.EXPERIMENT_NAMES` (the published figures'), others
        alphabetically after them.
    metric : str, optional
        The metric to draw; default the one the chosen experiments' rows (all rows, when
        ``experiments`` is omitted) imply (:func:`default_metric`).
    spread, y_range
        As in :func:`plot_layer_trend`.

    Returns
    -------
    matplotlib Figure
        A headless :class:`~matplotlib.figure.Figure` (no pyplot state), page wide (one column wide
        for one panel); ``fig.axes`` in panel order, each titled with the experiment's human name
        (``ax.get_label()``: its id), all with one y range (the y label and tick labels on the
        first panel of each row only); one legend for the figure (``fig.legends[0]``) under the panels.

    Raises
    ------
    ResultError
        When no row has ``metric``, or a chosen experiment has no row with it.
    ConfigError
        For an unknown ``spread`` or ``y_range``, an empty ``experiments``, or no ``metric`` given
        while the experiments imply none (or different ones).
    """
    _check_spread(spread)
    _check_y_range(y_range)
    rows = _rows_of(table)
    if isinstance(experiments, str):
        experiments = [experiments]
    if metric is None:
        metric = default_metric(rows, experiments)
    if experiments is None:
        chosen = _panel_order({row["experiment"] for row in rows if row["metric"] == metric})
        if not chosen:
            raise ResultError(_no_rows_message(rows, None, metric))
    else:
        chosen = list(dict.fromkeys(experiments))
        if not chosen:
            raise ConfigError("no experiments to plot")
        for experiment in chosen:
            if not any(row["experiment"] == experiment and row["metric"] == metric for row in rows):
                raise ResultError(_no_rows_message(rows, experiment, metric))
    return _draw_panels(table, rows, [(experiment, metric) for experiment in chosen], spread=spread, y_range=y_range)


def plot_grid(
    tables: "ResultTable | PathLike | Sequence[PathLike] | Iterable[Mapping[str, Any]]",
    *,
    experiments: Sequence[str] | None = None,
    metric: str | None = None,
    spread: str = "std",
    y_range: str = "zero",
) -> "Figure":
    """The all-in-one figure: experiments as panels, each with the metric it implies, models as lines.

    Like the published figure that compares models over every property: one panel per
    experiment (rows of at most :data:`MAX_COLUMNS`), one line (colour and marker) per model across
    all panels, one legend for the figure; panels of one metric share one y range.

    Parameters
    ----------
    tables : ResultTable, path-like, sequence of path-like, or iterable of mapping
        One or more result tables (CSV files are merged as by :meth:`ResultTable.read`: a later
        file wins on equal rows), or result rows.
    experiments : sequence of str, optional
        The panels, in this order; default every experiment of the rows, in the order of
        :data:`~layerprobe.io.figure_style.EXPERIMENT_NAMES`, others alphabetically after them.
    metric : str, optional
        One metric for every panel; default each experiment's own (:func:`default_metric`).
    spread, y_range
        As in :func:`plot_layer_trend`.

    Returns
    -------
    matplotlib Figure
        As :func:`plot_trends`'s, the y label and tick labels kept where a panel's metric differs
        from its left neighbour's.

    Raises
    ------
    ResultError
        When there are no rows, a file cannot be read, or a chosen experiment has no rows (of ``metric``).
    ConfigError
        For an unknown ``spread`` or ``y_range``, an empty ``experiments``, or an experiment that
        implies no one metric (the message lists its metrics).
    """
    _check_spread(spread)
    _check_y_range(y_range)
    if isinstance(tables, (str, os.PathLike)):
        tables = ResultTable.read([tables])
    elif isinstance(tables, Sequence) and tables and all(isinstance(t, (str, os.PathLike)) for t in tables):
        tables = ResultTable.read(list(tables))
    rows = _rows_of(tables)
    if isinstance(experiments, str):
        experiments = [experiments]
    if experiments is None:
        chosen = _panel_order({row["experiment"] for row in rows if metric is None or row["metric"] == metric})
        if not chosen:
            raise ResultError(_no_rows_message(rows, None, metric or ""))
    else:
        chosen = list(dict.fromkeys(experiments))
        if not chosen:
            raise ConfigError("no experiments to plot")
    panels = []
    for experiment in chosen:
        wanted = metric if metric is not None else default_metric(rows, [experiment])
        if not any(row["experiment"] == experiment and row["metric"] == wanted for row in rows):
            raise ResultError(_no_rows_message(rows, experiment, wanted))
        panels.append((experiment, wanted))
    return _draw_panels(tables, rows, panels, spread=spread, y_range=y_range)


def _draw_panels(
    source: Any, rows: list[dict[str, Any]], panels: list[tuple[str, str]], *, spread: str, y_range: str
) -> "Figure":
    """Panels of (experiment, metric) in rows of at most MAX_COLUMNS; one y range per metric; one legend."""
    from matplotlib.figure import Figure

    ncols = min(MAX_COLUMNS, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    width = COLUMN_WIDTH_IN if ncols == 1 else PAGE_WIDTH_IN
    styles = _Styles.of(rows)
    with paper_style():
        figure = Figure(figsize=(width, _PANEL_HEIGHT_IN * nrows + _LEGEND_HEIGHT_IN), layout="constrained")
        grid = figure.subplots(nrows, ncols, squeeze=False)
        axes = list(grid.ravel())
        for spare in axes[len(panels):]:
            figure.delaxes(spare)
        drawn: list[_Drawn] = []
        for ax, (experiment, metric) in zip(axes, panels):
            # the table itself where there is one: its sidecar holds the sign ranges, warnings and baselines
            drawn.append(_draw_trend(ax, rows, source, experiment=experiment, metric=metric, spread=spread, y_range=y_range,
                                     styles=styles, title=None))  # fmt: skip
        limits: dict[str, tuple[float, float]] = {}
        for (_, metric), panel in zip(panels, drawn):
            low, high = limits.get(metric, (panel.low, panel.high))
            limits[metric] = (min(low, panel.low), max(high, panel.high))
        for index, (ax, (_, metric)) in enumerate(zip(axes, panels)):
            ax.set_ylim(*limits[metric])
            if index % ncols and panels[index - 1][1] == metric:  # its left neighbour labels the same axis
                ax.set_ylabel("")
                ax.tick_params(labelleft=False)
        handles: dict[str, Any] = {}
        for panel in drawn:
            for handle, label in panel.legend:
                handles.setdefault(label, handle)
        order = sorted(handles, key=lambda label: _legend_rank(handles[label]))
        # as many columns as fit the figure's width (an entry: a line sample and its label at 7 pt)
        entry_in = 0.5 + 0.055 * max(len(label) for label in order)
        columns = max(1, min(len(order), int(width // entry_in)))
        figure.set_figheight(figure.get_figheight() + _LEGEND_HEIGHT_IN * (math.ceil(len(order) / columns) - 1))
        figure.legend([handles[label] for label in order], order, loc="outside lower center", ncols=columns)
    return figure


def _draw_trend(
    ax: "Axes", rows: list[dict[str, Any]], source: Any, *, experiment: str, metric: str, spread: str, y_range: str,
    styles: _Styles, title: str | None,
) -> _Drawn:  # fmt: skip
    """Draw one experiment's panel on ``ax``; return the y range it wants and its legend entries."""
    chosen = [row for row in rows if row["experiment"] == experiment and row["metric"] == metric]
    # One line per (model, corpus): two corpora are never averaged into one line.
    by_point: dict[tuple[str, str], dict[str, list[float]]] = {}
    for row in chosen:
        by_point.setdefault(_line_of(row), {}).setdefault(row["layer"], []).append(row["value"])
    chance: dict[tuple[str, str], dict[str, list[float]]] = {}
    for row in rows:
        same_point = row["layer"] in by_point.get(_line_of(row), {})
        if row["experiment"] == experiment and row["metric"] == metric + CHANCE_SUFFIX and same_point:
            chance.setdefault(_line_of(row), {}).setdefault(row["layer"], []).append(row["value"])
    control: dict[tuple[str, str], dict[str, list[float]]] = {}
    for row in rows:
        same_point = row["layer"] in by_point.get(_line_of(row), {})
        if row["metric"] == metric and same_point and control_of(row["experiment"]) == experiment:
            control.setdefault(_line_of(row), {}).setdefault(row["layer"], []).append(row["value"])
    ranges = sign_ranges(source, chosen)
    untrained = baselines(source, chosen, metric)
    layers = sort_layers(layer for points in by_point.values() for layer in points)
    position = {layer: index for index, layer in enumerate(layers)}

    low_high: list[float] = []
    means: list[float] = []
    for model in sorted(by_point, key=lambda key: (styles.labels[key], key)):
        points = by_point[model]
        model_layers = sort_layers(points)
        values = [np.asarray(points[layer], dtype=float) for layer in model_layers]
        mean = np.array([v.mean() for v in values])
        means += list(mean)
        if spread == "std":
            half = np.array([v.std(ddof=1) if v.size > 1 else 0.0 for v in values])
            low, high = mean - half, mean + half
        else:
            low = np.array([v.min() for v in values])
            high = np.array([v.max() for v in values])
        x = [float(position[layer]) for layer in model_layers]
        x, (mean, low, high) = break_gaps(model_layers, x, [mean, low, high])
        color = styles.colors[model]
        ax.plot(x, mean, color=color, marker=styles.markers[model], markersize=3.5, linewidth=1.4, label=styles.labels[model],
                zorder=3, gid="model")  # fmt: skip
        low_high += [float(np.nanmin(mean)), float(np.nanmax(mean))]
        if spread != "none" and any(v.size > 1 for v in values):
            ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0, zorder=2)
            # A point joined to nothing (the mel baseline) gets its band as a bar of the same shade.
            alone = [
                i for i in range(len(x))
                if not np.isnan(mean[i]) and (i == 0 or np.isnan(mean[i - 1])) and (i == len(x) - 1 or np.isnan(mean[i + 1]))
            ]  # fmt: skip
            if alone:
                ax.vlines(x[alone], low[alone], high[alone], color=color, alpha=0.35, linewidth=4, zorder=2)
            low_high += [float(np.nanmin(low)), float(np.nanmax(high))]
        if model in ranges:
            ranged = [layer for layer in model_layers if layer in ranges[model]]
            band_low = np.array([np.mean([r[0] for r in ranges[model][layer]]) for layer in ranged])
            band_high = np.array([np.mean([r[1] for r in ranges[model][layer]]) for layer in ranged])
            bx, (band_low, band_high) = break_gaps(ranged, [float(position[layer]) for layer in ranged], [band_low, band_high])
            first = not any(c.get_gid() == "signs" for c in ax.collections)
            ax.fill_between(bx, band_low, band_high, facecolor="none", edgecolor=color, hatch="////", linewidth=0,
                            alpha=0.6, zorder=2, gid="signs", label=SIGNS_LABEL if first else "_" + SIGNS_LABEL)  # fmt: skip
            low_high += [float(np.nanmin(band_low)), float(np.nanmax(band_high))]
            warn_sign_overlaps(experiment, model[0], ranged, ranges[model])
        chance_label = CHANCE_LABELS.get(metric, CHANCE_LABEL)
        for gid, levels, style, label in (("chance", chance, "--", chance_label), ("baseline", untrained, ":", BASELINE_LABEL),
                                          ("control", control, "-.", CONTROL_LABEL)):  # fmt: skip
            if model not in levels:
                continue
            level_layers = sort_layers(levels[model])
            level = np.array([np.mean(levels[model][layer]) for layer in level_layers])
            lx, (level,) = break_gaps(level_layers, [float(position[layer]) for layer in level_layers], [level])
            first = not any(line.get_gid() == gid for line in ax.get_lines())
            alone = len(level_layers) == 1  # one point: a short dash, as a line of one point shows nothing
            # a control is the model's own (its colour); chance and baselines are grey
            ax.plot(lx, level, color=color if gid == "control" else "0.45", linestyle=style, linewidth=1.2,
                    marker="_" if alone else "", markersize=12, zorder=2.5, gid=gid, label=label if first else "_" + label)  # fmt: skip
            low_high += [float(np.nanmin(level)), float(np.nanmax(level))]

    known = CHANCE_LEVELS.get(metric) if not chance else None
    if known is not None:
        level, label = known
        ax.axhline(level, color="0.45", linestyle="--", linewidth=1.2, zorder=2.5, gid="chance", label=label)
        low_high.append(level)
    style_layer_axis(ax, layers)
    ax.set_ylabel(metric_label(metric))
    ax.set_label(experiment)
    ax.grid(True, axis="y", color="0.85", linewidth=0.6)
    ax.grid(False, axis="x")
    ax.set_axisbelow(True)
    chosen_title = experiment_title(experiment) if title is None else title
    if chosen_title:
        ax.set_title(textwrap.fill(chosen_title, width=max(16, int(panel_width_in(ax) * 12))))
    near_zero = metric in NEAR_ZERO_METRICS and bool(means) and float(np.max(np.abs(means))) < NEAR_ZERO
    if near_zero:
        reason = zero_reason(source, chosen, _ZERO_REASONS)
        ax.text(0.5, 0.55, NEAR_ZERO_NOTE + (f":\n{reason}" if reason else ""), transform=ax.transAxes, ha="center",
                va="center", fontsize="small", color="0.25", gid="note")  # fmt: skip
    low, high = _y_limits(low_high, metric, y_range)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: _legend_rank(handles[i]))
    return _Drawn(low, high, near_zero, [(handles[i], labels[i]) for i in order])


def _legend_rank(handle: Any) -> int:
    """The models first, then the sign ranges, chance and baselines last."""
    return {"signs": 1, "chance": 2, "baseline": 3, "control": 4}.get(handle.get_gid(), 0)


def _y_limits(values: list[float], metric: str, y_range: str) -> tuple[float, float]:
    """The y range a panel wants: from 0 for a score in [0, 1] (at least 0.1 high), else the drawn values padded."""
    bottom, top = min(values), max(values)
    if y_range == "zero" and metric in UNIT_METRICS:
        top = max(top, min(bottom, 0.0) + 0.1)
        pad = 0.05 * (top - min(bottom, 0.0))
        # from 0; a little lower where something is drawn at 0 (a chance line) or under it
        return (0.0 if bottom > 0 else bottom - pad), top + pad
    pad = 0.08 * (top - bottom) if top > bottom else max(0.05 * abs(top), 0.05)
    return bottom - pad, top + pad


def control_of(experiment: str) -> str | None:
    """The experiment a control run's rows belong to (:data:`CONTROL_VARIANT`), else None.

    >>> control_of("cca_semantic@shuffled"), control_of("cca_semantic@pinned+shuffled"), control_of("cca_mel@pinned")
    ('cca_semantic', 'cca_semantic@pinned', None)
    """
    base, _, variant = experiment.partition("@")
    parts = variant.split("+") if variant else []
    if CONTROL_VARIANT not in parts:
        return None
    rest = [part for part in parts if part != CONTROL_VARIANT]
    return base + ("@" + "+".join(rest) if rest else "")


def _panel_order(experiments: Iterable[str]) -> list[str]:
    """Experiments in the order of EXPERIMENT_NAMES (the published figures'), variants after their base, others after;
    a control run whose experiment is drawn too is not a panel of its own (it is drawn in that panel)."""
    experiments = set(experiments)
    experiments = {experiment for experiment in experiments if control_of(experiment) not in experiments}
    known = list(EXPERIMENT_NAMES)

    def key(experiment: str) -> tuple[int, str]:
        base = experiment.partition("@")[0]
        return (known.index(base) if base in known else len(known), experiment)

    return sorted(set(experiments), key=key)


def default_metric(
    table: "ResultTable | Iterable[Mapping[str, Any]] | Iterable[Any]",
    experiments: Sequence[str] | None = None,
    *,
    option: str = "metric=",
) -> str:
    """The metric a plot of ``experiments`` draws when none is given: the one their rows imply.

    An experiment implies the metric of :data:`IMPLIED_METRICS` for its name's prefix (``pwcca``
    for ``cca_*``, ``nmi`` for ``mi_*``, ``ap`` for ``awd``, ``spearman_micro`` for ``wordsim``, ``wer`` for
    ``probe`` and ``finetune*``) where its rows have it; otherwise its metrics are the
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


def _check_y_range(y_range: str) -> None:
    if y_range not in Y_RANGES:
        raise ConfigError(f"y_range must be one of {', '.join(Y_RANGES)}, not {y_range!r}")


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


__all__ = [
    "BASELINE_LABEL", "CHANCE_LABEL", "CONTROL_LABEL", "CONTROL_VARIANT", "control_of", "CHANCE_LABELS", "CHANCE_SUFFIX", "IMPLIED_METRICS", "MAX_COLUMNS", "NEAR_ZERO", "NEAR_ZERO_NOTE", "SPREADS",
    "FIGURE_FORMATS", "UNIT_METRICS", "Y_RANGES", "default_metric", "metric_label", "plot_grid", "plot_layer_trend", "plot_trends",
    "save_figure", "plot_attention_grid",
]  # fmt: skip
