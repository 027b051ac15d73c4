"""Feature audiation on tiny models: the terms of the objective, the differentiable layer read-out, the
optimisation (activation rises, neighbour penalty, seeds), the written files and dataset examples.

The wav2vec 2.0-family runs switch the time-shift augmentation off (``shift_frames=0``): a seeded
tiny random model's filter bank answers even a 1 ms shift with unrelated values, so with the shift
its units barely move (see layerprobe.audiation.optimize).  Tiny Whisper (log-mel front end) runs
with the default augmentation.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

pytest.importorskip("transformers")

from layerprobe.audiation import (  # noqa: E402
    AudiationSettings,
    audiate,
    audiate_units,
    example_clip,
    parse_units,
    read_audiation,
    top_activating_frames,
    write_audiation,
)
from layerprobe.audiation.activations import frozen_module, layer_activations, transformer_blocks  # noqa: E402
from layerprobe.audiation.examples import top_k_rows  # noqa: E402
from layerprobe.audiation.optimize import (  # noqa: E402
    augment,
    coefficients_to_waveform,
    high_frequency_share,
    silence_mask,
    silence_term,
    spectrum_scale,
    total_variation,
)
from layerprobe.errors import ConfigError, ResultError  # noqa: E402
from support.signals import speech_like_wave  # noqa: E402
from support.hooks import hook_counts  # noqa: E402

TINY = ("wav2vec2", "wav2vec2-large-style", "hubert", "wavlm", "data2vec-audio", "whisper")
#: The optimisation runs of the wav2vec 2.0 tests: 0.3 s (14 frames), 30 steps, no shift (see the module docstring).
RUN = {"seconds": 0.3, "steps": 30, "shift_frames": 0.0, "progress": False}


pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------ objective terms


def test_spectrum_scale_is_one_over_frequency_above_the_floor():
    scale = spectrum_scale(16000, freq_floor_hz=100.0)  # 1 Hz bins
    assert scale.shape == (8001,) and scale[0] == 0.0
    assert scale[1] == scale[50] == scale[100] == 1.0
    assert scale[200] == pytest.approx(0.5) and scale[8000] == pytest.approx(100 / 8000)
    assert spectrum_scale(16000, freq_floor_hz=100.0, decay=2.0)[400] == pytest.approx(1 / 16)


def test_coefficients_give_the_inverse_fft_at_the_rms():
    generator = torch.Generator().manual_seed(0)
    coefficients = torch.randn(2, 801, 2, generator=generator)
    scale = torch.from_numpy(spectrum_scale(1600))
    waves = coefficients_to_waveform(coefficients, scale, 1600, rms=0.1).numpy()
    spectrum = (coefficients[..., 0].numpy() + 1j * coefficients[..., 1].numpy()) * scale.numpy()
    direct = np.fft.irfft(spectrum, n=1600, axis=-1)
    direct *= 0.1 / np.sqrt((direct**2).mean(axis=-1, keepdims=True))
    np.testing.assert_allclose(waves, direct, atol=1e-6)
    np.testing.assert_allclose(np.sqrt((waves**2).mean(axis=-1)), 0.1, rtol=1e-5)
    assert abs(waves.mean()) < 1e-6  # no DC


def test_augment_shifts_circularly_and_adds_seeded_noise():
    waves = torch.arange(20, dtype=torch.float32).repeat(2, 1)
    shifted = augment(waves, max_shift=3, noise_std=0.0, generator=torch.Generator().manual_seed(1))
    matches = [k for k in range(-3, 4) if torch.equal(shifted, torch.roll(waves, k, dims=1))]
    assert len(matches) == 1
    a = augment(waves, max_shift=0, noise_std=0.5, generator=torch.Generator().manual_seed(2))
    b = augment(waves, max_shift=0, noise_std=0.5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and torch.equal(a[0], a[1])  # seeded; the same noise for every item
    assert not torch.equal(a, waves)


def test_silence_mask_and_term():
    # frame 10 at 50 Hz spans 0.20-0.22 s; with 50 ms margins the inside is 0.15-0.27 s = samples 2400..4320
    outside = silence_mask(8000, 10, 50.0, margin_s=0.05)
    assert not outside[2400:4320].any() and outside[:2400].all() and outside[4320:].all()
    wave = torch.zeros(1, 8000)
    wave[0, 3000:3100] = 1.0
    assert silence_term(wave, torch.from_numpy(outside).float()).item() == 0.0
    wave[0, 100:200] = 1.0  # as much energy outside as inside
    assert silence_term(wave, torch.from_numpy(outside).float()).item() == pytest.approx(0.5)
    assert not silence_mask(8000, 0, 50.0, margin_s=0.05)[:800].any()  # clipped at the start


def test_total_variation_and_high_frequency_share_of_a_sine():
    n, f, amplitude = 16000, 2000.0, 0.3
    sine = amplitude * torch.sin(2 * math.pi * f * torch.arange(n, dtype=torch.float64) / 16000)[None]
    rms = amplitude / math.sqrt(2)
    # x[i+1] - x[i] = 2A sin(pi/8) cos(pi/4 (i + 1/2)) at 8 samples a period; the mean of |cos| over
    # its 8 phases is (cos(pi/8) + sin(pi/8)) / 2, so mean |dx| / (A / sqrt 2) = sqrt(2) (sin cos + sin^2)(pi/8)
    # = sqrt(2) / 2 exactly.
    assert total_variation(sine, rms=rms).item() == pytest.approx(math.sqrt(2) / 2, rel=1e-3)
    # all the power in the 2000 Hz bin: (2000 / 8000) ** 2
    assert high_frequency_share(sine).item() == pytest.approx(1 / 16, rel=1e-6)


def test_settings_are_checked():
    AudiationSettings().check()
    for bad, message in [({"mode": "neuron"}, "mode 'neuron'"), ({"regularizer": "l2"}, "regularizer 'l2'"),
                         ({"steps": 0}, "steps must be"), ({"seconds": -1.0}, "seconds must be"),
                         ({"lr": float("nan")}, "lr must be"), ({"neighbour_weight": -1}, "neighbour_weight must be")]:  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            AudiationSettings(**bad).check()


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 20)), min_size=1, max_size=6))
@settings(max_examples=80, deadline=None)
def test_parse_units_round_trips_ranges(ranges):
    text = ",".join(f"{low}-{low + width}" if width else f"{low}" for low, width in ranges)
    expected = list(dict.fromkeys(u for low, width in ranges for u in range(low, low + width + 1)))
    assert parse_units(text) == expected
    assert parse_units(text.replace(",", " , ")) == expected


@pytest.mark.parametrize("text", ["", "a", "3-", "-3", "5-2", "1,,2", "1.5", "²"])
def test_parse_units_rejects_malformed_specs(text):
    with pytest.raises(ConfigError, match="units"):
        parse_units(text)


@given(st.lists(st.lists(st.integers(-5, 5), max_size=7), max_size=5), st.integers(1, 6))
@settings(max_examples=80, deadline=None)
def test_top_k_rows_of_a_stream_equals_a_full_sort(chunks, k):
    rows, values = top_k_rows((np.asarray(c, dtype=np.float32) for c in chunks), k)
    flat = [v for c in chunks for v in c]
    expected = sorted(range(len(flat)), key=lambda i: (-flat[i], i))[:k]  # value descending, then row
    assert rows.tolist() == expected and values.tolist() == [flat[i] for i in expected]


# ------------------------------------------------------------------------------ the differentiable layer


@pytest.mark.parametrize("name", TINY)
def test_layer_activations_equal_the_adapters_forward(adapters, name):
    adapter = adapters(name)
    wave = speech_like_wave(6000, seed=2)
    expected = adapter.forward(wave).hidden
    with frozen_module(adapter.module):
        for layer in adapter.layer_ids:
            got = layer_activations(adapter, layer, torch.from_numpy(wave)[None].requires_grad_(True))
            assert got.requires_grad
            np.testing.assert_allclose(got[0].detach().numpy(), expected[layer], atol=1e-4, rtol=0, err_msg=layer)


@pytest.mark.parametrize("name", ["wav2vec2", "whisper"])
def test_layer_activations_leave_no_hook_after_an_exception(adapters, name, monkeypatch):
    adapter = adapters(name)
    before = hook_counts(adapter.module)
    wave = torch.from_numpy(speech_like_wave(4000, seed=1))[None]

    def broken(*args, **kwargs):
        raise RuntimeError("broken on purpose")

    # C layers: the conv hook itself fails; T layers: a block before the hooked one fails.
    monkeypatch.setattr(adapter, "_conv_output", broken)
    with pytest.raises(RuntimeError, match="on purpose"):
        layer_activations(adapter, "C2", wave)
    first_block = transformer_blocks(adapter)[0]
    handle = first_block.register_forward_hook(broken)
    try:
        with pytest.raises(RuntimeError, match="on purpose"):
            layer_activations(adapter, "T2", wave)
    finally:
        handle.remove()
    assert hook_counts(adapter.module) == before


def test_frozen_module_restores_training_mode_and_requires_grad(adapters):
    module = adapters("hubert").module
    parameters = list(module.parameters())
    flags = [p.requires_grad for p in parameters]
    module.train()
    parameters[0].requires_grad_(False)
    with pytest.raises(ValueError):
        with frozen_module(module):
            assert not module.training and not any(p.requires_grad for p in parameters)
            assert torch.is_grad_enabled()
            raise ValueError
    assert module.training and not parameters[0].requires_grad and parameters[1].requires_grad
    module.eval()
    for parameter, flag in zip(parameters, flags):
        parameter.requires_grad_(flag)


# ------------------------------------------------------------------------------ optimisation (done-when)


@pytest.fixture(scope="module")
def runs(adapters):
    """Tiny wav2vec 2.0, T3 units 2 and 3, frame 7 of 0.3 s: default penalties, then without each."""
    adapter = adapters("wav2vec2")
    return {
        "default": audiate_units(adapter, "T3", [2, 3], **RUN),
        "no_neighbours": audiate_units(adapter, "T3", [2, 3], neighbour_weight=0.0, **RUN),
        "no_silence": audiate_units(adapter, "T3", [2, 3], silence_weight=0.0, **RUN),
    }


def _check_rises(result, *, margin):
    steps = len(result.activations)
    rho = spearmanr(np.arange(steps), result.activations)[0]
    assert rho > 0.7, f"activation does not rise steadily: rho {rho:.2f}"  # monotonic-ish
    assert result.final_activation > result.initial_activation + margin
    assert result.final_activation > result.noise_activation + margin
    assert result.activations[-5:].mean() > result.activations[:5].mean() + margin


def test_unit_activation_rises_far_above_the_start_and_noise_of_equal_energy(runs):
    # Measured (seed 0): unit 2 -1.05 -> 2.69 (noise 0.04), unit 3 -0.60 -> 2.92 (noise -0.64); Spearman
    # rho of activation against step 0.99 / 1.00; mean of the last 5 steps 2.2 / 2.5 above the first 5.
    for result in runs["default"]:
        _check_rises(result, margin=1.5)
        assert result.frame == 7 and result.frame_activations.shape == (14,)
        assert result.frame_activations[7] == pytest.approx(result.final_activation, abs=1e-5)
        assert float(np.sqrt(np.mean(result.waveform.astype(np.float64) ** 2))) == pytest.approx(0.1, rel=1e-4)


def test_neighbour_penalty_lowers_the_unit_at_the_neighbouring_frames(runs):
    # Neighbours: the same unit at frames 5, 6, 8, 9.  Measured: -1.43 / -0.92 with the penalty,
    # 0.21 / 1.24 without; the target itself stays within ~0.4 of the unpenalised run (2.69 / 2.92
    # against 2.74 / 3.35).
    for penalised, free in zip(runs["default"], runs["no_neighbours"]):
        assert penalised.neighbour_activation < free.neighbour_activation - 1.0
        assert penalised.neighbour_activation == pytest.approx(penalised.frame_activations[[5, 6, 8, 9]].mean(), abs=1e-5)
        assert penalised.final_activation > free.final_activation - 1.0


def test_silence_term_moves_energy_into_the_target_span(runs):
    # Share of the energy outside 0.09-0.21 s (frame 7 +- 50 ms): 0.40 / 0.39 with the term, 0.53 /
    # 0.55 without (uniform energy: 0.6).
    for quiet, loud in zip(runs["default"], runs["no_silence"]):
        assert quiet.outside_energy < loud.outside_energy - 0.05


def test_channel_mode_raises_the_mean_over_frames(adapters):
    result = audiate(adapters("hubert"), "T2", 3, mode="channel", **RUN)
    assert result.frame is None and result.neighbour_activation is None and result.outside_energy is None
    _check_rises(result, margin=0.5)
    assert result.final_activation == pytest.approx(result.frame_activations.mean(), abs=1e-5)


def test_whisper_with_the_default_augmentation(adapters):
    # Shift of a quarter frame (80 samples) and noise on: T2 unit 0 goes from 0.31 to 3.9 in 10 steps at lr 0.1.
    result = audiate(adapters("whisper"), "T2", 0, seconds=0.5, steps=10, lr=0.1, noise_draws=2, progress=False)
    assert result.settings["shift_frames"] == 0.25 and result.settings["noise"] == 0.05
    _check_rises(result, margin=1.0)


def test_regularizers_lower_what_they_measure(adapters):
    adapter = adapters("wav2vec2")
    options = {**RUN, "steps": 25}
    plain = audiate(adapter, "T3", 2, **options)
    smooth = audiate(adapter, "T3", 2, regularizer="tv", reg_weight=5.0, **options)
    low = audiate(adapter, "T3", 2, regularizer="highfreq", reg_weight=5.0, **options)
    wave = {name: torch.from_numpy(r.waveform)[None].double() for name, r in (("plain", plain), ("tv", smooth), ("hf", low))}
    assert total_variation(wave["tv"], rms=0.1) < 0.9 * total_variation(wave["plain"], rms=0.1)
    assert high_frequency_share(wave["hf"]) < 0.9 * high_frequency_share(wave["plain"])
    assert smooth.settings["regularizer"] == "tv" and low.settings["reg_weight"] == 5.0


def test_a_unit_in_a_batch_matches_the_unit_alone(adapters):
    adapter = adapters("wav2vec2")
    options = {**RUN, "steps": 5}
    batch = audiate_units(adapter, "T1", [4, 7, 9], **options)
    alone = audiate(adapter, "T1", 7, **options)
    assert [r.unit for r in batch] == [4, 7, 9]
    np.testing.assert_allclose(batch[1].waveform, alone.waveform, atol=1e-5)
    np.testing.assert_allclose(batch[1].activations, alone.activations, atol=1e-4)


def test_same_seed_gives_the_same_wav_bytes_and_another_seed_does_not(adapters, tmp_path):
    adapter = adapters("hubert")
    options = {**RUN, "steps": 6}
    paths = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        paths.append(write_audiation(audiate(adapter, "T2", 5, seed=seed, **options), tmp_path / f"{name}.wav"))
    assert paths[0].wav.read_bytes() == paths[1].wav.read_bytes()
    assert paths[0].wav.read_bytes() != paths[2].wav.read_bytes()
    first, second = (json.loads(p.sidecar.read_text()) for p in paths[:2])
    assert first["activations"] == second["activations"] and first["final_activation"] == second["final_activation"]


def test_audiation_leaves_the_model_as_it_found_it(adapters):
    adapter = adapters("wavlm")
    flags = [p.requires_grad for p in adapter.module.parameters()]
    hooks = hook_counts(adapter.module)
    audiate(adapter, "T1", 0, **{**RUN, "steps": 2})
    assert not adapter.module.training and hooks == hook_counts(adapter.module)
    assert [p.requires_grad for p in adapter.module.parameters()] == flags
    assert all(p.grad is None for p in adapter.module.parameters())


@pytest.mark.parametrize(
    "layer, unit, options, message",
    [
        ("T7", 0, {}, "has no layer T7"),
        ("T1", 32, {}, r"units 0\.\.31; got \[32\]"),
        ("C2", 16, {}, r"units 0\.\.15"),
        ("T1", 0, {"frame": 14}, "frame 14 is outside T1's 14 frames"),
        ("T1", 0, {"mode": "neuron"}, "mode 'neuron'"),
        ("T1", 0, {"seconds": 0.01}, "too short for one frame"),
        ("T1", 0, {"learning_rate": 0.1}, "unknown audiation option"),
    ],
)
def test_bad_options_are_clear_errors(adapters, layer, unit, options, message):
    with pytest.raises(ConfigError, match=message):
        audiate(adapters("wav2vec2"), layer, unit, **{**RUN, **options})


def test_whisper_audio_longer_than_its_window_is_refused(adapters):
    with pytest.raises(ConfigError, match="longer than the model's 30 s input window"):
        audiate(adapters("whisper"), "T1", 0, seconds=31.0, steps=1, progress=False)


# ------------------------------------------------------------------------------ files


def test_write_audiation_writes_a_peak_normalised_wav_a_sidecar_and_a_png(runs, tmp_path):
    result = runs["default"][0]
    files = write_audiation(result, tmp_path / "out" / "u1.wav")
    assert files.sidecar == tmp_path / "out" / "u1.json" and files.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    samples, rate = soundfile.read(files.wav, dtype="float64")
    assert rate == 16000 and samples.size == 4800 and soundfile.info(files.wav).subtype == "PCM_16"
    expected = result.waveform * (0.95 / np.abs(result.waveform).max())
    np.testing.assert_allclose(samples, expected, atol=1 / 32768)  # 16-bit rounding of the peak-normalised float
    assert np.abs(samples).max() == pytest.approx(0.95, abs=1 / 32768)
    data = read_audiation(files.sidecar)
    assert data["files"] == {"wav": "u1.wav", "png": "u1.png"} and data["examples"] == []
    assert data["unit"] == 2 and data["layer"] == "T3" and data["mode"] == "unit" and data["frame"] == 7
    assert data["peak_scale"] == pytest.approx(0.95 / np.abs(result.waveform).max())
    assert len(data["activations"]) == 30 and data["settings"]["steps"] == 30 and data["settings"]["model"]["family"] == "wav2vec2"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["u1.json", "u1.png", "u1.wav"]  # no temporary left


def test_a_failed_write_leaves_no_files(runs, tmp_path, monkeypatch):
    import layerprobe.io.figures

    def broken(*args, **kwargs):
        raise ResultError("disk full on purpose")

    monkeypatch.setattr(layerprobe.io.figures, "save_figure", broken)
    with pytest.raises(ResultError, match="on purpose"):
        write_audiation(runs["default"][0], tmp_path / "u.wav")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="written as a .wav file"):
        write_audiation(runs["default"][0], tmp_path / "u.flac")
    with pytest.raises(ResultError, match="is not an audiation sidecar"):
        (tmp_path / "x.json").write_text("{}")
        read_audiation(tmp_path / "x.json")


# ------------------------------------------------------------------------------ dataset examples


@pytest.fixture()
def frame_store(tmp_path):
    """A folder corpus, its frame manifest, and a hand-written frame store of layer T1 (3 units).

    Row values: unit 0 = utterance index * 100 + frame (so the largest are the last frames of the
    last utterance), unit 1 = -unit 0, unit 2 = a bump at frame 7 of the second utterance.
    """
    from layerprobe.data.corpora import open_corpus
    from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
    from layerprobe.io.store import FeatureStore
    from support.corpora import make_folder_corpus

    written = make_folder_corpus(tmp_path / "mini", splits=("train",), per_split=3)["train"]
    corpus = open_corpus(tmp_path / "mini")
    manifest = draw_sample(corpus, "train", span="frame", rule=SamplingRule.default("frame", "train"), progress=False)
    path = write_manifest(manifest, manifest_path(tmp_path / "ds", corpus.name, "train", "frame", 1))
    config = {"manifest": {"file": path.name, "corpus": corpus.name, "split": "train", "span": "frame", "sample": 1}}
    attrs = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0, "config": config}
    store_path = tmp_path / "store.h5"
    writer = FeatureStore.create(store_path, attrs=attrs, layer_dims={"T1": 3})
    with writer:
        for index, utterance in enumerate(manifest.utterances):
            n = int(utterance.duration_s * 50)
            frames = np.arange(n, dtype=np.float32)
            rows = np.stack([index * 100 + frames, -(index * 100 + frames), np.where((index == 1) & (frames == 7), 9.0, 0.0)], axis=1)
            writer.append(utterance.utt_id, {"T1": rows})
        writer.finish()
    alignments = {utt.utt_id: utt.alignment for utt in written}
    return {"store": store_path, "manifest": manifest, "samples_dir": tmp_path / "ds", "alignments": alignments}


def test_top_activating_frames_with_utterance_time_phone_and_word(frame_store):
    manifest = frame_store["manifest"]
    last = manifest.utterances[-1]
    n_last = int(last.duration_s * 50)
    examples = top_activating_frames(frame_store["store"], "T1", 0, 3, samples_dir=frame_store["samples_dir"])
    assert [(e.rank, e.utt_id, e.frame) for e in examples] == [(i + 1, last.utt_id, n_last - 1 - i) for i in range(3)]
    for example in examples:
        assert example.activation == (len(manifest.utterances) - 1) * 100 + example.frame
        assert example.time_s == pytest.approx(example.frame / 50) and example.audio == manifest.audio_path(last)
        centre = (example.frame + 0.5) / 50
        alignment = frame_store["alignments"][last.utt_id]
        phone = [p.label for p in alignment.phones if p.start <= centre < p.end]
        word = [w.label for w in alignment.words if w.start <= centre < w.end]
        assert example.phone == (phone[0] if phone else None) and example.word == (word[0] if word else None)
    bump = top_activating_frames(frame_store["store"], "T1", 2, 1, manifest=manifest)[0]
    assert (bump.utt_id, bump.frame, bump.activation) == (manifest.utterances[1].utt_id, 7, 9.0)
    assert bump.phone is not None  # frame 7 (0.14-0.16 s) lies after the 0.1 s of leading silence
    smallest = top_activating_frames(frame_store["store"], "T1", 1, 2, samples_dir=None)
    assert [(e.utt_id, e.frame) for e in smallest] == [(manifest.utterances[0].utt_id, 0), (manifest.utterances[0].utt_id, 1)]
    assert smallest[0].phone is None and smallest[0].audio is None  # no manifest found: no alignment, no audio


def test_example_clips_cut_the_real_audio(frame_store):
    from layerprobe.io.audio import load_audio

    example = top_activating_frames(frame_store["store"], "T1", 2, 1, manifest=frame_store["manifest"])[0]
    clip = example_clip(example, context_s=0.05)
    wave = load_audio(example.audio)
    start = round((example.time_s - 0.05) * 16000)
    np.testing.assert_array_equal(clip, wave[start : start + round((0.02 + 0.1) * 16000)])


def test_top_activating_frames_errors(frame_store):
    with pytest.raises(ConfigError, match="has no layer T2"):
        top_activating_frames(frame_store["store"], "T2", 0)
    with pytest.raises(ConfigError, match=r"units 0\.\.2, not 3"):
        top_activating_frames(frame_store["store"], "T1", 3)
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        top_activating_frames(frame_store["store"], "T1", 0, 0)


def test_examples_go_into_the_sidecar_with_their_clips(runs, frame_store, tmp_path):
    examples = top_activating_frames(frame_store["store"], "T1", 0, 2, manifest=frame_store["manifest"])
    files = write_audiation(runs["default"][1], tmp_path / "u2.wav", examples=examples, example_context_s=0.1)
    data = read_audiation(files.sidecar)
    assert [e["frame"] for e in data["examples"]] == [e.frame for e in examples]
    assert [Path(tmp_path / e["clip"]) for e in data["examples"]] == list(files.examples)
    assert all(path.is_file() for path in files.examples)
    assert data["examples"][0]["phone"] == examples[0].phone
