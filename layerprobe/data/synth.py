"""The offline synthesized corpus: eSpeak NG sentences with exact phone and word timings.

:func:`synthesize_corpus` draws sentences from :mod:`layerprobe.data.sentences`, speaks each one with
eSpeak NG (:mod:`layerprobe.data.espeak`) in one of several voices at a rate and pitch drawn from a
seeded generator, and writes::

    out_dir/
      corpus.json                     provenance and one record per utterance
      train/synth-00000.wav           16 kHz mono, 16-bit PCM
      train/synth-00000.TextGrid      tiers words, phones (ARPAbet-39), phones_ipa (eSpeak's IPA)
      train/synth-00000.txt           the transcript: lower-case words, one line
      dev/...  test/...

Phone and word times are the synthesizer's own (see :mod:`layerprobe.data.espeak`), shifted by the
silence padded before the speech; ``phones`` and ``phones_ipa`` hold the same intervals.  Splits hold
different sentences.  The same arguments give byte-identical files.  Everything is written into a
temporary sibling directory (``.<out>.partial-<host>-<pid>-<random>``) that is renamed to ``out_dir``
only at the end, so an interrupted run leaves no directory that looks like a corpus; a run removes
the partial folders that killed runs on this host left beside ``out_dir`` (those whose process is
gone).  A full disk is reported in one line and leaves nothing.  Sizes are bounded up front: at most
:data:`MAX_UTTERANCES`, and no more than the free disk holds at :data:`BYTES_PER_UTTERANCE`.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import soxr
from tqdm import tqdm

from layerprobe import __version__
from layerprobe.data import espeak
from layerprobe.data.sentences import generate_sentences
from layerprobe.errors import ConfigError, CorpusError, LayerprobeError
from layerprobe.io.alignments import Alignment, Interval, write_textgrid
from layerprobe.io.audio import SAMPLE_RATE, write_audio

#: Voices of the corpus: American and British English, male and female variants.  Each was checked
#: to give clear audio and only mapped phonemes over the generator's vocabulary.
DEFAULT_VOICES: tuple[str, ...] = (
    "en-us", "en-us+f3", "en-us+m3", "en-us+f4", "en+m1", "en+f2", "en+m4", "en+f1",
)  # fmt: skip

#: Default split names and the fraction of sentences each gets.
DEFAULT_SPLITS: tuple[tuple[str, float], ...] = (("train", 0.8), ("dev", 0.1), ("test", 0.1))

#: Range (inclusive) of speaking rates drawn per utterance, words per minute.
DEFAULT_RATE_RANGE = (140, 190)

#: Range (inclusive) of eSpeak pitch values drawn per utterance (50: the voice's own pitch).
PITCH_RANGE = (35, 65)

#: Silence added before and after the speech, in samples at 22050 Hz (0.2 s): eSpeak's audio
#: starts and stops right at the speech, while recorded corpora have some silence around it.
PADDING_SAMPLES = 4410

#: Gain applied to eSpeak's audio, which peaks at full scale, so that resampling does not clip.
GAIN = 0.9

#: Names of the TextGrid tiers written.
TIERS = ("words", "phones", "phones_ipa")

#: Most utterances one corpus may have: ~1000 h of speech and ~120 GB, hours of synthesis; the plan
#: (every sentence) is made in memory before anything is written, so larger sizes are refused.
MAX_UTTERANCES = 1_000_000

#: Disk one utterance takes, measured: ~3.1 s of 16-bit 16 kHz audio (~100 kB) + TextGrid + text
#: (2.12 MB for 20 utterances of seed 0), rounded up; a corpus needing more than the free disk is refused.
BYTES_PER_UTTERANCE = 120_000

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_CHECK_SENTENCE = "The quick brown fox jumped over a lazy dog."


@dataclass(frozen=True)
class PlannedUtterance:
    """What to synthesize for one utterance.

    Attributes
    ----------
    utt_id : str
        ``synth-00017``.
    split : str
    text : str
        The sentence as spoken (capitalised, punctuated).
    voice : str
        eSpeak voice.
    rate, pitch : int
        Words per minute; eSpeak pitch (0-100).
    seed : int
        Seed of eSpeak's random generator for this utterance.
    """

    utt_id: str
    split: str
    text: str
    voice: str
    rate: int
    pitch: int
    seed: int


@dataclass(frozen=True)
class RenderedUtterance:
    """An utterance ready to write.

    Attributes
    ----------
    waveform : numpy.ndarray, shape (n_samples,), float32
        16 kHz audio.
    alignment : Alignment
        Words and ARPAbet-39 phones.
    ipa_phones : tuple of Interval
        The same phone intervals labelled with eSpeak's IPA.
    """

    waveform: np.ndarray
    alignment: Alignment
    ipa_phones: tuple[Interval, ...]


@dataclass
class SynthReport:
    """What :func:`synthesize_corpus` wrote.

    Attributes
    ----------
    out_dir : Path
    counts : dict of str to int
        Utterances per split.
    seconds : dict of str to float
        Audio duration per split.
    n_words, n_phones : int
        Word and phone intervals over the whole corpus.
    voices : tuple of str
    espeak_version : str
    stale_removed : list of Path
        Partial folders of killed runs that this run removed.
    """

    out_dir: Path
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    n_words: int = 0
    n_phones: int = 0
    voices: tuple[str, ...] = ()
    espeak_version: str = ""
    stale_removed: list[Path] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        """Audio duration of the whole corpus in seconds."""
        return sum(self.seconds.values())

    @property
    def n_utterances(self) -> int:
        """Number of utterances in all splits."""
        return sum(self.counts.values())


# --------------------------------------------------------------------------------------------------
# Options


def _check_options(
    n: int, seed: int, split_fractions: Sequence[tuple[str, float]], voices: Sequence[str], rate_range: tuple[int, int]
) -> None:
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"number of utterances must be a positive integer, got {n!r}")
    if n > MAX_UTTERANCES:
        raise ConfigError(
            f"--n {n} is more than the synthesized corpus allows ({MAX_UTTERANCES}: ~1000 h of speech, "
            f"~{_size(MAX_UTTERANCES * BYTES_PER_UTTERANCE)}); make several corpora with different seeds instead"
        )
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    _check_splits(split_fractions)
    if not voices:
        raise ConfigError("no voices given for the synthesized corpus")
    if len(set(voices)) != len(voices):
        raise ConfigError(f"voices are listed more than once: {', '.join(voices)}")
    low, high = rate_range
    if not (espeak.RATE_LIMITS[0] <= low <= high <= espeak.RATE_LIMITS[1]):
        raise ConfigError(
            f"rate range {low}-{high} must be ordered and within {espeak.RATE_LIMITS[0]}-{espeak.RATE_LIMITS[1]} "
            "words per minute"
        )


def _check_splits(split_fractions: Sequence[tuple[str, float]]) -> None:
    names = [name for name, _ in split_fractions]
    if not names:
        raise ConfigError("no splits given for the synthesized corpus")
    for name, fraction in split_fractions:
        if not _SPLIT_NAME.match(name):
            raise ConfigError(f"split name {name!r} must be letters, digits, '-' or '_'")
        if not (math.isfinite(fraction) and fraction > 0):
            raise ConfigError(f"split {name!r} has fraction {fraction!r}; fractions must be positive")
    if len(set(names)) != len(names):
        raise ConfigError(f"split names are listed more than once: {', '.join(names)}")
    total = sum(fraction for _, fraction in split_fractions)
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"split fractions must add up to 1, got {total:.6g}")


def check_voice(voice: str) -> None:
    """Check that an eSpeak voice speaks a test sentence audibly with phonemes that all map.

    Raises
    ------
    ConfigError
        When the voice does not exist, is silent, or says a phoneme without an ARPAbet-39 class.
    """
    synthesis = espeak.synthesize(_CHECK_SENTENCE, voice=voice)
    if synthesis.samples.size == 0 or np.abs(synthesis.samples).max() < 1000:
        raise ConfigError(f"eSpeak voice {voice!r} produces no audible speech")
    try:
        for word in espeak.timed_words(synthesis):
            for phone in word.phones:
                espeak.ipa_to_arpabet(phone.ipa)
    except LayerprobeError as exc:
        raise ConfigError(f"eSpeak voice {voice!r} cannot be used for the corpus: {exc}") from None


def split_sizes(n: int, split_fractions: Sequence[tuple[str, float]]) -> list[tuple[str, int]]:
    """Share ``n`` utterances among splits in proportion to their fractions.

    Largest remainders get the leftover utterances; then, while ``n`` allows, a split left empty
    takes one utterance from the largest split, so that every split has some.

    Examples
    --------
    >>> split_sizes(12, (("train", 0.8), ("dev", 0.1), ("test", 0.1)))
    [('train', 10), ('dev', 1), ('test', 1)]
    """
    _check_splits(split_fractions)
    exact = [n * fraction for _, fraction in split_fractions]
    sizes = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for index in by_remainder[: n - sum(sizes)]:
        sizes[index] += 1
    for index in range(len(sizes)):
        if sizes[index] == 0 and n >= len(sizes):
            largest = max(range(len(sizes)), key=lambda i: (sizes[i], -i))
            sizes[largest] -= 1
            sizes[index] += 1
    return [(name, size) for (name, _), size in zip(split_fractions, sizes)]


# --------------------------------------------------------------------------------------------------
# Planning and rendering


def plan_corpus(
    n: int,
    *,
    seed: int,
    split_fractions: Sequence[tuple[str, float]] = DEFAULT_SPLITS,
    voices: Sequence[str] = DEFAULT_VOICES,
    rate_range: tuple[int, int] = DEFAULT_RATE_RANGE,
) -> list[PlannedUtterance]:
    """Decide every utterance of the corpus: its split, sentence, voice, rate, pitch and seed.

    Sentences are distinct, so splits never share one.  Within a split, voices take turns in a
    shuffled order, so each voice speaks about as many utterances of every split.

    Returns
    -------
    list of PlannedUtterance
        ``n`` utterances, split by split, numbered ``synth-00000`` onwards.
    """
    _check_options(n, seed, split_fractions, voices, rate_range)
    sentences = generate_sentences(n, seed=seed)
    rng = np.random.default_rng([seed, 0x53594E])  # a stream of its own, apart from the sentences'
    plan: list[PlannedUtterance] = []
    for split, size in split_sizes(n, split_fractions):
        turns = np.resize(np.arange(len(voices)), size)
        rng.shuffle(turns)
        for voice_index in turns:
            index = len(plan)
            plan.append(
                PlannedUtterance(
                    utt_id=f"synth-{index:05d}",
                    split=split,
                    text=sentences[index],
                    voice=voices[int(voice_index)],
                    rate=int(rng.integers(rate_range[0], rate_range[1], endpoint=True)),
                    pitch=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1], endpoint=True)),
                    seed=int(rng.integers(0, 2**31 - 1)),
                )
            )
    return plan


def _padded_seconds(sample: int) -> float:
    """Seconds of a 22050 Hz sample index of eSpeak's audio, in the padded waveform."""
    return (sample + PADDING_SAMPLES) / espeak.SYNTH_SAMPLE_RATE


def _to_16k(samples: np.ndarray) -> np.ndarray:
    """eSpeak's int16 audio, shape (n,), at 22050 Hz -> padded float32 audio at 16 kHz, shape (m,)."""
    padding = np.zeros(PADDING_SAMPLES, dtype=np.float32)
    scaled = samples.astype(np.float32) * np.float32(GAIN / 32768.0)
    padded = np.concatenate([padding, scaled, padding])
    return soxr.resample(padded, espeak.SYNTH_SAMPLE_RATE, SAMPLE_RATE).astype(np.float32, copy=False)


def render_utterance(planned: PlannedUtterance) -> RenderedUtterance:
    """Synthesize one planned utterance and build its 16 kHz audio and alignment.

    Raises
    ------
    CorpusError
        When eSpeak's words differ from the sentence's (see :func:`layerprobe.data.espeak.timed_words`).
    AlignmentError
        When eSpeak says a phoneme without an ARPAbet-39 class.
    """
    synthesis = espeak.synthesize(
        planned.text, voice=planned.voice, rate=planned.rate, pitch=planned.pitch, seed=planned.seed
    )
    words = espeak.timed_words(synthesis)
    waveform = _to_16k(synthesis.samples)
    word_intervals = [
        Interval(_padded_seconds(word.start_sample), _padded_seconds(word.end_sample), word.label) for word in words
    ]
    phones = [phone for word in words for phone in word.phones]
    arpabet = [
        Interval(_padded_seconds(p.start_sample), _padded_seconds(p.end_sample), espeak.ipa_to_arpabet(p.ipa))
        for p in phones
    ]
    ipa = tuple(
        Interval(_padded_seconds(p.start_sample), _padded_seconds(p.end_sample), espeak.strip_stress(p.ipa))
        for p in phones
    )
    alignment = Alignment(planned.utt_id, waveform.size / SAMPLE_RATE, tuple(arpabet), tuple(word_intervals))
    return RenderedUtterance(waveform=waveform, alignment=alignment, ipa_phones=ipa)


def _write_utterance(split_dir: Path, planned: PlannedUtterance, rendered: RenderedUtterance) -> None:
    stem = split_dir / planned.utt_id
    write_audio(stem.with_suffix(".wav"), rendered.waveform)
    write_textgrid(rendered.alignment, stem.with_suffix(".TextGrid"), extra_tiers={"phones_ipa": rendered.ipa_phones})
    transcript = " ".join(word.label for word in rendered.alignment.words)
    stem.with_suffix(".txt").write_text(transcript + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# The corpus


def _manifest(
    plan: Sequence[PlannedUtterance],
    durations: dict[str, float],
    *,
    seed: int,
    split_fractions: Sequence[tuple[str, float]],
    voices: Sequence[str],
    rate_range: tuple[int, int],
) -> dict:
    return {
        "generator": "layerprobe.data.synth",
        "layerprobe_version": __version__,
        "espeak_ng_version": espeak.espeak_version(),
        "seed": seed,
        "n": len(plan),
        "split_fractions": [[name, fraction] for name, fraction in split_fractions],
        "voices": list(voices),
        "rate_range": list(rate_range),
        "pitch_range": list(PITCH_RANGE),
        "sample_rate": SAMPLE_RATE,
        "synth_sample_rate": espeak.SYNTH_SAMPLE_RATE,
        "padding_s": PADDING_SAMPLES / espeak.SYNTH_SAMPLE_RATE,
        "tiers": list(TIERS),
        "phone_labels": "ARPAbet-39 from eSpeak IPA (layerprobe.data.espeak.IPA_TO_ARPABET)",
        "utterances": {
            utt.utt_id: {
                "split": utt.split,
                "voice": utt.voice,
                "rate": utt.rate,
                "pitch": utt.pitch,
                "seed": utt.seed,
                "text": utt.text,
                "duration_s": durations[utt.utt_id],
            }
            for utt in plan
        },
    }


def _check_destination(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError("exists and is not a directory", path=out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise ConfigError(
            "directory exists and is not empty; pass --overwrite to replace it", path=out_dir
        )


def _size(n_bytes: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes / 1e3:.1f} kB"


def _check_disk(out_dir: Path, n: int) -> None:
    """Refuse a corpus that would not fit the free disk (estimated at :data:`BYTES_PER_UTTERANCE`)."""
    existing = out_dir.absolute().parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return
    needed = n * BYTES_PER_UTTERANCE
    if needed > free:
        raise CorpusError(
            f"{n} utterances need about {_size(needed)} of disk, but only {_size(free)} is free there; "
            "choose a smaller --n or another --out",
            path=out_dir,
        )


def _partial_prefix(out_dir: Path) -> str:
    return f".{out_dir.name}.partial-"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False  # alive, another user's; or not a pid this system can have
    return False


def _remove_stale_partials(out_dir: Path) -> list[Path]:
    """Remove ``.<out>.partial-<host>-<pid>-*`` folders beside ``out_dir`` that a killed run of this host left.

    Only folders named with this host whose process no longer exists: a run in progress (here or on
    another host sharing the folder) keeps its own.  Folders of older layerprobe versions (no pid in
    the name) are left alone, since their owner cannot be told.
    """
    parent = out_dir.absolute().parent
    prefix = _partial_prefix(out_dir) + _host() + "-"
    removed = []
    try:
        candidates = sorted(p for p in parent.iterdir() if p.name.startswith(prefix) and p.is_dir())
    except OSError:
        return removed
    for folder in candidates:
        pid_text = folder.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and _process_gone(int(pid_text)):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
    return removed


def _host() -> str:
    """This host's name, safe in a file name and without "-" (the field separator of partial folders)."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def _move_into_place(staging: Path, out_dir: Path) -> None:
    """Rename the finished staging directory to ``out_dir``, replacing what is there."""
    # whole directories: layerprobe.io.atomic renames single files, so the directory swap stays here
    if out_dir.is_dir():
        retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.replace(out_dir, retired / out_dir.name)
        os.replace(staging, out_dir)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, out_dir)


def synthesize_corpus(
    out_dir: str | os.PathLike[str],
    *,
    n: int = 200,
    seed: int = 0,
    split_fractions: Sequence[tuple[str, float]] = DEFAULT_SPLITS,
    voices: Sequence[str] = DEFAULT_VOICES,
    rate_range: tuple[int, int] = DEFAULT_RATE_RANGE,
    overwrite: bool = False,
    progress: bool = True,
) -> SynthReport:
    """Write a synthesized corpus of ``n`` utterances to ``out_dir``.

    Parameters
    ----------
    out_dir : path-like
        Destination; must not exist or be empty unless ``overwrite``.
    n : int, keyword-only
        Number of utterances (distinct sentences) over all splits.
    seed : int, keyword-only
        Seed of every random choice (sentences, voices, rates, pitches, eSpeak's own noise);
        the same seed gives byte-identical files.
    split_fractions : sequence of (str, float), keyword-only
        Split names and the fraction of utterances each gets; fractions add up to 1.
    voices : sequence of str, keyword-only
        eSpeak voices, each checked with :func:`check_voice` before anything is written.
    rate_range : (int, int), keyword-only
        Inclusive range of speaking rates (words per minute) drawn per utterance.
    overwrite : bool, keyword-only
        Replace an existing non-empty ``out_dir``.
    progress : bool, keyword-only
        Show a progress bar (only on a terminal).

    Returns
    -------
    SynthReport

    Raises
    ------
    ConfigError
        For a bad option or voice, more than :data:`MAX_UTTERANCES`, or an existing non-empty
        ``out_dir`` without ``overwrite``.
    CorpusError
        When the corpus would not fit the free disk, or the disk fills while writing (nothing is kept).
    """
    out_dir = Path(out_dir)
    _check_options(n, seed, split_fractions, voices, rate_range)
    _check_destination(out_dir, overwrite)
    stale = _remove_stale_partials(out_dir)
    _check_disk(out_dir, n)
    plan = plan_corpus(n, seed=seed, split_fractions=split_fractions, voices=voices, rate_range=rate_range)
    for voice in voices:
        check_voice(voice)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{_partial_prefix(out_dir)}{_host()}-{os.getpid()}-", dir=out_dir.parent))
    except OSError as exc:
        raise _write_error(exc, out_dir, 0, n) from None
    report = SynthReport(
        out_dir=out_dir,
        counts={split: 0 for split, _ in split_fractions},
        seconds={split: 0.0 for split, _ in split_fractions},
        voices=tuple(voices),
        espeak_version=espeak.espeak_version(),
        stale_removed=stale,
    )
    try:
        durations = _write_utterances(staging, plan, report, progress=progress)
        manifest = _manifest(
            plan, durations, seed=seed, split_fractions=split_fractions, voices=voices, rate_range=rate_range
        )
        text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        (staging / "corpus.json").write_text(text, encoding="utf-8")
        _move_into_place(staging, out_dir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _write_error(exc, out_dir, report.n_utterances, n) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _write_error(exc: OSError, out_dir: Path, written: int, n: int) -> CorpusError:
    """The one-line error for a failed write: a full disk says so; nothing of the run is kept."""
    what = "no space left on device" if exc.errno == errno.ENOSPC else f"cannot write ({exc.strerror or exc})"
    return CorpusError(
        f"{what} after {written} of {n} utterances; nothing was kept (free some space or choose another --out, and rerun)",
        path=out_dir,
    )


def _write_utterances(
    staging: Path, plan: Sequence[PlannedUtterance], report: SynthReport, *, progress: bool
) -> dict[str, float]:
    """Render and write every planned utterance into ``staging``; fill ``report``; return durations."""
    durations: dict[str, float] = {}
    with tqdm(plan, desc="synthesizing", unit="utt", disable=None if progress else True) as bar:
        for planned in bar:
            _render_and_write(staging, planned, report, durations)
    return durations


def _render_and_write(
    staging: Path, planned: PlannedUtterance, report: SynthReport, durations: dict[str, float]
) -> None:
    """Render one utterance, write its files under ``staging/<split>/`` and count it in ``report``."""
    split_dir = staging / planned.split
    split_dir.mkdir(exist_ok=True)
    rendered = render_utterance(planned)
    _write_utterance(split_dir, planned, rendered)
    duration = rendered.alignment.duration
    durations[planned.utt_id] = duration
    report.counts[planned.split] += 1
    report.seconds[planned.split] += duration
    report.n_words += len(rendered.alignment.words)
    report.n_phones += len(rendered.alignment.phones)


__all__ = [
    "DEFAULT_VOICES",
    "DEFAULT_SPLITS",
    "DEFAULT_RATE_RANGE",
    "PITCH_RANGE",
    "PADDING_SAMPLES",
    "MAX_UTTERANCES",
    "BYTES_PER_UTTERANCE",
    "PlannedUtterance",
    "RenderedUtterance",
    "SynthReport",
    "check_voice",
    "split_sizes",
    "plan_corpus",
    "render_utterance",
    "synthesize_corpus",
]
