"""layerprobe: layer-wise analysis of self-supervised speech models.

Extract every layer of a pretrained speech model once, at frame, phone and word level, and run the
analyses of the layer-wise literature (CCA, mutual information, word similarity, attention patterns,
probes) on the stored features.  See the README for the command-line tour and ``DESIGN.md`` for
the names shared across the package.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
