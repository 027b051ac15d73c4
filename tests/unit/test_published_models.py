"""AV-HuBERT (audio only) and FaST-VGS / FaST-VGS+: front ends, key maps, layers, safety.

The tiny checkpoints are written in the published layouts (tests/support/published_checkpoints.py);
the oracle for every layer is a forward computed from the raw checkpoint tensors with torch
functions, as fairseq / AV-HuBERT / FaST-VGS compute it, independent of layerprobe's modules.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from layerprobe.errors import AudioError, ConfigError
from layerprobe.models import load_model
from layerprobe.models.avhubert import audio_features, logfbank, n_filterbank_frames, n_model_frames, stack_frames
from layerprobe.models.fastvgs import z_normalize
from layerprobe.models.fingerprint import spec_fingerprint
from layerprobe.models.registry import check_spec
from modellib_addons import avhubert_keymap, fastvgs_keymap
from support.published_checkpoints import (
    RunsPython,
    RunsShell,
    reference_avhubert,
    reference_fastvgs,
    write_tiny_avhubert,
    write_tiny_fastvgs,
)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def wave():
    rng = np.random.default_rng(3)
    t = np.arange(16000 + 123) / 16000
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# AV-HuBERT's front end


@pytest.mark.parametrize("n", [1, 10, 399, 400, 401, 560, 561, 16000, 16001, 12345])
def test_logfbank_is_python_speech_features(n):
    psf = pytest.importorskip("python_speech_features")
    signal = np.random.default_rng(n).standard_normal(n) * 0.1
    ours = logfbank(signal)
    theirs = psf.logfbank(signal, samplerate=16000)
    assert ours.shape == theirs.shape == (n_filterbank_frames(n), 26)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_logfbank_of_silence_is_log_epsilon():
    assert np.all(logfbank(np.zeros(800)) == np.log(np.finfo(float).eps))


@pytest.mark.parametrize(
    "n, fbank, model",
    [(1, 1, 1), (400, 1, 1), (401, 2, 1), (880, 4, 1), (881, 5, 2), (16000, 99, 25), (16001, 99, 25), (32000, 199, 50)],
)
def test_frame_counts_at_40_ms(n, fbank, model):
    assert n_filterbank_frames(n) == fbank
    assert n_model_frames(n, stack_order=4) == model


def test_stacking_pads_the_last_group_with_zero_frames():
    frames = np.arange(10, dtype=np.float32).reshape(5, 2)
    stacked = stack_frames(frames, 4)
    assert stacked.shape == (2, 8)
    np.testing.assert_array_equal(stacked[0], [0, 1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(stacked[1], [8, 9, 0, 0, 0, 0, 0, 0])


def test_normalize_standardises_each_stacked_frame(wave):
    raw = audio_features(wave, stack_order=4, normalize=False)
    np.testing.assert_array_equal(raw, stack_frames(logfbank(wave).astype(np.float32), 4))
    normed = audio_features(wave, stack_order=4, normalize=True)
    assert normed.shape == raw.shape == (n_model_frames(wave.size, stack_order=4), 104)
    expected = (raw - raw.mean(axis=1, keepdims=True)) / np.sqrt(raw.var(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(normed, expected, rtol=0, atol=2e-5)


# --------------------------------------------------------------------------------------------------
# AV-HuBERT: the layers


@pytest.mark.parametrize(
    "options", [{}, {"fuse": "add", "layer_norm_first": False}, {"normalize": False, "n_layers": 3}], ids=["concat-preLN", "add-postLN", "raw-3"]
)
def test_avhubert_layers_are_the_published_ones(tmp_path, wave, options):
    path = write_tiny_avhubert(tmp_path / "avhubert.pt", **options)
    adapter = load_model(f"avhubert:{path}")
    n_layers = options.get("n_layers", 2)
    assert adapter.family == "avhubert"
    assert adapter.layer_ids == tuple(f"T{i}" for i in range(n_layers + 1))
    assert adapter.frame_rate_hz == 25.0 and adapter.layer_frame_rate("T1") == 25.0
    assert adapter.local_pooling("T0") is None
    out = adapter.forward(wave)
    assert out.n_frames == adapter.n_frames(wave.size) == 25  # 100 filterbank frames, 4 per frame
    features = audio_features(wave, stack_order=4, normalize=options.get("normalize", True))
    reference = reference_avhubert(path, features)
    assert len(reference) == n_layers + 1
    for layer, expected in zip(adapter.layer_ids, reference):
        assert out.hidden[layer].shape == (25, 32) and out.hidden[layer].dtype == np.float32
        np.testing.assert_allclose(out.hidden[layer], expected, rtol=1e-5, atol=2e-5)
    assert not np.allclose(out.hidden["T1"], out.hidden["T2"])
    assert adapter.forward(wave, layers=["T2"]).hidden.keys() == {"T2"}


def test_avhubert_describe_and_fingerprint(tmp_path):
    path = write_tiny_avhubert(tmp_path / "avhubert.pt")
    adapter = load_model(f"avhubert:{path}")
    described = adapter.describe()
    assert described["family"] == "avhubert" and described["frame_rate_hz"] == 25.0
    assert described["feature_settings"] == {
        "front_end": "python_speech_features.logfbank", "n_filters": 26, "stack_order_audio": 4, "normalize": True,
        "audio_feat_dim": 104, "modality_fuse": "concat", "frame_rate_hz": 25.0,
    }  # fmt: skip
    assert adapter.weights_fingerprint == spec_fingerprint(f"avhubert:{path}") is not None
    card = adapter.model_card()  # what every store records, as for the transformers families
    assert card["parameter_count"] == sum(p.numel() for p in adapter.module.parameters()) > 1_000
    assert card["layer_frame_rates"] == {layer: 25.0 for layer in adapter.layer_ids}
    assert card["weights_fingerprint"] == adapter.weights_fingerprint
    assert {key: described[key] for key in card} == card


def test_avhubert_key_map_is_complete(tmp_path):
    path = write_tiny_avhubert(tmp_path / "avhubert.pt")
    state = torch.load(path, weights_only=True)["model"]
    adapter = load_model(f"avhubert:{path}")
    shapes = {key: tuple(value.shape) for key, value in adapter.module.state_dict().items()}
    result = avhubert_keymap.map_state_dict(state, shapes)
    assert result.complete
    assert set(result.sources) == set(shapes)  # every module key is filled ...
    assert set(result.sources.values()) | set(result.dropped) == set(state)  # ... and every checkpoint key used or dropped
    assert sorted(result.dropped) == [
        "feature_extractor_video.proj.bias", "feature_extractor_video.proj.weight",
        "feature_extractor_video.resnet.frontend3D.0.weight", "feature_extractor_video.resnet.frontend3D.1.running_mean",
        "final_proj.bias", "final_proj.weight", "label_embs_concat", "mask_emb",
    ]  # fmt: skip
    assert result.sources["audio_projection.weight"] == "feature_extractor_audio.proj.weight"
    assert result.sources["feature_projection.projection.weight"] == "post_extract_proj.weight"
    assert result.sources["encoder.layers.1.feed_forward.output_dense.weight"] == "encoder.layers.1.fc2.weight"


def test_avhubert_unknown_key_is_refused(tmp_path):
    extra = {"feature_extractor_audio.encoder.layers.0.fc1.weight": torch.zeros(2, 2)}
    path = write_tiny_avhubert(tmp_path / "sub.pt", extra=extra)
    with pytest.raises(ConfigError) as raised:
        load_model(f"avhubert:{path}")
    assert str(raised.value) == (
        f"{path.resolve()}: parameters with no counterpart in layerprobe's module: "
        "feature_extractor_audio.encoder.layers.0.fc1.weight"
    )


def test_avhubert_missing_key_is_refused(tmp_path):
    path = write_tiny_avhubert(tmp_path / "short.pt")
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["model"]["encoder.layers.1.fc1.bias"]
    torch.save(checkpoint, path)
    with pytest.raises(ConfigError) as raised:
        load_model(f"avhubert:{path}")
    assert str(raised.value) == (
        f"{path.resolve()}: checkpoint lacks parameters the configuration implies: "
        "encoder.layers.1.feed_forward.intermediate_dense.bias"
    )


@pytest.mark.parametrize(
    "overrides, problem",
    [
        ({"_name": "hubert"}, "model 'hubert' is not an AV-HuBERT pre-training checkpoint (supported: av_hubert; "
                              "wav2vec 2.0 and HuBERT checkpoints load with fairseq:)"),
        ({"sub_encoder_layers": 2}, "sub_encoder_layers=2: an audio sub-encoder is not supported"),
        ({"audio_feat_dim": 80}, "audio_feat_dim=80 is not 26 filterbanks x stack_order_audio=4"),
        ({"modality_fuse": "mul"}, "modality_fuse='mul' is not supported (concat, add)"),
        ({"audio_feat_dim": "many"}, "does not describe an AV-HuBERT model (ValueError: invalid literal for int() with base 10: 'many')"),
    ],
)  # fmt: skip
def test_avhubert_unsupported_configurations(tmp_path, overrides, problem):
    path = write_tiny_avhubert(tmp_path / "odd.pt", model_overrides=overrides)
    with pytest.raises(ConfigError) as raised:
        load_model(f"avhubert:{path}")
    assert str(raised.value) == f"{path.resolve()}: {problem}"


@pytest.mark.parametrize("payload", [RunsPython, RunsShell])
def test_avhubert_malicious_checkpoint_is_refused(tmp_path, payload):
    marker = tmp_path / "pwned"
    path = write_tiny_avhubert(tmp_path / "evil.pt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["cfg"]["task"]["normalize"] = payload(marker)
    torch.save(checkpoint, path)
    with pytest.raises(ConfigError) as raised:
        load_model(f"avhubert:{path}")
    name = "builtins.exec" if payload is RunsPython else "posix.system"
    assert str(raised.value) == (
        f"{path.resolve()}: refusing to unpickle {name}: not on layerprobe's allow-list of harmless classes "
        "for model checkpoints; nothing was executed"
    )
    assert not marker.exists()


# --------------------------------------------------------------------------------------------------
# FaST-VGS


def test_z_normalize_is_the_published_one(wave):
    expected = ((wave.astype(np.float64) - wave.mean()) / wave.std()).astype(np.float32)
    np.testing.assert_allclose(z_normalize(wave), expected, rtol=0, atol=1e-6)
    with pytest.raises(AudioError, match=r"^a constant waveform cannot be z-normalised for FaST-VGS \(its standard deviation is 0\)$"):
        z_normalize(np.full(800, 0.5, dtype=np.float32))


@pytest.mark.parametrize(
    "options, n_layers",
    [({}, 2), ({"plus": True}, 4), ({"plus": True, "parallel": True, "layer_use": 3}, 4), ({"layer_use": 0}, 1)],
    ids=["fast-vgs", "fast-vgs-plus", "plus-dataparallel", "layer_use-0"],
)
def test_fastvgs_layers_are_the_published_ones(tmp_path, wave, options, n_layers):
    folder = write_tiny_fastvgs(tmp_path / "run", **options)
    adapter = load_model(f"fastvgs:{folder}")
    # FaST-VGS: layer_use + 2 hidden states; FaST-VGS+: encoder_layers + 1
    assert adapter.layer_ids == tuple(f"T{i}" for i in range(n_layers + 1))
    assert adapter.family == "fastvgs" and adapter.frame_rate_hz == 50.0
    out = adapter.forward(wave)
    assert out.n_frames == adapter.n_frames(wave.size) == 50
    reference = reference_fastvgs(folder, wave)
    assert len(reference) == n_layers + 1
    for layer, expected in zip(adapter.layer_ids, reference):
        assert out.hidden[layer].shape == (50, 32)
        np.testing.assert_allclose(out.hidden[layer], expected, rtol=1e-5, atol=2e-5)
    variant = adapter.describe()["feature_settings"]["variant"]
    assert variant == ("fast-vgs-plus" if options.get("plus") else "fast-vgs")
    assert adapter.weights_fingerprint == spec_fingerprint(f"fastvgs:{folder}") is not None


def test_fastvgs_cls_token_takes_part(tmp_path, wave):
    """The CLS token is prepended before the encoder: another token changes every T layer, not T0."""
    first = load_model(f"fastvgs:{write_tiny_fastvgs(tmp_path / 'a')}")
    second = load_model(f"fastvgs:{write_tiny_fastvgs(tmp_path / 'b')}")
    with torch.no_grad():
        second.module.cls_token.add_(1.0)
    a, b = first.forward(wave), second.forward(wave)
    np.testing.assert_array_equal(a.hidden["T0"], b.hidden["T0"])
    assert not np.allclose(a.hidden["T1"], b.hidden["T1"], atol=1e-3)


def test_fastvgs_key_map_is_complete(tmp_path):
    folder = write_tiny_fastvgs(tmp_path / "run", plus=True)
    dual = torch.load(folder / "best_bundle.pth", weights_only=True)["dual_encoder"]
    adapter = load_model(f"fastvgs:{folder}")
    shapes = {key: tuple(value.shape) for key, value in adapter.module.state_dict().items()}
    result = fastvgs_keymap.map_state_dict(dual, shapes)
    assert result.complete
    assert set(result.sources) == set(shapes)
    assert set(result.sources.values()) | set(result.dropped) == set(dual)
    inner = sorted(key for key in result.dropped if key.startswith("conv1_trm1_trm3."))
    assert inner == [f"conv1_trm1_trm3.{name}" for name in (
        "final_proj.bias", "final_proj.weight", "mask_emb", "project_q.bias", "project_q.weight",
        "quantizer.vars", "quantizer.weight_proj.bias", "quantizer.weight_proj.weight",
    )]  # fmt: skip
    assert "xtrm.0.visual_attention.att.query.weight" in result.dropped
    assert result.sources["cls_token"] == "conv1_trm1_trm3.cls_token"
    assert result.sources["feature_extractor.conv_layers.0.layer_norm.weight"] == "conv1_trm1_trm3.feature_extractor.conv_layers.0.2.weight"


def test_fastvgs_bundle_with_fewer_blocks_is_refused(tmp_path):
    """args.pkl of FaST-VGS+ over a bundle holding FaST-VGS's cut encoder: the missing blocks are named."""
    folder = write_tiny_fastvgs(tmp_path / "run", plus=False, encoder_layers=3, layer_use=1)
    with open(folder / "args.pkl", "rb") as handle:
        args = pickle.load(handle)
    args.caption_w2v2_weight = 1.0
    (folder / "args.pkl").write_bytes(pickle.dumps(args))
    with pytest.raises(ConfigError) as raised:
        load_model(f"fastvgs:{folder}")
    assert str(raised.value).startswith(
        f"{(folder / 'best_bundle.pth').resolve()}: checkpoint lacks parameters the configuration implies: "
        "encoder.layers.2.attention.k_proj.bias, "
    )


@pytest.mark.parametrize("payload", [RunsPython, RunsShell])
def test_fastvgs_malicious_args_are_refused_in_one_line(tmp_path, payload):
    marker = tmp_path / "pwned"
    folder = write_tiny_fastvgs(tmp_path / "run")
    (folder / "args.pkl").write_bytes(pickle.dumps(payload(marker)))
    with pytest.raises(ConfigError) as raised:
        load_model(f"fastvgs:{folder}")
    name = "builtins.exec" if payload is RunsPython else "posix.system"
    assert str(raised.value) == (
        f"{(folder / 'args.pkl').resolve()}: refusing to unpickle {name}: not on layerprobe's allow-list of "
        "harmless classes for FaST-VGS args; nothing was executed"
    )
    assert not marker.exists()


def test_fastvgs_malicious_bundle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    folder = write_tiny_fastvgs(tmp_path / "run")
    bundle = torch.load(folder / "best_bundle.pth", weights_only=True)
    bundle["epoch"] = RunsShell(marker)
    torch.save(bundle, folder / "best_bundle.pth")
    with pytest.raises(ConfigError) as raised:
        load_model(f"fastvgs:{folder}")
    assert str(raised.value) == (
        f"{(folder / 'best_bundle.pth').resolve()}: refusing to unpickle posix.system: not on layerprobe's "
        "allow-list of harmless classes for model checkpoints; nothing was executed"
    )
    assert not marker.exists()


def test_fastvgs_folder_errors(tmp_path):
    folder = write_tiny_fastvgs(tmp_path / "run")
    (folder / "best_bundle.pth").unlink()
    with pytest.raises(ConfigError) as raised:
        load_model(f"fastvgs:{folder}")
    assert str(raised.value) == f"{folder.resolve()}: FaST-VGS folder lacks best_bundle.pth (it needs args.pkl and best_bundle.pth)"
    with pytest.raises(ConfigError) as raised:
        check_spec(f"fastvgs:{tmp_path / 'nowhere'}")
    assert str(raised.value) == f"--model fastvgs:{tmp_path / 'nowhere'}: no such FaST-VGS folder (with args.pkl and best_bundle.pth)"
    with pytest.raises(ConfigError) as raised:
        check_spec(f"avhubert:{tmp_path / 'none.pt'}")
    assert str(raised.value) == f"--model avhubert:{tmp_path / 'none.pt'}: no such checkpoint file"


def test_fastvgs_pre_ln_args_are_refused(tmp_path):
    folder = write_tiny_fastvgs(tmp_path / "run", args_overrides={"layer_norm_first": True})
    with pytest.raises(ConfigError) as raised:
        load_model(f"fastvgs:{folder}")
    assert str(raised.value) == (
        f"{(folder / 'args.pkl').resolve()}: layer_norm_first=True: the published FaST-VGS layer read "
        "(superb=True) takes post-LN encoders only"
    )


# --------------------------------------------------------------------------------------------------
# What these adapters refuse


def test_surgery_and_training_inputs_are_refused_in_one_line(tmp_path, wave):
    folder = write_tiny_fastvgs(tmp_path / "run")
    adapter = load_model(f"fastvgs:{folder}")
    spec = f"fastvgs:{folder}"
    tail = "not available for fastvgs models (layerprobe reads their layer outputs and attention maps only)"
    with pytest.raises(ConfigError) as raised:
        adapter.check_local_attention()
    assert str(raised.value) == f"{spec}: local-attention surgery {tail}"
    with pytest.raises(ConfigError) as raised:
        adapter.differentiable_inputs(torch.zeros(1, 1600))
    assert str(raised.value) == f"{spec}: feature audiation {tail}"
    with pytest.raises(ConfigError, match="has no layer 'C1'"):
        adapter.forward(wave, layers=["C1"])


def _softmax_logits(maps: np.ndarray, logits: np.ndarray) -> None:
    """Logits are the maps' pre-softmax values: softmax over the kept keys reproduces the kept maps' shape of mass."""
    kept = np.exp(logits - logits.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(kept / kept.sum(axis=-1, keepdims=True), maps / maps.sum(axis=-1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_avhubert_attention_maps_are_the_published_ones(tmp_path, wave):
    path = write_tiny_avhubert(tmp_path / "avhubert.pt")
    adapter = load_model(f"avhubert:{path}")
    out = adapter.forward(wave, layers=["T1"], attention=True, pre_softmax=True)
    record: list = []
    reference_avhubert(path, audio_features(wave, stack_order=4, normalize=True), record)
    assert sorted(out.attention) == sorted(out.pre_softmax) == ["T1", "T2"]
    for block, expected in zip(["T1", "T2"], record):
        assert out.attention[block].shape == (4, 25, 25)
        np.testing.assert_allclose(out.attention[block], expected.numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(out.attention_padding[block], np.zeros((4, 25), dtype=np.float32))
        _softmax_logits(out.attention[block], out.pre_softmax[block])
    assert out.hidden.keys() == {"T1"}


def test_fastvgs_attention_maps_cut_the_cls_token(tmp_path, wave):
    folder = write_tiny_fastvgs(tmp_path / "run")
    adapter = load_model(f"fastvgs:{folder}")
    out = adapter.forward(wave, attention=True)
    record: list = []
    reference_fastvgs(folder, wave, record)
    for block, expected in zip(["T1", "T2"], record):
        full = expected.numpy()  # (heads, 1 + 50, 1 + 50), CLS first
        np.testing.assert_allclose(out.attention[block], full[:, 1:, 1:], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(out.attention_padding[block], full[:, 1:, 0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(out.attention[block].sum(-1) + out.attention_padding[block], 1.0, atol=1e-5)
    assert out.pre_softmax == {}
    assert adapter.module.encoder.config._attn_implementation == "eager"  # restored after the call


def test_streamed_attention_maps_equal_the_returned_ones(tmp_path, wave):
    folder = write_tiny_fastvgs(tmp_path / "run")
    adapter = load_model(f"fastvgs:{folder}")
    whole = adapter.forward(wave, attention=True, pre_softmax=True)
    streamed: list = []
    out = adapter.forward(
        wave, layers=[], attention=True, pre_softmax=True,
        on_attention=lambda block, values, logits: streamed.append(("logits" if logits else "maps", block, values)),
        on_padding=lambda block, mass: streamed.append(("padding", block, mass)),
    )  # fmt: skip
    assert out.attention == {} and out.hidden == {}
    assert [(kind, block) for kind, block, _ in streamed] == [
        ("logits", "T1"), ("padding", "T1"), ("maps", "T1"), ("logits", "T2"), ("padding", "T2"), ("maps", "T2"),
    ]  # fmt: skip
    for kind, block, values in streamed:
        expected = {"maps": whole.attention, "logits": whole.pre_softmax, "padding": whole.attention_padding}[kind][block]
        assert values.dtype == (np.float32 if kind == "padding" else np.float16)
        np.testing.assert_allclose(values.astype(np.float32), expected, rtol=2e-3, atol=1e-3)


def test_local_rep_of_a_model_without_c_layers_is_refused_in_one_line(tmp_path):
    from layerprobe.extraction import plan_extraction

    path = write_tiny_avhubert(tmp_path / "avhubert.pt")
    adapter = load_model(f"avhubert:{path}")
    with pytest.raises(ConfigError) as raised:
        plan_extraction(adapter, rep="local", span="frame")
    assert str(raised.value) == f"--rep local: avhubert:{path} has no C layers (it has T0, T1, T2)"
    assert plan_extraction(adapter, rep="contextualized", span="frame").layer_rates == {"T0": 25.0, "T1": 25.0, "T2": 25.0}


@pytest.mark.parametrize("family", ["avhubert", "fastvgs"])
def test_finetuning_is_refused_in_one_line_not_crashing(tmp_path, family):
    """CTC fine-tuning builds its model from the adapter (it read ``module.config``: AttributeError, exit 3),
    then the adapter refuses the padded training batches in one line."""
    from layerprobe.training.finetune import CTCFineTuneModel

    spec = f"avhubert:{write_tiny_avhubert(tmp_path / 'a.pt')}" if family == "avhubert" else f"fastvgs:{write_tiny_fastvgs(tmp_path / 'f')}"
    adapter = load_model(spec)
    model = CTCFineTuneModel(adapter)
    assert model.head.in_features == 32
    with pytest.raises(ConfigError) as raised:
        adapter.batch_inputs(torch.zeros(2, 1600), torch.tensor([1600, 800]))
    assert str(raised.value) == (
        f"{spec}: fine-tuning (padded training batches) not available for {family} models "
        "(layerprobe reads their layer outputs and attention maps only)"
    )
