"""The attention viewer: a self-contained page whose data decode back to the store, the phone matrix,
the PNG export, and the page driven in a real headless Chromium (skipped where none is installed)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from layerprobe.attention.view import (
    decode_map,
    phone_matrix,
    plot_attention_map,
    read_viewer_data,
    render_png,
    write_viewer,
)
from layerprobe.data.corpora import open_corpus
from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
from layerprobe.data.synth import synthesize_corpus
from layerprobe.extraction import extract
from layerprobe.io.alignments import Alignment, Interval
from layerprobe.io.store import FeatureStore
from layerprobe.models import load_model
from support.browser import headless_chromium, open_page



@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A synthesized corpus, its frame sample manifest and a store with maps and logits of 3 utterances."""
    base = tmp_path_factory.mktemp("viewer")
    synthesize_corpus(base / "synth", n=8, seed=3, progress=False)
    corpus = open_corpus(base / "synth")
    manifest = draw_sample(corpus, "train", span="frame", rule=SamplingRule.default("frame", "train"), progress=False)
    samples_dir = base / "ds"
    path = manifest_path(samples_dir, corpus.name, "train", "frame", 1)
    write_manifest(manifest, path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        report = extract(manifest, load_model("tiny:wav2vec2"), base / "features", rep="contextualized", attention=3,
                         pre_softmax=True, progress=False, manifest_path=path)  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return {"store": report.path, "samples_dir": samples_dir, "manifest": path, "base": base}


@pytest.fixture(scope="module")
def page(sample):
    return write_viewer(sample["store"], sample["base"] / "page.html", samples_dir=sample["samples_dir"])


def test_page_is_self_contained(page):
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"https?://", text)
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)
    data = read_viewer_data(page)
    assert data["has_alignment"] and data["has_logits"] and data["note"] == ""
    assert data["layers"] == ["T1", "T2", "T3"]


def test_embedded_maps_decode_to_the_stored_maps(page, sample):
    data = read_viewer_data(page)
    with FeatureStore.open(sample["store"]) as store:
        assert [u["id"] for u in data["utterances"]] == store.utterance_ids[:3]
        for entry in data["utterances"]:
            for layer in data["layers"]:
                for logits, key in ((False, "maps"), (True, "logits")):
                    stored = store.attention(entry["id"], layer, logits=logits)
                    shape = (entry["heads"], entry["T"], entry["T"])
                    decoded = decode_map(entry[key][layer], shape)
                    assert decoded.shape == stored.shape
                    per_head = stored.reshape(shape[0], -1)
                    step = per_head.max(axis=1) - (0 if not logits else per_head.min(axis=1))
                    err = np.abs(decoded - stored).reshape(shape[0], -1).max(axis=1)
                    assert np.all(err <= step / 510 * 1.001 + 1e-6)
            assert entry["phones"] and entry["words"]


def test_page_without_alignments_says_so(sample, tmp_path):
    out = write_viewer(sample["store"], tmp_path / "bare.html", utterances=1, samples_dir=tmp_path / "nowhere")
    data = read_viewer_data(out)
    assert not data["has_alignment"] and data["phone_matrix"] == {}
    assert data["note"].startswith("No alignment available") and "Placeholder tiers (200 ms windows in 40 ms pieces)" in data["note"]
    assert data["utterances"][0]["tiers"] == "placeholder" and len(data["utterances"]) == 1


class _HandStore:
    frame_rate_hz = 10.0

    def __init__(self, maps):
        self.maps = maps

    def attention(self, utt_id, layer, logits=False):
        return self.maps.get(utt_id)


def test_phone_matrix_on_a_hand_built_map():
    # 4 frames at 10 Hz: centres 0.05, 0.15, 0.25, 0.35 -> AA, AA, (silence), B
    alignment = Alignment("u", 0.4, phones=(Interval(0.0, 0.2, "AA1"), Interval(0.2, 0.3, "sil"), Interval(0.3, 0.4, "B")))
    head0 = np.array([[0.5, 0.2, 0.2, 0.1], [0.1, 0.1, 0.4, 0.4], [0.25, 0.25, 0.25, 0.25], [0.0, 0.6, 0.0, 0.4]])
    head1 = np.array([[0.3, 0.3, 0.0, 0.4], [0.3, 0.3, 0.2, 0.2], [0.25, 0.25, 0.25, 0.25], [0.2, 0.2, 0.2, 0.4]])
    store = _HandStore({"u": np.stack([head0, head1]).astype(np.float32)})
    labels, matrix = phone_matrix(store, "T1", {"u": alignment, "missing": alignment})
    assert labels == ["AA", "B"]
    avg = (head0 + head1) / 2
    # P[a, b] = sum of query rows of a over key columns of b / number of query frames of a
    p = np.array([[avg[:2, :2].sum() / 2, avg[:2, 3].sum() / 2], [avg[3, :2].sum(), avg[3, 3]]])
    expected = p / p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(matrix, expected, atol=1e-6)
    # by hand: AA -> AA: (0.4+0.25+0.3+0.3)... rows of AA: mass on AA keys 0.5+0.2+0.1+0.1 (head0) and 0.3+0.3+0.3+0.3 (head1)
    assert matrix[0, 0] == pytest.approx((0.9 + 1.2) / 2 / ((0.9 + 1.2) / 2 + (0.5 + 0.6) / 2))
    labels1, matrix1 = phone_matrix(store, "T1", {"u": alignment}, head=1)
    assert matrix1[1, 1] == pytest.approx(0.4 / 0.8)


def test_render_png_and_plot_attention_map(sample, tmp_path):
    out = render_png(sample["store"], "synth-00001", "T3", head="avg", out=tmp_path / "fig.png", samples_dir=sample["samples_dir"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    head = render_png(sample["store"], "synth-00001", "T2", head=1, out=tmp_path / "head.png", logits=True)
    assert head.is_file()
    import matplotlib.pyplot as plt

    ax = plot_attention_map(np.eye(5))
    assert ax.get_images()[0].get_array().shape == (5, 5)
    plt.close(ax.figure)


# --------------------------------------------------------------------------------------------------
# A real browser


def test_the_page_in_headless_chromium(page):
    driver = headless_chromium()
    try:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        open_page(driver, page)
        canvas = driver.find_element(By.ID, "lp-map")

        def state():
            return canvas.get_attribute("data-checksum"), driver.execute_script("return arguments[0].toDataURL()", canvas)

        first = state()
        assert first[0] not in (None, "none")
        seen = {first}
        Select(driver.find_element(By.ID, "lp-utt")).select_by_index(1)
        seen.add(state())
        Select(driver.find_element(By.ID, "lp-layer")).select_by_value("T3")
        seen.add(state())
        Select(driver.find_element(By.ID, "lp-head")).select_by_value("2")
        seen.add(state())
        assert len(seen) == 4 and len({s[1] for s in seen}) == 4
        softmax = driver.find_element(By.ID, "lp-softmax")
        assert softmax.is_enabled()
        before = state()
        softmax.click()
        assert state() != before and float(canvas.get_attribute("data-min")) < 0  # logits go negative
        softmax.click()
        assert state() == before
        words = Select(driver.find_element(By.ID, "lp-to"))
        words.select_by_index(2)
        n_frames = driver.execute_script("return JSON.parse(document.getElementById('lp-data').textContent).stores[0].utterances[1].T")
        zoomed = canvas.get_attribute("data-range")
        first_frame, end_frame = map(int, zoomed.split("-"))
        assert 0 < first_frame < end_frame < n_frames
        driver.find_element(By.ID, "lp-reset").click()
        assert canvas.get_attribute("data-range") == f"0-{n_frames}"
        words.select_by_index(4)
        assert driver.find_element(By.ID, "lp-matrix").get_attribute("data-checksum") not in (None, "none")
        # hover read-out
        driver.execute_script(
            "const c = arguments[0], r = c.getBoundingClientRect();"
            "c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width * 0.5, clientY: r.top + r.height * 0.6}));",
            canvas,
        )
        hover = driver.find_element(By.ID, "lp-hover").text
        assert "query frame" in hover and "key" in hover and "phone" in hover
        driver.save_screenshot("/tmp/attention_viewer.png")
        severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert severe == []
    finally:
        driver.quit()
