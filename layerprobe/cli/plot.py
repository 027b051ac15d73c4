"""``layerprobe plot``: layer-trend curves from result tables, and the all-in-one grid of experiments."""

from __future__ import annotations

from pathlib import Path

import click

from layerprobe.cli.options import CONTEXT_SETTINGS, out_file_option


@click.command("plot", context_settings=CONTEXT_SETTINGS, short_help="Draw layer-trend curves from result tables.")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@out_file_option("trend.png", help="Figure file (.png, .pdf or .svg); PNG and PDF are also written next to it unless --format says otherwise.")
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    help="Experiment to draw, one panel each (repeat the option) [default: every experiment with the metric].",
)
@click.option(
    "--metric",
    default=None,
    help="Metric on the y axis (pwcca, nmi, ...) [default: the one the experiments' rows imply: pwcca for cca_*, "
    "nmi for mi_*, ap for awd, spearman_micro for wordsim, wer for probe and finetune*, else their only metric; "
    "with --grid each experiment's own].",
)
@click.option(
    "--grid",
    is_flag=True,
    help="The all-in-one figure: every experiment a panel with the metric it implies, models as lines, one legend.",
)
@click.option(
    "--spread",
    type=click.Choice(["std", "range", "none"]),
    default="std",
    show_default=True,
    help="Band around each line: +- standard deviation across samples and seeds, min-max range, or none.",
)
@click.option(
    "--y-range",
    "y_range",
    type=click.Choice(["zero", "auto"]),
    default="zero",
    show_default=True,
    help="zero: y from 0 for scores in [0, 1] (PWCCA, I(C;L)/H(L), AP, error rates); auto: fitted to the data.",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(["png", "pdf", "svg"]),
    multiple=True,
    help="Formats to write (repeat the option), each next to OUT [default: OUT's format, PNG and PDF].",
)
def plot_command(
    results: tuple[Path, ...], out: Path, experiments: tuple[str, ...], metric: str | None, grid: bool, spread: str,
    y_range: str, formats: tuple[str, ...],
) -> None:  # fmt: skip
    """Draw a metric per layer, one line per model and one panel per experiment, from result CSVs.

    Rows of all RESULTS files are merged (a later file wins where two hold the same row); each
    point is the mean over data samples and seeds, the band their spread.  Without --metric the
    metric is the one the drawn experiments imply (pwcca for cca_*, nmi for mi_*, ap for awd,
    spearman_micro for wordsim, wer for probe and finetune*, else the one
    metric their rows share); where none is, the error lists each experiment's.  With --grid every
    experiment is drawn with its own metric (panels of one metric share their y range).  Panels wrap
    at three per row and are titled in words; every model is named in the legend.  Writes OUT as
    PNG (200 dpi), PDF and/or SVG (text kept as text).

    \b
    Examples:
      layerprobe plot results/*.csv --out trend.png
      layerprobe plot results/wav2vec2.csv results/hubert.csv --experiment cca_mel --experiment cca_phone \\
          --metric pwcca --spread range --out figures/cca.pdf
      layerprobe plot --grid runs/*/results/cca.csv runs/*/results/mi.csv --out grid.svg --format svg --format pdf
    """
    from layerprobe.plots import default_metric, plot_grid, plot_trends, save_figure
    from layerprobe.results import ResultTable

    table = ResultTable.read(results)
    if grid:
        figure = plot_grid(table, experiments=list(experiments) or None, metric=metric, spread=spread, y_range=y_range)
    else:
        if metric is None:
            metric = default_metric(table, list(experiments) or None, option="--metric")
        figure = plot_trends(table, experiments=list(experiments) or None, metric=metric, spread=spread, y_range=y_range)
    if formats and out.suffix.lower().lstrip(".") not in formats:
        out = out.with_suffix(f".{formats[0]}")
    written = save_figure(figure, out, formats=list(formats) or None)
    drawn = [ax.get_label() for ax in figure.axes]  # each panel's label is its experiment's id
    if grid:
        what = f"a grid of {len(drawn)} experiment{'s' if len(drawn) != 1 else ''}"
        models = {row["model"] for row in table.select(experiment=drawn)}
    else:
        what = str(metric)
        models = {row["model"] for row in table.select(experiment=drawn, metric=metric)}
    click.echo(
        f"plotted {what} of {len(models)} model{'s' if len(models) != 1 else ''} in {', '.join(drawn)} "
        f"-> {', '.join(str(path) for path in written)}"
    )


__all__ = ["plot_command"]
