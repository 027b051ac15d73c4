#!/usr/bin/env python
"""Benchmark: the vectorised 180-setting grid search of ``layerprobe segment`` against the published loop.

One layer of frame features: ``--hours`` of audio at 50 frames per second (dimension ``--dim``,
float32, utterances of 8-16 s), words of 8-25 frames whose frames share a random centre plus noise
(so peaks have graded prominences), gold boundaries 5 ms before the word edges (a peak marks the
frame before a change, 20 ms early; off the 20 ms grid, no prediction is exactly 20 ms from a gold
boundary, where the published float comparison decides by rounding).  Measured:

* ``vectorised``: :func:`layerprobe.analysis.segmentation.search_grid` with both conventions
  (librispeech and buckeye), from the raw frames (z-score included) to the best setting of each;
* ``published``: the published ``word_segmentation_librispeech.py`` loop transcribed (z-score,
  then for each of the 180 settings and each utterance: distances, moving average, ``find_peaks``,
  then its ``f1_score``), librispeech convention only, on the first ``--published-minutes`` of
  the audio, its time scaled linearly to the whole (it is linear in the utterances).

Reported too: whether both choose the same librispeech setting on the common part (they may not:
the published recall divides correct *predictions* by correct predictions + missed gold boundaries,
layerprobe's divides gold boundaries found by gold boundaries).

Usage::

    python scripts/bench_segmentation.py [--hours 1] [--dim 768] [--published-minutes 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import scipy.signal
import scipy.stats

from layerprobe.analysis.segmentation import GRID, search_grid

RATE = 50.0


def make_layer(hours: float, dim: int, seed: int = 0) -> tuple[np.ndarray, list[int], list[np.ndarray]]:
    """Frames (float32), frames per utterance, gold boundary times per utterance."""
    rng = np.random.default_rng(seed)
    total = int(hours * 3600 * RATE)
    counts: list[int] = []
    gold: list[np.ndarray] = []
    blocks = []
    made = 0
    while made < total:
        n = int(min(rng.integers(400, 800), max(total - made, 50)))
        lengths = []
        while sum(lengths) < n:
            lengths.append(int(rng.integers(8, 26)))
        lengths[-1] -= sum(lengths) - n
        if lengths[-1] < 1:
            lengths.pop()
            lengths[-1] += n - sum(lengths)
        edges = np.cumsum([0] + lengths)
        centres = rng.normal(size=(len(lengths), dim)).astype(np.float32)
        block = np.repeat(centres, lengths, axis=0) + rng.normal(scale=1.5, size=(n, dim)).astype(np.float32)
        blocks.append(block)
        counts.append(n)
        gold.append(edges[1:-1] / RATE - 0.005)  # 5 ms before the frame edge: no prediction lies exactly 20 ms away
        made += n
    return np.concatenate(blocks), counts, gold


def published_search(frames: np.ndarray, counts: list[int], gold: list[np.ndarray]) -> tuple[int, float]:
    """The published loop (transcribed), librispeech convention: the best setting's index and F1."""

    def average_pooling(vecs, n):
        ret = np.cumsum(vecs, axis=0)
        ret[n:] = ret[n:] - ret[:-n]
        return ret[n - 1 :] / n

    def f1_score(seqs_gt, seqs_pred, stride_sec=0.02, tolerance=0.02):
        total_tp = total_fp = total_fn = 0
        for seq_gt, seq_pred in zip(seqs_gt, seqs_pred):
            seq_pred = seq_pred * stride_sec
            for s_p in seq_pred:
                if any(s_g - tolerance <= s_p <= s_g + tolerance for s_g in seq_gt):
                    total_tp += 1
                else:
                    total_fp += 1
            for s_g in seq_gt:
                if not any(s_g - tolerance <= s_p <= s_g + tolerance for s_p in seq_pred):
                    total_fn += 1
        if total_tp == 0:
            return 0.0
        precision, recall = total_tp / (total_tp + total_fp), total_tp / (total_tp + total_fn)
        return 2 * precision * recall / (precision + recall)

    starts = np.cumsum([0] + counts)
    best, best_f1 = 0, 0.0
    for index, setting in enumerate(GRID):
        vecs = scipy.stats.zscore(frames, axis=0)  # the published loop z-scores inside the grid loop
        all_peaks = []
        for i in range(len(counts)):
            v = vecs[starts[i] : starts[i + 1]]
            if setting.distance == "euclidean":
                diff = np.linalg.norm(v[1:] - v[:-1], axis=1)
            else:
                diff = 1 - np.sum(v[1:] * v[:-1], axis=1) / np.linalg.norm(v[1:], axis=1) / np.linalg.norm(v[:-1], axis=1)
            peaks, _ = scipy.signal.find_peaks(average_pooling(diff, setting.window), prominence=setting.prominence)
            all_peaks.append(np.sort(peaks + setting.window // 2))
        f1 = f1_score(gold, all_peaks)
        if f1 > best_f1:
            best, best_f1 = index, f1
    return best, best_f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--published-minutes", type=float, default=5.0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    frames, counts, gold = make_layer(args.hours, args.dim)
    started = time.perf_counter()
    found = search_grid(frames, counts, gold, RATE)
    vectorised_s = time.perf_counter() - started
    report = {"hours": args.hours, "dim": args.dim, "frames": int(len(frames)), "utterances": len(counts),
              "gold_boundaries": int(sum(len(g) for g in gold)), "vectorised_s": round(vectorised_s, 2),
              "chosen": {c: {**g.setting.as_dict(), "f1": round(g.score.f1, 4)} for c, g in found.items()}}  # fmt: skip

    n_part = max(1, int(np.searchsorted(np.cumsum(counts), args.published_minutes * 60 * RATE)) + 1)
    n_part = min(n_part, len(counts))
    part_frames = int(sum(counts[:n_part]))
    started = time.perf_counter()
    best, best_f1 = published_search(frames[:part_frames], counts[:n_part], gold[:n_part])
    published_part_s = time.perf_counter() - started
    started = time.perf_counter()
    part = search_grid(frames[:part_frames], counts[:n_part], gold[:n_part], RATE, ("librispeech",))["librispeech"]
    vectorised_part_s = time.perf_counter() - started
    report["published"] = {"utterances": n_part, "frames": part_frames, "seconds": round(published_part_s, 2),
                           "vectorised_librispeech_only_s": round(vectorised_part_s, 2),
                           "scaled_to_all_s": round(published_part_s * len(frames) / part_frames, 1),
                           "same_choice": bool(best == part.best), "published_f1": round(best_f1, 4),
                           "layerprobe_f1": round(part.score.f1, 4)}  # fmt: skip
    report["speedup_librispeech"] = round(published_part_s / vectorised_part_s, 1)
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "omp_threads": os.environ.get("OMP_NUM_THREADS")}
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)


if __name__ == "__main__":
    main()
