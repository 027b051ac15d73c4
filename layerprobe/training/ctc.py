"""CTC basics: the character vocabulary, text normalisation, greedy and LM beam decoding, WER and CER.

The vocabulary is the one of the fine-tuning interpretation study (REFERENCE.md section 7): the 26
letters, the apostrophe, a word separator ``|``, an unknown token and the CTC blank, 30 tokens with
the blank at id 0::

    <blank> | ' a b c ... z <unk>

Text normalisation (:func:`normalize_text`), applied to every transcript before encoding and to
references and hypotheses before scoring, in this order:

1. Unicode NFKC (compatibility characters such as ligatures and full-width letters become plain
   ones), then lower case.
2. Typographic apostrophes and primes (``’ ‘ ʼ ′ ´ ` ＇``) become ``'``.
3. Hyphens and dashes (``- ‐ ‑ ‒ – — ― −``) and the underscore become a space.
4. Every other punctuation mark or symbol (Unicode categories ``P*`` and ``S*``, e.g. ``. , ! ? " ( ) $ %``)
   is removed.  Letters outside a-z, digits and combining marks are kept (they encode as ``<unk>``).
5. Runs of whitespace become one space; leading and trailing whitespace is dropped.

The steps repeat until the text no longer changes (removing a mark can leave a letter and a
combining mark that NFKC composes), so the function is idempotent.

Decoding: :func:`greedy_decode` takes the best token per frame, merges repeats and drops blanks
(:func:`ctc_collapse`); :class:`BeamSearchDecoder` runs pyctcdecode's beam search, optionally with a
KenLM n-gram language model.  Unknown tokens decode to ``⁇`` (:data:`UNKNOWN_TEXT`, the character
pyctcdecode uses), so greedy and beam outputs read the same.

Scores: :func:`word_error_rate` and :func:`char_error_rate` are jiwer's corpus-level rates (total
edits over total reference words / characters, spaces included for characters) on normalised text.

Example
-------
>>> vocab = CharVocabulary.default()
>>> vocab.encode("It's 'Kaleidoscopic'!").tolist()[:5]
[11, 22, 2, 21, 1]
>>> vocab.decode(vocab.encode("Don't stop"))
"don't stop"
"""

from __future__ import annotations

import importlib
import os
import re
import string
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from layerprobe.errors import ConfigError, DependencyError

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: The CTC blank token (id 0 in the default vocabulary).
BLANK = "<blank>"
#: The token of characters outside the vocabulary.
UNKNOWN = "<unk>"
#: The token between words (a space in text).
WORD_SEPARATOR = "|"
#: How an unknown token reads in decoded text (pyctcdecode's unknown character).
UNKNOWN_TEXT = "\u2047"

#: How to get the KenLM Python bindings that LM beam search needs.
KENLM_INSTALL = "pip install https://github.com/kpu/kenlm/archive/master.zip (or: pip install kenlm)"

_APOSTROPHES = "\u2019\u2018\u02bc\u2032\u00b4`\uff07"
_HYPHENS = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212_"
_APOSTROPHE_TABLE = str.maketrans({char: "'" for char in _APOSTROPHES})
_HYPHEN_TABLE = str.maketrans({char: " " for char in _HYPHENS})
_WHITESPACE = re.compile(r"\s+")
# Rounds of the normalisation steps before giving up on a fixed point (two suffice in practice).
_MAX_ROUNDS = 8


def normalize_text(text: str) -> str:
    """Normalise a transcript for character CTC (the module docstring lists the rules).

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        Lower-case words separated by single spaces; idempotent
        (``normalize_text(normalize_text(t)) == normalize_text(t)``).

    Examples
    --------
    >>> normalize_text("  Well-known DOGS’ “tricks”, 2 of them! ")
    "well known dogs' tricks 2 of them"
    """
    # One round can leave work for the next: lower-casing or removing a mark between a letter and a
    # combining mark can produce text that NFKC composes differently; rounds run until nothing changes.
    for _ in range(_MAX_ROUNDS):
        cleaned = _normalize_once(text)
        if cleaned == text:
            break
        text = cleaned
    return text



def _normalize_once(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.translate(_APOSTROPHE_TABLE).translate(_HYPHEN_TABLE)
    kept = "".join(char for char in text if char == "'" or unicodedata.category(char)[0] not in "PS")
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", kept)).strip()


@dataclass(frozen=True)
class CharVocabulary:
    """A character vocabulary for CTC: token strings in id order.

    Parameters
    ----------
    tokens : tuple of str
        Every token once; must hold :data:`BLANK`, :data:`UNKNOWN` and :data:`WORD_SEPARATOR`; the
        other tokens are single characters.  :meth:`default` gives the 30-token English one.

    Raises
    ------
    ConfigError
        For a repeated token, a missing special token or a multi-character ordinary token.
    """

    tokens: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        tokens = tuple(self.tokens)
        object.__setattr__(self, "tokens", tokens)
        if len(set(tokens)) != len(tokens):
            raise ConfigError(f"vocabulary tokens must be unique, got {tokens!r}")
        missing = [token for token in (BLANK, UNKNOWN, WORD_SEPARATOR) if token not in tokens]
        if missing:
            raise ConfigError(f"vocabulary lacks the special token(s) {', '.join(missing)}")
        long = [t for t in tokens if t not in (BLANK, UNKNOWN) and len(t) != 1]
        if long:
            raise ConfigError(f"vocabulary tokens other than {BLANK} and {UNKNOWN} must be one character, got {long!r}")
        if " " in tokens:
            raise ConfigError(f"a space cannot be a vocabulary token; words are separated by {WORD_SEPARATOR!r}")
        object.__setattr__(self, "_index", {token: i for i, token in enumerate(tokens)})

    @classmethod
    def default(cls) -> "CharVocabulary":
        """``<blank> | ' a .. z <unk>``: 30 tokens, blank id 0 (REFERENCE.md section 7)."""
        return cls((BLANK, WORD_SEPARATOR, "'", *string.ascii_lowercase, UNKNOWN))

    @property
    def blank_id(self) -> int:
        return self._index[BLANK]

    @property
    def separator_id(self) -> int:
        return self._index[WORD_SEPARATOR]

    @property
    def unknown_id(self) -> int:
        return self._index[UNKNOWN]

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of a text, normalised first (:func:`normalize_text`).

        Spaces become the word separator and characters outside the vocabulary :data:`UNKNOWN`.

        Returns
        -------
        numpy.ndarray
            Shape (n_characters,), int64; never holds the blank.
        """
        index, unknown, separator = self._index, self.unknown_id, self.separator_id
        ids = [separator if char == " " else index.get(char, unknown) for char in normalize_text(text)]
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Text of token ids, without CTC collapsing.

        Blanks are dropped, the separator reads as a space (runs of spaces as one, none at the
        ends), the unknown token as :data:`UNKNOWN_TEXT`.

        Raises
        ------
        ValueError
            For an id outside ``[0, len(self))``.
        """
        pieces = []
        for raw in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
            if not 0 <= raw < len(self.tokens):
                raise ValueError(f"token id {raw} is outside the vocabulary of {len(self.tokens)} tokens")
            token = self.tokens[raw]
            if token == BLANK:
                continue
            pieces.append(" " if token == WORD_SEPARATOR else UNKNOWN_TEXT if token == UNKNOWN else token)
        return _WHITESPACE.sub(" ", "".join(pieces)).strip()

    def labels_for_pyctcdecode(self) -> list[str]:
        """The tokens as pyctcdecode's alphabet expects them: blank ``""``, separator ``" "``, unknown ``⁇``."""
        names = {BLANK: "", WORD_SEPARATOR: " ", UNKNOWN: UNKNOWN_TEXT}
        return [names.get(token, token) for token in self.tokens]


def ctc_collapse(ids: Sequence[int] | np.ndarray, *, blank_id: int) -> list[int]:
    """Merge runs of the same id, then drop blanks (the CTC many-to-one map).

    Examples
    --------
    >>> ctc_collapse([0, 5, 5, 0, 5, 1, 1, 0], blank_id=0)
    [5, 5, 1]
    """
    values = np.asarray(ids, dtype=np.int64).reshape(-1)
    if values.size == 0:
        return []
    keep = np.ones(values.size, dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    merged = values[keep]
    return merged[merged != blank_id].tolist()


def _as_numpy(values: Any) -> np.ndarray:
    """A numpy array of a numpy array or a torch tensor (detached, on the CPU, float32 for halves)."""
    if hasattr(values, "detach"):
        values = values.detach()
        if values.dtype.is_floating_point and values.element_size() < 4:
            values = values.float()
        values = values.cpu().numpy()
    return np.asarray(values)


def greedy_decode(log_probs: "np.ndarray | torch.Tensor", vocab: CharVocabulary) -> str:
    """Greedy (best path) CTC decoding of one utterance.

    Parameters
    ----------
    log_probs : numpy.ndarray or torch.Tensor
        Shape (T, V): per-frame scores (log-probabilities or logits; only the argmax matters).
    vocab : CharVocabulary

    Returns
    -------
    str
        The collapsed, decoded text.
    """
    scores = _as_numpy(log_probs)
    if scores.ndim != 2 or scores.shape[1] != len(vocab):
        raise ValueError(f"log_probs must have shape (T, {len(vocab)}), got {scores.shape}")
    if scores.shape[0] == 0:
        return ""
    return vocab.decode(ctc_collapse(scores.argmax(axis=1), blank_id=vocab.blank_id))


def greedy_decode_batch(
    log_probs: "np.ndarray | torch.Tensor",
    lengths: "Sequence[int] | np.ndarray | torch.Tensor",
    vocab: CharVocabulary,
) -> list[str]:
    """Greedy CTC decoding of a padded batch.

    Parameters
    ----------
    log_probs : numpy.ndarray or torch.Tensor
        Shape (B, T, V).
    lengths : sequence of int or array or tensor
        Shape (B,): valid frames of each row; frames past them are ignored.
    vocab : CharVocabulary

    Returns
    -------
    list of str
        B texts.
    """
    scores = _as_numpy(log_probs)
    counts = _as_numpy(lengths).astype(np.int64).reshape(-1)
    if scores.ndim != 3 or scores.shape[0] != counts.size:
        raise ValueError(f"log_probs must be (B, T, V) with B = len(lengths) = {counts.size}, got {scores.shape}")
    best = scores.argmax(axis=2)
    return [vocab.decode(ctc_collapse(best[row, : counts[row]], blank_id=vocab.blank_id)) for row in range(counts.size)]


def _require_kenlm() -> None:
    try:
        importlib.import_module("kenlm")
    except ImportError:
        raise DependencyError(f"LM beam search needs the KenLM Python bindings: {KENLM_INSTALL}") from None


class BeamSearchDecoder:
    """CTC beam search (pyctcdecode), optionally with a KenLM n-gram language model.

    Parameters
    ----------
    vocab : CharVocabulary
    lm_path : path-like, optional
        A KenLM model: ARPA text (``.arpa``) or KenLM binary.  Without it the search uses the
        acoustic scores only.
    unigrams : collection of str, optional
        The LM's words; read from an ARPA file when not given.
    beam_width : int
        Beams kept per frame (REFERENCE.md section 7 uses 50 and 1500).
    alpha : float
        Weight of the LM score.
    beta : float
        Bonus per word (length score).
    beam_prune_logp, token_min_logp : float
        pyctcdecode's pruning: beams this far below the best are dropped; tokens below this
        log-probability are skipped unless they are a frame's best.

    Raises
    ------
    DependencyError
        When ``lm_path`` is given and the kenlm module is missing (the message says how to install it).
    ConfigError
        For a missing or unreadable LM file or a bad beam width.
    """

    def __init__(
        self,
        vocab: CharVocabulary,
        *,
        lm_path: str | os.PathLike[str] | None = None,
        unigrams: Collection[str] | None = None,
        beam_width: int = 50,
        alpha: float = 0.5,
        beta: float = 1.0,
        beam_prune_logp: float = -10.0,
        token_min_logp: float = -5.0,
    ):
        if not isinstance(beam_width, int) or beam_width < 1:
            raise ConfigError(f"beam width must be a positive integer, got {beam_width!r}")
        self.vocab = vocab
        self.lm_path = os.fspath(lm_path) if lm_path is not None else None
        self.beam_width = beam_width
        self.alpha = alpha
        self.beta = beta
        self.beam_prune_logp = beam_prune_logp
        self.token_min_logp = token_min_logp
        if self.lm_path is not None:
            _require_kenlm()
            if not os.path.isfile(self.lm_path):
                raise ConfigError("no such language model file", path=self.lm_path)
        try:
            from pyctcdecode import build_ctcdecoder
        except ImportError:
            raise DependencyError("beam search needs pyctcdecode: pip install 'pyctcdecode>=0.5,<1'") from None
        words = None if unigrams is None else [normalize_text(word) for word in unigrams if normalize_text(word)]
        try:
            self._decoder = build_ctcdecoder(
                vocab.labels_for_pyctcdecode(), kenlm_model_path=self.lm_path, unigrams=words, alpha=alpha, beta=beta
            )
        except (OSError, RuntimeError, ValueError) as error:
            if self.lm_path is None:
                raise
            raise ConfigError(f"cannot read the language model: {error}", path=self.lm_path) from None

    @property
    def has_lm(self) -> bool:
        return self.lm_path is not None

    def decode(self, log_probs: "np.ndarray | torch.Tensor") -> str:
        """The best beam's text for one utterance.

        Parameters
        ----------
        log_probs : numpy.ndarray or torch.Tensor
            Shape (T, V): log-softmaxed scores (pyctcdecode reads them as log-probabilities).
        """
        scores = _as_numpy(log_probs).astype(np.float32, copy=False)
        if scores.ndim != 2 or scores.shape[1] != len(self.vocab):
            raise ValueError(f"log_probs must have shape (T, {len(self.vocab)}), got {scores.shape}")
        if scores.shape[0] == 0:
            return ""
        text = self._decoder.decode(
            scores,
            beam_width=self.beam_width,
            beam_prune_logp=self.beam_prune_logp,
            token_min_logp=self.token_min_logp,
        )
        return _WHITESPACE.sub(" ", text).strip()

    def decode_batch(
        self,
        log_probs: "np.ndarray | torch.Tensor",
        lengths: "Sequence[int] | np.ndarray | torch.Tensor",
    ) -> list[str]:
        """Beam-search decoding of a padded batch (B, T, V) with valid lengths (B,)."""
        scores = _as_numpy(log_probs)
        counts = _as_numpy(lengths).astype(np.int64).reshape(-1)
        if scores.ndim != 3 or scores.shape[0] != counts.size:
            raise ValueError(f"log_probs must be (B, T, V) with B = len(lengths) = {counts.size}, got {scores.shape}")
        return [self.decode(scores[row, : counts[row]]) for row in range(counts.size)]

    def __repr__(self) -> str:
        lm = f"lm_path={self.lm_path!r}, alpha={self.alpha}, beta={self.beta}, " if self.lm_path else ""
        return f"BeamSearchDecoder({lm}beam_width={self.beam_width})"


def _checked_pairs(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[list[str], list[str]]:
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    return [normalize_text(text) for text in references], [normalize_text(text) for text in hypotheses]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus word error rate: (substitutions + deletions + insertions) / reference words.

    Both sides are normalised (:func:`normalize_text`) first; computed by jiwer.  0.0 for no
    utterances; with no reference words at all it is the insertion count (jiwer's convention).
    """
    import jiwer

    refs, hyps = _checked_pairs(references, hypotheses)
    if not refs:
        return 0.0
    return float(jiwer.wer(refs, hyps))


def char_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus character error rate (spaces count as characters), on normalised text, by jiwer."""
    import jiwer

    refs, hyps = _checked_pairs(references, hypotheses)
    if not refs:
        return 0.0
    return float(jiwer.cer(refs, hyps))


__all__ = [
    "BLANK",
    "UNKNOWN",
    "WORD_SEPARATOR",
    "UNKNOWN_TEXT",
    "KENLM_INSTALL",
    "CharVocabulary",
    "normalize_text",
    "ctc_collapse",
    "greedy_decode",
    "greedy_decode_batch",
    "BeamSearchDecoder",
    "word_error_rate",
    "char_error_rate",
]
