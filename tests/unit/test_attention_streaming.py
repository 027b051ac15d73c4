"""Streamed attention maps: the adapters' ``on_attention`` callback and ``StoreWriter.write_attention``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from layerprobe.errors import StoreError  # noqa: E402
from layerprobe.io.store import FeatureStore, partial_path  # noqa: E402
from layerprobe.models.tiny import load_tiny_model  # noqa: E402

FRAME_ATTRS = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0}
DIMS = {"T0": 4}



def _wave(n_samples: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / 16000
    return (0.1 * np.sin(2 * np.pi * 220 * t) + 0.02 * rng.standard_normal(n_samples)).astype(np.float32)


# ------------------------------------------------------------------------------ the callback


@pytest.mark.parametrize("name", ["wav2vec2", "wavlm", "whisper"])
@pytest.mark.parametrize("attention,pre_softmax", [(True, False), (True, True), (False, True)])
def test_callback_gets_each_block_once_in_order_as_float16_and_outputs_hold_no_maps(tiny_root, name, attention, pre_softmax):
    adapter = load_tiny_model(name, root=tiny_root)
    wave = _wave(9_000, seed=1)
    blocks = [f"T{i}" for i in range(1, adapter.num_layers + 1)]
    got: dict[bool, list[str]] = {False: [], True: []}
    values: dict[tuple[str, bool], np.ndarray] = {}

    def on_attention(block, maps, logits):
        assert isinstance(maps, np.ndarray) and maps.dtype == np.float16
        got[logits].append(block)
        values[block, logits] = maps

    out = adapter.forward(wave, layers=["T0"], attention=attention, pre_softmax=pre_softmax, on_attention=on_attention)
    assert got[False] == (blocks if attention else []) and got[True] == (blocks if pre_softmax else [])
    assert not out.attention and not out.pre_softmax and set(out.hidden) == {"T0"}
    # the same maps as the unstreamed call, cut to the real audio (Whisper: of its 30 s window)
    whole = adapter.forward(wave, layers=[], attention=True, pre_softmax=True)
    heads = adapter.module.config.num_attention_heads
    for (block, logits), maps in values.items():
        assert maps.shape == (heads, out.n_frames, out.n_frames)
        expected = (whole.pre_softmax if logits else whole.attention)[block]
        if pre_softmax or name == "wavlm":
            np.testing.assert_array_equal(maps, expected.astype(np.float16))
        else:  # eager vs the capturing eager function: the same operations
            np.testing.assert_allclose(maps.astype(np.float32), expected, rtol=0, atol=1e-3)


def test_callback_without_maps_wanted_is_not_called_and_batches_are_refused(tiny_root):
    from layerprobe.errors import ConfigError

    adapter = load_tiny_model("wav2vec2", root=tiny_root)
    calls = []
    out = adapter.forward(_wave(6_000), layers=["T1"], on_attention=lambda *args: calls.append(args))
    assert calls == [] and set(out.hidden) == {"T1"}
    with pytest.raises(ConfigError, match="one waveform"):
        adapter._run([_wave(6_000), _wave(7_000)], ["T1"], attention=True, on_attention=lambda *args: None)


@pytest.mark.parametrize("name", ["wav2vec2", "wavlm"])
def test_an_error_in_the_callback_leaves_no_hooks_or_attention_settings(tiny_root, name):
    from modellib_addons import hf_attention

    adapter = load_tiny_model(name, root=tiny_root)
    adapter.forward(_wave(6_000), layers=["T1"])  # transformers installs its own recorders once
    implementation = hf_attention.current_attention_implementation(adapter.module)
    hooks_before = {name: len(m._forward_hooks) for name, m in adapter.module.named_modules()}

    def fail(block, maps, logits):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        adapter.forward(_wave(6_000), layers=[], attention=True, pre_softmax=True, on_attention=fail)
    assert hf_attention.current_attention_implementation(adapter.module) == implementation
    assert {name: len(m._forward_hooks) for name, m in adapter.module.named_modules()} == hooks_before
    assert hf_attention._ACTIVE_RECORDER.get() is None
    # and the adapter still works unstreamed
    blocks = {f"T{i}" for i in range(1, adapter.num_layers + 1)}
    assert set(adapter.forward(_wave(6_000), layers=[], attention=True).attention) == blocks


# ------------------------------------------------------------------------------ write_attention


def _maps(heads=2, frames=3, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((heads, frames, frames)).astype(np.float32)


def _rows(n=3, seed=0) -> dict[str, np.ndarray]:
    return {"T0": np.random.default_rng(seed).standard_normal((n, 4)).astype(np.float32)}


def test_write_attention_then_append_equals_append_with_maps(tmp_path):
    maps, logits = {"T1": _maps(seed=1), "T2": _maps(seed=2)}, {"T1": _maps(seed=3) - 0.5}
    logits["T1"][0, 0, 1] = -np.inf
    streamed = FeatureStore.create(tmp_path / "a.h5", attrs=FRAME_ATTRS, layer_dims=DIMS)
    for block, values in maps.items():
        streamed.write_attention("u/1", block, values)
    streamed.write_attention("u/1", "T1", logits["T1"], logits=True)
    streamed.append("u/1", _rows())
    streamed.finish()
    whole = FeatureStore.create(tmp_path / "b.h5", attrs=FRAME_ATTRS, layer_dims=DIMS)
    whole.append("u/1", _rows(), attention=maps, attention_logits=logits)
    whole.finish()
    with FeatureStore.open(tmp_path / "a.h5") as a, FeatureStore.open(tmp_path / "b.h5") as b:
        for block in ("T1", "T2"):
            np.testing.assert_array_equal(a.attention("u/1", block), b.attention("u/1", block))
        np.testing.assert_array_equal(a.attention("u/1", "T1", logits=True), b.attention("u/1", "T1", logits=True))
        assert a.attention("u/1", "T2", logits=True) is None


def test_write_attention_errors(tmp_path):
    writer = FeatureStore.create(tmp_path / "s.h5", attrs=FRAME_ATTRS, layer_dims=DIMS)
    writer.append("done", _rows())
    with pytest.raises(StoreError, match="already in the store"):
        writer.write_attention("done", "T1", _maps())
    with pytest.raises(StoreError, match=r"expected real \(heads, T, T\)"):
        writer.write_attention("u", "T1", np.zeros((2, 3, 4), np.float32))
    bad = _maps()
    bad[0, 0, 0] = np.nan
    with pytest.raises(StoreError, match="non-finite"):
        writer.write_attention("u", "T1", bad)
    with pytest.raises(StoreError, match="NaN or \\+inf"):
        writer.write_attention("u", "T1", bad, logits=True)
    with pytest.raises(StoreError, match="beyond float16"):
        writer.write_attention("u", "T1", _maps() * 1e6)
    with pytest.raises(StoreError, match="attention: "):
        writer.write_attention("u", "X1", _maps())
    writer.write_attention("u", "T1", _maps())
    with pytest.raises(StoreError, match="T1: already written"):
        writer.write_attention("u", "T1", _maps())
    writer.write_attention("u", "T1", _maps(), logits=True)  # logits are another kind
    with pytest.raises(StoreError, match="already written by write_attention"):
        writer.append("u", _rows(), attention={"T1": _maps()})
    assert "u" not in writer.done_ids  # the refused append wrote nothing and kept the writer open
    writer.append("u", _rows(), attention={"T2": _maps(seed=5)})
    with pytest.raises(StoreError, match="already in the store"):
        writer.discard_attention("u")
    writer.finish()
    with FeatureStore.open(tmp_path / "s.h5") as store:
        assert store.attention("u", "T1") is not None and store.attention("u", "T2") is not None
        assert store.utterance_ids == ["done", "u"]


def test_discard_attention_removes_the_maps_of_an_unappended_utterance(tmp_path):
    writer = FeatureStore.create(tmp_path / "s.h5", attrs=FRAME_ATTRS, layer_dims=DIMS)
    writer.write_attention("u", "T1", _maps())
    writer.write_attention("u", "T1", _maps(), logits=True)
    writer.discard_attention("u")
    writer.discard_attention("never")  # nothing to remove
    writer.write_attention("u", "T1", _maps(seed=7))  # a retry does not clash
    writer.append("u", _rows())
    writer.finish()
    with FeatureStore.open(tmp_path / "s.h5") as store:
        np.testing.assert_array_equal(store.attention("u", "T1"), _maps(seed=7).astype(np.float16).astype(np.float32))
        assert store.attention("u", "T1", logits=True) is None


def test_resume_after_a_kill_mid_utterance_drops_its_streamed_maps(tmp_path):
    path = tmp_path / "s.h5"
    writer = FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims=DIMS)
    writer.write_attention("first", "T1", _maps(seed=1))
    writer.append("first", _rows(seed=1))
    writer.write_attention("second", "T1", _maps(seed=2))
    writer.write_attention("second", "T2", _maps(seed=3), logits=True)
    writer.close()  # killed before the append of "second": its maps have no index entry
    import h5py

    with h5py.File(partial_path(path), "r") as file:
        assert len(file["attention"]) == 2 and len(file["attention_logits"]) == 1
    resumed = FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims=DIMS, resume=True)
    assert resumed.done_ids == {"first"}
    with h5py.File(partial_path(path), "r") as file:
        assert len(file["attention"]) == 1 and len(file["attention_logits"]) == 0
    resumed.write_attention("second", "T1", _maps(seed=4))
    resumed.append("second", _rows(seed=2), attention={"T2": _maps(seed=5)})
    resumed.finish()
    with FeatureStore.open(path) as store:
        assert store.utterance_ids == ["first", "second"]
        half = lambda values: values.astype(np.float16).astype(np.float32)  # noqa: E731
        np.testing.assert_array_equal(store.attention("first", "T1"), half(_maps(seed=1)))
        np.testing.assert_array_equal(store.attention("second", "T1"), half(_maps(seed=4)))
        np.testing.assert_array_equal(store.attention("second", "T2"), half(_maps(seed=5)))
        assert store.attention("second", "T2", logits=True) is None
