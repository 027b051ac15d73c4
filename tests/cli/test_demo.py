"""``layerprobe demo``: the offline pipeline so far, and its rerun."""

from __future__ import annotations

import pytest

from layerprobe.cli import main
from layerprobe.io.store import FeatureStore
from layerprobe.results import ResultTable


def test_demo_runs_end_to_end_offline_and_reuses_its_corpus(tmp_path, capsys):
    argv = ["demo", "--out", str(tmp_path / "demo"), "--n", "12", "--no-progress"]
    with pytest.raises(SystemExit) as caught:
        main(argv)
    out = capsys.readouterr().out
    assert caught.value.code == 0
    assert out.startswith("[1/5] corpus: synthesized 12 utterances")
    demo = tmp_path / "demo"
    features = demo / "features"
    assert sorted(p.relative_to(features).as_posix() for p in features.rglob("*.h5")) == [
        "logmel/demo_train_sample1/mel_frame.h5",
        "tiny_wav2vec2/demo_dev_sample1/contextualized_phone.h5",
        "tiny_wav2vec2/demo_train_sample1/contextualized_frame.h5",
        "tiny_wav2vec2/demo_train_sample1/contextualized_phone.h5",
        "tiny_wav2vec2/demo_train_sample1/local_frame.h5",
    ]
    with FeatureStore.open(features / "tiny_wav2vec2" / "demo_train_sample1" / "contextualized_phone.h5") as store:
        assert store.layer_ids[0] == "T0" and store.n_rows("T0") == len(store.labels) > 0
    table = ResultTable.open(demo / "results" / "cca.csv")
    layers = {e: [row["layer"] for row in table.select(experiment=e, metric="pwcca")] for e in ("cca_mel", "cca_phone")}
    assert layers == {"cca_mel": ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1", "T2", "T3"],
                      "cca_phone": ["T0", "T1", "T2", "T3"]}  # fmt: skip
    assert all(-1 <= row["value"] <= 1 and row["model"] == "tiny:wav2vec2" for row in table.rows)
    mi = ResultTable.open(demo / "results" / "mi.csv")
    assert [(row["experiment"], row["layer"], row["split"], row["metric"]) for row in mi.rows] == [
        ("mi_phone", layer, "dev", "nmi") for layer in ("T0", "T1", "T2", "T3")]  # fmt: skip
    assert all(0 < row["value"] <= 1 for row in mi.rows)
    assert mi.metadata(mi.rows[0])["details"]["n_clusters"] == 50
    assert "[4/5] cca_mel: PWCCA by layer: C1 " in out and "[4/5] mi_phone (50 clusters" in out
    for name in ("cca_trend", "mi_trend"):
        assert f"[5/5] plot: layer-trend curves -> {demo / 'results' / (name + '.png')}" in out
        assert (demo / "results" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (demo / "results" / f"{name}.pdf").exists()
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 0 and "reusing the synthesized corpus" in capsys.readouterr().out
    assert len(ResultTable.open(demo / "results" / "cca.csv")) == len(table)  # a rerun does not add rows
