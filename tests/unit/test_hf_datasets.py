"""The Hugging Face datasets reader: parquet shards and save_to_disk folders written here, audio bytes to files."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from layerprobe.data.corpora import detect_format, open_corpus  # noqa: E402
from layerprobe.data.hf_datasets import CACHE_FOLDER, CACHE_VARIABLE, HFDatasetCorpus  # noqa: E402
from layerprobe.errors import ConfigError, CorpusError  # noqa: E402

AUDIO = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def tone(seconds: float, freq: float) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encoded(waveform: np.ndarray, fmt: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, 16000, subtype="PCM_16", format=fmt)
    return buffer.getvalue()


def librispeech_like_table(n: int = 3) -> pa.Table:
    return pa.table({
        "id": [f"utt-{i}" for i in range(n)],
        "text": [f"sentence {i}" for i in range(n)],
        "speaker_id": [100 + i for i in range(n)],
        "audio": pa.array([{"bytes": encoded(tone(0.5, 200 + 100 * i)), "path": f"utt-{i}.wav"} for i in range(n)], type=AUDIO),
    })  # fmt: skip


def test_parquet_shards_give_splits_ids_transcripts_and_the_audio_unchanged(tmp_path):
    root = tmp_path / "ds"
    (root / "data").mkdir(parents=True)
    table = librispeech_like_table(3)
    pq.write_table(table.slice(0, 2), root / "data" / "validation-00000-of-00002.parquet")
    pq.write_table(table.slice(2, 1), root / "data" / "validation-00001-of-00002.parquet")
    pq.write_table(table.slice(0, 1), root / "data" / "test-00000-of-00001.parquet")
    assert detect_format(root) == "hf"
    corpus = open_corpus(root)
    assert isinstance(corpus, HFDatasetCorpus) and corpus.format == "hf"
    assert corpus.splits() == ["test", "validation"]
    utts = list(corpus.utterances("validation"))
    assert [u.utt_id for u in utts] == ["utt-0", "utt-1", "utt-2"]
    assert [u.transcript for u in utts] == ["sentence 0", "sentence 1", "sentence 2"]
    assert [u.speaker for u in utts] == ["100", "101", "102"]
    assert utts[1].audio_path == root / CACHE_FOLDER / "validation" / "utt-1.wav"
    expected = soundfile.read(io.BytesIO(encoded(tone(0.5, 300))), dtype="float32")[0]
    np.testing.assert_array_equal(utts[1].load_audio(), expected)
    assert utts[1].alignment_path is None


def test_cached_audio_is_kept_when_unchanged_and_rewritten_when_the_bytes_change(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    pq.write_table(librispeech_like_table(1), root / "train.parquet")
    first = next(open_corpus(root).utterances("train")).audio_path
    stamp = first.stat().st_mtime_ns
    assert next(open_corpus(root).utterances("train")).audio_path.stat().st_mtime_ns == stamp
    changed = librispeech_like_table(1).set_column(3, "audio", pa.array([{"bytes": encoded(tone(0.7, 500)), "path": "x.wav"}], type=AUDIO))
    pq.write_table(changed, root / "train.parquet")
    again = next(open_corpus(root).utterances("train"))
    assert again.audio_path == first and again.load_audio().size == int(16000 * 0.7)


def test_the_cache_variable_moves_the_audio_out_of_the_dataset(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    root.mkdir()
    pq.write_table(librispeech_like_table(1), root / "train.parquet")
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    utt = next(open_corpus(root).utterances("train"))
    assert utt.audio_path.parent.parent.parent == tmp_path / "cache" and utt.audio_path.parent.name == "train"
    assert not (root / CACHE_FOLDER).exists()


def test_flac_bytes_without_a_path_are_sniffed_and_a_path_without_bytes_is_used_in_place(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    soundfile.write(root / "beside.wav", tone(0.4, 300), 16000)
    cells = [{"bytes": encoded(tone(0.3, 200), "FLAC"), "path": None}, {"bytes": None, "path": "beside.wav"}]
    pq.write_table(pa.table({"audio": pa.array(cells, type=AUDIO)}), root / "0000.parquet")
    utts = list(open_corpus(root).utterances("all"))
    assert [u.utt_id for u in utts] == ["all-000000", "all-000001"]
    assert utts[0].audio_path.suffix == ".flac" and utts[0].load_audio().size == 4800
    assert utts[1].audio_path == root / "beside.wav"


def _write_arrow_stream(path, table):
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def test_save_to_disk_folders_single_dataset_and_dataset_dict(tmp_path):
    single = tmp_path / "single"
    single.mkdir()
    _write_arrow_stream(single / "data-00000-of-00001.arrow", librispeech_like_table(2))
    (single / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_split": None}))
    (single / "dataset_info.json").write_text("{}")
    assert detect_format(single) == "hf"
    assert [u.utt_id for u in open_corpus(single).utterances("all")] == ["utt-0", "utt-1"]

    whole = tmp_path / "dict"
    for split, n in (("train", 3), ("test", 1)):
        (whole / split).mkdir(parents=True)
        _write_arrow_stream(whole / split / "data-00000-of-00001.arrow", librispeech_like_table(n))
        (whole / split / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    (whole / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    corpus = open_corpus(whole, format="hf")
    assert corpus.splits() == ["test", "train"]
    assert len(list(corpus.utterances("train"))) == 3
    assert next(corpus.utterances("test")).load_audio().size == 8000


def test_bad_datasets_are_one_line_naming_the_file(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    pq.write_table(pa.table({"id": ["x"], "text": ["no audio here"]}), root / "train.parquet")
    with pytest.raises(CorpusError) as caught:
        list(open_corpus(root).utterances("train"))
    assert str(caught.value) == f"{root / 'train.parquet'}: has no audio column (a struct of bytes and path; columns: id, text)"

    pq.write_table(pa.table({"audio": pa.array([None], type=AUDIO)}), root / "train.parquet")
    with pytest.raises(CorpusError) as caught:
        list(open_corpus(root).utterances("train"))
    assert str(caught.value) == f"{root / 'train.parquet'}: row 0, column 'audio': has no audio (a null cell); remove the row or add its audio"

    pq.write_table(pa.table({"audio": pa.array([{"bytes": b"not audio at all", "path": None}], type=AUDIO)}), root / "train.parquet")
    with pytest.raises(CorpusError) as caught:
        list(open_corpus(root).utterances("train"))
    assert str(caught.value) == (f"{root / 'train.parquet'}: row 0, column 'audio': holds audio bytes of an unknown format "
                                 "(not WAV, FLAC, Ogg or MP3)")  # fmt: skip

    (root / "train.parquet").write_bytes(b"PAR1 but not really")
    with pytest.raises(CorpusError, match=r"train\.parquet: cannot be read as parquet"):
        list(open_corpus(root).utterances("train"))

    with pytest.raises(ConfigError) as caught:
        open_corpus(root, format="hf", phone_tier="phones")
    assert str(caught.value) == f"--phone-tier names a TextGrid tier; {root} is a Hugging Face dataset without alignments, leave it out"

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "dataset_dict.json").write_text(json.dumps({"splits": ["train"]}))
    with pytest.raises(CorpusError) as caught:
        open_corpus(broken)
    assert str(caught.value) == f"{broken.resolve() / 'dataset_dict.json'}: names split 'train', but there is no folder train/"


def test_an_arrow_stream_with_damaged_offsets_is_refused_not_a_crash(tmp_path):
    """Arrow reads IPC offsets unchecked: converting this batch crashed the process (SIGBUS) before
    the reader validated each batch.  Run in a child process so that a crash fails only this test."""
    import struct
    import subprocess
    import sys

    table = pa.table({"id": ["aaaa", "bbbb"], "audio": pa.array([{"bytes": encoded(tone(0.1, 200)), "path": "one.wav"}] * 2, type=AUDIO)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data = bytearray(sink.getvalue().to_pybytes())
    at = data.find(struct.pack("<3i", 0, 4, 8))  # the offsets of the 'id' strings
    data[at + 4 : at + 8] = struct.pack("<i", 2**30)
    root = tmp_path / "ds"
    root.mkdir()
    (root / "data-00000-of-00001.arrow").write_bytes(bytes(data))
    (root / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    code = ("import sys\nfrom layerprobe.data.corpora import open_corpus\nfrom layerprobe.errors import CorpusError\n"
            f"try:\n    list(open_corpus({str(root)!r}).utterances('all'))\nexcept CorpusError as exc:\n    print(exc)\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == (f"{root / 'data-00000-of-00001.arrow'}: cannot be read as arrow (In column 0: Invalid: Offset "
                                   "invariant failure: offset for slot 1 out of bounds: 1073741824 > 8)")  # fmt: skip


def test_save_to_disk_names_that_leave_the_folder_are_refused(tmp_path):
    whole = tmp_path / "dict"
    (whole / "x").mkdir(parents=True)
    (whole / "dataset_dict.json").write_text(json.dumps({"splits": ["../x"]}))
    with pytest.raises(CorpusError) as caught:
        open_corpus(whole, format="hf")
    assert str(caught.value) == f"{whole / 'dataset_dict.json'}: names split '../x'; a split is a folder name (letters, digits, '.', '_', '-')"
    single = tmp_path / "single"
    single.mkdir()
    (single / "state.json").write_text(json.dumps({"_data_files": [{"filename": "../elsewhere.arrow"}]}))
    with pytest.raises(CorpusError) as caught:
        open_corpus(single, format="hf")
    assert str(caught.value) == f"{single / 'state.json'}: lists '../elsewhere.arrow'; the data files are names in its folder"
