"""The recipes' optional spoken-STS step (STS_DATASET): sample every utterance, extract frames, ``sts``, plot."""

from __future__ import annotations

import pytest

pytest.importorskip("pyarrow")

from layerprobe.cli import main  # noqa: E402
from layerprobe.results import ResultTable  # noqa: E402

from test_recipes import PNG_MAGIC, TINY_T, assert_ok, run_recipe, steps_of  # noqa: E402


@pytest.mark.heavy
def test_demo_recipe_with_sts_dataset_adds_spoken_sts_rows_and_a_plot(tmp_path):
    with pytest.raises(SystemExit) as caught:
        main(["corpus", "synth-sts", "--out", str(tmp_path / "stsdata"), "--n-pairs", "4"])
    assert caught.value.code == 0
    out = tmp_path / "out"
    result = run_recipe("demo_recipe.sh", "N=40", f"OUT={out}", "EXPERIMENTS=awd", f"STS_DATASET={tmp_path / 'stsdata'}")
    assert_ok(result)
    steps = steps_of(result.stdout)
    assert steps[steps.index("awd") + 1 :] == ["sample-sts", "extract-sts", "spoken_sts", "plot-awd", "plot-sts",
                                              f"done: results in {out / 'results'}, plots in {out / 'plots'}"]  # fmt: skip
    table = ResultTable.open(out / "results" / "sts.csv")
    assert [row["layer"] for row in table.select(metric="spearman")] == TINY_T
    assert {row["corpus"] for row in table.rows} == {"stsdata"}
    assert (out / "plots" / "sts.png").read_bytes().startswith(PNG_MAGIC)
    again = run_recipe("demo_recipe.sh", "N=40", f"OUT={out}", "EXPERIMENTS=awd", f"STS_DATASET={tmp_path / 'stsdata'}")
    assert_ok(again)
    skipped = [step for step in steps_of(again.stdout) if step.endswith(": done before, skipped")]
    assert {"sample-sts: done before, skipped", "extract-sts: done before, skipped", "spoken_sts: done before, skipped",
            "plot-sts: done before, skipped"} <= set(skipped)  # fmt: skip
