"""One figure style for every figure layerprobe draws, and the human names figures use.

Figures go into papers: :func:`paper_style` sizes fonts for a two-column paper printed at 100 %
(a figure 3.3 in wide for one column, 7 in for two), uses a colour-blind-safe palette (Okabe & Ito
2008, :data:`PALETTE`) and keeps text as text in vector files (PDF / SVG).  Every figure function
draws inside it::

    with paper_style():
        fig = Figure(figsize=(COLUMN_WIDTH_IN, 2.4))
        ...

Names: result rows carry ids (``cca_mel``, ``mi_phone@lloyd``, ``pwcca``); figures show words
(:func:`experiment_title`: "CCA with log-mel features"; :func:`layerprobe.plots.metric_label` for
metrics).  A variant suffix stays visible: ``cca_mel@pinned`` -> "CCA with log-mel features
(pinned)".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Okabe & Ito's colour-blind-safe qualitative palette: seven hues, in an order that keeps
#: neighbouring lines apart, then black.
PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
#: Widths of a one-column and a two-column figure in a two-column paper, inches.
COLUMN_WIDTH_IN = 3.3
PAGE_WIDTH_IN = 7.0
#: Font sizes (points) readable when the figure is printed at its own size.
FONT_SIZE = 8.0
TITLE_SIZE = 9.0

#: Human names of the experiments a result table may hold (by id, without a variant suffix).
EXPERIMENT_NAMES: dict[str, str] = {
    "cca_mel": "CCA with log-mel features",
    "cca_intra": "CCA with layer T0",
    "cca_phone": "CCA with phone labels",
    "cca_word": "CCA with word labels",
    "cca_agwe": "CCA with acoustic word embeddings",
    "cca_glove": "CCA with GloVe vectors",
    "cca_semantic": "CCA with semantic attributes",
    "cca_syntactic": "CCA with syntactic attributes",
    "mi_phone": "Mutual information with phones",
    "mi_word": "Mutual information with words",
    "awd": "Acoustic word discrimination",
    "wordsim": "Word similarity",
    "segment": "Word segmentation",
    "spoken_sts": "Spoken sentence similarity",
    "probe": "Frozen-layer CTC probe",
    "finetune": "Fine-tuning",
    "attention": "Attention patterns",
}


def experiment_title(experiment: str) -> str:
    """The human name of an experiment id, its variant suffix in brackets.

    >>> experiment_title("cca_mel")
    'CCA with log-mel features'
    >>> experiment_title("mi_phone@lloyd+zscore")
    'Mutual information with phones (lloyd, zscore)'
    >>> experiment_title("my_probe")
    'my_probe'
    """
    base, _, variant = experiment.partition("@")
    name = EXPERIMENT_NAMES.get(base, base)
    if variant:
        name += " (" + ", ".join(part for part in variant.split("+") if part) + ")"
    return name


def style_parameters() -> dict[str, Any]:
    """The matplotlib rc parameters of :func:`paper_style`."""
    from cycler import cycler

    return {
        "font.size": FONT_SIZE,
        "axes.titlesize": TITLE_SIZE,
        "axes.labelsize": FONT_SIZE,
        "xtick.labelsize": FONT_SIZE - 1,
        "ytick.labelsize": FONT_SIZE - 1,
        "legend.fontsize": FONT_SIZE - 1,
        "figure.titlesize": TITLE_SIZE + 1,
        "axes.prop_cycle": cycler(color=list(PALETTE)),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "grid.linewidth": 0.5,
        "lines.linewidth": 1.4,
        "lines.markersize": 4.0,
        "legend.frameon": False,
        "savefig.dpi": 300,
        "pdf.fonttype": 42,  # TrueType in PDF: the text stays text, editable and searchable
        "ps.fonttype": 42,
        "svg.fonttype": "none",
        "image.cmap": "viridis",
    }


@contextmanager
def paper_style() -> Iterator[None]:
    """A matplotlib rc context with :func:`style_parameters`, left when the block ends."""
    import matplotlib

    with matplotlib.rc_context(style_parameters()):
        yield
