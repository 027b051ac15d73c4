"""The CTC training loop (layerprobe.training.trainer) on a toy task that a linear model can solve.

The toy data: each character of a transcript is two frames of a one-hot feature of its token id,
separated by a silence frame (all zeros), plus a little seeded noise.  A linear layer over the
features (with dropout, so that the RNG matters) learns to read it, so training must bring the dev
CER to 0, and every property of the loop (freezing, checkpoints, early stopping, skipping) can be
checked on a model that trains in well under a second.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from layerprobe.errors import ConfigError, LayerprobeError
from layerprobe.training.ctc import CharVocabulary
from layerprobe.training.trainer import (
    BEST_NAME,
    CHECKPOINT_NAME,
    TrainConfig,
    ctc_loss,
    evaluate_ctc,
    load_checkpoint,
    train_ctc,
)

VOCAB = CharVocabulary.default()
WORDS = ("cat", "dog", "sat", "on", "a", "mat", "ran", "to", "me")


class ToyData:
    """CTC items of one-hot character frames (the trainer's CTCData protocol)."""

    def __init__(self, n: int, *, seed: int, shuffle_labels: bool = False):
        rng = np.random.default_rng(seed)
        self.items = []
        texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 4)))) for _ in range(n)]
        labels = list(np.random.default_rng(seed + 1).permutation(texts)) if shuffle_labels else texts
        for number, (text, label) in enumerate(zip(texts, labels)):
            ids = VOCAB.encode(text)
            frames = []
            for token in ids:
                one_hot = np.zeros(len(VOCAB), dtype=np.float32)
                one_hot[token] = 1.0
                frames += [one_hot, one_hot, np.zeros(len(VOCAB), dtype=np.float32)]
            inputs = np.stack(frames) + 0.05 * rng.standard_normal((len(frames), len(VOCAB))).astype(np.float32)
            self.items.append((inputs, VOCAB.encode(label), label, f"utt{number:03d}"))
        self.lengths = [item[0].shape[0] for item in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def item(self, index: int):
        return self.items[index]


class ToyModel(nn.Module):
    """An "encoder" linear layer, dropout and a "head" linear layer (the CTC model protocol)."""

    def __init__(self, dim: int = len(VOCAB), seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.encoder = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(dim, len(VOCAB))
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor):
        hidden = self.dropout(inputs + self.encoder(inputs))
        return torch.log_softmax(self.head(hidden), dim=-1), lengths


def _config(**overrides) -> TrainConfig:
    base = dict(epochs=4, peak_lr=0.05, freeze_epochs=0, max_batch_frames=60, warmup_epochs=0.5, decay_start_epoch=3.0)
    return TrainConfig(**{**base, **overrides})


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def toy():
    return ToyData(24, seed=0), ToyData(8, seed=100)


pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------ loss and evaluation


def test_ctc_loss_is_mean_over_utterances_of_loss_per_target_token():
    # One frame, one target token: the CTC loss is -log p(token).  Two utterances with targets of
    # lengths 1 and 2 (two frames each): torch's "mean" reduction divides by target lengths too.
    log_probs = torch.log_softmax(torch.randn(2, 2, 5, generator=torch.Generator().manual_seed(0)), dim=-1)
    targets = torch.tensor([[3, 0], [1, 2]])
    lengths, target_lengths = torch.tensor([2, 2]), torch.tensor([1, 2])
    ours = ctc_loss(log_probs, lengths, targets, target_lengths, blank_id=0)
    reference = nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, lengths, target_lengths, blank=0)
    assert ours.item() == pytest.approx(reference.item(), rel=1e-6)
    single = ctc_loss(log_probs[:1, :1], torch.tensor([1]), torch.tensor([[3]]), torch.tensor([1]), blank_id=0)
    assert single.item() == pytest.approx(-log_probs[0, 0, 3].item(), rel=1e-6)
    per_utterance = ctc_loss(log_probs, lengths, targets, target_lengths, blank_id=0, reduction="none")
    assert per_utterance.shape == (2,) and per_utterance.mean().item() == pytest.approx(ours.item())
    # an impossible alignment (target longer than the frames) counts 0, not inf
    impossible = ctc_loss(log_probs[:1, :1], torch.tensor([1]), torch.tensor([[3, 4]]), torch.tensor([2]), blank_id=0)
    assert impossible.item() == 0.0


class FixedOutputs(nn.Module):
    """Returns hand-made log-probabilities per utterance id order (for evaluate_ctc)."""

    def __init__(self, paths: list[list[int]]):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.paths = paths

    def forward(self, inputs, lengths):
        rows = []
        for row in range(inputs.shape[0]):
            index = int(inputs[row, 0, 0].item())  # the items carry their number in the first feature
            scores = torch.full((inputs.shape[1], len(VOCAB)), -10.0)
            for frame, token in enumerate(self.paths[index][: inputs.shape[1]]):
                scores[frame, token] = 0.0
            rows.append(scores)
        return torch.log_softmax(torch.stack(rows), dim=-1) + 0 * self.weight, lengths


def test_evaluate_greedy_scores_hand_made_outputs():
    a, b, c, t, blank, space = (VOCAB.tokens.index(x) for x in ("a", "b", "c", "t", "<blank>", "|"))
    # utterance 0 "cat" decodes to "cat" (repeats merged); utterance 1 "a cat" decodes to "a bat"
    paths = [[c, c, blank, a, t, t], [a, space, b, a, blank, t]]
    items = [(np.full((6, 1), float(i), dtype=np.float32), VOCAB.encode(text), text, f"u{i}")
             for i, text in enumerate(["cat", "a cat"])]  # fmt: skip

    class Data:
        lengths = [6, 6]

        def __len__(self):
            return 2

        def item(self, index):
            return items[index]

    metrics = evaluate_ctc(FixedOutputs(paths), Data(), VOCAB)
    assert metrics["n_utterances"] == 2
    assert metrics["wer"] == pytest.approx(1 / 3)  # 1 substituted word of 3
    assert metrics["cer"] == pytest.approx(1 / 8)  # 1 substituted character of 3 + 5
    assert metrics["loss"] > 0


# ------------------------------------------------------------------------------ training


def test_training_solves_the_toy_task_and_reports_history(toy):
    train, dev = toy
    model = ToyModel()
    before = evaluate_ctc(model, dev, VOCAB)
    records = []
    result = train_ctc(model, train, dev, _config(epochs=10), progress=False, on_epoch_end=records.append)
    assert before["cer"] > 0.5
    assert result.dev_metrics["cer"] == 0.0 and result.dev_metrics["wer"] == 0.0
    assert [r["epoch"] for r in result.history] == list(range(1, 11)) and records == result.history
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.history[-1]["lr"] == 0.0  # decayed to 0 at the end
    assert result.steps == result.history[-1]["steps"] and result.steps % 10 == 0
    assert result.best_epoch is not None and not result.stopped_early and not result.resumed
    assert not model.training


def test_frozen_parameters_stay_bit_identical_during_frozen_epochs(toy):
    train, dev = toy
    model = ToyModel()
    model.head.bias.requires_grad_(False)  # never trained: not in the optimizer at all
    initial = _state(model)
    snapshots = []
    train_ctc(model, train, None, _config(epochs=4, freeze_epochs=2), frozen=model.encoder, progress=False,
              on_epoch_end=lambda record: snapshots.append((record["frozen"], _state(model))))  # fmt: skip
    assert [frozen for frozen, _ in snapshots] == [True, True, False, False]
    for number, (_, state) in enumerate(snapshots):
        same_encoder = all(torch.equal(state[k], initial[k]) for k in ("encoder.weight", "encoder.bias"))
        assert same_encoder == (number < 2), f"epoch {number + 1}"
        assert not torch.equal(state["head.weight"], initial["head.weight"])
        assert torch.equal(state["head.bias"], initial["head.bias"])
    # requires_grad flags are as before the call
    assert model.encoder.weight.requires_grad and not model.head.bias.requires_grad


def test_same_seed_same_weights_other_seed_other_weights(toy):
    train, _ = toy
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        model = ToyModel()
        train_ctc(model, train, None, _config(epochs=2, seed=seed), progress=False)
        runs[name] = _state(model)
    _assert_same_state(runs["a"], runs["b"])
    assert not torch.equal(runs["a"]["head.weight"], runs["c"]["head.weight"])


def test_interrupted_run_resumes_to_the_same_weights(toy, tmp_path):
    """In-process version of the kill test: an exception after step 5 (checkpoints every 2 steps)."""
    train, dev = toy
    config = _config(epochs=3, checkpoint_every_steps=2)
    reference = ToyModel()
    uninterrupted = train_ctc(reference, train, dev, config, checkpoint_dir=tmp_path / "a", progress=False)

    class Interrupt(Exception):
        pass

    def stop_at_five(step, info):
        if step == 5:
            raise Interrupt

    model = ToyModel()
    with pytest.raises(Interrupt):
        train_ctc(model, train, dev, config, checkpoint_dir=tmp_path / "b", progress=False, on_step=stop_at_five)
    saved = load_checkpoint(tmp_path / "b" / CHECKPOINT_NAME)
    assert saved["position"]["step"] == 4 and not saved["position"]["finished"]
    model = ToyModel(seed=7)  # whatever the fresh model holds, the checkpoint replaces it
    resumed = train_ctc(model, train, dev, config, checkpoint_dir=tmp_path / "b", progress=False)
    assert resumed.resumed and resumed.steps == uninterrupted.steps
    _assert_same_state(_state(model), _state(reference))
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in uninterrupted.history]
    assert resumed.dev_metrics == uninterrupted.dev_metrics
    # a finished run is returned as it is, without training again
    again = ToyModel(seed=9)
    finished = train_ctc(again, train, dev, config, checkpoint_dir=tmp_path / "b", progress=False,
                         on_step=lambda *_: pytest.fail("trained again"))  # fmt: skip
    assert finished.resumed and finished.history == resumed.history
    _assert_same_state(_state(again), _state(reference))
    assert not list((tmp_path / "b").glob("*.tmp"))


def test_checkpoint_of_other_options_is_refused(toy, tmp_path):
    train, _ = toy
    train_ctc(ToyModel(), train, None, _config(epochs=1), checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="peak_lr"):
        train_ctc(ToyModel(), train, None, _config(epochs=1, peak_lr=0.01), checkpoint_dir=tmp_path, progress=False)
    # options that do not change the numbers may differ
    train_ctc(ToyModel(), train, None, _config(epochs=1, checkpoint_every_steps=3), checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="other training data"):
        train_ctc(ToyModel(), ToyData(10, seed=5), None, _config(epochs=1), checkpoint_dir=tmp_path, progress=False)
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"not a checkpoint")
    with pytest.raises(LayerprobeError, match="checkpoint"):
        train_ctc(ToyModel(), train, None, _config(epochs=1), checkpoint_dir=tmp_path, progress=False)


def test_early_stopping_keeps_the_best_epoch(toy, tmp_path):
    train, _ = toy
    # dev transcripts belong to other utterances: the better the model reads the frames, the worse
    # its dev loss gets, so the first epoch is the best and patience 1 stops after the second
    dev = ToyData(8, seed=100, shuffle_labels=True)
    model = ToyModel()
    states = []
    result = train_ctc(model, train, dev, _config(epochs=6, patience=1, stop_metric="loss"), checkpoint_dir=tmp_path,
                       progress=False, on_epoch_end=lambda record: states.append(_state(model)))  # fmt: skip
    losses = [record["dev_loss"] for record in result.history]
    best = int(np.argmin(losses)) + 1
    assert result.stopped_early and len(result.history) < 6
    assert result.best_epoch == best and result.dev_metrics["loss"] == min(losses)
    _assert_same_state(_state(model), states[best - 1])
    assert (tmp_path / BEST_NAME).is_file()
    with pytest.raises(ConfigError, match="dev data"):
        train_ctc(ToyModel(), train, None, _config(patience=2), progress=False)


def test_non_finite_losses_skip_the_update(toy):
    train, _ = toy

    class Broken(ToyModel):
        def forward(self, inputs, lengths):
            log_probs, lengths = super().forward(inputs, lengths)
            return log_probs * float("nan"), lengths

    model = Broken()
    initial = _state(model)
    result = train_ctc(model, train, None, _config(epochs=1), progress=False)
    assert result.history[0]["skipped_steps"] == result.steps > 0
    _assert_same_state(_state(model), initial)


@pytest.mark.parametrize(
    "options",
    [dict(epochs=0), dict(peak_lr=0), dict(peak_lr=float("nan")), dict(freeze_epochs=-1), dict(grad_clip=0),
     dict(stop_metric="accuracy"), dict(patience=0), dict(max_batch_frames=0), dict(final_lr_scale=2.0),
     dict(adam_betas=(0.9, 1.0))],  # fmt: skip
)
def test_bad_options_are_config_errors(options):
    with pytest.raises(ConfigError):
        TrainConfig(**options)


def test_config_round_trips_through_a_dict():
    config = TrainConfig(epochs=3, patience=2, adam_betas=(0.8, 0.9))
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown"):
        TrainConfig.from_dict({"epochz": 3})


def test_an_unwritable_checkpoint_folder_is_a_one_line_error(toy, tmp_path):
    train, _ = toy
    blocker = tmp_path / "file"
    blocker.write_text("a file where the checkpoint folder should be")
    with pytest.raises(LayerprobeError, match="cannot write the checkpoint"):
        train_ctc(ToyModel(), train, None, _config(epochs=1), checkpoint_dir=blocker / "run", progress=False)


class _WiderToy(ToyModel):
    """The toy model with a wider head: its checkpoint does not fit ToyModel."""

    def __init__(self, seed: int = 0):
        super().__init__(seed=seed)
        self.head = nn.Linear(len(VOCAB), len(VOCAB) + 3)
        self.extra = nn.Linear(2, 2)

    def forward(self, inputs, lengths):
        hidden = self.dropout(inputs + self.encoder(inputs))
        return torch.log_softmax(self.head(hidden)[..., : len(VOCAB)], dim=-1), lengths


def test_a_checkpoint_of_another_model_is_refused_with_a_complete_line(toy, tmp_path):
    train, _ = toy
    train_ctc(_WiderToy(), train, None, _config(epochs=1), checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(LayerprobeError) as caught:
        train_ctc(ToyModel(), train, None, _config(epochs=1), checkpoint_dir=tmp_path, progress=False)
    n = len(VOCAB)
    assert str(caught.value) == (
        f"{tmp_path / CHECKPOINT_NAME}: the checkpoint does not fit this model (shape mismatch: head.weight "
        f"({n + 3}, {n}) vs ({n}, {n}) here, head.bias ({n + 3},) vs ({n},) here; unexpected: extra.weight, "
        "extra.bias); was it written for another model?"
    )


def test_a_checkpoint_of_another_identity_is_refused(toy, tmp_path):
    train, _ = toy
    train_ctc(ToyModel(), train, None, _config(epochs=1), checkpoint_dir=tmp_path, progress=False,
              identity={"weights_fingerprint": "a" * 64, "reinit": ""})  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        train_ctc(ToyModel(), train, None, _config(epochs=1), checkpoint_dir=tmp_path, progress=False,
                  identity={"weights_fingerprint": "b" * 64, "reinit": "T1"})  # fmt: skip
    assert str(caught.value) == (
        f"{tmp_path}: holds a checkpoint of another run (reinit '' -> 'T1'; model weights aaaaaaaaaaaa -> "
        "bbbbbbbbbbbb); use another --out, or pass --overwrite to start again"
    )


# -- a full disk or a file-size limit while a checkpoint is saved: say so, and that a rerun resumes

_TORCH_FULL_DISK = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"


def _disk_with_free(monkeypatch, free: int) -> None:
    import resource

    Disk = type("Disk", (), {"free": free})
    monkeypatch.setattr("layerprobe.training.checkpoints.shutil.disk_usage", lambda where: Disk())
    monkeypatch.setattr("layerprobe.training.checkpoints.resource.getrlimit", lambda what: (resource.RLIM_INFINITY,) * 2)


@pytest.mark.parametrize(
    "error",
    [RuntimeError(_TORCH_FULL_DISK), RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"),
     OSError(28, "No space left on device")],
    ids=["unexpected-pos", "file-write-failed", "ENOSPC"],
)  # fmt: skip
def test_a_full_disk_during_a_checkpoint_save_says_no_space_left(toy, tmp_path, monkeypatch, error):
    train, _ = toy
    _disk_with_free(monkeypatch, 4096)

    def full_disk(obj, where, *args, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"PK\x03\x04")  # a few bytes got out before the disk filled up
        raise error

    monkeypatch.setattr("layerprobe.training.checkpoints.torch.save", full_disk)
    run = tmp_path / "run"
    with pytest.raises(LayerprobeError) as caught:
        train_ctc(ToyModel(), train, None, _config(epochs=1), checkpoint_dir=run, progress=False)
    assert str(caught.value) == (
        f"{run / CHECKPOINT_NAME}: cannot write the checkpoint: no space left on the device (4096 bytes free); "
        "free space and rerun, it resumes from the last checkpoint"
    )
    assert sorted(p.name for p in run.iterdir()) == []  # no temporary file left behind


def test_a_file_size_limit_during_a_checkpoint_save_names_ulimit(tmp_path):
    """A genuine refused write: RLIMIT_FSIZE in a child process, torch's own error from its zip writer."""
    import subprocess
    import sys

    target = tmp_path / "run" / CHECKPOINT_NAME
    script = (
        "import resource, sys, torch\n"
        "from pathlib import Path\n"
        "from layerprobe.errors import LayerprobeError\n"
        "from layerprobe.training.checkpoints import atomic_torch_save\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100000, resource.RLIM_INFINITY))\n"
        "try:\n"
        "    atomic_torch_save({'w': torch.zeros(100000)}, Path(sys.argv[1]))\n"
        "except LayerprobeError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"{target}: cannot write the checkpoint: the process's file-size limit (ulimit -f) is 100000 bytes; "
        "raise it (ulimit -f unlimited) and rerun, it resumes from the last checkpoint\n"
    )
    assert list(target.parent.iterdir()) == []
