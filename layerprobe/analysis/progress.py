"""Moved to :mod:`layerprobe.experiments.progress` (issue 13)."""

# TRANSITIONAL SHIM (issue 13): removed by the lead
from layerprobe.experiments.progress import layer_progress  # noqa: F401

__all__ = ["layer_progress"]
