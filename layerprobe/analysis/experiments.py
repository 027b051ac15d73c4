"""Moved to :mod:`layerprobe.experiments.cca` (issue 13); this module re-exports its names."""

# TRANSITIONAL SHIM (issue 13): removed by the lead
from layerprobe.experiments.cca import (  # noqa: F401
    EXPERIMENTS,
    MEL_TAG,
    METRIC,
    N_PARTS,
    Experiment,
    LayerScore,
    cca_layers,
    get_experiment,
    run_cca,
)

__all__ = ["EXPERIMENTS", "METRIC", "MEL_TAG", "N_PARTS", "Experiment", "LayerScore", "cca_layers", "get_experiment", "run_cca"]
