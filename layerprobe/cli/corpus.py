"""``layerprobe corpus``: make, align and inspect corpora."""

from __future__ import annotations

from pathlib import Path

import click

from layerprobe.cli.options import (
    CONTEXT_SETTINGS,
    corpus_format_options,
    open_corpus_dir,
    out_dir_option,
    overwrite_option,
    progress_option,
    seed_option,
)


@click.group(context_settings=CONTEXT_SETTINGS)
def corpus() -> None:
    """Make, align and inspect corpora.

    \b
    Examples:
      layerprobe corpus synth --out synth --n 200 --seed 0
      layerprobe corpus align clips/ --transcripts clips/transcripts.txt --out clips-aligned/
      layerprobe corpus info synth
    """


#: Lines of skipped files and orphans ``corpus info`` lists per split (the counts cover all).
_LISTED = 20


@corpus.command("info", context_settings=CONTEXT_SETTINGS)
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@corpus_format_options
def corpus_info(path: Path, corpus_format: str, corpus_name: str | None, alignments: Path | None) -> None:
    """Show a corpus's layout, splits, utterance counts, hours and alignment coverage.

    Audio files that cannot be used (unreadable, truncated, shorter than one model frame, or of a
    format libsndfile does not read) are counted and listed with the reason, as are TextGrids
    without audio and audio without a TextGrid (folder corpora).

    \b
    Example:
      layerprobe corpus info /data/LibriSpeech --alignments /data/librispeech_alignments
    """
    from layerprobe.data.corpora import format_seconds, summarize_split

    handle = open_corpus_dir(path, corpus_format, corpus_name, alignments)
    splits = handle.splits()
    click.echo(f"{handle.name}: {handle.format} corpus at {handle.root}")
    if not splits:
        click.echo("  no splits with audio")
    for split in splits:
        summary = summarize_split(handle, split)
        left_out = []
        if summary.skipped:
            left_out.append(f"{len(summary.skipped)} audio file(s) skipped")
        if summary.orphan_alignments:
            left_out.append(f"{len(summary.orphan_alignments)} TextGrid(s) without audio")
        if summary.unaligned:
            left_out.append(f"{len(summary.unaligned)} audio file(s) without TextGrid")
        click.echo(
            f"  {split}: {summary.n_utterances} utterances, {format_seconds(summary.seconds)}, "
            f"{summary.n_aligned} with alignments, {summary.n_transcribed} with transcripts"
            + "".join(f"; {what}" for what in left_out)
        )
        lines = [f"skipped {path}: {reason}" for path, reason in summary.skipped]
        lines += [f"no audio for {path}: {reason}" for path, reason in summary.orphan_alignments]
        lines += [f"no TextGrid for {path}: frame spans only" for path in summary.unaligned]
        for line in lines[:_LISTED]:
            click.echo(f"    {line}")
        if len(lines) > _LISTED:
            click.echo(f"    ... and {len(lines) - _LISTED} more")


@corpus.command("synth", context_settings=CONTEXT_SETTINGS)
@out_dir_option("Corpus directory to create.", required=True)
@click.option("--n", "n_utterances", type=click.IntRange(min=1), default=200, show_default=True, help="Utterances.")
@seed_option("Seed of sentences, voices and rates.")
@overwrite_option("Replace an existing corpus directory.")
@progress_option
def corpus_synth(out: Path, n_utterances: int, seed: int, overwrite: bool, progress: bool) -> None:
    """Synthesize an English corpus with eSpeak NG: 16 kHz WAV + TextGrid with exact timings, offline.

    Sentences from a seeded grammar are spoken in 8 voices (American and British, male and female)
    at rates of 140-190 words per minute, and split 80/10/10 into train, dev and test with
    different sentences.  Phone and word times are the synthesizer's own events; phones are
    ARPAbet-39 classes (tier "phones") and eSpeak's IPA (tier "phones_ipa").  Same seed, same files.

    \b
    Example:
      layerprobe corpus synth --out synth --n 200 --seed 0
    """
    from layerprobe.data.corpora import format_seconds
    from layerprobe.data.synth import synthesize_corpus

    report = synthesize_corpus(out, n=n_utterances, seed=seed, overwrite=overwrite, progress=progress)
    if report.stale_removed:
        names = ", ".join(path.name for path in report.stale_removed)
        click.echo(f"removed {len(report.stale_removed)} partial folder(s) that killed runs left: {names}")
    splits = ", ".join(f"{split} {count}" for split, count in report.counts.items())
    click.echo(
        f"synthesized {report.n_utterances} utterances ({splits}; {format_seconds(report.total_seconds)} of speech, "
        f"{report.n_words} words, {report.n_phones} phones) with eSpeak NG {report.espeak_version} -> {report.out_dir}"
    )


@corpus.command("align", context_settings=CONTEXT_SETTINGS)
@click.argument("audio_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--transcripts",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File of 'utt_id text' lines [default: a same-named .txt beside each audio file].",
)
@out_dir_option("Folder for the TextGrids.", required=True)
@click.option(
    "--oov",
    type=click.Choice(["g2p", "skip", "error"]),
    default="g2p",
    show_default=True,
    help="Words missing from the dictionary: pronounce them with eSpeak NG, skip their utterances, or stop.",
)
@click.option(
    "--dict",
    "dictionary",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Extra pronunciations in CMU format (WORD PH1 PH2 ...).",
)
@progress_option
def corpus_align(
    audio_dir: Path, transcripts: Path | None, out: Path, oov: str, dictionary: Path | None, progress: bool
) -> None:
    """Force-align audio that has only transcripts: writes word and phone TextGrids (PocketSphinx, offline).

    Phones are ARPAbet-39 classes; words missing from the CMU dictionary are reported, never
    dropped.  Put the TextGrids beside the audio (--out AUDIO_DIR) to read the folder as a corpus.

    \b
    Example:
      layerprobe corpus align clips/ --transcripts clips/transcripts.txt --out clips/
    """
    from layerprobe.data.align import align_corpus

    report = align_corpus(audio_dir, transcripts, out, oov=oov, dictionary=dictionary, progress=progress)
    click.echo(report.summary())
    for line in report.reason_lines():
        click.echo(line)
    if not report.aligned:
        from layerprobe.data.align import REPORT_NAME
        from layerprobe.errors import CorpusError

        if report.lacks_transcripts and transcripts is None:
            raise CorpusError(
                "no utterance was aligned: no audio file has a transcript; give --transcripts FILE (lines of "
                "'utt_id text') or put a same-named .txt beside each audio file",
                path=audio_dir,
            )
        raise CorpusError(f"no utterance was aligned; the reasons are listed above and in {REPORT_NAME}", path=out)


__all__ = ["corpus"]
