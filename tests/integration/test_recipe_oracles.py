"""The recipes' all-words steps: cca_semantic and cca_syntactic asked for by name (they are not run
by default), with QVEC oracle files (so the test runs where Debian's packages are absent), on the
demo recipe's synthesized corpus (``-m heavy``); an unknown oracle file is refused in one line."""

from __future__ import annotations

import json

import pytest

from layerprobe.data.samples import read_manifest
from layerprobe.results import ResultTable
from test_recipes import TINY_T, assert_ok, run_recipe, steps_of


@pytest.mark.heavy  # a whole recipe run: about a minute on two busy cores
def test_demo_recipe_runs_the_all_words_experiments_by_name(tmp_path):
    semantic = tmp_path / "semantic.qvec"
    semantic.write_text("".join(f"{w}\t{json.dumps({'semcor.noun.person': 0.5, 'semcor.verb.motion': 0.5} if i % 2 else {'semcor.noun.person': 1.0})}\n"
                                for i, w in enumerate(("man", "woman", "girl", "boy", "teacher", "walked", "ran", "house"))),
                        encoding="utf-8")  # fmt: skip
    syntactic = tmp_path / "syntactic.qvec"
    syntactic.write_text("".join(f"{w}\t{json.dumps({'ptb.dt': 1.0} if i % 2 else {'ptb.dt': 0.5, 'ptb.nn': 0.5})}\n"
                                 for i, w in enumerate(("the", "a", "some", "every", "my", "your", "our", "this", "that"))),
                         encoding="utf-8")  # fmt: skip
    out = tmp_path / "demo"
    result = run_recipe("demo_recipe.sh", "N=40", f"OUT={out}", "EXPERIMENTS=cca_semantic cca_syntactic",
                        f"SEMANTIC_ORACLE={semantic}", f"SYNTACTIC_ORACLE={syntactic}")  # fmt: skip
    assert_ok(result)
    steps = steps_of(result.stdout)
    assert [step for step in steps if step.startswith(("sample", "extract", "cca"))] == [
        "sample-train-all_words", "extract-train-all_words-contextualized", "cca_semantic", "cca_syntactic"]  # fmt: skip
    manifest = read_manifest(out / "data_samples" / "demo" / "train_all_words_sample1.json")
    assert manifest.summary["oracle"]["sources"] == [str(semantic), str(syntactic)]
    assert set(manifest.labels) <= {"man", "woman", "girl", "boy", "teacher", "walked", "ran", "house", "the", "a", "some",
                                    "every", "my", "your", "our", "this", "that"}  # fmt: skip
    cca = ResultTable.open(out / "results" / "cca.csv")
    for experiment, oracle in (("cca_semantic", semantic), ("cca_syntactic", syntactic)):
        rows = cca.select(experiment=experiment, metric="pwcca")
        assert [row["layer"] for row in rows] == TINY_T and {row["split"] for row in rows} == {"train"}
        assert cca.metadata(rows[0])["options"]["oracle_source"] == str(oracle)
    assert (out / "plots" / "cca.png").is_file()


def test_a_missing_oracle_file_is_refused_in_one_line(tmp_path):
    result = run_recipe("demo_recipe.sh", "N=40", f"OUT={tmp_path / 'demo'}", "EXPERIMENTS=cca_semantic",
                        f"SEMANTIC_ORACLE={tmp_path / 'nope.qvec'}")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"demo_recipe.sh: error: SEMANTIC_ORACLE: no such file '{tmp_path / 'nope.qvec'}'"
