"""The attention-pattern experiment ``attention_patterns`` bound to a store of maps and a result table.

:func:`run_patterns` classifies each block's head-averaged attention maps
(:func:`~layerprobe.attention.patterns.block_patterns`, REFERENCE.md section 6) of a sample's
contextualized store, adds one row per block and score to a
:class:`~layerprobe.results.ResultTable` and draws the figure.  Unlike the other runners it
scores every block in one pass over the maps and saves the table once, after all blocks.

Example
-------
>>> from layerprobe.experiments.patterns import run_patterns                       # doctest: +SKIP
>>> run_patterns(features="features", model="tiny:whisper", corpus="demo", split="train",  # doctest: +SKIP
...              results="results/patterns.csv", figure="patterns.png")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerprobe.attention.maps import check_averaging
from layerprobe.attention.patterns import (
    CONSISTENCY_PERCENTILE,
    DEFAULT_AVERAGING,
    DEFAULT_RADIUS,
    DEFAULT_TOP_FRACTION,
    THRESHOLDS,
    BlockPattern,
    _check_options,
    block_patterns,
    patterns_figure,
)
from layerprobe.errors import StoreError
from layerprobe.experiments.query import resolve_store
from layerprobe.experiments.records import RowsMixin, RunKey, open_table, provenance, score_layers, store_model

#: Experiment name of the rows in a ResultTable.
EXPERIMENT = "attention_patterns"


@dataclass(frozen=True)
class BlockScore(RowsMixin):
    """One block's pattern as a record: ``layer`` is the block, :meth:`rows` its four score rows and its padding mass."""

    layer: str
    pattern: BlockPattern
    run: RunKey | None = None

    def metrics(self) -> list[tuple[str, float]]:
        return [*self.pattern.scores.as_dict().items(), ("padding_mass", self.pattern.padding_mass)]


@dataclass(frozen=True)
class PatternsReport:
    """What :func:`run_patterns` did: the block patterns, the store read, the figure files and the records."""

    patterns: list[BlockPattern]
    store_path: Path
    figures: list[Path]
    scores: list[BlockScore] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """Every block's table rows, in block order."""
        return [row for score in self.scores for row in score.rows()]


def run_patterns(
    store: Any = None,
    *,
    features: str | os.PathLike | None = None,
    model: str | None = None,
    corpus: str | None = None,
    split: str | None = None,
    sample: int | None = None,
    span: str | None = None,
    blocks: Sequence[str] | str | None = None,
    radius: int = DEFAULT_RADIUS,
    utterances: int | Sequence[str] | None = None,
    top_fraction: float = DEFAULT_TOP_FRACTION,
    results: Any = None,
    figure: str | os.PathLike | None = None,
    show: int = 3,
    averaging: str = DEFAULT_AVERAGING,
) -> PatternsReport:
    """Score the maps of a sample's contextualized store; add rows to a table; draw the figure.

    The store is ``<features>/<model tag>/<corpus>_<split>_sample<k>/contextualized_<span>.h5``, or
    the contextualized store of ``store`` (a StoreQuery, FeatureStore, extraction report or store
    path; the path strings override its parts; ``span`` defaults to its span, else ``frame``).
    Each block gives rows (experiment :data:`EXPERIMENT`, layer = block, seed 0) with metrics
    ``diagonal``, ``vertical``, ``consistency`` and ``entropy`` (means over utterances) and
    ``padding_mass`` (the mass real queries sent to keys cut away with Whisper's 30 s padding, mean
    over heads, queries and utterances; 0 for other models); the sidecar keeps the class, spreads,
    per-head scores and padding mass, per-utterance scores (details), the radius, top fraction,
    thresholds and head ``averaging`` order (options, see
    :func:`~layerprobe.attention.patterns.block_patterns`) and the store (provenance).  A rerun
    replaces the rows.
    Without ``results`` nothing is written but the figure; the rows are in the report
    (:meth:`PatternsReport.rows`).

    Raises
    ------
    StoreError
        No such store (run ``layerprobe attention maps``), or a store without maps.
    ConfigError
        Bad options or an unknown block.
    """
    from layerprobe.io.figures import save_figure

    radius, top_fraction = _check_options(radius, top_fraction)
    averaging = check_averaging(averaging)
    query = resolve_store(store, features=features, model=model, corpus=corpus, split=split, sample=sample,
                          rep="contextualized", span=span if span is not None or store is not None else "frame",
                          what="run_patterns")  # fmt: skip
    path = query.path
    if not query.exists(partial=False):
        raise StoreError(
            f"no such feature store; store attention maps first: layerprobe attention maps --model {model or query.model} "
            f"--corpus {query.corpus} --split {query.split} --span {query.span} --sample {query.sample} "
            f"--out {features if features is not None else query.features}",
            path=path,
        )
    table = open_table(results)
    figures: list[Path] = []
    with query.open() as opened:
        patterns = block_patterns(opened, radius=radius, blocks=blocks, utterances=utterances, top_fraction=top_fraction,
                                  averaging=averaging)  # fmt: skip
        attrs = opened.attrs
        model_name = store_model(opened)
        if figure is not None:
            drawn = patterns_figure(opened, patterns, n_utterances=show)
            figures = save_figure(drawn, figure)
    run = RunKey(model_name, query.corpus, EXPERIMENT, query.split, query.sample, 0)
    by_block = {pattern.block: BlockScore(pattern.block, pattern, run) for pattern in patterns}
    metadata = {
        "options": {"radius": radius, "top_fraction": top_fraction, "thresholds": dict(THRESHOLDS),
                    "consistency_percentile": CONSISTENCY_PERCENTILE, "span": query.span,
                    "averaging": averaging},
        "provenance": provenance(attrs=attrs, store=str(path), manifest_hash=attrs.get("manifest_hash")),
    }  # fmt: skip
    scores = score_layers(list(by_block), by_block.__getitem__, what=EXPERIMENT, table=table, replace_runs=True, save=False,
                          metadata=lambda score: {**metadata, "details": score.pattern.details()}, progress=False)  # fmt: skip
    if table is not None:
        try:
            table.save()
        except BaseException:
            for written in figures:  # a failed run leaves no output behind
                Path(written).unlink(missing_ok=True)
            raise
    return PatternsReport(patterns, path, figures, scores)


__all__ = ["EXPERIMENT", "BlockScore", "PatternsReport", "run_patterns"]
