"""Importers of the reference code's result files: every format, its quirks, hostile input, the CLI round trip.

The fixture files are written here in the shapes the reference code writes (``codes/tools/get_scores.py``
of the layer-wise analysis repository): ``save_dct`` JSON with ``indent=4`` (integer layer keys become
strings), pickles of dicts of numpy scalars, and ``.lst`` files of appended comma-separated lines.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerprobe.cli import main
from layerprobe.errors import ConfigError, LayerprobeError, ResultError
from layerprobe.importers import import_reference, read_reference_file, read_reference_results
from layerprobe.results import ResultTable

LOGS = "logs/librispeech_wav2vec_small"


def write(tmp_path: Path, name: str, content, *, folder: str = LOGS) -> Path:
    """Write a fixture file under tmp_path/folder: JSON (dict, as save_dct does), bytes, or text."""
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict):
        path.write_text(json.dumps(content, indent=4))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def row(layer, value, *, experiment="cca_mel", split="dev-clean", sample=1, seed=0, metric="pwcca", model="wav2vec_small",
        corpus="librispeech"):
    return {"model": model, "corpus": corpus, "experiment": experiment, "layer": layer, "split": split, "sample": sample, "seed": seed,
            "metric": metric, "value": value}  # fmt: skip


# --------------------------------------------------------------------------------------------------
# the formats


def test_cca_json_of_cca_mel_keeps_conv_and_transformer_ids(tmp_path):
    path = write(tmp_path, "cca_mel_dev-clean_sample1.json", {"C1": 0.61, "C7": 0.52, "T1": 0.48, "T12": 0.2})
    result = read_reference_file(path)
    assert result.format == "cca_json" and result.details == {"dataset": "librispeech", "mean_score": False}
    assert result.rows == [row("C1", 0.61), row("C7", 0.52), row("T1", 0.48), row("T12", 0.2)]


def test_cca_json_integer_layers_are_transformer_layers_and_mean_files_a_metric_of_their_own(tmp_path):
    # save_dct of {0: ..., 1: ...} writes the keys "0", "1"; mean_score=True appends _mean to the name
    path = write(tmp_path, "cca_phone_dev-clean_sample2_mean.json", {0: 0.3, 1: 0.35, 12: 0.1})
    assert read_reference_results(path) == [row(f"T{n}", v, experiment="cca_phone", sample=2, metric="pwcca_mean")
                                            for n, v in ((0, 0.3), (1, 0.35), (12, 0.1))]  # fmt: skip
    assert read_reference_file(path).details["mean_score"] is True


def test_cca_intra_file_name_is_the_reference_s_cca_wrt_layer(tmp_path):
    path = write(tmp_path, "cca-wrt-layer0_dev-clean_sample1.json", {1: 0.9, 2: 0.8})
    result = read_reference_file(path)
    assert [(r["experiment"], r["layer"], r["value"]) for r in result.rows] == [("cca_intra", "T1", 0.9), ("cca_intra", "T2", 0.8)]
    assert result.details["base_layer"] == "T0"


def test_single_layer_cca_lines_merge_repeats_and_read_the_mean_score_quirk(tmp_path):
    # eval_single_layer=True appends 'layer,sample,score' to <exp>_<split>.lst; a rerun appends again
    path = write(tmp_path, "cca_word_dev-clean.lst", "3,1,0.5123\n4,1,0.52\n\n3,1,0.5123\n4,2,0.49\n")
    result = read_reference_file(path)
    assert result.format == "cca_lst"
    assert result.rows == [row("T3", 0.5123, experiment="cca_word"), row("T4", 0.52, experiment="cca_word"),
                           row("T4", 0.49, experiment="cca_word", sample=2)]  # fmt: skip
    # with mean_score=True the reference cuts '_mean.json' instead of '_sample1.json' from the name,
    # and the sample field becomes the last letter of 'mean': 'n'
    path = write(tmp_path, "cca_mel_dev-clean_sample1.lst", "C3,n,0.71\nT2,n,0.4\n")
    assert read_reference_results(path) == [row("C3", 0.71, metric="pwcca_mean"), row("T2", 0.4, metric="pwcca_mean")]


def test_single_layer_cca_line_that_contradicts_an_earlier_one_is_an_error(tmp_path):
    path = write(tmp_path, "cca_word_dev-clean.lst", "3,1,0.51\n4,1,0.52\n3,1,0.55\n")
    with pytest.raises(ResultError, match=r"cca_word_dev-clean.lst: line 3: repeats layer T3, sample 1, seed 0 of line 1 "
                                          r"with another score \(0.55, not 0.51\)"):  # fmt: skip
        read_reference_results(path)


def test_mi_lines_give_nmi_rows_seeded_by_the_iteration(tmp_path):
    # get_mi_scores.sh: logs/<dataset>_<model>/mi_<span>_<eval split>_<train split>.lst, 'layer,sample,iter,score'
    path = write(tmp_path, "mi_phone_dev-clean_train-clean.lst", "0,1,0,0.412\n1,1,0,0.43\n1,1,1,0.441\n12,1,0,0.3\n")
    result = read_reference_file(path)
    assert result.format == "mi_lst" and result.details == {"dataset": "librispeech", "train_split": "train-clean"}
    assert result.rows == [row("T0", 0.412, experiment="mi_phone", metric="nmi"), row("T1", 0.43, experiment="mi_phone", metric="nmi"),
                           row("T1", 0.441, experiment="mi_phone", metric="nmi", seed=1),
                           row("T12", 0.3, experiment="mi_phone", metric="nmi")]  # fmt: skip


def _wordsim_scores():
    # evaluate_wordsim: {"micro average": {layer: ...}, "macro average": {...}, task: {layer: rho}}, numpy floats
    scores = {"micro average": {}, "macro average": {}}
    for layer in range(3):
        simlex, ws353 = np.float64(0.1 * layer), np.float64(0.2 - 0.05 * layer)
        scores.setdefault("simlex999", {})[layer] = simlex
        scores.setdefault("wordsim353", {})[layer] = ws353
        scores["micro average"][layer] = (simlex * 999 + ws353 * 353) / 1352
        scores["macro average"][layer] = (simlex + ws353) / 2
    return scores


def _wordsim_rows(scores):
    metrics = {"micro average": "spearman_micro", "macro average": "spearman_macro", "simlex999": "spearman:simlex999",
               "wordsim353": "spearman:wordsim353"}  # fmt: skip
    rows = [row(f"T{layer}", float(value), experiment="wordsim", metric=metrics[task])
            for task, values in scores.items() for layer, value in values.items()]  # fmt: skip
    return sorted(rows, key=lambda r: (r["metric"], r["layer"]))


@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL])
def test_wordsim_pickle_of_numpy_scalars(tmp_path, protocol):
    scores = _wordsim_scores()
    path = write(tmp_path, "wordsim_dev-clean_sample1.pkl", pickle.dumps(scores, protocol=protocol))
    result = read_reference_file(path)
    assert result.format == "wordsim_pickle"
    assert sorted(result.rows, key=lambda r: (r["metric"], r["layer"])) == _wordsim_rows(scores)
    assert all(type(r["value"]) is float for r in result.rows)


def test_wordsim_json_and_a_name_without_split_needs_them_given(tmp_path):
    scores = {task: {str(k): float(v) for k, v in values.items()} for task, values in _wordsim_scores().items()}
    path = write(tmp_path, "wordsim_thresh0.json", scores)
    with pytest.raises(ConfigError, match=r"split and sample of .*wordsim_thresh0.json from its name .* give --split and --sample"):
        read_reference_results(path)
    rows = read_reference_results(path, split="dev-clean", sample=1)
    assert sorted(rows, key=lambda r: (r["metric"], r["layer"])) == _wordsim_rows(_wordsim_scores())


def test_explicit_values_win_over_the_names(tmp_path):
    path = write(tmp_path, "cca_mel_dev-clean_sample1.json", {"T1": 0.5})
    assert read_reference_results(path, model="w2v2-ref", experiment="cca_mel_old", split="dev-other", sample=3) == [
        row("T1", 0.5, model="w2v2-ref", experiment="cca_mel_old", split="dev-other", sample=3)]  # fmt: skip
    lines = write(tmp_path, "mi_word_dev-clean_train-clean.lst", "2,0,4,0.5\n")  # the reference's sample 10 is written 0
    assert read_reference_results(lines, sample=10) == [row("T2", 0.5, experiment="mi_word", sample=10, seed=4, metric="nmi")]


def test_the_model_comes_from_the_dataset_model_folder_or_must_be_given(tmp_path):
    path = write(tmp_path, "cca_mel_dev-clean_sample1.json", {"T1": 0.5}, folder="results")
    with pytest.raises(ConfigError, match=r"model of .* from its folder 'results' .*logs/<dataset>_<model>/\); give it \(--model\)"):
        read_reference_results(path)
    assert read_reference_results(path, model="hubert_base")[0]["model"] == "hubert_base"
    assert read_reference_results(path, model="hubert_base")[0]["corpus"] == ""  # the folder does not say
    nested = write(tmp_path, "cca_mel_dev-clean_sample1.json", {"T1": 0.5}, folder="logs/librispeech_hubert_large_ll60k")
    assert read_reference_results(nested)[0]["model"] == "hubert_large_ll60k"
    assert read_reference_results(nested)[0]["corpus"] == "librispeech"


@pytest.mark.parametrize(
    "name, content, error, message",
    [
        ("cca_mel_dev-clean_sample1.json", '{"T1": 0.5,', ResultError, r"is not valid JSON \(Expecting"),
        ("cca_mel_dev-clean_sample1.json", "[0.5, 0.6]", ResultError, "holds a list, not a mapping of layer -> score"),
        ("cca_mel_dev-clean_sample1.json", '{"T1": NaN}', ResultError, "key 'T1': the score nan is not a finite number"),
        ("cca_mel_dev-clean_sample1.json", '{"T1": "0.5"}', ResultError, "key 'T1': the score is a string, not a number"),
        ("cca_mel_dev-clean_sample1.json", '{"layer1": 0.5}', ResultError, r"key 'layer1': 'layer1' is not a layer"),
        ("cca_mel_dev-clean_sample1.json", '{"3": 0.5, "T3": 0.6}', ResultError, "names layer T3 twice"),
        ("cca_mel_dev-clean_sample1.json", "{}", ResultError, "holds no scores"),
        ("scores.json", '{"T1": 0.5}', ConfigError, "cannot tell the experiment and split and sample of"),
        ("cca_mel_dev-clean.lst", "3,1\n", ResultError, r"line 1: expected 3 comma-separated fields \(layer,sample,score\), found 2"),
        ("cca_mel_dev-clean.lst", "3,1,abc\n", ResultError, "line 1: the score 'abc' is not a number"),
        ("cca_mel_dev-clean.lst", "3,1,inf\n", ResultError, "line 1: the score 'inf' is not a finite number"),
        ("cca_mel_dev-clean.lst", "3,-1,0.5\n", ResultError, "line 1: the sample '-1' is not a non-negative integer"),
        ("cca_mel_dev-clean.lst", "3,n,0.5\n", ConfigError, "cannot tell the sample of"),
        ("cca_mel_dev-clean_sample1.lst", "3,n,0.5\n3,1,0.5\n", ResultError, "mixes lines whose sample is 'n'"),
        ("mi_phone_dev-clean_train-clean.lst", "0,1,0.41\n", ResultError, r"line 1: expected 4 comma-separated fields"),
        ("mi_phone_dev-clean_train-clean.lst", "0,1,x,0.41\n", ResultError, "line 1: the iteration 'x' is not a non-negative integer"),
        ("wordsim_dev-clean_sample1.json", '{"micro average": {"0": 0.1}}', ResultError, "a word-similarity file without 'macro average'"),
        ("cca_mel_dev-clean_sample1.txt", "T1,0.5", ResultError, "unknown kind of reference result file '.txt'"),
    ],
)
def test_malformed_files_are_one_line_errors_naming_the_file(tmp_path, name, content, error, message):
    path = write(tmp_path, name, content)
    with pytest.raises(error, match=message) as caught:
        read_reference_results(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


class _Exploit:
    """A pickle that would create a file when loaded by an unrestricted unpickler."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_a_pickle_holding_code_is_refused_and_never_run(tmp_path):
    target = tmp_path / "pwned"
    path = write(tmp_path, "wordsim_dev-clean_sample1.pkl", pickle.dumps({"micro average": {0: _Exploit(target)}}))
    with pytest.raises(ResultError, match=r"refusing to unpickle pathlib.*Path.*: a result pickle holds only numbers"):
        read_reference_results(path)
    assert not target.exists()
    truncated = write(tmp_path, "wordsim_x_sample1.pkl", pickle.dumps(_wordsim_scores())[:40])
    with pytest.raises(ResultError, match="is not a readable pickle"):
        read_reference_results(truncated)


# --------------------------------------------------------------------------------------------------
# hostile input: a LayerprobeError or rows, never another exception

_FUZZ = settings(max_examples=100, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
_NUMBERISH = st.sampled_from(["0", "1", "12", "T3", "C7", "n", "-1", "0.5", "1e-3", "nan", "inf", "", " ", "１", "٣", "1_0", "T"])
_LINE = st.lists(st.one_of(_NUMBERISH, st.text(max_size=6)), min_size=0, max_size=5).map(",".join)


@_FUZZ
@given(lines=st.lists(_LINE, max_size=6), name=st.sampled_from(["cca_word_dev-clean.lst", "cca_mel_dev-clean_sample1.lst",
                                                                  "mi_phone_dev-clean_train-clean.lst"]))  # fmt: skip
def test_fuzzed_lines_give_rows_or_a_layerprobe_error(tmp_path, lines, name):
    path = write(tmp_path, name, "\n".join(lines))
    try:
        rows = read_reference_results(path)
    except LayerprobeError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:
        assert rows and all(np.isfinite(r["value"]) and r["layer"][0] in "CT" for r in rows)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
_KEYS = st.one_of(_NUMBERISH, st.sampled_from(["micro average", "macro average", "simlex999"]), st.text(max_size=6))


@_FUZZ
@given(document=st.dictionaries(_KEYS, _JSON, max_size=5), name=st.sampled_from(["cca_glove_dev-clean_sample1.json",
                                                                                   "wordsim_dev-clean_sample1.json"]))  # fmt: skip
def test_fuzzed_json_gives_rows_or_a_layerprobe_error(tmp_path, document, name):
    path = write(tmp_path, name, json.dumps(document))
    try:
        rows = read_reference_results(path)
    except LayerprobeError as exc:
        assert "\n" not in str(exc)
    else:
        assert rows and all(isinstance(r["value"], float) and np.isfinite(r["value"]) for r in rows)


@_FUZZ
@given(data=st.binary(max_size=200)
       | st.builds(lambda d, cut: pickle.dumps(d)[:cut], st.dictionaries(_KEYS, _JSON, max_size=3), st.integers(0, 300)))
def test_fuzzed_pickles_give_rows_or_a_layerprobe_error(tmp_path, data):
    path = write(tmp_path, "wordsim_dev-clean_sample1.pkl", data)
    try:
        read_reference_results(path)
    except LayerprobeError as exc:
        assert "\n" not in str(exc)


@_FUZZ
@given(runs=st.dictionaries(st.tuples(st.integers(0, 48), st.integers(0, 9), st.integers(0, 20)),
                            st.floats(-1, 1, allow_nan=False), min_size=1, max_size=20))  # fmt: skip
def test_well_formed_mi_lines_read_back_exactly(tmp_path, runs):
    # The reference writes str(np.round(score, 3)); any float's repr must read back as itself.
    text = "".join(f"{layer},{sample},{iteration},{score!r}\n" for (layer, sample, iteration), score in runs.items())
    path = write(tmp_path, "mi_word_dev-clean_train-clean.lst", text)
    assert read_reference_results(path) == [row(f"T{layer}", score, experiment="mi_word", sample=sample, seed=iteration, metric="nmi")
                                            for (layer, sample, iteration), score in runs.items()]  # fmt: skip


# --------------------------------------------------------------------------------------------------
# importing into a table, and the CLI round trip


def test_import_records_provenance_and_leaves_the_table_alone_when_a_file_is_bad(tmp_path):
    good = write(tmp_path, "cca_mel_dev-clean_sample1.json", {"C1": 0.6, "T1": 0.5})
    bad = write(tmp_path, "cca_phone_dev-clean_sample1.json", "{oops")
    out = tmp_path / "results" / "reference.csv"
    with pytest.raises(ResultError, match="is not valid JSON"):
        import_reference([good, bad], out)
    assert not out.exists()
    import_reference([good], out)
    table = ResultTable.open(out)
    assert table.rows == [row("C1", 0.6), row("T1", 0.5)]
    assert table.metadata(table.rows[0])["provenance"] == {"imported_from": str(good), "format": "cca_json"}
    first = out.read_bytes()
    import_reference([good], out)  # importing again replaces the same rows
    assert out.read_bytes() == first


def test_two_files_that_disagree_on_a_row_are_refused(tmp_path):
    whole = write(tmp_path, "cca_word_dev-clean_sample1.json", {3: 0.5})
    single = write(tmp_path, "cca_word_dev-clean.lst", "3,1,0.55\n")
    with pytest.raises(ResultError, match=r"dev-clean.lst: gives cca_word T3 .* the value 0.55, .*dev-clean_sample1.json gives 0.5"):
        import_reference([whole, single], tmp_path / "ref.csv")


def test_cli_import_then_plot_draws_old_and_new_results_together(tmp_path, capsys):
    from layerprobe.plots import plot_trends

    reference = write(tmp_path, "cca_mel_dev-clean_sample1.json", {"C1": 0.61, "C7": 0.52, "T1": 0.48, "T2": 0.45})
    mi = write(tmp_path, "mi_phone_dev-clean_train-clean.lst", "0,1,0,0.41\n1,1,0,0.43\n")
    ours = ResultTable.open(tmp_path / "results" / "cca.csv")
    ours.add([row(layer, value, model="tiny:wav2vec2") for layer, value in (("C1", 0.7), ("C7", 0.5), ("T1", 0.4), ("T2", 0.3))])
    ours.save()
    out = tmp_path / "results" / "reference.csv"
    with pytest.raises(SystemExit) as caught:
        main(["import-reference", str(reference), str(mi), "--out", str(out)])
    printed = capsys.readouterr()
    assert caught.value.code == 0 and printed.err == ""
    assert printed.out.splitlines() == [
        f"4 rows: wav2vec_small cca_mel dev-clean sample 1, layers C1..T2 (pwcca) <- {reference}",
        f"2 rows: wav2vec_small mi_phone dev-clean sample 1, layers T0..T1 (nmi) <- {mi}",
        f"6 rows from 2 files -> {out}",
    ]
    sidecar = json.loads(out.with_suffix(".json").read_text())
    formats = {(run["experiment"], run["provenance"]["format"]) for run in sidecar["runs"]}
    assert formats == {("cca_mel", "cca_json"), ("mi_phone", "mi_lst")}
    figure_path = tmp_path / "both.png"
    with pytest.raises(SystemExit) as caught:
        main(["plot", str(out), str(ours.path), "--experiment", "cca_mel", "--out", str(figure_path)])
    assert caught.value.code == 0 and "plotted pwcca of 2 models in cca_mel" in capsys.readouterr().out
    assert figure_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figure = plot_trends(ResultTable.read([out, ours.path]), experiments=["cca_mel"], metric="pwcca")
    lines = {line.get_label(): list(line.get_ydata()) for line in figure.axes[0].get_lines() if not line.get_label().startswith("_") and line.get_gid() != "chance"}
    assert lines == {"wav2vec_small": [0.61, 0.52, 0.48, 0.45], "tiny wav2vec2": [0.7, 0.5, 0.4, 0.3]}  # display names


def test_cli_import_error_is_one_line(tmp_path, capsys):
    path = write(tmp_path, "cca_mel_dev-clean_sample1.json", {"T1": 0.5}, folder="flat")
    with pytest.raises(SystemExit) as caught:
        main(["import-reference", str(path), "--out", str(tmp_path / "ref.csv")])
    err = capsys.readouterr().err
    assert caught.value.code == 1 and err.count("\n") == 1
    assert err.startswith("layerprobe: error: cannot tell the model of") and "give it (--model)" in err
