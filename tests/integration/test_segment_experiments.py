"""``layerprobe segment`` end to end: a miniature folder corpus (dev and test), frame samples, tiny:wav2vec2's
frame stores, the CLI (tuned on dev, scored on test; tuned on the same data; one submitit job per layer),
the rows against the library, and utterances without words."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerprobe.analysis import segmentation as seg
from layerprobe.data.corpora import open_corpus
from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
from layerprobe.errors import ConfigError
from layerprobe.experiments.segment import run_segment
from layerprobe.extraction import extract
from layerprobe.io.alignments import Interval, read_textgrid, write_textgrid
from layerprobe.io.store import FeatureStore
from layerprobe.models import load_model
from layerprobe.results import ResultTable
from support.cli import run
from support.corpora import make_folder_corpus

MODEL = "tiny:wav2vec2"
METRICS = {"precision", "recall", "f1", "os", "r_value", "token_f1", "f1_chance", "r_value_chance"}


def build(root, *, silence_only=()):
    """A folder corpus with dev and test (8 utterances each), frame samples, tiny:wav2vec2 frame stores.

    ``silence_only``: utterance ids whose word tier is rewritten to one ``sil`` interval.
    """
    make_folder_corpus(root / "mini", splits=("dev", "test"), per_split=8, seed=4)
    for utt_id in silence_only:
        split = utt_id.split("-")[0]
        path = root / "mini" / split / f"{utt_id}.TextGrid"
        alignment = read_textgrid(path, utt_id=utt_id)
        silent = type(alignment)(utt_id, alignment.duration, alignment.phones, (Interval(0.0, alignment.duration, "sil"),))
        write_textgrid(silent, path)
    corpus = open_corpus(root / "mini")
    stores = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for split in ("dev", "test"):
            manifest = draw_sample(corpus, split, span="frame", rule=SamplingRule.default("frame", "eval"), progress=False)
            path = write_manifest(manifest, manifest_path(root / "data_samples", corpus.name, split, "frame", 1))
            stores[split] = extract(manifest, load_model(MODEL), root / "features", rep="contextualized", progress=False,
                                    manifest_path=path).path  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return corpus.name, stores


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("segment")
    name, stores = build(root, silence_only=("test-002",))
    return root, name, stores


def gold_of(store_path, root):
    """Gold boundaries, words, ends, keep mask and frame counts of a store, read here independently."""
    with FeatureStore.open(store_path) as opened:
        ids = opened.utterance_ids
    gold, words, ends, keep = [], [], [], []
    for utt_id in ids:
        alignment = read_textgrid(root / "mini" / utt_id.split("-")[0] / f"{utt_id}.TextGrid", utt_id=utt_id)
        words_here = seg.gold_words(alignment.words)
        keep.append(len(words_here) > 0)
        if len(words_here):
            gold.append(seg.gold_boundaries(alignment.words))
            words.append(words_here)
            ends.append(alignment.duration)
    return gold, words, ends, np.array(keep)


def test_segment_cli_tunes_on_dev_scores_test_and_rows_equal_the_library(tiny, tmp_path, capsys):
    root, name, stores = tiny
    argv = ["segment", "--model", MODEL, "--corpus", name, "--split", "test", "--tune-split", "dev", "--features", str(root / "features"),
            "--samples-dir", str(root / "data_samples"), "--no-progress"]  # fmt: skip
    code, out, err = run([*argv, "--out", str(tmp_path / "seg.csv")], capsys)
    assert code == 0, err
    table = ResultTable.open(tmp_path / "seg.csv")
    assert {r["experiment"] for r in table.rows} == {"segment@librispeech", "segment@buckeye"}
    assert {r["split"] for r in table.rows} == {"test"}
    dev_gold, _, _, dev_keep = gold_of(stores["dev"], root)
    test_gold, test_words, test_ends, test_keep = gold_of(stores["test"], root)
    assert test_keep.tolist().count(False) == 1  # test-002: silence only
    with FeatureStore.open(stores["dev"]) as dev, FeatureStore.open(stores["test"]) as test:
        layers = test.layer_ids
        for layer in layers:
            rate = test.layer_frame_rate(layer)
            searched = seg.search_grid(dev.read(layer), dev.row_ranges(layer)[1], dev_gold, rate, keep=dev_keep)
            counts = test.row_ranges(layer)[1]
            for convention in ("librispeech", "buckeye"):
                chosen = searched[convention].setting
                frames = seg.segment_frames(test.read(layer), counts, distance=chosen.distance, window=chosen.window,
                                            prominence=chosen.prominence)  # fmt: skip
                kept = [f for f, k in zip(frames, test_keep) if k]
                expected = seg.score_boundaries(test_gold, kept, counts[test_keep], rate, convention)
                tokens = seg.token_scores(test_words, kept, test_ends, rate, convention)
                rows = table.select(layer=layer, experiment=f"segment@{convention}")
                values = {row["metric"]: row["value"] for row in rows}
                want = {"precision": expected.precision, "recall": expected.recall, "f1": expected.f1, "token_f1": tokens.f1}
                if expected.precision > 0:
                    want.update(os=expected.os, r_value=expected.r_value)
                # chance: as many boundaries per utterance at random frames (seed 0), scored the same way
                chance = seg.score_boundaries(test_gold, seg.random_boundaries(kept, counts[test_keep]), counts[test_keep], rate, convention)
                want["f1_chance"] = chance.f1
                if chance.precision > 0:
                    want["r_value_chance"] = chance.r_value
                assert values == pytest.approx(want, abs=1e-12)
                details = table.metadata(rows[0])["details"]
                assert (details["distance"], details["window"], details["prominence"]) == (chosen.distance, chosen.window, chosen.prominence)
                assert details["tune_f1"] == pytest.approx(searched[convention].score.f1, abs=1e-12)
                assert (details["n_utterances"], details["n_scored"], details["n_without_words"], details["n_without_alignment"]) == (8, 7, 1, 0)
                assert (details["n_gold"], details["n_pred"]) == (expected.n_gold, expected.n_pred)
                assert table.metadata(rows[0])["options"]["tune_split"] == "dev"
                assert f"segment {layer} {convention}: F1 {expected.f1:.4f}" in out
    assert out.strip().endswith(f"{len(layers)} layers -> {tmp_path / 'seg.csv'}")

    code, _, err = run([*argv, "--out", str(tmp_path / "jobs.csv"), "--launcher", "submitit", "--cluster", "debug",
                        "--jobs-dir", str(tmp_path / "jobs")], capsys)  # fmt: skip
    assert code == 0, err
    jobs = ResultTable.open(tmp_path / "jobs.csv")
    key = lambda r: (r["experiment"], r["layer"], r["metric"], r["value"])  # noqa: E731
    assert sorted(map(key, jobs.rows)) == sorted(map(key, table.rows))


def test_tune_on_eval_is_the_published_protocol_labelled_same_data(tiny, tmp_path, capsys):
    root, name, stores = tiny
    argv = ["segment", "--model", MODEL, "--corpus", name, "--split", "test", "--layers", "T2", "--tune-on-eval", "--convention", "librispeech",
            "--features", str(root / "features"), "--samples-dir", str(root / "data_samples"), "--no-progress", "--out", str(tmp_path / "s.csv")]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 0, err
    table = ResultTable.open(tmp_path / "s.csv")
    assert {r["experiment"] for r in table.rows} == {"segment@librispeech+same-data"}
    assert {r["metric"] for r in table.rows} <= METRICS
    test_gold, _, _, keep = gold_of(stores["test"], root)
    with FeatureStore.open(stores["test"]) as test:
        best = seg.search_grid(test.read("T2"), test.row_ranges("T2")[1], test_gold, 50.0, ("librispeech",), keep=keep)["librispeech"]
    assert table.select(metric="f1")[0]["value"] == pytest.approx(best.score.f1, abs=1e-12)
    assert table.metadata(table.rows[0])["options"]["tune_split"] is None


def test_same_split_for_tuning_and_scoring_is_refused_in_one_line(tiny, tmp_path, capsys):
    root, name, _ = tiny
    code, out, err = run(["segment", "--model", MODEL, "--corpus", name, "--split", "dev", "--features", str(root / "features"),
                          "--out", str(tmp_path / "x.csv")], capsys)  # fmt: skip
    assert (code, out) == (1, "")
    assert err == ("layerprobe: error: --tune-split dev is the evaluation split: give another split to tune on, or --tune-on-eval "
                   "for the published same-data protocol\n")  # fmt: skip
    assert not (tmp_path / "x.csv").exists()


def test_a_sample_without_any_word_is_refused_in_one_line(tmp_path):
    ids = [f"{split}-{i:03d}" for split in ("dev", "test") for i in range(8)]
    name, stores = build(tmp_path, silence_only=ids)
    with pytest.raises(ConfigError) as caught:
        run_segment(stores["test"], tune_split="dev", samples_dir=tmp_path / "data_samples", results=tmp_path / "r.csv", progress=False)
    assert str(caught.value) == (f"none of the 8 utterances of {stores['test']} has a word in its alignment (0 without an alignment, "
                                 "8 without a word); segment needs word alignments")  # fmt: skip
    assert not (tmp_path / "r.csv").exists()


def test_a_store_whose_manifest_is_gone_is_refused_in_one_line(tiny, tmp_path):
    from layerprobe.errors import StoreError

    root, name, stores = tiny
    manifest = root / "data_samples" / name / "test_frame_sample1.json"
    hidden = tmp_path / "hidden.json"
    manifest.rename(hidden)
    try:
        with pytest.raises(StoreError) as caught:
            run_segment(stores["test"], tune_on_eval=True, samples_dir=tmp_path, progress=False)
    finally:
        hidden.rename(manifest)
    assert str(caught.value) == (f"{stores['test']}: its data-sample manifest (which names the word alignments) is not found; "
                                 "pass --samples-dir (the folder sample wrote it under)")  # fmt: skip
