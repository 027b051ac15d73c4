"""``layerprobe demo``: the whole pipeline, offline, on a synthesized corpus.

Each step reports what it did in one line: synthesize the corpus; draw frame, phone and word
data-sample sets from its training split and a phone sample of its dev split; extract every layer of
a model (a seeded tiny random wav2vec 2.0 by default: conv blocks C1..C7 and transformer layers
T0..TL) and the log-mel baseline into feature stores; run the cca_mel and cca_phone experiments and
mi_phone (k-means clusters fitted on train, scored on dev, with each layer's shuffled-cluster chance
level) over all layers into result tables; draw their layer-trend curves (the chance level dashed).
The demo is also the smoke test of the installed package.

Outputs under ``out``: ``corpus/``, ``data_samples/``, ``features/``, ``results/cca.csv`` and
``results/mi.csv`` (with their JSON sidecars) and the curves ``results/cca_trend.png`` and
``results/mi_trend.png``, each also as ``.pdf``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

from layerprobe.data.corpora import format_seconds, open_corpus, summarize_split
from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
from layerprobe.extraction import extract
from layerprobe.layers import layer_kind
from layerprobe.models import load_model

#: The CCA experiments the demo runs over all layers (mi_phone follows them).
DEMO_EXPERIMENTS = ("cca_mel", "cca_phone")
#: Utterances the demo synthesizes by default: 40 dev utterances (a tenth) give a dev phone sample of
#: ~540 instances, on which mi_phone's chance level is well under its scores (with 60 utterances, 95
#: dev phones left the scores at chance).
DEMO_UTTERANCES = 400
#: The dev-split phone sample mi_phone is scored on (the published "up to 200 per phone", scaled
#: down): up to 100 per label.
DEMO_EVAL_PHONES = {"min_per_label": 1, "max_per_label": 100}
#: Clusters of the demo's mi_phone.  The plug-in I(C;L)/H(L) of clusters with no information is
#: about (K - 1)(L - 1) / (2 N H(L)) for K clusters, L labels and N evaluation instances: with the
#: published 500 (or the earlier 50) clusters on a few hundred dev phones it is most of the score,
#: and the tiny random model's few hundredths of phone information drown in it.  10 clusters on ~540
#: dev phones put chance near 0.10 and the scores 0.03-0.07 above it (each row has its ``nmi_chance``).
DEMO_CLUSTERS = 10

#: Per-label counts scaled to a corpus of a few hundred utterances (the published ones assume
#: LibriSpeech).  The frame sample (cca_mel, cca_intra) stops at 48 utterances: its tens of
#: thousands of frames are far more than 10 rows per dimension of its 80-d views, and extracting
#: the frames of every utterance would double the demo's time for nothing.
DEMO_RULES = {
    "frame": {"n_utterances": 48},
    "phone": {"min_per_label": 20, "max_per_label": 40},
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
    out: Path, *, n_utterances: int = DEMO_UTTERANCES, seed: int = 0, model: str = "tiny:wav2vec2", progress: bool = True
) -> Iterator[str]:
    """Run the demo pipeline into ``out``, yielding one line per step.

    Parameters
    ----------
    out : Path
        Directory for the corpus (``out/corpus``), the data-sample sets (``out/data_samples``), the
        feature stores (``out/features``) and the results and plots (``out/results``).
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
    adapter = load_model(model)  # first: a bad model spec must not leave a corpus and samples behind
    started = time.perf_counter()
    if _corpus_matches(corpus_dir, n_utterances, seed):
        yield f"[1/5] corpus: reusing the synthesized corpus in {corpus_dir} (n={n_utterances}, seed={seed})"
    else:
        synthesize_corpus(corpus_dir, n=n_utterances, seed=seed, overwrite=True, progress=progress)
        yield f"[1/5] corpus: synthesized {n_utterances} utterances with eSpeak NG in {time.perf_counter() - started:.1f} s"
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
        yield f"[2/5] sample: {manifest.describe()} -> {path}"
    rule = SamplingRule.default("phone", "eval", **DEMO_EVAL_PHONES)
    dev_phones = draw_sample(corpus, "dev", span="phone", sample=1, seed=seed, rule=rule, progress=progress)
    path = write_manifest(dev_phones, manifest_path(samples_dir, corpus.name, "dev", "phone", 1), overwrite=True)
    yield f"[2/5] sample: {dev_phones.describe()} -> {path}"

    features = out / "features"
    jobs = [("contextualized", manifests["frame"], adapter), ("contextualized", manifests["phone"], adapter),
            ("contextualized", dev_phones, adapter), ("mel", manifests["frame"], None)]  # fmt: skip
    if any(layer_kind(layer) == "C" for layer in adapter.layer_ids):
        jobs.insert(0, ("local", manifests["frame"], adapter))
    for rep, manifest, layer_source in jobs:
        report = extract(manifest, layer_source, features, rep=rep, overwrite=True, progress=progress)
        what = f"{model} {rep}" if layer_source is not None else "log-mel baseline"
        yield f"[3/5] extract: {what}, {manifest.split} {manifest.span} span: {report.n_rows} rows -> {report.path}"

    from layerprobe.experiments.cca import run_cca
    from layerprobe.experiments.mi import run_mi
    from layerprobe.plots import plot_trends, save_figure
    from layerprobe.results import ResultTable

    tables = {}
    for name in ("cca", "mi"):
        table_path = out / "results" / f"{name}.csv"
        if table_path.exists():  # a rerun starts fresh tables (another --model would otherwise mix in)
            table_path.unlink()
            table_path.with_suffix(".json").unlink(missing_ok=True)
        tables[name] = ResultTable.open(table_path)
    for experiment in DEMO_EXPERIMENTS:
        scores = run_cca(experiment, features=features, model=model, corpus=corpus.name, split="train", sample=1,
                         seed=seed, results=tables["cca"], progress=progress)  # fmt: skip
        yield f"[4/5] {experiment}: PWCCA by layer: {_curve(scores)}"
    scores = run_mi("phone", features=features, model=model, corpus=corpus.name, train_split="train", eval_split="dev",
                    sample=1, iteration=seed, n_clusters=DEMO_CLUSTERS, results=tables["mi"], progress=progress)  # fmt: skip
    sizes = scores[0].result
    yield (f"[4/5] mi_phone ({sizes.n_clusters} clusters, {sizes.n_train} train / {sizes.n_eval} dev phones): "
           f"I(C;L)/H(L) by layer: {_curve(scores)}")  # fmt: skip
    yield "      chance (shuffled clusters) by layer: " + "  ".join(f"{s.layer} {s.result.chance:.2f}" for s in scores)
    for table in tables.values():
        yield f"      results: {table.path} (and {table.sidecar_path.name}: options, provenance, sizes)"

    panels = {"cca": list(DEMO_EXPERIMENTS), "mi": ["mi_phone"]}
    for name, table in tables.items():
        metric = "pwcca" if name == "cca" else "nmi"
        figure = plot_trends(table, experiments=panels[name], metric=metric)
        written = save_figure(figure, out / "results" / f"{name}_trend.png")
        yield f"[5/5] plot: layer-trend curves -> {', '.join(str(path) for path in written)}"
    yield f"done in {time.perf_counter() - started:.1f} s."


def _curve(scores: list) -> str:
    """``"T0 0.14  T1 0.12 ..."``: one layer's score after another."""
    return "  ".join(f"{score.layer} {score.score:.2f}" for score in scores)


__all__ = ["DEMO_CLUSTERS", "DEMO_EVAL_PHONES", "DEMO_EXPERIMENTS", "DEMO_RULES", "DEMO_UTTERANCES", "run_demo"]
