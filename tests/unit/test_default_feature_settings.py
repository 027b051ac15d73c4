"""An ``hf:`` folder without ``preprocessor_config.json``: a warning naming the settings assumed, and the
settings used recorded in the store.

It used to fall back to default normalisation silently: a model trained with ``do_normalize: true``
then gives other features without anyone being told.
"""

from __future__ import annotations

import json
import logging
import shutil

import pytest

pytest.importorskip("transformers")

from layerprobe.models import load_model  # noqa: E402
from layerprobe.models.tiny import build_tiny_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bare_model(tmp_path_factory):
    """A tiny wav2vec 2.0 large-style model (layer-norm conv encoder: normalised input) without
    preprocessor_config.json."""
    source = build_tiny_model("wav2vec2-large-style", root=tmp_path_factory.mktemp("tiny"))
    target = tmp_path_factory.mktemp("bare") / "w2v"
    shutil.copytree(source, target)
    assert json.loads((target / "preprocessor_config.json").read_text())["do_normalize"] is True
    (target / "preprocessor_config.json").unlink()
    return target


def test_a_folder_without_preprocessor_config_warns_with_the_settings_assumed(bare_model, caplog):
    with caplog.at_level(logging.WARNING, logger="layerprobe"):
        adapter = load_model(f"hf:{bare_model}")
    assert [record.getMessage() for record in caplog.records] == [
        f"{bare_model}: no preprocessor_config.json; assuming the Wav2Vec2FeatureExtractor settings feature_size=1, "
        "sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True (from config.json); "
        "if the model was trained with others, add its preprocessor_config.json"
    ]
    described = adapter.describe()
    assert described["feature_settings_source"] == "defaults"
    assert described["feature_settings"]["do_normalize"] is True
    assert described["feature_settings"]["sampling_rate"] == 16000


def test_a_folder_with_preprocessor_config_loads_without_a_warning(tmp_path, caplog):
    source = build_tiny_model("wav2vec2", root=tmp_path)
    with caplog.at_level(logging.WARNING, logger="layerprobe"):
        adapter = load_model(f"hf:{source}")
    assert caplog.records == []
    assert adapter.describe()["feature_settings_source"] == "preprocessor_config.json"


def test_the_store_records_the_feature_settings_used(bare_model, tmp_path):
    from layerprobe.data.corpora import open_corpus
    from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
    from layerprobe.extraction import extract
    from layerprobe.io.store import FeatureStore
    from support.corpora import make_folder_corpus

    make_folder_corpus(tmp_path / "mini", splits=("train",), per_split=2)
    corpus = open_corpus(tmp_path / "mini")
    manifest = draw_sample(corpus, "train", span="frame", rule=SamplingRule.default("frame", "train"), progress=False)
    path = write_manifest(manifest, manifest_path(tmp_path / "ds", corpus.name, "train", "frame", 1))
    report = extract(manifest, load_model(f"hf:{bare_model}"), tmp_path / "features", rep="contextualized",
                     progress=False, manifest_path=path)  # fmt: skip
    with FeatureStore.open(report.path) as store:
        model = store.attrs["config"]["model"]
    assert model["feature_settings_source"] == "defaults"
    settings = model["feature_settings"]
    assert (settings["do_normalize"], settings["return_attention_mask"], settings["sampling_rate"]) == (True, True, 16000)
