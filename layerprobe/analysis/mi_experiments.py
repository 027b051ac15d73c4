"""Moved to :mod:`layerprobe.experiments.mi` (issue 13); this module re-exports its names."""

# TRANSITIONAL SHIM (issue 13): removed by the lead
from layerprobe.experiments.mi import DEFAULTS, EXPERIMENTS, METRIC, REP, LayerMI, mi_layers, run_mi  # noqa: F401

__all__ = ["DEFAULTS", "EXPERIMENTS", "METRIC", "REP", "LayerMI", "mi_layers", "run_mi"]
