"""Word segmentation (layerprobe.analysis.segmentation): planted features, hand-built boundary lists,
the published loop against the vectorised grid, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import scipy.stats

from layerprobe.analysis import segmentation as seg
from layerprobe.errors import ConfigError
from layerprobe.io.alignments import Interval

RATE = 50.0


def planted(rng: np.random.Generator, n_utts: int = 12, dim: int = 16):
    """Utterances whose frames are constant within each word (and each edge silence) plus small noise."""
    frames, counts, gold, words = [], [], [], []
    for _ in range(n_utts):
        lengths = [5] + [int(n) for n in rng.integers(5, 16, size=int(rng.integers(2, 6)))] + [5]
        edges = np.cumsum([0] + lengths)
        frames.append(np.concatenate([np.repeat(rng.normal(size=(1, dim)), n, axis=0) for n in lengths]))
        counts.append(int(edges[-1]))
        intervals = [Interval(edges[i] / RATE, edges[i + 1] / RATE, "w" if 0 < i < len(lengths) - 1 else "sil") for i in range(len(lengths))]
        gold.append(seg.gold_boundaries(intervals))
        words.append(seg.gold_words(intervals))
    x = np.concatenate(frames)
    return x + 0.02 * rng.normal(size=x.shape), counts, gold, words


def test_planted_words_give_f1_and_r_value_one_under_both_conventions():
    x, counts, gold, _ = planted(np.random.default_rng(3))
    found = seg.search_grid(x, counts, gold, RATE)
    for convention in ("librispeech", "buckeye"):
        best = found[convention].score
        assert (convention, best.precision, best.recall, best.f1, best.r_value, best.os) == (convention, 1.0, 1.0, 1.0, 1.0, 0.0)
    assert found["librispeech"].score.n_gold == sum(len(g) for g in gold)
    # buckeye leaves out nothing here: every word ends before the utterance's last frame
    assert found["buckeye"].score.n_gold == sum(len(g) for g in gold)


def test_gold_boundaries_are_the_unique_ends_of_words_without_silence_markers():
    words = [Interval(0.0, 0.1, "sil"), Interval(0.1, 0.3, "the"), Interval(0.3, 0.5, "cat"), Interval(0.5, 0.6, ""),
             Interval(0.6, 0.9, "sat"), Interval(0.9, 1.0, "sp")]  # fmt: skip
    assert seg.gold_boundaries(words).tolist() == [0.1, 0.3, 0.5, 0.6, 0.9]
    assert seg.gold_words(words).tolist() == [[0.1, 0.3], [0.3, 0.5], [0.6, 0.9]]


# hand-built lists: utterance 0 gold 0.10 0.30 0.50, predictions at frames 4 5 15 30 (0.08 0.10 0.30 0.60);
# utterance 1 gold 0.20 0.24, one prediction at frame 11 (0.22)
GOLD = [np.array([0.10, 0.30, 0.50]), np.array([0.20, 0.24])]
PRED = [np.array([4, 5, 15, 30]), np.array([11])]
COUNTS = [40, 20]


def test_librispeech_convention_is_many_to_one_at_20_ms_micro_averaged():
    score = seg.score_boundaries(GOLD, PRED, COUNTS, RATE, "librispeech")
    # 0.08 (exactly 20 ms off), 0.10, 0.30 and 0.22 are correct; 0.22 finds both 0.20 and 0.24; 0.50 is missed
    assert (score.n_pred, score.n_gold, score.correct_pred, score.correct_gold) == (5, 5, 4, 4)
    assert (score.precision, score.recall) == (0.8, 0.8)
    assert score.f1 == pytest.approx(0.8)


def test_buckeye_convention_is_one_to_one_within_two_10ms_slices():
    score = seg.score_boundaries(GOLD, PRED, COUNTS, RATE, "buckeye")
    # slices: 8 takes 10, so 10 finds nothing left; 30 takes 30; 60 misses 50; 22 takes 20 only
    assert (score.n_pred, score.n_gold, score.correct_pred, score.correct_gold) == (5, 5, 3, 3)
    assert (score.precision, score.recall, score.os) == (0.6, 0.6, 0.0)
    # r1 = sqrt(0.4^2) = 0.4, r2 = (0 + 0.6 - 1) / sqrt(2) = -0.282843
    assert score.r_value == pytest.approx(0.658578644, abs=1e-9)


def test_buckeye_leaves_out_gold_boundaries_at_the_last_frame():
    # 40 frames: the last frame is 39, slice 78; a gold boundary there (or after) is the utterance end
    assert [g.tolist() for g in seg.buckeye_gold([np.array([0.1, 0.7, 0.78, 0.8])], [40], RATE)] == [[10, 70]]
    score = seg.score_boundaries([np.array([0.1, 0.78])], [np.array([5])], [40], RATE, "buckeye")
    assert (score.n_gold, score.correct_gold) == (1, 1)


def test_over_segmentation_and_r_value_hand_computed():
    # P = 0.5, R = 0.75: OS = 0.5, r1 = sqrt(0.0625 + 0.25) = 0.559017, r2 = (-0.5 + 0.75 - 1) / sqrt(2) = -0.530330
    assert seg.over_segmentation(0.5, 0.75) == 0.5
    assert seg.r_value(0.5, 0.75) == pytest.approx(1 - (0.5590169944 + 0.5303300859) / 2, abs=1e-9)
    assert math.isnan(seg.r_value(0.0, 0.0)) and math.isnan(seg.over_segmentation(0.0, 0.5))
    assert seg.r_value(1.0, 1.0) == 1.0


@pytest.mark.parametrize("convention", ["librispeech", "buckeye"])
def test_word_tokens_match_one_to_one_with_both_ends_inside_the_tolerance(convention):
    words = [np.array([[0.10, 0.30], [0.30, 0.50]])]
    # tokens [0, .1] [.1, .3] [.3, .5] [.5, .6]: two of four match, both words found
    score = seg.token_scores(words, [np.array([5, 15, 25])], [0.6], RATE, convention)
    assert (score.n_pred, score.n_gold, score.correct) == (4, 2, 2)
    assert score.f1 == pytest.approx(2 / 3)
    # a token 40 ms short of its word's end does not match
    late = seg.token_scores(words, [np.array([5, 13, 25])], [0.6], RATE, convention)
    assert late.correct == 0


def published_boundaries(z: np.ndarray, counts, distance: str, window: int, prominence: float) -> list[np.ndarray]:
    """A direct transcription of the published per-utterance loop (word_segmentation_librispeech.py),
    an utterance without peaks kept as an empty list (where the published code skips it)."""

    def average_pooling(vecs, n):
        ret = np.cumsum(vecs, axis=0)
        ret[n:] = ret[n:] - ret[:-n]
        return ret[n - 1 :] / n

    made = []
    for i in range(len(counts)):
        vecs_selected = z[sum(counts[:i]) : sum(counts[: i + 1])].astype(np.float64)
        if distance == "euclidean":
            vecs_diff = np.linalg.norm(vecs_selected[1:] - vecs_selected[:-1], axis=1)
        else:
            vecs_diff = 1 - np.sum(vecs_selected[1:] * vecs_selected[:-1], axis=1) / np.linalg.norm(vecs_selected[1:], axis=1) / np.linalg.norm(vecs_selected[:-1], axis=1)
        vecs_smoothened = average_pooling(vecs_diff, window)
        peaks, peak_dict = scipy.signal.find_peaks(vecs_smoothened, prominence=prominence)
        if peak_dict["prominences"].size == 0:
            made.append(np.zeros(0, dtype=np.int64))
            continue
        _, peaks = zip(*sorted(zip(peak_dict["prominences"], peaks), reverse=True))
        made.append(np.sort(np.array(peaks) + window // 2))
    return made


def published_counts(gold, pred, stride_sec=0.02, tolerance=0.02):
    """The published many-to-one f1_score's counts, transcribed: correct predictions, false
    predictions, gold boundaries missed; and the gold boundaries found."""
    total_tp = total_fp = total_fn = found = 0
    for seq_gt, seq_pred in zip(gold, pred):
        seq_pred = seq_pred * stride_sec
        tp = sum(any(s_g - tolerance <= s_p <= s_g + tolerance for s_g in seq_gt) for s_p in seq_pred)
        total_tp += tp
        total_fp += len(seq_pred) - tp
        missed = sum(not any(s_g - tolerance <= s_p <= s_g + tolerance for s_p in seq_pred) for s_g in seq_gt)
        total_fn += missed
        found += len(seq_gt) - missed
    return total_tp, total_fp, total_fn, found


def test_published_loop_and_vectorised_grid_give_identical_boundaries_and_scores():
    rng = np.random.default_rng(7)
    counts = [int(n) for n in rng.integers(2, 70, size=24)] + [1, 2, 17]
    x = rng.normal(size=(sum(counts), 12)).astype(np.float32)
    x[:, 3] = 0.5  # a constant dimension
    # gold off the 10 ms grid, so no prediction is exactly 20 ms from one (the published test has no slack)
    gold = [np.sort(rng.uniform(0.0, n / RATE, size=int(rng.integers(1, 6)))) for n in counts]
    z = np.zeros(x.shape)
    varying = np.arange(12) != 3
    z[:, varying] = scipy.stats.zscore(x[:, varying], axis=0)  # scipy gives nan for the constant one, layerprobe 0
    np.testing.assert_allclose(seg.zscore(x), z, atol=1e-5)
    peaks = seg.all_peaks(seg.zscore(x), counts, standardized=True)
    scores = seg.grid_counts(peaks, gold, counts, RATE, "librispeech")
    n_found = []
    for setting, score in zip(seg.GRID, scores):
        slow = published_boundaries(seg.zscore(x), counts, setting.distance, setting.window, setting.prominence)
        fast = peaks[(setting.distance, setting.window)].at(setting.prominence).per_utterance(len(counts))
        assert [b.tolist() for b in slow] == [b.tolist() for b in fast], setting
        n_found.append(sum(len(b) for b in fast))
        tp, fp, fn, found = published_counts(gold, slow)
        # precision as published; recall = gold boundaries found / gold boundaries (the published
        # tp / (tp + fn) counts correct predictions, not gold boundaries found: two predictions near one
        # gold boundary count twice)
        assert (score.correct_pred, score.n_pred, score.correct_gold, score.n_gold) == (tp, tp + fp, found, found + fn), setting
    assert n_found[0] > 200 and n_found[-1] == 0  # p = 0 finds many, p = 10 none


def test_buckeye_grid_counts_equal_one_setting_at_a_time():
    x, counts, gold, _ = planted(np.random.default_rng(5), n_utts=6)
    x = x + 0.5 * np.random.default_rng(6).normal(size=x.shape)  # noisy: imperfect segmentations
    peaks = seg.all_peaks(x, counts)
    grid = seg.grid_counts(peaks, gold, counts, RATE, "buckeye")
    for index in (0, 17, 95, 179):
        setting = seg.GRID[index]
        frames = seg.segment_frames(x, counts, distance=setting.distance, window=setting.window, prominence=setting.prominence)
        assert seg.score_boundaries(gold, frames, counts, RATE, "buckeye") == grid[index]


def test_grid_is_the_published_180_settings_in_search_order():
    assert len(seg.GRID) == 180
    assert seg.GRID[0] == seg.Setting("euclidean", 1, 0.0) and seg.GRID[6] == seg.Setting("cosine", 1, 0.0)
    assert seg.GRID[12] == seg.Setting("euclidean", 1, 1e-5) and seg.GRID[-1] == seg.Setting("cosine", 16, 10.0)
    # ties go to the first setting in grid order
    tie = [seg.BoundaryScore(2, 2, 1, 1)] * 3
    assert seg.best_setting(tie) == 0


def test_utterances_too_short_for_the_window_have_no_boundaries():
    x = np.random.default_rng(0).normal(size=(23, 4))
    frames = seg.segment_frames(x, [0, 1, 2, 20], distance="cosine", window=16, prominence=0.0)
    assert [len(f) for f in frames[:3]] == [0, 0, 0]


def test_bad_input_is_one_line_each():
    with pytest.raises(ConfigError) as caught:
        seg.zscore(np.zeros((0, 4)))
    assert str(caught.value) == "segmentation needs frames of shape (n_frames, dim) with n_frames > 0, got shape (0, 4)"
    with pytest.raises(ConfigError) as caught:
        seg.segment_frames(np.zeros((5, 2)), [2, 2], distance="euclidean", window=1, prominence=0.0)
    assert str(caught.value) == "utterance frame counts must be non-negative and sum to the 5 frames given, got a sum of 4"
    with pytest.raises(ConfigError) as caught:
        seg.segment_frames(np.zeros((5, 2)), [5], distance="manhattan", window=1, prominence=0.0)
    assert str(caught.value) == "distance 'manhattan' is not one of euclidean, cosine"
    with pytest.raises(ConfigError) as caught:
        seg.score_boundaries(GOLD, PRED, COUNTS, RATE, "timit")
    assert str(caught.value) == "convention 'timit' is not one of librispeech, buckeye"


def test_an_utterance_without_peaks_keeps_the_later_ones_paired_with_their_own_gold():
    # the published loop skips an utterance without peaks in the predictions only, pairing the next
    # prediction list with this utterance's gold; here utterance 1's boundary at 0.10 s meets its own gold
    gold = [np.array([0.5]), np.array([0.1])]
    for convention in ("librispeech", "buckeye"):
        score = seg.score_boundaries(gold, [np.zeros(0, dtype=np.int64), np.array([5])], [40, 40], RATE, convention)
        assert (score.n_pred, score.n_gold, score.correct_pred, score.correct_gold) == (1, 2, 1, 1), convention
    flat = np.zeros((30, 16))  # no change: no peak at all
    x, counts, planted_gold, _ = planted(np.random.default_rng(11), n_utts=3)
    found = seg.search_grid(np.concatenate([flat + x.mean(axis=0), x]), [30, *counts], [np.array([0.2]), *planted_gold], RATE)
    best = found["librispeech"].score
    assert (best.precision, best.correct_gold, best.n_gold) == (1.0, best.n_gold - 1, sum(len(g) for g in planted_gold) + 1)


def test_plot_draws_f1_of_segmentation_rows_by_default():
    from layerprobe.plots import default_metric

    metrics = ("precision", "recall", "f1", "os", "r_value", "token_f1")
    table = [{"model": "m", "corpus": "c", "experiment": experiment, "layer": "T1", "split": "test", "sample": 1, "seed": 0,
              "metric": metric, "value": 0.5}
             for experiment in ("segment@librispeech", "segment@buckeye+same-data") for metric in metrics]  # fmt: skip
    assert default_metric(table) == "f1"


def test_random_boundaries_keep_each_utterances_count_and_are_seeded():
    pred = [np.array([3, 9, 12]), np.array([], dtype=np.int64), np.array([1, 2, 3, 4, 5, 6])]
    made = seg.random_boundaries(pred, [20, 5, 4])
    assert [len(b) for b in made] == [3, 0, 4]  # no more boundaries than frames
    assert all(np.all(np.diff(b) > 0) and (len(b) == 0 or (b.min() >= 0 and b.max() < n)) for b, n in zip(made, [20, 5, 4]))
    assert [b.tolist() for b in seg.random_boundaries(pred, [20, 5, 4])] == [b.tolist() for b in made]
    assert made[2].tolist() == [0, 1, 2, 3]


def test_planted_boundaries_beat_their_chance_level():
    x, counts, gold, _ = planted(np.random.default_rng(3), n_utts=6)
    found = seg.search_grid(x, counts, gold, RATE)["librispeech"]
    frames = seg.segment_frames(x, counts, distance=found.setting.distance, window=found.setting.window,
                                prominence=found.setting.prominence)  # fmt: skip
    chance = seg.score_boundaries(gold, seg.random_boundaries(frames, counts), counts, RATE, "librispeech")
    assert found.score.f1 > 0.99 and chance.f1 < 0.6
