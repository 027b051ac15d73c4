"""Damaged files that a run reads back: one-line errors naming the file, or a rebuild with a warning.

An interrupted copy of a model's ``model.safetensors``, a truncated split cache and a truncated
``best.pt`` of an unfinished training run used to end in internal errors (exit 3) from the libraries
that read them (SafetensorError, BadZipFile, PytorchStreamReader).
"""

from __future__ import annotations

import logging
import os
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from layerprobe.analysis.splits import cached_split_parts, split_parts  # noqa: E402
from layerprobe.errors import ConfigError, LayerprobeError  # noqa: E402
from layerprobe.models import load_model  # noqa: E402
from layerprobe.models.tiny import build_tiny_model  # noqa: E402
from layerprobe.training.trainer import BEST_NAME, CHECKPOINT_NAME, TrainConfig, train_ctc  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_model("wav2vec2", root=tmp_path_factory.mktemp("tiny"))


def _copy(tiny_dir, tmp_path, name="model"):
    target = tmp_path / name
    shutil.copytree(tiny_dir, target)
    return target


def test_a_truncated_safetensors_file_is_a_one_line_error_naming_it(tiny_dir, tmp_path):
    model_dir = _copy(tiny_dir, tmp_path)
    weights = model_dir / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    with pytest.raises(ConfigError) as caught:
        load_model(f"hf:{model_dir}")
    assert str(caught.value) == (
        f"{weights}: damaged weight file (Error while deserializing header: incomplete metadata, file not fully "
        "covered); it may be an interrupted copy: copy or download it again"
    )


def test_a_truncated_safetensors_file_exits_1_on_the_command_line(tiny_dir, tmp_path, capsys):
    from layerprobe.cli import main

    model_dir = _copy(tiny_dir, tmp_path)
    weights = model_dir / "model.safetensors"
    os.truncate(weights, 1000)
    with pytest.raises(SystemExit) as exited:
        main(["audiate", "--model", f"hf:{model_dir}", "--layer", "T1", "--units", "0", "--steps", "1",
              "--out", str(tmp_path / "clips")])  # fmt: skip
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"layerprobe: error: {weights}: damaged weight file (") and "\n" not in err


def test_a_truncated_split_cache_is_rebuilt_with_a_warning(tmp_path, caplog):
    labels = np.repeat(np.arange(5), 20)
    first = cached_split_parts(tmp_path, "content", 100, labels, n_parts=10, seed=3)
    (cache,) = tmp_path.glob("split-*.npz")
    os.truncate(cache, cache.stat().st_size // 2)
    with caplog.at_level(logging.WARNING, logger="layerprobe"):
        again = cached_split_parts(tmp_path, "content", 100, labels, n_parts=10, seed=3)
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(again, split_parts(100, labels, n_parts=10, seed=3))
    assert [record.getMessage() for record in caplog.records] == [
        f"{cache}: damaged split cache (File is not a zip file); rebuilding it"
    ]
    # rebuilt on disk: read back without a warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="layerprobe"):
        np.testing.assert_array_equal(cached_split_parts(tmp_path, "content", 100, labels, n_parts=10, seed=3), first)
    assert caplog.records == []


def test_a_split_cache_with_parts_out_of_range_is_rebuilt(tmp_path, caplog):
    first = cached_split_parts(tmp_path, "content", 30, None, n_parts=10, seed=0)
    (cache,) = tmp_path.glob("split-*.npz")
    with np.load(cache) as cached:
        key = cached["key"]
    np.savez(cache.with_suffix(""), key=key, parts=np.full(30, 12, dtype=np.int16))
    with caplog.at_level(logging.WARNING, logger="layerprobe"):
        np.testing.assert_array_equal(cached_split_parts(tmp_path, "content", 30, None, n_parts=10, seed=0), first)
    assert [record.getMessage() for record in caplog.records] == [
        f"{cache}: damaged split cache (parts outside 0..9); rebuilding it"
    ]


class _Data:
    """Six CTC items of two one-hot frames per character (the trainer's CTCData protocol)."""

    def __init__(self):
        from layerprobe.training.ctc import CharVocabulary

        vocab = CharVocabulary.default()
        self.dim = len(vocab)
        self.items = []
        for number, text in enumerate(["cat", "dog", "a mat", "me", "sat on", "to"]):
            ids = vocab.encode(text)
            frames = np.repeat(np.eye(self.dim, dtype=np.float32)[ids], 2, axis=0)
            self.items.append((frames, ids, text, f"u{number}"))
        self.lengths = [item[0].shape[0] for item in self.items]

    def __len__(self):
        return len(self.items)

    def item(self, index):
        return self.items[index]


class _Model(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = torch.nn.Linear(dim, dim)
        self.head = torch.nn.Linear(dim, dim)

    def forward(self, inputs, lengths):
        return torch.log_softmax(self.head(self.encoder(inputs)), dim=-1), lengths


def test_a_truncated_best_pt_of_an_unfinished_run_is_a_one_line_error_saying_what_to_do(tmp_path):
    data = _Data()
    config = TrainConfig(epochs=4, patience=3, peak_lr=0.05, freeze_epochs=0, max_batch_frames=40,
                         warmup_epochs=0.5, decay_start_epoch=3.0)  # fmt: skip

    class Interrupt(Exception):
        pass

    def stop(record):
        raise Interrupt

    with pytest.raises(Interrupt):
        train_ctc(_Model(data.dim), data, data, config, checkpoint_dir=tmp_path, progress=False, on_epoch_end=stop)
    best = tmp_path / BEST_NAME
    assert best.is_file() and (tmp_path / CHECKPOINT_NAME).is_file()
    os.truncate(best, best.stat().st_size // 2)
    with pytest.raises(LayerprobeError) as caught:
        train_ctc(_Model(data.dim), data, data, config, checkpoint_dir=tmp_path, progress=False)
    message = str(caught.value)
    assert message.startswith(f"{best}: cannot read the best epoch's weights of this unfinished run (")
    assert message.endswith(
        "); they cannot be rebuilt: delete best.pt and checkpoint.pt in this folder to train this run again from "
        "the start (finetune: pass --overwrite)"
    )
    # doing what it says works
    best.unlink()
    (tmp_path / CHECKPOINT_NAME).unlink()
    result = train_ctc(_Model(data.dim), data, data, config, checkpoint_dir=tmp_path, progress=False)
    assert not result.resumed and len(result.history) >= 1
