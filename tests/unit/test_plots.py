"""Layer-trend plots: line data are the means, bands the spread, ticks the layers in order; files render."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from layerprobe.errors import ConfigError, ResultError
from layerprobe.plots import metric_label, plot_layer_trend, plot_trends, save_figure
from layerprobe.results import ResultTable

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Known values: model -> layer -> one value per sample (1, 2, 3).
VALUES = {
    "wav2vec2": {"C1": [0.20, 0.22, 0.27], "C7": [0.40, 0.41, 0.45], "T0": [0.50, 0.55, 0.51], "T2": [0.70, 0.72, 0.74], "T10": [0.30, 0.35, 0.31]},
    "hubert": {"T0": [0.45, 0.46, 0.50], "T2": [0.60, 0.62, 0.61], "T4": [0.80, 0.85, 0.86], "T10": [0.55, 0.50, 0.52]},
}


def rows_for(values, *, experiment="cca_phone", metric="pwcca", corpus="synth"):
    return [
        {"model": model, "corpus": corpus, "experiment": experiment, "layer": layer, "split": "dev", "sample": sample,
         "seed": 0, "metric": metric, "value": value}  # fmt: skip
        for model, layers in values.items()
        for layer, samples in layers.items()
        for sample, value in enumerate(samples, start=1)
    ]


@pytest.fixture()
def table(tmp_path):
    table = ResultTable(tmp_path / "results.csv")
    table.add(rows_for(VALUES))
    table.add(rows_for({"wav2vec2": {"T2": [0.9]}}, metric="cca_mean"))  # another metric, not drawn
    return table


def model_lines(ax):
    """The labelled lines (the models, with any measured chance line), in drawing order; not a known chance level."""
    return [line for line in ax.get_lines() if not line.get_label().startswith("_") and not line.get_label().startswith("chance (independent")]


def band_extent(collection):
    """x -> (lowest y, highest y) over the vertices of a fill_between band."""
    extent = {}
    for path in collection.get_paths():
        for x, y in path.vertices:
            low, high = extent.get(round(x, 9), (np.inf, -np.inf))
            extent[round(x, 9)] = (min(low, y), max(high, y))
    return extent


def test_lines_are_means_and_bands_are_mean_plus_minus_std(table):
    ax = plot_layer_trend(table, experiment="cca_phone", metric="pwcca")
    axis = ["C1", "C7", "T0", "T2", "T4", "T10"]
    assert [label.get_text() for label in ax.get_xticklabels()] == axis
    assert list(ax.get_xticks()) == list(range(len(axis)))
    lines = model_lines(ax)
    assert [line.get_label() for line in lines] == ["hubert", "wav2vec2"]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["hubert", "wav2vec2", "chance (independent views: 0)"]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    for line, band in zip(lines, bands):
        model = line.get_label()
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        assert np.all(np.isfinite(y))  # T layers of one kind: one unbroken line
        layers = [axis[int(i)] for i in x]
        assert layers == [layer for layer in axis if layer in VALUES[model]]  # missing layers are absent
        expected = [np.mean(VALUES[model][layer]) for layer in layers]
        np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)
        extent = band_extent(band)
        assert sorted(extent) == sorted(x)
        for position, layer in zip(x, layers):
            mean, std = np.mean(VALUES[model][layer]), np.std(VALUES[model][layer], ddof=1)
            np.testing.assert_allclose(extent[round(position, 9)], (mean - std, mean + std), rtol=0, atol=1e-12)
        assert tuple(band.get_facecolor()[0][:3]) == pytest.approx(to_rgb(line.get_color()))
        assert band.get_alpha() == pytest.approx(0.2)
    assert ax.get_xlabel() == "layer" and ax.get_ylabel() == "PWCCA" and ax.get_title() == "CCA with phone labels"
    assert ax.get_label() == "cca_phone"
    low, high = ax.get_ylim()
    all_values = [v for layers in VALUES.values() for samples in layers.values() for v in samples]
    # every value and PWCCA's chance level (0) in view, with a small margin
    assert low < 0 < min(all_values) and high > max(all_values) and high - low < 1.2 * max(all_values)
    assert isinstance(ax.figure, Figure)


def test_range_band_and_no_band(table):
    ax = plot_layer_trend(table, experiment="cca_phone", spread="range", title="")
    band = [c for c in ax.collections if isinstance(c, PolyCollection)][1]  # wav2vec2, the second model
    extent = band_extent(band)
    assert extent[0.0] == pytest.approx((0.20, 0.27)) and extent[5.0] == pytest.approx((0.30, 0.35))
    assert ax.get_title() == ""
    ax = plot_layer_trend(table, experiment="cca_phone", spread="none")
    assert not ax.collections


def test_two_corpora_of_one_model_are_two_lines_labelled_with_the_corpus():
    rows = (rows_for({"m": {"T0": [0.1], "T1": [0.3]}}, corpus="synth")
            + rows_for({"m": {"T0": [0.5], "T1": [0.7]}}, corpus="demo")
            + rows_for({"other": {"T0": [0.2], "T1": [0.4]}}, corpus="synth"))  # fmt: skip
    ax = plot_layer_trend(rows, experiment="cca_phone")
    lines = {line.get_label(): list(line.get_ydata()) for line in model_lines(ax)}
    # never one line averaging synth and demo; a model of one corpus keeps its plain name
    assert lines == {"m (demo)": [0.5, 0.7], "m (synth)": [0.1, 0.3], "other": [0.2, 0.4]}
    assert not ax.collections  # one value per point: no band (the two corpora are not a spread)
    unknown = rows_for({"m": {"T0": [0.1]}}, corpus="") + rows_for({"m": {"T0": [0.5]}}, corpus="demo")
    assert {line.get_label() for line in model_lines(plot_layer_trend(unknown))} == {"m (corpus unknown)", "m (demo)"}


def test_single_values_draw_no_band_and_one_model_still_gets_a_legend():
    rows = rows_for({"hf:/models/whisper-base": {"T0": [0.1], "T1": [0.3], "T2": [0.2]}}, experiment="only", metric="wer")
    ax = plot_layer_trend(rows, metric="wer")  # one experiment: no need to name it; wer has no known chance level
    assert not ax.collections
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["whisper-base"]  # the model is always named
    np.testing.assert_allclose(model_lines(ax)[0].get_ydata(), [0.1, 0.3, 0.2])
    assert ax.get_title() == "only" and ax.get_ylabel() == "Word error rate"


def test_mel_stands_apart_and_lines_break_across_missing_kinds():
    values = {"whisper": {"mel": [0.9, 0.8], "C1": [0.3, 0.3], "C2": [0.4, 0.4], "T0": [0.5, 0.6]},
              "wav2vec2": {"C1": [0.1, 0.1], "C2": [0.2, 0.2], "C3": [0.25, 0.25], "T0": [0.3, 0.3]}}  # fmt: skip
    ax = plot_layer_trend(rows_for(values), spread="std")
    assert [label.get_text() for label in ax.get_xticklabels()] == ["mel", "C1", "C2", "C3", "T0"]
    whisper = [line for line in model_lines(ax) if line.get_label() == "whisper"][0]
    y = np.asarray(whisper.get_ydata(), float)
    # mel | C1 C2 | T0: NaN gaps keep the baseline and the jump over C3 unconnected.
    np.testing.assert_allclose(y, [0.85, np.nan, 0.3, 0.4, np.nan, 0.55], equal_nan=True)
    bars = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(bars) == 1  # the two isolated whisper points (mel, T0) show their spread as bars
    segments = sorted(tuple(map(tuple, np.round(s, 9))) for s in bars[0].get_segments())
    sd_mel, sd_t0 = np.std([0.9, 0.8], ddof=1), np.std([0.5, 0.6], ddof=1)
    assert segments == sorted([((0.0, round(0.85 - sd_mel, 9)), (0.0, round(0.85 + sd_mel, 9))),
                               ((4.0, round(0.55 - sd_t0, 9)), (4.0, round(0.55 + sd_t0, 9)))])  # fmt: skip
    wav2vec2 = [line for line in model_lines(ax) if line.get_label() == "wav2vec2"][0]
    assert np.all(np.isfinite(np.asarray(wav2vec2.get_ydata(), float)))  # C3 -> T0 are neighbours


def test_several_experiments_need_a_choice(table):
    table.add(rows_for({"hubert": {"T1": [0.5]}}, experiment="cca_mel"))
    with pytest.raises(ConfigError, match=r"several experiments \(cca_mel, cca_phone\); choose one"):
        plot_layer_trend(table)
    with pytest.raises(ResultError, match=r"no results for experiment 'cca_word' \(experiments: cca_mel, cca_phone\)"):
        plot_layer_trend(table, experiment="cca_word")
    with pytest.raises(ResultError, match=r"no results with metric 'nmi' of experiment 'cca_phone' \(metrics: cca_mean, pwcca\)"):
        plot_layer_trend(table, experiment="cca_phone", metric="nmi")
    with pytest.raises(ConfigError, match="spread must be one of std, range, none"):
        plot_layer_trend(table, experiment="cca_phone", spread="sem")


def test_plot_layer_trend_draws_on_a_given_axes(table):
    figure = Figure()
    ax = figure.add_subplot()
    assert plot_layer_trend(table, experiment="cca_phone", ax=ax) is ax
    assert figure.axes == [ax]


def test_plot_trends_one_panel_per_experiment(table):
    table.add(rows_for({"hubert": {"T1": [0.5, 0.7]}}, experiment="cca_mel"))
    figure = plot_trends(table)
    assert [ax.get_title() for ax in figure.axes] == ["CCA with log-mel features", "CCA with phone labels"]
    assert [ax.get_label() for ax in figure.axes] == ["cca_mel", "cca_phone"]
    first, second = figure.axes
    assert first.get_ylim() == second.get_ylim()  # one metric: one y range
    assert first.get_ylabel() == "PWCCA" and second.get_ylabel() == ""  # labelled once per row
    assert [t.get_text() for t in first.get_xticklabels()] == ["T1"]
    assert model_lines(first)[0].get_ydata() == pytest.approx([0.6])
    figure = plot_trends(table, experiments=["cca_phone"], metric="pwcca", spread="none")
    assert [ax.get_label() for ax in figure.axes] == ["cca_phone"] and not figure.axes[0].collections
    with pytest.raises(ResultError, match=r"no results with metric 'nmi' \(metrics: cca_mean, pwcca\)"):
        plot_trends(table, metric="nmi")
    with pytest.raises(ResultError, match="no results with metric 'cca_mean' of experiment 'cca_mel'"):
        plot_trends(table, experiments=["cca_phone", "cca_mel"], metric="cca_mean")


def test_save_figure_writes_png_and_pdf(table, tmp_path):
    figure = plot_trends(table)
    written = save_figure(figure, tmp_path / "figs" / "trend.png")
    assert written == [tmp_path / "figs" / "trend.png", tmp_path / "figs" / "trend.pdf"]
    png, pdf = (path.read_bytes() for path in written)
    assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert 600 < width < 700 and 400 < height < 700  # one panel: one column (3.3 in) at 200 dpi, tightly cropped
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    assert save_figure(figure, tmp_path / "figs" / "trend.pdf") == [tmp_path / "figs" / "trend.pdf", tmp_path / "figs" / "trend.png"]
    assert (tmp_path / "figs" / "trend.pdf").read_bytes() == pdf  # no creation date: same figure, same bytes
    assert save_figure(figure, tmp_path / "only.pdf", formats=["pdf"]) == [tmp_path / "only.pdf"]
    assert not (tmp_path / "only.png").exists()
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["trend.pdf", "trend.png"]
    with pytest.raises(ConfigError, match=r"trend\.jpg: a figure file must end in \.png, \.pdf or \.svg"):
        save_figure(figure, tmp_path / "trend.jpg")
    with pytest.raises(ConfigError, match="must be png, pdf or svg, not eps"):
        save_figure(figure, tmp_path / "trend.png", formats=["svg", "eps"])


def test_save_figure_writes_svg_with_text_as_text_and_the_same_bytes_twice(table, tmp_path):
    figure = plot_trends(table)
    written = save_figure(figure, tmp_path / "trend.svg")
    assert written == [tmp_path / "trend.svg", tmp_path / "trend.png", tmp_path / "trend.pdf"]  # its own, then PNG and PDF
    svg = written[0].read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert ">CCA with phone labels</text>" in svg and ">wav2vec2</text>" in svg  # text stays text (svg.fonttype none)
    assert "<dc:date>" not in svg
    again = save_figure(figure, tmp_path / "again.svg", formats=["svg"])
    assert again == [tmp_path / "again.svg"] and again[0].read_text(encoding="utf-8") == svg


def test_metric_labels():
    assert metric_label("pwcca") == "PWCCA"
    assert metric_label("nmi") == "Normalised MI, I(C;L) / H(L)"  # not scikit-learn's NMI
    assert metric_label("wer") == "Word error rate" and metric_label("ap") == "Average precision"
    assert metric_label("cca_mean") == "CCA mean"
    assert metric_label("spearman") == "Spearman rho" and metric_label("token_f1") == "Word-token F1"
    assert metric_label("my_score") == "my score"


# --------------------------------------------------------------------------------------------------
# chance levels


def test_the_chance_level_is_a_dashed_grey_line_per_model_at_the_same_layers(tmp_path):
    from layerprobe.plots import CHANCE_LABEL

    nmi = {"wav2vec2": {"T0": [0.50, 0.54], "T1": [0.60, 0.62], "T2": [0.58, 0.60]}, "hubert": {"T0": [0.40, 0.44], "T2": [0.70, 0.71]}}
    chance = {"wav2vec2": {"T0": [0.20, 0.22], "T1": [0.21, 0.23], "T2": [0.19, 0.21]}, "hubert": {"T0": [0.10, 0.12], "T2": [0.30, 0.32]}}
    rows = rows_for(nmi, experiment="mi_phone", metric="nmi") + rows_for(chance, experiment="mi_phone", metric="nmi_chance")
    rows += rows_for({"wav2vec2": {"T3": [0.5]}}, experiment="mi_phone", metric="nmi_chance")  # no nmi at T3: not drawn
    ax = plot_layer_trend(rows, experiment="mi_phone", metric="nmi")
    assert [label.get_text() for label in ax.get_xticklabels()] == ["T0", "T1", "T2"]
    chance_lines = [line for line in ax.get_lines() if line.get_gid() == "chance"]
    assert len(chance_lines) == 2  # hubert, then wav2vec2
    hubert, wav2vec2 = chance_lines
    np.testing.assert_allclose(hubert.get_xdata(), [0, 2])
    np.testing.assert_allclose(hubert.get_ydata(), [0.11, 0.31])
    np.testing.assert_allclose(wav2vec2.get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(wav2vec2.get_ydata(), [0.21, 0.22, 0.20])
    for line in chance_lines:
        assert line.get_linestyle() == "--" and to_rgb(line.get_color()) == (0.45, 0.45, 0.45)
    assert [line.get_label() for line in chance_lines] == [CHANCE_LABEL, "_" + CHANCE_LABEL]
    assert CHANCE_LABEL == "chance (shuffled clusters)"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["hubert", "wav2vec2", CHANCE_LABEL]
    assert [line.get_label() for line in model_lines(ax)] == ["hubert", CHANCE_LABEL, "wav2vec2"]
    low, high = ax.get_ylim()
    assert low < 0.11 and high > 0.71  # the chance lines are in view


def test_one_model_with_its_chance_gets_a_legend_and_plot_trends_draws_it_in_its_panel(tmp_path):
    from layerprobe.plots import CHANCE_LABEL

    rows = rows_for({"m": {"T0": [0.5], "T1": [0.6]}}, experiment="mi_phone", metric="nmi")
    rows += rows_for({"m": {"T0": [0.2], "T1": [0.25]}}, experiment="mi_phone", metric="nmi_chance")
    rows += rows_for({"m": {"T0": [0.3], "T1": [0.4]}}, experiment="mi_word", metric="nmi")  # no chance rows
    figure = plot_trends(rows, metric="nmi")
    phone, word = figure.axes
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["m", CHANCE_LABEL]  # one legend for the figure
    assert [line.get_gid() for line in phone.get_lines()].count("chance") == 1
    assert not any(line.get_gid() == "chance" for line in word.get_lines())
    other = plot_layer_trend(rows_for({"m": {"T0": [0.5]}}, metric="wer"), metric="wer")  # no chance known: nothing added
    assert len(other.get_lines()) == 1 and [t.get_text() for t in other.get_legend().get_texts()] == ["m"]
    assert save_figure(figure, tmp_path / "mi.png")[0].read_bytes()[:8] == PNG_SIGNATURE


def test_pwcca_draws_its_known_chance_level_of_0_in_view():
    """A held-out PWCCA of independent views is 0 at any size: the line is drawn without chance rows."""
    ax = plot_layer_trend(rows_for({"m": {"T0": [0.5], "T1": [0.6]}}), metric="pwcca")
    [chance] = [line for line in ax.get_lines() if line.get_gid() == "chance"]
    assert list(chance.get_ydata()) == [0.0, 0.0] and chance.get_linestyle() == "--"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["m", "chance (independent views: 0)"]
    low, high = ax.get_ylim()
    assert low < 0 < 0.6 < high


def test_the_range_over_direction_signs_is_a_hatched_band_and_overlapping_layers_warn(tmp_path, caplog):
    """The sidecar's details["signs"] (issue 16): a band around the published PWCCA, a warning where adjacent ranges overlap."""
    from layerprobe.plots import SIGNS_LABEL

    table = ResultTable(tmp_path / "cca.csv")
    ranges = {"T0": (0.10, 0.20), "T1": (0.25, 0.32), "T2": (0.30, 0.40)}  # T1 and T2 overlap; T0 and T1 do not
    for layer, (low, high) in ranges.items():
        table.add(rows_for({"m": {layer: [(low + high) / 2]}}, experiment="cca_mel"),
                  details={"signs": {"convention": "lapack", "n_sets": 32, "low": low, "high": high}})  # fmt: skip
    with caplog.at_level("WARNING", logger="layerprobe.plots"):
        ax = plot_layer_trend(table, experiment="cca_mel")
    [band] = [c for c in ax.collections if c.get_gid() == "signs"]
    (low_path,) = band.get_paths()
    ys = low_path.vertices[:, 1]
    assert ys.min() == pytest.approx(0.10) and ys.max() == pytest.approx(0.40)
    assert band.get_hatch() == "////" and band.get_label() == SIGNS_LABEL == "range over direction signs"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["m", SIGNS_LABEL, "chance (independent views: 0)"]
    assert [r.getMessage() for r in caplog.records] == [
        "cca_mel (m): the score's range over the signs of the canonical directions overlaps between adjacent layers "
        "T1/T2 (0.250-0.320 vs 0.300-0.400): their order depends on the signs LAPACK gives; compare pwcca_centred, "
        "which does not depend on them"
    ]
    plain = plot_layer_trend(table.rows, experiment="cca_mel")  # rows without their sidecar: no band
    assert not any(c.get_gid() == "signs" for c in plain.collections)


def test_plot_trends_draws_the_sign_ranges_of_a_table_in_every_panel(tmp_path):
    table = ResultTable(tmp_path / "cca.csv")
    for experiment in ("cca_mel", "cca_phone"):
        for layer, (low, high) in {"T0": (0.1, 0.2), "T1": (0.3, 0.35)}.items():
            table.add(rows_for({"m": {layer: [(low + high) / 2]}}, experiment=experiment),
                      details={"signs": {"convention": "lapack", "n_sets": 32, "low": low, "high": high}})  # fmt: skip
    figure = plot_trends(table, metric="pwcca")
    assert [sum(c.get_gid() == "signs" for c in ax.collections) for ax in figure.axes] == [1, 1]
