"""Word-embedding files (word2vec text or binary, GloVe text) and word -> vector look-up.

The ``cca_agwe`` and ``cca_glove`` experiments (REFERENCE.md section 3) pair word-pooled features
with each word's vector from an embedding file.  :func:`read_embeddings` reads the three common
formats with gensim, deciding the format from the file's first bytes when asked to:

* word2vec text: a header line ``"<count> <dim>"``, then one ``word v1 ... vdim`` line per word;
* word2vec binary: the same header, then ``word`` + space + ``dim`` little-endian float32 values;
* GloVe text: no header, one ``word v1 ... vdim`` line per word.

Words are kept as the file spells them; :func:`lookup_table` finds a word by its exact spelling,
then by its lower-case form (word labels of the stores are lower-cased, some files are not).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np

from layerprobe.errors import ConfigError

if TYPE_CHECKING:  # gensim is imported only when a file is read (it takes a second to import)
    from gensim.models import KeyedVectors

PathLike = str | os.PathLike

#: The ``format`` values :func:`read_embeddings` accepts.
FORMATS = ("auto", "word2vec", "word2vec-binary", "glove")

# Longest first line read when sniffing the format (a 300-d text line is about 3 KB).
_SNIFF_BYTES = 1 << 20


def read_embeddings(path: PathLike, *, format: str = "auto") -> "KeyedVectors":
    """Read a word-embedding file.

    Parameters
    ----------
    path : path-like
        A word2vec text or binary file, or a GloVe text file.
    format : {"auto", "word2vec", "word2vec-binary", "glove"}, keyword-only
        ``"auto"`` decides from the first bytes: a first line of two integers is a word2vec header,
        and the file is text when the next line reads as a word and ``dim`` numbers, binary
        otherwise; without such a header the file is GloVe text.  A format given explicitly must
        agree with that reading (gensim would read text as binary into garbage without a word).

    Returns
    -------
    gensim.models.KeyedVectors
        ``n`` words (as spelled in the file) and their vectors, shape (n, dim), float32.

    Raises
    ------
    ConfigError
        An unknown ``format`` or one the file's first bytes contradict; a missing, empty or
        unreadable file; a file whose format is none of the three; lines with a dim other than the
        first's; a header count the file does not hold; non-finite values.  The message is one
        line and names the file.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown embedding format {format!r} (known: {', '.join(FORMATS)})")
    path = Path(path)
    if not path.exists():
        raise ConfigError("no such embedding file", path=path)
    if not path.is_file():
        raise ConfigError("is not a file (expected a word2vec or GloVe embedding file)", path=path)
    chosen = _sniff(path)
    if format not in ("auto", chosen):
        # gensim reads a text file as binary (or the reverse) without complaint, into garbage vectors
        raise ConfigError(f"looks like a {chosen} file, not {format}; pass format={chosen!r} or 'auto'", path=path)
    from gensim.models import KeyedVectors

    try:
        vectors = KeyedVectors.load_word2vec_format(
            os.fspath(path), binary=chosen == "word2vec-binary", no_header=chosen == "glove", unicode_errors="replace"
        )
    except (ValueError, TypeError, EOFError, IndexError, UnicodeError) as exc:
        raise ConfigError(_diagnose(path, chosen, exc), path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read ({exc})", path=path) from None
    if len(vectors) == 0 or vectors.vector_size < 1:
        raise ConfigError(f"holds no vectors (read as {chosen})", path=path)
    finite = np.isfinite(vectors.vectors).all(axis=1)
    if not finite.all():
        word = vectors.index_to_key[int(np.flatnonzero(~finite)[0])]
        raise ConfigError(f"the vector of {word!r} has NaN or infinite values", path=path)
    return vectors


def lookup_table(vectors: "Mapping[str, Any] | KeyedVectors", words: Iterable[str]) -> dict[str, np.ndarray]:
    """Each word's vector: by its exact spelling, else by its lower-case form.

    Parameters
    ----------
    vectors : mapping of str to array-like, or gensim.models.KeyedVectors
        Word -> 1-d vector.
    words : iterable of str
        The words wanted (repeats are looked up once).

    Returns
    -------
    dict of str to numpy.ndarray
        Word (as given in ``words``) -> its vector, shape (dim,), float64 (a copy); words found in
        neither spelling are left out.  Keys keep the order of their first occurrence in ``words``.
    """
    table: dict[str, np.ndarray] = {}
    for word in dict.fromkeys(words):
        for key in (word, word.lower()):
            if key in vectors:
                table[word] = np.array(vectors[key], dtype=np.float64)
                break
    return table


# --------------------------------------------------------------------------------------------------
# Format detection and error messages


def _sniff(path: Path) -> str:
    """The format of an embedding file from its first two lines (see :func:`read_embeddings`)."""
    with open(path, "rb") as file:
        first = file.readline(_SNIFF_BYTES)
        second = file.readline(_SNIFF_BYTES)
    if not first.strip():
        raise ConfigError("is empty (expected a word2vec or GloVe embedding file)", path=path)
    header = _header(first)
    if header is None:
        if _vector_line(first, None) is None:
            raise ConfigError(
                "is not a word2vec or GloVe file: its first line is neither a '<count> <dim>' header "
                "nor a word followed by numbers",
                path=path,
            )
        return "glove"
    count, dim = header
    if count == 0:
        raise ConfigError("holds no vectors (its header says 0)", path=path)
    if not second:
        return "word2vec"  # reading it reports the missing vectors
    return "word2vec" if _vector_line(second, dim) is not None else "word2vec-binary"


def _header(line: bytes) -> tuple[int, int] | None:
    """``(count, dim)`` when a line is a word2vec header of two non-negative integers."""
    try:
        parts = line.decode("utf-8").split()
    except UnicodeDecodeError:
        return None
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        return None
    return int(parts[0]), int(parts[1])


def _vector_line(line: bytes, dim: int | None) -> int | None:
    """The dim of a text line ``word v1 ... vdim`` (None when it is not one, or not of ``dim``)."""
    try:
        parts = line.decode("utf-8").split()
        values = [float(part) for part in parts[1:]]
    except (UnicodeDecodeError, ValueError):
        return None
    if not values or (dim is not None and len(values) != dim):
        return None
    return len(values)


def _diagnose(path: Path, chosen: str, exc: BaseException) -> str:
    """A one-line reason why gensim could not read a file (its own messages name neither line nor file)."""
    if chosen != "word2vec-binary":
        found = _first_bad_text_line(path, header=chosen == "word2vec")
        if found is not None:
            return f"cannot be read as {chosen}: {found}"
    if isinstance(exc, EOFError):
        return f"cannot be read as {chosen}: the file ends before the vector count its header announces"
    return f"cannot be read as {chosen} ({type(exc).__name__}: {exc})"


def _first_bad_text_line(path: Path, *, header: bool) -> str | None:
    """Where a text embedding file breaks: a line of another dim, a value that is not a number, too few lines."""
    dim = count = None
    n_vectors = 0
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            if number == 1 and header:
                parsed = _header(line)
                if parsed is None:
                    return "line 1 is not a '<count> <dim>' header"
                count, dim = parsed
                continue
            if not line.strip():
                continue
            try:
                parts = line.decode("utf-8", errors="replace").split()
                values = [float(part) for part in parts[1:]]
            except ValueError:
                return f"line {number} has a value that is not a number"
            if dim is None:
                dim = len(values)
            if len(values) != dim:
                return f"line {number} has {len(values)} values, expected {dim} like the first vector"
            n_vectors += 1
    if count is not None and n_vectors < count:
        return f"its header announces {count} vectors but it holds {n_vectors}"
    return None


__all__ = ["FORMATS", "read_embeddings", "lookup_table"]
