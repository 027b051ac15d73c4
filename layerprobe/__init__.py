"""layerprobe: layer-wise analysis of self-supervised speech models.

Extract every layer of a pretrained speech model once, at frame, phone and word level, and run the
analyses of the layer-wise literature (CCA, mutual information, word similarity, attention patterns,
probes, fine-tuning, feature audiation) on the stored features.  See the README for the command-line
tour and ``docs/architecture.md`` for how the package is laid out.

The names below are the flat Python API (as in librosa: one namespace, imported lazily, so that
``import layerprobe`` costs nothing until a name is used)::

    import layerprobe as lp
    corpus = lp.open_corpus("synth")
    frames = lp.draw_sample(corpus, "train", span="frame")
    report = lp.extract(frames, lp.load_model("tiny:wav2vec2"), "features")
    lp.extract(frames, None, "features", rep="mel")
    scores = lp.run_cca("cca_mel", report)          # a store, a query or a report; per-layer scores
    lp.plot_layer_trend(scores)                     # a list of scores or a ResultTable

Each name lives in one module of the package (``lp.run_cca`` is
:func:`layerprobe.experiments.cca.run_cca`); :data:`API` maps every name to its module.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: The flat API: name -> the module that defines it (imported on first use).
API: dict[str, str] = {
    # corpora and data samples
    "open_corpus": "layerprobe.data.corpora",
    "SamplingRule": "layerprobe.data.samples",
    "draw_sample": "layerprobe.data.samples",
    "read_manifest": "layerprobe.data.samples",
    "write_manifest": "layerprobe.data.samples",
    "manifest_path": "layerprobe.data.samples",
    # models and extraction
    "load_model": "layerprobe.models.registry",
    "extract": "layerprobe.extraction",
    "FeatureStore": "layerprobe.io.store",
    "store_path": "layerprobe.io.store_paths",
    # array-level analyses
    "CCA": "layerprobe.analysis.cca",
    "cca_experiment": "layerprobe.analysis.cca",
    "LloydKMeans": "layerprobe.analysis.kmeans",
    "cluster_mi": "layerprobe.analysis.mi",
    "normalized_mutual_information": "layerprobe.analysis.mi",
    "wordsim_scores": "layerprobe.analysis.wordsim",
    "read_benchmark": "layerprobe.analysis.wordsim",
    "same_different_ap": "layerprobe.analysis.awd",
    "search_grid": "layerprobe.analysis.segmentation",
    "sts_spearman": "layerprobe.analysis.sts",
    # experiments on stores, into result tables
    "StoreQuery": "layerprobe.experiments.query",
    "run_cca": "layerprobe.experiments.cca",
    "run_mi": "layerprobe.experiments.mi",
    "run_wordvec": "layerprobe.experiments.wordvec",
    "run_wordsim": "layerprobe.experiments.wordsim",
    "run_awd": "layerprobe.experiments.awd",
    "run_segment": "layerprobe.experiments.segment",
    "run_sts": "layerprobe.experiments.sts",
    "run_patterns": "layerprobe.experiments.patterns",
    "run_probe": "layerprobe.experiments.probe",
    "finetune": "layerprobe.training.finetune",
    # attention and audiation
    "apply_local_attention": "layerprobe.attention.local",
    "block_patterns": "layerprobe.attention.patterns",
    "audiate": "layerprobe.audiation",
    "audiate_units": "layerprobe.audiation",
    # results and figures
    "ResultTable": "layerprobe.results",
    "plot_layer_trend": "layerprobe.plots",
    "plot_trends": "layerprobe.plots",
    "plot_grid": "layerprobe.plots",
    "save_figure": "layerprobe.plots",
}

__all__ = ["__version__", "API", *API]


def __getattr__(name: str) -> Any:
    module = API.get(name)
    if module is None:
        raise AttributeError(f"module 'layerprobe' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(API))
