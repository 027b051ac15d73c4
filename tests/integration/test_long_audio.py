"""Long audio: refused up front over --max-seconds / --max-frames, or run in Whisper-style windows.

The oracle of the windows is the adapter's own forward of each window alone (and, for the real
Whisper base model, transformers' encoder on each window's features): window k's frames must be
those, stored from frame ``k * 30 s * rate`` on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from layerprobe.cli import options
from layerprobe.data.samples import SampledUtterance, SampleManifest, SamplingRule, manifest_path, write_manifest
from layerprobe.errors import AudioError, ConfigError
from layerprobe.extraction import (
    DEFAULT_MAX_ATTENTION_FRAMES,
    DEFAULT_MAX_SECONDS,
    attention_bytes,
    extract,
)
from layerprobe.io.store import FeatureStore
from layerprobe.models import load_model
from support.cli import run


def make_manifest(root: Path, seconds: list[float], *, claimed: dict[int, float] | None = None, seed: int = 0) -> SampleManifest:
    """A frame-span sample of noise files of these lengths; ``claimed`` overrides the manifest's durations."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    utterances = []
    for i, length in enumerate(seconds):
        n = int(round(length * 16000))
        sf.write(root / f"u{i}.wav", (0.1 * rng.standard_normal(n)).astype(np.float32), 16000, subtype="FLOAT")
        duration = (claimed or {}).get(i, n / 16000)
        utterances.append(SampledUtterance(f"u{i}", f"u{i}.wav", None, duration))
    return SampleManifest(
        corpus={"name": "long", "format": "folder", "root": str(root), "alignments": None}, split="train", span="frame", sample=1, seed=0,
        rule=SamplingRule.default("frame", "train"), labels=(), utterances=tuple(utterances), summary={},
    )  # fmt: skip


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


@pytest.fixture(scope="module")
def whisper():
    return load_model("tiny:whisper")


@pytest.fixture(scope="module")
def wav2vec2():
    return load_model("tiny:wav2vec2")


# ---- --max-seconds --------------------------------------------------------------------------------


def test_a_model_run_refuses_an_utterance_over_max_seconds_before_anything_runs(wav2vec2, tmp_path):
    manifest = make_manifest(tmp_path / "corpus", [2.0, 1.0, 1.5], claimed={1: 7200.0, 2: 900.0})
    out = tmp_path / "features"
    with pytest.raises(ConfigError) as caught:
        extract(manifest, wav2vec2, out, rep="contextualized", progress=False)
    assert str(caught.value) == (
        "--max-seconds 120: 2 utterances are longer (the longest, u1, has 7200.0 s); a model holds every layer of a "
        "whole utterance in memory (README: Performance); raise --max-seconds if the memory is there, or cut the "
        "recordings into shorter utterances"
    )
    assert files_under(out) == []
    assert DEFAULT_MAX_SECONDS == 120.0


def test_max_seconds_none_lifts_the_limit_and_a_lying_manifest_is_refused_by_the_audio_check(wav2vec2, tmp_path):
    manifest = make_manifest(tmp_path / "corpus", [2.0, 3.0])
    report = extract(manifest, wav2vec2, tmp_path / "a", rep="contextualized", max_seconds=None, progress=False)
    assert report.n_utterances == 2
    with pytest.raises(ConfigError) as caught:
        extract(manifest, wav2vec2, tmp_path / "b", rep="contextualized", max_seconds=2.5, progress=False)
    assert str(caught.value).startswith("--max-seconds 2.5: 1 utterance is longer (the longest, u1, has 3.0 s); ")
    # a manifest that understates a file's length never reaches the model: the audio check refuses it first
    lying = make_manifest(tmp_path / "lying", [2.0, 3.0], claimed={1: 1.0})
    with pytest.raises(AudioError) as caught:
        extract(lying, wav2vec2, tmp_path / "c", rep="contextualized", max_seconds=2.5, progress=False)
    assert str(caught.value).startswith(f"{tmp_path / 'lying' / 'u1.wav'}: audio of utterance 'u1' changed since sampling: its duration is 3.000 s")
    assert files_under(tmp_path / "c") == []


def test_the_mel_baseline_has_no_length_limit(tmp_path):
    manifest = make_manifest(tmp_path / "corpus", [2.0])
    report = extract(manifest, None, tmp_path / "features", rep="mel", max_seconds=1.0, progress=False)
    assert report.n_rows == 1 + 32000 // 160


# ---- Whisper windows ------------------------------------------------------------------------------


def test_whisper_refuses_audio_over_its_window_up_front_naming_the_option(whisper, tmp_path):
    manifest = make_manifest(tmp_path / "corpus", [3.0, 31.0])
    with pytest.raises(ConfigError) as caught:
        extract(manifest, whisper, tmp_path / "features", rep="contextualized", progress=False)
    assert str(caught.value) == (
        "1 utterance is longer than whisper's input window of 30 s (the longest, u1, has 31.0 s); run them in "
        "windows with --window-seconds 30"
    )
    assert files_under(tmp_path / "features") == []


def test_windows_store_each_window_s_own_frames_at_k_times_30_s(whisper, tmp_path):
    # 65.3 s: windows of 30, 30 and 5.3 s; 60.005 s: a last piece of 80 samples has no frame (nor on the grid)
    seconds = [3.0, 65.3, 30.0, 60.005]  # whole, 3 windows, exactly one window, 2 windows and 80 samples
    manifest = make_manifest(tmp_path / "corpus", seconds)
    reports = {
        rep: extract(manifest, whisper, tmp_path / "features", rep=rep, window_seconds=30, progress=False)
        for rep in ("contextualized", "local")
    }
    plain = make_manifest(tmp_path / "short", [3.0])
    unwindowed = extract(plain, whisper, tmp_path / "plain", rep="contextualized", progress=False)
    stores = {rep: FeatureStore.open(report.path) for rep, report in reports.items()}
    try:
        for i in range(len(seconds)):
            wave = sf.read(tmp_path / "corpus" / f"u{i}.wav", dtype="float32")[0]
            pieces = [wave[start : start + 30 * 16000] for start in range(0, wave.size, 30 * 16000)]
            alone = [whisper.forward(piece).hidden for piece in pieces if whisper.n_frames(piece.size) > 0]
            assert len(alone) == {0: 1, 1: 3, 2: 1, 3: 2}[i]
            for store in stores.values():
                assert store.attrs["config"]["window_seconds"] == 30
                for layer in store.layer_ids:
                    stored = store.utterance_rows(f"u{i}", layer)
                    assert stored.shape[0] == whisper.layer_n_frames(layer, wave.size)
                    step = int(30 * whisper.layer_frame_rate(layer))
                    for k, hidden in enumerate(alone):
                        window = hidden[layer]
                        np.testing.assert_allclose(stored[k * step : k * step + len(window)], window, rtol=1e-5, atol=1e-5)
    finally:
        for store in stores.values():
            store.close()
    # an utterance within one window gets exactly what a run without windows stores
    with FeatureStore.open(reports["contextualized"].path) as windowed, FeatureStore.open(unwindowed.path) as alone:
        for layer in alone.layer_ids:
            np.testing.assert_array_equal(windowed.utterance_rows("u0", layer), alone.utterance_rows("u0", layer))
        assert "window_seconds" not in alone.attrs["config"]


@pytest.mark.parametrize(
    ("model", "rep", "kwargs", "message"),
    [
        ("wav2vec2", "contextualized", {"window_seconds": 30},
         "--window-seconds 30 does not put the window seams on T0's frame grid (tiny:wav2vec2 gives 1499 frames per "
         "window, not 1500 = 30 s x 50 Hz); windows suit models such as Whisper whose frames tile the audio exactly"),
        ("whisper", "contextualized", {"window_seconds": 45},
         "--window-seconds 45 is longer than whisper's input window of 30 s; give at most 30"),
        ("whisper", "local", {"window_seconds": 0.01},
         "--window-seconds 0.01 does not put the window seams on C2's frame grid (tiny:whisper gives 1 frames per "
         "window, not 0.5 = 0.01 s x 50 Hz); windows suit models such as Whisper whose frames tile the audio exactly"),
        ("whisper", "contextualized", {"window_seconds": 30, "attention": 1},
         "--window-seconds cannot be combined with --attention: the maps of a window are not the utterance's; store "
         "the maps in a run without --window-seconds"),
        (None, "mel", {"window_seconds": 30},
         "--window-seconds is for models; the mel baseline is computed in blocks at any length"),
    ],
)  # fmt: skip
def test_windows_that_would_change_numbers_are_refused(model, rep, kwargs, message, request, tmp_path):
    adapter = request.getfixturevalue(model) if model else None
    manifest = make_manifest(tmp_path / "corpus", [1.0])
    with pytest.raises(ConfigError) as caught:
        extract(manifest, adapter, tmp_path / "features", rep=rep, progress=False, **kwargs)
    assert str(caught.value) == message
    assert files_under(tmp_path / "features") == []


# ---- attention maps: --max-frames -----------------------------------------------------------------


def test_attention_maps_over_max_frames_are_refused_with_the_bytes_they_need(wav2vec2, tmp_path):
    manifest = make_manifest(tmp_path / "corpus", [1.0, 1.0], claimed={1: 600.0})
    with pytest.raises(ConfigError) as caught:
        extract(manifest, wav2vec2, tmp_path / "features", rep="contextualized", attention=2, progress=False)
    # 600 s = 29999 frames at 50 Hz: 4 heads x 29999^2 x 14 bytes
    assert attention_bytes(4, 29999) == 4 * 29999**2 * 14 == 50_396_640_056
    assert str(caught.value) == (
        "--max-frames 2000: the attention maps of u1 (600.0 s, 29999 frames) need 50.40 GB per block (4 heads x "
        "29999^2 weights); pick shorter utterances with --utterances, or raise --max-frames (it bounds them at 0.22 GB)"
    )
    assert files_under(tmp_path / "features") == []
    # the utterances chosen for maps are what counts; the others only need --max-seconds
    truthful = make_manifest(tmp_path / "long", [1.0, 41.0])
    report = extract(truthful, wav2vec2, tmp_path / "ok", rep="contextualized", attention=["u0"], progress=False)
    with FeatureStore.open(report.path) as store:
        assert store.attention("u0", "T1").shape == (4, 49, 49)


def test_a_manifest_that_understates_a_length_never_reaches_the_attention_maps(wav2vec2, tmp_path):
    # the up-front limits read the manifest's durations; the audio check then refuses a file whose length differs
    # (the loaded audio is checked against --max-frames once more, for a file changed after that check)
    manifest = make_manifest(tmp_path / "corpus", [1.0, 3.0], claimed={1: 1.0})
    with pytest.raises(AudioError) as caught:
        extract(manifest, wav2vec2, tmp_path / "features", rep="contextualized", attention=2, max_attention_frames=100,
                progress=False)  # fmt: skip
    assert str(caught.value).startswith(
        f"{tmp_path / 'corpus' / 'u1.wav'}: audio of utterance 'u1' changed since sampling: its duration is 3.000 s, "
        "the data-sample manifest says 1.000 s;"
    )
    assert files_under(tmp_path / "features") == []


def test_attention_bytes_with_logits():
    assert attention_bytes(12, 2000) == 12 * 2000**2 * 14 == 672_000_000
    assert attention_bytes(12, 2000, pre_softmax=True) == 12 * 2000**2 * 20


# ---- the command line ---------------------------------------------------------------------------


def test_cli_and_job_defaults_are_the_library_s():
    import inspect

    from layerprobe.jobs.runners import extract_task

    assert options.MAX_SECONDS_DEFAULT == DEFAULT_MAX_SECONDS == 120.0
    assert options.MAX_FRAMES_DEFAULT == DEFAULT_MAX_ATTENTION_FRAMES == 2000
    task = inspect.signature(extract_task).parameters
    assert task["max_seconds"].default == DEFAULT_MAX_SECONDS
    assert task["max_attention_frames"].default == DEFAULT_MAX_ATTENTION_FRAMES
    assert task["window_seconds"].default is None


def test_cli_refuses_long_audio_in_one_line(tmp_path, capsys):
    manifest = make_manifest(tmp_path / "corpus", [1.0, 1.0], claimed={1: 120.0})
    samples = tmp_path / "samples"
    write_manifest(manifest, manifest_path(samples, "long", "train", "frame", 1))
    common = ["--corpus", "long", "--split", "train", "--samples-dir", str(samples), "--out", str(tmp_path / "f"), "--no-progress"]
    code, _, err = run(["attention", "maps", "--model", "tiny:wav2vec2", *common, "--max-frames", "100"], capsys)
    assert code == 1
    assert err == (
        "layerprobe: error: --max-frames 100: the attention maps of u1 (120.0 s, 5999 frames) need 2.02 GB per block "
        "(4 heads x 5999^2 weights); pick shorter utterances with --utterances, or raise --max-frames (it bounds them "
        "at 0.6 MB)\n"
    )
    code, _, err = run(["extract", "--model", "tiny:wav2vec2", "--rep", "contextualized", "--span", "frame", *common,
                        "--max-seconds", "60"], capsys)  # fmt: skip
    assert code == 1 and err.startswith("layerprobe: error: --max-seconds 60: 1 utterance is longer (the longest, u1, has 120.0 s); ")
    # the same sample with its true durations (no test writes 120 s of audio)
    write_manifest(make_manifest(tmp_path / "corpus", [1.0, 1.0]), manifest_path(samples, "long", "train", "frame", 1), overwrite=True)
    code, out, err = run(["extract", "--model", "tiny:whisper", "--rep", "local", "--span", "frame", *common,
                          "--window-seconds", "30", "--max-seconds", "0"], capsys)  # fmt: skip
    assert code == 0, err
    assert out.startswith("stored 200 rows of 2 utterances")
    assert files_under(tmp_path / "f") != []


# ---- the real Whisper base model (../shared) -----------------------------------------------------


@pytest.mark.shared
def test_whisper_base_windows_equal_its_encoder_on_each_window(shared, tmp_path):
    import torch
    from transformers import WhisperFeatureExtractor, WhisperModel

    directory = shared / "models" / "whisper-base"
    if not (directory / "config.json").is_file():
        pytest.skip("../shared/models/whisper-base is not present")
    adapter = load_model(f"hf:{directory}")
    manifest = make_manifest(tmp_path / "corpus", [42.0])
    report = extract(manifest, adapter, tmp_path / "features", rep="contextualized", layers="T0,T6", window_seconds=30,
                     progress=False)  # fmt: skip
    wave = sf.read(tmp_path / "corpus" / "u0.wav", dtype="float32")[0]
    extractor = WhisperFeatureExtractor.from_pretrained(directory)
    encoder = WhisperModel.from_pretrained(directory, torch_dtype=torch.float32).get_encoder().eval()
    with FeatureStore.open(report.path) as store:
        t6 = store.utterance_rows("u0", "T6")
        assert t6.shape == (2100, 512)
        for k, (start, frames) in enumerate([(0, 1500), (30 * 16000, 600)]):
            features = extractor(wave[start : start + 30 * 16000], sampling_rate=16000, return_tensors="pt")
            with torch.no_grad():
                hidden = encoder(features["input_features"], output_hidden_states=True).hidden_states
            np.testing.assert_allclose(t6[k * 1500 : k * 1500 + frames], hidden[6][0, :frames].numpy(), rtol=1e-5, atol=1e-5)
