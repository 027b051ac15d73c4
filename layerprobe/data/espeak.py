"""eSpeak NG through ctypes: speech with exact phone and word timings, and the IPA -> ARPAbet-39 map.

The synthesized corpus (:mod:`layerprobe.data.synth`) and the forced aligner's grapheme-to-phoneme
fallback both use eSpeak NG 1.52, the shared library and voice data that the PyPI package
``espeakng-loader`` ships.  The library keeps global state and is not thread-safe, so every call
into it holds one lock; it is loaded afresh for every utterance (see :class:`_Engine`), because
some of that state survives ``espeak_Terminate`` and would make an utterance depend on the ones
spoken before it.

Timings
-------
eSpeak reports events while it synthesizes: a WORD event where each word starts (with the word's
character span in the text), a PHONEME event where each phoneme starts (with its IPA name and its
start as an exact sample index at 22050 Hz), and END events at clause ends.  Timings are read from
those events and never re-estimated:

* a phoneme lasts from its own sample to the sample of the next PHONEME or END event; phonemes of
  length zero are dropped, and phonemes with an empty name are pauses (silence, left as gaps);
* the phonemes between WORD event *k* and WORD event *k + 1* belong to word *k*, whose interval runs
  from the start of its first phoneme to the end of its last one;
* times in seconds are ``sample / 22050``, not rounded.

A word eSpeak reads together with its neighbour from one dictionary entry (``of the`` is one entry
in ``en_list``) gets no WORD event, or no phonemes of its own; :func:`timed_words` then finds that
the words spoken differ from the words of the text and raises :class:`~layerprobe.errors.CorpusError`.

IPA -> ARPAbet-39
-----------------
:data:`IPA_TO_ARPABET` maps every phoneme that eSpeak NG's English voices (American ``en-us`` and
British ``en``, with any variant) produce for the words of the CMU Pronouncing Dictionary onto one of
the 39 CMU classes of :data:`layerprobe.data.labels.ARPABET39`; stress marks ``ˈ`` ``ˌ`` are
stripped first.  eSpeak's rhotic and centring vowels (``ɑːɹ`` in *dark*, ``ʊɹ`` in *your*, ``eə``
in British *square*, ``aɪɚ`` in *fire*) are single phonemes of the synthesizer, one interval each,
so each maps to the class of its vowel; nothing is split or re-timed.

======================================  =====  ================================================
eSpeak IPA                              class  note
======================================  =====  ================================================
``ɑː`` ``ɒ`` ``ɑːɹ`` ``ɑ̃``              AA     ``ɒ``: British *lot*; ``ɑ̃``: French loans
``æ`` ``a``                             AE     ``a``: British *trap*
``ʌ`` ``ə`` ``ɐ``                       AH     ``ɐ``: reduced *a*
``ɔː`` ``ɔ`` ``ɔːɹ`` ``ɔ̃``              AO
``aʊ``                                  AW
``aɪ`` ``aɪə`` ``aɪɚ``                  AY     *fire*, one phoneme
``ɛ`` ``ɛɹ`` ``eə``                     EH     *square*
``ɚ`` ``ɜː``                            ER
``eɪ``                                  EY
``ɪ`` ``ᵻ`` ``ɪɹ`` ``iə``               IH     ``ᵻ``: reduced *roses* vowel; ``iə``: *near*, *idea*
``iː`` ``i``                            IY     ``i``: final vowel of *happy*
``oʊ`` ``əʊ``                           OW     ``əʊ``: British *goat*
``ɔɪ``                                  OY
``ʊ`` ``ʊɹ`` ``ʊə``                     UH     *cure*
``uː``                                  UW
``b`` ``d`` ``ɡ`` ``k`` ``p`` ``t``     B D G K P T
``x``                                   K      *loch*, *Bach* (CMU uses K)
``ɾ`` ``ʔ``                             T      flap (CMU *water* = W AO T ER), glottal stop
``tʃ`` ``dʒ`` ``ð`` ``θ`` ``ʃ`` ``ʒ``   CH JH DH TH SH ZH
``f`` ``v`` ``s`` ``z`` ``h``           F V S Z HH
``m`` ``n`` ``n̩`` ``ŋ``                M N N NG   syllabic n as N
``l`` ``əl`` ``l̩`` ``ɬ``                L      syllabic l (*little*), Welsh *ll*
``ɹ`` ``r``                             R
``w`` ``j``                             W Y
======================================  =====  ================================================

Labels therefore follow what eSpeak said, not the CMU dictionary: British voices give ``AH`` where
CMU has ``ER`` in an unstressed *-er*, a linking r before a vowel is an ``R`` of the word before it,
and ``t`` between vowels is a flap (``T``).  The tests check that the map covers every phoneme the
voices of the synthesized corpus produce over the sentence generator's vocabulary.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import ctypes
import ctypes.util
import functools
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from layerprobe.data.labels import ARPABET39
from layerprobe.errors import AlignmentError, ConfigError, CorpusError, DependencyError

#: Sample rate of eSpeak NG's audio (Hz); event sample indices count at this rate.
SYNTH_SAMPLE_RATE = 22_050

#: Voice used when none is named (American English, default male).
DEFAULT_VOICE = "en-us"

#: Speaking rates eSpeak NG accepts, in words per minute.
RATE_LIMITS = (80, 450)

#: Pitch values eSpeak NG accepts (50 is the voice's own pitch).
PITCH_LIMITS = (0, 100)

#: eSpeak's speaking rate when none is given (words per minute).
DEFAULT_RATE = 175

#: Stress marks eSpeak writes in front of a stressed phoneme's IPA.
STRESS_MARKS = "ˈˌ"

IPA_TO_ARPABET: dict[str, str] = {
    # vowels; a rhotic or centring eSpeak phoneme ("ɑːɹ", "ʊə") is one interval: its vowel's class
    "ɑː": "AA", "ɒ": "AA", "ɑːɹ": "AA", "ɑ̃": "AA",
    "æ": "AE", "a": "AE",
    "ʌ": "AH", "ə": "AH", "ɐ": "AH",
    "ɔː": "AO", "ɔ": "AO", "ɔːɹ": "AO", "ɔ̃": "AO",
    "aʊ": "AW",
    "aɪ": "AY", "aɪə": "AY", "aɪɚ": "AY",
    "ɛ": "EH", "ɛɹ": "EH", "eə": "EH",
    "ɚ": "ER", "ɜː": "ER",
    "eɪ": "EY",
    "ɪ": "IH", "ᵻ": "IH", "ɪɹ": "IH", "iə": "IH",
    "iː": "IY", "i": "IY",
    "oʊ": "OW", "əʊ": "OW",
    "ɔɪ": "OY",
    "ʊ": "UH", "ʊɹ": "UH", "ʊə": "UH",
    "uː": "UW",
    # consonants
    "b": "B", "d": "D", "ɡ": "G", "k": "K", "x": "K", "p": "P", "t": "T", "ɾ": "T", "ʔ": "T",
    "tʃ": "CH", "dʒ": "JH", "ð": "DH", "θ": "TH", "ʃ": "SH", "ʒ": "ZH",
    "f": "F", "v": "V", "s": "S", "z": "Z", "h": "HH",
    "m": "M", "n": "N", "n̩": "N", "ŋ": "NG",
    "l": "L", "əl": "L", "l̩": "L", "ɬ": "L",
    "ɹ": "R", "r": "R", "w": "W", "j": "Y",
}  # fmt: skip

# eSpeak event types (espeak_EVENT_TYPE in speak_lib.h)
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_PHONEME = 7
_EVENT_NAMES = {
    1: "word", 2: "sentence", 3: "mark", 4: "play", 5: "end", 6: "msg_terminated", 7: "phoneme", 8: "samplerate",
}  # fmt: skip

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_FLAGS = 0x0001 | 0x0002 | 0x8000  # PHONEME_EVENTS | PHONEME_IPA | DONT_EXIT
_PARAMETER_RATE = 1
_PARAMETER_PITCH = 3
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0

_WORD_PATTERN = re.compile(r"[a-z']+")


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class SynthEvent:
    """One event eSpeak reported while synthesizing.

    Attributes
    ----------
    kind : str
        ``"word"``, ``"phoneme"``, ``"end"`` (clause end), ``"sentence"``, ``"samplerate"`` ...
    sample : int
        Where the event happens, as a sample index at :data:`SYNTH_SAMPLE_RATE`.
    text_position : int
        1-based character position in the text (word events: the word's first character).
    length : int
        Number of characters of the word (word events; 0 otherwise).
    phoneme : str
        IPA of a phoneme event, stress marks included; ``""`` for a pause and for other events.
    """

    kind: str
    sample: int
    text_position: int
    length: int
    phoneme: str = ""


@dataclass(frozen=True)
class Synthesis:
    """A synthesized utterance: eSpeak's audio and its event stream.

    Attributes
    ----------
    text : str
        The text spoken.
    voice : str
        The eSpeak voice name (``"en-us+f3"``).
    rate, pitch : int
        Speaking rate (words per minute) and pitch (0-100).
    samples : numpy.ndarray, shape (n_samples,), int16
        The audio at :data:`SYNTH_SAMPLE_RATE`.
    events : tuple of SynthEvent
        In the order eSpeak reported them.
    """

    text: str
    voice: str
    rate: int
    pitch: int
    samples: np.ndarray
    events: tuple[SynthEvent, ...]

    @property
    def sample_rate(self) -> int:
        """Sample rate of :attr:`samples` in Hz."""
        return SYNTH_SAMPLE_RATE


@dataclass(frozen=True)
class TimedPhone:
    """A phoneme eSpeak spoke, timed by its events.

    Attributes
    ----------
    ipa : str
        eSpeak's IPA name, stress marks included.
    start_sample, end_sample : int
        ``[start_sample, end_sample)`` at :data:`SYNTH_SAMPLE_RATE`.
    """

    ipa: str
    start_sample: int
    end_sample: int

    @property
    def start(self) -> float:
        """Start in seconds (exact: ``start_sample / 22050``)."""
        return self.start_sample / SYNTH_SAMPLE_RATE

    @property
    def end(self) -> float:
        """End in seconds (exact: ``end_sample / 22050``)."""
        return self.end_sample / SYNTH_SAMPLE_RATE

    @property
    def arpabet(self) -> str:
        """The phoneme's ARPAbet-39 class (see :func:`ipa_to_arpabet`)."""
        return ipa_to_arpabet(self.ipa)


@dataclass(frozen=True)
class TimedWord:
    """A word eSpeak spoke and its phonemes.

    Attributes
    ----------
    label : str
        The word as written in the text, lower-cased, punctuation stripped.
    phones : tuple of TimedPhone
        Its phonemes in order (at least one); pauses are not phones.
    """

    label: str
    phones: tuple[TimedPhone, ...]

    @property
    def start_sample(self) -> int:
        """Start of the first phoneme (sample index at 22050 Hz)."""
        return self.phones[0].start_sample

    @property
    def end_sample(self) -> int:
        """End of the last phoneme (sample index at 22050 Hz)."""
        return self.phones[-1].end_sample

    @property
    def start(self) -> float:
        """Start in seconds (of the first phoneme)."""
        return self.phones[0].start

    @property
    def end(self) -> float:
        """End in seconds (of the last phoneme)."""
        return self.phones[-1].end


# --------------------------------------------------------------------------------------------------
# The library


class _Engine:
    """Opens a fresh eSpeak NG library for every utterance; every call holds :attr:`lock`.

    eSpeak's wave generator keeps state from one utterance to the next in static variables that
    neither ``espeak_Terminate`` nor ``espeak_Initialize`` resets (the pitch-flutter position, the
    gain control, the echo buffer), so the same text comes out a few samples longer or shorter
    depending on what was said before.  Unloading the library (``dlclose``) and loading it again
    resets all of it, which makes an utterance depend only on its own text, voice, rate, pitch and
    seed.  The library is loaded from a private copy of ``libespeak-ng.so``, so that another user of
    espeakng-loader in the same process neither keeps it loaded nor has it terminated under them.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._callback = _SynthCallback(self._on_synth)  # referenced here so it is never collected
        self._chunks: list[bytes] = []
        self._events: list[SynthEvent] = []
        self._library_path: str | None = None
        self._data_path = b""
        self.version = ""

    def _on_synth(self, wav, n_samples: int, events) -> int:
        if n_samples > 0:
            self._chunks.append(ctypes.string_at(wav, n_samples * ctypes.sizeof(ctypes.c_short)))
        index = 0
        while events[index].type != _EVENT_LIST_TERMINATED:
            self._events.append(_copy_event(events[index]))
            index += 1
        return 0  # 0: go on synthesizing

    @contextlib.contextmanager
    def _fresh_library(self) -> Iterator[ctypes.CDLL]:
        """Load, initialise and finally unload the library (the caller holds the lock)."""
        if self._library_path is None:
            self._library_path, self._data_path = _private_library_copy()
        try:
            lib = ctypes.CDLL(self._library_path)
        except OSError as exc:
            raise DependencyError(f"cannot load eSpeak NG from espeakng-loader ({exc})") from None
        try:
            _declare_signatures(lib)
            rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data_path, _INITIALIZE_FLAGS)
            if rate != SYNTH_SAMPLE_RATE:
                raise DependencyError(
                    f"eSpeak NG did not initialise (returned {rate}, expected {SYNTH_SAMPLE_RATE} Hz)"
                )
            self.version = lib.espeak_Info(None).decode("utf-8", "replace")
            lib.espeak_SetSynthCallback(self._callback)
            yield lib
        finally:
            lib.espeak_Terminate()
            _unload(lib)

    def load_version(self) -> str:
        with self.lock:
            if not self.version:
                with self._fresh_library():
                    pass
            return self.version

    def synthesize(self, text: str, voice: str, rate: int, pitch: int, seed: int) -> Synthesis:
        with self.lock, self._fresh_library() as lib:
            if lib.espeak_SetVoiceByName(voice.encode("utf-8")) != _EE_OK:
                raise ConfigError(f"eSpeak NG has no voice {voice!r} (try 'en-us', 'en', 'en-us+f3', 'en+m1')")
            lib.espeak_SetParameter(_PARAMETER_RATE, int(rate), 0)
            lib.espeak_SetParameter(_PARAMETER_PITCH, int(pitch), 0)
            lib.espeak_ng_SetRandSeed(seed)
            _libc().srand(ctypes.c_uint(seed & 0xFFFFFFFF))  # breathy voices draw their noise from libc rand()
            self._chunks, self._events = [], []
            encoded = text.encode("utf-8")
            try:
                status = lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
                lib.espeak_Synchronize()
                if status != _EE_OK:
                    raise CorpusError(f"eSpeak NG failed to synthesize {text!r} (status {status})")
                audio = np.frombuffer(b"".join(self._chunks), dtype=np.int16).copy()
                events = tuple(self._events)
            finally:
                self._chunks, self._events = [], []
        return Synthesis(text=text, voice=voice, rate=int(rate), pitch=int(pitch), samples=audio, events=events)


def _declare_signatures(lib: ctypes.CDLL) -> None:
    """Argument and result types of the eSpeak NG functions used (speak_lib.h, espeak_ng.h)."""
    c_int, c_uint, c_char_p, c_void_p = ctypes.c_int, ctypes.c_uint, ctypes.c_char_p, ctypes.c_void_p
    signatures = {
        "espeak_Initialize": ([c_int, c_int, c_char_p, c_int], c_int),
        "espeak_Info": ([c_void_p], c_char_p),
        "espeak_SetSynthCallback": ([_SynthCallback], None),
        "espeak_SetVoiceByName": ([c_char_p], c_int),
        "espeak_SetParameter": ([c_int, c_int, c_int], c_int),
        "espeak_ng_SetRandSeed": ([ctypes.c_long], c_int),
        "espeak_Synth": ([c_void_p, ctypes.c_size_t, c_uint, c_int, c_uint, c_uint, c_void_p, c_void_p], c_int),
        "espeak_Synchronize": ([], c_int),
        "espeak_Terminate": ([], c_int),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, restype


def _unload(lib: ctypes.CDLL) -> None:
    """Unload a shared library, so that loading it again starts from fresh static variables."""
    import _ctypes

    unload = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary")
    unload(lib._handle)


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def _private_library_copy() -> tuple[str, bytes]:
    """Copy espeakng-loader's shared library to a private temporary file; return it and the data path."""
    try:
        import espeakng_loader
    except ImportError:
        raise DependencyError(
            "the synthesized corpus needs eSpeak NG from the package espeakng-loader: pip install espeakng-loader"
        ) from None
    source = Path(espeakng_loader.get_library_path())
    if not source.is_file():
        raise DependencyError(f"espeakng-loader's eSpeak NG library is missing: {source}")
    folder = Path(tempfile.mkdtemp(prefix="layerprobe-espeak-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    private = folder / source.name
    shutil.copyfile(source, private)
    return os.fspath(private), os.fsencode(espeakng_loader.get_data_path())


def _copy_event(event: _Event) -> SynthEvent:
    kind = _EVENT_NAMES.get(event.type, f"type{event.type}")
    phoneme = ""
    if event.type == _EVENT_PHONEME:
        phoneme = bytes(event.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
    length = event.length if event.type == _EVENT_WORD else 0
    return SynthEvent(
        kind=kind, sample=int(event.sample), text_position=int(event.text_position), length=int(length), phoneme=phoneme
    )


_ENGINE = _Engine()


def espeak_version() -> str:
    """The version of the eSpeak NG library in use (``"1.52.0"``); loads it on first call."""
    return _ENGINE.load_version()


def synthesize(
    text: str, *, voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE, pitch: int = 50, seed: int = 0
) -> Synthesis:
    """Speak ``text`` with eSpeak NG and return the audio and the event stream.

    Parameters
    ----------
    text : str
        What to say (UTF-8; one sentence for the corpus).
    voice : str, keyword-only
        eSpeak voice name, optionally with a variant: ``"en-us"``, ``"en"`` (British), ``"en-us+f3"``.
    rate : int, keyword-only
        Speaking rate in words per minute, within :data:`RATE_LIMITS`.
    pitch : int, keyword-only
        Pitch, 0-100; 50 is the voice's own.
    seed : int, keyword-only
        Seed of eSpeak's random generator, set before speaking, so the same call gives the same audio.

    Returns
    -------
    Synthesis
        ``samples`` of shape (n_samples,) int16 at 22050 Hz and the events.

    Raises
    ------
    ConfigError
        For an unknown voice or a rate or pitch out of range.
    DependencyError
        When the eSpeak NG library cannot be loaded.
    """
    if not text.strip():
        raise ConfigError("nothing to synthesize: the text is empty")
    if not RATE_LIMITS[0] <= rate <= RATE_LIMITS[1]:
        raise ConfigError(f"speaking rate {rate} is outside {RATE_LIMITS[0]}-{RATE_LIMITS[1]} words per minute")
    if not PITCH_LIMITS[0] <= pitch <= PITCH_LIMITS[1]:
        raise ConfigError(f"pitch {pitch} is outside {PITCH_LIMITS[0]}-{PITCH_LIMITS[1]}")
    return _ENGINE.synthesize(text, voice, rate, pitch, seed)


# --------------------------------------------------------------------------------------------------
# Events -> timed words


def words_of(text: str) -> list[str]:
    """The words of a sentence: lower-cased runs of letters (and apostrophes), punctuation dropped.

    Examples
    --------
    >>> words_of("She had your dark suit, in greasy wash water all year.")
    ['she', 'had', 'your', 'dark', 'suit', 'in', 'greasy', 'wash', 'water', 'all', 'year']
    """
    return _WORD_PATTERN.findall(text.lower())


def _word_label(text: str, event: SynthEvent) -> str:
    span = text[event.text_position - 1 : event.text_position - 1 + event.length]
    return "".join(words_of(span))


def _timed_phones(events: tuple[SynthEvent, ...]) -> list[tuple[int, TimedPhone]]:
    """Non-empty, non-pause phonemes with their ends, each paired with the index of its event."""
    boundaries = [i for i, event in enumerate(events) if event.kind in ("phoneme", "end")]
    phones: list[tuple[int, TimedPhone]] = []
    for this, following in zip(boundaries, boundaries[1:]):
        event, end = events[this], events[following].sample
        if end < event.sample:
            raise CorpusError(
                f"eSpeak reported events out of order "
                f"(phoneme {event.phoneme!r} at sample {event.sample}, next at {end})"
            )
        if event.kind == "phoneme" and event.phoneme and end > event.sample:
            phones.append((this, TimedPhone(event.phoneme, event.sample, end)))
    return phones


def timed_words(synthesis: Synthesis) -> list[TimedWord]:
    """The words eSpeak spoke, each with its timed phonemes, read from the event stream.

    See the module docstring for the rules.

    Parameters
    ----------
    synthesis : Synthesis

    Returns
    -------
    list of TimedWord
        One per word of the text, in order; each word's phones tile it without gaps between
        them except where eSpeak put a pause.

    Raises
    ------
    CorpusError
        When the words spoken differ from :func:`words_of` of the text (eSpeak read two words as one
        dictionary entry, or said a word the text does not have), or a phoneme precedes every word.
    """
    events = synthesis.events
    word_events = [i for i, event in enumerate(events) if event.kind == "word"]
    phones_by_word: dict[int, list[TimedPhone]] = {i: [] for i in word_events}
    for index, phone in _timed_phones(events):
        preceding = bisect.bisect_left(word_events, index)
        if preceding == 0:
            raise CorpusError(f"eSpeak spoke phoneme {phone.ipa!r} before the first word of {synthesis.text!r}")
        phones_by_word[word_events[preceding - 1]].append(phone)
    words = [
        TimedWord(_word_label(synthesis.text, events[i]), tuple(phones_by_word[i]))
        for i in word_events
        if phones_by_word[i]
    ]
    spoken, expected = [word.label for word in words], words_of(synthesis.text)
    if spoken != expected:
        raise CorpusError(
            f"eSpeak voice {synthesis.voice!r} spoke the words {' '.join(spoken)!r} for {synthesis.text!r}, "
            f"expected {' '.join(expected)!r}"
        )
    return words


# --------------------------------------------------------------------------------------------------
# Phone labels


def strip_stress(ipa: str) -> str:
    """An eSpeak IPA phoneme without its stress marks (``"ˈɑːɹ"`` -> ``"ɑːɹ"``)."""
    return "".join(char for char in ipa if char not in STRESS_MARKS)


def ipa_to_arpabet(ipa: str) -> str:
    """The ARPAbet-39 class of an eSpeak IPA phoneme, stress marks ignored.

    Parameters
    ----------
    ipa : str
        One phoneme as eSpeak names it in its events (``"ˈɑːɹ"``, ``"ɾ"``, ``"aɪ"``).

    Returns
    -------
    str
        One of :data:`layerprobe.data.labels.ARPABET39`.

    Raises
    ------
    AlignmentError
        When the phoneme is not in :data:`IPA_TO_ARPABET` (or is a pause, ``""``).

    Examples
    --------
    >>> ipa_to_arpabet("ˈɑːɹ"), ipa_to_arpabet("ɾ"), ipa_to_arpabet("ɚ")
    ('AA', 'T', 'ER')
    """
    bare = strip_stress(ipa)
    try:
        return IPA_TO_ARPABET[bare]
    except KeyError:
        raise AlignmentError(f"eSpeak phoneme {ipa!r} has no ARPAbet-39 class in IPA_TO_ARPABET") from None


def text_to_ipa_phonemes(text: str, *, voice: str = DEFAULT_VOICE) -> list[str]:
    """The phonemes eSpeak speaks for ``text``, as IPA with stress marks, pauses left out.

    They come from a synthesis pass (the PHONEME events), so they are exactly the phonemes the
    synthesized corpus is labelled with, including eSpeak's connected-speech changes (flaps,
    linking r).

    Parameters
    ----------
    text : str
    voice : str, keyword-only
        eSpeak voice (American English by default).

    Returns
    -------
    list of str
        eSpeak IPA phonemes in order (``["h", "ə", "l", "ˈoʊ"]``).
    """
    synthesis = synthesize(text, voice=voice)
    return [phone.ipa for _, phone in _timed_phones(synthesis.events)]


def arpabet_pronunciation(word: str, *, voice: str = DEFAULT_VOICE) -> list[str]:
    """ARPAbet-39 phones of one word as eSpeak pronounces it (a grapheme-to-phoneme fallback).

    Parameters
    ----------
    word : str
        A single word (no whitespace); case does not matter.
    voice : str, keyword-only
        eSpeak voice (American English by default, whose phonemes match CMU-dictionary English).

    Returns
    -------
    list of str
        Phones from :data:`layerprobe.data.labels.ARPABET39`, e.g. ``["W", "AO", "T", "ER"]`` for *water*.

    Raises
    ------
    ConfigError
        When ``word`` is empty or holds whitespace, or eSpeak speaks no phoneme for it.
    AlignmentError
        When eSpeak uses a phoneme without an ARPAbet-39 class.
    """
    if not word.strip() or any(char.isspace() for char in word.strip()):
        raise ConfigError(f"expected a single word for its pronunciation, got {word!r}")
    phonemes = text_to_ipa_phonemes(word.strip().lower(), voice=voice)
    if not phonemes:
        raise ConfigError(f"eSpeak NG speaks no phoneme for the word {word!r}")
    return [ipa_to_arpabet(phoneme) for phoneme in phonemes]


def _check_map() -> None:
    unknown = sorted(set(IPA_TO_ARPABET.values()) - set(ARPABET39))
    if unknown:  # pragma: no cover - a programming error caught on import
        raise RuntimeError(f"IPA_TO_ARPABET maps onto labels outside ARPABET39: {unknown}")


_check_map()

__all__ = [
    "SYNTH_SAMPLE_RATE",
    "DEFAULT_VOICE",
    "DEFAULT_RATE",
    "RATE_LIMITS",
    "PITCH_LIMITS",
    "IPA_TO_ARPABET",
    "SynthEvent",
    "Synthesis",
    "TimedPhone",
    "TimedWord",
    "espeak_version",
    "synthesize",
    "words_of",
    "timed_words",
    "strip_stress",
    "ipa_to_arpabet",
    "text_to_ipa_phonemes",
    "arpabet_pronunciation",
]
