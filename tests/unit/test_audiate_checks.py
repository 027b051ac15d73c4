"""``audiate``: a store of dataset examples of another model is refused; bad units are summarised.

``--examples-store`` with another model's store used to warn and write the gallery from that
model's top frames (exit 0, and the JSON did not say which store); ``--units 0-5000`` on a layer of
32 units printed every one of the 4969 bad numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")

from layerprobe.audiation.examples import examples_store_record  # noqa: E402
from layerprobe.cli import main  # noqa: E402
from layerprobe.errors import ConfigError  # noqa: E402
from layerprobe.io.store import FeatureStore  # noqa: E402
from layerprobe.models import load_model  # noqa: E402
from layerprobe.selections import describe_integers  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _store(path, **attrs):
    """A frame store of layer T1 (32 units) over two made-up utterances."""
    writer = FeatureStore.create(path, attrs={"rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0, **attrs},
                                 layer_dims={"T1": 32})  # fmt: skip
    with writer:
        for index in range(2):
            rows = np.arange(10 * 32, dtype=np.float32).reshape(10, 32) + 1000 * index
            writer.append(f"utt{index}", {"T1": rows})
        writer.finish()
    return path


@pytest.fixture(scope="module")
def wav2vec2():
    return load_model("tiny:wav2vec2")


def test_a_store_of_the_same_model_is_recorded(wav2vec2, tmp_path):
    path = _store(tmp_path / "same.h5", model="tiny:wav2vec2", weights_fingerprint=wav2vec2.weights_fingerprint)
    with FeatureStore.open(path) as store:
        assert examples_store_record(store, wav2vec2) == {
            "path": str(path.absolute()), "model": "tiny:wav2vec2", "weights_fingerprint": wav2vec2.weights_fingerprint,
        }  # fmt: skip
    # a store without a fingerprint (older extraction) is compared by the canonical model name
    path = _store(tmp_path / "old.h5", model="tiny:wav2vec2")
    with FeatureStore.open(path) as store:
        assert examples_store_record(store, wav2vec2)["weights_fingerprint"] is None


def test_a_store_of_another_model_or_other_weights_is_refused(wav2vec2, tmp_path):
    path = _store(tmp_path / "hubert.h5", model="tiny:hubert")
    with FeatureStore.open(path) as store, pytest.raises(ConfigError) as caught:
        examples_store_record(store, wav2vec2)
    assert str(caught.value) == (
        f"{path}: holds features of tiny:hubert (weights none), not of tiny:wav2vec2 (weights "
        f"{wav2vec2.weights_fingerprint[:12]}): its top frames would be another model's; give a frame store extracted "
        "with this model (layerprobe extract --model tiny:wav2vec2 --span frame)"
    )
    path = _store(tmp_path / "replaced.h5", model="tiny:wav2vec2", weights_fingerprint="ab" * 32)
    with FeatureStore.open(path) as store, pytest.raises(ConfigError, match=r"holds features of tiny:wav2vec2 \(weights abababababab\)"):
        examples_store_record(store, wav2vec2)


def _run(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    out = capsys.readouterr()
    return caught.value.code, out.out, out.err


def test_the_command_refuses_another_models_store_before_optimising_and_records_a_matching_one(wav2vec2, tmp_path, capsys):
    other = _store(tmp_path / "hubert.h5", model="tiny:hubert")
    argv = ["audiate", "--model", "tiny:wav2vec2", "--layer", "T1", "--unit", "3", "--steps", "2", "--seconds", "0.3",
            "--top-k", "2", "--samples-dir", str(tmp_path / "none"), "--no-progress"]  # fmt: skip
    code, out, err = _run([*argv, "--examples-store", str(other), "--out", str(tmp_path / "a.wav")], capsys)
    assert code == 1 and out == ""
    assert err.startswith(f"layerprobe: error: {other}: holds features of tiny:hubert (weights none), not of tiny:wav2vec2")
    assert not (tmp_path / "a.wav").exists() and not (tmp_path / "a.json").exists()
    same = _store(tmp_path / "same.h5", model="tiny:wav2vec2", weights_fingerprint=wav2vec2.weights_fingerprint)
    code, _, err = _run([*argv, "--examples-store", str(same), "--out", str(tmp_path / "b.wav")], capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["examples_store"] == {"path": str(same.absolute()), "model": "tiny:wav2vec2",
                                      "weights_fingerprint": wav2vec2.weights_fingerprint}  # fmt: skip
    assert [example["utt_id"] for example in data["examples"]] == ["utt1", "utt1"]


def test_many_bad_units_are_summarised_in_one_short_line(tmp_path, capsys):
    code, _, err = _run(["audiate", "--model", "tiny:wav2vec2", "--layer", "T1", "--units", "0-5000",
                         "--out", str(tmp_path / "g")], capsys)  # fmt: skip
    assert code == 1
    assert err == "layerprobe: error: T1 of tiny:wav2vec2 has units 0..31; got 4969 units outside that range: 32-5000\n"
    code, _, err = _run(["audiate", "--model", "tiny:wav2vec2", "--layer", "T1", "--units", "0,40,50,60,70,80,90,100,110,120,130,140",
                         "--out", str(tmp_path / "g")], capsys)  # fmt: skip
    assert code == 1
    assert err == ("layerprobe: error: T1 of tiny:wav2vec2 has units 0..31; got 11 units outside that range: "
                   "40, 50, 60, 70, 80, ... (11 values)\n")  # fmt: skip


def test_describe_integers():
    assert describe_integers([5]) == "5"
    assert describe_integers([3, 1, 2, 2, 9]) == "1-3, 9"
    assert describe_integers(list(range(0, 20, 2)), max_parts=3) == "0, 2, 4, ... (10 values)"
