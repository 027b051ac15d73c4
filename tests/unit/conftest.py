"""Fixtures shared by the unit tests of models: tiny seeded models built once per module."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    """A private cache folder for the tiny models of one test module."""
    return tmp_path_factory.mktemp("tiny-cache")


@pytest.fixture(scope="module")
def adapters(tiny_root):
    """``adapters(name)``: the tiny model ``name`` (``wav2vec2``, ``whisper`` ...), loaded once."""
    from layerprobe.models.tiny import load_tiny_model

    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = load_tiny_model(name, root=tiny_root)
        return cache[name]

    return get
