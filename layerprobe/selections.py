"""Parsing the small selections given on the command line: integer lists and ranges, utterances.

One rule for every integer list (``--iters 0-4``, ``--units 0,4,9-12``, ``--seeds 0,1,2``) and one
for every utterance selection (``--utterances 3``, ``--utterances utt1,utt2``, ``--attention all``),
so that the commands accept and refuse the same texts.  Numbers are ASCII digits only (``'²'`` is a
digit to :meth:`str.isdigit` but not to :func:`int`), at most 9 of them.  This module does not know
about click: a parse error is a :class:`SelectionError` with a short reason, which the command line
turns into its own message.

Examples
--------
>>> parse_integers("0-3,7")
[0, 1, 2, 3, 7]
>>> parse_integers("5,1-2,1")
[5, 1, 2, 1]
>>> parse_utterances("3"), parse_utterances("a, b"), parse_utterances("all", allow_all=True)
(3, ['a', 'b'], 'all')
"""

from __future__ import annotations

from layerprobe.errors import ConfigError

#: Most values an integer list may name (``0-99999999`` would otherwise expand to 10^8 numbers).
MAX_VALUES = 10_000

#: What :func:`parse_utterances` returns for ``all`` (with ``allow_all``).
ALL = "all"


class SelectionError(ConfigError):
    """A selection that does not parse.

    Attributes
    ----------
    reason : str
        ``"part"`` (a part is not a number or a range), ``"backwards"`` (a range whose end is below
        its start), ``"too_many"`` (more than :data:`MAX_VALUES` values) or ``"repeat"``.
    part : str
        The offending part, stripped.
    """

    def __init__(self, message: str, *, reason: str, part: str = ""):
        super().__init__(message)
        self.reason = reason
        self.part = part


def parse_count(text: str) -> int | None:
    """``text`` as a count when it is one (ASCII digits, at most 9 of them, spaces around), else None.

    ``str.isdigit`` alone would take ``'²'``, which ``int`` refuses, and ``int`` refuses more than
    4300 digits.
    """
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def parse_integers(
    text: str, *, ranges: bool = True, skip_empty: bool = False, repeats: bool = True, max_values: int = MAX_VALUES
) -> list[int]:
    """The non-negative integers of a comma-separated list of numbers and inclusive ranges ``a-b``.

    Parameters
    ----------
    text : str
        E.g. ``"0-4"``, ``"0,2,5"``, ``"0, 4, 9-12"`` (spaces around parts and dashes are ignored).
    ranges : bool
        Whether ``a-b`` parts are allowed.
    skip_empty : bool
        Skip empty parts (``"0,,1"``) instead of refusing them.
    repeats : bool
        Whether a value may appear twice (False: a :class:`SelectionError` with reason ``"repeat"``).
    max_values : int
        Most values, repeats counted.

    Returns
    -------
    list of int
        In the order given, repeats kept (callers sort or drop them as they need).

    Raises
    ------
    SelectionError
        For a part that is not a number (or a range), a range that runs backwards, too many values,
        or (``repeats=False``) a repeated value.
    """
    values: list[int] = []
    for raw in str(text).split(","):
        part = raw.strip()
        if not part and skip_empty:
            continue
        low_text, dash, high_text = part.partition("-") if ranges else (part, "", "")
        low, high = parse_count(low_text), parse_count(high_text) if dash else None
        if low is None or (dash and high is None):
            raise SelectionError(f"{part!r} is not a number{' or a range' if ranges else ''}", reason="part", part=part)
        if high is None:
            high = low
        if high < low:
            raise SelectionError(f"the range {part} runs backwards", reason="backwards", part=part)
        if high - low + len(values) >= max_values:
            raise SelectionError(f"{str(text)[:60]!r} names more than {max_values} values", reason="too_many", part=part)
        values.extend(range(low, high + 1))
    if not repeats and len(set(values)) != len(values):
        raise SelectionError(f"{str(text)!r} repeats a value", reason="repeat")
    return values


def describe_integers(values: list[int] | tuple[int, ...], *, max_parts: int = 5) -> str:
    """A short text of many integers: runs of consecutive values as ranges, the first ``max_parts`` shown.

    The inverse of :func:`parse_integers` for a short list; a long one (``0,2,4,...``) is cut, so an
    error message stays one short line however many values it is about.

    Examples
    --------
    >>> describe_integers([32, 33, 34, 40])
    '32-34, 40'
    >>> describe_integers(list(range(0, 20, 2)), max_parts=3)
    '0, 2, 4, ... (10 values)'
    """
    runs: list[str] = []
    ordered = sorted(set(int(value) for value in values))
    start = 0
    for index in range(1, len(ordered) + 1):
        if index == len(ordered) or ordered[index] != ordered[index - 1] + 1:
            low, high = ordered[start], ordered[index - 1]
            runs.append(str(low) if low == high else f"{low}-{high}")
            start = index
    if len(runs) <= max_parts:
        return ", ".join(runs)
    return f"{', '.join(runs[:max_parts])}, ... ({len(ordered)} values)"


def parse_utterances(text: str, *, allow_all: bool = False) -> int | list[str] | str:
    """An utterance selection: the first N (a count), comma-separated utterance ids, or ``all``.

    Returns
    -------
    int, list of str or str
        The count; the ids (stripped, empty ones left out: possibly an empty list); or :data:`ALL`
        when ``allow_all`` and the text is ``all`` (any case).  Without ``allow_all``, ``all`` is an
        utterance id.
    """
    text = str(text).strip()
    if allow_all and text.lower() == ALL:
        return ALL
    count = parse_count(text)
    if count is not None:
        return count
    return [utt.strip() for utt in text.split(",") if utt.strip()]


__all__ = ["ALL", "MAX_VALUES", "SelectionError", "describe_integers", "parse_count", "parse_integers", "parse_utterances"]
