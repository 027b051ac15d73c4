"""Two processes writing one output: the second is refused by a lock, and the first finishes unharmed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from layerprobe.errors import StoreError
from layerprobe.io.store import FeatureStore, partial_path

ATTRS = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0}
DIMS = {"T0": 4, "T1": 4}


def _rows(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {layer: rng.standard_normal((7, 4)).astype(np.float32) for layer in DIMS}


def test_a_second_writer_of_a_store_is_refused_while_the_first_writes(tmp_path):
    path = tmp_path / "store.h5"
    first = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, numpy as np
            from layerprobe.io.store import FeatureStore
            rng = np.random.default_rng(0)
            writer = FeatureStore.create({str(path)!r}, attrs={ATTRS!r}, layer_dims={DIMS!r})
            writer.append("a", {{layer: rng.standard_normal((7, 4)).astype(np.float32) for layer in {list(DIMS)!r}}})
            print("ready", flush=True)
            sys.stdin.readline()
            writer.append("b", {{layer: rng.standard_normal((7, 4)).astype(np.float32) for layer in {list(DIMS)!r}}})
            writer.finish()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert first.stdout.readline().strip() == "ready"
        for resume in (True, False):
            with pytest.raises(StoreError, match=r"store\.h5\.partial: is being written by another process \(the file is locked\)"):
                FeatureStore.create(path, attrs=ATTRS, layer_dims=DIMS, resume=resume)
        assert partial_path(path).exists()  # the refused writer removed nothing
        first.stdin.write("go\n")
        first.stdin.flush()
        assert first.wait(timeout=1800) == 0
    finally:
        first.kill()
    with FeatureStore.open(path) as store:
        assert store.utterance_ids == ["a", "b"]
        assert store.read("T0").shape == (14, 4)
