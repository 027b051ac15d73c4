"""Fuzzing every command of the command line with bad option values and malformed input files.

The commands come from the click group itself (recursing into groups), so a command added later is
fuzzed too.  Each example runs ``layerprobe.cli.main`` in-process on a working set of inputs (a
synthesized corpus, data-sample sets, tiny-model feature stores, word vectors, a result table) with
one option replaced by a bad value: a value click must refuse (out of range, not a number, not a
choice, a missing path or one of the wrong kind), an edge value click lets through (NaN, infinity),
a malformed input file, or free text for the options layerprobe parses itself (layer specs, shard
specs, model specs, utterance lists ...).

The contract checked for every example:

* a refused run exits with 1 or 2, writes exactly one line to stderr, starting with ``layerprobe``,
  without ``Traceback`` and without ``internal error``, and creates no file (outputs go to a fresh
  folder, which must stay empty; the inputs and the working directory must be unchanged);
* a value click refuses, or a missing input, is always refused (exit status not 0);
* an edge value may be accepted (exit status 0), but never with an internal error.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import click
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from layerprobe.cli import cli, main
from support.fuzz import LEDGER, fuzz, junk_text, mutated_bytes, mutated_lines, number_text

# --------------------------------------------------------------------------------------------------
# running a command


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


class _Overtime(BaseException):
    """Raised by the watchdog in a command that runs too long (an accepted value doing real work)."""


def run_cli(argv: list[str], *, seconds: float = 60.0) -> Outcome | None:
    """Run the command line in-process; None when it ran longer than ``seconds`` (and was stopped)."""
    out, err = io.StringIO(), io.StringIO()

    def overtime(signum, frame):
        raise _Overtime()

    previous = signal.signal(signal.SIGALRM, overtime)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            else:
                code = 0
    except _Overtime:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return Outcome(code, out.getvalue(), err.getvalue())


def leaf_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command of the group, as (path, command), recursing into subgroups."""
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += leaf_commands(command, (*prefix, name))
        else:
            found.append(((*prefix, name), command))
    return found


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``roots``: (size, mtime in ns), to tell whether anything was written."""
    state = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                stat = path.stat()
                state[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return state


# --------------------------------------------------------------------------------------------------
# the working set of inputs


@dataclass
class Workspace:
    root: Path
    corpus: Path
    samples: Path
    features: Path
    results: Path
    files: Path
    store: Path  # the contextualized frame store with attention maps
    shards: Path  # a folder with the two shards of one store
    clips: Path  # audio with transcripts, for `corpus align`


def _write_shards(folder: Path) -> None:
    """Shards 1/2 and 2/2 of a small frame store (for `merge`), written directly."""
    import numpy as np

    from layerprobe.io.store import FeatureStore, shard_path

    rng = np.random.default_rng(0)
    attrs = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0}
    for index in (1, 2):
        writer = FeatureStore.create(shard_path(folder / "contextualized_frame.h5", index, 2), attrs=attrs, layer_dims={"T1": 4})
        writer.append(f"utt-{index}", {"T1": rng.standard_normal((3, 4)).astype(np.float32)})
        writer.finish()


def _ok(argv: list[str]) -> None:
    outcome = run_cli(argv, seconds=600)
    assert outcome is not None and outcome.code == 0, (argv, outcome)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A synthesized corpus, data-sample sets, tiny:wav2vec2 stores, word vectors, a result table."""
    import torch

    root = tmp_path_factory.mktemp("cli-workspace")
    ws = Workspace(root, root / "synth", root / "ds", root / "features", root / "results", root / "files",
                   root / "features" / "tiny_wav2vec2" / "synth_train_sample1" / "contextualized_frame.h5", root / "shards",
                   root / "clips")  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _ok(["corpus", "synth", "--out", str(ws.corpus), "--n", "14", "--seed", "5", "--no-progress"])
        train = ["--corpus", str(ws.corpus), "--split", "train", "--out", str(ws.samples), "--no-progress"]
        _ok(["sample", *train, "--span", "frame", "--n-utterances", "3"])
        _ok(["sample", *train, "--span", "phone", "--min-per-label", "1", "--max-per-label", "3"])
        _ok(["sample", *train, "--span", "word", "--n-labels", "40", "--min-per-label", "1", "--max-per-label", "4"])
        _ok(["sample", "--corpus", str(ws.corpus), "--split", "dev", "--span", "phone", "--min-per-label", "1", "--max-per-label", "3",
             "--out", str(ws.samples), "--no-progress"])  # fmt: skip
        common = ["--corpus", str(ws.corpus), "--samples-dir", str(ws.samples), "--out", str(ws.features), "--no-progress"]
        model = ["--model", "tiny:wav2vec2"]
        _ok(["attention", "maps", *model, *common, "--split", "train", "--utterances", "2", "--pre-softmax"])
        for split, span in (("train", "phone"), ("dev", "phone"), ("train", "word")):
            _ok(["extract", *model, *common, "--split", split, "--span", span, "--rep", "contextualized"])
        words = ["--model", "tiny:wav2vec2", "--corpus", "synth", "--split", "train", "--features", str(ws.features), "--no-progress"]
        _ok(["wordvec", *words, "--layers", "T0"])
        _ok(["cca", "--exp", "cca_phone", "--model", "tiny:wav2vec2", "--corpus", "synth", "--split", "train", "--features",
             str(ws.features), "--layers", "T1", "--out", str(ws.results / "cca.csv"), "--no-progress"])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    _write_shards(ws.shards)
    ws.files.mkdir()
    from layerprobe.io.store import FeatureStore

    with FeatureStore.open(ws.store.with_name("contextualized_word.h5")) as store:
        words = sorted(set(store.labels.tolist()))[:8]
    (ws.files / "pairs.tsv").write_text("".join(f"{a}\t{b}\t{i % 5}\n" for i, (a, b) in enumerate(zip(words, words[1:]))))
    (ws.files / "glove.txt").write_text("".join(f"{w} {i * 0.1:.2f} {1 - i * 0.1:.2f} 0.5\n" for i, w in enumerate(["the", "a", "man", "cat", "of"])))
    (ws.files / "labels.txt").write_text("AA\nIY\nS\n")
    (ws.files / "plain.txt").write_text("just a file\n")
    ws.clips.mkdir()
    first = sorted((ws.corpus / "dev").glob("*.wav"))[0]
    shutil.copy(first, ws.clips / first.name)
    text = (ws.corpus / "dev" / f"{first.stem}.txt").read_text().strip()
    (ws.clips / "transcripts.txt").write_text(f"{first.stem} {text}\n")
    return ws


# --------------------------------------------------------------------------------------------------
# valid command lines, one per command (the fuzz replaces one option of it)


@dataclass
class Base:
    """A valid invocation: positional arguments and options (value, list of values, or True for a flag)."""

    positionals: list[str]
    options: dict[str, object] = field(default_factory=dict)
    #: option -> strategy of malformed input files (bytes) for that option's path
    files: dict[str, st.SearchStrategy] = field(default_factory=dict)

    def argv(self, path: tuple[str, ...]) -> list[str]:
        tokens = [*path, *self.positionals]
        for option, value in self.options.items():
            if value is True:
                tokens.append(option)
            elif isinstance(value, list):
                for item in value:
                    tokens += [option, item]
            elif value is not None:
                tokens += [option, str(value)]
        return tokens


def _store_words(ws: Workspace, out: Path) -> dict[str, object]:
    return {"--model": "tiny:wav2vec2", "--corpus": "synth", "--split": "train", "--features": str(ws.features),
            "--layers": "T0", "--no-progress": True}  # fmt: skip


def _text_bytes(path: Path) -> bytes:
    return path.read_bytes()


BASES: dict[tuple[str, ...], Callable[[Workspace, Path], Base]] = {
    ("corpus", "info"): lambda ws, out: Base([str(ws.corpus)]),
    ("corpus", "synth"): lambda ws, out: Base([], {"--out": str(out / "synth"), "--n": "1", "--no-progress": True}),
    ("corpus", "align"): lambda ws, out: Base([str(ws.clips)], {"--transcripts": str(ws.clips / "transcripts.txt"), "--out": str(out / "aligned"),
                                                                "--oov": "skip", "--no-progress": True}),
    ("sample",): lambda ws, out: Base([], {"--corpus": str(ws.corpus), "--split": "train", "--span": "phone", "--min-per-label": "1",
                                           "--max-per-label": "2", "--out": str(out / "ds"), "--no-progress": True}),
    ("extract",): lambda ws, out: Base([], {"--model": "tiny:wav2vec2", "--corpus": "synth", "--split": "train", "--span": "frame",
                                            "--rep": "contextualized", "--layers": "T1", "--samples-dir": str(ws.samples),
                                            "--out": str(out / "features"), "--no-progress": True}),
    ("merge",): lambda ws, out: Base([str(out / "shards")]),
    ("cca",): lambda ws, out: Base([], {"--exp": "cca_phone", "--model": "tiny:wav2vec2", "--corpus": "synth", "--split": "train",
                                        "--features": str(ws.features), "--layers": "T1", "--out": str(out / "cca.csv"), "--no-progress": True}),
    ("mi",): lambda ws, out: Base([], {"--span": "phone", "--model": "tiny:wav2vec2", "--corpus": "synth", "--train-split": "train",
                                       "--eval-split": "dev", "--features": str(ws.features), "--layers": "T1", "--n-clusters": "4",
                                       "--out": str(out / "mi.csv"), "--no-progress": True}),
    ("wordvec",): lambda ws, out: Base([], {**_store_words(ws, out), "--out": str(out / "wordvec")}),
    ("wordsim",): lambda ws, out: Base([], {**_store_words(ws, out), "--benchmark": [str(ws.files / "pairs.tsv")], "--out": str(out / "ws.csv")}),
    ("attention", "maps"): lambda ws, out: Base([], {"--model": "tiny:wav2vec2", "--corpus": "synth", "--split": "train", "--utterances": "1",
                                                     "--samples-dir": str(ws.samples), "--out": str(out / "features"), "--no-progress": True}),
    ("attention", "patterns"): lambda ws, out: Base([], {"--model": "tiny:wav2vec2", "--corpus": "synth", "--split": "train",
                                                         "--features": str(ws.features), "--out": str(out / "att.csv"), "--figure": str(out / "p.png")}),
    ("attention", "view"): lambda ws, out: Base([str(ws.store)], {"--out": str(out / "page.html"), "--samples-dir": str(ws.samples),
                                                                  "--utterances": "1"}),
    ("plot",): lambda ws, out: Base([str(ws.results / "cca.csv")], {"--out": str(out / "trend.png"), "--metric": "pwcca"}),
    ("demo",): lambda ws, out: Base([], {"--out": str(out / "demo"), "--no-progress": True}),
}  # fmt: skip

#: Files a refused command may leave because they say why it failed (and cannot pass for a result).
ALLOWED_LEFTOVERS = {("corpus", "align"): {"align_report.json"}}

#: Commands whose valid run takes long (a demo, training): only values that must be refused are tried.
ONLY_REFUSALS = {("demo",), ("corpus", "synth")}

#: Plausible values for the required options of commands without a Base (added by later work).
GENERIC_VALUES = {"--model": "tiny:wav2vec2", "--layer": "T1", "--layers": "T1", "--corpus": "synth", "--split": "train"}

#: Free-text options that layerprobe parses itself, and what to fuzz them with.
layer_specs = st.one_of(
    st.builds(lambda kind, n: f"{kind}{n}", st.sampled_from(["T", "C", "t", "", "mel"]), number_text),
    st.builds(lambda a, b: f"T{a}-T{b}", number_text, number_text),
    junk_text,
)
FREE_TEXT: dict[str, st.SearchStrategy] = {
    **{name: layer_specs for name in ("--layers", "--layer", "--blocks", "--base-layer", "--reinit", "--local-attention")},
    "--shard": st.one_of(st.builds(lambda i, n: f"{i}/{n}", number_text, number_text), junk_text),
    "--model": st.one_of(st.builds(lambda t: f"tiny:{t}", junk_text), st.builds(lambda t: f"hf:/nonexistent/{t}", junk_text), junk_text),
    **{name: st.one_of(number_text, junk_text, st.sampled_from(["all", "0", "-1", "a,b", ",", "²"])) for name in ("--attention", "--utterances", "--head", "--units", "--iters")},
    "--device": st.one_of(st.sampled_from(["cuda", "cuda:7", "mps", "cpu:1", "gpu"]), junk_text),
    **{name: junk_text for name in ("--split", "--corpus", "--train-split", "--eval-split", "--metric", "--experiment", "--revision",
                                     "--utt", "--corpus-name", "--benchmark", "--vectors", "--train", "--dev", "--test")},
}  # fmt: skip

#: Options whose edge values (NaN, infinity) reach layerprobe's own code in the base command lines.
EDGE_OPTIONS = {"--max-subset-duration", "--batch-seconds", "--tol"}


def generic_value(param: click.Parameter, ws: Workspace, out: Path) -> str:
    """A plausible value for a required parameter of a command without a Base (so click accepts it)."""
    name = param.opts[0] if param.opts else param.name
    kind = param.type
    if isinstance(kind, click.Path):
        if not kind.exists:
            return str(out / name.strip("-"))
        if not kind.file_okay:
            return str(ws.corpus if "corpus" in name else ws.root)
        return str(ws.files / "plain.txt")
    if isinstance(kind, click.Choice):
        return str(kind.choices[0])
    return GENERIC_VALUES.get(name, "x")


def _click_refuses(param: click.Parameter, value: str) -> bool:
    try:
        param.type.convert(value, param, None)
    except click.BadParameter:
        return True
    except Exception:  # noqa: BLE001 - a conversion crash is click's business, and still a refusal
        return True
    return False


def _strip_nul(text: str) -> str:
    return text.replace("\x00", "")  # a NUL cannot come from a command line


@st.composite
def bad_value(draw, param: click.Parameter, ws: Workspace, out: Path, base: Base | None, free_text: bool):
    """(value, must_refuse) for one parameter of a command."""
    kind = param.type
    name = param.opts[0] if param.opts else param.name
    if isinstance(kind, click.Path):
        choices = ["missing"]
        if kind.exists is False and not kind.file_okay:
            choices.append("file-for-dir")
        if kind.exists and not kind.dir_okay:
            choices.append("dir-for-file")
        if kind.exists and not kind.file_okay:
            choices.append("file-for-dir")
        if not kind.exists and kind.dir_okay is False:
            choices.append("under-a-file")
        if base is not None and name in base.files:
            choices += ["malformed", "malformed"]
        how = draw(st.sampled_from(choices))
        if how == "missing":
            return str(out / "missing" / _strip_nul(draw(st.text(alphabet="abc.xyz_-", min_size=1, max_size=8)))), bool(kind.exists)
        if how == "file-for-dir":
            return str(ws.files / "plain.txt"), True
        if how == "dir-for-file":
            return str(ws.files), True
        if how == "under-a-file":
            return str(ws.files / "plain.txt" / "x.out"), True
        content = draw(base.files[name])
        target = out.parent / "inputs" / f"input{draw(st.sampled_from(['.csv', '.json', '.txt', '.h5', '.kv', '.tsv']))}"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(content)
        return str(target), False
    if isinstance(kind, (click.IntRange, click.FloatRange)) or kind in (click.INT, click.FLOAT):
        edge = isinstance(kind, click.FloatRange) or kind is click.FLOAT
        if edge and name in EDGE_OPTIONS and draw(st.booleans()):
            value = draw(st.sampled_from(["nan", "inf", "1e309", "-0", "1e-300"]))
            return value, _click_refuses(param, value)
        value = draw(st.one_of(st.integers(-(10**20), 10**20).map(str), number_text, junk_text).map(_strip_nul))
        assume(_click_refuses(param, value))
        return value, True
    if isinstance(kind, click.Choice):
        value = _strip_nul(draw(st.one_of(junk_text, st.sampled_from([c.upper() for c in kind.choices] + [" " + c for c in kind.choices]))))
        assume(_click_refuses(param, value))
        return value, True
    if free_text and name in FREE_TEXT:
        return _strip_nul(draw(FREE_TEXT[name])), False
    value = _strip_nul(draw(junk_text))
    return value, _click_refuses(param, value)


def name_of(param: click.Parameter) -> str:
    return param.opts[0] if param.opts else param.name


def _loadable_model_spec(spec: str) -> bool:
    """Whether a model spec names a model that loads (a valid tiny name; these tests make no others)."""
    from layerprobe.models.tiny import parse_tiny_name

    scheme, _, target = spec.strip().partition(":")
    if scheme.strip().lower() != "tiny":
        return False
    try:
        parse_tiny_name(target.strip())
    except Exception:  # noqa: BLE001 - not loadable, whatever the parser thinks of it
        return False
    return True


def _fuzzable(command: click.Command, base: Base | None, path: tuple[str, ...]) -> list[click.Parameter]:
    params = []
    for param in command.params:
        if isinstance(param, click.Option) and (param.is_flag or param.count or param.name in ("help", "version")):
            continue
        typed = not isinstance(param.type, click.types.StringParamType)
        name = param.opts[0] if param.opts else param.name
        if typed or (name in FREE_TEXT and (path not in ONLY_REFUSALS or name == "--model")):
            params.append(param)
    return params


def _files_for(ws: Workspace) -> dict[str, dict[str, st.SearchStrategy]]:
    """Malformed input files per command and option (mutations of the workspace's good files)."""
    manifest = (ws.samples / "synth" / "train_frame_sample1.json").read_bytes()
    csv = (ws.results / "cca.csv").read_bytes()
    store = ws.store.read_bytes()
    return {
        "extract": {"--manifest": st.one_of(mutated_bytes(manifest), mutated_lines(manifest.decode()).map(str.encode))},
        "plot": {"results": st.one_of(mutated_bytes(csv), mutated_lines(csv.decode()).map(str.encode))},
        # truncated only: a byte-changed HDF5 file can hang libhdf5 in-process (see test_fuzz_store.py)
        "attention view": {"store": st.integers(0, len(store) - 1).map(lambda n: store[:n]),
                           "--manifest": mutated_lines(manifest.decode()).map(str.encode)},
        "cca": {"--embeddings": st.one_of(mutated_lines((ws.files / "glove.txt").read_text()).map(str.encode), st.binary(max_size=64))},
        "corpus align": {"--transcripts": mutated_lines((ws.clips / "transcripts.txt").read_text()).map(str.encode),
                         "--dict": st.one_of(st.just(b"QUOKKA K W AA1 K AH0\n"), mutated_lines("QUOKKA K W AA1 K AH0\n").map(str.encode))},
        "sample": {"--labels-from": st.one_of(st.binary(max_size=32), mutated_bytes(manifest))},
    }  # fmt: skip


COMMANDS = leaf_commands()


def test_the_base_command_lines_name_registered_commands():
    """Every base command line is of a registered command (commands without one are fuzzed at click level)."""
    paths = {path for path, _ in COMMANDS}
    assert set(BASES) <= paths, sorted(set(BASES) - paths)
    assert len(COMMANDS) >= len(BASES) and all(isinstance(command, click.Command) for _, command in COMMANDS)


@pytest.fixture(scope="module")
def cwd(tmp_path_factory):
    """Run the commands in an empty working directory, which must stay empty."""
    folder = tmp_path_factory.mktemp("cwd")
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(previous)


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
@fuzz(scale=0.5)
@given(data=st.data())
def test_bad_option_values(workspace, cwd, tmp_path_factory, path, command, data):
    import torch

    out = tmp_path_factory.mktemp("out") / "o"
    out.mkdir()
    builder = BASES.get(path)
    base = builder(workspace, out) if builder else None
    if base is not None:
        base.files = _files_for(workspace).get(" ".join(path), {})
    else:
        base = Base([generic_value(p, workspace, out) for p in command.params if isinstance(p, click.Argument)],
                    {p.opts[0]: generic_value(p, workspace, out) for p in command.params if isinstance(p, click.Option) and p.required})  # fmt: skip
    if path == ("merge",):
        shutil.copytree(workspace.shards, out / "shards")
    params = _fuzzable(command, base, path)
    assume(params)
    param = data.draw(st.sampled_from(params))
    value, must_refuse = data.draw(bad_value(param, workspace, out, base, free_text=path in BASES))
    if name_of(param) == "--model":
        # a loadable model would be built into the tiny-model cache and run: not bad input
        assume(not _loadable_model_spec(value))
        must_refuse = True
    if path in ONLY_REFUSALS or path not in BASES:
        # an accepted value would run the whole command (a demo, a corpus synthesis, or for a command
        # without a base command line here, e.g. a training run): only values that must be refused
        assume(must_refuse)
    name = param.opts[0] if param.opts else param.name
    if isinstance(param, click.Argument):
        index = [p for p in command.params if isinstance(p, click.Argument)].index(param)
        base.positionals[index] = value
    else:
        base.options[name] = [value] if param.multiple else value
    argv = base.argv(path)
    before = _snapshot(workspace.root, cwd)
    before_out = _snapshot(out)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        outcome = run_cli(argv, seconds=60 if path in BASES else 10)
    finally:
        torch.set_num_threads(threads)
    target = f"command line: layerprobe {' '.join(path)} (bad option values)"
    if outcome is None:
        assert not must_refuse, f"{argv}: ran for a minute on a value it must refuse"
        LEDGER.tried(target, "accepted")
        return
    lines = outcome.stderr.strip().splitlines()
    assert "internal error" not in outcome.stderr and "Traceback" not in outcome.stderr, (argv, outcome.stderr[-2000:])
    if outcome.code == 0:
        LEDGER.tried(target, "accepted")
        assert not must_refuse, f"{argv}: accepted a value it must refuse"
        return
    LEDGER.tried(target, "refused")
    assert outcome.code in (1, 2), (argv, outcome.code, outcome.stderr)
    assert len(lines) == 1 and lines[0].startswith("layerprobe"), (argv, outcome.stderr[-2000:])
    assert _snapshot(workspace.root, cwd) == before, f"{argv}: changed the inputs or the working directory"
    left = {name for name in set(_snapshot(out)) - set(before_out) if Path(name).name not in ALLOWED_LEFTOVERS.get(path, ())}
    assert not left and all(_snapshot(out).get(name) == state for name, state in before_out.items()), f"{argv}: left output behind: {sorted(left)[:5]}"


#: Base command lines that run a model or an aligner: checked with the heavy tests (and by scripts/fuzz_report.py).
SLOW_BASES = {("extract",), ("attention", "maps"), ("attention", "patterns"), ("corpus", "align")}


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.heavy) if p in SLOW_BASES else p for p in BASES if p not in ONLY_REFUSALS],
    ids=lambda p: " ".join(p),
)
def test_base_command_lines_are_valid(workspace, cwd, tmp_path_factory, path):
    """The command lines the fuzz starts from succeed, so a refusal is the fuzzed value's doing."""
    out = tmp_path_factory.mktemp("base") / "o"
    out.mkdir()
    if path == ("merge",):
        shutil.copytree(workspace.shards, out / "shards")
    outcome = run_cli(BASES[path](workspace, out).argv(path), seconds=120)
    assert outcome is not None and outcome.code == 0, outcome


# --------------------------------------------------------------------------------------------------
# the failures the fuzz found, pinned (each printed an internal error or left output behind)

PINNED = [
    # '²'.isdigit() is True and int('²') raised ValueError: internal errors
    (("extract",), {"--attention": "²"}),
    (("attention", "maps"), {"--utterances": "²"}),
    (("attention", "view"), {"--utterances": "²"}),
    (("attention", "view"), {"--head": "²", "--png": "{out}/map.png"}),
    # a path under a file: OSError (NotADirectoryError) was an internal error
    (("attention", "view"), {"--out": "{files}/plain.txt/page.html"}),
    (("plot",), {"--out": "{files}/plain.txt/trend.png"}),
    # the page was written, then the PNG failed: the page was left behind
    (("attention", "view"), {"--png": "{files}/plain.txt/map.png"}),
    # a layer range of 10^8 ids was expanded (a minute, a 1 GB message)
    (("cca",), {"--layers": "T0-T99999999"}),
    # a benchmark name too long for the file system: OSError from Path.exists
    (("wordsim",), {"--benchmark": ["x" * 300]}),
    # the demo synthesized a corpus and drew samples before refusing the model spec
    (("demo",), {"--model": "tiny:junk"}),
]


def test_pinned_finetune_seeds(workspace, cwd, tmp_path_factory):
    out = tmp_path_factory.mktemp("pinned") / "o"
    out.mkdir()
    outcome = run_cli(["finetune", "--model", "tiny:wav2vec2", "--corpus", str(workspace.corpus), "--seeds", "²", "--out", str(out / "ft.csv")])
    assert outcome is not None and outcome.code in (1, 2) and "internal error" not in outcome.stderr, outcome


@pytest.mark.parametrize("path, changes", PINNED, ids=[f"{' '.join(p)} {' '.join(c)}" for p, c in PINNED])
def test_pinned_failures(workspace, cwd, tmp_path_factory, path, changes):
    out = tmp_path_factory.mktemp("pinned") / "o"
    out.mkdir()
    base = BASES[path](workspace, out)
    for option, value in changes.items():
        fill = lambda text: text.format(out=out, files=workspace.files)  # noqa: E731
        base.options[option] = [fill(v) for v in value] if isinstance(value, list) else fill(value)
    before = _snapshot(workspace.root, cwd)
    outcome = run_cli(base.argv(path), seconds=60)
    assert outcome is not None, "ran for a minute"
    lines = outcome.stderr.strip().splitlines()
    assert outcome.code == 1 and len(lines) == 1 and lines[0].startswith("layerprobe: error: "), outcome
    assert "internal error" not in outcome.stderr and len(outcome.stderr) < 2000
    assert _snapshot(workspace.root, cwd) == before and not _snapshot(out)


@pytest.mark.parametrize("damage", ["maps deleted", "config a list"])
def test_pinned_viewer_of_a_damaged_store(workspace, cwd, tmp_path_factory, damage):
    """The store lists utterances with maps whose maps are gone (IndexError), or its config is not an object."""
    import h5py

    out = tmp_path_factory.mktemp("pinned") / "o"
    out.mkdir()
    store = out.parent / "damaged.h5"
    shutil.copy(workspace.store, store)
    with h5py.File(store, "r+") as file:
        if damage == "maps deleted":
            for name in list(file["attention"]):
                del file["attention"][name]
        else:
            file.attrs["config"] = "[1, 2]"
    outcome = run_cli(["attention", "view", str(store), "--out", str(out / "page.html"), "--samples-dir", str(workspace.samples)])
    lines = outcome.stderr.strip().splitlines()
    assert outcome.code == 1 and len(lines) == 1 and lines[0].startswith(f"layerprobe: error: {store}: "), outcome
    assert not _snapshot(out)
