"""Transcripts, text normalisation, pronunciation files and the report summary of layerprobe.data.align.

Nothing here runs PocketSphinx; the alignment itself is tested in tests/integration/test_align.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerprobe.data.align import (
    AlignReport,
    ForcedAligner,
    UtteranceResult,
    align_corpus,
    normalize_transcript,
    read_pronunciations,
    read_transcript_file,
    read_transcripts,
)
from layerprobe.errors import ConfigError, CorpusError, DependencyError, LayerprobeError

LIBRIVOX_LINES = (
    "sense_and_sensibility_01_austen_64kb-0880 he was not an ill disposed young man\n"
    "sense_and_sensibility_01_austen_64kb-0930 he might even have been made amiable himself\n"
)


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------
# read_transcripts


def test_read_transcripts_keeps_file_order_and_text(tmp_path):
    transcripts = read_transcripts(write(tmp_path / "t.txt", LIBRIVOX_LINES))
    assert list(transcripts) == [
        "sense_and_sensibility_01_austen_64kb-0880",
        "sense_and_sensibility_01_austen_64kb-0930",
    ]
    assert transcripts["sense_and_sensibility_01_austen_64kb-0880"] == "he was not an ill disposed young man"


def test_read_transcripts_skips_blank_lines_and_takes_tabs_crlf_and_bom(tmp_path):
    text = "\ufeffa\tHello,  World!\r\n\r\n   \r\nb  second   line \r\n"
    transcripts = read_transcripts(write(tmp_path / "t.txt", text))
    assert transcripts == {"a": "Hello,  World!", "b": "second   line"}


def test_read_transcripts_duplicate_id_names_file_and_both_lines(tmp_path):
    path = write(tmp_path / "t.txt", "u1 one\n\nu2 two\nu1 again\n")
    with pytest.raises(CorpusError) as info:
        read_transcripts(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line 4: ")
    assert "duplicate utterance id 'u1'" in message and "first on line 1" in message
    assert "\n" not in message


def test_read_transcripts_line_without_text_is_an_error(tmp_path):
    path = write(tmp_path / "t.txt", "u1 one\nu2   \n")
    with pytest.raises(CorpusError, match=r"t\.txt: line 2: utterance 'u2' has no transcript text"):
        read_transcripts(path)


@pytest.mark.parametrize("utt_id", ["../escape", "a/b", "..", "back\\slash"])
def test_read_transcripts_refuses_ids_that_are_not_file_names(tmp_path, utt_id):
    path = write(tmp_path / "t.txt", f"ok fine\n{utt_id} some words\n")
    with pytest.raises(CorpusError, match="line 2: .*cannot be used as a file name"):
        read_transcripts(path)


def test_read_transcripts_unreadable_files(tmp_path):
    with pytest.raises(CorpusError, match="no such transcripts file"):
        read_transcripts(tmp_path / "absent.txt")
    with pytest.raises(CorpusError, match="not a file"):
        read_transcripts(tmp_path)
    latin1 = write(tmp_path / "latin1.txt", "u1 ok\nu2 caf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1\.txt: line 2: not UTF-8 text \(byte 0xe9 at offset 12\)"):
        read_transcripts(latin1)


_transcript_lines = st.lists(
    st.tuples(
        st.sampled_from(["", " ", "\t", "  "]),
        st.text(max_size=12),
        st.sampled_from(["", " ", "\t"]),
        st.text(max_size=30),
    ).map("".join),
    max_size=6,
).map("\n".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(_transcript_lines, st.binary(max_size=80), st.text(max_size=80).map(str.encode)))
def test_read_transcripts_parses_or_raises_layerprobe_error(tmp_path, content):
    path = tmp_path / "transcripts.txt"
    write(path, content if isinstance(content, bytes) else content)
    try:
        transcripts = read_transcripts(path)
    except LayerprobeError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    for utt_id, text in transcripts.items():
        assert utt_id and not any(ch.isspace() for ch in utt_id) and "/" not in utt_id
        assert text and text == text.strip()


# --------------------------------------------------------------------------------------------------
# read_transcript_file (a .txt beside the audio)


def test_read_transcript_file_drops_timit_sample_range_and_joins_lines(tmp_path):
    timit = write(tmp_path / "LDC93S1.txt", "0 46797 She had your dark suit in greasy wash water all year.\n")
    assert read_transcript_file(timit) == "She had your dark suit in greasy wash water all year."
    multi = write(tmp_path / "u.txt", "first line\n  second line\n")
    assert read_transcript_file(multi) == "first line second line"


def test_read_transcript_file_keeps_leading_numbers_that_are_not_a_range(tmp_path):
    assert read_transcript_file(write(tmp_path / "u.txt", "7 dwarfs\n")) == "7 dwarfs"


def test_read_transcript_file_empty_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match=r"u\.txt: transcript file is empty"):
        read_transcript_file(write(tmp_path / "u.txt", " \n\n"))


# --------------------------------------------------------------------------------------------------
# normalize_transcript


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("She had your dark suit in greasy wash.", "she had your dark suit in greasy wash"),
        ("Hello,World!--wash-water;  ok?", "hello world wash water ok"),
        ("Don't say 'hello', it's John\u2019s.", "don't say hello it's john's"),
        ("rock'n'roll ''quoted'' '", "rock'n'roll quoted"),
        ("In 1811 there were 3 of them", "in there were of them"),
        ("CAF\u0045\u0301 na\u00efve", "caf\u00e9 na\u00efve"),  # decomposed accent is composed, not a split
        ("snake_case under_score", "snake case under score"),
        ("", ""),
        ("... 42 !!", ""),
    ],
)
def test_normalize_transcript_examples(text, words):
    assert normalize_transcript(text) == words.split()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_normalize_transcript_yields_clean_idempotent_words(text):
    words = normalize_transcript(text)
    for word in words:
        assert word and not word.startswith("'") and not word.endswith("'")
        assert all(ch.isalpha() or ch == "'" for ch in word)
        assert not any(ch.isspace() for ch in word)
    assert normalize_transcript(" ".join(words)) == words


# --------------------------------------------------------------------------------------------------
# read_pronunciations


def test_read_pronunciations_strips_stress_merges_variants_and_skips_comments(tmp_path):
    path = write(
        tmp_path / "extra.dict",
        ";;; comment\n# another\nDASHWOOD  D AE1 SH W UH2 D\ndashwood(2) D AE SH W UH D\nZorblax Z AO R B L AE K S\n"
        "DASHWOOD D AE1 SH W UH2 D\n",
    )
    assert read_pronunciations(path) == {
        "dashwood": [("D", "AE", "SH", "W", "UH", "D")],  # the (2) line and the repeat are the same phones
        "zorblax": [("Z", "AO", "R", "B", "L", "AE", "K", "S")],
    }


def test_read_pronunciations_errors_name_file_and_line(tmp_path):
    no_phones = write(tmp_path / "a.dict", "ok AA\nlonely\n")
    with pytest.raises(CorpusError, match=r"a\.dict: line 2: word 'lonely' has no phones"):
        read_pronunciations(no_phones)
    bad_phone = write(tmp_path / "b.dict", "word W ER1 D\nother XX Q1 T\n")
    with pytest.raises(CorpusError, match=r"b\.dict: line 2: word 'other': 'XX', 'Q1' not ARPAbet phones"):
        read_pronunciations(bad_phone)


# --------------------------------------------------------------------------------------------------
# ForcedAligner construction and the PocketSphinx dependency


def test_forced_aligner_rejects_unknown_oov_policy():
    with pytest.raises(ConfigError, match="oov must be one of g2p, skip, error, got 'ignore'"):
        ForcedAligner(oov="ignore")  # type: ignore[arg-type]


def test_forced_aligner_reads_the_dictionary_eagerly(tmp_path):
    with pytest.raises(CorpusError, match="no such pronunciation dictionary file"):
        ForcedAligner(dictionary=tmp_path / "absent.dict")


def test_missing_pocketsphinx_is_a_dependency_error_only_when_needed(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # makes "import pocketsphinx" fail
    aligner = ForcedAligner(oov="skip")  # lazy: building the aligner needs no PocketSphinx
    with pytest.raises(DependencyError, match=r'PocketSphinx; install it with: pip install "layerprobe\[align\]"'):
        aligner.missing_words(["hello"])
    write(tmp_path / "u.wav", b"")
    with pytest.raises(DependencyError, match="layerprobe\\[align\\]"):
        align_corpus(tmp_path, write(tmp_path / "t.txt", "u hello\n"), tmp_path / "out", progress=False)


# --------------------------------------------------------------------------------------------------
# AlignReport


def test_align_report_counts_and_summary(tmp_path):
    report = AlignReport(
        utterances=(
            UtteranceResult("a", "aligned", oov={"dashwood": "g2p"}, n_words=3, n_phones=9),
            UtteranceResult("b", "aligned", oov={"norland": "g2p", "dashwood": "g2p"}),
            UtteranceResult("c", "skipped", reason="no audio file (c.wav or c.flac)"),
            UtteranceResult("d", "skipped", reason="oov: xq", oov={"xq": "skipped"}, audio="d"),
            UtteranceResult("e", "failed", reason="cannot align", audio="e.wav"),
        ),
        oov_policy="g2p",
        pronunciations={"dashwood": tuple("D AE SH W UH D".split()), "norland": tuple("N AO R L AH N D".split())},
        report_path=tmp_path / "align_report.json",
    )
    assert (report.aligned, report.skipped, report.failed) == (["a", "b"], ["c", "d"], ["e"])
    assert report.missing_audio == ["c"]
    assert report.oov_words == ["dashwood", "norland", "xq"]
    assert report.g2p_words == ["dashwood", "norland"] and report.unaligned_oov_words == ["xq"]
    assert report.summary() == (
        "aligned 2 of 5 utterances; 2 words not in the dictionary (dashwood, norland) pronounced by eSpeak NG; "
        f"1 word not in the dictionary (xq) left unaligned; 1 without audio; 1 skipped; 1 failed "
        f"(details in {tmp_path / 'align_report.json'})"
    )
    data = report.to_dict()
    assert data["counts"] == {
        "utterances": 5, "aligned": 2, "skipped": 2, "failed": 1, "missing_audio": 1, "oov_words": 3, "g2p_words": 2,
    }  # fmt: skip
    assert data["oov_words"]["dashwood"] == {"pronunciation": "D AE SH W UH D", "utterances": ["a", "b"]}
    assert data["oov_words"]["xq"] == {"pronunciation": "", "utterances": ["d"]}
    assert data["utterances"]["c"]["textgrid"] is None and data["utterances"]["a"]["n_phones"] == 9
