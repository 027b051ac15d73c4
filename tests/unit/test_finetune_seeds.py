"""The mean and std rows of fine-tuning cover every seed of the run in the result table.

``finetune --seeds 0,1`` then ``--seeds 0`` into the same table used to replace ``cer_mean`` /
``cer_std`` with one-seed values (std 0.0) while seed 1's rows stayed beside them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")

from layerprobe.models.tiny import load_tiny_model  # noqa: E402
from layerprobe.results import ResultTable  # noqa: E402
from layerprobe.training.data import WaveformCTCData  # noqa: E402
from layerprobe.training.finetune import finetune  # noqa: E402
from layerprobe.training.trainer import TrainConfig  # noqa: E402
from support.corpora import make_folder_corpus  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tones")
    make_folder_corpus(root, splits=("train", "dev", "test"), per_split=3, seed=3)
    return tuple(WaveformCTCData(root, split, preload=True) for split in ("train", "dev", "test"))


def _values(table: ResultTable, metric: str) -> dict[int, float]:
    return {row["seed"]: row["value"] for row in table.select(metric=metric)}


def test_a_rerun_with_fewer_seeds_keeps_the_aggregates_over_all_seeds(tiny_root, data, tmp_path, caplog):
    adapter = load_tiny_model("wav2vec2", root=tiny_root)
    config = TrainConfig(epochs=1, freeze_epochs=0, peak_lr=1e-3, max_batch_frames=24_000)
    results = tmp_path / "ft.csv"
    common = dict(config=config, out_dir=tmp_path / "ft", results=results, progress=False)
    both = finetune(adapter, *data, seeds=(0, 1), **common)
    cers = [both.test_metrics[seed]["cer"] for seed in (0, 1)]
    again = finetune(adapter, *data, seeds=(0,), **common)
    assert again.test_metrics[0] == both.test_metrics[0]
    table = ResultTable.open(results)
    assert _values(table, "cer") == {0: cers[0], 1: cers[1]}
    assert _values(table, "cer_mean") == {0: pytest.approx(np.mean(cers))}
    assert _values(table, "cer_std") == {0: pytest.approx(np.std(cers, ddof=1))}
    assert table.metadata(table.select(seed=0, metric="cer")[0])["details"]["aggregate_over_seeds"] == [0, 1]
    # seed 1 alone: the aggregate stays filed under seed 0, over both seeds
    finetune(adapter, *data, seeds=(1,), **common)
    table = ResultTable.open(results)
    assert _values(table, "cer_mean") == {0: pytest.approx(np.mean(cers))}
    assert "aggregate_over_seeds" not in table.metadata(table.select(seed=1, metric="cer")[0])["details"]
    assert sorted(row["metric"] for row in table.select(seed=1)) == ["cer", "wer"]
    # seeds of other options are not averaged with this run's: their rows go, with a warning
    other = TrainConfig(epochs=1, freeze_epochs=0, peak_lr=2e-3, max_batch_frames=24_000)
    with caplog.at_level(logging.WARNING, logger="layerprobe"):
        alone = finetune(adapter, *data, seeds=(0,), **{**common, "config": other, "out_dir": tmp_path / "other"})
    table = ResultTable.open(results)
    assert sorted(table.unique("seed")) == [0]
    assert _values(table, "cer_mean") == {0: alone.test_metrics[0]["cer"]} and _values(table, "cer_std") == {0: 0.0}
    assert [record.getMessage() for record in caplog.records] == [
        f"{results}: removing the rows of seed(s) 1 of finetune: they were run with other options or model weights, "
        "and the mean and std now cover seed(s) 0"
    ]


def test_remove_runs_removes_rows_and_metadata_and_survives_a_concurrent_save(tmp_path):
    path = tmp_path / "r.csv"
    base = {"model": "m", "corpus": "c", "experiment": "e", "layer": "T1", "split": "s", "sample": 0, "metric": "x"}
    table = ResultTable.open(path)
    table.add([{**base, "seed": 0, "value": 1.0}], options={"a": 0})
    table.add([{**base, "seed": 1, "value": 2.0}], options={"a": 1})
    table.save()
    mine = ResultTable.open(path)
    theirs = ResultTable.open(path)
    theirs.add([{**base, "seed": 2, "value": 3.0}])
    theirs.save()
    assert mine.remove_runs([{**base, "seed": 1}]) == 1
    assert mine.metadata({**base, "seed": 1}) is None
    mine.save()
    assert [(row["seed"], row["value"]) for row in ResultTable.open(path)] == [(0, 1.0), (2, 3.0)]
    assert Path(path).with_suffix(".json").read_text().count('"seed": 1') == 0
