"""``layerprobe plot`` without --metric draws the metric the table's experiments imply (issue 16)."""

from __future__ import annotations

import pytest

from layerprobe.errors import ConfigError, ResultError
from layerprobe.plots import default_metric
from layerprobe.results import ResultTable
from support.cli import run


def rows(experiment, metrics, *, model="m", layers=("T1", "T2")):
    return [
        {"model": model, "corpus": "demo", "experiment": experiment, "layer": layer, "split": "dev", "sample": 1, "seed": 0,
         "metric": metric, "value": value + 0.1 * index}
        for index, layer in enumerate(layers) for metric, value in metrics.items()
    ]  # fmt: skip


def write(path, *groups):
    table = ResultTable(path)
    for group in groups:
        table.add(group)
    return table.save()


@pytest.fixture
def mi_csv(tmp_path):
    """An ``mi`` table as ``layerprobe mi`` writes it: nmi and nmi_chance rows, no pwcca."""
    return write(tmp_path / "mi.csv", rows("mi_phone", {"nmi": 0.4, "nmi_chance": 0.05}))


def test_plot_of_an_mi_table_draws_nmi(mi_csv, tmp_path, capsys):
    out = tmp_path / "x.png"
    code, stdout, err = run(["plot", str(mi_csv), "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.strip() == f"plotted nmi of 1 model in mi_phone -> {out}, {out.with_suffix('.pdf')}"
    assert out.read_bytes().startswith(b"\x89PNG")


def test_plot_of_a_cca_table_draws_pwcca_not_its_other_metrics(tmp_path, capsys):
    results = write(tmp_path / "cca.csv", rows("cca_mel", {"pwcca": 0.5, "pwcca_centred": 0.45}),
                    rows("cca_phone", {"pwcca": 0.3, "pwcca_centred": 0.25}))  # fmt: skip
    out = tmp_path / "cca.png"
    code, stdout, err = run(["plot", str(results), "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.strip() == f"plotted pwcca of 1 model in cca_mel, cca_phone -> {out}, {out.with_suffix('.pdf')}"


def test_the_chosen_experiments_decide_and_variants_count_as_their_family(tmp_path, capsys):
    both = write(tmp_path / "both.csv", rows("cca_mel", {"pwcca": 0.5}), rows("mi_phone@lloyd+zscore", {"nmi": 0.6, "nmi_chance": 0.1}))
    out = tmp_path / "one.png"
    code, stdout, err = run(["plot", str(both), "--experiment", "mi_phone@lloyd+zscore", "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.strip() == f"plotted nmi of 1 model in mi_phone@lloyd+zscore -> {out}, {out.with_suffix('.pdf')}"
    code, stdout, err = run(["plot", str(both), "--experiment", "cca_mel", "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.startswith("plotted pwcca of 1 model in cca_mel -> ")


def test_an_explicit_metric_still_wins(mi_csv, tmp_path, capsys):
    out = tmp_path / "chance.png"
    code, stdout, err = run(["plot", str(mi_csv), "--metric", "nmi_chance", "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.strip() == f"plotted nmi_chance of 1 model in mi_phone -> {out}, {out.with_suffix('.pdf')}"
    code, _, err = run(["plot", str(mi_csv), "--metric", "pwcca", "--out", str(out)], capsys)
    assert code == 1
    assert err.strip() == "layerprobe: error: no results with metric 'pwcca' (metrics: nmi, nmi_chance)"


@pytest.mark.parametrize(
    "groups, extra, message",
    [
        ([("cca_mel", {"pwcca": 0.5}), ("mi_phone", {"nmi": 0.4, "nmi_chance": 0.05})], [],
         "no one metric is implied by the experiments (cca_mel: pwcca; mi_phone: nmi); choose one with --metric"),
        ([("my_probe", {"cer": 0.2, "wer": 0.5})], [],
         "no one metric is implied by the experiment my_probe (metrics: cer, wer); choose one with --metric"),
        ([("cca_mel", {"pwcca": 0.5}), ("cca_phone", {"pwcca": 0.4}), ("probe", {"wer": 0.5})],
         ["--experiment", "cca_mel", "--experiment", "cca_phone", "--experiment", "probe"],
         "no one metric is implied by the experiments (cca_mel, cca_phone: pwcca; probe: wer); choose one with --metric"),
        ([("cca_mel", {"pwcca": 0.5})], ["--experiment", "mi_word"], "no results for experiment 'mi_word' (experiments: cca_mel)"),
    ],
)  # fmt: skip
def test_no_implied_metric_is_one_line_listing_them(tmp_path, capsys, groups, extra, message):
    results = write(tmp_path / "r.csv", *(rows(experiment, metrics) for experiment, metrics in groups))
    code, stdout, err = run(["plot", str(results), *extra, "--out", str(tmp_path / "t.png")], capsys)
    assert code == 1 and stdout == ""
    assert err.strip() == f"layerprobe: error: {message}"
    assert not list(tmp_path.glob("t.*"))


def test_default_metric_in_python():
    cca = rows("cca_mel", {"pwcca": 0.5, "pwcca_centred": 0.4})
    imported = rows("cca_word", {"pwcca_mean": 0.5})  # an imported mean_score file: its only metric
    assert default_metric(cca) == "pwcca"
    assert default_metric(imported) == "pwcca_mean"
    assert default_metric(cca + rows("mi_word", {"nmi": 0.3}), ["mi_word"]) == "nmi"
    with pytest.raises(ConfigError, match=r"^no one metric is implied by the experiments \(cca_mel: pwcca; cca_word: pwcca_mean\); "
                                          r"choose one with metric=$"):  # fmt: skip
        default_metric(cca + imported)
    with pytest.raises(ConfigError, match="^no experiments to plot$"):
        default_metric(cca, [])
    with pytest.raises(ResultError, match="^there are no result rows to plot$"):
        default_metric([])
