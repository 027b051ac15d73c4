"""Stores paired in one analysis (train / eval splits, local / contextualized, tuning / scoring) must
come from the same model weights: a model folder whose weights changed between two extractions gives
stores under the same tag."""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np
import pytest

from layerprobe.errors import StoreError
from layerprobe.experiments.query import StoreQuery, check_same_weights, open_stores
from layerprobe.io.store import FeatureStore
from layerprobe.io.store_paths import store_path


def write(features, split, weights):
    path = store_path(features, "hand", "demo", split, 1, "contextualized", "frame")
    path.parent.mkdir(parents=True, exist_ok=True)
    attrs = {"model": "hand", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0, "weights_fingerprint": weights}
    writer = FeatureStore.create(path, attrs=attrs, layer_dims={"T0": 2})
    writer.append("u0", {"T0": np.zeros((3, 2), dtype=np.float32)})
    return writer.finish()


def test_stores_of_other_weights_are_refused_in_one_line(tmp_path):
    train = write(tmp_path / "f", "train", "a" * 64)
    dev = write(tmp_path / "f", "dev", "b" * 64)
    queries = {"train": StoreQuery.of(train), "eval": StoreQuery.of(dev)}
    with ExitStack() as stack, pytest.raises(StoreError) as caught:
        open_stores(stack, queries)
    assert str(caught.value) == (
        f"{dev}: was extracted from other model weights than {train} (weights fingerprints bbbbbbbbbbbb vs "
        "aaaaaaaaaaaa); extract both again from the same model"
    )


def test_stores_of_the_same_weights_or_without_a_fingerprint_pair(tmp_path):
    train = write(tmp_path / "f", "train", "a" * 64)
    dev = write(tmp_path / "f", "dev", "a" * 64)
    test = write(tmp_path / "f", "test", "")  # the log-mel baseline and older stores record none
    with ExitStack() as stack:
        opened = open_stores(stack, {"train": StoreQuery.of(train), "eval": StoreQuery.of(dev), "test": StoreQuery.of(test)})
        assert sorted(opened) == ["eval", "test", "train"]
        check_same_weights(opened.values())
