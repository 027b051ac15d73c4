"""Phone classes (ARPAbet 39) from ARPAbet with stress and from TIMIT's 61 phones; word labels."""

from __future__ import annotations

import pytest

from layerprobe.data.labels import ARPABET39, is_silence, phone_class, word_label

TIMIT61 = (
    "b d g p t k dx q jh ch s sh z zh f th v dh m n ng em en eng nx l r w y hh hv el "
    "iy ih eh ey ae aa aw ay ah ao oy ow uh uw ux er ax ix axr ax-h "
    "pau epi h# bcl dcl gcl pcl tcl kcl"
).split()


def test_arpabet39_is_the_cmu_phoneme_set():
    assert len(ARPABET39) == 39 == len(set(ARPABET39))
    assert "SIL" not in ARPABET39 and "DX" not in ARPABET39


def test_every_timit_phone_has_a_class_or_is_excluded():
    assert len(TIMIT61) == 61
    classes = {label: phone_class(label) for label in TIMIT61}
    assert all(c is None or c in ARPABET39 for c in classes.values())
    excluded = sorted(label for label, c in classes.items() if c is None)
    assert excluded == sorted(["q", "pau", "epi", "h#", "bcl", "dcl", "gcl", "pcl", "tcl", "kcl"])
    # the 51 phones with a class cover all 39 CMU classes
    assert {c for c in classes.values() if c} == set(ARPABET39)


@pytest.mark.parametrize(
    "label, expected",
    [("AH0", "AH"), ("ah1", "AH"), ("ER2", "ER"), ("ZH", "ZH"), ("ix", "IH"), ("axr", "ER"), ("dx", "T"),
     ("hv", "HH"), ("nx", "N"), ("sil", None), ("SP", None), ("spn", None), ("h#", None), ("kcl", None),
     ("", None), ("XYZ", None), ("AH3", None)],
)  # fmt: skip
def test_phone_class(label, expected):
    assert phone_class(label) == expected


def test_word_labels():
    assert word_label("The") == "the"
    assert word_label(" <unk> ") is None
    assert word_label("sil") is None
    assert is_silence("<sil>") and not is_silence("the")
