"""Frozen-layer BiLSTM probes: the network, training on stored frames, store lookup and result rows."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pytest
import torch

from layerprobe.errors import ConfigError
from layerprobe.io.store import FeatureStore
from layerprobe.results import ResultTable
from layerprobe.training.ctc import CharVocabulary
from layerprobe.training.data import FeatureCTCData
from layerprobe.experiments.probe import probe_layers, probe_store_path, run_probe
from layerprobe.training.probes import BiLSTMProbe, make_probe, train_probe
from support.corpora import make_folder_corpus

VOCAB = CharVocabulary.default()
WORDS = ("a", "cab", "bad", "dab", "ace", "bead")
SMALL = {"hidden_size": 24, "num_layers": 2, "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------------------------------
# The network


def test_probe_outputs_log_probabilities_of_the_vocabulary_per_frame():
    probe = make_probe(5, VOCAB, seed=0, hidden_size=8)
    inputs = torch.randn(3, 7, 5)
    log_probs, lengths = probe(inputs, torch.tensor([7, 4, 1]))
    assert log_probs.shape == (3, 7, 30) and lengths.tolist() == [7, 4, 1] and lengths.dtype == torch.int64
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 7))
    assert len(probe.forward_lstms) == len(probe.backward_lstms) == 3
    assert [lstm.input_size for lstm in probe.forward_lstms] == [5, 16, 16] and probe.forward_lstms[0].hidden_size == 8
    defaults = inspect.signature(BiLSTMProbe).parameters
    assert defaults["hidden_size"].default == 1024 and defaults["num_layers"].default == 3  # REFERENCE.md section 7


def test_probe_output_of_a_row_does_not_depend_on_padding_or_batch_neighbours():
    probe = make_probe(4, VOCAB, seed=1, hidden_size=6, projection_dim=3).eval()
    short = torch.randn(1, 3, 4)
    alone, _ = probe(short, torch.tensor([3]))
    padded = torch.cat([torch.cat([short, torch.full((1, 5, 4), 7.0)], dim=1), torch.randn(1, 8, 4)])
    together, _ = probe(padded, torch.tensor([3, 8]))
    torch.testing.assert_close(together[0, :3], alone[0], rtol=1e-5, atol=1e-6)


def test_probe_equals_a_packed_bidirectional_lstm_with_the_same_weights():
    # The slow reference: torch's bidirectional nn.LSTM over packed sequences, weights copied over.
    probe = make_probe(4, VOCAB, seed=2, hidden_size=5, num_layers=2, input_norm=False).eval()
    reference = torch.nn.LSTM(4, 5, num_layers=2, bidirectional=True, batch_first=True)
    with torch.no_grad():
        for layer, (ahead, behind) in enumerate(zip(probe.forward_lstms, probe.backward_lstms)):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(reference, f"{name}_l{layer}").copy_(getattr(ahead, f"{name}_l0"))
                getattr(reference, f"{name}_l{layer}_reverse").copy_(getattr(behind, f"{name}_l0"))
    inputs, lengths = torch.randn(3, 6, 4), torch.tensor([6, 2, 4])
    packed = torch.nn.utils.rnn.pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = torch.nn.utils.rnn.pad_packed_sequence(reference(packed)[0], batch_first=True, total_length=6)
    expected = torch.log_softmax(probe.output(expected), dim=-1)
    got, _ = probe(inputs, lengths)
    for row, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(got[row, :n], expected[row, :n], rtol=1e-5, atol=1e-6)


def test_make_probe_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = make_probe(6, VOCAB, seed=4, hidden_size=5)
    after = torch.rand(1)
    b = make_probe(6, VOCAB, seed=4, hidden_size=5)
    c = make_probe(6, VOCAB, seed=5, hidden_size=5)
    assert torch.equal(before, after)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.output.weight, c.output.weight)


@pytest.mark.parametrize(
    "options, message",
    [({"hidden_size": 0}, "hidden_size must be a positive integer"), ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
     ({"projection_dim": 0}, "projection_dim must be a positive integer")],
)  # fmt: skip
def test_probe_refuses_bad_sizes(options, message):
    with pytest.raises(ConfigError, match=message):
        BiLSTMProbe(4, 30, **options)


# --------------------------------------------------------------------------------------------------
# Training on synthetic "layers" that encode the characters


ATTRS = {"model": "tiny:wav2vec2", "rep": "contextualized", "span": "frame", "frame_rate_hz": 50.0}


def _sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 5)))) for _ in range(n)]


def _char_frames(text: str, rng: np.random.Generator, dim: int = 12) -> np.ndarray:
    """Frames that spell ``text``: two noisy frames per character (a fixed random code per token), one silent frame between words."""
    codes = np.random.default_rng(99).standard_normal((len(VOCAB), dim))
    frames = []
    for token in VOCAB.encode(text).tolist():
        repeat = 1 if token == VOCAB.separator_id else 2
        frames += [codes[token] + 0.3 * rng.standard_normal(dim) for _ in range(repeat)]
    frames.append(np.zeros(dim))
    return np.asarray(frames, dtype=np.float32)


def _char_store(path, texts: list[str], *, seed: int, layer: str = "T1", rep: str = "contextualized") -> FeatureStore:
    rng = np.random.default_rng(seed)
    attrs = {**ATTRS, "rep": rep} if rep != "mel" else {**ATTRS, "rep": "mel", "model": "logmel"}
    writer = FeatureStore.create(path, attrs=attrs, layer_dims={layer: 12}, overwrite=True)
    for number, text in enumerate(texts):
        writer.append(f"{path.parent.name}-{number:03d}", {layer: _char_frames(text, rng)})
    return FeatureStore.open(writer.finish())


@pytest.fixture()
def char_data(tmp_path):
    """Train / dev / test FeatureCTCData of character-coding frames (40 / 10 / 10 utterances)."""
    data, stores = {}, []
    for split, n, seed in (("train", 40, 0), ("dev", 10, 1), ("test", 10, 2)):
        texts = _sentences(n, seed)
        (tmp_path / split).mkdir()
        store = _char_store(tmp_path / split / "s.h5", texts, seed=seed)
        stores.append(store)
        data[split] = FeatureCTCData(store, "T1", {utt: text for utt, text in zip(store.utterance_ids, texts)})
    yield data
    for store in stores:
        store.close()


def test_probe_learns_to_read_characters_from_coding_frames(char_data):
    result = train_probe(char_data["train"], char_data["dev"], char_data["test"], **SMALL, epochs=25, patience=25,
                         lr=1e-2, max_batch_frames=400, seed=0, untrained_baseline=True, progress=False)  # fmt: skip
    # Untrained: CER about 1 (random outputs); trained on these unambiguous codes it falls far below.
    assert result.untrained_metrics["cer"] > 0.9
    assert result.cer < 0.3 * result.untrained_metrics["cer"]
    assert result.test_metrics["n_utterances"] == 10 and result.epochs_done == len(result.history) <= 25
    assert result.best_epoch == min(range(1, result.epochs_done + 1), key=lambda e: (result.history[e - 1]["dev_loss"], e))
    assert result.sizes["train"]["n_utterances"] == 40 and result.throughput > 0
    assert result.n_parameters == sum(p.numel() for p in result.model.parameters())


def test_probe_training_is_bit_reproducible_for_a_seed(char_data):
    options = dict(**SMALL, epochs=2, patience=2, lr=5e-3, max_batch_frames=300, progress=False)
    first = train_probe(char_data["train"], char_data["dev"], char_data["test"], seed=3, **options)
    second = train_probe(char_data["train"], char_data["dev"], char_data["test"], seed=3, **options)
    other = train_probe(char_data["train"], char_data["dev"], char_data["test"], seed=4, **options)
    a, b, c = (r.model.state_dict() for r in (first, second, other))
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert first.history[-1]["train_loss"] == second.history[-1]["train_loss"]
    assert not torch.equal(a["output.weight"], c["output.weight"])


def test_probe_resumes_a_finished_run_from_its_checkpoint_without_retraining(char_data, tmp_path):
    options = dict(**SMALL, epochs=2, patience=2, lr=5e-3, max_batch_frames=300, progress=False, seed=0)
    first = train_probe(char_data["train"], char_data["dev"], char_data["test"], checkpoint_dir=tmp_path / "ck", **options)
    again = train_probe(char_data["train"], char_data["dev"], char_data["test"], checkpoint_dir=tmp_path / "ck", **options)
    assert all(torch.equal(x, y) for x, y in zip(first.model.state_dict().values(), again.model.state_dict().values()))
    assert again.test_metrics == first.test_metrics and again.history == first.history


# --------------------------------------------------------------------------------------------------
# Stores, layers and the result table


def _probe_project(tmp_path):
    """A folder corpus (train / dev / test transcripts) with frame stores of a model (T0, T1) and the log-mel baseline."""
    written = make_folder_corpus(tmp_path / "mini", splits=("train", "dev", "test"), per_split=6)
    rng = np.random.default_rng(0)
    for split, utts in written.items():
        for rep, tag, layers in (("contextualized", "tiny_wav2vec2", ("T0", "T1")), ("mel", "logmel", ("mel",))):
            path = probe_store_path(tmp_path / "features", "tiny:wav2vec2" if rep != "mel" else None, "mini", split, 1,
                                    layers[0])  # fmt: skip
            attrs = {**ATTRS, "rep": rep, "model": "tiny:wav2vec2" if rep != "mel" else "logmel"}
            writer = FeatureStore.create(path, attrs=attrs, layer_dims={layer: 12 for layer in layers})
            for utt in utts:
                text = " ".join(w.label for w in utt.alignment.words)
                frames = _char_frames(text, rng)
                writer.append(utt.utt_id, {layer: frames for layer in layers})
            writer.finish()
    return written


def test_probe_store_paths_follow_the_extraction_layout(tmp_path):
    assert probe_store_path("f", "tiny:wav2vec2", "c", "dev", 2, "T3") == tmp_path.joinpath("f").relative_to(tmp_path) / "tiny_wav2vec2" / "c_dev_sample2" / "contextualized_frame.h5"
    assert probe_store_path("f", "tiny:wav2vec2", "c", "dev", 2, "C4").name == "local_frame.h5"
    assert str(probe_store_path("f", None, "c", "dev", 2, "mel")) == "f/logmel/c_dev_sample2/mel_frame.h5"
    with pytest.raises(ConfigError, match="layer T3 needs --model"):
        probe_store_path("f", None, "c", "dev", 2, "T3")


def test_probe_layers_expands_all_mel_and_lists_against_the_stores(tmp_path):
    _probe_project(tmp_path)
    where = dict(features=tmp_path / "features", corpus="mini", split="train", sample=1)
    assert probe_layers("all", model="tiny:wav2vec2", **where) == ["T0", "T1"]
    assert probe_layers("mel", model=None, **where) == ["mel"]
    assert probe_layers("mel,t1", model="tiny:wav2vec2", **where) == ["mel", "T1"]
    with pytest.raises(ConfigError, match="needs --model"):
        probe_layers("all", model=None, **where)
    with pytest.raises(ConfigError, match=r"has no layer T5 \(it has mel, T0-T1\)"):
        probe_layers("mel,T5", model="tiny:wav2vec2", **where)
    with pytest.raises(ConfigError, match=r"no frame-span feature store of tiny:hubert .* extract one first"):
        probe_layers("T1", model="tiny:hubert", **where)
    with pytest.raises(ConfigError, match=r"no log-mel store for mini dev sample 1"):
        probe_layers("mel", model=None, **{**where, "split": "dev", "features": tmp_path / "elsewhere"})


def test_run_probe_writes_wer_and_cer_rows_per_layer_with_details(tmp_path):
    _probe_project(tmp_path)
    seen = []
    results = run_probe(model="tiny:wav2vec2", corpus=str(tmp_path / "mini"), train_split="train", dev_split="dev",
                        test_split="test", layers="mel,T1", features=tmp_path / "features", results=tmp_path / "probe.csv",
                        progress=False, on_layer=seen.append, epochs=2, patience=2, lr=1e-2, max_batch_frames=400,
                        seed=7, **SMALL)  # fmt: skip
    assert [r.layer for r in results] == ["mel", "T1"] == [r.layer for r in seen]
    table = ResultTable.open(tmp_path / "probe.csv")
    rows = table.select(experiment="probe")
    assert {(r["model"], r["layer"], r["metric"]) for r in rows} == {
        ("logmel", "mel", "wer"), ("logmel", "mel", "cer"), ("tiny:wav2vec2", "T1", "wer"), ("tiny:wav2vec2", "T1", "cer")
    }  # fmt: skip
    assert {(r["split"], r["sample"], r["seed"]) for r in rows} == {("test", 1, 7)}
    t1 = {r["metric"]: r["value"] for r in rows if r["layer"] == "T1"}
    assert t1 == pytest.approx({"wer": results[1].wer, "cer": results[1].cer})
    meta = table.metadata(next(r for r in rows if r["layer"] == "T1"))
    assert meta["options"]["hidden_size"] == 24 and meta["details"]["train_split"] == "train"
    assert meta["details"]["sizes"]["test"]["n_utterances"] == 6 and len(meta["details"]["history"]) == 2
    assert meta["provenance"]["stores"]["dev"]["path"].endswith("mini_dev_sample1/contextualized_frame.h5")
    json.loads(table.sidecar_path.read_text())  # valid JSON (no NaN)
    assert all(math.isfinite(r["value"]) for r in rows)


def _flat_arpa(path, words) -> None:
    """A flat bigram ARPA model (kenlm needs bigrams): every word and </s> equally likely, <unk> 100 times less.

    Unigrams p = 1 / (n + 0.01) for the n entries, 0.01 p for <unk>; the bigrams ``<s> w`` repeat the
    unigram probabilities, with back-off weight 1 (log10 0).
    """
    entries = [*words, "</s>"]
    p = 1 / (len(entries) + 0.01)
    lines = ["\\data\\", f"ngram 1={len(entries) + 2}", f"ngram 2={len(words)}", "", "\\1-grams:",
             "-99\t<s>\t0", f"{math.log10(0.01 * p):.6f}\t<unk>"]  # fmt: skip
    lines += [f"{math.log10(p):.6f}\t{word}\t0" for word in entries]
    lines += ["", "\\2-grams:"] + [f"{math.log10(p):.6f}\t<s> {word}" for word in words] + ["", "\\end\\", ""]
    path.write_text("\n".join(lines))


def test_run_probe_with_an_lm_adds_wer_lm_and_cer_lm_rows(tmp_path):
    pytest.importorskip("kenlm")
    written = _probe_project(tmp_path)
    words = sorted({w.label for utts in written.values() for u in utts for w in u.alignment.words})
    _flat_arpa(tmp_path / "lm.arpa", words)
    results = run_probe(model=None, corpus="mini", corpus_dir=tmp_path / "mini", train_split="train", dev_split="dev",
                        test_split="test", layers="mel", features=tmp_path / "features", results=tmp_path / "probe.csv",
                        progress=False, epochs=2, patience=2, lr=1e-2, max_batch_frames=400, lm_path=tmp_path / "lm.arpa",
                        beam_width=8, **SMALL)  # fmt: skip
    metrics = results[0].test_metrics
    assert {"beam_wer", "beam_cer"} <= set(metrics)
    rows = ResultTable.open(tmp_path / "probe.csv").select(layer="mel")
    by_metric = {row["metric"]: row["value"] for row in rows}
    assert set(by_metric) == {"wer", "cer", "wer_lm", "cer_lm"}
    assert by_metric["wer_lm"] == pytest.approx(metrics["beam_wer"]) and by_metric["cer_lm"] == pytest.approx(metrics["beam_cer"])
    # A rerun without the LM replaces the run's rows: no stale wer_lm is left behind.
    run_probe(model=None, corpus="mini", corpus_dir=tmp_path / "mini", train_split="train", dev_split="dev", test_split="test",
              layers="mel", features=tmp_path / "features", results=tmp_path / "probe.csv", progress=False, epochs=1,
              patience=1, lr=1e-2, max_batch_frames=400, **SMALL)  # fmt: skip
    assert {row["metric"] for row in ResultTable.open(tmp_path / "probe.csv").select(layer="mel")} == {"wer", "cer"}
