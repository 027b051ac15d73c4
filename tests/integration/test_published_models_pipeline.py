"""AV-HuBERT (25 Hz) and FaST-VGS (50 Hz) tiny checkpoints through extraction and the CCA experiments.

A synthesized corpus, its frame / phone / word samples, every layer of each model extracted into
stores, the log-mel baseline, then ``cca_mel``, ``cca_phone`` and ``cca_word`` over all layers.  The
40 ms frames of AV-HuBERT must reach the store's frame rates, the segment pooling (phones: middle
third; words) and the pairing with the 10 ms log-mel frames (mel frame ``4 i`` with model frame ``i``).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from layerprobe.data.corpora import open_corpus
from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
from layerprobe.data.synth import synthesize_corpus
from layerprobe.experiments.cca import run_cca
from layerprobe.extraction import extract
from layerprobe.features.frames import segment_frames
from layerprobe.io.audio import load_audio as read_audio
from layerprobe.io.store import FeatureStore
from layerprobe.models import load_model
from support.published_checkpoints import write_tiny_avhubert, write_tiny_fastvgs

SPLIT = "train"
RULES = {
    "frame": {},
    "phone": {"min_per_label": 3, "max_per_label": 8},
    "word": {"n_labels": 200, "min_per_label": 1, "max_per_label": 10},
}
RATES = {"avhubert": 25.0, "fastvgs": 50.0}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("published")
    synthesize_corpus(root / "synth", n=14, seed=5, progress=False)
    corpus = open_corpus(root / "synth")
    manifests = {}
    for span, counts in RULES.items():
        manifest = draw_sample(corpus, SPLIT, span=span, rule=SamplingRule.default(span, SPLIT, **counts), progress=False)
        manifests[span] = (manifest, write_manifest(manifest, manifest_path(root / "data_samples", corpus.name, SPLIT, span, 1)))
    specs = {
        "avhubert": f"avhubert:{write_tiny_avhubert(root / 'models' / 'avhubert.pt')}",
        "fastvgs": f"fastvgs:{write_tiny_fastvgs(root / 'models' / 'fastvgs', plus=True, encoder_layers=3)}",
    }
    features = root / "features"
    paths = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        manifest, path = manifests["frame"]
        paths["mel"] = extract(manifest, None, features, rep="mel", progress=False, manifest_path=path).path
        for family, spec in specs.items():
            adapter = load_model(spec)
            for span, (manifest, path) in manifests.items():
                paths[family, span] = extract(manifest, adapter, features, rep="contextualized", progress=False, manifest_path=path).path
    finally:
        torch.set_num_threads(threads)
    return SimpleNamespace(root=root, corpus=corpus, features=features, manifests=manifests, specs=specs, paths=paths)


def _waveform(data, utterance):
    manifest = data.manifests["frame"][0]
    return read_audio(manifest.audio_path(utterance))


@pytest.mark.parametrize("family", list(RATES))
def test_frame_stores_hold_every_layer_at_the_model_rate(data, family):
    adapter = load_model(data.specs[family])
    manifest = data.manifests["frame"][0]
    with FeatureStore.open(data.paths[family, "frame"]) as store:
        assert store.layer_ids == list(adapter.layer_ids)
        assert store.frame_rate_hz == RATES[family]
        assert {store.layer_frame_rate(layer) for layer in store.layer_ids} == {RATES[family]}
        starts, counts = store.row_ranges("T0")
        utterance = manifest.utterances[0]
        assert store.utterance_ids[0] == utterance.utt_id
        wave = _waveform(data, utterance)
        assert counts[0] == adapter.n_frames(wave.size)
        expected = adapter.forward(wave).hidden
        for layer in adapter.layer_ids:
            np.testing.assert_allclose(store.read(layer, slice(starts[0], starts[0] + counts[0])), expected[layer], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("span", ["phone", "word"])
def test_segments_pool_the_40_ms_frames(data, span):
    """A segment's row is the mean of the 25 Hz frames DESIGN.md's frame rule gives it."""
    adapter = load_model(data.specs["avhubert"])
    manifest = data.manifests[span][0]
    utterance = manifest.utterances[0]
    frames = adapter.forward(read_audio(manifest.audio_path(utterance))).hidden["T2"]
    with FeatureStore.open(data.paths["avhubert", span]) as store:
        assert store.layer_frame_rate("T2") == 25.0
        rows = store.read("T2", slice(0, len(utterance.segments)))
    for row, segment in zip(rows, utterance.segments):
        first, end = segment_frames(segment.start, segment.end, frames.shape[0], middle_third=span == "phone", frame_rate_hz=25.0)
        np.testing.assert_allclose(row, frames[first:end].mean(axis=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", list(RATES))
def test_cca_mel_pairs_every_layer_with_the_mel_frames_at_its_rate(data, family):
    scores = run_cca("cca_mel", features=data.features, model=data.specs[family], corpus=data.corpus.name, split=SPLIT, progress=False)
    adapter = load_model(data.specs[family])
    assert [score.layer for score in scores] == list(adapter.layer_ids[1:])  # T1..TL, as published
    stride = int(100 / RATES[family])
    with FeatureStore.open(data.paths[family, "frame"]) as model_store, FeatureStore.open(data.paths["mel"]) as mel:
        _, model_counts = model_store.row_ranges("T1")
        mel_counts = dict(zip(mel.utterance_ids, mel.row_ranges("mel")[1]))
        pairs = sum(min(int(n), math.ceil(int(mel_counts[utt]) / stride)) for utt, n in zip(model_store.utterance_ids, model_counts))
    for score in scores:
        assert score.result.n_rows == pairs
        assert score.result.dims == (80, 32)
        assert np.isfinite(score.score) and -1.0 <= score.score <= 1.0


@pytest.mark.parametrize("family", list(RATES))
@pytest.mark.parametrize("experiment", ["cca_phone", "cca_word"])
def test_cca_phone_and_word_score_every_layer(data, family, experiment):
    scores = run_cca(experiment, features=data.features, model=data.specs[family], corpus=data.corpus.name, split=SPLIT, progress=False)
    adapter = load_model(data.specs[family])
    assert [score.layer for score in scores] == list(adapter.layer_ids)
    values = [score.score for score in scores]
    assert all(np.isfinite(value) and -1.0 <= value <= 1.0 for value in values)
    assert len(set(values)) == len(values)


@pytest.mark.parametrize("family", list(RATES))
def test_attention_maps_are_stored_at_the_model_rate(data, family, tmp_path):
    adapter = load_model(data.specs[family])
    manifest, path = data.manifests["frame"]
    report = extract(manifest, adapter, tmp_path, rep="contextualized", layers="T1", attention=1, pre_softmax=True,
                     progress=False, manifest_path=path)  # fmt: skip
    utterance = manifest.utterances[0]
    expected = adapter.forward(read_audio(manifest.audio_path(utterance)), layers=[], attention=True, pre_softmax=True)
    frames = adapter.n_frames(read_audio(manifest.audio_path(utterance)).size)
    with FeatureStore.open(report.path) as store:
        assert store.frame_rate_hz == RATES[family]
        for block in [f"T{i + 1}" for i in range(adapter.num_layers)]:
            maps = store.attention(utterance.utt_id, block)
            assert maps.shape == (4, frames, frames)
            np.testing.assert_allclose(maps.astype(np.float32), expected.attention[block], rtol=2e-3, atol=1e-3)
            np.testing.assert_allclose(store.attention_padding(utterance.utt_id, block), expected.attention_padding[block], atol=1e-6)
            assert store.attention(utterance.utt_id, block, logits=True).shape == (4, frames, frames)
        assert store.attention(manifest.utterances[1].utt_id, "T1") is None
