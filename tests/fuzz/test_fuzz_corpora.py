"""Fuzzing the corpus readers: miniature LibriSpeech, TIMIT and folder corpora with one file damaged,
removed or added.

Opening the corpus, listing its splits and utterances, reading every duration, alignment and waveform
and summarizing the splits either works or fails with a LayerprobeError naming the file.
"""

from __future__ import annotations

import shutil

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.data.corpora import open_corpus, summarize_split
from layerprobe.errors import LayerprobeError
from support.corpora import make_folder_corpus, make_librispeech_corpus, make_timit_corpus
from support.fuzz import LEDGER, check_error_message, fuzz, junk_text, mutated_bytes, mutated_lines


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """One miniature corpus per layout (LibriSpeech with its alignments), written once."""
    root = tmp_path_factory.mktemp("corpora")
    make_folder_corpus(root / "folder", splits=("train",), per_split=2)
    make_librispeech_corpus(root / "librispeech" / "LibriSpeech", root / "librispeech" / "alignments", speakers=(("19", "198"),), per_chapter=2)
    make_timit_corpus(root / "timit", per_speaker=1)
    return root


LAYOUTS = {
    "folder": ("folder", None),
    "librispeech": ("librispeech/LibriSpeech", "librispeech/alignments"),
    "timit": ("timit", None),
}


def read_everything(target: str, root, alignments) -> None:
    """Open a corpus and read all it holds; LayerprobeErrors are refusals, anything else a failure."""
    try:
        corpus = open_corpus(root, alignments=alignments)
        for split in corpus.splits():
            for utt in corpus.utterances(split):
                duration = utt.duration()
                if utt.alignment_path is not None:
                    utt.load_alignment(duration=duration)
                utt.load_audio()
            summarize_split(corpus, split, progress=False)
    except LayerprobeError as exc:
        LEDGER.tried(target, "refused")
        check_error_message(exc)
        return
    except Exception as exc:  # noqa: BLE001 - the contract: corpus readers raise LayerprobeError only
        LEDGER.tried(target)
        raise AssertionError(f"{target}: {type(exc).__name__} instead of a LayerprobeError: {str(exc)[:300]}") from exc
    LEDGER.tried(target, "accepted")


@fuzz(scale=0.5)
@given(data=st.data(), layout=st.sampled_from(sorted(LAYOUTS)), action=st.sampled_from(["text", "bytes", "remove", "add", "empty"]))
@example(data=None, layout="librispeech", action="latin-1 transcript")  # read_text(utf-8): UnicodeDecodeError escaped
def test_damaged_corpora(corpora, tmp_path_factory, data, layout, action):
    work = tmp_path_factory.mktemp("corpus")
    shutil.copytree(corpora, work, dirs_exist_ok=True)
    corpus_dir, alignment_dir = LAYOUTS[layout]
    root = work / corpus_dir
    alignments = work / alignment_dir if alignment_dir else None
    files = sorted(p for base in (root, alignments) if base for p in base.rglob("*") if p.is_file())
    if action == "latin-1 transcript":
        victim = next(p for p in files if p.name.endswith(".trans.txt"))
        victim.write_bytes("19-198-0000 CAFÉ\n".encode("latin-1"))
    else:
        victim = data.draw(st.sampled_from(files))
        if action == "text":
            victim.write_text(data.draw(mutated_lines(victim.read_text(encoding="utf-8", errors="replace"))), encoding="utf-8", errors="surrogatepass")
        elif action == "bytes":
            victim.write_bytes(data.draw(mutated_bytes(victim.read_bytes())))
        elif action == "remove":
            victim.unlink()
        elif action == "empty":
            victim.write_bytes(b"")
        else:  # a stray file beside the victim: an audio, alignment or transcript of nothing
            name = data.draw(st.sampled_from(["stray.wav", "stray.TextGrid", "stray.PHN", "19-198.trans.txt", "x.flac", ".wav"]))
            (victim.parent / name).write_bytes(data.draw(st.one_of(st.binary(max_size=32), junk_text.map(str.encode))))
    read_everything(f"{layout} corpus (one file damaged, removed or added)", root, alignments)
