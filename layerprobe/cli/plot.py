"""``layerprobe plot``: layer-trend curves from result tables."""

from __future__ import annotations

from pathlib import Path

import click

from layerprobe.cli.options import CONTEXT_SETTINGS, out_file_option


@click.command("plot", context_settings=CONTEXT_SETTINGS, short_help="Draw layer-trend curves from result tables.")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@out_file_option("trend.png", help="Figure file (.png or .pdf); the other format is written next to it.")
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
    "nmi for mi_*, ap for awd, else their only metric].",
)
@click.option(
    "--spread",
    type=click.Choice(["std", "range", "none"]),
    default="std",
    show_default=True,
    help="Band around each line: +- standard deviation across samples and seeds, min-max range, or none.",
)
def plot_command(results: tuple[Path, ...], out: Path, experiments: tuple[str, ...], metric: str | None, spread: str) -> None:
    """Draw a metric per layer, one line per model and one panel per experiment, from result CSVs.

    Rows of all RESULTS files are merged (a later file wins where two hold the same row); each
    point is the mean over data samples and seeds, the band their spread.  Without --metric the
    metric is the one the drawn experiments imply (pwcca for cca_*, nmi for mi_*, ap for awd, else the one
    metric their rows share); where none is, the error lists each experiment's.  Writes OUT as
    PNG (200 dpi) and PDF.

    \b
    Examples:
      layerprobe plot results/*.csv --out trend.png
      layerprobe plot results/wav2vec2.csv results/hubert.csv --experiment cca_mel --experiment cca_phone \\
          --metric pwcca --spread range --out figures/cca.pdf
    """
    from layerprobe.plots import default_metric, plot_trends, save_figure
    from layerprobe.results import ResultTable

    table = ResultTable.read(results)
    if metric is None:
        metric = default_metric(table, list(experiments) or None, option="--metric")
    figure = plot_trends(table, experiments=list(experiments) or None, metric=metric, spread=spread)
    written = save_figure(figure, out)
    drawn = [ax.get_title() for ax in figure.axes]
    models = {row["model"] for row in table.select(experiment=drawn, metric=metric)}
    click.echo(
        f"plotted {metric} of {len(models)} model{'s' if len(models) != 1 else ''} in {', '.join(drawn)} "
        f"-> {', '.join(str(path) for path in written)}"
    )


__all__ = ["plot_command"]
