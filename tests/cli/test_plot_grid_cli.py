"""``layerprobe plot --grid``, ``--y-range`` and ``--format`` (issue 20)."""

from __future__ import annotations

from layerprobe.results import ResultTable
from support.cli import run


def table(path, model, groups):
    result = ResultTable(path)
    for experiment, metric, values in groups:
        result.add([{"model": model, "corpus": "demo", "experiment": experiment, "layer": layer, "split": "dev", "sample": 1,
                     "seed": 0, "metric": metric, "value": value} for layer, value in values.items()])  # fmt: skip
    return result.save()


def test_grid_of_two_models_tables_writes_svg_and_pdf(tmp_path, capsys):
    first = table(tmp_path / "a.csv", "tiny:wav2vec2", [("cca_mel", "pwcca", {"T0": 0.5, "T1": 0.4}), ("mi_phone", "nmi", {"T0": 0.2, "T1": 0.3})])
    second = table(tmp_path / "b.csv", "hf:/models/whisper-base", [("cca_mel", "pwcca", {"T0": 0.6, "T1": 0.7})])
    out = tmp_path / "figs" / "grid.svg"
    code, stdout, err = run(["plot", "--grid", str(first), str(second), "--out", str(out), "--format", "svg", "--format", "pdf"], capsys)
    assert code == 0, err
    assert stdout.strip() == f"plotted a grid of 2 experiments of 2 models in cca_mel, mi_phone -> {out}, {out.with_suffix('.pdf')}"
    svg = out.read_text(encoding="utf-8")
    for text in ("CCA with log-mel features", "Mutual information with phones", "whisper-base", "tiny wav2vec2"):
        assert f">{text}</text>" in svg  # titles and legend entries are text in the SVG
    assert out.with_suffix(".pdf").read_bytes().startswith(b"%PDF") and not out.with_suffix(".png").exists()
    # without --grid the two metrics cannot share one figure: the error says how to choose
    code, _, err = run(["plot", str(first), "--out", str(tmp_path / "x.png")], capsys)
    assert code == 1 and "no one metric is implied by the experiments" in err


def test_y_range_and_format_options(tmp_path, capsys):
    results = table(tmp_path / "mi.csv", "m", [("mi_phone", "nmi", {"T0": 0.61, "T1": 0.665})])
    out = tmp_path / "mi.png"
    code, stdout, err = run(["plot", str(results), "--y-range", "auto", "--format", "png", "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.strip() == f"plotted nmi of 1 model in mi_phone -> {out}"
    assert not out.with_suffix(".pdf").exists()
    code, _, err = run(["plot", str(results), "--y-range", "tight", "--out", str(out)], capsys)
    assert code == 2 and "Invalid value for '--y-range'" in err
