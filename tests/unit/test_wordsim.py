"""Word similarity: Spearman of cosines against human scores, averages, OOV counts, benchmark files.

Scores are checked on planted vectors whose cosines are known (unit vectors at chosen angles to
``[1, 0]``) against values worked out by hand; benchmark files against their written pairs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerprobe.analysis.wordsim import load_benchmarks, parse_benchmark, read_benchmark, wordsim_scores
from layerprobe.experiments.wordsim import parse_vector_files
from layerprobe.errors import ConfigError


def at_cosine(c: float, scale: float = 1.0) -> np.ndarray:
    """A 2-d vector whose cosine with [1, 0] is ``c`` (any positive length)."""
    return scale * np.array([c, math.sqrt(1.0 - c * c)])


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text
    return text


# --------------------------------------------------------------------------------------------------
# scores


def test_cosines_monotone_in_the_human_scores_give_one():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 10, size=40).round(1).tolist()
    scores += scores[:5]  # ties among the human scores
    vectors, pairs, seen = {}, [], {}
    for score in scores:
        word = f"w{score}"
        if word not in vectors:
            angle = (10.0 - score) / 10.0 * (math.pi / 2)  # cos(angle) increases with the score
            vectors[word] = rng.uniform(0.5, 4.0) * np.array([math.cos(angle), math.sin(angle)])
        # a tied score pairs the same vector with another copy of the anchor: exactly tied cosines
        seen[word] = seen.get(word, -1) + 1
        vectors[f"anchor{seen[word]}"] = np.array([3.0, 0.0])
        pairs.append((f"anchor{seen[word]}", word, score))
    result = wordsim_scores(vectors, {"planted": pairs})
    assert result.per_benchmark == {"planted": pytest.approx(1.0, abs=1e-12)}
    assert result.used == {"planted": 45} and result.skipped == {"planted": 0} and result.unscored == {}
    reversed_result = wordsim_scores(vectors, {"reversed": [(a, b, -s) for a, b, s in pairs]})
    assert reversed_result.per_benchmark["reversed"] == pytest.approx(-1.0, abs=1e-12)


TIES_VECTORS = {"x": np.array([1.0, 0.0]), "a": at_cosine(0.2), "b": at_cosine(0.9, 2.0), "c": at_cosine(0.5), "d": at_cosine(0.5)}
# human 1, 2, 2, 4 -> ranks 1, 2.5, 2.5, 4; cosines 0.2, 0.9, 0.5, 0.5 -> ranks 1, 4, 2.5, 2.5.
# Deviations from 2.5: (-1.5, 0, 0, 1.5) and (-1.5, 1.5, 0, 0): rho = 2.25 / sqrt(4.5 * 4.5) = 0.5
# (ranking ties in order of appearance instead would give 0.4).
TIES_PAIRS = [("x", "a", 1.0), ("x", "b", 2.0), ("x", "c", 2.0), ("x", "d", 4.0)]


def test_ties_get_average_ranks():
    result = wordsim_scores(TIES_VECTORS, {"ties": TIES_PAIRS})
    assert result.per_benchmark["ties"] == pytest.approx(0.5, abs=1e-12)


def test_oov_pairs_are_skipped_and_counted_and_lookup_falls_back_to_lower_case():
    vectors = {**TIES_VECTORS, "Apple": np.array([0.0, 1.0]), "apple": np.array([1.0, 0.0])}
    pairs = [*TIES_PAIRS, ("x", "zebra", 3.0), ("yak", "zebra", 5.0), ("X", "A", 9.0)]
    result = wordsim_scores(vectors, {"b": pairs})
    # "X" and "A" are found lower-cased: the pair (x, a) with human 9 turns the ranking around
    assert result.used == {"b": 5} and result.skipped == {"b": 2}
    expected = wordsim_scores(TIES_VECTORS, {"b": [*TIES_PAIRS, ("x", "a", 9.0)]}).per_benchmark["b"]
    assert result.per_benchmark["b"] == pytest.approx(expected, abs=1e-12)
    # the exact spelling wins over the lower-cased one: "Apple" is [0, 1], orthogonal to x
    exact = wordsim_scores(vectors, {"e": [("x", "Apple", 1.0), ("x", "b", 2.0), ("x", "c", 3.0)]})
    lowered = wordsim_scores(vectors, {"e": [("x", "apple", 1.0), ("x", "b", 2.0), ("x", "c", 3.0)]})
    assert exact.per_benchmark["e"] == pytest.approx(0.5) and lowered.per_benchmark["e"] == pytest.approx(-1.0)


def test_micro_and_macro_over_two_benchmarks():
    monotone = [("x", "a", 1.0), ("x", "c", 2.0), ("x", "b", 3.0), ("x", "nope", 4.0)]  # rho 1 over 3 pairs
    result = wordsim_scores(TIES_VECTORS, {"one": monotone, "half": TIES_PAIRS})
    assert result.per_benchmark == {"one": pytest.approx(1.0), "half": pytest.approx(0.5)}
    assert result.used == {"one": 3, "half": 4} and result.skipped == {"one": 1, "half": 0}
    assert result.micro == pytest.approx((3 * 1.0 + 4 * 0.5) / 7, abs=1e-12)
    assert result.macro == pytest.approx(0.75, abs=1e-12)
    assert result.scored == ["one", "half"]


def test_all_oov_benchmark_is_unscored_and_left_out_of_the_averages():
    result = wordsim_scores(TIES_VECTORS, {"half": TIES_PAIRS, "none": [("p", "q", 1.0), ("r", "s", 2.0)]})
    assert math.isnan(result.per_benchmark["none"])
    assert result.used["none"] == 0 and result.skipped["none"] == 2
    assert result.unscored == {"none": "0 of its 2 pairs have vectors for both words, fewer than the 2 a correlation needs"}
    assert result.micro == pytest.approx(0.5) and result.macro == pytest.approx(0.5) and result.scored == ["half"]
    only = wordsim_scores(TIES_VECTORS, {"none": [("p", "q", 1.0)]})
    assert math.isnan(only.micro) and math.isnan(only.macro) and only.scored == []


def test_constant_scores_zero_vectors_and_keyed_vectors():
    flat = wordsim_scores(TIES_VECTORS, {"flat": [("x", "a", 2.0), ("x", "b", 2.0), ("x", "c", 2.0)]})
    assert flat.unscored == {"flat": "the human scores of its 3 pairs with vectors are all equal"}
    same = wordsim_scores(TIES_VECTORS, {"same": [("x", "c", 1.0), ("x", "d", 2.0)]})
    assert same.unscored == {"same": "the cosines of its 2 pairs with vectors are all equal"}
    zero = wordsim_scores({**TIES_VECTORS, "o": np.zeros(2)}, {"z": [*TIES_PAIRS, ("x", "o", 3.0)]})
    assert zero.used == {"z": 4} and zero.skipped == {"z": 1} and zero.per_benchmark["z"] == pytest.approx(0.5)
    from gensim.models import KeyedVectors

    keyed = KeyedVectors(vector_size=2)
    keyed.add_vectors(list(TIES_VECTORS), np.array(list(TIES_VECTORS.values()), dtype=np.float32))
    assert wordsim_scores(keyed, {"ties": TIES_PAIRS}).per_benchmark["ties"] == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize(
    "vectors, benchmarks, message",
    [
        ({"x": [1.0, 0.0], "a": [1.0, 0.0, 0.0]}, {"b": [("x", "a", 1.0)]}, "word vectors of different dims: 'x' has 2, 'a' has 3"),
        ({"x": [1.0, np.nan]}, {"b": [("x", "x", 1.0)]}, "the vector of 'x' has NaN or infinite values"),
        ({"x": [[1.0, 0.0]]}, {"b": [("x", "x", 1.0)]}, "the vector of 'x' has shape (1, 2); word vectors are 1-d"),
        (TIES_VECTORS, {}, "no benchmark given (benchmarks must map a name to its word pairs)"),
        (TIES_VECTORS, {"b": [("x", "a")]}, "benchmark 'b': entry 1 is ('x', 'a'), not (word1, word2, score)"),
        (TIES_VECTORS, {"b": [("x", "a", float("nan"))]}, "benchmark 'b': entry 1 has the score nan; scores are finite numbers"),
        (TIES_VECTORS, {"b": [("x", "a", "7")]}, "benchmark 'b': entry 1 has the score '7'; scores are finite numbers"),
        (TIES_VECTORS, {"b": "x a 1"}, "benchmark 'b': expected an iterable of (word1, word2, score), got str"),
    ],
)
def test_bad_vectors_and_benchmarks_are_one_line_errors(vectors, benchmarks, message):
    with pytest.raises(ConfigError) as caught:
        wordsim_scores(vectors, benchmarks)
    assert one_line(caught.value) == message


# --------------------------------------------------------------------------------------------------
# benchmark files


def test_parse_separators_header_comments_and_line_ends():
    text = (
        "\ufeff# WordSim-like list\n"
        "\n"
        "Word 1,Word 2,Human (mean)\n"
        "tiger,cat,7.35\n"
        "  # indented comment\n"
        "book\tpaper\t7.46\r\n"
        "ice cream\tdessert\t+8\n"
        "king   queen 8.5e0\n"
        "a , b , -.5\n"
    )
    assert parse_benchmark(text.splitlines(keepends=True), source="x.txt") == [
        ("tiger", "cat", 7.35), ("book", "paper", 7.46), ("ice cream", "dessert", 8.0), ("king", "queen", 8.5), ("a", "b", -0.5),
    ]  # fmt: skip
    # a first line with a number is data, not a header
    assert parse_benchmark(["cat dog 1", "a b 2"]) == [("cat", "dog", 1.0), ("a", "b", 2.0)]


@pytest.mark.parametrize(
    "lines, message",
    [
        ([], "f.tsv: holds no word pairs (expected lines of 'word1 word2 score')"),
        (["# only", "", "word1 word2 score"], "f.tsv: holds no word pairs (expected lines of 'word1 word2 score')"),
        (["w1 w2 s", "cat dog 1", "cat dog"], "f.tsv: line 3: expected 3 fields (word1, word2, score) separated by spaces, found 2"),
        (["cat\tdog\t1\t2"], "f.tsv: line 1: expected 3 fields (word1, word2, score) separated by tabs, found 4"),
        (["cat,dog,1", ",dog,2"], "f.tsv: line 2: word 1 is empty"),
        (["cat dog 1", "cat dog high"], "f.tsv: line 2: the score 'high' is not a number"),
        (["cat dog 1", "cat dog nan"], "f.tsv: line 2: the score 'nan' is not a number"),
        (["header only here", "x y z"], "f.tsv: line 2: the score 'z' is not a number"),
    ],
)
def test_parse_errors_name_file_and_line(lines, message):
    with pytest.raises(ConfigError) as caught:
        parse_benchmark(lines, source=Path("f.tsv"))
    assert one_line(caught.value) == message


WORD = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Z"), blacklist_characters=",#\ufeff"), min_size=1, max_size=8)
SCORE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
SEPARATOR = st.sampled_from(["\t", ",", " ", "  ", ", ", "\t "])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(WORD, WORD, SCORE, SEPARATOR), min_size=1, max_size=12),
    st.booleans(),
    st.lists(st.sampled_from(["", "# note", "   ", "#,x\t1"]), max_size=3),
)
def test_well_formed_lines_round_trip(pairs, header, comments):
    lines = ["word1\tword2\tsimilarity"] if header else []
    for number, (first, second, score, separator) in enumerate(pairs):
        if number < len(comments):
            lines.append(comments[number])
        lines.append(f"{first}{separator}{second}{separator}{score!r}")
    assert parse_benchmark(lines) == [(first, second, score) for first, second, score, _ in pairs]


MALFORMED = st.sampled_from(["cat dog", "cat dog 1 2", "cat\tdog", "cat,dog,fast", "cat dog 1.2.3", "a,,3", "x y 1e", "dog cat inf"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(WORD, WORD, SCORE), min_size=1, max_size=8), st.data(), MALFORMED)
def test_a_malformed_line_is_a_one_line_error_with_its_number(pairs, data, bad):
    lines = [f"{a}\t{b}\t{s!r}" for a, b, s in pairs]
    position = data.draw(st.integers(1, len(lines)))  # after at least one data line: never taken for a header
    lines.insert(position, bad)
    with pytest.raises(ConfigError) as caught:
        parse_benchmark(lines, source="pairs.tsv")
    message = one_line(caught.value)
    assert message.startswith(f"pairs.tsv: line {position + 1}: ")


def test_bundled_benchmarks_load_with_their_real_counts():
    wordsim = read_benchmark("wordsim353")
    simlex = read_benchmark("SimLex999")
    assert len(wordsim) == 353 and len(simlex) == 999
    assert wordsim[0] == ("love", "sex", 6.77) and wordsim[-1] == ("architecture", "century", 3.78)
    assert simlex[0] == ("old", "new", 1.58) and simlex[-1] == ("attend", "arrive", 6.08)
    loaded = load_benchmarks(["wordsim353", "simlex999"])
    assert list(loaded) == ["wordsim353", "simlex999"] and loaded["simlex999"].path.name == "simlex999.txt"
    assert len(loaded["wordsim353"].sha256) == 64


def test_benchmark_files_and_their_errors(tmp_path):
    good = tmp_path / "my_pairs.tsv"
    good.write_text("cat\tdog\t7\nsun\tmoon\t5\n", encoding="utf-8")
    assert read_benchmark(good) == [("cat", "dog", 7.0), ("sun", "moon", 5.0)]
    assert list(load_benchmarks([good, "simlex999"])) == ["my_pairs", "simlex999"]
    other = tmp_path / "sub"
    other.mkdir()
    (other / "my_pairs.csv").write_text("a,b,1\nc,d,2\n")
    with pytest.raises(ConfigError, match=r"^two benchmarks are named 'my_pairs' \("):
        load_benchmarks([good, other / "my_pairs.csv"])
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 tea 3\n".encode("latin-1"))
    for path, message in [
        (empty, f"{empty}: holds no word pairs (expected lines of 'word1 word2 score')"),
        (latin, f"{latin}: is not UTF-8 text (byte 3)"),
        (tmp_path / "missing.tsv", f"{tmp_path / 'missing.tsv'}: no such benchmark file (the bundled benchmarks are wordsim353, simlex999)"),
        (other, f"{other}: is not a file (expected a benchmark of 'word1 word2 score' lines)"),
    ]:
        with pytest.raises(ConfigError) as caught:
            read_benchmark(path)
        assert one_line(caught.value) == message


def test_vector_file_layers():
    assert parse_vector_files(["out/T3.kv", "T1=glove.txt", "t0=a=b.bin"]) == {
        "T3": Path("out/T3.kv"), "T1": Path("glove.txt"), "T0": Path("a=b.bin")}  # fmt: skip
    with pytest.raises(ConfigError, match="glove.txt: cannot tell which layer the vectors are of"):
        parse_vector_files(["glove.txt"])
    with pytest.raises(ConfigError, match="two vector files for layer T3: T3.kv and x.bin"):
        parse_vector_files(["T3.kv", "T3=x.bin"])
