"""Locate the shared test data and model (``../shared`` beside the checkout) if it is there."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that points at the shared folder explicitly.
SHARED_ENV = "LAYERPROBE_SHARED"


def shared_dir() -> Path | None:
    """The ``shared`` folder (``$LAYERPROBE_SHARED`` or ``../shared`` beside the repository), or None."""
    explicit = os.environ.get(SHARED_ENV)
    candidates = [Path(explicit)] if explicit else []
    repo_root = Path(__file__).resolve().parents[2]
    candidates.append(repo_root.parent / "shared")
    for candidate in candidates:
        if (candidate / "data").is_dir():
            return candidate
    return None


__all__ = ["SHARED_ENV", "shared_dir"]
