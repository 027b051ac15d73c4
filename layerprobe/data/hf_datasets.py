"""A corpus reader for Hugging Face ``datasets`` audio data saved on disk (no hub access).

Two layouts are read, with pyarrow:

``parquet``
    ``*.parquet`` shards anywhere below the root, as the hub stores them
    (``data/test-00000-of-00004.parquet``, or ``default/test/0000.parquet`` in the converted
    branch).  The split is the file name's part before ``-NNNNN-of-NNNNN`` (or the whole stem when
    it is not a number); a numbered stem (``0000.parquet``) takes its folder's name.
``save_to_disk``
    What ``Dataset.save_to_disk`` writes: ``dataset_info.json``, ``state.json`` and
    ``data-NNNNN-of-NNNNN.arrow`` (Arrow IPC streams), one split ``all``; or what
    ``DatasetDict.save_to_disk`` writes: ``dataset_dict.json`` and one such folder per split.

Audio columns are the columns of Arrow type ``struct<bytes: binary, path: string>`` (the
``datasets.Audio`` feature's storage).  Each row gives one utterance per audio column.  Utterance
ids are the row's ``id`` column (or ``utt_id``, ``key``) when the table has one, else the row's
spoken-STS key ``<task>_<subtask>_<pair_id>_<speaker_id>`` where those columns are present, else
``<split>-<row number>``; with several audio columns the column's name follows (``audio_a`` ->
``_a``).  The transcript is column ``text_a`` for ``audio_a`` where there is one, else ``text``
(``sentence``, ``transcript``); the speaker is ``speaker_id`` (``speaker``).  Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``-``.

How extraction reads the audio: every other part of layerprobe (sampling checks, fingerprints in
the manifest, extraction) reads audio files by path.  So the reader *materialises* each row's
audio bytes, unchanged, into a cache folder of files named by utterance id (the suffix from the
struct's ``path``, else sniffed from the bytes: WAV, FLAC, Ogg, MP3), written atomically, and
rewritten only when the bytes differ; soundfile decodes them like any other corpus file.  An
audio struct without bytes but with a ``path`` that exists (relative to the file's folder or
absolute) is used in place.  The cache is ``<root>/.layerprobe_audio/<split>/``;
``LAYERPROBE_AUDIO_CACHE=DIR`` puts it at ``DIR/<corpus name>-<8 hex digits of the root>/<split>/``
instead (for a read-only dataset).  It costs the audio's size once on disk, and nothing is decoded
twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from layerprobe.data.corpora import WHOLE_SPLIT, Corpus, Utterance
from layerprobe.errors import ConfigError, CorpusError, DependencyError
from layerprobe.io.atomic import atomic_write
from layerprobe.io.audio import AUDIO_SUFFIXES, COMPRESSED_AUDIO_SUFFIXES

#: The environment variable that moves the audio cache out of the dataset's folder.
CACHE_VARIABLE = "LAYERPROBE_AUDIO_CACHE"

#: The cache folder's name inside the dataset's root.
CACHE_FOLDER = ".layerprobe_audio"

#: Columns taken as the utterance id, in this order.
ID_COLUMNS = ("id", "utt_id", "key")

#: Columns that make a spoken-STS row's key (all four must be present).
STS_KEY_COLUMNS = ("task", "subtask", "pair_id", "speaker_id")

#: Columns read as the transcript and the speaker, when present.
TEXT_COLUMNS = ("text", "sentence", "transcript", "transcription")
SPEAKER_COLUMNS = ("speaker_id", "speaker")

_SHARD = re.compile(r"^(?P<split>.+?)-\d{5}-of-\d{5}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_PLAIN_NAME = re.compile(r"^(?!\.)[A-Za-z0-9._-]+$")
_READ_BATCH = 64


def require_pyarrow() -> Any:
    """The pyarrow module (with ``pyarrow.parquet`` loaded); DependencyError in one line without it."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise DependencyError("reading Hugging Face datasets needs pyarrow: pip install 'pyarrow>=15,<20'") from None
    return pyarrow


def safe_id(text: str) -> str:
    """``text`` with every character other than letters, digits, ``.``, ``_``, ``-`` replaced by ``-``."""
    return _UNSAFE.sub("-", text)


def is_hf_dataset(root: str | os.PathLike[str]) -> bool:
    """Whether a directory is a ``save_to_disk`` folder or holds parquet shards (at most two folders down)."""
    root = Path(root)
    if any((root / name).is_file() for name in ("dataset_dict.json", "state.json")):
        return True
    return any(next(root.glob(pattern), None) is not None for pattern in ("*.parquet", "*/*.parquet", "*/*/*.parquet"))


# --------------------------------------------------------------------------------------------------
# Tables


@dataclass(frozen=True)
class TableFile:
    """One file of a split: a parquet shard or an Arrow stream of ``save_to_disk``."""

    path: Path
    kind: str  # "parquet" or "arrow"

    def schema(self) -> Any:
        pa = require_pyarrow()
        try:
            if self.kind == "parquet":
                return pa.parquet.read_schema(self.path)
            with pa.memory_map(os.fspath(self.path)) as source:
                return pa.ipc.open_stream(source).schema
        except (OSError, pa.ArrowException) as exc:
            raise CorpusError(f"cannot be read as {self.kind} ({exc})", path=self.path) from None

    def batches(self, columns: Sequence[str]) -> Iterator[Any]:
        """The file's record batches restricted to ``columns`` (which must exist), each validated in full.

        Arrow does not check an IPC stream's offsets when it reads them, and converting a batch with
        damaged offsets aborts the process; ``validate(full=True)`` turns that into an error first.
        """
        pa = require_pyarrow()
        try:
            if self.kind == "parquet":
                for batch in pa.parquet.ParquetFile(self.path).iter_batches(batch_size=_READ_BATCH, columns=list(columns)):
                    batch.validate(full=True)
                    yield batch
                return
            with pa.memory_map(os.fspath(self.path)) as source:
                for batch in pa.ipc.open_stream(source):
                    batch = batch.select(list(columns))
                    batch.validate(full=True)
                    yield batch
        except (OSError, pa.ArrowException) as exc:
            raise CorpusError(f"cannot be read as {self.kind} ({exc})", path=self.path) from None


def _is_audio_type(arrow_type: Any) -> bool:
    pa = require_pyarrow()
    if not pa.types.is_struct(arrow_type):
        return False
    names = {arrow_type.field(i).name for i in range(arrow_type.num_fields)}
    return {"bytes", "path"} <= names


def audio_columns(schema: Any) -> list[str]:
    """The columns of ``schema`` holding ``datasets.Audio`` structs (``bytes``, ``path``), in order."""
    return [field.name for field in schema if _is_audio_type(field.type)]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"cannot be read as JSON ({exc})", path=path) from None


def _arrow_files(folder: Path) -> list[TableFile]:
    """The Arrow files a ``save_to_disk`` folder's ``state.json`` lists (sorted ``*.arrow`` without one)."""
    state = folder / "state.json"
    if state.is_file():
        document = _read_json(state)
        entries = document.get("_data_files") if isinstance(document, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("filename"), str) for e in entries):
            raise CorpusError("has no '_data_files' list of {'filename': ...} entries; is it a save_to_disk folder?", path=state)
        bad = next((e["filename"] for e in entries if not _PLAIN_NAME.match(e["filename"])), None)
        if bad is not None:
            raise CorpusError(f"lists {bad!r}; the data files are names in its folder", path=state)
        files = [folder / entry["filename"] for entry in entries]
        for path in files:
            if not path.is_file():
                raise CorpusError(f"lists {path.name}, which does not exist", path=state)
        return [TableFile(path, "arrow") for path in files]
    return [TableFile(path, "arrow") for path in sorted(folder.glob("*.arrow"))]


def _parquet_split(path: Path, root: Path) -> str:
    match = _SHARD.match(path.stem)
    if match:
        return match.group("split")
    if path.stem.isdigit():
        return path.parent.name if path.parent != root else WHOLE_SPLIT
    return path.stem


# --------------------------------------------------------------------------------------------------
# The corpus


class HFDatasetCorpus(Corpus):
    """A Hugging Face ``datasets`` folder (parquet shards or ``save_to_disk``) with audio columns.

    Parameters
    ----------
    root : path-like
        The dataset folder.
    name : str, optional
        Corpus name; the folder's name by default.
    """

    format = "hf"

    def __init__(self, root: str | os.PathLike[str], *, name: str | None = None, phone_tier: str | None = None,
                 word_tier: str | None = None):  # fmt: skip
        if phone_tier is not None or word_tier is not None:
            option = "--phone-tier" if phone_tier is not None else "--word-tier"
            raise ConfigError(f"{option} names a TextGrid tier; {root} is a Hugging Face dataset without alignments, leave it out")
        super().__init__(root, name=name)
        self._files = self._find_files()
        if not self._files:
            raise CorpusError("holds no parquet shards and no save_to_disk files (dataset_dict.json, state.json)", path=self.root)

    def _find_files(self) -> dict[str, list[TableFile]]:
        root = self.root
        if (root / "dataset_dict.json").is_file():
            document = _read_json(root / "dataset_dict.json")
            splits = document.get("splits") if isinstance(document, dict) else None
            if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
                raise CorpusError("has no 'splits' list of names; is it a DatasetDict.save_to_disk folder?", path=root / "dataset_dict.json")
            found = {}
            for split in splits:
                if not _PLAIN_NAME.match(split):
                    raise CorpusError(f"names split {split!r}; a split is a folder name (letters, digits, '.', '_', '-')",
                                      path=root / "dataset_dict.json")  # fmt: skip
                if not (root / split).is_dir():
                    raise CorpusError(f"names split {split!r}, but there is no folder {split}/", path=root / "dataset_dict.json")
                found[split] = _arrow_files(root / split)
            return found
        if (root / "state.json").is_file():
            return {WHOLE_SPLIT: _arrow_files(root)}
        found: dict[str, list[TableFile]] = {}
        for path in sorted(root.rglob("*.parquet")):
            if CACHE_FOLDER in path.relative_to(root).parts:
                continue
            found.setdefault(_parquet_split(path, root), []).append(TableFile(path, "parquet"))
        return found

    def splits(self) -> list[str]:
        return sorted(self._files)

    def split_dir(self, split: str) -> Path:
        if split not in self._files:
            raise ConfigError(f"corpus {self.name!r} has no split {split!r} (splits: {', '.join(self.splits()) or 'none'})",
                              path=self.root)  # fmt: skip
        return self.root

    def files(self, split: str) -> list[TableFile]:
        """The table files of a split, in reading order."""
        self.split_dir(split)
        return list(self._files[split])

    def cache_dir(self, split: str) -> Path:
        """Where the split's audio bytes are materialised (see the module's docstring)."""
        base = os.environ.get(CACHE_VARIABLE)
        if base:
            digest = hashlib.sha256(self.root.as_posix().encode("utf-8")).hexdigest()[:8]
            return Path(base).resolve() / f"{self.name}-{digest}" / split
        return self.root / CACHE_FOLDER / split

    def rows(self, split: str, columns: Sequence[str], *, optional: Sequence[str] = (), present: Sequence[str] = (),
             audio: bool = False) -> Iterator[tuple[TableFile, int, dict[str, Any]]]:  # fmt: skip
        """Yield ``(file, row number in the file, {column: value})`` of a split, in order.

        Parameters
        ----------
        columns : sequence of str
            Columns to read; each must exist in every file (CorpusError naming the file otherwise).
        optional : sequence of str, keyword-only
            Columns read where a file has them.
        present : sequence of str, keyword-only
            Columns that must exist but are not read (audio columns whose bytes are not needed).
        audio : bool, keyword-only
            Also read every audio column (its ``bytes`` and ``path``).
        """
        for table_file in self.files(split):
            schema = table_file.schema()
            names = set(schema.names)
            missing = [c for c in dict.fromkeys([*columns, *present]) if c not in names]
            if missing:
                raise CorpusError(f"has no column {', '.join(repr(c) for c in missing)} (columns: {', '.join(schema.names)})",
                                  path=table_file.path)  # fmt: skip
            wanted = [*columns, *(c for c in optional if c in names), *(audio_columns(schema) if audio else [])]
            number = 0
            for batch in table_file.batches(list(dict.fromkeys(wanted))):
                for row in batch.to_pylist():
                    yield table_file, number, row
                    number += 1

    def _utterances(self, split_dir: Path, split: str) -> Iterator[Utterance]:
        files = self.files(split)
        if not files:
            return
        schema = files[0].schema()
        audio = audio_columns(schema)
        if not audio:
            raise CorpusError(f"has no audio column (a struct of bytes and path; columns: {', '.join(schema.names)})",
                              path=files[0].path)  # fmt: skip
        own_text = {column: f"text_{column[len('audio_'):]}" for column in audio if column.startswith("audio_")}
        extra = (*ID_COLUMNS, *STS_KEY_COLUMNS, *TEXT_COLUMNS, *SPEAKER_COLUMNS, *own_text.values())
        cache = self.cache_dir(split)
        seen: dict[str, str] = {}
        index = 0
        for table_file, number, row in self.rows(split, (), optional=extra, audio=True):
            base = row_id(row, split, index)
            index += 1
            text = next((str(row[c]) for c in TEXT_COLUMNS if row.get(c) is not None), None)
            speaker = next((str(row[c]) for c in SPEAKER_COLUMNS if row.get(c) is not None), None)
            for column in audio:
                utt_id = utterance_id(base, column, several=len(audio) > 1)
                where = f"row {number}, column {column!r}"
                if utt_id in seen:
                    raise CorpusError(f"utterance id {utt_id!r} is also that of {seen[utt_id]}; give each row a unique 'id' column",
                                      path=table_file.path, where=where)  # fmt: skip
                seen[utt_id] = f"{table_file.path.name} {where}"
                path = materialise(row.get(column), cache, utt_id, source=table_file.path, where=where)
                own = row.get(own_text.get(column, ""))
                yield Utterance(utt_id, split, path, None, "textgrid", text if own is None else str(own), speaker)


def row_id(row: dict[str, Any], split: str, index: int) -> str:
    """A row's utterance id before the audio column's suffix (see the module's docstring)."""
    for column in ID_COLUMNS:
        if row.get(column) is not None:
            return safe_id(str(row[column]))
    if all(row.get(c) is not None for c in STS_KEY_COLUMNS):
        return safe_id("_".join(str(row[c]) for c in STS_KEY_COLUMNS))
    return safe_id(f"{split}-{index:06d}")


def utterance_id(base: str, column: str, *, several: bool) -> str:
    """The utterance id of one audio column of a row: ``base``, with ``_<column>`` when the row has several."""
    if not several:
        return base
    suffix = column[len("audio_"):] if column.startswith("audio_") and len(column) > len("audio_") else column
    return f"{base}_{safe_id(suffix)}"


def sniff_suffix(data: bytes) -> str | None:
    """The file suffix of audio bytes by their magic number (``.wav``, ``.flac``, ``.ogg``, ``.mp3``), None if unknown."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return ".wav"
    if data[:4] == b"fLaC":
        return ".flac"
    if data[:4] == b"OggS":
        return ".ogg"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return ".mp3"
    return None


def materialise(value: Any, cache: Path, utt_id: str, *, source: Path, where: str) -> Path:
    """The audio file of one cell of an audio column, writing its bytes into ``cache`` when needed.

    Raises
    ------
    CorpusError
        A null cell, or one with neither bytes nor an existing path, or bytes of an unknown format.
    """
    if not isinstance(value, dict):
        raise CorpusError("has no audio (a null cell); remove the row or add its audio", path=source, where=where)
    data, named = value.get("bytes"), value.get("path")
    if not data:
        if named:
            candidate = Path(named) if Path(named).is_absolute() else source.parent / named
            if candidate.is_file():
                return candidate
        raise CorpusError(f"has no audio bytes and its path {named!r} is not a file; remove the row or add its audio",
                          path=source, where=where)  # fmt: skip
    suffix = Path(named).suffix.lower() if named else ""
    if suffix not in (*AUDIO_SUFFIXES, *COMPRESSED_AUDIO_SUFFIXES):
        suffix = sniff_suffix(data) or ""
    if not suffix:
        raise CorpusError("holds audio bytes of an unknown format (not WAV, FLAC, Ogg or MP3)", path=source, where=where)
    target = cache / f"{utt_id}{suffix}"
    try:
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            return target
        atomic_write(target, data)
    except OSError as exc:
        raise CorpusError(f"cannot write the audio cache ({exc.strerror or exc}); set {CACHE_VARIABLE} to a writable folder",
                          path=target) from None  # fmt: skip
    return target


__all__ = [
    "CACHE_FOLDER",
    "CACHE_VARIABLE",
    "HFDatasetCorpus",
    "TableFile",
    "audio_columns",
    "is_hf_dataset",
    "materialise",
    "require_pyarrow",
    "row_id",
    "safe_id",
    "sniff_suffix",
    "utterance_id",
]
