"""The fuzz suite's settings and its ledger of inputs tried.

* Hypothesis profiles: ``layerprobe-fuzz`` (the default: a bounded number of examples per target,
  derandomized, no deadline) and ``layerprobe-fuzz-deep`` (``LAYERPROBE_FUZZ_EXAMPLES=N`` examples per
  target, random inputs from a seed printed in the session header).  They are applied per test by
  :func:`support.fuzz.fuzz`, not loaded globally, so other test modules keep theirs.
* The ledger (:data:`support.fuzz.LEDGER`) counts the inputs each target was given and the
  failures each test found; with ``LAYERPROBE_FUZZ_REPORT=FILE`` it is written there as JSON when the
  session ends (``scripts/fuzz_report.py`` prints it as a table).
"""

from __future__ import annotations

import os

import pytest

from support.fuzz import (
    EXAMPLES_ENV,
    LEDGER,
    REPORT_ENV,
    SEED_ENV,
    active_profile,
    fuzz_examples,
    fuzz_seed,
    register_profiles,
)

register_profiles()


def pytest_report_header(config):
    seed = fuzz_seed()
    if seed is None:
        return f"layerprobe fuzz: profile {active_profile()}, {fuzz_examples()} examples per target, derandomized"
    return (
        f"layerprobe fuzz: profile {active_profile()}, {fuzz_examples()} examples per target ({EXAMPLES_ENV}), "
        f"seed {seed} (repeat with {SEED_ENV}={seed})"
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if LEDGER.targets:  # repeated at the end: the header is not shown when the suite runs from the root
        totals = LEDGER.as_dict()["totals"]
        terminalreporter.write_line(
            f"{pytest_report_header(config)}; {totals.get('examples', 0)} inputs tried on {len(LEDGER.targets)} targets"
        )


def pytest_runtest_setup(item):
    LEDGER.begin(item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    expected = hasattr(report, "wasxfail")  # an expected failure is a failure found all the same
    if report.when == "call" and (report.failed or expected) and call.excinfo is not None:
        error = call.excinfo.value
        # hypothesis reports several distinct failures of one test as an exception group
        distinct = len(error.exceptions) if isinstance(error, BaseExceptionGroup) else 1
        LEDGER.failed(item.nodeid, distinct)


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(REPORT_ENV, "").strip()
    if path and LEDGER.targets:
        LEDGER.write(path)
