"""Corpus readers: LibriSpeech, TIMIT, and a folder of audio files with same-named TextGrids.

A corpus is a directory with one or more *splits*; each split yields :class:`Utterance` records
lazily, in a fixed (sorted) order, without reading audio or alignments until asked.  Nothing here
holds the whole corpus in memory.

Layouts
-------
``librispeech``
    ``ROOT/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac`` with
    ``<speaker>-<chapter>.trans.txt`` beside the audio (the standard OpenSLR layout).  Alignments,
    when given, are the TextGrids users download for LibriSpeech, mirrored under
    ``ALIGNMENTS/<split>/<speaker>/<chapter>/<utt_id>.TextGrid``.
``timit``
    ``ROOT/{TRAIN,TEST}/<dialect>/<speaker>/<sentence>.{WAV,PHN,WRD,TXT}`` in either case (and the
    ``.WAV.wav`` copies some distributions add).  Utterance ids are ``<speaker>_<sentence>``.
    A directory that holds TIMIT files but no TRAIN/TEST folders is one split, ``all``.
``folder``
    Audio files (``.wav``, ``.flac``, and ``.mp3``, ``.ogg``, ``.oga``, ``.opus``, which libsndfile >= 1.1
    decodes) with same-named ``.TextGrid`` files and optional ``.txt``/``.lab`` transcripts.  Each immediate subdirectory that holds audio is a split (the synthesized corpus
    has ``train``, ``dev``, ``test``); when the root itself holds audio files the corpus has one
    split, ``all``, with every audio file below the root.  Utterance ids are file stems and must be
    unique within a split.

:func:`open_corpus` picks the layout automatically.
"""

from __future__ import annotations

import abc
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from layerprobe.errors import AudioError, ConfigError, CorpusError
from layerprobe.io.alignments import Alignment, read_librispeech_alignment, read_textgrid, read_timit
from layerprobe.io.audio import (
    AUDIO_SUFFIXES,
    COMPRESSED_AUDIO_SUFFIXES,
    UNREADABLE_AUDIO_SUFFIXES,
    audio_duration,
    load_audio,
    probe_audio,
)

#: Name of the split that stands for a whole directory without split folders.
WHOLE_SPLIT = "all"

CORPUS_FORMATS = ("librispeech", "timit", "folder", "hf")


@dataclass(frozen=True)
class Utterance:
    """One recording of a corpus, with where its transcript and alignment live.

    Attributes
    ----------
    utt_id : str
        Identifier, unique within its split.
    split : str
        Split the utterance belongs to.
    audio_path : Path
        The audio file.
    alignment_path : Path or None
        The alignment file (``.TextGrid`` or TIMIT ``.phn``), None when the utterance has none.
    alignment_format : str
        ``"textgrid"``, ``"librispeech"`` or ``"timit"``: which reader :meth:`load_alignment` uses.
    transcript : str or None
        The orthographic transcript when the corpus has one.
    speaker : str or None
        Speaker identifier when the layout gives one.
    phone_tier, word_tier : str or None
        TextGrid tier names of the phones and words; found by the usual names when None
        (see :func:`layerprobe.io.alignments.read_textgrid`).
    """

    utt_id: str
    split: str
    audio_path: Path
    alignment_path: Path | None = None
    alignment_format: str = "textgrid"
    transcript: str | None = None
    speaker: str | None = None
    phone_tier: str | None = None
    word_tier: str | None = None

    def load_audio(self) -> np.ndarray:
        """The waveform, shape (n_samples,), float32, 16 kHz mono (see :func:`layerprobe.io.audio.load_audio`)."""
        return load_audio(self.audio_path)

    def duration(self) -> float:
        """Length of the audio in seconds, from the file header."""
        return audio_duration(self.audio_path)

    def load_alignment(self, *, duration: float | None = None) -> Alignment:
        """Read and validate the utterance's alignment against the audio's duration.

        Parameters
        ----------
        duration : float, optional
            The audio's length in seconds when already known (saves reading the header again).

        Raises
        ------
        CorpusError
            When the utterance has no alignment.
        AlignmentError
            When the alignment file is malformed or does not fit the audio.
        """
        if self.alignment_path is None:
            raise CorpusError(f"utterance {self.utt_id!r} has no alignment", path=self.audio_path)
        if duration is None:
            duration = self.duration()
        return read_alignment(self.alignment_path, self.alignment_format, utt_id=self.utt_id, duration=duration,
                              phone_tier=self.phone_tier, word_tier=self.word_tier)  # fmt: skip


def read_alignment(
    path: Path,
    alignment_format: str,
    *,
    utt_id: str,
    duration: float | None,
    phone_tier: str | None = None,
    word_tier: str | None = None,
) -> Alignment:
    """Read an alignment file with the reader named by ``alignment_format`` (tier names: TextGrids only)."""
    if alignment_format == "timit":
        return read_timit(path, utt_id=utt_id, duration=duration)
    if alignment_format == "librispeech" and phone_tier is None and word_tier is None:
        return read_librispeech_alignment(path, utt_id=utt_id, duration=duration)
    if alignment_format in ("textgrid", "librispeech"):
        return read_textgrid(path, utt_id=utt_id, duration=duration, phone_tier=phone_tier, word_tier=word_tier)
    raise ConfigError(f"unknown alignment format {alignment_format!r} (known: textgrid, librispeech, timit)")


class Corpus(abc.ABC):
    """A directory of recordings, divided into splits, read lazily.

    Parameters
    ----------
    root : path-like
        The corpus directory.
    name : str, optional
        Short name used in output paths (``data_samples/<name>/...``); the directory's name by default.
    phone_tier, word_tier : str, optional
        TextGrid tier names of the phones and words (``--phone-tier``, ``--word-tier``); found by the
        usual names when omitted.
    """

    format: str = ""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        name: str | None = None,
        phone_tier: str | None = None,
        word_tier: str | None = None,
    ):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise CorpusError("no such corpus directory", path=root)
        self.name = corpus_name(name or self.root.name)
        self.phone_tier = phone_tier
        self.word_tier = word_tier

    @abc.abstractmethod
    def splits(self) -> list[str]:
        """Names of the splits, sorted."""

    @abc.abstractmethod
    def _utterances(self, split_dir: Path, split: str) -> Iterator[Utterance]:
        """Yield the utterances below ``split_dir`` in a fixed order."""

    def split_dir(self, split: str) -> Path:
        """Directory of a split; the root for :data:`WHOLE_SPLIT` when the corpus has no split folders."""
        names = self.splits()
        if split not in names:
            raise ConfigError(
                f"corpus {self.name!r} has no split {split!r} (splits: {', '.join(names) or 'none'})",
                path=self.root,
            )
        return self.root if split == WHOLE_SPLIT and not (self.root / split).is_dir() else self._split_path(split)

    def _split_path(self, split: str) -> Path:
        return self.root / split

    def utterances(self, split: str) -> Iterator[Utterance]:
        """Yield the utterances of ``split`` lazily, in a fixed order.

        Raises
        ------
        ConfigError
            When the corpus has no such split.
        """
        return self._utterances(self.split_dir(split), split)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, name={self.name!r})"


def corpus_name(text: str) -> str:
    """A corpus name safe in file names: letters, digits, ``.``, ``_``, ``-``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    if not cleaned:
        raise ConfigError(f"cannot make a corpus name from {text!r}; give one with --corpus-name")
    return cleaned


#: Suffixes of the audio files a folder corpus reads.
FOLDER_AUDIO_SUFFIXES = AUDIO_SUFFIXES + COMPRESSED_AUDIO_SUFFIXES


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in FOLDER_AUDIO_SUFFIXES and path.is_file()


def _sorted_dirs(directory: Path) -> list[Path]:
    return sorted((p for p in directory.iterdir() if p.is_dir()), key=lambda p: p.name)


def _has_file_below(directory: Path, accept: Callable[[Path], bool]) -> bool:
    for dirpath, _dirnames, filenames in os.walk(directory):
        if any(accept(Path(dirpath) / name) for name in filenames):
            return True
    return False


def _walk_sorted(directory: Path) -> Iterator[Path]:
    """Files below ``directory``: a directory's files (sorted) before its subdirectories (sorted)."""
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


# --------------------------------------------------------------------------------------------------
# LibriSpeech


class LibriSpeechCorpus(Corpus):
    """The LibriSpeech layout (``split/speaker/chapter/*.flac`` + ``*.trans.txt``).

    Parameters
    ----------
    root : path-like
        The ``LibriSpeech`` directory holding split folders (``dev-clean``, ``train-clean-100`` ...).
    alignments : path-like, optional
        Directory of LibriSpeech alignment TextGrids mirroring the audio layout.
    name : str, optional
        Corpus name; the root's name by default.
    """

    format = "librispeech"

    def __init__(
        self,
        root,
        *,
        alignments: str | os.PathLike[str] | None = None,
        name: str | None = None,
        phone_tier: str | None = None,
        word_tier: str | None = None,
    ):
        super().__init__(root, name=name, phone_tier=phone_tier, word_tier=word_tier)
        self.alignments = Path(alignments).resolve() if alignments is not None else None
        if self.alignments is not None and not self.alignments.is_dir():
            raise CorpusError("no such alignments directory", path=alignments)

    def splits(self) -> list[str]:
        if self._root_is_split():
            return [self.root.name]
        return [d.name for d in _sorted_dirs(self.root) if any(d.glob("*/*/*.trans.txt"))]

    def _root_is_split(self) -> bool:
        """Whether the root is itself one split (``LibriSpeech/dev-clean`` given directly)."""
        return next(self.root.glob("*/*/*.trans.txt"), None) is not None

    def _split_path(self, split: str) -> Path:
        return self.root if self._root_is_split() else self.root / split

    def _utterances(self, split_dir: Path, split: str) -> Iterator[Utterance]:
        for speaker_dir in _sorted_dirs(split_dir):
            for chapter_dir in _sorted_dirs(speaker_dir):
                transcripts = _read_librispeech_transcripts(chapter_dir, speaker_dir.name)
                for utt_id, text in transcripts:
                    audio = _first_existing(chapter_dir, utt_id, (".flac", ".wav"))
                    if audio is None:
                        raise CorpusError(f"transcript names {utt_id!r} but there is no {utt_id}.flac", path=chapter_dir)
                    alignment = None
                    if self.alignments is not None:
                        candidate = self.alignments / split / speaker_dir.name / chapter_dir.name / f"{utt_id}.TextGrid"
                        alignment = candidate if candidate.is_file() else None
                    yield Utterance(utt_id, split, audio, alignment, "librispeech", text, speaker_dir.name,
                                    self.phone_tier, self.word_tier)  # fmt: skip


def _read_librispeech_transcripts(chapter_dir: Path, speaker: str) -> list[tuple[str, str]]:
    path = chapter_dir / f"{speaker}-{chapter_dir.name}.trans.txt"
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"is not UTF-8 text (byte {exc.start})", path=path) from None
    except OSError as exc:
        raise CorpusError(f"cannot be read ({exc.strerror or exc})", path=path) from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise CorpusError("expected 'utt_id TRANSCRIPT'", path=path, where=f"line {number}")
        entries.append((parts[0], parts[1].strip()))
    return sorted(entries)


def _first_existing(directory: Path, stem: str, suffixes) -> Path | None:
    for suffix in suffixes:
        for candidate in (directory / f"{stem}{suffix}", directory / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


# --------------------------------------------------------------------------------------------------
# TIMIT


def _is_timit_phn(path: Path) -> bool:
    return path.suffix.lower() == ".phn"


class TimitCorpus(Corpus):
    """The TIMIT layout (``TRAIN``/``TEST`` / dialect / speaker / sentence files, any case)."""

    format = "timit"

    def splits(self) -> list[str]:
        named = [d.name.lower() for d in _sorted_dirs(self.root) if d.name.lower() in ("train", "test")]
        if named:
            return sorted(named)
        return [WHOLE_SPLIT] if _has_file_below(self.root, _is_timit_phn) else []

    def _split_path(self, split: str) -> Path:
        for directory in _sorted_dirs(self.root):
            if directory.name.lower() == split:
                return directory
        return self.root / split

    def _utterances(self, split_dir: Path, split: str) -> Iterator[Utterance]:
        for path in _walk_sorted(split_dir):
            if not _is_timit_phn(path):
                continue
            stem = path.name[: -len(path.suffix)]
            audio = _timit_audio(path.parent, stem)
            if audio is None:
                raise CorpusError(f"no audio file for {path.name}", path=path.parent)
            speaker = path.parent.name if path.parent != split_dir else None
            utt_id = f"{speaker}_{stem}" if speaker else stem
            text_path = _first_existing(path.parent, stem, (".txt",))
            transcript = _timit_transcript(text_path) if text_path else None
            yield Utterance(utt_id, split, audio, path, "timit", transcript, speaker)


def _timit_audio(directory: Path, stem: str) -> Path | None:
    for name in (f"{stem}.WAV.wav", f"{stem}.wav.wav", f"{stem}.WAV", f"{stem}.wav", f"{stem}.flac"):
        if (directory / name).is_file():
            return directory / name
    return None


def _timit_transcript(path: Path) -> str | None:
    """TIMIT ``.txt`` files hold ``start end text``; return the text."""
    parts = path.read_text(encoding="utf-8", errors="replace").split(maxsplit=2)
    return parts[2].strip() if len(parts) == 3 else None


# --------------------------------------------------------------------------------------------------
# Folder of audio + TextGrid


class FolderCorpus(Corpus):
    """Audio files with same-named TextGrids (and optional ``.txt``/``.lab`` transcripts)."""

    format = "folder"

    def splits(self) -> list[str]:
        if any(_is_audio(p) for p in self.root.iterdir()):
            return [WHOLE_SPLIT]
        return [d.name for d in _sorted_dirs(self.root) if _has_file_below(d, _is_audio)]

    def _utterances(self, split_dir: Path, split: str) -> Iterator[Utterance]:
        seen: dict[str, Path] = {}
        for path in _walk_sorted(split_dir):
            if not _is_audio(path):
                continue
            utt_id = path.stem
            if utt_id in seen:
                raise CorpusError(
                    f"two audio files share the utterance id {utt_id!r}: {seen[utt_id]} and {path}", path=split_dir
                )
            seen[utt_id] = path
            alignment = _first_existing(path.parent, utt_id, (".TextGrid", ".textgrid"))
            text_path = _first_existing(path.parent, utt_id, (".txt", ".lab"))
            transcript = text_path.read_text(encoding="utf-8", errors="replace").strip() if text_path else None
            speaker = path.parent.name if path.parent != split_dir else None
            yield Utterance(utt_id, split, path, alignment, "textgrid", transcript, speaker, self.phone_tier, self.word_tier)


# --------------------------------------------------------------------------------------------------
# Summaries


@dataclass(frozen=True)
class SplitSummary:
    """Counts of one split: usable utterances, seconds of audio, how many have alignments and transcripts.

    Attributes
    ----------
    skipped : tuple of (str, str)
        Audio files that are not used, with the reason: unreadable, truncated, too short
        (:func:`layerprobe.io.audio.probe_audio`), or (folder corpora) of a format libsndfile does not
        read.  Paths are relative to the corpus root.
    orphan_alignments : tuple of (str, str)
        Folder corpora: TextGrids without an audio file beside them, with the reason.
    unaligned : tuple of str
        Folder corpora: usable audio files without a TextGrid (usable for frame spans only).
    """

    split: str
    n_utterances: int
    seconds: float
    n_aligned: int
    n_transcribed: int
    skipped: tuple[tuple[str, str], ...] = ()
    orphan_alignments: tuple[tuple[str, str], ...] = ()
    unaligned: tuple[str, ...] = ()


def format_seconds(seconds: float) -> str:
    """A duration for people: ``"42.0 s"``, ``"3.5 min"``, ``"12.25 h"``."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _relative_to(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def summarize_split(corpus: Corpus, split: str, *, progress: bool = True) -> SplitSummary:
    """Count a split's usable utterances and hours, and what is left out and why.

    Each audio file is checked as sampling checks it (:func:`layerprobe.io.audio.probe_audio`: the
    header, the last frame, one model frame of length); in a folder corpus, audio files of formats
    libsndfile does not read and TextGrids without audio are listed too.
    """
    from tqdm.auto import tqdm

    n = aligned = transcribed = 0
    seconds = 0.0
    skipped: list[tuple[str, str]] = []
    unaligned: list[str] = []
    audio_stems: set[Path] = set()
    for utt in tqdm(corpus.utterances(split), desc=split, unit="utt", leave=False, disable=None if progress else True):
        audio_stems.add(utt.audio_path.with_suffix(""))
        try:
            duration = probe_audio(utt.audio_path).duration_s
        except AudioError as exc:
            skipped.append((_relative_to(utt.audio_path, corpus.root), exc.problem))
            continue
        n += 1
        seconds += duration
        aligned += utt.alignment_path is not None
        transcribed += utt.transcript is not None
        if utt.alignment_path is None and corpus.format == "folder":
            unaligned.append(_relative_to(utt.audio_path, corpus.root))
    orphans: list[tuple[str, str]] = []
    if corpus.format == "folder":
        readable = ", ".join(FOLDER_AUDIO_SUFFIXES)
        for path in _walk_sorted(corpus.split_dir(split)):
            suffix = path.suffix.lower()
            if suffix in UNREADABLE_AUDIO_SUFFIXES:
                skipped.append((_relative_to(path, corpus.root),
                                f"{suffix} audio is not read (readable: {readable}); convert it, e.g. to .wav or .flac"))  # fmt: skip
            elif suffix == ".textgrid" and path.with_suffix("") not in audio_stems:
                others = sorted(p.name for p in path.parent.glob(f"{path.stem}.*") if p.suffix.lower() in UNREADABLE_AUDIO_SUFFIXES)
                why = f"its audio {others[0]} is of a format not read" if others else f"no audio file {path.stem}.* ({readable}) beside it"
                orphans.append((_relative_to(path, corpus.root), why))
    return SplitSummary(split, n, seconds, aligned, transcribed, tuple(skipped), tuple(orphans), tuple(unaligned))


# --------------------------------------------------------------------------------------------------
# Choosing a reader


def detect_format(root: str | os.PathLike[str]) -> str:
    """Guess the layout of a corpus directory: ``librispeech``, ``timit``, ``hf`` (a Hugging Face dataset) or ``folder``.

    Raises
    ------
    CorpusError
        When the directory does not exist or holds no audio any reader understands.
    """
    root = Path(root)
    if not root.is_dir():
        raise CorpusError("no such corpus directory", path=root)
    if any(next(root.glob(pattern), None) is not None for pattern in ("*/*/*/*.trans.txt", "*/*/*.trans.txt")):
        return "librispeech"
    from layerprobe.data.hf_datasets import is_hf_dataset  # the Hugging Face datasets reader (data/hf_datasets.py)

    if is_hf_dataset(root):
        return "hf"
    if _has_file_below(root, _is_timit_phn):
        return "timit"
    if _has_file_below(root, _is_audio):
        return "folder"
    raise CorpusError(
        f"holds no audio files ({', '.join(FOLDER_AUDIO_SUFFIXES)}) and no LibriSpeech or TIMIT layout", path=root
    )


_READERS: dict[str, type[Corpus]] = {
    "librispeech": LibriSpeechCorpus,
    "timit": TimitCorpus,
    "folder": FolderCorpus,
}


def open_corpus(
    root: str | os.PathLike[str],
    *,
    format: str = "auto",
    name: str | None = None,
    alignments: str | os.PathLike[str] | None = None,
    phone_tier: str | None = None,
    word_tier: str | None = None,
) -> Corpus:
    """Open a corpus directory with the right reader.

    Parameters
    ----------
    root : path-like
        The corpus directory.
    format : {"auto", "librispeech", "timit", "folder", "hf"}, keyword-only
        The layout; detected from the files when ``"auto"``.
    name : str, optional
        Corpus name for output paths; the directory's name by default.
    alignments : path-like, optional
        LibriSpeech only: the directory of alignment TextGrids.
    phone_tier, word_tier : str, optional
        TextGrid corpora (folder, LibriSpeech): the names of the phone and word tiers, where they are
        not one of the usual names (``phones``, ``words`` ...).

    Returns
    -------
    Corpus

    Examples
    --------
    >>> corpus = open_corpus("demo/corpus")                      # doctest: +SKIP
    >>> corpus.splits()                                           # doctest: +SKIP
    ['dev', 'test', 'train']
    >>> next(corpus.utterances("train")).utt_id                   # doctest: +SKIP
    'synth-00000'
    """
    if format == "auto":
        format = detect_format(root)
    if format not in (*_READERS, "hf"):
        raise ConfigError(f"unknown corpus format {format!r} (known: auto, {', '.join(CORPUS_FORMATS)})")
    if alignments is not None and format != "librispeech":
        raise ConfigError(f"--alignments is for LibriSpeech corpora; {root} is a {format} corpus")
    if format == "timit" and (phone_tier is not None or word_tier is not None):
        option = "--phone-tier" if phone_tier is not None else "--word-tier"
        raise ConfigError(f"{option} names a TextGrid tier; {root} is a TIMIT corpus (.phn/.wrd files), leave it out")
    if format == "hf":  # data/hf_datasets.py, imported when used (it needs pyarrow)
        from layerprobe.data.hf_datasets import HFDatasetCorpus

        return HFDatasetCorpus(root, name=name, phone_tier=phone_tier, word_tier=word_tier)
    if format == "librispeech":
        return LibriSpeechCorpus(root, alignments=alignments, name=name, phone_tier=phone_tier, word_tier=word_tier)
    return _READERS[format](root, name=name, phone_tier=phone_tier, word_tier=word_tier)


__all__ = [
    "WHOLE_SPLIT",
    "CORPUS_FORMATS",
    "FOLDER_AUDIO_SUFFIXES",
    "Utterance",
    "Corpus",
    "LibriSpeechCorpus",
    "TimitCorpus",
    "FolderCorpus",
    "corpus_name",
    "detect_format",
    "open_corpus",
    "read_alignment",
    "SplitSummary",
    "summarize_split",
    "format_seconds",
]
