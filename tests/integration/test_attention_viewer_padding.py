"""The attention viewer shows Whisper's padding mass: embedded per layer, head and query, and read out
on the page (under the map, and per query in the hover) in a real headless Chromium."""

from __future__ import annotations


import numpy as np
import pytest

from layerprobe.attention.view import read_viewer_data, write_viewer
from layerprobe.extraction import extract
from layerprobe.io.store import FeatureStore
from layerprobe.models import load_model
from support.browser import headless_chromium, open_page
from support.corpora import synth_frame_sample


@pytest.fixture(scope="module")
def pages(tmp_path_factory, one_thread):
    """Viewer pages of tiny:whisper (padded 30 s window) and tiny:wav2vec2 (no padding) maps of 2 utterances."""
    base = tmp_path_factory.mktemp("viewer_padding")
    manifest, path = synth_frame_sample(base, n=6, seed=3)
    out = {}
    for name in ("whisper", "wav2vec2"):
        report = extract(manifest, load_model(f"tiny:{name}"), base / "features", rep="contextualized", attention=2,
                         progress=False, manifest_path=path)  # fmt: skip
        out[name] = (report.path, write_viewer(report.path, base / f"{name}.html", samples_dir=base / "ds"))
    return out


def test_embedded_padding_is_the_stored_padding(pages):
    for name, (store_path, page) in pages.items():
        data = read_viewer_data(page)
        with FeatureStore.open(store_path) as store:
            for entry in data["utterances"]:
                assert sorted(entry["padding"]) == sorted(entry["maps"]) == data["layers"]
                for layer, rows in entry["padding"].items():
                    stored = store.attention_padding(entry["id"], layer)
                    assert np.asarray(rows).shape == stored.shape == (entry["heads"], entry["T"])
                    np.testing.assert_allclose(rows, stored, atol=5e-5)
                    assert (stored.min() > 0.01) if name == "whisper" else np.all(stored == 0)


def test_the_page_shows_the_padding_mass(pages):
    driver = headless_chromium()
    try:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        store_path, page = pages["whisper"]
        data = read_viewer_data(page)
        rows = np.asarray(data["utterances"][0]["padding"]["T2"], dtype=np.float64)
        open_page(driver, page)
        Select(driver.find_element(By.ID, "lp-layer")).select_by_value("T2")
        read_out = driver.find_element(By.ID, "lp-padding")
        assert float(read_out.get_attribute("data-value")) == pytest.approx(rows.mean(), abs=1e-6)
        percent = f"{100 * rows.mean():.1f}"
        assert read_out.text == (f"padding: {percent} % of the real queries' attention went to keys past the real audio "
                                 "(Whisper's 30 s window); the map's rows hold the rest, not renormalised")  # fmt: skip
        Select(driver.find_element(By.ID, "lp-head")).select_by_value("1")
        assert float(read_out.get_attribute("data-value")) == pytest.approx(rows[1].mean(), abs=1e-6)
        canvas = driver.find_element(By.ID, "lp-map")
        driver.execute_script(
            "const c = arguments[0], r = c.getBoundingClientRect();"
            "c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width * 0.5, clientY: r.top + r.height * 0.6}));",
            canvas,
        )
        hover = driver.find_element(By.ID, "lp-hover").text
        query = int(hover.split("query frame ")[1].split()[0])
        assert hover.endswith(f"(this query's padding mass {100 * rows[1][query]:.1f} %)")
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
        # a model without padding says so
        open_page(driver, pages["wav2vec2"][1])
        assert driver.find_element(By.ID, "lp-padding").text == "padding: 0.0 % (the model attends over the real frames only)"
    finally:
        driver.quit()
