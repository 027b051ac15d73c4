#!/usr/bin/env python
"""Benchmark: peak memory of long-audio paths (a 10-minute and a 2-hour synthetic recording).

Each case runs ``python -m layerprobe ...`` in a fresh child process and reports the child's peak
resident memory (``ru_maxrss`` from ``os.wait4``) and wall time; refusals (exit 1) are reported with
their one-line message.  The recordings are noise plus tones (16 kHz, 16-bit WAV) in a frame-span
data-sample set of one utterance each.  Cases:

* ``extract --rep mel`` (log-mel in 10 s blocks);
* ``extract --model tiny:wav2vec2 --rep contextualized`` (10 min with ``--max-seconds 0`` and 1 min:
  the per-second slope; 2 h: refused by the default ``--max-seconds 120``);
* ``extract --model tiny:whisper --rep contextualized --window-seconds 30`` (30 s windows; the 2 h
  file is refused by ``--max-seconds 120`` and run again with ``--max-seconds 0``);
* ``attention maps --model tiny:wav2vec2`` (10 min: refused by the default ``--max-frames 2000``;
  40 s = 1999 frames: the maps' real peak, against the same extraction without maps, and
  ``heads x T^2 x 14`` bytes);
* with ``--base``, also ``tiny:wav2vec2-base`` (12 blocks, 768-d; T and C layers) on 30 s and 60 s:
  the slope of a base-size model.

Usage::

    python scripts/bench_long_audio.py [--work DIR] [--base] [--json out.json] [--skip-2h]

The 2-hour cases need ~0.3 GB of disk for the WAV and ~1 GB of memory; on 2 shared cores the whole
run takes a few minutes (without ``--base``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SR = 16_000


def write_recording(path: Path, seconds: float, seed: int = 0) -> None:
    """Noise plus two slow tones, written in 60 s blocks (the 2 h file never sits in memory whole)."""
    import soundfile as sf

    if path.exists():
        return
    rng = np.random.default_rng(seed)
    total = int(seconds * SR)
    tmp = path.with_suffix(".tmp.wav")
    with sf.SoundFile(tmp, "w", samplerate=SR, channels=1, subtype="PCM_16") as out:
        for start in range(0, total, 60 * SR):
            n = min(60 * SR, total - start)
            t = (start + np.arange(n)) / SR
            block = 0.05 * rng.standard_normal(n) + 0.2 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.1 * t)
            out.write(block.astype(np.float32))
    tmp.rename(path)


def write_sample(work: Path, name: str, seconds: float) -> None:
    """A one-utterance frame-span manifest ``<work>/samples/<name>/train_frame_sample1.json``."""
    from layerprobe.data.samples import SampledUtterance, SampleManifest, SamplingRule, manifest_path, write_manifest

    corpus = work / "audio"
    corpus.mkdir(parents=True, exist_ok=True)
    write_recording(corpus / f"{name}.wav", seconds)
    manifest = SampleManifest(
        corpus={"name": name, "format": "folder", "root": str(corpus), "alignments": None}, split="train", span="frame",
        sample=1, seed=0, rule=SamplingRule.default("frame", "train"), labels=(),
        utterances=(SampledUtterance(name, f"{name}.wav", None, seconds),), summary={},
    )  # fmt: skip
    write_manifest(manifest, manifest_path(work / "samples", name, "train", "frame", 1), overwrite=True)


ONLY: str | None = None


def run_case(work: Path, label: str, argv: list[str]) -> dict | None:
    """Run one command in a child process; its peak RSS (MB), wall seconds, exit status and last line."""
    if ONLY is not None and ONLY not in label:
        return None
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log = work / "logs" / f"{label.replace(' ', '_').replace('/', '-')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "w") as sink:
        child = subprocess.Popen([sys.executable, "-m", "layerprobe", *argv], stdout=sink, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    row = {
        "case": label,
        "exit": os.waitstatus_to_exitcode(status),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "wall_s": round(wall, 1),
        "last_line": lines[-1][:300] if lines else "",
    }
    print(f"{label:58s} exit {row['exit']}  peak RSS {row['peak_rss_mb']:8.1f} MB  {row['wall_s']:7.1f} s", flush=True)
    if row["exit"] != 0:
        print(f"    {row['last_line']}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=None, help="Working directory (default: a temporary one).")
    parser.add_argument("--base", action="store_true", help="Also measure tiny:wav2vec2-base on 30 s and 60 s.")
    parser.add_argument("--skip-2h", action="store_true", help="Leave out the 2-hour recording.")
    parser.add_argument("--json", type=Path, default=None, help="Write the rows as JSON here.")
    parser.add_argument("--only", default=None, help="Run only the cases whose label contains this text.")
    args = parser.parse_args()
    global ONLY
    ONLY = args.only
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_long_audio_"))
    lengths = {"s40": 40.0, "m1": 60.0, "m10": 600.0}
    if args.base:
        lengths["s30"] = 30.0
    if not args.skip_2h:
        lengths["h2"] = 7200.0
    for name, seconds in lengths.items():
        write_sample(work, name, seconds)

    def common(name: str, out: str) -> list[str]:
        return ["--corpus", name, "--split", "train", "--samples-dir", str(work / "samples"), "--out", str(work / out),
                "--no-progress", "--overwrite"]  # fmt: skip

    def extract(name: str, *more: str) -> list[str]:
        return ["extract", "--span", "frame", *common(name, "features"), *more]

    rows = []
    long_ones = [name for name in ("m10", "h2") if name in lengths]
    label = {"m10": "10 min", "h2": "2 h", "m1": "1 min", "s40": "40 s", "s30": "30 s"}
    for name in long_ones:
        rows.append(run_case(work, f"extract mel {label[name]}", extract(name, "--rep", "mel")))
    # 10 min is over the default --max-seconds 120: measured with --max-seconds 0 (no limit)
    lift = {"m10": ["--max-seconds", "0"]}
    for name in ["m1", *long_ones]:
        rows.append(run_case(work, f"extract tiny:wav2vec2 T {label[name]} {' '.join(lift.get(name, []))}",
                             extract(name, "--model", "tiny:wav2vec2", "--rep", "contextualized", *lift.get(name, []))))  # fmt: skip
    for name in long_ones:
        rows.append(run_case(work, f"extract tiny:whisper T --window-seconds 30 {label[name]} {' '.join(lift.get(name, []))}",
                             extract(name, "--model", "tiny:whisper", "--rep", "contextualized", "--window-seconds", "30",
                                     *lift.get(name, []))))  # fmt: skip
    if "h2" in lengths:
        rows.append(run_case(work, "extract tiny:whisper T --window-seconds 30 --max-seconds 0 2 h",
                             extract("h2", "--model", "tiny:whisper", "--rep", "contextualized", "--window-seconds", "30",
                                     "--max-seconds", "0")))  # fmt: skip
    rows.append(run_case(work, "extract tiny:wav2vec2 T 40 s", extract("s40", "--model", "tiny:wav2vec2", "--rep", "contextualized")))
    for name in ["s40", *long_ones]:
        rows.append(run_case(work, f"attention maps tiny:wav2vec2 {label[name]}",
                             ["attention", "maps", "--model", "tiny:wav2vec2", *common(name, "attention")]))  # fmt: skip
    rows.append(run_case(work, "baseline: python -m layerprobe --version", ["--version"]))
    if args.base:
        for rep, short in (("contextualized", "T"), ("local", "C")):
            for name in ("s30", "m1"):
                rows.append(run_case(work, f"extract tiny:wav2vec2-base {short} {label[name]}",
                                     extract(name, "--model", "tiny:wav2vec2-base", "--rep", rep)))  # fmt: skip
    if args.json:
        rows = [row for row in rows if row is not None]
        args.json.write_text(json.dumps({"work": str(work), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
