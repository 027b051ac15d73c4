"""`sample` and `corpus synth` on a full disk: one line naming the file or folder, nothing left behind.

The disk is a small tmpfs mounted for the test, as in tests/faults/test_disk_full.py (skipped where
this process may not mount one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.corpora import make_folder_corpus
from support.disks import fill_disk, mounted_tmpfs, run_layerprobe


@pytest.fixture()
def disk(tmp_path) -> Iterator[Path]:
    """A 4 MB tmpfs, unmounted afterwards."""
    with mounted_tmpfs(tmp_path / "disk", "4m") as mount_point:
        yield mount_point


_fill = fill_disk
_layerprobe = run_layerprobe


def _listing(disk: Path) -> list[str]:
    return sorted(p.relative_to(disk).as_posix() for p in disk.rglob("*"))


def test_sample_on_a_full_disk_names_the_manifest_and_leaves_no_folders(disk, tmp_path):
    make_folder_corpus(tmp_path / "mini", splits=("train",), per_split=6, seed=1)
    filler = _fill(disk, leave_bytes=0)
    manifest = disk / "data_samples" / "mini" / "train_frame_sample1.json"
    argv = ["sample", "--corpus", os.fspath(tmp_path / "mini"), "--split", "train", "--span", "frame",
            "--out", os.fspath(disk / "data_samples"), "--no-progress"]  # fmt: skip
    failed = _layerprobe(*argv)
    assert failed.returncode == 1
    assert failed.stderr == (
        f"layerprobe: error: {manifest}: cannot write the data-sample manifest: no space left on device; nothing was "
        "written (free some space or choose another --out, and rerun)\n"
    )
    assert _listing(disk) == ["filler.bin"]  # no empty data_samples/mini/ folders, no temporary file
    filler.unlink()
    assert _layerprobe(*argv).returncode == 0 and manifest.is_file()


def test_corpus_synth_on_a_full_disk_says_so_in_one_line_and_leaves_nothing(disk, monkeypatch, capsys):
    import layerprobe.data.synth as synth
    from layerprobe.cli import main

    # the up-front estimate passes (as when something else fills the disk during the run)
    monkeypatch.setattr(synth, "BYTES_PER_UTTERANCE", 1)
    filler = _fill(disk, leave_bytes=300_000)  # room for two or three utterances, not for 8
    out = disk / "synth"
    argv = ["corpus", "synth", "--out", os.fspath(out), "--n", "8", "--seed", "0", "--no-progress"]
    with pytest.raises(SystemExit) as caught:
        main(argv)
    err = capsys.readouterr().err
    assert caught.value.code == 1, err
    assert err.startswith(f"layerprobe: error: {out}: no space left on device after ")
    assert err.endswith(" of 8 utterances; nothing was kept (free some space or choose another --out, and rerun)\n")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert _listing(disk) == ["filler.bin"]
    filler.unlink()
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 0 and (out / "corpus.json").is_file()


def test_corpus_synth_refuses_a_corpus_larger_than_the_free_disk_before_writing(disk):
    out = disk / "synth"
    failed = _layerprobe("corpus", "synth", "--out", os.fspath(out), "--n", "100", "--no-progress")
    assert failed.returncode == 1
    assert failed.stderr == (
        f"layerprobe: error: {out}: 100 utterances need about 12.0 MB of disk, but only 4.2 MB is free there; "
        "choose a smaller --n or another --out\n"
    )
    assert _listing(disk) == []
