"""The seeded sentence generator of the synthesized corpus."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

from layerprobe.data.espeak import words_of
from layerprobe.data.sentences import MAX_WORDS, MIN_WORDS, UNSPEAKABLE_PAIRS, generate_sentences, vocabulary
from layerprobe.errors import ConfigError


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return generate_sentences(500, seed=0)


def test_same_seed_same_sentences_other_seed_other_sentences(sentences):
    assert generate_sentences(500, seed=0) == sentences
    other = generate_sentences(500, seed=1)
    assert len(set(other) & set(sentences)) < 25


def test_a_prefix_of_a_longer_draw_is_the_shorter_draw(sentences):
    assert generate_sentences(40, seed=0) == sentences[:40]


def test_global_random_state_is_neither_used_nor_changed():
    random.seed(1)
    state = random.getstate()
    first = generate_sentences(30, seed=5)
    assert random.getstate() == state
    random.seed(2)
    assert generate_sentences(30, seed=5) == first


def test_sentences_are_distinct(sentences):
    assert len(set(sentences)) == len(sentences) == 500


def test_length_bounds_and_form(sentences):
    lengths = [len(words_of(s)) for s in sentences]
    assert min(lengths) >= MIN_WORDS and max(lengths) <= MAX_WORDS
    assert max(lengths) - min(lengths) >= 6  # a spread of lengths, not one template
    for sentence in sentences:
        assert re.fullmatch(r"[A-Z][a-zA-Z ,]*[a-z]\.", sentence), sentence
        assert "  " not in sentence and " ," not in sentence


def test_every_word_is_in_the_vocabulary_and_no_unspeakable_pair_occurs(sentences):
    words = vocabulary()
    assert 250 <= len(words) <= 400
    for sentence in sentences:
        tokens = words_of(sentence)
        assert set(tokens) <= words, sentence
        assert not set(zip(tokens, tokens[1:])) & UNSPEAKABLE_PAIRS, sentence


def test_a_and_an_follow_the_next_letter(sentences):
    for sentence in sentences:
        tokens = words_of(sentence)
        for article, following in zip(tokens, tokens[1:]):
            if article in ("a", "an"):
                assert (article == "an") == (following[0] in "aeiou"), sentence


def test_frequent_words_repeat_and_frequencies_fall_off_like_zipf(sentences):
    counts = Counter(word for sentence in sentences for word in words_of(sentence))
    tokens = sum(counts.values())
    ranked = [count for _, count in counts.most_common()]
    assert counts.most_common(1)[0][0] == "the"
    assert ranked[0] > 0.05 * tokens
    assert sum(count >= 50 for count in ranked) >= 12  # many words with many instances ...
    assert sum(count >= 10 for count in ranked) >= 80
    assert ranked[9] > 4 * ranked[99]  # ... and a long tail
    assert len(counts) > 0.8 * len(vocabulary())  # ... that still reaches most of the vocabulary


def test_vocabulary_is_in_the_cmu_dictionary():
    pocketsphinx = pytest.importorskip("pocketsphinx")
    dictionary = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    if not dictionary.is_file():
        pytest.skip(f"no CMU dictionary at {dictionary}")
    cmu = {line.split(maxsplit=1)[0] for line in dictionary.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert sorted(vocabulary() - cmu) == []


def test_zero_and_negative_counts():
    assert generate_sentences(0, seed=0) == []
    with pytest.raises(ConfigError, match="must be >= 0"):
        generate_sentences(-1, seed=0)
