"""A content fingerprint of a model's weight files, recorded wherever a result depends on the weights.

A store (``weights_fingerprint`` attr), a fine-tuning checkpoint and its ``result.json`` record the
fingerprint of the weights they were computed from, so that a rerun after the weights were replaced
(same path, other content) is refused instead of mixing or reusing the results of the old weights.

The fingerprint is a sha256 over, for each weight file in name order: its length, then its content
when it is at most :data:`FULL_HASH_BYTES` (4 MiB), else its first and last MiB plus
:data:`N_PROBES` evenly spaced 64 KiB blocks in between.  This reads at most ~4 MiB per file, so a
multi-GB checkpoint is fingerprinted in milliseconds on every load, and it changes whenever the
weights do in practice: a retrained or fine-tuned model changes (nearly) every tensor, and a model of
another size changes the length.  What it cannot see is an edit confined to unsampled bytes of a
large file that keeps its length; a full hash would, at the cost of reading every byte on every load.
File names and paths do not enter it (a renamed copy has the same fingerprint).

Weight files: ``*.safetensors``, ``*.bin``, ``*.pt``, ``*.pth``, ``*.ckpt`` and ``*.msgpack``
directly in a model directory (``hf:DIR`` and the saved ``tiny:`` models), or the checkpoint file
itself (``fairseq:CKPT.pt``).  A hub id fingerprints its cached commit (``hub:<commit hash>``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".msgpack")
FULL_HASH_BYTES = 4 << 20
EDGE_BYTES = 1 << 20
PROBE_BYTES = 64 << 10
N_PROBES = 32

#: Characters of a fingerprint shown in messages.
SHOWN = 12


def weight_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The weight files directly in a model directory, by name."""
    folder = Path(directory)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def files_fingerprint(files: Iterable[str | os.PathLike[str]]) -> str | None:
    """The fingerprint (64 hex digits) of weight files, in the order given; None when there are none."""
    digest = hashlib.sha256(b"layerprobe-weights-v1")
    count = 0
    for file in files:
        _update(digest, Path(file))
        count += 1
    return digest.hexdigest() if count else None


def directory_fingerprint(directory: str | os.PathLike[str]) -> str | None:
    """The fingerprint of a model directory's weight files (None when it has none)."""
    return files_fingerprint(weight_files(directory))


def spec_fingerprint(spec: str) -> str | None:
    """The fingerprint a model spec's weights have, computed without loading the model.

    ``hf:DIR`` and ``tiny:`` models (once built) fingerprint their directory, ``fairseq:CKPT.pt``
    its file, as the loaded adapter's ``weights_fingerprint`` does.  None when it cannot be known
    here: a hub id (its cached commit is known only once loaded), a tiny model not built yet, a path
    that does not exist or cannot be read.
    """
    scheme, _, target = str(spec).strip().partition(":")
    scheme, target = scheme.lower(), target.strip()
    try:
        if scheme == "hf":
            path = Path(target).expanduser()
            return directory_fingerprint(path) if path.is_dir() else None
        if scheme in ("fairseq", "avhubert"):
            path = Path(target).expanduser()
            return files_fingerprint([path]) if path.is_file() else None
        if scheme == "fastvgs":
            files = [Path(target).expanduser() / name for name in ("args.pkl", "best_bundle.pth")]
            return files_fingerprint(files) if all(file.is_file() for file in files) else None
        if scheme == "tiny":
            from layerprobe.errors import LayerprobeError
            from layerprobe.models.tiny import parse_tiny_name, tiny_model_dir

            try:
                name, seed = parse_tiny_name(target)
                directory = tiny_model_dir(name, seed=seed)
            except LayerprobeError:
                return None
            return directory_fingerprint(directory) if directory.is_dir() else None
    except OSError:
        return None
    return None


def short(fingerprint: object) -> str:
    """The start of a fingerprint for a message (``"none"`` when there is none)."""
    return str(fingerprint)[:SHOWN] if fingerprint else "none"


def _update(digest: "hashlib._Hash", path: Path) -> None:
    size = path.stat().st_size
    digest.update(size.to_bytes(8, "little"))
    with path.open("rb") as handle:
        if size <= FULL_HASH_BYTES:
            digest.update(handle.read())
            return
        digest.update(handle.read(EDGE_BYTES))
        middle = size - 2 * EDGE_BYTES - PROBE_BYTES
        for k in range(N_PROBES):
            handle.seek(EDGE_BYTES + middle * k // max(N_PROBES - 1, 1))
            digest.update(handle.read(PROBE_BYTES))
        handle.seek(size - EDGE_BYTES)
        digest.update(handle.read(EDGE_BYTES))


__all__ = ["WEIGHT_SUFFIXES", "weight_files", "files_fingerprint", "directory_fingerprint", "spec_fingerprint", "short"]
