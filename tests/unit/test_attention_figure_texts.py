"""The texts of the attention and audiation figures, read from matplotlib's objects: titles, axis labels
in seconds, colour-bar labels, tier labels folded to the 39 phone classes, and the layout of the grid."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from layerprobe.attention.figures import WEIGHT_LABEL, plot_attention_grid  # noqa: E402
from layerprobe.io.figure_style import model_display_name  # noqa: E402
from layerprobe.attention.view_figure import BOUNDARY_COLOR, plot_attention_map  # noqa: E402
from layerprobe.io.alignments import Alignment, Interval  # noqa: E402


def band(n: int, width: float) -> np.ndarray:
    values = np.exp(-np.abs(np.subtract.outer(np.arange(n), np.arange(n))) / width)
    return values / values.sum(axis=1, keepdims=True)


def stripe(n: int, key: int = 3) -> np.ndarray:
    values = np.full((n, n), 0.2 / n)
    values[:, key] += 0.8
    return values / values.sum(axis=1, keepdims=True)


def _texts(figure) -> list[str]:
    return [text.get_text() for text in figure.findobj(matplotlib.text.Text) if text.get_text()]


def _geometry(figure) -> tuple[int, int]:
    """Rows and columns of the figure's sub-figures, from their positions."""
    boxes = [sub.bbox_relative for sub in figure.subfigs]
    return len({round(box.y0, 3) for box in boxes}), len({round(box.x0, 3) for box in boxes})


def _map_axes(figure):
    return [ax for ax in figure.axes if ax.images and ax.get_xlabel() == "key (s)"]


def test_grid_of_one_utterance_is_a_compact_grid_with_colorbars_and_seconds():
    maps = {f"T{i}": {"timit-fadg0-sa1": band(100, i)} for i in range(1, 7)}
    classes = {block: "diagonal" for block in maps}
    scores = {block: {"diag": 0.61, "vert": 0.02, "cons": 0.5, "ent": 0.4} for block in maps}
    figure = plot_attention_grid(maps, classes=classes, scores=scores, frame_rate_hz=50.0, model="hf:/models/whisper-base")
    width, height = figure.get_size_inches()
    # six blocks of one utterance: three a row, two rows, wider than tall (it was a 2.4 x 15 in column)
    assert len(figure.subfigs) == 6 and width > height
    assert _geometry(figure) == (2, 3)
    assert figure._suptitle.get_text() == "Attention maps of whisper-base, utterance timit-fadg0-sa1"
    assert [sub._suptitle.get_text() for sub in figure.subfigs] == [
        f"T{i}: diagonal\ndiag 0.61, vert 0.02\ncons 0.50, ent 0.40" for i in range(1, 7)
    ]
    panels = _map_axes(figure)
    assert len(panels) == 6 and all(ax.get_title() == "" for ax in panels)  # the utterance is in the figure title
    assert all(ax.get_ylabel() == "query (s)" for ax in panels)
    # 100 frames at 50 Hz: 2 s on both axes, ticks in seconds
    assert panels[0].images[0].get_extent() == [0.0, 2.0, 2.0, 0.0]
    ticks = [label.get_text() for label in panels[0].get_xticklabels()]
    assert ticks == ["0", "1", "2"]
    bars = [ax for ax in figure.axes if ax.get_ylabel() == WEIGHT_LABEL]
    assert len(bars) == 6 and WEIGHT_LABEL == "attention weight"
    assert "timit-fadg0-sa1" not in [ax.get_title() for ax in figure.axes]  # no text over the maps
    assert not [t for ax in panels for t in ax.texts]


def test_grid_of_several_utterances_titles_the_panels_and_shares_a_scale_per_block():
    u1, u2 = "sense_and_sensibility_01_austen_64kb-0880", "u2"
    maps = {"T1": {u1: band(50, 1), u2: band(25, 2)}, "T2": {u1: stripe(50), u2: stripe(25)}}
    figure = plot_attention_grid(maps, classes={"T1": "diagonal", "T2": "vertical"}, frame_rate_hz=25.0, model="tiny:wav2vec2")
    assert len(figure.subfigs) == 2
    assert _geometry(figure) == (1, 2)  # two utterances: two blocks a row
    assert figure._suptitle.get_text() == "Attention maps of tiny wav2vec2"
    panels = _map_axes(figure)
    long = "sense_and_\nsensibility_01_\nausten_64kb-0880"  # wrapped to the panel (21 characters), not over its neighbour
    assert [ax.get_title() for ax in panels] == [long, "u2", long, "u2"]
    assert [ax.get_ylabel() for ax in panels] == ["query (s)", "", "query (s)", ""]
    assert panels[1].images[0].get_extent() == [0.0, 1.0, 1.0, 0.0]  # 25 frames at 25 Hz
    # one colour scale per block
    assert panels[0].images[0].get_clim() == panels[1].images[0].get_clim()
    assert [ax.get_ylabel() for ax in figure.axes].count("attention weight") == 2


def test_a_stripe_over_a_flat_background_does_not_saturate_the_scale():
    # one key column is 1/150 of the entries: the 99th percentile is the background, so the scale tops at the maximum
    figure = plot_attention_grid({"T1": {"u": stripe(150)}})
    assert _map_axes(figure)[0].images[0].get_clim() == pytest.approx((0.0, stripe(150).max()))
    figure = plot_attention_grid({"T1": {"u": band(150, 4)}})
    assert _map_axes(figure)[0].images[0].get_clim()[1] == pytest.approx(np.percentile(band(150, 4), 99))


def test_grid_errors():
    from layerprobe.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^frame_rate_hz must be positive, got 0$"):
        plot_attention_grid({"T1": {"u": band(4, 1)}}, frame_rate_hz=0)


def test_wrap_id():
    from layerprobe.attention.figures import wrap_id

    assert wrap_id("sense_and_sensibility_01_austen_64kb-0880", 15) == "sense_and_\nsensibility_01_\nausten_64kb-\n0880"
    assert wrap_id("short", 15) == "short" and wrap_id("abcdefgh", 3) == "abc\ndef\ngh"


def test_model_display_name():
    assert model_display_name("hf:/models/whisper-base/") == "whisper-base"
    assert model_display_name("hf:facebook/hubert-base-ls960") == "hubert-base-ls960"
    assert model_display_name("tiny:whisper") == "tiny whisper" and model_display_name("logmel") == "log-mel baseline"


TIMIT = Alignment(
    "timit-fadg0-sa1", 1.2,
    phones=tuple(Interval(a, b, label) for label, a, b in (
        ("h#", 0.0, 0.1), ("sh", 0.1, 0.3), ("ix", 0.3, 0.5), ("kcl", 0.5, 0.6), ("k", 0.6, 0.8), ("h#", 0.8, 1.2))),
    words=(Interval(0.1, 0.5, "she"), Interval(0.5, 0.8, "kay")),
)  # fmt: skip


def test_map_with_tiers_in_seconds_folded_phones_and_a_labelled_colorbar():
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(6, 6))
    try:
        plot_attention_map(band(60, 2), alignment=TIMIT, ax=ax, frame_rate_hz=50.0, title="whisper-base, T3\nutterance u")
        texts = _texts(figure)
        # TIMIT's raw labels folded to the 39 classes: h# and kcl unlabelled, ix -> IH
        for label in ("SH", "IH", "K", "she", "kay", "phones", "words"):
            assert label in texts
        assert not {"h#", "kcl", "ix", "sh"} & set(texts)
        assert ax.get_xlabel() == "key time (s)"
        assert "query time (s)" in [other.get_ylabel() for other in figure.axes]
        assert ax.images[0].get_extent() == [0.0, 1.2, 1.2, 0.0]
        assert [t.get_text() for t in ax.get_xticklabels()][:3] == ["0.0", "0.2", "0.4"]
        assert "attention weight" in [other.get_ylabel() for other in figure.axes]
        assert "whisper-base, T3\nutterance u" in [other.get_title() for other in figure.axes]
        # boundaries over the map: thin, semi-transparent, not white
        lines = ax.get_lines()
        assert lines and all(line.get_color() == BOUNDARY_COLOR and line.get_alpha() <= 0.6 and line.get_linewidth() <= 0.7
                             for line in lines)  # fmt: skip
    finally:
        plt.close(figure)
    figure, ax = plt.subplots(figsize=(6, 6))
    try:
        plot_attention_map(band(60, 2), alignment=TIMIT, ax=ax, phone_labels="raw", value_label="attention logit")
        texts = _texts(figure)
        assert "sh" in texts and "ix" in texts and "attention logit" in [other.get_ylabel() for other in figure.axes]
    finally:
        plt.close(figure)


def test_audiation_figure_has_a_db_colorbar():
    from layerprobe.audiation.figures import DB_LABEL, audiation_figure

    time = np.arange(6400) / 16000
    result = SimpleNamespace(
        waveform=(0.1 * np.sin(2 * np.pi * 440 * time)).astype(np.float32), sample_rate=16000,
        model="hf:/models/wav2vec2-base", layer="T2", unit=7, frame=10, mode="unit", frame_rate_hz=50.0,
        frame_activations=np.linspace(0, 1, 20), noise_activation=0.3,
    )  # fmt: skip
    figure = audiation_figure(result)
    spectrogram, activation, bar = figure.axes
    assert bar.get_ylabel() == DB_LABEL == "power (dB re max)"
    assert spectrogram.images[0].get_clim() == (-80.0, 0.0)
    assert [t.get_text() for t in bar.get_yticklabels()][0] in ("−80", "-80")
    assert spectrogram.get_title() == "wav2vec2-base, T2 unit 7 (unit, frame 10)"
    assert spectrogram.get_ylabel() == "frequency (kHz)" and activation.get_xlabel() == "time (s)"
    assert [t.get_text() for t in activation.get_legend().get_texts()] == ["unit", "noise"]
