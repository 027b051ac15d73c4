"""Whisper base's attention to its 30 s padding (../shared): stored with the maps, as transformers computes it.

layerprobe runs Whisper on the padded 30 s window and stores the maps cut to the real frames; each
real query's mass on the cut keys goes to ``/attention_padding``.  Checked here against a plain
transformers forward (``WhisperModel``'s encoder, eager attention, ``output_attentions``) on
TIMIT's LDC93S1 (2.9 s, 146 frames of 1500).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from layerprobe.attention.patterns import block_patterns  # noqa: E402
from layerprobe.io.audio import load_audio  # noqa: E402
from layerprobe.data.corpora import open_corpus  # noqa: E402
from layerprobe.data.samples import SamplingRule, draw_sample  # noqa: E402
from layerprobe.extraction import extract  # noqa: E402
from layerprobe.io.store import FeatureStore  # noqa: E402
from layerprobe.models import load_model  # noqa: E402

pytestmark = pytest.mark.shared

BLOCKS = ["T1", "T2", "T3", "T4", "T5", "T6"]


@pytest.fixture(scope="module")
def whisper_timit(shared, timit_sample, tmp_path_factory):
    directory = shared / "models" / "whisper-base"
    if not (directory / "config.json").is_file():
        pytest.skip("../shared/models/whisper-base is not present")
    adapter = load_model(f"hf:{directory}")
    corpus = open_corpus(timit_sample)
    manifest = draw_sample(corpus, "all", span="frame", rule=SamplingRule(span="frame", role="eval", n_utterances=1), progress=False)
    out = tmp_path_factory.mktemp("whisper_padding")
    path = extract(manifest, adapter, out, rep="contextualized", attention=1, progress=False).path
    utterance = manifest.utterances[0]
    return directory, path, utterance.utt_id, load_audio(manifest.audio_path(utterance))


def _transformers_padding(directory, wave: np.ndarray) -> dict[str, np.ndarray]:
    """Per block, (heads, T) mass of each real query on the keys past the real frames, by transformers alone."""
    from transformers import WhisperFeatureExtractor, WhisperModel

    extractor = WhisperFeatureExtractor.from_pretrained(directory)
    model = WhisperModel.from_pretrained(directory, attn_implementation="eager").to(torch.float32).eval()
    features = extractor(wave, sampling_rate=16000, return_tensors="pt").input_features
    frames = len(wave) // 320  # 2 x 160-sample hops per encoder frame
    with torch.inference_mode():
        output = model.encoder(features, output_attentions=True)
    return {f"T{i + 1}": maps[0, :, :frames, frames:].sum(-1).numpy() for i, maps in enumerate(output.attentions)}


def test_stored_padding_mass_is_what_transformers_computes_and_completes_the_rows(whisper_timit):
    directory, path, utt_id, wave = whisper_timit
    expected = _transformers_padding(directory, wave)
    with FeatureStore.open(path) as store:
        for block in BLOCKS:
            mass = store.attention_padding(utt_id, block)
            maps = store.attention(utt_id, block)
            assert mass.dtype == np.float32 and mass.shape == expected[block].shape == maps.shape[:2] == (8, 146)
            np.testing.assert_allclose(mass, expected[block], rtol=0, atol=1e-5)
            # a stored (float16) row plus its padding mass is the whole softmax row
            np.testing.assert_allclose(maps.sum(-1) + mass, 1.0, rtol=0, atol=2e-3)
        per_block = [float(store.attention_padding(utt_id, block).mean()) for block in BLOCKS]
        patterns = block_patterns(store)
    # the README's figures (LDC93S1, mean over heads and real queries), and the patterns report them
    np.testing.assert_allclose(per_block, [0.069, 0.091, 0.093, 0.104, 0.264, 0.297], atol=0.0015)
    np.testing.assert_allclose([p.padding_mass for p in patterns], per_block, rtol=0, atol=1e-6)


def test_the_readme_diagonal_scores_in_both_averaging_orders(whisper_timit, librivox_dir, tmp_path):
    directory, path, _, _ = whisper_timit
    with FeatureStore.open(path) as store:
        heads_first = [p.scores.diagonal for p in block_patterns(store)]
        rows_first = [p.scores.diagonal for p in block_patterns(store, averaging="rows-first")]
    np.testing.assert_allclose(heads_first, [0.546, 0.386, 0.328, 0.414, 0.260, 0.216], atol=6e-4)
    np.testing.assert_allclose(rows_first, [0.520, 0.370, 0.314, 0.401, 0.274, 0.236], atol=6e-4)
    # the five LibriVox clips: T3 is diagonal as the heads' mean map, heterogeneous when every head counts the same
    corpus = open_corpus(librivox_dir)
    manifest = draw_sample(corpus, "all", span="frame", rule=SamplingRule(span="frame", role="eval", n_utterances=5), progress=False)
    librivox = extract(manifest, load_model(f"hf:{directory}"), tmp_path, rep="contextualized", attention=5, progress=False).path
    with FeatureStore.open(librivox) as store:
        [t3] = block_patterns(store, blocks="T3")
        [t3_rows] = block_patterns(store, blocks="T3", averaging="rows-first")
        masses = [p.padding_mass for p in block_patterns(store)]
    assert len(t3.utterances) == 5
    assert t3.pattern == "diagonal" and t3.scores.diagonal == pytest.approx(0.303, abs=6e-4)
    assert t3_rows.pattern == "heterogeneous" and t3_rows.scores.diagonal == pytest.approx(0.293, abs=6e-4)
    assert (min(masses), max(masses)) == (pytest.approx(0.033, abs=6e-4), pytest.approx(0.249, abs=6e-4))
