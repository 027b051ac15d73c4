"""What ``layerprobe status`` and ``launch`` believe about jobs and shards, checked against the disk.

* After the launching process is killed, the record says "submitted" for jobs that finished long ago:
  status now reads submitit's result files (and the task's output) for the real state.
* A stray shard of another shard count (1/3 beside 1/2 and 2/2) is reported as stray, not as a
  missing shard 3 (and the shards no longer count as complete because of it).
* ``--shard auto`` in a resubmitted part of an array (``--array=2-3`` of ``1-4``) is refused instead of
  computing shard 1/2.
* ``launch`` skipped a finished shard whatever weights it was made with (issue 14): a shard made from
  other weights than ``hf:DIR`` holds now is no longer reported as done.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from layerprobe.errors import ConfigError
from layerprobe.io.store import FeatureStore, shard_path
from layerprobe.jobs import LaunchOptions, Task, launch, shard_from_environment
from layerprobe.jobs.launch import output_finished
from layerprobe.jobs.status import collect_status, format_status


def _store(path: Path, *, shard=None, fingerprint="") -> Path:
    if shard is not None:
        path = shard_path(path, *shard)
    attrs = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0,
             "weights_fingerprint": fingerprint}  # fmt: skip
    writer = FeatureStore.create(path, attrs=attrs, layer_dims={"T0": 4})
    writer.append("u0", {"T0": np.ones((5, 4), np.float32)})
    return writer.finish()


# ------------------------------------------------------------------------------ stray shards


def test_a_shard_of_another_count_is_stray_not_a_missing_shard(tmp_path):
    store = tmp_path / "contextualized_frame.h5"
    for shard in ((1, 2), (2, 2), (1, 3)):
        _store(store, shard=shard)
    [status] = collect_status(tmp_path).stores
    assert (status.shard_count, status.shards_done, status.shards_missing) == (2, [1, 2], [])
    assert status.stray_shards == [shard_path(store, 1, 3)]
    assert format_status(collect_status(tmp_path)) == [
        "feature stores:",
        "  contextualized_frame.h5: shards complete (merge them) (stray contextualized_frame.shard-00001-of-00003.h5 "
        "(of another shard count; delete it))",
    ]


def test_the_count_with_more_shards_wins_and_partial_strays_are_listed(tmp_path):
    store = tmp_path / "local_frame.h5"
    for shard in ((1, 3), (2, 3), (1, 2)):
        _store(store, shard=shard)
    Path(f"{shard_path(store, 3, 3)}.partial").write_bytes(b"")
    stray_partial = Path(f"{shard_path(store, 2, 2)}.partial")
    stray_partial.write_bytes(b"")
    [status] = collect_status(tmp_path).stores
    assert (status.shard_count, status.shards_done, status.shards_partial, status.shards_missing) == (3, [1, 2], [3], [])
    assert status.stray_shards == [shard_path(store, 1, 2), stray_partial]
    assert format_status(collect_status(tmp_path))[1] == (
        "  local_frame.h5: 2/3 shards (partial 3; stray local_frame.shard-00001-of-00002.h5, "
        "local_frame.shard-00002-of-00002.h5.partial (of another shard count; delete them))"
    )


# ------------------------------------------------------------------------------ launches whose launcher died


def test_status_reads_the_real_state_of_jobs_the_killed_launcher_left_submitted(tmp_path):
    pytest.importorskip("submitit")
    present = tmp_path / "present.txt"
    present.write_text("x")
    tasks = [Task("ok", os.path.exists, {"path": str(present)}),
             Task("bad", os.remove, {"path": str(tmp_path / "absent.txt")})]  # fmt: skip
    jobs = tmp_path / "jobs"
    report = launch(tasks, LaunchOptions(jobs_dir=jobs, cluster="local", retries=0), wait=True, poll_seconds=0.05)
    assert [state.state for state in report.tasks] == ["done", "failed"]
    # the record as a launcher killed while waiting left it
    record = json.loads((jobs / "launch.json").read_text())
    for task in record["tasks"]:
        task["state"], task["error"] = "submitted", None
    (jobs / "launch.json").write_text(json.dumps(record))
    bad_job = record["tasks"][1]["job_ids"][0]
    assert format_status(collect_status(jobs)) == [
        f"launch launch.json (started {record['started']}): 1 done, 1 failed",
        f"  bad: failed after 1 attempt(s) (jobs {bad_job}): FileNotFoundError: [Errno 2] No such file or directory: "
        f"'{tmp_path / 'absent.txt'}'",
    ]


def test_status_counts_a_submitted_task_whose_output_is_finished_as_done(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    finished = _store(tmp_path / "out" / "contextualized_frame.h5", shard=(1, 2), fingerprint="aa" * 32)
    tasks = [
        {"name": "shard 1/2", "argv": [], "state": "submitted", "attempts": 1, "job_ids": ["77"], "error": None,
         "output": str(finished), "output_attrs": {"weights_fingerprint": "aa" * 32}},
        {"name": "shard 2/2", "argv": [], "state": "submitted", "attempts": 1, "job_ids": ["78"], "error": None,
         "output": str(shard_path(tmp_path / "out" / "contextualized_frame.h5", 2, 2)), "output_attrs": {}},
        # finished with other weights than the launch asked for: not done
        {"name": "shard 1/2 again", "argv": [], "state": "submitted", "attempts": 1, "job_ids": ["79"], "error": None,
         "output": str(finished), "output_attrs": {"weights_fingerprint": "bb" * 32}},
    ]  # fmt: skip
    (jobs / "launch.json").write_text(json.dumps({"started": "then", "options": {}, "tasks": tasks}))
    lines = format_status(collect_status(jobs))
    assert lines[0] == "launch launch.json (started then): 1 done, 2 submitted"


def test_a_result_file_that_is_not_plain_values_is_not_unpickled(tmp_path):
    import pickle

    from layerprobe.jobs.status import _job_outcome

    (tmp_path / "5_0_result.pkl").write_bytes(pickle.dumps(("success", Path("x"))))
    (tmp_path / "6_0_result.pkl").write_bytes(pickle.dumps(("error", "Traceback\nValueError: boom\n")))
    (tmp_path / "7_0_result.pkl").write_bytes(b"\x80\x04trunc")
    assert _job_outcome(tmp_path, "5") is None
    assert _job_outcome(tmp_path, "6") == ("error", "Traceback\nValueError: boom\n")
    assert _job_outcome(tmp_path, "7") is None
    assert _job_outcome(tmp_path, "../6") is None


# ------------------------------------------------------------------------------ --shard auto


def test_a_resubmitted_part_of_an_array_is_refused_by_shard_auto():
    environ = {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "2", "SLURM_ARRAY_TASK_MAX": "3"}
    with pytest.raises(ConfigError) as caught:
        shard_from_environment(environ)
    assert str(caught.value) == (
        "--shard auto: the SLURM array runs tasks 2-3 (SLURM_ARRAY_TASK_MIN=2), not from 0 or 1, as a resubmission "
        "of some tasks of a larger array does, whose shard count it cannot tell; pass --shard I/N explicitly "
        "(this task: --shard 2/N, or 3/N for an array that started at 0)"
    )
    # arrays from 0 or 1 are as before
    assert shard_from_environment({**environ, "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"}) == (2, 4)


def test_shard_auto_refuses_a_count_other_than_the_stores_shard_files():
    environ = {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3"}
    with pytest.raises(ConfigError) as caught:
        shard_from_environment(environ, existing_counts=[4, 4])
    assert str(caught.value) == (
        "--shard auto: SLURM_ARRAY_TASK_ID gives shard 2 of 3, but the store has shard files of 4 shards; "
        "pass --shard I/N explicitly"
    )
    assert shard_from_environment(environ, existing_counts=[3, 4]) == (2, 3)
    assert shard_from_environment(environ, existing_counts=[]) == (2, 3)


# ------------------------------------------------------------------------------ skipping finished shards


def test_a_finished_shard_counts_as_done_only_for_the_same_weights(tmp_path):
    shard = _store(tmp_path / "contextualized_frame.h5", shard=(1, 2), fingerprint="aa" * 32)
    assert output_finished(shard, {"weights_fingerprint": "aa" * 32})
    assert not output_finished(shard, {"weights_fingerprint": "bb" * 32})
    assert not output_finished(shard, {"weights_fingerprint": None})  # unknown: the job's own check decides
    assert output_finished(shard, {}) and not output_finished(tmp_path / "absent.h5", {})
    shard.write_bytes(shard.read_bytes()[:2000])  # damaged: not finished either
    assert not output_finished(shard, {"weights_fingerprint": "aa" * 32})
    assert not Task("t", print, output=str(shard), output_attrs={"weights_fingerprint": "aa" * 32}).is_done()


def _hf_extract_project(tmp_path):
    """A two-utterance frame sample and a copy of the tiny wav2vec 2.0 as an hf: folder; the extract argv."""
    from layerprobe.data.corpora import open_corpus
    from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
    from layerprobe.models.tiny import build_tiny_model
    from support.corpora import make_folder_corpus

    make_folder_corpus(tmp_path / "mini", splits=("train",), per_split=2)
    corpus = open_corpus(tmp_path / "mini")
    manifest = draw_sample(corpus, "train", span="frame", rule=SamplingRule.default("frame", "train"), progress=False)
    path = write_manifest(manifest, manifest_path(tmp_path / "ds", corpus.name, "train", "frame", 1))
    model = tmp_path / "model"
    shutil.copytree(build_tiny_model("wav2vec2", root=tmp_path / "tiny"), model)
    argv = ["extract", "--model", f"hf:{model}", "--manifest", str(path), "--rep", "contextualized", "--out",
            str(tmp_path / "features"), "--no-progress", "--launcher", "submitit", "--shards", "2",
            "--jobs-dir", str(tmp_path / "jobs"), "--retries", "0"]  # fmt: skip
    return model, argv


def _other_weights(model, tmp_path):
    from layerprobe.models.tiny import build_tiny_model

    shutil.copy(build_tiny_model("wav2vec2", seed=1, root=tmp_path / "tiny") / "model.safetensors", model / "model.safetensors")


def test_launch_does_not_skip_shards_made_from_the_weights_hf_dir_held_before(tmp_path, capsys, monkeypatch):
    pytest.importorskip("submitit")
    pytest.importorskip("transformers")
    import layerprobe.cli.launching as launching
    from layerprobe.cli import main
    from layerprobe.jobs import LaunchReport

    model, argv = _hf_extract_project(tmp_path)
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--cluster", "debug"])
    assert caught.value.code == 0
    seen = []

    def look(tasks, options, **kwargs):  # what launch would skip, without running anything
        seen.append([task.is_done() for task in tasks])
        return LaunchReport([], Path(options.jobs_dir))

    monkeypatch.setattr(launching, "launch", look)
    with pytest.raises(SystemExit):
        main([*argv, "--cluster", "debug"])
    _other_weights(model, tmp_path)
    with pytest.raises(SystemExit):
        main([*argv, "--cluster", "debug"])
    assert seen == [[True, True], [False, False]]
    capsys.readouterr()


@pytest.mark.heavy
def test_a_launch_after_the_weights_changed_reports_the_shards_refused_not_done(tmp_path, capsys):
    pytest.importorskip("submitit")
    pytest.importorskip("transformers")
    from layerprobe.cli import main

    model, argv = _hf_extract_project(tmp_path)

    def run(cluster="debug"):  # debug: the jobs run in this process (a failing one would stop in pdb)
        with pytest.raises(SystemExit) as caught:
            main([*argv, "--cluster", cluster])
        return caught.value.code, capsys.readouterr()

    code, _ = run()
    assert code == 0
    code, captured = run()  # same weights: skipped
    assert code == 0 and "shard 1/2: skipped" in captured.out and "shard 2/2: skipped" in captured.out
    _other_weights(model, tmp_path)  # the folder now holds other weights (another seed's)
    code, captured = run("local")
    assert code == 1
    assert "skipped" not in captured.out
    assert "shard 1/2: failed (" in captured.out and "was written with other model weights" in captured.out
    assert "2 of 2 tasks failed" in captured.err
