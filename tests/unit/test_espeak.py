"""eSpeak NG binding: event timings, the IPA -> ARPAbet-39 map, pronunciations, determinism."""

from __future__ import annotations

import random

import numpy as np
import pytest

from layerprobe.data import espeak
from layerprobe.data.espeak import (
    IPA_TO_ARPABET,
    SYNTH_SAMPLE_RATE,
    SynthEvent,
    Synthesis,
    arpabet_pronunciation,
    ipa_to_arpabet,
    strip_stress,
    synthesize,
    text_to_ipa_phonemes,
    timed_words,
    words_of,
)
from layerprobe.data.labels import ARPABET39
from layerprobe.data.sentences import generate_sentences, vocabulary
from layerprobe.data.synth import DEFAULT_RATE_RANGE, DEFAULT_VOICES, PITCH_RANGE
from layerprobe.errors import AlignmentError, ConfigError, CorpusError, LayerprobeError

HARVARD = "She had your dark suit, in greasy wash water all year."


# --------------------------------------------------------------------------------------------------
# The phone map


def test_map_targets_are_exactly_the_39_classes():
    assert set(IPA_TO_ARPABET.values()) == set(ARPABET39)
    assert not any(mark in symbol for symbol in IPA_TO_ARPABET for mark in "ˈˌ")


@pytest.mark.parametrize(
    "ipa, expected",
    [("ˈɑːɹ", "AA"), ("ˌeɪ", "EY"), ("ɾ", "T"), ("ɚ", "ER"), ("ɜː", "ER"), ("ə", "AH"), ("ɐ", "AH"),
     ("ʌ", "AH"), ("ᵻ", "IH"), ("i", "IY"), ("n̩", "N"), ("əl", "L"), ("ʔ", "T"), ("ʊɹ", "UH"),
     ("ˈaɪɚ", "AY"), ("əʊ", "OW"), ("ɒ", "AA"), ("a", "AE"), ("tʃ", "CH"), ("dʒ", "JH")],
)  # fmt: skip
def test_ipa_to_arpabet_strips_stress_and_maps(ipa, expected):
    assert ipa_to_arpabet(ipa) == expected


def test_strip_stress_removes_only_stress_marks():
    assert strip_stress("ˈɑːɹ") == "ɑːɹ"
    assert strip_stress("ˌaɪ") == "aɪ"
    assert strip_stress("tʃ") == "tʃ"


@pytest.mark.parametrize("symbol", ["ʘ", "q", "", "ˈ", "AA"])
def test_unknown_symbols_raise_a_one_line_layerprobe_error(symbol):
    with pytest.raises(AlignmentError, match="no ARPAbet-39 class") as caught:
        ipa_to_arpabet(symbol)
    assert isinstance(caught.value, LayerprobeError)
    assert repr(symbol) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("voice", DEFAULT_VOICES)
def test_every_phoneme_of_300_sentences_maps_and_every_word_is_spoken(voice):
    rng = random.Random(voice)
    unmapped: set[str] = set()
    for text in generate_sentences(300, seed=7):
        rate = rng.randint(*DEFAULT_RATE_RANGE)
        synthesis = synthesize(text, voice=voice, rate=rate, pitch=rng.randint(*PITCH_RANGE))
        words = timed_words(synthesis)  # raises if eSpeak's words differ from the sentence's
        assert [word.label for word in words] == words_of(text)
        phonemes = {strip_stress(phone.ipa) for word in words for phone in word.phones}
        unmapped |= phonemes - set(IPA_TO_ARPABET)
    assert not unmapped


@pytest.mark.parametrize("voice", ["en-us", "en"])
def test_every_vocabulary_word_is_spoken_as_itself_with_mapped_phonemes(voice):
    words = sorted(vocabulary())
    for start in range(0, len(words), 40):
        chunk = words[start : start + 40]
        # Commas keep eSpeak from reading two neighbours as one dictionary entry ("that the").
        spoken = timed_words(synthesize(", ".join(chunk) + ".", voice=voice))
        assert [word.label for word in spoken] == chunk
        phonemes = {strip_stress(phone.ipa) for word in spoken for phone in word.phones}
        assert phonemes - set(IPA_TO_ARPABET) == set()


# --------------------------------------------------------------------------------------------------
# Events -> timed words, on a real sentence


@pytest.fixture(scope="module")
def harvard() -> Synthesis:
    return synthesize(HARVARD, voice="en-us", rate=150)


def test_word_labels_are_the_words_of_the_text(harvard):
    words = timed_words(harvard)
    assert [w.label for w in words] == "she had your dark suit in greasy wash water all year".split()


def test_phones_tile_each_word_and_times_are_samples_over_22050(harvard):
    phone_events = {e.sample for e in harvard.events if e.kind in ("phoneme", "end")}
    for word in timed_words(harvard):
        assert word.start_sample == word.phones[0].start_sample and word.end_sample == word.phones[-1].end_sample
        assert word.start == word.start_sample / SYNTH_SAMPLE_RATE and word.end == word.end_sample / SYNTH_SAMPLE_RATE
        for before, after in zip(word.phones, word.phones[1:]):
            assert before.end_sample == after.start_sample
        for phone in word.phones:
            assert phone.start_sample < phone.end_sample
            assert phone.start_sample in phone_events and phone.end_sample in phone_events
            assert phone.start == phone.start_sample / SYNTH_SAMPLE_RATE
    assert timed_words(harvard)[-1].end_sample <= harvard.samples.size


def test_known_sentence_phones_and_the_comma_pause(harvard):
    words = {w.label: w for w in timed_words(harvard)}
    assert [p.ipa for p in words["dark"].phones] == ["d", "ˈɑːɹ", "k"]
    assert [p.arpabet for p in words["dark"].phones] == ["D", "AA", "K"]
    # The flap is T as in CMU; eSpeak links "water all" with an r, which belongs to "water".
    assert [p.arpabet for p in words["water"].phones] == ["W", "AO", "T", "ER", "R"]
    # The comma is a pause: a gap (no phone) of more than 0.1 s between "suit" and "in".
    assert words["in"].start - words["suit"].end > 0.1


def test_synthesis_depends_only_on_its_own_arguments():
    first = synthesize(HARVARD, voice="en-us+f3", rate=160, pitch=40, seed=3)
    synthesize("Something else entirely, said by another voice.", voice="en+m1", rate=300)
    again = synthesize(HARVARD, voice="en-us+f3", rate=160, pitch=40, seed=3)
    assert first.samples.dtype == np.int16 and first.samples.size > SYNTH_SAMPLE_RATE
    assert np.array_equal(first.samples, again.samples)
    assert first.events == again.events


def test_words_read_as_one_dictionary_entry_are_refused():
    # eSpeak's English dictionary reads "in the" as one entry: "the" gets no word event of its own.
    with pytest.raises(CorpusError, match="spoke the words 'she worked in house'"):
        timed_words(synthesize("She worked in the house."))


# --------------------------------------------------------------------------------------------------
# Events -> timed words, on hand-made event streams


def _stream(*events: tuple) -> tuple[SynthEvent, ...]:
    return tuple(SynthEvent(*fields) for fields in events)


def _synthesis(text: str, events: tuple[SynthEvent, ...]) -> Synthesis:
    return Synthesis(text=text, voice="test", rate=175, pitch=50, samples=np.zeros(1000, np.int16), events=events)


def test_rules_for_pauses_zero_length_phones_and_clause_ends():
    events = _stream(
        ("sentence", 0, 1, 0, ""),
        ("word", 0, 1, 2, ""),  # "Hi"
        ("phoneme", 10, 1, 0, "h"),
        ("phoneme", 50, 1, 0, "ˈaɪ"),
        ("phoneme", 120, 4, 0, ""),  # the comma's pause
        ("end", 300, 4, 0, ""),
        ("word", 300, 5, 5, ""),  # "there"
        ("phoneme", 300, 5, 0, "ð"),
        ("phoneme", 340, 5, 0, "ʔ"),  # zero length: dropped
        ("phoneme", 340, 5, 0, "ɛɹ"),
        ("phoneme", 500, 10, 0, ""),
        ("end", 520, 10, 0, ""),
    )
    hi, there = timed_words(_synthesis("Hi, there.", events))
    assert hi.label == "hi"
    assert [(p.ipa, p.start_sample, p.end_sample) for p in hi.phones] == [("h", 10, 50), ("ˈaɪ", 50, 120)]
    assert there.label == "there"
    assert [(p.ipa, p.start_sample, p.end_sample) for p in there.phones] == [("ð", 300, 340), ("ɛɹ", 340, 500)]
    assert (hi.end, there.start) == (120 / 22050, 300 / 22050)


def test_a_phone_before_every_word_is_an_error():
    events = _stream(
        ("phoneme", 0, 1, 0, "h"), ("word", 10, 1, 2, ""), ("phoneme", 10, 1, 0, "aɪ"), ("end", 90, 3, 0, "")
    )
    with pytest.raises(CorpusError, match="before the first word"):
        timed_words(_synthesis("Hi.", events))


def test_a_word_without_phones_makes_the_word_sequences_differ():
    events = _stream(
        ("word", 0, 1, 2, ""), ("phoneme", 0, 1, 0, "ɪ"), ("phoneme", 20, 1, 0, "n"), ("phoneme", 40, 1, 0, "ð"),
        ("phoneme", 60, 1, 0, "ə"), ("word", 80, 8, 3, ""), ("phoneme", 80, 8, 0, "k"), ("end", 120, 11, 0, ""),
    )  # fmt: skip
    with pytest.raises(CorpusError, match="'in car' .*expected 'in the car'"):
        timed_words(_synthesis("In the car.", events))


# --------------------------------------------------------------------------------------------------
# Pronunciations and options


def test_words_of_lower_cases_and_drops_punctuation():
    assert words_of(HARVARD) == ["she", "had", "your", "dark", "suit", "in", "greasy", "wash", "water", "all", "year"]
    assert words_of("I saw them.") == ["i", "saw", "them"]


def test_text_to_ipa_phonemes_leaves_pauses_out():
    assert text_to_ipa_phonemes("Hello, world.") == ["h", "ə", "l", "ˈoʊ", "w", "ˈɜː", "l", "d"]


@pytest.mark.parametrize(
    "word, phones",
    [
        ("water", ["W", "AO", "T", "ER"]),
        ("cat", ["K", "AE", "T"]),
        ("Judge", ["JH", "AH", "JH"]),
        ("thing", ["TH", "IH", "NG"]),
    ],
)
def test_arpabet_pronunciation(word, phones):
    assert arpabet_pronunciation(word) == phones


@pytest.mark.parametrize("word", ["", "   ", "two words"])
def test_arpabet_pronunciation_needs_one_word(word):
    with pytest.raises(ConfigError, match="single word"):
        arpabet_pronunciation(word)


def test_bad_voice_rate_and_pitch_are_config_errors():
    with pytest.raises(ConfigError, match="no voice 'xx-nowhere'"):
        synthesize("Hello.", voice="xx-nowhere")
    with pytest.raises(ConfigError, match="speaking rate 20"):
        synthesize("Hello.", rate=20)
    with pytest.raises(ConfigError, match="pitch 101"):
        synthesize("Hello.", pitch=101)
    with pytest.raises(ConfigError, match="empty"):
        synthesize("  ")


def test_version_is_reported():
    assert espeak.espeak_version().startswith("1.52")
