"""Data-sample sets: which utterances and segments an analysis sees, drawn once and reproducibly.

A data-sample set is a JSON manifest under ``data_samples/<corpus>/<split>_<span>_sample<k>.json``.
It lists utterances (frame span) or labelled segments grouped by utterance (phone and word spans),
with paths relative to the corpus root, and is the input of extraction.  The same corpus, options
and seed give the same manifest, byte for byte.

Count rules (REFERENCE.md sections 3-4, the layer-wise analysis papers)
----------------------------------------------------------------------
``frame``
    ``n_utterances`` utterances (500) drawn without replacement.
``phone``
    The 39 ARPAbet classes (:data:`~layerprobe.data.labels.ARPABET39`; silence excluded).  Per class
    with ``n`` instances in the split, ``k`` is drawn uniformly from
    ``[min(min_per_label, n), min(max_per_label, n)]`` and ``k`` instances are drawn without
    replacement.  Training role: 3000-7000; evaluation role: 200-200 (that is, ``min(n, 200)``).
``word``
    The ``n_labels`` (500) most frequent words of the split (ties by spelling), or the labels of
    another manifest (``labels_from``, e.g. the training sample's, for an evaluation split).
    Training role: 600-1200 instances per word; evaluation role: 15.
``all_words``
    Every word of the split that a word-attribute oracle has, ``min(200, n)`` instances each
    (:mod:`layerprobe.data.all_words`; ``cca_semantic``, ``cca_syntactic``).

The role is ``train`` for splits whose name contains "train" and ``eval`` otherwise, unless given.
Unlike the reference scripts, every draw is seeded, and one rare label does not lower the minimum
of the labels after it.

Audio checks
------------
Sampling checks every audio file it may draw (:func:`layerprobe.io.audio.probe_audio`: readable, not
truncated, at least :data:`~layerprobe.io.audio.MIN_SAMPLES` samples at 16 kHz, one model frame);
a file that fails is skipped with its reason, counted in the summary (``n_audio_skipped``,
``audio_skipped``) and never reaches the manifest.  Each utterance records its duration and a
content fingerprint of its audio file (:func:`layerprobe.io.audio.audio_fingerprint`);
:func:`layerprobe.data.sample_checks.check_audio` (run by extraction, on a resumed run for the stored utterances too) refuses
audio that changed since sampling.  Manifests written before fingerprints existed stay readable:
their durations are checked, their content cannot be (a warning says so once).

Subsets
-------
Utterances are grouped, in corpus order, into subsets of at most ``max_subset_duration_s`` seconds of
audio (10,000 s), so a large sample can be extracted in parallel; an utterance longer than the limit
is a subset of its own.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from layerprobe import __version__
from layerprobe.data.corpora import Corpus, Utterance, format_seconds
from layerprobe.data.labels import ARPABET39, phone_class, word_label
from layerprobe.errors import AudioError, ConfigError, LayerprobeError, SampleError
from layerprobe.io.alignments import Interval
from layerprobe.io.atomic import atomic_write
from layerprobe.io.audio import audio_fingerprint, probe_audio

SPANS = ("frame", "phone", "word", "all_words")
ROLES = ("train", "eval")

#: Identifies the manifest layout; bumped when it changes incompatibly.
MANIFEST_FORMAT = 1

_DEFAULT_COUNTS: dict[tuple[str, str], dict[str, Any]] = {
    ("frame", "train"): {"n_utterances": 500},
    ("frame", "eval"): {"n_utterances": 500},
    ("phone", "train"): {"n_labels": None, "min_per_label": 3000, "max_per_label": 7000},
    ("phone", "eval"): {"n_labels": None, "min_per_label": 200, "max_per_label": 200},
    ("word", "train"): {"n_labels": 500, "min_per_label": 600, "max_per_label": 1200},
    ("word", "eval"): {"n_labels": 500, "min_per_label": 15, "max_per_label": 15},
    ("all_words", "train"): {"n_labels": None, "min_per_label": 200, "max_per_label": 200},
    ("all_words", "eval"): {"n_labels": None, "min_per_label": 200, "max_per_label": 200},
}


@dataclass(frozen=True)
class SamplingRule:
    """How many utterances or segments a data-sample set holds.

    Parameters
    ----------
    span : {"frame", "phone", "word"}
    role : {"train", "eval"}
        Picks the default counts (see the module docstring).
    n_utterances : int, optional
        Frame span: how many utterances.
    n_labels : int, optional
        Phone and word spans: keep the ``n_labels`` most frequent labels (None: all 39 phones).
    min_per_label, max_per_label : int, optional
        Phone and word spans: bounds of the per-label instance count.
    max_subset_duration_s : float
        Largest total audio duration of one subset, in seconds.
    """

    span: str
    role: str
    n_utterances: int | None = None
    n_labels: int | None = None
    min_per_label: int | None = None
    max_per_label: int | None = None
    max_subset_duration_s: float = 10_000.0

    @classmethod
    def default(cls, span: str, role: str, **overrides: Any) -> "SamplingRule":
        """The published counts for ``span`` and ``role``, with ``overrides`` (None values ignored)."""
        if span not in SPANS:
            raise ConfigError(f"unknown span {span!r} (known: {', '.join(SPANS)})")
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
        values = dict(_DEFAULT_COUNTS[(span, role)])
        values.update({key: value for key, value in overrides.items() if value is not None})
        rule = cls(span=span, role=role, **values)
        rule.check()
        return rule

    def check(self) -> None:
        """Raise ConfigError when a count is out of range."""
        for name in ("n_utterances", "n_labels", "min_per_label", "max_per_label"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.span != "frame" and (self.min_per_label is None or self.max_per_label is None):
            raise ConfigError("phone and word spans need --min-per-label and --max-per-label")
        if self.min_per_label is not None and self.max_per_label is not None and self.min_per_label > self.max_per_label:
            raise ConfigError(
                f"--min-per-label ({self.min_per_label}) is larger than --max-per-label ({self.max_per_label})"
            )
        if not self.max_subset_duration_s > 0:
            raise ConfigError(f"--max-subset-duration must be positive, got {self.max_subset_duration_s!r}")


def default_role(split: str) -> str:
    """``"train"`` for split names containing "train", else ``"eval"`` (the reference's rule)."""
    return "train" if "train" in split.lower() else "eval"


@dataclass(frozen=True)
class SampledUtterance:
    """One utterance of a data-sample set.

    Attributes
    ----------
    utt_id : str
    audio : str
        Path of the audio file relative to the corpus root (POSIX separators).
    alignment : str or None
        Path of the alignment file relative to the alignment root, None without one.
    duration_s : float
        Length of the audio in seconds.
    subset : int
        Index of the subset the utterance belongs to.
    segments : tuple of Interval
        Phone or word segments drawn from this utterance, sorted by start (empty for frame span);
        labels are phone classes or normalised words.
    fingerprint : str or None
        :func:`layerprobe.io.audio.audio_fingerprint` of the audio file when it was sampled; None in
        manifests written before fingerprints existed (their content cannot be checked).
    """

    utt_id: str
    audio: str
    alignment: str | None
    duration_s: float
    subset: int = 0
    segments: tuple[Interval, ...] = ()
    fingerprint: str | None = None

    def to_json(self) -> dict[str, Any]:
        entry = {
            "id": self.utt_id,
            "audio": self.audio,
            "alignment": self.alignment,
            "duration_s": self.duration_s,
        }
        if self.fingerprint is not None:
            entry["fingerprint"] = self.fingerprint
        entry["subset"] = self.subset
        entry["segments"] = [[s.start, s.end, s.label] for s in self.segments]
        return entry


@dataclass(frozen=True)
class SampleManifest:
    """A data-sample set: the drawn utterances and segments with everything needed to redo the draw.

    Attributes
    ----------
    corpus : dict
        ``name``, ``format``, ``root`` (absolute) and ``alignments`` (absolute or None).
    split, span : str
    sample : int
        The sample id (``sample<k>`` in file names).
    seed : int
    rule : SamplingRule
    labels : tuple of str
        The label inventory (phone classes or words); empty for frame span.
    utterances : tuple of SampledUtterance
        In corpus order.
    summary : dict
        Counts: utterances, segments, per-label instances drawn and available, durations, and
        what was left out (utterances without alignment, labels without a class).
    """

    corpus: dict[str, Any]
    split: str
    span: str
    sample: int
    seed: int
    rule: SamplingRule
    labels: tuple[str, ...]
    utterances: tuple[SampledUtterance, ...]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def corpus_root(self) -> Path:
        return Path(self.corpus["root"])

    @property
    def alignment_root(self) -> Path:
        return Path(self.corpus["alignments"] or self.corpus["root"])

    def audio_path(self, utterance: SampledUtterance) -> Path:
        """Absolute path of an utterance's audio."""
        return self.corpus_root / utterance.audio

    def alignment_path(self, utterance: SampledUtterance) -> Path | None:
        """Absolute path of an utterance's alignment, None without one."""
        return None if utterance.alignment is None else self.alignment_root / utterance.alignment

    @property
    def n_subsets(self) -> int:
        return 1 + max((u.subset for u in self.utterances), default=-1)

    def subset(self, index: int) -> tuple[SampledUtterance, ...]:
        """The utterances of one subset."""
        if not 0 <= index < self.n_subsets:
            raise ConfigError(f"subset {index} does not exist (this sample has {self.n_subsets})")
        return tuple(u for u in self.utterances if u.subset == index)

    def to_json_text(self) -> str:
        """The manifest as JSON text: header fields indented, one utterance per line, a stable order."""
        header = {
            "layerprobe_data_sample": MANIFEST_FORMAT,
            "layerprobe_version": __version__,
            "corpus": self.corpus,
            "split": self.split,
            "span": self.span,
            "sample": self.sample,
            "seed": self.seed,
            "rule": asdict(self.rule),
            "labels": list(self.labels),
            "summary": self.summary,
            "subsets": _subset_table(self.utterances),
        }
        # json.dumps(indent=1) ends with "\n}"; the utterance list is appended before that brace,
        # one compact line per utterance (a phone sample holds ~10^5 segments).
        head = json.dumps(header, indent=1, ensure_ascii=False)[: -len("\n}")]
        rows = ",\n  ".join(
            json.dumps(u.to_json(), ensure_ascii=False, separators=(",", ":")) for u in self.utterances
        )
        utterances = f"[\n  {rows}\n ]" if rows else "[]"
        return f'{head},\n "utterances": {utterances}\n}}\n'

    def describe(self) -> str:
        """One line saying what the set holds, e.g. for the command line."""
        s = self.summary
        what = f"{s['n_utterances']} utterances"
        if self.span == "all_words":
            what = (f"{s['n_segments']} word segments of {len(self.labels)} words in the {s['oracle']['choice']} "
                    f"oracle (of {s['n_words_in_split']} in the split) from {what}")  # fmt: skip
        elif self.span != "frame":
            what = f"{s['n_segments']} {self.span} segments of {len(self.labels)} labels from {what}"
        skipped = s.get("n_audio_skipped") or 0
        return (
            f"{self.corpus['name']} {self.split} {self.span} sample {self.sample} (seed {self.seed}): {what}, "
            f"{format_seconds(s['duration_s'])} of audio in {s['n_subsets']} subset(s)"
            + (f", {skipped} unusable audio file(s) skipped" if skipped else "")
        )

    def skipped_lines(self) -> list[str]:
        """One line per audio file sampling skipped: ``skipped <audio>: <reason>``."""
        rows = self.summary.get("audio_skipped") or []
        return [f"skipped {row[0]}: {row[1]}" for row in rows if isinstance(row, (list, tuple)) and len(row) == 2]

    def content_hash(self) -> str:
        """SHA-256 of the manifest's JSON text (stores record it to tie features to their sample)."""
        return hashlib.sha256(self.to_json_text().encode("utf-8")).hexdigest()


def _subset_table(utterances: Sequence[SampledUtterance]) -> list[dict[str, Any]]:
    table: dict[int, dict[str, Any]] = {}
    for u in utterances:
        row = table.setdefault(u.subset, {"index": u.subset, "n_utterances": 0, "duration_s": 0.0})
        row["n_utterances"] += 1
        row["duration_s"] = round(row["duration_s"] + u.duration_s, 6)
    return [table[k] for k in sorted(table)]


def manifest_path(samples_dir: str | os.PathLike[str], corpus: str, split: str, span: str, sample: int) -> Path:
    """Where a data-sample set lives: ``<samples_dir>/<corpus>/<split>_<span>_sample<k>.json``."""
    if span not in SPANS:
        raise ConfigError(f"unknown span {span!r} (known: {', '.join(SPANS)})")
    return Path(samples_dir) / corpus / f"{split}_{span}_sample{sample}.json"


# --------------------------------------------------------------------------------------------------
# Drawing


def draw_sample(
    corpus: Corpus,
    split: str,
    *,
    span: str,
    sample: int = 1,
    seed: int | None = None,
    rule: SamplingRule | None = None,
    labels: Sequence[str] | None = None,
    oracle: Any = None,
    progress: bool = True,
) -> SampleManifest:
    """Draw a reproducible data-sample set from one split of a corpus.

    Parameters
    ----------
    corpus : Corpus
    split : str
    span : {"frame", "phone", "word"}, keyword-only
    sample : int
        The sample id (several independent samples of one split have ids 1, 2, ...).
    seed : int, optional
        Seed of the draw; the sample id by default, so samples 1 and 2 differ and each is reproducible.
    rule : SamplingRule, optional
        Counts; :meth:`SamplingRule.default` for the span and the split's default role when omitted.
    labels : sequence of str, optional
        Phone and word spans: the label inventory to draw (e.g. the training sample's words for an
        evaluation split); chosen by frequency when omitted.
    oracle : VocabularyOracle, optional
        Span ``all_words``: whose words are drawn (:func:`layerprobe.data.all_words.vocabulary_oracle`;
        default: the union of the built semantic and syntactic oracles).
    progress : bool
        Show a progress bar while scanning the split.

    Returns
    -------
    SampleManifest

    Raises
    ------
    ConfigError
        Unknown span or split, bad counts.
    SampleError
        When the split has no utterances, or (phone/word spans) no alignments or no labelled segments.
    AlignmentError, AudioError
        When an alignment or audio file of the split is malformed (the message names it).
    """
    if span not in SPANS:
        raise ConfigError(f"unknown span {span!r} (known: {', '.join(SPANS)})")
    if not isinstance(sample, int) or sample < 0:
        raise ConfigError(f"--sample must be a non-negative integer, got {sample!r}")
    rule = rule or SamplingRule.default(span, default_role(split))
    if rule.span != span:
        raise ConfigError(f"the sampling rule is for span {rule.span!r}, not {span!r}")
    seed = sample if seed is None else seed
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    utterances = corpus.utterances(split)
    if oracle is not None and span != "all_words":
        raise ConfigError(f"--oracle is for span all_words, not {span}")
    if span == "frame":
        chosen, summary, inventory = _draw_utterances(corpus, split, utterances, rule, rng, progress)
    elif span == "all_words":
        from layerprobe.data.all_words import draw_all_words, vocabulary_oracle

        oracle = vocabulary_oracle() if oracle is None else oracle
        chosen, summary, inventory = draw_all_words(corpus, split, utterances, rule, rng, oracle, progress)
    else:
        chosen, summary, inventory = _draw_segments(corpus, split, utterances, rule, rng, labels, progress)
    chosen = _assign_subsets(chosen, rule.max_subset_duration_s)
    summary["n_subsets"] = 1 + max(u.subset for u in chosen)
    chosen = [replace(u, fingerprint=audio_fingerprint(corpus.root / u.audio)) for u in chosen]
    alignments = getattr(corpus, "alignments", None)
    corpus_info = {
        "name": corpus.name,
        "format": corpus.format,
        "root": corpus.root.as_posix(),
        "alignments": alignments.as_posix() if alignments is not None else None,
    }
    for key in ("phone_tier", "word_tier"):  # only when named, so that other manifests stay as they were
        if getattr(corpus, key, None) is not None:
            corpus_info[key] = getattr(corpus, key)
    return SampleManifest(corpus_info, split, span, sample, seed, rule, tuple(inventory), tuple(chosen), summary)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _progress(items: Iterable[Utterance], progress: bool, what: str) -> Iterator[Utterance]:
    return iter(tqdm(items, desc=what, unit="utt", disable=None if progress else True, leave=False))


def _probe(utt: Utterance, root: Path, skipped: list[list[str]]) -> float | None:
    """The utterance's duration, or None (and a ``[audio, reason]`` row in ``skipped``) for unusable audio."""
    try:
        return probe_audio(utt.audio_path).duration_s
    except AudioError as exc:
        skipped.append([_relative(utt.audio_path, root), exc.problem])
        return None


def _skipped_summary(skipped: list[list[str]]) -> dict[str, Any]:
    return {"n_audio_skipped": len(skipped), "audio_skipped": skipped}


def _draw_utterances(corpus, split, utterances, rule, rng, progress):
    pool: list[tuple[Utterance, float]] = []
    skipped: list[list[str]] = []
    n_in_split = 0
    for utt in _progress(utterances, progress, f"checking {split} audio"):
        n_in_split += 1
        duration = _probe(utt, corpus.root, skipped)
        if duration is not None:
            pool.append((utt, duration))
    if not pool:
        why = f" ({len(skipped)} audio files skipped, e.g. {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise SampleError(f"split {split!r} of corpus {corpus.name!r} has no usable utterances{why}", path=corpus.root)
    k = min(rule.n_utterances, len(pool))
    picked = np.sort(rng.choice(len(pool), size=k, replace=False))
    align_root = getattr(corpus, "alignments", None) or corpus.root
    chosen = []
    for index in picked:
        utt, duration = pool[int(index)]
        alignment = _relative(utt.alignment_path, align_root) if utt.alignment_path else None
        chosen.append(SampledUtterance(utt.utt_id, _relative(utt.audio_path, corpus.root), alignment, duration))
    summary = {
        "n_utterances_in_split": n_in_split,
        "n_utterances": len(chosen),
        "n_segments": 0,
        "duration_s": round(sum(u.duration_s for u in chosen), 6),
        **_skipped_summary(skipped),
    }
    return chosen, summary, []


class _Instances:
    """All instances of one label, kept compactly (a LibriSpeech split has millions of phones)."""

    __slots__ = ("utt", "start", "end")

    def __init__(self) -> None:
        self.utt = array("l")
        self.start = array("d")
        self.end = array("d")

    def add(self, utt_index: int, interval: Interval) -> None:
        self.utt.append(utt_index)
        self.start.append(interval.start)
        self.end.append(interval.end)

    def __len__(self) -> int:
        return len(self.utt)


def _draw_segments(corpus, split, utterances, rule, rng, labels, progress, select=None):
    to_label = phone_class if rule.span == "phone" else word_label
    pool: list[tuple[Utterance, float]] = []
    instances: dict[str, _Instances] = {}
    unclassed: Counter[str] = Counter()
    skipped: list[list[str]] = []
    n_in_split = without_alignment = 0
    for utt in _progress(utterances, progress, f"reading {split} alignments"):
        n_in_split += 1
        if utt.alignment_path is None:
            without_alignment += 1
            continue
        duration = _probe(utt, corpus.root, skipped)
        if duration is None:
            continue
        alignment = utt.load_alignment(duration=duration)
        utt_index = len(pool)
        pool.append((utt, duration))
        for interval in alignment.phones if rule.span == "phone" else alignment.words:
            label = to_label(interval.label)
            if label is None:
                unclassed[interval.label] += 1
                continue
            instances.setdefault(label, _Instances()).add(utt_index, interval)
    if n_in_split == 0:
        raise SampleError(f"split {split!r} of corpus {corpus.name!r} has no utterances", path=corpus.root)
    if not pool and skipped:
        raise SampleError(
            f"no aligned utterance of split {split!r} has usable audio ({len(skipped)} audio files skipped, e.g. "
            f"{skipped[0][0]}: {skipped[0][1]})",
            path=corpus.root,
        )
    if not pool:
        hint = " (give --alignments DIR for LibriSpeech)" if corpus.format == "librispeech" else ""
        raise SampleError(
            f"no utterance of split {split!r} has an alignment; {rule.span} spans need alignments{hint}",
            path=corpus.root,
        )
    if not instances:
        raise SampleError(f"split {split!r} has no {rule.span} segments with a label", path=corpus.root)
    inventory = _inventory(instances, rule, labels) if select is None else select(instances)
    drawn: dict[int, list[Interval]] = {}
    per_label: dict[str, int] = {}
    for label in inventory:
        found = instances.get(label)
        n = len(found) if found is not None else 0
        if n == 0:
            per_label[label] = 0
            continue
        k = int(rng.integers(min(rule.min_per_label, n), min(rule.max_per_label, n) + 1))
        for i in np.sort(rng.choice(n, size=k, replace=False)):
            drawn.setdefault(found.utt[i], []).append(Interval(found.start[i], found.end[i], label))
        per_label[label] = k
    align_root = getattr(corpus, "alignments", None) or corpus.root
    chosen = []
    for utt_index in sorted(drawn):
        utt, duration = pool[utt_index]
        segments = tuple(sorted(drawn[utt_index], key=lambda s: (s.start, s.end, s.label)))
        chosen.append(
            SampledUtterance(
                utt.utt_id,
                _relative(utt.audio_path, corpus.root),
                _relative(utt.alignment_path, align_root),
                duration,
                0,
                segments,
            )
        )
    summary = {
        "n_utterances_in_split": n_in_split,
        "n_utterances_without_alignment": without_alignment,
        "n_utterances": len(chosen),
        "n_segments": sum(per_label.values()),
        "duration_s": round(sum(u.duration_s for u in chosen), 6),
        "segment_duration_s": round(sum(s.end - s.start for u in chosen for s in u.segments), 6),
        "per_label": per_label,
        "available_per_label": {label: len(instances[label]) if label in instances else 0 for label in inventory},
        "labels_without_class": dict(sorted(unclassed.most_common(20))),
        **_skipped_summary(skipped),
    }
    return chosen, summary, inventory


def _inventory(instances: dict[str, _Instances], rule: SamplingRule, labels: Sequence[str] | None) -> list[str]:
    if labels is not None:
        inventory = list(dict.fromkeys(labels))
        if not inventory:
            raise ConfigError("the given label list is empty")
        if not any(label in instances for label in inventory):
            raise SampleError(f"none of the {len(inventory)} given labels occurs in this split")
        return inventory
    by_frequency = sorted(instances, key=lambda label: (-len(instances[label]), label))
    if rule.n_labels is not None:
        by_frequency = by_frequency[: rule.n_labels]
    if rule.span == "phone":  # the fixed class order, restricted to the classes kept
        kept = set(by_frequency)
        return [label for label in ARPABET39 if label in kept]
    return by_frequency


def _assign_subsets(utterances: list[SampledUtterance], limit_s: float) -> list[SampledUtterance]:
    out, index, total = [], 0, 0.0
    for utt in utterances:
        if total > 0 and total + utt.duration_s > limit_s:
            index, total = index + 1, 0.0
        total += utt.duration_s
        out.append(replace(utt, subset=index))
    return out


# --------------------------------------------------------------------------------------------------
# Reading and writing


def write_manifest(manifest: SampleManifest, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write a manifest atomically.

    An existing file with identical content is left as it is; one with different content is an
    error unless ``overwrite`` (features extracted from the old sample would no longer match it).

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    text = manifest.to_json_text()
    if path.exists() and not overwrite:
        if path.read_text(encoding="utf-8") == text:
            return path
        raise SampleError("exists with a different sample; pass --overwrite to replace it", path=path)
    created = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    try:
        return atomic_write(path, text)
    except OSError as exc:
        for folder in created:  # deepest first; rmdir leaves a folder something else wrote into
            try:
                folder.rmdir()
            except OSError:
                break
        if exc.errno == errno.ENOSPC:
            reason = "no space left on device"
        else:
            where = f" at {exc.filename}" if exc.filename and Path(exc.filename) != path else ""
            reason = f"{exc.strerror or exc}{where}"
        raise SampleError(
            f"cannot write the data-sample manifest: {reason}; nothing was written (free some space or choose another --out, and rerun)",
            path=path,
        ) from None


def read_manifest(path: str | os.PathLike[str]) -> SampleManifest:
    """Read and check a data-sample manifest.

    Raises
    ------
    SampleError
        When the file is missing, not JSON, or lacks a field or has one of the wrong type.
    """
    path = Path(path)
    if not os.path.isfile(path):  # os.path: False (not OSError) for a name too long for the file system
        raise SampleError("no such data-sample manifest", path=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SampleError(f"not a JSON file ({exc})", path=path) from None
    except RecursionError:
        raise SampleError("not a data-sample manifest (JSON nested too deeply to read)", path=path) from None
    except OSError as exc:
        raise SampleError(f"cannot be read ({exc.strerror or exc})", path=path) from None
    try:
        return _manifest_from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise SampleError(f"not a valid data-sample manifest ({type(exc).__name__}: {exc})", path=path) from None
    except LayerprobeError as exc:
        raise SampleError(f"not a valid data-sample manifest ({exc.problem})", path=path) from None


def _count(value: Any, what: str) -> int:
    """A non-negative integer field (``3`` or ``3.0``; not ``True``, ``-1``, ``1.5`` or ``1e999``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    if isinstance(value, float) and not value.is_integer():  # inf.is_integer() is False too
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return int(value)


def _seconds(value: Any, what: str) -> float:
    """A finite, non-negative number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, got {value!r}")
    seconds = float(value)
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"{what} must be a finite, non-negative number of seconds, got {value!r}")
    return seconds


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _utterance_from_json(entry: Any, number: int, span: str) -> SampledUtterance:
    where = f"utterance {number}"
    if not isinstance(entry, dict):
        raise TypeError(f"{where} is not an object")
    segments = []
    for start, end, label in entry["segments"]:
        segment = Interval(
            _seconds(start, f"{where}: segment start"), _seconds(end, f"{where}: segment end"), _text(label, f"{where}: segment label")
        )
        if segment.start >= segment.end:
            raise ValueError(
                f"{where}: segment {segment.label!r} starts at {segment.start:.6g} s, not before its end {segment.end:.6g} s"
            )
        segments.append(segment)
    if span == "frame" and segments:
        raise ValueError(f"{where} has segments, but this is a frame-span sample")
    duration = _seconds(entry["duration_s"], f"{where}: duration_s")
    if duration <= 0:
        raise ValueError(f"{where}: duration_s must be positive, got {duration!r}")
    alignment = entry["alignment"]
    fingerprint = entry.get("fingerprint")
    if fingerprint is not None and (not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint)):
        raise ValueError(f"{where}: fingerprint must be '<bytes>:<32 hex digits>', got {fingerprint!r}")
    return SampledUtterance(
        _text(entry["id"], f"{where}: id"),
        _text(entry["audio"], f"{where}: audio"),
        None if alignment is None else _text(alignment, f"{where}: alignment"),
        duration,
        _count(entry["subset"], f"{where}: subset"),
        tuple(segments),
        fingerprint,
    )


#: What :func:`layerprobe.io.audio.audio_fingerprint` returns: the file's size and a 128-bit hex digest.
_FINGERPRINT = re.compile(r"(0|[1-9][0-9]{0,17}):[0-9a-f]{32}")


def _manifest_from_json(data: dict[str, Any]) -> SampleManifest:
    if not isinstance(data, dict) or data.get("layerprobe_data_sample") != MANIFEST_FORMAT:
        raise ValueError(f"missing or unknown 'layerprobe_data_sample' (expected {MANIFEST_FORMAT})")
    rule = SamplingRule(**data["rule"])
    rule.check()
    span = str(data["span"])
    if span not in SPANS or rule.span != span:
        raise ValueError(f"span {span!r} is unknown or differs from the rule's")
    corpus = data["corpus"]
    for key in ("name", "format", "root"):
        if not isinstance(corpus[key], str):
            raise TypeError(f"corpus.{key} must be a string")
    if corpus.get("alignments") is not None and not isinstance(corpus["alignments"], str):
        raise TypeError("corpus.alignments must be a string or null")
    for key in ("phone_tier", "word_tier"):
        if corpus.get(key) is not None and not isinstance(corpus[key], str):
            raise TypeError(f"corpus.{key} must be a string or null")
    utterances = [_utterance_from_json(entry, number, span) for number, entry in enumerate(data["utterances"], start=1)]
    ids = Counter(utt.utt_id for utt in utterances)
    repeated = [utt_id for utt_id, n in ids.items() if n > 1]
    if repeated:
        raise ValueError(f"utterance {repeated[0]!r} is listed {ids[repeated[0]]} times")
    return SampleManifest(
        corpus=dict(corpus),
        split=_text(data["split"], "split"),
        span=span,
        sample=_count(data["sample"], "sample"),
        seed=_count(data["seed"], "seed"),
        rule=rule,
        labels=tuple(_text(label, "a label") for label in data["labels"]),
        utterances=tuple(utterances),
        summary=dict(data["summary"]),
    )


def read_label_list(path: str | os.PathLike[str]) -> list[str]:
    """Labels from a data-sample manifest (its inventory) or a text file with one label per line."""
    path = Path(path)
    if path.suffix == ".json":
        return list(read_manifest(path).labels)
    if not os.path.isfile(path):
        raise ConfigError("no such label list", path=path)
    try:
        labels = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read as UTF-8 text ({exc})", path=path) from None
    if not labels:
        raise ConfigError("the label list is empty", path=path)
    return labels


__all__ = [
    "SPANS",
    "ROLES",
    "MANIFEST_FORMAT",
    "SamplingRule",
    "SampledUtterance",
    "SampleManifest",
    "default_role",
    "draw_sample",
    "manifest_path",
    "write_manifest",
    "read_manifest",
    "read_label_list",
]
