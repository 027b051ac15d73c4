"""The catalog ``layerprobe models`` shows agrees with the loading code and the tiny models."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from layerprobe.models.catalog import FAMILIES, catalog_lines, family_info  # noqa: E402
from layerprobe.models.hf_loading import SUPPORTED_MODEL_TYPES, model_classes  # noqa: E402
from layerprobe.models.tiny import TINY_MODEL_NAMES, tiny_recipe  # noqa: E402


#: Families read by modules written in layerprobe (avhubert:, fastvgs: specs), not by transformers classes.
PROJECT_FAMILIES = ("avhubert", "fastvgs")


def test_every_supported_family_is_listed_with_its_class_and_tiny_models():
    hf_families = [info for info in FAMILIES if info.family not in PROJECT_FAMILIES]
    assert sorted(info.family for info in hf_families) == sorted(set(SUPPORTED_MODEL_TYPES.values()))
    assert [info.family for info in FAMILIES if info.family in PROJECT_FAMILIES] == list(PROJECT_FAMILIES)
    classes = model_classes()
    for info in hf_families:
        assert info.model_class.split()[0] == classes[info.family].__name__
        assert info.tiny and all(tiny_recipe(name).family == info.family for name in info.tiny)
    listed = {name for info in FAMILIES for name in info.tiny}
    assert listed == {name for name in TINY_MODEL_NAMES if not name.endswith("-base")} | {
        "wav2vec2-base", "hubert-base", "wavlm-base", "data2vec-audio-base", "whisper-base"
    }


@pytest.mark.parametrize("family", ("wav2vec2", "wav2vec2-conformer", "wav2vec2-bert", "sew", "sew-d", "unispeech-sat", "whisper"))
def test_frame_rates_and_c_layers_match_the_tiny_model(adapters, family):
    info = family_info(family)
    adapter = adapters(info.tiny[0])
    assert adapter.frame_rate_hz == info.frame_rate_hz
    assert info.c_layers.startswith("none") is (not adapter.conv_blocks())


def test_catalog_lines():
    lines = catalog_lines()
    assert lines[:6] == [
        "Spec forms:",
        "  hf:ID_OR_DIR       a transformers model directory, or a hub id in the local Hugging Face cache (--revision)",
        "  fairseq:CKPT.pt    a fairseq wav2vec 2.0 / HuBERT checkpoint, key-mapped into the transformers module",
        "  avhubert:CKPT.pt   an AV-HuBERT pre-training checkpoint, audio only, key-mapped into a module written in layerprobe",
        "  fastvgs:FOLDER     a FaST-VGS / FaST-VGS+ folder (args.pkl + best_bundle.pth): the audio branch's w2v2 part",
        "  tiny:NAME[@SEED]   a seeded random model (NAME below; FAMILY-base: base-size random weights)",
    ]
    start = lines.index("  sew (SEWModel, T layers at 25 Hz)")
    assert lines[start + 3] == "    T1..TL:      transformer blocks at 25 Hz (the upsampled final output is not a layer)"
    assert lines[start + 5] == "    tiny:        tiny:sew"
    with pytest.raises(KeyError):
        family_info("conformer")
