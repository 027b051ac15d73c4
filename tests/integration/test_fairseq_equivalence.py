"""fairseq checkpoints loaded without fairseq compute what fairseq computes, layer by layer.

fairseq is an optional test dependency; this module skips cleanly without it.  Install it with::

    pip install --no-deps ve-fairseq==0.12.3
    pip install "hydra-core>=1.3.2" omegaconf bitarray "sacrebleu>=1.4.12" regex cython cffi

``--no-deps`` because ve-fairseq declares torchaudio, and pip would replace the CPU torch with a CUDA
build to satisfy it; the wav2vec 2.0 and HuBERT code used here never imports torchaudio.

Each case builds a small model with fairseq's own command-line parser (the real 7-block conv stack
with 32 channels, 2 transformer blocks of width 64), perturbs every parameter so that no norm is an
identity and no two norms are alike, and saves it with fairseq's ``Trainer.save_checkpoint`` (the
``cfg`` exactly as fairseq writes it, optimizer and task state included).  The cases: wav2vec 2.0
base style, large / XLS-R style (layer norm in every conv block, conv bias, ``layer_norm_first``),
HuBERT base, and a CTC model fine-tuned from the base one (``wav2vec_ctc``; its encoder is compared).

fairseq reloads each file with ``load_model_ensemble_and_task``; layerprobe with
:func:`load_fairseq_checkpoint`.  On the same random waveform they are compared at

* ``C1``..``C7``: the conv blocks' outputs (forward hooks on both models);
* ``T0``: the first transformer block's input (a pre-hook on fairseq's block; transformers'
  ``hidden_states[0]``);
* ``T1``..``TL``: fairseq's ``layer_results`` (wav2vec2) or ``extract_features(output_layer=k)``
  (HuBERT) against transformers' ``hidden_states[k]``;
* ``final``: fairseq's returned ``x`` against transformers' ``last_hidden_state``.

With ``layer_norm_first`` the encoder ends with a layer norm.  fairseq applies it to ``x`` only; its
``layer_results[-1]`` is the last block's raw output.  transformers 5 does the same:
``last_hidden_state`` is normed while ``hidden_states[L]`` is the raw block output (the model
records hidden states with ``tie_last_hidden_states=False``; transformers 4 put the normed state
there).  So ``TL`` pairs the two raw outputs and ``final`` the two normed ones; for the post-LN
models the three coincide.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

fairseq = pytest.importorskip("fairseq", exc_type=ImportError)

from fairseq import checkpoint_utils, options, tasks  # noqa: E402
from fairseq.dataclass.utils import convert_namespace_to_omegaconf  # noqa: E402
from fairseq.trainer import Trainer  # noqa: E402

from layerprobe.models.fairseq import load_fairseq_checkpoint  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning", "ignore::DeprecationWarning")

TOLERANCE = 1e-4
N_SAMPLES = 16000  # 49 frames: odd, so fairseq pads to required_seq_len_multiple=2 where asked
LAYERS = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "T0", "T1", "T2", "final"]

SMALL_MODEL = [
    "--encoder-layers", "2",
    "--encoder-embed-dim", "64",
    "--encoder-ffn-embed-dim", "128",
    "--encoder-attention-heads", "4",
    "--conv-pos", "16",
    "--conv-pos-groups", "4",
    "--conv-feature-layers", "[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] + [(32, 2, 2)]",
    "--final-dim", "16",
]

PRETRAINING = {
    "wav2vec2-base": [
        "--task", "audio_pretraining", "--arch", "wav2vec2", "--criterion", "wav2vec",
        "--quantize-targets", "--latent-vars", "8", "--required-seq-len-multiple", "2",
    ],
    "wav2vec2-large": [
        "--task", "audio_pretraining", "--arch", "wav2vec2", "--criterion", "wav2vec",
        "--quantize-targets", "--latent-vars", "8", "--normalize",
        "--extractor-mode", "layer_norm", "--layer-norm-first", "--conv-bias",
    ],
    "hubert-base": [
        "--task", "hubert_pretraining", "--arch", "hubert", "--criterion", "hubert",
        "--labels", '["km"]', "--label-rate", "50", "--pred-masked-weight", "1.0",
    ],
}

FINE_TUNING = ["--task", "audio_finetuning", "--arch", "wav2vec_ctc", "--labels", "ltr", "--criterion", "ctc"]

#: case -> (family, fine-tuned, task normalize)
EXPECTED = {
    "wav2vec2-base": ("wav2vec2", False, False),
    "wav2vec2-large": ("wav2vec2", False, True),
    "hubert-base": ("hubert", False, False),
    "wav2vec2-ctc": ("wav2vec2", True, False),
}


def _perturb(model: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))


def _train_and_save(workdir: Path, command_line: list[str], name: str, seed: int) -> Path:
    """Build a model the way ``fairseq-train`` does and save it with fairseq's Trainer."""
    args = options.parse_args_and_arch(options.get_training_parser(), [str(workdir), "--cpu", *command_line])
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    _perturb(model, seed)
    trainer = Trainer(cfg, task, model, task.build_criterion(cfg.criterion))
    trainer.consolidate_optimizer()
    path = workdir / f"{name}.pt"
    trainer.save_checkpoint(str(path), {})
    return path


def save_case(workdir: Path, case: str) -> Path:
    """Write the case's checkpoint with fairseq (the CTC case fine-tunes the base checkpoint)."""
    optimizer = ["--optimizer", "adam", "--lr", "1e-4"]
    if case == "wav2vec2-ctc":
        pretrained = save_case(workdir, "wav2vec2-base")
        (workdir / "dict.ltr.txt").write_text("".join(f"{letter} 1\n" for letter in "ABCDE|"))
        return _train_and_save(workdir, [*optimizer, *FINE_TUNING, "--w2v-path", str(pretrained)], case, seed=11)
    labels = []
    if "--labels" in PRETRAINING[case]:
        (workdir / "dict.km.txt").write_text("".join(f"{unit} 1\n" for unit in range(10)))
        labels = ["--label-dir", str(workdir)]
    return _train_and_save(workdir, [*optimizer, *SMALL_MODEL, *PRETRAINING[case], *labels], case, seed=len(case))


@dataclass
class Saved:
    """One case: the checkpoint fairseq wrote, fairseq's encoder read back from it, and layerprobe's."""

    case: str
    path: Path
    fairseq_model: torch.nn.Module
    module: torch.nn.Module
    settings: dict

    @property
    def family(self) -> str:
        return EXPECTED[self.case][0]


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def saved(request, tmp_path_factory) -> Saved:
    logging.getLogger("fairseq").setLevel(logging.WARNING)
    with pytest.MonkeyPatch.context() as patch:
        # fairseq 0.12 calls torch.load without weights_only, which torch >= 2.6 reads as True; its
        # own checkpoints pickle fairseq classes (the task's Dictionary), so fairseq needs the old default.
        patch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
        path = save_case(tmp_path_factory.mktemp(request.param), request.param)
        models, _cfg, _task = checkpoint_utils.load_model_ensemble_and_task([str(path)])
    fairseq_model = models[0].eval()
    if request.param == "wav2vec2-ctc":
        fairseq_model = fairseq_model.w2v_encoder.w2v_model
    module, settings = load_fairseq_checkpoint(path)
    return Saved(request.param, path, fairseq_model, module, settings)


@pytest.fixture(scope="module")
def waveform() -> torch.Tensor:
    return torch.randn(1, N_SAMPLES, generator=torch.Generator().manual_seed(7))


def _capture(modules: list[torch.nn.Module], *, pre: bool = False):
    """Register hooks that store each module's output (or first input); return (store, handles)."""
    store: list[torch.Tensor] = []

    def keep_output(_module, _inputs, output):
        store.append(output[0] if isinstance(output, tuple) else output)

    def keep_input(_module, inputs):
        store.append(inputs[0])

    handles = [
        module.register_forward_pre_hook(keep_input) if pre else module.register_forward_hook(keep_output)
        for module in modules
    ]
    return store, handles


def fairseq_layers(model, waveform: torch.Tensor, family: str) -> dict[str, torch.Tensor]:
    """Every layer of fairseq's own forward: (1, C, T) for conv blocks, (1, T, C) for the rest."""
    convs, conv_handles = _capture(list(model.feature_extractor.conv_layers))
    block_input, input_handles = _capture([model.encoder.layers[0]], pre=True)
    try:
        with torch.no_grad():
            if family == "wav2vec2":
                result = model.extract_features(waveform, padding_mask=None, mask=False)
                final = result["x"]
                blocks = [output.transpose(0, 1) for output, _, _ in result["layer_results"]]
            else:
                final, _ = model.extract_features(waveform, padding_mask=None, mask=False)
                blocks = [
                    model.extract_features(waveform, padding_mask=None, mask=False, output_layer=k)[0]
                    for k in range(1, len(model.encoder.layers) + 1)
                ]
    finally:
        for handle in conv_handles + input_handles:
            handle.remove()
    n_frames = final.shape[1]
    n_convs = len(model.feature_extractor.conv_layers)
    layers = {f"C{i + 1}": output for i, output in enumerate(convs[:n_convs])}
    # fairseq pads the block input to required_seq_len_multiple (masked in attention); cut it off.
    layers["T0"] = block_input[0].transpose(0, 1)[:, :n_frames]
    layers.update({f"T{k + 1}": block for k, block in enumerate(blocks)})
    layers["final"] = final
    return layers


def transformers_layers(module, waveform: torch.Tensor) -> dict[str, torch.Tensor]:
    """The same layers from the transformers module layerprobe loaded."""
    convs, conv_handles = _capture(list(module.feature_extractor.conv_layers))
    try:
        with torch.no_grad():
            out = module(waveform, output_hidden_states=True)
    finally:
        for handle in conv_handles:
            handle.remove()
    layers = {f"C{i + 1}": output for i, output in enumerate(convs)}
    layers.update({f"T{k}": hidden for k, hidden in enumerate(out.hidden_states)})
    layers["final"] = out.last_hidden_state
    return layers


def max_differences(saved: Saved, waveform: torch.Tensor) -> dict[str, float]:
    """Max absolute difference per layer between fairseq and the loaded transformers module."""
    expected = fairseq_layers(saved.fairseq_model, waveform, saved.family)
    got = transformers_layers(saved.module, waveform)
    assert list(expected) == list(got) == LAYERS
    differences = {}
    for name in LAYERS:
        assert expected[name].shape == got[name].shape, (name, expected[name].shape, got[name].shape)
        differences[name] = float((expected[name] - got[name]).abs().max())
    return differences


def test_every_layer_matches_fairseq(saved, waveform):
    differences = max_differences(saved, waveform)
    print(saved.case, {name: f"{value:.1e}" for name, value in differences.items()})
    assert max(differences.values()) <= TOLERANCE, differences


def test_neighbouring_layers_differ(saved, waveform):
    """The comparison can fail: layers of the loaded model are far apart from one another."""
    layers = transformers_layers(saved.module, waveform)
    assert float((layers["T1"] - layers["T2"]).abs().max()) > 100 * TOLERANCE
    assert float((layers["T0"] - layers["T1"]).abs().max()) > 100 * TOLERANCE


def test_final_layer_norm_only_on_the_last_hidden_state(saved, waveform):
    """Large style: ``last_hidden_state`` is the normed ``hidden_states[L]``; post-LN: they are one."""
    layers = transformers_layers(saved.module, waveform)
    gap = float((layers["final"] - layers["T2"]).abs().max())
    if saved.fairseq_model.encoder.layer_norm_first:
        assert gap > 100 * TOLERANCE
        with torch.no_grad():
            normed = saved.module.encoder.layer_norm(layers["T2"])
        assert float((normed - layers["final"]).abs().max()) <= TOLERANCE
    else:
        assert gap == 0.0


def test_settings_follow_the_checkpoint(saved):
    family, fine_tuned, normalize = EXPECTED[saved.case]
    settings, module = saved.settings, saved.module
    assert settings["do_normalize"] is normalize
    assert settings["family"] == family
    assert settings["fine_tuned"] is fine_tuned
    assert settings["architecture"] == ("wav2vec_ctc" if fine_tuned else family)
    assert settings["source"] == str(saved.path.resolve())
    assert type(module).__name__ == ("HubertModel" if family == "hubert" else "Wav2Vec2Model")
    assert not module.training
    assert all(parameter.dtype == torch.float32 for parameter in module.parameters())


def test_checkpoint_holds_what_the_loader_drops(saved):
    """The file fairseq wrote really has the weights and pickled classes the loader must handle."""
    content = torch.load(saved.path, map_location="cpu", weights_only=False)
    state = content["model"]
    if saved.case == "wav2vec2-ctc":
        assert "w2v_encoder.proj.weight" in state and "w2v_encoder.w2v_model.mask_emb" in state
    elif saved.family == "hubert":
        assert "label_embs_concat" in state and "final_proj.weight" in state
        assert type(content["task_state"]["dictionaries"][0]).__name__ == "Dictionary"
    else:
        assert "quantizer.vars" in state and "project_q.weight" in state


def test_pickled_omegaconf_cfg_loads_the_same(saved, tmp_path):
    """Older fairseq pickled ``cfg`` as an omegaconf DictConfig (as its loader rebuilds it); same result."""
    from omegaconf import DictConfig, OmegaConf

    content = torch.load(saved.path, map_location="cpu", weights_only=False)
    content["cfg"] = OmegaConf.create(content["cfg"], flags={"allow_objects": True})
    assert isinstance(content["cfg"], DictConfig)
    path = tmp_path / "omegaconf.pt"
    torch.save(content, path)
    module, settings = load_fairseq_checkpoint(path)
    assert {**settings, "source": None} == {**saved.settings, "source": None}
    expected = saved.module.state_dict()
    assert all(torch.equal(tensor, expected[key]) for key, tensor in module.state_dict().items())
