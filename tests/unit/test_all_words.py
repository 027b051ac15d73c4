"""All-words sampling (span all_words) and the oracles behind it: vocabulary = oracle words ∩ split
words, min(200, n) instances a word, seeded, subsets; QVEC feature names; the sample CLI's --oracle."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from layerprobe.data.all_words import VocabularyOracle, vocabulary_oracle
from layerprobe.data.corpora import open_corpus
from layerprobe.data.oracles import canonical_feature, load_oracle, oracle_fingerprint
from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, read_manifest, write_manifest
from layerprobe.errors import ConfigError, OracleError, SampleError
from support.cli import run
from support.corpora import make_folder_corpus

#: A QVEC-format semantic oracle of five of the miniature corpus's words (and one it lacks).
QVEC_SEMANTIC = {
    "cat": {"semcor.noun.animal": 1.0},
    "dog": {"semcor.noun.animal": 0.75, "semcor.noun.person": 0.25},
    "mat": {"semcor.noun.artifact": 1.0},
    "ran": {"semcor.verb.motion": 0.5, "semcor.verb.social": 0.5},
    "stopped": {"semcor.verb.motion": 1.0},
    "zebra": {"semcor.noun.animal": 1.0},
}
WORDNET = Path("/usr/share/wordnet/index.sense")
TAGGER = Path("/usr/share/perl5/Lingua/EN/Tagger/words.yml")
needs_packages = pytest.mark.skipif(not (WORDNET.is_file() and TAGGER.is_file()),
                                    reason="Debian's wordnet-sense-index / liblingua-en-tagger-perl are not installed")  # fmt: skip


def write_qvec(path: Path, table: dict) -> Path:
    path.write_text("".join(f"{word}\t{json.dumps(values)}\n" for word, values in table.items()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("allwords") / "mini"
    written = make_folder_corpus(root, splits=("train", "dev"), per_split=40, seed=3)
    return open_corpus(root), written


@pytest.fixture(scope="module")
def qvec(tmp_path_factory):
    return write_qvec(tmp_path_factory.mktemp("oracle") / "semcor.supersenses", QVEC_SEMANTIC)


def counts(written, split="train"):
    return Counter(w.label for utt in written[split] for w in utt.alignment.words)


def test_the_vocabulary_is_the_oracle_words_of_the_split_with_min_cap_n_instances(corpus, qvec):
    handle, written = corpus
    available = counts(written)
    oracle = vocabulary_oracle(qvec)
    rule = SamplingRule.default("all_words", "train", max_per_label=20, min_per_label=20)
    manifest = draw_sample(handle, "train", span="all_words", rule=rule, oracle=oracle, progress=False)
    in_oracle = [w for w in available if w in {"cat", "dog", "mat", "ran", "stopped"}]
    assert sorted(manifest.labels) == sorted(in_oracle)
    assert list(manifest.labels) == sorted(in_oracle, key=lambda w: (-available[w], w))  # by frequency
    drawn = Counter(s.label for u in manifest.utterances for s in u.segments)
    assert dict(drawn) == {w: min(20, available[w]) for w in in_oracle}
    assert any(available[w] > 20 for w in in_oracle) and any(available[w] < 20 for w in in_oracle)
    every = {(utt.utt_id, w.start, w.end, w.label) for utt in written["train"] for w in utt.alignment.words}
    assert {(u.utt_id, s.start, s.end, s.label) for u in manifest.utterances for s in u.segments} <= every
    summary = manifest.summary
    assert summary["n_words_in_split"] == len(available)
    assert summary["n_words_not_in_oracle"] == len(available) - len(in_oracle)
    assert set(summary["words_not_in_oracle"]) == set(available) - set(in_oracle)
    assert summary["oracle"] == {"choice": str(qvec), "sources": [str(qvec)],
                                 "fingerprints": [oracle_fingerprint(load_oracle("syntactic", qvec))[:16]]}  # fmt: skip
    assert manifest.describe().startswith(
        f"mini train all_words sample 1 (seed 1): {sum(drawn.values())} word segments of {len(in_oracle)} words in the "
        f"{qvec} oracle (of {len(available)} in the split) from {len(manifest.utterances)} utterances"
    )


def test_the_default_cap_is_200_and_the_draw_is_seeded_and_written_as_all_words(corpus, qvec, tmp_path):
    handle, _ = corpus
    rule = SamplingRule.default("all_words", "train")
    assert (rule.min_per_label, rule.max_per_label, rule.n_labels) == (200, 200, None)
    assert SamplingRule.default("all_words", "eval").max_per_label == 200
    oracle = vocabulary_oracle(qvec)
    small = SamplingRule.default("all_words", "train", min_per_label=5, max_per_label=5)
    one = draw_sample(handle, "train", span="all_words", rule=small, oracle=oracle, progress=False)
    again = draw_sample(handle, "train", span="all_words", rule=small, oracle=oracle, progress=False)
    other = draw_sample(handle, "train", span="all_words", rule=small, oracle=oracle, seed=7, progress=False)
    assert one.to_json_text() == again.to_json_text() != other.to_json_text()
    path = write_manifest(one, manifest_path(tmp_path, handle.name, "train", "all_words", 1))
    assert path == tmp_path / "mini" / "train_all_words_sample1.json"
    back = read_manifest(path)
    assert back.span == "all_words" and back.to_json_text() == one.to_json_text()


def test_subsets_hold_each_utterance_once_under_the_duration_limit(corpus, qvec):
    handle, _ = corpus
    rule = SamplingRule.default("all_words", "train", max_subset_duration_s=3.0)
    manifest = draw_sample(handle, "train", span="all_words", rule=rule, oracle=vocabulary_oracle(qvec), progress=False)
    assert manifest.n_subsets > 2
    ids = [u.utt_id for u in manifest.utterances]
    assert len(ids) == len(set(ids))
    for index in range(manifest.n_subsets):
        part = manifest.subset(index)
        assert sum(u.duration_s for u in part) <= 3.0 or len(part) == 1


def test_no_oracle_word_in_the_split_is_one_line(corpus, tmp_path):
    handle, written = corpus
    oracle = vocabulary_oracle(write_qvec(tmp_path / "o.txt", {"zebra": {"ptb.nn": 1.0}}))
    n_words = len(counts(written))
    with pytest.raises(SampleError) as caught:
        draw_sample(handle, "train", span="all_words", oracle=oracle, progress=False)
    assert str(caught.value) == (
        f"{handle.root}: none of the {n_words} words of split 'train' is in the {tmp_path / 'o.txt'} oracle "
        f"({tmp_path / 'o.txt'}); give another --oracle, or a corpus of English words"
    )


def test_an_oracle_for_another_span_and_an_unknown_choice_are_refused(corpus, qvec, tmp_path):
    handle, _ = corpus
    with pytest.raises(ConfigError, match=r"^--oracle is for span all_words, not word$"):
        draw_sample(handle, "train", span="word", oracle=vocabulary_oracle(qvec), progress=False)
    with pytest.raises(ConfigError) as caught:
        vocabulary_oracle(tmp_path / "nope")
    assert str(caught.value) == (
        f"--oracle '{tmp_path / 'nope'}' is neither both, semantic, syntactic nor an existing file; "
        "give one of those names or a QVEC oracle file"
    )


def test_qvec_feature_names_map_onto_the_built_oracles_names(tmp_path):
    assert [canonical_feature(name) for name in ("semcor.noun.act", "semcor.verb.motion", "ptb.vbd", "ptb.prp$",
                                                 "ptb.-lrb-", "ptb.``", "noun.act", "VBD", "ptb.")]  \
        == ["noun.act", "verb.motion", "VBD", "PRP$", "-LRB-", "``", "noun.act", "VBD", "ptb."]  # fmt: skip
    semantic = load_oracle("semantic", write_qvec(tmp_path / "s.txt", QVEC_SEMANTIC))
    assert semantic.features == ("noun.animal", "noun.person", "noun.artifact", "verb.motion", "verb.social")
    np.testing.assert_array_equal(semantic.vector("Dog"), [0.75, 0.25, 0, 0, 0])
    assert "dogs" not in semantic  # a QVEC file matches the form, as the published code does
    syntactic = load_oracle("syntactic", write_qvec(tmp_path / "p.txt", {"0": {"ptb.cd": 1.0}, "ran": {"ptb.vbd": 1.0}}))
    assert syntactic.features == ("CD", "VBD") and "1990" in syntactic and "0" in syntactic
    assert oracle_fingerprint(semantic) == oracle_fingerprint(load_oracle("semantic", tmp_path / "s.txt"))
    assert oracle_fingerprint(semantic) != oracle_fingerprint(syntactic)
    twice = write_qvec(tmp_path / "twice.txt", {"a": {"ptb.nn": 0.5, "NN": 0.5}})
    with pytest.raises(OracleError) as caught:
        load_oracle("syntactic", twice)
    assert str(caught.value) == f"{twice}: two features are both 'NN' once QVEC's prefixes are removed; give each feature one name"
    with pytest.raises(OracleError, match=r"^unknown oracle kind 'lexical' \(known: semantic, syntactic\)$"):
        load_oracle("lexical")


@needs_packages
def test_the_default_vocabulary_is_the_union_of_the_built_oracles():
    both = vocabulary_oracle("both")
    assert isinstance(both, VocabularyOracle) and [o.source for o in both.oracles] == [str(WORDNET), str(TAGGER)]
    assert "the" in both and "the" not in both.oracles[0]  # a function word: only the POS oracle has it
    assert "books" in both.oracles[0] and "walked" in both.oracles[0]  # inflected forms through morphy
    assert "xyzzy" not in both
    semantic = load_oracle("semantic")
    assert len(semantic.features) == 41 and semantic.features[1] == "noun.act"
    assert load_oracle("syntactic").features[-3:] == ("WP$", "WRB", "``")


def test_the_sample_command_takes_an_oracle_and_refuses_a_malformed_one(corpus, qvec, tmp_path, capsys):
    handle, _ = corpus
    argv = ["sample", "--corpus", str(handle.root), "--split", "train", "--span", "all_words", "--out", str(tmp_path),
            "--no-progress"]  # fmt: skip
    code, out, err = run([*argv, "--oracle", str(qvec)], capsys)
    assert code == 0, err
    path = tmp_path / "mini" / "train_all_words_sample1.json"
    assert out.strip().endswith(f"-> {path}") and "word segments of" in out
    assert read_manifest(path).summary["oracle"]["sources"] == [str(qvec)]
    bad = tmp_path / "bad.txt"
    bad.write_text('cat\t{"semcor.noun.animal": 1.0}\ndog {"semcor.noun.animal": 1.0}\n', encoding="utf-8")
    code, out, err = run([*argv, "--oracle", str(bad), "--sample", "2"], capsys)
    assert code == 1 and out == ""
    assert err == f"layerprobe: error: {bad}: line 2: expected 'word<TAB>{{\"feature\": probability, ...}}', found no tab\n"
    assert not (tmp_path / "mini" / "train_all_words_sample2.json").exists()
    code, _, err = run(["sample", "--corpus", str(handle.root), "--split", "train", "--span", "word", "--oracle", "both",
                        "--out", str(tmp_path)], capsys)  # fmt: skip
    assert code == 2 and "Invalid value for --oracle: is for --span all_words, not word" in err


def test_several_oracles_give_the_union_of_their_words(corpus, qvec, tmp_path):
    handle, written = corpus
    pos = write_qvec(tmp_path / "pos.txt", {"the": {"ptb.dt": 1.0}, "cat": {"ptb.nn": 1.0}})
    union = vocabulary_oracle([qvec, pos, qvec])
    assert union.choice == f"{qvec}+{pos}" and [o.source for o in union.oracles] == [str(qvec), str(pos)]
    manifest = draw_sample(handle, "train", span="all_words", oracle=union, progress=False)
    assert set(manifest.labels) == {"the", "cat", "dog", "mat", "ran", "stopped"} & set(counts(written))
    assert "the" in manifest.labels and vocabulary_oracle([qvec]).choice == str(qvec)
    with pytest.raises(ConfigError, match=r"^no --oracle given; give both, semantic, syntactic or a QVEC oracle file$"):
        vocabulary_oracle([])
