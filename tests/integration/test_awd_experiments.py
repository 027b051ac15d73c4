"""``layerprobe awd`` end to end: a synthesized corpus, a word sample, tiny:wav2vec2's word store, the CLI
(plain and as one submitit job per layer), and the rows against the library on the same store."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerprobe.analysis.awd import same_different_ap
from layerprobe.data.labels import word_label
from layerprobe.io.store import FeatureStore
from layerprobe.results import ResultTable
from support.cli import run

MODEL = "tiny:wav2vec2"
#: The synthesized corpus's ids are synth-00000 ...: the last digit stands in for a speaker (10 of them).
SPEAKERS = r"synth-\d*(\d)$"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A word store as `layerprobe extract --span word` writes it for tiny:wav2vec2 (24 training utterances)."""
    from layerprobe.data.corpora import open_corpus
    from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
    from layerprobe.data.synth import synthesize_corpus
    from layerprobe.extraction import extract
    from layerprobe.models import load_model

    root = tmp_path_factory.mktemp("awd")
    synthesize_corpus(root / "synth", n=30, seed=5, progress=False)
    corpus = open_corpus(root / "synth")
    rule = SamplingRule.default("word", "train", n_labels=200, min_per_label=1, max_per_label=10)
    manifest = draw_sample(corpus, "train", span="word", rule=rule, progress=False)
    path = write_manifest(manifest, manifest_path(root / "data_samples", corpus.name, "train", "word", 1))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-wide model: worker threads only spin on a busy machine
    try:
        report = extract(manifest, load_model(MODEL), root / "features", rep="contextualized", progress=False, manifest_path=path)
    finally:
        torch.set_num_threads(threads)
    return root, corpus.name, report.path


def test_awd_cli_rows_equal_the_library_and_per_layer_jobs_agree(tiny, tmp_path, capsys):
    root, corpus, store = tiny
    argv = ["awd", "--model", MODEL, "--corpus", corpus, "--split", "train", "--features", str(root / "features"),
            "--speaker-pattern", SPEAKERS, "--no-progress"]  # fmt: skip
    code, out, err = run([*argv, "--out", str(tmp_path / "awd.csv")], capsys)
    assert code == 0, err
    table = ResultTable.open(tmp_path / "awd.csv")
    with FeatureStore.open(store) as opened:
        layers = opened.layer_ids
        keep = np.array([word_label(label) is not None for label in opened.labels])
        words = [word_label(label) for label in opened.labels[keep]]
        speakers = [opened.utterance_ids[i][-1] for i in opened.segment_utt_index[keep]]
        for layer in layers:
            expected = same_different_ap(opened.read(layer)[keep], words, speakers=speakers)
            values = {row["metric"]: row["value"] for row in table.select(layer=layer)}
            assert values == pytest.approx({"ap": expected.ap, "ap_chance": expected.same_rate,
                                            "ap_cross_speaker": expected.ap_cross_speaker}, abs=1e-12)
            assert 0.0 < expected.ap < 1.0 and expected.n_same >= 50  # an untrained tiny model: near chance (about same_rate)
            details = table.metadata(table.select(layer=layer)[0])["details"]
            assert (details["n_same"], details["n_different"], details["n_speakers"]) == (expected.n_same, expected.n_different, 10)
            assert f"awd {layer}: AP {expected.ap:.4f} (chance {expected.same_rate:.4f}; {expected.n_segments} segments" in out
    assert out.strip().endswith(f"{len(layers)} layers -> {tmp_path / 'awd.csv'}")

    code, _, err = run([*argv, "--out", str(tmp_path / "jobs.csv"), "--launcher", "submitit", "--cluster", "debug",
                        "--jobs-dir", str(tmp_path / "jobs")], capsys)  # fmt: skip
    assert code == 0, err
    jobs = ResultTable.open(tmp_path / "jobs.csv")
    assert sorted((r["layer"], r["metric"], r["value"]) for r in jobs.rows) == sorted((r["layer"], r["metric"], r["value"]) for r in table.rows)


def test_awd_cli_bad_speaker_pattern_is_one_line(tiny, tmp_path, capsys):
    root, corpus, _ = tiny
    code, out, err = run(["awd", "--model", MODEL, "--corpus", corpus, "--split", "train", "--features", str(root / "features"),
                          "--speaker-pattern", "^spk", "--out", str(tmp_path / "awd.csv"), "--no-progress"], capsys)  # fmt: skip
    assert code == 1
    assert err == "layerprobe: error: --speaker-pattern '^spk' does not match utterance id 'synth-00000'; give a pattern whose first group is the speaker\n"
    assert not (tmp_path / "awd.csv").exists()
