"""Fixtures shared by all tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerprobe.testing.shared import shared_dir


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ``../shared`` folder; tests that take this fixture skip cleanly where it is absent."""
    path = shared_dir()
    if path is None:
        pytest.skip("../shared is not present (real recordings and the Whisper model live there)")
    return path


@pytest.fixture(scope="session")
def timit_sample(shared: Path) -> Path:
    """The TIMIT sample utterance folder (LDC93S1 .wav/.phn/.wrd/.txt)."""
    return shared / "data" / "timit_sample"


@pytest.fixture(scope="session")
def librivox_dir(shared: Path) -> Path:
    """Five LibriVox clips with ``transcripts.txt`` (no alignments)."""
    return shared / "data" / "librivox"
