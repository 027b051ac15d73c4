"""Phone and word label sets: the 39 ARPAbet phone classes and the maps onto them.

Phone experiments use the 39 phonemes of the CMU Pronouncing Dictionary (ARPAbet without stress),
the classes of the layer-wise analysis papers on LibriSpeech; silence is not a class.  Labels from
the supported sources map onto them:

* ARPAbet with stress digits (LibriSpeech / Montreal Forced Aligner, PocketSphinx): ``AH0`` -> ``AH``.
* TIMIT's 61 phones, folded onto the 39 CMU classes: ``ax``, ``ax-h`` -> ``AH``; ``ix`` -> ``IH``;
  ``axr`` -> ``ER``; ``ux`` -> ``UW``; ``dx`` (flap) -> ``T``; ``el`` -> ``L``; ``em`` -> ``M``;
  ``en``, ``nx`` -> ``N``; ``eng`` -> ``NG``; ``hv`` -> ``HH``.  Stop closures (``bcl`` ...), the
  glottal stop ``q`` and the pauses ``h#``, ``pau``, ``epi`` have no class (like silence).
* eSpeak NG's IPA, used by the synthesized corpus, is mapped in :mod:`layerprobe.data.espeak`.

Word labels are lower-cased; silence markers and ``<unk>`` are not words.
"""

from __future__ import annotations

import re

#: The 39 phone classes (CMU Pronouncing Dictionary phonemes, no stress), in a fixed order.
ARPABET39: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip

#: Labels that mark silence, pauses or noise rather than a phone or a word (compared lower-cased).
SILENCE_LABELS = frozenset(
    {"", "sil", "sp", "spn", "<sil>", "<s>", "</s>", "h#", "pau", "epi", "silence", "noise", "<noise>", "<unk>"}
)

#: TIMIT labels that are not CMU phonemes, and their class (None: no class, like silence).
TIMIT_FOLDING: dict[str, str | None] = {
    "ax": "AH", "ax-h": "AH", "ix": "IH", "axr": "ER", "ux": "UW", "dx": "T", "el": "L", "em": "M",
    "en": "N", "nx": "N", "eng": "NG", "hv": "HH", "q": None,
    "bcl": None, "dcl": None, "gcl": None, "pcl": None, "tcl": None, "kcl": None,
}  # fmt: skip

_ARPABET_SET = frozenset(ARPABET39)
_STRESS = re.compile(r"^([A-Za-z]+)[012]$")


def is_silence(label: str) -> bool:
    """Whether a label marks silence, a pause or noise (``sil``, ``sp``, ``h#``, ``<unk>`` ...)."""
    return label.strip().lower() in SILENCE_LABELS


def phone_class(label: str) -> str | None:
    """The ARPAbet-39 class of a phone label, or None for silence and labels without a class.

    Parameters
    ----------
    label : str
        ARPAbet (any case, optional stress digit) or TIMIT label.

    Returns
    -------
    str or None
        One of :data:`ARPABET39`; None for silence, pauses, stop closures and unknown labels.

    Examples
    --------
    >>> phone_class("AH0"), phone_class("ix"), phone_class("h#"), phone_class("kcl")
    ('AH', 'IH', None, None)
    """
    text = label.strip()
    if text.lower() in SILENCE_LABELS:
        return None
    lowered = text.lower()
    if lowered in TIMIT_FOLDING:
        return TIMIT_FOLDING[lowered]
    stressed = _STRESS.match(text)
    if stressed:
        text = stressed.group(1)
    upper = text.upper()
    return upper if upper in _ARPABET_SET else None


def word_label(label: str) -> str | None:
    """The word a word-tier label stands for (lower-cased), or None for silence and ``<unk>``."""
    text = label.strip().lower()
    if text in SILENCE_LABELS:
        return None
    return text


__all__ = ["ARPABET39", "SILENCE_LABELS", "TIMIT_FOLDING", "is_silence", "phone_class", "word_label"]
