"""cca_semantic / cca_syntactic end to end through the command line: a synthesized corpus, an
all_words sample, tiny:wav2vec2's all_words store, the two experiments (plain and one submitit job
per layer), with a QVEC oracle file written here (runs everywhere) and with the oracles built from
Debian's packages (skipped where they are not installed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerprobe.data.oracles import load_oracle, oracle_fingerprint
from layerprobe.io.store import FeatureStore
from layerprobe.results import ResultTable
from support.cli import run

MODEL = "tiny:wav2vec2"
PACKAGES = Path("/usr/share/wordnet/index.sense").is_file() and Path("/usr/share/perl5/Lingua/EN/Tagger/words.yml").is_file()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A synthesized corpus (40 utterances) and a QVEC-format POS oracle of its most frequent words."""
    from layerprobe.data.synth import synthesize_corpus

    root = tmp_path_factory.mktemp("oracle_cca")
    synthesize_corpus(root / "synth", n=40, seed=2, progress=False)
    words: dict[str, int] = {}
    for grid in sorted((root / "synth" / "train").glob("*.txt")):
        for word in grid.read_text(encoding="utf-8").lower().split():
            words[word] = words.get(word, 0) + 1
    kept = sorted(words, key=lambda word: (-words[word], word))[:40]
    tags = ["ptb.nn", "ptb.vbd", "ptb.dt", "ptb.jj"]
    lines = [f"{word}\t{json.dumps({tags[i % 4]: 0.75, tags[(i + 1) % 4]: 0.25})}\n" for i, word in enumerate(kept)]
    (root / "pos.qvec").write_text("".join(lines), encoding="utf-8")
    return root


def pipeline(project: Path, capsys, oracle: str | None, name: str) -> Path:
    """sample --span all_words (into ``name/data_samples``) and extract; returns the features root."""
    argv = ["sample", "--corpus", str(project / "synth"), "--split", "train", "--span", "all_words",
            "--out", str(project / name / "data_samples"), "--no-progress"]  # fmt: skip
    code, out, err = run(argv + (["--oracle", oracle] if oracle else []), capsys)
    assert code == 0, err
    assert "word segments of" in out
    assert out.strip().endswith(str(project / name / "data_samples" / "synth" / "train_all_words_sample1.json"))
    code, out, err = run(["extract", "--model", MODEL, "--corpus", "synth", "--split", "train", "--rep", "contextualized",
                          "--span", "all_words", "--samples-dir", str(project / name / "data_samples"),
                          "--out", str(project / name / "features"), "--no-progress"], capsys)  # fmt: skip
    assert code == 0, err
    return project / name / "features"


_BUILT: dict[Path, Path] = {}


def qvec_features(project: Path, capsys) -> Path:
    """The features root of a sample drawn with the QVEC file: made by whichever test asks first."""
    if project not in _BUILT:
        _BUILT[project] = pipeline(project, capsys, str(project / "pos.qvec"), "qvec")
    return _BUILT[project]


def test_cca_syntactic_with_a_qvec_file_plain_and_per_layer_jobs(project, tmp_path, capsys):
    features = qvec_features(project, capsys)
    store = features / "tiny_wav2vec2" / "synth_train_sample1" / "contextualized_all_words.h5"
    with FeatureStore.open(store) as opened:
        assert opened.span == "all_words" and list(opened.layer_ids)[-4:] == ["T0", "T1", "T2", "T3"]
        n_rows = len(opened.labels)
    argv = ["cca", "--exp", "cca_syntactic", "--model", MODEL, "--corpus", "synth", "--split", "train",
            "--features", str(features), "--oracle", str(project / "pos.qvec"), "--no-progress"]  # fmt: skip
    code, out, err = run([*argv, "--out", str(tmp_path / "cca.csv")], capsys)
    assert code == 0, err
    table = ResultTable.open(tmp_path / "cca.csv")
    assert sorted({(r["experiment"], r["layer"], r["metric"]) for r in table.rows}) == [
        ("cca_syntactic", layer, metric) for layer in ("T0", "T1", "T2", "T3") for metric in ("pwcca", "pwcca_centred")
    ]
    meta = table.metadata(table.select(layer="T2", metric="pwcca")[0])
    oracle = load_oracle("syntactic", project / "pos.qvec")
    assert meta["options"]["oracle_source"] == str(project / "pos.qvec")
    assert meta["options"]["oracle_fingerprint"] == oracle_fingerprint(oracle)
    assert meta["details"]["oracle"]["features"] == ["NN", "VBD", "DT", "JJ"]
    assert meta["details"]["oracle"]["n_words_dropped"] == 0 and meta["details"]["n_dropped"] == 0
    assert f"cca_syntactic T2: PWCCA {table.select(layer='T2', metric='pwcca')[0]['value']:.4f}" in out
    assert f"{n_rows} rows;" in out
    code, _, err = run([*argv, "--out", str(tmp_path / "jobs.csv"), "--launcher", "submitit", "--cluster", "debug",
                        "--jobs-dir", str(tmp_path / "jobs")], capsys)  # fmt: skip
    assert code == 0, err
    jobs = ResultTable.open(tmp_path / "jobs.csv")
    assert sorted((r["layer"], r["metric"], r["value"]) for r in jobs.rows) == sorted((r["layer"], r["metric"], r["value"]) for r in table.rows)


def test_bad_oracles_are_one_line_on_the_command_line(project, tmp_path, capsys):
    features = qvec_features(project, capsys)
    argv = ["cca", "--model", MODEL, "--corpus", "synth", "--split", "train", "--features", str(features),
            "--out", str(tmp_path / "cca.csv"), "--no-progress"]  # fmt: skip
    bad = tmp_path / "bad.qvec"
    bad.write_text('the\t{"ptb.dt": 0.5}\n', encoding="utf-8")
    code, out, err = run([*argv, "--exp", "cca_syntactic", "--oracle", str(bad)], capsys)
    assert (code, out) == (1, "") and err == f"layerprobe: error: {bad}: line 1: the probabilities sum to 0.5, not 1\n"
    other = tmp_path / "other.qvec"
    other.write_text('zebra\t{"semcor.noun.animal": 1.0}\n', encoding="utf-8")
    code, out, err = run([*argv, "--exp", "cca_semantic", "--oracle", str(other)], capsys)
    store = features / "tiny_wav2vec2" / "synth_train_sample1" / "contextualized_all_words.h5"
    with FeatureStore.open(store) as opened:
        n_words = len(set(opened.labels.tolist()))
    assert code == 1 and err.startswith(f"layerprobe: error: {store}: layer T0: none of the {n_words} words of the store "
                                        f"is in the oracle {other}; draw the sample with --span all_words --oracle")  # fmt: skip
    assert not (tmp_path / "cca.csv").exists()
    code, _, err = run([*argv, "--exp", "cca_word", "--oracle", str(other)], capsys)
    assert code == 1 and err == "layerprobe: error: --oracle is only for cca_semantic and cca_syntactic, not cca_word\n"


@pytest.mark.skipif(not PACKAGES, reason="Debian's wordnet-sense-index / liblingua-en-tagger-perl are not installed")
def test_both_experiments_with_the_built_oracles(project, tmp_path, capsys):
    features = pipeline(project, capsys, None, "built")  # --oracle both: the published union
    for experiment, source, n_features in (("cca_semantic", "/usr/share/wordnet/index.sense", 41),
                                           ("cca_syntactic", "/usr/share/perl5/Lingua/EN/Tagger/words.yml", 44)):  # fmt: skip
        code, out, err = run(["cca", "--exp", experiment, "--model", MODEL, "--corpus", "synth", "--split", "train",
                              "--features", str(features), "--out", str(tmp_path / "cca.csv"), "--no-progress"], capsys)  # fmt: skip
        assert code == 0, err
        table = ResultTable.open(tmp_path / "cca.csv")
        rows = table.select(experiment=experiment, metric="pwcca")
        assert sorted(r["layer"] for r in rows) == ["T0", "T1", "T2", "T3"]
        meta = table.metadata(rows[0])
        assert meta["options"]["oracle_source"] == source and meta["details"]["oracle"]["n_features"] == n_features
        details = meta["details"]["oracle"]
        assert details["n_words"] > 50 and 0 <= details["n_words_dropped"] < details["n_words"]
        if experiment == "cca_semantic":  # function words have no supersense: dropped and counted
            assert details["n_words_dropped"] > 0 and meta["details"]["n_dropped"] == details["n_instances_dropped"] > 0
