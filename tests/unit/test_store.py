"""The HDF5 feature store: round trips, per-layer grids, resume, shards, merge and malformed files."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerprobe import __version__
from layerprobe.errors import ConfigError, StoreError
from layerprobe.io.store import (
    FeatureStore,
    find_shards,
    merge_shards,
    model_tag,
    parse_shard_path,
    partial_path,
    shard_path,
    store_path,
)

FRAME_ATTRS = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0}
PHONE_ATTRS = {**FRAME_ATTRS, "span": "phone", "config": {"layers": "T0-T1", "middle_third": True}}
DIMS = {"T0": 6, "T1": 6}


def _utterances(n: int, *, seed: int = 0, dims: dict[str, int] = DIMS, span: str = "frame") -> list[dict]:
    """Random utterances: id, rows per layer, segments (phone span), attention for every third."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        n_rows = int(rng.integers(1, 9))
        utt = {
            "utt_id": f"spk/{i:03d}",
            "rows": {layer: rng.standard_normal((n_rows, dim)).astype(np.float32) for layer, dim in dims.items()},
        }
        if span != "frame":
            starts = np.sort(rng.uniform(0, 5, n_rows))
            utt["segments"] = [(f"ph{int(rng.integers(5))}", float(s), float(s) + 0.05) for s in starts]
        if i % 3 == 1:
            heads, frames = 2, n_rows + 1
            maps = rng.random((heads, frames, frames)).astype(np.float32)
            logits = rng.standard_normal((heads, frames, frames)).astype(np.float32)
            logits[:, 0, -1] = -np.inf
            utt["attention"], utt["attention_logits"] = {"T1": maps}, {"T1": logits}
        out.append(utt)
    return out


def _write(path: Path, utterances: list[dict], *, attrs=FRAME_ATTRS, dims=DIMS, finish=True, **options):
    writer = FeatureStore.create(path, attrs=attrs, layer_dims=dims, **options)
    for utt in utterances:
        writer.append(**utt)
    return writer.finish() if finish else writer


def _file_contents(path: Path) -> dict[str, object]:
    """Every group and dataset of an HDF5 file with attrs, dtype, shape, chunks and values."""
    contents: dict[str, object] = {}
    with h5py.File(path, "r") as file:
        contents["/"] = {key: file.attrs[key] for key in file.attrs}

        def visit(name, item):
            attrs = {key: item.attrs[key] for key in item.attrs}
            if isinstance(item, h5py.Dataset):
                values = item.asstr()[()] if h5py.check_string_dtype(item.dtype) else item[()]
                contents[name] = (attrs, item.dtype.str, item.shape, item.chunks, values.tolist())
            else:
                contents[name] = (attrs, "group")

        file.visititems(visit)
    return contents


def _assert_same_files(got: Path, expected: Path, *, ignore_attrs=()) -> None:
    a, b = _file_contents(got), _file_contents(expected)
    for key in ignore_attrs:
        a["/"].pop(key, None)
        b["/"].pop(key, None)
    assert sorted(a) == sorted(b)
    for name in b:
        if name == "/":
            assert {k: np.asarray(v).tolist() for k, v in a[name].items()} == {
                k: np.asarray(v).tolist() for k, v in b[name].items()
            }
        else:
            assert a[name] == b[name], name


# --------------------------------------------------------------------------------------------------
# Round trips


def test_frame_store_round_trip_is_exact_in_float32(tmp_path):
    utts = _utterances(5)
    attrs = {**FRAME_ATTRS, "manifest_hash": "abc", "config": {"seed": 3}, "layer_ids": ["T1", "T0"]}
    path = _write(tmp_path / "s.h5", utts, attrs=attrs)
    assert path == tmp_path / "s.h5" and not partial_path(path).exists()
    with FeatureStore.open(path) as store:
        assert store.layer_ids == ["T0", "T1"] and store.dims == {"T0": 6, "T1": 6}
        assert store.utterance_ids == [u["utt_id"] for u in utts] and store.n_utterances == 5
        for layer in DIMS:
            expected = np.concatenate([u["rows"][layer] for u in utts])
            got = store.read(layer)
            assert got.dtype == np.float32 and np.array_equal(got, expected)
            assert store.n_rows(layer) == len(expected)
            assert np.array_equal(store.read(layer, slice(2, 5)), expected[2:5])
        assert np.array_equal(store.utterance_rows("spk/003", "T0"), utts[3]["rows"]["T0"])
        attrs = store.attrs
        assert attrs["layer_ids"] == ["T0", "T1"] and attrs["config"] == {"seed": 3}
        assert attrs["complete"] is True and attrs["manifest_hash"] == "abc"
        assert attrs["model"] == "tiny:wav2vec2" and attrs["frame_rate_hz"] == 50.0
        assert attrs["layerprobe_version"] == __version__ and attrs["sample_rate"] == 16000
        maps = store.attention("spk/001", "T1")
        assert maps.dtype == np.float32 and maps.shape == utts[1]["attention"]["T1"].shape
        np.testing.assert_allclose(maps, utts[1]["attention"]["T1"], rtol=1e-3, atol=1e-3)
        logits = store.attention("spk/001", "T1", logits=True)
        assert np.all(np.isneginf(logits[:, 0, -1]))
        finite = np.isfinite(utts[1]["attention_logits"]["T1"])
        np.testing.assert_allclose(logits[finite], utts[1]["attention_logits"]["T1"][finite], rtol=1e-3, atol=2e-3)
        assert store.attention("spk/000", "T1") is None and store.attention("spk/001", "T0") is None
        with pytest.raises(StoreError, match="has no utterance 'nope'"):
            store.attention("nope", "T1")
        with pytest.raises(StoreError, match="has no layer 'T7'"):
            store.read("T7")
        with pytest.raises(StoreError, match="frame-span store; it has no segments"):
            store.labels
        text = store.describe()
        assert "2 layers T0-T1 (6-d float32)" in text and "5 utterances" in text and "complete" in text
        assert repr(store).startswith("<FeatureStore s.h5")
    with h5py.File(path, "r") as file:
        assert "spk%2F001" in file["attention"] and file["layers/T0"].attrs["frame_rate_hz"] == 50.0


def test_float16_store_round_trip_within_half_precision(tmp_path):
    utts = _utterances(4, seed=1)
    path = _write(tmp_path / "h.h5", utts, dtype="float16")
    with FeatureStore.open(path) as store, h5py.File(path, "r") as raw:
        assert raw["layers/T0"].dtype == np.float16 and store.dtype == "float16"
        expected = np.concatenate([u["rows"]["T1"] for u in utts])
        got = store.read("T1")
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)
        assert np.array_equal(got, expected.astype(np.float16).astype(np.float32))


def test_phone_store_round_trip_with_segments(tmp_path):
    utts = _utterances(4, seed=2, span="phone")
    path = _write(tmp_path / "p.h5", utts, attrs=PHONE_ATTRS)
    with FeatureStore.open(path) as store:
        segments = [s for u in utts for s in u["segments"]]
        assert store.labels.tolist() == [label for label, _, _ in segments]
        assert store.labels.dtype.kind == "U"
        assert np.array_equal(store.segment_times, np.array([(s, e) for _, s, e in segments]))
        expected_index = [i for i, u in enumerate(utts) for _ in u["segments"]]
        assert store.segment_utt_index.tolist() == expected_index
        assert store.attrs["config"] == {"layers": "T0-T1", "middle_third": True}
        assert "segments" in store.describe()


def test_local_store_keeps_each_grid_and_its_own_index(tmp_path):
    rng = np.random.default_rng(4)
    rates = {"C1": 100.0, "C2": 100.0, "C7": 50.0}
    attrs = {**FRAME_ATTRS, "rep": "local", "frame_rate_hz": 100.0}
    dims = {"C1": 3, "C2": 3, "C7": 5}
    writer = FeatureStore.create(tmp_path / "l.h5", attrs=attrs, layer_dims=dims, layer_frame_rates=rates)
    lengths = [4, 7, 2]
    written = []
    for i, n in enumerate(lengths):
        rows = {"C1": rng.random((2 * n, 3)), "C2": rng.random((2 * n, 3)), "C7": rng.random((n, 5))}
        writer.append(f"u{i}", rows)
        written.append(rows)
    with pytest.raises(StoreError, match=r"layers at 100 Hz have different row counts \(C1: 4, C2: 3\)$"):
        writer.append("bad", {"C1": np.zeros((4, 3)), "C2": np.zeros((3, 3)), "C7": np.zeros((2, 5))})
    path = writer.finish()
    with FeatureStore.open(path) as store:
        assert store.frame_rate_hz == 100.0 and store.layer_frame_rate("C7") == 50.0
        assert store.n_rows("C1") == 2 * sum(lengths) and store.n_rows("C7") == sum(lengths)
        for i, rows in enumerate(written):
            for layer in rates:
                np.testing.assert_array_equal(store.utterance_rows(f"u{i}", layer), rows[layer].astype(np.float32))
        assert "26 rows at 100 Hz, 13 rows at 50 Hz" in store.describe()
    with h5py.File(path, "r") as file:
        assert list(file["utterances/by_layer"]) == ["C7"]
        assert file["utterances/by_layer/C7/row_start"][()].tolist() == [0, 4, 11]
        assert file["utterances/n_rows"][()].tolist() == [8, 14, 4]
        assert file["layers/C1"].attrs["frame_rate_hz"] == 100.0


def test_layer_chunks_are_about_two_megabytes_of_whole_rows(tmp_path):
    writer = FeatureStore.create(tmp_path / "c.h5", attrs=FRAME_ATTRS, layer_dims={"T0": 768, "C1": 512, "mel": 80},
                                 layer_frame_rates={"C1": 50.0, "mel": 50.0})
    writer.close()
    with h5py.File(partial_path(tmp_path / "c.h5"), "r") as file:
        assert file["layers/T0"].chunks == (682, 768)
        assert file["layers/C1"].chunks == (1024, 512)
        assert file["layers/mel"].chunks == (6553, 80)
        assert file["layers/T0"].compression is None
        assert file.attrs["complete"] == False  # noqa: E712 (numpy bool)


# --------------------------------------------------------------------------------------------------
# Refused input


@pytest.mark.parametrize(
    "rows, message",
    [
        ({"T0": np.zeros((2, 6))}, "lacks layers T1"),
        (
            {"T0": np.zeros((2, 6)), "T1": np.zeros((2, 6)), "T2": np.zeros((2, 6))},
            r"has layers the store does not \(T2\)",
        ),
        ({"T0": np.zeros((2, 5)), "T1": np.zeros((2, 6))}, r"layer T0: rows have shape \(2, 5\), expected \(n, 6\)"),
        ({"T0": np.zeros((2, 6)), "T1": np.zeros((3, 6))}, r"different row counts \(T0: 2, T1: 3\)"),
        ({"T0": np.full((2, 6), np.nan), "T1": np.zeros((2, 6))}, "layer T0: rows contain NaN or infinite values"),
        ({"T0": np.zeros((2, 6)), "T1": np.full((2, 6), np.inf)}, "layer T1: rows contain NaN or infinite values"),
        ({"T0": np.zeros((2, 6)), "T1": np.full((2, 6), "a")}, "expected real numbers"),
    ],
)
def test_append_refuses_bad_rows(tmp_path, rows, message):
    with FeatureStore.create(tmp_path / "s.h5", attrs=FRAME_ATTRS, layer_dims=DIMS) as writer:
        with pytest.raises(StoreError, match=message) as caught:
            writer.append("u1", rows)
        assert str(partial_path(tmp_path / "s.h5")) in str(caught.value) and "utterance 'u1'" in str(caught.value)
        assert writer.n_utterances == 0


def test_append_refuses_float16_overflow_repeats_and_bad_segments(tmp_path):
    ok = {"T0": np.zeros((2, 6)), "T1": np.zeros((2, 6))}
    with FeatureStore.create(tmp_path / "h.h5", attrs=FRAME_ATTRS, layer_dims=DIMS, dtype="float16") as writer:
        with pytest.raises(StoreError, match="layer T1: values beyond the float16 range"):
            writer.append("u1", {"T0": np.zeros((2, 6)), "T1": np.full((2, 6), 1e6)})
        writer.append("u1", ok)
        with pytest.raises(StoreError, match="utterance 'u1': is already in the store"):
            writer.append("u1", ok)
        with pytest.raises(StoreError, match="segments given, but this is a frame-span store"):
            writer.append("u2", ok, segments=[("a", 0, 1), ("b", 1, 2)])
        with pytest.raises(StoreError, match=r"attention T1: shape \(2, 3, 4\)"):
            writer.append("u2", ok, attention={"T1": np.zeros((2, 3, 4))})
        with pytest.raises(StoreError, match="attention T1: non-finite"):
            writer.append("u2", ok, attention={"T1": np.full((1, 2, 2), -np.inf)})
        with pytest.raises(StoreError, match=r"attention_logits T1: NaN or \+inf"):
            writer.append("u2", ok, attention_logits={"T1": np.full((1, 2, 2), np.inf)})
    with FeatureStore.create(tmp_path / "p.h5", attrs=PHONE_ATTRS, layer_dims=DIMS) as writer:
        with pytest.raises(StoreError, match="a phone-span store needs segments"):
            writer.append("u1", ok)
        with pytest.raises(StoreError, match="1 segments for 2 rows"):
            writer.append("u1", ok, segments=[("a", 0.0, 0.1)])
        with pytest.raises(StoreError, match="ends before it starts"):
            writer.append("u1", ok, segments=[("a", 0.0, 0.1), ("b", 0.3, 0.2)])
        assert writer.n_utterances == 0


@pytest.mark.parametrize(
    "attrs, dims, message",
    [
        ({"model": "m", "rep": "contextualized", "span": "frame"}, DIMS, "frame_rate_hz must be a positive number"),
        ({**FRAME_ATTRS, "span": "segment"}, DIMS, "span is 'segment'"),
        ({**FRAME_ATTRS, "complete": True}, DIMS, "complete are set by the writer"),
        ({**FRAME_ATTRS, "layer_ids": ["T0", "T2"]}, DIMS, r"layer_ids \(T0, T2\) does not match layer_dims \(T0, T1\)"),
        ({**FRAME_ATTRS, "config": {"x": object()}}, DIMS, "config is not JSON-serialisable"),
        (FRAME_ATTRS, {"t4": 3}, "'t4' is not a layer id in normal form"),
        (FRAME_ATTRS, {"T4": 0}, "layer T4: dim must be a positive integer"),
        (FRAME_ATTRS, {}, "at least one layer"),
    ],
)
def test_create_refuses_bad_arguments(tmp_path, attrs, dims, message):
    with pytest.raises(StoreError, match=message):
        FeatureStore.create(tmp_path / "s.h5", attrs=attrs, layer_dims=dims)
    assert not partial_path(tmp_path / "s.h5").exists()


def test_a_frame_store_needs_a_layer_on_its_grid(tmp_path):
    with pytest.raises(StoreError, match=r"no layer is on the store's grid \(frame_rate_hz = 50 Hz\)"):
        FeatureStore.create(tmp_path / "s.h5", attrs=FRAME_ATTRS, layer_dims={"C1": 3}, layer_frame_rates={"C1": 100.0})


# --------------------------------------------------------------------------------------------------
# Resume


def test_resume_after_kill_between_rows_and_index_equals_uninterrupted_write(tmp_path):
    utts = _utterances(6, seed=5, span="phone")
    reference = _write(tmp_path / "ref" / "p.h5", utts, attrs=PHONE_ATTRS)
    path = tmp_path / "run" / "p.h5"
    _write(path, utts[:3], attrs=PHONE_ATTRS, finish=False).close()
    killed = utts[3]  # its rows, segments and attention reach the file, its index entry does not
    with h5py.File(partial_path(path), "r+") as file:
        for layer, rows in killed["rows"].items():
            dataset = file[f"layers/{layer}"]
            dataset.resize(dataset.shape[0] + len(rows), axis=0)
            dataset[-len(rows):] = rows
        for name, values in (
            ("label", [label for label, _, _ in killed["segments"]]),
            ("utt_index", [3] * len(killed["segments"])),
            ("start_s", [s for _, s, _ in killed["segments"]]),
            ("end_s", [e for _, _, e in killed["segments"]]),
        ):
            dataset = file[f"segments/{name}"]
            dataset.resize(dataset.shape[0] + len(values), axis=0)
            dataset[-len(values):] = values
        file["attention"].create_group("spk%2F003").create_dataset("T1", data=np.zeros((1, 2, 2), np.float16))
        file["utterances/row_start"].resize(4, axis=0)  # the kill also left half of the index
        file["utterances/row_start"][3] = file["layers/T0"].shape[0] - len(killed["rows"]["T0"])
    writer = FeatureStore.create(path, attrs=PHONE_ATTRS, layer_dims=DIMS)
    assert writer.done_ids == {"spk/000", "spk/001", "spk/002"}
    with h5py.File(partial_path(path), "r") as file:
        assert file["layers/T0"].shape[0] == sum(len(u["rows"]["T0"]) for u in utts[:3])
        assert file["utterances/row_start"].shape == (3,) and "spk%2F003" not in file["attention"]
    for utt in utts:
        if utt["utt_id"] not in writer.done_ids:
            writer.append(**utt)
    writer.finish()
    _assert_same_files(path, reference)


def test_resume_is_refused_for_a_partial_written_with_other_options(tmp_path):
    path = tmp_path / "s.h5"
    _write(path, _utterances(2), finish=False).close()
    other = {**FRAME_ATTRS, "config": {"layers": "T1"}}
    expected = r"s\.h5\.partial: is a partial store written with other options \(differing: config\); delete it or pass --overwrite"
    with pytest.raises(StoreError, match=expected):
        FeatureStore.create(path, attrs=other, layer_dims=DIMS)
    with pytest.raises(StoreError, match=r"\(differing: layer dims\)"):
        FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims={"T0": 6, "T1": 7})
    with pytest.raises(StoreError, match=r"\(differing: dtype\)"):
        FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims=DIMS, dtype="float16")
    with FeatureStore.create(path, attrs=other, layer_dims=DIMS, overwrite=True) as writer:
        assert writer.done_ids == frozenset()
    with FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims=DIMS, resume=False) as writer:
        assert writer.done_ids == frozenset()


def test_an_unreadable_partial_is_discarded_with_a_warning(tmp_path):
    path = tmp_path / "s.h5"
    partial_path(path).write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    with pytest.warns(UserWarning, match=r"s\.h5\.partial: cannot be opened .*discarding it and starting afresh"):
        writer = FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims=DIMS)
    utts = _utterances(2)
    for utt in utts:
        writer.append(**utt)
    writer.finish()
    with FeatureStore.open(path) as store:
        assert store.utterance_ids == ["spk/000", "spk/001"]


def test_context_manager_keeps_the_partial_on_error_and_resume_continues(tmp_path):
    path = tmp_path / "s.h5"
    utts = _utterances(4)
    with pytest.raises(RuntimeError, match="model crashed"):
        with FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims=DIMS) as writer:
            writer.append(**utts[0])
            writer.append(**utts[1])
            raise RuntimeError("model crashed")
    assert writer.closed and partial_path(path).exists() and not path.exists()
    with pytest.raises(StoreError, match="the store writer is closed"):
        writer.append(**utts[2])
    with FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims=DIMS) as writer:
        assert writer.done_ids == {"spk/000", "spk/001"}
        writer.append(**utts[2])
        writer.append(**utts[3])
        writer.finish()
    with FeatureStore.open(path) as store:
        assert np.array_equal(store.read("T0"), np.concatenate([u["rows"]["T0"] for u in utts]))


def test_a_failed_write_closes_the_writer_and_resume_cuts_its_rows(tmp_path, monkeypatch):
    utts = _utterances(4, seed=12)
    reference = _write(tmp_path / "ref.h5", utts)
    path = tmp_path / "s.h5"
    writer = _write(path, utts[:2], finish=False)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(writer), "_extend_index", disk_full)
    with pytest.raises(StoreError, match=r"s\.h5\.partial: cannot write the store \(No space left on device\); the disk may be full"):
        writer.append(**utts[2])
    monkeypatch.undo()
    assert writer.closed
    with h5py.File(partial_path(path), "r") as file:  # rows of the failed utterance reached the file
        assert file["layers/T0"].shape[0] == sum(len(u["rows"]["T0"]) for u in utts[:3])
    writer = FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims=DIMS)
    assert writer.done_ids == {"spk/000", "spk/001"}
    for utt in utts[2:]:
        writer.append(**utt)
    writer.finish()
    _assert_same_files(path, reference)


def test_flushed_utterances_survive_a_hard_kill(tmp_path):
    path = tmp_path / "s.h5"
    script = textwrap.dedent(
        f"""
        import os, numpy as np
        from layerprobe.io.store import FeatureStore
        writer = FeatureStore.create({str(path)!r}, attrs={FRAME_ATTRS!r}, layer_dims={DIMS!r}, flush_every=2)
        for i in range(5):
            writer.append(f"u{{i}}", {{"T0": np.full((3, 6), i, np.float32), "T1": np.ones((3, 6), np.float32)}})
        os._exit(9)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=1800)
    assert result.returncode == 9, result.stderr
    with FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims=DIMS) as writer:
        assert writer.done_ids >= {"u0", "u1", "u2", "u3"}  # flushed after u1 and u3
        writer.finish()
    with FeatureStore.open(path) as store:
        kept = store.n_utterances
        assert store.read("T0")[:, 0].tolist() == [float(i) for i in range(kept) for _ in range(3)]


# --------------------------------------------------------------------------------------------------
# Reading complete files only


def test_reader_refuses_partial_and_incomplete_files(tmp_path):
    path = tmp_path / "s.h5"
    _write(path, _utterances(1), finish=False).close()
    with pytest.raises(StoreError, match=r"s\.h5\.partial: is an unfinished store \(\.partial\)"):
        FeatureStore.open(partial_path(path))
    with pytest.raises(StoreError, match=r"s\.h5: is unfinished: only s\.h5\.partial exists"):
        FeatureStore.open(path)
    partial_path(path).rename(path)
    with pytest.raises(StoreError, match=r"s\.h5: is incomplete \(complete=False\)"):
        FeatureStore.open(path)
    with pytest.raises(StoreError, match=r"nothing\.h5: no such feature store"):
        FeatureStore.open(tmp_path / "nothing.h5")


def test_a_complete_store_is_not_overwritten_without_overwrite(tmp_path):
    path = _write(tmp_path / "s.h5", _utterances(2))
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"s\.h5: a complete store exists already; delete it or pass --overwrite"):
        FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims=DIMS)
    writer = FeatureStore.create(path, attrs=FRAME_ATTRS, layer_dims=DIMS, overwrite=True)
    writer.append(**_utterances(1, seed=9)[0])
    assert path.read_bytes() == before  # the old store stays until the new one is finished
    writer.finish()
    with FeatureStore.open(path) as store:
        assert store.n_utterances == 1


def test_missing_dataset_or_wrong_shape_names_the_dataset(tmp_path):
    path = _write(tmp_path / "s.h5", _utterances(3))
    with h5py.File(path, "r+") as file:
        del file["layers/T1"]
    with pytest.raises(StoreError, match=r"s\.h5: has no dataset /layers/T1"):
        FeatureStore.open(path)

    path = _write(tmp_path / "t.h5", _utterances(3))
    with h5py.File(path, "r+") as file:
        del file["utterances/n_rows"]
        file["utterances/n_rows"] = np.zeros((3, 2), np.int64)
    with pytest.raises(StoreError, match=r"t\.h5: dataset /utterances/n_rows has shape \(3, 2\), expected a vector"):
        FeatureStore.open(path)

    path = _write(tmp_path / "u.h5", _utterances(3))
    with h5py.File(path, "r+") as file:
        file["layers/T0"].resize(1, axis=0)
    with pytest.raises(StoreError, match=r"u\.h5: dataset /layers/T0 has 1 rows but /utterances indexes"):
        FeatureStore.open(path)

    phone = _write(tmp_path / "p.h5", _utterances(3, span="phone"), attrs=PHONE_ATTRS)
    with h5py.File(phone, "r+") as file:
        del file["segments/label"]
    with pytest.raises(StoreError, match=r"p\.h5: has no dataset /segments/label"):
        FeatureStore.open(phone)

    not_a_store = tmp_path / "x.h5"
    with h5py.File(not_a_store, "w") as file:
        file.attrs["complete"] = True
    with pytest.raises(StoreError, match=r"x\.h5: has no attr 'layer_ids'; not a layerprobe feature store"):
        FeatureStore.open(not_a_store)


# --------------------------------------------------------------------------------------------------
# Shards and merge


def _write_shards(directory: Path, utts: list[dict], count: int, *, attrs=PHONE_ATTRS, skip=()) -> Path:
    base = directory / "p.h5"
    per = -(-len(utts) // count)
    for index in range(1, count + 1):
        if index not in skip:
            _write(shard_path(base, index, count), utts[(index - 1) * per : index * per], attrs=attrs)
    return base


def test_shards_read_together_equal_the_single_store(tmp_path):
    utts = _utterances(7, seed=6, span="phone")
    single = _write(tmp_path / "one" / "p.h5", utts, attrs=PHONE_ATTRS)
    base = _write_shards(tmp_path / "sharded", utts, 3)
    shards = find_shards(base)
    assert [p.name for p in shards] == [f"p.shard-0000{i}-of-00003.h5" for i in (1, 2, 3)]
    one, many, by_base = FeatureStore.open(single), FeatureStore.open(reversed(shards)), FeatureStore.open(base)
    with one, many, by_base:
        for store in (many, by_base):
            assert store.paths == shards
            assert store.attrs == one.attrs and "shard_index" not in store.attrs
            assert store.utterance_ids == one.utterance_ids
            assert store.labels.tolist() == one.labels.tolist()
            assert np.array_equal(store.segment_utt_index, one.segment_utt_index)
            assert np.array_equal(store.segment_times, one.segment_times)
            for layer in DIMS:
                assert store.n_rows(layer) == one.n_rows(layer)
                assert np.array_equal(store.read(layer), one.read(layer))
                assert np.array_equal(store.read(layer, slice(3, -2)), one.read(layer, slice(3, -2)))
            for utt in utts:
                utt_id = utt["utt_id"]
                assert np.array_equal(store.utterance_rows(utt_id, "T1"), one.utterance_rows(utt_id, "T1"))
            assert np.array_equal(store.attention("spk/004", "T1"), one.attention("spk/004", "T1"))
        assert "(+2 more shards)" in many.describe()
    with FeatureStore.open(shards[1]) as alone:
        assert alone.attrs["shard_index"] == 2 and alone.attrs["shard_count"] == 3
        assert alone.utterance_ids == [u["utt_id"] for u in utts[3:6]]


def test_merge_equals_a_store_written_in_one_process(tmp_path):
    utts = _utterances(8, seed=7, span="phone")
    single = _write(tmp_path / "one" / "p.h5", utts, attrs=PHONE_ATTRS)
    base = _write_shards(tmp_path / "sharded", utts, 3)
    assert merge_shards(base) == base
    _assert_same_files(base, single)
    assert len(find_shards(base)) == 3
    with pytest.raises(StoreError, match="a complete store exists already"):
        merge_shards(base)
    merge_shards(base, overwrite=True, remove_shards=True)
    assert find_shards(base) == [] and not partial_path(base).exists()
    _assert_same_files(base, single)


def test_merge_of_a_local_store_keeps_the_per_layer_index(tmp_path):
    rng = np.random.default_rng(8)
    attrs = {**FRAME_ATTRS, "rep": "local", "frame_rate_hz": 100.0}
    dims, rates = {"C1": 2, "C7": 3}, {"C7": 50.0}
    utts = [
        {"utt_id": f"u{i}", "rows": {"C1": rng.random((2 * n, 2)), "C7": rng.random((n, 3))}}
        for i, n in enumerate([3, 1, 4, 2])
    ]
    single = tmp_path / "one" / "l.h5"
    _write(single, utts, attrs=attrs, dims=dims, layer_frame_rates=rates)
    base = tmp_path / "sharded" / "l.h5"
    for index in (1, 2):
        shard = shard_path(base, index, 2)
        _write(shard, utts[2 * index - 2 : 2 * index], attrs=attrs, dims=dims, layer_frame_rates=rates)
    merge_shards(base)
    _assert_same_files(base, single)


def test_a_missing_shard_is_named(tmp_path):
    base = _write_shards(tmp_path, _utterances(6, span="phone"), 3, skip=(2,))
    with pytest.raises(StoreError, match=r"p\.h5: shard p\.shard-00002-of-00003\.h5 is missing"):
        FeatureStore.open(base)
    with pytest.raises(StoreError, match=r"shard p\.shard-00002-of-00003\.h5 is missing"):
        FeatureStore.open(find_shards(base))
    with pytest.raises(StoreError, match=r"shard p\.shard-00002-of-00003\.h5 is missing"):
        merge_shards(base)
    assert not base.exists() and not partial_path(base).exists()
    writer = FeatureStore.create(shard_path(base, 2, 3), attrs=PHONE_ATTRS, layer_dims=DIMS)
    writer.close()
    with pytest.raises(StoreError, match=r"00003\.h5 is missing \(only its \.partial exists: unfinished\)"):
        merge_shards(base)


def test_shards_of_different_extractions_are_refused(tmp_path):
    utts = _utterances(4, span="phone")
    base = tmp_path / "p.h5"
    _write(shard_path(base, 1, 2), utts[:2], attrs=PHONE_ATTRS)
    _write(shard_path(base, 2, 2), utts[2:], attrs={**PHONE_ATTRS, "config": {"layers": "T0-T1"}})
    expected = r"p\.shard-00002-of-00002\.h5: differs from p\.shard-00001-of-00002\.h5 in config"
    with pytest.raises(StoreError, match=expected):
        FeatureStore.open(base)
    _write(shard_path(base, 1, 3), utts[:1], attrs=PHONE_ATTRS)
    with pytest.raises(StoreError, match=r"shards of different counts \(2, 3\)"):
        FeatureStore.open(find_shards(base))
    with pytest.raises(StoreError, match="is not a shard file"):
        FeatureStore.open([shard_path(base, 1, 2), base])


def test_iter_rows_concatenated_equals_read_across_shard_boundaries(tmp_path):
    base = _write_shards(tmp_path, _utterances(9, seed=3, span="phone"), 3)
    with FeatureStore.open(base) as store:
        total = store.n_rows("T0")
        for chunk_rows in (1, 7, total, total + 5):
            blocks = list(store.iter_rows("T0", chunk_rows=chunk_rows))
            assert all(len(b) <= chunk_rows for b in blocks) and len(blocks) == -(-total // chunk_rows)
            assert np.array_equal(np.concatenate(blocks), store.read("T0"))
        with pytest.raises(ValueError, match="chunk_rows must be a positive integer"):
            next(store.iter_rows("T0", chunk_rows=0))


def test_row_ranges_index_each_utterance_across_shards_and_grids(tmp_path):
    rng = np.random.default_rng(9)
    attrs = {**FRAME_ATTRS, "rep": "local", "frame_rate_hz": 100.0}
    dims, rates = {"C1": 2, "C7": 3}, {"C7": 50.0}
    lengths = [3, 0, 4, 2, 5]
    utts = [
        {"utt_id": f"u{i}", "rows": {"C1": rng.random((2 * n, 2)), "C7": rng.random((n, 3))}}
        for i, n in enumerate(lengths)
    ]
    base = tmp_path / "l.h5"
    for index, part in ((1, utts[:2]), (2, utts[2:3]), (3, utts[3:])):
        _write(shard_path(base, index, 3), part, attrs=attrs, dims=dims, layer_frame_rates=rates)
    with FeatureStore.open(base) as store:
        start, count = store.row_ranges("C7")
        assert start.dtype == count.dtype == np.int64
        assert start.tolist() == [0, 3, 3, 7, 9] and count.tolist() == lengths
        start1, count1 = store.row_ranges("C1")
        assert start1.tolist() == [0, 6, 6, 14, 18] and count1.tolist() == [2 * n for n in lengths]
        for utt, first, n in zip(store.utterance_ids, start1, count1):
            assert np.array_equal(store.read("C1", slice(first, first + n)), store.utterance_rows(utt, "C1"))
        start[:] = -1  # a copy: the store's own index is untouched
        assert store.row_ranges("C7")[0].tolist() == [0, 3, 3, 7, 9]
        with pytest.raises(StoreError, match=r"has no layer 'T0' \(it has C1, C7\)"):
            store.row_ranges("T0")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dims=st.dictionaries(st.sampled_from(["C3", "T0", "T5", "mel"]), st.integers(1, 40), min_size=1, max_size=3),
    counts=st.lists(st.integers(0, 50), min_size=0, max_size=12),
    dtype=st.sampled_from(["float32", "float16"]),
    seed=st.integers(0, 2**16),
)
def test_property_appended_rows_read_back_as_their_concatenation(dims, counts, dtype, seed):
    rng = np.random.default_rng(seed)
    utts = [
        {"utt_id": f"u{i}", "rows": {layer: rng.standard_normal((n, dim)) * 10 for layer, dim in dims.items()}}
        for i, n in enumerate(counts)
    ]
    with tempfile.TemporaryDirectory() as directory:
        path = _write(Path(directory) / "s.h5", utts, dims=dims, dtype=dtype, flush_every=3)
        with FeatureStore.open(path) as store:
            assert store.utterance_ids == [u["utt_id"] for u in utts]
            for layer, dim in dims.items():
                expected = np.concatenate([u["rows"][layer] for u in utts] or [np.zeros((0, dim))])
                expected = expected.astype(dtype).astype(np.float32)
                assert np.array_equal(store.read(layer), expected)
                blocks = list(store.iter_rows(layer, chunk_rows=17))
                assert all(len(block) == 17 for block in blocks[:-1])
                assert np.array_equal(np.concatenate([np.zeros((0, dim), np.float32), *blocks]), expected)
                if utts:
                    last = utts[-1]
                    own = last["rows"][layer].astype(dtype).astype(np.float32)
                    assert np.array_equal(store.utterance_rows(last["utt_id"], layer), own)


# --------------------------------------------------------------------------------------------------
# Paths


def test_store_path_and_shard_names():
    path = store_path("out", "hf_facebook_wav2vec2-base", "librispeech", "dev-clean", 1, "contextualized", "frame")
    assert path == Path("out/hf_facebook_wav2vec2-base/librispeech_dev-clean_sample1/contextualized_frame.h5")
    sharded = store_path("out", "tag", "timit", "test", 2, "local", "phone", shard=(3, 16))
    assert sharded.name == "local_phone.shard-00003-of-00016.h5"
    assert parse_shard_path(sharded) == (sharded.with_name("local_phone.h5"), 3, 16)
    assert parse_shard_path(path) is None
    with pytest.raises(ConfigError, match=r"shard 0/4 is out of range"):
        shard_path(path, 0, 4)
    with pytest.raises(ConfigError, match="not be a shard already"):
        shard_path(sharded, 1, 2)
    with pytest.raises(ConfigError, match="unknown rep 'global'"):
        store_path("out", "tag", "c", "s", 1, "global", "frame")
    with pytest.raises(ConfigError, match="corpus 'a/b' cannot be a directory name"):
        store_path("out", "tag", "a/b", "s", 1, "local", "frame")


def test_model_tag_is_filesystem_safe(tmp_path):
    assert model_tag("hf:facebook/wav2vec2-base") == "hf_facebook_wav2vec2-base"
    assert model_tag("tiny:wav2vec2") == "tiny_wav2vec2"
    first, second = tmp_path / "a" / "my model", tmp_path / "b" / "my model"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    tag_a, tag_b = model_tag(f"hf:{first}"), model_tag(f"hf:{second}")
    assert tag_a.startswith("hf_my_model-") and len(tag_a) == len("hf_my_model-") + 8
    assert tag_a != tag_b and "/" not in tag_a
    assert model_tag(f"hf:{first}") == tag_a
    with pytest.raises(ConfigError, match="empty model spec"):
        model_tag("hf:")


def test_find_shards_ignores_partials_and_other_stores(tmp_path):
    base = tmp_path / "p.h5"
    for index in (2, 1):
        shard_path(base, index, 2).write_bytes(b"")
    partial_path(shard_path(base, 1, 3)).write_bytes(b"")
    (tmp_path / "pp.shard-00001-of-00002.h5").write_bytes(b"")
    assert find_shards(base) == [shard_path(base, 1, 2), shard_path(base, 2, 2)]
    assert find_shards(shard_path(base, 2, 2)) == find_shards(base)
    assert find_shards(tmp_path / "missing" / "p.h5") == []


@pytest.mark.parametrize("n_kills", [3, pytest.param(16, marks=pytest.mark.heavy)])
@pytest.mark.filterwarnings("ignore:.*damaged on disk:UserWarning")
def test_resume_survives_repeated_hard_kills_mid_write(tmp_path, n_kills):
    """SIGKILL a writer at random moments; every resume keeps a prefix and the final store is exact.

    Each child resumes the previous one's ``.partial`` and writes on: before resumes copied the
    intact prefix to a fresh file, writing into the killed file failed with "bad heap index".
    """
    import random
    import signal
    import time

    path = tmp_path / "s.h5"
    script = textwrap.dedent(
        f"""
        import numpy as np
        from layerprobe.io.store import FeatureStore
        writer = FeatureStore.create({str(path)!r}, attrs={PHONE_ATTRS!r}, layer_dims={DIMS!r}, flush_every=3)
        said = False
        for i in range(10**6):
            if f"u{{i}}" in writer.done_ids:
                continue
            n = 1 + i % 5
            maps = {{"T1": np.full((1, n, n), 0.5)}} if i % 7 == 0 else None
            writer.append(f"u{{i}}", {{"T0": np.full((n, 6), i), "T1": np.full((n, 6), -i)}},
                          segments=[(f"l{{i}}", 0.0, 0.1)] * n, attention=maps)
            if not said:  # this process has appended its first utterance
                print("writing", flush=True)
                said = True
        """
    )
    pace = random.Random(11)
    for _ in range(n_kills):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # kill only once the child is writing (an event, not a time: a loaded machine starts it late), then
        # at a random moment within the next writes
        assert child.stdout.readline() == "writing\n", child.stderr.read()
        time.sleep(pace.uniform(0.0, 1.0))
        child.send_signal(signal.SIGKILL)
        _, stderr = child.communicate()
        # the child must still have been writing: a resume that writes into damaged metadata fails
        assert child.returncode == -signal.SIGKILL, stderr
        with FeatureStore.create(path, attrs=PHONE_ATTRS, layer_dims=DIMS) as writer:
            done = writer.done_ids
        assert done == {f"u{i}" for i in range(len(done))}
    FeatureStore.create(path, attrs=PHONE_ATTRS, layer_dims=DIMS).finish()
    with FeatureStore.open(path) as store:
        n_utts = store.n_utterances
        assert n_utts > 0
        counts = [1 + i % 5 for i in range(n_utts)]
        assert store.read("T0")[:, 0].tolist() == [float(i) for i, n in enumerate(counts) for _ in range(n)]
        assert store.labels.tolist() == [f"l{i}" for i, n in enumerate(counts) for _ in range(n)]
        assert [store.attention(f"u{i}", "T1") is not None for i in range(n_utts)] == [
            i % 7 == 0 for i in range(n_utts)
        ]


def test_no_room_for_the_next_utterance_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import resource

    utts = _utterances(3, seed=4)
    path = tmp_path / "s.h5"
    writer = _write(path, utts[:1], finish=False)
    size = partial_path(path).stat().st_size
    # A file-size limit (ulimit -f) just above the file: no room for the next utterance's rows.
    monkeypatch.setattr(resource, "getrlimit", lambda what: (size + 1000, resource.RLIM_INFINITY))
    with pytest.raises(StoreError, match=r"file-size limit \(ulimit -f\) is \d+ bytes .* it resumes"):
        writer.append(**utts[1])
    assert partial_path(path).stat().st_size == size and not writer.closed  # nothing written, still usable
    monkeypatch.undo()
    Disk = type("Disk", (), {"free": 10})
    monkeypatch.setattr("layerprobe.io.store.writer.shutil.disk_usage", lambda where: Disk())
    with pytest.raises(StoreError, match=r"the disk is full \(10 bytes of room"):
        writer.append(**utts[1])
    monkeypatch.undo()
    for utt in utts[1:]:
        writer.append(**utt)
    writer.finish()
    _assert_same_files(path, _write(tmp_path / "ref.h5", utts))
