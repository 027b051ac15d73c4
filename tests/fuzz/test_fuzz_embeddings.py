"""Fuzzing the word-embedding readers: word2vec text and binary, GloVe text, gensim .kv files.

``read_embeddings`` and ``read_word_vectors`` either refuse a file with a ConfigError naming it or
return KeyedVectors whose words and finite vectors are those the file holds (checked against a slow
direct parse of the text formats).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.analysis.embeddings import read_embeddings
from layerprobe.analysis.wordvec import read_word_vectors
from layerprobe.errors import ConfigError
from support.fuzz import fuzz, mutated_bytes, mutated_lines, number_text, refuses, word_text

FORMATS = ["auto", "word2vec", "word2vec-binary", "glove"]


def _write(tmp_path_factory, name: str, content: bytes):
    path = tmp_path_factory.mktemp("embeddings") / name
    path.write_bytes(content)
    return path


def check_vectors(vectors, path) -> None:
    assert len(vectors) > 0 and vectors.vector_size > 0, path
    assert vectors.vectors.shape == (len(vectors), vectors.vector_size)
    assert np.isfinite(vectors.vectors).all()


def direct_text_vectors(content: bytes, *, header: bool) -> dict[str, list[float]] | None:
    """A slow, literal reading of a text embedding file; None where it is not well formed."""
    lines = content.decode("utf-8", errors="replace").split("\n")
    count = None
    if header:
        count = int(lines[0].split()[0])
        lines = lines[1:]
    table, dim, n_read = {}, None, 0
    for line in lines:
        parts = line.rstrip().split(" ")
        if parts == [""]:
            continue
        values = [float(x) for x in parts[1:]]
        if dim is None:
            dim = len(values)
        if len(values) != dim:
            return None
        table.setdefault(parts[0], values)  # a repeated word keeps its first vector
        n_read += 1
        if count is not None and n_read == count:  # the header counts lines, repeats included
            break
    return table


WORDS = ["the", "cat", "sat", "on", "mat"]


def _text_file(header: bool, dim: int = 3) -> str:
    rng = np.random.default_rng(0)
    lines = [f"{word} " + " ".join(f"{x:.4f}" for x in rng.standard_normal(dim)) for word in WORDS]
    return (f"{len(WORDS)} {dim}\n" if header else "") + "\n".join(lines) + "\n"


def _binary_file(dim: int = 3) -> bytes:
    rng = np.random.default_rng(0)
    body = b"".join(word.encode() + b" " + rng.standard_normal(dim).astype("<f4").tobytes() + b"\n" for word in WORDS)
    return f"{len(WORDS)} {dim}\n".encode() + body


@fuzz()
@given(data=st.data(), header=st.booleans(), format=st.sampled_from(FORMATS))
@example(data=None, header=True, format="glove-ragged")  # a one-value line was broadcast into a whole vector
@example(data=None, header=True, format="header-twice")  # text with a bad 2nd line was read as binary garbage
@example(data=None, header=False, format="repeated-word")  # gensim left a None word and a zero vector per repeat
def test_mutated_text_files(tmp_path_factory, data, header, format):
    if format == "repeated-word":
        content, format = "the 0.1 0.2 0.3\nthe 0.4 0.5 0.6\ncat 0.7 0.8 0.9\n", "auto"
    elif format == "glove-ragged":
        content, header, format = "cat 0.1 0.2\ndog 0.1\n", False, "auto"
    elif format == "header-twice":
        content, format = "5 3\n" + _text_file(True), "auto"
    else:
        content = data.draw(mutated_lines(_text_file(header)))
    raw = content.encode("utf-8", errors="surrogatepass")
    path = _write(tmp_path_factory, "vectors.txt", raw)
    result = refuses(f"embedding file, {'word2vec' if header else 'GloVe'} text (mutated lines)", read_embeddings, path,
                     format=format, names=path, error=ConfigError, may_accept=True)  # fmt: skip
    if isinstance(result, ConfigError):
        return
    check_vectors(result, path)
    first = raw.split(b"\n", 1)[0].split()
    has_header = len(first) == 2 and all(part.isdigit() for part in first)  # what the file says, not the generator
    try:
        expected = direct_text_vectors(raw, header=has_header)
    except (ValueError, IndexError):
        expected = None
    assert expected is not None, f"accepted a file a literal reading rejects: {content[:300]!r}"
    assert result.index_to_key == list(expected)[: len(result)]
    for word in result.index_to_key:
        assert np.allclose(result[word], expected[word], atol=1e-6, rtol=1e-6), (word, content[:300])


@fuzz()
@given(data=st.data(), format=st.sampled_from(["auto", "word2vec-binary"]))
@example(data=None, format="huge-count")  # 10^12 vectors announced: MemoryError before reading a vector
@example(data=None, format="huge-dim")
def test_damaged_binary_files(tmp_path_factory, data, format):
    if format == "huge-count":
        content, format = b"999999999999 3\ncat " + struct.pack("<3f", 1, 2, 3) + b"\n", "auto"
    elif format == "huge-dim":
        content, format = b"2 99999999999\ncat " + b"\x00" * 40, "auto"
    else:
        content = data.draw(mutated_bytes(_binary_file(), protect=data.draw(st.sampled_from([0, 5]))))
    path = _write(tmp_path_factory, "vectors.bin", content)
    result = refuses("embedding file, word2vec binary (damaged bytes)", read_embeddings, path, format=format,
                     names=path, error=ConfigError, may_accept=True)  # fmt: skip
    if not isinstance(result, ConfigError):
        check_vectors(result, path)


built_lines = st.lists(
    st.builds(lambda word, values: " ".join([word, *values]), word_text, st.lists(number_text, max_size=4)), max_size=5
).map("\n".join)


@fuzz()
@given(header=st.one_of(st.none(), st.tuples(number_text, number_text).map(" ".join)), body=built_lines,
       format=st.sampled_from(FORMATS))  # fmt: skip
@example(header="99999999999999 300", body="cat 0.1", format="auto")
@example(header="1 ٣", body="cat 0.1 0.2 0.3", format="auto")
def test_built_text_files(tmp_path_factory, header, body, format):
    content = ((header + "\n") if header is not None else "") + body
    path = _write(tmp_path_factory, "built.txt", content.encode("utf-8", errors="surrogatepass"))
    result = refuses("embedding file (built from fuzzed header and lines)", read_embeddings, path, format=format,
                     names=path, error=ConfigError, may_accept=True)  # fmt: skip
    if not isinstance(result, ConfigError):
        check_vectors(result, path)


@fuzz(scale=0.5)
@given(content=st.binary(max_size=256), format=st.sampled_from(FORMATS))
def test_random_bytes(tmp_path_factory, content, format):
    path = _write(tmp_path_factory, "random.vec", content)
    result = refuses("embedding file (random bytes)", read_embeddings, path, format=format, names=path, error=ConfigError, may_accept=True)
    if not isinstance(result, ConfigError):
        check_vectors(result, path)


# --------------------------------------------------------------------------------------------------
# gensim native .kv files (pickles) as written by `layerprobe wordvec`


@pytest.fixture(scope="module")
def kv_bytes(tmp_path_factory):
    from gensim.models import KeyedVectors

    vectors = KeyedVectors(vector_size=3)
    vectors.add_vectors(WORDS, np.random.default_rng(0).standard_normal((len(WORDS), 3)).astype(np.float32))
    path = tmp_path_factory.mktemp("kv") / "T1.kv"
    vectors.save(str(path))
    return path.read_bytes()


@fuzz()
@given(data=st.data())
def test_damaged_kv_files(kv_bytes, tmp_path_factory, data):
    content = data.draw(st.one_of(mutated_bytes(kv_bytes, protect=2), st.binary(max_size=64)))
    path = _write(tmp_path_factory, "T1.kv", content)
    result = refuses("word-vector file, gensim .kv (damaged pickle)", read_word_vectors, path, names=path, error=ConfigError, may_accept=True)
    if not isinstance(result, ConfigError):
        check_vectors(result, path)


# --------------------------------------------------------------------------------------------------
# the files `layerprobe wordvec` writes (<LAYER>.kv and its <LAYER>.json sidecar), read back by wordsim


@pytest.fixture(scope="module")
def word_store(tmp_path_factory):
    """A tiny word store at its canonical path, and the wordvec files of its layer T1 (bytes)."""
    from layerprobe.experiments.wordvec import run_wordvec, word_store_path
    from layerprobe.io.store import FeatureStore

    features = tmp_path_factory.mktemp("word-features")
    path = word_store_path(features, "tiny:wav2vec2", "mini", "train", 1)
    path.parent.mkdir(parents=True)
    attrs = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "word", "frame_rate_hz": 50.0}
    rng = np.random.default_rng(0)
    writer = FeatureStore.create(path, attrs=attrs, layer_dims={"T1": 3})
    for i in range(3):
        writer.append(f"utt-{i}", {"T1": rng.standard_normal((len(WORDS), 3)).astype(np.float32)},
                      segments=[(word, 0.2 * j, 0.2 * j + 0.1) for j, word in enumerate(WORDS)])  # fmt: skip
    writer.finish()
    folder = features / "wordvec-files"
    run_wordvec(features=features, model="tiny:wav2vec2", corpus="mini", split="train", layers="T1", out=folder, progress=False)
    return path, (folder / "T1.kv").read_bytes(), (folder / "T1.json").read_text()


@fuzz(scale=0.5)
@given(data=st.data(), which=st.sampled_from(["sidecar", "vectors", "both"]))
def test_damaged_wordvec_files(word_store, tmp_path_factory, data, which):
    import json

    from layerprobe.experiments.wordvec import cached_word_vectors
    from layerprobe.io.store import FeatureStore
    from support.fuzz import dump_json, json_mutation

    path, kv, sidecar = word_store
    folder = tmp_path_factory.mktemp("wordvec")
    if which in ("sidecar", "both"):
        sidecar = data.draw(st.one_of(st.builds(dump_json, json_mutation(json.loads(sidecar))), mutated_lines(sidecar)))
    if which in ("vectors", "both"):
        kv = data.draw(mutated_bytes(kv, protect=2))
    (folder / "T1.json").write_text(sidecar, encoding="utf-8", errors="surrogatepass")
    (folder / "T1.kv").write_bytes(kv)
    with FeatureStore.open(path) as store:
        result = refuses("word-vector files of `layerprobe wordvec` (.kv + .json sidecar)", cached_word_vectors, store, "T1",
                         folder, error=ConfigError, may_accept=True)  # fmt: skip
    if not isinstance(result, ConfigError):
        vectors, source = result
        check_vectors(vectors, folder)
        assert vectors.vector_size == 3 and set(vectors.index_to_key) <= set(WORDS)
