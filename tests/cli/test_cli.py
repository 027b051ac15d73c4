"""The command line: help with examples, one-line errors with exit statuses, and the sample command."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from layerprobe import __version__
from layerprobe.cli import cli
from layerprobe.results import ResultTable
from support.cli import run, run_ok
from support.corpora import make_folder_corpus

COMMANDS = [["sample"], ["demo"], ["corpus"], ["corpus", "info"], ["corpus", "align"], ["corpus", "synth"], ["extract"], ["merge"], ["status"], ["cca"],
            ["plot"], ["mi"], ["wordvec"], ["wordsim"], ["awd"], ["probe"], ["finetune"],
            ["attention"], ["attention", "maps"], ["attention", "patterns"], ["attention", "view"], ["audiate"],
            ["import-reference"], ["models"], ["segment"], ["sts"], ["corpus", "synth-sts"]]  # fmt: skip


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"layerprobe, version {__version__}"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_help_shows_an_example(command, capsys):
    code, out, _ = run([*command, "--help"], capsys)
    assert code == 0
    assert "Example" in out and "layerprobe " in out.split("Example", 1)[1]


def test_every_command_is_covered_by_the_help_test():
    import click

    names = {name for name in cli.commands}
    for group_name, group in cli.commands.items():
        if isinstance(group, click.Group):
            names |= {f"{group_name} {name}" for name in group.commands}
    assert names == {" ".join(c) for c in COMMANDS}


@pytest.fixture()
def corpus_dir(tmp_path):
    make_folder_corpus(tmp_path / "mini", splits=("train",), per_split=5)
    return tmp_path / "mini"


def test_sample_writes_a_manifest_and_reruns_identically(corpus_dir, tmp_path, capsys):
    argv = ["sample", "--corpus", str(corpus_dir), "--split", "train", "--span", "phone", "--min-per-label", "1",
            "--max-per-label", "3", "--out", str(tmp_path / "ds"), "--no-progress"]  # fmt: skip
    code, out, err = run(argv, capsys)
    path = tmp_path / "ds" / "mini" / "train_phone_sample1.json"
    assert code == 0 and err == ""
    assert out.startswith("mini train phone sample 1 (seed 1): ") and out.rstrip().endswith(str(path))
    first = path.read_bytes()
    assert json.loads(first)["span"] == "phone"
    assert run(argv, capsys)[0] == 0
    assert path.read_bytes() == first
    code, _, err = run([*argv, "--seed", "5"], capsys)
    assert code == 1 and "exists with a different sample; pass --overwrite" in err
    assert run([*argv, "--seed", "5", "--overwrite"], capsys)[0] == 0
    assert path.read_bytes() != first


@pytest.mark.parametrize(
    "extra, status, fragment",
    [
        (["--span", "syllable"], 2, "Invalid value for '--span': 'syllable' is not one of 'frame', 'phone', 'word'"),
        (["--span", "phone", "--min-per-label", "0"], 2, "Invalid value for '--min-per-label'"),
        (["--span", "phone", "--split", "nope"], 1, "has no split 'nope' (splits: train)"),
        (["--span", "phone", "--min-per-label", "5", "--max-per-label", "2"], 1, "--min-per-label (5) is larger than --max-per-label (2)"),
    ],
)
def test_bad_options_are_one_line(corpus_dir, tmp_path, capsys, extra, status, fragment):
    argv = ["sample", "--corpus", str(corpus_dir), "--split", "train", "--out", str(tmp_path / "ds"), *extra]
    code, out, err = run(argv, capsys)
    assert code == status
    assert fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "ds").exists() or not any((tmp_path / "ds").rglob("*.json"))


def test_missing_corpus_directory(tmp_path, capsys):
    code, _, err = run(["sample", "--corpus", str(tmp_path / "none"), "--split", "x", "--span", "frame"], capsys)
    assert code == 2 and f"Directory '{tmp_path / 'none'}' does not exist" in err
    assert len(err.strip().splitlines()) == 1


def test_bad_alignment_names_the_file_and_verbose_shows_the_traceback(corpus_dir, tmp_path, capsys):
    bad = corpus_dir / "train" / "train-002.TextGrid"
    bad.write_text("File type = \"ooTextFile\"\nnonsense\n")
    argv = ["sample", "--corpus", str(corpus_dir), "--split", "train", "--span", "word", "--out", str(tmp_path / "ds")]
    code, _, err = run(argv, capsys)
    assert code == 1
    assert err.startswith(f"layerprobe: error: {bad}: not a readable TextGrid")
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(["-v", *argv], capsys)
    assert code == 1 and "Traceback" in err and err.strip().splitlines()[-1].startswith("layerprobe: error:")


def test_corpus_info(corpus_dir, capsys):
    code, out, _ = run(["corpus", "info", str(corpus_dir)], capsys)
    assert code == 0
    assert out.splitlines()[0] == f"mini: folder corpus at {corpus_dir.resolve()}"
    assert out.splitlines()[1].startswith("  train: 5 utterances, ") and "5 with alignments, 5 with transcripts" in out


def test_installed_console_script_runs():
    result = subprocess.run(["layerprobe", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and __version__ in result.stdout
    result = subprocess.run([sys.executable, "-m", "layerprobe", "sample", "--span", "x"], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.shared
def test_corpus_align_then_sample(librivox_dir, tmp_path, capsys):
    clips = sorted(librivox_dir.glob("*.wav"))[:2]
    folder = tmp_path / "clips"
    folder.mkdir()
    lines = {}
    for line in (librivox_dir / "transcripts.txt").read_text().splitlines():
        utt_id, text = line.split(maxsplit=1)
        lines[utt_id] = text
    for clip in clips:
        (folder / clip.name).write_bytes(clip.read_bytes())
    (folder / "transcripts.txt").write_text("".join(f"{c.stem} {lines[c.stem]}\n" for c in clips))
    code, out, err = run(["corpus", "align", str(folder), "--transcripts", str(folder / "transcripts.txt"), "--out", str(folder), "--no-progress"], capsys)
    assert code == 0, err
    assert out.startswith("aligned 2 of 2 utterances")
    assert sorted(p.stem for p in folder.glob("*.TextGrid")) == [c.stem for c in clips]
    code, out, _ = run(["sample", "--corpus", str(folder), "--split", "all", "--span", "word", "--out", str(tmp_path / "ds")], capsys)
    assert code == 0 and "word segments" in out


@pytest.mark.shared
def test_corpus_align_with_nothing_aligned_fails(librivox_dir, tmp_path, capsys):
    clip = sorted(librivox_dir.glob("*.wav"))[0]
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / clip.name).write_bytes(clip.read_bytes())
    (folder / "transcripts.txt").write_text(f"{clip.stem} zzxq qqzx\n")
    code, out, _ = run(["corpus", "align", str(folder), "--transcripts", str(folder / "transcripts.txt"), "--out", str(folder), "--oov", "skip"], capsys)
    assert code == 1 and out.startswith("aligned 0 of 1 utterance;") and "left unaligned" in out
    assert not list(folder.glob("*.TextGrid"))


def test_extract_and_merge_from_the_command_line(corpus_dir, tmp_path, capsys):
    samples = ["sample", "--corpus", str(corpus_dir), "--split", "train", "--span", "word", "--out", str(tmp_path / "ds"),
               "--min-per-label", "1", "--max-per-label", "2"]  # fmt: skip
    assert run(samples, capsys)[0] == 0
    base = ["extract", "--model", "tiny:wav2vec2", "--corpus", str(corpus_dir), "--split", "train", "--span", "word",
            "--rep", "contextualized", "--samples-dir", str(tmp_path / "ds"), "--out", str(tmp_path / "f"), "--no-progress"]  # fmt: skip
    for shard in ("1/2", "2/2"):
        code, out, err = run([*base, "--shard", shard], capsys)
        assert code == 0, err
        assert out.startswith("stored ") and f".shard-0000{shard[0]}-of-00002.h5" in out
    store_dir = tmp_path / "f" / "tiny_wav2vec2" / "mini_train_sample1"
    code, out, _ = run(["merge", str(store_dir)], capsys)
    assert code == 0 and out.strip() == f"merged -> {store_dir / 'contextualized_word.h5'}"


@pytest.mark.parametrize(
    "extra, status, fragment",
    [
        (["--model", "nope:x"], 1, "nope:x"),
        (["--model", "tiny:wav2vec2", "--layers", "T99"], 1, "has no layer T99"),
        (["--model", "tiny:wav2vec2", "--sample", "7"], 1, "train_word_sample7.json: no such data-sample manifest"),
        (["--model", "tiny:wav2vec2", "--shard", "0/2"], 1, "--shard 0/2: the index must be between 1 and 2"),
    ],
)
def test_extract_errors_are_one_line(corpus_dir, tmp_path, capsys, extra, status, fragment):
    assert run(["sample", "--corpus", str(corpus_dir), "--split", "train", "--span", "word", "--out", str(tmp_path / "ds"),
                "--min-per-label", "1", "--max-per-label", "2"], capsys)[0] == 0  # fmt: skip
    argv = ["extract", "--corpus", "mini", "--split", "train", "--span", "word", "--rep", "contextualized",
            "--samples-dir", str(tmp_path / "ds"), "--out", str(tmp_path / "f"), *extra]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == status and fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not list((tmp_path / "f").rglob("*.h5"))


def _results_file(path, model, values, *, experiment="cca_mel", metric="pwcca", corpus="synth"):
    """A result CSV: values is layer -> one value per sample."""
    table = ResultTable(path)
    table.add([
        {"model": model, "corpus": corpus, "experiment": experiment, "layer": layer, "split": "dev", "sample": sample, "seed": 0,
         "metric": metric, "value": value}
        for layer, samples in values.items() for sample, value in enumerate(samples, start=1)
    ])  # fmt: skip
    return table.save()


def test_plot_writes_png_and_pdf(tmp_path, capsys):
    first = _results_file(tmp_path / "w2v.csv", "wav2vec2", {"T0": [0.3, 0.35], "T1": [0.5, 0.55], "T2": [0.4, 0.42]})
    second = _results_file(tmp_path / "hubert.csv", "hubert", {"T0": [0.2, 0.25], "T1": [0.6, 0.65]})
    _results_file(tmp_path / "phone.csv", "hubert", {"T1": [0.7]}, experiment="cca_phone")
    out = tmp_path / "figs" / "trend.png"
    code, stdout, err = run(["plot", str(first), str(second), str(tmp_path / "phone.csv"), "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.strip() == f"plotted pwcca of 2 models in cca_mel, cca_phone -> {out}, {out.with_suffix('.pdf')}"
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and out.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    code, stdout, err = run(["plot", str(second), "--experiment", "cca_mel", "--spread", "range",
                             "--out", str(tmp_path / "one.pdf")], capsys)  # fmt: skip
    assert code == 0, err
    assert stdout.strip() == f"plotted pwcca of 1 model in cca_mel -> {tmp_path / 'one.pdf'}, {tmp_path / 'one.png'}"


@pytest.mark.parametrize(
    "extra, status, fragment",
    [
        (["--experiment", "cca_word"], 1, "no results for experiment 'cca_word' (experiments: cca_mel)"),
        (["--metric", "nmi"], 1, "no results with metric 'nmi' (metrics: pwcca)"),
        (["--spread", "sem"], 2, "Invalid value for '--spread': 'sem' is not one of 'std', 'range', 'none'"),
        (["--out", "trend.jpg"], 1, "trend.jpg: a figure file must end in .png, .pdf or .svg"),
    ],
)
def test_plot_errors_are_one_line(tmp_path, capsys, extra, status, fragment):
    results = _results_file(tmp_path / "r.csv", "m", {"T0": [0.1], "T1": [0.2]})
    code, _, err = run(["plot", str(results), "--out", str(tmp_path / "trend.png"), *extra], capsys)
    assert code == status and fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not list(tmp_path.glob("trend.*"))


def test_plot_needs_readable_results_files(tmp_path, capsys):
    code, _, err = run(["plot", "--out", str(tmp_path / "t.png")], capsys)
    assert code == 2 and "Missing argument 'RESULTS...'" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(["plot", str(tmp_path / "none.csv")], capsys)
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("model,layer,value\nm,T1,0.5\n")
    code, _, err = run(["plot", str(bad), "--out", str(tmp_path / "t.png")], capsys)
    assert code == 1 and err.startswith(f"layerprobe: error: {bad}: line 1: the header is 'model,layer,value'")
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "t.png").exists()


# --------------------------------------------------------------------------------------------------
# cca: stores made by the commands themselves (corpus synth, sample, extract), then cca, then plot


@pytest.fixture(scope="module")
def cca_features(tmp_path_factory):
    """Frame and phone stores of tiny:wav2vec2 and the log-mel baseline, from a 12-utterance corpus."""
    import torch

    root = tmp_path_factory.mktemp("cca_cli")
    corpus, samples, features = root / "synth", root / "ds", root / "features"
    run_ok(["corpus", "synth", "--out", str(corpus), "--n", "12", "--seed", "5", "--no-progress"])
    common = ["--corpus", str(corpus), "--split", "train"]
    run_ok(["sample", *common, "--span", "frame", "--n-utterances", "6", "--out", str(samples), "--no-progress"])
    run_ok(["sample", *common, "--span", "phone", "--min-per-label", "3", "--max-per-label", "8", "--out", str(samples), "--no-progress"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-wide model: worker threads only spin (and crawl on a busy 2-core machine)
    try:
        for rep, span in (("local", "frame"), ("contextualized", "frame"), ("contextualized", "phone"), ("mel", "frame")):
            model = ["--model", "tiny:wav2vec2"] if rep != "mel" else []
            run_ok(["extract", *model, *common, "--span", span, "--rep", rep, "--samples-dir", str(samples), "--out", str(features), "--no-progress"])
    finally:
        torch.set_num_threads(threads)
    return features


def _cca(features, out, *extra):
    return ["cca", "--model", "tiny:wav2vec2", "--corpus", "synth", "--split", "train", "--features", str(features),
            "--out", str(out), "--no-progress", *extra]  # fmt: skip


LAYER_LINE = re.compile(
    r"^(cca_\w+) (\w+): PWCCA (-?\d\.\d{4}) \(trials (-?\d\.\d{3}), (-?\d\.\d{3}), (-?\d\.\d{3}); "
    r"over signs (-?\d\.\d{3})-(-?\d\.\d{3}); centred (-?\d\.\d{4}); (\d+) rows; \d+\.\d s\)$"
)


def test_cca_scores_a_layer_into_a_result_table(cca_features, tmp_path, capsys):
    out = tmp_path / "phone.csv"
    code, stdout, err = run(_cca(cca_features, out, "--exp", "cca_phone", "--layer", "T2"), capsys)
    assert code == 0
    first, last = stdout.splitlines()
    assert last == f"1 layer -> {out}"
    match = LAYER_LINE.match(first)
    assert match and match.group(1, 2) == ("cca_phone", "T2"), first
    row, centred = ResultTable.open(out).rows
    assert centred["metric"] == "pwcca_centred" and match.group(9) == f"{centred['value']:.4f}"
    assert {k: row[k] for k in ("model", "corpus", "experiment", "layer", "split", "sample", "seed", "metric")} == {
        "model": "tiny:wav2vec2", "corpus": "synth", "experiment": "cca_phone", "layer": "T2", "split": "train", "sample": 1, "seed": 0,
        "metric": "pwcca"}  # fmt: skip
    assert match.group(3) == f"{row['value']:.4f}"
    details = ResultTable.open(out).metadata(row)["details"]
    assert [f"{t['test_score']:.3f}" for t in details["trials"]] == list(match.group(4, 5, 6))
    assert [f"{details['signs'][k]:.3f}" for k in ("low", "high")] == list(match.group(7, 8))
    assert int(match.group(10)) == details["n_rows"] > 20
    assert len(list((tmp_path / "cca_splits").iterdir())) == 1
    # A small phone sample against 39 one-hot columns: under 10 rows per dimension, said on stderr and in the sidecar
    n_rows = details["n_rows"]
    assert n_rows < 390 and details["dims"] == [32, 39]
    warning = (f"cca_phone T2: {n_rows} rows for views of 32 and 39 dimensions ({n_rows / 39:.1f} rows per dimension, "
               "under 10): CCA fits noise and PWCCA is unreliable; draw a larger data sample")  # fmt: skip
    assert details["warnings"][0] == warning and err.splitlines() == [f"layerprobe: {w}" for w in details["warnings"]]


def test_cca_mel_over_all_layers_then_plot(cca_features, tmp_path, capsys):
    out = tmp_path / "cca.csv"
    code, stdout, err = run(_cca(cca_features, out, "--exp", "cca_mel", "--layers", "all"), capsys)
    assert code == 0, err
    lines = stdout.splitlines()
    layers = [f"C{i}" for i in range(1, 8)] + ["T1", "T2", "T3"]
    assert [LAYER_LINE.match(line).group(2) for line in lines[:-1]] == layers
    assert lines[-1] == f"10 layers -> {out}"
    table = ResultTable.open(out)
    assert [row["layer"] for row in table.select(metric="pwcca")] == layers
    assert [f"{row['value']:.4f}" for row in table.select(metric="pwcca")] == [LAYER_LINE.match(line).group(3) for line in lines[:-1]]
    assert run(_cca(cca_features, out, "--exp", "cca_intra", "--layer", "T3"), capsys)[0] == 0
    assert len(ResultTable.open(out)) == 22  # pwcca and pwcca_centred of 11 layers
    figure = tmp_path / "trend.png"
    code, stdout, err = run(["plot", str(out), "--out", str(figure)], capsys)
    assert code == 0, err
    assert stdout.strip() == f"plotted pwcca of 1 model in cca_mel, cca_intra -> {figure}, {figure.with_suffix('.pdf')}"
    assert figure.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and figure.with_suffix(".pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(
    "extra, status, fragment",
    [
        (["--exp", "cca_intra", "--layer", "T0"], 1, "layerprobe: error: cca_intra does not score layer T0"),
        (["--exp", "cca_phone", "--layers", "C3"], 1, "layerprobe: error: cca_phone does not score layer C3"),
        (["--exp", "cca_agwe"], 1, "layerprobe: error: cca_agwe needs word vectors: give --embeddings FILE"),
        (["--exp", "cca_phone", "--corpus", "other"], 1, "other_train_sample1/contextualized_phone.h5: no such feature store"),
        (["--exp", "cca_pitch"], 2, "Invalid value for '--exp': 'cca_pitch' is not one of 'cca_mel', "),
        (["--exp", "cca_word", "--embeddings", "missing.txt"], 2, "Invalid value for '--embeddings'"),
    ],
)
def test_cca_errors_are_one_line(cca_features, tmp_path, capsys, extra, status, fragment):
    out = tmp_path / "cca.csv"
    code, stdout, err = run(_cca(cca_features, out, *extra), capsys)
    assert code == status and fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "cca_splits").exists()


def test_cca_embeddings_only_for_embedding_experiments(cca_features, tmp_path, capsys):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("the 0.1 0.2\n")
    code, _, err = run(_cca(cca_features, tmp_path / "cca.csv", "--exp", "cca_phone", "--embeddings", str(vectors)), capsys)
    assert code == 1
    assert err.strip() == "layerprobe: error: --embeddings is only for cca_agwe and cca_glove, not cca_phone"


# --------------------------------------------------------------------------------------------------
# wordvec and wordsim: a word store made by the commands themselves (corpus synth, sample, extract),
# then wordvec, wordsim and plot


@pytest.fixture(scope="module")
def word_features(tmp_path_factory):
    """The word store of tiny:wav2vec2 on a 30-utterance corpus, benchmark files, and vectors of T0 (32-d) and T1 (3-d)."""
    from types import SimpleNamespace

    import torch

    root = tmp_path_factory.mktemp("wordsim_cli")
    corpus, samples, features = root / "synth", root / "ds", root / "features"
    run_ok(["corpus", "synth", "--out", str(corpus), "--n", "30", "--seed", "5", "--no-progress"])
    common = ["--corpus", str(corpus), "--split", "train", "--span", "word"]
    run_ok(["sample", *common, "--n-labels", "200", "--min-per-label", "1", "--max-per-label", "10", "--out", str(samples), "--no-progress"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-wide model: worker threads only spin (and crawl on a busy 2-core machine)
    try:
        run_ok(["extract", "--model", "tiny:wav2vec2", *common, "--rep", "contextualized", "--samples-dir", str(samples),
             "--out", str(features), "--no-progress"])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    files = root / "benchmarks"
    files.mkdir()
    (files / "own.tsv").write_text("# pairs of the corpus's words\nword1\tword2\tscore\nman\twoman\t8\ncat\tdog\t5\n"
                                   "old\tnew\t1\nhappy\tfunny\t7\nchild\tchildren\t9\nstreet\tcar\t3\nquokka\tcat\t2\n")  # fmt: skip
    (files / "oov.csv").write_text("zyzzyva,quokka,1\naardvark,quokka,2\n")
    (files / "empty.tsv").write_text("# nothing here\n\n")
    (files / "bad.tsv").write_text("man woman 8\ncat dog\n")
    (files / "text.tsv").write_text("man,woman,8\ncat,dog,high\n")
    (files / "T1.txt").write_text("man 0.1 0.2 0.3\nwoman 0.3 0.1 0.2\n")
    namespace = SimpleNamespace(root=root, features=features, files=files)
    run_ok(_word("wordvec", namespace, "--layer", "T0", "--out", str(files)))
    return namespace


def _word(command, word_features, *extra):
    return [command, "--model", "tiny:wav2vec2", "--corpus", "synth", "--split", "train", "--features",
            str(word_features.features), "--no-progress", *extra]  # fmt: skip


WORDVEC_LINE = re.compile(r"^wordvec (T\d): (\d+) words from (\d+) of (\d+) instances -> (.+)$")
WORDSIM_LINE = re.compile(r"^wordsim (T\d): micro (-?\d\.\d{4}), macro (-?\d\.\d{4}); (.+); vectors of (\d+) words from (.+)$")


def test_wordvec_then_wordsim_then_plot(word_features, tmp_path, capsys):
    from gensim.models import KeyedVectors

    folder = tmp_path / "wv"
    code, stdout, err = run(_word("wordvec", word_features, "--max-instances", "3", "--out", str(folder)), capsys)
    assert code == 0 and err == ""
    lines = stdout.splitlines()
    assert lines[-1] == f"4 layers -> {folder}"
    matches = [WORDVEC_LINE.match(line) for line in lines[:-1]]
    assert [m.group(1) for m in matches] == ["T0", "T1", "T2", "T3"]
    assert [m.group(5) for m in matches] == [str(folder / f"T{i}.kv") for i in range(4)]
    n_words = int(matches[0].group(2))
    assert len(KeyedVectors.load(str(folder / "T2.kv"))) == n_words > 50
    out = tmp_path / "results" / "wordsim.csv"
    benchmarks = ["--benchmark", "simlex999", "--benchmark", str(word_features.files / "own.tsv"),
                  "--benchmark", str(word_features.files / "oov.csv")]  # fmt: skip
    code, stdout, err = run(_word("wordsim", word_features, "--max-instances", "3", "--wordvec", str(folder), *benchmarks,
                                  "--out", str(out)), capsys)  # fmt: skip
    assert code == 0 and err == ""
    lines = stdout.splitlines()
    assert lines[-1] == f"4 layers -> {out}"
    table = ResultTable.open(out)
    for line in lines[:-1]:
        match = WORDSIM_LINE.match(line)
        assert match, line
        layer = match.group(1)
        parts = match.group(4).split("; ")
        assert parts[1].startswith("own ") and parts[1].endswith(" (6 of 7 pairs)")
        assert parts[2] == "oov not scored (0 of its 2 pairs have vectors for both words, fewer than the 2 a correlation needs)"
        assert match.group(5, 6) == (str(n_words), str(folder / f"{layer}.kv"))
        values = {row["metric"]: row["value"] for row in table.select(layer=layer)}
        assert set(values) == {"spearman_micro", "spearman_macro", "spearman:simlex999", "spearman:own"}
        assert f"{values['spearman_micro']:.4f}" == match.group(2) and f"{values['spearman:own']:.4f}" in parts[1]
        details = table.metadata(table.select(layer=layer)[0])["details"]
        assert details["used"] == {"simlex999": int(parts[0].split("(")[1].split()[0]), "own": 6, "oov": 0}
        assert details["skipped"]["oov"] == 2 and details["skipped"]["own"] == 1
    figure = tmp_path / "wordsim.png"
    code, stdout, err = run(["plot", str(out), "--metric", "spearman_micro", "--out", str(figure)], capsys)
    assert code == 0, err
    assert stdout.strip() == f"plotted spearman_micro of 1 model in wordsim -> {figure}, {figure.with_suffix('.pdf')}"
    assert figure.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_wordsim_builds_missing_vectors_from_the_store(word_features, tmp_path, capsys):
    out = tmp_path / "wordsim.csv"
    argv = _word("wordsim", word_features, "--layer", "T2", "--benchmark", str(word_features.files / "own.tsv"),
                 "--wordvec", str(tmp_path / "none"), "--out", str(out))  # fmt: skip
    code, stdout, err = run(argv, capsys)
    assert code == 0 and err == ""
    first, last = stdout.splitlines()
    assert first.endswith(" words built from the store") and WORDSIM_LINE.match(first.replace(" built from the store", " from -"))
    assert last == f"1 layer -> {out}"
    assert {row["metric"] for row in ResultTable.open(out).rows} == {"spearman_micro", "spearman_macro", "spearman:own"}


@pytest.mark.parametrize(
    "command, extra, status, fragment",
    [
        ("wordsim", ["--benchmark", "{files}/empty.tsv"], 1, "empty.tsv: holds no word pairs (expected lines of 'word1 word2 score')"),
        ("wordsim", ["--benchmark", "{files}/bad.tsv"], 1, "bad.tsv: line 2: expected 3 fields (word1, word2, score) separated by spaces, found 2"),
        ("wordsim", ["--benchmark", "{files}/text.tsv"], 1, "text.tsv: line 2: the score 'high' is not a number"),
        ("wordsim", ["--benchmark", "{files}/missing.tsv"], 1, "missing.tsv: no such benchmark file (the bundled benchmarks are wordsim353, simlex999)"),
        ("wordsim", ["--benchmark", "{files}/oov.csv"], 1, "no benchmark has 2 pairs with both words among the "),
        ("wordsim", ["--benchmark", "{files}/own.tsv", "--vectors", "{files}/T0.kv", "--vectors", "{files}/T1.txt"], 1,
         "T1.txt: holds 3-d vectors but {files}/T0.kv holds 32-d ones; give vector files of one model"),
        ("wordsim", ["--benchmark", "{files}/own.tsv", "--vectors", "{files}/own.tsv"], 1, "own.tsv: cannot tell which layer the vectors are of"),
        ("wordsim", ["--corpus", "other"], 1, "other_train_sample1/contextualized_word.h5: no such feature store"),
        ("wordsim", ["--layers", "T9"], 1, "contextualized_word.h5: the model has no layer T9 (it has C1-C7, T0-T3)"),
        ("wordvec", ["--layers", "T9"], 1, "contextualized_word.h5: the model has no layer T9 (it has C1-C7, T0-T3)"),
        ("wordvec", ["--split", "dev"], 1, "synth_dev_sample1/contextualized_word.h5: no such feature store"),
        ("wordvec", ["--format", "glove"], 2, "Invalid value for '--format': 'glove' is not one of 'kv', 'word2vec'"),
        ("wordvec", ["--max-instances", "0"], 2, "Invalid value for '--max-instances'"),
    ],
)
def test_wordvec_and_wordsim_errors_are_one_line(word_features, tmp_path, capsys, command, extra, status, fragment):
    files = str(word_features.files)
    out = tmp_path / "out"
    code, _, err = run(_word(command, word_features, *[item.format(files=files) for item in extra], "--out", str(out)), capsys)
    assert code == status and fragment.format(files=files) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


# --------------------------------------------------------------------------------------------------
# mi: train and dev phone stores made by the commands themselves (corpus synth, sample, extract),
# then mi over layers and iterations, then plot


@pytest.fixture(scope="module")
def mi_features(tmp_path_factory):
    """Contextualized phone stores of tiny:wav2vec2 for the train and dev splits of a 20-utterance corpus."""
    import torch

    root = tmp_path_factory.mktemp("mi_cli")
    corpus, samples, features = root / "synth", root / "ds", root / "features"
    run_ok(["corpus", "synth", "--out", str(corpus), "--n", "20", "--seed", "5", "--no-progress"])
    for split, most in (("train", "8"), ("dev", "6")):
        run_ok(["sample", "--corpus", str(corpus), "--split", split, "--span", "phone", "--min-per-label", "1",
             "--max-per-label", most, "--out", str(samples), "--no-progress"])  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-wide model: worker threads only spin (and crawl on a busy 2-core machine)
    try:
        for split in ("train", "dev"):
            run_ok(["extract", "--model", "tiny:wav2vec2", "--corpus", str(corpus), "--split", split, "--span", "phone",
                 "--rep", "contextualized", "--samples-dir", str(samples), "--out", str(features), "--no-progress"])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return features


def _mi(features, out, *extra):
    return ["mi", "--span", "phone", "--model", "tiny:wav2vec2", "--corpus", "synth", "--train-split", "train",
            "--eval-split", "dev", "--n-clusters", "20", "--features", str(features), "--out", str(out), "--no-progress",
            *extra]  # fmt: skip


MI_LINE = re.compile(
    r"^mi_phone (T\d): NMI (\d\.\d{4}) \(chance (\d\.\d{4}); train (\d\.\d{4}); (\d+) train / (\d+) eval instances, 20 clusters, "
    r"(\d+) labels; (\d+) iterations; \d+\.\d s\)$"
)


def test_mi_scores_every_layer_per_iteration_then_plot(mi_features, tmp_path, capsys):
    out = tmp_path / "mi.csv"
    code, stdout, err = run(_mi(mi_features, out, "--layers", "all", "--iter", "0"), capsys)
    assert code == 0
    # 35 evaluation phones: the scores are at their chance level, and each layer's warning is one stderr line
    warned = {row["layer"]: ResultTable.open(out).metadata(row)["details"]["warnings"] for row in ResultTable.open(out).rows}
    assert err.splitlines() == [f"layerprobe: {w}" for layer in ("T0", "T1", "T2", "T3") for w in warned[layer]]
    assert err and all("within noise of its chance level" in line for line in err.splitlines())
    lines = stdout.splitlines()
    assert lines[-1] == f"4 layers -> {out}"
    matches = [MI_LINE.match(line) for line in lines[:-1]]
    assert all(matches), lines
    assert [m.group(1) for m in matches] == ["T0", "T1", "T2", "T3"]
    table = ResultTable.open(out)
    assert [f"{row['value']:.4f}" for row in table.select(metric="nmi")] == [m.group(2) for m in matches]
    assert [f"{row['value']:.4f}" for row in table.select(metric="nmi_chance")] == [m.group(3) for m in matches]
    details = table.metadata(table.select(metric="nmi")[2])["details"]
    assert (details["n_train"], details["n_eval"], details["n_labels_eval"], details["n_iter"]) == tuple(
        int(matches[2].group(i)) for i in (5, 6, 7, 8)
    )
    assert details["n_clusters"] == 20 and details["batch_size"] == 1500 and details["init"] == "k-means++"
    assert run(_mi(mi_features, out, "--layer", "T2", "--iter", "1"), capsys)[0] == 0
    table = ResultTable.open(out)
    assert len(table) == 10 and table.unique("seed") == [0, 1]
    assert {row["split"] for row in table.rows} == {"dev"} and {row["metric"] for row in table.rows} == {"nmi", "nmi_chance"}
    assert run(_mi(mi_features, out, "--layer", "T2", "--iter", "1"), capsys)[0] == 0  # a rerun replaces
    assert len(ResultTable.open(out)) == 10
    figure = tmp_path / "mi.png"
    code, stdout, err = run(["plot", str(out), "--metric", "nmi", "--out", str(figure)], capsys)
    assert code == 0, err
    assert stdout.strip() == f"plotted nmi of 1 model in mi_phone -> {figure}, {figure.with_suffix('.pdf')}"


@pytest.mark.parametrize(
    "extra, status, fragment",
    [
        (["--span", "frame"], 2, "Invalid value for '--span': 'frame' is not one of 'phone', 'word'"),
        (["--layer", "T9"], 1, "layerprobe: error: layer T9 is not in the stores ("),
        (["--n-clusters", "5000"], 1, "contextualized_phone.h5: 129 training instances are fewer than the 5000 clusters; lower --n-clusters"),
        (["--eval-split", "test"], 1, "synth_test_sample1/contextualized_phone.h5: no such feature store"),
        (["--span", "word"], 1, "synth_train_sample1/contextualized_word.h5: no such feature store"),
        (["--device", "cuda:5"], 1, "layerprobe: error: --device cuda:5"),
        (["--n-clusters", "0"], 2, "Invalid value for '--n-clusters'"),
        (["--algorithm", "minibatch", "--init", "random"], 1, "--init is for the lloyd algorithm"),
        (["--init", "random"], 1, "--init is for the lloyd algorithm; published always starts from k-means++"),
    ],
)
def test_mi_errors_are_one_line(mi_features, tmp_path, capsys, extra, status, fragment):
    out = tmp_path / "mi.csv"
    code, _, err = run(_mi(mi_features, out, *extra), capsys)
    assert code == status and fragment in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_mi_lloyd_rows_are_named_apart_from_the_published_default(mi_features, tmp_path, capsys):
    out = tmp_path / "mi.csv"
    code, stdout, err = run(_mi(mi_features, out, "--layers", "T1", "--algorithm", "lloyd"), capsys)
    assert code == 0, err
    assert stdout.splitlines()[0].startswith("mi_phone@lloyd T1: NMI ")
    code, stdout, err = run(_mi(mi_features, out, "--layers", "T1"), capsys)
    assert code == 0, err
    assert MI_LINE.match(stdout.splitlines()[0])
    table = ResultTable.open(out)
    assert table.unique("experiment") == ["mi_phone", "mi_phone@lloyd"]
    assert {table.metadata(row)["options"]["algorithm"] for row in table.select(experiment="mi_phone")} == {"published"}
    code, stdout, _ = run(["mi", "--help"], capsys)
    assert code == 0 and "[default: published]" in " ".join(stdout.split())


# --------------------------------------------------------------------------------------------------
# attention patterns: maps stored by `attention maps` (tiny:wav2vec2), then patterns, table and figure


@pytest.fixture(scope="module")
def pattern_features(tmp_path_factory):
    """A frame sample of the train split of 8 synthesized utterances; maps of 3 of them (features/), and a store without maps (bare/)."""
    import torch

    root = tmp_path_factory.mktemp("patterns_cli")
    corpus, samples = root / "synth", root / "ds"
    run_ok(["corpus", "synth", "--out", str(corpus), "--n", "8", "--seed", "3", "--no-progress"])
    run_ok(["sample", "--corpus", str(corpus), "--split", "train", "--span", "frame", "--out", str(samples), "--no-progress"])
    common = ["--model", "tiny:wav2vec2", "--corpus", str(corpus), "--split", "train", "--samples-dir", str(samples), "--no-progress"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_ok(["attention", "maps", *common, "--utterances", "3", "--out", str(root / "features")])
        run_ok(["extract", *common, "--span", "frame", "--rep", "contextualized", "--out", str(root / "bare")])
    finally:
        torch.set_num_threads(threads)
    return root


def _patterns(root, out, *extra, features="features"):
    return ["attention", "patterns", "--model", "tiny:wav2vec2", "--corpus", "synth", "--split", "train",
            "--features", str(root / features), "--out", str(out), *extra]  # fmt: skip


PATTERN_LINE = re.compile(
    r"^(T\d): (diagonal|vertical|vertical\+diagonal|heterogeneous) \(diagonal (\d\.\d{3}) \+- \d\.\d{3}, "
    r"vertical (\d\.\d{3}) \+- \d\.\d{3}, consistency (\d\.\d{3}) \+- \d\.\d{3}, entropy (\d\.\d{3}) \+- \d\.\d{3}; "
    r"padding 0\.0 %; heads: .+; 3 utterances\)$"
)


def test_attention_patterns_table_sidecar_and_figure(pattern_features, tmp_path, capsys):
    from layerprobe.attention.patterns import CLASSES, block_patterns
    from layerprobe.io.store import FeatureStore

    out, figure = tmp_path / "attention.csv", tmp_path / "fig" / "patterns.png"
    code, stdout, err = run(_patterns(pattern_features, out, "--figure", str(figure), "--show", "2"), capsys)
    assert code == 0 and err == "", err
    lines = stdout.splitlines()
    assert lines[-1] == f"attention_patterns: 3 blocks -> {out}; figure {figure}, {figure.with_suffix('.pdf')}"
    matches = [PATTERN_LINE.match(line) for line in lines[:-1]]
    assert all(matches), lines
    assert [m.group(1) for m in matches] == ["T1", "T2", "T3"]
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"

    table = ResultTable.open(out)
    assert len(table) == 15 and table.unique("metric") == ["consistency", "diagonal", "entropy", "padding_mass", "vertical"]
    assert table.unique("experiment") == ["attention_patterns"] and table.unique("model") == ["tiny:wav2vec2"]
    for m in matches:
        values = {row["metric"]: row["value"] for row in table.select(layer=m.group(1))}
        assert [f"{values[name]:.3f}" for name in ("diagonal", "vertical", "consistency", "entropy")] == list(m.group(3, 4, 5, 6))
        assert all(0.0 <= v <= 1.0 for v in values.values())
        meta = table.metadata(table.select(layer=m.group(1))[0])
        assert meta["details"]["class"] == m.group(2) in CLASSES
        assert len(meta["details"]["heads"]) == 4 and meta["details"]["n_utterances"] == 3
        assert meta["options"]["radius"] == 5 and meta["provenance"]["store"].endswith("contextualized_frame.h5")
    # the table holds exactly what the library computes from the store
    store_path = next((pattern_features / "features").rglob("contextualized_frame.h5"))
    with FeatureStore.open(store_path) as store:
        direct = {p.block: p for p in block_patterns(store)}
    assert direct["T2"].scores.diagonal == pytest.approx(table.select(layer="T2", metric="diagonal")[0]["value"], abs=1e-12)
    # a rerun with another radius replaces the rows; radius 0 counts only the diagonal itself
    code, _, _ = run(_patterns(pattern_features, out, "--radius", "0", "--blocks", "T2", "--utterances", "1"), capsys)
    assert code == 0
    table = ResultTable.open(out)
    assert len(table) == 15
    assert table.metadata(table.select(layer="T2")[0])["details"]["n_utterances"] == 1
    with FeatureStore.open(store_path) as store:
        [narrow] = block_patterns(store, radius=0, blocks=["T2"], utterances=1)
    assert table.select(layer="T2", metric="diagonal")[0]["value"] == pytest.approx(narrow.scores.diagonal, abs=1e-12)
    assert table.metadata(table.select(layer="T2")[0])["options"]["radius"] == 0


@pytest.mark.parametrize(
    "extra, features, status, fragment",
    [
        ([], "bare", 1, "contextualized_frame.h5: has no attention maps; store them first with `layerprobe attention maps`"),
        ([], "nowhere", 1, "no such feature store; store attention maps first: layerprobe attention maps --model tiny:wav2vec2"),
        (["--blocks", "T9"], "features", 1, "layerprobe: error: block T9 is not in the store (its blocks: T1, T2, T3)"),
        (["--radius", "-1"], "features", 2, "Invalid value for --radius: -1 is negative"),
        (["--figure", str("x.jpg")], "features", 1, "a figure file must end in .png, .pdf or .svg"),
    ],
)
def test_attention_patterns_errors_are_one_line(pattern_features, tmp_path, capsys, extra, features, status, fragment):
    out = tmp_path / "attention.csv"
    code, _, err = run(_patterns(pattern_features, out, *extra, features=features), capsys)
    assert code == status and fragment in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


# --------------------------------------------------------------------------------------------------
# attention view


@pytest.fixture(scope="module")
def view_store(tmp_path_factory):
    """A frame sample of a synthesized corpus and a tiny:wav2vec2 store with maps and logits of 2 utterances."""
    import torch

    from layerprobe.data.corpora import open_corpus
    from layerprobe.data.samples import SamplingRule, draw_sample, manifest_path, write_manifest
    from layerprobe.data.synth import synthesize_corpus
    from layerprobe.extraction import extract
    from layerprobe.models import load_model

    base = tmp_path_factory.mktemp("view")
    synthesize_corpus(base / "synth", n=6, seed=2, progress=False)
    corpus = open_corpus(base / "synth")
    manifest = draw_sample(corpus, "train", span="frame", rule=SamplingRule.default("frame", "train"), progress=False)
    path = manifest_path(base / "ds", corpus.name, "train", "frame", 1)
    write_manifest(manifest, path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        report = extract(manifest, load_model("tiny:wav2vec2"), base / "features", rep="contextualized", attention=2,
                         pre_softmax=True, progress=False, manifest_path=path)  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return base, report.path


def test_attention_view_writes_a_page_and_a_png(view_store, tmp_path, capsys):
    from layerprobe.attention.view import read_viewer_data

    base, store = view_store
    page, png = tmp_path / "page.html", tmp_path / "fig.png"
    code, out, err = run(["attention", "view", str(store), "--out", str(page), "--samples-dir", str(base / "ds"),
                          "--png", str(png), "--utt", "synth-00001", "--layer", "T2", "--head", "1"], capsys)  # fmt: skip
    assert code == 0 and err == "", err
    assert out.splitlines() == [f"attention viewer -> {page}", f"attention map -> {png}"]
    data = read_viewer_data(page)
    assert [u["id"] for u in data["utterances"]] == ["synth-00000", "synth-00001"]
    assert data["has_alignment"] and data["has_logits"] and set(data["phone_matrix"]) == set(data["layers"])
    assert png.read_bytes()[:4] == b"\x89PNG"
    code, _, _ = run(["attention", "view", str(store), "--out", str(page), "--utterances", "synth-00001",
                      "--layers", "T3", "--samples-dir", str(tmp_path)], capsys)  # fmt: skip
    data = read_viewer_data(page)
    assert code == 0 and data["layers"] == ["T3"] and len(data["utterances"]) == 1 and not data["has_alignment"]
    assert "No alignment available" in data["note"]


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--utterances", "nope"], "no attention maps stored for nope (stored: synth-00000, synth-00001)"),
        (["--layers", "T0"], "no attention maps stored for layer(s) T0"),
        (["--png", "x.png", "--layer", "T1", "--head", "9"], "head 9 does not exist"),
        (["--png", "x.svg"], "--png must end in .png"),
    ],
)
def test_attention_view_errors_are_one_line(view_store, tmp_path, capsys, extra, fragment):
    _, store = view_store
    code, _, err = run(["attention", "view", str(store), "--out", str(tmp_path / "p.html"), *extra], capsys)
    assert code == 1 and fragment in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_uncached_hub_model_offline_is_one_line_without_retries(tmp_path):
    """No network in the test: offline mode and an empty cache, as on a compute node without access."""
    import os

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_CACHE", None)
    env.pop("HUGGINGFACE_HUB_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-m", "layerprobe", "audiate", "--model", "hf:nobody/nothing", "--layer", "T1", "--unit", "0",
         "--steps", "1", "--out", str(tmp_path / "u.wav")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == (
        f"layerprobe: error: hf:nobody/nothing: not in the local Hugging Face cache ({tmp_path / 'hf' / 'hub'}) and the "
        "hub cannot be reached (offline mode: HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set); download it on a machine "
        "with network (hf download nobody/nothing) or give a local directory (hf:/path/to/model)\n"
    )


def _silent_clips(folder, n):
    import numpy as np
    import soundfile as sf

    folder.mkdir()
    for number in range(n):
        sf.write(folder / f"u{number}.wav", np.zeros(8000, dtype=np.float32), 16000)
    return folder


def test_corpus_align_without_transcripts_prints_the_first_reasons_and_what_to_do(tmp_path, capsys):
    pytest.importorskip("pocketsphinx")
    clips = _silent_clips(tmp_path / "clips", 5)
    code, out, err = run(["corpus", "align", str(clips), "--out", str(tmp_path / "out"), "--no-progress"], capsys)
    report = tmp_path / "out" / "align_report.json"
    assert code == 1
    assert out.splitlines() == [
        f"aligned 0 of 5 utterances; 5 skipped (details in {report})",
        "  u0: no transcript file (u0.txt)",
        "  u1: no transcript file (u1.txt)",
        "  u2: no transcript file (u2.txt)",
        f"  ... and 2 more (see {report})",
    ]
    assert err == (
        f"layerprobe: error: {clips}: no utterance was aligned: no audio file has a transcript; give --transcripts "
        "FILE (lines of 'utt_id text') or put a same-named .txt beside each audio file\n"
    )


def test_corpus_align_with_few_unaligned_lists_each_reason(tmp_path, capsys):
    pytest.importorskip("pocketsphinx")
    clips = _silent_clips(tmp_path / "clips", 2)
    (clips / "transcripts.txt").write_text("u0 zzxq\nu1 qqzx\nu7 hello\n")
    code, out, err = run(["corpus", "align", str(clips), "--transcripts", str(clips / "transcripts.txt"), "--out",
                          str(tmp_path / "out"), "--oov", "skip", "--no-progress"], capsys)  # fmt: skip
    assert code == 1
    lines = out.splitlines()
    assert lines[1:] == [
        "  u0: 1 word not in the dictionary: zzxq",
        "  u1: 1 word not in the dictionary: qqzx",
        "  u7: no audio file (u7.wav or u7.flac)",
    ], out
    assert err == (
        f"layerprobe: error: {tmp_path / 'out'}: no utterance was aligned; the reasons are listed above and in "
        "align_report.json\n"
    )


def test_sample_reads_textgrids_with_other_tier_names_given_by_word_tier_and_phone_tier(corpus_dir, tmp_path, capsys):
    for grid in (corpus_dir / "train").glob("*.TextGrid"):
        text = grid.read_text().replace('name = "words"', 'name = "lexical"').replace('name = "phones"', 'name = "segments"')
        grid.write_text(text)
    argv = ["sample", "--corpus", str(corpus_dir), "--split", "train", "--span", "word", "--min-per-label", "1",
            "--out", str(tmp_path / "ds")]  # fmt: skip
    code, _, err = run(argv, capsys)
    first = corpus_dir / "train" / "train-000.TextGrid"
    assert code == 1
    assert err == (
        f"layerprobe: error: {first}: no phone tier found (looked for phones, phone, phonemes, phoneme, phns, phn; "
        "tiers: 'lexical', 'segments'); name it with --phone-tier NAME (phone_tier= in Python)\n"
    )
    code, _, err = run([*argv, "--phone-tier", "segments"], capsys)
    assert code == 1
    assert err == (
        f"layerprobe: error: {first}: no word tier found (looked for words, word, wrds, wrd; tiers: 'lexical', "
        "'segments'); name it with --word-tier NAME (word_tier= in Python)\n"
    )
    code, out, err = run([*argv, "--phone-tier", "segments", "--word-tier", "lexical"], capsys)
    assert code == 0, err
    manifest = json.loads((tmp_path / "ds" / "mini" / "train_word_sample1.json").read_text())
    assert manifest["corpus"]["phone_tier"] == "segments" and manifest["corpus"]["word_tier"] == "lexical"
    assert manifest["utterances"] and all(u["segments"] for u in manifest["utterances"])
    from layerprobe.attention.view import load_alignments  # reads the TextGrids again, with the manifest's tier names

    found, notes = load_alignments(tmp_path / "ds" / "mini" / "train_word_sample1.json", ["train-000"])
    assert notes == [] and found["train-000"].words
