"""Probing layers of stored features: the experiment ``probe`` bound to frame stores and a result table.

:func:`run_probe` finds the frame stores of a model (or of the log-mel baseline, layer ``mel``)
for the train / dev / test data-sample sets, reads the transcripts from the corpus, probes one
layer or all of them (:func:`~layerprobe.training.probes.train_probe`), and adds the test WER and
CER to a :class:`~layerprobe.results.ResultTable` (experiment ``probe``), from which
``layerprobe plot`` draws WER per layer.

Stores are the extraction layout's: ``<features>/<model tag>/<corpus>_<split>_sample<k>/<rep>_frame.h5``
(``contextualized`` for T layers, ``local`` for C layers) and the log-mel baseline under the model tag
``logmel`` (``mel_frame.h5``, layer ``mel``).  The transcripts come from the corpus directory
recorded in each split's frame data-sample manifest (``<samples_dir>/<corpus>/<split>_frame_sample<k>.json``),
or from ``corpus_dir`` when given.

Example
-------
>>> from layerprobe.experiments.probe import run_probe                     # doctest: +SKIP
>>> run_probe(model="tiny:wav2vec2", corpus="synth", train_split="train", dev_split="dev",
...           test_split="test", layers="all", hidden_size=256, results="results/probe.csv")
>>> run_probe(report, dev_split="dev", test_split="test")   # report: extract()'s train frame store
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerprobe.errors import ConfigError
from layerprobe.experiments.query import MEL_TAG, StoreQuery, open_store, store_exists
from layerprobe.experiments.records import RowsMixin, RunKey, open_table, provenance, score_layers, store_entry, store_model
from layerprobe.io.store import FeatureStore
from layerprobe.io.store_paths import model_tag
from layerprobe.layers import MEL, layer_kind, parse_layers, sort_layers
from layerprobe.training.data import FeatureCTCData, read_transcripts, read_utterance_list
from layerprobe.training.probes import ProbeResult, train_probe

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: The experiment name of probe results in a ResultTable.
EXPERIMENT = "probe"

_UNSET: Any = object()


@dataclass
class ProbeScore(ProbeResult, RowsMixin):
    """A :class:`~layerprobe.training.probes.ProbeResult` as a record of :func:`run_probe`.

    ``run`` holds the row fields (model, experiment ``probe``, test split, sample, seed) and
    :meth:`rows` the layer's rows: ``wer`` and ``cer`` (greedy), with an LM ``wer_lm`` and ``cer_lm``.
    (``model`` is the trained network, as in ProbeResult; the model spec is ``run.model``.)
    """

    run: RunKey | None = field(default=None, compare=False)

    def metrics(self) -> list[tuple[str, float]]:
        metrics = {"wer": self.test_metrics["wer"], "cer": self.test_metrics["cer"]}
        if "beam_wer" in self.test_metrics:
            metrics.update(wer_lm=self.test_metrics["beam_wer"], cer_lm=self.test_metrics["beam_cer"])
        return [(metric, float(value)) for metric, value in metrics.items()]


def probe_store_path(features: PathLike, model: str | None, corpus: str, split: str, sample: int, layer: str) -> Path:
    """The frame store holding ``layer``: the log-mel store for ``mel``, else the model's local / contextualized one."""
    if layer == MEL:
        return StoreQuery(features, MEL_TAG, corpus, split, sample, "mel", "frame").path
    if model is None:
        raise ConfigError(f"layer {layer} needs --model (only the log-mel baseline, --layers mel, goes without)")
    rep = "local" if layer_kind(layer) == "C" else "contextualized"
    return StoreQuery(features, model, corpus, split, sample, rep, "frame").path


def split_transcripts(
    corpus: str, split: str, *, sample: int = 1, samples_dir: PathLike = "data_samples", corpus_dir: PathLike | None = None
) -> dict[str, str]:
    """Normalised transcripts of a split, from ``corpus_dir`` or the corpus its frame data-sample set was drawn from.

    Raises
    ------
    SampleError
        When there is neither ``corpus_dir`` nor the split's frame manifest.
    CorpusError
        When an utterance has no transcript.
    """
    from layerprobe.data.corpora import corpus_name, open_corpus
    from layerprobe.data.samples import manifest_path, read_manifest

    if corpus_dir is not None:
        return read_transcripts(corpus_dir, split)
    manifest = read_manifest(manifest_path(samples_dir, corpus_name(Path(corpus).name), split, "frame", sample))
    opened = open_corpus(manifest.corpus_root, format=manifest.corpus.get("format", "auto"), name=manifest.corpus.get("name"))
    return read_transcripts(opened, split)


def probe_layers(layers: str, *, features: PathLike, model: str | None, corpus: str, split: str, sample: int) -> list[str]:
    """Expand a ``--layers`` spec against the frame stores of the training split.

    ``all`` is every layer of the model's frame stores (``contextualized`` and, when extracted,
    ``local``); ``mel`` is the log-mel baseline; lists and ranges (``mel,T1-T4``) as
    :func:`~layerprobe.layers.parse_layers`.

    Raises
    ------
    ConfigError
        For a layer no store holds, or model layers without ``model``.
    StoreError
        For a store that exists but cannot be read.
    """
    def held(path: Path) -> list[str]:
        if not store_exists(path):
            return []
        with FeatureStore.open(path) as store:
            return list(store.layer_ids)

    text = layers.strip()
    every = text.lower() == "all"
    items = [] if every else [item.strip() for item in text.split(",") if item.strip()]
    wants_mel = any(item.lower() == MEL for item in items)
    if model is None and (every or not items or not all(item.lower() == MEL for item in items)):
        raise ConfigError("probing model layers needs --model (only the log-mel baseline, --layers mel, goes without)")
    available: list[str] = []
    if model is not None:
        model_paths = [probe_store_path(features, model, corpus, split, sample, layer) for layer in ("C1", "T0")]
        for path in model_paths:
            available += held(path)
        if not available and (every or not wants_mel or len(items) > 1):
            raise ConfigError(f"no frame-span feature store of {model} for {corpus} {split} sample {sample}: "
                              f"extract one first (extract --span frame; expected {model_paths[1]})")  # fmt: skip
    if wants_mel:
        mel_path = probe_store_path(features, None, corpus, split, sample, MEL)
        if not held(mel_path):
            raise ConfigError(f"no log-mel store for {corpus} {split} sample {sample}: extract one first "
                              f"(extract --rep mel --span frame; expected {mel_path})")  # fmt: skip
        available.append(MEL)
    chosen = sort_layers(layer for layer in available if layer != MEL) if every else parse_layers(text, available)
    return chosen


def run_probe(
    store: Any = None,
    *,
    model: str | None = _UNSET,
    corpus: str | None = None,
    train_split: str | None = None,
    dev_split: str,
    test_split: str,
    layers: str = "all",
    features: PathLike | None = None,
    sample: int | None = None,
    samples_dir: PathLike = "data_samples",
    corpus_dir: PathLike | None = None,
    train_list: PathLike | None = None,
    results: Any = None,
    checkpoints: PathLike | None = None,
    progress: bool = True,
    on_layer: Callable[[ProbeScore], None] | None = None,
    **probe_options: Any,
) -> list[ProbeScore]:
    """Probe layers of stored features and add the test WER / CER to a result table.

    Parameters
    ----------
    store : StoreQuery, FeatureStore, extraction report or store path, optional
        A frame store of the training split: its features root, model (None for the log-mel
        baseline), corpus, split (the default ``train_split``) and sample, instead of the path
        strings (which override it when given).
    model : str or None
        Model spec of the stores (``tiny:wav2vec2``, ``hf:...``); None only for ``layers="mel"``.
        Needed without ``store``.
    corpus : str
        Corpus name (or directory) of the data-sample sets.
    train_split, dev_split, test_split : str
        Splits whose frame-span stores (same ``sample`` id) train, stop and score the probes.
    layers : str
        ``all`` (every layer of the model's stores), ``mel``, ``T8``, ``T1-T12``, ``mel,T4`` ...
    features : path-like
        Root of the feature stores (``extract --out``; default ``features``).
    sample : int
        Data-sample id of all three splits (default 1).
    samples_dir : path-like
        Where the data-sample manifests are (they say where the corpus and its transcripts are).
    corpus_dir : path-like, optional
        Read the transcripts from this corpus directory instead.
    train_list : path-like, optional
        Train only on the utterances of this file list (ids one per line) among the train store's.
    results : ResultTable or path-like, optional
        Rows ``experiment="probe"``, ``split=test_split``, metrics ``wer`` and ``cer`` (greedy)
        and with an LM ``wer_lm`` and ``cer_lm``; saved after every layer.  None: nothing is
        written; the rows are in the returned records (:meth:`ProbeScore.rows`).
    checkpoints : path-like, optional
        Root of per-layer training checkpoints: an
        interrupted sweep resumes, finished layers are loaded instead of retrained.
        The path is ``<root>/<model tag>/<corpus>_<train split>_sample<k>/<layer>_seed<seed>``.
    progress : bool
    on_layer : callable, optional
        Called with each layer's :class:`ProbeScore` as soon as it is done.
    **probe_options
        Passed to :func:`~layerprobe.training.probes.train_probe` (``hidden_size``, ``epochs``,
        ``patience``, ``lr``, ``max_batch_frames``, ``seed``, ``device``, ``lm_path``,
        ``untrained_baseline`` ...).

    Returns
    -------
    list of ProbeScore
        In layer order (ProbeResults with their row fields).
    """
    from layerprobe.data.corpora import corpus_name

    if store is not None:
        query = StoreQuery.of(store)
        model = (None if query.is_mel else query.model) if model is _UNSET else model
        features = query.features if features is None else features
        corpus = query.corpus if corpus is None else corpus
        train_split = query.split if train_split is None else train_split
        sample = query.sample if sample is None else sample
    elif model is _UNSET or corpus is None or train_split is None:
        missing = [name for name, value in (("model", model), ("corpus", corpus), ("train_split", train_split))
                   if value is _UNSET or value is None]  # fmt: skip
        raise TypeError(f"run_probe needs {', '.join(f'{name}=' for name in missing)} or a store")
    features = "features" if features is None else features
    sample = 1 if sample is None else sample
    name = corpus_name(Path(corpus).name)
    if corpus_dir is None and Path(corpus).is_dir():
        corpus_dir = corpus
    chosen = probe_layers(layers, features=features, model=model, corpus=name, split=train_split, sample=sample)
    splits = {"train": train_split, "dev": dev_split, "test": test_split}
    transcripts = {
        role: split_transcripts(name, split, sample=sample, samples_dir=samples_dir, corpus_dir=corpus_dir)
        for role, split in splits.items()
    }
    train_ids = read_utterance_list(train_list) if train_list is not None else None
    table = open_table(results)
    seed = int(probe_options.get("seed", 0))
    with ExitStack() as stack:
        opened: dict[Path, FeatureStore] = {}

        def store_for(split: str, layer: str) -> FeatureStore:
            path = probe_store_path(features, model, name, split, sample, layer)
            if path not in opened:
                opened[path] = stack.enter_context(open_store(path))
            return opened[path]

        def stores_of(layer: str) -> dict[str, FeatureStore]:
            return {role: store_for(split, layer) for role, split in splits.items()}

        def score(layer: str) -> ProbeScore:
            stores = stores_of(layer)
            data = {
                role: FeatureCTCData(store, layer, transcripts[role], utterance_ids=train_ids if role == "train" else None)
                for role, store in stores.items()
            }
            checkpoint_dir = None
            if checkpoints is not None:
                tag = model_tag(model) if model is not None and layer != MEL else MEL_TAG
                checkpoint_dir = Path(checkpoints) / tag / f"{name}_{train_split}_sample{sample}" / f"{layer}_seed{seed}"
            outcome = train_probe(data["train"], data["dev"], data["test"], checkpoint_dir=checkpoint_dir, progress=progress, **probe_options)
            run = RunKey(store_model(stores["train"]), name, EXPERIMENT, test_split, sample, seed)
            return ProbeScore(**{f.name: getattr(outcome, f.name) for f in dataclasses.fields(ProbeResult)}, run=run)

        def metadata(outcome: ProbeScore) -> dict[str, Any]:
            stores = stores_of(outcome.layer)
            return {
                "options": outcome.options,
                "provenance": provenance(attrs=stores["train"].attrs,
                                         stores={role: store_entry(store) for role, store in stores.items()},
                                         train_list=os.fspath(train_list) if train_list is not None else None),  # fmt: skip
                "details": _json_ready(_details(outcome, splits)),
            }

        # after every layer: an interrupted sweep keeps what it finished
        return score_layers(chosen, score, what="probe", table=table, metadata=metadata, replace_runs=True,
                            progress=progress, on_layer=on_layer)  # fmt: skip


def _details(outcome: ProbeResult, splits: Mapping[str, str]) -> dict[str, Any]:
    """One layer's training record for the sidecar."""
    return {
        "train_split": splits["train"],
        "dev_split": splits["dev"],
        "best_epoch": outcome.best_epoch,
        "epochs_done": outcome.epochs_done,
        "stopped_early": outcome.stopped_early,
        "dev_metrics": outcome.dev_metrics,
        "test_metrics": outcome.test_metrics,
        "untrained_metrics": outcome.untrained_metrics or None,
        "history": outcome.history,
        "sizes": outcome.sizes,
        "n_parameters": outcome.n_parameters,
        "train_seconds": round(outcome.train_seconds, 3),
        "throughput_audio_s_per_s": round(outcome.throughput, 3),
    }


def _json_ready(value: Any) -> Any:
    """NaN / inf (an epoch without a finite loss) as None, so the sidecar stays valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


__all__ = ["EXPERIMENT", "ProbeScore", "probe_layers", "probe_store_path", "run_probe", "split_transcripts"]
