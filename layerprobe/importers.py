"""Read the result files of the published layer-wise analysis code as layerprobe result rows.

The reference code (the ``layerwise-analysis`` repository of the layer-wise analysis papers,
``codes/tools/get_scores.py``) writes its scores under ``logs/<dataset>_<model>/`` in four shapes.
:func:`read_reference_results` turns each into rows of :class:`layerprobe.results.ResultTable`
(``model, corpus, experiment, layer, split, sample, seed, metric, value``), so that old and new
results can be plotted together (``layerprobe import-reference`` then ``layerprobe plot``):

``<exp>_<split>_sample<k>.json``
    ``{layer: score}`` of one CCA experiment over every layer (``save_dct`` of the scores): rows of
    experiment ``<exp>``, metric ``pwcca``, seed 0.  ``..._sample<k>_mean.json``: the same computed
    with ``mean_score=True``, metric ``pwcca_mean``.
``<exp>_<split>.lst``
    ``layer,sample,score`` lines, one per single-layer CCA run (``eval_single_layer=True``):
    metric ``pwcca``, seed 0.
``mi_<span>_<eval split>_<train split>.lst``
    ``layer,sample,iteration,score`` lines: experiment ``mi_<span>``, split ``<eval split>``,
    metric ``nmi``, seed = the iteration.
``wordsim_<name>.pkl`` (or ``.json``)
    ``{"micro average": {layer: rho}, "macro average": {...}, "<task>": {layer: rho}, ...}``:
    experiment ``wordsim``, metrics ``spearman_micro``, ``spearman_macro`` and
    ``spearman:<task>``, seed 0.  The reference's name does not say the split and sample of the
    word vectors: give them, or name the file ``wordsim_<split>_sample<k>.pkl``.

Layers: keys ``C1``..``C7`` and ``T1``.. (``cca_mel``) are kept; a bare number (every other
experiment, written by JSON as a string key ``"3"``) is a transformer layer, ``T3``.  The model is
the ``<model>`` of the ``<dataset>_<model>`` folder the file lies in and the corpus its
``<dataset>`` (``""`` when the folder does not say), the experiment, split and sample come from the
file name; arguments given explicitly win over both.  The reference's CCA
splits are unseeded, so its CCA and word-similarity rows get seed 0.

What the reference's numbers mean, and its quirks that the readers take into account:

* The CCA score is projection-weighted CCA (PWCCA, weights from the view with fewer kept
  dimensions).  With ``mean_score=True`` it is instead the mean of the two projection-weighted sums
  (weights from view 1 and from view 2), a different number: metric ``pwcca_mean``.
* ``cca_intra`` is saved as ``cca-wrt-layer<b>_<split>_sample<k>.json``: experiment ``cca_intra``
  with base layer ``T<b>`` (in :attr:`ReferenceResults.details`).
* A single-layer run with ``mean_score=True`` cuts ``_mean.json`` instead of ``_sample<k>.json``
  from the file name: the lines go to ``<exp>_<split>_sample<k>.lst`` with the letter ``n`` as
  their sample; they are read as ``pwcca_mean`` rows of sample ``k``.
* The sample field of a single-layer line is the last character of ``sample<k>``, wrong for
  samples of 10 and more: pass ``sample=`` (``--sample``) for those.
* Lines are appended by every run: a line that repeats an earlier one is merged; one that repeats
  its key (layer, sample, iteration) with another score is an error naming both lines.
* Word-similarity scores are pickled by the reference's script (``.pkl``): pickles are read with an
  allow-list that admits nothing but numbers, strings, lists and dicts (numpy scalars included),
  so a pickle cannot run code.

Examples
--------
>>> from layerprobe.importers import read_reference_results
>>> rows = read_reference_results("logs/librispeech_wav2vec_small/cca_mel_dev-clean_sample1.json")  # doctest: +SKIP
>>> rows[0]                                                                                            # doctest: +SKIP
{'model': 'wav2vec_small', 'corpus': 'librispeech', 'experiment': 'cca_mel', 'layer': 'C1', 'split': 'dev-clean', 'sample': 1,
 'seed': 0, 'metric': 'pwcca', 'value': 0.52}
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Union

from layerprobe.errors import ConfigError, ResultError
from layerprobe.layers import sort_layers

PathLike = Union[str, "os.PathLike[str]"]

#: The formats the readers understand, with what each is.
FORMATS: dict[str, str] = {
    "cca_json": "CCA scores of every layer, {layer: score} (save_dct to .json)",
    "cca_pickle": "CCA scores of every layer, {layer: score} (save_dct to .pkl)",
    "cca_lst": "single-layer CCA runs, 'layer,sample,score' lines",
    "mi_lst": "mutual information runs, 'layer,sample,iteration,score' lines",
    "wordsim_json": "word similarity, {'micro average': {layer: rho}, ...} (save_dct to .json)",
    "wordsim_pickle": "word similarity, {'micro average': {layer: rho}, ...} (save_dct to .pkl)",
}

#: Metric of the reference's CCA score, and of the score computed with ``mean_score=True``.
CCA_METRIC, CCA_MEAN_METRIC = "pwcca", "pwcca_mean"
#: Metric of the mutual-information scores (as :mod:`layerprobe.experiments.mi` names it).
MI_METRIC = "nmi"
#: Seed of rows whose reference run had none (its CCA splits are unseeded).
UNSEEDED = 0
#: The wordsim keys of the averages, and the metric each becomes.
WORDSIM_AVERAGES = {"micro average": "spearman_micro", "macro average": "spearman_macro"}

_SAMPLE_SUFFIX = re.compile(r"^(?P<head>.+)_sample(?P<sample>[0-9]{1,9})$")
_INTRA_NAME = re.compile(r"^cca-wrt-layer(?P<base>[0-9]{1,6})$")
_MI_NAME = re.compile(r"^mi_(?P<span>[A-Za-z]+)_(?P<eval>[^_]+)_(?P<train>[^_]+)$")
_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
_LAYER_NUMBER = re.compile(r"^[0-9]{1,6}$")
_LAYER_ID = re.compile(r"^([CTct])([0-9]{1,6})$")
_INTEGER = re.compile(r"^[0-9]{1,9}$")
# Decimal numbers as Python and numpy print them (ASCII only: float() would take other scripts' digits).
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_NON_FINITE = re.compile(r"^[+-]?(?:nan|inf|infinity)$", re.IGNORECASE)


@dataclass(frozen=True)
class ReferenceResults:
    """The rows read from one reference result file.

    Attributes
    ----------
    path : Path
        The file.
    format : str
        One of :data:`FORMATS`.
    rows : list of dict
        Rows in :class:`layerprobe.results.ResultTable`'s columns, in the file's order.
    details : dict
        What the file says besides the rows: ``dataset`` (from the folder name), ``base_layer``
        (``cca-wrt-layer<b>`` files), ``train_split`` (MI files), ``mean_score`` (CCA files).
    """

    path: Path
    format: str
    rows: list[dict[str, Any]]
    details: dict[str, Any] = field(default_factory=dict)


def read_reference_results(
    path: PathLike,
    *,
    model: str | None = None,
    experiment: str | None = None,
    split: str | None = None,
    sample: int | None = None,
) -> list[dict[str, Any]]:
    """Read one result file of the reference code as result-table rows.

    Parameters
    ----------
    path : path-like
        A ``.json``, ``.pkl`` or ``.lst`` file written by the reference code (see the module
        docstring for the names and contents).
    model : str, optional
        The ``model`` of every row [default: ``<model>`` of the ``<dataset>_<model>`` folder].
    experiment : str, optional
        The experiment [default: from the file name].
    split : str, optional
        The split [default: from the file name].
    sample : int, optional
        The data-sample id of every row [default: from the file name, or each line's own].

    Returns
    -------
    list of dict
        One row per score: ``model, corpus, experiment, layer, split, sample, seed, metric, value``.

    Raises
    ------
    ResultError
        For a file that cannot be read, is not in one of the formats, holds a malformed line, key or
        value, or repeats a key with another score (the message names the file and the line or key).
    ConfigError
        When the model, experiment, split or sample is neither given nor in the file's name.
    """
    return read_reference_file(path, model=model, experiment=experiment, split=split, sample=sample).rows


def read_reference_file(
    path: PathLike,
    *,
    model: str | None = None,
    experiment: str | None = None,
    split: str | None = None,
    sample: int | None = None,
) -> ReferenceResults:
    """Like :func:`read_reference_results`, with the format and the file's details.

    Returns
    -------
    ReferenceResults
    """
    path = Path(path)
    _check_given(path, model=model, experiment=experiment, split=split, sample=sample)
    if not path.is_file():
        raise ResultError("no such reference result file", path=path)
    details: dict[str, Any] = {}
    model = model if model is not None else _model_from_folder(path, details)
    result = _read_any(path, model=model, experiment=experiment, split=split, sample=sample, details=details)
    if not result.rows:
        raise ResultError("holds no scores", path=path)
    corpus = _dataset_of_folder(path)
    for index, row in enumerate(result.rows):  # the corpus column, in column order
        result.rows[index] = {"model": row["model"], "corpus": corpus, **{k: v for k, v in row.items() if k != "model"}}
    return result


def import_reference(
    paths: Iterable[PathLike],
    out: PathLike,
    *,
    model: str | None = None,
    experiment: str | None = None,
    split: str | None = None,
    sample: int | None = None,
) -> list[ReferenceResults]:
    """Add the rows of reference result files to a result table and save it.

    Every file is read before anything is written, so a bad file leaves the table as it was.  Each
    run's sidecar entry records ``imported_from`` (the file) and ``format`` as provenance, and the
    file's details.

    Parameters
    ----------
    paths : iterable of path-like
        Reference result files (see :func:`read_reference_results`).
    out : path-like
        The result table's CSV (created, or added to: rows with the same key are replaced).
    model, experiment, split, sample : optional
        As for :func:`read_reference_results`, applied to every file.

    Returns
    -------
    list of ReferenceResults
        What was read, one per file.

    Raises
    ------
    ResultError
        For an unreadable file, or two files giving the same row different values.
    """
    from layerprobe.results import ResultTable

    read = [read_reference_file(p, model=model, experiment=experiment, split=split, sample=sample) for p in paths]
    if not read:
        raise ConfigError("no reference result files given")
    seen: dict[tuple, tuple[float, Path]] = {}
    for result in read:
        for row in result.rows:
            key = tuple(row[column] for column in ("model", "corpus", "experiment", "layer", "split", "sample", "seed", "metric"))
            if key in seen and seen[key][0] != row["value"]:
                raise ResultError(
                    f"gives {row['experiment']} {row['layer']} ({row['metric']}, split {row['split']}, sample {row['sample']}, "
                    f"seed {row['seed']}) the value {row['value']!r}, {seen[key][1]} gives {seen[key][0]!r}; import one of them",
                    path=result.path,
                )
            seen[key] = (row["value"], result.path)
    table = ResultTable.open(out)
    for result in read:
        if result.rows:
            table.add(result.rows, provenance={"imported_from": os.fspath(result.path), "format": result.format},
                      details=result.details)  # fmt: skip
    table.save()
    return read


# --------------------------------------------------------------------------------------------------
# the formats


def _read_any(
    path: Path, *, model: str, experiment: str | None, split: str | None, sample: int | None, details: dict[str, Any]
) -> ReferenceResults:
    """Read a file of any of the formats, chosen by its suffix, name and contents."""
    suffix = path.suffix.lower()
    if suffix == ".lst":
        text = _read_text(path)
        if (experiment if experiment is not None else path.stem).startswith("mi_"):
            return _read_mi_lines(path, text, model=model, experiment=experiment, split=split, sample=sample, details=details)
        return _read_cca_lines(path, text, model=model, experiment=experiment, split=split, sample=sample, details=details)
    if suffix == ".json":
        document, container = _read_json(path), "json"
    elif suffix in (".pkl", ".pickle"):
        document, container = _read_pickle(path), "pickle"
    else:
        kind = path.suffix or "(no suffix)"
        raise ResultError(f"unknown kind of reference result file {kind!r} (expected .json, .pkl or .lst)", path=path)
    if not isinstance(document, dict):
        raise ResultError(f"holds a {_kind(document)}, not a mapping of layer -> score", path=path)
    if experiment == "wordsim" or (experiment is None and any(key in document for key in WORDSIM_AVERAGES)):
        return _read_wordsim(path, document, f"wordsim_{container}", model=model, split=split, sample=sample, details=details)
    return _read_cca_scores(path, document, f"cca_{container}", model=model, experiment=experiment, split=split,
                            sample=sample, details=details)  # fmt: skip


def _read_cca_scores(
    path: Path, document: dict, fmt: str, *, model: str, experiment: str | None, split: str | None, sample: int | None,
    details: dict[str, Any],
) -> ReferenceResults:  # fmt: skip
    """``{layer: score}`` of one CCA experiment, named ``<exp>_<split>_sample<k>[_mean]``."""
    stem = path.stem
    mean = stem.endswith("_mean")
    if mean:
        stem = stem[: -len("_mean")]
    name = _parse_sample_name(stem)
    experiment, split, sample = _resolve(path, experiment, split, sample, name, expected="<exp>_<split>_sample<k>.json")
    experiment = _experiment_name(experiment, details)
    details["mean_score"] = mean
    metric = CCA_MEAN_METRIC if mean else CCA_METRIC
    rows = [
        _row(model, experiment, _layer(key, path, f"key {key!r}"), split, sample, UNSEEDED, metric,
             _value(value, path, f"key {key!r}"))
        for key, value in document.items()
    ]  # fmt: skip
    _check_unique_layers(rows, path)
    return ReferenceResults(path, fmt, rows, details)


def _read_wordsim(
    path: Path, document: dict, fmt: str, *, model: str, split: str | None, sample: int | None, details: dict[str, Any]
) -> ReferenceResults:
    """``{"micro average": {layer: rho}, "macro average": {...}, "<task>": {layer: rho}, ...}``."""
    head, _, rest = path.stem.partition("_")
    name = _parse_sample_name(rest) if head == "wordsim" else None
    experiment, split, sample = _resolve(path, "wordsim", split, sample, name, expected="wordsim_<split>_sample<k>.pkl")
    missing = [key for key in WORDSIM_AVERAGES if key not in document]
    if missing:
        raise ResultError(f"a word-similarity file without {' and '.join(repr(key) for key in missing)}", path=path)
    rows = []
    for task, scores in document.items():
        if not isinstance(task, str) or not task.strip() or task != task.strip():
            raise ResultError(f"key {task!r} is not a benchmark name", path=path)
        if not isinstance(scores, dict):
            raise ResultError(f"key {task!r} holds a {_kind(scores)}, not a mapping of layer -> score", path=path)
        metric = WORDSIM_AVERAGES.get(task, f"spearman:{task}")
        for key, value in scores.items():
            where = f"key {task!r}, layer {key!r}"
            layer, score = _layer(key, path, where), _value(value, path, where)
            rows.append(_row(model, experiment, layer, split, sample, UNSEEDED, metric, score))
    _check_unique_layers(rows, path)
    return ReferenceResults(path, fmt, rows, details)


def _read_cca_lines(
    path: Path, text: str, *, model: str, experiment: str | None, split: str | None, sample: int | None, details: dict[str, Any]
) -> ReferenceResults:
    """``layer,sample,score`` lines of single-layer CCA runs in ``<exp>_<split>[_sample<k>].lst``."""
    lines = list(_fields(path, text, 3, "layer,sample,score"))
    mean_flags = {fields[1] == "n" for _, fields in lines}
    if len(mean_flags) > 1:
        raise ResultError("mixes lines whose sample is 'n' (mean_score runs) with numbered ones", path=path)
    mean = mean_flags == {True}
    name = _parse_sample_name(path.stem)  # '<exp>_<split>_sample<k>': where mean_score runs end up
    if name is None:  # '<exp>_<split>': the runs without mean_score
        exp_part, _, split_part = path.stem.rpartition("_")
        name = (exp_part, split_part, None) if _name_ok(exp_part) and _NAME_PART.match(split_part) else None
    # The sample: given, else (mean_score lines, whose field is 'n') the file name's, else each line's own.
    fixed_sample = sample
    experiment, split, name_sample = _resolve(path, experiment, split, sample, name, expected="<exp>_<split>.lst",
                                              need_sample=mean)  # fmt: skip
    if mean and fixed_sample is None:
        fixed_sample = name_sample
    experiment = _experiment_name(experiment, details)
    details["mean_score"] = mean
    metric = CCA_MEAN_METRIC if mean else CCA_METRIC
    rows: list[dict[str, Any]] = []
    seen: dict[tuple, tuple[int, float]] = {}
    for number, (layer_text, sample_text, score_text) in lines:
        where = f"line {number}"
        row_sample = fixed_sample if fixed_sample is not None else _integer(sample_text, path, where, "sample")
        row = _row(model, experiment, _layer(layer_text, path, where), split, row_sample, UNSEEDED, metric,
                   _number(score_text, path, where))  # fmt: skip
        _add_line(rows, seen, row, number, path)
    return ReferenceResults(path, "cca_lst", rows, details)


def _read_mi_lines(
    path: Path, text: str, *, model: str, experiment: str | None, split: str | None, sample: int | None, details: dict[str, Any]
) -> ReferenceResults:
    """``layer,sample,iteration,score`` lines in ``mi_<span>_<eval split>_<train split>.lst``."""
    match = _MI_NAME.match(path.stem)
    if match is not None:
        details["train_split"] = match["train"]
        name = (f"mi_{match['span']}", match["eval"], None)
    else:
        name = None
    experiment, split, _ = _resolve(path, experiment, split, sample, name, expected="mi_<span>_<eval>_<train>.lst",
                                    need_sample=False)  # fmt: skip
    rows: list[dict[str, Any]] = []
    seen: dict[tuple, tuple[int, float]] = {}
    for number, (layer_text, sample_text, iteration_text, score_text) in _fields(path, text, 4, "layer,sample,iteration,score"):
        where = f"line {number}"
        row_sample = sample if sample is not None else _integer(sample_text, path, where, "sample")
        row = _row(model, experiment, _layer(layer_text, path, where), split, row_sample,
                   _integer(iteration_text, path, where, "iteration"), MI_METRIC, _number(score_text, path, where))  # fmt: skip
        _add_line(rows, seen, row, number, path)
    return ReferenceResults(path, "mi_lst", rows, details)


# --------------------------------------------------------------------------------------------------
# names


def _check_given(path: Path, **given: Any) -> None:
    """Refuse explicit arguments that cannot be a row's column."""
    for name in ("model", "experiment", "split"):
        value = given[name]
        if value is not None and (not isinstance(value, str) or not value.strip() or value != value.strip()):
            raise ConfigError(f"{name} must be a non-empty name without surrounding spaces, got {value!r}")
    value = given["sample"]
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ConfigError(f"sample must be a non-negative integer, got {value!r}")


def _model_from_folder(path: Path, details: dict[str, Any]) -> str:
    """``wav2vec_small`` from ``logs/librispeech_wav2vec_small/...``."""
    folder = path.absolute().parent.name
    dataset, sep, model = folder.partition("_")
    if not sep or not dataset or not model.strip():
        raise ConfigError(
            f"cannot tell the model of {path} from its folder {folder!r} (the reference writes logs/<dataset>_<model>/); "
            "give it (--model)"
        )
    details["dataset"] = dataset
    return model


def _dataset_of_folder(path: Path) -> str:
    """``librispeech`` from ``logs/librispeech_wav2vec_small/...``; ``""`` when the folder is not so named."""
    dataset, sep, model = path.absolute().parent.name.partition("_")
    return dataset.strip() if sep and model.strip() else ""


def _parse_sample_name(stem: str) -> tuple[str, str, int] | None:
    """``("cca_mel", "dev-clean", 1)`` from ``cca_mel_dev-clean_sample1``; None when it does not fit."""
    match = _SAMPLE_SUFFIX.match(stem)
    if match is None:
        return None
    head = match["head"]
    experiment, sep, split = head.rpartition("_")
    if not sep:  # 'wordsim_<split>_sample<k>' passes only the '<split>_sample<k>' part
        experiment, split = "", head
    if not _NAME_PART.match(split) or (experiment and not _name_ok(experiment)):
        return None
    return experiment, split, int(match["sample"])


def _name_ok(experiment: str) -> bool:
    return bool(experiment) and all(_NAME_PART.match(part) for part in experiment.split("_"))


def _resolve(
    path: Path,
    experiment: str | None,
    split: str | None,
    sample: int | None,
    name: tuple[str, str, int | None] | None,
    *,
    expected: str,
    need_sample: bool = True,
) -> tuple[str, str, int | None]:
    """Explicit values, else the file name's; ConfigError naming what is missing."""
    name_experiment, name_split, name_sample = name if name is not None else ("", None, None)
    experiment = experiment if experiment is not None else (name_experiment or None)
    split = split if split is not None else name_split
    sample = sample if sample is not None else name_sample
    missing = [option for option, value in (("--experiment", experiment), ("--split", split)) if value is None]
    if need_sample and sample is None:
        missing.append("--sample")
    if missing:
        raise ConfigError(
            f"cannot tell the {' and '.join(m[2:] for m in missing)} of {path} from its name (the reference names such "
            f"files {expected}); give {' and '.join(missing)}"
        )
    return experiment, split, sample


def _experiment_name(experiment: str, details: dict[str, Any]) -> str:
    """``cca-wrt-layer<b>`` (the reference's cca_intra file name) -> ``cca_intra`` with its base layer."""
    match = _INTRA_NAME.match(experiment)
    if match is None:
        return experiment
    details["base_layer"] = f"T{int(match['base'])}"
    return "cca_intra"


# --------------------------------------------------------------------------------------------------
# values


def _row(
    model: str, experiment: str, layer: str, split: str, sample: int, seed: int, metric: str, value: float
) -> dict[str, Any]:
    return {"model": model, "experiment": experiment, "layer": layer, "split": split, "sample": sample, "seed": seed,
            "metric": metric, "value": value}  # fmt: skip


def _layer(key: Any, path: Path, where: str) -> str:
    """``T3`` from ``3``, ``"3"`` or ``"T3"``; ``C1`` from ``"C1"``."""
    if isinstance(key, int) and not isinstance(key, bool):
        text = str(key)
    elif isinstance(key, str):
        text = key.strip()
    else:
        raise ResultError(f"a layer must be a number or a layer id such as T3, not a {_kind(key)}", path=path, where=where)
    if _LAYER_NUMBER.match(text):
        return f"T{int(text)}"
    match = _LAYER_ID.match(text)
    if match is None:
        raise ResultError(f"{text[:40]!r} is not a layer (a transformer layer number, or C1..C7 / T0..TL)",
                          path=path, where=where)  # fmt: skip
    return f"{match[1].upper()}{int(match[2])}"


def _value(value: Any, path: Path, where: str) -> float:
    """A finite score from a JSON or pickle value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultError(f"the score is a {_kind(value)}, not a number", path=path, where=where)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ResultError(f"the score {value!r} is not a finite number", path=path, where=where)
    return number


def _number(text: str, path: Path, where: str) -> float:
    """A finite score from a line's field."""
    if _NON_FINITE.match(text):
        raise ResultError(f"the score {text!r} is not a finite number", path=path, where=where)
    if not _NUMBER.match(text):
        raise ResultError(f"the score {text[:40]!r} is not a number", path=path, where=where)
    number = float(text)
    if not math.isfinite(number):
        raise ResultError(f"the score {text[:40]!r} is not a finite number", path=path, where=where)
    return number


def _integer(text: str, path: Path, where: str, what: str) -> int:
    if not _INTEGER.match(text):
        raise ResultError(f"the {what} {text[:40]!r} is not a non-negative integer", path=path, where=where)
    return int(text)


def _fields(path: Path, text: str, count: int, layout: str):
    """``(line number, fields)`` of each non-blank line, which must have ``count`` comma-separated fields."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [part.strip() for part in line.split(",")]
        if len(fields) != count:
            raise ResultError(f"expected {count} comma-separated fields ({layout}), found {len(fields)}",
                              path=path, where=f"line {number}")  # fmt: skip
        yield number, fields


def _add_line(
    rows: list[dict[str, Any]], seen: dict[tuple, tuple[int, float]], row: dict[str, Any], number: int, path: Path
) -> None:
    """Append a line's row; merge an identical repeat, refuse a repeat of its key with another score."""
    key = (row["layer"], row["sample"], row["seed"])
    if key not in seen:
        seen[key] = (number, row["value"])
        rows.append(row)
        return
    first, value = seen[key]
    if value != row["value"]:
        raise ResultError(
            f"repeats layer {row['layer']}, sample {row['sample']}, seed {row['seed']} of line {first} "
            f"with another score ({row['value']!r}, not {value!r}); remove the stale line",
            path=path, where=f"line {number}",
        )  # fmt: skip


def _check_unique_layers(rows: list[dict[str, Any]], path: Path) -> None:
    """Keys ``3`` and ``"T3"`` (or ``"3"`` and ``" 3"``) in one mapping name one layer twice."""
    seen: set[tuple] = set()
    for row in rows:
        key = (row["metric"], row["layer"])
        if key in seen:
            raise ResultError(f"names layer {row['layer']} twice ({row['metric']})", path=path)
        seen.add(key)


def _kind(value: Any) -> str:
    names = {dict: "mapping", list: "list", str: "string", type(None): "null", bool: "boolean"}
    return names.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------------------------------
# reading files


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ResultError(f"cannot be read ({exc.strerror or exc})", path=path) from None


def _read_text(path: Path) -> str:
    try:
        return _read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResultError(f"is not UTF-8 text (byte {exc.start})", path=path) from None


def _read_json(path: Path) -> Any:
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultError(f"is not valid JSON ({exc.msg})", path=path, where=f"line {exc.lineno}") from None
    except RecursionError:
        raise ResultError("is not valid JSON (nested too deeply)", path=path) from None


def _read_pickle(path: Path) -> Any:
    data = _read_bytes(path)
    try:
        return _ResultUnpickler(io.BytesIO(data)).load()
    except _Refused as exc:
        raise ResultError(f"refusing to unpickle {exc}: a result pickle holds only numbers, text, lists and dicts",
                          path=path) from None  # fmt: skip
    except Exception as exc:  # a truncated or foreign pickle raises many kinds (EOFError, ValueError, ...)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ResultError(f"is not a readable pickle ({message[:200]})", path=path) from None


class _Refused(Exception):
    """A global that a result pickle has no business holding."""


def _numpy_scalar(dtype: Any, data: Any) -> float | int:
    """numpy's scalar reconstructor, for numeric dtypes only: the scalar as a Python number."""
    import numpy as np

    if not isinstance(dtype, np.dtype) or dtype.kind not in "fiub" or not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise _Refused(f"a numpy scalar of dtype {dtype!r}")
    return np.frombuffer(data, dtype=dtype)[0].item()


def _numpy_dtype(name: Any, align: Any = False, copy: Any = True) -> Any:
    import numpy as np

    if not isinstance(name, str) or not re.match(r"^[<>|=]?[fiub][1248]$", name):
        raise _Refused(f"numpy dtype {name!r}")
    return np.dtype(name)


def _codecs_encode(text: Any, encoding: Any = "latin1") -> bytes:
    """How protocol-2 pickles spell bytes: ``_codecs.encode(text, "latin1")``."""
    if not isinstance(text, str) or encoding != "latin1":
        raise _Refused("_codecs.encode of anything but latin-1 text")
    return text.encode("latin1")


class _ResultUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, text and numpy numeric scalars; refuses every other global."""

    _ALLOWED = {
        ("numpy.core.multiarray", "scalar"): _numpy_scalar,
        ("numpy._core.multiarray", "scalar"): _numpy_scalar,
        ("numpy", "dtype"): _numpy_dtype,
        ("_codecs", "encode"): _codecs_encode,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("a persistent id")


def describe(result: ReferenceResults) -> str:
    """One line about what a file gave: ``13 rows: wav2vec_small cca_mel dev-clean sample 1 (pwcca) <- FILE``."""
    if not result.rows:
        return f"no rows <- {result.path}"
    rows = result.rows
    models = sorted({row["model"] for row in rows})
    experiments = sorted({row["experiment"] for row in rows})
    splits = sorted({row["split"] for row in rows})
    samples = sorted({row["sample"] for row in rows})
    metrics = sorted({row["metric"] for row in rows})
    layers = sort_layers(row["layer"] for row in rows)
    span = layers[0] if len(layers) == 1 else f"{layers[0]}..{layers[-1]}"
    metric_text = ", ".join(metrics) if len(metrics) <= 3 else f"{len(metrics)} metrics"
    return (f"{len(rows)} row{'s' if len(rows) != 1 else ''}: {', '.join(models)} {', '.join(experiments)} "
            f"{', '.join(splits)} sample {', '.join(map(str, samples))}, layers {span} ({metric_text}) "
            f"<- {result.path}")  # fmt: skip


__all__ = [
    "CCA_MEAN_METRIC",
    "CCA_METRIC",
    "FORMATS",
    "MI_METRIC",
    "ReferenceResults",
    "UNSEEDED",
    "WORDSIM_AVERAGES",
    "describe",
    "import_reference",
    "read_reference_file",
    "read_reference_results",
]
