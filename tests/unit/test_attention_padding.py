"""Whisper's padding mass (issue 16.2) and the order of averaging heads (issue 16.3).

A constructed two-head map pins both averaging orders; tiny seeded models (no weights to download)
check that the padding mass is captured, streamed into the store beside the maps and reported.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from layerprobe.attention.maps import head_average, load_padding
from layerprobe.attention.patterns import block_patterns, pattern_scores
from layerprobe.errors import ConfigError

T = 10


def _two_heads() -> np.ndarray:
    """Head 0 keeps 0.2 of each row on the diagonal (0.8 went to cut padding); head 1 is uniform, nothing cut."""
    return np.stack([0.2 * np.eye(T), np.full((T, T), 1.0 / T)])


def test_the_two_averaging_orders_on_a_map_where_they_differ():
    maps = _two_heads()
    # heads first: mean of the stored weights, 0.1 I + 0.05 (each cell), rows renormalised (sum 0.6)
    np.testing.assert_allclose(head_average(maps), (0.1 * np.eye(T) + 0.05) / 0.6, atol=1e-15)
    # rows first: every head renormalised (I and U), then averaged
    np.testing.assert_allclose(head_average(maps, averaging="rows-first"), (np.eye(T) + 1.0 / T) / 2, atol=1e-15)
    # radius 0, chance 1/T = 0.1: in-band mass 0.15 / 0.6 = 0.25 -> (0.25 - 0.1) / 0.9 = 1/6 ...
    heads_first = pattern_scores(maps, radius=0)
    rows_first = pattern_scores(maps, radius=0, averaging="rows-first")
    assert heads_first.diagonal == pytest.approx(1 / 6, abs=1e-12)
    # ... against (0.5 + 0.05 - 0.1) / 0.9 = 0.5 when the mostly-cut head gets a full share
    assert rows_first.diagonal == pytest.approx(0.5, abs=1e-12)
    # rows lost no mass: both orders agree
    full = np.stack([np.eye(T), np.full((T, T), 1.0 / T)])
    np.testing.assert_allclose(head_average(full), head_average(full, averaging="rows-first"), atol=1e-15)


def test_block_patterns_default_order_padding_mass_and_the_other_order_as_option():
    # the uniform head keeps all its mass and dominates the real frames' mean map: heads-first scores
    # the block below the diagonal threshold, rows-first over it (radius 1)
    maps = np.stack([0.1 * np.eye(T), np.full((T, T), 1.0 / T)])
    [default] = block_patterns({"u": {"T1": maps}}, radius=1)
    [other] = block_patterns({"u": {"T1": maps}}, radius=1, averaging="rows-first")
    assert default.averaging == "heads-first" and other.averaging == "rows-first"
    band = (np.abs(np.subtract.outer(np.arange(T), np.arange(T))) <= 1).mean()  # 28 / 100 cells
    in_band_hf = (0.05 + 0.5 * (28 / T) / T) / 0.55
    assert default.scores.diagonal == pytest.approx((in_band_hf - band) / (1 - band), abs=1e-12)
    assert other.scores.diagonal == pytest.approx(((1 + 0.28) / 2 - band) / (1 - band), abs=1e-12)
    assert (default.pattern, other.pattern) == ("heterogeneous", "diagonal")
    # per-head scores are those of the renormalised heads, whatever the order
    assert default.head_scores == other.head_scores
    # the padding mass: 0.9 of head 0's rows, none of head 1's
    assert default.padding_mass == pytest.approx(0.45) and default.head_padding_mass == pytest.approx((0.9, 0.0))
    assert not default.padding_stored
    details = default.details()
    assert details["averaging"] == "heads-first" and details["padding_mass"] == pytest.approx(0.45)
    assert [h["padding_mass"] for h in details["heads"]] == pytest.approx([0.9, 0.0])
    assert "; padding 45.0 %; heads: " in default.summary()
    with pytest.raises(ConfigError, match="^averaging must be one of heads-first, rows-first, got 'mean'$"):
        block_patterns({"u": {"T1": maps}}, averaging="mean")


@pytest.mark.parametrize("name, padded", [("whisper", True), ("wav2vec2", False)])
def test_forward_returns_the_padding_mass_that_completes_the_cut_rows(adapters, name, padded):
    adapter = adapters(name)
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(8_000)).astype(np.float32)
    out = adapter.forward(wave, layers=[], attention=True)
    assert set(out.attention_padding) == set(out.attention)
    for block, maps in out.attention.items():
        mass = out.attention_padding[block]
        assert mass.dtype == np.float32 and mass.shape == maps.shape[:2] == (maps.shape[0], out.n_frames)
        np.testing.assert_allclose(maps.sum(-1) + mass, 1.0, atol=1e-5)
        assert (mass.min() > 1e-3) if padded else (np.all(mass == 0.0))
    streamed: dict[str, np.ndarray] = {}
    adapter.forward(wave, layers=[], attention=True, on_attention=lambda *args: None,
                    on_padding=lambda block, mass: streamed.setdefault(block, mass))  # fmt: skip
    assert list(streamed) == list(out.attention)
    for block, mass in streamed.items():
        np.testing.assert_allclose(mass, out.attention_padding[block], atol=1e-6)


@pytest.fixture(scope="module")
def whisper_store(tmp_path_factory, one_thread):
    """tiny:whisper maps of 2 synthesized utterances, through extract (streamed into the store)."""
    from layerprobe.extraction import extract
    from layerprobe.models import load_model
    from support.corpora import synth_frame_sample

    base = tmp_path_factory.mktemp("padding")
    manifest, _ = synth_frame_sample(base, n=6, seed=3)
    report = extract(manifest, load_model("tiny:whisper"), base / "features", rep="contextualized", attention=2, progress=False)
    return report.path


def test_extract_stores_the_padding_mass_and_patterns_report_it(whisper_store, tmp_path):
    from layerprobe.io.store import FeatureStore

    with FeatureStore.open(whisper_store) as store:
        config = store.attrs["config"]
        # the maps come from eager attention whatever the model runs for its features
        assert config["attention_maps"]["implementation"] == "eager"
        utts = [u for u in store.utterance_ids if store.attention(u, "T1") is not None]
        assert len(utts) == 2 and store.attention_padding(store.utterance_ids[-1], "T1") is None
        per_block = {}
        blocks = [layer for layer in store.layer_ids if layer != "T0"]
        assert blocks == [f"T{i}" for i in range(1, len(blocks) + 1)] and len(blocks) >= 2
        for block in blocks:
            masses = []
            for utt in utts:
                mass = store.attention_padding(utt, block)
                maps = store.attention(utt, block)
                assert mass.dtype == np.float32 and mass.shape == maps.shape[:2]
                np.testing.assert_allclose(maps.sum(-1) + mass, 1.0, atol=2e-3)  # float16 maps
                assert load_padding(store, utt, block)[1] is True
                masses.append(mass.astype(np.float64).mean(axis=-1))
            per_block[block] = np.mean(masses, axis=0)
        patterns = block_patterns(store)
    for p in patterns:
        assert p.padding_stored and p.padding_mass == pytest.approx(float(per_block[p.block].mean()), abs=1e-12)
        assert p.head_padding_mass == pytest.approx(tuple(per_block[p.block]), abs=1e-12) and p.padding_mass > 0.01

    # a store written before the padding mass was recorded: estimated from the float16 rows' sums
    old = tmp_path / "old.h5"
    old.write_bytes(whisper_store.read_bytes())
    with h5py.File(old, "r+") as file:
        del file["attention_padding"]
    with FeatureStore.open(old) as store:
        assert store.attention_padding(utts[0], "T1") is None
        estimate, stored = load_padding(store, utts[0], "T1")
        assert not stored
        estimated = block_patterns(store)
    for p, q in zip(patterns, estimated):
        assert not q.padding_stored and q.padding_mass == pytest.approx(p.padding_mass, abs=1e-3)


def test_run_patterns_rows_and_sidecar_carry_padding_mass_and_order(whisper_store, tmp_path):
    from layerprobe.experiments.patterns import run_patterns
    from layerprobe.results import ResultTable

    report = run_patterns(whisper_store, results=tmp_path / "patterns.csv", averaging="rows-first")
    table = ResultTable.open(tmp_path / "patterns.csv")
    assert table.unique("metric") == ["consistency", "diagonal", "entropy", "padding_mass", "vertical"]
    for p in report.patterns:
        [row] = table.select(layer=p.block, metric="padding_mass")
        assert row["value"] == pytest.approx(p.padding_mass, abs=1e-12)
        meta = table.metadata(row)
        assert meta["options"]["averaging"] == "rows-first" and meta["details"]["averaging"] == "rows-first"
        assert [h["padding_mass"] for h in meta["details"]["heads"]] == pytest.approx(list(p.head_padding_mass))


def test_writer_refuses_a_padding_mass_outside_0_1(tmp_path):
    from layerprobe.errors import StoreError
    from layerprobe.io.store import FeatureStore

    attrs = {"model": "tiny:whisper", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0}
    writer = FeatureStore.create(tmp_path / "s.h5", attrs=attrs, layer_dims={"T0": 4})
    try:
        with pytest.raises(StoreError, match=r"attention_padding T1: values outside \[0, 1\]"):
            writer.write_padding_mass("u1", "T1", np.full((2, 3), 1.5, dtype=np.float32))
        with pytest.raises(StoreError, match=r"attention_padding T1: shape \(3,\) / dtype float32, expected real \(heads, T\)"):
            writer.write_padding_mass("u1", "T1", np.zeros(3, dtype=np.float32))
    finally:
        writer.close()


# ------------------------------------------------------------------------------ the store's padding group

FRAME_ATTRS = {"model": "tiny:whisper", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0}


def _stream(writer, utt: str, seed: int) -> np.ndarray:
    """Stream one block's maps and padding mass of ``utt`` and append it; returns the padding mass."""
    rng = np.random.default_rng(seed)
    mass = rng.random((2, 3)).astype(np.float32) * 0.5
    maps = rng.random((2, 3, 3)).astype(np.float32)
    maps *= ((1 - mass) / maps.sum(-1))[..., None]
    writer.write_padding_mass(utt, "T1", mass)
    writer.write_attention(utt, "T1", maps)
    writer.append(utt, {"T0": rng.standard_normal((3, 4)).astype(np.float32)})
    return mass


def test_padding_mass_survives_a_resume_and_a_merge_and_is_discarded_with_the_maps(tmp_path):
    from layerprobe.io.store import FeatureStore, merge_shards, partial_path, shard_path

    path = tmp_path / "s.h5"
    writer = FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims={"T0": 4})
    first = _stream(writer, "first", 1)
    writer.write_padding_mass("second", "T1", np.zeros((2, 3), np.float32))
    writer.close()  # killed before "second" was appended
    with h5py.File(partial_path(path), "r") as file:
        assert sorted(file["attention_padding"]) == ["first", "second"]
    resumed = FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims={"T0": 4}, resume=True)
    assert resumed.done_ids == {"first"}
    resumed.write_padding_mass("third", "T1", np.zeros((2, 3), np.float32))
    resumed.discard_attention("third")
    second = _stream(resumed, "second", 2)
    resumed.finish()
    with FeatureStore.open(path) as store, h5py.File(path, "r") as file:
        assert sorted(file["attention_padding"]) == ["first", "second"]
        np.testing.assert_array_equal(store.attention_padding("first", "T1"), first)
        np.testing.assert_array_equal(store.attention_padding("second", "T1"), second)

    base = tmp_path / "m.h5"
    masses = {}
    for index, utt in ((1, "a"), (2, "b")):
        shard = FeatureStore.create(shard_path(base, index, 2), attrs=FRAME_ATTRS, layer_dims={"T0": 4})
        masses[utt] = _stream(shard, utt, 10 + index)
        shard.finish()
    merge_shards(base)
    with FeatureStore.open(base) as store:
        for utt, mass in masses.items():
            np.testing.assert_array_equal(store.attention_padding(utt, "T1"), mass)
