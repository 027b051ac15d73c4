"""The flat Python API: the notebook snippet of the README and docs/architecture.md runs as written."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import layerprobe as lp
from layerprobe.data.synth import synthesize_corpus


@pytest.fixture
def notebook_dir(tmp_path, monkeypatch, one_thread):
    """A working folder holding a synthesized corpus called ``synth`` (as ``layerprobe corpus synth`` writes)."""
    synthesize_corpus(tmp_path / "synth", n=12, seed=4, progress=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAYERPROBE_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_the_notebook_snippet_runs(notebook_dir):
    import layerprobe as lp

    corpus = lp.open_corpus("synth")
    frames = lp.draw_sample(corpus, "train", span="frame")
    report = lp.extract(frames, lp.load_model("tiny:wav2vec2"), "features")
    lp.extract(frames, None, "features", rep="mel")
    scores = lp.run_cca("cca_mel", report)          # store or query; returns per-layer scores
    ax = lp.plot_layer_trend(scores)                # a list of scores or a ResultTable

    assert [score.layer for score in scores] == ["T1", "T2", "T3"]
    assert all(0.0 < score.score < 1.0 for score in scores)
    # the same numbers as the keyword form the CLI uses, written to a table
    again = lp.run_cca("cca_mel", features="features", model="tiny:wav2vec2", corpus="synth", split="train",
                       results="results/cca.csv", progress=False)  # fmt: skip
    assert [s.score for s in again] == [s.score for s in scores]
    table = lp.ResultTable.open("results/cca.csv")
    assert [(row["layer"], row["value"]) for row in table.select(metric="pwcca")] == [(s.layer, s.score) for s in scores]
    # one line, the model's, with a point per layer (and PWCCA's chance level, 0)
    (line,) = [line for line in ax.get_lines() if line.get_gid() != "chance"]
    assert list(line.get_ydata()) == pytest.approx([s.score for s in scores])
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["T1", "T2", "T3"]
    # a query or the store itself gives the same scores
    query = lp.StoreQuery("features", "tiny:wav2vec2", "synth", "train", rep="contextualized", span="frame")
    assert [s.score for s in lp.run_cca("cca_mel", query, progress=False)] == [s.score for s in scores]
    with lp.FeatureStore.open(report.path) as store:
        assert [s.score for s in lp.run_cca("cca_mel", store, progress=False)] == [s.score for s in scores]


def test_every_flat_name_resolves_to_its_module():
    for name, module in lp.API.items():
        assert getattr(lp, name) is getattr(importlib.import_module(module), name), name
    assert set(lp.API) <= set(dir(lp))
    with pytest.raises(AttributeError, match="no_such_name"):
        lp.no_such_name  # noqa: B018


def test_importing_layerprobe_imports_nothing_heavy():
    code = "import sys, layerprobe; print(sorted(m for m in ('torch', 'transformers', 'h5py', 'matplotlib', 'click') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
