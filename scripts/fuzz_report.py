#!/usr/bin/env python
"""Run the fuzz suite with a larger budget and print what each target was given and how it answered.

    python scripts/fuzz_report.py                      # 500 examples per target, a random seed
    python scripts/fuzz_report.py --examples 100 --seed 7 --json fuzz.json
    python scripts/fuzz_report.py -- -k "audio or store"   # extra arguments go to pytest

It runs ``pytest tests/fuzz`` (all markers, heavy included) with ``LAYERPROBE_FUZZ_EXAMPLES`` and
``LAYERPROBE_FUZZ_SEED`` set, collects the ledger the suite writes to ``LAYERPROBE_FUZZ_REPORT`` and
prints one row per target: inputs tried, how many were refused (a LayerprobeError, or a one-line
error and a non-zero exit on the command line), how many were accepted (valid after all, checked
against what the reader promises), and the failures found.  Its exit status is pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def format_table(report: dict) -> str:
    """The ledger as a text table, sorted by target, with a total row."""
    rows = [(name, c["examples"], c["refused"], c["accepted"], c["failures"]) for name, c in sorted(report["targets"].items())]
    totals = report.get("totals", {})
    rows.append(("total", totals.get("examples", 0), totals.get("refused", 0), totals.get("accepted", 0), totals.get("failures", 0)))
    width = max(len("target"), *(len(row[0]) for row in rows))
    header = f"{'target':<{width}}  {'tried':>7}  {'refused':>7}  {'accepted':>8}  {'failures':>8}"
    lines = [header, "-" * len(header)]
    for index, (name, tried, refused, accepted, failures) in enumerate(rows):
        if index == len(rows) - 1:
            lines.append("-" * len(header))
        lines.append(f"{name:<{width}}  {tried:>7}  {refused:>7}  {accepted:>8}  {failures:>8}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=500, help="examples per target (default 500)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the inputs (default: a random one, printed)")
    parser.add_argument("--json", type=Path, default=None, help="also keep the ledger as JSON here")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    options = parser.parse_args(argv)
    if options.examples < 1:
        parser.error("--examples must be positive")
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    with tempfile.TemporaryDirectory() as scratch:
        report_path = Path(options.json or Path(scratch) / "fuzz.json").resolve()
        env = {**os.environ, "LAYERPROBE_FUZZ_EXAMPLES": str(options.examples), "LAYERPROBE_FUZZ_SEED": str(seed),
               "LAYERPROBE_FUZZ_REPORT": str(report_path)}  # fmt: skip
        command = [sys.executable, "-m", "pytest", "tests/fuzz", "-m", "", "-q", "-p", "no:cacheprovider", *options.pytest_args]
        print(f"fuzz: {options.examples} examples per target, seed {seed}: {' '.join(command[2:])}", flush=True)
        started = time.perf_counter()
        status = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        elapsed = time.perf_counter() - started
        if not report_path.is_file():
            print("fuzz: the suite wrote no report (did it collect any fuzz test?)", file=sys.stderr)
            return status or 1
        report = json.loads(report_path.read_text())
    print()
    print(format_table(report))
    print(f"\nseed {seed}, {options.examples} examples per target, {elapsed / 60:.1f} min, pytest exit status {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())
