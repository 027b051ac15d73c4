"""Row-aligned views for the CCA experiments: pairing rules, streaming, dropping, content keys, errors.

Stores are written with known values: column 0 of a row is ``utterance number * 1000 + frame index``
and column 1 tells the layer apart, so every pairing can be checked exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from layerprobe.analysis.views import (
    PairedViews,
    embedding_views,
    intra_views,
    mel_views,
    onehot_views,
    phone_vocabulary,
    word_vocabulary,
)
from layerprobe.data.labels import ARPABET39
from layerprobe.errors import ConfigError, StoreError
from layerprobe.io.store import FeatureStore, shard_path

MODEL = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0}
LOCAL = {**MODEL, "rep": "local", "frame_rate_hz": 100.0}
MEL_ATTRS = {"model": "logmel", "rep": "mel", "span": "frame", "frame_rate_hz": 100.0}

#: utterance -> (frames at 50 Hz, log-mel frames at 100 Hz).  u2's mel is short (ceil(9 / 2) = 5 < 6),
#: u3 has no frames at all, u4's 10 ms grid is shorter than the mel (2 * 3 = 6 < 8).
UTTS = {"u0": (5, 11), "u1": (4, 7), "u2": (6, 9), "u3": (0, 1), "u4": (3, 8)}
LAYER_TAG = {"T0": 0.5, "T1": 1.5, "C1": 2.5, "C3": 3.5, "C7": 7.5, "mel": 9.5}


def rows(utt: str, n: int, layer: str, dim: int = 3) -> np.ndarray:
    """Known rows: column 0 = utterance number * 1000 + frame, column 1 = the layer's tag, the rest 0."""
    out = np.zeros((n, dim))
    out[:, 0] = int(utt[1:]) * 1000 + np.arange(n)
    out[:, 1] = LAYER_TAG.get(layer, 0.0)
    return out


def write_store(path: Path, attrs: dict, layers: dict[str, tuple[int, float]], utts, *, segments=None) -> Path:
    """A store of ``layers`` (id -> (dim, rate)); ``utts`` is (utt_id, {layer: n_rows}) pairs."""
    writer = FeatureStore.create(
        path, attrs=attrs, layer_dims={k: d for k, (d, _) in layers.items()},
        layer_frame_rates={k: r for k, (_, r) in layers.items()},
    )  # fmt: skip
    for utt, counts in utts:
        writer.append(
            utt,
            {layer: rows(utt, counts[layer], layer, layers[layer][0]) for layer in layers},
            segments=None if segments is None else segments[utt],
        )
    return writer.finish()


def write_sharded(base: Path, attrs, layers, utts, n_shards: int) -> Path:
    per = -(-len(utts) // n_shards)
    for index in range(1, n_shards + 1):
        write_store(shard_path(base, index, n_shards), attrs, layers, utts[(index - 1) * per : index * per])
    return base


def model_utts(order=UTTS):
    return [(u, {"T0": n, "T1": n}) for u, (n, _) in ((u, UTTS[u]) for u in order)]


def local_utts(order=UTTS):
    return [(u, {"C1": 2 * UTTS[u][0], "C3": 2 * UTTS[u][0], "C7": UTTS[u][0]}) for u in order]


def mel_utts(order=UTTS):
    return [(u, {"mel": UTTS[u][1]}) for u in order]


T_LAYERS = {"T0": (3, 50.0), "T1": (3, 50.0)}
C_LAYERS = {"C1": (2, 100.0), "C3": (2, 100.0), "C7": (3, 50.0)}
MEL_LAYERS = {"mel": (4, 100.0)}


@pytest.fixture
def stores(tmp_path):
    paths = {
        "model": write_store(tmp_path / "ctx.h5", MODEL, T_LAYERS, model_utts()),
        "local": write_store(tmp_path / "local.h5", LOCAL, C_LAYERS, local_utts()),
        "mel": write_store(tmp_path / "mel.h5", MEL_ATTRS, MEL_LAYERS, mel_utts()),
    }
    opened = {name: FeatureStore.open(path) for name, path in paths.items()}
    yield opened
    for store in opened.values():
        store.close()


def expected_mel_pairs(layer: str, stride: int, model_frames, order=UTTS):
    """X and Y by the rule: mel frame stride * i with model frame i, i < min(n_model, ceil(n_mel / stride))."""
    xs, ys = [], []
    for utt in order:
        n_model, n_mel = model_frames(utt), UTTS[utt][1]
        n = min(n_model, -(-n_mel // stride))
        xs.append(rows(utt, n_mel, "mel", 4)[::stride][:n])
        ys.append(rows(utt, n_model, layer, 3 if layer[0] == "T" or layer == "C7" else 2)[:n])
    return np.concatenate(xs), np.concatenate(ys)


# --------------------------------------------------------------------------------------------------
# cca_mel


def test_mel_pairs_every_other_mel_frame_with_50hz_frames_and_truncates(stores):
    views = mel_views(stores["model"], stores["mel"], "T1")
    X, Y = views.arrays()
    assert views.name == "mel vs T1" and views.dims == (4, 3) and views.labels is None and views.n_dropped == 0
    # u0: 5 pairs of mel 0,2,4,6,8; u1: 4; u2: 5 (mel is the shorter); u3: none; u4: 3
    assert views.n_rows == 5 + 4 + 5 + 0 + 3 == len(X) == len(Y)
    assert X[:5, 0].tolist() == [0, 2, 4, 6, 8] and Y[:5, 0].tolist() == [0, 1, 2, 3, 4]
    assert X[9:14, 0].tolist() == [2000, 2002, 2004, 2006, 2008] and Y[9:14, 0].tolist() == [2000, 2001, 2002, 2003, 2004]
    assert X.dtype == Y.dtype == np.float64
    np.testing.assert_array_equal(X[:, 1], 9.5)
    np.testing.assert_array_equal(Y[:, 1], 1.5)
    expected = expected_mel_pairs("T1", 2, lambda u: UTTS[u][0])
    np.testing.assert_array_equal(X, expected[0])
    np.testing.assert_array_equal(Y, expected[1])


def test_mel_pairs_frame_by_frame_on_the_10ms_grid_and_c7_every_other(stores):
    views = mel_views(stores["local"], stores["mel"], "C3")
    X, Y = views.arrays()
    assert views.dims == (4, 2)
    # u0: 10 model frames, 11 mel -> 10 pairs; u2: 12 model, 9 mel -> 9; u4: 6 model, 8 mel -> 6
    assert views.n_rows == 10 + 7 + 9 + 0 + 6
    assert (X[:, 0] == Y[:, 0]).all() and X[:10, 0].tolist() == list(range(10))
    expected = expected_mel_pairs("C3", 1, lambda u: 2 * UTTS[u][0])
    np.testing.assert_array_equal(X, expected[0])
    np.testing.assert_array_equal(Y, expected[1])
    c7 = mel_views(stores["local"], stores["mel"], "C7")
    expected = expected_mel_pairs("C7", 2, lambda u: UTTS[u][0])
    np.testing.assert_array_equal(c7.arrays()[0], expected[0])
    np.testing.assert_array_equal(c7.arrays()[1], expected[1])


def test_mel_store_in_another_order_with_extra_utterances_pairs_by_id(stores, tmp_path):
    order = ["u3", "u1", "u4", "u0", "u2"]
    shuffled = write_store(tmp_path / "mel2.h5", MEL_ATTRS, MEL_LAYERS, mel_utts(order) + [("u9", {"mel": 5})])
    reference = mel_views(stores["model"], stores["mel"], "T0")
    with FeatureStore.open(shuffled) as mel:
        views = mel_views(stores["model"], mel, "T0")
        for chunk_rows in (1, 3, 1000):
            X, Y = (np.concatenate(parts) for parts in zip(*views.blocks(chunk_rows)))
            np.testing.assert_array_equal(X, reference.arrays()[0])
            np.testing.assert_array_equal(Y, reference.arrays()[1])
        assert views.content_key == reference.content_key  # the same rows are paired


def test_model_store_order_sets_the_row_order(stores, tmp_path):
    order = ["u4", "u2", "u0", "u1", "u3"]
    path = write_store(tmp_path / "ctx2.h5", MODEL, T_LAYERS, model_utts(order))
    with FeatureStore.open(path) as model:
        X, Y = mel_views(model, stores["mel"], "T1").arrays()
    expected = expected_mel_pairs("T1", 2, lambda u: UTTS[u][0], order)
    np.testing.assert_array_equal(X, expected[0])
    np.testing.assert_array_equal(Y, expected[1])


def test_sharded_stores_give_the_same_pairs_and_key(stores, tmp_path):
    model = write_sharded(tmp_path / "s" / "ctx.h5", MODEL, T_LAYERS, model_utts(), 3)
    mel = write_sharded(tmp_path / "s" / "mel.h5", MEL_ATTRS, MEL_LAYERS, mel_utts(), 2)
    local = write_sharded(tmp_path / "s" / "local.h5", LOCAL, C_LAYERS, local_utts(), 2)
    with FeatureStore.open(model) as m, FeatureStore.open(mel) as s, FeatureStore.open(local) as c:
        assert len(m.paths) == 3 and len(s.paths) == 2
        for store, one, layer in ((m, stores["model"], "T1"), (c, stores["local"], "C3"), (c, stores["local"], "C7")):
            sharded, single = mel_views(store, s, layer), mel_views(one, stores["mel"], layer)
            for a, b in zip(sharded.arrays(), single.arrays()):
                np.testing.assert_array_equal(a, b)
            assert sharded.content_key == single.content_key and sharded.n_rows == single.n_rows
        intra = intra_views(m, "T1")
        for a, b in zip(intra.arrays(), intra_views(stores["model"], "T1").arrays()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", ["mel_T1", "mel_C3", "intra"])
def test_blocks_are_exact_chunks_and_concatenate_to_arrays(stores, make):
    views = {
        "mel_T1": lambda: mel_views(stores["model"], stores["mel"], "T1"),
        "mel_C3": lambda: mel_views(stores["local"], stores["mel"], "C3"),
        "intra": lambda: intra_views(stores["model"], "T1"),
    }[make]()
    X, Y = views.arrays()
    for chunk_rows in (1, 7, views.n_rows, 10**6):
        blocks = list(views.blocks(chunk_rows))
        assert [len(x) for x, _ in blocks[:-1]] == [chunk_rows] * (len(blocks) - 1)
        assert 0 < len(blocks[-1][0]) <= chunk_rows and all(len(x) == len(y) for x, y in blocks)
        np.testing.assert_array_equal(np.concatenate([x for x, _ in blocks]), X)
        np.testing.assert_array_equal(np.concatenate([y for _, y in blocks]), Y)
    first, again = list(views.blocks(5)), list(views.blocks(5))  # re-iterable: each call starts over
    assert len(first) == len(again) and all(np.array_equal(a[0], b[0]) for a, b in zip(first, again))


def test_blocks_read_bounded_ranges_not_the_whole_layer(stores, monkeypatch):
    model, mel = stores["model"], stores["mel"]
    sizes: list[tuple[str, int]] = []
    for store in (model, mel):
        original = store.read

        def read(layer, rows=None, _original=original):
            sizes.append((layer, rows.stop - rows.start))
            return _original(layer, rows)

        monkeypatch.setattr(store, "read", read)
    views = mel_views(model, mel, "T1")
    blocks = list(views.blocks(3))
    assert len(blocks) == 6
    assert max(n for layer, n in sizes if layer == "T1") <= 3 + 1  # a truncated frame may lie inside a range
    assert max(n for layer, n in sizes if layer == "mel") <= 2 * 3 + 2
    assert max(n for _, n in sizes) < min(model.n_rows("T1"), mel.n_rows("mel"))


def test_content_key_is_shared_by_layers_and_changes_with_rows_rule_and_store(stores, tmp_path):
    model, mel, local = stores["model"], stores["mel"], stores["local"]
    t0, t1 = mel_views(model, mel, "T0"), mel_views(model, mel, "T1")
    assert t0.content_key == t1.content_key and len(t0.content_key) == 64
    assert mel_views(local, mel, "C1").content_key == mel_views(local, mel, "C3").content_key
    assert mel_views(local, mel, "C7").content_key == t1.content_key  # same model, same 50 Hz pairs
    assert mel_views(local, mel, "C1").content_key != t1.content_key  # another pairing rule
    assert intra_views(model, "T1").content_key != t1.content_key
    assert intra_views(model, "T1").content_key == intra_views(model, "T0").content_key
    assert intra_views(model, "T1", base="T1").content_key != intra_views(model, "T1").content_key
    # another store with the same row structure: another model, another manifest
    other_model = write_store(tmp_path / "hub.h5", {**MODEL, "model": "tiny:hubert"}, T_LAYERS, model_utts())
    other_manifest = write_store(tmp_path / "man.h5", {**MODEL, "manifest_hash": "ab" * 32}, T_LAYERS, model_utts())
    # one utterance fewer, and other row counts
    fewer = write_store(tmp_path / "few.h5", MODEL, T_LAYERS, model_utts(["u0", "u1", "u2", "u3"]))
    longer = write_store(tmp_path / "long.h5", MODEL, T_LAYERS, [(u, {"T0": n + (u == "u1"), "T1": n + (u == "u1")}) for u, (n, _) in UTTS.items()])
    keys = {t1.content_key}
    for path in (other_model, other_manifest, fewer, longer):
        with FeatureStore.open(path) as store:
            keys.add(mel_views(store, mel, "T1").content_key)
            keys.add(intra_views(store, "T1").content_key)
    assert len(keys) == 9
    other_mel = write_store(tmp_path / "mel3.h5", MEL_ATTRS, MEL_LAYERS, [(u, {"mel": UTTS[u][1] + 4}) for u in UTTS])
    with FeatureStore.open(other_mel) as store:
        assert mel_views(model, store, "T1").content_key != t1.content_key


def test_mel_views_errors_are_one_line_and_name_store_and_layer(stores, tmp_path):
    model, mel, local = stores["model"], stores["mel"], stores["local"]
    with pytest.raises(StoreError, match=r"ctx\.h5: has no layer 'T9' \(it has T0, T1\)$"):
        mel_views(model, mel, "T9")
    with pytest.raises(StoreError, match=r"local\.h5: has no layer 'mel' .*give a log-mel store"):
        mel_views(model, local, "T1")
    missing = write_store(tmp_path / "mel4.h5", MEL_ATTRS, MEL_LAYERS, mel_utts(["u0", "u1", "u3"]))
    with FeatureStore.open(missing) as store, pytest.raises(
        StoreError, match=r"ctx\.h5: utterance 'u2' and 1 more of layer T1 is missing from the log-mel store .*mel4\.h5$"
    ):
        mel_views(model, store, "T1")
    odd = write_store(tmp_path / "odd.h5", {**MODEL, "frame_rate_hz": 30.0}, {"T0": (3, 30.0)}, [("u0", {"T0": 2})])
    with FeatureStore.open(odd) as store, pytest.raises(
        StoreError, match=r"odd\.h5: layer T0 is at 30 Hz, the log-mel frames of .*mel\.h5 at 100 Hz: the mel rate must be a whole multiple"
    ):
        mel_views(store, mel, "T0")
    phone = write_phone_store(tmp_path / "phone.h5", ["AH"])
    with FeatureStore.open(phone) as store:
        with pytest.raises(StoreError, match=r"phone\.h5: is a phone-span store; cca_mel needs a frame-span store \(layer T1\)$"):
            mel_views(store, mel, "T1")
        with pytest.raises(StoreError, match=r"phone\.h5: is a phone-span store; cca_mel needs a frame-span store \(layer mel\)$"):
            mel_views(model, store, "T1")
    empty = write_store(tmp_path / "empty.h5", MODEL, T_LAYERS, [("u3", {"T0": 0, "T1": 0})])
    with FeatureStore.open(empty) as store:
        with pytest.raises(StoreError, match=r"empty\.h5: layer T1: no frames to pair with the log-mel store"):
            mel_views(store, mel, "T1")
        with pytest.raises(StoreError, match=r"empty\.h5: layer T1 has no rows$"):
            intra_views(store, "T1")


def test_intra_pairs_base_rows_with_layer_rows(stores):
    views = intra_views(stores["model"], "T1")
    X, Y = views.arrays()
    assert views.name == "T0 vs T1" and views.n_rows == sum(n for n, _ in UTTS.values()) and views.labels is None
    np.testing.assert_array_equal(X[:, 0], Y[:, 0])
    assert (X[:, 1] == 0.5).all() and (Y[:, 1] == 1.5).all()
    with pytest.raises(StoreError, match=r"local\.h5: layers C1 \(100 Hz\) and C7 \(50 Hz\) do not have the same rows"):
        intra_views(stores["local"], "C7", base="C1")
    with pytest.raises(StoreError, match=r"local\.h5: has no layer 'T0'"):
        intra_views(stores["local"], "C3")
    with pytest.raises(ConfigError, match="chunk_rows must be a positive integer, got 0"):
        views.blocks(0)


# --------------------------------------------------------------------------------------------------
# One-hot and embedding views


def write_phone_store(path: Path, labels: list[str], *, span: str = "phone", per_utt: int = 3, shards: int = 0) -> Path:
    """A segment store, ``per_utt`` segments per utterance, row value = utterance * 1000 + segment."""
    attrs = {**MODEL, "span": span}
    utts, segments = [], {}
    for number, first in enumerate(range(0, len(labels), per_utt)):
        chunk = labels[first : first + per_utt]
        utt = f"u{number}"
        utts.append((utt, {"T0": len(chunk), "T3": len(chunk)}))
        segments[utt] = [(label, 0.1 * i, 0.1 * i + 0.05) for i, label in enumerate(chunk)]
    layers = {"T0": (3, 50.0), "T3": (3, 50.0)}
    if not shards:
        return write_store(path, attrs, layers, utts, segments=segments)
    per = -(-len(utts) // shards)
    for index in range(1, shards + 1):
        part = utts[(index - 1) * per : index * per]
        write_store(shard_path(path, index, shards), attrs, layers, part, segments={u: segments[u] for u, _ in part})
    return path


def row_values(labels: list[str], per_utt: int = 3) -> np.ndarray:
    return np.asarray([(i // per_utt) * 1000 + i % per_utt for i in range(len(labels))], dtype=float)


def test_onehot_columns_follow_the_vocabulary_and_unknown_labels_are_dropped(tmp_path):
    labels = ["AH", "sil", "B", "AH0", "zz", "K", "B", "IY"]
    with FeatureStore.open(write_phone_store(tmp_path / "p.h5", labels)) as store:
        views = onehot_views(store, "T3", vocabulary=["B", "AH", "K", "ZH"])
        X, Y = views.arrays()
    kept = [0, 2, 3, 5, 6]  # AH, B, AH0 -> AH, K, B
    assert views.name == "T3 vs one-hot phone (4)" and views.dims == (3, 4)
    assert views.n_rows == 5 and views.n_dropped == 3
    assert views.labels.tolist() == ["AH", "B", "AH", "K", "B"]
    np.testing.assert_array_equal(X[:, 0], row_values(labels)[kept])
    np.testing.assert_array_equal(
        Y, [[0, 1, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]]
    )
    assert Y.dtype == np.float64 and (X[:, 1] == 0).all()  # T3 has no tag: column 1 is zero


def test_onehot_blocks_sharded_and_keys(tmp_path):
    rng = np.random.default_rng(0)
    labels = [str(label) for label in rng.choice(["AH", "B", "K", "sil", "xx"], size=40)]
    single = write_phone_store(tmp_path / "one" / "p.h5", labels)
    sharded = write_phone_store(tmp_path / "sh" / "p.h5", labels, shards=3)
    vocab = phone_vocabulary()
    with FeatureStore.open(single) as one, FeatureStore.open(sharded) as many:
        assert len(many.paths) == 3
        views = onehot_views(one, "T3", vocabulary=vocab)
        kept = [i for i, label in enumerate(labels) if label in ("AH", "B", "K")]
        X, Y = views.arrays()
        assert views.n_rows == len(kept) and views.n_dropped == 40 - len(kept)
        np.testing.assert_array_equal(X[:, 0], row_values(labels)[kept])
        assert Y.shape == (len(kept), 39) and (Y.sum(1) == 1).all()
        assert [vocab[i] for i in Y.argmax(1)] == [labels[i] for i in kept]
        for chunk_rows in (1, 7, 10**5):
            blocks = list(views.blocks(chunk_rows))
            assert [len(x) for x, _ in blocks[:-1]] == [chunk_rows] * (len(blocks) - 1)
            np.testing.assert_array_equal(np.concatenate([x for x, _ in blocks]), X)
            np.testing.assert_array_equal(np.concatenate([y for _, y in blocks]), Y)
        other = onehot_views(many, "T3", vocabulary=vocab)
        for a, b in zip(other.arrays(), (X, Y)):
            np.testing.assert_array_equal(a, b)
        assert other.content_key == views.content_key == onehot_views(one, "T0", vocabulary=vocab).content_key
        assert onehot_views(one, "T3", vocabulary=["AH", "B", "K"]).content_key != views.content_key
        assert onehot_views(one, "T3", vocabulary=["B", "AH", "K"]).content_key != onehot_views(one, "T3", vocabulary=["AH", "B", "K"]).content_key
        assert onehot_views(one, "T3", vocabulary=["AH", "B"]).content_key != onehot_views(one, "T3", vocabulary=["AH", "B", "K"]).content_key
    changed = labels.copy()
    changed[3] = "K" if labels[3] != "K" else "AH"
    with FeatureStore.open(write_phone_store(tmp_path / "two" / "p.h5", changed)) as store:
        assert onehot_views(store, "T3", vocabulary=vocab).content_key != views.content_key


def test_onehot_errors(tmp_path, stores):
    with FeatureStore.open(write_phone_store(tmp_path / "p.h5", ["sil", "xx", "AH"])) as store:
        with pytest.raises(StoreError, match=r"p\.h5: layer T3: none of the 3 phone labels is in the vocabulary of 2"):
            onehot_views(store, "T3", vocabulary=["B", "K"])
        with pytest.raises(ConfigError, match="the vocabulary is empty"):
            onehot_views(store, "T3", vocabulary=[])
        with pytest.raises(ConfigError, match="the vocabulary lists 'B' more than once"):
            onehot_views(store, "T3", vocabulary=["B", "K", "B"])
        with pytest.raises(StoreError, match=r"p\.h5: has no layer 'T7'"):
            onehot_views(store, "T7", vocabulary=["AH"])
        with pytest.raises(StoreError, match=r"p\.h5: is a phone-span store; word embeddings \(cca_agwe, cca_glove\) needs a word-span store \(layer T3\)$"):
            embedding_views(store, "T3", {"ah": np.ones(2)})
        with pytest.raises(StoreError, match=r"p\.h5: is a phone-span store; cca_intra needs a frame-span store"):
            intra_views(store, "T3")
    with pytest.raises(StoreError, match=r"ctx\.h5: is a frame-span store; one-hot labels .* needs a phone or word-span store \(layer T1\)$"):
        onehot_views(stores["model"], "T1", vocabulary=["AH"])


def test_phone_and_word_vocabularies():
    assert phone_vocabulary() == ARPABET39 and len(phone_vocabulary()) == 39
    assert not {"sil", "SIL", "sp"} & set(phone_vocabulary())
    labels = ["b", "a", "b", "a", "c", "sil", "<unk>", "<unk>", "<unk>", "d", "d", "sp"]
    assert word_vocabulary(labels, size=2) == ("a", "b")  # a, b, d tie at 2: alphabetical
    assert word_vocabulary(labels, size=3) == ("a", "b", "d")
    assert word_vocabulary(labels) == ("a", "b", "d", "c")
    assert word_vocabulary(iter(["z", "y", "z"]), size=1) == ("z",)
    with pytest.raises(ConfigError, match="vocabulary size must be a positive integer, got 0"):
        word_vocabulary(labels, size=0)


def test_word_onehot_uses_the_word_vocabulary(tmp_path):
    labels = ["the", "cat", "the", "<unk>", "dog", "the", "cat", "sat"]
    with FeatureStore.open(write_phone_store(tmp_path / "w.h5", labels, span="word")) as store:
        vocab = word_vocabulary(store.labels, size=2)
        views = onehot_views(store, "T3", vocabulary=vocab)
        X, Y = views.arrays()
    assert vocab == ("the", "cat") and views.name == "T3 vs one-hot word (2)"
    assert views.labels.tolist() == ["the", "cat", "the", "the", "cat"] and views.n_dropped == 3
    np.testing.assert_array_equal(Y.argmax(1), [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(X[:, 0], row_values(labels)[[0, 1, 2, 5, 6]])


def test_embedding_views_pair_each_word_with_its_vector_and_drop_missing(tmp_path):
    labels = ["the", "Cat", "dog", "bird", "cat", "the", "emu"]
    vectors = {"the": np.array([1.0, 0.0]), "cat": np.array([0.0, 2.0]), "dog": np.array([3.0, 3.0])}
    with FeatureStore.open(write_phone_store(tmp_path / "w.h5", labels, span="word")) as store:
        views = embedding_views(store, "T3", vectors)
        X, Y = views.arrays()
        kept = [0, 1, 2, 4, 5]
        assert views.name == "T3 vs word embedding (2-d)" and views.dims == (3, 2)
        assert views.n_rows == 5 and views.n_dropped == 2
        assert views.labels.tolist() == ["the", "Cat", "dog", "cat", "the"]  # "Cat" found lower-cased
        np.testing.assert_array_equal(X[:, 0], row_values(labels)[kept])
        np.testing.assert_array_equal(Y, [[1, 0], [0, 2], [3, 3], [0, 2], [1, 0]])
        for chunk_rows in (1, 2, 100):
            np.testing.assert_array_equal(np.concatenate([y for _, y in views.blocks(chunk_rows)]), Y)
        from gensim.models import KeyedVectors

        keyed = KeyedVectors(vector_size=2)
        keyed.add_vectors(list(vectors), np.stack(list(vectors.values())))
        from_keyed = embedding_views(store, "T3", keyed)
        np.testing.assert_array_equal(from_keyed.arrays()[1], Y)
        assert from_keyed.content_key == views.content_key == embedding_views(store, "T0", vectors).content_key
        changed = {**vectors, "dog": np.array([3.0, 3.5])}
        assert embedding_views(store, "T3", changed).content_key != views.content_key
        fewer = {word: vectors[word] for word in ("the", "cat")}
        assert embedding_views(store, "T3", fewer).n_dropped == 3
        assert embedding_views(store, "T3", fewer).content_key != views.content_key
        assert onehot_views(store, "T3", vocabulary=["the", "cat", "dog"]).content_key != views.content_key
        with pytest.raises(StoreError, match=r"w\.h5: layer T3: none of the 6 words of the store has a vector$"):
            embedding_views(store, "T3", {"zebra": np.ones(2)})
        with pytest.raises(ConfigError, match=r"word vectors must be 1-d of one length: 'Cat' has shape \(2,\), 'dog' has shape \(3,\)"):
            embedding_views(store, "T3", {**vectors, "dog": np.ones(3)})
        with pytest.raises(ConfigError, match=r"the vector of 'the' has NaN or infinite values"):
            embedding_views(store, "T3", {**vectors, "the": np.array([np.nan, 1.0])})


def test_paired_views_is_frozen_and_labels_read_only(tmp_path):
    with FeatureStore.open(write_phone_store(tmp_path / "p.h5", ["AH", "B", "AH"])) as store:
        views = onehot_views(store, "T3", vocabulary=["AH", "B"])
    assert isinstance(views, PairedViews)
    with pytest.raises(AttributeError):
        views.n_rows = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        views.labels[0] = "B"
