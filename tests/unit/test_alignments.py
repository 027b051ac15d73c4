"""Alignment readers: TIMIT, TextGrid (incl. LibriSpeech/MFA style), validation and fuzzing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerprobe.errors import AlignmentError
from layerprobe.io.alignments import (
    BOUNDARY_TOLERANCE_S,
    Alignment,
    Interval,
    read_librispeech_alignment,
    read_textgrid,
    read_timit,
    write_textgrid,
)


def _textgrid(tiers: dict[str, list[tuple[float, float, str]]], xmax: float) -> str:
    """A long-format TextGrid written by hand (independent of the writer under test)."""
    out = [
        'File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {xmax}",
        "tiers? <exists>", f"size = {len(tiers)}", "item []:",
    ]  # fmt: skip
    for number, (name, intervals) in enumerate(tiers.items(), start=1):
        out += [
            f"    item [{number}]:", '        class = "IntervalTier"', f'        name = "{name}"',
            "        xmin = 0", f"        xmax = {xmax}", f"        intervals: size = {len(intervals)}",
        ]  # fmt: skip
        for i, (start, end, label) in enumerate(intervals, start=1):
            out += [f"        intervals [{i}]:", f"            xmin = {start}", f"            xmax = {end}", f'            text = "{label}"']
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------- TIMIT


@pytest.mark.shared
def test_timit_sample_word_times_equal_the_wrd_file(timit_sample: Path):
    wrd_rows = [line.split() for line in (timit_sample / "LDC93S1.wrd").read_text().splitlines() if line.strip()]
    alignment = read_timit(timit_sample / "LDC93S1.phn")
    assert [w.label for w in alignment.words] == [row[2] for row in wrd_rows]
    assert [(w.start, w.end) for w in alignment.words] == [(int(a) / 16000, int(b) / 16000) for a, b, _ in wrd_rows]
    assert alignment.words[1] == Interval(5723 / 16000, 10337 / 16000, "had")
    # TIMIT words overlap (had/your share the "dcl jh" region); phones tile the utterance
    assert alignment.words[2].start < alignment.words[1].end
    assert alignment.phones[0] == Interval(0.0, 3050 / 16000, "h#")
    assert len(alignment.phones) == 37
    assert all(a.end == b.start for a, b in zip(alignment.phones, alignment.phones[1:]))


def test_timit_malformed_line_names_file_and_line(tmp_path):
    (tmp_path / "x.phn").write_text("0 100 h#\n100 200\n")
    (tmp_path / "x.wrd").write_text("")
    with pytest.raises(AlignmentError, match=r"x\.phn: line 2: expected 'start end label'"):
        read_timit(tmp_path / "x.phn")


def test_timit_non_integer_times(tmp_path):
    (tmp_path / "x.phn").write_text("0 100.5 h#\n")
    (tmp_path / "x.wrd").write_text("")
    with pytest.raises(AlignmentError, match="line 1: start and end must be sample indices"):
        read_timit(tmp_path / "x.phn")


def test_timit_missing_wrd_file(tmp_path):
    (tmp_path / "x.phn").write_text("0 100 h#\n")
    with pytest.raises(AlignmentError, match=r"x\.wrd: no such TIMIT word file"):
        read_timit(tmp_path / "x.phn")


def test_timit_phone_past_the_audio(tmp_path):
    (tmp_path / "x.phn").write_text("0 8000 h#\n8000 17000 aa\n")
    (tmp_path / "x.wrd").write_text("8000 17000 ah\n")
    with pytest.raises(AlignmentError, match=r"x\.phn: phones interval 2: ends at 1\.0625 s, after the end"):
        read_timit(tmp_path / "x.phn", duration=1.0)


# ------------------------------------------------------------------------------------------- TextGrid


def test_textgrid_round_trip_is_exact(tmp_path):
    alignment = Alignment(
        "u1",
        2.0,
        # times that decimal text cannot hold exactly: the writer must keep every digit
        phones=(Interval(0.1, 0.1 + 0.2, "HH"), Interval(0.1 + 0.2, 1 / 3 + 0.2, "AY")),
        words=(Interval(0.1, 1 / 3 + 0.2, "hi"),),
    )
    write_textgrid(alignment, tmp_path / "u1.TextGrid")
    assert read_textgrid(tmp_path / "u1.TextGrid", duration=2.0) == alignment


def test_textgrid_default_tiers_any_case_and_blank_intervals_dropped(tmp_path):
    text = _textgrid({"Words": [(0, 0.5, ""), (0.5, 1.0, "yes")], "Phones": [(0, 0.5, " "), (0.5, 0.7, "Y"), (0.7, 1.0, "EH")]}, 1.2)
    (tmp_path / "a.TextGrid").write_text(text)
    alignment = read_textgrid(tmp_path / "a.TextGrid")
    assert alignment.utt_id == "a" and alignment.duration == 1.2
    assert alignment.words == (Interval(0.5, 1.0, "yes"),)
    assert [p.label for p in alignment.phones] == ["Y", "EH"]


def test_textgrid_mfa_speaker_tiers_are_found(tmp_path):
    text = _textgrid({"spk1 - words": [(0.1, 0.4, "no")], "spk1 - phones": [(0.1, 0.2, "N"), (0.2, 0.4, "OW1")]}, 0.5)
    (tmp_path / "b.TextGrid").write_text(text)
    assert [p.label for p in read_textgrid(tmp_path / "b.TextGrid").phones] == ["N", "OW1"]


def test_textgrid_explicit_tier_names(tmp_path):
    text = _textgrid({"wrd": [(0.1, 0.4, "no")], "segs": [(0.1, 0.4, "N")]}, 0.5)
    (tmp_path / "c.TextGrid").write_text(text)
    assert read_textgrid(tmp_path / "c.TextGrid", phone_tier="segs").phones == (Interval(0.1, 0.4, "N"),)
    with pytest.raises(AlignmentError, match=r"no phone tier found .*tiers: 'wrd', 'segs'.*--phone-tier"):
        read_textgrid(tmp_path / "c.TextGrid")
    with pytest.raises(AlignmentError, match=r"no tier named 'phones' \(tiers: 'wrd', 'segs'\)"):
        read_textgrid(tmp_path / "c.TextGrid", phone_tier="phones")


def test_librispeech_alignment_keeps_stress_and_silence_labels(tmp_path):
    text = _textgrid(
        {
            "words": [(0, 0.3, ""), (0.3, 0.62, "chapter"), (0.62, 0.9, "<unk>")],
            "phones": [(0, 0.3, "sil"), (0.3, 0.4, "CH"), (0.4, 0.5, "AE1"), (0.5, 0.55, "P"), (0.55, 0.58, "T"),
                       (0.58, 0.62, "ER0"), (0.62, 0.9, "spn")],
        },
        0.9,
    )  # fmt: skip
    (tmp_path / "1-2-3.TextGrid").write_text(text)
    alignment = read_librispeech_alignment(tmp_path / "1-2-3.TextGrid", duration=0.905)
    assert [p.label for p in alignment.phones] == ["sil", "CH", "AE1", "P", "T", "ER0", "spn"]
    assert [w.label for w in alignment.words] == ["chapter", "<unk>"]
    assert alignment.duration == 0.905


def test_not_a_textgrid(tmp_path):
    (tmp_path / "n.TextGrid").write_text("hello\n")
    with pytest.raises(AlignmentError, match=r"n\.TextGrid: not a readable TextGrid"):
        read_textgrid(tmp_path / "n.TextGrid")


def test_missing_textgrid(tmp_path):
    with pytest.raises(AlignmentError, match="no such alignment file"):
        read_textgrid(tmp_path / "none.TextGrid")


# ----------------------------------------------------------------------------------------- validation


def test_interval_past_the_audio_within_tolerance_is_clipped():
    alignment = Alignment("u", 1.0, phones=(Interval(0.5, 1.0 + BOUNDARY_TOLERANCE_S / 2, "AA"),))
    assert alignment.phones[0].end == 1.0


@pytest.mark.parametrize(
    "phones, message",
    [
        ((Interval(0.5, 0.4, "AA"),), r"phones interval 1: start 0\.5 s is not before end 0\.4 s"),
        ((Interval(-0.1, 0.4, "AA"),), "starts before the audio"),
        ((Interval(0.5, 1.5, "AA"),), r"ends at 1\.5 s, after the end of the audio at 1 s"),
        ((Interval(0.5, 0.6, "AA"), Interval(0.2, 0.3, "B")), r"phones interval 2: not sorted"),
        ((Interval(0.1, 0.6, "AA"), Interval(0.5, 0.7, "B")), r"phones interval 2: overlaps the previous interval"),
        ((Interval(0.1, float("nan"), "AA"),), "times must be finite"),
        ((Interval(0.1, 0.2, "  "),), "label is empty"),
        ((Interval(1.01, 1.015, "AA"),), "at or after the end of the audio"),
    ],
)
def test_invalid_intervals(phones, message):
    with pytest.raises(AlignmentError, match=message):
        Alignment("u", 1.0, phones=phones)


def test_words_may_overlap_but_textgrid_writer_refuses(tmp_path):
    words = (Interval(0.1, 0.5, "had"), Interval(0.4, 0.8, "your"))
    alignment = Alignment("u", 1.0, words=words)
    assert alignment.words == words
    with pytest.raises(AlignmentError, match="'had' and 'your' overlap"):
        write_textgrid(alignment, tmp_path / "u.TextGrid")
    assert not (tmp_path / "u.TextGrid").exists()


def test_file_errors_name_the_file_and_interval(tmp_path):
    text = _textgrid({"words": [(0.1, 0.5, "a")], "phones": [(0.1, 0.3, "AH"), (0.2, 0.5, "B")]}, 1.0)
    (tmp_path / "o.TextGrid").write_text(text)
    # praatio refuses overlapping intervals while parsing; either way the error names the file
    with pytest.raises(AlignmentError, match=r"o\.TextGrid: "):
        read_textgrid(tmp_path / "o.TextGrid")
    text = _textgrid({"words": [(0.1, 0.5, "a")], "phones": [(0.1, 0.3, "AH"), (0.3, 1.0, "B")]}, 1.0)
    (tmp_path / "p.TextGrid").write_text(text)
    with pytest.raises(AlignmentError, match=r"p\.TextGrid: phones interval 2: ends at 1 s, after the end of the audio at 0\.5 s"):
        read_textgrid(tmp_path / "p.TextGrid", duration=0.5)


def test_overlapping_words_in_a_textgrid_name_both_intervals_and_their_times(tmp_path):
    text = _textgrid({"words": [(0.12, 0.35, "the"), (0.3, 0.61, "cat")], "phones": [(0.12, 0.35, "DH")]}, 1.0)
    (tmp_path / "o.TextGrid").write_text(text)
    with pytest.raises(AlignmentError) as caught:
        read_textgrid(tmp_path / "o.TextGrid")
    assert str(caught.value) == (
        f"{tmp_path / 'o.TextGrid'}: tier 'words': \"the\" (0.120-0.350 s) and \"cat\" (0.300-0.610 s) overlap in "
        "time; a tier's intervals must not overlap: correct their times in the TextGrid"
    )


def test_phones_in_word():
    alignment = Alignment(
        "u", 1.0, phones=(Interval(0.1, 0.2, "HH"), Interval(0.2, 0.3, "AY"), Interval(0.4, 0.5, "Y")),
        words=(Interval(0.1, 0.3, "hi"), Interval(0.4, 0.5, "you")),
    )  # fmt: skip
    assert [p.label for p in alignment.phones_in(alignment.words[0])] == ["HH", "AY"]


# -------------------------------------------------------------------------------------------- fuzzing

_VALID_TEXTGRID = _textgrid({"words": [(0.1, 0.5, "a"), (0.5, 0.9, "b")], "phones": [(0.1, 0.3, "AH"), (0.3, 0.9, "B")]}, 1.0)
_VALID_PHN = "0 3050 h#\n3050 4559 sh\n4559 5723 ix\n"
_FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _mutations(valid: str):
    """Valid text with characters replaced, lines dropped or duplicated, or cut short."""
    lines = valid.splitlines()
    return st.one_of(
        st.text(max_size=300),
        st.integers(0, len(valid)).map(lambda n: valid[:n]),
        st.lists(st.sampled_from(lines), max_size=len(lines) + 4).map("\n".join),
        st.tuples(st.integers(0, len(valid) - 1), st.text(min_size=1, max_size=5)).map(
            lambda edit: valid[: edit[0]] + edit[1] + valid[edit[0] + 1 :]
        ),
    )


@_FUZZ
@given(_mutations(_VALID_TEXTGRID))
def test_malformed_textgrid_is_alignment_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("tg") / "f.TextGrid"
    path.write_text(text, encoding="utf-8")
    try:
        alignment = read_textgrid(path, duration=1.0)
    except AlignmentError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
    else:
        assert all(0 <= iv.start < iv.end <= 1.0 for iv in alignment.phones + alignment.words)


@_FUZZ
@given(_mutations(_VALID_PHN), st.binary(max_size=40))
def test_malformed_phn_is_alignment_error(tmp_path_factory, text, junk):
    directory = tmp_path_factory.mktemp("phn")
    (directory / "f.phn").write_text(text, encoding="utf-8")
    (directory / "f.wrd").write_bytes(junk)
    try:
        alignment = read_timit(directory / "f.phn")
    except AlignmentError as exc:
        assert str(directory) in str(exc) and "\n" not in str(exc)
    else:
        assert all(iv.start < iv.end for iv in alignment.phones)
