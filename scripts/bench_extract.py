#!/usr/bin/env python
"""Benchmark: extraction overhead over the bare model forward, and peak memory against corpus size.

On a synthesized corpus (at least 60 s of speech by default) and a base-size random wav2vec 2.0
(12 blocks, 768-d: ``tiny:wav2vec2-base``), all T layers, frame span:

1. the bare forward: the torch module on each utterance's model input (``output_hidden_states``),
   utterance by utterance as extraction runs this group-norm model;
2. the full extraction: audio loading, the same forwards, conversion, pooling and HDF5 writes.

The overhead is ``(extraction - bare forward) / bare forward`` (target: under 10 %).  Then the
extraction runs in fresh processes on growing prefixes of the sample and reports each one's peak
resident memory, which must not grow with the number of utterances.

Usage::

    python scripts/bench_extract.py [--seconds 60] [--model tiny:wav2vec2-base] [--work DIR] [--json out.json]
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
import torch


def build_sample(work: Path, seconds: float):
    """A synthesized corpus with at least ``seconds`` of speech in its train split, and its frame sample."""
    from layerprobe.data.corpora import open_corpus
    from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
    from layerprobe.data.synth import synthesize_corpus

    n = max(10, int(seconds / 3.0 / 0.8) + 4)  # ~3 s a sentence, 80 % in train
    corpus_dir = work / "corpus"
    if not corpus_dir.exists():
        synthesize_corpus(corpus_dir, n=n, seed=0, progress=False)
    corpus = open_corpus(corpus_dir)
    manifest = draw_sample(corpus, "train", span="frame", rule=SamplingRule.default("frame", "train"), progress=False)
    path = write_manifest(manifest, manifest_path(work / "data_samples", corpus.name, "train", "frame", 1), overwrite=True)
    return manifest, path


def bare_forward_seconds(adapter, waveforms) -> float:
    """Seconds of the torch module's forward alone (inputs prepared beforehand), all utterances."""
    inputs = [adapter.model_inputs(w) for w in waveforms]
    with torch.inference_mode():
        adapter.module(**inputs[0], output_hidden_states=True)  # warm-up
        started = time.perf_counter()
        for model_input in inputs:
            adapter.module(**model_input, output_hidden_states=True)
    return time.perf_counter() - started


def extraction_seconds(manifest, adapter, out: Path) -> tuple[float, object]:
    from layerprobe.extraction import extract

    adapter.forward(np.zeros(16000, dtype=np.float32))  # the same warm-up as the bare forward had
    started = time.perf_counter()
    report = extract(manifest, adapter, out, rep="contextualized", overwrite=True, progress=False)
    return time.perf_counter() - started, report


def peak_memory_child(manifest_path: Path, model: str, n_utterances: int, out: Path) -> float:
    """Peak RSS (MiB) of a fresh process extracting ``n_utterances`` of the sample, longest first."""
    code = f"""
import resource
from layerprobe.data.samples import read_manifest
from layerprobe.extraction import extract
from layerprobe.models import load_model
from dataclasses import replace
m = read_manifest({str(manifest_path)!r})
# longest first: every prefix holds the longest utterance, so activation memory is the same and
# any growth comes from the number of utterances
m = replace(m, utterances=tuple(sorted(m.utterances, key=lambda u: -u.duration_s))[:{n_utterances}])
extract(m, load_model({model!r}), {str(out)!r}, rep="contextualized", overwrite=True, progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="Least speech in the sample.")
    parser.add_argument("--model", default="tiny:wav2vec2-base", help="Model spec (base-size random wav2vec 2.0).")
    parser.add_argument("--work", type=Path, default=None, help="Working directory (a temporary one by default).")
    parser.add_argument("--json", type=Path, default=None, help="Write the figures here too.")
    args = parser.parse_args()

    from layerprobe.io.audio import load_audio
    from layerprobe.models import load_model

    torch.set_num_threads(torch.get_num_threads())
    work = args.work or Path(tempfile.mkdtemp(prefix="layerprobe-bench-"))
    manifest, path = build_sample(work, args.seconds)
    audio_seconds = sum(u.duration_s for u in manifest.utterances)
    adapter = load_model(args.model)
    waveforms = [load_audio(manifest.audio_path(u)) for u in manifest.utterances]

    bare = bare_forward_seconds(adapter, waveforms)
    full, report = extraction_seconds(manifest, adapter, work / "features")
    store_mb = report.path.stat().st_size / 2**20
    overhead = (full - bare) / bare

    sizes = sorted({max(1, len(manifest.utterances) // 4), len(manifest.utterances) // 2, len(manifest.utterances)})
    memory = {n: peak_memory_child(path, args.model, n, work / f"mem{n}") for n in sizes}

    figures = {
        "model": args.model,
        "utterances": len(manifest.utterances),
        "audio_seconds": round(audio_seconds, 1),
        "threads": torch.get_num_threads(),
        "bare_forward_s": round(bare, 2),
        "extraction_s": round(full, 2),
        "overhead_percent": round(100 * overhead, 1),
        "store_mib": round(store_mb, 1),
        "peak_rss_mib_by_utterances": {str(n): round(v, 1) for n, v in memory.items()},
        "this_process_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(figures, indent=2))
    print(
        f"\n{len(manifest.utterances)} utterances, {audio_seconds:.1f} s of audio, {args.model}, all T layers, frame span:\n"
        f"  bare forward  {bare:7.2f} s\n  extraction    {full:7.2f} s   overhead {100 * overhead:+.1f} %  (target < 10 %)\n"
        f"  store         {store_mb:7.1f} MiB\n"
        + "".join(f"  peak RSS with {n:3d} utterances: {v:7.1f} MiB\n" for n, v in memory.items())
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
