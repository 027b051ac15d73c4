"""Word-attribute oracles: the QVEC reader, the WordNet supersense and the POS-count builders.

Every builder is tested on small files that the test writes in the Debian packages' formats; the
checks against the installed packages skip where those are absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from layerprobe.data.oracles import (
    SUPERSENSES,
    AttributeOracle,
    build_pos_oracle,
    build_supersense_oracle,
    morphy_candidates,
    read_qvec_oracle,
    write_qvec_oracle,
)
from layerprobe.errors import LayerprobeError, OracleError

WORDNET = Path("/usr/share/wordnet")
WORDS_YML = Path("/usr/share/perl5/Lingua/EN/Tagger/words.yml")


def column(name: str) -> int:
    return SUPERSENSES.index(name)


# --------------------------------------------------------------------------------------------------
# QVEC files

QVEC_TEXT = (
    'abandon\t{"semcor.verb.cognition": 0.25, "semcor.noun.attribute": 0.25, "semcor.verb.possession": 0.5}\n'
    "\n"
    'Ability\t{"semcor.noun.cognition": 0.3, "semcor.noun.attribute": 0.7}\n'
    '0\t{"semcor.noun.quantity": 1.0}\n'
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_qvec_reader_columns_in_order_of_first_appearance(tmp_path):
    oracle = read_qvec_oracle(write(tmp_path / "o.txt", QVEC_TEXT))
    assert oracle.features == ("semcor.verb.cognition", "semcor.noun.attribute", "semcor.verb.possession",
                               "semcor.noun.cognition", "semcor.noun.quantity")
    assert oracle.words == ("0", "abandon", "ability")
    assert len(oracle) == 3
    np.testing.assert_array_equal(oracle.vector("ABANDON"), [0.25, 0.25, 0.5, 0, 0])
    np.testing.assert_array_equal(oracle.vector("ability"), [0, 0.7, 0, 0.3, 0])
    assert "Ability" in oracle and "abandons" not in oracle and 3 not in oracle
    matrix = oracle.matrix(["ability", "abandon", "ability"])
    assert matrix.shape == (3, 5)
    np.testing.assert_array_equal(matrix[2], matrix[0])
    np.testing.assert_array_equal(oracle.matrix(["abandon"], features=["semcor.verb.possession", "semcor.noun.cognition"]),
                                  [[0.5, 0.0]])
    assert oracle.covered(["abandon", "xyz", "0", "abandon"]) == ["abandon", "0", "abandon"]


def test_qvec_reader_digits_to_zero(tmp_path):
    path = write(tmp_path / "o.txt", QVEC_TEXT)
    assert "1984" not in read_qvec_oracle(path)
    np.testing.assert_array_equal(read_qvec_oracle(path, digits_to_zero=True).vector("1984"), [0, 0, 0, 0, 1])


def test_qvec_write_read_round_trip(tmp_path):
    oracle = read_qvec_oracle(write(tmp_path / "o.txt", QVEC_TEXT))
    again = read_qvec_oracle(write_qvec_oracle(oracle, tmp_path / "copy.txt"))
    assert again.words == oracle.words
    for word in oracle.words:
        got = dict(zip(again.features, again.vector(word)))
        want = dict(zip(oracle.features, oracle.vector(word)))
        assert {k: v for k, v in got.items() if v} == {k: v for k, v in want.items() if v}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abandon {\"a\": 1.0}\n", "line 1: expected 'word<TAB>{\"feature\": probability, ...}', found no tab"),
        ("ok\t{\"a\": 1.0}\nbad\t{\"a\": 1.0\n",
         "line 2: the features are not a JSON object (Expecting ',' delimiter: line 1 column 10 (char 9))"),
        ("bad\t[1.0]\n", "line 1: the features must be a non-empty JSON object {\"feature\": probability, ...}"),
        ("bad\t{}\n", "line 1: the features must be a non-empty JSON object {\"feature\": probability, ...}"),
        ("bad\t{\"a\": 0.5, \"b\": 0.2}\n", "line 1: the probabilities sum to 0.7, not 1"),
        ("bad\t{\"a\": 1.5, \"b\": -0.5}\n", "line 1: the probability of 'a' is 1.5, not a number in [0, 1]"),
        ("bad\t{\"a\": true}\n", "line 1: the probability of 'a' is True, not a number in [0, 1]"),
        ("bad\t{\"a\": NaN}\n", "line 1: the probability of 'a' is nan, not a number in [0, 1]"),
        ("\t{\"a\": 1.0}\n", "line 1: the word '' is empty or has white space"),
        ("two words\t{\"a\": 1.0}\n", "line 1: the word 'two words' is empty or has white space"),
        ("Cat\t{\"a\": 1.0}\nx\t{\"a\": 1.0}\ncat\t{\"b\": 1.0}\n", "line 3: the word 'cat' was already given on line 1"),
        ("", "the oracle file has no lines; give a QVEC oracle file (word<TAB>{json})"),
        ("\n \n", "the oracle file has no lines; give a QVEC oracle file (word<TAB>{json})"),
    ],
)
def test_qvec_reader_refuses_malformed_files(tmp_path, text, message):
    path = write(tmp_path / "o.txt", text)
    with pytest.raises(OracleError) as caught:
        read_qvec_oracle(path)
    assert str(caught.value) == f"{path}: {message}"


def test_qvec_reader_refuses_missing_and_undecodable_files(tmp_path):
    with pytest.raises(OracleError, match=r"absent\.txt: cannot read the oracle file \(.*No such file.*\); give a QVEC oracle file$"):
        read_qvec_oracle(tmp_path / "absent.txt")
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9\t{\"a\": 1.0}\n")
    with pytest.raises(OracleError, match=r"latin\.txt: cannot read the oracle file \(.*utf-8.*\); give a QVEC oracle file$"):
        read_qvec_oracle(tmp_path / "latin.txt")


def test_unknown_words_and_features_are_one_line_errors(tmp_path):
    path = write(tmp_path / "o.txt", QVEC_TEXT)
    oracle = read_qvec_oracle(path)
    with pytest.raises(OracleError) as caught:
        oracle.vector("zebra")
    assert str(caught.value) == f"{path}: the word 'zebra' is not in the oracle; keep only words for which `word in oracle` holds"
    with pytest.raises(OracleError) as caught:
        oracle.matrix(["abandon", "z1", "z2", "z1", "z3", "z4", "z5", "z6"])
    assert str(caught.value) == (f"{path}: 6 word(s) are not in the oracle ('z1', 'z2', 'z3', 'z4', 'z5', ...); "
                                 "keep only words for which `word in oracle` holds")
    with pytest.raises(OracleError) as caught:
        oracle.matrix(["abandon"], features=["semcor.noun.quantity", "noun.act"])
    assert str(caught.value) == (f"{path}: unknown feature(s) 'noun.act'; the oracle has semcor.verb.cognition, "
                                 "semcor.noun.attribute, semcor.verb.possession, semcor.noun.cognition, semcor.noun.quantity")
    assert oracle.matrix([]).shape == (0, 5)


def test_an_oracle_without_words_is_refused():
    with pytest.raises(OracleError, match=r"^here: the oracle has no words$"):
        AttributeOracle(("a",), {}, source="here")


# --------------------------------------------------------------------------------------------------
# WordNet supersenses (index.sense, noun.exc, verb.exc as wordnet-base / wordnet-sense-index install them)

INDEX_SENSE = """\
book%1:06:00:: 02870092 2 10
book%1:10:00:: 06410904 1 30
book%2:41:00:: 02498136 3 10
go%2:38:00:: 01835496 1 6
go%2:30:04:: 00125841 2 2
saw%1:06:00:: 04140064 1 1
see%2:39:00:: 02129289 1 9
child%1:18:00:: 09917593 1 4
quick%3:00:00:: 00979366 1 7
quickly%4:02:00:: 00085811 1 7
zyzzyva%1:05:00:: 02213539 1 0
zyzzyva%2:35:00:: 01234567 1 0
zyzzyva%2:35:01:: 01234568 2 0
"""
NOUN_EXC = "children child\naxes ax axis\n"
VERB_EXC = "went go\nsaw see\n"


@pytest.fixture
def wordnet(tmp_path) -> Path:
    folder = tmp_path / "wordnet"
    folder.mkdir()
    write(folder / "index.sense", INDEX_SENSE)
    write(folder / "noun.exc", NOUN_EXC)
    write(folder / "verb.exc", VERB_EXC)
    return folder


def test_supersenses_weighted_by_semcor_counts(wordnet):
    oracle = build_supersense_oracle(wordnet)
    assert oracle.features == SUPERSENSES and len(SUPERSENSES) == 41
    assert oracle.words == ("book", "child", "go", "saw", "see")  # adjectives, adverbs, untagged lemmas left out
    book = oracle.vector("book")
    assert book[column("noun.artifact")] == pytest.approx(0.2)
    assert book[column("noun.communication")] == pytest.approx(0.6)
    assert book[column("verb.social")] == pytest.approx(0.2)
    assert book.sum() == pytest.approx(1.0) and np.count_nonzero(book) == 3
    go = oracle.vector("go")
    assert (go[column("verb.motion")], go[column("verb.change")]) == (0.75, 0.25)


def test_supersense_lookup_through_morphology(wordnet):
    oracle = build_supersense_oracle(wordnet)
    np.testing.assert_array_equal(oracle.vector("Books"), oracle.vector("book"))  # rule s -> ""
    np.testing.assert_array_equal(oracle.vector("booked"), oracle.vector("book"))  # rule ed -> ""
    np.testing.assert_array_equal(oracle.vector("went"), oracle.vector("go"))  # verb.exc
    np.testing.assert_array_equal(oracle.vector("children"), oracle.vector("child"))  # noun.exc
    saw = oracle.vector("saw")  # a lemma (1 count) and see's past tense (9 counts): counts summed
    assert saw[column("noun.artifact")] == pytest.approx(0.1)
    assert saw[column("verb.perception")] == pytest.approx(0.9)
    assert "axes" not in oracle and "quick" not in oracle and "zyzzyva" not in oracle


def test_untagged_lemmas_kept_uniformly_on_request(wordnet):
    oracle = build_supersense_oracle(wordnet, untagged="uniform")
    assert "zyzzyva" in oracle
    row = oracle.vector("zyzzyva")
    assert row[column("noun.animal")] == pytest.approx(1 / 3)
    assert row[column("verb.contact")] == pytest.approx(2 / 3)
    with pytest.raises(OracleError, match=r"^untagged must be 'drop' or 'uniform', got 'keep'$"):
        build_supersense_oracle(wordnet, untagged="keep")


def test_morphy_candidates_rules_only_for_unknown_forms():
    exceptions = {"noun": {"children": ("child",)}, "verb": {"saw": ("see",)}}
    lexicon = {"book", "box", "saw", "see", "child", "bus", "buse"}
    assert morphy_candidates("books", exceptions, lexicon) == ["book"]
    assert morphy_candidates("boxes", exceptions, lexicon) == ["box"]
    assert morphy_candidates("buses", exceptions, lexicon) == ["buse", "bus"]  # rule order: s -> "", then ses -> s
    assert morphy_candidates("saw", exceptions, lexicon) == ["see"]
    assert morphy_candidates("book", exceptions, lexicon) == []
    assert morphy_candidates("s", exceptions, lexicon) == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("book%1:06:00:: 02870092 2", "expected 'sense_key offset sense_number tag_count', found 3 fields"),
        ("book%1:06:00 02870092 2 10", "the sense key 'book%1:06:00' is not 'lemma%ss_type:lex_filenum:lex_id:head_word:head_id'"),
        ("book:1:06:00:: 02870092 2 10", "the sense key 'book:1:06:00::' is not 'lemma%ss_type:lex_filenum:lex_id:head_word:head_id'"),
        ("book%1:06:00:: 02870092 2 -1", "expected non-negative integers in 'book%1:06:00:: 02870092 2 -1'"),
        ("book%1:35:00:: 02870092 2 1", "the lexicographer file 35 of 'book%1:35:00::' is not a noun file"),
        ("book%2:06:00:: 02870092 2 1", "the lexicographer file 6 of 'book%2:06:00::' is not a verb file"),
        ("book%7:06:00:: 02870092 2 1", "the synset type 7 of 'book%7:06:00::' is not 1-5"),
    ],
)
def test_supersense_builder_refuses_malformed_index_lines(wordnet, line, message):
    write(wordnet / "index.sense", INDEX_SENSE + line + "\n")
    with pytest.raises(OracleError) as caught:
        build_supersense_oracle(wordnet)
    assert str(caught.value) == f"{wordnet / 'index.sense'}: line 14: {message}"


def test_supersense_builder_refuses_missing_files_and_empty_index(wordnet):
    (wordnet / "verb.exc").unlink()
    with pytest.raises(OracleError, match=r"verb\.exc: cannot read it \(.*\); install Debian's wordnet-base or give "
                                          r"the directory that holds WordNet 3\.0's dictionary files$"):
        build_supersense_oracle(wordnet)
    write(wordnet / "verb.exc", "went\n")
    with pytest.raises(OracleError) as caught:
        build_supersense_oracle(wordnet)
    assert str(caught.value) == f"{wordnet / 'verb.exc'}: line 1: expected 'inflected_form base_form ...'"
    write(wordnet / "verb.exc", VERB_EXC)
    write(wordnet / "index.sense", "quick%3:00:00:: 00979366 1 7\n")
    with pytest.raises(OracleError) as caught:
        build_supersense_oracle(wordnet)
    assert str(caught.value) == (f"{wordnet / 'index.sense'}: no noun or verb lemma with a SemCor tag count; "
                                 "is this WordNet 3.0's index.sense?")
    with pytest.raises(OracleError, match=r"index\.sense: cannot read it .*install Debian's wordnet-sense-index"):
        build_supersense_oracle(wordnet.parent / "nowhere")


# --------------------------------------------------------------------------------------------------
# POS counts (the format of Lingua::EN::Tagger's words.yml; a hand-made file, nothing of the real one)

WORDS_YML_TEXT = """\
--- #YAML:1.0
",": { ppc: 10 }
"'s": { vbz: 3, pos: 7 }
"'S": { pos: 10 }
Ship: { nnp: 2 }
ship: { nn: 6, vb: 2 }
shipped: { vbd: 3, vbn: 1 }
their: { prps: 4 }
the: { det: 9, nnp: 1 }
1984: { cd: 2 }
07: { cd: 2 }
'P-E: { nnp: 1 } \n"""


def test_pos_oracle_lower_cased_digits_zero_ptb_tags(tmp_path):
    oracle = build_pos_oracle(write(tmp_path / "words.yml", WORDS_YML_TEXT))
    assert oracle.features == (",", "CD", "DT", "NN", "NNP", "POS", "PRP$", "VB", "VBD", "VBN", "VBZ")
    assert oracle.words == ("'p-e", "'s", ",", "0", "ship", "shipped", "the", "their")

    def row(word):
        return {name: value for name, value in zip(oracle.features, oracle.vector(word)) if value}

    assert row("SHIP") == {"NNP": 0.2, "NN": 0.6, "VB": 0.2}
    assert row("'S") == {"VBZ": 0.15, "POS": 0.85}
    assert row("shipped") == {"VBD": 0.75, "VBN": 0.25}
    assert row("2024") == {"CD": 1.0}
    assert row("their") == {"PRP$": 1.0}
    assert row("the") == {"DT": 0.9, "NNP": 0.1}
    assert "2024a" not in oracle


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ship { nn: 1 }", "expected 'word: { tag: count, ... }'"),
        ("ship: { nn: 1, }", "expected 'tag: count', found ''"),
        ("ship: { nn: -1 }", "expected 'tag: count', found 'nn: -1'"),
        ("ship: { nn: 1.5 }", "expected 'tag: count', found 'nn: 1.5'"),
        ("ship: { xx: 1 }", "unknown tag 'xx'; expected Lingua::EN::Tagger's tags (cc, cd, det, ex, fw, in, jj, jjr, "
         "jjs, lrb, ls, md, nn, nnp, nnps, nns, pdt, pos, pp, ppc, ppd, ppl, ppr, pps, prp, prps, rb, rbr, rbs, rp, rrb, "
         "sym, to, uh, vb, vbd, vbg, vbn, vbp, vbz, wdt, wp, wps, wrb)"),
        ('"": { nn: 1 }', "the word is empty"),
    ],
)
def test_pos_builder_refuses_malformed_lines(tmp_path, line, message):
    path = write(tmp_path / "words.yml", "--- #YAML:1.0\nship: { nn: 1 }\n" + line + "\n")
    with pytest.raises(OracleError) as caught:
        build_pos_oracle(path)
    assert str(caught.value) == f"{path}: line 3: {message}"


def test_pos_builder_refuses_empty_and_missing_files(tmp_path):
    for text in ("", "--- #YAML:1.0\n", "ship: { nn: 0 }\n"):
        path = write(tmp_path / "words.yml", text)
        with pytest.raises(OracleError) as caught:
            build_pos_oracle(path)
        assert str(caught.value) == f"{path}: the POS-count file has no counts; give a file like Lingua::EN::Tagger's words.yml"
    with pytest.raises(OracleError, match=r"absent\.yml: cannot read it .*install Debian's liblingua-en-tagger-perl"):
        build_pos_oracle(tmp_path / "absent.yml")


def test_oracle_errors_are_layerprobe_errors():
    assert issubclass(OracleError, LayerprobeError)


# --------------------------------------------------------------------------------------------------
# The installed Debian packages (skipped where absent)

needs_wordnet = pytest.mark.skipif(
    not all((WORDNET / name).is_file() for name in ("index.sense", "noun.exc", "verb.exc")),
    reason="WordNet 3.0 is not installed (apt-get install wordnet-base wordnet-sense-index)",
)
needs_tagger = pytest.mark.skipif(not WORDS_YML.is_file(),
                                  reason="liblingua-en-tagger-perl is not installed")


@needs_wordnet
def test_installed_wordnet_supersense_oracle():
    oracle = build_supersense_oracle(WORDNET)
    assert len(oracle) == 15300
    seen = np.count_nonzero(oracle.matrix(list(oracle.words)).sum(axis=0))
    assert seen == 41
    book = oracle.vector("books")
    assert oracle.features[int(np.argmax(book))] == "noun.communication"
    assert oracle.features[int(np.argmax(oracle.vector("went")))] == "verb.motion"
    assert oracle.features[int(np.argmax(oracle.vector("children")))] == "noun.person"


@needs_tagger
def test_installed_tagger_pos_oracle():
    oracle = build_pos_oracle(WORDS_YML)
    assert len(oracle) > 30000  # 38,381 forms in Debian 12's 0.31-3; other versions of the lexicon differ a little
    assert len(oracle.features) == 44 and "#" not in oracle.features
    accepted = dict(zip(oracle.features, oracle.vector("accepted")))
    assert max(accepted, key=accepted.get) == "VBD"
    assert {tag for tag, value in accepted.items() if value} == {"VBD", "VBN", "JJ", "NNP"}
    assert oracle.features[int(np.argmax(oracle.vector("The")))] == "DT"
