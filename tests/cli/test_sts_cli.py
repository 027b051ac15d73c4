"""``layerprobe corpus synth-sts`` -> corpus info -> sample -> extract -> ``layerprobe sts``, end to end."""

from __future__ import annotations

import pytest

pytest.importorskip("pyarrow")

from layerprobe.cli import main  # noqa: E402
from layerprobe.results import ResultTable  # noqa: E402


def run(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    out = capsys.readouterr()
    return caught.value.code, out.out, out.err


def test_synth_sts_to_spearman_rows_through_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["corpus", "synth-sts", "--out", "sts", "--n-pairs", "4", "--seed", "0"], capsys)
    assert code == 0, err
    assert out.startswith("4 pairs x 4 voices = 16 rows (32 utterances, ") and out.strip().endswith("sts/data/test-00000-of-00001.parquet")
    code, out, err = run(["corpus", "info", "sts"], capsys)
    assert code == 0, err
    assert f"sts: hf corpus at {tmp_path / 'sts'}" in out and "test: 32 utterances" in out
    code, out, err = run(["sample", "--corpus", "sts", "--split", "test", "--span", "frame", "--n-utterances", "1000"], capsys)
    assert code == 0, err
    code, out, err = run(["extract", "--model", "tiny:wav2vec2", "--corpus", "sts", "--split", "test", "--rep", "contextualized",
                          "--span", "frame", "--no-progress"], capsys)  # fmt: skip
    assert code == 0, err
    code, out, err = run(["sts", "--model", "tiny:wav2vec2", "--corpus", "sts", "--split", "test", "--out", "results/sts.csv",
                          "--no-progress"], capsys)  # fmt: skip
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["spoken_sts T0", "spoken_sts T1", "spoken_sts T2", "spoken_sts T3"]
    assert "(4 pairs, 64 speaker combinations" in lines[0] and lines[-1] == "4 layers -> results/sts.csv"
    rows = ResultTable.open(tmp_path / "results" / "sts.csv").rows
    overall = [r for r in rows if r["metric"] == "spearman"]
    assert [r["layer"] for r in overall] == ["T0", "T1", "T2", "T3"]
    assert {r["experiment"] for r in rows} == {"spoken_sts"} and {r["corpus"] for r in rows} == {"sts"}
    assert all(-1 <= float(r["value"]) <= 1 for r in overall)
    # 4 pairs of seed 0: 3 complex (scored on their own) and 1 simple (too few)
    assert {r["metric"] for r in rows} == {"spearman", "spearman:synth/complex"}
    from layerprobe.plots import default_metric

    assert default_metric(rows) == "spearman"  # what `layerprobe plot` draws for spoken_sts
    # one job per layer (submitit's debug cluster, in this process): the same rows
    code, out, err = run(["sts", "--model", "tiny:wav2vec2", "--corpus", "sts", "--split", "test", "--out", "results/jobs.csv",
                          "--no-progress", "--launcher", "submitit", "--cluster", "debug", "--jobs-dir", "jobs"], capsys)  # fmt: skip
    assert code == 0, err
    jobs = ResultTable.open(tmp_path / "results" / "jobs.csv").rows
    assert sorted((r["layer"], r["metric"], r["value"]) for r in jobs) == sorted((r["layer"], r["metric"], r["value"]) for r in rows)


def test_sts_errors_are_one_line(tmp_path, capsys):
    code, _, err = run(["corpus", "synth-sts", "--out", str(tmp_path / "x"), "--n-pairs", "1"], capsys)
    assert code == 2 and "--n-pairs" in err
    (tmp_path / "x").mkdir()
    code, _, err = run(["corpus", "synth-sts", "--out", str(tmp_path / "x"), "--n-pairs", "2"], capsys)
    assert (code, err) == (1, f"layerprobe: error: {tmp_path / 'x'} exists; give another --out or --overwrite\n")
    code, _, err = run(["sts", "--corpus", "sts", "--split", "test"], capsys)
    assert code == 2 and "--model is needed (only --rep mel, the log-mel baseline, has none)" in err
