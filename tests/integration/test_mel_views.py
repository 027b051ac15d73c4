"""cca_mel views on stores extracted from a synthesized corpus: every model frame meets the right mel frame."""

from __future__ import annotations

import numpy as np
import pytest

from layerprobe.analysis.views import mel_views
from layerprobe.data.corpora import open_corpus
from layerprobe.data.samples import SamplingRule, draw_sample
from layerprobe.data.synth import synthesize_corpus
from layerprobe.extraction import extract
from layerprobe.features.mel import log_mel
from layerprobe.io.audio import load_audio
from layerprobe.io.store import FeatureStore
from layerprobe.models import load_model


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    root = tmp_path_factory.mktemp("views")
    synthesize_corpus(root / "synth", n=5, seed=3, progress=False)
    corpus = open_corpus(root / "synth")
    manifest = draw_sample(corpus, "train", span="frame", rule=SamplingRule.default("frame", "train"), progress=False)
    adapter = load_model("tiny:wav2vec2")
    paths = {
        rep: extract(manifest, None if rep == "mel" else adapter, root / "features", rep=rep, progress=False).path
        for rep in ("contextualized", "local", "mel")
    }
    return manifest, paths


@pytest.mark.parametrize(("rep", "layer", "stride"), [("contextualized", "T1", 2), ("local", "C3", 1)])
def test_mel_views_pair_every_model_frame_with_its_mel_frame(extracted, rep, layer, stride):
    manifest, paths = extracted
    with FeatureStore.open(paths[rep]) as model, FeatureStore.open(paths["mel"]) as mel:
        views = mel_views(model, mel, layer)
        X, Y = views.arrays()
        assert views.n_rows == model.n_rows(layer)  # the mel is long enough: no model frame is cut
        row = 0
        for number, utterance in enumerate(manifest.utterances):
            frames = model.utterance_rows(utterance.utt_id, layer)
            n = len(frames)
            np.testing.assert_array_equal(Y[row : row + n], frames)
            stored_mel = mel.utterance_rows(utterance.utt_id, "mel")
            np.testing.assert_array_equal(X[row : row + n], stored_mel[::stride][:n])
            if number == 0:  # against the log-mel computed directly on the audio
                direct = log_mel(load_audio(manifest.audio_path(utterance)))
                assert 0 < n <= -(-len(direct) // stride)
                np.testing.assert_allclose(X[row : row + n], direct[: stride * n : stride], atol=1e-6)
            row += n
        assert row == views.n_rows
