"""Fixtures shared by all tests.

The helpers of the tests live in ``tests/support`` (imported as ``support``): pytest's default
``prepend`` import mode puts this folder on ``sys.path`` for this conftest; the insertion below does
the same under other import modes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Tests never touch the network: the Hugging Face clients stay offline (set before they are imported,
# since they read it at import).  Tests of the online paths patch huggingface_hub.constants.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.shared import shared_dir  # noqa: E402


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


@pytest.fixture(scope="module")
def one_thread():
    """torch on one CPU thread for a test module, restored after it.

    Tiny models and small LSTMs run fastest on one thread (with two, torch's thread pool busy-waits
    and costs ~10x on a loaded 2-core machine), and runs compare bit-exactly.  Modules use it with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``, module fixtures by requesting it.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
