"""Fuzzing the FaST-VGS and AV-HuBERT readers: damaged ``args.pkl``, ``best_bundle.pth`` and checkpoints.

Each reader either loads a model or refuses with one ConfigError line naming the file; any other
exception fails the test, and no pickled callable is ever run.
"""

from __future__ import annotations

import argparse
import io
import pickle

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.errors import ConfigError
from support.fuzz import fuzz, refuses


@pytest.fixture(scope="module")
def fastvgs_folder(tmp_path_factory):
    from support.published_checkpoints import write_tiny_fastvgs

    return write_tiny_fastvgs(tmp_path_factory.mktemp("fastvgs") / "run")


def _mutated(original: bytes, data) -> bytes:
    """A cut, a flipped byte or a random replacement of ``original``."""
    kind = data.draw(st.sampled_from(["cut", "flip", "random"]))
    if kind == "cut":
        return original[: data.draw(st.integers(0, len(original)))]
    if kind == "flip":
        where = data.draw(st.integers(0, len(original) - 1))
        return original[:where] + bytes([original[where] ^ data.draw(st.integers(1, 255))]) + original[where + 1 :]
    return data.draw(st.binary(max_size=300))


args_payloads = st.sampled_from([
    pickle.dumps([1, 2]), pickle.dumps("text"), pickle.dumps(None), pickle.dumps({"encoder_layers": "x"}),
    pickle.dumps(argparse.Namespace(layer_use=-3)), pickle.dumps(argparse.Namespace(conv_feature_layers="[(1,)]")),
    pickle.dumps(io.BytesIO(b"")),
])  # fmt: skip


@fuzz(scale=0.5)
@given(data=st.data(), fixed=st.one_of(st.none(), args_payloads))
@example(data=None, fixed=b"")
@example(data=None, fixed=b"Q")
@example(data=None, fixed=pickle.dumps({"encoder_layers": "x"}))  # int("x") escaped as ValueError
def test_fastvgs_args(fastvgs_folder, tmp_path_factory, data, fixed):
    from layerprobe.models import load_model

    folder = tmp_path_factory.mktemp("args")
    for name in ("args.pkl", "best_bundle.pth"):
        (folder / name).write_bytes((fastvgs_folder / name).read_bytes())
    payload = fixed if fixed is not None else _mutated((fastvgs_folder / "args.pkl").read_bytes(), data)
    (folder / "args.pkl").write_bytes(payload)
    refuses("FaST-VGS args.pkl (load_model fastvgs:)", load_model, f"fastvgs:{folder}", error=ConfigError, may_accept=True)


@fuzz(scale=0.3)
@given(data=st.data())
def test_fastvgs_bundle(fastvgs_folder, tmp_path_factory, data):
    from layerprobe.models import load_model

    folder = tmp_path_factory.mktemp("bundle")
    (folder / "args.pkl").write_bytes((fastvgs_folder / "args.pkl").read_bytes())
    choice = data.draw(st.sampled_from(["mutated", "no-dual-encoder", "not-a-dict"]))
    if choice == "mutated":
        payload = _mutated((fastvgs_folder / "best_bundle.pth").read_bytes(), data)
    else:
        buffer = io.BytesIO()
        torch.save({"model": {}} if choice == "no-dual-encoder" else [1, 2, 3], buffer)
        payload = buffer.getvalue()
    (folder / "best_bundle.pth").write_bytes(payload)
    refuses("FaST-VGS best_bundle.pth (load_model fastvgs:)", load_model, f"fastvgs:{folder}", error=ConfigError, may_accept=True)
