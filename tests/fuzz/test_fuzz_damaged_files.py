"""Fuzzing the readers of files a run reads back: model directories, split caches, training checkpoints.

* An ``hf:`` directory whose ``model.safetensors`` or ``config.json`` is truncated or mutated either
  loads (a mutation of tensor values is still a model) or is refused with one ConfigError line naming
  the directory; never another exception (exit 3).
* A split cache (``cca_splits/split-*.npz``) with any damage gives the same parts as a fresh split
  (rebuilt, with a warning); it never raises.
* A training ``checkpoint.pt`` cut short and a ``best.pt`` with any damage are refused with one
  LayerprobeError line naming the file (or, for a harmless mutation, read).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.analysis.splits import cached_split_parts, split_parts
from layerprobe.errors import ConfigError, LayerprobeError
from support.fuzz import LEDGER, dump_json, fuzz, mutated_bytes, refuses, word_text

pytest.importorskip("transformers")

#: JSON values for config.json mutations: every type, but numbers small enough that the model built
#: from them fits in memory (a config asking for 10^30 layers is a different, memory-limit, problem).
small_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-3, max_value=300), st.floats(-1e3, 1e3), st.just(""),
              word_text),  # fmt: skip
    lambda children: st.lists(children, max_size=3) | st.dictionaries(word_text, children, max_size=3),
    max_leaves=4,
)



@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from layerprobe.models.tiny import build_tiny_model

    return build_tiny_model("wav2vec2", root=tmp_path_factory.mktemp("tiny"))


def _load(target: str, directory) -> None:
    from layerprobe.models import load_model

    refuses(target, load_model, f"hf:{directory}", names=directory, error=ConfigError, may_accept=True)


@fuzz(scale=0.3)
@given(data=st.data())
@example(data=None)  # the file cut in half: an interrupted copy
def test_a_damaged_safetensors_file_is_refused_in_one_line(model_dir, tmp_path_factory, data):
    weights = (model_dir / "model.safetensors").read_bytes()
    target = tmp_path_factory.mktemp("damaged") / "model"
    shutil.copytree(model_dir, target)
    damaged = weights[: len(weights) // 2] if data is None else data.draw(mutated_bytes(weights))
    (target / "model.safetensors").write_bytes(damaged)
    _load("hf: directory with a damaged model.safetensors", target)


@fuzz(scale=0.3)
@given(data=st.data())
def test_a_mutated_config_json_is_refused_in_one_line(model_dir, tmp_path_factory, data):
    config = json.loads((model_dir / "config.json").read_text())
    target = tmp_path_factory.mktemp("config") / "model"
    shutil.copytree(model_dir, target)
    if data.draw(st.booleans()):
        text = (model_dir / "config.json").read_bytes()
        (target / "config.json").write_bytes(data.draw(mutated_bytes(text)))
    else:
        (target / "config.json").write_text(dump_json(data.draw(_small_json_mutation(config))))
    _load("hf: directory with a mutated config.json", target)


@st.composite
def _small_json_mutation(draw, document):
    import copy

    document = copy.deepcopy(document)
    keys = [key for key in document if key not in ("architectures",)]
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(keys))
        if draw(st.booleans()) and key in document:
            del document[key]
        else:
            document[key] = draw(small_json_values)
    return document


@fuzz(scale=0.5)
@given(data=st.data())
def test_a_damaged_split_cache_is_rebuilt_to_the_same_parts(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("splits")
    labels = np.repeat(np.arange(4), 13)
    fresh = cached_split_parts(folder, "key", labels.size, labels, n_parts=10, seed=1)
    (cache,) = folder.glob("split-*.npz")
    cache.write_bytes(data.draw(mutated_bytes(cache.read_bytes())))
    try:
        again = cached_split_parts(folder, "key", labels.size, labels, n_parts=10, seed=1)
    except Exception as exc:  # noqa: BLE001 - the contract: a damaged cache is rebuilt, never an error
        LEDGER.tried("split cache: damaged npz")
        raise AssertionError(f"a damaged split cache raised {type(exc).__name__}: {str(exc)[:300]}") from exc
    LEDGER.tried("split cache: damaged npz", "accepted")
    np.testing.assert_array_equal(again, fresh)
    np.testing.assert_array_equal(again, split_parts(labels.size, labels, n_parts=10, seed=1))


@pytest.fixture(scope="module")
def checkpoint_files(tmp_path_factory):
    """The bytes of a best.pt (a state dict) and of a checkpoint.pt written as the trainer writes them."""
    from layerprobe.training.checkpoints import CHECKPOINT_FORMAT, atomic_torch_save

    folder = tmp_path_factory.mktemp("ckpt")
    model = torch.nn.Linear(4, 3)
    atomic_torch_save(model.state_dict(), folder / "best.pt")
    atomic_torch_save({"format": CHECKPOINT_FORMAT, "config": {}, "model": model.state_dict(), "position": {}},
                      folder / "checkpoint.pt")  # fmt: skip
    return (folder / "best.pt").read_bytes(), (folder / "checkpoint.pt").read_bytes()


@fuzz(scale=0.5)
@given(data=st.data())
def test_a_damaged_best_pt_is_refused_in_one_line(checkpoint_files, tmp_path_factory, data):
    from layerprobe.training.checkpoints import load_best_state

    path = tmp_path_factory.mktemp("best") / "best.pt"
    path.write_bytes(data.draw(mutated_bytes(checkpoint_files[0])))
    result = refuses("best.pt: damaged", load_best_state, path, names=path, error=LayerprobeError, may_accept=True)
    if not isinstance(result, LayerprobeError):
        assert all(isinstance(value, torch.Tensor) for value in result.values())


@fuzz(scale=0.5)
@given(cut=st.floats(0.0, 0.999))
def test_a_checkpoint_cut_short_is_refused_in_one_line(checkpoint_files, tmp_path_factory, cut):
    from layerprobe.training.checkpoints import load_checkpoint

    # only cut, not mutated: checkpoint.pt is a full pickle (RNG states), read with weights_only=False
    data = checkpoint_files[1]
    path = tmp_path_factory.mktemp("checkpoint") / "checkpoint.pt"
    path.write_bytes(data[: int(len(data) * cut)])
    refuses("checkpoint.pt: cut short", load_checkpoint, path, names=path, error=LayerprobeError)
