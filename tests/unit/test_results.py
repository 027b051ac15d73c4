"""ResultTable: exact round trips, replace-on-rerun, merging, the sidecar, malformed files, atomic saves."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from layerprobe import __version__
from layerprobe.errors import ConfigError, DependencyError, ResultError
from layerprobe.results import COLUMNS, ResultTable

HEADER = ",".join(COLUMNS)


def row(layer="T1", value=0.5, *, model="m", corpus="c", experiment="cca_mel", split="dev", sample=1, seed=0, metric="pwcca"):
    return {"model": model, "corpus": corpus, "experiment": experiment, "layer": layer, "split": split, "sample": sample,
            "seed": seed, "metric": metric, "value": value}  # fmt: skip


def test_round_trip_is_exact_and_sorted_in_layer_order(tmp_path):
    values = {"T10": 0.1 + 0.2, "T2": 1 / 3, "C3": 2.0**-40, "mel": -7.25e-300, "T0": 123456789.123456789}
    table = ResultTable(tmp_path / "results.csv")
    assert table.add([row(layer, value) for layer, value in values.items()]) == 5
    assert table.save() == tmp_path / "results.csv"
    again = ResultTable.open(tmp_path / "results.csv")
    assert [r["layer"] for r in again.rows] == ["mel", "C3", "T0", "T2", "T10"]
    assert {r["layer"]: r["value"] for r in again.rows} == values  # exact float equality, not approx
    assert again.rows[0] == row("mel", -7.25e-300)
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert lines[0] == HEADER
    assert lines[3] == "m,c,cca_mel,T0,dev,1,0,pwcca,123456789.12345679"
    assert lines[4] == f"m,c,cca_mel,T2,dev,1,0,pwcca,{1 / 3!r}"
    # Saving what was read gives the same bytes.
    before = (tmp_path / "results.csv").read_bytes(), (tmp_path / "results.json").read_bytes()
    again.save()
    assert ((tmp_path / "results.csv").read_bytes(), (tmp_path / "results.json").read_bytes()) == before


def test_sort_order_is_model_corpus_experiment_split_sample_seed_layer_metric(tmp_path):
    table = ResultTable(tmp_path / "r.csv")
    table.add([row("T2", sample=2), row("T10", sample=1), row("T2", sample=1, metric="cca_mean"),
               row("T2", sample=1), row("T1", model="a"), row("T1", experiment="cca_agwe"),
               row("T1", corpus="b", experiment="cca_word")])  # fmt: skip
    order = [(r["model"], r["corpus"], r["experiment"], r["sample"], r["layer"], r["metric"]) for r in table.rows]
    assert order == [
        ("a", "c", "cca_mel", 1, "T1", "pwcca"),
        ("m", "b", "cca_word", 1, "T1", "pwcca"),
        ("m", "c", "cca_agwe", 1, "T1", "pwcca"),
        ("m", "c", "cca_mel", 1, "T2", "cca_mean"),
        ("m", "c", "cca_mel", 1, "T2", "pwcca"),
        ("m", "c", "cca_mel", 1, "T10", "pwcca"),
        ("m", "c", "cca_mel", 2, "T2", "pwcca"),
    ]


def test_rerun_replaces_and_another_seed_adds(tmp_path):
    path = tmp_path / "results.csv"
    table = ResultTable.open(path)
    table.add([row("T1", 0.1), row("T2", 0.2)], options={"epsilon": 1e-10})
    table.save()
    table = ResultTable.open(path)
    assert table.add([row("T1", 0.15), row("T2", 0.25)], options={"epsilon": 1e-6}) == 2
    assert len(table) == 2
    assert table.add([row("T1", 0.9, seed=1)], options={"epsilon": 1e-6}) == 1
    table.save()
    final = ResultTable.open(path)
    assert [(r["layer"], r["seed"], r["value"]) for r in final.rows] == [("T1", 0, 0.15), ("T2", 0, 0.25), ("T1", 1, 0.9)]
    assert final.metadata(final.rows[0])["options"] == {"epsilon": 1e-6}
    assert len(path.read_text().splitlines()) == 4


def test_sidecar_holds_options_provenance_and_details_per_run_key(tmp_path):
    path = tmp_path / "results.csv"
    table = ResultTable(path)
    table.add(
        [row("T1", 0.1), row("T1", 0.7, metric="cca_mean"), row("T2", 0.2)],
        options={"epsilon": np.float64(1e-10), "layers": ("T1", "T2"), "store": tmp_path / "f.h5"},
        provenance={"model_revision": "abc123", "n_rows": np.int64(4000)},
        details={"correlations": np.array([0.9, 0.5], dtype=np.float32), "per_k": {4: 0.25}, "ok": np.bool_(True)},
    )
    table.add([row("T3", 0.3)], provenance={"model_revision": "def456"})
    table.save()
    sidecar = json.loads((tmp_path / "results.json").read_text())
    assert sidecar["layerprobe_version"] == __version__ and sidecar["columns"] == list(COLUMNS)
    assert [(run["layer"], run["provenance"].get("model_revision")) for run in sidecar["runs"]] == [
        ("T1", "abc123"), ("T2", "abc123"), ("T3", "def456"),
    ]  # fmt: skip
    reread = ResultTable.open(path)
    first = reread.metadata(("m", "c", "cca_mel", "T1", "dev", 1, 0))
    assert first == {
        "options": {"epsilon": 1e-10, "layers": ["T1", "T2"], "store": str(tmp_path / "f.h5")},
        "provenance": {"model_revision": "abc123", "n_rows": 4000},
        "details": {"correlations": [float(np.float32(0.9)), float(np.float32(0.5))], "per_k": {"4": 0.25}, "ok": True},
    }
    assert reread.metadata(reread.select(layer="T3")[0]) == {"options": {}, "provenance": {"model_revision": "def456"}, "details": {}}
    # A row key (with the metric) finds its run's entry; an unknown run has none.
    assert reread.metadata(("m", "c", "cca_mel", "t2", "dev", "1", 0, "pwcca"))["provenance"]["model_revision"] == "abc123"
    assert reread.metadata(row("T9")) is None
    # The copy handed out is not the table's own.
    first["options"]["epsilon"] = 5
    assert reread.metadata(("m", "c", "cca_mel", "T1", "dev", 1, 0))["options"]["epsilon"] == 1e-10


def test_metadata_fields_left_out_are_kept(tmp_path):
    table = ResultTable(tmp_path / "r.csv")
    table.add([row("T1", 0.1)], options={"a": 1}, details={"d": [1, 2]})
    table.add([row("T1", 0.2, metric="cca_mean")], details={"d": [3]})
    assert table.metadata(row("T1")) == {"options": {"a": 1}, "provenance": {}, "details": {"d": [3]}}


def test_read_merges_with_the_later_file_winning(tmp_path):
    first, second = ResultTable(tmp_path / "a.csv"), ResultTable(tmp_path / "b.csv")
    first.add([row("T1", 0.1), row("T2", 0.2)], provenance={"file": "a"})
    second.add([row("T2", 0.9), row("T1", 0.5, model="other")], provenance={"file": "b"})
    first.save(), second.save()
    merged = ResultTable.read([tmp_path / "a.csv", str(tmp_path / "b.csv")])
    assert [(r["model"], r["layer"], r["value"]) for r in merged.rows] == [("m", "T1", 0.1), ("m", "T2", 0.9), ("other", "T1", 0.5)]
    assert merged.metadata(row("T2"))["provenance"] == {"file": "b"}
    assert merged.metadata(row("T1"))["provenance"] == {"file": "a"}
    reverse = ResultTable.read([tmp_path / "b.csv", tmp_path / "a.csv"])
    assert reverse.select(layer="T2", model="m")[0]["value"] == 0.2
    assert merged.path is None
    with pytest.raises(ResultError, match="has no file of its own"):
        merged.save()
    with pytest.raises(ResultError, match="no such results file") as caught:
        ResultTable.read([tmp_path / "a.csv", tmp_path / "missing.csv"])
    assert str(caught.value).startswith(str(tmp_path / "missing.csv"))
    assert len(ResultTable.read(tmp_path / "a.csv")) == 2  # one path, not an iterable of characters


def test_select_and_unique(tmp_path):
    table = ResultTable(tmp_path / "r.csv")
    table.add([row(layer, i / 10, experiment=exp, metric=metric) for i, layer in enumerate(["T1", "T2", "T10"])
               for exp in ("cca_mel", "cca_phone") for metric in ("pwcca", "cca_mean")])  # fmt: skip
    picked = table.select(experiment="cca_mel", metric="pwcca")
    assert [(r["layer"], r["value"]) for r in picked] == [("T1", 0.0), ("T2", 0.1), ("T10", 0.2)]
    assert [r["layer"] for r in table.select(experiment="cca_phone", metric="pwcca", layer=["t10", "T1"])] == ["T1", "T10"]
    assert table.select(experiment="cca_phone", sample="1", layer={"T2"}, metric="pwcca")[0]["value"] == 0.1
    assert table.select(experiment="nope") == []
    assert table.unique("layer") == ["T1", "T2", "T10"] and table.unique("experiment") == ["cca_mel", "cca_phone"]
    with pytest.raises(ConfigError, match="no column 'exp'"):
        table.select(exp="cca_mel")
    # rows are copies
    table.rows[0]["value"] = 99.0
    assert table.rows[0]["value"] == 0.0


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ({"value": float("nan")}, "row 2: column 'value': nan is not a finite number"),
        ({"value": "abc"}, "row 2: column 'value': 'abc' is not a number"),
        ({"value": True}, "row 2: column 'value': True is not a number"),
        ({"layer": "L4"}, "row 2: column 'layer': 'L4' is not a layer id"),
        ({"sample": -1}, "row 2: column 'sample': -1 is not a non-negative integer"),
        ({"seed": 1.5}, "row 2: column 'seed': 1.5 is not a non-negative integer"),
        ({"model": ""}, "row 2: column 'model': is empty"),
        ({"extra": 1}, "row 2: has unknown column(s) extra"),
    ],
)
def test_bad_rows_are_refused_and_nothing_is_added(tmp_path, bad, fragment):
    table = ResultTable(tmp_path / "r.csv")
    table.add([row("T1", 0.1)])
    with pytest.raises(ResultError) as caught:
        table.add([row("T2", 0.2), {**row("T3"), **bad}])
    assert str(caught.value).startswith(f"{tmp_path / 'r.csv'}: {fragment}")
    assert "\n" not in str(caught.value)
    assert [r["layer"] for r in table.rows] == ["T1"]


def test_missing_column_and_repeated_key_in_one_add(tmp_path):
    table = ResultTable(tmp_path / "r.csv")
    partial = row("T1")
    del partial["seed"]
    with pytest.raises(ResultError, match=r"row 1: lacks the column\(s\) seed"):
        table.add([partial])
    with pytest.raises(ResultError, match="row 3: repeats the key of row 1"):
        table.add([row("T1", 0.1), row("T2"), row("t1", 0.2)])
    with pytest.raises(ResultError, match="not a single row mapping"):
        table.add(row("T1"))
    assert len(table) == 0


def test_numpy_values_and_layer_ids_are_normalised(tmp_path):
    table = ResultTable(tmp_path / "r.csv")
    table.add([row("t3", np.float32(0.25), sample=np.int64(2), seed="7"), row("MEL", np.array(0.5))])
    assert table.rows == [row("mel", 0.5), row("T3", 0.25, sample=2, seed=7)]
    assert all(type(r["value"]) is float and type(r["sample"]) is int for r in table.rows)


@pytest.mark.parametrize(
    "text, where",
    [
        ("model,experiment,layer,split,sample,seed,value,metric\n", "line 1: the header is"),
        ("", "is empty; a result table starts with the header line"),
        (f"{HEADER}\nm,c,cca_mel,T1,dev,1,0,pwcca,0.5\nm,c,cca_mel,T2,dev,1,0,pwcca,abc\n", "line 3, column 'value': 'abc' is not a number"),
        (f"{HEADER}\nm,c,cca_mel,T1,dev,1,0,pwcca,nan\n", "line 2, column 'value': 'nan' is not a finite number"),
        (f"{HEADER}\nm,c,cca_mel,T1,dev,1,0,pwcca\n", "line 2: 8 fields, expected 9"),
        (f"{HEADER}\nm,c,cca_mel,T1,dev,one,0,pwcca,0.5\n", "line 2, column 'sample': 'one' is not a non-negative integer"),
        (f"{HEADER}\nm,c,cca_mel,X1,dev,1,0,pwcca,0.5\n", "line 2, column 'layer': 'X1' is not a layer id"),
        (f"{HEADER}\nm,c,cca_mel,T1,dev,1,0,pwcca,0.5\n\nm,c,cca_mel,T1,dev,1,0,pwcca,0.6\n", "line 4: repeats the row key of line 2"),
    ],
)
def test_malformed_csv_is_a_one_line_error_naming_file_and_line(tmp_path, text, where):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ResultError) as caught:
        ResultTable.open(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {where}")
    assert "\n" not in message


def test_malformed_sidecar_names_the_file(tmp_path):
    table = ResultTable(tmp_path / "r.csv")
    table.add([row("T1")])
    table.save()
    sidecar = tmp_path / "r.json"
    sidecar.write_text("{not json")
    with pytest.raises(ResultError, match=r"r\.json: is not a JSON file"):
        ResultTable.open(tmp_path / "r.csv")
    sidecar.write_text(json.dumps({"columns": list(COLUMNS), "runs": [{"model": "m"}]}))
    with pytest.raises(ResultError, match=r"r\.json: run 1: lacks 'corpus'"):
        ResultTable.open(tmp_path / "r.csv")


def test_open_of_a_new_path_is_empty_and_json_suffix_is_refused(tmp_path):
    table = ResultTable.open(tmp_path / "sub" / "new.csv")
    assert len(table) == 0 and table.rows == [] and table.sidecar_path == tmp_path / "sub" / "new.json"
    table.add([row("T1")])
    assert table.save().is_file() and (tmp_path / "sub" / "new.json").is_file()  # the folder is made
    with pytest.raises(ConfigError, match="cannot end in .json"):
        ResultTable(tmp_path / "results.json")


def test_unserialisable_detail_writes_nothing_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "results.csv"
    table = ResultTable(path)
    with pytest.raises(ResultError, match=r"details\['fit'\] is of type object, which JSON cannot hold"):
        table.add([row("T1")], details={"fit": object()})
    with pytest.raises(ResultError, match=r"details\['c'\]\[1\] is nan, which JSON cannot hold"):
        table.add([row("T1")], details={"c": [0.5, float("nan")]})
    assert len(table) == 0
    table.save()
    before = path.read_bytes(), (tmp_path / "results.json").read_bytes()
    with pytest.raises(ResultError):
        table.add([row("T1", 0.3)], options={"model": {1.5: "x"}})
    table.save()
    assert (path.read_bytes(), (tmp_path / "results.json").read_bytes()) == before
    # Metadata broken behind add()'s back fails while serialising: neither file is touched.
    table.add([row("T2", 0.4)])
    table._runs[("m", "c", "cca_mel", "T2", "dev", 1, 0)]["details"] = {"bad": {1, 2}}
    with pytest.raises(ResultError, match="cannot be written as JSON"):
        table.save()
    assert (path.read_bytes(), (tmp_path / "results.json").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".results.csv.lock", "results.csv", "results.json"]


def test_failed_rename_leaves_the_old_files_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    table = ResultTable(path)
    table.add([row("T1", 0.1)])
    table.save()
    before = path.read_bytes()
    table.add([row("T1", 0.2)])

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("layerprobe.results.os.replace", refuse)
    with pytest.raises(ResultError, match=r"results\.csv: cannot write the result table \(Permission denied\)"):
        table.save()
    assert path.read_bytes() == before
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == [".results.csv.lock", "results.csv", "results.json"]


def test_a_failed_save_of_an_opened_table_keeps_its_additions_for_the_next(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    table = ResultTable.open(path)
    table.add([row("T1", 0.1)])
    with monkeypatch.context() as patch:
        patch.setattr("layerprobe.results.os.replace", lambda src, dst: (_ for _ in ()).throw(OSError(28, "No space left on device")))
        with pytest.raises(ResultError, match=r"No space left on device"):
            table.save()
    assert not path.exists()
    table.save()
    assert [r["value"] for r in ResultTable.open(path)] == [0.1]


def test_replace_runs_removes_the_runs_other_metrics(tmp_path):
    table = ResultTable(tmp_path / "r.csv")
    base = {"model": "m", "corpus": "c", "experiment": "wordsim", "layer": "T1", "split": "dev", "sample": 1, "seed": 0}
    other_layer = {**base, "layer": "T2"}
    table.add([{**base, "metric": "spearman:a", "value": 0.1}, {**base, "metric": "spearman:b", "value": 0.2},
               {**other_layer, "metric": "spearman:b", "value": 0.3}])  # fmt: skip
    table.add([{**base, "metric": "spearman:a", "value": 0.5}])
    assert len(table) == 3  # plain add keeps spearman:b of T1
    table.add([{**base, "metric": "spearman:a", "value": 0.6}], replace_runs=True)
    assert [(row["layer"], row["metric"], row["value"]) for row in table.rows] == [
        ("T1", "spearman:a", 0.6), ("T2", "spearman:b", 0.3)]  # fmt: skip


# --------------------------------------------------------------------------------------------------
# several writers of one file


def test_tables_opened_together_keep_each_others_rows(tmp_path):
    path = tmp_path / "results.csv"
    first, second = ResultTable.open(path), ResultTable.open(path)
    first.add([row("T1", 0.1)], options={"who": "first"})
    second.add([row("T2", 0.2)], options={"who": "second"})
    first.save()
    second.save()
    assert [(r["layer"], r["value"]) for r in ResultTable.open(path)] == [("T1", 0.1), ("T2", 0.2)]
    assert second.metadata(row("T1"))["options"] == {"who": "first"}  # a save also reads the others' rows
    # The same key from two writers: the later save wins; replace_runs removes only its own runs' rows.
    first.add([row("T2", 0.25)])
    first.save()
    second.add([{**row("T1", 0.5), "metric": "other"}], replace_runs=True)
    second.save()
    final = {(r["layer"], r["metric"]): r["value"] for r in ResultTable.open(path)}
    assert final == {("T1", "other"): 0.5, ("T2", "pwcca"): 0.25}


def test_a_constructed_table_still_replaces_the_file(tmp_path):
    path = tmp_path / "results.csv"
    opened = ResultTable.open(path)
    opened.add([row("T1", 0.1)])
    opened.save()
    fresh = ResultTable(path)
    fresh.add([row("T3", 0.3)])
    fresh.save()
    assert [r["layer"] for r in ResultTable.open(path)] == ["T3"]


_WRITER = """
import sys
from layerprobe.results import ResultTable
path, worker, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
table = ResultTable.open(path)
for i in range(n):
    table.add([{"model": "m", "corpus": "c", "experiment": "cca_mel", "layer": f"T{i}", "split": "dev", "sample": 1,
                "seed": worker, "metric": "pwcca", "value": worker + i / 100}], details={"worker": worker})
    table.save()
"""


def test_processes_saving_at_once_lose_no_row(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "results.csv"
    workers, per_worker = 4, 12
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(w), str(per_worker)]) for w in range(workers)]
    assert [proc.wait(timeout=1800) for proc in procs] == [0] * workers
    table = ResultTable.open(path)
    assert len(table) == workers * per_worker
    assert {(r["seed"], r["layer"]): r["value"] for r in table} == {
        (w, f"T{i}"): w + i / 100 for w in range(workers) for i in range(per_worker)
    }
    assert all(table.metadata(r)["details"] == {"worker": r["seed"]} for r in table)


def test_to_pandas_has_the_columns_in_order_and_the_rows_in_table_order(tmp_path):
    pandas = pytest.importorskip("pandas")
    table = ResultTable(tmp_path / "results.csv")
    table.add([row("T10", 0.1 + 0.2), row("t2", 1 / 3, seed=3), row("mel", -1.5, metric="cca_mean")])
    frame = table.to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == list(COLUMNS)
    assert frame.to_dict("records") == table.rows  # same order, exact values, T2 normalised
    assert [str(frame[column].dtype) for column in ("sample", "seed", "value")] == ["int64", "int64", "float64"]
    empty = ResultTable(None).to_pandas()
    assert list(empty.columns) == list(COLUMNS) and len(empty) == 0
    assert str(empty["value"].dtype) == "float64" and str(empty["model"].dtype) != "float64"


def test_to_pandas_without_pandas_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas then raises ImportError
    with pytest.raises(DependencyError, match="pip install pandas"):
        ResultTable(None).to_pandas()


def test_rows_of_two_corpora_are_two_rows_and_the_corpus_may_be_unknown(tmp_path):
    # issue 14: a run on corpus demo replaced the row of corpus synth with the same split and layer
    table = ResultTable.open(tmp_path / "r.csv")
    table.add([row("T1", 0.1, corpus="synth")], provenance={"who": "synth"})
    table.add([row("T1", 0.2, corpus="demo")], provenance={"who": "demo"})
    table.add([row("T1", 0.3, corpus="")])
    table.save()
    again = ResultTable.open(tmp_path / "r.csv")
    assert [(r["corpus"], r["value"]) for r in again.rows] == [("", 0.3), ("demo", 0.2), ("synth", 0.1)]
    assert again.metadata(row("T1", corpus="synth"))["provenance"] == {"who": "synth"}
    assert again.metadata(row("T1", corpus="demo"))["provenance"] == {"who": "demo"}
    assert again.unique("corpus") == ["", "demo", "synth"]
    assert (tmp_path / "r.csv").read_text().splitlines()[1] == "m,,cca_mel,T1,dev,1,0,pwcca,0.3"


OLD_CSV = """model,experiment,layer,split,sample,seed,metric,value
hf:../models/x,cca_mel,T1,dev,1,0,pwcca,0.25
hf:../models/x,mi_phone,T1,dev,1,2,nmi,0.5
wav2vec_small,cca_mel,T1,dev-clean,1,0,pwcca,0.75
tiny:wav2vec2,cca_mel,T2,train,1,0,pwcca,0.125
"""


def _old_sidecar(features):
    store = f"{features}/hf_x-1a2b3c4d/my_corpus_dev_sample1"
    return {
        "layerprobe_version": "0.1.0",
        "columns": ["model", "experiment", "layer", "split", "sample", "seed", "metric", "value"],
        "runs": [
            {"model": "hf:../models/x", "experiment": "cca_mel", "layer": "T1", "split": "dev", "sample": 1, "seed": 0,
             "options": {"epsilon": 1e-10},
             "provenance": {"stores": [{"path": f"{store}/contextualized_phone.h5"},
                                       {"path": f"{features}/logmel/my_corpus_dev_sample1/mel_frame.h5"}]},
             "details": {}},
            {"model": "hf:../models/x", "experiment": "mi_phone", "layer": "T1", "split": "dev", "sample": 1, "seed": 2,
             "options": {}, "provenance": {"stores": {"eval": {"path": f"{store}/contextualized_phone.h5"},
                                                      "train": {"path": f"{store}/../my_corpus_train_sample1/x.h5"}}},
             "details": {}},
            {"model": "wav2vec_small", "experiment": "cca_mel", "layer": "T1", "split": "dev-clean", "sample": 1, "seed": 0,
             "options": {}, "provenance": {"imported_from": "logs/librispeech_wav2vec_small/cca_mel_dev-clean_sample1.json"},
             "details": {"dataset": "librispeech"}},
        ],
    }  # fmt: skip


def test_a_table_of_the_old_layout_is_migrated_and_saved_in_the_new(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text(OLD_CSV)
    path.with_suffix(".json").write_text(json.dumps(_old_sidecar("/data/features")))
    table = ResultTable.open(path)
    got = [(r["model"], r["corpus"], r["experiment"], r["layer"], r["value"]) for r in table.rows]
    assert got == [
        ("hf:x-1a2b3c4d", "my_corpus", "cca_mel", "T1", 0.25),  # corpus and the model's tag from the store path
        ("hf:x-1a2b3c4d", "my_corpus", "mi_phone", "T1", 0.5),
        ("tiny:wav2vec2", "", "cca_mel", "T2", 0.125),  # no sidecar entry: corpus unknown, model as it was
        ("wav2vec_small", "librispeech", "cca_mel", "T1", 0.75),  # imported: the dataset of its folder
    ]
    assert table.metadata(table.rows[0])["options"] == {"epsilon": 1e-10}
    table.save()  # the next save writes the new layout
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert lines[1] == "hf:x-1a2b3c4d,my_corpus,cca_mel,T1,dev,1,0,pwcca,0.25"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["columns"] == list(COLUMNS) and sidecar["runs"][0]["corpus"] == "my_corpus"
    again = ResultTable.open(path)
    assert again.rows == table.rows and again.metadata(again.rows[3])["details"] == {"dataset": "librispeech"}


def test_an_old_layout_csv_without_sidecar_gets_an_unknown_corpus(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text(OLD_CSV)
    table = ResultTable.open(path)
    assert {r["corpus"] for r in table.rows} == {""} and len(table) == 4
    assert table.select(model="hf:../models/x", experiment="cca_mel")[0]["value"] == 0.25


def test_the_same_model_typed_two_ways_has_one_model_name(tmp_path, monkeypatch):
    from layerprobe.io.store_paths import model_name, model_path, model_tag

    folder = tmp_path / "models" / "x"
    folder.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "models")
    relative, absolute = "hf:../models/x", f"hf:{folder}"
    assert model_name(relative) == model_name(absolute) == "hf:" + model_tag(absolute)[len("hf_"):]
    assert model_name(relative).startswith("hf:x-") and len(model_name(relative)) == len("hf:x-") + 8
    assert model_path(relative) == model_path(absolute) == str(folder.resolve())
    # the store folder's tag decides (the spec's relative path may point elsewhere from here)
    assert model_name("hf:elsewhere/x", tag=model_tag(absolute)) == model_name(absolute)
    assert model_name("fairseq:../models/x/ckpt.pt").startswith("fairseq:ckpt.pt-")
    # hub ids, tiny models and names without a scheme stay readable, as typed
    for spec in ("hf:facebook/wav2vec2-base", "tiny:wav2vec2", "tiny:wav2vec2-base@1", "logmel", "wav2vec_small"):
        assert model_name(spec) == spec and model_path(spec) is None
    assert model_name("hf:facebook/wav2vec2-base", tag="hf_facebook_wav2vec2-base") == "hf:facebook/wav2vec2-base"
    assert model_name("logmel", tag="logmel") == "logmel"
