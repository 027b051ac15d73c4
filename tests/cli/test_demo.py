"""``layerprobe demo``: the offline pipeline so far, and its rerun."""

from __future__ import annotations

import pytest

from layerprobe.cli import main
from layerprobe.io.store import FeatureStore


def test_demo_runs_offline_and_reuses_its_corpus(tmp_path, capsys):
    argv = ["demo", "--out", str(tmp_path / "demo"), "--n", "12", "--no-progress"]
    with pytest.raises(SystemExit) as caught:
        main(argv)
    out = capsys.readouterr().out
    assert caught.value.code == 0
    assert out.startswith("[1/3] corpus: synthesized 12 utterances")
    features = tmp_path / "demo" / "features"
    assert sorted(p.relative_to(features).as_posix() for p in features.rglob("*.h5")) == [
        "logmel/demo_train_sample1/mel_frame.h5",
        "tiny_wav2vec2/demo_train_sample1/contextualized_frame.h5",
        "tiny_wav2vec2/demo_train_sample1/contextualized_phone.h5",
    ]
    with FeatureStore.open(tmp_path / "demo" / "features" / "tiny_wav2vec2" / "demo_train_sample1" / "contextualized_phone.h5") as store:
        assert store.layer_ids[0] == "T0" and store.n_rows("T0") == len(store.labels) > 0
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 0 and "reusing the synthesized corpus" in capsys.readouterr().out
