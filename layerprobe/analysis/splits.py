"""Seeded data splits for the CCA protocol: 10 parts, label-stratified, cached by content.

REFERENCE.md section 3: the rows of an experiment are split into ``n_parts`` parts once per data
sample set and the same parts are reused for every layer.  With labels, each label's rows are split
on their own, so every label with at least ``n_parts`` instances appears in every part: a label's
rows are shuffled, ``n_parts`` blocks of ``len // n_parts`` rows go to the parts in turn, and the
remaining ``len % n_parts`` rows go to parts drawn at random (the reference code's rule).

Unlike the reference code, splits are seeded and their cache is keyed by a content hash of the rows
being split (the ``content_key`` of the views), the seed and the part count: a cached split can
never be reused for other data, which the reference's file-count check allowed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
from pathlib import Path

import numpy as np

from layerprobe.errors import LayerprobeError
from layerprobe.io.atomic import atomic_path

log = logging.getLogger(__name__)

#: Bumped whenever the split rule changes, so old cache files are never read back.
SPLIT_RULE_VERSION = 1


def split_parts(n_rows: int, labels: np.ndarray | None = None, *, n_parts: int = 10, seed: int = 0) -> np.ndarray:
    """Assign each row to one of ``n_parts`` parts.

    Parameters
    ----------
    n_rows : int
        Rows to split.
    labels : numpy.ndarray, optional
        Shape (n_rows,): split each label's rows separately (stratified).  None: one group.
    n_parts : int
        Parts (10 in the published protocol).
    seed : int

    Returns
    -------
    numpy.ndarray
        Shape (n_rows,), int16: the part (0 .. n_parts - 1) of every row.
    """
    if n_parts < 2:
        raise ValueError(f"n_parts must be at least 2, got {n_parts}")
    rng = np.random.default_rng([seed, SPLIT_RULE_VERSION])
    parts = np.full(n_rows, -1, dtype=np.int16)
    if labels is None:
        groups = [np.arange(n_rows)]
    else:
        labels = np.asarray(labels)
        if labels.shape != (n_rows,):
            raise ValueError(f"labels have shape {labels.shape}, expected ({n_rows},)")
        # Groups in order of each label's first row: independent of how labels sort.
        _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        by_label = np.argsort(inverse, kind="stable")
        bounds = np.cumsum(np.bincount(inverse, minlength=len(first)))
        members = np.split(by_label, bounds[:-1])
        groups = [members[label] for label in order]
    for rows in groups:
        shuffled = rng.permutation(rows)
        block = len(shuffled) // n_parts
        whole = block * n_parts
        parts[shuffled[:whole]] = np.repeat(np.arange(n_parts, dtype=np.int16), block)
        parts[shuffled[whole:]] = rng.integers(0, n_parts, size=len(shuffled) - whole)
    return parts


def split_key(content_key: str, *, n_parts: int, seed: int) -> str:
    """The cache key of a split: sha256 of the rows' content key, seed, part count and rule version."""
    text = f"{content_key}|parts={n_parts}|seed={seed}|rule={SPLIT_RULE_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()


def cached_split_parts(
    cache_dir: str | os.PathLike | None,
    content_key: str,
    n_rows: int,
    labels: np.ndarray | None = None,
    *,
    n_parts: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """:func:`split_parts`, read from or written to ``cache_dir`` (no cache when None).

    The file is ``<cache_dir>/split-<key[:20]>.npz`` and also records the full key and the row
    count; a file whose record differs (a hash prefix collision, a damaged file) is recomputed.
    """
    if cache_dir is None:
        return split_parts(n_rows, labels, n_parts=n_parts, seed=seed)
    key = split_key(content_key, n_parts=n_parts, seed=seed)
    path = Path(cache_dir) / f"split-{key[:20]}.npz"
    if path.exists():
        try:
            with np.load(path) as cached:
                if str(cached["key"]) == key and cached["parts"].shape == (n_rows,):
                    parts = np.asarray(cached["parts"])
                    if parts.dtype.kind in "iu" and (parts.size == 0 or (parts.min() >= 0 and parts.max() < n_parts)):
                        return parts
                    raise ValueError(f"parts outside 0..{n_parts - 1}")
        except Exception as exc:  # noqa: BLE001 - a cache is disposable: whatever np.load makes of a damaged one
            # (BadZipFile, NotImplementedError for a mangled zip version, EOFError ...), it is rebuilt; an
            # interrupted or damaged cache file (never our atomic writes; a copy, a full disk elsewhere)
            reason = " ".join(str(exc).split())[:120] or type(exc).__name__
            log.warning("%s: damaged split cache (%s); rebuilding it", path, reason)
    parts = split_parts(n_rows, labels, n_parts=n_parts, seed=seed)
    # Built in memory first: a failed write of the archive is then one plain OSError, with no
    # half-closed zip file left to complain when it is freed.
    archive = io.BytesIO()
    np.savez(archive, key=np.array(key), parts=parts)
    try:
        with contextlib.ExitStack() as stack:
            try:
                temporary = stack.enter_context(atomic_path(path))
            except OSError as exc:  # the folder or the temporary file cannot be made
                raise LayerprobeError(f"cannot write the split cache ({exc.strerror or exc})", path=path.parent) from None
            temporary.write_bytes(archive.getbuffer())
    except OSError as exc:
        raise LayerprobeError(f"cannot write the split cache ({exc.strerror or exc})", path=path) from None
    return parts


def trial_parts(n_parts: int, n_trials: int, *, seed: int = 0) -> list[tuple[int, int]]:
    """``(dev, test)`` part pairs of the trials: disjoint pairs of a seeded permutation.

    Returns ``n_parts // 2`` pairs, the order in which trials are tried; the protocol uses the
    first ``n_trials`` that succeed.
    """
    if 2 * n_trials > n_parts:
        raise ValueError(f"{n_trials} trials need {2 * n_trials} parts for dev and test, got {n_parts}")
    order = np.random.default_rng([seed, SPLIT_RULE_VERSION, 1]).permutation(n_parts)
    return [(int(order[2 * i]), int(order[2 * i + 1])) for i in range(n_parts // 2)]
