"""Helpers for the property-based fuzz tests (``tests/fuzz``): budgets, the refusal contract, strategies.

The fuzz suite feeds every reader and every command-line option malformed input and checks one
contract: bad input is refused with a :class:`~layerprobe.errors.LayerprobeError` (on the command
line: a non-zero exit and one line on stderr), never with another exception, a traceback or a partial
output.

Budget
------
Each fuzz test runs :func:`fuzz_examples` examples (:data:`DEFAULT_EXAMPLES` by default, derandomized
so that every run tries the same inputs).  ``LAYERPROBE_FUZZ_EXAMPLES=N`` raises the budget to ``N``
per target and draws inputs at random from a seed (``LAYERPROBE_FUZZ_SEED``, or a random one that the
test session prints so that a run can be repeated).  Tests decorate themselves with :func:`fuzz`,
which applies the budget (scaled for costly targets) and the seed.

Counting
--------
:data:`LEDGER` counts the inputs each target was given (:meth:`FuzzLedger.tried`), how many were
refused and how many accepted, and the failures the test session saw; ``tests/fuzz/conftest.py``
writes it as JSON to ``$LAYERPROBE_FUZZ_REPORT`` at the end of a session and ``scripts/fuzz_report.py``
prints it as a table.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from layerprobe.errors import LayerprobeError

#: Environment variable that raises the examples per target (and switches to random, seeded inputs).
EXAMPLES_ENV = "LAYERPROBE_FUZZ_EXAMPLES"
#: Environment variable with the seed of a randomized run.
SEED_ENV = "LAYERPROBE_FUZZ_SEED"
#: Environment variable naming the JSON file the session's counts are written to.
REPORT_ENV = "LAYERPROBE_FUZZ_REPORT"
#: Examples per target in the default (bounded, derandomized) run.
DEFAULT_EXAMPLES = 30

#: The names of the two hypothesis profiles (registered by :func:`register_profiles`).
PROFILE_BOUNDED, PROFILE_DEEP = "layerprobe-fuzz", "layerprobe-fuzz-deep"

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------------------------------
# Budget and profiles


def fuzz_examples() -> int:
    """Examples per target: ``$LAYERPROBE_FUZZ_EXAMPLES`` when set, else :data:`DEFAULT_EXAMPLES`.

    Raises
    ------
    ValueError
        When the variable is set to something other than a positive integer.
    """
    text = os.environ.get(EXAMPLES_ENV, "").strip()
    if not text:
        return DEFAULT_EXAMPLES
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"{EXAMPLES_ENV} must be a positive integer, got {text!r}")
    return int(text)


def is_deep_run() -> bool:
    """Whether ``$LAYERPROBE_FUZZ_EXAMPLES`` asks for a larger, randomized run."""
    return bool(os.environ.get(EXAMPLES_ENV, "").strip())


_session_seed: int | None = None


def fuzz_seed() -> int | None:
    """The seed of a randomized run (``$LAYERPROBE_FUZZ_SEED`` or drawn once); None for the default run."""
    global _session_seed
    if not is_deep_run():
        return None
    if _session_seed is None:
        text = os.environ.get(SEED_ENV, "").strip()
        _session_seed = int(text) if text else random.SystemRandom().randrange(2**32)
    return _session_seed


def register_profiles() -> None:
    """Register the bounded (default) and deep hypothesis profiles; idempotent.

    Neither is loaded globally, so the other test modules keep their own hypothesis settings; fuzz
    tests take theirs through :func:`fuzz`.
    """
    common = dict(
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture,
        ],
    )
    settings.register_profile(PROFILE_BOUNDED, max_examples=DEFAULT_EXAMPLES, derandomize=True, **common)
    settings.register_profile(PROFILE_DEEP, max_examples=fuzz_examples(), derandomize=False, **common)


def active_profile() -> str:
    """The profile this session uses: deep when ``$LAYERPROBE_FUZZ_EXAMPLES`` is set."""
    return PROFILE_DEEP if is_deep_run() else PROFILE_BOUNDED


def fuzz(*, scale: float = 1.0, shrink: bool = True) -> Callable[[F], F]:
    """Decorator for a fuzz test: the session's profile, ``scale`` x the budget, the session's seed.

    Parameters
    ----------
    scale : float
        Fraction of the budget for a costly target (each example runs a command or writes files);
        at least one example always runs.
    shrink : bool
        Shrink a failing example to a minimal one; False for a test marked as an expected failure
        (a reported bug in another module), which then stops at its first failing example.
    """
    register_profiles()
    profile = settings.get_profile(active_profile())
    examples = max(1, int(round(fuzz_examples() * scale)))
    phases = tuple(Phase) if shrink else tuple(phase for phase in Phase if phase not in (Phase.shrink, Phase.explain))

    def decorate(test: F) -> F:
        test = settings(profile, max_examples=examples, phases=phases)(test)
        chosen = fuzz_seed()
        if chosen is not None:
            test = hypothesis_seed(chosen)(test)
        return test

    return decorate


# --------------------------------------------------------------------------------------------------
# Counting


@dataclass
class TargetCount:
    """What one fuzz target was given and how it answered."""

    examples: int = 0
    refused: int = 0
    accepted: int = 0
    failures: int = 0
    tests: set[str] = field(default_factory=set)


class FuzzLedger:
    """Counts of inputs tried per target, filled in by the tests and written at the end of a session."""

    def __init__(self) -> None:
        self.targets: dict[str, TargetCount] = {}
        self.current_test: str | None = None
        self._last_target: dict[str, str] = {}

    def begin(self, test_id: str) -> None:
        """Attribute the next inputs to ``test_id`` (called by the conftest before each test)."""
        self.current_test = test_id

    def tried(self, target: str, outcome: str | None = None) -> None:
        """Count one input given to ``target``; ``outcome`` is ``"refused"``, ``"accepted"`` or None."""
        count = self.targets.setdefault(target, TargetCount())
        count.examples += 1
        if outcome == "refused":
            count.refused += 1
        elif outcome == "accepted":
            count.accepted += 1
        if self.current_test is not None:
            count.tests.add(self.current_test)
            self._last_target[self.current_test] = target

    def failed(self, test_id: str, n: int = 1) -> None:
        """Record ``n`` distinct failures of a test against the target it fed last.

        Hypothesis replays the (shrunk) failing example last, so that is the target that failed.
        """
        target = self._last_target.get(test_id)
        if target is not None:
            self.targets[target].failures += n

    def as_dict(self) -> dict[str, Any]:
        """``{"targets": {name: {examples, refused, accepted, failures}}, "totals": ...}``."""
        targets = {
            name: {"examples": c.examples, "refused": c.refused, "accepted": c.accepted, "failures": c.failures}
            for name, c in sorted(self.targets.items())
        }
        totals = Counter()
        for values in targets.values():
            totals.update(values)
        return {"examples_per_test": fuzz_examples(), "seed": fuzz_seed(), "targets": targets, "totals": dict(totals)}

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`as_dict` as JSON (atomically)."""
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(partial, path)


#: The session's ledger.
LEDGER = FuzzLedger()


# --------------------------------------------------------------------------------------------------
# The refusal contract


#: Characters an error message may have beyond the input it quotes.
MESSAGE_ALLOWANCE = 2000


def check_error_message(
    exc: LayerprobeError, *, names: str | os.PathLike[str] | None = None, quoted: int = 0
) -> str:
    """Check that an error is one non-empty line of bounded length (naming ``names``); return the text.

    ``quoted`` is the length of the input the message may quote (an option value, a line); the
    message may be :data:`MESSAGE_ALLOWANCE` characters longer (repr escapes count double).
    """
    text = str(exc)
    assert text.strip(), f"{type(exc).__name__} with an empty message"
    assert "\n" not in text and "\r" not in text, f"{type(exc).__name__} message is not one line: {text[:300]!r}"
    limit = MESSAGE_ALLOWANCE + 4 * quoted
    assert len(text) <= limit, f"{type(exc).__name__} message is {len(text)} characters long: {text[:200]!r}..."
    if names is not None:
        assert os.fspath(names) in text, f"{type(exc).__name__} message does not name {os.fspath(names)}: {text[:300]!r}"
    return text


def refuses(
    target: str,
    call: Callable[..., Any],
    *args: Any,
    names: str | os.PathLike[str] | None = None,
    error: type[LayerprobeError] | tuple[type[LayerprobeError], ...] = LayerprobeError,
    may_accept: bool = False,
    **kwargs: Any,
) -> Any:
    """Call a reader on malformed input and check the refusal contract.

    Parameters
    ----------
    target : str
        Name of the fuzz target in the ledger (``"audio: random bytes"``).
    call : callable
        The reader; ``args`` and ``kwargs`` are passed to it.
    names : path-like, optional
        What the message must name (the file).
    error : LayerprobeError subclass or tuple of them
        The class the refusal must be.
    may_accept : bool
        Whether the input may happen to be valid (a mutation that changed nothing that matters);
        then the reader may return, and the caller checks what it returned.

    Returns
    -------
    The reader's result when it accepted the input, else the exception it raised.

    Raises
    ------
    AssertionError
        When the reader raised anything but ``error``, with a message that is not one line or does
        not name ``names``, or accepted input it must refuse.
    """
    try:
        result = call(*args, **kwargs)
    except LayerprobeError as exc:
        LEDGER.tried(target, "refused")
        assert isinstance(exc, error), f"{target}: raised {type(exc).__name__} ({exc}), expected {error}"
        quoted = sum(len(arg) for arg in (*args, *kwargs.values()) if isinstance(arg, str))
        check_error_message(exc, names=names, quoted=quoted)
        return exc
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - every other exception type breaks the contract
        LEDGER.tried(target)
        raise AssertionError(f"{target}: {type(exc).__name__} instead of a LayerprobeError: {str(exc)[:500]}") from exc
    LEDGER.tried(target, "accepted")
    assert may_accept, f"{target}: malformed input was accepted (returned {str(result)[:200]})"
    return result


def read_whole_store(store: Any) -> None:
    """Every read of an opened FeatureStore, checking what each returns.

    LayerprobeErrors propagate (a refusal); a value that breaks a promise is an AssertionError.
    """
    import numpy as np

    layers = store.layer_ids
    assert layers and all(isinstance(layer, str) for layer in layers)
    n_utts = store.n_utterances
    ids = store.utterance_ids
    assert len(ids) == n_utts
    for layer in layers:
        n = store.n_rows(layer)
        rows = store.read(layer)
        assert rows.shape == (n, store.dims[layer]) and rows.dtype == np.float32
        assert sum(len(block) for block in store.iter_rows(layer, chunk_rows=2)) == n
        starts, counts = store.row_ranges(layer)
        assert len(starts) == len(counts) == n_utts
        store.layer_frame_rate(layer)
        for utt in ids[:2]:
            assert store.utterance_rows(utt, layer).shape[1] == store.dims[layer]
            maps = store.attention(utt, layer)
            assert maps is None or (maps.ndim == 3 and maps.dtype == np.float32)
    if store.span != "frame":
        labels, times, index = store.labels, store.segment_times, store.segment_utt_index
        assert len(labels) == len(times) == len(index)
        assert index.size == 0 or (index.min() >= 0 and index.max() < n_utts)
    assert isinstance(store.attrs.get("config", {}), dict)  # consumers read options from it
    store.describe()


#: A worker that opens and reads stores in a separate process: libhdf5 can loop forever (or crash)
#: on a byte-damaged file, inside C code no signal interrupts.  One path per line in, one JSON line out.
#: Its one argument is the ``tests`` folder, put on ``sys.path`` for :mod:`support.fuzz`.
STORE_WORKER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from layerprobe.errors import LayerprobeError
from layerprobe.io.store import FeatureStore
from support.fuzz import check_error_message, read_whole_store
for line in sys.stdin:
    path = line.rstrip("\\n")
    try:
        with FeatureStore.open(path) as store:
            try:
                read_whole_store(store)
                verdict = {"outcome": "accepted"}
            except LayerprobeError as exc:
                check_error_message(exc)
                verdict = {"outcome": "refused after open", "message": str(exc)}
    except LayerprobeError as exc:
        try:
            check_error_message(exc)
            verdict = {"outcome": "refused", "message": str(exc)}
        except AssertionError as problem:
            verdict = {"outcome": "failure", "message": str(problem)}
    except BaseException as exc:
        verdict = {"outcome": "failure", "message": f"{type(exc).__name__}: {exc}"[:500]}
    print(json.dumps(verdict), flush=True)
"""


class StoreWorker:
    """A subprocess running :data:`STORE_WORKER`, restarted after a hang or a crash."""

    def __init__(self, timeout: float = 600.0) -> None:
        self.timeout = timeout
        self._process: Any = None

    def _start(self) -> Any:
        import subprocess
        import sys

        self._process = subprocess.Popen(
            [sys.executable, "-c", STORE_WORKER, str(Path(__file__).resolve().parents[1])], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        return self._process

    def read(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """The worker's verdict on a store: ``outcome`` is refused, accepted, failure, hang or crash."""
        import select

        process = self._process if self._process is not None and self._process.poll() is None else self._start()
        process.stdin.write(os.fspath(path) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], self.timeout)
        line = process.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        outcome = "hang" if not ready else "crash"
        code = self.close()
        return {"outcome": outcome, "message": f"the reading process {'hung' if not ready else 'died'} (exit status {code})"}

    def close(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.kill()
        process.wait()
        return process.returncode


# --------------------------------------------------------------------------------------------------
# Strategies: text, numbers, mutations


#: Numbers as text that readers must handle: out of range, non-finite, other scripts' digits, junk.
NUMBER_TOKENS = (
    "nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e309", "1e-320", "-0", "-1", "0", "1", "00",
    "9" * 30, "-" + "9" * 30, "1.5", ".5", "5.", "1e3", "0x10", "1_000", "+1", "--1", "١٢", "²", "٣",
    "１２", "Ⅻ", "1,5", "", " ", "e", "-", ".", "1e", "None", "null", "true",
)  # fmt: skip

#: Words and labels readers meet in the wild: unicode, control characters, separators, very long.
WORD_TOKENS = (
    "", " ", "\t", "a", "é", "ß", "İ", "ǅ", "\u200b", "\ufeff", "\u00a0", "日本", "🙂", "\u0301", "a b", "a,b",
    "\"", "'", "#", ";;;", "/", "..", "\\", "x" * 300, "\x0b", "\x1c", "\u2028", "\x85", "\r",
)  # fmt: skip

number_text = st.one_of(
    st.sampled_from(NUMBER_TOKENS),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet="0123456789.-+eE٣²", min_size=1, max_size=8),
)

word_text = st.one_of(st.sampled_from(WORD_TOKENS), st.text(min_size=0, max_size=12))

#: Any short text, with weight on characters that break parsers.
junk_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(list(",-/:@=.T C0123456789tc٣²\n\t ")), max_size=20),
    st.sampled_from(NUMBER_TOKENS + WORD_TOKENS),
)


_NUMBER_IN_LINE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@st.composite
def mutated_lines(draw: st.DrawFn, text: str, *, max_edits: int = 4) -> str:
    """``text`` with 1..max_edits line-level edits: drop, duplicate, swap, replace a number, insert junk, cut."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, max_edits))):
        if not lines:
            lines = [draw(junk_text)]
            continue
        index = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["drop", "duplicate", "swap", "number", "number", "number", "insert", "junk", "cut", "word"]))
        line = lines[index]
        if kind == "drop":
            del lines[index]
        elif kind == "duplicate":
            lines.insert(index, line)
        elif kind == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        elif kind == "number":
            numbers = list(_NUMBER_IN_LINE.finditer(line))
            if numbers:
                match = numbers[draw(st.integers(0, len(numbers) - 1))]
                lines[index] = line[: match.start()] + draw(number_text) + line[match.end() :]
            else:
                lines[index] = line + " " + draw(number_text)
        elif kind == "insert":
            lines.insert(index, draw(junk_text))
        elif kind == "junk":
            position = draw(st.integers(0, len(line)))
            lines[index] = line[:position] + draw(junk_text) + line[position:]
        elif kind == "word":
            quoted = list(re.finditer(r'"[^"]*"', line))
            if quoted:
                match = quoted[draw(st.integers(0, len(quoted) - 1))]
                lines[index] = line[: match.start()] + '"' + draw(word_text) + '"' + line[match.end() :]
            else:
                lines[index] = draw(word_text) + " " + line
        else:  # cut the text at a random place
            lines = lines[:index] + [line[: draw(st.integers(0, len(line)))]]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes, *, max_edits: int = 4, protect: int = 0) -> bytes:
    """``data`` with 1..max_edits byte-level edits: truncate, flip, overwrite, insert, delete.

    ``protect`` leading bytes are never changed (keep a magic number so that deeper code is reached).
    """
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, max_edits))):
        kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "overwrite", "insert", "delete", "word"]))
        if len(buffer) <= protect:
            buffer += draw(st.binary(min_size=1, max_size=16))
            continue
        position = draw(st.integers(protect, len(buffer) - 1))
        if kind == "truncate":
            del buffer[position:]
        elif kind == "flip":
            buffer[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            buffer[position : position + len(chunk)] = chunk
        elif kind == "insert":
            buffer[position:position] = draw(st.binary(min_size=1, max_size=32))
        elif kind == "delete":
            del buffer[position : position + draw(st.integers(1, 64))]
        else:  # overwrite a 32-bit little-endian word with an extreme value (sizes, counts, rates)
            value = draw(st.sampled_from([0, 1, 2**31 - 1, 2**32 - 1, 2**16, 7, 0xFFFF]))
            buffer[position : position + 4] = struct.pack("<I", value)
    return bytes(buffer)


@st.composite
def json_mutation(draw: st.DrawFn, document: Any, *, max_edits: int = 3) -> Any:
    """A JSON document with 1..max_edits edits at random paths: delete a key, change a value's type."""
    import copy

    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_edits))):
        paths = list(_json_paths(document))
        if not paths:
            return draw(json_values)
        path = draw(st.sampled_from(paths))
        parent, key = _resolve(document, path[:-1]), path[-1]
        kind = draw(st.sampled_from(["delete", "replace", "replace", "replace"]))
        if kind == "delete":
            if isinstance(parent, dict):
                del parent[key]
            else:
                parent.pop(key)
        else:
            parent[key] = draw(json_values)
    return document


def _json_paths(node: Any, prefix: tuple = ()) -> Iterable[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _json_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:6]):  # a few entries are enough; lists can be long
            yield (*prefix, index)
            yield from _json_paths(value, (*prefix, index))


def _resolve(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


#: JSON values of every type, with the extremes readers convert badly (1e999 reads as inf).
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([10**400, -1, 0, 2**63, ""]),
        word_text,
    ),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(word_text, children, max_size=3),
    max_leaves=6,
)


def dump_json(document: Any) -> str:
    """JSON text of a fuzzed document; NaN and infinities are written as Python's json writes them."""
    return json.dumps(document, ensure_ascii=False, allow_nan=True, default=str)


def finite(value: float) -> bool:
    """``math.isfinite`` that also takes ints too large for a float."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


__all__ = [
    "EXAMPLES_ENV",
    "SEED_ENV",
    "REPORT_ENV",
    "DEFAULT_EXAMPLES",
    "PROFILE_BOUNDED",
    "PROFILE_DEEP",
    "fuzz_examples",
    "is_deep_run",
    "fuzz_seed",
    "register_profiles",
    "active_profile",
    "fuzz",
    "TargetCount",
    "FuzzLedger",
    "LEDGER",
    "MESSAGE_ALLOWANCE",
    "check_error_message",
    "refuses",
    "read_whole_store",
    "STORE_WORKER",
    "StoreWorker",
    "NUMBER_TOKENS",
    "WORD_TOKENS",
    "number_text",
    "word_text",
    "junk_text",
    "mutated_lines",
    "mutated_bytes",
    "json_mutation",
    "json_values",
    "dump_json",
    "finite",
]
