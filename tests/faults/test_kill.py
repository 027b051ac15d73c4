"""kill -9 at random moments of an analysis and of a merge, then a rerun: the same results as an
uninterrupted run, and no partial file ever read as complete.

(Extraction is killed the same way in tests/unit/test_store.py and tests/integration/test_extract.py.)
The number of kills per target is ``LAYERPROBE_FAULT_KILLS`` (default 2); the kill moments are
drawn from a seeded generator over the span an uninterrupted run takes, so a failure names a
reproducible moment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from layerprobe.io.store import FeatureStore, merge_shards, partial_path, shard_path
from layerprobe.results import ResultTable

KILLS = int(os.environ.get("LAYERPROBE_FAULT_KILLS", "2"))


def _start(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "layerprobe", *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _run(argv: list[str]) -> float:
    """Run to the end; return the wall time."""
    started = time.perf_counter()
    proc = _start(argv)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    return time.perf_counter() - started


def _kill_at(argv: list[str], delay: float) -> bool:
    """Start the command and SIGKILL it after ``delay`` s; True when it was still running."""
    proc = _start(argv)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
    _, err = proc.communicate()
    assert proc.returncode == 0, err.decode()  # finished before the kill: it must have succeeded
    return False


def _kill_moments(total: float, seed: int) -> list[float]:
    # From 30% of an uninterrupted run (imports take the first seconds) to its end.
    return sorted(np.random.default_rng(seed).uniform(0.3 * total, total, size=KILLS).tolist())


def _values(path: Path) -> dict[tuple, float]:
    return {tuple(row[c] for c in ResultTable.COLUMNS[:-1]): row["value"] for row in ResultTable.open(path)}


def test_a_killed_analysis_reruns_to_the_uninterrupted_results(demo, tmp_path):
    def argv(out: Path) -> list[str]:
        return ["cca", "--exp", "cca_mel", "--model", "tiny:wav2vec2", "--corpus", "demo", "--split", "train",
                "--features", str(demo / "features"), "--layers", "all", "--out", str(out), "--no-progress"]  # fmt: skip

    reference = tmp_path / "reference" / "cca.csv"
    total = _run(argv(reference))
    expected = _values(reference)
    assert len(expected) == 20  # cca_mel scores C1..C7 and T1..T3: pwcca and pwcca_centred
    for number, delay in enumerate(_kill_moments(total, seed=1)):
        out = tmp_path / f"killed{number}" / "cca.csv"
        _kill_at(argv(out), delay)
        if out.exists():  # whatever a kill leaves is a readable table whose rows are final values
            found = _values(out)
            assert found.items() <= expected.items(), f"kill at {delay:.2f} s left rows that differ"
        _run(argv(out))
        assert _values(out) == expected, f"rerun after a kill at {delay:.2f} s"


def test_a_killed_merge_never_leaves_a_store_that_opens_and_reruns_to_the_same_store(tmp_path):
    from layerprobe.io.store import FeatureStore as Store

    path = tmp_path / "merge" / "contextualized_frame.h5"
    rng = np.random.default_rng(0)
    attrs = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0}
    dims = {"T0": 256, "T1": 256}
    for index in (1, 2, 3):
        with Store.create(shard_path(path, index, 3), attrs=attrs, layer_dims=dims) as writer:
            for utt in range(40):
                rows = {layer: rng.standard_normal((500, 256)).astype(np.float32) for layer in dims}
                writer.append(f"s{index}/u{utt:03d}", rows)
            writer.finish()
    reference = merge_shards(path)
    expected = {layer: FeatureStore.open(reference).read(layer) for layer in dims}
    reference_ids = FeatureStore.open(reference).utterance_ids
    reference.unlink()
    total = _run(["merge", str(path.parent)])
    reference.unlink()
    for delay in _kill_moments(total, seed=2):
        _kill_at(["merge", str(path.parent)], delay)
        # Only a finished merge carries the final name; until then the store opens from its shards,
        # never from the .partial merge.
        with FeatureStore.open(path) as store:
            assert store.utterance_ids == reference_ids
            assert store.paths == ([path] if path.exists() else [shard_path(path, i, 3) for i in (1, 2, 3)])
        if path.exists():
            path.unlink()
        _run(["merge", str(path.parent)])
        with FeatureStore.open(path) as store:
            assert store.utterance_ids == reference_ids
            for layer in dims:
                np.testing.assert_array_equal(store.read(layer), expected[layer])
        assert not partial_path(path).exists()
        path.unlink()
