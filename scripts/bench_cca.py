#!/usr/bin/env python
"""Benchmark: the full CCA protocol, fast path against a naive one, and a streamed run from HDF5.

The protocol is REFERENCE.md section 3: 10 parts, 3 trials, 6 epsilon fits per trial, selection
on dev, the test score.  Cases (synthetic views with planted shared factors, float32 like stored
features):

* ``mel``: 20,000 x 768 against 80 (cca_mel-sized);
* ``intra``: 50,000 x 768 against 768 (cca_intra-sized);
* ``stream``: a frame store of 1,000,000 rows x 768 and its 80-d log-mel store on disk (HDF5),
  paired by :func:`layerprobe.analysis.views.mel_views` and streamed through the protocol in a
  fresh process whose peak resident memory is reported.

The naive implementation does what the published code does: for every fit it copies the training
rows, recomputes their covariance with ``np.cov``, inverts with ``pinv``, takes square roots,
SVDs, and scores dev and test rows by projecting them and taking a QR.  Both paths use the same
parts and epsilon order; their scores are printed side by side.

Usage::

    python scripts/bench_cca.py [--cases mel,intra,stream] [--no-naive] [--work DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from layerprobe.analysis.cca import cca_experiment, epsilon_order
from layerprobe.analysis.splits import split_parts, trial_parts


def planted_views(n: int, d1: int, d2: int, shared: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 views of ``n`` rows sharing ``shared`` latent factors, linearly mixed."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, shared)).astype(np.float32)
    x = np.hstack([z, rng.normal(size=(n, d1 - shared)).astype(np.float32)]) @ rng.normal(size=(d1, d1)).astype(np.float32)
    y = np.hstack([z[:, : min(shared, d2)] + rng.normal(size=(n, min(shared, d2))).astype(np.float32),
                   rng.normal(size=(n, d2 - min(shared, d2))).astype(np.float32)])  # fmt: skip
    return x, y @ rng.normal(size=(d2, d2)).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# The naive protocol (the published code's arithmetic and data movement)


def naive_fit(x: np.ndarray, y: np.ndarray, eps_x: float, eps_y: float):
    x, y = x.T.astype(np.float64), y.T.astype(np.float64)
    nx = x.shape[0]
    covariance = np.cov(x, y)
    sxx, syy, sxy = covariance[:nx, :nx], covariance[nx:, nx:], covariance[:nx, nx:]
    x_max, y_max = np.max(np.abs(sxx)), np.max(np.abs(syy))
    sxx, syy, sxy = sxx / x_max, syy / y_max, sxy / np.sqrt(x_max * y_max)
    kx, ky = np.abs(np.diag(sxx)) >= eps_x, np.abs(np.diag(syy)) >= eps_y
    sxx = sxx[np.ix_(kx, kx)] + eps_x * np.eye(kx.sum())
    syy = syy[np.ix_(ky, ky)] + eps_y * np.eye(ky.sum())

    def inverse_sqrt(matrix):
        values, vectors = np.linalg.eigh(np.linalg.pinv(matrix))
        return vectors @ np.diag(np.sqrt(values)) @ vectors.T

    wx, wy = inverse_sqrt(sxx), inverse_sqrt(syy)
    u, _, vt = np.linalg.svd(wx @ sxy[np.ix_(kx, ky)] @ wy)
    return kx, ky, u.T @ wx, vt @ wy


def naive_pwcca(fit, x: np.ndarray, y: np.ndarray) -> float:
    kx, ky, ax, ay = fit
    x, y = x.T.astype(np.float64)[kx], y.T.astype(np.float64)[ky]
    nd = min(len(ax), len(ay))
    mx, my = x.mean(axis=1, keepdims=True), y.mean(axis=1, keepdims=True)
    px, py = ax[:nd] @ (x - mx), ay[:nd] @ (y - my)
    rho = np.einsum("ij,ij->i", px, py) / np.sqrt(np.einsum("ij,ij->i", px, px) * np.einsum("ij,ij->i", py, py))
    acts, means, projections = (x, mx, px) if len(ax) < len(ay) else (y, my, py)
    q, _ = np.linalg.qr((projections + means[:nd]).T)
    alpha = np.sum(np.abs(q.T @ acts[:nd].T), axis=1)
    return float(np.sum(alpha / alpha.sum() * rho))


def naive_protocol(x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> float:
    parts = split_parts(len(x), None, seed=seed)
    scores = []
    for number, (dev, test) in enumerate(trial_parts(10, 3, seed=seed)[:3]):
        train = (parts != dev) & (parts != test)
        fits = [naive_fit(x[train], y[train], *eps) for eps in epsilon_order(seed=seed, trial=number)[:6]]
        dev_scores = [naive_pwcca(fit, x[parts == dev], y[parts == dev]) for fit in fits]
        scores.append(naive_pwcca(fits[int(np.argmax(dev_scores))], x[parts == test], y[parts == test]))
    return float(np.mean(scores))


# --------------------------------------------------------------------------------------------------
# Cases


def in_memory_case(name: str, n: int, d1: int, d2: int, shared: int, naive: bool) -> dict:
    x, y = planted_views(n, d1, d2, shared)
    cca_experiment((x[:2000], y[:2000]))  # warm-up (BLAS threads, imports)
    started = time.perf_counter()
    result = cca_experiment((x, y), seed=0)
    fast = time.perf_counter() - started
    figures = {"case": name, "rows": n, "dims": [d1, d2], "fast_s": round(fast, 2), "fast_score": result.score}
    print(f"{name}: {n} x {d1} vs {d2}: fast {fast:.2f} s, PWCCA {result.score:.6f}", flush=True)
    if naive:
        started = time.perf_counter()
        score = naive_protocol(x, y, seed=0)
        slow = time.perf_counter() - started
        figures.update(naive_s=round(slow, 2), naive_score=score, speedup=round(slow / fast, 1))
        print(f"{name}: naive {slow:.2f} s, PWCCA {score:.6f} ({slow / fast:.1f}x slower; "
              f"scores differ by {abs(score - result.score):.1e})", flush=True)  # fmt: skip
    return figures


def write_stream_stores(work: Path, n_rows: int, dim: int, frames_per_utt: int = 500) -> tuple[Path, Path]:
    """A contextualized frame store (layer T1, ``n_rows`` x ``dim``) and its mel store, in ``work``."""
    from layerprobe.io.store import FeatureStore

    model_path, mel_path = work / "model" / "contextualized_frame.h5", work / "mel" / "mel_frame.h5"
    if model_path.exists() and mel_path.exists():
        return model_path, mel_path
    base = {"corpus": "bench", "split": "train", "sample": 1, "span": "frame", "sample_rate": 16000}
    model = FeatureStore.create(model_path, attrs={**base, "model": "bench", "rep": "contextualized", "frame_rate_hz": 50.0},
                                layer_dims={"T1": dim}, overwrite=True)  # fmt: skip
    mel = FeatureStore.create(mel_path, attrs={**base, "model": "logmel", "rep": "mel", "frame_rate_hz": 100.0},
                              layer_dims={"mel": 80}, overwrite=True)  # fmt: skip
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(80, dim)).astype(np.float32)
    for number in range(n_rows // frames_per_utt):
        mel_rows = rng.normal(size=(2 * frames_per_utt + 1, 80)).astype(np.float32)
        layer_rows = mel_rows[::2][:frames_per_utt] @ mixing + rng.normal(size=(frames_per_utt, dim)).astype(np.float32)
        model.append(f"u{number:06d}", {"T1": layer_rows})
        mel.append(f"u{number:06d}", {"mel": mel_rows})
    model.finish()
    mel.finish()
    return model_path, mel_path


def stream_case(work: Path, n_rows: int) -> dict:
    started = time.perf_counter()
    model_path, mel_path = write_stream_stores(work, n_rows, 768)
    print(f"stream: stores ready in {time.perf_counter() - started:.0f} s ({model_path})", flush=True)
    code = f"""
import json, resource, time
from layerprobe.analysis.cca import cca_experiment
from layerprobe.analysis.views import mel_views
from layerprobe.io.store import FeatureStore
with FeatureStore.open({str(model_path)!r}) as model, FeatureStore.open({str(mel_path)!r}) as mel:
    views = mel_views(model, mel, "T1")
    started = time.perf_counter()
    result = cca_experiment(views, seed=0)
    seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "score": result.score, "rows": views.n_rows,
                  "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"stream: {figures['rows']} x 768 vs 80 from HDF5: {figures['seconds']:.1f} s, "
          f"peak RSS {figures['peak_rss_gib']:.2f} GiB, PWCCA {figures['score']:.6f}", flush=True)  # fmt: skip
    return {"case": "stream", **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="mel,intra,stream")
    parser.add_argument("--no-naive", action="store_true", help="Skip the naive implementation.")
    parser.add_argument("--stream-rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=None, help="Folder for the stream case's stores (kept).")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cases = args.cases.split(",")
    figures = []
    if "mel" in cases:
        figures.append(in_memory_case("mel", 20_000, 768, 80, 40, not args.no_naive))
    if "intra" in cases:
        figures.append(in_memory_case("intra", 50_000, 768, 768, 200, not args.no_naive))
    if "stream" in cases:
        if args.work is None:
            with tempfile.TemporaryDirectory() as work:
                figures.append(stream_case(Path(work), args.stream_rows))
        else:
            figures.append(stream_case(args.work, args.stream_rows))
    print(f"this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
