"""What the attention viewer reads: maps from a feature store, alignments through the data-sample manifest.

Part of :mod:`layerprobe.attention.view` (whose public names are importable from there as before).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from layerprobe.errors import ConfigError, LayerprobeError
from layerprobe.io.alignments import Alignment

if TYPE_CHECKING:  # pragma: no cover
    from layerprobe.data.samples import SampleManifest
    from layerprobe.io.store import FeatureStore

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------------------------------
# Store helpers


def _open_store(store: "FeatureStore | PathLike") -> tuple["FeatureStore", bool]:
    from layerprobe.io.store import FeatureStore

    if isinstance(store, FeatureStore):
        return store, False
    return FeatureStore.open(store), True


def _maps(store: Any, utt_id: str, layer: str, *, logits: bool = False) -> np.ndarray | None:
    """The stored maps, or None (also when the store has no logits group at all)."""
    try:
        return store.attention(utt_id, layer, logits=logits)
    except KeyError:
        return None


def _map_utterances(store: "FeatureStore") -> list[str]:
    """Ids of the utterances with stored maps, in store order."""
    config = store.attrs.get("config") or {}
    listed = config.get("attention_utterances")
    ids = store.utterance_ids
    if isinstance(listed, list) and listed:
        chosen = set(listed)
        return [utt for utt in ids if utt in chosen]
    return [utt for utt in ids if any(_maps(store, utt, layer) is not None for layer in store.layer_ids)]


def _map_layers(store: "FeatureStore", utt_id: str) -> list[str]:
    return [layer for layer in store.layer_ids if _maps(store, utt_id, layer) is not None]


def _head_view(maps: np.ndarray, head: int | str) -> np.ndarray:
    """One head of (heads, T, T) maps, or their mean for ``"avg"``."""
    if isinstance(head, str) and head.lower() in ("avg", "mean", "average"):
        return maps.mean(axis=0)
    try:
        index = int(head)
    except (TypeError, ValueError):
        raise ConfigError(f"head must be a head number or avg, got {head!r}") from None
    if not 0 <= index < maps.shape[0]:
        raise ConfigError(f"head {index} does not exist (the maps have {maps.shape[0]} heads: 0-{maps.shape[0] - 1})")
    return maps[index]


# --------------------------------------------------------------------------------------------------
# Manifest and alignments


def find_manifest(
    store: "FeatureStore", *, samples_dir: PathLike | None = "data_samples", manifest: PathLike | None = None
) -> tuple[Path | None, str]:
    """Locate the data-sample manifest a store was extracted from.

    Parameters
    ----------
    store : FeatureStore
    samples_dir : path-like, optional
        Root of the data-sample sets; the manifest is ``<samples_dir>/<corpus>/<file>`` with corpus
        and file from the store's ``config.manifest`` attr.
    manifest : path-like, optional
        The manifest itself (wins over ``samples_dir``).

    Returns
    -------
    (Path or None, str)
        The manifest path (None when not found) and a note for the reader (empty when all is well).
    """
    if manifest is not None:
        path = Path(manifest)
        return (path, "") if path.is_file() else (None, f"manifest {path} does not exist")
    recorded = (store.attrs.get("config") or {}).get("manifest")
    if not isinstance(recorded, Mapping) or not recorded.get("corpus"):
        return None, "the store records no data-sample manifest"
    if samples_dir is None:
        return None, "no samples directory given"
    from layerprobe.data.samples import manifest_path

    file = recorded.get("file")
    if file:
        path = Path(samples_dir) / str(recorded["corpus"]) / str(file)
    else:
        path = manifest_path(samples_dir, recorded["corpus"], recorded["split"], recorded["span"], int(recorded["sample"]))
    if not path.is_file():
        return None, f"manifest {path} not found (pass --samples-dir or --manifest)"
    return path, ""


def _alignment_format(path: Path, corpus_format: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".textgrid":
        return "textgrid"
    if suffix in (".phn", ".wrd"):
        return "timit"
    if corpus_format in ("timit", "librispeech"):
        return corpus_format
    return "textgrid"


def load_alignments(manifest: "SampleManifest | PathLike", utt_ids: Sequence[str]) -> tuple[dict[str, Alignment], list[str]]:
    """Read the alignments of some utterances of a data-sample set.

    Returns
    -------
    (dict, list of str)
        utterance id -> Alignment for those that have one, and notes on those that do not.
    """
    from layerprobe.data.corpora import read_alignment
    from layerprobe.data.samples import SampleManifest, read_manifest

    sample = manifest if isinstance(manifest, SampleManifest) else read_manifest(manifest)
    by_id = {u.utt_id: u for u in sample.utterances}
    found: dict[str, Alignment] = {}
    notes: list[str] = []
    for utt_id in utt_ids:
        utterance = by_id.get(utt_id)
        if utterance is None:
            notes.append(f"{utt_id}: not in the manifest")
            continue
        path = sample.alignment_path(utterance)
        if path is None:
            notes.append(f"{utt_id}: no alignment file")
            continue
        try:
            found[utt_id] = read_alignment(path, _alignment_format(path, str(sample.corpus.get("format", ""))),
                                           utt_id=utt_id, duration=utterance.duration_s,
                                           phone_tier=sample.corpus.get("phone_tier"),
                                           word_tier=sample.corpus.get("word_tier"))  # fmt: skip
        except LayerprobeError as exc:
            notes.append(f"{utt_id}: {exc}")
    return found, notes


__all__ = ["find_manifest", "load_alignments"]
