"""Word-embedding files: the three formats, format detection, look-up by spelling, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from layerprobe.analysis.embeddings import lookup_table, read_embeddings
from layerprobe.errors import ConfigError

WORDS = ["the", "Cat", "cat", "naïve"]
VECTORS = np.array([[0.5, -1.0, 2.0], [3.0, 4.25, -5.0], [6.0, 7.0, 8.0], [-0.125, 0.0, 1e-3]], dtype=np.float32)


def keyed(words=WORDS, vectors=VECTORS) -> KeyedVectors:
    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(list(words), vectors)
    return kv


def write_word2vec(path: Path, *, binary: bool, words=WORDS, vectors=VECTORS) -> Path:
    keyed(words, vectors).save_word2vec_format(str(path), binary=binary)
    return path


def write_glove(path: Path, words=WORDS, vectors=VECTORS) -> Path:
    lines = [" ".join([word, *(repr(float(v)) for v in vector)]) for word, vector in zip(words, vectors)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    return {
        "word2vec": write_word2vec(tmp_path / "vectors.txt", binary=False),
        "word2vec-binary": write_word2vec(tmp_path / "vectors.bin", binary=True),
        "glove": write_glove(tmp_path / "glove.txt"),
    }


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove"])
def test_each_format_reads_back_words_as_spelled_and_auto_detects_it(files, fmt):
    for given in (fmt, "auto"):
        kv = read_embeddings(files[fmt], format=given)
        assert kv.index_to_key == WORDS and kv.vector_size == 3
        np.testing.assert_array_equal(kv.vectors, VECTORS)
    for other in sorted({"word2vec", "word2vec-binary", "glove"} - {fmt}):
        # gensim would read text as binary into garbage: a format the first bytes contradict is refused
        _one_line_error(files[fmt], f"looks like a {fmt} file, not {other}; pass format='{fmt}' or 'auto'$", format=other)


def test_binary_whose_bytes_hold_newlines_and_spaces_is_still_binary(tmp_path):
    tricky = np.frombuffer(b"\n\n\n\n    1 2 ", dtype=np.float32).reshape(1, 3)
    path = write_word2vec(tmp_path / "tricky.bin", binary=True, words=["w"], vectors=tricky)
    kv = read_embeddings(path)
    np.testing.assert_array_equal(kv["w"], tricky[0])


def test_lookup_tries_the_exact_word_then_its_lower_case(files):
    kv = read_embeddings(files["word2vec"])
    for vectors in (kv, {word: vector for word, vector in zip(WORDS, VECTORS)}):
        table = lookup_table(vectors, ["Cat", "THE", "dog", "cat", "Cat", "NAÏVE"])
        assert list(table) == ["Cat", "THE", "cat", "NAÏVE"]  # "dog" has no vector; repeats once
        np.testing.assert_array_equal(table["Cat"], VECTORS[1])  # exact spelling first
        np.testing.assert_array_equal(table["cat"], VECTORS[2])
        np.testing.assert_array_equal(table["THE"], VECTORS[0])
        np.testing.assert_array_equal(table["NAÏVE"], VECTORS[3])
        assert all(vector.dtype == np.float64 for vector in table.values())


def _one_line_error(path: Path, match: str, **options) -> str:
    with pytest.raises(ConfigError, match=match) as info:
        read_embeddings(path, **options)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)), message
    return message


def test_malformed_files_give_one_line_errors_naming_the_file(tmp_path, files):
    _one_line_error(tmp_path / "absent.txt", "no such embedding file$")
    _one_line_error(tmp_path, "is not a file")
    (tmp_path / "empty.txt").write_text("")
    _one_line_error(tmp_path / "empty.txt", "is empty")
    (tmp_path / "ragged.txt").write_text("3 3\nthe 1 2 3\ncat 4 5\ndog 6 7 8\n")
    _one_line_error(tmp_path / "ragged.txt", r"cannot be read as word2vec: line 3 has 2 values, expected 3")
    (tmp_path / "ragged_glove.txt").write_text("the 1 2 3\ncat 4 5 6\ndog 6 7\n")
    _one_line_error(tmp_path / "ragged_glove.txt", r"cannot be read as glove: line 3 has 2 values, expected 3")
    (tmp_path / "short.txt").write_text("5 3\nthe 1 2 3\ncat 4 5 6\n")
    _one_line_error(tmp_path / "short.txt", r"its header announces 5 vectors but it holds 2$")
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(files["word2vec-binary"].read_bytes()[:-5])
    _one_line_error(truncated, r"cannot be read as word2vec-binary: the file ends before the vector count")
    (tmp_path / "words.txt").write_text("hello world\nfoo bar\n")
    _one_line_error(tmp_path / "words.txt", r"is not a word2vec or GloVe file: its first line is neither")
    (tmp_path / "nan.txt").write_text("the 1 2 3\ncat nan 5 6\n")
    _one_line_error(tmp_path / "nan.txt", r"the vector of 'cat' has NaN or infinite values$")
    (tmp_path / "zero.txt").write_text("0 300\n")
    _one_line_error(tmp_path / "zero.txt", r"holds no vectors")
    with pytest.raises(ConfigError, match=r"unknown embedding format 'fasttext' \(known: auto, word2vec, word2vec-binary, glove\)"):
        read_embeddings(files["glove"], format="fasttext")
