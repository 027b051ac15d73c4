"""Fixtures of the fault-injection tests: a finished demo project to break things in."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerprobe.demo import run_demo


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    """The demo's corpus, data-sample sets, feature stores and results (30 utterances)."""
    out = tmp_path_factory.mktemp("faults") / "demo"
    for _ in run_demo(out, n_utterances=30, seed=2, progress=False):
        pass
    return out
