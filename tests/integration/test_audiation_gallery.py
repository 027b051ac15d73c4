"""`layerprobe audiate` end to end: a batch of units of a tiny model with dataset examples from a real
frame store of a synthesized corpus, the gallery page's files and links, and the page in a real
headless Chromium (loads without console errors; skipped where no Chromium is installed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import soundfile

from layerprobe.cli import main
from support.browser import READY_TIMEOUT_S, headless_chromium, open_page

pytest.importorskip("transformers")

UNITS = (0, 1, 2)


@pytest.fixture(scope="module")
def frame_store(tmp_path_factory, one_thread):
    """A synthesized corpus, its frame manifest and the tiny wav2vec 2.0's contextualized frame store."""
    from layerprobe.data.corpora import open_corpus
    from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
    from layerprobe.data.synth import synthesize_corpus
    from layerprobe.extraction import extract
    from layerprobe.models import load_model

    base = tmp_path_factory.mktemp("audiation")
    synthesize_corpus(base / "synth", n=8, seed=3, progress=False)
    corpus = open_corpus(base / "synth")
    manifest = draw_sample(corpus, "train", span="frame", rule=SamplingRule.default("frame", "train"), progress=False)
    path = write_manifest(manifest, manifest_path(base / "ds", corpus.name, "train", "frame", 1))
    report = extract(manifest, load_model("tiny:wav2vec2"), base / "features", rep="contextualized", progress=False, manifest_path=path)
    return {"store": report.path, "samples_dir": base / "ds", "base": base}


def _run(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    out = capsys.readouterr()
    return caught.value.code, out.out, out.err


@pytest.fixture(scope="module")
def gallery(frame_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("gallery") / "units"
    argv = ["audiate", "--model", "tiny:wav2vec2", "--layer", "T2", "--units", "0-2", "--steps", "8", "--seconds", "0.4",
            "--shift-frames", "0", "--examples-store", str(frame_store["store"]), "--top-k", "3",
            "--samples-dir", str(frame_store["samples_dir"]), "--out", str(out), "--no-progress"]  # fmt: skip
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 0
    return out


def _label_at(intervals, time_s):
    found = [interval.label for interval in intervals if interval.start <= time_s < interval.end]
    return found[0] if found else None


def test_the_batch_writes_every_unit_and_a_gallery(gallery, frame_store):
    from layerprobe.io.alignments import read_textgrid
    from layerprobe.io.store import FeatureStore

    names = sorted(path.name for path in gallery.iterdir())
    stems = [f"T2_unit{unit:04d}" for unit in UNITS]
    assert names == sorted([f"{s}{suffix}" for s in stems for suffix in (".json", ".png", ".wav", "_examples")] + ["index.html"])
    for stem in stems:
        data = json.loads((gallery / f"{stem}.json").read_text())
        assert len(data["activations"]) == 8 and data["settings"]["shift_frames"] == 0.0
        assert len(data["examples"]) == 3 and [e["rank"] for e in data["examples"]] == [1, 2, 3]
        with FeatureStore.open(frame_store["store"]) as store:
            column = store.read("T2")[:, data["unit"]]
            starts, _ = store.row_ranges("T2")
            ids = store.utterance_ids
        assert [e["activation"] for e in data["examples"]] == pytest.approx(sorted(column, reverse=True)[:3], abs=1e-6)
        for example in data["examples"]:
            row = starts[ids.index(example["utt_id"])] + example["frame"]
            assert column[row] == pytest.approx(example["activation"], abs=1e-6)
            # phone and word at the frame's centre, read from the utterance's TextGrid
            audio = Path(example["audio"])
            alignment = read_textgrid(audio.with_suffix(".TextGrid"))
            centre = (example["frame"] + 0.5) / 50
            assert example["phone"] == _label_at(alignment.phones, centre) and example["word"] == _label_at(alignment.words, centre)
            clip = gallery / example["clip"]
            assert clip.is_file() and soundfile.info(clip).samplerate == 16000
        assert soundfile.info(gallery / f"{stem}.wav").frames == 6400


def test_the_page_is_self_contained_and_its_links_resolve(gallery):
    text = (gallery / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", text) and "<link" not in text
    sources = re.findall(r'src="([^"]+)"', text)
    assert len(sources) == 3 * (2 + 3)  # per unit: its WAV, its PNG and three example clips
    for source in sources:
        assert not source.startswith("/") and (gallery / source).is_file()
    assert text.count('<section class="lp-unit"') == 3
    assert "<h1>Audiated units: tiny wav2vec2, T2</h1>" in text  # the model's display name, not its spec


def test_single_unit_and_command_line_errors(frame_store, tmp_path, capsys):
    code, out, err = _run(["audiate", "--model", "tiny:wav2vec2", "--layer", "T1", "--unit", "4", "--steps", "3", "--seconds", "0.3",
                           "--out", str(tmp_path / "u4.wav"), "--no-progress"], capsys)  # fmt: skip
    assert code == 0 and err == "" and out.startswith("T1 unit 4 (unit, frame 7): initial ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u4.json", "u4.png", "u4.wav"]
    code, _, err = _run(["audiate", "--model", "tiny:wav2vec2", "--layer", "T1", "--unit", "4", "--out", str(tmp_path / "u4")], capsys)
    assert code == 2 and "with --unit, OUT is the WAV to write" in err
    code, _, err = _run(["audiate", "--model", "tiny:wav2vec2", "--layer", "T1", "--unit", "4", "--units", "1-2", "--out", "x.wav"], capsys)
    assert code == 2 and "give exactly one of --unit N" in err
    code, _, err = _run(["audiate", "--model", "tiny:wav2vec2", "--layer", "T1", "--units", "1-x", "--out", str(tmp_path / "g")], capsys)
    assert code == 1 and err.strip() == "layerprobe: error: units '1-x': '1-x' is not a unit number or a range such as 0-31"
    code, _, err = _run(["audiate", "--model", "tiny:wav2vec2", "--layer", "T1", "--unit", "99", "--out", str(tmp_path / "x.wav")], capsys)
    assert code == 1 and "units 0..31; got [99]" in err and not (tmp_path / "x.wav").exists()


def test_the_gallery_in_headless_chromium(gallery):
    from selenium.webdriver.support.ui import WebDriverWait

    driver = headless_chromium(["--autoplay-policy=no-user-gesture-required"])
    try:
        open_page(driver, gallery / "index.html")
        assert driver.execute_script("return document.querySelectorAll('section.lp-unit').length") == 3
        images = driver.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert len(images) == 3 and all(complete and width > 100 for complete, width in images)
        driver.execute_script("document.querySelectorAll('audio').forEach(a => a.load())")

        def audio_states(d):
            found = d.execute_script("return Array.from(document.querySelectorAll('audio')).map(a => [a.readyState, a.duration, a.error && a.error.code])")
            return found if all(state >= 1 or error for state, _, error in found) else False

        # waits on the players' own state, never on a clock: a loaded machine only makes it slower
        states = WebDriverWait(driver, READY_TIMEOUT_S, poll_frequency=0.2).until(audio_states)
        assert len(states) == 3 * (1 + 3) and all(error is None for _, _, error in states)  # unit WAV + 3 clips each
        durations = [duration for _, duration, _ in states]
        assert all(abs(duration - 0.4) < 0.01 for duration in durations[:1])  # the first unit's own WAV: 0.4 s
        assert all(duration > 0 for duration in durations)
        # one player pauses the others
        driver.execute_script("const a = document.querySelectorAll('audio'); a[0].muted = true; a[5].muted = true; a[0].play();")
        driver.execute_script("document.querySelectorAll('audio')[5].play()")
        WebDriverWait(driver, READY_TIMEOUT_S, poll_frequency=0.1).until(
            lambda d: d.execute_script("return document.querySelectorAll('audio')[0].paused") is True
        )
        severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert severe == []
    finally:
        driver.quit()
