"""Data-sample sets: the published count rules, seeding, subsets, and manifest I/O."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from layerprobe.data.corpora import open_corpus
from layerprobe.data.labels import phone_class
from layerprobe.data.samples import (
    SamplingRule,
    default_role,
    draw_sample,
    manifest_path,
    read_label_list,
    read_manifest,
    write_manifest,
)
from layerprobe.errors import AlignmentError, ConfigError, SampleError
from support.corpora import make_folder_corpus, make_librispeech_corpus


@pytest.fixture(scope="module")
def folder_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "mini"
    written = make_folder_corpus(root, splits=("train", "dev"), per_split=40, seed=3)
    return open_corpus(root), written


def _all_instances(written, split, span):
    """Every (utt_id, start, end, label) of a split, straight from what the corpus builder wrote."""
    rows = []
    for utt in written[split]:
        tier = utt.alignment.phones if span == "phone" else utt.alignment.words
        for iv in tier:
            rows.append((utt.utt_id, iv.start, iv.end, phone_class(iv.label) if span == "phone" else iv.label))
    return rows


def test_default_counts_are_the_published_ones():
    assert SamplingRule.default("frame", "train").n_utterances == 500
    phone_train = SamplingRule.default("phone", "train")
    assert (phone_train.min_per_label, phone_train.max_per_label, phone_train.n_labels) == (3000, 7000, None)
    phone_eval = SamplingRule.default("phone", "eval")
    assert (phone_eval.min_per_label, phone_eval.max_per_label) == (200, 200)
    word_train = SamplingRule.default("word", "train")
    assert (word_train.n_labels, word_train.min_per_label, word_train.max_per_label) == (500, 600, 1200)
    assert SamplingRule.default("word", "eval").max_per_label == 15
    assert SamplingRule.default("frame", "eval").max_subset_duration_s == 10_000
    assert default_role("train-clean-100") == "train" and default_role("dev-clean") == "eval"


def test_bad_rules():
    with pytest.raises(ConfigError, match="--min-per-label \\(9\\) is larger than --max-per-label \\(3\\)"):
        SamplingRule.default("phone", "train", min_per_label=9, max_per_label=3)
    with pytest.raises(ConfigError, match="unknown span 'segment'"):
        SamplingRule.default("segment", "train")
    with pytest.raises(ConfigError, match="--n-utterances must be a positive integer"):
        SamplingRule.default("frame", "train", n_utterances=0)


def test_phone_counts_follow_the_rule(folder_corpus):
    corpus, written = folder_corpus
    rule = SamplingRule.default("phone", "train", min_per_label=3, max_per_label=6)
    manifest = draw_sample(corpus, "train", span="phone", sample=1, rule=rule, progress=False)
    available = Counter(row[3] for row in _all_instances(written, "train", "phone"))
    drawn = Counter(s.label for u in manifest.utterances for s in u.segments)
    assert set(drawn) == set(available) == set(manifest.labels)
    for label, n in available.items():
        assert min(3, n) <= drawn[label] <= min(6, n), label
        assert manifest.summary["available_per_label"][label] == n
    assert manifest.summary["per_label"] == dict(drawn)
    # counts are drawn, not fixed: with this many labels not all take the maximum
    assert len({drawn[label] for label in drawn if available[label] >= 6}) > 1


def test_every_drawn_segment_is_a_real_instance(folder_corpus):
    corpus, written = folder_corpus
    rule = SamplingRule.default("word", "train", n_labels=5, min_per_label=2, max_per_label=4)
    manifest = draw_sample(corpus, "train", span="word", sample=2, rule=rule, progress=False)
    instances = set(_all_instances(written, "train", "word"))
    for utt in manifest.utterances:
        assert utt.duration_s > 0 and utt.audio == f"train/{utt.utt_id}.wav" and utt.alignment == f"train/{utt.utt_id}.TextGrid"
        assert list(utt.segments) == sorted(utt.segments, key=lambda s: (s.start, s.end, s.label))
        for segment in utt.segments:
            assert (utt.utt_id, segment.start, segment.end, segment.label) in instances
            assert 0 <= segment.start < segment.end <= utt.duration_s
    # utterances are listed in corpus order
    order = [u.utt_id for u in written["train"]]
    assert [u.utt_id for u in manifest.utterances] == sorted((u.utt_id for u in manifest.utterances), key=order.index)


def test_word_inventory_is_the_most_frequent_words(folder_corpus):
    corpus, written = folder_corpus
    counts = Counter(row[3] for row in _all_instances(written, "train", "word"))
    expected = sorted(counts, key=lambda w: (-counts[w], w))[:4]
    rule = SamplingRule.default("word", "eval", n_labels=4)
    manifest = draw_sample(corpus, "train", span="word", rule=rule, progress=False)
    assert list(manifest.labels) == expected
    # evaluation role: min(n, 15) instances of each word, exactly
    assert manifest.summary["per_label"] == {w: min(counts[w], 15) for w in expected}


def test_labels_from_another_sample(folder_corpus, tmp_path):
    corpus, _ = folder_corpus
    train = draw_sample(corpus, "train", span="word", rule=SamplingRule.default("word", "train", n_labels=3, min_per_label=1, max_per_label=2), progress=False)
    path = write_manifest(train, tmp_path / "train.json")
    labels = read_label_list(path)
    dev = draw_sample(corpus, "dev", span="word", labels=labels, progress=False)
    assert dev.labels == train.labels
    assert {s.label for u in dev.utterances for s in u.segments} <= set(labels)
    (tmp_path / "words.txt").write_text("the\n\nzebra\n")
    assert read_label_list(tmp_path / "words.txt") == ["the", "zebra"]
    with pytest.raises(SampleError, match="none of the 1 given labels occurs"):
        draw_sample(corpus, "dev", span="word", labels=["zebra"], progress=False)


def test_frame_sample(folder_corpus):
    corpus, written = folder_corpus
    manifest = draw_sample(corpus, "dev", span="frame", rule=SamplingRule.default("frame", "eval", n_utterances=7), progress=False)
    ids = [u.utt_id for u in manifest.utterances]
    assert len(ids) == 7 == len(set(ids))
    order = [u.utt_id for u in written["dev"]]
    assert ids == sorted(ids, key=order.index)
    assert all(u.segments == () for u in manifest.utterances)
    everything = draw_sample(corpus, "dev", span="frame", progress=False)  # 500 asked, 40 there
    assert len(everything.utterances) == 40 and everything.summary["n_utterances_in_split"] == 40


def test_same_seed_same_bytes_other_seed_other_sample(folder_corpus, tmp_path):
    corpus, _ = folder_corpus
    rule = SamplingRule.default("phone", "train", min_per_label=2, max_per_label=5)
    a = draw_sample(corpus, "train", span="phone", sample=1, rule=rule, progress=False)
    b = draw_sample(corpus, "train", span="phone", sample=1, rule=rule, progress=False)
    write_manifest(a, tmp_path / "a.json")
    write_manifest(b, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    c = draw_sample(corpus, "train", span="phone", sample=2, rule=rule, progress=False)
    assert c.seed == 2 and c.utterances != a.utterances
    d = draw_sample(corpus, "train", span="phone", sample=2, seed=1, rule=rule, progress=False)
    assert d.utterances == a.utterances and d.sample == 2


def test_subsets_respect_the_duration_limit(folder_corpus):
    corpus, _ = folder_corpus
    limit = 3.0
    rule = SamplingRule.default("frame", "train", max_subset_duration_s=limit)
    manifest = draw_sample(corpus, "train", span="frame", rule=rule, progress=False)
    assert manifest.n_subsets > 3
    indices = [u.subset for u in manifest.utterances]
    assert indices == sorted(indices) and set(indices) == set(range(manifest.n_subsets))
    for index in range(manifest.n_subsets):
        members = manifest.subset(index)
        total = sum(u.duration_s for u in members)
        assert total <= limit or len(members) == 1
    header = json.loads(manifest.to_json_text())
    assert [row["n_utterances"] for row in header["subsets"]] == [len(manifest.subset(i)) for i in range(manifest.n_subsets)]


def test_manifest_round_trip_and_paths(folder_corpus, tmp_path):
    corpus, _ = folder_corpus
    manifest = draw_sample(corpus, "train", span="word", rule=SamplingRule.default("word", "train", n_labels=3, min_per_label=1, max_per_label=3), progress=False)
    path = manifest_path(tmp_path / "data_samples", corpus.name, "train", "word", 1)
    assert path == tmp_path / "data_samples" / "mini" / "train_word_sample1.json"
    write_manifest(manifest, path)
    again = read_manifest(path)
    assert again == manifest
    first = again.utterances[0]
    assert again.audio_path(first).is_file() and again.alignment_path(first).is_file()
    assert again.content_hash() == manifest.content_hash()


def test_write_refuses_to_replace_a_different_sample(folder_corpus, tmp_path):
    corpus, _ = folder_corpus
    a = draw_sample(corpus, "dev", span="frame", sample=1, rule=SamplingRule.default("frame", "eval", n_utterances=3), progress=False)
    b = draw_sample(corpus, "dev", span="frame", sample=1, seed=9, rule=SamplingRule.default("frame", "eval", n_utterances=3), progress=False)
    path = write_manifest(a, tmp_path / "m.json")
    write_manifest(a, path)  # identical: fine
    with pytest.raises(SampleError, match="exists with a different sample; pass --overwrite"):
        write_manifest(b, path)
    assert read_manifest(path) == a
    write_manifest(b, path, overwrite=True)
    assert read_manifest(path) == b
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not a JSON file"),
        ("[]", "not a valid data-sample manifest"),
        ('{"layerprobe_data_sample": 1}', "not a valid data-sample manifest \\(KeyError"),
    ],
)
def test_bad_manifests(tmp_path, content, message):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(SampleError, match=message):
        read_manifest(tmp_path / "bad.json")


def test_bad_manifest_field_types(folder_corpus, tmp_path):
    corpus, _ = folder_corpus
    manifest = draw_sample(corpus, "dev", span="frame", rule=SamplingRule.default("frame", "eval", n_utterances=2), progress=False)
    data = json.loads(manifest.to_json_text())
    data["utterances"][0]["segments"] = [[0.1, "x"]]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(SampleError, match="bad.json: not a valid data-sample manifest"):
        read_manifest(tmp_path / "bad.json")
    data = json.loads(manifest.to_json_text())
    data["rule"]["n_utterances"] = -4
    (tmp_path / "bad2.json").write_text(json.dumps(data))
    with pytest.raises(SampleError, match="n-utterances must be a positive integer"):
        read_manifest(tmp_path / "bad2.json")


def test_librispeech_phone_sample_maps_stress_and_drops_silence(tmp_path):
    make_librispeech_corpus(tmp_path / "LS", tmp_path / "ali", splits=("train-clean-100",))
    corpus = open_corpus(tmp_path / "LS", alignments=tmp_path / "ali")
    manifest = draw_sample(corpus, "train-clean-100", span="phone", rule=SamplingRule.default("phone", "train", min_per_label=1, max_per_label=2), progress=False)
    assert all(s.label in manifest.labels and s.label.isalpha() and s.label.isupper() for u in manifest.utterances for s in u.segments)
    assert manifest.summary["labels_without_class"] == {"sil": 6}
    assert manifest.corpus["alignments"] == (tmp_path / "ali").resolve().as_posix()
    first = manifest.utterances[0]
    assert manifest.alignment_path(first) == (tmp_path / "ali" / "train-clean-100" / "19" / "198" / f"{first.utt_id}.TextGrid").resolve()


def test_segment_spans_need_alignments(tmp_path):
    make_librispeech_corpus(tmp_path / "LS", None)
    corpus = open_corpus(tmp_path / "LS")
    with pytest.raises(SampleError, match="no utterance of split 'dev-clean' has an alignment.*--alignments DIR"):
        draw_sample(corpus, "dev-clean", span="phone", progress=False)
    assert len(draw_sample(corpus, "dev-clean", span="frame", progress=False).utterances) == 6


def test_a_bad_alignment_file_is_named(tmp_path):
    written = make_folder_corpus(tmp_path / "c", splits=("train",), per_split=3)
    bad = tmp_path / "c" / "train" / f"{written['train'][1].utt_id}.TextGrid"
    bad.write_text("garbage")
    with pytest.raises(AlignmentError) as caught:
        draw_sample(open_corpus(tmp_path / "c"), "train", span="word", progress=False)
    assert str(caught.value).startswith(f"{bad}: not a readable TextGrid")
