"""``layerprobe demo``: the whole pipeline, offline, on a synthesized corpus.

Each step reports what it did in one line.  Steps so far: synthesize the corpus, draw frame, phone
and word data-sample sets from its training split, and extract every layer of a model (a seeded
tiny random wav2vec 2.0 by default) and the log-mel baseline into feature stores.  Later steps
(CCA, MI, plots) join as they are built; the demo is the smoke test of the installed package.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

from layerprobe.data.corpora import format_seconds, open_corpus, summarize_split
from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
from layerprobe.extract import extract
from layerprobe.models import load_model

#: Per-label counts scaled to a corpus of tens of utterances (the published ones assume LibriSpeech).
DEMO_RULES = {
    "frame": {"n_utterances": 500},
    "phone": {"min_per_label": 20, "max_per_label": 60},
    "word": {"n_labels": 50, "min_per_label": 5, "max_per_label": 20},
}


def _corpus_matches(corpus_dir: Path, n_utterances: int, seed: int) -> bool:
    """Whether ``corpus_dir`` already holds the synthesized corpus for these settings."""
    meta_path = corpus_dir / "corpus.json"
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("n") == n_utterances and meta.get("seed") == seed


def run_demo(
    out: Path, *, n_utterances: int = 60, seed: int = 0, model: str = "tiny:wav2vec2", progress: bool = True
) -> Iterator[str]:
    """Run the demo pipeline into ``out``, yielding one line per step.

    Parameters
    ----------
    out : Path
        Directory for the corpus (``out/corpus``), the data-sample sets (``out/data_samples``) and
        the feature stores (``out/features``).
    n_utterances : int, keyword-only
        Size of the synthesized corpus.
    model : str, keyword-only
        Spec of the model whose layers are extracted.
    seed : int, keyword-only
        Seed of the corpus and of the samples.
    progress : bool, keyword-only
        Show progress bars on a terminal.
    """
    from layerprobe.data.synth import synthesize_corpus

    out = Path(out)
    corpus_dir = out / "corpus"
    started = time.perf_counter()
    if _corpus_matches(corpus_dir, n_utterances, seed):
        yield f"[1/3] corpus: reusing the synthesized corpus in {corpus_dir} (n={n_utterances}, seed={seed})"
    else:
        synthesize_corpus(corpus_dir, n=n_utterances, seed=seed, overwrite=True, progress=progress)
        yield f"[1/3] corpus: synthesized {n_utterances} utterances with eSpeak NG in {time.perf_counter() - started:.1f} s"
    corpus = open_corpus(corpus_dir, format="folder", name="demo")
    for split in corpus.splits():
        s = summarize_split(corpus, split, progress=False)
        yield f"      {split}: {s.n_utterances} utterances, {format_seconds(s.seconds)}, {s.n_aligned} with TextGrids"

    samples_dir = out / "data_samples"
    manifests = {}
    for span, counts in DEMO_RULES.items():
        rule = SamplingRule.default(span, "train", **counts)
        manifest = draw_sample(corpus, "train", span=span, sample=1, seed=seed, rule=rule, progress=progress)
        path = write_manifest(
            manifest, manifest_path(samples_dir, corpus.name, "train", span, 1), overwrite=True
        )
        manifests[span] = manifest
        yield f"[2/3] sample: {manifest.describe()} -> {path}"
    adapter = load_model(model)
    for rep, span, layer_source in (("contextualized", "frame", adapter), ("contextualized", "phone", adapter), ("mel", "frame", None)):
        report = extract(manifests[span], layer_source, out / "features", rep=rep, overwrite=True, progress=progress)
        what = f"{model} {rep}" if layer_source is not None else "log-mel baseline"
        yield f"[3/3] extract: {what}, {span} span: {report.n_rows} rows -> {report.path}"
    yield (
        f"done in {time.perf_counter() - started:.1f} s.  Next, as layerprobe grows: CCA, mutual information and "
        "trend plots on these stores."
    )


__all__ = ["DEMO_RULES", "run_demo"]
