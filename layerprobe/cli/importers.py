"""``layerprobe import-reference``: result files of the published reference code into a result table."""

from __future__ import annotations

from pathlib import Path

import click

from layerprobe.cli.options import CONTEXT_SETTINGS, out_file_option, sample_option, split_option


@click.command("import-reference", context_settings=CONTEXT_SETTINGS, short_help="Add result files of the published reference code to a result table.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", default=None, help="Model name of the rows [default: <model> of the logs/<dataset>_<model>/ folder].")
@click.option("--experiment", default=None, help="Experiment of the rows [default: from the file name].")
@split_option("Split of the rows [default: from the file name].", required=False)
@sample_option("Data-sample id of the rows [default: from the file name or the lines].", default=None)
@out_file_option("results/reference.csv")
def import_reference_command(
    files: tuple[Path, ...], model: str | None, experiment: str | None, split: str | None, sample_id: int | None, out: Path
) -> None:
    """Read the score files of the published layer-wise analysis code into a result table.

    Reads what its get_scores.py writes under logs/<dataset>_<model>/: CCA scores of every layer
    (<exp>_<split>_sample<k>.json; _mean.json: metric pwcca_mean), single-layer CCA lines
    (<exp>_<split>.lst: layer,sample,score), MI lines (mi_<span>_<eval>_<train>.lst:
    layer,sample,iteration,score; metric nmi, seed = iteration) and word similarity
    (wordsim_*.pkl or .json; metrics spearman_micro, spearman_macro, spearman:<task>).  Layer
    numbers become T<n>.  Rows are added to OUT (same key: replaced) with the file and its format
    as provenance; plot them next to layerprobe's own results.  Every file is read before OUT is
    written.

    \b
    Examples:
      layerprobe import-reference logs/librispeech_wav2vec_small/*.json --out results/reference.csv
      layerprobe import-reference logs/librispeech_wav2vec_small/mi_phone_dev-clean_train-clean.lst \\
          --model wav2vec2-base-reference --out results/reference.csv
      layerprobe plot results/reference.csv results/cca.csv --experiment cca_mel --out cca_mel.png
    """
    from layerprobe.importers import describe, import_reference

    read = import_reference(files, out, model=model, experiment=experiment, split=split, sample=sample_id)
    for result in read:
        click.echo(describe(result))
    total = sum(len(result.rows) for result in read)
    click.echo(f"{total} row{'s' if total != 1 else ''} from {len(read)} file{'s' if len(read) != 1 else ''} -> {out}")


__all__ = ["import_reference_command"]
