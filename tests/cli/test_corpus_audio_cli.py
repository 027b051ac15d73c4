"""`corpus info` and `sample` on folders with compressed, unreadable, truncated and too-short audio, and orphans."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile

from layerprobe.data.corpora import open_corpus
from layerprobe.data.samples import draw_sample
from layerprobe.io.alignments import write_textgrid
from layerprobe.io.audio import write_audio
from support.cli import run
from support.corpora import make_folder_corpus, make_utterance


def test_mp3_and_ogg_files_with_textgrids_are_read(tmp_path):
    root = tmp_path / "clips" / "train"
    root.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for utt_id, fmt, subtype, suffix in (("a", "MP3", "MPEG_LAYER_III", ".mp3"), ("b", "OGG", "VORBIS", ".ogg"),
                                         ("c", "OGG", "OPUS", ".opus"), ("d", "WAV", "PCM_16", ".wav")):  # fmt: skip
        utt = make_utterance(utt_id, rng)
        soundfile.write(root / f"{utt_id}{suffix}", utt.waveform, 16_000, format=fmt, subtype=subtype)
        write_textgrid(utt.alignment, root / f"{utt_id}.TextGrid")
    corpus = open_corpus(tmp_path / "clips")
    assert [u.audio_path.name for u in corpus.utterances("train")] == ["a.mp3", "b.ogg", "c.opus", "d.wav"]
    manifest = draw_sample(corpus, "train", span="frame", progress=False)
    assert [u.audio for u in manifest.utterances] == ["train/a.mp3", "train/b.ogg", "train/c.opus", "train/d.wav"]
    assert manifest.summary["n_audio_skipped"] == 0


@pytest.fixture()
def messy(tmp_path):
    """A folder corpus with every kind of audio file that cannot be used, and orphans both ways."""
    root = tmp_path / "messy"
    make_folder_corpus(root, splits=("train",), per_split=4, seed=2)
    train = root / "train"
    write_audio(train / "train-001.wav", np.full(200, 0.1, dtype=np.float32))  # too short
    data = (train / "train-002.wav").read_bytes()
    (train / "train-002.wav").write_bytes(data[: 44 + (len(data) - 44) // 2])  # truncated
    (train / "voice.m4a").write_bytes(b"\0\0\0\x18ftypM4A ")  # a format libsndfile does not read
    shutil.copy(train / "train-000.TextGrid", train / "voice.TextGrid")
    shutil.copy(train / "train-000.TextGrid", train / "ghost.TextGrid")  # no audio at all
    write_audio(train / "plain.wav", np.full(800, 0.1, dtype=np.float32))  # audio without TextGrid
    return root


def test_corpus_info_counts_and_lists_skipped_audio_and_orphans(messy, capsys):
    code, out, err = run(["corpus", "info", str(messy)], capsys)
    assert code == 0, err
    readable = ".wav, .flac, .mp3, .ogg, .oga, .opus"
    lines = out.splitlines()
    assert lines[1].startswith("  train: 3 utterances, ")
    assert lines[1].endswith(
        "2 with alignments, 2 with transcripts; 3 audio file(s) skipped; 2 TextGrid(s) without audio; "
        "1 audio file(s) without TextGrid"
    )
    assert lines[2:] == [
        "    skipped train/train-001.wav: audio is too short: 200 samples at 16000 Hz (12.5 ms); the models need at "
        "least 400 samples at 16000 Hz (25 ms, one frame)",
        "    skipped train/train-002.wav: truncated WAV: its header declares "
        + lines[3].split("declares ")[1],
        f"    skipped train/voice.m4a: .m4a audio is not read (readable: {readable}); convert it, e.g. to .wav or .flac",
        f"    no audio for train/ghost.TextGrid: no audio file ghost.* ({readable}) beside it",
        "    no audio for train/voice.TextGrid: its audio voice.m4a is of a format not read",
        "    no TextGrid for train/plain.wav: frame spans only",
    ]
    assert lines[3].endswith("(50%); restore or re-export the file")


def test_sample_skips_unusable_audio_one_line_each_and_counts_it_in_the_manifest(messy, tmp_path, capsys):
    out_dir = tmp_path / "samples"
    code, out, err = run(["sample", "--corpus", str(messy), "--split", "train", "--span", "frame", "--out", str(out_dir),
                          "--no-progress"], capsys)  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (
        "skipped train/train-001.wav: audio is too short: 200 samples at 16000 Hz (12.5 ms); the models need at least "
        "400 samples at 16000 Hz (25 ms, one frame)"
    )
    assert lines[1].startswith("skipped train/train-002.wav: truncated WAV: its header declares ")
    assert len(lines) == 3 and ": 3 utterances, " in lines[2] and ", 2 unusable audio file(s) skipped -> " in lines[2]
    manifest = json.loads((out_dir / "messy" / "train_frame_sample1.json").read_text())
    assert [u["id"] for u in manifest["utterances"]] == ["plain", "train-000", "train-003"]
    assert manifest["summary"]["n_audio_skipped"] == 2
    assert [row[0] for row in manifest["summary"]["audio_skipped"]] == ["train/train-001.wav", "train/train-002.wav"]
