"""``layerprobe mi --standardize`` (issue 16): z-scored features, rows named apart, the option in the sidecar."""

from __future__ import annotations

import pytest

from layerprobe.analysis.mi import cluster_mi_result
from layerprobe.io.store import FeatureStore
from layerprobe.results import ResultTable
from support.cli import run, run_ok


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """Contextualized phone stores of tiny:wav2vec2 for the train and dev splits of a 20-utterance corpus."""
    import torch

    root = tmp_path_factory.mktemp("mi_zscore")
    corpus, samples, out = root / "synth", root / "ds", root / "features"
    run_ok(["corpus", "synth", "--out", str(corpus), "--n", "20", "--seed", "5", "--no-progress"])
    for split, most in (("train", "8"), ("dev", "6")):
        run_ok(["sample", "--corpus", str(corpus), "--split", split, "--span", "phone", "--min-per-label", "1",
             "--max-per-label", most, "--out", str(samples), "--no-progress"])  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-wide model: worker threads only spin
    try:
        for split in ("train", "dev"):
            run_ok(["extract", "--model", "tiny:wav2vec2", "--corpus", str(corpus), "--split", split, "--span", "phone",
                 "--rep", "contextualized", "--samples-dir", str(samples), "--out", str(out), "--no-progress"])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return out


def _mi(features, out, *extra):
    return ["mi", "--span", "phone", "--model", "tiny:wav2vec2", "--corpus", "synth", "--train-split", "train",
            "--eval-split", "dev", "--n-clusters", "20", "--layers", "T2", "--features", str(features), "--out", str(out),
            "--no-progress", *extra]  # fmt: skip


def _arrays(features, layer):
    stores = [features / "tiny_wav2vec2" / f"synth_{split}_sample1" / "contextualized_phone.h5" for split in ("train", "dev")]
    arrays = []
    for path in stores:
        with FeatureStore.open(path) as store:
            arrays += [store.read(layer), store.labels]
    return arrays


def test_standardize_scores_z_scored_features_into_rows_named_apart(features, tmp_path, capsys):
    out = tmp_path / "mi.csv"
    assert run(_mi(features, out), capsys)[0] == 0
    code, stdout, err = run(_mi(features, out, "--standardize"), capsys)
    assert code == 0, err
    assert stdout.splitlines()[0].startswith("mi_phone@zscore T2: NMI ") and stdout.splitlines()[-1] == f"1 layer -> {out}"
    code, stdout, err = run(_mi(features, out, "--standardize", "--algorithm", "lloyd"), capsys)
    assert code == 0, err
    table = ResultTable.open(out)
    assert table.unique("experiment") == ["mi_phone", "mi_phone@lloyd+zscore", "mi_phone@zscore"]
    train_X, train_y, eval_X, eval_y = _arrays(features, "T2")
    for experiment, options in (("mi_phone", {}), ("mi_phone@zscore", {"standardize": True}),
                                ("mi_phone@lloyd+zscore", {"standardize": True, "algorithm": "lloyd"})):  # fmt: skip
        [row] = table.select(experiment=experiment, metric="nmi")
        expected = cluster_mi_result(train_X, train_y, eval_X, eval_y, n_clusters=20, batch_size=1500, seed=0, **options)
        assert row["value"] == expected.score, experiment
        meta = table.metadata(row)
        assert meta["options"]["standardize"] is options.get("standardize", False)
        assert meta["details"]["standardize"] is options.get("standardize", False)
    raw, z = (table.select(experiment=name, metric="nmi")[0]["value"] for name in ("mi_phone", "mi_phone@zscore"))
    assert raw != z
    # the plot of this table draws nmi (the metric its mi_* experiments imply), one panel each
    figure = tmp_path / "mi.png"
    code, stdout, err = run(["plot", str(out), "--out", str(figure)], capsys)
    assert code == 0, err
    assert stdout.strip() == (f"plotted nmi of 1 model in mi_phone, mi_phone@lloyd+zscore, mi_phone@zscore -> "
                              f"{figure}, {figure.with_suffix('.pdf')}")  # fmt: skip


def test_the_help_names_the_option(capsys):
    code, stdout, _ = run(["mi", "--help"], capsys)
    assert code == 0 and "--standardize" in stdout and "mi_phone@zscore" in " ".join(stdout.split())
