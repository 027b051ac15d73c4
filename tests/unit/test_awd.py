"""Acoustic word discrimination: the chunked same-different AP against sklearn, planted signals, bad input,
and ``run_awd`` on word stores written by hand."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from layerprobe.analysis.awd import cosine_distances, same_different_ap
from layerprobe.errors import ConfigError, StoreError
from layerprobe.experiments.awd import MIN_SAME_PAIRS, awd_layers, run_awd
from layerprobe.io.store import FeatureStore
from layerprobe.io.store_paths import store_path
from layerprobe.results import ResultTable


def slow_ap(features, words, speakers=None):
    """The transcription: every pair's distance in one matrix, sklearn's AP of -distance.

    With speakers: same-word different-speaker pairs (positive) and different-word pairs (negative),
    same-word same-speaker pairs left out.
    """
    n = len(words)
    words = np.asarray(words)
    upper = np.triu_indices(n, 1)
    distances = cosine_distances(features)[upper]
    same = (words[:, None] == words[None, :])[upper]
    if speakers is None:
        return average_precision_score(same, -distances)
    speakers = np.asarray(speakers)
    cross = (speakers[:, None] != speakers[None, :])[upper]
    keep = ~same | cross
    return average_precision_score(same[keep], -distances[keep])


@pytest.mark.parametrize("seed", range(6))
def test_chunked_ap_equals_sklearn_on_every_pair(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 260))
    words = rng.integers(0, int(rng.integers(2, 40)), n).astype(str)
    speakers = rng.integers(0, 4, n)
    if seed % 2:
        features = rng.normal(size=(n, 8))
    else:  # few distinct vectors: many tied distances, within and across same/different pairs
        features = rng.integers(0, 2, size=(n, 3)).astype(float) + np.array([1.0, 0.0, 0.0])
    block = int(rng.integers(1, 70))
    result = same_different_ap(features, words, speakers=speakers, block=block)
    assert abs(result.ap - slow_ap(features, words)) < 1e-9
    assert abs(result.ap_cross_speaker - slow_ap(features, words, speakers)) < 1e-9
    counts = np.unique(words, return_counts=True)[1]
    assert result.n_same == int((counts * (counts - 1) // 2).sum())
    assert result.n_same + result.n_different == n * (n - 1) // 2
    assert result.n_words == len(counts) and result.n_segments == n and result.n_speakers == len(np.unique(speakers))


def test_block_size_does_not_change_the_ap():
    rng = np.random.default_rng(3)
    features, words = rng.normal(size=(90, 5)), rng.integers(0, 12, 90)
    scores = {same_different_ap(features, words, block=block).ap for block in (1, 7, 89, 90, 4096)}
    assert max(scores) - min(scores) < 1e-12


def test_one_hot_word_features_give_ap_one():
    rng = np.random.default_rng(0)
    words = rng.integers(0, 15, 400)
    speakers = rng.integers(0, 5, 400)
    features = np.eye(15)[words] + 0.0
    result = same_different_ap(features, words.astype(str), speakers=speakers, block=64)
    assert result.ap == 1.0
    assert result.ap_cross_speaker == 1.0


def test_random_features_give_ap_near_the_same_pair_rate():
    rng = np.random.default_rng(1)
    words = rng.integers(0, 20, 1500)
    result = same_different_ap(rng.normal(size=(1500, 16)), words, block=256)
    assert 0.045 < result.same_rate < 0.055  # about 1/20
    assert abs(result.ap - result.same_rate) < 0.01


def test_speaker_features_score_high_overall_but_not_across_speakers():
    """Features that encode only the speaker: same-speaker pairs rank first; across speakers it is chance."""
    rng = np.random.default_rng(2)
    words, speakers = rng.integers(0, 10, 800), rng.integers(0, 2, 800)
    features = np.eye(2)[speakers] + 0.01 * rng.normal(size=(800, 2))
    result = same_different_ap(features, words, speakers=speakers)
    assert result.ap_cross_speaker < result.same_rate + 0.03
    assert result.n_same_cross_speaker < result.n_same


def test_no_cross_speaker_pair_gives_no_cross_speaker_ap():
    features = np.eye(2)[[0, 0, 1]] + 0.0
    result = same_different_ap(features, ["a", "a", "b"], speakers=["s", "s", "t"])
    assert result.ap == 1.0 and result.ap_cross_speaker is None and result.n_same_cross_speaker == 0


@pytest.mark.parametrize(
    "features, words, speakers, message",
    [
        (np.eye(3), ["a", "b", "c"], None, "no word has two segments among the 3 segments (3 words): there is no same-word pair to rank"),
        (np.ones((1, 2)), ["a"], None, "the same-different task needs at least 2 word segments, got 1"),
        (np.ones((3, 2)), ["a", "a"], None, "words: 2 given for 3 segments; give one per feature row"),
        (np.ones((3, 2)), ["a", "a", "b"], ["s"], "speakers: 1 given for 3 segments; give one per feature row"),
        (np.ones(3), ["a", "a", "b"], None, "features must be a 2-d array (segments x dims), got shape (3,)"),
        (np.array([[1.0, 0], [0, 0], [1, 1]]), ["a", "a", "b"], None, "1 feature rows are all zeros; the cosine distance is undefined for them"),
        (np.array([[1.0, np.nan], [0, 1], [1, 1]]), ["a", "a", "b"], None, "features hold NaN or infinite values; the cosine distance is undefined for them"),
    ],
)
def test_bad_input_is_one_line(features, words, speakers, message):
    with pytest.raises(ConfigError) as caught:
        same_different_ap(features, words, speakers=speakers)
    assert str(caught.value) == message


def test_bad_block_is_refused():
    with pytest.raises(ConfigError) as caught:
        same_different_ap(np.eye(2)[[0, 0]] + 0.0, ["a", "a"], block=0)
    assert str(caught.value) == "block must be a positive integer, got 0"


# --------------------------------------------------------------------------------------------------
# run_awd on word stores written by hand


ATTRS = {"model": "hand", "rep": "contextualized", "span": "word", "frame_rate_hz": 50.0}


def store_file(tmp_path):
    """Where extraction would put the word store (run_awd reads the corpus and split from the path)."""
    path = store_path(tmp_path / "features", "hand", "demo", "train", 1, "contextualized", "word")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_store(path, utterances, rows_of):
    """A word store: utterance -> labels; ``rows_of(layer, labels)`` -> its rows (n, 3)."""
    writer = FeatureStore.create(path, attrs=ATTRS, layer_dims={"T0": 3, "T1": 3})
    for utt, labels in utterances.items():
        segments = [(label, 0.1 * i, 0.1 * i + 0.05) for i, label in enumerate(labels)]
        writer.append(utt, {layer: rows_of(layer, labels) for layer in ("T0", "T1")}, segments=segments)
    return writer.finish()


CODES = {"the": 0, "cat": 1, "dog": 2}
UTTERANCES = {"spk1-u0": ["the", "cat", "sil", "The"], "spk2-u1": ["dog", "the", "cat"], "spk2-u2": ["dog", "<unk>", "the"]}


def rows_of(layer, labels):
    """T1: one-hot words (``sil``/``<unk>`` rows are ones); T0: the same vector for every row but jittered."""
    rng = np.random.default_rng(len(labels))
    if layer == "T1":
        return np.stack([np.eye(3)[CODES[label.lower()]] if label.lower() in CODES else np.ones(3) for label in labels])
    return np.ones((len(labels), 3)) + 0.1 * rng.normal(size=(len(labels), 3))


def test_run_awd_scores_every_layer_and_records_the_counts(tmp_path, caplog):
    path = write_store(store_file(tmp_path), UTTERANCES, rows_of)
    table_path = tmp_path / "awd.csv"
    with caplog.at_level(logging.WARNING, logger="layerprobe"):
        scores = run_awd(path, speaker_pattern=r"^(spk\d)-", results=table_path, progress=False)
    assert [score.layer for score in scores] == ["T0", "T1"]
    t1 = scores[1].result
    # 8 word segments: the x4, cat x2, dog x2 -> 6 + 1 + 1 same pairs of 28
    assert (t1.n_segments, t1.n_words, t1.n_same, t1.n_different) == (8, 3, 8, 20)
    assert t1.ap == 1.0 and t1.ap_cross_speaker == 1.0
    # cross-speaker same pairs: the (2 of spk1 x 2 of spk2) + cat (1 x 1) + dog (0)
    assert (t1.n_same_cross_speaker, t1.n_speakers) == (5, 2)
    table = ResultTable.open(table_path)
    rows = table.select(layer="T1")
    assert sorted((row["experiment"], row["metric"], row["value"]) for row in rows) == [
        ("awd", "ap", 1.0), ("awd", "ap_chance", 8 / 28), ("awd", "ap_cross_speaker", 1.0)
    ]  # fmt: skip
    details = table.metadata(rows[0])["details"]
    assert details["n_same"] == 8 and details["n_different"] == 20 and details["n_same_cross_speaker"] == 5
    assert details["same_rate"] == 8 / 28
    assert details["warnings"][0] == ("awd T1: only 8 same-word pairs among 8 segments: the AP rests on few pairs; draw a larger data sample")
    assert MIN_SAME_PAIRS == 100
    assert "awd T0: only 8 same-word pairs among 8 segments" in caplog.text


def test_run_awd_without_speakers_gives_no_cross_speaker_row(tmp_path):
    path = write_store(store_file(tmp_path), UTTERANCES, rows_of)
    table_path = tmp_path / "awd.csv"
    run_awd(path, layers="T1", speaker_pattern=r"^(spk\d)-", results=table_path, progress=False)
    run_awd(path, layers="T1", results=table_path, progress=False)  # a rerun without speakers replaces both rows
    assert [row["metric"] for row in ResultTable.open(table_path).rows] == ["ap", "ap_chance"]


def test_run_awd_refuses_a_store_without_a_repeated_word(tmp_path):
    path = write_store(store_file(tmp_path), {"u0": ["the", "cat", "sil"], "u1": ["dog"]}, rows_of)
    with pytest.raises(ConfigError) as caught:
        run_awd(path, progress=False)
    assert str(caught.value) == (f"no word has two segments among the 3 segments of {path}: there is no same-word pair to rank; "
                                 "draw a larger data sample")  # fmt: skip


def test_run_awd_refuses_a_store_of_silence_only(tmp_path):
    path = write_store(store_file(tmp_path), {"u0": ["sil", "<unk>"]}, rows_of)
    with pytest.raises(StoreError) as caught:
        run_awd(path, progress=False)
    assert str(caught.value) == f"{path}: holds no word segments (no row with a word label)"


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("(", "--speaker-pattern '(' is not a regular expression (missing ), unterminated subpattern at position 0); give e.g. '^(\\d+)-'"),
        ("^x", "--speaker-pattern '^x' does not match utterance id 'spk1-u0'; give a pattern whose first group is the speaker"),
    ],
)
def test_run_awd_bad_speaker_pattern(tmp_path, pattern, message):
    path = write_store(store_file(tmp_path), UTTERANCES, rows_of)
    with pytest.raises(ConfigError) as caught:
        run_awd(path, speaker_pattern=pattern, progress=False)
    assert str(caught.value) == message


def test_memory_stays_far_below_the_n_by_n_matrix():
    """3,000 segments: the distance matrix alone would be 72 MB; tiles of 256 and few same pairs need < 8 MB."""
    import tracemalloc

    rng = np.random.default_rng(4)
    features, words = rng.normal(size=(3000, 16)), rng.integers(0, 1000, 3000)
    tracemalloc.start()
    try:
        result = same_different_ap(features, words, block=256)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.n_same + result.n_different == 3000 * 2999 // 2
    assert peak < 8e6, peak


def test_plot_draws_ap_by_default_when_awd_rows_have_both_metrics(tmp_path):
    from layerprobe.plots import default_metric

    path = write_store(store_file(tmp_path), UTTERANCES, rows_of)
    run_awd(path, speaker_pattern=r"^(spk\d)-", results=tmp_path / "awd.csv", progress=False)
    table = ResultTable.open(tmp_path / "awd.csv")
    assert {row["metric"] for row in table.rows} == {"ap", "ap_chance", "ap_cross_speaker"}
    assert default_metric(table) == "ap"


def test_plot_draws_the_same_pair_rate_as_the_chance_line(tmp_path):
    from layerprobe.plots import plot_layer_trend

    path = write_store(store_file(tmp_path), UTTERANCES, rows_of)
    run_awd(path, results=tmp_path / "awd.csv", progress=False)
    ax = plot_layer_trend(ResultTable.open(tmp_path / "awd.csv"), experiment="awd")
    chance = [line for line in ax.get_lines() if line.get_gid() == "chance"]
    assert len(chance) == 1 and chance[0].get_label() == "chance (same-word pair rate)"
    assert list(chance[0].get_ydata()) == pytest.approx([8 / 28] * len(chance[0].get_ydata()))


def test_the_all_words_store_is_read_with_span_all_words_and_its_rows_are_named_apart(tmp_path):
    word = write_store(store_file(tmp_path), UTTERANCES, rows_of)
    path = store_path(tmp_path / "features", "hand", "demo", "train", 1, "contextualized", "all_words")
    writer = FeatureStore.create(path, attrs={**ATTRS, "span": "all_words"}, layer_dims={"T0": 3, "T1": 3})
    for utt, labels in UTTERANCES.items():
        segments = [(label, 0.1 * i, 0.1 * i + 0.05) for i, label in enumerate(labels)]
        writer.append(utt, {layer: rows_of(layer, labels) for layer in ("T0", "T1")}, segments=segments)
    writer.finish()
    from_words = run_awd(word, progress=False)
    from_all = run_awd(features=tmp_path / "features", model="hand", corpus="demo", split="train", span="all_words",
                       results=tmp_path / "awd.csv", progress=False)  # fmt: skip
    assert [s.result.ap for s in from_all] == [s.result.ap for s in from_words]  # the same rows, the same scores
    assert {row["experiment"] for row in ResultTable.open(tmp_path / "awd.csv").rows} == {"awd@all_words"}
    assert awd_layers(features=tmp_path / "features", model="hand", corpus="demo", split="train", span="all_words") == ["T0", "T1"]
    with pytest.raises(ConfigError, match=r"^--span must be one of word, all_words, got 'phone'$"):
        run_awd(word, span="phone", progress=False)
