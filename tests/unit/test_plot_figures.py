"""Paper-ready trend figures (issue 20): human names, the model always named, honest and shared y ranges,
panels wrapping at three columns, notes on panels near 0, baselines, and the all-in-one grid figure.

Each test reads the figure's texts and limits through matplotlib's objects, not its pixels.
"""

from __future__ import annotations

import numpy as np
import pytest

from layerprobe.errors import ConfigError
from layerprobe.io.figure_style import PALETTE, display_names, model_display_name
from layerprobe.plot_axes import tick_labels
from layerprobe.plots import BASELINE_LABEL, CHANCE_LABEL, NEAR_ZERO_NOTE, plot_grid, plot_layer_trend, plot_trends
from layerprobe.results import ResultTable


def rows(model, experiment, metric, values, *, seeds=(0,), corpus="demo"):
    """One row per layer (and seed) of ``values`` (layer -> value; seed s adds 0.01 * s)."""
    return [
        {"model": model, "corpus": corpus, "experiment": experiment, "layer": layer, "split": "dev", "sample": 1, "seed": seed,
         "metric": metric, "value": value + 0.01 * seed}
        for layer, value in values.items() for seed in seeds
    ]  # fmt: skip


def texts(legend):
    return [text.get_text() for text in legend.get_texts()]


def model_lines(ax):
    return [line for line in ax.get_lines() if line.get_gid() == "model"]


@pytest.mark.parametrize(
    "model, shown",
    [
        ("hf:/work/shared/models/whisper-base", "whisper-base"),
        ("hf:whisper-base-0123abcd", "whisper-base"),  # a local path as the table names it
        ("hf:facebook/hubert-large-ll60k", "hubert-large-ll60k"),
        ("tiny:wav2vec2", "tiny wav2vec2"),
        ("fairseq:checkpoint_best.pt-1a2b3c4d", "checkpoint_best"),
        ("wav2vec_small", "wav2vec_small"),  # an imported reference model
        ("logmel", "log-mel baseline"),  # probe --layers mel
    ],
)
def test_model_display_names(model, shown):
    assert model_display_name(model) == shown


def test_models_that_would_share_a_display_name_keep_their_full_names():
    assert display_names(["hf:a/base", "hf:b/base", "tiny:hubert"]) == {"hf:a/base": "hf:a/base", "hf:b/base": "hf:b/base",
                                                                         "tiny:hubert": "tiny hubert"}  # fmt: skip


def test_cca_trend_of_one_model_names_it_titles_in_words_and_shares_a_y_range_from_0():
    """The demo's cca_trend: raw ids as titles, no model name and differing y ranges were issue 20's complaint."""
    table = rows("tiny:wav2vec2", "cca_mel", "pwcca", {"C1": 0.57, "C7": 0.19, "T1": 0.14, "T3": 0.26})
    table += rows("tiny:wav2vec2", "cca_phone", "pwcca", {"T0": 0.16, "T3": 0.24})
    figure = plot_trends(table)
    mel, phone = figure.axes
    assert [ax.get_title() for ax in figure.axes] == ["CCA with log-mel features", "CCA with phone labels"]
    assert [ax.get_xlabel() for ax in figure.axes] == ["layer", "layer"]
    assert mel.get_ylabel() == "PWCCA" and phone.get_ylabel() == ""  # the row's first panel labels the shared axis
    assert texts(figure.legends[0]) == ["tiny wav2vec2", "chance (independent views: 0)"]
    assert mel.get_ylim() == phone.get_ylim()
    low, high = mel.get_ylim()
    assert low == pytest.approx(-0.05 * 0.57) and high == pytest.approx(0.57 * 1.05)  # from 0 (the chance line just in view)
    assert figure.get_figwidth() == pytest.approx(7.0)  # two panels: page wide


def test_mi_trend_starts_at_0_unless_asked_and_draws_its_chance_line():
    """A 0.05 change looked like a cliff on a 0.61-0.665 axis."""
    table = rows("tiny:wav2vec2", "mi_phone", "nmi", {"T0": 0.61, "T1": 0.665, "T2": 0.64})
    table += rows("tiny:wav2vec2", "mi_phone", "nmi_chance", {"T0": 0.10, "T1": 0.11, "T2": 0.10})
    ax = plot_layer_trend(table)
    assert ax.get_ylim() == (0.0, pytest.approx(0.665 * 1.05))
    assert ax.get_title() == "Mutual information with phones" and ax.get_ylabel() == "Normalised MI, I(C;L) / H(L)"
    assert texts(ax.get_legend()) == ["tiny wav2vec2", CHANCE_LABEL]
    auto = plot_layer_trend(table, y_range="auto")
    low, high = auto.get_ylim()
    assert 0.05 < low < 0.10 and 0.665 < high < 0.72  # fitted to the drawn lines, the chance line included
    with pytest.raises(ConfigError, match="y_range must be one of zero, auto, not 'tight'"):
        plot_layer_trend(table, y_range="tight")


def test_fine_tuning_wer_panels_have_a_legend_an_honest_range_and_the_untrained_baseline(tmp_path):
    """plot --metric wer of fine-tuning: WER 1.0 on every seed was drawn on 0.95-1.05 with no legend."""
    table = ResultTable(tmp_path / "finetune.csv")
    for seed in (0, 1):  # WER 1.0 on both seeds (CTC still emitting blanks only); a sidecar entry per seed
        [row] = rows("hf:/models/wav2vec2-base", "finetune_reinit:T10-T12", "wer", {"T12": 1.0})
        table.add([{**row, "seed": seed}], details={"untrained_test": {"wer": 1.0, "cer": 0.98}})
    table.add(rows("hf:/models/wav2vec2-base", "finetune", "wer", {"T12": 0.35}), details={"untrained_test": {"wer": 1.0}})
    figure = plot_trends(table, metric="wer")
    assert [ax.get_title() for ax in figure.axes] == ["Fine-tuning", "Fine-tuning, T10-T12 re-initialised"]
    assert texts(figure.legends[0]) == ["wav2vec2-base", BASELINE_LABEL]
    for ax in figure.axes:
        assert ax.get_ylim() == (0.0, pytest.approx(1.05))  # one metric: one range, from 0
        [baseline] = [line for line in ax.get_lines() if line.get_gid() == "baseline"]
        assert list(baseline.get_ydata()) == [1.0] and baseline.get_marker() == "_"  # one layer: drawn as a dash
        assert [t.get_text() for t in ax.get_xticklabels()] == ["T12"]
    assert figure.axes[0].get_ylabel() == "Word error rate"


def test_four_panels_wrap_into_rows_of_three_and_a_panel_at_0_says_why(tmp_path):
    """Recipe cca.png: four narrow panels in one 3463x783 row, cca_word flat at 0 with no hint why."""
    table = ResultTable(tmp_path / "cca.csv")
    layers = {f"T{i}": 0.2 + 0.02 * i for i in range(13)}
    for experiment in ("cca_mel", "cca_phone", "cca_intra"):
        table.add(rows("hf:/models/wav2vec2-base", experiment, "pwcca", layers))
    warning = "cca_word T3: 300 rows for views of 768 and 500 dimensions (0.4 rows per dimension, under 10): CCA fits noise"
    table.add(rows("hf:/models/wav2vec2-base", "cca_word", "pwcca", {f"T{i}": 0.004 for i in range(13)}), details={"warnings": [warning]})
    figure = plot_trends(table)
    assert [ax.get_label() for ax in figure.axes] == ["cca_mel", "cca_intra", "cca_phone", "cca_word"]  # the published order
    geometry = [(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in figure.axes]
    assert geometry == [(0, 0), (0, 1), (0, 2), (1, 0)]
    assert figure.get_figwidth() == pytest.approx(7.0) and figure.get_figheight() > 4
    notes = {ax.get_label(): [t.get_text() for t in ax.texts if t.get_gid() == "note"] for ax in figure.axes}
    assert notes == {"cca_mel": [], "cca_intra": [], "cca_phone": [],
                     "cca_word": [f"{NEAR_ZERO_NOTE}:\ntoo few rows per dimension (see warnings)"]}  # fmt: skip
    assert figure.axes[3].get_ylabel() == "PWCCA"  # first of its row
    # 13 layers on a third of a page: every other label, T0 first
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["T0", "", "T2", "", "T4", "", "T6", "", "T8", "", "T10", "", "T12"]
    plain = plot_trends(rows("m", "cca_word", "pwcca", {"T0": 0.01, "T1": -0.01}))
    assert [t.get_text() for t in plain.axes[0].texts] == [NEAR_ZERO_NOTE]  # no sidecar: no reason


def test_tick_labels_keep_the_kind_boundaries():
    layers = ["mel", "C1", "C2", "C3", "C4", "C5", "C6", "C7"] + [f"T{i}" for i in range(13)]
    shown = [label for label in tick_labels(layers, 8) if label]
    assert shown[:2] == ["mel", "C3"] and "T0" in shown and len(shown) <= 8
    assert tick_labels(["T0", "T1"], 8) == ["T0", "T1"]


def test_grid_of_two_models_tables_draws_each_experiment_with_its_metric_and_one_legend(tmp_path):
    """The all-in-one figure: experiments as panels, models as lines with one colour each across panels."""
    first, second = ResultTable(tmp_path / "whisper.csv"), ResultTable(tmp_path / "w2v2.csv")
    for table, model, shift in ((first, "hf:/models/whisper-base", 0.0), (second, "hf:facebook/wav2vec2-base", 0.1)):
        table.add(rows(model, "cca_mel", "pwcca", {"C1": 0.6 - shift, "T0": 0.5, "T5": 0.3 + shift}, seeds=(0, 1)))
        table.add(rows(model, "cca_word", "pwcca", {"T0": 0.2, "T5": 0.4 + shift}))
        table.add(rows(model, "mi_phone", "nmi", {"T0": 0.3, "T5": 0.5 + shift}) + rows(model, "mi_phone", "nmi_chance", {"T0": 0.1, "T5": 0.1}))
        table.save()
    second.add(rows("hf:facebook/wav2vec2-base", "awd", "ap", {"T0": 0.7, "T5": 0.9}))
    second.save()
    figure = plot_grid([first.path, second.path])
    assert [ax.get_label() for ax in figure.axes] == ["cca_mel", "cca_word", "mi_phone", "awd"]
    assert [ax.get_title() for ax in figure.axes] == [  # wrapped to a third of a page
        "CCA with log-mel features", "CCA with word labels", "Mutual information with\nphones", "Acoustic word discrimination"]
    assert [ax.get_ylabel() for ax in figure.axes] == ["PWCCA", "", "Normalised MI, I(C;L) / H(L)", "Average precision"]
    assert figure.axes[0].get_ylim() == figure.axes[1].get_ylim()  # one metric: one range
    assert figure.axes[2].get_ylim()[0] == 0.0 and figure.axes[3].get_ylim()[0] == 0.0
    assert texts(figure.legends[0]) == ["wav2vec2-base", "whisper-base", "chance (independent views: 0)", CHANCE_LABEL]
    colours = {}
    for ax in figure.axes:
        for line in model_lines(ax):
            colours.setdefault(line.get_label(), set()).add(line.get_color())
    assert colours == {"wav2vec2-base": {PALETTE[0]}, "whisper-base": {PALETTE[1]}}  # the same in every panel
    [awd_line] = model_lines(figure.axes[3])  # awd: only wav2vec2-base, still its own colour
    assert awd_line.get_label() == "wav2vec2-base" and awd_line.get_color() == PALETTE[0]
    one_metric = plot_grid(first.path, experiments=["mi_phone"], metric="nmi_chance")
    assert [ax.get_ylabel() for ax in one_metric.axes] == ["Chance of I(C;L) / H(L)"]
    np.testing.assert_allclose(model_lines(one_metric.axes[0])[0].get_ydata(), [0.1, 0.1])


def test_wordsim_probe_and_fine_tuning_imply_their_main_metric_so_a_grid_can_draw_them():
    from layerprobe.plots import default_metric

    wordsim = rows("m", "wordsim", "spearman_micro", {"T0": 0.1}) + rows("m", "wordsim", "spearman_macro", {"T0": 0.2})
    probe = rows("m", "probe", "wer", {"T0": 0.5}) + rows("m", "probe", "cer", {"T0": 0.2})
    finetune = [row for metric in ("wer", "cer", "wer_mean", "wer_std") for row in rows("m", "finetune_reinit:T12", metric, {"T12": 0.4})]
    assert [default_metric(group) for group in (wordsim, probe, finetune)] == ["spearman_micro", "wer", "wer"]
    figure = plot_grid(wordsim + probe + finetune)
    assert [ax.get_ylabel() for ax in figure.axes] == ["Spearman rho (micro)", "Word error rate", ""]  # finetune shares probe's axis


def test_segmentation_f1_is_labelled_in_words_and_drawn_from_0():
    from layerprobe.plots import plot_layer_trend

    rows = [
        {"model": "tiny:wav2vec2", "experiment": "segment@buckeye", "layer": f"T{i}", "metric": "f1", "value": v}
        for i, v in enumerate([0.40, 0.42, 0.48])
    ]
    ax = plot_layer_trend(rows, experiment="segment@buckeye", metric="f1")
    assert ax.get_ylabel() == "Boundary F1"
    assert ax.get_title() == "Word segmentation (buckeye)"
    assert ax.get_ylim()[0] == 0.0


def test_a_control_run_is_drawn_in_its_experiments_panel_not_as_a_panel():
    from layerprobe.plots import CONTROL_LABEL, plot_grid

    rows = [
        {"model": "hf:whisper-base-a1ab8302", "experiment": experiment, "layer": f"T{i}", "metric": "pwcca", "value": v}
        for experiment, values in (("cca_semantic", [0.14, 0.24, 0.40]), ("cca_semantic@shuffled", [0.15, 0.24, 0.37]),
                                   ("cca_syntactic", [0.50, 0.55, 0.68]))
        for i, v in enumerate(values)
    ]  # fmt: skip
    figure = plot_grid(rows)
    panels = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["CCA with semantic attributes", "CCA with syntactic attributes"]
    controls = [line for line in panels[0].get_lines() if line.get_gid() == "control"]
    assert len(controls) == 1 and list(controls[0].get_ydata()) == pytest.approx([0.15, 0.24, 0.37])
    assert controls[0].get_linestyle() == "-." and not [line for line in panels[1].get_lines() if line.get_gid() == "control"]
    assert CONTROL_LABEL in [text.get_text() for text in figure.legends[0].get_texts()]
