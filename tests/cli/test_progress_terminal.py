"""Progress bars leave the terminal clean: ``probe``'s per-layer lines and log messages printed while its bars
are shown each stand on a line of their own, and no bar is left on screen (issue 20).

The command runs in a pseudo-terminal (so that tqdm draws, as for a user) with the training faked
by nested tqdm bars of the real layer bar; the screen is the replay of the bytes it wrote.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

pytest.importorskip("pty")

from support.terminal import Screen, run_in_terminal  # noqa: E402

#: The probe command with run_probe replaced by the real layer bar over three layers, each with two
#: nested epoch bars (as the trainer draws them) and a warning logged while the bars are shown.
FAKE_PROBE = textwrap.dedent(
    """
    import logging, sys
    from types import SimpleNamespace
    from tqdm.auto import tqdm
    import layerprobe.experiments.probe as probe
    from layerprobe.experiments.progress import layer_progress

    def fake_run_probe(*, progress, on_layer, **_):
        results = []
        for layer in layer_progress(["T0", "T1", "T2"], progress=progress, what="probe"):
            for epoch in range(2):
                for _ in tqdm(range(4), desc=f"epoch {epoch + 1}/2", unit="batch", leave=False):
                    pass
            if layer == "T1":
                logging.getLogger("layerprobe.experiments.probe").warning("probe T1: a warning while the bars are shown")
            result = SimpleNamespace(layer=layer, test_metrics={"wer": 0.5, "cer": 0.25}, untrained_metrics={},
                                     best_epoch=2, epochs_done=2, throughput=100.0)
            on_layer(result)
            results.append(result)
        return results

    probe.run_probe = fake_run_probe
    from layerprobe.cli import main
    main(["probe", "--corpus", "synth", "--layers", "T0-T2", "--out", sys.argv[1]])
    """
)


def test_probe_on_a_terminal_prints_whole_lines_and_leaves_no_bar(tmp_path):
    script = tmp_path / "fake_probe.py"
    script.write_text(FAKE_PROBE, encoding="utf-8")
    status, screen = run_in_terminal([sys.executable, str(script), str(tmp_path / "probe.csv")], width=100)
    assert status == 0, screen
    line = "WER 0.500, CER 0.250 (best epoch 2 of 2; 100 s of audio per s)"
    assert screen == [
        f"probe T0: {line}",
        "layerprobe: probe T1: a warning while the bars are shown",
        f"probe T1: {line}",
        f"probe T2: {line}",
        f"3 layers -> {tmp_path / 'probe.csv'}",
    ]


def test_the_screen_replays_what_bars_write():
    """The replay itself: a bar redrawn with \\r, a nested one up and down, erased lines, wrapping."""
    screen = Screen(width=10)
    screen.feed(b"bar 1\rbar 22\n\x1b[Ainner\x1b[K\n")
    assert screen.text() == ["inner"]
    screen = Screen(width=4)
    screen.feed(b"abcdef\r\n")
    assert screen.text() == ["abcd", "ef"]
