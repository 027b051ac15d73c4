"""`corpus synth` killed: the next run removes the partial folder it left (and only folders of gone processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import re
import socket
import time


def _host() -> str:
    """The host field of partial folders' names (as layerprobe.data.synth writes it)."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def _layerprobe(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerprobe", *argv], capture_output=True, text=True, timeout=300)


def test_a_killed_synth_leaves_a_partial_folder_that_the_next_run_removes(tmp_path):
    out = tmp_path / "synth"
    process = subprocess.Popen([sys.executable, "-m", "layerprobe", "corpus", "synth", "--out", os.fspath(out), "--n", "5000",
                                "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 1800  # a hang guard only: the wait ends on the event below
        partial = []
        while not partial and process.poll() is None and time.monotonic() < deadline:
            # wait for the first written utterance (an event, not a time): the run is in the middle
            partial = [p for p in tmp_path.glob(".synth.partial-*") if list(p.rglob("*.wav"))]
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL and len(partial) == 1
    assert partial[0].name.startswith(f".synth.partial-{_host()}-{process.pid}-")
    # a run in progress (this test's own pid stands for one) and a folder of an older version are kept
    alive = tmp_path / f".synth.partial-{_host()}-{os.getpid()}-abc123"
    legacy = tmp_path / ".synth.partial-k2j4h5"
    alive.mkdir()
    legacy.mkdir()
    done = _layerprobe("corpus", "synth", "--out", os.fspath(out), "--n", "3", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"removed 1 partial folder(s) that killed runs left: {partial[0].name}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, legacy.name, "synth"])


def test_an_absurd_size_is_refused_at_once():
    failed = _layerprobe("corpus", "synth", "--out", "/nonexistent-dir/synth", "--n", "1000000000", "--no-progress")
    assert failed.returncode == 1
    assert failed.stderr == (
        "layerprobe: error: --n 1000000000 is more than the synthesized corpus allows (1000000: ~1000 h of speech, "
        "~120.0 GB); make several corpora with different seeds instead\n"
    )
    # a refusal before any planning: the run's 300 s timeout (in _layerprobe) guards against minutes of it
