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
        ("mi_phone", layer, "dev", metric) for layer in ("T0", "T1", "T2", "T3") for metric in ("nmi", "nmi_chance")]  # fmt: skip
    assert all(0 < row["value"] <= 1 for row in mi.rows)
    assert mi.metadata(mi.rows[0])["details"]["n_clusters"] == 10
    assert "[4/5] cca_mel: PWCCA by layer: C1 " in out and "[4/5] mi_phone (10 clusters" in out
    assert "      chance (shuffled clusters) by layer: T0 " in out
    for name in ("cca_trend", "mi_trend"):
        assert f"[5/5] plot: layer-trend curves -> {demo / 'results' / (name + '.png')}" in out
        assert (demo / "results" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (demo / "results" / f"{name}.pdf").exists()
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 0 and "reusing the synthesized corpus" in capsys.readouterr().out
    assert len(ResultTable.open(demo / "results" / "cca.csv")) == len(table)  # a rerun does not add rows


def test_the_demo_default_size_is_the_command_default():
    from layerprobe.cli.demo import demo_command
    from layerprobe.demo import DEMO_UTTERANCES

    [n] = [param for param in demo_command.params if param.name == "n_utterances"]
    assert n.default == DEMO_UTTERANCES == 400


def test_the_default_demo_scores_clearly_above_chance(tmp_path, capsys):
    """At its default size the demo's mi_phone and CCA curves say something: no score is near its chance level."""
    from layerprobe.experiments.mi import CHANCE_MARGIN
    from layerprobe.plots import CHANCE_LABEL, plot_trends

    demo = tmp_path / "demo"
    with pytest.raises(SystemExit) as caught:
        main(["demo", "--out", str(demo), "--no-progress"])
    captured = capsys.readouterr()
    # no chance or sample-size warning; only plot's honest note that adjacent layers' ranges over the canonical
    # directions' signs overlap (the tiny random model's conv layers differ less than the published PWCCA's sign spread)
    warnings = [line for line in captured.err.splitlines() if line.startswith("layerprobe:")]
    assert caught.value.code == 0
    assert all("range over the signs of the canonical directions overlaps" in line for line in warnings), warnings
    assert captured.out.startswith("[1/5] corpus: synthesized 400 utterances")
    mi = ResultTable.open(demo / "results" / "mi.csv")
    for layer in ("T0", "T1", "T2", "T3"):
        [score] = mi.select(layer=layer, metric="nmi")
        [chance] = mi.select(layer=layer, metric="nmi_chance")
        details = mi.metadata(score)["details"]
        assert details["n_clusters"] == 10 and details["n_eval"] >= 400 and details["n_train"] >= 1000
        assert details["chance"] == chance["value"] < 0.15 and details["warnings"] == []
        margin = max(1.25 * CHANCE_MARGIN, 3 * details["chance_spread"])
        assert score["value"] - chance["value"] >= margin, (layer, score, details)
    cca = ResultTable.open(demo / "results" / "cca.csv")
    assert all(row["value"] >= 0.1 for row in cca.rows)  # 2x the 0.05 of the near-zero warning
    assert all(cca.metadata(row)["details"]["warnings"] == [] for row in cca.rows)
    figure = plot_trends(mi, metric="nmi")  # the demo's mi_trend figure
    [ax] = figure.axes
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["tiny wav2vec2", CHANCE_LABEL]
    [chance_line] = [line for line in ax.get_lines() if line.get_gid() == "chance"]
    assert list(chance_line.get_ydata()) == [row["value"] for row in mi.select(metric="nmi_chance")]
