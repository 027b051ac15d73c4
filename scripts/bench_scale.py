#!/usr/bin/env python
"""Benchmark: how extraction and analysis grow with the corpus, and what the full LibriSpeech pipeline costs.

For growing synthesized corpora (1x, 2.5x, 5x and 10x 60 utterances, the demo's former size, by default) the
pipeline runs step by step, each step in a fresh process through the ``layerprobe`` CLI:

1. ``sample`` frame and phone data-sample sets of the whole train split;
2. ``extract`` the contextualized frame and phone stores of a tiny wav2vec 2.0 and the log-mel store;
3. ``cca`` cca_mel over T1..T3 and ``mi`` mi_phone over T1..T3 (50 clusters).

Each step's wall time and peak resident memory (``ru_maxrss`` of its process) is recorded against
the hours of audio; a least-squares line through the origin gives seconds per audio hour, and the
memory is checked to stay flat.  A plot (time and memory against corpus size) is written as PNG and
PDF.  The projection scales the measured extraction rate of a base-size random wav2vec 2.0
(``tiny:wav2vec2-base``, the published architecture) to LibriSpeech's 960 hours on this machine and,
given a measured single-GPU rate (``--gpu-audio-rate``, audio seconds per second), on N GPUs of
data-parallel shards.

Usage::

    python scripts/bench_scale.py [--sizes 60,150,300,600] [--work DIR] [--out docs/scale.png] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

LIBRISPEECH_HOURS = 960.0
MODEL = "tiny:wav2vec2"
BASE_MODEL = "tiny:wav2vec2-base"

# Runs one CLI command in this fresh process and prints its peak RSS (KiB) last.
_MEASURE = textwrap.dedent(
    """
    import resource, sys
    from layerprobe.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        if exc.code:
            raise
    print("MAXRSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def measure(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one ``layerprobe`` command in a fresh process."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"layerprobe {' '.join(argv)} failed:\n{done.stderr}")
    rss_kib = int(done.stdout.strip().splitlines()[-1].split()[1])
    return wall, rss_kib / 1024


def audio_hours(corpus_dir: Path, split: str = "train") -> float:
    import soundfile

    return sum(soundfile.info(path).duration for path in (corpus_dir / split).glob("*.wav")) / 3600


def run_size(work: Path, n: int) -> dict:
    """Synthesize a corpus of ``n`` utterances and time every step of the pipeline on its train split."""
    root = work / f"n{n}"
    corpus = root / "corpus"
    if not corpus.exists():
        subprocess.run([sys.executable, "-m", "layerprobe", "corpus", "synth", "--out", str(corpus), "--n", str(n),
                        "--seed", "0", "--no-progress"], check=True, capture_output=True)  # fmt: skip
    samples, features, results = root / "data_samples", root / "features", root / "results"
    common = ["--corpus", str(corpus), "--split", "train"]
    steps = {
        "sample frame": ["sample", *common, "--span", "frame", "--n-utterances", str(n), "--out", str(samples), "--no-progress"],
        "sample phone": ["sample", *common, "--span", "phone", "--min-per-label", "1", "--max-per-label", "100000",
                         "--out", str(samples), "--no-progress"],
        "extract frame": ["extract", "--model", MODEL, *common, "--span", "frame", "--rep", "contextualized",
                          "--samples-dir", str(samples), "--out", str(features), "--no-progress"],
        "extract mel": ["extract", *common, "--span", "frame", "--rep", "mel", "--samples-dir", str(samples),
                        "--out", str(features), "--no-progress"],
        "extract phone": ["extract", "--model", MODEL, *common, "--span", "phone", "--rep", "contextualized",
                          "--samples-dir", str(samples), "--out", str(features), "--no-progress"],
        "cca_mel": ["cca", "--exp", "cca_mel", "--model", MODEL, "--corpus", "corpus", "--split", "train", "--layers", "T1-T3",
                    "--features", str(features), "--out", str(results / "cca.csv"), "--no-progress"],
        "mi_phone": ["mi", "--span", "phone", "--model", MODEL, "--corpus", "corpus", "--train-split", "train",
                     "--eval-split", "train", "--layers", "T1-T3", "--n-clusters", "50", "--features", str(features),
                     "--out", str(results / "mi.csv"), "--no-progress"],
    }  # fmt: skip
    record = {"n_utterances": n, "audio_hours": audio_hours(corpus), "steps": {}}
    for name, argv in steps.items():
        wall, rss = measure(argv)
        record["steps"][name] = {"seconds": wall, "peak_rss_mib": rss}
        print(f"  n={n:5d} {name:14s} {wall:7.2f} s  {rss:7.0f} MiB", flush=True)
    return record


def base_model_rate(work: Path, n: int) -> float:
    """Audio seconds per second of extracting all T layers of the base-size wav2vec 2.0 (frame span)."""
    root = work / f"n{n}"
    samples = root / "data_samples"
    argv = ["extract", "--model", BASE_MODEL, "--corpus", str(root / "corpus"), "--split", "train", "--span", "frame",
            "--rep", "contextualized", "--samples-dir", str(samples), "--out", str(work / "base-features"), "--overwrite",
            "--no-progress"]  # fmt: skip
    measure(argv)  # warm the cached model build
    wall, _ = measure(argv)
    return audio_hours(root / "corpus") * 3600 / wall


def fit_line(hours: np.ndarray, seconds: np.ndarray) -> tuple[float, float, float]:
    """(seconds per audio hour, fixed seconds, largest relative residual) of a least-squares line.

    The fixed part is mostly the process start (importing torch and transformers, loading the
    model); the slope is what grows with the corpus.
    """
    slope, intercept = np.polyfit(hours, seconds, 1)
    fitted = slope * hours + intercept
    return float(slope), float(intercept), float(np.max(np.abs(seconds - fitted) / seconds))


def plot(records: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from layerprobe.plots import save_figure

    hours = np.array([r["audio_hours"] for r in records]) * 60
    names = list(records[0]["steps"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    for name in names:
        seconds = [r["steps"][name]["seconds"] for r in records]
        rss = [r["steps"][name]["peak_rss_mib"] for r in records]
        left.plot(hours, seconds, marker="o", label=name)
        right.plot(hours, rss, marker="o", label=name)
    left.set(xlabel="audio in the corpus (minutes)", ylabel="wall time (s)", title="time grows linearly")
    right.set(xlabel="audio in the corpus (minutes)", ylabel="peak memory (MiB)", title="memory stays flat")
    right.set_ylim(bottom=0)
    left.legend(fontsize=7, ncol=2)
    save_figure(fig, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="60,150,300,600",
                        help="Corpus sizes in utterances (the demo had 60 when they were chosen; it has 400).")
    parser.add_argument("--work", type=Path, default=None, help="Working folder (kept; default: a temporary one).")
    parser.add_argument("--out", type=Path, default=Path("docs/scale.png"), help="Plot (PNG; a PDF is written next to it).")
    parser.add_argument("--json", type=Path, default=None, help="Write the figures as JSON.")
    parser.add_argument("--gpus", default="1,8,32", help="GPU counts of the projection.")
    parser.add_argument("--gpu-audio-rate", type=float, default=None,
                        help="Measured audio seconds per second of one GPU extracting the base model (no GPU here).")  # fmt: skip
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="layerprobe-scale-"))
    print(f"working in {work}")
    records = [run_size(work, n) for n in sizes]
    hours = np.array([r["audio_hours"] for r in records])
    summary = {}
    for name in records[0]["steps"]:
        seconds = np.array([r["steps"][name]["seconds"] for r in records])
        rss = np.array([r["steps"][name]["peak_rss_mib"] for r in records])
        slope, fixed, residual = fit_line(hours, seconds)
        summary[name] = {"seconds_per_audio_hour": slope, "fixed_seconds": fixed, "max_relative_residual": residual,
                         "rss_growth": float(rss[-1] / rss[0])}  # fmt: skip
    rate = base_model_rate(work, sizes[0])
    full_seconds = LIBRISPEECH_HOURS * 3600 / rate
    projection = {"base_model_audio_rate": rate, "librispeech_hours": LIBRISPEECH_HOURS,
                  "one_machine_hours": full_seconds / 3600}  # fmt: skip
    if args.gpu_audio_rate:
        projection["gpu_hours"] = {n: LIBRISPEECH_HOURS * 3600 / (args.gpu_audio_rate * int(n)) / 3600 for n in args.gpus.split(",")}
    plot(records, args.out)
    print("\nstep            s per audio hour   fixed s   worst fit   peak memory largest/smallest")
    for name, f in summary.items():
        print(f"{name:16s}{f['seconds_per_audio_hour']:12.1f}{f['fixed_seconds']:12.1f}{f['max_relative_residual']:10.1%}"
              f"{f['rss_growth']:18.2f}x")  # fmt: skip
    print(f"\nbase-size wav2vec 2.0, all T layers: {rate:.1f} s of audio per second on this machine")
    print(f"LibriSpeech 960 h, one contextualized frame extraction: {projection['one_machine_hours']:.0f} h here")
    for n, value in projection.get("gpu_hours", {}).items():
        print(f"  on {n} GPUs (data-parallel shards): {value:.1f} h")
    print(f"plot: {args.out} (and .pdf)")
    if args.json:
        args.json.write_text(json.dumps({"records": records, "summary": summary, "projection": projection}, indent=2))


if __name__ == "__main__":
    main()
