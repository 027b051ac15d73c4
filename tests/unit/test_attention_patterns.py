"""Attention-pattern scores and classes on canonical synthetic maps, with hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerprobe.attention.maps import head_average, normalize_rows, softmax
from layerprobe.attention.patterns import (
    CLASSES,
    THRESHOLDS,
    PatternScores,
    block_patterns,
    classify,
    head_scores,
    pattern_scores,
    patterns_figure,
)
from layerprobe.errors import ConfigError


def band(n: int, radius: int) -> np.ndarray:
    """Each query attends uniformly to the keys within ``radius`` of it."""
    i, j = np.indices((n, n))
    weights = (np.abs(i - j) <= radius).astype(float)
    return weights / weights.sum(axis=1, keepdims=True)


def columns(n: int, keys=(5, 20, 35)) -> np.ndarray:
    """Every query attends uniformly to the same few keys (vertical)."""
    weights = np.zeros((n, n))
    weights[:, list(keys)] = 1.0
    return weights / weights.sum(axis=1, keepdims=True)


def uniform(n: int) -> np.ndarray:
    return np.full((n, n), 1.0 / n)


# --------------------------------------------------------------------------------------------------
# scores with hand-computed values


def test_pure_band_of_radius_1():
    a = band(10, 1)
    for r in (1, 2, 5):
        assert pattern_scores(a, radius=r).diagonal == 1.0
    # r = 0: the end rows put 1/2 on the diagonal, the 8 others 1/3; a uniform map 1/10
    in_band = (2 * 0.5 + 8 / 3) / 10
    assert pattern_scores(a, radius=0).diagonal == pytest.approx((in_band - 0.1) / 0.9, abs=1e-15)
    scores = pattern_scores(a, radius=1)
    # entropy: 2 rows of log 2, 8 rows of log 3, over log 10
    assert scores.entropy == pytest.approx((2 * math.log(2) + 8 * math.log(3)) / 10 / math.log(10), abs=1e-12)
    # column masses: ends (1/2 + 1/3)/10, next (1/2 + 2/3)/10, inner 1/10; k = max(1, round(0.5)) = 1
    assert scores.vertical == pytest.approx(((1 / 2 + 2 / 3) / 10 - 0.1) / 0.9, abs=1e-12)
    assert scores.consistency == 0.0  # the top key is a neighbour of three queries only
    assert classify(scores) == "diagonal"


def test_uniform_map():
    scores = pattern_scores(uniform(10), radius=2)
    # in-band mass = the band's share of cells (44 of 100 for |i-j| <= 2): no excess over chance
    assert scores.diagonal == pytest.approx(0.0, abs=1e-15)
    assert scores.vertical == 0.0 and scores.consistency == 0.0
    assert scores.entropy == pytest.approx(1.0, abs=1e-12)
    assert pattern_scores(uniform(50), radius=2).diagonal == pytest.approx(0.0, abs=1e-15)
    assert pattern_scores(uniform(4), radius=5).diagonal == 0.0  # the band covers every cell
    assert classify(pattern_scores(uniform(50))) == "heterogeneous"


def test_identity_map():
    scores = pattern_scores(np.eye(12), radius=0)
    assert scores == PatternScores(diagonal=1.0, vertical=0.0, consistency=0.0, entropy=0.0)


def test_vertical_columns():
    scores = pattern_scores(columns(50), radius=2)
    top = 2 / 3  # k = round(0.05 * 50) = 2 of the 3 keys, each with column mass 1/3
    assert scores.vertical == pytest.approx((top - 0.04) / 0.96, abs=1e-12)
    assert scores.consistency == pytest.approx((top - 0.04) / 0.96, abs=1e-12)  # every query: 2/3 on them
    chance = 244 / 2500  # band cells |i-j| <= 2 in a 50 x 50 grid: 50 * 5 - 2 * (1 + 2)
    in_band = 15 * (1 / 3) / 50  # 5 rows near each of 3 keys
    assert scores.diagonal == pytest.approx((in_band - chance) / (1 - chance), abs=1e-12)
    assert scores.entropy == pytest.approx(math.log(3) / math.log(50), abs=1e-12)
    assert classify(scores) == "vertical"


def test_vertical_plus_diagonal_mixture():
    scores = pattern_scores(0.5 * band(50, 1) + 0.5 * columns(50), radius=2)
    chance = 244 / 2500
    assert scores.diagonal == pytest.approx((0.5 * 1.0 + 0.5 * 0.1 - chance) / (1 - chance), abs=1e-12)
    top = 2 * (0.5 / 3 + 0.5 / 50)  # a key column: half of 1/3 plus half of an inner band column's 1/50
    assert scores.vertical == pytest.approx((top - 0.04) / 0.96, abs=1e-12)
    assert scores.consistency > THRESHOLDS["consistency"]
    assert classify(scores) == "vertical+diagonal"


def test_near_uniform_with_a_faint_diagonal_is_heterogeneous():
    scores = pattern_scores(0.85 * uniform(50) + 0.15 * band(50, 1), radius=2)
    assert scores.diagonal == pytest.approx(0.15, abs=1e-12)  # the uniform part is chance: only the band counts
    assert scores.vertical < 0.01 and scores.entropy > 0.95
    assert classify(scores) == "heterogeneous"


def test_shared_keys_for_only_half_of_the_queries_are_not_vertical():
    a = np.where(np.arange(50)[:, None] < 25, columns(50), band(50, 1))
    scores = pattern_scores(a)
    assert scores.vertical > THRESHOLDS["vertical"]  # the column masses alone look vertical
    assert scores.consistency == 0.0  # but the lower half of queries ignores those keys
    assert classify(scores) == "diagonal"


def test_every_class_is_reachable_and_thresholds_can_be_overridden():
    assert {classify(pattern_scores(m)) for m in (band(50, 1), columns(50), 0.5 * band(50, 1) + 0.5 * columns(50), uniform(50))} == set(CLASSES)
    assert classify({"diagonal": 0.25, "vertical": 0.0, "consistency": 0.0}, {"diagonal": 0.2}) == "diagonal"
    with pytest.raises(ConfigError, match="unknown threshold entropy"):
        classify(PatternScores(0, 0, 0, 0), {"entropy": 0.5})


def test_scores_stay_in_unit_interval_on_random_maps():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 40):
        s = pattern_scores(rng.dirichlet(np.full(n, 0.3), size=n), radius=1)
        assert all(0.0 <= v <= 1.0 for v in s.as_dict().values()), s
    assert pattern_scores(np.ones((1, 1))) == PatternScores(0.0, 0.0, 0.0, 0.0)  # one cell: no pattern to see


# --------------------------------------------------------------------------------------------------
# heads, utterances, maps


def test_per_head_scores_and_the_block_average():
    maps = np.stack([np.eye(10), uniform(10)])
    per_head = head_scores(maps, radius=0)
    assert [h.diagonal for h in per_head] == [1.0, pytest.approx(0.0, abs=1e-15)]
    assert [h.entropy for h in per_head] == [0.0, pytest.approx(1.0)]
    block = pattern_scores(maps, radius=0)  # scores of the head-averaged map 0.5 I + 0.5 U
    assert block.diagonal == pytest.approx((0.5 + 0.05 - 0.1) / 0.9, abs=1e-15)  # in-band 0.55, chance 0.1
    row = np.array([0.55] + [0.05] * 9)
    assert block.entropy == pytest.approx(-(row * np.log(row)).sum() / math.log(10), abs=1e-12)
    assert block.entropy != pytest.approx(np.mean([h.entropy for h in per_head]))
    [pattern] = block_patterns({"u1": {"T1": maps}}, radius=0)
    assert pattern.scores == block and pattern.head_scores == tuple(per_head)
    assert pattern.head_patterns == ("diagonal", "heterogeneous")


def test_aggregation_over_utterances_is_the_mean_with_spread():
    maps = {"a": {"T1": band(10, 1)[None], "T2": uniform(10)[None]},
            "b": {"T1": uniform(20)[None], "T2": columns(20, keys=(3,))[None]}}  # fmt: skip
    patterns = block_patterns(maps, radius=0)
    assert [p.block for p in patterns] == ["T1", "T2"]
    t1 = patterns[0]
    a, b = ((2 * 0.5 + 8 / 3) / 10 - 0.1) / 0.9, 0.0  # band (chance 1/10), uniform (no excess)
    assert t1.scores.diagonal == pytest.approx((a + b) / 2, abs=1e-15)
    assert t1.spread["diagonal"] == {"std": pytest.approx(abs(a - b) / 2), "min": pytest.approx(b), "max": pytest.approx(a)}
    assert t1.utterances == ("a", "b") and t1.per_utterance["a"].diagonal == pytest.approx(a)
    assert t1.pattern == classify(t1.scores)
    # the second utterance's T2 is one constant column: vertical 1; the first's uniform: 0
    assert patterns[1].scores.vertical == pytest.approx(0.5) and patterns[1].spread["vertical"]["max"] == 1.0
    details = t1.details()
    assert details["class"] == t1.pattern and details["n_utterances"] == 2 and len(details["heads"]) == 1
    assert block_patterns(maps, utterances=1, blocks="T2")[0].utterances == ("a",)
    assert "T1: " in t1.summary() and "2 utterances" in t1.summary()


def test_cut_maps_are_renormalised_and_logits_softmaxed():
    a = band(8, 1)
    cut = a * np.linspace(0.5, 0.9, 8)[:, None]  # rows lost mass to keys that were cut away
    assert pattern_scores(cut) == pattern_scores(a)
    np.testing.assert_allclose(normalize_rows(cut), a, atol=1e-15)
    logits = np.log(a + 1e-300)
    np.testing.assert_allclose(softmax(logits), a, atol=1e-7)
    np.testing.assert_allclose(head_average(np.stack([a, cut])), a, atol=1e-15)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: pattern_scores(band(5, 1), radius=-1), "radius must be a non-negative whole number"),
        (lambda: pattern_scores(band(5, 1), radius=1.5), "radius must be a non-negative whole number"),
        (lambda: pattern_scores(band(5, 1), top_fraction=0), "top_fraction must be in"),
        (lambda: pattern_scores(np.ones((3, 4))), "must be square"),
        (lambda: pattern_scores(-band(5, 1)), "finite non-negative weights"),
        (lambda: pattern_scores(np.zeros((3, 3))), "no mass"),
        (lambda: block_patterns({"u": {"T1": band(5, 1)}}, blocks=["T7"]), r"block T7 has no maps \(blocks with maps: T1\)"),
        (lambda: block_patterns({"u": {"T1": band(5, 1)}}, utterances=["v"]), "no maps for utterance v"),
        (lambda: block_patterns({"u": {"T1": band(5, 1)}}, radius=-2), "radius must be"),
        (lambda: block_patterns({}), "no attention maps given"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_attention_grid_figure():
    from layerprobe.plots import plot_attention_grid

    maps = {"u1": {"T1": band(30, 1)[None], "T2": columns(30, keys=(4,))[None]},
            "u2": {"T1": band(20, 2)[None], "T2": uniform(20)[None]}}  # fmt: skip
    patterns = block_patterns(maps)
    figure = patterns_figure(maps, patterns, n_utterances=2)
    panels = [ax for ax in figure.axes if ax.images]
    assert len(panels) == 4 and [ax.get_title() for ax in panels] == ["u1", "u2", "u1", "u2"]
    titles = [sub._suptitle.get_text() for sub in figure.subfigs]
    assert titles[0].startswith(f"T1: {patterns[0].pattern}\ndiag 1.00, vert ") and titles[1].startswith("T2: vertical")
    assert panels[0].images[0].get_array().shape == (30, 30)
    with pytest.raises(ConfigError, match="no attention maps to plot"):
        plot_attention_grid({})
