"""The one figure style: its rc context is left when the block ends, and experiments get human names."""

import matplotlib
import pytest

from layerprobe.io.figure_style import PALETTE, experiment_title, paper_style


def test_paper_style_sets_print_sizes_and_palette_only_inside_the_block():
    before = matplotlib.rcParams["font.size"], list(matplotlib.rcParams["axes.prop_cycle"].by_key()["color"])
    with paper_style():
        assert matplotlib.rcParams["font.size"] == 8.0
        assert matplotlib.rcParams["pdf.fonttype"] == 42
        assert tuple(matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]) == PALETTE
    after = matplotlib.rcParams["font.size"], list(matplotlib.rcParams["axes.prop_cycle"].by_key()["color"])
    assert after == before


@pytest.mark.parametrize(
    "experiment, title",
    [
        ("cca_mel", "CCA with log-mel features"),
        ("cca_mel@pinned", "CCA with log-mel features (pinned)"),
        ("mi_word@1init+zscore", "Mutual information with words (1init, zscore)"),
        ("awd", "Acoustic word discrimination"),
        ("unknown_thing", "unknown_thing"),
        ("finetune_reinit:T10-T12", "Fine-tuning, T10-T12 re-initialised"),
        ("finetune_local:T2-T12@30", "Fine-tuning, local attention in T2-T12 (+-30 frames)"),
        ("finetune_other:x", "finetune_other:x"),
    ],
)
def test_experiment_title(experiment, title):
    assert experiment_title(experiment) == title
