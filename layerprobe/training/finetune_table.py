"""The result-table side of fine-tuning: the seeds of one run and their mean and std rows.

A fine-tuning run (model, corpus, variant, test split) has one row per seed and metric (``cer``,
``wer``, with an LM ``cer_lm``, ``wer_lm``) and the aggregate rows ``<metric>_mean`` /
``<metric>_std``, filed under the smallest seed.  A rerun with some of the seeds (``--seeds 0`` after
``--seeds 0,1``) recomputes the aggregates over every seed of the run in the table: the seeds run
now and the seeds of earlier runs with the same options and model weights, whose rows stay.  Rows of
seeds run with other options or weights are removed with a warning: they would stand beside a mean
they are not part of.  Split out of :mod:`layerprobe.training.finetune`.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np

log = logging.getLogger("layerprobe.training.finetune")

_RUN = ("model", "corpus", "experiment", "layer", "split", "sample")
#: The metrics of a result row per seed; the aggregates are ``<metric>_mean`` and ``<metric>_std``.
PER_SEED_METRICS = ("cer", "wer", "cer_lm", "wer_lm")


def earlier_seed_rows(
    table: Any, row: Mapping[str, Any], seeds: Sequence[int], metrics: Sequence[str], *, options: Mapping[str, Any],
    provenance: Mapping[str, Any],
) -> dict[int, list[dict[str, Any]]]:
    """Seed -> per-seed rows of the other seeds of this run (same model, corpus, variant, split) in ``table``.

    A seed of an earlier run with the same options and model weights is part of this run: its rows stay
    and enter the mean and std.  A seed of other options or weights (or lacking a metric) would stand
    beside aggregates it is not part of: its rows are removed, with a warning naming it.
    """
    from layerprobe.results import _to_json

    wanted = _to_json(options, "options", None)
    fingerprint = dict(provenance.get("model", {})).get("weights_fingerprint")
    keys = {key: row[key] for key in ("model", "corpus", "experiment", "layer", "split", "sample")}
    found: dict[int, list[dict[str, Any]]] = {}
    for other in table.select(**keys):
        if other["seed"] not in seeds:
            found.setdefault(other["seed"], []).append(other)
    kept: dict[int, list[dict[str, Any]]] = {}
    stale = []
    for seed, seed_rows in sorted(found.items()):
        metadata = table.metadata(seed_rows[0]) or {}
        same_options = {**metadata.get("options", {}), "seed": None} == {**wanted, "seed": None}
        same_weights = metadata.get("provenance", {}).get("model", {}).get("weights_fingerprint") == fingerprint
        own = [other for other in seed_rows if other["metric"] in PER_SEED_METRICS]
        if same_options and same_weights and sorted(other["metric"] for other in own) == sorted(metrics):
            kept[seed] = own
        else:
            stale.append(seed)
    if stale:
        log.warning(
            "%s: removing the rows of seed(s) %s of %s: they were run with other options or model weights, and the "
            "mean and std now cover seed(s) %s",
            table.path, ", ".join(map(str, stale)), keys["experiment"], ", ".join(map(str, sorted({*seeds, *kept}))),
        )
        table.remove_runs(found[seed][0] for seed in stale)
    return kept


def aggregate_seed_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``<metric>_mean`` and ``<metric>_std`` rows (sample std, 0 for one seed) of one run's per-seed rows.

    Parameters
    ----------
    rows : sequence of mapping
        Result rows of one run (same model, corpus, experiment, layer, split, sample), one per seed
        and metric of :data:`PER_SEED_METRICS`; every seed has the same metrics.

    Returns
    -------
    list of dict
        Two rows per metric, in metric order, filed under the smallest seed.
    """
    seeds = sorted({row["seed"] for row in rows})
    metrics = list(dict.fromkeys(row["metric"] for row in rows))
    values = {(row["seed"], row["metric"]): row["value"] for row in rows}
    base = {key: rows[0][key] for key in _RUN}
    aggregate = []
    for metric in metrics:
        column = np.array([values[seed, metric] for seed in seeds], dtype=np.float64)
        aggregate.append({**base, "seed": seeds[0], "metric": f"{metric}_mean", "value": float(column.mean())})
        std = float(column.std(ddof=1)) if column.size > 1 else 0.0
        aggregate.append({**base, "seed": seeds[0], "metric": f"{metric}_std", "value": std})
    return aggregate


__all__ = ["PER_SEED_METRICS", "aggregate_seed_rows", "earlier_seed_rows"]
