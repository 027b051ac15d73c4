"""``layerprobe sample``: draw a reproducible data-sample set from a corpus split."""

from __future__ import annotations

from pathlib import Path

import click

from layerprobe.cli.options import (
    CONTEXT_SETTINGS,
    corpus_dir_option,
    corpus_format_options,
    open_corpus_dir,
    out_dir_option,
    overwrite_option,
    progress_option,
    sample_option,
    seed_option,
    span_option,
    split_option,
    tier_options,
)


@click.command("sample", context_settings=CONTEXT_SETTINGS, short_help="Draw a reproducible data-sample set from a corpus split.")
@corpus_dir_option("corpus_path", "Corpus directory (LibriSpeech, TIMIT, or a folder of audio + TextGrids).")
@split_option("Split to sample (e.g. train, dev-clean, test).")
@span_option("What is sampled.", required=True)
@sample_option()
@seed_option("Seed of the draw [default: the sample id].", default=None)
@click.option(
    "--role",
    type=click.Choice(["auto", "train", "eval"]),
    default="auto",
    show_default=True,
    help="Which published counts apply; auto: train when the split's name contains 'train'.",
)
@click.option("--n-utterances", type=click.IntRange(min=1), default=None, help="Frame span: utterances [500].")
@click.option("--n-labels", type=click.IntRange(min=1), default=None, help="Keep the N most frequent labels [word: 500].")
@click.option("--min-per-label", type=click.IntRange(min=1), default=None, help="Fewest instances per label.")
@click.option("--max-per-label", type=click.IntRange(min=1), default=None, help="Most instances per label.")
@click.option(
    "--labels-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Use the labels of this manifest (or text file, one per line), e.g. the training sample's words.",
)
@click.option(
    "--oracle",
    "oracles",
    multiple=True,
    metavar="both|semantic|syntactic|PATH",
    help="Span all_words: keep the words this word-attribute oracle has (repeat it for the union) [both: the "
    "semantic and syntactic oracles built from WordNet and the tagger lexicon, as published]; PATH: a QVEC oracle file.",
)
@click.option(
    "--max-subset-duration",
    type=click.FloatRange(min=0, min_open=True),
    default=10_000.0,
    show_default=True,
    help="Seconds of audio per subset (subsets are extracted in parallel).",
)
@out_dir_option(
    "Directory of data-sample sets; the manifest goes to OUT/<corpus>/<split>_<span>_sample<k>.json.", default=Path("data_samples")
)
@overwrite_option("Replace an existing manifest that differs.")
@progress_option
@corpus_format_options
@tier_options
def sample_command(
    corpus_path: Path,
    split: str,
    span: str,
    sample_id: int,
    seed: int | None,
    role: str,
    n_utterances: int | None,
    n_labels: int | None,
    min_per_label: int | None,
    max_per_label: int | None,
    labels_from: Path | None,
    oracles: tuple[str, ...],
    max_subset_duration: float,
    out: Path,
    overwrite: bool,
    progress: bool,
    corpus_format: str,
    corpus_name: str | None,
    alignments: Path | None,
    phone_tier: str | None,
    word_tier: str | None,
) -> None:
    """Draw a reproducible data-sample set (utterances or phone/word segments) from a corpus split.

    The counts follow the layer-wise analysis papers (500 utterances; 3000-7000 training instances
    per phone, 200 for evaluation; the 500 most frequent words with 600-1200 training instances, 15
    for evaluation); the options change them.  Same corpus, options and seed: same file, byte for byte.
    Span all_words (cca_semantic, cca_syntactic) keeps every word of the split that --oracle has,
    up to 200 instances each.

    Every audio file that may be drawn is checked first (readable, not truncated, at least 400
    samples at 16 kHz, one model frame); unusable ones are skipped, one line each, and counted in
    the manifest's summary.  The manifest records each file's duration and fingerprint, so that
    extraction refuses audio changed since.

    \b
    Examples:
      layerprobe sample --corpus synth --split train --span phone --sample 1 --min-per-label 20 --max-per-label 50
      layerprobe sample --corpus /data/LibriSpeech --alignments /data/ls_alignments \\
          --split dev-clean --span word --labels-from data_samples/LibriSpeech/train-clean-100_word_sample1.json
      layerprobe sample --corpus synth --split train --span all_words --oracle both
    """
    from layerprobe.data.samples import SamplingRule, default_role, draw_sample, manifest_path, read_label_list, write_manifest

    handle = open_corpus_dir(corpus_path, corpus_format, corpus_name, alignments, phone_tier, word_tier)
    chosen_role = default_role(split) if role == "auto" else role
    rule = SamplingRule.default(
        span,
        chosen_role,
        n_utterances=n_utterances,
        n_labels=n_labels,
        min_per_label=min_per_label,
        max_per_label=max_per_label,
        max_subset_duration_s=max_subset_duration,
    )
    labels = read_label_list(labels_from) if labels_from is not None else None
    if oracles and span != "all_words":
        raise click.BadParameter(f"is for --span all_words, not {span}", param_hint="--oracle")
    if labels is not None and span == "all_words":
        raise click.BadParameter("--span all_words takes its words from --oracle", param_hint="--labels-from")
    vocabulary = None
    if span == "all_words":
        from layerprobe.data.all_words import DEFAULT_ORACLE, vocabulary_oracle

        vocabulary = vocabulary_oracle(list(oracles) or [DEFAULT_ORACLE])
    manifest = draw_sample(handle, split, span=span, sample=sample_id, seed=seed, rule=rule, labels=labels,
                           oracle=vocabulary, progress=progress)  # fmt: skip
    path = write_manifest(manifest, manifest_path(out, handle.name, split, span, sample_id), overwrite=overwrite)
    for line in manifest.skipped_lines():
        click.echo(line)
    click.echo(f"{manifest.describe()} -> {path}")


__all__ = ["sample_command"]
