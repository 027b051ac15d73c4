"""``layerprobe attention``: attention maps, block patterns and an attention viewer."""

from __future__ import annotations

from pathlib import Path

import click

from layerprobe.cli.options import (
    CONTEXT_SETTINGS,
    corpus_option,
    device_option,
    features_option,
    layers_option,
    manifest_option,
    max_frames_option,
    max_seconds_option,
    model_option,
    out_file_option,
    overwrite_option,
    pre_softmax_option,
    progress_option,
    revision_option,
    sample_option,
    samples_dir_option,
    span_option,
    split_option,
    store_root_option,
    utterances_option,
)
from layerprobe.selections import ALL, parse_count


@click.group(context_settings=CONTEXT_SETTINGS)
def attention() -> None:
    """Attention maps, block patterns and an attention viewer with phone and word alignments.

    \b
    Examples:
      layerprobe attention maps --model tiny:whisper --corpus demo --split train --span frame --utterances 4
      layerprobe attention patterns --model tiny:whisper --corpus demo --split train
      layerprobe attention view features/tiny_whisper/demo_train_sample1/contextualized_frame.h5 --out page.html
    """


@attention.command("maps", context_settings=CONTEXT_SETTINGS, short_help="Store attention maps (and logits) of chosen utterances.")
@model_option()
@revision_option
@corpus_option("Corpus name (or its directory) whose data-sample set to read.")
@split_option()
@span_option("Span of the data-sample set.", default="frame")
@sample_option()
@utterances_option("Utterance ids (comma-separated), the first N, or all.", default="all", allow_all=True,
                   empty="give utterance ids, a number or all")  # fmt: skip
@pre_softmax_option("Also store the attention logits before the softmax.")
@max_frames_option
@max_seconds_option
@device_option()
@samples_dir_option()
@store_root_option()
@overwrite_option("Replace an existing complete store.")
@progress_option
def attention_maps_command(
    model_spec: str, revision: str | None, corpus: str, split: str, span: str, sample_id: int, utterances: int | list[str] | str,
    pre_softmax: bool, max_frames: int, max_seconds: float, device: str, samples_dir: Path, out: Path, overwrite: bool,
    progress: bool,
) -> None:  # fmt: skip
    """Run a model over a data-sample set and store every block's attention maps, per head.

    The maps (heads, T, T) go, float16, into the contextualized store of the sample
    (OUT/<model>/<corpus>_<split>_sample<k>/contextualized_<span>.h5) with the layers' rows; Whisper's
    maps are cut to the real audio.  Models run with a fused attention kernel are switched to eager
    attention for the call.  This is `layerprobe extract --rep contextualized --attention ...`.

    A block's maps grow with the square of the utterance's frames T (50 per second): heads x T^2 x
    14 bytes while computed (20 with --pre-softmax), one block at a time.  An utterance with more
    than --max-frames frames is refused before anything runs, with the bytes it would need.

    \b
    Examples:
      layerprobe attention maps --model tiny:wav2vec2 --corpus demo --split train --utterances 3 --pre-softmax
      layerprobe attention maps --model hf:/models/whisper-base --corpus timit --split test --utterances all
    """
    from layerprobe.data.corpora import corpus_name, format_seconds
    from layerprobe.data.samples import manifest_path, read_manifest
    from layerprobe.extraction import extract
    from layerprobe.models import load_model

    manifest = manifest_path(samples_dir, corpus_name(Path(corpus).name), split, span, sample_id)
    sample_set = read_manifest(manifest)
    chosen = len(sample_set.utterances) if utterances == ALL else utterances
    if not chosen:
        raise click.BadParameter("give utterance ids, a number or all", param_hint="--utterances")
    adapter = load_model(model_spec, revision=revision, device=device)
    report = extract(sample_set, adapter, out, rep="contextualized", attention=chosen, pre_softmax=pre_softmax,
                     max_attention_frames=max_frames or None, max_seconds=max_seconds or None,
                     overwrite=overwrite, progress=progress, manifest_path=manifest)  # fmt: skip
    click.echo(
        f"stored attention maps{' and logits' if pre_softmax else ''} with {report.n_rows} rows of "
        f"{report.n_utterances} utterances in {format_seconds(report.wall_seconds)} -> {report.path}"
    )


@attention.command("patterns", context_settings=CONTEXT_SETTINGS, short_help="Score and classify each block's attention pattern.")
@model_option("Model spec the maps were stored with (tiny:wav2vec2, hf:...).")
@corpus_option("Corpus name (or its directory) of the data-sample set.")
@split_option()
@sample_option()
@span_option("Span of the store holding the maps.", default="frame")
@click.option("--blocks", default=None, help="Blocks to score, e.g. T1,T3 [default: every block with maps].")
@click.option("--radius", type=int, default=5, show_default=True, help="Half-width of the diagonal band in frames (5 = +-100 ms at 50 Hz).")
@click.option("--utterances", type=click.IntRange(min=1), default=None, help="Score the first N utterances with maps [default: all].")
@click.option("--show", type=click.IntRange(min=1), default=3, show_default=True, help="Utterances per block in the figure.")
@click.option("--averaging", type=click.Choice(["heads-first", "rows-first"]), default="heads-first", show_default=True,
              help="heads-first: renormalise the rows of the heads' mean map of the real frames; rows-first: "
                   "renormalise each head's rows, then average (heads that attend to Whisper's padding weigh more).")  # fmt: skip
@features_option("Root of the feature stores (attention maps --out).")
@out_file_option("results/attention.csv")
@click.option("--figure", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also draw the maps grid (.png or .pdf; the other format is written next to it).")
def attention_patterns_command(
    model_spec: str, corpus: str, split: str, sample_id: int, span: str, blocks: str | None, radius: int,
    utterances: int | None, show: int, averaging: str, features: Path, out: Path, figure: Path | None,
) -> None:  # fmt: skip
    """Score each block's head-averaged attention maps and name its pattern.

    Reads the maps stored by `layerprobe attention maps` in
    FEATURES/<model>/<corpus>_<split>_sample<k>/contextualized_<span>.h5.  Scores per block, mean
    over utterances, all in [0, 1]: diagonal (mass within --radius frames of the diagonal),
    vertical (excess mass of the top 5 % key columns), consistency (whether every query attends to
    those keys) and entropy (normalised by log T).  Class: diagonal, vertical, vertical+diagonal or
    heterogeneous (thresholds in layerprobe.attention.patterns).  A block's map is the heads' mean
    map of the real frames, rows renormalised (--averaging).  Whisper's maps are cut from its 30 s
    padded window: each block also reports the mass real queries sent to the padding ("padding",
    0 for other models).  Rows (experiment attention_patterns, metrics diagonal, vertical,
    consistency, entropy, padding_mass) go to OUT; the class, spreads and per-head scores and
    padding mass go to its JSON sidecar.

    \b
    Examples:
      layerprobe attention patterns --model tiny:wav2vec2 --corpus demo --split train --figure patterns.png
      layerprobe attention patterns --model hf:/models/whisper-base --corpus timit --split test --radius 5
    """
    from layerprobe.experiments.patterns import EXPERIMENT, run_patterns
    from layerprobe.data.corpora import corpus_name

    if radius < 0:
        raise click.BadParameter(f"{radius} is negative; give a radius of 0 frames or more", param_hint="--radius")
    report = run_patterns(features=features, model=model_spec, corpus=corpus_name(Path(corpus).name), split=split,
                          sample=sample_id, span=span, blocks=blocks, radius=radius, utterances=utterances,
                          results=out, figure=figure, show=show, averaging=averaging)  # fmt: skip
    for pattern in report.patterns:
        click.echo(pattern.summary())
    n = len(report.patterns)
    figures = f"; figure {', '.join(str(path) for path in report.figures)}" if report.figures else ""
    click.echo(f"{EXPERIMENT}: {n} block{'s' if n != 1 else ''} -> {out}{figures}")


@attention.command("view", context_settings=CONTEXT_SETTINGS, short_help="Write a self-contained HTML attention viewer (and a PNG).")
@click.argument("store", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@out_file_option("attention.html", help="The HTML page to write.")
@utterances_option("Utterance ids (comma-separated) or the first N with maps.", default="10", allow_all=False,
                   empty="give utterance ids or a number")  # fmt: skip
@layers_option("Only these blocks, e.g. T1,T3 [default: every block with maps].", alias=False, dest="layers_text", default=None)
@samples_dir_option("Where the data-sample sets are (for the alignments).")
@manifest_option("The data-sample manifest itself (wins over --samples-dir).")
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write a static PNG of one map of the first store (with --utt, --layer, --head).")
@click.option("--utt", default=None, help="--png: the utterance [default: the first with maps].")
@click.option("--layer", default=None, help="--png: the block [default: the last with maps].")
@click.option("--head", default="avg", show_default=True, help="--png: a head number or avg.")
@click.option("--phone-labels", type=click.Choice(["arpabet39", "raw"]), default="arpabet39", show_default=True,
              help="--png: phone tier labels folded to the 39 ARPAbet classes (TIMIT h#, kcl unlabelled), or as aligned.")
def attention_view_command(
    store: tuple[Path, ...], out: Path, utterances: int | list[str], layers_text: str | None, samples_dir: Path,
    manifest: Path | None, png: Path | None, utt: str | None, layer: str | None, head: str, phone_labels: str,
) -> None:  # fmt: skip
    """Write one HTML page (no network needed) to explore the attention maps of one or more stores.

    The page has utterance, layer and head pickers (and the head average), a softmax switch when
    a store holds pre-softmax logits, zoom to a range of words, phone and word tiers along both
    axes with boundaries drawn, a hover read-out, colour scales, image interpolation (nearest or
    smooth), a time-to-frame rounding switch (overlapping frames or frame centres), the padding
    mass of Whisper's maps, and the phone-by-phone attention matrix, by phone or by articulatory
    class (manner, place, voicing, vowel height, backness, rounding).  The alignments come from the
    data-sample manifest recorded in a store (found under --samples-dir, or given with --manifest);
    utterances without one get placeholder tiers (200 ms windows in 40 ms pieces) and the page says
    so.  Several stores (models) give one panel each, side by side, on the same utterance and time
    range.

    \b
    Examples:
      layerprobe attention view features/tiny_wav2vec2/demo_train_sample1/contextualized_frame.h5 --out page.html
      layerprobe attention view STORE.h5 --out page.html --png fig.png --utt demo-00001 --layer T3 --head avg
      layerprobe attention view WAV2VEC2_STORE.h5 WHISPER_STORE.h5 --out both.html --utterances 3
    """
    from layerprobe.attention.view import render_png, write_viewer
    from layerprobe.io.store import FeatureStore

    layers = [part.strip() for part in layers_text.split(",") if part.strip()] if layers_text else None
    with FeatureStore.open(store[0]) as opened:
        page = write_viewer([opened, *store[1:]], out, utterances=utterances, manifest=manifest, samples_dir=samples_dir,
                            layers=layers)  # fmt: skip
        click.echo(f"attention viewer -> {page}")
        if png is not None:
            from layerprobe.attention.view import read_viewer_data

            data = read_viewer_data(page)
            count = parse_count(head)
            head_arg: int | str = count if count is not None else head.strip()
            try:
                figure = render_png(opened, utt or data["utterances"][0]["id"], layer or data["layers"][-1], head_arg, out=png,
                                    manifest=manifest, samples_dir=samples_dir, phone_labels=phone_labels)  # fmt: skip
            except BaseException:
                page.unlink(missing_ok=True)  # a failed command leaves no output behind
                raise
            click.echo(f"attention map -> {figure}")


__all__ = ["attention"]
