#!/usr/bin/env python
"""Audiate a few units of an early and a late block of the real Whisper base encoder, into a gallery.

For each layer (``--layers``, default T1 and T6) the units (``--units``) are optimised together as
one batch with the library defaults (unit mode, middle frame, neighbour and silence terms, a quarter
frame of shift and 5 % noise), unless options say otherwise; each unit is written as WAV + JSON +
spectrogram PNG and all of them into ``OUT/index.html``.  A table of activation figures is printed
(initial signal, final signal, white noise of the same RMS, the unit at the neighbouring frames,
the share of energy outside the target frame) with the seconds per optimisation step, and saved
as ``OUT/figures.json``.

Whisper's encoder always runs on 30 s of (padded) input, so a step costs a full 30 s forward and
backward pass up to the layer: on 2 CPU cores about 1-2 s for T1 and 4-6 s for T6 per unit.

Usage::

    python scripts/audiate_whisper_base.py --out whisper_gallery [--model-dir ../shared/models/whisper-base]
        [--layers T1,T6] [--units 0,1,2] [--steps 100] [--seconds 1.0] [--seed 0] [--lr 0.05] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from layerprobe.audiation import audiate_units, parse_units, write_audiation, write_gallery
from layerprobe.models import load_model

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for the WAVs, sidecars, PNGs and index.html.")
    parser.add_argument("--model-dir", type=Path, default=REPO.parent / "shared" / "models" / "whisper-base")
    parser.add_argument("--layers", default="T1,T6", help="Comma-separated layers (default T1,T6).")
    parser.add_argument("--units", default="0,1,2", help="Units of each layer, e.g. 0-3 (default 0,1,2).")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--mode", default="unit", choices=("unit", "channel"))
    parser.add_argument("--regularizer", default=None, choices=("tv", "highfreq"))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    adapter = load_model(f"hf:{args.model_dir}", device=args.device)
    units = parse_units(args.units)
    sidecars, figures = [], []
    header = f"{'layer':>5} {'unit':>4} {'initial':>8} {'final':>8} {'noise':>8} {'neighb.':>8} {'outside':>7} {'s/step':>6}"
    print(header)
    for layer in [part.strip() for part in args.layers.split(",") if part.strip()]:
        started = time.perf_counter()
        results = audiate_units(adapter, layer, units, batch_size=len(units), steps=args.steps, seconds=args.seconds,
                                seed=args.seed, lr=args.lr, mode=args.mode, regularizer=args.regularizer, progress=True)  # fmt: skip
        per_step = (time.perf_counter() - started) / args.steps
        for result in results:
            files = write_audiation(result, args.out / f"{layer}_unit{result.unit:04d}.wav")
            sidecars.append(files.sidecar)
            row = {
                "layer": layer,
                "unit": result.unit,
                "initial": result.initial_activation,
                "final": result.final_activation,
                "noise": result.noise_activation,
                "neighbours": result.neighbour_activation,
                "outside_energy": result.outside_energy,
                "seconds_per_step_batch": per_step,
                "batch": len(units),
            }
            figures.append(row)
            neighbours = "" if result.neighbour_activation is None else f"{result.neighbour_activation:8.3f}"
            outside = "" if result.outside_energy is None else f"{result.outside_energy:7.2f}"
            print(f"{layer:>5} {result.unit:>4} {result.initial_activation:8.3f} {result.final_activation:8.3f} "
                  f"{result.noise_activation:8.3f} {neighbours:>8} {outside:>7} {per_step:6.2f}", flush=True)  # fmt: skip
    page = write_gallery(sidecars, args.out / "index.html", title=f"Whisper base ({args.model_dir.name}): audiated units")
    (args.out / "figures.json").write_text(json.dumps({"settings": vars(args) | {"out": str(args.out), "model_dir": str(args.model_dir)},
                                                       "figures": figures}, indent=1) + "\n")  # fmt: skip
    print(f"gallery -> {page}")


if __name__ == "__main__":
    main()
