"""The audiation gallery's layout holds at 1000-2000 px: in a real headless Chromium, every card's
contents (tables, images, players) lie inside the card, cards do not overlap, and the grid has as many
columns as fit (skipped where no Chromium is installed)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from layerprobe.audiation.gallery import write_gallery
from support.browser import headless_chromium, open_page

#: Viewport widths the page must hold at, and the grid columns expected at each.
WIDTHS = {1000: 2, 1300: 2, 2000: 4}


def _entry(folder, unit: int) -> dict:
    """A sidecar as read_audiation returns it, with a real WAV, PNG and three example clips in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    stem = f"T2_unit{unit:04d}"
    soundfile.write(folder / f"{stem}.wav", np.zeros(6400, dtype=np.float32), 16000)
    figure = Figure(figsize=(5.0, 3.4))
    figure.subplots().plot([0, 1], [0, 1])
    figure.savefig(folder / f"{stem}.png", dpi=100)
    (folder / f"{stem}_examples").mkdir()
    examples = []
    for rank in (1, 2, 3):
        clip = f"{stem}_examples/{rank}.wav"
        soundfile.write(folder / clip, np.zeros(8000, dtype=np.float32), 16000)
        examples.append({"rank": rank, "utt_id": f"librispeech-test-clean-1089-134686-00{rank:02d}-a-very-long-utterance-id",
                         "time_s": 1.23 * rank, "phone": "AH0", "word": "extraordinarily", "activation": 12.3456 / rank,
                         "clip": clip})  # fmt: skip
    return {"path": str(folder / f"{stem}.json"), "files": {"wav": f"{stem}.wav", "png": f"{stem}.png"},
            "model": "hf:/models/wav2vec2-base", "layer": "T2", "unit": unit, "mode": "unit", "frame": 10,
            "initial_activation": 0.1, "final_activation": 3.2, "noise_activation": 0.05, "neighbour_activation": 0.4,
            "activations": list(np.linspace(0, 3.2, 20)), "settings": {"steps": 20, "seconds": 0.4},
            "examples": examples}  # fmt: skip


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gallery_layout")
    return write_gallery([_entry(folder, unit) for unit in range(5)], folder / "index.html")


_BOXES = """
const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
return Array.from(document.querySelectorAll('section.lp-unit')).map((card) => ({
  card: box(card),
  parts: Array.from(card.querySelectorAll('h2, img, audio, table, td, th, svg, summary')).map((e) => [e.tagName, box(e)]),
}));
"""


def test_the_gallery_holds_from_1000_to_2000_px(gallery, tmp_path):
    driver = headless_chromium()
    try:
        for width, columns in WIDTHS.items():
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": width, "height": 1400, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
            open_page(driver, gallery)
            assert driver.execute_script("return document.documentElement.clientWidth") <= width
            cards = driver.execute_script(_BOXES)
            assert len(cards) == 5
            # as many columns as fit, no horizontal scrolling
            assert len({round(card["card"][0]) for card in cards}) == columns
            assert driver.execute_script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
            for card in cards:
                left, top, right, bottom = card["card"]
                for tag, (a, b, c, d) in card["parts"]:
                    assert left - 0.5 <= a and c <= right + 0.5 and top - 0.5 <= b and d <= bottom + 0.5, (width, tag)
            for i, first in enumerate(cards):  # no two cards overlap
                for second in cards[i + 1:]:
                    a, b = first["card"], second["card"]
                    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (width, a, b)
            players = driver.execute_script("return Array.from(document.querySelectorAll('table.lp-examples audio'))"
                                            ".map((a) => a.getBoundingClientRect().width)")  # fmt: skip
            assert len(players) == 15 and min(players) > 150  # full-width players, not squeezed into a column
            driver.save_screenshot(str(tmp_path / f"gallery_{width}.png"))
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()
