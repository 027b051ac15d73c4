"""Fuzzing the word-attribute oracle readers: QVEC lines and files, WordNet's index.sense, POS counts.

Each reader either refuses a file with an OracleError, one line naming the file, or returns an
oracle whose vectors are finite, non-negative and (for built oracles) distributions.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.data.oracles import (
    build_pos_oracle,
    build_supersense_oracle,
    format_qvec_line,
    parse_qvec_line,
    read_qvec_oracle,
)
from layerprobe.errors import OracleError
from support.fuzz import fuzz, junk_text, mutated_lines, refuses

QVEC_TEXT = (
    'abandon\t{"semcor.verb.cognition": 0.25, "semcor.noun.attribute": 0.25, "semcor.verb.possession": 0.5}\n'
    'ability\t{"semcor.noun.cognition": 0.3, "semcor.noun.attribute": 0.7}\n'
    '0\t{"semcor.noun.quantity": 1.0}\n'
)
INDEX_SENSE = (
    "book%1:06:00:: 02870092 2 10\nbook%1:10:00:: 06410904 1 30\nbook%2:41:00:: 02498136 3 10\n"
    "go%2:38:00:: 01835496 1 6\nquick%3:00:00:: 00979366 1 7\nzyzzyva%1:05:00:: 02213539 1 0\n"
)
WORDS_YML = '--- #YAML:1.0\n",": { ppc: 10 }\n"\'s": { vbz: 3, pos: 7 }\nShip: { nnp: 2 }\nship: { nn: 6, vb: 2 }\n'

words = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda word: len(word.split()) == 1 and word == word.strip())
feature_names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=16).filter(str.strip)


@st.composite
def distributions(draw):
    names = draw(st.lists(feature_names, min_size=1, max_size=6, unique=True))
    weights = draw(st.lists(st.integers(0, 1000), min_size=len(names), max_size=len(names)).filter(any))
    total = sum(weights)
    return {name: weight / total for name, weight in zip(names, weights)}


def check_oracle(oracle, *, distribution: bool) -> None:
    assert oracle.words and len(oracle.features) == len(set(oracle.features))
    rows = oracle.matrix(list(oracle.words))
    assert rows.shape == (len(oracle.words), len(oracle.features))
    assert np.isfinite(rows).all() and (rows >= 0).all()
    if distribution:
        np.testing.assert_allclose(rows.sum(axis=1), 1.0)


@fuzz()
@given(word=words, values=distributions())
def test_qvec_line_round_trip(word, values):
    parsed_word, parsed = parse_qvec_line(format_qvec_line(word, values))
    assert parsed_word == word
    assert parsed == values and list(parsed) == list(values)
    assert math.isclose(math.fsum(parsed.values()), 1.0)


@fuzz()
@given(line=st.one_of(junk_text, st.builds(lambda w, j: f"{w}\t{j}", words, junk_text)))
def test_qvec_line_parser_raises_only_value_error(line):
    try:
        word, values = parse_qvec_line(line)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert word and values and all(0 <= value <= 1 for value in values.values())


@fuzz()
@given(data=st.data())
def test_mutated_qvec_files(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("qvec") / "oracle.txt"
    path.write_text(data.draw(mutated_lines(QVEC_TEXT)), encoding="utf-8", errors="surrogatepass")
    result = refuses("oracle: QVEC file", read_qvec_oracle, path, names=path, error=OracleError, may_accept=True)
    if not isinstance(result, OracleError):
        check_oracle(result, distribution=False)


@fuzz()
@given(data=st.data())
def test_mutated_index_sense(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("wordnet")
    (folder / "index.sense").write_text(data.draw(mutated_lines(INDEX_SENSE)), encoding="utf-8", errors="surrogatepass")
    (folder / "noun.exc").write_text("children child\n", encoding="utf-8")
    (folder / "verb.exc").write_text("went go\n", encoding="utf-8")
    result = refuses("oracle: index.sense", build_supersense_oracle, folder, error=OracleError, may_accept=True)
    if isinstance(result, OracleError):
        assert str(folder) in str(result)
    else:
        check_oracle(result, distribution=True)


@fuzz()
@given(data=st.data())
def test_mutated_pos_counts(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("pos") / "words.yml"
    path.write_text(data.draw(mutated_lines(WORDS_YML)), encoding="utf-8", errors="surrogatepass")
    result = refuses("oracle: words.yml", build_pos_oracle, path, names=path, error=OracleError, may_accept=True)
    if not isinstance(result, OracleError):
        check_oracle(result, distribution=True)


@fuzz()
@given(table=st.dictionaries(words.map(str.lower).filter(lambda word: word == word.lower()), distributions(),
                             min_size=1, max_size=5))
@example(table={"w": {"a\u2028b": 0.5, "c\x85": 0.5}})  # str.splitlines cut these lines in two
def test_qvec_file_round_trip(tmp_path_factory, table):
    """A written oracle reads back as written (feature names with U+2028 or U+0085 included)."""
    from layerprobe.data.oracles import AttributeOracle, write_qvec_oracle

    features = list(dict.fromkeys(name for values in table.values() for name in values))
    rows = {word: np.array([values.get(name, 0.0) for name in features]) for word, values in table.items()}
    oracle = AttributeOracle(features, rows, source="fuzz", normalise=lambda word: word)
    path = write_qvec_oracle(oracle, tmp_path_factory.mktemp("qvec") / "oracle.txt")
    again = read_qvec_oracle(path)
    assert again.words == oracle.words
    for word in oracle.words:
        got = {name: value for name, value in zip(again.features, again.vector(word)) if value}
        assert got == {name: value for name, value in table[word].items() if value}
