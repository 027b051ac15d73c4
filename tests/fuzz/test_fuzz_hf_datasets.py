"""Fuzzing the Hugging Face datasets reader: damaged parquet shards, Arrow streams and state.json files.

Reading every utterance (and the spoken-STS pairs) of a damaged dataset either works (a mutation
that changed nothing that matters, or only audio sample values) or is refused with one
LayerprobeError line naming the file; never another exception (exit 3).
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.data.corpora import open_corpus
from layerprobe.data.spoken_sts import read_sts_pairs
from layerprobe.errors import LayerprobeError
from support.fuzz import dump_json, fuzz, json_mutation, mutated_bytes, refuses

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

AUDIO = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _wav(freq: float) -> bytes:
    buffer = io.BytesIO()
    t = np.arange(3200) / 16000
    soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _table() -> "pa.Table":
    rows = [("STS12", "MSRpar", pair, speaker, 1.0 + pair) for pair in range(2) for speaker in ("m1", "f1")]
    return pa.table({
        "task": [r[0] for r in rows], "subtask": [r[1] for r in rows], "pair_id": [r[2] for r in rows],
        "speaker_id": [r[3] for r in rows],
        "audio_a": pa.array([{"bytes": _wav(200 + 50 * i), "path": f"{i}_a.wav"} for i in range(len(rows))], type=AUDIO),
        "audio_b": pa.array([{"bytes": _wav(600 + 50 * i), "path": f"{i}_b.wav"} for i in range(len(rows))], type=AUDIO),
        "similarity": [r[4] for r in rows],
    })  # fmt: skip


def _read_everything(root) -> None:
    corpus = open_corpus(root)
    for split in corpus.splits():
        for utt in corpus.utterances(split):
            utt.load_audio()
        read_sts_pairs(corpus, split)


@pytest.fixture(scope="module")
def parquet_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("clean") / "test.parquet"
    pq.write_table(_table(), path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def arrow_bytes():
    sink = pa.BufferOutputStream()
    table = _table()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@fuzz(scale=0.5)
@given(data=st.data())
@example(data=None)  # cut in half: an interrupted download
def test_a_damaged_parquet_shard_is_read_or_refused_in_one_line(parquet_bytes, tmp_path_factory, data):
    root = tmp_path_factory.mktemp("ds")
    damaged = parquet_bytes[: len(parquet_bytes) // 2] if data is None else data.draw(mutated_bytes(parquet_bytes))
    (root / "test-00000-of-00001.parquet").write_bytes(damaged)
    refuses("hf datasets: parquet shard", _read_everything, root, error=LayerprobeError, may_accept=True)


@fuzz(scale=0.5)
@given(data=st.data())
@example(data=None)
def test_a_damaged_save_to_disk_folder_is_read_or_refused_in_one_line(arrow_bytes, tmp_path_factory, data):
    root = tmp_path_factory.mktemp("ds")
    state = {"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_split": None}
    if data is None:
        damaged, state_text = arrow_bytes[: len(arrow_bytes) // 2], json.dumps(state)
    elif data.draw(st.booleans()):
        damaged, state_text = data.draw(mutated_bytes(arrow_bytes)), json.dumps(state)
    else:
        damaged, state_text = arrow_bytes, dump_json(data.draw(json_mutation(state)))
    (root / "data-00000-of-00001.arrow").write_bytes(damaged)
    (root / "state.json").write_text(state_text)
    refuses("hf datasets: save_to_disk folder", _read_everything, root, error=LayerprobeError, may_accept=True)
