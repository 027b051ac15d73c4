"""Word-attribute oracles (QVEC; Tsvetkov et al. 2015, 2016): one probability vector per word.

An :class:`AttributeOracle` maps a word to a distribution over named linguistic features; the
``cca_semantic`` and ``cca_syntactic`` experiments pair word instances with these vectors.

Sources
-------
* :func:`read_qvec_oracle` reads QVEC's oracle files (``oracles/semcor_noun_verb.supersenses``,
  ``oracles/ptb.pos_tags``): one ``word<TAB>{"feature": prob, ...}`` line per word, the dictionary
  in JSON as QVEC's ``qvec_cca.py`` reads it.  Features are numbered in order of first appearance.
* :func:`build_supersense_oracle` builds the semantic oracle from WordNet 3.0 as Debian's
  ``wordnet-base`` and ``wordnet-sense-index`` install it (``/usr/share/wordnet``).  ``index.sense``
  gives, per sense key ``lemma%ss_type:lex_filenum:lex_id:head_word:head_id``, the SemCor tag count;
  the lexicographer file number of noun (``ss_type`` 1) and verb (2) senses is one of the 41
  supersenses (:data:`SUPERSENSES`: 26 ``noun.*``, 15 ``verb.*``).  A lemma's vector is its tag
  counts summed per supersense and normalised.  Lemmas whose senses all have count 0 (never tagged
  in SemCor) are left out by default, as QVEC's SemCor oracle has only tagged words;
  ``untagged="uniform"`` keeps them with each of their senses counted once.  A word that is not a
  lemma is looked up through WordNet's morphology (morphy): the exception lists ``noun.exc`` and
  ``verb.exc`` and the detachment rules (``books`` -> ``book``, ``went`` -> ``go``); the counts of
  all base forms found are summed.
* :func:`build_pos_oracle` builds the syntactic oracle from a file of per-word POS counts in the
  format of ``words.yml`` of Debian's ``liblingua-en-tagger-perl`` (GPL-3; it is read from the
  user's system at run time, nothing of it is part of layerprobe).  Forms are lower-cased, a form
  made only of ASCII digits becomes ``0`` (as QVEC's ``ptb_matrix.py`` does), counts of forms that
  fall together are summed and normalised.  The tagger's tag names are mapped to the Penn Treebank's
  (:data:`LINGUA_TO_PTB`: ``det`` -> ``DT``, ``prps`` -> ``PRP$``, ``wps`` -> ``WP$``, ``pp`` -> ``.``,
  ``ppc`` -> ``,``, ``ppd`` -> ``$``, ``ppl`` -> ````` ``, ``ppr`` -> ``''``, ``pps`` -> ``:``,
  ``lrb`` -> ``-LRB-``, ``rrb`` -> ``-RRB-``; every other tag upper-cased).

How close the built oracles are to QVEC's
-----------------------------------------
Measured on Debian 12's packages (WordNet 3.0, Lingua::EN::Tagger 0.31-3) against QVEC's files
(``oracles/semcor_noun_verb.supersenses.en``, ``oracles/ptb.pos_tags``):

* supersenses: ``index.sense`` has 206,941 senses, 35,478 of them with a SemCor count > 0; the
  built oracle has 15,300 noun/verb lemmas (125,231 with ``untagged="uniform"``), all 41
  supersenses occur.  It covers 4,145 of QVEC's 4,199 words (98.7%); on those the most probable
  supersense agrees for 81.9% of words, the median cosine between the two vectors is 0.997 (mean
  0.878), the mean total-variation distance 0.18.  QVEC counted the SemCor corpus by lower-cased
  word form (``ages``, ``affairs`` have rows of their own); WordNet's tag counts (SemCor and the
  sense-tagged Brown texts) are per lemma, and forms go through morphy here, which also maps some
  function words onto rare noun lemmas (``as`` -> ``a``, ``noun.quantity``; QVEC's file has ``a``
  too).  QVEC prefixes features with ``semcor.``; here they are the bare lexicographer file names.
* POS: QVEC counted the Penn Treebank (45 tags, named ``ptb.<tag in lower case>``, 10,865 forms);
  the tagger's lexicon was counted on the Penn Treebank too: 38,381 lower-cased forms, 44 tags (all
  but ``#``).  It covers 10,474 of QVEC's forms (96.4%); on those the most probable tag agrees for
  98.3%, the mean total-variation distance is 0.016 (median 0).  The lexicon has no all-digit forms
  (the tagger tags numbers by rule), so ``0`` (QVEC: ``CD`` 0.998) is not a key.  Restrict a
  matrix to the tags you want with :meth:`AttributeOracle.matrix`'s ``features``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from layerprobe.errors import OracleError, PathLike

#: The 41 WordNet supersenses (lexicographer files 3-43): 26 noun, then 15 verb ones.
SUPERSENSES: tuple[str, ...] = (
    "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
    "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group", "noun.location",
    "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
    "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance",
    "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion", "verb.perception",
    "verb.possession", "verb.social", "verb.stative", "verb.weather",
)
#: Lexicographer file number of the first supersense (``noun.Tops``).
_FIRST_LEXFILE = 3
#: Lexicographer file numbers of noun (ss_type 1) and verb (ss_type 2) senses.
_LEXFILES = {1: range(3, 29), 2: range(29, 44)}

#: Lingua::EN::Tagger tag names that differ from the Penn Treebank's (others are upper-cased).
LINGUA_TO_PTB: dict[str, str] = {
    "det": "DT", "prps": "PRP$", "wps": "WP$", "pp": ".", "ppc": ",", "ppd": "$", "ppl": "``",
    "ppr": "''", "pps": ":", "lrb": "-LRB-", "rrb": "-RRB-",
}
#: Every tag of the tagger's tag set (its README), lower-case as in ``words.yml``.
LINGUA_TAGS: frozenset[str] = frozenset(
    "cc cd det ex fw in jj jjr jjs ls md nn nnp nnps nns pdt pos prp prps rb rbr rbs rp sym to uh vb vbd "
    "vbg vbn vbp vbz wdt wp wps wrb pp ppc ppd ppl ppr pps lrb rrb".split()
)

#: WordNet's detachment rules (morphy), tried in this order.
MORPHY_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "noun": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
             ("men", "man"), ("ies", "y")),
    "verb": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"),
             ("ing", "")),
}
#: Tolerance on the sum of a QVEC line's probabilities.
SUM_TOLERANCE = 0.01


def lower_form(word: str) -> str:
    """The lookup key of a word: lower-cased, spaces as underscores (WordNet's multi-word lemmas)."""
    return "_".join(word.lower().split())


def pos_form(word: str) -> str:
    """The lookup key of a word in a POS oracle: lower-cased, a word of ASCII digits only is ``0``."""
    word = lower_form(word)
    return "0" if word.isascii() and word.isdigit() else word


class AttributeOracle:
    """Words -> probability vectors over named features.

    Parameters
    ----------
    features : sequence of str
        The feature names, in column order.
    table : mapping of str to array, shape (n_features,)
        Per key word its non-negative vector with a positive sum (a distribution for built oracles,
        the file's values for read ones).
    source : str
        Where the oracle came from (a path); error messages name it.
    mass : mapping of str to float, optional
        Per key word the weight of its row when rows are combined (the tag count); 1 when absent.
    normalise : callable, optional
        Maps a query word to its key (default :func:`lower_form`).
    lemmatize : callable, optional
        Further keys for a word (e.g. morphy's base forms); the rows of the word's own key and of
        these, where they are keys, are combined, weighted by ``mass``.
    """

    def __init__(self, features: Sequence[str], table: Mapping[str, np.ndarray], *, source: str,
                 mass: Mapping[str, float] | None = None, normalise: Callable[[str], str] = lower_form,
                 lemmatize: Callable[[str], Iterable[str]] | None = None):
        self.features: tuple[str, ...] = tuple(features)
        self.source = source
        if not table:
            raise OracleError("the oracle has no words", path=source)
        self._table = {word: np.asarray(row, dtype=np.float64) for word, row in table.items()}
        self._mass = dict(mass or {})
        self._normalise = normalise
        self._lemmatize = lemmatize

    @property
    def words(self) -> tuple[str, ...]:
        """The key words (lemmas or forms stored), sorted; inflected forms found by ``lemmatize`` are not listed."""
        return tuple(sorted(self._table))

    def __len__(self) -> int:
        return len(self._table)

    def _keys(self, word: str) -> list[str]:
        key = self._normalise(word)
        keys = {key} if key in self._table else set()
        if self._lemmatize is not None:
            keys.update(base for base in self._lemmatize(key) if base in self._table)
        return sorted(keys)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and bool(self._keys(word))

    def vector(self, word: str) -> np.ndarray:
        """The word's vector, shape (n_features,), float64.

        Raises
        ------
        OracleError
            When neither the word nor (with a lemmatizer) any of its base forms is in the oracle.
        """
        keys = self._keys(word)
        if not keys:
            raise OracleError(f"the word {word!r} is not in the oracle; keep only words for which "
                              "`word in oracle` holds", path=self.source)
        if len(keys) == 1:
            return self._table[keys[0]].copy()
        weights = np.array([self._mass.get(key, 1.0) for key in keys])
        combined = weights @ np.stack([self._table[key] for key in keys])
        return combined / weights.sum()

    def covered(self, words: Iterable[str]) -> list[str]:
        """The words (in their order, repeats kept) that the oracle has a vector for."""
        return [word for word in words if word in self]

    def matrix(self, words: Sequence[str], *, features: Sequence[str] | None = None) -> np.ndarray:
        """The words' vectors as rows, shape (n_words, n_features), float64.

        Parameters
        ----------
        words : sequence of str
            The words, one row each (repeats give repeated rows).
        features : sequence of str, optional
            Columns to keep, in this order (default: :attr:`features`).

        Raises
        ------
        OracleError
            When a word is not in the oracle (the first few are named), or a feature is unknown.
        """
        missing = [word for word in dict.fromkeys(words) if word not in self]
        if missing:
            shown = ", ".join(repr(word) for word in missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise OracleError(f"{len(missing)} word(s) are not in the oracle ({shown}); keep only words "
                              "for which `word in oracle` holds", path=self.source)
        unique = list(dict.fromkeys(words))
        position = {word: index for index, word in enumerate(unique)}
        table = np.stack([self.vector(word) for word in unique]) if unique else np.zeros((0, len(self.features)))
        rows = table[[position[word] for word in words]].reshape(len(words), len(self.features))
        if features is None:
            return rows
        column = {name: index for index, name in enumerate(self.features)}
        unknown = [name for name in features if name not in column]
        if unknown:
            raise OracleError(f"unknown feature(s) {', '.join(map(repr, unknown))}; the oracle has "
                              f"{', '.join(self.features)}", path=self.source)
        return rows[:, [column[name] for name in features]]


# --------------------------------------------------------------------------------------------------
# QVEC files


def parse_qvec_line(line: str) -> tuple[str, dict[str, float]]:
    """One QVEC oracle line, ``word<TAB>{"feature": prob, ...}``, as (word, {feature: prob}).

    Raises
    ------
    ValueError
        With what is wrong (the reader adds the file and the line number).
    """
    word, tab, document = line.strip("\r\n").partition("\t")
    if not tab:
        raise ValueError("expected 'word<TAB>{\"feature\": probability, ...}', found no tab")
    if not word or word != word.strip() or len(word.split()) != 1:
        raise ValueError(f"the word {word!r} is empty or has white space")
    try:
        values = json.loads(document)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"the features are not a JSON object ({exc})") from None
    if not isinstance(values, dict) or not values:
        raise ValueError("the features must be a non-empty JSON object {\"feature\": probability, ...}")
    for name, value in values.items():
        if not name.strip():
            raise ValueError("a feature name is empty")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= 1:
            raise ValueError(f"the probability of {name!r} is {value!r}, not a number in [0, 1]")
    total = math.fsum(values.values())
    if abs(total - 1) > SUM_TOLERANCE:
        raise ValueError(f"the probabilities sum to {total:.6g}, not 1")
    return word, {name: float(value) for name, value in values.items()}


def format_qvec_line(word: str, values: Mapping[str, float]) -> str:
    """The QVEC line (without newline) of a word and its {feature: probability}."""
    return f"{word}\t{json.dumps(dict(values), ensure_ascii=False)}"


def read_qvec_oracle(path: PathLike, *, digits_to_zero: bool = False) -> AttributeOracle:
    """Read a QVEC oracle file.

    Parameters
    ----------
    path : path-like
        The file: ``word<TAB>{"feature": prob, ...}`` per line (UTF-8; blank lines are skipped).
    digits_to_zero : bool
        Look words up as POS oracles do (a word of ASCII digits only is ``0``); keys are always
        looked up lower-cased.

    Raises
    ------
    OracleError
        When the file cannot be read, is empty, has a malformed line or a word twice (after
        lower-casing); the message names the file and the line.
    """
    normalise = pos_form if digits_to_zero else lower_form
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OracleError(f"cannot read the oracle file ({exc}); give a QVEC oracle file", path=path) from None
    features: dict[str, int] = {}
    rows: dict[str, dict[str, float]] = {}
    first_line: dict[str, int] = {}
    # Lines end at newlines only (as QVEC reads them): str.splitlines would also cut at U+2028 etc.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            word, values = parse_qvec_line(line)
        except ValueError as exc:
            raise OracleError(str(exc), path=path, where=f"line {number}") from None
        key = normalise(word)
        if key in rows:
            raise OracleError(f"the word {word!r} was already given on line {first_line[key]}",
                              path=path, where=f"line {number}")
        first_line[key] = number
        rows[key] = values
        for name in values:
            features.setdefault(name, len(features))
    if not rows:
        raise OracleError("the oracle file has no lines; give a QVEC oracle file (word<TAB>{json})", path=path)
    table = {}
    for key, values in rows.items():
        row = np.zeros(len(features))
        for name, value in values.items():
            row[features[name]] = value
        table[key] = row
    return AttributeOracle(tuple(features), table, source=os.fspath(path), normalise=normalise)


def write_qvec_oracle(oracle: AttributeOracle, path: PathLike) -> Path:
    """Write an oracle's key words as a QVEC oracle file (atomically; zero features left out)."""
    from layerprobe.io.atomic import atomic_write

    lines = []
    for word in oracle.words:
        row = oracle.vector(word)
        lines.append(format_qvec_line(word, {name: float(value) for name, value in zip(oracle.features, row)
                                             if value > 0}))
    return atomic_write(path, "".join(line + "\n" for line in lines))


# --------------------------------------------------------------------------------------------------
# WordNet supersenses


def _read_lines(path: Path, package: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="strict").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise OracleError(f"cannot read it ({exc}); install Debian's {package} or give the directory "
                          "that holds WordNet 3.0's dictionary files", path=path) from None


def _read_exceptions(path: Path) -> dict[str, tuple[str, ...]]:
    exceptions: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(_read_lines(path, "wordnet-base"), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise OracleError("expected 'inflected_form base_form ...'", path=path, where=f"line {number}")
        exceptions.setdefault(fields[0].lower(), tuple(field.lower() for field in fields[1:]))
    return exceptions


def _parse_sense_line(line: str) -> tuple[str, int, int, int]:
    """(lemma, ss_type, lex_filenum, tag_cnt) of an ``index.sense`` line; ValueError when malformed."""
    fields = line.split()
    if len(fields) != 4:
        raise ValueError(f"expected 'sense_key offset sense_number tag_count', found {len(fields)} fields")
    key, offset, sense_number, count = fields
    lemma, percent, lex_sense = key.partition("%")
    parts = lex_sense.split(":")
    if not lemma or not percent or len(parts) != 5:
        raise ValueError(f"the sense key {key!r} is not 'lemma%ss_type:lex_filenum:lex_id:head_word:head_id'")
    numbers = (parts[0], parts[1], parts[2], offset, sense_number, count)
    if not all(text.isascii() and text.isdigit() for text in numbers):
        raise ValueError(f"expected non-negative integers in {line.strip()!r}")
    ss_type, lex_filenum = int(parts[0]), int(parts[1])
    if ss_type not in range(1, 6):
        raise ValueError(f"the synset type {ss_type} of {key!r} is not 1-5")
    if ss_type in _LEXFILES and lex_filenum not in _LEXFILES[ss_type]:
        raise ValueError(f"the lexicographer file {lex_filenum} of {key!r} is not a "
                         f"{'noun' if ss_type == 1 else 'verb'} file")
    return lemma.lower(), ss_type, lex_filenum, int(count)


def morphy_candidates(word: str, exceptions: Mapping[str, Mapping[str, tuple[str, ...]]],
                      lexicon: Container[str]) -> list[str]:
    """Base forms of a (lower-cased) word by WordNet's morphology (morphy), other than the word itself.

    The exception lists always count (``saw`` -> ``see`` although ``saw`` is a lemma too); the
    detachment rules (:data:`MORPHY_RULES`) are tried only for a word that is neither a lemma nor
    in an exception list, and only bases in ``lexicon`` are kept (``books`` -> ``book``).

    Parameters
    ----------
    word : str
        The form.
    exceptions : mapping
        Per part of speech (``noun``, ``verb``) the exception list (form -> base forms).
    lexicon : container of str
        The lemmas.

    Returns
    -------
    list of str
        Base forms, without repeats, in the order found.
    """
    found: dict[str, None] = {}
    for pos in MORPHY_RULES:
        for base in exceptions.get(pos, {}).get(word, ()):
            found[base] = None
    if not found and word not in lexicon:
        for rules in MORPHY_RULES.values():
            for suffix, ending in rules:
                base = word[: len(word) - len(suffix)] + ending
                if word.endswith(suffix) and len(word) > len(suffix) and base in lexicon:
                    found[base] = None
    found.pop(word, None)
    return list(found)


def build_supersense_oracle(wordnet_dir: PathLike = "/usr/share/wordnet", *,
                            untagged: str = "drop") -> AttributeOracle:
    """The semantic oracle: per noun/verb lemma its SemCor-weighted distribution over the 41 supersenses.

    Parameters
    ----------
    wordnet_dir : path-like
        The directory with WordNet 3.0's ``index.sense`` (Debian ``wordnet-sense-index``) and
        ``noun.exc`` / ``verb.exc`` (``wordnet-base``).
    untagged : {"drop", "uniform"}
        Lemmas whose noun/verb senses all have tag count 0: left out (QVEC's choice) or kept with
        every sense counted once.

    Raises
    ------
    OracleError
        When a file is missing or malformed (named with the line), or no lemma is left.
    """
    if untagged not in ("drop", "uniform"):
        raise OracleError(f"untagged must be 'drop' or 'uniform', got {untagged!r}")
    folder = Path(wordnet_dir)
    index = folder / "index.sense"
    counts: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(SUPERSENSES)))
    senses: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(SUPERSENSES)))
    for number, line in enumerate(_read_lines(index, "wordnet-sense-index"), start=1):
        if not line.strip():
            continue
        try:
            lemma, ss_type, lex_filenum, count = _parse_sense_line(line)
        except ValueError as exc:
            raise OracleError(str(exc), path=index, where=f"line {number}") from None
        if ss_type not in _LEXFILES:
            continue
        counts[lemma][lex_filenum - _FIRST_LEXFILE] += count
        senses[lemma][lex_filenum - _FIRST_LEXFILE] += 1
    exceptions = {pos: _read_exceptions(folder / f"{pos}.exc") for pos in ("noun", "verb")}
    table: dict[str, np.ndarray] = {}
    mass: dict[str, float] = {}
    for lemma, row in counts.items():
        if row.sum() == 0:
            if untagged == "drop":
                continue
            row = senses[lemma]
        mass[lemma] = float(row.sum())
        table[lemma] = row / row.sum()
    if not table:
        raise OracleError("no noun or verb lemma with a SemCor tag count; is this WordNet 3.0's index.sense?",
                          path=index)
    return AttributeOracle(SUPERSENSES, table, source=os.fspath(index), mass=mass, normalise=lower_form,
                           lemmatize=lambda word: morphy_candidates(word, exceptions, table))


# --------------------------------------------------------------------------------------------------
# POS counts (Lingua::EN::Tagger's words.yml)

_YML_LINE = re.compile(r'^(?:"((?:[^"\\]|\\.)*)"|(\S(?:.*?\S)?)): \{ ?(.*?) ?\}$')
_YML_COUNT = re.compile(r"^([a-z]+): ([0-9]+)$")


def _unquote(text: str) -> str:
    return re.sub(r'\\(.)', r"\1", text)


def parse_pos_count_line(line: str) -> tuple[str, dict[str, int]]:
    """One ``words.yml`` line, ``form: { tag: count, ... }``, as (form, {PTB tag: count}).

    Raises
    ------
    ValueError
        With what is wrong (the builder adds the file and the line number).
    """
    match = _YML_LINE.match(line.strip())
    if match is None:
        raise ValueError("expected 'word: { tag: count, ... }'")
    quoted, plain, body = match.groups()
    form = _unquote(quoted) if quoted is not None else plain
    if not form:
        raise ValueError("the word is empty")
    counts: dict[str, int] = {}
    for item in body.split(","):
        pair = _YML_COUNT.match(item.strip())
        if pair is None:
            raise ValueError(f"expected 'tag: count', found {item.strip()!r}")
        tag, count = pair.group(1), int(pair.group(2))
        if tag not in LINGUA_TAGS:
            raise ValueError(f"unknown tag {tag!r}; expected Lingua::EN::Tagger's tags ({', '.join(sorted(LINGUA_TAGS))})")
        ptb = LINGUA_TO_PTB.get(tag, tag.upper())
        counts[ptb] = counts.get(ptb, 0) + count
    return form, counts


def build_pos_oracle(words_yml: PathLike = "/usr/share/perl5/Lingua/EN/Tagger/words.yml") -> AttributeOracle:
    """The syntactic oracle: per lower-cased form its distribution over Penn Treebank POS tags.

    Parameters
    ----------
    words_yml : path-like
        A POS-count file in the format of Lingua::EN::Tagger's ``words.yml``: an optional
        ``--- #YAML:1.0`` header, then ``form: { tag: count, ... }`` per line (forms with YAML
        specials double-quoted).

    Raises
    ------
    OracleError
        When the file cannot be read, has a malformed line (named with its number), or no counts.
    """
    path = Path(words_yml)
    totals: dict[str, dict[str, int]] = {}
    for number, line in enumerate(_read_lines(path, "liblingua-en-tagger-perl"), start=1):
        if not line.strip() or (number == 1 and line.startswith("---")):
            continue
        try:
            form, counts = parse_pos_count_line(line)
        except ValueError as exc:
            raise OracleError(str(exc), path=path, where=f"line {number}") from None
        merged = totals.setdefault(pos_form(form), {})
        for tag, count in counts.items():
            merged[tag] = merged.get(tag, 0) + count
    seen = {tag for counts in totals.values() for tag, count in counts.items() if count > 0}
    features = tuple(sorted(seen))
    column = {tag: index for index, tag in enumerate(features)}
    table: dict[str, np.ndarray] = {}
    mass: dict[str, float] = {}
    for form, counts in totals.items():
        row = np.zeros(len(features))
        for tag, count in counts.items():
            if count:
                row[column[tag]] += count
        if row.sum() > 0:
            mass[form] = float(row.sum())
            table[form] = row / row.sum()
    if not table:
        raise OracleError("the POS-count file has no counts; give a file like Lingua::EN::Tagger's words.yml",
                          path=path)
    return AttributeOracle(features, table, source=os.fspath(path), mass=mass, normalise=pos_form)


# --------------------------------------------------------------------------------------------------
# Loading an experiment's oracle

#: The oracle kinds of the experiments: ``semantic`` (``cca_semantic``), ``syntactic`` (``cca_syntactic``).
ORACLE_KINDS = ("semantic", "syntactic")
#: Where :func:`load_oracle` builds each kind from when no path is given (Debian's packages).
DEFAULT_SOURCES = {"semantic": "/usr/share/wordnet", "syntactic": "/usr/share/perl5/Lingua/EN/Tagger/words.yml"}
#: QVEC's feature-name prefixes; :func:`canonical_feature` removes them.
_QVEC_PREFIXES = {"semcor.": False, "ptb.": True}


def canonical_feature(name: str) -> str:
    """One name per feature, whatever the oracle's source.

    QVEC's files name supersenses ``semcor.noun.act`` and POS tags ``ptb.vbd``; the built oracles
    name them ``noun.act`` and ``VBD``.  The prefix is removed and a POS tag upper-cased
    (``ptb.prp$`` -> ``PRP$``, ``ptb.-lrb-`` -> ``-LRB-``); other names are kept as they are.

    Examples
    --------
    >>> canonical_feature("semcor.noun.act"), canonical_feature("ptb.vbd"), canonical_feature("VBD")
    ('noun.act', 'VBD', 'VBD')
    """
    for prefix, upper in _QVEC_PREFIXES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            rest = name[len(prefix):]
            return rest.upper() if upper else rest
    return name


def oracle_fingerprint(oracle: AttributeOracle) -> str:
    """sha256 hex of an oracle's content: feature names, key words and their vectors (not its path)."""
    import hashlib

    digest = hashlib.sha256(json.dumps(list(oracle.features)).encode("utf-8"))
    for word in oracle.words:
        encoded = word.encode("utf-8")
        digest.update(b"%d:" % len(encoded) + encoded)
        digest.update(np.ascontiguousarray(oracle._table[word], dtype="<f8").tobytes())
    return digest.hexdigest()


def load_oracle(kind: str, path: PathLike | None = None) -> AttributeOracle:
    """The oracle of ``cca_semantic`` / ``cca_syntactic``, built or read, with canonical feature names.

    Parameters
    ----------
    kind : {"semantic", "syntactic"}
    path : path-like, optional
        None: built from Debian's packages (:data:`DEFAULT_SOURCES`; about 1.4 s for the
        supersenses, 0.5 s for the POS counts, so nothing is cached).  A directory: WordNet 3.0's
        dictionary files (semantic).  A ``.yml`` file: POS counts in the format of ``words.yml``
        (syntactic).  Any other file: a QVEC oracle file (``word<TAB>{json}``), whose feature names
        are mapped by :func:`canonical_feature`; syntactic files are looked up with
        :func:`pos_form` (digits -> ``0``), semantic ones with :func:`lower_form`.

    Raises
    ------
    OracleError
        An unknown kind, a missing or malformed file (named with the line), feature names that
        fall together after mapping.
    """
    if kind not in ORACLE_KINDS:
        raise OracleError(f"unknown oracle kind {kind!r} (known: {', '.join(ORACLE_KINDS)})")
    if path is None:
        source = Path(DEFAULT_SOURCES[kind])
        return build_supersense_oracle(source) if kind == "semantic" else build_pos_oracle(source)
    source = Path(path)
    if source.is_dir():
        if kind != "semantic":
            raise OracleError("is a directory; the syntactic oracle is a QVEC file or a words.yml POS-count file",
                              path=source)
        return build_supersense_oracle(source)
    if source.suffix.lower() in (".yml", ".yaml"):
        if kind != "syntactic":
            raise OracleError("is a POS-count file; the semantic oracle is a QVEC file or a WordNet directory",
                              path=source)
        return build_pos_oracle(source)
    oracle = read_qvec_oracle(source, digits_to_zero=kind == "syntactic")
    names = [canonical_feature(name) for name in oracle.features]
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise OracleError(f"two features are both {twice!r} once QVEC's prefixes are removed; give each feature "
                          "one name", path=source)
    return AttributeOracle(names, oracle._table, source=oracle.source, mass=oracle._mass,
                           normalise=oracle._normalise, lemmatize=oracle._lemmatize)


__all__ = [
    "AttributeOracle",
    "DEFAULT_SOURCES",
    "ORACLE_KINDS",
    "LINGUA_TAGS",
    "LINGUA_TO_PTB",
    "MORPHY_RULES",
    "SUPERSENSES",
    "build_pos_oracle",
    "build_supersense_oracle",
    "canonical_feature",
    "format_qvec_line",
    "load_oracle",
    "lower_form",
    "morphy_candidates",
    "oracle_fingerprint",
    "parse_pos_count_line",
    "parse_qvec_line",
    "pos_form",
    "read_qvec_oracle",
    "write_qvec_oracle",
]
