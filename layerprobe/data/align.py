"""Forced alignment with PocketSphinx: word and phone boundaries for audio that has only transcripts.

``layerprobe corpus align`` turns a folder of recordings plus their transcripts into the
folder-of-wav+TextGrid corpus the rest of layerprobe reads.  The pieces:

* :func:`read_transcripts` reads a transcripts file (``utt_id text...`` per line, the layout of
  LibriSpeech's ``*.trans.txt``); :func:`normalize_transcript` turns text into dictionary words.
* :class:`ForcedAligner` aligns one waveform to its words with PocketSphinx's US English acoustic
  model and CMU dictionary, and returns an :class:`~layerprobe.io.alignments.Alignment` whose
  phones are ARPAbet-39 classes.  Words missing from the dictionary follow an OOV policy:
  ``"g2p"`` pronounces them with eSpeak NG, ``"skip"`` leaves the utterance unaligned and
  ``"error"`` stops.  They are always reported, never dropped from the transcript.
* :func:`align_corpus` aligns a whole folder, writes one TextGrid per aligned utterance and a JSON
  report of what happened to each utterance, and returns it as an :class:`AlignReport`.

The transcript and dictionary readers live in :mod:`layerprobe.data.align_text`, the report in
:mod:`layerprobe.data.align_report`; both are importable from here as before.

PocketSphinx does not verify a transcript: any word sequence that fits in the audio gets aligned
(with its default beams some wrong transcripts fail and others align, so they are no check
either), so transcripts must be right.  It fails only when the words cannot fit, and those
utterances are reported as failed.

PocketSphinx aligns in two passes over the same audio: a word-level search constrained to the
transcript, then a phone-level pass over the words it found.  Its frames are 10 ms and every phone
takes at least 3 frames (one per HMM state), so boundaries are multiples of 10 ms and no phone is
shorter than 30 ms, except where the last one is clipped to the end of the audio.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np

from layerprobe.data.align_report import (
    OOV_G2P,
    OOV_SKIPPED,
    NO_TRANSCRIPT,
    OOV_UNPRONOUNCEABLE,
    REPORT_NAME,
    AlignReport,
    UtteranceResult,
    UtteranceStatus,  # noqa: F401  (re-exported)
    _count,
    write_report,
)
from layerprobe.data.align_text import (
    _VARIANT_SUFFIX,
    _digit_warnings,
    _espeak_pronunciation,
    normalize_transcript,
    read_pronunciations,
    read_transcript_file,
    read_transcripts,
)
from layerprobe.data.labels import is_silence, phone_class
from layerprobe.errors import (
    AlignmentError,
    AudioError,
    ConfigError,
    CorpusError,
    DependencyError,
    LayerprobeError,
    PathLike,
)
from layerprobe.io.alignments import Alignment, Interval, write_textgrid
from layerprobe.io.audio import AUDIO_SUFFIXES, SAMPLE_RATE, load_audio

#: What to do with words the pronunciation dictionary lacks.
OovPolicy = Literal["g2p", "skip", "error"]
OOV_POLICIES: tuple[str, ...] = ("g2p", "skip", "error")

INSTALL_HINT = 'pip install "layerprobe[align]"'

#: PocketSphinx pruning beams for alignment (much wider than its decoding defaults of ~1e-48).
ALIGNMENT_BEAMS = {"beam": 1e-300, "pbeam": 1e-300, "wbeam": 1e-250, "lpbeam": 1e-200, "lponlybeam": 1e-200, "maxhmmpf": -1}


class OutOfVocabularyError(LayerprobeError):
    """Words of a transcript that have no pronunciation under the aligner's OOV policy.

    Attributes
    ----------
    words : tuple of str
        The words without a pronunciation, in order of first occurrence.
    """

    def __init__(self, message: str, *, words: Sequence[str], path: PathLike | None = None, where: str | None = None):
        super().__init__(message, path=path, where=where)
        self.words = tuple(words)


class AlignmentFailedError(AlignmentError):
    """PocketSphinx found no path through the transcript for this audio (wrong text, too short)."""


# --------------------------------------------------------------------------------------------------
# Aligner


def _new_decoder() -> Any:
    try:
        from pocketsphinx import Decoder
    except ImportError:
        raise DependencyError(f"forced alignment needs PocketSphinx; install it with: {INSTALL_HINT}") from None
    # FATAL: PocketSphinx logs each failed alignment to stderr; failures are reported as exceptions here.
    # Wide beams: the search graph of a forced alignment is one word sequence, so pruning saves little,
    # while the default beams lose the path on unusual voices (10 of 40 synthesized dev/test
    # utterances of `corpus synth --n 200` failed with them, none with these; 40 utterances align in
    # 3.8 s instead of 2.4 s).
    return Decoder(samprate=SAMPLE_RATE, bestpath=False, loglevel="FATAL", **ALIGNMENT_BEAMS)


def _pcm16(waveform: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as little-endian 16-bit PCM bytes, which PocketSphinx reads."""
    return (np.clip(waveform, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class ForcedAligner:
    """Word and phone alignment of an utterance to its transcript with PocketSphinx (US English).

    Parameters
    ----------
    dictionary : path-like, optional
        Extra pronunciations in CMU format (``WORD PH1 PH2 ...``), added to PocketSphinx's CMU
        dictionary as further variants of a word (they do not replace its pronunciations).
    oov : {"g2p", "skip", "error"}
        Words in neither dictionary: ``"g2p"`` pronounces them with eSpeak NG
        (:func:`layerprobe.data.espeak.arpabet_pronunciation`), ``"skip"`` and ``"error"`` make
        :meth:`align` raise :class:`OutOfVocabularyError` (callers that skip check
        :meth:`missing_words` first).

    Notes
    -----
    The PocketSphinx decoder (about 0.3 s to build) is created on first use and reused.  The
    aligner keeps state (the decoder, eSpeak pronunciations) and is not thread-safe.
    """

    def __init__(self, dictionary: PathLike | None = None, oov: OovPolicy = "g2p"):
        if oov not in OOV_POLICIES:
            raise ConfigError(f"oov must be one of {', '.join(OOV_POLICIES)}, got {oov!r}")
        self.dictionary = Path(dictionary) if dictionary is not None else None
        self.oov = oov
        self._user_pronunciations = read_pronunciations(self.dictionary) if self.dictionary is not None else {}
        self._g2p_pronunciations: dict[str, tuple[str, ...]] = {}
        self._decoder: Any = None

    @property
    def g2p_pronunciations(self) -> dict[str, tuple[str, ...]]:
        """Words pronounced by eSpeak NG so far -> their ARPAbet-39 phones."""
        return dict(self._g2p_pronunciations)

    @property
    def decoder(self) -> Any:
        """The PocketSphinx decoder with the user's pronunciations added, built on first access."""
        if self._decoder is None:
            decoder = _new_decoder()
            for word, pronunciations in self._user_pronunciations.items():
                for phones in pronunciations:
                    self._add_pronunciation(decoder, word, phones)
            self._decoder = decoder
        return self._decoder

    @staticmethod
    def _add_pronunciation(decoder: Any, word: str, phones: Sequence[str]) -> None:
        # PocketSphinx refuses a second entry under a word's own name; variants are "word(2)", ...
        name, variant = word, 1
        while decoder.lookup_word(name) is not None:
            variant += 1
            name = f"{word}({variant})"
        # update=False: rebuilding the search costs ~0.1 s a word; set_align_text rebuilds it anyway.
        decoder.add_word(name, " ".join(phones), False)

    def missing_words(self, words: Iterable[str]) -> list[str]:
        """Words that neither PocketSphinx's dictionary nor the user's dictionary pronounces.

        Words pronounced earlier by eSpeak NG count as missing too, so that every utterance
        reports them.

        Parameters
        ----------
        words : iterable of str

        Returns
        -------
        list of str
            Lower-cased, without repeats, in order of first occurrence.
        """
        missing: list[str] = []
        for word in (w.lower() for w in words):
            if word in missing:
                continue
            if word in self._g2p_pronunciations or self.decoder.lookup_word(word) is None:
                missing.append(word)
        return missing

    def align(self, waveform: np.ndarray, words: Sequence[str], *, utt_id: str) -> Alignment:
        """Align a waveform to its words.

        Parameters
        ----------
        waveform : numpy.ndarray, shape (n_samples,)
            Mono float samples in [-1, 1] at 16 kHz.
        words : sequence of str
            The transcript as dictionary words (see :func:`normalize_transcript`).
        utt_id : str, keyword-only
            Identifier of the utterance, used in the result and in error messages.

        Returns
        -------
        Alignment
            ``words``: one interval per transcript word, labelled with the word as given
            (lower-cased); ``phones``: ARPAbet-39 classes.  Silences are gaps.  Times are
            frames / 100 s, clipped to the duration of the audio.

        Raises
        ------
        OutOfVocabularyError
            When words are missing from the dictionaries and the policy is ``"skip"`` or
            ``"error"``, or eSpeak NG cannot pronounce them under ``"g2p"``.
        AlignmentFailedError
            When PocketSphinx cannot align the words to the audio.
        DependencyError
            When PocketSphinx (or, for ``"g2p"``, eSpeak NG) is not installed.
        """
        where = f"utterance {utt_id!r}"
        samples = _checked_waveform(waveform, where)
        words = _checked_words(words, where)
        self._resolve_missing(words, where)
        segments = self._decode(samples, words, where)
        return _to_alignment(segments, words, utt_id, samples.size / SAMPLE_RATE, self._frame_rate(), where)

    def _resolve_missing(self, words: Sequence[str], where: str) -> None:
        missing = [w for w in self.missing_words(words) if w not in self._g2p_pronunciations]
        if not missing:
            return
        if self.oov != "g2p":
            raise OutOfVocabularyError(
                f"{_count(len(missing), 'word')} not in the pronunciation dictionary: {', '.join(missing)} "
                "(add them to a dictionary file, or use the OOV policy 'g2p' to pronounce them with eSpeak NG)",
                words=missing,
                where=where,
            )
        unpronounceable = [word for word in missing if not self._pronounce_with_g2p(word)]
        if unpronounceable:
            raise OutOfVocabularyError(
                f"eSpeak NG gives no ARPAbet pronunciation for {', '.join(unpronounceable)}; "
                "add them to a dictionary file",
                words=unpronounceable,
                where=where,
            )

    def _pronounce_with_g2p(self, word: str) -> bool:
        phones = _espeak_pronunciation(word)
        if not phones:
            return False
        self._add_pronunciation(self.decoder, word, phones)
        self._g2p_pronunciations[word] = phones
        return True

    def _frame_rate(self) -> float:
        return float(self.decoder.config["frate"])

    def _decode(self, samples: np.ndarray, words: Sequence[str], where: str) -> list[tuple[str, int, int, list]]:
        """Run both PocketSphinx passes; (word name, start frame, n frames, [(phone, start, n)]) per segment."""
        decoder = self.decoder
        pcm = _pcm16(samples)
        try:
            decoder.set_align_text(" ".join(words))
            _process_utterance(decoder, pcm)  # pass 1: where the transcript's words are
            decoder.set_alignment()
            _process_utterance(decoder, pcm)  # pass 2: the phones inside those words
            alignment = decoder.get_alignment()
        except RuntimeError as exc:
            raise AlignmentFailedError(
                f"PocketSphinx cannot align the transcript to the audio ({exc}); check that the text matches "
                "the speech and the audio is long enough",
                where=where,
            ) from None
        if alignment is None:
            raise AlignmentFailedError("PocketSphinx returned no alignment", where=where)
        return [
            (segment.name, segment.start, segment.duration, [(p.name, p.start, p.duration) for p in segment])
            for segment in alignment
        ]


def _process_utterance(decoder: Any, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _checked_waveform(waveform: np.ndarray, where: str) -> np.ndarray:
    samples = np.asarray(waveform)
    if samples.ndim != 1 or samples.size == 0 or samples.dtype.kind != "f":
        raise AudioError(
            f"expected a non-empty 1-d float waveform at 16 kHz, got {samples.dtype} of shape {samples.shape}",
            where=where,
        )
    if not np.isfinite(samples).all():
        raise AudioError("waveform holds NaN or infinite samples", where=where)
    return samples


def _checked_words(words: Sequence[str], where: str) -> list[str]:
    if isinstance(words, str):
        raise ConfigError("words must be a sequence of words, not one string (see normalize_transcript)", where=where)
    checked = [str(word).lower() for word in words]
    if not checked:
        raise ConfigError("the transcript has no words to align", where=where)
    for word in checked:
        if not word or word != "".join(word.split()) or _VARIANT_SUFFIX.search(word):
            raise ConfigError(f"{word!r} is not a word (see normalize_transcript)", where=where)
    return checked


def _to_alignment(
    segments: Sequence[tuple[str, int, int, list]],
    words: Sequence[str],
    utt_id: str,
    duration: float,
    frame_rate: float,
    where: str,
) -> Alignment:
    """Turn PocketSphinx segments into an Alignment, checking that they spell the transcript."""
    word_intervals: list[Interval] = []
    phone_intervals: list[Interval] = []

    def interval(start: int, n_frames: int, label: str) -> Interval | None:
        start_s, end_s = start / frame_rate, min((start + n_frames) / frame_rate, duration)
        return Interval(start_s, end_s, label) if start_s < end_s else None

    spoken = [s for s in segments if not (is_silence(s[0]) or s[0].startswith("["))]  # fillers: [NOISE]
    found = [_VARIANT_SUFFIX.sub("", name).lower() for name, *_ in spoken]
    if found != list(words):
        raise AlignmentFailedError(
            f"PocketSphinx aligned {len(found)} of {len(words)} words ({' '.join(found[:8])} ...)", where=where
        )
    for word, (_, start, n_frames, phones) in zip(words, spoken):
        word_interval = interval(start, n_frames, word)
        if word_interval is None:
            raise AlignmentFailedError(f"word {word!r} starts after the end of the audio", where=where)
        word_intervals.append(word_interval)
        for name, phone_start, phone_frames in phones:
            label = phone_class(name)
            phone_interval = interval(phone_start, phone_frames, label) if label else None
            if phone_interval is not None:
                phone_intervals.append(phone_interval)
    try:
        return Alignment(utt_id, duration, tuple(phone_intervals), tuple(word_intervals))
    except AlignmentError as exc:  # not seen in practice; a PocketSphinx quirk must not stop a corpus
        raise AlignmentFailedError(f"PocketSphinx gave an inconsistent alignment ({exc})", where=where) from None


# --------------------------------------------------------------------------------------------------
# Corpus


def _find_audio(audio_dir: Path, utt_id: str) -> Path | None:
    for suffix in AUDIO_SUFFIXES:
        for candidate in (audio_dir / f"{utt_id}{suffix}", audio_dir / f"{utt_id}{suffix.upper()}"):
            try:
                if candidate.is_file():
                    return candidate
            except OSError:  # a name the file system refuses (too long) is no file
                continue
    return None


def _transcripts_beside_audio(audio_dir: Path) -> dict[str, str | None]:
    """Utterance id -> transcript text from ``<id>.txt`` beside each audio file (None when absent)."""
    stems = sorted({p.stem for p in audio_dir.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES})
    if not stems:
        raise CorpusError(f"holds no audio files ({', '.join(AUDIO_SUFFIXES)})", path=audio_dir)
    transcripts: dict[str, str | None] = {}
    for stem in stems:
        text_path = next((p for p in (audio_dir / f"{stem}.txt", audio_dir / f"{stem}.TXT") if p.is_file()), None)
        transcripts[stem] = read_transcript_file(text_path) if text_path is not None else None
    return transcripts


def _raise_for_oov(aligner: ForcedAligner, transcripts: Mapping[str, str | None], source: Path) -> None:
    """Under the OOV policy "error", stop before aligning anything, naming every missing word."""
    missing: dict[str, str] = {}
    for utt_id, text in transcripts.items():
        for word in aligner.missing_words(normalize_transcript(text or "")):
            missing.setdefault(word, utt_id)
    if missing:
        named = ", ".join(f"{word} ({utt_id})" for word, utt_id in list(missing.items())[:10])
        raise OutOfVocabularyError(
            f"{_count(len(missing), 'word')} not in the pronunciation dictionary: {named}"
            f"{', ...' if len(missing) > 10 else ''}; add them to a dictionary file, or use the OOV policy "
            "'g2p' or 'skip'",
            words=list(missing),
            path=source,
        )


def _oov_handling(
    missing: Sequence[str], aligner: ForcedAligner, unpronounceable: Sequence[str] = ()
) -> dict[str, str]:
    """How each out-of-dictionary word of an utterance ended up (see :class:`UtteranceResult`)."""
    handling = {}
    for word in missing:
        if word in aligner.g2p_pronunciations:
            handling[word] = OOV_G2P
        elif word in unpronounceable:
            handling[word] = OOV_UNPRONOUNCEABLE
        else:
            handling[word] = OOV_SKIPPED
    return handling


def _align_utterance(
    aligner: ForcedAligner, utt_id: str, text: str | None, audio_dir: Path, out_dir: Path
) -> UtteranceResult:
    """Align one utterance and write its TextGrid; every outcome but a policy error is a result."""
    audio = _find_audio(audio_dir, utt_id)
    if audio is None:
        looked_for = " or ".join(f"{utt_id}{suffix}" for suffix in AUDIO_SUFFIXES)
        return UtteranceResult(utt_id, "skipped", reason=f"no audio file ({looked_for})")
    if text is None:
        return UtteranceResult(utt_id, "skipped", reason=f"{NO_TRANSCRIPT} ({utt_id}.txt)", audio=audio.name)
    result = UtteranceResult(utt_id, "skipped", audio=audio.name, warnings=_digit_warnings(text))
    words = normalize_transcript(text)
    if not words:
        return replace(result, reason="transcript has no words")
    missing = aligner.missing_words(words)
    if missing and aligner.oov == "skip":
        reason = f"{_count(len(missing), 'word')} not in the dictionary: {', '.join(missing)}"
        return replace(result, reason=reason, oov=_oov_handling(missing, aligner))
    try:
        waveform = load_audio(audio)
    except AudioError as exc:
        return replace(result, status="failed", reason=str(exc), oov=_oov_handling(missing, aligner))
    result = replace(result, duration_s=waveform.size / SAMPLE_RATE)
    try:
        alignment = aligner.align(waveform, words, utt_id=utt_id)
    except OutOfVocabularyError as exc:
        return replace(result, reason=exc.problem, oov=_oov_handling(missing, aligner, exc.words))
    except AlignmentFailedError as exc:
        return replace(result, status="failed", reason=exc.problem, oov=_oov_handling(missing, aligner))
    textgrid = out_dir / f"{utt_id}.TextGrid"
    try:
        write_textgrid(alignment, textgrid)
    except OSError as exc:
        raise CorpusError(f"cannot write the TextGrid ({exc.strerror or exc})", path=textgrid) from None
    return replace(
        result,
        status="aligned",
        textgrid=textgrid.name,
        n_words=len(alignment.words),
        n_phones=len(alignment.phones),
        oov=_oov_handling(missing, aligner),
    )


def align_corpus(
    audio_dir: PathLike,
    transcripts_path: PathLike | None,
    out_dir: PathLike,
    *,
    oov: OovPolicy = "g2p",
    dictionary: PathLike | None = None,
    progress: bool = True,
) -> AlignReport:
    """Force-align a folder of recordings to their transcripts and write TextGrids and a report.

    Parameters
    ----------
    audio_dir : path-like
        Folder with ``<utt_id>.wav`` or ``<utt_id>.flac`` files (any sample rate, mono or not).
    transcripts_path : path-like or None
        Transcripts file (``utt_id text...`` per line, see :func:`read_transcripts`).  None: every
        audio file's transcript is the same-named ``.txt`` file beside it.
    out_dir : path-like
        Folder (created if missing) for ``<utt_id>.TextGrid`` (tiers ``words`` and ``phones``) and
        ``align_report.json``.
    oov : {"g2p", "skip", "error"}, keyword-only
        Policy for words the dictionaries lack (see :class:`ForcedAligner`).  ``"error"`` checks
        every transcript before aligning anything.
    dictionary : path-like, optional, keyword-only
        Extra pronunciations in CMU format.
    progress : bool, keyword-only
        Show a tqdm progress bar (only on a terminal).

    Returns
    -------
    AlignReport
        Per-utterance outcomes; skipped and failed utterances get no TextGrid.

    Raises
    ------
    OutOfVocabularyError
        Under ``oov="error"``, when any transcript has a word the dictionaries lack.
    CorpusError
        When the folder, transcripts or dictionary cannot be read.
    DependencyError
        When PocketSphinx (or eSpeak NG, needed for an OOV word under ``"g2p"``) is missing.
    """
    from tqdm import tqdm

    audio_dir, out_dir = Path(audio_dir), Path(out_dir)
    if not audio_dir.is_dir():
        raise CorpusError("audio folder does not exist or is not a folder", path=audio_dir)
    aligner = ForcedAligner(dictionary=dictionary, oov=oov)
    if transcripts_path is not None:
        transcripts: dict[str, str | None] = dict(read_transcripts(transcripts_path))
        if not transcripts:
            raise CorpusError("transcripts file holds no utterances", path=transcripts_path)
    else:
        transcripts = _transcripts_beside_audio(audio_dir)
    if oov == "error":
        _raise_for_oov(aligner, transcripts, Path(transcripts_path) if transcripts_path else audio_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorpusError(f"cannot create the output folder ({exc.strerror or exc})", path=out_dir) from None
    results = tuple(
        _align_utterance(aligner, utt_id, text, audio_dir, out_dir)
        for utt_id, text in tqdm(transcripts.items(), desc="align", unit="utt", disable=None if progress else True)
    )
    report = AlignReport(results, oov, aligner.g2p_pronunciations, out_dir / REPORT_NAME)
    write_report(report.to_dict(), report.report_path)
    return report



__all__ = [
    "OOV_POLICIES",
    "REPORT_NAME",
    "OutOfVocabularyError",
    "AlignmentFailedError",
    "read_transcripts",
    "read_transcript_file",
    "normalize_transcript",
    "read_pronunciations",
    "ForcedAligner",
    "UtteranceResult",
    "AlignReport",
    "align_corpus",
]
