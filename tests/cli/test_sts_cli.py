"""``layerprobe corpus synth-sts`` -> corpus info -> sample -> extract -> ``layerprobe sts``, end to end."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("pyarrow")

from layerprobe.results import ResultTable  # noqa: E402
from support.cli import run, run_ok  # noqa: E402

STS = ["--model", "tiny:wav2vec2", "--corpus", "sts", "--split", "test", "--no-progress"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A 4-pair synth-sts set with every utterance sampled (sample 1) and 5 of them (sample 2), both extracted."""
    root = tmp_path_factory.mktemp("sts_project")
    before = os.getcwd()
    os.chdir(root)
    try:
        run_ok(["corpus", "synth-sts", "--out", "sts", "--n-pairs", "4", "--seed", "0"])
        for sample, n in ((1, 1000), (2, 5)):
            run_ok(["sample", "--corpus", "sts", "--split", "test", "--span", "frame", "--n-utterances", str(n), "--sample", str(sample)])
            run_ok(["extract", "--model", "tiny:wav2vec2", "--corpus", "sts", "--split", "test", "--rep", "contextualized", "--span",
                 "frame", "--sample", str(sample), "--no-progress"])  # fmt: skip
    finally:
        os.chdir(before)
    return root


def test_synth_sts_and_corpus_info(tmp_path, capsys):
    code, out, err = run(["corpus", "synth-sts", "--out", str(tmp_path / "sts"), "--n-pairs", "4", "--seed", "0"], capsys)
    assert code == 0, err
    assert out.startswith("4 pairs x 4 voices = 16 rows (32 utterances, ")
    assert out.strip().endswith(f"{tmp_path / 'sts' / 'data' / 'test-00000-of-00001.parquet'}")
    code, out, err = run(["corpus", "info", str(tmp_path / "sts")], capsys)
    assert code == 0, err
    assert f"sts: hf corpus at {tmp_path / 'sts'}" in out and "test: 32 utterances" in out


def test_sts_gives_spearman_rows_per_layer_and_subtask(project, capsys, monkeypatch):
    monkeypatch.chdir(project)
    code, out, err = run(["sts", *STS, "--out", "results/sts.csv"], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["spoken_sts T0", "spoken_sts T1", "spoken_sts T2", "spoken_sts T3"]
    assert "(4 pairs, 64 speaker combinations" in lines[0] and lines[-1] == "4 layers -> results/sts.csv"
    rows = ResultTable.open(project / "results" / "sts.csv").rows
    overall = [r for r in rows if r["metric"] == "spearman"]
    assert [r["layer"] for r in overall] == ["T0", "T1", "T2", "T3"]
    assert {r["experiment"] for r in rows} == {"spoken_sts"} and {r["corpus"] for r in rows} == {"sts"}
    assert all(-1 <= float(r["value"]) <= 1 for r in overall)
    # 4 pairs of seed 0: 3 complex (scored on their own) and 1 simple (too few)
    assert {r["metric"] for r in rows} == {"spearman", "spearman:synth/complex"}
    from layerprobe.plots import default_metric

    assert default_metric(rows) == "spearman"  # what `layerprobe plot` draws for spoken_sts
    # one job per layer (submitit's debug cluster, in this process): the same rows
    code, out, err = run(["sts", *STS, "--out", "results/jobs.csv", "--launcher", "submitit", "--cluster", "debug",
                          "--jobs-dir", "jobs"], capsys)  # fmt: skip
    assert code == 0, err
    jobs = ResultTable.open(project / "results" / "jobs.csv").rows
    assert sorted((r["layer"], r["metric"], r["value"]) for r in jobs) == sorted((r["layer"], r["metric"], r["value"]) for r in rows)


def test_a_store_of_some_of_the_utterances_is_refused_in_one_line(project, capsys, monkeypatch):
    monkeypatch.chdir(project)
    code, out, err = run(["sts", *STS, "--sample", "2", "--out", "results/partial.csv"], capsys)
    store = "features/tiny_wav2vec2/sts_test_sample2/contextualized_frame.h5"
    assert code == 1 and err.startswith(f"layerprobe: error: {store}: holds 5 of the 32 utterances of the 4 sentence pairs of ")
    assert err.endswith("; draw the data sample with --n-utterances 32 or more and extract it again\n")
    assert not (project / "results" / "partial.csv").exists()


def test_sts_errors_are_one_line(tmp_path, capsys):
    code, _, err = run(["corpus", "synth-sts", "--out", str(tmp_path / "x"), "--n-pairs", "1"], capsys)
    assert code == 2 and "--n-pairs" in err
    (tmp_path / "x").mkdir()
    code, _, err = run(["corpus", "synth-sts", "--out", str(tmp_path / "x"), "--n-pairs", "2"], capsys)
    assert (code, err) == (1, f"layerprobe: error: {tmp_path / 'x'} exists; give another --out or --overwrite\n")
    code, _, err = run(["sts", "--corpus", "sts", "--split", "test"], capsys)
    assert code == 2 and "--model is needed (only --rep mel, the log-mel baseline, has none)" in err
