"""Job arrays through submitit's local executor: shards, per-layer analyses, sweeps, retries, status.

submitit's ``local`` cluster pickles the same jobs a SLURM array would run and starts each as a
process on this machine, so the first test exercises the cluster path end to end, offline.  The
analyses use submitit's ``debug`` cluster (the same submission code, jobs run in this process), which
saves the few seconds each job process spends importing torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from layerprobe.cli import main
from layerprobe.data.corpora import open_corpus
from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
from layerprobe.data.synth import synthesize_corpus
from layerprobe.io.store import FeatureStore, partial_path, shard_path
from layerprobe.jobs import read_launch_record
from layerprobe.results import ResultTable
from support.cli import run

pytest.importorskip("submitit")

MODEL = "tiny:wav2vec2"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A synthesized corpus, a phone sample of its train split and the single-process stores."""
    root = tmp_path_factory.mktemp("launch")
    synthesize_corpus(root / "synth", n=12, seed=5, progress=False)
    corpus = open_corpus(root / "synth")
    rule = SamplingRule.default("phone", "train", min_per_label=2, max_per_label=6)
    write_manifest(draw_sample(corpus, "train", span="phone", rule=rule, progress=False),
                   manifest_path(root / "samples", corpus.name, "train", "phone", 1))  # fmt: skip
    for rep in ("contextualized", "local"):
        assert main_quiet(["extract", "--model", MODEL, "--corpus", "synth", "--split", "train", "--span", "phone",
                           "--rep", rep, "--samples-dir", str(root / "samples"), "--out", str(root / "single"),
                           "--no-progress"]) == 0  # fmt: skip
    return root


def main_quiet(argv) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code
    return 0


def extract_argv(root: Path, out: Path, *extra: str, cluster: str = "local") -> list[str]:
    return ["extract", "--model", MODEL, "--corpus", "synth", "--split", "train", "--span", "phone", "--rep", "contextualized",
            "--samples-dir", str(root / "samples"), "--out", str(out), "--no-progress", "--launcher", "submitit",
            "--cluster", cluster, *extra]  # fmt: skip


def test_shards_run_as_a_job_array_equal_one_process_and_are_never_recomputed(project, tmp_path, capsys):
    jobs = tmp_path / "jobs"
    code, out, err = run(extract_argv(project, tmp_path / "feats", "--shards", "3", "--jobs-dir", str(jobs)), capsys)
    assert code == 0, err
    # one line per task as it finishes (in whatever order the jobs end)
    assert sorted(line for line in out.splitlines() if line.startswith("shard ")) == ["shard 1/3: done", "shard 2/3: done", "shard 3/3: done"]
    store_dir = tmp_path / "feats" / "tiny_wav2vec2" / "synth_train_sample1"
    shards = [shard_path(store_dir / "contextualized_phone.h5", i, 3) for i in (1, 2, 3)]
    stamps = [path.stat().st_mtime_ns for path in shards]
    record = read_launch_record(jobs)
    assert [task["state"] for task in record["tasks"]] == ["done"] * 3
    assert all("--shard" in task["argv"] and "--launcher" not in task["argv"] for task in record["tasks"])

    # A second launch finds every shard finished and submits nothing.
    code, out, _ = run(extract_argv(project, tmp_path / "feats", "--shards", "3", "--jobs-dir", str(jobs)), capsys)
    assert code == 0 and "3 already finished" in out
    assert [path.stat().st_mtime_ns for path in shards] == stamps

    code, out, _ = run(["merge", str(store_dir)], capsys)
    assert code == 0
    single = FeatureStore.open(project / "single" / "tiny_wav2vec2" / "synth_train_sample1" / "contextualized_phone.h5")
    merged = FeatureStore.open(store_dir / "contextualized_phone.h5")
    assert merged.utterance_ids == single.utterance_ids
    for layer in single.layer_ids:
        np.testing.assert_array_equal(merged.read(layer), single.read(layer))

    code, out, _ = run(["status", str(tmp_path)], capsys)
    assert code == 0
    assert "feats/tiny_wav2vec2/synth_train_sample1/contextualized_phone.h5: complete" in out
    assert "launch jobs/launch.json" in out and "3 skipped" in out


def test_a_failing_shard_is_retried_alone_and_finishes_on_a_later_launch(project, tmp_path, capsys):
    out_dir, jobs = tmp_path / "feats", tmp_path / "jobs"
    store = out_dir / "tiny_wav2vec2" / "synth_train_sample1" / "contextualized_phone.h5"
    blocker = partial_path(shard_path(store, 2, 3))
    blocker.mkdir(parents=True)  # shard 2 cannot create its file: the job fails every time
    code, out, err = run(extract_argv(project, out_dir, "--shards", "3", "--jobs-dir", str(jobs), "--retries", "1"), capsys)
    assert code == 1
    assert err.count("\n") == 1 and "1 of 3 tasks failed after 1 retries (shard 2/3)" in err and "Traceback" not in err
    attempts = {task["name"]: task["attempts"] for task in read_launch_record(jobs)["tasks"]}
    assert attempts == {"shard 1/3": 1, "shard 2/3": 2, "shard 3/3": 1}
    code, out, _ = run(["status", str(tmp_path)], capsys)
    assert "contextualized_phone.h5: 2/3 shards (missing 2)" in out
    assert "shard 2/3: failed after 2 attempt(s)" in out and "is in the way of the partial store" in out

    finished = [shard_path(store, i, 3).stat().st_mtime_ns for i in (1, 3)]
    blocker.rmdir()
    code, out, err = run(extract_argv(project, out_dir, "--shards", "3", "--jobs-dir", str(jobs)), capsys)
    assert code == 0, err
    assert "shard 1/3: skipped" in out and "shard 2/3: done" in out and "shard 3/3: skipped" in out
    assert [shard_path(store, i, 3).stat().st_mtime_ns for i in (1, 3)] == finished
    assert [task["attempts"] for task in read_launch_record(jobs)["tasks"]] == [0, 1, 0]


def test_per_layer_jobs_write_one_table_with_the_plain_runs_values(project, tmp_path, capsys):
    common = ["--model", MODEL, "--corpus", "synth", "--split", "train", "--features", str(project / "single"), "--no-progress"]
    code, _, err = run(["cca", "--exp", "cca_phone", *common, "--layers", "T0-T3", "--out", str(tmp_path / "plain.csv")], capsys)
    assert code == 0, err
    code, out, err = run(["cca", "--exp", "cca_phone", *common, "--layers", "T0-T3", "--out", str(tmp_path / "jobs.csv"),
                          "--launcher", "submitit", "--cluster", "debug", "--jobs-dir", str(tmp_path / "jobs")], capsys)  # fmt: skip
    assert code == 0, err
    # (the debug cluster runs the jobs in this process: their own lines are printed too)
    assert sorted(line for line in out.splitlines() if line.startswith("layer ")) == [f"layer T{i}: done" for i in range(4)]
    plain, jobs = ResultTable.open(tmp_path / "plain.csv"), ResultTable.open(tmp_path / "jobs.csv")
    assert [(r["layer"], r["value"]) for r in jobs] == [(r["layer"], r["value"]) for r in plain]


def test_an_mi_sweep_runs_one_job_per_layer_and_iteration(project, tmp_path, capsys):
    argv = ["mi", "--span", "phone", "--model", MODEL, "--corpus", "synth", "--train-split", "train", "--eval-split", "train",
            "--features", str(project / "single"), "--n-clusters", "8", "--layers", "T1-T2", "--iters", "0-1",
            "--out", str(tmp_path / "mi.csv"), "--no-progress"]  # fmt: skip
    code, _, err = run([*argv, "--launcher", "submitit", "--cluster", "debug", "--jobs-dir", str(tmp_path / "jobs")], capsys)
    assert code == 0, err
    names = [task["name"] for task in read_launch_record(tmp_path / "jobs")["tasks"]]
    assert names == ["layer T1 iter 0", "layer T2 iter 0", "layer T1 iter 1", "layer T2 iter 1"]
    swept = ResultTable.open(tmp_path / "mi.csv")
    # The same sweep in this process gives the same eight rows (nmi and nmi_chance per layer and iteration).
    code, _, err = run([*argv[:-3], "--out", str(tmp_path / "plain.csv"), "--no-progress"], capsys)
    assert code == 0, err
    plain = ResultTable.open(tmp_path / "plain.csv")
    assert [(r["layer"], r["seed"], r["metric"], r["value"]) for r in swept] == [
        (r["layer"], r["seed"], r["metric"], r["value"]) for r in plain]  # fmt: skip
    assert len(plain) == 8 and plain.unique("metric") == ["nmi", "nmi_chance"]
