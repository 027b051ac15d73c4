"""Miniature corpora in every supported layout, built from seeded tones, for tests.

The audio is a few hundred milliseconds of tones (not speech): these corpora exercise the readers,
the sampling rules and the file layouts, not acoustics.  Alignments tile each utterance with words
of two or three phones, so every phone lies inside a word.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layerprobe.data.labels import ARPABET39
from layerprobe.io.alignments import Alignment, Interval, write_textgrid
from layerprobe.io.audio import SAMPLE_RATE, write_audio

WORDS = ("the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "and", "then", "stopped")


@dataclass(frozen=True)
class MiniUtterance:
    """What a miniature corpus wrote for one utterance."""

    utt_id: str
    waveform: np.ndarray
    alignment: Alignment


def make_utterance(utt_id: str, rng: np.random.Generator, *, n_words: int | None = None) -> MiniUtterance:
    """A tone waveform (16 kHz) with a word/phone alignment that tiles it after 0.1 s of silence.

    Word frequencies are skewed (``the`` and ``a`` are common) so that top-N word selection has
    something to select.
    """
    n_words = int(rng.integers(3, 7)) if n_words is None else n_words
    weights = 1.0 / np.arange(1, len(WORDS) + 1)
    words: list[Interval] = []
    phones: list[Interval] = []
    t = 0.1
    for word in rng.choice(len(WORDS), size=n_words, p=weights / weights.sum()):
        start = t
        for _ in range(int(rng.integers(2, 4))):
            length = float(rng.integers(4, 12)) / 100  # 40-110 ms phones on a 10 ms grid
            phones.append(Interval(round(t, 6), round(t + length, 6), str(rng.choice(ARPABET39))))
            t = round(t + length, 6)
        words.append(Interval(start, t, WORDS[int(word)]))
    duration = round(t + 0.1, 6)
    n_samples = int(round(duration * SAMPLE_RATE))
    time = np.arange(n_samples) / SAMPLE_RATE
    frequency = float(rng.uniform(150, 400))
    waveform = 0.3 * np.sin(2 * np.pi * frequency * time) + 0.01 * rng.standard_normal(n_samples)
    alignment = Alignment(utt_id, n_samples / SAMPLE_RATE, tuple(phones), tuple(words))
    return MiniUtterance(utt_id, waveform.astype(np.float32), alignment)


def make_folder_corpus(root: Path, *, splits=("train", "dev"), per_split: int = 6, seed: int = 0) -> dict[str, list[MiniUtterance]]:
    """``root/<split>/<utt>.wav`` + ``.TextGrid`` + ``.txt``; returns what was written per split."""
    rng = np.random.default_rng(seed)
    written: dict[str, list[MiniUtterance]] = {}
    for split in splits:
        directory = Path(root) / split
        directory.mkdir(parents=True, exist_ok=True)
        written[split] = []
        for i in range(per_split):
            utt = make_utterance(f"{split}-{i:03d}", rng)
            write_audio(directory / f"{utt.utt_id}.wav", utt.waveform)
            write_textgrid(utt.alignment, directory / f"{utt.utt_id}.TextGrid")
            (directory / f"{utt.utt_id}.txt").write_text(" ".join(w.label for w in utt.alignment.words) + "\n")
            written[split].append(utt)
    return written


def make_librispeech_corpus(
    root: Path, alignments: Path | None, *, splits=("dev-clean",), speakers=(("19", "198"), ("26", "495")), per_chapter: int = 3, seed: int = 0
) -> dict[str, list[MiniUtterance]]:
    """The OpenSLR LibriSpeech layout (FLAC + ``*.trans.txt``), alignment TextGrids mirrored under ``alignments``.

    Phone labels carry stress digits and a ``sil`` interval opens each TextGrid, as in the
    alignments users download for LibriSpeech.
    """
    rng = np.random.default_rng(seed)
    written: dict[str, list[MiniUtterance]] = {}
    for split in splits:
        written[split] = []
        for speaker, chapter in speakers:
            chapter_dir = Path(root) / split / speaker / chapter
            chapter_dir.mkdir(parents=True, exist_ok=True)
            lines = []
            for i in range(per_chapter):
                utt_id = f"{speaker}-{chapter}-{i:04d}"
                utt = make_utterance(utt_id, rng)
                write_audio(chapter_dir / f"{utt_id}.flac", utt.waveform)
                lines.append(f"{utt_id} {' '.join(w.label.upper() for w in utt.alignment.words)}")
                if alignments is not None:
                    stressed = tuple(
                        Interval(p.start, p.end, p.label + ("1" if p.label[0] in "AEIOU" else "")) for p in utt.alignment.phones
                    )
                    mfa = Alignment(
                        utt_id, utt.alignment.duration, (Interval(0.0, 0.1, "sil"),) + stressed, utt.alignment.words
                    )
                    target = Path(alignments) / split / speaker / chapter
                    target.mkdir(parents=True, exist_ok=True)
                    write_textgrid(mfa, target / f"{utt_id}.TextGrid")
                written[split].append(utt)
            (chapter_dir / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return written


def make_timit_corpus(root: Path, *, per_speaker: int = 2, seed: int = 0) -> dict[str, list[MiniUtterance]]:
    """The TIMIT layout in upper case: ``TRAIN|TEST/DR1/<SPEAKER>/<SENT>.WAV`` with ``.PHN``/``.WRD``/``.TXT``."""
    rng = np.random.default_rng(seed)
    written: dict[str, list[MiniUtterance]] = {}
    for split, speakers in (("TRAIN", ("FCJF0", "MDAB0")), ("TEST", ("FDHC0",))):
        written[split.lower()] = []
        for speaker in speakers:
            directory = Path(root) / split / "DR1" / speaker
            directory.mkdir(parents=True, exist_ok=True)
            for i in range(per_speaker):
                sentence = f"SI{1000 + i}"
                utt = make_utterance(f"{speaker}_{sentence}", rng)
                write_audio(directory / f"{sentence}.WAV", utt.waveform)
                for suffix, tier in ((".PHN", utt.alignment.phones), (".WRD", utt.alignment.words)):
                    rows = [f"{round(iv.start * SAMPLE_RATE)} {round(iv.end * SAMPLE_RATE)} {iv.label.lower()}" for iv in tier]
                    (directory / f"{sentence}{suffix}").write_text("\n".join(rows) + "\n")
                text = " ".join(w.label for w in utt.alignment.words)
                (directory / f"{sentence}.TXT").write_text(f"0 {len(utt.waveform)} {text}.\n")
                written[split.lower()].append(utt)
    return written


#: The LibriSpeech-like splits of :func:`make_synth_librispeech_corpus` and their shares of the utterances.
SYNTH_LIBRISPEECH_SPLITS = (("train-clean-100", 0.75), ("dev-clean", 0.25))

#: ARPAbet vowels: the phones MFA's LibriSpeech alignments write with a stress digit.
_VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"})


def make_synth_librispeech_corpus(
    root: Path,
    alignments: Path,
    *,
    n: int = 40,
    seed: int = 0,
    splits: tuple[tuple[str, float], ...] = SYNTH_LIBRISPEECH_SPLITS,
) -> dict[str, list[str]]:
    """Synthesized speech laid out as LibriSpeech, with MFA-style alignment TextGrids.

    Synthesizes ``n`` utterances (:func:`layerprobe.data.synth.synthesize_corpus`, eSpeak NG,
    offline) into the given LibriSpeech-named splits, then writes them in the OpenSLR layout::

        root/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
        root/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt      upper-case transcripts
        alignments/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.TextGrid

    Each eSpeak voice of a split is one speaker with one chapter (speaker ids are unique across
    splits, as in LibriSpeech).  The TextGrids follow the conventions of the Montreal Forced
    Aligner's LibriSpeech alignments: tiers ``words`` and ``phones``, vowels with a stress digit
    (``1`` on a word's first vowel, ``0`` on the others), ``sil`` intervals wherever no phone is
    spoken, and blank word intervals between words.  Times and audio samples are the synthesizer's,
    unchanged (the FLAC holds the same 16-bit samples as the synthesized WAV).

    Parameters
    ----------
    root : Path
        The LibriSpeech directory to create (must not exist or be empty).
    alignments : Path
        The directory of alignment TextGrids to create.
    n : int, keyword-only
        Utterances over all splits.
    seed : int, keyword-only
        Seed of the synthesized corpus.
    splits : tuple of (str, float), keyword-only
        Split names and their shares of the utterances.

    Returns
    -------
    dict of str to list of str
        The utterance ids written per split, sorted.
    """
    import json
    import tempfile

    import soundfile

    from layerprobe.data.synth import synthesize_corpus
    from layerprobe.io.alignments import read_textgrid

    root, alignments = Path(root), Path(alignments)
    root.parent.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix=".synth-", dir=root.parent) as staging:
        synth_dir = Path(staging) / "corpus"
        synthesize_corpus(synth_dir, n=n, seed=seed, split_fractions=splits, progress=False)
        meta = json.loads((synth_dir / "corpus.json").read_text(encoding="utf-8"))
        voices = sorted({entry["voice"] for entry in meta["utterances"].values()})
        for split_index, (split, _) in enumerate(splits):
            written[split] = []
            transcripts: dict[Path, list[str]] = {}
            counters: dict[str, int] = {}
            for synth_id in sorted(u for u, entry in meta["utterances"].items() if entry["split"] == split):
                speaker = str(100 * (split_index + 1) + voices.index(meta["utterances"][synth_id]["voice"]))
                chapter = str(1000 + int(speaker))
                index = counters.get(speaker, 0)
                counters[speaker] = index + 1
                utt_id = f"{speaker}-{chapter}-{index:04d}"
                chapter_dir = root / split / speaker / chapter
                chapter_dir.mkdir(parents=True, exist_ok=True)
                samples, _ = soundfile.read(synth_dir / split / f"{synth_id}.wav", dtype="int16")
                write_audio(chapter_dir / f"{utt_id}.flac", samples)
                text = (synth_dir / split / f"{synth_id}.txt").read_text(encoding="utf-8").split()
                transcripts.setdefault(chapter_dir / f"{speaker}-{chapter}.trans.txt", []).append(f"{utt_id} {' '.join(text).upper()}")
                alignment = read_textgrid(synth_dir / split / f"{synth_id}.TextGrid", utt_id=utt_id)
                target = alignments / split / speaker / chapter
                target.mkdir(parents=True, exist_ok=True)
                write_textgrid(_mfa_style(alignment), target / f"{utt_id}.TextGrid")
                written[split].append(utt_id)
            for path, lines in transcripts.items():
                path.write_text("\n".join(sorted(lines)) + "\n", encoding="utf-8")
            written[split].sort()
    return written


def _mfa_style(alignment: Alignment) -> Alignment:
    """Stress digits on vowels (1 on a word's first vowel) and ``sil`` where no phone is spoken."""
    phones: list[Interval] = []
    t = 0.0
    first_vowel_seen: set[int] = set()
    for phone in alignment.phones:
        if phone.start > t:
            phones.append(Interval(t, phone.start, "sil"))
        label = phone.label
        if label in _VOWELS:
            word = next((i for i, w in enumerate(alignment.words) if w.start <= phone.start < w.end), -1)
            label += "0" if word in first_vowel_seen else "1"
            first_vowel_seen.add(word)
        phones.append(Interval(phone.start, phone.end, label))
        t = phone.end
    if t < alignment.duration:
        phones.append(Interval(t, alignment.duration, "sil"))
    return Alignment(alignment.utt_id, alignment.duration, tuple(phones), alignment.words)


__all__ = [
    "MiniUtterance",
    "SYNTH_LIBRISPEECH_SPLITS",
    "make_utterance",
    "make_folder_corpus",
    "make_librispeech_corpus",
    "make_synth_librispeech_corpus",
    "make_timit_corpus",
]


def synth_frame_sample(base: Path, *, n: int, seed: int):
    """A synthesized corpus of ``n`` utterances under ``base/synth`` and its frame sample of the train split,
    written under ``base/ds``: ``(manifest, manifest file)``."""
    from layerprobe.data.corpora import open_corpus
    from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
    from layerprobe.data.synth import synthesize_corpus

    synthesize_corpus(base / "synth", n=n, seed=seed, progress=False)
    corpus = open_corpus(base / "synth")
    manifest = draw_sample(corpus, "train", span="frame", rule=SamplingRule.default("frame", "train"), progress=False)
    return manifest, write_manifest(manifest, manifest_path(base / "ds", corpus.name, "train", "frame", 1))
