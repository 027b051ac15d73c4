"""Attention patterns of the real Whisper base encoder (../shared) on the TIMIT sample and LibriVox clips.

Maps of all 6 blocks go through the real pipeline (open_corpus -> draw_sample -> extract with
attention -> FeatureStore -> block_patterns -> figure).  What the maps look like (checked by eye on
the figure): every block has a visible diagonal; T1 is a sharp band (+-1-2 frames, diagonal
score ~0.35 at r = 2, class diagonal), T2 a slightly wider one (~0.28, at the threshold), T3/T4
thin offset lines (the queries attend to frames 1-3 away more than to themselves) over a diffuse
background, T5/T6 a wide ragged band (+-5-20 frames) over a near-uniform background (diagonal
~0.12, entropy ~0.8-0.85): heterogeneous at r = 2.  No block has vertical stripes (vertical < 0.1).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

from layerprobe.attention.patterns import CLASSES, SCORE_NAMES, block_patterns, patterns_figure  # noqa: E402
from layerprobe.data.corpora import open_corpus  # noqa: E402
from layerprobe.data.samples import SamplingRule, draw_sample  # noqa: E402
from layerprobe.extraction import extract  # noqa: E402
from layerprobe.io.store import FeatureStore  # noqa: E402
from layerprobe.models import load_model  # noqa: E402
from layerprobe.plots import save_figure  # noqa: E402

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def whisper_stores(shared, timit_sample, librivox_dir, tmp_path_factory):
    directory = shared / "models" / "whisper-base"
    if not (directory / "config.json").is_file():
        pytest.skip("../shared/models/whisper-base is not present")
    adapter = load_model(f"hf:{directory}")
    out = tmp_path_factory.mktemp("whisper_attention")
    paths = []
    for root, n in ((timit_sample, 1), (librivox_dir, 2)):  # 2.9 s + two clips of 3-6 s
        corpus = open_corpus(root)
        manifest = draw_sample(corpus, "all", span="frame", rule=SamplingRule(span="frame", role="eval", n_utterances=n), progress=False)
        paths.append(extract(manifest, adapter, out, rep="contextualized", attention=n, progress=False).path)
    return paths


def test_whisper_base_patterns_per_block(whisper_stores, tmp_path):
    all_patterns = []
    for path in whisper_stores:
        with FeatureStore.open(path) as store:
            patterns = block_patterns(store)
            assert [p.block for p in patterns] == ["T1", "T2", "T3", "T4", "T5", "T6"]
            for p in patterns:
                values = np.array([getattr(p.scores, name) for name in SCORE_NAMES])
                assert np.all(np.isfinite(values)) and np.all((values >= 0) & (values <= 1)), p
                assert p.pattern in CLASSES and set(p.head_patterns) <= set(CLASSES) and p.n_heads == 8
                for head in p.head_scores:
                    assert all(0.0 <= v <= 1.0 for v in head.as_dict().values())
            figure = patterns_figure(store, patterns, n_utterances=2)
            written = save_figure(figure, tmp_path / f"{path.parent.name}.png")
        assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and written[0].stat().st_size > 10_000
        assert len([ax for ax in figure.axes if ax.images]) == 6 * len(patterns[0].utterances[:2])
        all_patterns.append(patterns)
    # what the figure shows, on both corpora: T1 the sharpest diagonal; diagonal mass falls with depth
    # (T1 > T5, T6); no vertical stripes anywhere
    for patterns in all_patterns:
        by_block = {p.block: p for p in patterns}
        assert by_block["T1"].pattern == "diagonal"
        assert by_block["T1"].scores.diagonal > max(by_block["T5"].scores.diagonal, by_block["T6"].scores.diagonal)
        assert all(p.scores.vertical < 0.2 and "vertical" not in p.pattern for p in patterns)
    # a wider band (r = 10 frames, +-200 ms) holds more of the mass of every block, beyond chance
    with FeatureStore.open(whisper_stores[1]) as store:
        wide = block_patterns(store, radius=10)
    assert all(w.scores.diagonal > p.scores.diagonal for w, p in zip(wide, all_patterns[1]))
