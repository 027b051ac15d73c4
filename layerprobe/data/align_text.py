"""Transcripts and pronunciation dictionaries for forced alignment (:mod:`layerprobe.data.align`).

* :func:`read_transcripts` reads a transcripts file (``utt_id text...`` per line, the layout of
  LibriSpeech's ``*.trans.txt``), :func:`read_transcript_file` the ``.txt`` beside one recording;
  :func:`normalize_transcript` turns text into dictionary words.
* :func:`read_pronunciations` reads a CMU-format dictionary into ARPAbet-39 phones; words no
  dictionary has are pronounced with eSpeak NG under the OOV policy ``"g2p"``.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from layerprobe.data.labels import phone_class
from layerprobe.errors import CorpusError, DependencyError, LayerprobeError, PathLike

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'"})
_VARIANT_SUFFIX = re.compile(r"\(\d+\)$")
_TIMIT_SAMPLE_RANGE = re.compile(r"^\s*\d+\s+\d+\s+")


# --------------------------------------------------------------------------------------------------
# Transcripts


def _read_text(path: Path, kind: str) -> str:
    if not path.exists():
        raise CorpusError(f"no such {kind} file", path=path)
    if not path.is_file():
        raise CorpusError(f"{kind} path is not a file", path=path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read {kind} file ({exc.strerror or exc})", path=path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CorpusError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", path=path, where=f"line {line}"
        ) from None


def _check_utt_id(utt_id: str, path: Path, where: str) -> None:
    # Utterance ids become file names: audio_dir/<id>.wav and out_dir/<id>.TextGrid.
    if utt_id in (".", "..") or "/" in utt_id or "\\" in utt_id or "\x00" in utt_id:
        raise CorpusError(f"utterance id {utt_id!r} cannot be used as a file name", path=path, where=where)


def read_transcripts(path: PathLike) -> dict[str, str]:
    """Read a transcripts file with one ``utt_id text...`` line per utterance.

    Parameters
    ----------
    path : path-like
        UTF-8 text file.  The id is everything before the first whitespace, the text the rest of
        the line.  Blank lines are skipped.

    Returns
    -------
    dict of str to str
        Utterance id -> transcript text (stripped), in file order.

    Raises
    ------
    CorpusError
        When the file is missing or not UTF-8, or a line has an id but no text, repeats an earlier
        id, or has an id that cannot be a file name; the message names the file and line.
    """
    path = Path(path)
    transcripts: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(_read_text(path, "transcripts").splitlines(), start=1):
        fields = line.split(maxsplit=1)
        if not fields:
            continue
        where = f"line {number}"
        utt_id = fields[0]
        _check_utt_id(utt_id, path, where)
        if len(fields) == 1:
            raise CorpusError(f"utterance {utt_id!r} has no transcript text", path=path, where=where)
        if utt_id in transcripts:
            raise CorpusError(
                f"duplicate utterance id {utt_id!r} (first on line {first_line[utt_id]})", path=path, where=where
            )
        transcripts[utt_id] = fields[1].strip()
        first_line[utt_id] = number
    return transcripts


def read_transcript_file(path: PathLike) -> str:
    """Read the transcript of one utterance from a ``.txt`` file beside its audio.

    Lines are joined with spaces.  A leading TIMIT sample range (``0 46797 She had ...``) is removed.

    Raises
    ------
    CorpusError
        When the file is missing, not UTF-8 or holds no text.
    """
    path = Path(path)
    text = " ".join(_read_text(path, "transcript").split())
    text = _TIMIT_SAMPLE_RANGE.sub("", text, count=1).strip()
    if not text:
        raise CorpusError("transcript file is empty", path=path)
    return text


def normalize_transcript(text: str) -> list[str]:
    """Split transcript text into lower-case dictionary words.

    Letters (any script) and apostrophes are kept; everything else (spaces, punctuation, digits)
    separates words.  Apostrophes at the ends of a word are quotation marks and are removed
    (``'hello'`` -> ``hello``); inner ones stay (``don't``).  Typographic apostrophes become ``'``.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of str
        The words in order; empty when the text has no letters.

    Examples
    --------
    >>> normalize_transcript("She had your dark suit in greasy wash-water, don't you?")
    ['she', 'had', 'your', 'dark', 'suit', 'in', 'greasy', 'wash', 'water', "don't", 'you']
    """
    composed = unicodedata.normalize("NFC", text).translate(_APOSTROPHES).lower()
    spaced = "".join(ch if ch.isalpha() or ch == "'" else " " for ch in composed)
    return [word for word in (token.strip("'") for token in spaced.split()) if word]


def _digit_warnings(text: str) -> tuple[str, ...]:
    """Warnings for tokens with digits, which :func:`normalize_transcript` leaves out."""
    tokens = [token for token in text.split() if any(ch.isdigit() for ch in token)]
    return tuple(f"left out {token!r}: write numbers as words to align them" for token in tokens)


# --------------------------------------------------------------------------------------------------
# Pronunciations


def read_pronunciations(path: PathLike) -> dict[str, list[tuple[str, ...]]]:
    """Read a pronunciation dictionary in CMU format (``WORD PH1 PH2 ...`` per line).

    Stress digits are removed (``AH0`` -> ``AH``), ``WORD(2)`` variants add a pronunciation to
    ``word``, and lines starting with ``;;;`` or ``#`` are comments.

    Parameters
    ----------
    path : path-like
        UTF-8 text file.

    Returns
    -------
    dict of str to list of tuple of str
        Lower-cased word -> its pronunciations (ARPAbet-39 phones), in file order.

    Raises
    ------
    CorpusError
        When the file cannot be read, or a line has no phones or a phone outside ARPAbet-39.
    """
    path = Path(path)
    entries: dict[str, list[tuple[str, ...]]] = {}
    for number, line in enumerate(_read_text(path, "pronunciation dictionary").splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith((";;;", "#")):
            continue
        where = f"line {number}"
        word = _VARIANT_SUFFIX.sub("", fields[0]).lower()
        if len(fields) == 1:
            raise CorpusError(f"word {fields[0]!r} has no phones (expected 'WORD PH1 PH2 ...')", path=path, where=where)
        phones = tuple(phone_class(label) or "" for label in fields[1:])
        unknown = [label for label, phone in zip(fields[1:], phones) if not phone]
        if unknown:
            raise CorpusError(
                f"word {fields[0]!r}: {', '.join(map(repr, unknown))} not ARPAbet phones (AA AE AH ... ZH, "
                "stress digits allowed)",
                path=path,
                where=where,
            )
        known = entries.setdefault(word, [])
        if phones not in known:
            known.append(phones)
    return entries


def _espeak_pronunciation(word: str) -> tuple[str, ...]:
    """ARPAbet-39 phones of a word from eSpeak NG; empty when eSpeak gives none that fit."""
    try:
        from layerprobe.data.espeak import arpabet_pronunciation
    except ImportError as exc:
        raise DependencyError(
            f"pronouncing out-of-dictionary words needs layerprobe.data.espeak (eSpeak NG), which cannot be "
            f"imported ({exc}); use the OOV policy 'skip' or 'error', or supply a pronunciation dictionary"
        ) from None
    try:
        labels = arpabet_pronunciation(word)
    except DependencyError:
        raise
    except LayerprobeError:
        return ()
    phones = tuple(phone_class(label) for label in labels)
    if not phones or any(phone is None for phone in phones):
        return ()
    return phones  # type: ignore[return-value]


__all__ = ["read_transcripts", "read_transcript_file", "normalize_transcript", "read_pronunciations"]
