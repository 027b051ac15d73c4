"""Seeded English sentences from a small grammar, for the synthesized corpus.

The grammar has a handful of sentence patterns (a transitive clause, an intransitive clause, a
copula with an adjective, two clauses joined by *and* / *but*, a *when* clause) built from noun
phrases (determiner, optional adjective, noun, or a pronoun), past-tense verbs, prepositional
phrases and adverbs.  Its vocabulary of about 400 common words is in the CMU Pronouncing
Dictionary, and eSpeak NG speaks every one of them as a word of its own (no digits,
abbreviations, hyphens or contractions).  Word lists are ordered from frequent to rare and drawn
with Zipf-like weights (the word of rank *r* with weight ``1 / r``), so that frequent words repeat
many times, as word-level analyses need many instances per word.

A few word pairs are never produced (:data:`UNSPEAKABLE_PAIRS`): eSpeak NG's English dictionary
reads them as one entry, with one word event for both words (``in the``, ``at a``), so the second
word gets no timing of its own.  The tests check, over hundreds of sentences for every voice of the
synthesized corpus, that the words eSpeak speaks are exactly the words of the sentence.
"""

from __future__ import annotations

import functools
import itertools
import random
from dataclasses import dataclass
from typing import Callable, Sequence

from layerprobe.errors import ConfigError

#: Fewest and most words in a generated sentence.
MIN_WORDS, MAX_WORDS = 5, 14

#: How many draws :func:`generate_sentences` may make per sentence asked for before giving up.
MAX_DRAWS_PER_SENTENCE = 200

# Every list is ordered from frequent to rare: rank r is drawn with weight 1 / r.
SINGULAR_DETERMINERS = ("the", "a", "this", "that", "my", "her", "his", "our", "every", "their", "your")
PLURAL_DETERMINERS = ("the", "some", "two", "these", "many", "those", "three", "our", "my", "their", "several")
SUBJECT_PRONOUNS = ("she", "he", "they", "we", "I", "you")
OBJECT_PRONOUNS = ("it", "her", "him", "them", "me", "us")

#: People and animals: subjects, and objects of verbs done to someone.
BEINGS = (
    "man", "woman", "child", "girl", "boy", "teacher", "dog", "friend", "mother", "cat", "father",
    "doctor", "bird", "farmer", "horse", "king", "student", "brother", "sister", "baby", "queen",
    "neighbor", "captain", "soldier", "sailor", "artist", "singer", "rabbit", "uncle", "nurse", "pilot",
    "driver", "mouse", "kitten", "puppy", "lady", "cook", "judge", "guest",
)  # fmt: skip
BEINGS_PLURAL = (
    "children", "people", "friends", "birds", "dogs", "students", "boys", "girls", "horses", "cats",
    "teachers", "farmers", "soldiers", "neighbors", "workers", "visitors", "animals", "sailors",
)  # fmt: skip
#: Things and places: objects of verbs done to something, and of prepositions.
THINGS = (
    "house", "car", "book", "door", "table", "letter", "river", "garden", "window", "city", "tree",
    "road", "school", "box", "street", "boat", "ball", "town", "room", "bag", "kitchen", "picture",
    "song", "story", "village", "chair", "hill", "bridge", "train", "cup", "bottle", "lake", "forest",
    "shop", "field", "coat", "hat", "flower", "stone", "apple", "cake", "island", "market", "office",
    "farm", "lamp", "clock", "key", "ring", "map", "pen", "paper", "plate", "basket", "wall", "bed",
    "shirt", "ship", "pencil", "blanket", "camera", "orange", "ladder", "bucket",
    "jacket",
)  # fmt: skip
THINGS_PLURAL = (
    "books", "flowers", "letters", "trees", "apples", "stones", "boats", "songs", "stories", "cars",
    "houses", "pictures", "keys", "cups", "shoes", "eggs", "toys", "windows", "cookies", "doors",
)  # fmt: skip
#: Adjectives for anything, for beings only, and for things only.
ADJECTIVES = (
    "old", "little", "big", "small", "good", "white", "black", "strange", "beautiful", "brown", "tall", "tiny", "gray",
)  # fmt: skip
BEING_ADJECTIVES = (
    "young", "happy", "quiet", "tired", "kind", "hungry", "clever", "angry", "gentle", "busy", "lazy",
    "friendly", "famous", "proud", "funny", "sleepy", "nervous", "curious", "rich", "poor", "lonely",
)  # fmt: skip
THING_ADJECTIVES = (
    "new", "red", "long", "green", "blue", "dark", "cold", "heavy", "warm", "empty", "bright", "clean",
    "round", "simple", "soft", "yellow", "wooden", "dirty", "fresh", "broken", "golden", "wet",
    "narrow", "sweet", "wide",
)  # fmt: skip
#: Adjectives after *was* / *were* (the subject is a being).
PREDICATE_ADJECTIVES = (
    "happy", "tired", "hungry", "quiet", "busy", "angry", "cold", "ready", "late", "warm", "sad",
    "sleepy", "proud", "nervous", "calm", "afraid", "kind", "lonely", "curious", "clever", "famous",
)  # fmt: skip
#: Past-tense verbs taking a being, a thing, or either as their object.
VERBS_ON_BEINGS = (
    "met", "called", "helped", "followed", "visited", "asked", "told", "taught", "fed", "greeted",
    "chased", "admired", "protected", "ignored", "thanked", "warned", "invited",
)  # fmt: skip
VERBS_ON_THINGS = (
    "took", "made", "bought", "opened", "carried", "cleaned", "painted", "closed", "sold", "washed",
    "used", "dropped", "fixed", "filled", "built", "broke", "drew", "wrapped", "packed", "borrowed",
    "kicked", "counted", "tested", "checked", "picked", "sent",
)  # fmt: skip
VERBS_ON_EITHER = (
    "saw", "found", "liked", "watched", "heard", "held", "wanted", "needed", "kept", "brought", "loved",
    "lost", "moved", "pulled", "pushed", "showed", "touched", "caught", "missed", "remembered",
    "forgot", "noticed", "hid", "chose", "described", "hated", "knew",
)  # fmt: skip
INTRANSITIVE_VERBS = (
    "walked", "waited", "smiled", "ran", "slept", "laughed", "sat", "stood", "stayed", "arrived",
    "worked", "played", "sang", "talked", "danced", "rested", "jumped", "cried", "fell", "returned",
    "listened", "shouted", "swam", "traveled", "wandered", "whispered", "hurried", "paused", "nodded",
    "stopped", "lived", "climbed", "waved", "sighed", "cooked",
)  # fmt: skip
PREPOSITIONS = (
    "in", "on", "near", "by", "behind", "under", "at", "from", "across", "beside", "through", "into",
    "over", "around", "inside", "along", "toward", "below", "outside", "past",
)  # fmt: skip
ADVERBS = (
    "again", "slowly", "yesterday", "today", "quickly", "quietly", "carefully", "together", "later",
    "suddenly", "finally", "alone", "early", "happily", "gently", "loudly", "often", "soon", "twice",
    "outside", "badly", "politely", "calmly", "proudly", "silently",
)  # fmt: skip
DEGREE_WORDS = ("very", "so", "too", "quite", "rather", "always", "never")
CONJUNCTIONS = ("and", "but", "so")

#: Adjacent words that eSpeak NG 1.52 (``en``, ``en-us``) speaks as one dictionary entry, found by
#: synthesizing every pair of a vocabulary word and a function word; sentences holding one are redrawn.
UNSPEAKABLE_PAIRS = frozenset(
    {
        ("at", "a"), ("from", "the"), ("in", "the"), ("on", "the"), ("of", "the"), ("so", "many"),
        ("too", "many"), ("that", "a"), ("that", "it"), ("that", "the"), ("was", "a"), ("was", "the"),
    }
)  # fmt: skip

_VOWEL_LETTERS = frozenset("aeiou")


@functools.lru_cache(maxsize=None)
def _zipf_cumulative_weights(n: int) -> tuple[float, ...]:
    """Cumulative weights ``1/1, 1/1 + 1/2, ...`` of ranks 1..n, for :meth:`random.Random.choices`."""
    return tuple(itertools.accumulate(1.0 / rank for rank in range(1, n + 1)))


@dataclass(frozen=True)
class _Lexicon:
    """Draws words from the ordered lists with Zipf-like weights."""

    rng: random.Random

    def pick(self, words: Sequence[str]) -> str:
        return self.rng.choices(words, cum_weights=_zipf_cumulative_weights(len(words)))[0]

    def maybe(self, probability: float) -> bool:
        return self.rng.random() < probability


def _article(determiner: str, following: str) -> str:
    """``a`` becomes ``an`` before a vowel letter (the vocabulary has no *u* word said with /j/)."""
    if determiner == "a" and following[0] in _VOWEL_LETTERS:
        return "an"
    return determiner


def _noun_phrase(lex: _Lexicon, *, being: bool) -> tuple[list[str], bool]:
    """A determiner, an optional adjective and a noun; returns the words and whether it is plural."""
    plural = lex.maybe(0.25)
    if being:
        nouns, own_adjectives = (BEINGS_PLURAL if plural else BEINGS), BEING_ADJECTIVES
    else:
        nouns, own_adjectives = (THINGS_PLURAL if plural else THINGS), THING_ADJECTIVES
    words = [lex.pick(nouns)]
    if lex.maybe(0.45):
        words.insert(0, lex.pick(ADJECTIVES if lex.maybe(0.4) else own_adjectives))
    determiner = lex.pick(PLURAL_DETERMINERS if plural else SINGULAR_DETERMINERS)
    return [_article(determiner, words[0]), *words], plural


def _subject(lex: _Lexicon) -> tuple[list[str], bool]:
    """A subject (a pronoun or a being); returns the words and whether it takes *were*."""
    if lex.maybe(0.35):
        pronoun = lex.pick(SUBJECT_PRONOUNS)
        return [pronoun], pronoun in ("they", "we", "you")
    return _noun_phrase(lex, being=True)


def _object(lex: _Lexicon, *, being: bool) -> list[str]:
    if lex.maybe(0.2):
        return [lex.pick(OBJECT_PRONOUNS)]
    return _noun_phrase(lex, being=being)[0]


def _prepositional_phrase(lex: _Lexicon) -> list[str]:
    return [lex.pick(PREPOSITIONS), *_noun_phrase(lex, being=False)[0]]


def _transitive_clause(lex: _Lexicon) -> list[str]:
    verbs = lex.rng.choices((VERBS_ON_BEINGS, VERBS_ON_THINGS, VERBS_ON_EITHER), weights=(3, 4, 5))[0]
    being = verbs is VERBS_ON_BEINGS or (verbs is VERBS_ON_EITHER and lex.maybe(0.5))
    words = [*_subject(lex)[0], lex.pick(verbs), *_object(lex, being=being)]
    if lex.maybe(0.4):
        words += _prepositional_phrase(lex)
    if lex.maybe(0.3):
        words.append(lex.pick(ADVERBS))
    return words


def _intransitive_clause(lex: _Lexicon) -> list[str]:
    words = [*_subject(lex)[0], lex.pick(INTRANSITIVE_VERBS)]
    if lex.maybe(0.4):
        words.append(lex.pick(ADVERBS))
    if lex.maybe(0.6):
        words += _prepositional_phrase(lex)
    return words


def _copula_clause(lex: _Lexicon) -> list[str]:
    subject, plural = _subject(lex)
    words = [*subject, "were" if plural else "was"]
    if lex.maybe(0.5):
        words.append(lex.pick(DEGREE_WORDS))
    words.append(lex.pick(PREDICATE_ADJECTIVES))
    if lex.maybe(0.3):
        words.append(lex.pick(ADVERBS))
    return words


def _clause(lex: _Lexicon) -> list[str]:
    builder = lex.rng.choices((_transitive_clause, _intransitive_clause, _copula_clause), weights=(5, 3, 2))[0]
    return builder(lex)


def _simple_sentence(lex: _Lexicon) -> list[str]:
    return _clause(lex)


def _compound_sentence(lex: _Lexicon) -> list[str]:
    return [*_clause(lex), ",", lex.pick(CONJUNCTIONS), *_clause(lex)]


def _when_sentence(lex: _Lexicon) -> list[str]:
    return ["when", *_intransitive_clause(lex), ",", *_clause(lex)]


_PATTERNS: tuple[tuple[Callable[[_Lexicon], list[str]], float], ...] = (
    (_simple_sentence, 6.0),
    (_compound_sentence, 3.0),
    (_when_sentence, 1.0),
)


def _speakable(tokens: list[str]) -> bool:
    """Whether no two adjacent words (commas ignored) form one of :data:`UNSPEAKABLE_PAIRS`."""
    words = [token.lower() for token in tokens if token != ","]
    return not any(pair in UNSPEAKABLE_PAIRS for pair in zip(words, words[1:]))


def _render(tokens: list[str]) -> str:
    """Join tokens into a sentence: commas attached, first letter capitalised, a final full stop."""
    text = " ".join(tokens).replace(" ,", ",")
    return text[0].upper() + text[1:] + "."


def _draw_sentence(lex: _Lexicon) -> list[str]:
    patterns, weights = zip(*_PATTERNS)
    return lex.rng.choices(patterns, weights=weights)[0](lex)


def vocabulary() -> frozenset[str]:
    """Every word the generator can produce, lower-cased (``a`` and ``an`` included)."""
    lists = (
        SINGULAR_DETERMINERS, PLURAL_DETERMINERS, SUBJECT_PRONOUNS, OBJECT_PRONOUNS, BEINGS, BEINGS_PLURAL,
        THINGS, THINGS_PLURAL, ADJECTIVES, BEING_ADJECTIVES, THING_ADJECTIVES, PREDICATE_ADJECTIVES,
        VERBS_ON_BEINGS, VERBS_ON_THINGS, VERBS_ON_EITHER, INTRANSITIVE_VERBS, PREPOSITIONS, ADVERBS,
        DEGREE_WORDS, CONJUNCTIONS, ("an", "was", "were", "when"),
    )  # fmt: skip
    return frozenset(word.lower() for words in lists for word in words)


def generate_sentences(n: int, *, seed: int) -> list[str]:
    """Draw ``n`` distinct sentences of :data:`MIN_WORDS`-:data:`MAX_WORDS` words from the grammar.

    Parameters
    ----------
    n : int
        How many sentences; ``n >= 0``.
    seed : int, keyword-only
        Seed of the generator's own :class:`random.Random`; the same seed gives the same list.

    Returns
    -------
    list of str
        ``n`` distinct sentences such as ``"The old man saw a dog near the river."``: a capital
        first letter, commas between clauses, a final full stop.

    Raises
    ------
    ConfigError
        When ``n`` is negative, or that many distinct sentences cannot be drawn.
    """
    if n < 0:
        raise ConfigError(f"number of sentences must be >= 0, got {n}")
    lex = _Lexicon(random.Random(seed))
    sentences: list[str] = []
    seen: set[str] = set()
    for _ in range(MAX_DRAWS_PER_SENTENCE * max(n, 1)):
        if len(sentences) == n:
            return sentences
        tokens = _draw_sentence(lex)
        n_words = sum(token != "," for token in tokens)
        sentence = _render(tokens)
        if MIN_WORDS <= n_words <= MAX_WORDS and _speakable(tokens) and sentence not in seen:
            seen.add(sentence)
            sentences.append(sentence)
    if len(sentences) == n:
        return sentences
    raise ConfigError(f"could draw only {len(sentences)} distinct sentences of the {n} asked for")


__all__ = ["MIN_WORDS", "MAX_WORDS", "UNSPEAKABLE_PAIRS", "generate_sentences", "vocabulary"]
