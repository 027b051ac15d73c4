#!/usr/bin/env python
"""Benchmark: the k-means behind ``layerprobe mi``, against the published MiniBatchKMeans setting.

REFERENCE.md section 4 clusters with scikit-learn's ``MiniBatchKMeans(n_clusters, batch_size,
max_iter=500)`` and its defaults of the time otherwise (3 greedy k-means++ inits on ``3 * batch_size``
rows each, the best on a validation draw kept; ``sklearn`` and ``published`` both run ``n_init=3``).
layerprobe's default, ``published`` (:class:`layerprobe.analysis.minibatch.PublishedKMeans`), runs
the same algorithm faster; ``lloyd`` is full-batch Lloyd in float32
(:class:`layerprobe.analysis.kmeans.LloydKMeans`: matrix-multiply distances, k-means++ up to 1000
clusters and random rows above, stop when a pass gains less than 1e-3 of the inertia), which
clusters better than the published protocol (a lower inertia, a higher score).  All run through
:class:`layerprobe.analysis.mi.ClusterMI`, exactly as the ``mi`` command runs them.

Cases (float32 like stored features; rows drawn around planted labelled centres; the feature scales
decay as ``1 / sqrt(1 + i / 32)`` over the 768 dimensions, so a few dozen directions dominate as in
real layers; the evaluation split is drawn from the same distribution):

* ``word``: 50,000 training x 768 and 50,000 evaluation rows around 1,000 centres (noise 1.5),
  5000 clusters, batch 4000;
* ``phone``: the same sizes around 40 centres (noise 4), 500 clusters, batch 1500.

Methods: ``sklearn`` (scikit-learn's MiniBatchKMeans as published: ``--algorithm minibatch``),
``published`` (the default of ``layerprobe mi``: the same algorithm, fast), ``lloyd``,
``minibatch-random`` (scikit-learn with a random init, which isolates the cost of the k-means++
init), and the other Lloyd init (``lloyd-k-means++`` for words, ``lloyd-random`` for phones).  For each: the
fit time, the inertia of the training rows, I(C;L)/H(L) on the evaluation rows and on the training
rows, the iterations (Lloyd passes or mini-batch epochs and steps) and the clusters used by the
evaluation rows.  ``chance`` is the evaluation score of ``lloyd``'s clusters shuffled across rows:
the plug-in floor for these sizes (5000 clusters over 50,000 rows score far above 0 with no
information at all).

The acceptance check (word case): ``published`` is at least 4x faster than ``sklearn``.  Its scores
follow the same distribution over seeds as scikit-learn's (tests/unit/test_mi.py checks the band);
one seed's scores differ by the seed-to-seed spread.

Usage::

    python scripts/bench_kmeans.py [--cases word,phone] [--seeds 0] [--no-extras] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from layerprobe.analysis.mi import ClusterMI, chance_score, normalized_mutual_information

CASES = {
    "word": {"n_labels": 1000, "noise": 1.5, "n_clusters": 5000, "batch_size": 4000},
    "phone": {"n_labels": 40, "noise": 4.0, "n_clusters": 500, "batch_size": 1500},
}
N_TRAIN = 50_000
DIM = 768
MAX_ITER = 500
SPEEDUP_REQUIRED = 4.0


def planted(n_labels: int, noise: float, *, n_rows: int = N_TRAIN, seed: int = 0) -> tuple[np.ndarray, ...]:
    """``(train_X, train_labels, eval_X, eval_labels)``: ``n_rows`` float32 rows each around ``n_labels`` centres."""
    rng = np.random.default_rng(seed)
    scale = (1.0 / np.sqrt(1.0 + np.arange(DIM) / 32.0)).astype(np.float32)
    centres = rng.standard_normal((n_labels, DIM), dtype=np.float32) * scale
    out = []
    for n in (n_rows, n_rows):
        labels = rng.integers(0, n_labels, n)
        rows = centres[labels] + np.float32(noise) * rng.standard_normal((n, DIM), dtype=np.float32) * scale
        out += [rows, labels]
    return tuple(out)


def run_method(method: str, data, case: dict, seed: int) -> dict:
    train_X, train_y, eval_X, eval_y = data
    k, batch = case["n_clusters"], case["batch_size"]
    if method == "minibatch-random":
        from sklearn.cluster import MiniBatchKMeans

        started = time.perf_counter()
        kmeans = MiniBatchKMeans(k, batch_size=batch, max_iter=MAX_ITER, random_state=seed, init="random", n_init=1).fit(train_X)
        fit = time.perf_counter() - started
        clusters = kmeans.predict(eval_X)
        return {
            "fit_s": fit, "inertia": float(kmeans.inertia_), "eval_nmi": normalized_mutual_information(clusters, eval_y),
            "train_nmi": normalized_mutual_information(kmeans.labels_, train_y), "iterations": f"{kmeans.n_iter_} epochs / {kmeans.n_steps_} steps",
            "clusters_used": int(len(np.unique(clusters))),
        }  # fmt: skip
    options = {"sklearn": {"algorithm": "minibatch"}, "published": {}, "lloyd": {"algorithm": "lloyd"},
               "lloyd-k-means++": {"algorithm": "lloyd", "init": "k-means++"},
               "lloyd-random": {"algorithm": "lloyd", "init": "random"}}[method]  # fmt: skip
    estimator = ClusterMI(k, batch_size=batch, seed=seed, max_iter=MAX_ITER, **options).fit(train_X, train_y)
    result = estimator.evaluate(eval_X, eval_y)
    row = {
        "fit_s": result.fit_seconds, "inertia": result.inertia, "eval_nmi": result.score, "train_nmi": result.train_score,
        "clusters_used": result.n_clusters_used, "init": result.init,
        "iterations": f"{result.n_iter} passes" if result.algorithm == "lloyd" else f"{result.n_iter} epochs / {estimator.kmeans_.n_steps_} steps",
        "init_s": getattr(estimator.kmeans_, "init_seconds_", None),
    }  # fmt: skip
    if method == "lloyd":
        row["chance_nmi"] = chance_score(estimator.predict(eval_X), eval_y, n_shuffles=3, seed=seed)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="word,phone", help="Comma-separated: word, phone.")
    parser.add_argument("--seeds", default="0", help="Comma-separated seeds of the k-means runs.")
    parser.add_argument("--no-extras", action="store_true", help="Only sklearn, published and lloyd.")
    parser.add_argument("--rows", type=int, default=N_TRAIN, help="Training (and evaluation) rows; the published sizes by default.")
    parser.add_argument("--json", default=None, help="Write the figures to this JSON file.")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load average at start {os.getloadavg()[0]:.2f}")  # fmt: skip
    report, ok = {}, True
    for name in args.cases.split(","):
        case = CASES[name]
        started = time.perf_counter()
        data = planted(case["n_labels"], case["noise"], n_rows=args.rows)
        print(f"\n== {name}: {args.rows:,} train + {args.rows:,} eval x {DIM}, {case['n_labels']} planted labels (noise {case['noise']}), "
              f"{case['n_clusters']} clusters, batch {case['batch_size']}, max_iter {MAX_ITER}  (data {time.perf_counter() - started:.1f} s)")  # fmt: skip
        methods = ["sklearn", "published", "lloyd"]
        if not args.no_extras:
            methods += ["minibatch-random", "lloyd-k-means++" if case["n_clusters"] > 1000 else "lloyd-random"]
        print(f"{'method':18s} {'seed':>4s} {'fit s':>8s} {'speedup':>8s} {'inertia':>12s} {'eval NMI':>9s} {'train NMI':>9s} "
              f"{'used':>5s}  iterations")  # fmt: skip
        for seed in seeds:
            rows = {}
            for method in methods:
                rows[method] = row = run_method(method, data, case, seed)
                speedup = rows["sklearn"]["fit_s"] / row["fit_s"]
                row["speedup"] = speedup
                print(f"{method:18s} {seed:4d} {row['fit_s']:8.1f} {speedup:7.1f}x {row['inertia']:12.6g} {row['eval_nmi']:9.4f} "
                      f"{row['train_nmi']:9.4f} {row['clusters_used']:5d}  {row['iterations']}", flush=True)  # fmt: skip
            print(f"{'chance':18s} {seed:4d} {'':8s} {'':8s} {'':12s} {rows['lloyd']['chance_nmi']:9.4f}")
            fast, slow = rows["published"], rows["sklearn"]
            passed = fast["speedup"] >= SPEEDUP_REQUIRED
            print(f"check ({name}, seed {seed}): published {fast['speedup']:.1f}x faster than sklearn (init {fast['init_s']:.1f} s), "
                  f"eval NMI {fast['eval_nmi']:.4f} vs {slow['eval_nmi']:.4f}, inertia {fast['inertia'] / slow['inertia']:.3f}x "
                  f"sklearn's; lloyd NMI {rows['lloyd']['eval_nmi']:.4f} -> "
                  + (f"{'PASS' if passed else 'FAIL'} (needs >= {SPEEDUP_REQUIRED:g}x)" if name == "word" else "(no requirement)"))  # fmt: skip
            ok &= passed or name != "word"  # the 4x requirement is the 5000-cluster one
            report.setdefault(name, {})[seed] = rows
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"cases": CASES, "results": report}, handle, indent=2)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
