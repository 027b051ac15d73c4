"""The recipes in scripts/: the demo recipe end to end and its cheap rerun; the LibriSpeech recipe on
a miniature LibriSpeech built from synthesized speech (a sharded, launched chain by default, the
whole recipe under ``-m heavy``).

The recipes run as a user runs them, ``bash scripts/<recipe>.sh NAME=VALUE ...``, with
``LAYERPROBE`` pointing at the interpreter that runs the tests.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from layerprobe.cli import main
from layerprobe.data.corpora import open_corpus
from layerprobe.data.labels import ARPABET39, phone_class
from layerprobe.io.store import FeatureStore
from layerprobe.results import ResultTable
from support.corpora import make_synth_librispeech_corpus

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: The tiny random wav2vec 2.0's layers: conv blocks C1..C7, transformer input T0 and blocks T1..T3.
TINY_T = ["T0", "T1", "T2", "T3"]
TINY_C = [f"C{i}" for i in range(1, 8)]


def run_recipe(script: str, *variables: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``bash scripts/<script> VARIABLES...`` with layerprobe from this interpreter; capture its output."""
    environment = {**os.environ, "LAYERPROBE": f"{shlex.quote(sys.executable)} -m layerprobe", **(env or {})}
    return subprocess.run(["bash", str(SCRIPTS / script), *variables], env=environment, capture_output=True, text=True,
                          timeout=900, stdin=subprocess.DEVNULL)  # fmt: skip


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"recipe failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def layers_by_experiment(table: ResultTable, metric: str) -> dict[str, list[str]]:
    return {e: [row["layer"] for row in table.select(experiment=e, metric=metric)] for e in table.unique("experiment")}


def steps_of(stdout: str) -> list[str]:
    """The '== step' lines of a recipe's output."""
    return [line[3:] for line in stdout.splitlines() if line.startswith("== ")]


# --------------------------------------------------------------------------------------------------
# the demo recipe: what CI runs


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("recipe") / "demo"
    started = time.perf_counter()
    result = run_recipe("demo_recipe.sh", "N=40", f"OUT={out}")
    return out, result, time.perf_counter() - started


def test_demo_recipe_runs_every_experiment_and_plots(demo_run):
    out, result, _ = demo_run
    assert_ok(result)
    steps = steps_of(result.stdout)
    assert "cca_glove: skipped (give GLOVE=vectors.txt to run it)" in steps
    assert "cca_agwe: skipped (give AGWE=vectors.txt to run it)" in steps
    assert steps[-1] == f"done: results in {out / 'results'}, plots in {out / 'plots'}"
    # every store the chain needs, once each, and nothing else
    features = out / "features"
    assert sorted(p.relative_to(features).as_posix() for p in features.rglob("*.h5")) == [
        "logmel/demo_dev_sample1/mel_frame.h5",
        "tiny_wav2vec2/demo_dev_sample1/contextualized_frame.h5",
        "tiny_wav2vec2/demo_dev_sample1/contextualized_phone.h5",
        "tiny_wav2vec2/demo_dev_sample1/contextualized_word.h5",
        "tiny_wav2vec2/demo_dev_sample1/local_frame.h5",
        "tiny_wav2vec2/demo_train_sample1/contextualized_frame.h5",
        "tiny_wav2vec2/demo_train_sample1/contextualized_phone.h5",
        "tiny_wav2vec2/demo_train_sample1/contextualized_word.h5",
    ]
    cca = ResultTable.open(out / "results" / "cca.csv")
    assert layers_by_experiment(cca, "pwcca") == {
        "cca_intra": TINY_T[1:], "cca_mel": TINY_C + TINY_T[1:], "cca_phone": TINY_T, "cca_word": TINY_T}  # fmt: skip
    assert {(row["model"], row["split"], row["sample"], row["seed"]) for row in cca.rows} == {("tiny:wav2vec2", "dev", 1, 0)}
    assert all(-1 <= row["value"] <= 1 for row in cca.rows)
    mi = ResultTable.open(out / "results" / "mi.csv")
    assert layers_by_experiment(mi, "nmi") == {"mi_phone": TINY_T, "mi_word": TINY_T}
    assert {(row["split"], row["seed"]) for row in mi.rows} == {("dev", 0)} and all(0 < row["value"] <= 1 for row in mi.rows)
    details = mi.metadata(mi.select(experiment="mi_phone")[0])["details"]
    assert details["n_clusters"] == 50  # the demo's N_CLUSTERS_PHONE
    with FeatureStore.open(features / "tiny_wav2vec2" / "demo_train_sample1" / "contextualized_phone.h5") as store:
        assert details["n_train"] == len(store.labels)  # k-means was fitted on the training split's phones
    wordsim = ResultTable.open(out / "results" / "wordsim.csv")
    assert [row["layer"] for row in wordsim.select(metric="spearman_micro")] == TINY_T
    assert {row["split"] for row in wordsim.rows} == {"train"}
    awd = ResultTable.open(out / "results" / "awd.csv")
    assert [row["layer"] for row in awd.select(metric="ap")] == TINY_T
    assert {(row["split"], row["metric"]) for row in awd.rows} == {("train", "ap"), ("train", "ap_chance")}
    assert all(0 < row["value"] <= 1 for row in awd.rows)
    segment = ResultTable.open(out / "results" / "segment.csv")
    assert layers_by_experiment(segment, "f1") == {"segment@librispeech": TINY_T, "segment@buckeye": TINY_T}
    assert {row["split"] for row in segment.rows} == {"dev"} and all(0 <= row["value"] <= 1 for row in segment.select(metric="f1"))
    assert segment.metadata(segment.rows[0])["options"]["tune_split"] == "train"
    for name in ("cca", "mi", "wordsim", "awd", "segment"):
        assert (out / "plots" / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
        assert (out / "plots" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"


def test_demo_recipe_rows_are_the_analyses_of_its_stores(demo_run):
    # The recipe passed the right stores, split, sample and seed: the library, run on the stores the
    # recipe wrote, gives exactly the numbers in its tables.
    from layerprobe.experiments.cca import run_cca

    out, result, _ = demo_run
    assert_ok(result)
    scores = run_cca("cca_intra", features=out / "features", model="tiny:wav2vec2", corpus="demo", split="dev", sample=1,
                     layers="T2", seed=0, progress=False)  # fmt: skip
    row = ResultTable.open(out / "results" / "cca.csv").select(experiment="cca_intra", layer="T2")[0]
    assert row["value"] == scores[0].result.score


def test_demo_recipe_rerun_skips_every_step_and_changes_no_result(demo_run):
    out, result, _ = demo_run
    assert_ok(result)
    before = {path: path.read_bytes() for path in sorted((out / "results").glob("*.*"))}
    plots_before = {path: path.stat().st_mtime_ns for path in (out / "plots").iterdir()}
    started = time.perf_counter()
    rerun = run_recipe("demo_recipe.sh", "N=40", f"OUT={out}")
    elapsed = time.perf_counter() - started
    assert_ok(rerun)
    skipped = [step for step in steps_of(rerun.stdout) if step.endswith(": done before, skipped")]
    assert len(skipped) == 30  # corpus, 6 samples, 8 extractions, 4 cca, 2 mi, wordvec, wordsim, awd, segment, 5 plots
    assert not any(line.startswith(("stored ", "plotted ", "cca_", "mi_", "awd ", "segment ")) for line in rerun.stdout.splitlines())
    assert elapsed < 15  # no layerprobe command ran (measured: 0.2 s)
    assert before == {path: path.read_bytes() for path in sorted((out / "results").glob("*.*"))}
    assert plots_before == {path: path.stat().st_mtime_ns for path in (out / "plots").iterdir()}


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        (["FOO=1"], "demo_recipe.sh: error: unknown variable 'FOO' (see --help)"),
        (["N=abc"], "demo_recipe.sh: error: N must be a positive integer, got 'abc'"),
        (["EXPERIMENTS=cca_mel cca_bogus"], "unknown experiment 'cca_bogus' in EXPERIMENTS"),
        (["LAUNCHER=slurm"], "LAUNCHER must be none or submitit, got 'slurm'"),
        (["GLOVE=/nonexistent/glove.txt"], "GLOVE: no such file '/nonexistent/glove.txt'"),
        (["positional"], "unexpected argument 'positional': give NAME=VALUE"),
    ],
)
def test_recipe_refuses_bad_variables_in_one_line(arguments, fragment, tmp_path):
    result = run_recipe("demo_recipe.sh", f"OUT={tmp_path / 'out'}", *arguments)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and fragment in result.stderr
    assert not (tmp_path / "out" / "corpus").exists()


def test_recipe_help_lists_every_variable_with_its_default():
    result = run_recipe("librispeech_recipe.sh", "--help", env={"DEV_SPLIT": "dev-other"})
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: scripts/librispeech_recipe.sh [NAME=VALUE]...")
    for line in ("  DEV_SPLIT", "  TRAIN_SPLIT", "  ALIGNMENTS", "  LAUNCHER", "  MI_ITERS", "  GLOVE", "  EXPERIMENTS"):
        assert line in result.stdout
    assert "[dev-other]" in result.stdout and "[train-clean-100]" in result.stdout  # the environment's value wins


def test_librispeech_recipe_needs_its_data(tmp_path):
    result = run_recipe("librispeech_recipe.sh", "MODEL=tiny:wav2vec2", f"DATA={tmp_path / 'nope'}", f"OUT={tmp_path / 'out'}")
    assert result.returncode == 1 and "librispeech_recipe.sh: error: DATA: no such directory" in result.stderr


# --------------------------------------------------------------------------------------------------
# the LibriSpeech recipe on a miniature LibriSpeech


@pytest.fixture(scope="module")
def mini_librispeech(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini-librispeech")
    written = make_synth_librispeech_corpus(root / "LibriSpeech", root / "alignments", n=40, seed=0)
    return root / "LibriSpeech", root / "alignments", written


def test_miniature_librispeech_has_the_openslr_layout_and_mfa_alignments(mini_librispeech):
    data, alignments, written = mini_librispeech
    assert {split: len(ids) for split, ids in written.items()} == {"train-clean-100": 30, "dev-clean": 10}
    corpus = open_corpus(data, alignments=alignments)  # the layout is detected
    assert corpus.format == "librispeech" and corpus.splits() == ["dev-clean", "train-clean-100"]
    speakers = {split: {u.utt_id.split("-")[0] for u in corpus.utterances(split)} for split in corpus.splits()}
    assert not speakers["dev-clean"] & speakers["train-clean-100"]  # a speaker belongs to one split, as in LibriSpeech
    for utt in corpus.utterances("dev-clean"):
        speaker, chapter, _ = utt.utt_id.split("-")
        assert utt.audio_path.suffix == ".flac" and utt.audio_path.parent == data / "dev-clean" / speaker / chapter
        alignment = utt.load_alignment()
        assert utt.transcript == " ".join(w.label for w in alignment.words).upper()
        labels = [p.label for p in alignment.phones]
        assert labels[0] == "sil" and labels[-1] == "sil"  # the synthesizer's padding, as MFA writes it
        vowels = [label for label in labels if label[-1].isdigit()]
        assert vowels and all(label[-1] in "01" and phone_class(label) == label[:-1] for label in vowels)
        assert all(phone_class(label) in ARPABET39 for label in labels if label != "sil")
        # phones tile the audio: sil fills every gap
        assert alignment.phones[0].start == 0 and np.isclose(alignment.phones[-1].end, alignment.duration)
        assert all(a.end == b.start for a, b in zip(alignment.phones, alignment.phones[1:]))
        assert len(utt.load_audio()) == pytest.approx(alignment.duration * 16_000, abs=1)


def test_librispeech_recipe_sharded_chain_merges_and_reruns_cheaply(mini_librispeech, tmp_path):
    # The default-suite cut of the recipe: one chain (dev-clean phones -> contextualized store -> cca_phone
    # -> plot) through the launcher: 2 extraction shards merged into the store, a cca job per layer
    # (submitit's in-process "debug" cluster: no scheduler needed).
    data, alignments, _ = mini_librispeech
    out = tmp_path / "run"
    variables = ["MODEL=tiny:wav2vec2", f"DATA={data}", f"ALIGNMENTS={alignments}", f"OUT={out}", "EXPERIMENTS=cca_phone",
                 "LAUNCHER=submitit", "SHARDS=2", "LAUNCHER_OPTS=--cluster debug"]  # fmt: skip
    result = run_recipe("librispeech_recipe.sh", *variables)
    assert_ok(result)
    assert steps_of(result.stdout)[2:] == ["sample-dev-clean-phone", "extract-dev-clean-phone-contextualized", "cca_phone", "plot-cca",
                                           f"done: results in {out / 'results'}, plots in {out / 'plots'}"]  # fmt: skip
    assert "shard 1/2: done" in result.stderr  # the shard jobs' report (stdout holds the merged store only)
    assert "layer T3: done" in result.stdout
    store_dir = out / "features" / "tiny_wav2vec2" / "LibriSpeech_dev-clean_sample1"
    assert sorted(p.name for p in store_dir.glob("*.h5")) == ["contextualized_phone.h5"]  # shards merged and removed
    manifest = out / "data_samples" / "LibriSpeech" / "dev-clean_phone_sample1.json"
    with FeatureStore.open(store_dir / "contextualized_phone.h5") as store:
        n_phones = len(store.labels)
        assert set(store.labels) <= set(ARPABET39)  # stress digits stripped, sil dropped
    assert manifest.is_file()
    table_path = out / "results" / "cca.csv"
    table = ResultTable.open(table_path)
    assert layers_by_experiment(table, "pwcca") == {"cca_phone": TINY_T}
    assert {(row["model"], row["split"], row["sample"]) for row in table.rows} == {("tiny:wav2vec2", "dev-clean", 1)}
    assert table.metadata(table.rows[0])["details"]["n_rows"] == n_phones
    assert (out / "plots" / "cca.png").read_bytes()[:8] == PNG_MAGIC
    first = table_path.read_bytes()
    # a lost result table: only the analysis runs again, with the same numbers, so the plot (whose
    # record holds the table's checksum) stays as it was
    table_path.unlink()
    rerun = run_recipe("librispeech_recipe.sh", *variables)
    assert_ok(rerun)
    assert [step for step in steps_of(rerun.stdout) if not step.endswith("skipped")][2:] == [
        "cca_phone", f"done: results in {out / 'results'}, plots in {out / 'plots'}"]  # fmt: skip
    assert "plot-cca: done before, skipped" in steps_of(rerun.stdout)
    assert table_path.read_bytes() == first
    # reference results imported into the table: the plot is redrawn with them, nothing else runs
    reference = tmp_path / "logs" / "librispeech_wav2vec_small" / "cca_phone_dev-clean_sample1.json"
    reference.parent.mkdir(parents=True)
    reference.write_text('{"0": 0.31, "1": 0.35, "2": 0.4, "3": 0.42}')
    with pytest.raises(SystemExit) as caught:
        main(["import-reference", str(reference), "--out", str(table_path)])
    assert caught.value.code == 0
    rerun = run_recipe("librispeech_recipe.sh", *variables)
    assert_ok(rerun)
    assert [step for step in steps_of(rerun.stdout) if not step.endswith("skipped")][2:] == [
        "plot-cca", f"done: results in {out / 'results'}, plots in {out / 'plots'}"]  # fmt: skip
    assert "plotted pwcca of 2 models in cca_phone" in rerun.stdout


@pytest.mark.heavy
def test_librispeech_recipe_runs_every_experiment_on_the_miniature(mini_librispeech, tmp_path):
    data, alignments, written = mini_librispeech
    # Word vectors for cca_glove / cca_agwe: seeded random 8-d vectors for every word of the corpus but one.
    lines = [line for path in data.rglob("*.trans.txt") for line in path.read_text().splitlines()]
    words = sorted({word.lower() for line in lines for word in line.split()[1:]})
    rng = np.random.default_rng(0)
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("".join(f"{w} {' '.join(f'{x:.5f}' for x in rng.standard_normal(8))}\n" for w in words[1:]))
    out = tmp_path / "run"
    result = run_recipe("librispeech_recipe.sh", "MODEL=tiny:wav2vec2", f"DATA={data}", f"ALIGNMENTS={alignments}",
                        f"OUT={out}", f"GLOVE={vectors}", f"AGWE={vectors}", "MI_ITERS=0-1", "N_CLUSTERS=20")  # fmt: skip
    assert_ok(result)
    cca = ResultTable.open(out / "results" / "cca.csv")
    assert layers_by_experiment(cca, "pwcca") == {
        "cca_agwe": TINY_T, "cca_glove": TINY_T, "cca_intra": TINY_T[1:], "cca_mel": TINY_C + TINY_T[1:],
        "cca_phone": TINY_T, "cca_word": TINY_T}  # fmt: skip
    assert {row["split"] for row in cca.rows} == {"dev-clean"}
    # the same vectors give the same scores, whichever experiment name they come under
    assert [r["value"] for r in cca.select(experiment="cca_agwe")] == [r["value"] for r in cca.select(experiment="cca_glove")]
    mi = ResultTable.open(out / "results" / "mi.csv")
    assert sorted({(row["experiment"], row["seed"]) for row in mi.rows}) == [("mi_phone", 0), ("mi_phone", 1),
                                                                             ("mi_word", 0), ("mi_word", 1)]  # fmt: skip
    assert {mi.metadata(row)["details"]["n_clusters"] for row in mi.rows} == {20}
    wordsim = ResultTable.open(out / "results" / "wordsim.csv")
    assert {row["split"] for row in wordsim.rows} == {"train-clean-100"}
    train_words = out / "features" / "tiny_wav2vec2" / "LibriSpeech_train-clean-100_sample1" / "contextualized_word.h5"
    with FeatureStore.open(train_words) as store:
        assert set(store.labels) <= set(words)
    for name in ("cca", "mi", "wordsim"):
        assert (out / "plots" / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
