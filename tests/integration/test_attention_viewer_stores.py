"""The attention viewer beyond STEVE: several stores side by side on one utterance and time range,
placeholder tiers for unaligned audio, the phone matrix grouped by articulatory class with a colour
scale, image interpolation and time-to-frame rounding; the page driven in a real headless Chromium
(skipped where none is installed)."""

from __future__ import annotations

import numpy as np
import pytest

from layerprobe.attention.articulation import FEATURES, GROUPINGS, PHONE_FEATURES, group_order, phone_group
from layerprobe.attention.view import phone_matrix, placeholder_tiers, read_viewer_data, write_viewer
from layerprobe.data.labels import ARPABET39
from layerprobe.errors import ConfigError
from layerprobe.extraction import extract
from layerprobe.io.alignments import Alignment, Interval
from layerprobe.models import load_model
from support.browser import headless_chromium, open_page
from support.corpora import synth_frame_sample


# --------------------------------------------------------------------------------------------------
# Without a browser


def test_every_phone_has_one_group_of_every_feature():
    assert set(PHONE_FEATURES) == set(ARPABET39) and GROUPINGS == ("phone", "manner", "place", "voicing", "height", "backness", "rounding")
    for phone, features in PHONE_FEATURES.items():
        for feature, groups in FEATURES.items():
            assert features[feature] in groups, (phone, feature)
    assert [phone_group(p, "manner") for p in ("AA", "B", "CH", "S", "M", "L", "W")] == [
        "vowel", "stop", "affricate", "fricative", "nasal", "liquid", "glide"]  # fmt: skip
    assert (phone_group("Z", "voicing"), phone_group("S", "voicing"), phone_group("IY", "voicing")) == ("voiced", "voiceless", "voiced")
    assert [phone_group("UW", f) for f in ("height", "backness", "rounding")] == ["high", "back", "rounded"]
    assert [phone_group("AE", f) for f in ("height", "backness", "rounding")] == ["low", "front", "unrounded"]
    assert phone_group("K", "rounding") == "consonant" and phone_group("TH", "place") == "dental"
    assert group_order("phone") == ARPABET39
    with pytest.raises(ConfigError, match=r"^unknown grouping 'colour'; choose one of phone, manner, place, voicing, height, backness, rounding$"):
        phone_group("AA", "colour")


class _HandStore:
    frame_rate_hz = 10.0

    def __init__(self, maps):
        self.maps = maps

    def attention(self, utt_id, layer, logits=False):
        return self.maps.get(utt_id)


def test_grouped_phone_matrix_pools_mass_and_query_frames_before_dividing():
    # 5 frames at 10 Hz, centres 0.05 .. 0.45: S, S, IY, Z, (silence)
    alignment = Alignment("u", 0.5, phones=(Interval(0.0, 0.2, "S"), Interval(0.2, 0.3, "IY1"), Interval(0.3, 0.4, "Z"),
                                            Interval(0.4, 0.5, "sil")))  # fmt: skip
    rows = np.array([[0.4, 0.3, 0.1, 0.1, 0.1], [0.2, 0.2, 0.2, 0.2, 0.2], [0.1, 0.1, 0.5, 0.2, 0.1],
                     [0.0, 0.3, 0.3, 0.4, 0.0], [0.2, 0.2, 0.2, 0.2, 0.2]])  # fmt: skip
    store = _HandStore({"u": rows[None].astype(np.float32)})
    labels, matrix = phone_matrix(store, "T1", {"u": alignment}, group="voicing")
    # voiced: IY (frame 2), Z (frame 3); voiceless: S (frames 0, 1)
    assert labels == ["voiced", "voiceless"]
    voiced = np.array([rows[2, 2] + rows[2, 3] + rows[3, 2] + rows[3, 3], rows[2, :2].sum() + rows[3, :2].sum()]) / 2
    voiceless = np.array([rows[:2, 2:4].sum(), rows[:2, :2].sum()]) / 2
    np.testing.assert_allclose(matrix, [voiced / voiced.sum(), voiceless / voiceless.sum()], atol=1e-6)
    labels, matrix = phone_matrix(store, "T1", {"u": alignment}, group="manner")
    # the vowel IY (frame 2) puts 0.5 on itself and 0.1 + 0.1 + 0.2 on the fricatives S, S, Z
    assert labels == ["vowel", "fricative"] and matrix[0, 0] == pytest.approx(0.5 / 0.9)
    labels, _ = phone_matrix(store, "T1", {"u": alignment}, group="height")
    assert labels == ["high", "consonant"]
    with pytest.raises(ConfigError, match=r"^grouping by place needs classes='arpabet39' \(raw labels have no articulatory features\)$"):
        phone_matrix(store, "T1", {"u": alignment}, classes=None, group="place")


def test_placeholder_tiers_are_200_ms_windows_in_40_ms_pieces():
    pieces, windows = placeholder_tiers(1.01)
    assert [w[:2] for w in windows] == [[0.0, 0.2], [0.2, 0.4], [0.4, 0.6], [0.6, 0.8], [0.8, 1.0], [1.0, 1.01]]
    assert [w[2] for w in windows] == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
    assert len(pieces) == 26 and pieces[1] == [0.04, 0.08, ""] and pieces[-1] == [1.0, 1.01, ""]
    with pytest.raises(ConfigError, match=r"^placeholder windows and pieces must be positive, got 0.2 and 0$"):
        placeholder_tiers(1.0, piece_s=0)


def test_page_phone_tiers_carry_the_39_classes_and_the_raw_labels():
    from layerprobe.attention.view import _intervals

    phones = (Interval(0.0, 0.1, "h#"), Interval(0.1, 0.2, "ix"), Interval(0.2, 0.25, "kcl"), Interval(0.25, 0.3, "AH0"))
    assert _intervals(phones, fold=True) == [[0.0, 0.1, "", "h#"], [0.1, 0.2, "IH", "ix"], [0.2, 0.25, "", "kcl"],
                                             [0.25, 0.3, "AH", "AH0"]]  # fmt: skip
    assert _intervals(phones[:1]) == [[0.0, 0.1, "h#"]]


# --------------------------------------------------------------------------------------------------
# Pages of real stores


@pytest.fixture(scope="module")
def stores(tmp_path_factory, one_thread):
    """Stores of tiny:wav2vec2 (3 utterances, with logits) and tiny:whisper (2 utterances, padded) of one frame sample."""
    base = tmp_path_factory.mktemp("viewer_stores")
    manifest, path = synth_frame_sample(base, n=6, seed=3)
    out = {"base": base, "samples_dir": base / "ds"}
    for name, count, logits in (("wav2vec2", 3, True), ("whisper", 2, False)):
        report = extract(manifest, load_model(f"tiny:{name}"), base / "features", rep="contextualized", attention=count,
                         pre_softmax=logits, progress=False, manifest_path=path)  # fmt: skip
        out[name] = report.path
    return out


@pytest.fixture(scope="module")
def two_page(stores):
    return write_viewer([stores["wav2vec2"], stores["whisper"]], stores["base"] / "two.html", samples_dir=stores["samples_dir"])


@pytest.fixture(scope="module")
def bare_page(stores):
    return write_viewer(stores["wav2vec2"], stores["base"] / "bare.html", utterances=2, samples_dir=stores["base"] / "nowhere")


def test_a_two_store_page_embeds_both_stores(two_page, stores):
    data = read_viewer_data(two_page)
    assert data["format"] == 2 and len(data["stores"]) == 2
    first, second = data["stores"]
    assert (first["model"], second["model"]) == ("tiny:wav2vec2", "tiny:whisper")
    assert [u["id"] for u in first["utterances"]] == ["synth-00000", "synth-00001", "synth-00002"]
    assert [u["id"] for u in second["utterances"]] == ["synth-00000", "synth-00001"]
    assert first["has_logits"] and not second["has_logits"]
    assert data["title"] == f"{first['title']} vs {second['title']}"
    # the top level also holds the first store's fields
    assert data["utterances"] == first["utterances"] and data["layers"] == first["layers"]
    for store in data["stores"]:
        groups = store["phone_matrix"]["T2"]["groups"]
        assert list(groups) == list(GROUPINGS) and groups["phone"]["labels"] == store["phone_matrix"]["T2"]["labels"]
        assert set(groups["voicing"]["labels"]) <= {"voiced", "voiceless"}
        assert all(u["tiers"] == "alignment" for u in store["utterances"])


def test_an_unaligned_page_has_placeholder_tiers(bare_page):
    data = read_viewer_data(bare_page)
    assert data["note"].startswith("No alignment available: manifest ") and data["note"].endswith(
        "Placeholder tiers (200 ms windows in 40 ms pieces) are drawn instead.")  # fmt: skip
    for entry in data["utterances"]:
        pieces, windows = placeholder_tiers(entry["duration"])
        assert entry["tiers"] == "placeholder" and entry["words"] == windows and entry["phones"] == pieces
        assert entry["duration"] == pytest.approx(entry["T"] / data["frame_rate_hz"])
    assert data["phone_matrix"] == {}


def _hover(driver, canvas, fx: float, fy: float) -> None:
    driver.execute_script(
        "const c = arguments[0], r = c.getBoundingClientRect();"
        "c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width * arguments[1], clientY: r.top + r.height * arguments[2]}));",
        canvas, fx, fy,
    )  # fmt: skip


def test_two_stores_side_by_side_in_headless_chromium(two_page, tmp_path):
    driver = headless_chromium(["--window-size=2000,1400"])
    try:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        open_page(driver, two_page)
        data = read_viewer_data(two_page)
        panels = driver.find_elements(By.CSS_SELECTOR, "section.lp-panel")
        assert len(panels) == 2 and panels[0].location["y"] == panels[1].location["y"]  # side by side
        assert panels[0].location["x"] < panels[1].location["x"]
        assert [p.find_element(By.CSS_SELECTOR, "h2").text for p in panels] == ["tiny wav2vec2", "tiny whisper"]
        left, right = driver.find_element(By.ID, "lp-map"), driver.find_element(By.ID, "lp-map-1")
        assert left.get_attribute("data-checksum") not in (None, "none") and right.get_attribute("data-checksum") not in (None, "none")
        T = data["stores"][0]["utterances"][0]["T"]
        assert left.get_attribute("data-range") == right.get_attribute("data-range") == f"0-{T}"
        # one time range for both: zoom to words 1..2 of the first utterance
        words = data["stores"][0]["utterances"][0]["words"]
        Select(driver.find_element(By.ID, "lp-from")).select_by_index(1)
        Select(driver.find_element(By.ID, "lp-to")).select_by_index(2)
        start, end = words[1][0], words[2][1]
        expected = f"{int(np.floor(round(start * 50, 6)))}-{int(np.ceil(round(end * 50, 6)))}"
        assert left.get_attribute("data-range") == right.get_attribute("data-range") == expected
        # frame centres: the frames whose centre lies in the range
        Select(driver.find_element(By.ID, "lp-rounding")).select_by_value("centres")
        centres = f"{int(np.ceil(round(start * 50 - 0.5, 6)))}-{int(np.ceil(round(end * 50 - 0.5, 6)))}"
        assert left.get_attribute("data-range") == right.get_attribute("data-range") == centres
        Select(driver.find_element(By.ID, "lp-rounding")).select_by_value("edges")
        # one utterance for both; a store without it says so
        Select(driver.find_element(By.ID, "lp-utt")).select_by_value("synth-00002")
        assert left.get_attribute("data-checksum") not in (None, "none") and right.get_attribute("data-checksum") == "none"
        assert driver.find_element(By.ID, "lp-panel-note-1").text == "this store holds no maps of synth-00002"
        Select(driver.find_element(By.ID, "lp-utt")).select_by_value("synth-00001")
        # each panel has its own layer and head, and its own padding read-out
        Select(driver.find_element(By.ID, "lp-layer-1")).select_by_value("T2")
        rows = np.asarray(data["stores"][1]["utterances"][1]["padding"]["T2"], dtype=np.float64)
        padding = driver.find_element(By.ID, "lp-padding-1")
        assert float(padding.get_attribute("data-value")) == pytest.approx(rows.mean(), abs=1e-6)
        assert padding.text.startswith(f"padding: {100 * rows.mean():.1f} % of the real queries' attention went to keys past")
        assert driver.find_element(By.ID, "lp-padding").text == "padding: 0.0 % (the model attends over the real frames only)"
        _hover(driver, right, 0.5, 0.6)
        hover = driver.find_element(By.ID, "lp-hover-1").text
        query = int(hover.split("query frame ")[1].split()[0])
        assert hover.endswith(f"(this query's padding mass {100 * rows[:, query].mean():.1f} %)")
        # softmax off: the store with logits shows logits, the other says it has none
        driver.find_element(By.ID, "lp-softmax").click()
        assert float(left.get_attribute("data-min")) < 0
        assert driver.find_element(By.ID, "lp-map-scale").get_attribute("data-label") == "attention logit"
        assert driver.find_element(By.ID, "lp-panel-note-1").text == "this store holds no logits: attention weights shown"
        assert driver.find_element(By.ID, "lp-map-scale-1").get_attribute("data-label") == "attention weight"
        driver.find_element(By.ID, "lp-softmax").click()
        # interpolation: the same data drawn smooth gives other pixels
        before = driver.execute_script("return arguments[0].toDataURL()", left)
        Select(driver.find_element(By.ID, "lp-interp")).select_by_value("smooth")
        assert left.get_attribute("data-interpolation") == right.get_attribute("data-interpolation") == "smooth"
        assert driver.execute_script("return arguments[0].toDataURL()", left) != before
        driver.save_screenshot(str(tmp_path / "viewer_two_stores.png"))
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()


def test_articulatory_grouping_and_colour_scales_in_headless_chromium(two_page, tmp_path):
    driver = headless_chromium()
    try:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        open_page(driver, two_page)
        data = read_viewer_data(two_page)
        matrix, scale = driver.find_element(By.ID, "lp-matrix"), driver.find_element(By.ID, "lp-matrix-scale")
        layer = driver.find_element(By.ID, "lp-layer").get_attribute("value")
        phone = data["stores"][0]["phone_matrix"][layer]["groups"]
        assert matrix.get_attribute("data-labels") == ",".join(phone["phone"]["labels"])
        assert scale.get_attribute("data-label") == "share of the row's mass" and float(scale.get_attribute("data-lo")) == 0
        assert float(scale.get_attribute("data-hi")) == pytest.approx(max(max(r) for r in phone["phone"]["matrix"]), rel=1e-3)
        for grouping in ("manner", "place", "voicing", "height", "backness", "rounding"):
            Select(driver.find_element(By.ID, "lp-group")).select_by_value(grouping)
            assert matrix.get_attribute("data-labels") == ",".join(phone[grouping]["labels"])
            assert driver.find_element(By.ID, "lp-matrix-group").text == grouping
            assert driver.find_element(By.ID, "lp-matrix-1").get_attribute("data-labels") == ",".join(
                data["stores"][1]["phone_matrix"][layer]["groups"][grouping]["labels"])  # fmt: skip
        Select(driver.find_element(By.ID, "lp-group")).select_by_value("manner")
        _hover(driver, matrix, 0.5, 0.5)
        assert " -> key " in driver.find_element(By.ID, "lp-matrix-hover").text
        map_scale = driver.find_element(By.ID, "lp-map-scale")
        canvas = driver.find_element(By.ID, "lp-map")
        assert map_scale.get_attribute("data-label") == "attention weight"
        assert map_scale.get_attribute("data-hi") == canvas.get_attribute("data-max")
        driver.save_screenshot(str(tmp_path / "viewer_grouped.png"))
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()


def test_unaligned_page_zooms_on_placeholder_windows_in_headless_chromium(bare_page, tmp_path):
    driver = headless_chromium()
    try:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        open_page(driver, bare_page)
        data = read_viewer_data(bare_page)
        entry = data["utterances"][0]
        canvas = driver.find_element(By.ID, "lp-map")
        assert canvas.get_attribute("data-tiers") == "placeholder"
        assert driver.find_element(By.ID, "lp-range-name").text == "Windows"
        options = [o.text for o in Select(driver.find_element(By.ID, "lp-from")).options]
        assert options[:2] == ["0.0-0.2 s", "0.2-0.4 s"] and len(options) == len(entry["words"])
        # the grid: a boundary every 200 ms window (10 frames) along the top tier
        edges = [float(x) for x in canvas.get_attribute("data-edges").split(",")]
        assert len(edges) == len(entry["words"]) and np.allclose(np.diff(edges), np.diff(edges)[0], atol=0.11)
        size = int(canvas.get_attribute("width")) - 2 * 18 - 4  # the map's side inside the two tiers
        assert np.diff(edges)[0] == pytest.approx(10 * size / entry["T"], abs=0.11)
        Select(driver.find_element(By.ID, "lp-from")).select_by_index(1)
        Select(driver.find_element(By.ID, "lp-to")).select_by_index(2)
        assert canvas.get_attribute("data-range") == "10-30"  # 0.2-0.6 s at 50 Hz
        _hover(driver, canvas, 0.5, 0.5)
        hover = driver.find_element(By.ID, "lp-hover").text
        assert "window 0.2" in hover or "window 0.4" in hover
        assert " piece (" in hover
        assert driver.find_element(By.ID, "lp-note").text.endswith("Placeholder tiers (200 ms windows in 40 ms pieces) are drawn instead.")
        driver.save_screenshot(str(tmp_path / "viewer_placeholder.png"))
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()


def test_attention_view_of_two_stores_on_the_command_line(stores, tmp_path, capsys):
    from layerprobe.cli import main

    page, png = tmp_path / "both.html", tmp_path / "map.png"
    argv = ["attention", "view", str(stores["wav2vec2"]), str(stores["whisper"]), "--out", str(page), "--utterances", "2",
            "--samples-dir", str(stores["samples_dir"]), "--png", str(png), "--layer", "T2", "--phone-labels", "raw"]  # fmt: skip
    with pytest.raises(SystemExit) as caught:
        main(argv)
    out = capsys.readouterr()
    assert caught.value.code == 0 and out.err == "", out.err
    assert out.out.splitlines() == [f"attention viewer -> {page}", f"attention map -> {png}"]
    data = read_viewer_data(page)
    assert [s["model"] for s in data["stores"]] == ["tiny:wav2vec2", "tiny:whisper"]
    assert [[u["id"] for u in s["utterances"]] for s in data["stores"]] == [["synth-00000", "synth-00001"]] * 2
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit) as caught:
        main(["attention", "view", str(stores["wav2vec2"]), str(stores["whisper"]), "--out", str(tmp_path / "x.html"),
              "--utterances", "synth-00002"])  # fmt: skip
    err = capsys.readouterr().err
    assert caught.value.code == 1 and err.strip() == (
        "layerprobe: error: no attention maps stored for synth-00002 (stored: synth-00000, synth-00001)")
    assert not (tmp_path / "x.html").exists()


def test_render_png_titles_the_figure_with_the_model_name_and_draws_seconds(stores, tmp_path, monkeypatch):
    import layerprobe.io.figures as figures
    from layerprobe.attention.view import render_png

    drawn = []
    original = figures.save_figure

    def keep(figure, out, **kwargs):
        drawn.append([(ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), [t.get_text() for t in ax.get_xticklabels()])
                      for ax in figure.axes])  # fmt: skip
        drawn.append([t.get_text() for ax in figure.axes for t in ax.texts])
        return original(figure, out, **kwargs)

    monkeypatch.setattr(figures, "save_figure", keep)
    out = render_png(stores["whisper"], "synth-00001", "T2", head=1, out=tmp_path / "map.png", samples_dir=stores["samples_dir"])
    assert out.read_bytes()[:4] == b"\x89PNG"
    axes, tier_texts = drawn
    titles = [title for title, _, _, _ in axes if title]
    assert titles == ["tiny whisper, T2, head 1\nutterance synth-00001"]  # not the store's path
    map_axis = next(ax for ax in axes if ax[1] == "key time (s)")
    assert map_axis[3][:3] == ["0.0", "0.5", "1.0"]  # ticks in seconds
    assert ("", "", "attention weight", []) in [(t, x, y, []) for t, x, y, _ in axes]  # the labelled colour bar
    assert "query time (s)" in [y for _, _, y, _ in axes]
    # tier labels: the synthesized corpus's phones are ARPAbet classes already, its words lower case
    assert tier_texts and any(text.isupper() for text in tier_texts) and any(text.islower() for text in tier_texts)
