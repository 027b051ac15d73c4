"""Fuzzing the result-table reader: the CSV (missing columns, non-numeric values, broken quoting) and the
JSON sidecar (broken JSON, runs of the wrong shape).

``ResultTable.open`` / ``ResultTable.read`` either refuse the files with a ResultError naming the file
or return a table whose rows have the column types the table promises.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from layerprobe.errors import LayerprobeError, ResultError
from layerprobe.results import COLUMNS, ResultTable
from support.fuzz import dump_json, fuzz, json_mutation, json_values, mutated_bytes, mutated_lines, refuses


@pytest.fixture(scope="module")
def result_files(tmp_path_factory):
    """The CSV and sidecar text of a small valid table."""
    path = tmp_path_factory.mktemp("results") / "cca.csv"
    table = ResultTable.open(path)
    rows = [
        {"model": "tiny:wav2vec2", "corpus": "synth", "experiment": "cca_mel", "layer": layer, "split": "train", "sample": 1,
         "seed": seed, "metric": "pwcca", "value": 0.5 + 0.01 * i}
        for i, (layer, seed) in enumerate([("T1", 0), ("T2", 0), ("C7", 1), ("mel", 0)])
    ]  # fmt: skip
    table.add(rows, options={"epsilon": [1e-10, 1e-9]}, provenance={"store": "features/x.h5"}, details={"trials": [0.1, 0.2]})
    table.save()
    return path.read_text(), path.with_suffix(".json").read_text()


def check_table(table: ResultTable) -> None:
    for row in table.rows:
        assert tuple(row) == COLUMNS
        assert all(isinstance(row[c], str) and row[c] for c in ("model", "experiment", "layer", "split", "metric"))
        assert isinstance(row["sample"], int) and row["sample"] >= 0 and isinstance(row["seed"], int) and row["seed"] >= 0
        assert isinstance(row["value"], float) and math.isfinite(row["value"])
        meta = table.metadata(row)
        assert meta is None or isinstance(meta, dict)


def _write(tmp_path_factory, csv_text, json_text):
    folder = tmp_path_factory.mktemp("table")
    path = folder / "cca.csv"
    for target, content in ((path, csv_text), (path.with_suffix(".json"), json_text)):
        if content is None:
            continue
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8", errors="surrogatepass", newline="")
    return path


def _read_both(target: str, path, *, names) -> None:
    for how, call in (("ResultTable.open", ResultTable.open), ("ResultTable.read", ResultTable.read)):
        table = refuses(f"{target} ({how})", call, path, names=names, error=ResultError, may_accept=True)
        if not isinstance(table, LayerprobeError):
            check_table(table)


@fuzz()
@given(data=st.data())
@example(data="value:1e999")
@example(data="sample:²")
@example(data="layer:T٣")
def test_mutated_csv(result_files, tmp_path_factory, data):
    csv_text, json_text = result_files
    if isinstance(data, str):
        column, bad = data.split(":")
        header, first, *rest = csv_text.splitlines()
        cells = first.split(",")
        cells[COLUMNS.index(column)] = bad
        mutated = "\n".join([header, ",".join(cells), *rest]) + "\n"
    else:
        mutated = data.draw(st.one_of(mutated_lines(csv_text), mutated_bytes(csv_text.encode())))
    path = _write(tmp_path_factory, mutated, json_text)
    _read_both("result CSV (mutated)", path, names=path.name)


@fuzz()
@given(data=st.data())
@example(data="deep")
def test_mutated_sidecar(result_files, tmp_path_factory, data):
    csv_text, json_text = result_files
    if data == "deep":
        mutated = '{"runs": ' + "[" * 100_000 + "]" * 100_000 + "}"
    else:
        mutated = data.draw(st.one_of(
            st.builds(dump_json, json_mutation(json.loads(json_text))),
            mutated_bytes(json_text.encode()),
            st.builds(dump_json, json_values),
        ))  # fmt: skip
    path = _write(tmp_path_factory, csv_text, mutated)
    _read_both("result sidecar JSON (mutated)", path, names=path.with_suffix(".json").name)


@fuzz(scale=0.5)
@given(csv_text=st.one_of(st.text(max_size=200), st.binary(max_size=64)), json_text=st.one_of(st.none(), st.text(max_size=50)))
def test_arbitrary_files(tmp_path_factory, csv_text, json_text):
    path = _write(tmp_path_factory, csv_text, json_text)
    _read_both("result CSV and sidecar (arbitrary content)", path, names=path.stem)
