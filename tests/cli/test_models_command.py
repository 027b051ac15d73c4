"""``layerprobe models``: the catalog of families, one family, an unknown family."""

from __future__ import annotations

from layerprobe.models.catalog import catalog_lines
from support.cli import run


def test_models_lists_every_family_and_spec_form(capsys):
    code, out, err = run(["models"], capsys)
    assert code == 0 and err == ""
    assert out.splitlines() == catalog_lines()
    assert "  wav2vec2-bert (Wav2Vec2BertModel, T layers at 50 Hz)" in out.splitlines()


def test_models_family_shows_one_family(capsys):
    code, out, _ = run(["models", "--family", "wav2vec2-bert"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 6 and lines[0] == "  wav2vec2-bert (Wav2Vec2BertModel, T layers at 50 Hz)"
    assert lines[1].startswith("    C layers:    none: no conv encoder")
    assert lines[5] == "    tiny:        tiny:wav2vec2-bert"


def test_unknown_family_is_one_line(capsys):
    code, out, err = run(["models", "--family", "conformer"], capsys)
    assert code == 2 and out == ""  # a bad command line
    assert err == (
        "layerprobe models: error: Invalid value for '--family': 'conformer' is not one of 'wav2vec2', 'hubert', "
        "'wavlm', 'data2vec-audio', 'unispeech', 'unispeech-sat', 'wav2vec2-conformer', 'wav2vec2-bert', 'sew', "
        "'sew-d', 'whisper', 'avhubert', 'fastvgs'. (see 'layerprobe models --help')\n"
    )
