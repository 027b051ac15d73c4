"""Fuzzing the feature-store reader: valid tiny stores, then datasets deleted or reshaped, attrs changed,
indexes corrupted, bytes truncated or flipped.

``FeatureStore.open`` either refuses a damaged store with a StoreError naming the file, or opens it,
and then every read (rows, streaming, utterances, segments, attention maps, the summary) either
returns what it promises or raises a StoreError.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.errors import LayerprobeError, StoreError
from layerprobe.io.store import FeatureStore
from support.fuzz import LEDGER, StoreWorker, check_error_message, fuzz, json_values, mutated_bytes, read_whole_store, refuses

DIMS = {"T0": 4, "T1": 4, "C7": 3}


def _write_store(path, span: str) -> None:
    attrs = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": span, "frame_rate_hz": 50.0, "config": {"layers": "all"}}
    rng = np.random.default_rng(0)
    writer = FeatureStore.create(path, attrs=attrs, layer_dims=DIMS, layer_frame_rates={"C7": 50.0})
    for i in range(3):
        n = 2 + i
        rows = {layer: rng.standard_normal((n, dim)).astype(np.float32) for layer, dim in DIMS.items()}
        segments = [(f"ph{j}", 0.1 * j, 0.1 * j + 0.05) for j in range(n)] if span != "frame" else None
        maps = {"T1": rng.random((2, n + 1, n + 1)).astype(np.float32)} if i == 1 else None
        writer.append(f"utt-{i}", rows, segments=segments, attention=maps)
    writer.finish()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A complete frame-span and phone-span store (bytes of the files)."""
    root = tmp_path_factory.mktemp("stores")
    files = {}
    for span in ("frame", "phone"):
        path = root / f"contextualized_{span}.h5"
        _write_store(path, span)
        files[span] = path.read_bytes()
    return files


def exercise(target: str, store: FeatureStore) -> None:
    """Every read of an opened store: a StoreError (counted) or a value that keeps its promise."""
    try:
        read_whole_store(store)
    except LayerprobeError as exc:
        LEDGER.tried(f"{target}, reads after open", "refused")
        check_error_message(exc)
        return
    except AssertionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the contract: readers raise StoreError, nothing else
        LEDGER.tried(f"{target}, reads after open")
        raise AssertionError(f"{target}: a read raised {type(exc).__name__}: {str(exc)[:300]}") from exc
    LEDGER.tried(f"{target}, reads after open", "accepted")


def _open_and_read(target: str, path) -> None:
    opened = refuses(f"{target} (FeatureStore.open)", FeatureStore.open, path, names=path.name, error=StoreError, may_accept=True)
    if isinstance(opened, FeatureStore):
        with opened:
            exercise(target, opened)


# --------------------------------------------------------------------------------------------------
# structural damage with h5py


def _items(path) -> list[str]:
    names = []
    with h5py.File(path, "r") as file:
        file.visit(names.append)
    return sorted(names)


attr_values = st.one_of(
    st.sampled_from(["", "x", "nan", "[]", "{}", '["T9"]', "[1, 2]", '["T0", "T0"]', '"T0"', "null", '{"a": 1}', "frame", "word",
                     "syllable", "T0", "[\"T0\", \"T1\", \"C7\", \"T5\"]"]),
    st.sampled_from([0, -1, 1, 2**40, 0.0, -50.0, float("nan"), float("inf"), True, False]),
    json_values.map(json.dumps),
    st.just(np.array([1, 2, 3])),
    st.just(np.array(["a", "b"], dtype=h5py.string_dtype())),
)  # fmt: skip

dataset_values = st.one_of(
    st.sampled_from(["1d", "2d-wide", "2d-narrow", "int", "float64", "string", "scalar", "empty", "bool", "group", "negative", "huge", "nan"]),
)


def _replacement(kind: str, shape: tuple, dtype) -> object:
    n = shape[0] if shape else 3
    if kind == "1d":
        return np.arange(n, dtype=np.float32)
    if kind == "2d-wide":
        return np.zeros((n, (shape[1] if len(shape) > 1 else 1) + 2), dtype=np.float32)
    if kind == "2d-narrow":
        return np.zeros((max(n - 1, 0), 2), dtype=np.float16)
    if kind == "int":
        return np.arange(n, dtype=np.int32).reshape((n,) + (1,) * (len(shape) - 1)) if shape else 7
    if kind == "float64":
        return np.zeros(shape or (3,), dtype=np.float64)
    if kind == "string":
        return np.array([f"s{i}" for i in range(n)], dtype=h5py.string_dtype())
    if kind == "scalar":
        return 5
    if kind == "empty":
        return np.zeros((0,) + tuple(shape[1:]), dtype=dtype if dtype.kind != "O" else np.float32)
    if kind == "bool":
        return np.ones(shape or (3,), dtype=bool)
    if kind == "negative":
        return np.full(shape or (3,), -5, dtype=np.int64)
    if kind == "huge":
        return np.full(shape or (3,), 2**40, dtype=np.int64)
    return np.full(shape or (3,), np.nan, dtype=np.float64)  # "nan"


@st.composite
def h5_edits(draw, names: list[str]):
    """A list of (operation, name, value) edits of a store file."""
    edits = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "replace", "replace", "attr", "attr", "attr", "dataset-attr", "values"]))
        if kind == "attr":
            key = draw(st.sampled_from(["layer_ids", "span", "frame_rate_hz", "complete", "config", "model", "shard_index",
                                        "shard_count", "rep", "layerprobe_version"]))  # fmt: skip
            edits.append(("attr", key, draw(st.one_of(st.just(None), attr_values))))
        elif kind == "dataset-attr":
            edits.append(("dataset-attr", draw(st.sampled_from([n for n in names if n.startswith("layers/")])), draw(attr_values)))
        else:
            value = draw(dataset_values) if kind == "replace" else draw(st.sampled_from(["shuffle", "bump", "zero", "dupe"]))
            edits.append((kind, draw(st.sampled_from(names)), value))
    return edits


def _apply(path, edits) -> None:
    with h5py.File(path, "r+") as file:
        for operation, name, value in edits:
            if operation == "attr":
                if value is None:
                    file.attrs.pop(name, None)
                else:
                    file.attrs[name] = value
            elif operation == "dataset-attr":
                if name in file:
                    file[name].attrs["frame_rate_hz"] = value
            elif name not in file:
                continue
            elif operation == "delete":
                del file[name]
            elif operation == "replace":
                item = file[name]
                shape, dtype = (item.shape, item.dtype) if isinstance(item, h5py.Dataset) else ((3,), np.dtype(np.float32))
                del file[name]
                if value == "group":
                    file.create_group(name)
                else:
                    file[name] = _replacement(value, shape, dtype)
            elif isinstance(file[name], h5py.Dataset) and file[name].shape and file[name].size:
                data = file[name][()]
                if value == "shuffle":
                    data = data[::-1].copy()
                elif value == "bump" and data.dtype.kind in "iuf":
                    data = data + 1
                elif value == "zero" and data.dtype.kind in "iuf":
                    data = np.zeros_like(data)
                elif value == "dupe":
                    data = np.concatenate([data[:1]] * len(data))
                file[name][...] = data


@fuzz(scale=0.8)
@given(data=st.data(), span=st.sampled_from(["frame", "phone"]))
@example(data=None, span="frame:frame_rate_hz=abc")  # float('abc'): ValueError escaped FeatureStore.open
@example(data=None, span="phone:utt_index=huge")
@example(data=None, span="frame:ids=int")
@example(data=None, span="frame:config=5")
def test_structurally_damaged_stores(stores, tmp_path_factory, data, span):
    path = tmp_path_factory.mktemp("store") / "contextualized_frame.h5"
    pinned = {
        "frame:frame_rate_hz=abc": ("frame", [("attr", "frame_rate_hz", "abc")]),
        "phone:utt_index=huge": ("phone", [("replace", "segments/utt_index", "huge")]),
        "frame:ids=int": ("frame", [("replace", "utterances/id", "int")]),
        "frame:config=5": ("frame", [("attr", "config", 5)]),
    }
    if span in pinned:
        span, edits = pinned[span]
        path.write_bytes(stores[span])
    else:
        path.write_bytes(stores[span])
        edits = data.draw(h5_edits(_items(path)))
    _apply(path, edits)
    _open_and_read(f"feature store, {span} span (datasets and attrs changed)", path)


@pytest.fixture(scope="module")
def worker():
    """A separate process that opens and reads byte-damaged stores (libhdf5 can hang on them)."""
    process = StoreWorker(timeout=600)  # a hang guard only; the verdict comes long before on any machine
    yield process
    process.close()


def _verdict(target: str, verdict: dict) -> None:
    """Count a worker's verdict; a failure of the contract fails the test, a libhdf5 hang or crash is counted."""
    outcome = verdict["outcome"]
    if outcome in ("hang", "crash"):
        # libhdf5 loops forever (or dies) inside C code on some damaged attribute messages: nothing
        # layerprobe can catch in-process; counted and reported, not a failure of its own code
        LEDGER.tried(f"{target} (libhdf5 {outcome})", "refused")
        return
    LEDGER.tried(target, "accepted" if outcome == "accepted" else "refused" if outcome.startswith("refused") else None)
    assert outcome != "failure", f"{target}: {verdict['message']}"


@fuzz(scale=0.3)
@given(data=st.data(), span=st.sampled_from(["frame", "phone"]))
def test_byte_damaged_stores(stores, worker, tmp_path_factory, data, span):
    raw = stores[span]
    damaged = data.draw(st.one_of(st.integers(0, len(raw) - 1).map(lambda n: raw[:n]), mutated_bytes(raw, protect=8)))
    path = tmp_path_factory.mktemp("store") / f"contextualized_{span}.h5"
    path.write_bytes(damaged)
    _verdict(f"feature store, {span} span (bytes truncated or changed)", worker.read(path))


@pytest.fixture(scope="module")
def shard_bytes(tmp_path_factory):
    """Shards 1/3, 2/3, 3/3 of a frame store and shard 2/3 of a phone store (bytes)."""
    from layerprobe.io.store import shard_path

    root = tmp_path_factory.mktemp("shards")
    files = {}
    for span, indexes in (("frame", (1, 2, 3)), ("phone", (2,))):
        for index in indexes:
            target = shard_path(root / span / "contextualized_frame.h5", index, 3)
            target.parent.mkdir(exist_ok=True)
            _write_store(target, span)
            files[span, index] = target.read_bytes()
    return files


@fuzz(scale=0.5)
@given(data=st.data(), fault=st.sampled_from(["drop", "other-store", "count", "index", "truncated"]))
def test_damaged_shard_sets(shard_bytes, tmp_path_factory, data, fault):
    """Shards 1..3 of one store with one missing, taken from another store, relabelled or truncated.

    (Byte-level damage, which can hang libhdf5, is left to test_byte_damaged_stores and its worker.)
    """
    from layerprobe.io.store import shard_path

    root = tmp_path_factory.mktemp("shard-set")
    base = root / "contextualized_frame.h5"
    victim = data.draw(st.integers(1, 3))
    for index in (1, 2, 3):
        content = shard_bytes["frame", index]
        if index == victim and fault == "other-store":
            content = shard_bytes["phone", 2]
        elif index == victim and fault == "truncated":
            content = content[: data.draw(st.integers(0, len(content) - 1))]
        if index != victim or fault != "drop":
            shard_path(base, index, 3).write_bytes(content)
    if fault in ("count", "index"):
        with h5py.File(shard_path(base, victim, 3), "r+") as file:
            file.attrs[f"shard_{fault}"] = data.draw(st.sampled_from([1, 2, 5, -1, 0]))
    opened = refuses("feature store shards (missing, inconsistent, relabelled, damaged)", FeatureStore.open, base,
                     names=root, error=StoreError, may_accept=True)  # fmt: skip
    if isinstance(opened, FeatureStore):
        with opened:
            exercise("feature store shards", opened)
