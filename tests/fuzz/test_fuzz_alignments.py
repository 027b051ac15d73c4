"""Fuzzing the alignment readers: TextGrid (long and short text), TIMIT .phn/.wrd, LibriSpeech TextGrids.

Each reader either refuses a file with an AlignmentError naming it, or returns an Alignment that
keeps the promises of :class:`layerprobe.io.alignments.Alignment`: finite times, start < end, sorted,
phones not overlapping, everything inside [0, duration].
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.errors import AlignmentError
from layerprobe.io.alignments import Alignment, Interval, read_librispeech_alignment, read_textgrid, read_timit, write_textgrid
from support.corpora import make_utterance
from support.fuzz import fuzz, mutated_bytes, mutated_lines, number_text, refuses, word_text


def check_alignment(alignment: Alignment, duration: float | None = None) -> None:
    """The invariants every Alignment a reader returns must satisfy."""
    assert isinstance(alignment, Alignment)
    assert math.isfinite(alignment.duration) and alignment.duration > 0
    if duration is not None:
        assert alignment.duration == duration
    for tier, may_overlap in ((alignment.phones, False), (alignment.words, True)):
        for before, after in zip(tier, tier[1:]):
            assert before.start <= after.start
            if not may_overlap:
                assert after.start >= before.end - 1e-6
        for interval in tier:
            assert math.isfinite(interval.start) and math.isfinite(interval.end)
            assert 0 <= interval.start < interval.end <= alignment.duration
            assert interval.label and interval.label == interval.label.strip()


@pytest.fixture(scope="module")
def textgrids(tmp_path_factory):
    """A valid long and short TextGrid (text) of a miniature utterance, and an MFA-style one."""
    from praatio import textgrid as praat_textgrid

    root = tmp_path_factory.mktemp("textgrids")
    utt = make_utterance("utt", np.random.default_rng(0), n_words=3)
    write_textgrid(utt.alignment, root / "long.TextGrid")
    grid = praat_textgrid.openTextgrid(str(root / "long.TextGrid"), includeEmptyIntervals=False)
    grid.save(str(root / "short.TextGrid"), format="short_textgrid", includeBlankSpaces=True)
    stressed = tuple(Interval(p.start, p.end, p.label + "1") for p in utt.alignment.phones)
    mfa = Alignment("utt", utt.alignment.duration, (Interval(0.0, 0.1, "sil"),) + stressed, utt.alignment.words)
    write_textgrid(mfa, root / "mfa.TextGrid")
    return {name: (root / f"{name}.TextGrid").read_text() for name in ("long", "short", "mfa")}, utt.alignment.duration


durations = st.one_of(st.none(), st.sampled_from([0.05, 1.0, 100.0]), st.floats(min_value=1e-3, max_value=1e3))


def _write(tmp_path_factory, name: str, text: str | bytes):
    path = tmp_path_factory.mktemp("alignment") / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


@fuzz()
@given(data=st.data(), which=st.sampled_from(["long", "short"]), duration=durations)
def test_mutated_textgrids(textgrids, tmp_path_factory, data, which, duration):
    texts, _ = textgrids
    path = _write(tmp_path_factory, "utt.TextGrid", data.draw(mutated_lines(texts[which])))
    result = refuses(f"TextGrid ({which} text format, mutated lines)", read_textgrid, path, duration=duration,
                     names=path, error=AlignmentError, may_accept=True)  # fmt: skip
    if not isinstance(result, AlignmentError):
        check_alignment(result, duration)


@fuzz()
@given(data=st.data(), which=st.sampled_from(["long", "short"]), encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]))
def test_damaged_textgrid_bytes(textgrids, tmp_path_factory, data, which, encoding):
    texts, _ = textgrids
    raw = texts[which].replace("AH", "ÄH").encode(encoding)
    path = _write(tmp_path_factory, "utt.TextGrid", data.draw(mutated_bytes(raw)))
    result = refuses(f"TextGrid (damaged bytes, {encoding})", read_textgrid, path, names=path, error=AlignmentError, may_accept=True)
    if not isinstance(result, AlignmentError):
        check_alignment(result)


def _long_textgrid(tiers: list[tuple[str, str, list[tuple[str, str, str]]]], xmin: str, xmax: str) -> str:
    """Long-format TextGrid text from (class, name, [(xmin, xmax, text)]) tiers; every field as given."""
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", f"xmin = {xmin}", f"xmax = {xmax}",
             "tiers? <exists>", f"size = {len(tiers)}", "item []:"]  # fmt: skip
    for number, (kind, name, intervals) in enumerate(tiers, start=1):
        lines += [f"    item [{number}]:", f'        class = "{kind}"', f'        name = "{name}"', f"        xmin = {xmin}",
                  f"        xmax = {xmax}", f"        intervals: size = {len(intervals)}"]  # fmt: skip
        for index, (start, end, text) in enumerate(intervals, start=1):
            text = text.replace('"', '""')
            lines += [f"        intervals [{index}]:", f"            xmin = {start}", f"            xmax = {end}", f'            text = "{text}"']
    return "\n".join(lines) + "\n"


# mostly plausible times (sorted runs come up often enough to reach the validation), some junk
plausible_time = st.floats(min_value=-0.1, max_value=1.1).map(lambda t: f"{t:.3g}")
times = st.one_of(plausible_time, plausible_time, plausible_time, number_text)
labels = st.one_of(st.sampled_from(["AH", "the", "sil", ""]), word_text)
# tiling intervals (valid) with at most one fault: swapped ends, a negative start, an overlap, junk
tiling = st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=7, unique=True).map(sorted).flatmap(
    lambda bounds: st.tuples(st.just([(f"{a:.6g}", f"{b:.6g}") for a, b in zip(bounds, bounds[1:])]), st.integers(0, 8), number_text)
).flatmap(
    lambda spec: st.lists(labels, min_size=len(spec[0]), max_size=len(spec[0])).map(lambda names: _fault(spec, names))
)


def _fault(spec, names):
    pairs, fault, junk = spec
    out = [(a, b, name or "x") for (a, b), name in zip(pairs, names)]
    if out and fault < 5:
        index = fault % len(out)
        a, b, name = out[index]
        out[index] = [(b, a, name), ("-0.5", b, name), (a, str(float(b) + 0.3), name), (junk, b, name), (a, junk, name)][fault]
    return out


intervals = st.one_of(st.lists(st.tuples(times, times, labels), max_size=6), tiling, tiling)
tiers = st.lists(
    st.tuples(st.sampled_from(["IntervalTier", "IntervalTier", "IntervalTier", "TextTier", "Tier"]),
              st.sampled_from(["phones", "words", "phones", "words", "Phones", "spk - words", "spk - phones", "phone", "", "x"]),
              intervals),
    max_size=4,
) | st.tuples(tiling, tiling).map(lambda pair: [("IntervalTier", "phones", pair[0]), ("IntervalTier", "words", pair[1])])  # fmt: skip


@fuzz()
@given(tiers=tiers, xmin=st.one_of(st.just("0"), times), xmax=st.one_of(st.just("1"), times), duration=durations)
@example(tiers=[("IntervalTier", "phones", [("0", "1", "AH")]), ("IntervalTier", "words", [])], xmin="0", xmax="nan", duration=None)
@example(tiers=[("IntervalTier", "phones", [("0.5", "0.2", "AH")]), ("IntervalTier", "words", [])], xmin="0", xmax="1", duration=None)
@example(tiers=[("IntervalTier", "phones", [("0", "0.6", "AH"), ("0.5", "1", "B")]), ("IntervalTier", "words", [])], xmin="0", xmax="1", duration=None)
@example(tiers=[("IntervalTier", "phones", [("-1", "0.5", "AH")]), ("IntervalTier", "words", [])], xmin="-1", xmax="1", duration=None)
@example(tiers=[("IntervalTier", "phones", [("0", "1e309", "AH")]), ("IntervalTier", "words", [])], xmin="0", xmax="1e309", duration=None)
def test_built_textgrids(tmp_path_factory, tiers, xmin, xmax, duration):
    """TextGrids built field by field: unsorted, overlapping, negative, non-numeric, empty tiers."""
    path = _write(tmp_path_factory, "built.TextGrid", _long_textgrid(tiers, xmin, xmax))
    result = refuses("TextGrid (built from fuzzed intervals)", read_textgrid, path, duration=duration, names=path,
                     error=AlignmentError, may_accept=True)  # fmt: skip
    if not isinstance(result, AlignmentError):
        check_alignment(result, duration)


@fuzz()
@given(data=st.data(), duration=durations)
def test_librispeech_alignments(textgrids, tmp_path_factory, data, duration):
    texts, _ = textgrids
    path = _write(tmp_path_factory, "19-198-0000.TextGrid", data.draw(mutated_lines(texts["mfa"])))
    result = refuses("LibriSpeech alignment TextGrid (mutated lines)", read_librispeech_alignment, path, duration=duration,
                     names=path, error=AlignmentError, may_accept=True)  # fmt: skip
    if not isinstance(result, AlignmentError):
        check_alignment(result, duration)


# --------------------------------------------------------------------------------------------------
# TIMIT .phn / .wrd

TIMIT_PHN = "0 3050 h#\n3050 4559 sh\n4559 5723 ix\n5723 6642 hv\n6642 8772 eh\n8772 9190 dcl\n9190 10337 jh\n"
TIMIT_WRD = "3050 5723 she\n5723 10337 had\n9190 11517 your\n"

timit_lines = st.lists(
    st.builds(lambda a, b, label, sep: sep.join([a, b, label]), number_text, number_text,
              st.one_of(st.sampled_from(["h#", "sh", "pau"]), word_text), st.sampled_from([" ", "\t", "  ", ","])),
    max_size=6,
).map(lambda lines: "\n".join(lines) + "\n")  # fmt: skip


@fuzz()
@given(data=st.data(), duration=durations, which=st.sampled_from(["phn", "wrd", "both"]))
@example(data=None, duration=None, which="built:0 ² h#\n")  # '²'.isdigit() is True, int('²') raised ValueError
@example(data=None, duration=None, which="built:٣ 4 h#\n")
@example(data=None, duration=None, which="built:0 " + "9" * 5000 + " h#\n")  # int() refuses > 4300 digits
def test_timit_files(tmp_path_factory, data, duration, which):
    folder = tmp_path_factory.mktemp("timit")
    if which.startswith("built:"):
        phn, wrd = which[len("built:") :], TIMIT_WRD
    else:
        draw = data.draw
        phn = draw(st.one_of(mutated_lines(TIMIT_PHN), timit_lines)) if which in ("phn", "both") else TIMIT_PHN
        wrd = draw(st.one_of(mutated_lines(TIMIT_WRD), timit_lines)) if which in ("wrd", "both") else TIMIT_WRD
    (folder / "SA1.PHN").write_text(phn, encoding="utf-8", errors="surrogatepass")
    (folder / "SA1.WRD").write_text(wrd, encoding="utf-8", errors="surrogatepass")
    result = refuses("TIMIT .phn/.wrd (mutated and built lines)", read_timit, folder / "SA1.PHN", duration=duration,
                     error=AlignmentError, may_accept=True)  # fmt: skip
    if isinstance(result, AlignmentError):
        assert str(folder) in str(result), result  # names the .PHN or the .WRD file
    else:
        check_alignment(result, duration)
