"""CTC fine-tuning (layerprobe.training.finetune) on seeded tiny models and a corpus of tones.

The tone corpus (tests/support/corpora.py) is not speech: these tests check the mechanics
(inputs, re-initialisation, local attention in training, rows, restoring the model, resuming a
killed run), not learning; tests/integration/test_finetune_synth.py checks learning on speech.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from layerprobe.errors import ConfigError
from layerprobe.models.tiny import build_tiny_model, load_tiny_model
from layerprobe.results import ResultTable
from layerprobe.training.data import WaveformCTCData, collate_ctc
from layerprobe.training.finetune import (
    CTCFineTuneModel,
    compact_blocks,
    experiment_name,
    finetune,
    parse_blocks,
    reinitialize_blocks,
    transformer_blocks,
)
from layerprobe.training.trainer import CHECKPOINT_NAME, TrainConfig, ctc_loss, load_checkpoint
from modellib_addons import hf_local_attention
from support.corpora import WORDS, make_folder_corpus
from support.hooks import n_hooks
from support.signals import speech_like_wave

REPO = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tones")
    make_folder_corpus(root, splits=("train", "dev", "test"), per_split=4, seed=3)
    return root


@pytest.fixture(scope="module")
def data(corpus):
    return tuple(WaveformCTCData(corpus, split, preload=True) for split in ("train", "dev", "test"))


def _fresh(tiny_root, name):
    """A newly loaded adapter (these tests change weights; the shared fixture's must stay intact)."""
    return load_tiny_model(name, root=tiny_root)


def _perturbed(adapter, seed=0):
    """Every parameter moved off its initial value, as a pretrained model's would be."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in adapter.module.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return {key: value.clone() for key, value in adapter.module.state_dict().items()}


# ------------------------------------------------------------------------------ blocks


@pytest.mark.parametrize(("name", "blocks"), [("wav2vec2", "T2-T3"), ("wavlm", "T1"), ("whisper", "T2")])
def test_reinitialised_blocks_differ_and_everything_else_is_untouched(tiny_root, name, blocks):
    adapter = _fresh(tiny_root, name)
    before = _perturbed(adapter)
    rng_before = torch.get_rng_state()
    chosen = reinitialize_blocks(adapter, blocks, seed=0)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG is left alone
    after = {key: value.clone() for key, value in adapter.module.state_dict().items()}
    prefix = "layers." if name == "whisper" else "encoder.layers."
    inside = tuple(f"{prefix}{int(block[1:]) - 1}." for block in chosen)
    changed = [key for key in before if key.startswith(inside)]
    assert changed and all(not torch.equal(before[key], after[key]) for key in changed)
    assert all(torch.equal(before[key], after[key]) for key in before if not key.startswith(inside))
    # the model's own initialisation: linear weights N(0, 0.2) (the tiny recipes' range), biases 0, norms 1 / 0
    for block in chosen:
        for module_name, module in transformer_blocks(adapter)[block].named_modules():
            if isinstance(module, torch.nn.Linear) and module.weight.numel() >= 1024:
                assert module.weight.std().item() == pytest.approx(0.2, abs=0.03), module_name
                assert module.bias is None or not module.bias.any()
            if isinstance(module, torch.nn.LayerNorm):
                assert torch.all(module.weight == 1) and not module.bias.any()
            if hasattr(module, "gru_rel_pos_const"):
                assert torch.all(module.gru_rel_pos_const == 1)
    # seeded: the same seed gives the same weights, another seed others
    _perturbed(adapter)
    reinitialize_blocks(adapter, blocks, seed=0)
    again = adapter.module.state_dict()
    assert all(torch.equal(after[key], again[key]) for key in changed)
    reinitialize_blocks(adapter, blocks, seed=1)
    other = adapter.module.state_dict()
    weights = [key for key in changed if key.endswith("weight") and after[key].dim() == 2]
    assert weights and all(not torch.equal(after[key], other[key]) for key in weights)


def test_block_specs(adapters):
    adapter = adapters("wav2vec2")  # three blocks
    assert parse_blocks(adapter, "T2-T3") == ["T2", "T3"]
    assert parse_blocks(adapter, ["T3", "t1"]) == ["T1", "T3"]
    assert parse_blocks(adapter, "contextualized") == ["T1", "T2", "T3"]
    for bad in ("T0", "C1-C2", "T4", "", "X3"):
        with pytest.raises(ConfigError):
            parse_blocks(adapter, bad)
    assert compact_blocks(["T2", "T3", "T4", "T7", "T9", "T10"]) == "T2-T4,T7,T9-T10"
    assert experiment_name() == "finetune"
    assert experiment_name(reinit=["T10", "T11", "T12"]) == "finetune_reinit:T10-T12"
    assert experiment_name(local_attention=["T2", "T3"], radius=30) == "finetune_local:T2-T3@30"
    assert experiment_name(reinit=["T3"], local_attention=["T1"], radius=5) == "finetune_reinit:T3+local:T1@5"


# ------------------------------------------------------------------------------ the model


@pytest.mark.parametrize("name", ["data2vec-audio", "wav2vec2", "whisper"])
def test_inputs_follow_the_feature_extractor_and_lengths_the_adapter(tiny_root, name):
    adapter = _fresh(tiny_root, name)
    model = CTCFineTuneModel(adapter)
    waves = [speech_like_wave(8000, seed=1), 1.5 * speech_like_wave(5000, seed=2)]
    batch = collate_ctc([(w, np.array([3]), "a", f"u{i}") for i, w in enumerate(waves)])
    inputs = model.encoder_inputs(batch.inputs, batch.input_lengths)
    for row, wave in enumerate(waves):
        alone = adapter.model_inputs(wave)
        if name == "whisper":
            torch.testing.assert_close(inputs["input_features"][row], alone["input_features"][0], atol=1e-5, rtol=0)
        else:
            n = len(wave)
            torch.testing.assert_close(inputs["input_values"][row, :n], alone["input_values"][0], atol=1e-5, rtol=1e-5)
            assert not inputs["input_values"][row, n:].any()
    if name == "data2vec-audio":  # layer-norm front end: normalised, with a padding mask
        assert inputs["attention_mask"].tolist() == [[1] * 8000, [1] * 5000 + [0] * 3000]
    else:
        assert "attention_mask" not in inputs
    model.eval()
    with torch.no_grad():
        log_probs, lengths = model(batch.inputs, batch.input_lengths)
    assert lengths.tolist() == [adapter.n_frames(8000), adapter.n_frames(5000)]
    assert log_probs.shape == (2, max(lengths), 30)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(log_probs.shape[:2]))


def test_padded_batch_gives_each_item_what_it_gets_alone(tiny_root):
    adapter = _fresh(tiny_root, "wav2vec2-large-style")  # layer norm + attention mask: exact batching
    model = CTCFineTuneModel(adapter).eval()
    waves = [speech_like_wave(9000, seed=3), speech_like_wave(4000, seed=4)]
    batch = collate_ctc([(w, np.array([3]), "a", f"u{i}") for i, w in enumerate(waves)])
    with torch.no_grad():
        together, lengths = model(batch.inputs, batch.input_lengths)
        for row, wave in enumerate(waves):
            alone, _ = model(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
            torch.testing.assert_close(together[row, : lengths[row]], alone[0], atol=1e-4, rtol=1e-4)


def test_parameter_groups(tiny_root):
    adapter = _fresh(tiny_root, "wav2vec2")
    model = CTCFineTuneModel(adapter)
    conv = {id(p) for p in model.feature_encoder_parameters()}
    transformer = {id(p) for p in model.transformer_parameters()}
    head = {id(p) for p in model.head_parameters()}
    everything = {id(p) for p in model.parameters()}
    assert conv and transformer and head and not (conv & transformer) and conv | transformer | head == everything
    assert not any(p.requires_grad for p in model.feature_encoder_parameters())
    assert id(adapter.module.masked_spec_embed) in transformer


def test_local_attention_applies_in_training_with_padding_and_gradients(tiny_root):
    from layerprobe.attention.local import apply_local_attention

    adapter = _fresh(tiny_root, "wav2vec2-large-style")
    model = CTCFineTuneModel(adapter).train()
    waves = [speech_like_wave(9000, seed=5), speech_like_wave(5000, seed=6)]
    batch = collate_ctc([(w, np.array([3, 4]), "ab", f"u{i}") for i, w in enumerate(waves)])
    attention = adapter.attention_modules()["T1"]
    seen = {}
    radius = 2
    def record(module, args, kwargs):
        seen["mask"] = kwargs["attention_mask"].detach()

    with apply_local_attention(adapter, "T1-T2", radius=radius):
        capture = attention.register_forward_pre_hook(record, with_kwargs=True)  # runs after the band's hook
        try:
            log_probs, lengths = model(batch.inputs, batch.input_lengths)
            ctc_loss(log_probs, lengths, batch.targets, batch.target_lengths, blank_id=0).backward()
        finally:
            capture.remove()
    mask = seen["mask"]
    frames = mask.shape[-1]
    allowed = mask > torch.finfo(mask.dtype).min / 2
    band = torch.from_numpy(np.abs(np.subtract.outer(np.arange(frames), np.arange(frames))) <= radius)
    real = adapter.n_frames(5000)
    assert torch.equal(allowed[0, 0], band)  # the long item: the band only
    assert torch.equal(allowed[1, 0][:, :real], band[:, :real]) and not allowed[1, 0][:, real:].any()  # + padding
    assert attention.q_proj.weight.grad is not None and attention.q_proj.weight.grad.abs().sum() > 0
    assert not hf_local_attention.banded_modules() and n_hooks(adapter.module) == 0


# ------------------------------------------------------------------------------ finetune


def _toy_arpa(path: Path) -> Path:
    """A toy LM over the tone corpus' words: equal unigram probabilities (``</s>`` and ``<unk>``
    included) and the one bigram KenLM needs at least (``<s> the``); not normalised, only read."""
    words = sorted(set(WORDS)) + ["</s>", "<unk>"]
    logp = math.log10(1 / len(words))
    lines = ["\\data\\", f"ngram 1={len(words) + 1}", "ngram 2=1", "", "\\1-grams:", "-99\t<s>\t0"]
    lines += [f"{logp:.6f}\t{word}" for word in words]
    lines += ["", "\\2-grams:", f"{math.log10(0.5):.6f}\t<s> the", "", "\\end\\", ""]
    path.write_text("\n".join(lines))
    return path


def test_finetune_rows_checkpoints_and_the_adapter_restored(tiny_root, data, tmp_path):
    pytest.importorskip("kenlm")
    adapter = _fresh(tiny_root, "wav2vec2")
    original = {key: value.clone() for key, value in adapter.module.state_dict().items()}
    flags = [p.requires_grad for p in adapter.module.parameters()]
    config = TrainConfig(epochs=2, freeze_epochs=1, peak_lr=1e-3, max_batch_frames=24_000)
    kwargs = dict(reinit="T3", local_attention="T1-T2", radius=5, config=config, seeds=(0, 1), out_dir=tmp_path / "ft",
                  lm_path=_toy_arpa(tmp_path / "lm.arpa"), beam_width=8, results=tmp_path / "ft.csv",
                  untrained_baseline=True, progress=False)  # fmt: skip
    states = []

    def snapshot(seed, record):
        if seed == 0:
            states.append({key: value.clone() for key, value in adapter.module.state_dict().items()})

    result = finetune(adapter, *data, **kwargs, on_epoch_end=snapshot)
    assert result.experiment == "finetune_reinit:T3+local:T1-T2@5"
    # epoch 1: the transformer is frozen (T3 was re-initialised before it), the conv encoder always is
    transformer = [key for key in original if not key.startswith(("feature_extractor.", "encoder.layers.2."))]
    conv = [key for key in original if key.startswith("feature_extractor.")]
    assert all(torch.equal(states[0][key], original[key]) for key in transformer + conv)
    assert all(torch.equal(states[1][key], original[key]) for key in conv)
    assert not all(torch.equal(states[1][key], original[key]) for key in transformer)
    table = ResultTable.open(tmp_path / "ft.csv")
    assert {(row["layer"], row["split"], row["sample"]) for row in table} == {("T3", "test", 0)}
    assert table.unique("corpus") == [data[2].corpus.name] and data[2].corpus.name  # the test data's corpus
    assert table.metadata(table.rows[0])["provenance"]["model_spec"] == adapter.spec
    per_seed = {"cer", "wer", "cer_lm", "wer_lm"}
    for seed in (0, 1):
        metrics = {row["metric"]: row["value"] for row in table.select(seed=seed) if not row["metric"].endswith(("_mean", "_std"))}
        assert set(metrics) == per_seed
        assert metrics["cer"] == result.test_metrics[seed]["cer"] and metrics["wer_lm"] == result.test_metrics[seed]["beam_wer"]
        assert (tmp_path / "ft" / f"seed{seed}" / CHECKPOINT_NAME).is_file()
        assert (tmp_path / "ft" / f"seed{seed}" / "result.json").is_file()
        assert result.train_results[seed].history[0]["frozen"] and not result.train_results[seed].history[1]["frozen"]
    aggregate = {row["metric"]: row["value"] for row in table.select(seed=0, metric=[f"{m}_{s}" for m in per_seed for s in ("mean", "std")])}
    for metric in per_seed:
        values = [result.test_metrics[s]["beam_" + metric[:3] if metric.endswith("_lm") else metric] for s in (0, 1)]
        assert aggregate[f"{metric}_mean"] == pytest.approx(np.mean(values))
        assert aggregate[f"{metric}_std"] == pytest.approx(np.std(values, ddof=1))
    details = table.metadata(table.select(seed=0, metric="cer")[0])
    assert details["options"]["reinit"] == ["T3"] and details["options"]["local_attention"] == ["T1", "T2"]
    assert details["details"]["aggregate_over_seeds"] == [0, 1] and "untrained_test" in details["details"]
    # the adapter is as it was: weights, flags, no surgery left
    restored = adapter.module.state_dict()
    assert all(torch.equal(original[key], restored[key]) for key in original)
    assert [p.requires_grad for p in adapter.module.parameters()] == flags
    assert not hf_local_attention.banded_modules() and n_hooks(adapter.module) == 0
    # a rerun finds the finished checkpoints and gives the same numbers without training
    again = finetune(adapter, *data, **{**kwargs, "untrained_baseline": False})
    assert all(again.train_results[s].resumed for s in (0, 1)) and again.test_metrics == result.test_metrics


def test_finetune_restores_the_model_after_an_error(tiny_root, data, tmp_path):
    adapter = _fresh(tiny_root, "wav2vec2")
    original = {key: value.clone() for key, value in adapter.module.state_dict().items()}
    train = data[0]

    class Failing:
        lengths = train.lengths
        calls = 0

        def __len__(self):
            return len(train)

        def item(self, index):
            Failing.calls += 1
            if Failing.calls > 3:
                raise RuntimeError("disk gone")
            return train.item(index)

    with pytest.raises(RuntimeError, match="disk gone"):
        finetune(adapter, Failing(), None, data[2], reinit="T2", local_attention="T1", radius=3, out_dir=tmp_path,
                 config=TrainConfig(epochs=1, freeze_epochs=0, max_batch_frames=16_000), progress=False)  # fmt: skip
    restored = adapter.module.state_dict()
    assert all(torch.equal(original[key], restored[key]) for key in original)
    assert not hf_local_attention.banded_modules() and n_hooks(adapter.module) == 0
    with pytest.raises(ConfigError):
        finetune(adapter, *data, reinit="T0", out_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="seed"):
        finetune(adapter, *data, seeds=(), out_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="radius"):
        finetune(adapter, *data, local_attention="T1", radius=-1, out_dir=tmp_path, progress=False)


def test_killed_finetune_resumes_to_the_same_final_weights(tiny_root, corpus, data, tmp_path):
    """SIGKILL a `layerprobe finetune` process once it has written a checkpoint, resume the run, and
    compare the final weights with an uninterrupted run's: bit for bit (one CPU thread in every
    run; dropout, SpecAugment's numpy draws and the batch order all continue from the checkpoint).
    To keep the test short, the resumed and the uninterrupted runs are in-process calls of the
    function the command runs, with the command's options."""
    build_tiny_model("wav2vec2", root=tiny_root)
    env = {**os.environ, "LAYERPROBE_CACHE": str(tiny_root), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    options = dict(epochs=5, peak_lr=2e-3, freeze_epochs=1, max_batch_frames=24_000, checkpoint_every_steps=1)
    command = [sys.executable, "-m", "layerprobe", "finetune", "--model", "tiny:wav2vec2", "--corpus", str(corpus),
               "--epochs", "5", "--lr", "2e-3", "--freeze-epochs", "1", "--batch-seconds", "1.5", "--checkpoint-every", "1",
               "--preload", "--out", str(tmp_path / "killed"), "--results", str(tmp_path / "killed.csv"), "--no-progress"]  # fmt: skip
    killed = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = tmp_path / "killed" / "seed0" / CHECKPOINT_NAME
    deadline = time.monotonic() + 1800  # a hang guard; the wait ends on the event
    while not checkpoint.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL, killed.stderr.read().decode()
    position = load_checkpoint(checkpoint)["position"]
    assert not position["finished"] and position["step"] >= 1
    assert not (tmp_path / "killed.csv").exists()
    results = {}
    for name in ("killed", "whole"):
        results[name] = finetune(_fresh(tiny_root, "wav2vec2"), *data, config=TrainConfig(**options),
                                 out_dir=tmp_path / name, progress=False)  # fmt: skip
    assert results["killed"].train_results[0].resumed and not results["whole"].train_results[0].resumed
    whole = load_checkpoint(tmp_path / "whole" / "seed0" / CHECKPOINT_NAME)
    again = load_checkpoint(checkpoint)
    assert again["position"]["finished"] and again["position"]["step"] == whole["position"]["step"]
    assert whole["model"].keys() == again["model"].keys()
    for key in whole["model"]:
        assert torch.equal(whole["model"][key], again["model"][key]), key
    assert results["killed"].test_metrics == results["whole"].test_metrics


@pytest.mark.heavy
def test_finetune_runs_data_parallel_under_torchrun(tiny_root, corpus, tmp_path):
    """Two CPU processes (gloo) under torchrun: one result table, a finished checkpoint, no error."""
    build_tiny_model("wav2vec2", root=tiny_root)
    env = {**os.environ, "LAYERPROBE_CACHE": str(tiny_root), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "layerprobe", "finetune",
               "--model", "tiny:wav2vec2", "--corpus", str(corpus), "--epochs", "2", "--lr", "2e-3", "--freeze-epochs", "1",
               "--batch-seconds", "1.5", "--out", str(tmp_path / "ddp"), "--results", str(tmp_path / "ddp.csv"), "--no-progress"]  # fmt: skip
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("seed 0 epoch 2/2") == 1  # only the main process reports
    assert load_checkpoint(tmp_path / "ddp" / "seed0" / CHECKPOINT_NAME)["position"]["finished"]
    assert {row["metric"] for row in ResultTable.open(tmp_path / "ddp.csv")} == {"cer", "wer", "cer_mean", "cer_std", "wer_mean", "wer_std"}


def test_command_line_errors_are_one_line(corpus, tiny_root, monkeypatch, capsys):
    from layerprobe.cli import main

    monkeypatch.setenv("LAYERPROBE_CACHE", str(tiny_root))
    base = ["finetune", "--model", "tiny:wav2vec2", "--corpus", str(corpus), "--no-progress"]
    for extra, status, message in (
        (["--seeds", "0,0"], 2, "seeds repeat"),
        (["--seeds", "a"], 2, "comma-separated"),
        (["--reinit", "T0"], 1, "T0 is not a transformer block"),
        (["--train", "nosuchsplit"], 1, "nosuchsplit"),
    ):
        with pytest.raises(SystemExit) as caught:
            main([*base, *extra])
        err = capsys.readouterr().err
        assert caught.value.code == status and message in err and len(err.strip().splitlines()) == 1, err


# ------------------------------------------------------------------------------ a run's identity

_SMALL = dict(config=TrainConfig(epochs=1, freeze_epochs=0, peak_lr=1e-3, max_batch_frames=24_000), progress=False)


def _refusal(out: Path, what: str, changes: str) -> str:
    return f"{out / 'seed0'}: holds {what} of another run ({changes}); use another --out, or pass --overwrite to start again"


@pytest.mark.parametrize(
    ("extra", "changes"),
    [({"reinit": "T2-T3"}, "reinit '' -> 'T2-T3'"),
     ({"local_attention": "T1-T2", "radius": 5}, "local_attention '' -> 'T1-T2'; radius None -> 5")],
)  # fmt: skip
def test_a_finished_run_is_not_reported_as_a_variant(tiny_root, data, tmp_path, extra, changes):
    adapter = _fresh(tiny_root, "wav2vec2")
    plain = finetune(adapter, *data, out_dir=tmp_path / "ft", **_SMALL)
    with pytest.raises(ConfigError) as caught:
        finetune(adapter, *data, out_dir=tmp_path / "ft", **_SMALL, **extra)
    assert str(caught.value) == _refusal(tmp_path / "ft", "the finished result", changes)
    # the checkpoint alone (no result.json) is refused too
    (tmp_path / "ft" / "seed0" / "result.json").unlink()
    with pytest.raises(ConfigError) as caught:
        finetune(adapter, *data, out_dir=tmp_path / "ft", **_SMALL, **extra)
    assert str(caught.value) == _refusal(tmp_path / "ft", "a checkpoint", changes)
    variant = finetune(adapter, *data, out_dir=tmp_path / "ft", **_SMALL, **extra, overwrite=True)
    assert not variant.train_results[0].resumed and variant.test_metrics != plain.test_metrics


def test_a_killed_run_is_not_resumed_with_local_attention_added(tiny_root, data, tmp_path):
    adapter = _fresh(tiny_root, "wav2vec2")
    config = TrainConfig(epochs=2, freeze_epochs=0, peak_lr=1e-3, max_batch_frames=24_000)

    def killed(seed, record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(adapter, *data, out_dir=tmp_path / "ft", config=config, progress=False, on_epoch_end=killed)
    assert (tmp_path / "ft" / "seed0" / CHECKPOINT_NAME).is_file()
    with pytest.raises(ConfigError) as caught:
        finetune(adapter, *data, out_dir=tmp_path / "ft", config=config, progress=False, local_attention="T2", radius=3)
    assert str(caught.value) == _refusal(tmp_path / "ft", "a checkpoint", "local_attention '' -> 'T2'; radius None -> 3")


def test_a_finished_run_of_other_weights_is_not_reported(tiny_root, data, tmp_path):
    import shutil

    from layerprobe.models import load_model

    first, second = tmp_path / "A", tmp_path / "B"
    shutil.copytree(build_tiny_model("wav2vec2", root=tiny_root), first)
    shutil.copytree(build_tiny_model("wav2vec2", seed=1, root=tiny_root), second)
    a, b = load_model(f"hf:{first}"), load_model(f"hf:{second}")
    finetune(a, *data, out_dir=tmp_path / "ft", **_SMALL)
    with pytest.raises(ConfigError) as caught:
        finetune(b, *data, out_dir=tmp_path / "ft", **_SMALL)
    changes = f"model weights {a.weights_fingerprint[:12]} -> {b.weights_fingerprint[:12]}"
    assert str(caught.value) == _refusal(tmp_path / "ft", "the finished result", changes)
    # the same weights under another path are the same run
    shutil.copytree(first, tmp_path / "A2")
    again = finetune(load_model(f"hf:{tmp_path / 'A2'}"), *data, out_dir=tmp_path / "ft", **_SMALL)
    assert again.train_results[0].resumed


def test_finetune_overwrite_is_on_the_command_line(corpus, tiny_root, tmp_path, monkeypatch, capsys):
    from layerprobe.cli import main

    monkeypatch.setenv("LAYERPROBE_CACHE", str(tiny_root))
    base = ["finetune", "--model", "tiny:wav2vec2", "--corpus", str(corpus), "--no-progress", "--epochs", "1",
            "--freeze-epochs", "0", "--batch-seconds", "1.5", "--out", str(tmp_path / "ft"), "--results", str(tmp_path / "r.csv")]  # fmt: skip
    with pytest.raises(SystemExit) as caught:
        main(base)
    assert caught.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as caught:
        main([*base, "--reinit", "T2-T3"])
    err = capsys.readouterr().err
    assert caught.value.code == 1 and err.strip().splitlines() == [
        "layerprobe: error: " + _refusal(tmp_path / "ft", "the finished result", "reinit '' -> 'T2-T3'")
    ], err
    with pytest.raises(SystemExit) as caught:
        main([*base, "--reinit", "T2-T3", "--overwrite"])
    assert caught.value.code == 0
