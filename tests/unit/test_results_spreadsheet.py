"""A result table saved by a spreadsheet (UTF-8 byte-order mark, CRLF line ends) is read, and round-trips.

It used to be refused: the byte-order mark made the first header cell ``'\\ufeffmodel'``.
"""

from __future__ import annotations

from layerprobe.results import ResultTable

ROWS = [
    {"model": "tiny:wav2vec2", "corpus": "synth", "experiment": "cca_mel", "layer": layer, "split": "train", "sample": 1,
     "seed": 0, "metric": "pwcca", "value": value}
    for layer, value in (("T1", 0.625), ("T2", 0.1 + 0.2))
]  # fmt: skip


def _saved(tmp_path):
    table = ResultTable.open(tmp_path / "r.csv")
    table.add(ROWS, options={"epsilon": 1e-10})
    return table.save()


def test_a_csv_with_a_bom_and_crlf_line_ends_is_read_and_written_back_plainly(tmp_path):
    path = _saved(tmp_path)
    plain = path.read_bytes()
    spreadsheet = b"\xef\xbb\xbf" + plain.replace(b"\n", b"\r\n")
    path.write_bytes(spreadsheet)
    table = ResultTable.open(path)
    assert table.rows == ROWS
    assert table.metadata(ROWS[0])["options"] == {"epsilon": 1e-10}
    table.add([{**ROWS[0], "layer": "T3", "value": 0.5}])
    table.save()
    written = path.read_bytes()
    assert not written.startswith(b"\xef\xbb\xbf") and b"\r" not in written
    assert [row["value"] for row in ResultTable.open(path).rows] == [0.625, 0.1 + 0.2, 0.5]
    # the same rows read from the spreadsheet file and the plain one
    path.write_bytes(spreadsheet)
    assert ResultTable.read(path).rows == ROWS


def test_a_sidecar_with_a_bom_is_read(tmp_path):
    path = _saved(tmp_path)
    sidecar = path.with_suffix(".json")
    sidecar.write_bytes(b"\xef\xbb\xbf" + sidecar.read_bytes())
    assert ResultTable.open(path).metadata(ROWS[1])["options"] == {"epsilon": 1e-10}
