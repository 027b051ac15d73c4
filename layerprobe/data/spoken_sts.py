"""Spoken sentence similarity (spoken STS) data: the published parquet layout, its pairs, and a synthesized set.

The layout
----------
The spoken STS of Merkx et al. (Hugging Face ``juice500/spoken_sts``, CC-BY-4.0; the published
layer-wise code reads it in ``prep_spoken_sts.py``) is one table, split ``test``, with one row per
sentence pair and speaker: ``task``, ``subtask`` (e.g. ``STS12`` / ``MSRpar``), ``pair_id``,
``speaker_id``, ``audio_a`` and ``audio_b`` (``datasets.Audio``: the two sentences spoken by that
speaker) and ``similarity`` (the human score of the pair, 0-5, the same in every speaker's row).
Read through :class:`~layerprobe.data.hf_datasets.HFDatasetCorpus`, each row gives two
utterances, ``<task>_<subtask>_<pair_id>_<speaker_id>_a`` and ``..._b``.  (The published code names
them ``<pair_id>_<speaker_id>_<a|b>``, which repeats across tasks; its scorer indexes rows by
position instead, and reads ``all_pair_idx.json`` where its preparation writes ``all_pairs_idx.json``.)

:func:`read_sts_pairs` gathers the pairs: for each (task, subtask, pair_id), the similarity and the
utterance ids of its ``a`` and ``b`` sentences, one per speaker (4 x 4 = 16 speaker combinations in
the published data).

The synthesized set
-------------------
:func:`synthesize_sts` writes pairs of sentences of the synthesized corpus's grammar
(:mod:`layerprobe.data.sentences`) in the same layout (``data/test-00000-of-00001.parquet``),
each sentence spoken by 4 eSpeak NG voices.  Sentence ``b`` is sentence ``a`` with a share of its
content words (nouns, adjectives, verbs, adverbs) replaced by other words of the same list, so the
structure is kept and the words change by degrees (none, a quarter, half, three quarters, all), or
an unrelated sentence of the grammar.  The score is ``5 x`` the cosine of the two sentences'
word-count vectors (lower-cased words): shared words, by design.  Columns ``text_a`` and ``text_b``
keep the sentences; ``subtask`` is ``simple`` (one clause) or ``complex`` (two clauses).
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from layerprobe.data import sentences as grammar
from layerprobe.data.hf_datasets import ID_COLUMNS, HFDatasetCorpus, row_id, utterance_id
from layerprobe.errors import ConfigError, CorpusError

#: Columns of the published layout (all read; ``text_a`` / ``text_b`` are the synthesized set's extra).
STS_COLUMNS = ("task", "subtask", "pair_id", "speaker_id", "similarity")
AUDIO_COLUMNS = ("audio_a", "audio_b")

#: The voices of the synthesized set: American and British, male and female.
STS_VOICES = ("en-us", "en-us+f3", "en+m1", "en+f2")

#: Shares of content words replaced in the synthesized pairs; None: an unrelated sentence.
SWAP_SHARES: tuple[float | None, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, None)

#: Speaking rate and pitch of the synthesized set (one per voice, the same for both sentences).
STS_RATE, STS_PITCH = 165, 50

_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class StsPair:
    """One sentence pair: its key, its human score and its utterances.

    Attributes
    ----------
    key : str
        ``<task>_<subtask>_<pair_id>``.
    task, subtask : str
    similarity : float
        The human score (0-5).
    a_ids, b_ids : tuple of str
        The utterance ids of sentence a and sentence b, one per speaker, in speaker order.
    """

    key: str
    task: str
    subtask: str
    similarity: float
    a_ids: tuple[str, ...]
    b_ids: tuple[str, ...]


def read_sts_pairs(corpus: HFDatasetCorpus, split: str) -> list[StsPair]:
    """The sentence pairs of a spoken-STS table, in the order of their first row.

    Raises
    ------
    CorpusError
        A table without the columns of the published layout, a similarity that is not a finite
        number or differs between the speakers of one pair, or a pair seen twice for one speaker.
    """
    if not isinstance(corpus, HFDatasetCorpus):
        raise CorpusError(f"is a {corpus.format} corpus; spoken STS pairs come from a Hugging Face dataset in the "
                          "published layout (task, subtask, pair_id, speaker_id, audio_a, audio_b, similarity)", path=corpus.root)  # fmt: skip
    pairs: dict[str, dict[str, Any]] = {}
    index = 0
    # the audio columns must be there, but their bytes are not read; ids as the corpus reader makes them
    for table_file, number, row in corpus.rows(split, STS_COLUMNS, optional=ID_COLUMNS, present=AUDIO_COLUMNS):
        where = f"row {number}"
        base = row_id(row, split, index)
        index += 1
        score = row["similarity"]
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise CorpusError(f"similarity {score!r} is not a finite number", path=table_file.path, where=where)
        key = f"{row['task']}_{row['subtask']}_{row['pair_id']}"
        entry = pairs.setdefault(key, {"task": str(row["task"]), "subtask": str(row["subtask"]), "similarity": float(score),
                                       "speakers": [], "a": [], "b": [], "where": f"{table_file.path.name} {where}"})  # fmt: skip
        if float(score) != entry["similarity"]:
            raise CorpusError(f"pair {key!r} has similarity {score} here but {entry['similarity']} in {entry['where']}; "
                              "a pair has one human score", path=table_file.path, where=where)  # fmt: skip
        speaker = str(row["speaker_id"])
        if speaker in entry["speakers"]:
            raise CorpusError(f"pair {key!r} has a second row for speaker {speaker!r}", path=table_file.path, where=where)
        entry["speakers"].append(speaker)
        for column, side in zip(AUDIO_COLUMNS, "ab"):
            entry[side].append(utterance_id(base, column, several=True))
    return [StsPair(key, e["task"], e["subtask"], e["similarity"], tuple(e["a"]), tuple(e["b"])) for key, e in pairs.items()]


# --------------------------------------------------------------------------------------------------
# The synthesized set


#: Word lists whose words may replace each other (same part of speech and number).
_SWAPPABLE = (
    grammar.BEINGS, grammar.BEINGS_PLURAL, grammar.THINGS, grammar.THINGS_PLURAL, grammar.ADJECTIVES,
    grammar.BEING_ADJECTIVES, grammar.THING_ADJECTIVES, grammar.PREDICATE_ADJECTIVES, grammar.VERBS_ON_BEINGS,
    grammar.VERBS_ON_THINGS, grammar.VERBS_ON_EITHER, grammar.INTRANSITIVE_VERBS, grammar.ADVERBS,
)  # fmt: skip


def words_of(sentence: str) -> list[str]:
    """The lower-cased words of a sentence, punctuation dropped."""
    return _WORD.findall(sentence.lower())


def bag_of_words_similarity(a: str, b: str) -> float:
    """``5 x`` the cosine of the word-count vectors of two sentences: the synthesized set's score."""
    ca, cb = Counter(words_of(a)), Counter(words_of(b))
    dot = sum(ca[w] * cb[w] for w in ca)
    norm = math.sqrt(sum(v * v for v in ca.values()) * sum(v * v for v in cb.values()))
    return round(5.0 * dot / norm, 6) if norm else 0.0


def _tokens(sentence: str) -> list[str]:
    return sentence[:-1].replace(",", " ,").split() if sentence.endswith(".") else sentence.replace(",", " ,").split()


def _swap_words(sentence: str, share: float, rng: random.Random) -> str:
    """``sentence`` with ``share`` of its swappable words replaced by others of the same list."""
    tokens = _tokens(sentence)
    tokens[0] = tokens[0] if tokens[0] == "I" else tokens[0].lower()
    slots = []
    for i, token in enumerate(tokens):
        lists = [words for words in _SWAPPABLE if token in words and len(words) > 1]
        if lists:
            slots.append((i, lists[0]))
    chosen = rng.sample(slots, round(share * len(slots)))
    for i, words in chosen:
        tokens[i] = rng.choice([w for w in words if w != tokens[i]])
    for i in range(len(tokens) - 1):  # a / an before the (new) next word
        if tokens[i] in ("a", "an"):
            tokens[i] = grammar._article("a", tokens[i + 1])
    return grammar._render(tokens) if grammar._speakable(tokens) else sentence


def plan_sts_pairs(n_pairs: int, *, seed: int) -> list[dict[str, Any]]:
    """The sentence pairs of the synthesized set: ``task``, ``subtask``, ``pair_id``, ``text_a``, ``text_b``, ``similarity``.

    Each pair takes the next share of :data:`SWAP_SHARES` in turn (so scores spread over 0-5).
    """
    if n_pairs < 2:
        raise ConfigError(f"--n-pairs must be at least 2 (Spearman needs two pairs), got {n_pairs}")
    rng = random.Random(seed)
    pool = grammar.generate_sentences(2 * n_pairs, seed=seed)
    planned = []
    for pair_id in range(n_pairs):
        a = pool[pair_id]
        share = SWAP_SHARES[pair_id % len(SWAP_SHARES)]
        b = pool[n_pairs + pair_id] if share is None else _swap_words(a, share, rng)
        planned.append({"task": "synth", "subtask": "complex" if "," in a else "simple", "pair_id": pair_id,
                        "text_a": a, "text_b": b, "similarity": bag_of_words_similarity(a, b)})  # fmt: skip
    return planned


def _wav_bytes(waveform: np.ndarray) -> bytes:
    import soundfile

    from layerprobe.io.audio import SAMPLE_RATE

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(waveform, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _speak(text: str, voice: str, seed: int) -> bytes:
    from layerprobe.data.synth import PlannedUtterance, render_utterance

    planned = PlannedUtterance("sts", "test", text, voice, STS_RATE, STS_PITCH, seed)
    return _wav_bytes(render_utterance(planned).waveform)


def _features_metadata() -> bytes:
    """The ``huggingface`` schema metadata that makes ``datasets`` read the audio columns as Audio."""
    features = {"task": {"dtype": "string", "_type": "Value"}, "subtask": {"dtype": "string", "_type": "Value"},
                "pair_id": {"dtype": "int64", "_type": "Value"}, "speaker_id": {"dtype": "string", "_type": "Value"},
                "audio_a": {"sampling_rate": 16000, "_type": "Audio"}, "audio_b": {"sampling_rate": 16000, "_type": "Audio"},
                "similarity": {"dtype": "float64", "_type": "Value"}, "text_a": {"dtype": "string", "_type": "Value"},
                "text_b": {"dtype": "string", "_type": "Value"}}  # fmt: skip
    return json.dumps({"info": {"features": features}}).encode("utf-8")


@dataclass(frozen=True)
class StsSynthReport:
    """What :func:`synthesize_sts` wrote: the parquet file, pairs, rows (pairs x voices), seconds of audio."""

    path: Path
    n_pairs: int
    n_rows: int
    seconds: float


def synthesize_sts(out_dir: str | os.PathLike[str], *, n_pairs: int = 60, seed: int = 0, voices: Sequence[str] = STS_VOICES,
                   overwrite: bool = False) -> StsSynthReport:  # fmt: skip
    """Write a synthesized spoken-STS set in the published parquet layout.

    Parameters
    ----------
    out_dir : path-like
        Destination folder; ``OUT/data/test-00000-of-00001.parquet`` is written (into a hidden
        folder beside ``OUT``, renamed when complete).  Must not exist unless ``overwrite``.
    n_pairs : int, keyword-only
        Sentence pairs (>= 2); each gives ``len(voices)`` rows.
    seed : int, keyword-only
        Seed of the sentences, the swaps and eSpeak's noise; the same seed gives the same file.
    voices : sequence of str, keyword-only
        eSpeak voices (the speakers).
    overwrite : bool, keyword-only

    Returns
    -------
    StsSynthReport
    """
    from layerprobe.data.hf_datasets import require_pyarrow
    from layerprobe.data.synth import check_voice

    pa = require_pyarrow()  # a one-line DependencyError without pyarrow
    pq = pa.parquet

    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; give another --out or --overwrite")
    if len(set(voices)) != len(voices) or not voices:
        raise ConfigError(f"voices must be distinct and at least one, got {list(voices)}")
    for voice in voices:
        check_voice(voice)
    planned = plan_sts_pairs(n_pairs, seed=seed)
    columns: dict[str, list[Any]] = {name: [] for name in ("task", "subtask", "pair_id", "speaker_id", "audio_a", "audio_b",
                                                          "similarity", "text_a", "text_b")}  # fmt: skip
    seconds = 0.0
    for pair in planned:
        for number, voice in enumerate(voices):
            row = {**pair, "speaker_id": voice}
            for side in "ab":
                data = _speak(pair[f"text_{side}"], voice, seed * 100_003 + pair["pair_id"] * 17 + number)
                seconds += (len(data) - 44) / 32000
                row[f"audio_{side}"] = {"bytes": data, "path": f"{pair['pair_id']}_{voice}_{side}.wav"}
            for name in columns:
                columns[name].append(row[name])
    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("task", pa.string()), ("subtask", pa.string()), ("pair_id", pa.int64()), ("speaker_id", pa.string()),
                        ("audio_a", audio_type), ("audio_b", audio_type), ("similarity", pa.float64()),
                        ("text_a", pa.string()), ("text_b", pa.string())], metadata={b"huggingface": _features_metadata()})  # fmt: skip
    table = pa.Table.from_pydict(columns, schema=schema)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        (staging / "data").mkdir()
        pq.write_table(table, staging / "data" / "test-00000-of-00001.parquet")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return StsSynthReport(out / "data" / "test-00000-of-00001.parquet", n_pairs, len(columns["task"]), seconds)


__all__ = [
    "AUDIO_COLUMNS",
    "STS_COLUMNS",
    "STS_VOICES",
    "SWAP_SHARES",
    "StsPair",
    "StsSynthReport",
    "bag_of_words_similarity",
    "plan_sts_pairs",
    "read_sts_pairs",
    "synthesize_sts",
    "words_of",
]
