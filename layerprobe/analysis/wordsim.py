"""Word similarity of word vectors: benchmarks and Spearman scores (the experiment is in :mod:`layerprobe.experiments.wordsim`).

REFERENCE.md section 5.  For each benchmark (a list of word pairs with human similarity scores),
the score of a set of word vectors is the Spearman correlation (average ranks for ties,
:func:`scipy.stats.spearmanr`) between the cosine similarity of each pair's vectors and the human
score, over the pairs whose two words both have vectors.  A word is looked up by its spelling, then
lower-cased (:func:`~layerprobe.analysis.embeddings.lookup_table`).  Over benchmarks, *micro* is the
mean weighted by the pairs used, *macro* the plain mean.  The pairs used and skipped are reported
per benchmark.

Benchmarks
----------
``wordsim353`` (WordSim-353, 353 pairs) and ``simlex999`` (SimLex-999, 999 pairs) are read from
gensim's bundled test data.  Any other benchmark is a text file (UTF-8) of ``word1 word2 score``
lines (:func:`parse_benchmark`): fields separated by a tab, else a comma, else spaces (decided per
line); blank lines and lines starting with ``#`` are ignored; a first line without any number is a
header and skipped.  A file's benchmark is named after the file (``my_pairs.tsv`` -> ``my_pairs``).

The experiment over a model's layers (experiment ``wordsim``: metrics ``spearman_micro``,
``spearman_macro`` and ``spearman:<benchmark>``) is :mod:`layerprobe.experiments.wordsim`.

Example
-------
>>> from layerprobe.analysis.wordsim import read_benchmark, wordsim_scores   # doctest: +SKIP
>>> result = wordsim_scores(vectors, {"simlex999": read_benchmark("simlex999")})  # doctest: +SKIP
>>> result.per_benchmark["simlex999"], result.used["simlex999"]              # doctest: +SKIP
(0.31, 712)
"""

from __future__ import annotations

import hashlib
import logging
import math
import numbers
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from layerprobe.analysis.embeddings import lookup_table
from layerprobe.errors import ConfigError

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
Pair = tuple[str, str, float]

#: Benchmarks bundled with gensim's test data: name -> file in ``gensim.test.utils.datapath``.
BUNDLED: dict[str, str] = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
#: The benchmarks scored when none is named.
DEFAULT_BENCHMARKS: tuple[str, ...] = ("wordsim353", "simlex999")
#: The experiment name and metric names of the result rows.
EXPERIMENT = "wordsim"
METRIC_MICRO, METRIC_MACRO, METRIC_PREFIX = "spearman_micro", "spearman_macro", "spearman:"

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


# --------------------------------------------------------------------------------------------------
# Benchmarks


def parse_benchmark(lines: Iterable[str], *, source: PathLike | None = None) -> list[Pair]:
    """Parse the lines of a word-pair benchmark.

    Parameters
    ----------
    lines : iterable of str
        The file's lines (with or without line ends).  Each data line is ``word1 word2 score``:
        split on tabs when the line has one, else on commas when it has one, else on runs of
        spaces; fields are stripped of surrounding spaces.  Blank lines and lines whose first
        non-space character is ``#`` are ignored.  The first other line is a header, and skipped,
        when none of its fields is a number.
    source : path-like, optional, keyword-only
        Named in error messages.

    Returns
    -------
    list of (str, str, float)
        The pairs in file order (repeats kept).

    Raises
    ------
    ConfigError
        One line naming ``source`` and the line number: a line without exactly 3 fields, an empty
        word, a score that is not a number (``nan`` and ``inf`` are not); or no pair at all.

    Examples
    --------
    >>> parse_benchmark(["# comment", "Word 1,Word 2,Human (mean)", "tiger,cat,7.35", "book\\tpaper\\t7.46"])
    [('tiger', 'cat', 7.35), ('book', 'paper', 7.46)]
    """
    pairs: list[Pair] = []
    seen_content = False
    for number, raw in enumerate(lines, start=1):
        text = raw.lstrip("\ufeff") if number == 1 else raw
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        fields, separator = _split(text)
        if not seen_content:
            seen_content = True
            if not any(_NUMBER.match(item) for item in fields):
                continue  # a header
        where = f"line {number}"
        if len(fields) != 3:
            raise ConfigError(
                f"expected 3 fields (word1, word2, score) separated by {separator}, found {len(fields)}", path=source, where=where
            )
        first, second, score = fields
        for position, word in ((1, first), (2, second)):
            if not word:
                raise ConfigError(f"word {position} is empty", path=source, where=where)
        if not _NUMBER.match(score):
            raise ConfigError(f"the score {score[:40]!r} is not a number", path=source, where=where)
        if not math.isfinite(float(score)):  # 1e999 matches the pattern but reads as inf
            raise ConfigError(f"the score {score[:40]!r} is too large for a number", path=source, where=where)
        pairs.append((first, second, float(score)))
    if not pairs:
        raise ConfigError("holds no word pairs (expected lines of 'word1 word2 score')", path=source)
    return pairs


def _split(text: str) -> tuple[list[str], str]:
    """A stripped line's fields and the name of the separator used."""
    if "\t" in text:
        return [item.strip() for item in text.split("\t")], "tabs"
    if "," in text:
        return [item.strip() for item in text.split(",")], "commas"
    return text.split(), "spaces"


def bundled_path(name: str) -> Path:
    """The file of a bundled benchmark (``wordsim353``, ``simlex999``) in gensim's test data."""
    from gensim.test.utils import datapath

    if name not in BUNDLED:
        raise ConfigError(f"unknown bundled benchmark {name!r} (bundled: {', '.join(BUNDLED)})")
    return Path(datapath(BUNDLED[name]))


def benchmark_source(path_or_name: PathLike) -> tuple[str, Path]:
    """A benchmark's name and file: a bundled name (case-insensitive) wins over a file of that name.

    Returns
    -------
    name : str
        The bundled name, or the file's stem (``pairs/my.tsv`` -> ``my``).
    path : Path
    """
    text = os.fspath(path_or_name)
    if text.strip().lower() in BUNDLED:
        name = text.strip().lower()
        return name, bundled_path(name)
    path = Path(text)
    name = path.stem if path.suffix else path.name
    if not name:
        raise ConfigError(f"{text!r} does not name a benchmark file")
    return name, path


def read_benchmark(path_or_name: PathLike) -> list[Pair]:
    """Read a benchmark: ``"wordsim353"``, ``"simlex999"``, or a file of ``word1 word2 score`` lines.

    Parameters
    ----------
    path_or_name : path-like
        A bundled name (see :data:`BUNDLED`) or a file (format: :func:`parse_benchmark`).

    Returns
    -------
    list of (str, str, float)
        The pairs, e.g. 353 for ``wordsim353`` and 999 for ``simlex999``.

    Raises
    ------
    ConfigError
        A missing or unreadable file (not UTF-8, a folder), or one :func:`parse_benchmark`
        rejects; the message is one line and names the file.
    """
    name, path = benchmark_source(path_or_name)
    if not os.path.exists(path):  # os.path: False (not OSError) for a name too long for the file system
        known = ", ".join(BUNDLED)
        raise ConfigError(f"no such benchmark file (the bundled benchmarks are {known})", path=path)
    if not os.path.isfile(path):
        raise ConfigError("is not a file (expected a benchmark of 'word1 word2 score' lines)", path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"is not UTF-8 text (byte {exc.start})", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read ({exc.strerror or exc})", path=path) from None
    return parse_benchmark(text.splitlines(), source=path)


@dataclass(frozen=True)
class Benchmark:
    """A benchmark read from a file: its name, pairs and where they came from.

    Attributes
    ----------
    name : str
    pairs : list of (str, str, float)
    path : Path
    sha256 : str
        Of the file's bytes (provenance).
    """

    name: str
    pairs: list[Pair]
    path: Path
    sha256: str


def load_benchmarks(specs: Iterable[PathLike]) -> dict[str, Benchmark]:
    """Read several benchmarks (bundled names or files), keyed by name in the order given.

    Raises
    ------
    ConfigError
        For a benchmark :func:`read_benchmark` rejects, none at all, or two with the same name
        (two files with the same stem, or a name given twice).
    """
    loaded: dict[str, Benchmark] = {}
    for spec in specs:
        name, path = benchmark_source(spec)
        if name in loaded:
            raise ConfigError(f"two benchmarks are named {name!r} ({loaded[name].path} and {path}); rename one file")
        pairs = read_benchmark(spec)
        loaded[name] = Benchmark(name, pairs, path, hashlib.sha256(path.read_bytes()).hexdigest())
    if not loaded:
        raise ConfigError("no benchmark given")
    return loaded


# --------------------------------------------------------------------------------------------------
# Scores


@dataclass(frozen=True)
class WordSimResult:
    """Spearman correlations of cosine similarity with human scores, per benchmark and averaged.

    Attributes
    ----------
    per_benchmark : dict of str to float
        Benchmark -> Spearman's rho, NaN where it is undefined (see ``unscored``).
    used : dict of str to int
        Benchmark -> pairs whose two words have (non-zero) vectors.
    skipped : dict of str to int
        Benchmark -> the other pairs.
    unscored : dict of str to str
        Benchmark -> why it has no correlation: fewer than 2 pairs used, or equal human scores or
        equal cosines over the pairs used.  Empty when every benchmark is scored.
    micro : float
        Mean of the defined correlations weighted by the pairs used (NaN when none is defined).
    macro : float
        Plain mean of the defined correlations (NaN when none is defined).
    """

    per_benchmark: dict[str, float]
    used: dict[str, int]
    skipped: dict[str, int]
    unscored: dict[str, str] = field(default_factory=dict)
    micro: float = math.nan
    macro: float = math.nan

    @property
    def scored(self) -> list[str]:
        """The benchmarks with a correlation, in order."""
        return [name for name in self.per_benchmark if name not in self.unscored]


def wordsim_scores(
    vectors: "Mapping[str, Any] | KeyedVectors", benchmarks: Mapping[str, Iterable[tuple[str, str, float]]]
) -> WordSimResult:
    """Score word vectors on word-similarity benchmarks (REFERENCE.md section 5).

    Parameters
    ----------
    vectors : mapping of str to array-like, or gensim.models.KeyedVectors
        Word -> vector, shape (dim,), the same dim for every word looked up.  A benchmark word is
        found by its spelling, else lower-cased.
    benchmarks : mapping of str to iterable of (str, str, float)
        Benchmark name -> its pairs (word1, word2, human score).

    Returns
    -------
    WordSimResult
        Per benchmark: Spearman's rho (average ranks for ties) between the pairs' cosine similarity
        and their human score, over the pairs whose two words have vectors; pairs with a missing
        word or a zero vector are skipped and counted.  Micro and macro averages over the
        benchmarks with a correlation.

    Raises
    ------
    ConfigError
        No benchmark; a benchmark entry that is not (word, word, finite number); vectors of
        unequal dims, not 1-d, or with NaN or infinite values (the words are named).

    Examples
    --------
    >>> vectors = {"a": [1.0, 0.0], "b": [1.0, 1.0], "c": [-1.0, 1.0]}
    >>> result = wordsim_scores(vectors, {"toy": [("a", "b", 8.0), ("a", "c", 1.0), ("b", "c", 5.0), ("a", "z", 3.0)]})
    >>> result.per_benchmark["toy"], result.used["toy"], result.skipped["toy"]
    (1.0, 3, 1)
    """
    from scipy.stats import spearmanr

    if not isinstance(benchmarks, Mapping) or not benchmarks:
        raise ConfigError("no benchmark given (benchmarks must map a name to its word pairs)")
    checked = {str(name): _checked_pairs(name, pairs) for name, pairs in benchmarks.items()}
    words = [word for pairs in checked.values() for first, second, _ in pairs for word in (first, second)]
    table = lookup_table(vectors, words)
    unit = _unit_vectors(table)
    per_benchmark, used, skipped, unscored = {}, {}, {}, {}
    for name, pairs in checked.items():
        kept = [(unit[a], unit[b], score) for a, b, score in pairs if unit.get(a) is not None and unit.get(b) is not None]
        used[name], skipped[name] = len(kept), len(pairs) - len(kept)
        cosines = np.array([float(np.dot(x, y)) for x, y, _ in kept])
        human = np.array([score for _, _, score in kept], dtype=np.float64)
        reason = None
        if len(kept) < 2:
            reason = f"{len(kept)} of its {len(pairs)} pairs have vectors for both words, fewer than the 2 a correlation needs"
        elif np.all(human == human[0]):
            reason = f"the human scores of its {len(kept)} pairs with vectors are all equal"
        elif np.all(cosines == cosines[0]):
            reason = f"the cosines of its {len(kept)} pairs with vectors are all equal"
        if reason is not None:
            per_benchmark[name], unscored[name] = math.nan, reason
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rho = float(spearmanr(cosines, human).statistic)
        per_benchmark[name] = rho
    scored = [name for name in checked if name not in unscored]
    micro = macro = math.nan
    if scored:
        weights = np.array([used[name] for name in scored], dtype=np.float64)
        values = np.array([per_benchmark[name] for name in scored])
        micro, macro = float(np.dot(weights, values) / weights.sum()), float(values.mean())
    return WordSimResult(per_benchmark, used, skipped, unscored, micro, macro)


def _checked_pairs(name: Any, pairs: Any) -> list[Pair]:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a benchmark name must be a non-empty string, got {name!r}")
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise ConfigError(f"benchmark {name!r}: expected an iterable of (word1, word2, score), got {type(pairs).__name__}")
    checked = []
    for number, entry in enumerate(pairs, start=1):
        if isinstance(entry, (str, bytes)) or not isinstance(entry, Sequence) or len(entry) != 3:
            raise ConfigError(f"benchmark {name!r}: entry {number} is {entry!r}, not (word1, word2, score)")
        first, second, score = entry
        if not isinstance(first, str) or not isinstance(second, str) or not first or not second:
            raise ConfigError(f"benchmark {name!r}: entry {number} has words {first!r}, {second!r}; words are non-empty strings")
        if isinstance(score, bool) or not isinstance(score, numbers.Real) or not math.isfinite(float(score)):
            raise ConfigError(f"benchmark {name!r}: entry {number} has the score {score!r}; scores are finite numbers")
        checked.append((first, second, float(score)))
    return checked


def _unit_vectors(table: Mapping[str, np.ndarray]) -> dict[str, np.ndarray | None]:
    """Each word's vector divided by its norm (None for a zero vector); checks shapes and values."""
    unit: dict[str, np.ndarray | None] = {}
    dim_of: dict[int, str] = {}
    for word, vector in table.items():
        if vector.ndim != 1 or vector.size == 0:
            raise ConfigError(f"the vector of {word!r} has shape {vector.shape}; word vectors are 1-d")
        dim_of.setdefault(vector.size, word)
        if len(dim_of) > 1:
            (d1, w1), (d2, w2) = list(dim_of.items())[:2]
            raise ConfigError(f"word vectors of different dims: {w1!r} has {d1}, {w2!r} has {d2}")
        if not np.isfinite(vector).all():
            raise ConfigError(f"the vector of {word!r} has NaN or infinite values")
        norm = float(np.linalg.norm(vector))
        unit[word] = vector / norm if norm > 0 else None
    return unit


__all__ = [
    "BUNDLED",
    "DEFAULT_BENCHMARKS",
    "EXPERIMENT",
    "METRIC_MACRO",
    "METRIC_MICRO",
    "METRIC_PREFIX",
    "Benchmark",
    "WordSimResult",
    "benchmark_source",
    "bundled_path",
    "load_benchmarks",
    "parse_benchmark",
    "read_benchmark",
    "wordsim_scores",
]
