"""Extraction end to end: parity with direct transformers forwards, pooling, resume after a kill, shards.

The oracle for parity is transformers itself, used the way its documentation shows (the model's
feature extractor, then ``model(..., output_hidden_states=True)``), independently of the adapters.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from layerprobe.data.corpora import open_corpus
from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
from layerprobe.data.synth import synthesize_corpus
from layerprobe.errors import AudioError, ConfigError
from layerprobe.extraction import Shard, extract
from layerprobe.features.frames import segment_frames
from layerprobe.io.audio import load_audio
from layerprobe.io.store import FeatureStore, merge_shards
from layerprobe.models import load_model

FAMILIES = ["wav2vec2", "hubert", "wavlm", "data2vec-audio", "whisper"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("extract") / "synth"
    synthesize_corpus(root, n=10, seed=3, progress=False)
    return open_corpus(root)


@pytest.fixture(scope="module")
def manifests(corpus, tmp_path_factory):
    """Frame, phone and word samples of the train split (8 utterances)."""
    samples_dir = tmp_path_factory.mktemp("samples")
    rules = {
        "frame": SamplingRule.default("frame", "train"),
        "phone": SamplingRule.default("phone", "train", min_per_label=2, max_per_label=4),
        "word": SamplingRule.default("word", "train", n_labels=20, min_per_label=1, max_per_label=3),
    }
    out = {}
    for span, rule in rules.items():
        manifest = draw_sample(corpus, "train", span=span, rule=rule, progress=False)
        write_manifest(manifest, manifest_path(samples_dir, corpus.name, "train", span, 1))
        out[span] = manifest
    return out


def direct_hidden_states(model_dir: Path, waveform: np.ndarray) -> tuple[list[np.ndarray], "torch.nn.Module", dict]:
    """transformers' own forward: the feature extractor, then output_hidden_states=True."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, WhisperModel

    config = AutoConfig.from_pretrained(model_dir)
    extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    inputs = extractor(waveform, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        if config.model_type == "whisper":
            model = WhisperModel.from_pretrained(model_dir, torch_dtype=torch.float32).get_encoder().eval()
            out = model(inputs["input_features"], output_hidden_states=True)
        else:
            model = AutoModel.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
            out = model(inputs["input_values"], output_hidden_states=True)
    return [h[0].numpy() for h in out.hidden_states], model, dict(inputs)


@pytest.mark.parametrize("family", FAMILIES)
def test_stored_frames_equal_a_direct_transformers_forward(family, manifests, tmp_path):
    adapter = load_model(f"tiny:{family}")
    report = extract(manifests["frame"], adapter, tmp_path, rep="contextualized", progress=False)
    model_dir = Path(adapter.describe()["model_id"])
    with FeatureStore.open(report.path) as store:
        assert store.layer_ids == [f"T{i}" for i in range(len(store.layer_ids))]
        for utterance in manifests["frame"].utterances[:3]:
            waveform = load_audio(manifests["frame"].audio_path(utterance))
            direct, _, _ = direct_hidden_states(model_dir, waveform)
            n = adapter.n_frames(waveform.size)
            for index, layer in enumerate(store.layer_ids):
                stored = store.utterance_rows(utterance.utt_id, layer)
                assert stored.shape == (n, direct[index].shape[1])
                np.testing.assert_allclose(stored, direct[index][:n], atol=1e-5, rtol=1e-5)


def test_local_rep_pools_conv_layers_onto_the_10ms_grid(manifests, tmp_path):
    adapter = load_model("tiny:wav2vec2")
    report = extract(manifests["frame"], adapter, tmp_path, rep="local", progress=False)
    utterance = manifests["frame"].utterances[0]
    waveform = load_audio(manifests["frame"].audio_path(utterance))
    _, model, inputs = direct_hidden_states(Path(adapter.describe()["model_id"]), waveform)
    conv_outputs = []
    hooks = [layer.register_forward_hook(lambda m, i, o: conv_outputs.append(o[0].T.numpy())) for layer in model.feature_extractor.conv_layers]
    try:
        with torch.no_grad():
            model.feature_extractor(inputs["input_values"])
    finally:
        for hook in hooks:
            hook.remove()
    with FeatureStore.open(report.path) as store:
        assert store.frame_rate_hz == 100.0 and store.layer_frame_rate("C7") == 50.0
        kernels = [(79, 32), (39, 16), (19, 8), (9, 4), (4, 2), (2, 1)]
        for index, (kernel, stride) in enumerate(kernels):
            stored = store.utterance_rows(utterance.utt_id, f"C{index + 1}")
            frames = conv_outputs[index]
            assert stored.shape[0] == (frames.shape[0] - kernel) // stride + 1
            for row in (0, stored.shape[0] // 2, stored.shape[0] - 1):
                np.testing.assert_allclose(stored[row], frames[row * stride : row * stride + kernel].mean(0), atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(store.utterance_rows(utterance.utt_id, "C7"), conv_outputs[6], atol=1e-5, rtol=1e-5)
        counts = {store.utterance_rows(utterance.utt_id, f"C{i}").shape[0] for i in range(1, 7)}
        assert len(counts) == 1  # C1..C6 share the 10 ms grid


@pytest.mark.parametrize("span", ["phone", "word"])
def test_pooled_rows_are_means_of_the_right_frames(span, manifests, tmp_path):
    adapter = load_model("tiny:hubert")
    frames = extract(manifests["frame"], adapter, tmp_path / "f", rep="contextualized", progress=False)
    pooled = extract(manifests[span], adapter, tmp_path / "p", rep="contextualized", progress=False)
    with FeatureStore.open(frames.path) as frame_store, FeatureStore.open(pooled.path) as store:
        labels = list(store.labels)
        expected_labels = [s.label for u in manifests[span].utterances for s in u.segments]
        assert labels == expected_labels
        row = 0
        for utterance in manifests[span].utterances:
            utterance_frames = frame_store.utterance_rows(utterance.utt_id, "T2")
            for segment in utterance.segments:
                first, end = segment_frames(segment.start, segment.end, utterance_frames.shape[0], middle_third=span == "phone")
                np.testing.assert_allclose(store.read("T2", slice(row, row + 1))[0], utterance_frames[first:end].mean(0), atol=1e-5, rtol=1e-5)
                row += 1
        assert row == store.n_rows("T2")


def test_mel_rep_needs_no_model(manifests, tmp_path):
    report = extract(manifests["frame"], None, tmp_path, rep="mel", progress=False)
    assert report.path.parent.parent.name == "logmel" and report.path.name == "mel_frame.h5"
    with FeatureStore.open(report.path) as store:
        utterance = manifests["frame"].utterances[0]
        rows = store.utterance_rows(utterance.utt_id, "mel")
        assert rows.shape == (1 + round(utterance.duration_s * 16000) // 160, 80)


def test_bad_input(manifests, tmp_path):
    adapter = load_model("tiny:wav2vec2")
    with pytest.raises(ConfigError, match="the model has no layer T9"):
        extract(manifests["frame"], adapter, tmp_path, rep="contextualized", layers="T9", progress=False)
    with pytest.raises(ConfigError, match="belong to another rep"):
        extract(manifests["frame"], adapter, tmp_path, rep="contextualized", layers="C1", progress=False)
    with pytest.raises(ConfigError, match="--rep contextualized needs --model"):
        extract(manifests["frame"], None, tmp_path, rep="contextualized", progress=False)
    with pytest.raises(ConfigError, match="--shard must be I/N"):
        Shard.parse("3")
    with pytest.raises(ConfigError, match="between 1 and 4"):
        Shard.parse("5/4")


def test_audio_shorter_than_a_frame_is_an_error(tmp_path):
    from layerprobe.io.audio import write_audio
    from support.corpora import make_folder_corpus

    from dataclasses import replace

    from layerprobe.io.audio import audio_fingerprint

    written = make_folder_corpus(tmp_path / "c", splits=("train",), per_split=2)
    manifest = draw_sample(open_corpus(tmp_path / "c"), "train", span="frame", progress=False)
    # sampling skips audio this short; a manifest that lists it anyway (by hand) is refused by extraction
    short = tmp_path / "c" / "train" / f"{written['train'][1].utt_id}.wav"
    write_audio(short, np.zeros(200, dtype=np.float32))
    rows = [replace(u, duration_s=200 / 16_000, fingerprint=audio_fingerprint(short)) if u.utt_id == short.stem else u
            for u in manifest.utterances]  # fmt: skip
    manifest = replace(manifest, utterances=tuple(rows))
    with pytest.raises(AudioError, match="shorter than one model frame"):
        extract(manifest, load_model("tiny:wav2vec2"), tmp_path / "out", rep="contextualized", progress=False)
    partial = list((tmp_path / "out").rglob("*.partial"))
    assert not list((tmp_path / "out").rglob("*.h5")) and len(partial) == 1  # nothing that looks complete


def _datasets(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        out["__attrs__"] = {key: handle.attrs[key] for key in handle.attrs}
    return out


def _assert_same_store(a: Path, b: Path) -> None:
    left, right = _datasets(a), _datasets(b)
    assert sorted(left) == sorted(right)
    for name in left:
        if name == "__attrs__":
            assert {k: str(v) for k, v in left[name].items()} == {k: str(v) for k, v in right[name].items()}
        else:
            np.testing.assert_array_equal(left[name], right[name], err_msg=name)


def test_three_shards_merged_equal_one_run(manifests, tmp_path):
    adapter = load_model("tiny:wav2vec2")
    single = extract(manifests["word"], adapter, tmp_path / "one", rep="contextualized", progress=False)
    shard_paths = [
        extract(manifests["word"], adapter, tmp_path / "three", rep="contextualized", shard=Shard(i, 3), progress=False).path
        for i in (1, 2, 3)
    ]
    assert len(set(shard_paths)) == 3 and all(".shard-" in p.name for p in shard_paths)
    merged = merge_shards(tmp_path / "three" / single.path.relative_to(tmp_path / "one"))
    _assert_same_store(merged, single.path)


def test_killed_extraction_resumes_to_the_same_store(corpus, tmp_path):
    samples_dir = tmp_path / "samples"
    bigger = draw_sample(corpus, "train", span="frame", progress=False)
    write_manifest(bigger, manifest_path(samples_dir, corpus.name, "train", "frame", 1))
    # base-size random weights: slow enough (~0.3 s an utterance) to be killed in the middle
    argv = [sys.executable, "-m", "layerprobe", "-vv", "extract", "--model", "tiny:wav2vec2-base", "--corpus", corpus.name,
            "--split", "train", "--span", "frame", "--rep", "contextualized", "--samples-dir", str(samples_dir),
            "--no-progress", "--batch-seconds", "0"]  # fmt: skip
    process = subprocess.Popen([*argv, "--out", str(tmp_path / "killed")], stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if "stored " in line and "(2/" in line:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL
    partial = list((tmp_path / "killed").rglob("*.h5.partial"))
    assert len(partial) == 1 and not list((tmp_path / "killed").rglob("*.h5"))
    resumed = subprocess.run([*argv, "--out", str(tmp_path / "killed")], capture_output=True, text=True, check=True)
    assert "resumed after" in resumed.stdout
    subprocess.run([*argv, "--out", str(tmp_path / "whole")], capture_output=True, text=True, check=True)
    (killed,), (whole,) = list((tmp_path / "killed").rglob("*.h5")), list((tmp_path / "whole").rglob("*.h5"))
    _assert_same_store(killed, whole)


def test_attention_maps_and_logits_are_stored_for_chosen_utterances(manifests, tmp_path):
    adapter = load_model("tiny:hubert")
    chosen = [u.utt_id for u in manifests["frame"].utterances[1:3]]
    report = extract(manifests["frame"], adapter, tmp_path, rep="contextualized", attention=chosen, pre_softmax=True, progress=False)
    with FeatureStore.open(report.path) as store:
        for utterance in manifests["frame"].utterances:
            stored = store.attention(utterance.utt_id, "T1")
            if utterance.utt_id not in chosen:
                assert stored is None
                continue
            expected = adapter.forward(load_audio(manifests["frame"].audio_path(utterance)), layers=[], attention=True, pre_softmax=True)
            for block in ("T1", "T2"):
                np.testing.assert_allclose(store.attention(utterance.utt_id, block), expected.attention[block], atol=1e-3)  # float16 on disk
                logits = store.attention(utterance.utt_id, block, logits=True)
                np.testing.assert_allclose(logits, expected.pre_softmax[block], rtol=1e-3, atol=1e-3)
                assert store.attention(utterance.utt_id, block).shape[1:] == (expected.n_frames, expected.n_frames)


def test_a_segment_outside_the_audio_is_named(corpus, tmp_path):
    from dataclasses import replace

    from layerprobe.errors import AlignmentError
    from layerprobe.io.alignments import Interval

    manifest = draw_sample(corpus, "dev", span="word", rule=SamplingRule.default("word", "eval", n_labels=3), progress=False)
    first = manifest.utterances[0]
    broken = replace(first, segments=first.segments + (Interval(first.duration_s + 0.5, first.duration_s + 0.7, "ghost"),))
    manifest = replace(manifest, utterances=(broken,) + manifest.utterances[1:])
    with pytest.raises(AlignmentError) as caught:
        extract(manifest, load_model("tiny:wav2vec2"), tmp_path, rep="contextualized", progress=False)
    message = str(caught.value)
    assert message.startswith(str(manifest.audio_path(first))) and "lies outside the audio" in message


@pytest.mark.shared
def test_whisper_base_store_equals_a_direct_encoder_forward(timit_sample, shared, tmp_path):
    corpus = open_corpus(timit_sample)
    manifest = draw_sample(corpus, "all", span="frame", progress=False)
    model_dir = shared / "models" / "whisper-base"
    adapter = load_model(f"hf:{model_dir}")
    report = extract(manifest, adapter, tmp_path, rep="contextualized", progress=False)
    waveform = load_audio(timit_sample / "LDC93S1.wav")
    direct, _, _ = direct_hidden_states(model_dir, waveform)
    with FeatureStore.open(report.path) as store:
        assert store.layer_ids == [f"T{i}" for i in range(7)]
        for index, layer in enumerate(store.layer_ids):
            stored = store.utterance_rows("LDC93S1", layer)
            assert stored.shape == (146, 512)  # ceil((46797 // 160) / 2) frames of the real audio
            np.testing.assert_allclose(stored, direct[index][:146], atol=1e-5, rtol=1e-5)


def test_batches_count_the_padded_length():
    from types import SimpleNamespace

    from layerprobe.extraction import _batches

    items = [(None, np.zeros(16000 * seconds, dtype=np.float32)) for seconds in (3, 9, 3, 5, 3, 3)]
    whisper_like = SimpleNamespace(supports_batching=True, max_seconds=30.0)  # pads every item to 30 s
    free_length = SimpleNamespace(supports_batching=True, max_seconds=None)
    group_norm = SimpleNamespace(supports_batching=False, max_seconds=None)
    assert [len(b) for b in _batches(whisper_like, items, 120.0)] == [4, 2]
    # sorted by length, at most 30 s of padded audio a batch: four 3 s and the 5 s (5 x 5 s = 25 s), then the 9 s
    assert list(_batches(free_length, items, 30.0)) == [[0, 2, 4, 5, 3], [1]]
    assert list(_batches(group_norm, items, 120.0)) == [[i] for i in range(6)]


@pytest.mark.parametrize("family,pre_softmax", [("hubert", True), ("wav2vec2", False), ("wavlm", True), ("whisper", True)])
def test_streamed_attention_in_the_store_equals_the_returned_maps_cast_to_float16(family, pre_softmax, manifests, tmp_path):
    """extract streams maps block by block (write_attention); the store holds exactly what the
    unstreamed forward returns, rounded to float16 as append(attention=...) rounds it."""
    adapter = load_model(f"tiny:{family}")
    chosen = [manifests["frame"].utterances[0].utt_id]
    report = extract(manifests["frame"], adapter, tmp_path, rep="contextualized", layers="T0-T1", attention=chosen,
                     pre_softmax=pre_softmax, progress=False)  # fmt: skip
    utterance = manifests["frame"].utterances[0]
    expected = adapter.forward(load_audio(manifests["frame"].audio_path(utterance)), layers=[], attention=True, pre_softmax=pre_softmax)
    with FeatureStore.open(report.path) as store, h5py.File(report.path, "r") as file:
        group = file["attention"][next(iter(file["attention"]))]
        assert sorted(group) == sorted(expected.attention) and all(group[b].dtype == np.float16 for b in group)
        assert len(file["attention_logits"]) == (1 if pre_softmax else 0)
        for block in expected.attention:
            np.testing.assert_array_equal(store.attention(utterance.utt_id, block), expected.attention[block].astype(np.float16).astype(np.float32))
            if pre_softmax:
                logits = store.attention(utterance.utt_id, block, logits=True)
                np.testing.assert_array_equal(logits, expected.pre_softmax[block].astype(np.float16).astype(np.float32))


def test_streamed_attention_of_a_long_utterance_keeps_memory_to_about_one_block(tmp_path):
    """20 s of noise through tiny:wav2vec2-base with maps of every block streamed to the store: the
    traced peak stays far below what holding every block's float32 maps at once would take."""
    import tracemalloc

    adapter = load_model("tiny:wav2vec2-base")
    wave = (0.1 * np.random.default_rng(0).standard_normal(20 * 16000)).astype(np.float32)
    frames = adapter.n_frames(wave.size)
    heads = adapter.module.config.num_attention_heads
    all_blocks = adapter.num_layers * heads * frames * frames * 4  # float32 maps of every block
    writer = FeatureStore.create(tmp_path / "s.h5", attrs={"model": adapter.spec, "rep": "contextualized", "span": "frame",
                          "frame_rate_hz": adapter.frame_rate_hz}, layer_dims={"T0": adapter.layer_dim("T0")})  # fmt: skip
    seen = []

    def store(block, values, logits):
        seen.append(block)
        writer.write_attention("long", block, values, logits=logits)

    tracemalloc.start()
    try:
        out = adapter.forward(wave, layers=["T0"], attention=True, on_attention=store)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    writer.append("long", {"T0": out.hidden["T0"]})
    writer.finish()
    assert seen == [f"T{i}" for i in range(1, adapter.num_layers + 1)] and not out.attention
    # numpy buffers are traced (torch's are not): about one block's float32 + float16 copy
    assert peak < all_blocks / 2, (peak, all_blocks)
    with FeatureStore.open(tmp_path / "s.h5") as stored:
        assert stored.attention("long", f"T{adapter.num_layers}").shape == (heads, frames, frames)


class _KilledAfter:
    """An adapter that dies (KeyboardInterrupt, as a kill would) after ``n`` utterances."""

    def __init__(self, adapter, n: int):
        self._adapter, self._left = adapter, n

    def __getattr__(self, name):
        return getattr(self._adapter, name)

    def forward(self, *args, **kwargs):
        if self._left == 0:
            raise KeyboardInterrupt
        self._left -= 1
        return self._adapter.forward(*args, **kwargs)


def _replace_weights(model_dir: Path, name: str, seed: int) -> None:
    import shutil

    from layerprobe.models.tiny import build_tiny_model

    shutil.copy(build_tiny_model(name, seed=seed) / "model.safetensors", model_dir / "model.safetensors")


@pytest.fixture
def model_dir(tmp_path):
    import shutil

    from layerprobe.models.tiny import build_tiny_model

    target = tmp_path / "model"
    shutil.copytree(build_tiny_model("wav2vec2"), target)
    return target


def test_the_weights_fingerprint_is_of_the_content_not_the_path(model_dir, tmp_path):
    import shutil

    first = load_model(f"hf:{model_dir}")
    shutil.copytree(model_dir, tmp_path / "renamed")
    assert load_model(f"hf:{tmp_path / 'renamed'}").weights_fingerprint == first.weights_fingerprint
    assert len(first.weights_fingerprint) == 64
    _replace_weights(model_dir, "wav2vec2", seed=1)
    assert load_model(f"hf:{model_dir}").weights_fingerprint != first.weights_fingerprint
    assert load_model("tiny:wav2vec2").weights_fingerprint == first.weights_fingerprint


def test_a_partial_store_of_replaced_weights_is_not_resumed(manifests, model_dir, tmp_path):
    from layerprobe.errors import StoreError

    old = load_model(f"hf:{model_dir}")
    with pytest.raises(KeyboardInterrupt):
        extract(manifests["frame"], _KilledAfter(old, 2), tmp_path / "out", progress=False)
    (partial,) = (tmp_path / "out").rglob("*.h5.partial")
    _replace_weights(model_dir, "wav2vec2", seed=1)
    new = load_model(f"hf:{model_dir}")
    with pytest.raises(StoreError) as caught:
        extract(manifests["frame"], new, tmp_path / "out", progress=False)
    assert str(caught.value) == (
        f"{partial}: was written with other model weights (fingerprint {old.weights_fingerprint[:12]} vs "
        f"{new.weights_fingerprint[:12]}); rerun with --overwrite to start again"
    )
    assert partial.exists() and not list((tmp_path / "out").rglob("*.h5"))
    report = extract(manifests["frame"], new, tmp_path / "out", progress=False, overwrite=True)
    assert report.n_skipped == 0
    with FeatureStore.open(report.path) as store:
        assert store.attrs["weights_fingerprint"] == new.weights_fingerprint


def test_a_complete_store_of_other_weights_is_named_as_such(manifests, model_dir, tmp_path):
    from layerprobe.errors import StoreError

    old = load_model(f"hf:{model_dir}")
    report = extract(manifests["word"], old, tmp_path / "out", progress=False)
    _replace_weights(model_dir, "wav2vec2", seed=1)
    new = load_model(f"hf:{model_dir}")
    with pytest.raises(StoreError, match="was written with other model weights .*; rerun with --overwrite to replace it"):
        extract(manifests["word"], new, tmp_path / "out", progress=False)
    with pytest.raises(StoreError, match="a complete store exists already"):
        extract(manifests["word"], old, tmp_path / "out", progress=False)
    assert report.path.exists()
