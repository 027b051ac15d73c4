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
(pinned)".  Models are shown by a short readable name (:func:`model_display_name`:
``hf:/models/whisper-base`` -> "whisper-base", ``tiny:wav2vec2`` -> "tiny wav2vec2"), metrics by
words (:data:`METRIC_NAMES`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
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


#: Human names of metrics (axis labels); others are spelled out by ``layerprobe.plots.metric_label``.
#: ``nmi`` is mi's I(C;L)/H(L), not scikit-learn's NMI (normalised by the mean of both entropies).
METRIC_NAMES: dict[str, str] = {
    "pwcca": "PWCCA",
    "pwcca_centred": "PWCCA (sign-invariant)",
    "nmi": "Normalised MI, I(C;L) / H(L)",
    "nmi_chance": "Chance of I(C;L) / H(L)",
    "ap": "Average precision",
    "wer": "Word error rate",
    "cer": "Character error rate",
    "wer_lm": "Word error rate (with LM)",
    "cer_lm": "Character error rate (with LM)",
    "wer_mean": "Word error rate (mean over seeds)",
    "cer_mean": "Character error rate (mean over seeds)",
    "ap_cross_speaker": "Average precision (cross-speaker)",
    "precision": "Boundary precision",
    "recall": "Boundary recall",
    "f1": "Boundary F1",
    "r_value": "R-value",
    "os": "Over-segmentation",
    "token_f1": "Word-token F1",
    "spearman": "Spearman rho",
    "spearman_micro": "Spearman rho (micro)",
    "spearman_macro": "Spearman rho (macro)",
}

#: Display names of the models that are not models (the log-mel rows of ``probe --layers mel``).
MODEL_NAMES: dict[str, str] = {"logmel": "log-mel baseline"}

_HASH_TAIL = re.compile(r"-[0-9a-f]{8}$")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")


def model_display_name(model: str) -> str:
    """A short readable name of a model as a result table names it, for legends.

    The scheme goes (``hf:``, ``fairseq:``), a ``tiny:`` model keeps it as a word, a hub id or
    path keeps its last part, a local path its folder or file name without the 8 hex digits the
    table adds and without a checkpoint suffix.

    >>> model_display_name("hf:/work/shared/models/whisper-base")
    'whisper-base'
    >>> model_display_name("hf:whisper-base-1a2b3c4d")
    'whisper-base'
    >>> model_display_name("hf:facebook/wav2vec2-base")
    'wav2vec2-base'
    >>> model_display_name("tiny:wav2vec2")
    'tiny wav2vec2'
    >>> model_display_name("fairseq:wav2vec_small.pt-0badcafe")
    'wav2vec_small'
    >>> model_display_name("logmel")
    'log-mel baseline'
    """
    text = model.strip()
    if text in MODEL_NAMES:
        return MODEL_NAMES[text]
    scheme, sep, rest = text.partition(":")
    if not sep or len(scheme) == 1 or not rest.strip():
        scheme, rest = "", text
    if scheme.lower() == "tiny":
        return f"tiny {rest.strip()}"
    name = rest.strip().rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    name = _HASH_TAIL.sub("", name)
    for suffix in _CHECKPOINT_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name or text


def display_names(models: Iterable[str]) -> dict[str, str]:
    """:func:`model_display_name` of each model, or the full name where two models would share one.

    >>> display_names(["hf:a/whisper-base", "hf:b/whisper-base", "tiny:hubert"])
    {'hf:a/whisper-base': 'hf:a/whisper-base', 'hf:b/whisper-base': 'hf:b/whisper-base', 'tiny:hubert': 'tiny hubert'}
    """
    models = list(dict.fromkeys(models))
    short = {model: model_display_name(model) for model in models}
    count: dict[str, int] = {}
    for name in short.values():
        count[name] = count.get(name, 0) + 1
    return {model: name if count[name] == 1 else model for model, name in short.items()}


def experiment_title(experiment: str) -> str:
    """The human name of an experiment id, its variant suffix in brackets.

    >>> experiment_title("cca_mel")
    'CCA with log-mel features'
    >>> experiment_title("mi_phone@lloyd+zscore")
    'Mutual information with phones (lloyd, zscore)'
    >>> experiment_title("my_probe")
    'my_probe'
    >>> experiment_title("finetune_reinit:T12+local:T2-T11@30")
    'Fine-tuning, T12 re-initialised, local attention in T2-T11 (+-30 frames)'
    """
    if experiment.startswith("finetune_"):
        return _finetune_title(experiment)
    base, _, variant = experiment.partition("@")
    name = EXPERIMENT_NAMES.get(base, base)
    if variant:
        name += " (" + ", ".join(part for part in variant.split("+") if part) + ")"
    return name


def _finetune_title(experiment: str) -> str:
    """``finetune_reinit:T10-T12+local:T2-T9@30`` -> "Fine-tuning, T10-T12 re-initialised, local attention in T2-T9 (+-30 frames)"."""
    words = []
    for part in experiment[len("finetune_"):].split("+"):
        kind, _, spec = part.partition(":")
        if kind == "reinit" and spec:
            words.append(f"{spec} re-initialised")
        elif kind == "local" and spec:
            blocks, _, radius = spec.partition("@")
            words.append(f"local attention in {blocks}" + (f" (+-{radius} frames)" if radius else ""))
        else:
            return experiment
    return "Fine-tuning, " + ", ".join(words)


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
        "svg.hashsalt": "layerprobe",  # the same figure gives the same SVG ids (and bytes)
        "image.cmap": "viridis",
    }


@contextmanager
def paper_style() -> Iterator[None]:
    """A matplotlib rc context with :func:`style_parameters`, left when the block ends."""
    import matplotlib

    with matplotlib.rc_context(style_parameters()):
        yield
