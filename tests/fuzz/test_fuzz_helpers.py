"""The fuzz suite's own machinery: the refusal contract, the ledger, the budget, the report table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from layerprobe.errors import AudioError, ConfigError
from support import fuzz as F


@pytest.fixture(autouse=True)
def private_ledger(monkeypatch):
    """These tests' inputs are not fuzz inputs: keep them out of the session's ledger."""
    monkeypatch.setattr(F, "LEDGER", F.FuzzLedger())


def _raiser(exc):
    def call(*args, **kwargs):
        raise exc

    return call


def test_refuses_takes_a_one_line_layerprobe_error_naming_the_file():
    error = F.refuses("t: ok", _raiser(AudioError("empty", path="/a/b.wav")), names="/a/b.wav", error=AudioError)
    assert isinstance(error, AudioError) and str(error) == "/a/b.wav: empty"


@pytest.mark.parametrize(
    "call, kwargs, fragment",
    [
        (_raiser(ValueError("bad")), {}, "ValueError instead of a LayerprobeError: bad"),
        (_raiser(AudioError("x", path="/other.wav")), {"names": "/a.wav"}, "does not name /a.wav"),
        (_raiser(AudioError("x")), {"error": ConfigError}, "expected"),
        (_raiser(RecursionError("deep")), {}, "RecursionError instead of a LayerprobeError"),
        (lambda: 42, {}, "malformed input was accepted (returned 42)"),
    ],
)
def test_refuses_reports_every_breach(call, kwargs, fragment):
    with pytest.raises(AssertionError) as caught:
        F.refuses("t: breach", call, **kwargs)
    assert fragment in str(caught.value)


def test_an_error_message_must_be_one_short_line():
    class Folded(ConfigError):
        def __str__(self):  # LayerprobeError folds lines itself; a subclass that does not is caught
            return "line 1\nline 2"

    with pytest.raises(AssertionError, match="not one line"):
        F.check_error_message(Folded("x"))
    with pytest.raises(AssertionError, match="characters long"):
        F.check_error_message(ConfigError("x" * (F.MESSAGE_ALLOWANCE + 1)))
    assert F.check_error_message(ConfigError("x" * (F.MESSAGE_ALLOWANCE + 100)), quoted=100)


def test_the_ledger_counts_outcomes_and_charges_a_failure_to_the_last_target(tmp_path):
    ledger = F.FuzzLedger()
    ledger.begin("test_a")
    ledger.tried("reader one", "refused")
    ledger.tried("reader one", "accepted")
    ledger.tried("reader two")
    ledger.failed("test_a", 2)
    ledger.write(tmp_path / "ledger.json")
    report = json.loads((tmp_path / "ledger.json").read_text())
    assert report["targets"]["reader one"] == {"examples": 2, "refused": 1, "accepted": 1, "failures": 0}
    assert report["targets"]["reader two"] == {"examples": 1, "refused": 0, "accepted": 0, "failures": 2}
    assert report["totals"] == {"examples": 3, "refused": 1, "accepted": 1, "failures": 2}


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(F.EXAMPLES_ENV, raising=False)
    assert F.fuzz_examples() == F.DEFAULT_EXAMPLES and not F.is_deep_run() and F.fuzz_seed() is None
    assert F.active_profile() == F.PROFILE_BOUNDED
    monkeypatch.setenv(F.EXAMPLES_ENV, "120")
    assert F.fuzz_examples() == 120 and F.is_deep_run() and F.active_profile() == F.PROFILE_DEEP
    for bad in ("0", "-3", "ten", "²"):
        monkeypatch.setenv(F.EXAMPLES_ENV, bad)
        with pytest.raises(ValueError, match="LAYERPROBE_FUZZ_EXAMPLES must be a positive integer"):
            F.fuzz_examples()


def test_the_report_table_lists_targets_and_totals():
    path = Path(__file__).resolve().parents[2] / "scripts" / "fuzz_report.py"
    spec = importlib.util.spec_from_file_location("fuzz_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.format_table({
        "targets": {"b reader": {"examples": 5, "refused": 4, "accepted": 1, "failures": 0},
                    "a reader": {"examples": 3, "refused": 1, "accepted": 1, "failures": 1}},
        "totals": {"examples": 8, "refused": 5, "accepted": 2, "failures": 1},
    })  # fmt: skip
    lines = table.splitlines()
    assert lines[0].split() == ["target", "tried", "refused", "accepted", "failures"]
    assert lines[2].split() == ["a", "reader", "3", "1", "1", "1"] and lines[3].split() == ["b", "reader", "5", "4", "1", "0"]
    assert lines[-1].split() == ["total", "8", "5", "2", "1"]
