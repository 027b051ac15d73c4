"""All-words sampling (``span="all_words"``): every oracle word of a split, up to 200 instances each.

The ``cca_semantic`` and ``cca_syntactic`` experiments (Pasad et al., TACL 2024) pair word instances
with a word-attribute oracle's vectors (:mod:`layerprobe.data.oracles`), over a much larger
vocabulary than the ``word`` span's 500 most frequent words.  The draw, as the published code
(``create_data_samples.py all-words``) does it:

* vocabulary: the words of the split (normalised by :func:`~layerprobe.data.labels.word_label`;
  silence and ``<unk>`` left out) that the oracle has a vector for.  The published code intersects
  LibriSpeech's word list with the union of QVEC's semantic and syntactic oracles; that union is
  the default here (``oracle="both"``); ``"semantic"``, ``"syntactic"`` or a QVEC file's path
  choose one (:func:`vocabulary_oracle`);
* per word, ``min(200, n)`` of its ``n`` instances drawn without replacement (``--max-per-label``),
  in order of descending frequency (ties by spelling), seeded (the published draw is not).

What differs from the published draw: words are looked up in an oracle as
:meth:`AttributeOracle.__contains__ <layerprobe.data.oracles.AttributeOracle>` does (the built
semantic oracle finds inflected forms through WordNet's morphology, ``books`` -> ``book``; a QVEC
file matches the lower-cased form, as the published code does), and subsets are the manifest's
usual ones: utterances in corpus order, at most 10,000 s of *audio* each, every utterance in exactly
one subset (the published code packs whole words into subsets of 10,000 s of *word segments*, so an
utterance's audio may be run through the model once per subset it appears in).  Extraction runs the
subsets as shards (``extract --shard I/N``, ``merge``) and one store holds them all
(``<rep>_all_words.h5``).

The manifest's summary records the oracle (``oracle``: the choice, its sources and content
fingerprints), the words of the split (``n_words_in_split``), how many the oracle lacks
(``n_words_not_in_oracle``, the most frequent of them in ``words_not_in_oracle``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from layerprobe.data.oracles import ORACLE_KINDS, AttributeOracle, load_oracle, oracle_fingerprint
from layerprobe.errors import ConfigError, SampleError

#: The published choice: the union of the semantic and the syntactic oracle's words.
DEFAULT_ORACLE = "both"
#: Names :func:`vocabulary_oracle` accepts besides a path.
ORACLE_CHOICES = ("both", *ORACLE_KINDS)
#: Instances per word (the published ``num_instances``).
MAX_PER_WORD = 200
#: Words the oracle lacks that a manifest's summary lists (the most frequent).
_LISTED = 20


@dataclass(frozen=True)
class VocabularyOracle:
    """The oracles whose words an all-words sample keeps: a word is kept when any of them has it.

    Attributes
    ----------
    choice : str
        ``both``, ``semantic``, ``syntactic`` or the path given.
    oracles : tuple of AttributeOracle
    """

    choice: str
    oracles: tuple[AttributeOracle, ...]

    def __contains__(self, word: object) -> bool:
        return any(word in oracle for oracle in self.oracles)

    def describe(self) -> dict[str, Any]:
        """``{"choice", "sources", "fingerprints"}`` for the manifest (fingerprints: 16 hex digits)."""
        return {
            "choice": self.choice,
            "sources": [oracle.source for oracle in self.oracles],
            "fingerprints": [oracle_fingerprint(oracle)[:16] for oracle in self.oracles],
        }


def vocabulary_oracle(choice: str | Path | Sequence[str | Path] = DEFAULT_ORACLE) -> VocabularyOracle:
    """The oracle(s) behind an all-words vocabulary.

    Parameters
    ----------
    choice : str, path, or a sequence of them
        ``both`` (the union of the built semantic and syntactic oracles, the published choice),
        ``semantic``, ``syntactic`` (built from Debian's packages, :func:`~layerprobe.data.oracles.load_oracle`),
        or the path of a QVEC oracle file (digits -> ``0`` lookup, as a POS oracle); several: the
        union of their words (``choice`` is then their names joined by ``+``).

    Raises
    ------
    OracleError
        When an oracle cannot be built or read (the message names the file).
    ConfigError
        When ``choice`` is neither a known name nor an existing file.
    """
    if isinstance(choice, (list, tuple)):
        if not choice:
            raise ConfigError("no --oracle given; give both, semantic, syntactic or a QVEC oracle file")
        parts = [vocabulary_oracle(one) for one in dict.fromkeys(str(one) for one in choice)]
        if len(parts) == 1:
            return parts[0]
        oracles = {oracle.source: oracle for part in parts for oracle in part.oracles}
        return VocabularyOracle("+".join(part.choice for part in parts), tuple(oracles.values()))
    text = str(choice)
    if text == "both":
        return VocabularyOracle(text, tuple(load_oracle(kind) for kind in ORACLE_KINDS))
    if text in ORACLE_KINDS:
        return VocabularyOracle(text, (load_oracle(text),))
    path = Path(choice)
    if not path.exists():
        raise ConfigError(f"--oracle {text!r} is neither {', '.join(ORACLE_CHOICES)} nor an existing file; "
                          "give one of those names or a QVEC oracle file")  # fmt: skip
    kind = "semantic" if path.is_dir() else "syntactic"  # a QVEC file: looked up as POS oracles are (digits -> 0)
    return VocabularyOracle(str(path), (load_oracle(kind, path),))


def draw_all_words(corpus, split: str, utterances: Iterable, rule, rng: np.random.Generator,
                   oracle: VocabularyOracle, progress: bool) -> tuple[list, dict[str, Any], list[str]]:  # fmt: skip
    """The all-words draw of :func:`layerprobe.data.samples.draw_sample` (span ``all_words``).

    Returns
    -------
    (utterances, summary, inventory)
        As the word draw returns them; the summary also holds ``oracle``, ``n_words_in_split``,
        ``n_words_not_in_oracle`` and ``words_not_in_oracle``.

    Raises
    ------
    SampleError
        When no word of the split is in the oracle.
    """
    from layerprobe.data.samples import _draw_segments

    missing: dict[str, int] = {}

    def select(instances: dict) -> list[str]:
        by_frequency = sorted(instances, key=lambda word: (-len(instances[word]), word))
        kept = [word for word in by_frequency if word in oracle]
        missing.update((word, len(instances[word])) for word in by_frequency if word not in oracle)
        if not kept:
            sources = ", ".join(o.source for o in oracle.oracles)
            raise SampleError(
                f"none of the {len(by_frequency)} words of split {split!r} is in the {oracle.choice} oracle ({sources}); "
                "give another --oracle, or a corpus of English words",
                path=corpus.root,
            )
        return kept if rule.n_labels is None else kept[: rule.n_labels]

    chosen, summary, inventory = _draw_segments(corpus, split, utterances, rule, rng, None, progress, select=select)
    summary["oracle"] = oracle.describe()
    summary["n_words_in_split"] = len(inventory) + len(missing)
    summary["n_words_not_in_oracle"] = len(missing)
    summary["words_not_in_oracle"] = dict(list(missing.items())[:_LISTED])
    return chosen, summary, inventory


__all__ = ["DEFAULT_ORACLE", "MAX_PER_WORD", "ORACLE_CHOICES", "VocabularyOracle", "draw_all_words", "vocabulary_oracle"]
