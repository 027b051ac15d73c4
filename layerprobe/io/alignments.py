"""Time alignments: one :class:`Alignment` type and readers for the formats speech corpora ship.

Formats
-------
* Praat TextGrid (:func:`read_textgrid`, parsed by praatio): a phone tier and a word tier chosen by
  name.  Without names, the first tier called ``phones``/``phone``/``phonemes`` (and ``words``/
  ``word``) is used, case-insensitively; Montreal Forced Aligner's multi-speaker tiers
  (``"spk - phones"``) are found too.  Blank intervals are silence and are left out.
* TIMIT ``.phn`` / ``.wrd`` (:func:`read_timit`): ``start end label`` per line, in samples at 16 kHz.
* The LibriSpeech alignment TextGrids users download for LibriSpeech
  (:func:`read_librispeech_alignment`): Montreal Forced Aligner output with tiers ``words`` and
  ``phones``, ARPAbet labels with stress digits, ``sil``/``sp``/``spn`` for silence and noise.
  Labels are kept as in the file; :mod:`layerprobe.data.labels` maps them to phone classes.

Validation
----------
Every :class:`Alignment` is checked when it is built: times are finite, ``start < end``, intervals
are sorted by start, phones do not overlap, and every interval lies inside ``[0, duration]``.
Aligners often round the last boundary a little past the end of the audio, so an interval may end
up to :data:`BOUNDARY_TOLERANCE_S` (20 ms, one model frame) after ``duration``; such ends are clipped
to ``duration``.  Anything further outside is an :class:`~layerprobe.errors.AlignmentError` naming the
file and the interval or line.  Word intervals may overlap: TIMIT's ``.wrd`` files overlap words
that share a phone (``had`` / ``your`` in LDC93S1).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from layerprobe.errors import AlignmentError
from layerprobe.io.atomic import atomic_path

#: How far (seconds) an interval may run past the end of the audio before it is an error.
BOUNDARY_TOLERANCE_S = 0.02

#: Slack (seconds) for float rounding when checking that consecutive phones do not overlap.
OVERLAP_SLACK_S = 1e-6

#: TIMIT stores boundaries as sample indices at this rate.
TIMIT_SAMPLE_RATE = 16_000

PHONE_TIER_NAMES = ("phones", "phone", "phonemes", "phoneme", "phns", "phn")
WORD_TIER_NAMES = ("words", "word", "wrds", "wrd")


@dataclass(frozen=True)
class Interval:
    """A labelled stretch of time.

    Attributes
    ----------
    start, end : float
        Seconds from the start of the utterance, ``start < end``.
    label : str
        The phone or word, as the source wrote it.
    """

    start: float
    end: float
    label: str

    @property
    def duration(self) -> float:
        """Length of the interval in seconds."""
        return self.end - self.start


@dataclass(frozen=True)
class Alignment:
    """Phone and word intervals of one utterance, validated on construction.

    Attributes
    ----------
    utt_id : str
        Utterance identifier.
    duration : float
        Length of the audio in seconds; every interval lies inside ``[0, duration]``.
    phones, words : tuple of Interval
        Sorted by start time.  Silence is usually absent (gaps), but sources that label it
        (TIMIT ``h#``, MFA ``sil``) keep those intervals.

    Raises
    ------
    AlignmentError
        When an interval is not finite, empty or reversed, out of order, overlapping (phones) or
        outside the audio by more than :data:`BOUNDARY_TOLERANCE_S`.
    """

    utt_id: str
    duration: float
    phones: tuple[Interval, ...] = field(default_factory=tuple)
    words: tuple[Interval, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration) and self.duration > 0):
            raise AlignmentError(f"duration must be a positive number of seconds, got {self.duration!r}")
        object.__setattr__(self, "phones", _checked("phones", self.phones, self.duration, overlap=False))
        object.__setattr__(self, "words", _checked("words", self.words, self.duration, overlap=True))

    def phones_in(self, word: Interval) -> tuple[Interval, ...]:
        """The phones whose midpoint lies inside ``word``."""
        return tuple(p for p in self.phones if word.start <= (p.start + p.end) / 2 < word.end)


def _checked(tier: str, intervals: Iterable[Interval], duration: float, *, overlap: bool) -> tuple[Interval, ...]:
    out: list[Interval] = []
    for number, item in enumerate(intervals, start=1):
        where = f"{tier} interval {number}"
        start, end, label = float(item.start), float(item.end), item.label
        if not (math.isfinite(start) and math.isfinite(end)):
            raise AlignmentError(f"times must be finite, got {start!r}-{end!r}", where=where)
        if not isinstance(label, str) or not label.strip():
            raise AlignmentError("label is empty", where=where)
        if start >= end:
            raise AlignmentError(f"start {start:.6g} s is not before end {end:.6g} s ({label!r})", where=where)
        if start < 0:
            raise AlignmentError(f"starts before the audio, at {start:.6g} s ({label!r})", where=where)
        if end > duration + BOUNDARY_TOLERANCE_S:
            raise AlignmentError(
                f"ends at {end:.6g} s, after the end of the audio at {duration:.6g} s ({label!r})",
                where=where,
            )
        end = min(end, duration)
        if start >= end:
            raise AlignmentError(
                f"starts at {start:.6g} s, at or after the end of the audio ({duration:.6g} s)", where=where
            )
        if out:
            previous = out[-1]
            if start < previous.start:
                raise AlignmentError(
                    f"not sorted: starts at {start:.6g} s, before the previous interval ({previous.start:.6g} s)",
                    where=where,
                )
            if not overlap and start < previous.end - OVERLAP_SLACK_S:
                raise AlignmentError(
                    f"overlaps the previous interval ({previous.label!r} ends at {previous.end:.6g} s, "
                    f"{label!r} starts at {start:.6g} s)",
                    where=where,
                )
        out.append(Interval(start, end, label.strip()))
    return tuple(out)


def _build(path: str | os.PathLike[str], utt_id: str, duration: float, phones, words) -> Alignment:
    """Construct an Alignment, re-raising validation errors with the file's name."""
    try:
        return Alignment(utt_id, duration, tuple(phones), tuple(words))
    except AlignmentError as exc:
        raise AlignmentError(exc.problem, path=path, where=exc.where) from None


# --------------------------------------------------------------------------------------------------
# Praat TextGrid


def _find_tier(names: Sequence[str], wanted: str | None, defaults: Sequence[str], kind: str, path) -> str:
    if wanted is not None:
        if wanted in names:
            return wanted
        raise AlignmentError(f"no tier named {wanted!r} (tiers: {', '.join(map(repr, names))})", path=path)
    lowered = {name.lower().strip(): name for name in names}
    for candidate in defaults:
        if candidate in lowered:
            return lowered[candidate]
    for name in names:  # Montreal Forced Aligner names multi-speaker tiers "<speaker> - words"
        if name.lower().rsplit(" - ", 1)[-1].strip() in defaults:
            return name
    raise AlignmentError(
        f"no {kind} tier found (looked for {', '.join(defaults)}; tiers: {', '.join(map(repr, names))}); "
        f"name it with --{kind}-tier NAME ({kind}_tier= in Python)",
        path=path,
    )


def _tier_intervals(textgrid, name: str, path) -> list[Interval]:
    tier = textgrid.getTier(name)
    entries = getattr(tier, "entries", None)
    if entries is None or tier.tierType != "IntervalTier":
        raise AlignmentError(f"tier {name!r} is a point tier, not an interval tier", path=path)
    return [Interval(float(e.start), float(e.end), str(e.label)) for e in entries if str(e.label).strip()]


def _interval_text(interval: Interval) -> str:
    return f'"{interval.label}" ({interval.start:.3f}-{interval.end:.3f} s)'


def _overlapping_intervals(path: Path) -> tuple[str, Interval, Interval] | None:
    """The first two overlapping intervals of an interval tier (tier name, earlier, later), or None.

    praatio refuses such a file and names the intervals only on a second line of its message, so
    the file is parsed again without building tiers to find them.
    """
    from praatio.utilities import textgrid_io

    try:
        try:
            text = path.read_text(encoding="utf-16")
        except UnicodeError:
            text = path.read_text(encoding="utf-8")
        parsed = textgrid_io.parseTextgridStr(text, False)
        for tier in parsed["tiers"]:
            if tier.get("class") != "IntervalTier":
                continue
            entries = sorted((Interval(float(e[0]), float(e[1]), str(e[2])) for e in tier["entries"]),
                             key=lambda interval: (interval.start, interval.end))  # fmt: skip
            for before, after in zip(entries, entries[1:]):
                if after.start < before.end:
                    return str(tier["name"]), before, after
    except Exception:  # not parseable at all: the caller reports praatio's own message
        return None
    return None


def read_textgrid(
    path: str | os.PathLike[str],
    *,
    utt_id: str | None = None,
    phone_tier: str | None = None,
    word_tier: str | None = None,
    duration: float | None = None,
) -> Alignment:
    """Read phone and word intervals from a Praat TextGrid.

    Parameters
    ----------
    path : path-like
        The ``.TextGrid`` file (long or short text format, UTF-8 or UTF-16).
    utt_id : str, optional
        Identifier of the utterance; the file's stem by default.
    phone_tier, word_tier : str, optional
        Tier names; found by the defaults described in the module docstring when omitted.
    duration : float, optional
        Length of the audio in seconds, against which intervals are checked; the TextGrid's
        ``xmax`` when omitted.

    Returns
    -------
    Alignment

    Raises
    ------
    AlignmentError
        When the file is missing or malformed, a tier is missing, or an interval is invalid.
    """
    from praatio import textgrid as praat_textgrid

    path = Path(path)
    if not path.is_file():
        raise AlignmentError("no such alignment file", path=path)
    try:
        grid = praat_textgrid.openTextgrid(os.fspath(path), includeEmptyIntervals=False, reportingMode="error")
    except Exception as exc:  # praatio raises many kinds (ValueError, IndexError, its own) on bad input
        overlap = _overlapping_intervals(path)
        if overlap is not None:
            tier, first, second = overlap
            raise AlignmentError(
                f"{_interval_text(first)} and {_interval_text(second)} overlap in time; a tier's intervals must not "
                "overlap: correct their times in the TextGrid",
                path=path,
                where=f"tier {tier!r}",
            ) from None
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise AlignmentError(f"not a readable TextGrid ({message})", path=path) from None
    names = list(grid.tierNames)
    phones = _tier_intervals(grid, _find_tier(names, phone_tier, PHONE_TIER_NAMES, "phone", path), path)
    words = _tier_intervals(grid, _find_tier(names, word_tier, WORD_TIER_NAMES, "word", path), path)
    if duration is None:
        duration = float(grid.maxTimestamp)
    return _build(path, utt_id or path.stem, duration, phones, words)


def read_librispeech_alignment(
    path: str | os.PathLike[str], *, utt_id: str | None = None, duration: float | None = None
) -> Alignment:
    """Read a LibriSpeech alignment TextGrid (Montreal Forced Aligner output, tiers ``words``/``phones``).

    Labels are kept as written (``AH0``, ``sil``, ``<unk>``); :func:`layerprobe.data.labels.phone_class`
    strips stress and drops silence when phone classes are needed.  See :func:`read_textgrid`.
    """
    return read_textgrid(path, utt_id=utt_id, phone_tier=None, word_tier=None, duration=duration)


def write_textgrid(
    alignment: Alignment,
    path: str | os.PathLike[str],
    *,
    extra_tiers: Mapping[str, Sequence[Interval]] | None = None,
) -> None:
    """Write an alignment as a long-format TextGrid with tiers ``words`` and ``phones``.

    Parameters
    ----------
    alignment : Alignment
    path : path-like
        Destination file; written atomically (a temporary file renamed into place).
    extra_tiers : mapping of str to sequence of Interval, optional
        More interval tiers written after ``phones`` (e.g. the synthesizer's IPA phones).

    Gaps between intervals are written as blank intervals, which :func:`read_textgrid` treats
    as silence.  Times are written with full float precision, so they read back exactly.
    """
    from praatio import textgrid as praat_textgrid

    tiers = {"words": alignment.words, "phones": alignment.phones, **dict(extra_tiers or {})}
    grid = praat_textgrid.Textgrid()
    for name, intervals in tiers.items():
        for before, after in zip(intervals, intervals[1:]):
            if after.start < before.end - OVERLAP_SLACK_S:  # TIMIT words may overlap; TextGrid tiers cannot
                raise AlignmentError(
                    f"cannot write tier {name!r} as a TextGrid: {before.label!r} and {after.label!r} overlap",
                    path=path,
                )
        entries = [(iv.start, iv.end, iv.label) for iv in intervals]
        grid.addTier(praat_textgrid.IntervalTier(name, entries, 0.0, alignment.duration))
    with atomic_path(path) as partial:
        grid.save(os.fspath(partial), format="long_textgrid", includeBlankSpaces=True)


# --------------------------------------------------------------------------------------------------
# TIMIT .phn / .wrd

_TIMIT_LINE = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\S+)\s*$")
# ASCII digits only ('²'.isdigit() is True but int('²') fails), at most 15 (int() refuses > 4300)
_SAMPLE_INDEX = re.compile(r"^[0-9]{1,15}$")


def _read_timit_intervals(path: Path, kind: str) -> list[Interval]:
    if not path.is_file():
        raise AlignmentError(f"no such TIMIT {kind} file", path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AlignmentError(f"cannot read as UTF-8 text ({exc})", path=path) from None
    intervals: list[Interval] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _TIMIT_LINE.match(line)
        if match is None:
            raise AlignmentError(
                f"expected 'start end label' (3 fields), got {line.strip()[:60]!r}", path=path, where=f"line {number}"
            )
        start_text, end_text, label = match.groups()
        if not (_SAMPLE_INDEX.match(start_text) and _SAMPLE_INDEX.match(end_text)):
            raise AlignmentError(
                f"start and end must be sample indices (non-negative integers), got {start_text[:20]!r} {end_text[:20]!r}",
                path=path,
                where=f"line {number}",
            )
        start, end = int(start_text), int(end_text)
        if start >= end:
            raise AlignmentError(f"start {start} is not before end {end} ({label!r})", path=path, where=f"line {number}")
        intervals.append(Interval(start / TIMIT_SAMPLE_RATE, end / TIMIT_SAMPLE_RATE, label))
    return intervals


def read_timit(
    phn_path: str | os.PathLike[str],
    wrd_path: str | os.PathLike[str] | None = None,
    *,
    utt_id: str | None = None,
    duration: float | None = None,
) -> Alignment:
    """Read a TIMIT ``.phn`` file and its ``.wrd`` file (boundaries in samples at 16 kHz).

    Parameters
    ----------
    phn_path : path-like
        The ``.phn`` file.
    wrd_path : path-like, optional
        The ``.wrd`` file; the ``.phn`` path with the suffix ``.wrd`` (same case) by default.
    utt_id : str, optional
        Identifier of the utterance; the ``.phn`` file's stem by default.
    duration : float, optional
        Length of the audio in seconds; the last phone's end when omitted.

    Returns
    -------
    Alignment
        Times are ``sample / 16000`` exactly.  TIMIT's silence labels (``h#``, ``pau``, ``epi``)
        are kept as intervals.
    """
    phn_path = Path(phn_path)
    if wrd_path is None:
        wrd_path = phn_path.with_suffix(".WRD" if phn_path.suffix.isupper() else ".wrd")
    wrd_path = Path(wrd_path)
    phones = _read_timit_intervals(phn_path, "phone")
    words = _read_timit_intervals(wrd_path, "word")
    if duration is None:
        ends = [iv.end for iv in phones + words]
        if not ends:
            raise AlignmentError("holds no intervals and no audio duration was given", path=phn_path)
        duration = max(ends)
    try:
        Alignment(utt_id or phn_path.stem, duration, tuple(phones), ())
    except AlignmentError as exc:
        raise AlignmentError(exc.problem, path=phn_path, where=exc.where) from None
    return _build(wrd_path, utt_id or phn_path.stem, duration, phones, words)


__all__ = [
    "BOUNDARY_TOLERANCE_S",
    "Interval",
    "Alignment",
    "read_textgrid",
    "read_librispeech_alignment",
    "read_timit",
    "write_textgrid",
]
