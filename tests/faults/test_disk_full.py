"""A full disk: a clear one-line error, earlier results intact, and a rerun that finishes once there is room.

The disk is a small tmpfs mounted for the test (skipped where this process may not mount one);
tests/unit/test_store.py covers a process file-size limit (``ulimit -f``) the same way.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from layerprobe.io.store import FeatureStore, partial_path
from layerprobe.results import ResultTable
from support.disks import fill_disk, mounted_tmpfs, run_layerprobe


@pytest.fixture()
def disk(tmp_path) -> Iterator[Path]:
    """A 32 MB tmpfs, unmounted afterwards."""
    with mounted_tmpfs(tmp_path / "disk", "32m") as mount_point:
        yield mount_point


_fill = fill_disk
_layerprobe = run_layerprobe


def _extract(demo: Path, out: Path, span: str) -> subprocess.CompletedProcess:
    return _layerprobe("extract", "--model", "tiny:wav2vec2", "--corpus", "demo", "--split", "train", "--span", span,
                       "--rep", "contextualized", "--samples-dir", os.fspath(demo / "data_samples"), "--out", os.fspath(out),
                       "--no-progress")  # fmt: skip


def test_extraction_on_a_full_disk_fails_in_one_line_and_resumes_when_there_is_room(demo, disk):
    first = _extract(demo, disk / "features", "phone")
    assert first.returncode == 0, first.stderr
    done = disk / "features" / "tiny_wav2vec2" / "demo_train_sample1" / "contextualized_phone.h5"
    before = done.read_bytes()
    filler = _fill(disk, leave_bytes=2 << 20)

    failed = _extract(demo, disk / "features", "frame")
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("layerprobe: error: ")
    assert "the disk is full" in failed.stderr and "Traceback" not in failed.stderr
    frame = done.with_name("contextualized_frame.h5")
    assert not frame.exists()  # nothing that looks finished
    assert done.read_bytes() == before  # the earlier store is untouched

    filler.unlink()
    resumed = _extract(demo, disk / "features", "frame")
    assert resumed.returncode == 0, resumed.stderr
    reference = demo / "features" / "tiny_wav2vec2" / "demo_train_sample1" / "contextualized_frame.h5"
    with FeatureStore.open(frame) as got, FeatureStore.open(reference) as want:
        assert got.utterance_ids == want.utterance_ids
        for layer in want.layer_ids:
            np.testing.assert_array_equal(got.read(layer), want.read(layer))
    assert not partial_path(frame).exists()


def test_an_analysis_on_a_full_disk_fails_in_one_line_and_keeps_the_earlier_results(demo, disk):
    out = disk / "results" / "cca.csv"
    argv = ["cca", "--exp", "cca_mel", "--model", "tiny:wav2vec2", "--corpus", "demo", "--split", "train",
            "--features", os.fspath(demo / "features"), "--no-progress", "--out", os.fspath(out)]  # fmt: skip
    first = _layerprobe(*argv, "--layers", "C1")
    assert first.returncode == 0, first.stderr
    before = out.read_bytes(), out.with_suffix(".json").read_bytes()
    _fill(disk, leave_bytes=0)

    failed = _layerprobe(*argv, "--layers", "T1-T3")
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and "(No space left on device)" in failed.stderr and "Traceback" not in failed.stderr
    assert failed.stderr.startswith("layerprobe: error: ")
    assert (out.read_bytes(), out.with_suffix(".json").read_bytes()) == before
    assert [(row["layer"], row["metric"]) for row in ResultTable.open(out)] == [("C1", "pwcca"), ("C1", "pwcca_centred")]
