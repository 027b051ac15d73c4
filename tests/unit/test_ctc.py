"""CTC basics: vocabulary, normalisation, collapse, greedy and LM beam decoding, WER / CER."""

from __future__ import annotations

import math
import string
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from layerprobe.errors import ConfigError, DependencyError
from layerprobe.training.ctc import (
    BLANK,
    UNKNOWN,
    UNKNOWN_TEXT,
    WORD_SEPARATOR,
    BeamSearchDecoder,
    CharVocabulary,
    char_error_rate,
    ctc_collapse,
    greedy_decode,
    greedy_decode_batch,
    normalize_text,
    word_error_rate,
)

VOCAB = CharVocabulary.default()
ID = {token: i for i, token in enumerate(VOCAB.tokens)}

# --------------------------------------------------------------------------------------------------
# Vocabulary


def test_default_vocabulary_has_the_30_tokens_of_the_reference_with_blank_first():
    assert len(VOCAB) == 30
    assert VOCAB.tokens[:3] == (BLANK, WORD_SEPARATOR, "'") and VOCAB.tokens[-1] == UNKNOWN
    assert "".join(VOCAB.tokens[3:29]) == string.ascii_lowercase
    assert (VOCAB.blank_id, VOCAB.separator_id, VOCAB.unknown_id) == (0, 1, 29)
    labels = VOCAB.labels_for_pyctcdecode()
    assert labels[:3] == ["", " ", "'"] and labels[-1] == UNKNOWN_TEXT and labels[3:29] == list(string.ascii_lowercase)


@pytest.mark.parametrize(
    "tokens, message",
    [
        ((BLANK, "|", "a", "a", UNKNOWN), "unique"),
        ((BLANK, "a", UNKNOWN), r"lacks the special token\(s\) \|"),
        ((BLANK, "|", "ab", UNKNOWN), "must be one character"),
        ((BLANK, "|", " ", UNKNOWN), "a space cannot be a vocabulary token"),
    ],
)
def test_vocabulary_refuses_malformed_token_lists(tokens, message):
    with pytest.raises(ConfigError, match=message):
        CharVocabulary(tokens)


def test_encode_normalises_maps_spaces_to_separator_and_other_characters_to_unknown():
    ids = VOCAB.encode("Room 101, it's")
    expected = [ID[c] for c in "room"] + [1, 29, 29, 29, 1] + [ID[c] for c in "it's"]
    assert ids.dtype == np.int64 and ids.tolist() == expected
    assert VOCAB.decode(ids) == f"room {UNKNOWN_TEXT * 3} it's"
    assert VOCAB.encode("").tolist() == [] and VOCAB.encode(" ?! ").tolist() == []


def test_decode_drops_blanks_and_does_not_collapse_repeats():
    assert VOCAB.decode([0, ID["a"], ID["a"], 0, 1, 1, ID["b"], 1]) == "aa b"
    with pytest.raises(ValueError, match="token id 30 is outside"):
        VOCAB.decode([30])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("HELLO World", "hello world"),
        ("  Well-known DOGS\u2019 \u201ctricks\u201d, 2 of them! ", "well known dogs' tricks 2 of them"),
        ("rock\u2014and\u2013roll", "rock and roll"),
        ("snake_case", "snake case"),
        ("o\u2019clock \u02bcem", "o'clock 'em"),
        ("\ufb01ne \uff21\uff22", "fine ab"),  # NFKC: ligature and full-width letters
        ("caf\u00e9 na\u00efve", "caf\u00e9 na\u00efve"),  # accented letters are kept (they encode as <unk>)
        ("100% $5 (maybe) a+b=c #1 @x", "100 5 maybe abc 1 x"),
        ("tab\tand\nnewline", "tab and newline"),
        ("C:\u0327a", "\u00e7a"),  # ":" removed between C and a combining cedilla: composed to one letter
        ("", ""),
    ],
)
def test_normalize_text_follows_the_documented_rules(text, expected):
    assert normalize_text(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_text_is_idempotent_and_clean(text):
    normal = normalize_text(text)
    assert normalize_text(normal) == normal
    assert normal == normal.strip() and "  " not in normal
    assert not any(c.isspace() and c != " " for c in normal)
    assert all(c == "'" or not (c in string.punctuation) for c in normal)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.ascii_letters + "'  \t-" + ".,!?\u2019"))
def test_decode_of_encode_is_the_normalised_text(text):
    ids = VOCAB.encode(text)
    assert VOCAB.decode(ids) == normalize_text(text)
    assert ids.size == len(normalize_text(text))
    assert (ids != VOCAB.blank_id).all() and (ids != VOCAB.unknown_id).all()


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_encode_of_any_text_gives_one_non_blank_id_per_normalised_character(text):
    ids = VOCAB.encode(text)
    assert ids.size == len(normalize_text(text))
    assert ((ids >= 1) & (ids < len(VOCAB))).all()


# --------------------------------------------------------------------------------------------------
# Greedy decoding


@pytest.mark.parametrize(
    "ids, expected",
    [
        ([], []),
        ([0, 0], []),
        ([3, 3, 3], [3]),
        ([3, 0, 3], [3, 3]),
        ([0, 5, 5, 0, 5, 1, 1, 0], [5, 5, 1]),
        ([7, 8, 8, 7], [7, 8, 7]),
    ],
)
def test_ctc_collapse_merges_repeats_then_drops_blanks(ids, expected):
    assert ctc_collapse(ids, blank_id=0) == expected
    assert ctc_collapse(np.asarray(ids, dtype=np.int64), blank_id=0) == expected


def _logits(path: str, *, sharp: float = 5.0) -> np.ndarray:
    """(T, V) log-probabilities whose best token per frame spells ``path``: ``_`` blank, ``|`` separator."""
    rng = np.random.default_rng(0)
    scores = rng.normal(0.0, 0.5, (len(path), len(VOCAB)))
    for t, char in enumerate(path):
        scores[t, ID[BLANK] if char == "_" else ID[char]] += sharp
    return torch.log_softmax(torch.from_numpy(scores), dim=1).numpy().astype(np.float32)


def test_greedy_decoding_of_a_hand_made_logit_sequence():
    # Repeats merge ("hh", "ee", "ll"), a blank between repeats keeps both l's, separators become
    # one space (also a doubled one and one at the end), leading blanks vanish.
    path = "__hhee_ll_llo||w_oorrl_d|_"
    assert greedy_decode(_logits(path), VOCAB) == "hello world"
    # Without the blank between the l's they merge into one.
    assert greedy_decode(_logits("hel_llo"), VOCAB) == "hello"
    assert greedy_decode(_logits("helllo"), VOCAB) == "helo"
    assert greedy_decode(torch.from_numpy(_logits(path)), VOCAB) == "hello world"
    assert greedy_decode(np.zeros((0, len(VOCAB)), np.float32), VOCAB) == ""
    with pytest.raises(ValueError, match=r"shape \(T, 30\)"):
        greedy_decode(np.zeros((4, 29)), VOCAB)


def test_greedy_batch_decoding_ignores_padding_frames():
    first, second = _logits("c_a_t"), _logits("d_oo_gg")
    batch = np.zeros((2, 7, len(VOCAB)), np.float32)
    batch[0, :5], batch[1] = first, second
    batch[0, 5:, ID["z"]] = 100.0  # padding that would read "z" if it were decoded
    texts = greedy_decode_batch(torch.from_numpy(batch), torch.tensor([5, 7]), VOCAB)
    assert texts == ["cat", "dog"]
    assert greedy_decode_batch(batch, [5, 7], VOCAB) == texts


# --------------------------------------------------------------------------------------------------
# Beam search


def test_beam_search_without_lm_agrees_with_greedy_on_peaky_scores():
    decoder = BeamSearchDecoder(VOCAB, beam_width=8)
    path = "__hhee_ll_llo||w_oorrl_d|_"
    assert decoder.decode(_logits(path)) == "hello world"
    batch = np.stack([_logits("c_a_t__"), _logits("d_oo_gg")])
    assert decoder.decode_batch(batch, np.array([5, 7])) == ["cat", "dog"]
    assert not decoder.has_lm


def test_beam_width_must_be_positive():
    with pytest.raises(ConfigError, match="beam width must be a positive integer"):
        BeamSearchDecoder(VOCAB, beam_width=0)


def _ambiguous_logits() -> np.ndarray:
    """"the ?at sat" where the acoustics prefer "k" (0.55) to "c" (0.40) at the first letter of word 2."""
    path = "the|Kat|sat"
    probs = np.full((len(path), len(VOCAB)), 0.05 / (len(VOCAB) - 2))
    for t, char in enumerate(path):
        if char == "K":
            probs[t, :] = 0.05 / (len(VOCAB) - 2)
            probs[t, ID["k"]], probs[t, ID["c"]] = 0.55, 0.40
        else:
            probs[t, ID[char]] = 0.95 - 0.05 / (len(VOCAB) - 2)
    probs /= probs.sum(axis=1, keepdims=True)
    return np.log(probs).astype(np.float32)


def _write_toy_arpa(path) -> None:
    """A bigram LM of the sentence "the cat sat": log10 probabilities computed here.

    Unigrams: ``the``, ``cat``, ``sat``, ``</s>`` each 0.225, ``<unk>`` 0.1 (sum 1; ``<s>`` is
    never predicted).  Bigrams along the sentence, ``<s> the``, ``the cat``, ``cat sat``,
    ``sat </s>``, each 0.8; a context's back-off weight spreads the remaining 0.2 over the unigram
    mass of the other words: 0.2 / (1 - 0.225).
    """
    unigram = {"</s>": 0.225, "<unk>": 0.1, "the": 0.225, "cat": 0.225, "sat": 0.225}
    bigram = [("<s>", "the"), ("the", "cat"), ("cat", "sat"), ("sat", "</s>")]
    backoff = math.log10(0.2 / (1 - 0.225))
    contexts = {first for first, _ in bigram}
    lines = ["\\data\\", f"ngram 1={len(unigram) + 1}", f"ngram 2={len(bigram)}", "", "\\1-grams:"]
    lines.append(f"-99\t<s>\t{backoff:.6f}")
    for word, p in unigram.items():
        lines.append(f"{math.log10(p):.6f}\t{word}" + (f"\t{backoff:.6f}" if word in contexts else ""))
    lines += ["", "\\2-grams:"] + [f"{math.log10(0.8):.6f}\t{a} {b}" for a, b in bigram] + ["", "\\end\\", ""]
    path.write_text("\n".join(lines))


def test_lm_beam_search_fixes_a_word_the_acoustics_get_wrong(tmp_path):
    pytest.importorskip("kenlm")
    arpa = tmp_path / "toy.arpa"
    _write_toy_arpa(arpa)
    scores = _ambiguous_logits()
    reference = ["the cat sat"]
    greedy = greedy_decode(scores, VOCAB)
    no_lm = BeamSearchDecoder(VOCAB, beam_width=16).decode(scores)
    with_lm = BeamSearchDecoder(VOCAB, lm_path=arpa, beam_width=16, alpha=0.5, beta=1.0)
    assert with_lm.has_lm
    assert greedy == no_lm == "the kat sat"
    assert with_lm.decode(scores) == "the cat sat"
    assert word_error_rate(reference, [greedy]) == pytest.approx(1 / 3)
    assert word_error_rate(reference, with_lm.decode_batch(scores[None], [len(scores)])) == 0.0


def test_missing_lm_file_is_a_config_error(tmp_path):
    pytest.importorskip("kenlm")
    with pytest.raises(ConfigError, match="no such language model file"):
        BeamSearchDecoder(VOCAB, lm_path=tmp_path / "absent.arpa")
    broken = tmp_path / "broken.arpa"
    broken.write_text("not an arpa file\n")
    with pytest.raises(ConfigError, match="cannot read the language model"):
        BeamSearchDecoder(VOCAB, lm_path=broken)


def test_lm_without_kenlm_is_a_dependency_error_saying_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "kenlm", None)  # import kenlm now raises ImportError
    arpa = tmp_path / "toy.arpa"
    _write_toy_arpa(arpa)
    with pytest.raises(DependencyError) as caught:
        BeamSearchDecoder(VOCAB, lm_path=arpa)
    message = str(caught.value)
    assert "KenLM" in message and "pip install https://github.com/kpu/kenlm/archive/master.zip" in message
    assert "pip install kenlm" in message and "\n" not in message
    # Without an LM, kenlm is not needed.
    assert BeamSearchDecoder(VOCAB).decode(_logits("a_b")) == "ab"


# --------------------------------------------------------------------------------------------------
# Error rates


def test_word_and_char_error_rates_on_hand_counted_cases():
    # 1 substitution (cat -> bat) + 1 insertion (on) over 5 reference words.
    assert word_error_rate(["the cat sat", "a dog"], ["the bat sat on", "a dog"]) == pytest.approx(2 / 5)
    assert word_error_rate(["The CAT, sat!"], ["the cat sat"]) == 0.0  # normalised first
    assert char_error_rate(["abc"], ["abd"]) == pytest.approx(1 / 3)
    assert char_error_rate(["ab cd"], ["abcd"]) == pytest.approx(1 / 5)  # the space is a character
    assert word_error_rate([], []) == 0.0 and char_error_rate([], []) == 0.0
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        word_error_rate(["a", "b"], ["a"])


def _edit_distance(reference: list, hypothesis: list) -> int:
    """Levenshtein distance by the textbook dynamic programme (the slow transcription of the definition)."""
    previous = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, start=1):
        current = [i]
        for j, h in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


_words = st.lists(st.sampled_from(["a", "b", "ab", "c'd"]), min_size=1, max_size=6).map(" ".join)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_words, st.lists(st.sampled_from(["a", "b", "ab", "x"]), max_size=6).map(" ".join)), min_size=1, max_size=4))
def test_error_rates_equal_summed_edit_distances_over_reference_length(pairs):
    references, hypotheses = [p[0] for p in pairs], [p[1] for p in pairs]
    words = sum(_edit_distance(r.split(), h.split()) for r, h in pairs) / sum(len(r.split()) for r in references)
    chars = sum(_edit_distance(list(r), list(h)) for r, h in pairs) / sum(len(r) for r in references)
    assert word_error_rate(references, hypotheses) == pytest.approx(words)
    assert char_error_rate(references, hypotheses) == pytest.approx(chars)
