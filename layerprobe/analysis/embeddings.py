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

import itertools
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
        and the file is text when the next line reads as a word and ``dim`` numbers, binary when
        ``count`` records of a word, a space and ``dim`` float32 fill the rest of the file (or it is
        not UTF-8 text), text otherwise (its malformed line is then reported); without such a header
        the file is GloVe text.  A format given explicitly must agree with that reading (gensim
        would read text as binary into garbage without a word).

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
    _check_layout(path, chosen)
    from gensim.models import KeyedVectors

    try:
        vectors = KeyedVectors.load_word2vec_format(
            os.fspath(path), binary=chosen == "word2vec-binary", no_header=chosen == "glove", unicode_errors="replace"
        )
    except (ValueError, TypeError, EOFError, IndexError, UnicodeError) as exc:
        raise ConfigError(_diagnose(path, chosen, exc), path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read ({exc})", path=path) from None
    if any(key is None for key in vectors.index_to_key):
        vectors = _drop_empty_slots(vectors)
    if len(vectors) == 0 or vectors.vector_size < 1:
        raise ConfigError(f"holds no vectors (read as {chosen})", path=path)
    finite = np.isfinite(vectors.vectors).all(axis=1)
    if not finite.all():
        word = vectors.index_to_key[int(np.flatnonzero(~finite)[0])]
        raise ConfigError(f"the vector of {word!r} has NaN or infinite values", path=path)
    return vectors


def _drop_empty_slots(vectors: "KeyedVectors") -> "KeyedVectors":
    """The vectors without the ``None`` keys gensim leaves for a repeated word (it keeps the first)."""
    from gensim.models import KeyedVectors

    rows = [row for row, key in enumerate(vectors.index_to_key) if key is not None]
    kept = KeyedVectors(vectors.vector_size, dtype=vectors.vectors.dtype)
    kept.add_vectors([vectors.index_to_key[row] for row in rows], vectors.vectors[rows])
    return kept


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
        after_header = file.read(_SNIFF_BYTES)
    second = after_header.split(b"\n", 1)[0]
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
    if _vector_line(second, dim) is not None:
        return "word2vec"
    if _binary_layout_fits(path, len(first), count, dim) or not _is_text(after_header):
        return "word2vec-binary"
    return "word2vec"  # a text file with a bad second line is still text: reading it names the line


#: The longest word the binary layout check looks for (bytes before the space).
_MAX_WORD_BYTES = 1 << 12


def _binary_layout_fits(path: Path, header_bytes: int, count: int, dim: int) -> bool:
    """Whether ``count`` binary records (word, space, ``dim`` float32) fill the file after the header exactly.

    gensim reads text as binary without complaint (into garbage), so a header followed by something
    else must be told apart from real binary records: their walk ends at the end of the file.
    """
    import mmap

    size = path.stat().st_size
    if size <= header_bytes or count * (dim * 4 + 2) > size - header_bytes:
        return False
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        position = header_bytes
        for _ in range(count):
            while position < size and data[position] == 0x0A:  # gensim strips newlines before a word
                position += 1
            space = data.find(b" ", position, position + _MAX_WORD_BYTES)
            if space <= position:  # no word, or no space within reach
                return False
            position = space + 1 + dim * 4
            if position > size:
                return False
        return not data[position:size].strip()


def _is_text(chunk: bytes) -> bool:
    """Whether bytes read as UTF-8 text without NULs (float32 vectors almost never do)."""
    for cut in range(4):  # the chunk may end inside a multi-byte character
        try:
            text = chunk[: len(chunk) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return "\x00" not in text
    return False


def _header(line: bytes) -> tuple[int, int] | None:
    """``(count, dim)`` when a line is a word2vec header of two non-negative integers."""
    try:
        parts = line.decode("utf-8").split()
    except UnicodeDecodeError:
        return None
    # ASCII digits only: '²'.isdigit() is True but int('²') fails; 18 digits keep int() and sizes sane
    if len(parts) != 2 or not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in parts):
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


def _check_layout(path: Path, chosen: str) -> None:
    """Refuse a file whose lines or size cannot hold the vectors it announces, before gensim reads it.

    gensim allocates ``count x dim`` values from the header before reading (a header of ``10^12 300``
    is a MemoryError), and fills a text line of one value into every dimension of its vector by
    broadcasting; both are caught here, in one pass that counts fields (gensim's own split: single
    spaces of the right-stripped line) without parsing numbers.
    """
    with open(path, "rb") as file:
        first = file.readline()
        header = _header(first) if chosen != "glove" else None
        if chosen == "word2vec-binary":
            count, dim = header
            needed = count * (dim * 4 + 2)  # each vector: a word of 1+ bytes, a space, dim float32
            available = path.stat().st_size - len(first)
            if needed > available:
                raise ConfigError(
                    f"cannot be read as word2vec-binary: its header announces {count} vectors of {dim} values "
                    f"({needed} bytes at least) but the file holds {available} bytes after the header",
                    path=path,
                )
            return
        lines = [first] if header is None else []
        dim = header[1] if header is not None else None
        n_vectors = 0
        for number, line in enumerate(itertools.chain(lines, file), start=1 if header is None else 2):
            stripped = line.rstrip()
            if not stripped:
                continue
            n_values = stripped.count(b" ")
            if dim is None:
                dim = n_values
            if n_values != dim:
                like = "its header says" if header is not None else "the first vector"
                raise ConfigError(f"cannot be read as {chosen}: line {number} has {n_values} values, expected {dim} like {like}", path=path)
            n_vectors += 1
            if header is not None and n_vectors == header[0]:
                return  # gensim reads the announced vectors and ignores the rest
    if header is not None and n_vectors < header[0]:
        raise ConfigError(f"cannot be read as {chosen}: its header announces {header[0]} vectors but it holds {n_vectors}", path=path)


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
