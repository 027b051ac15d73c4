"""The synthesized corpus through the rest of the foundation: forced alignment and data samples.

eSpeak NG's event timings and PocketSphinx's acoustic alignment are independent estimates of the
same word boundaries, so their agreement checks both (a timing offset in the synthesizer, the
padding or the resampling would show here as a constant error).
"""

from __future__ import annotations

import numpy as np
import pytest

from layerprobe.data.align import ForcedAligner
from layerprobe.data.corpora import open_corpus
from layerprobe.data.samples import SamplingRule, draw_sample
from layerprobe.data.synth import synthesize_corpus


@pytest.fixture(scope="module")
def synth_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "corpus"
    synthesize_corpus(root, n=24, seed=7, progress=False)
    return open_corpus(root)


def test_pocketsphinx_agrees_with_espeak_word_boundaries(synth_corpus):
    aligner = ForcedAligner(oov="g2p")
    errors = []
    for split in synth_corpus.splits():
        for utt in synth_corpus.utterances(split):
            reference = utt.load_alignment()
            words = [w.label for w in reference.words]
            aligned = aligner.align(utt.load_audio(), words, utt_id=utt.utt_id)  # no failure allowed
            assert [w.label for w in aligned.words] == words
            for ours, theirs in zip(reference.words, aligned.words):
                errors += [ours.start - theirs.start, ours.end - theirs.end]
    errors = np.array(errors)
    # Measured on 40 dev/test utterances of `corpus synth --n 200`: median |error| 12 ms, mean 22-26 ms,
    # 90th percentile ~60 ms; PocketSphinx works on a 10 ms grid with 30 ms minimum phones.
    assert np.median(np.abs(errors)) < 0.025
    assert np.mean(np.abs(errors)) < 0.045
    assert abs(np.median(errors)) < 0.015  # no systematic shift between the two


def test_samples_of_the_synthesized_corpus_are_its_textgrid_intervals(synth_corpus):
    rule = SamplingRule.default("phone", "train", min_per_label=2, max_per_label=4)
    manifest = draw_sample(synth_corpus, "train", span="phone", rule=rule, progress=False)
    assert len(manifest.labels) >= 30  # most of the 39 classes occur in 19 sentences
    by_id = {u.utt_id: u for u in synth_corpus.utterances("train")}
    for entry in manifest.utterances:
        phones = set(by_id[entry.utt_id].load_alignment().phones)
        assert set(entry.segments) <= phones
    words = draw_sample(synth_corpus, "train", span="word", rule=SamplingRule.default("word", "eval", n_labels=10), progress=False)
    assert len(words.labels) == 10 and words.summary["n_segments"] >= 10
