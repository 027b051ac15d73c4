"""Articulatory classes of the 39 ARPAbet phones, to group the viewer's phone-by-phone matrix.

Each phone of :data:`~layerprobe.data.labels.ARPABET39` has one value per feature (:data:`FEATURES`):

* consonant features: **manner** (stop, affricate, fricative, nasal, liquid, glide; vowels are
  ``vowel``), **place** (bilabial, labiodental, dental, alveolar, postalveolar, palatal, velar,
  labiovelar, glottal; vowels are ``vowel``) and **voicing** (voiced, voiceless; vowels are voiced);
* vowel features: **height** (high, mid, low), **backness** (front, central, back) and **rounding**
  (rounded, unrounded); consonants are ``consonant`` for all three.

So every phone falls in exactly one group of every feature and a grouped matrix keeps all the mass
of the ungrouped one.  The values are the usual ones of General American English (Ladefoged &
Johnson, *A Course in Phonetics*): diphthongs take the features of their first element (AY, AW:
low central unrounded; EY: mid front; OW, OY: mid back rounded), ER is a mid central unrounded
vowel, R an alveolar liquid, W a labiovelar glide, HH a glottal fricative.
"""

from __future__ import annotations

from collections.abc import Mapping

from layerprobe.data.labels import ARPABET39
from layerprobe.errors import ConfigError

#: The features a matrix can be grouped by, and the order of each feature's groups.
FEATURES: dict[str, tuple[str, ...]] = {
    "manner": ("vowel", "stop", "affricate", "fricative", "nasal", "liquid", "glide"),
    "place": ("vowel", "bilabial", "labiodental", "dental", "alveolar", "postalveolar", "palatal", "velar", "labiovelar", "glottal"),
    "voicing": ("voiced", "voiceless"),
    "height": ("high", "mid", "low", "consonant"),
    "backness": ("front", "central", "back", "consonant"),
    "rounding": ("unrounded", "rounded", "consonant"),
}

_VOWELS: dict[str, tuple[str, str, str]] = {  # height, backness, rounding
    "AA": ("low", "back", "unrounded"), "AE": ("low", "front", "unrounded"), "AH": ("mid", "central", "unrounded"),
    "AO": ("mid", "back", "rounded"), "AW": ("low", "central", "unrounded"), "AY": ("low", "central", "unrounded"),
    "EH": ("mid", "front", "unrounded"), "ER": ("mid", "central", "unrounded"), "EY": ("mid", "front", "unrounded"),
    "IH": ("high", "front", "unrounded"), "IY": ("high", "front", "unrounded"), "OW": ("mid", "back", "rounded"),
    "OY": ("mid", "back", "rounded"), "UH": ("high", "back", "rounded"), "UW": ("high", "back", "rounded"),
}  # fmt: skip

_CONSONANTS: dict[str, tuple[str, str, str]] = {  # manner, place, voicing
    "B": ("stop", "bilabial", "voiced"), "P": ("stop", "bilabial", "voiceless"),
    "D": ("stop", "alveolar", "voiced"), "T": ("stop", "alveolar", "voiceless"),
    "G": ("stop", "velar", "voiced"), "K": ("stop", "velar", "voiceless"),
    "JH": ("affricate", "postalveolar", "voiced"), "CH": ("affricate", "postalveolar", "voiceless"),
    "V": ("fricative", "labiodental", "voiced"), "F": ("fricative", "labiodental", "voiceless"),
    "DH": ("fricative", "dental", "voiced"), "TH": ("fricative", "dental", "voiceless"),
    "Z": ("fricative", "alveolar", "voiced"), "S": ("fricative", "alveolar", "voiceless"),
    "ZH": ("fricative", "postalveolar", "voiced"), "SH": ("fricative", "postalveolar", "voiceless"),
    "HH": ("fricative", "glottal", "voiceless"),
    "M": ("nasal", "bilabial", "voiced"), "N": ("nasal", "alveolar", "voiced"), "NG": ("nasal", "velar", "voiced"),
    "L": ("liquid", "alveolar", "voiced"), "R": ("liquid", "alveolar", "voiced"),
    "W": ("glide", "labiovelar", "voiced"), "Y": ("glide", "palatal", "voiced"),
}  # fmt: skip


def _table() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    for phone in ARPABET39:
        if phone in _VOWELS:
            height, backness, rounding = _VOWELS[phone]
            table[phone] = {"manner": "vowel", "place": "vowel", "voicing": "voiced",
                            "height": height, "backness": backness, "rounding": rounding}  # fmt: skip
        else:
            manner, place, voicing = _CONSONANTS[phone]
            table[phone] = {"manner": manner, "place": place, "voicing": voicing,
                            "height": "consonant", "backness": "consonant", "rounding": "consonant"}  # fmt: skip
    return table


#: Phone (ARPAbet-39) -> feature -> its group, e.g. ``PHONE_FEATURES["S"]["place"] == "alveolar"``.
PHONE_FEATURES: Mapping[str, Mapping[str, str]] = _table()

#: What a phone-by-phone matrix can be grouped by: the phones themselves, or one feature.
GROUPINGS: tuple[str, ...] = ("phone", *FEATURES)


def phone_group(phone: str, grouping: str) -> str:
    """The group of an ARPAbet-39 phone under a grouping (``"phone"``: the phone itself).

    >>> phone_group("S", "place"), phone_group("IY", "height"), phone_group("S", "height")
    ('alveolar', 'high', 'consonant')
    """
    if grouping not in GROUPINGS:
        raise ConfigError(f"unknown grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}")
    if grouping == "phone":
        return phone
    try:
        return PHONE_FEATURES[phone][grouping]
    except KeyError:
        raise ConfigError(f"{phone!r} is not one of the 39 ARPAbet phones; only those can be grouped by {grouping}") from None


def group_order(grouping: str) -> tuple[str, ...]:
    """The groups of a grouping in display order (the 39 phones for ``"phone"``)."""
    if grouping == "phone":
        return ARPABET39
    if grouping not in FEATURES:
        raise ConfigError(f"unknown grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}")
    return FEATURES[grouping]


__all__ = ["FEATURES", "GROUPINGS", "PHONE_FEATURES", "group_order", "phone_group"]
