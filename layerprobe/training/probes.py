"""Frozen-layer probes: a BiLSTM with CTC reading one stored layer, scored by WER / CER per layer.

How usable is a layer for recognition?  The fine-tuning interpretation study (REFERENCE.md
section 7) trains a 3-layer bidirectional LSTM (hidden size 1024) with CTC on characters on the
frozen features of one layer and reports the test WER per layer.  Here:

* :class:`BiLSTMProbe` is that network: optional input layer norm and linear projection, a
  bidirectional LSTM over packed sequences, dropout, a linear layer to the vocabulary, log-softmax;
  it follows the trainer's model protocol ``model(inputs, lengths) -> (log_probs, lengths)``.
* :func:`train_probe` trains one probe on the stored frames of a layer
  (:class:`~layerprobe.training.data.FeatureCTCData`) with the shared training loop
  (:func:`~layerprobe.training.trainer.train_ctc`): Adam, a warm-up over the first epoch then a
  constant learning rate, gradient clipping, early stopping on the dev CTC loss (the best epoch's
  weights are kept), then decodes the test data greedily (and with an n-gram LM beam search when given).

Probing the layers of stored features and writing the result table (experiment ``probe``) is
:func:`layerprobe.experiments.probe.run_probe`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from layerprobe.errors import ConfigError
from layerprobe.training.ctc import BeamSearchDecoder, CharVocabulary
from layerprobe.training.data import FeatureCTCData

log = logging.getLogger(__name__)

PathLike = str | os.PathLike



# --------------------------------------------------------------------------------------------------
# The network


class BiLSTMProbe(nn.Module):
    """A bidirectional LSTM with a CTC output layer over frame features.

    Parameters
    ----------
    input_dim : int
        Feature dimension of the layer read.
    vocab_size : int
        Output classes (the CTC vocabulary, blank included).
    hidden_size : int
        LSTM units per direction (REFERENCE.md: 1024).
    num_layers : int
        Stacked LSTM layers (3).
    dropout : float
        Dropout between LSTM layers and before the output layer.
    input_norm : bool
        Layer-normalise each input frame first (features of different layers differ in scale by
        orders of magnitude).
    projection_dim : int, optional
        Project the (normalised) input to this size with a linear layer before the LSTM.

    Notes
    -----
    ``forward(inputs (B, T, D), input_lengths (B,)) -> (log_probs (B, T, V), output_lengths (B,))``.
    Each layer runs a forward LSTM over the frames and a backward LSTM over each row's valid frames
    reversed in place (padding stays at the end), and concatenates the two, as a bidirectional LSTM
    over packed sequences does: a row's outputs do not depend on its padding or its neighbours.
    The reversal replaces packing because PyTorch's CPU backward of packed sequences of unequal
    lengths is quadratic in the batch's frames (50x slower on a batch of 49 utterances of 3-4 s).
    Outputs past a row's length are meaningless; ``output_lengths`` equals ``input_lengths``.
    """

    def __init__(
        self,
        input_dim: int,
        vocab_size: int,
        *,
        hidden_size: int = 1024,
        num_layers: int = 3,
        dropout: float = 0.2,
        input_norm: bool = True,
        projection_dim: int | None = None,
    ):
        super().__init__()
        for name, value in (("input_dim", input_dim), ("vocab_size", vocab_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"probe {name} must be a positive integer, got {value!r}")
        if projection_dim is not None and (not isinstance(projection_dim, int) or projection_dim < 1):
            raise ConfigError(f"probe projection_dim must be a positive integer, got {projection_dim!r}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"probe dropout must be in [0, 1), got {dropout!r}")
        self.input_dim, self.vocab_size, self.hidden_size, self.num_layers = input_dim, vocab_size, hidden_size, num_layers
        self.norm = nn.LayerNorm(input_dim) if input_norm else nn.Identity()
        self.projection = nn.Linear(input_dim, projection_dim) if projection_dim is not None else nn.Identity()
        sizes = [projection_dim or input_dim] + [2 * hidden_size] * (num_layers - 1)
        self.forward_lstms = nn.ModuleList(nn.LSTM(size, hidden_size, batch_first=True) for size in sizes)
        self.backward_lstms = nn.ModuleList(nn.LSTM(size, hidden_size, batch_first=True) for size in sizes)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(2 * hidden_size, vocab_size)

    def forward(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities per frame.

        Parameters
        ----------
        inputs : torch.Tensor
            (B, T, D) float, zero-padded.
        input_lengths : torch.Tensor
            (B,) int64, each in [1, T].

        Returns
        -------
        log_probs : torch.Tensor
            (B, T, V), log-softmaxed over the vocabulary.
        output_lengths : torch.Tensor
            (B,) int64, equal to ``input_lengths``.
        """
        if inputs.ndim != 3 or inputs.shape[2] != self.input_dim:
            raise ValueError(f"probe inputs must be (B, T, {self.input_dim}), got {tuple(inputs.shape)}")
        lengths = input_lengths.to(device=inputs.device, dtype=torch.int64)
        reverse = _reversal_index(lengths, inputs.shape[1])
        hidden = self.projection(self.norm(inputs))
        for number, (ahead, behind) in enumerate(zip(self.forward_lstms, self.backward_lstms)):
            if number:
                hidden = self.dropout(hidden)
            forward_out, _ = ahead(hidden)
            backward_out, _ = behind(_reorder(hidden, reverse))
            hidden = torch.cat([forward_out, _reorder(backward_out, reverse)], dim=-1)
        logits = self.output(self.dropout(hidden))
        return torch.log_softmax(logits, dim=-1), input_lengths.to(torch.int64)

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, vocab_size={self.vocab_size}, hidden_size={self.hidden_size}, num_layers={self.num_layers}"


def _reversal_index(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """(B, T) time indices that reverse each row's first ``lengths[b]`` frames and keep its padding in place."""
    steps = torch.arange(total, device=lengths.device).unsqueeze(0)
    flipped = lengths.unsqueeze(1) - 1 - steps
    return torch.where(steps < lengths.unsqueeze(1), flipped, steps)


def _reorder(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[b, index[b, t]]`` for (B, T, D) values."""
    return values.gather(1, index.unsqueeze(-1).expand(-1, -1, values.shape[-1]))


# --------------------------------------------------------------------------------------------------
# Training one probe


@dataclass
class ProbeResult:
    """What :func:`train_probe` measured for one layer.

    Attributes
    ----------
    layer : str
    test_metrics : dict
        ``cer``, ``wer`` (greedy), ``loss``, ``n_utterances`` and, with an LM, ``beam_cer`` /
        ``beam_wer`` on the test data (:func:`~layerprobe.training.trainer.evaluate_ctc`).
    dev_metrics : dict
        The same on dev for the weights kept (the best epoch's).
    best_epoch : int or None
    epochs_done : int
    stopped_early : bool
    history : list of dict
        Per epoch: train loss, learning rate, dev loss / CER / WER, timings.
    untrained_metrics : dict
        Test metrics of the freshly initialised probe (empty unless asked for): the chance level.
    n_parameters : int
    sizes : dict
        Utterances and seconds of audio in train / dev / test.
    train_seconds : float
        Wall time spent in training updates (evaluation excluded).
    throughput : float
        Seconds of training audio processed per second of training (all epochs).
    options : dict
        The probe's hyper-parameters and the training config.
    model : BiLSTMProbe or None
        The trained probe (the best epoch's weights), in eval mode on the training device.
    """

    layer: str
    test_metrics: dict[str, float]
    dev_metrics: dict[str, float]
    best_epoch: int | None
    epochs_done: int
    stopped_early: bool
    history: list[dict[str, Any]]
    untrained_metrics: dict[str, float] = field(default_factory=dict)
    n_parameters: int = 0
    sizes: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = 0.0
    throughput: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    model: BiLSTMProbe | None = field(default=None, repr=False, compare=False)

    @property
    def cer(self) -> float:
        return float(self.test_metrics["cer"])

    @property
    def wer(self) -> float:
        return float(self.test_metrics["wer"])


def make_probe(input_dim: int, vocab: CharVocabulary, *, seed: int, **options: Any) -> BiLSTMProbe:
    """A :class:`BiLSTMProbe` initialised from ``seed`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BiLSTMProbe(input_dim, len(vocab), **options)


def train_probe(
    train: FeatureCTCData,
    dev: FeatureCTCData,
    test: FeatureCTCData,
    *,
    hidden_size: int = 1024,
    num_layers: int = 3,
    dropout: float = 0.2,
    input_norm: bool = True,
    projection_dim: int | None = None,
    epochs: int = 30,
    patience: int = 3,
    stop_metric: str = "loss",
    lr: float = 1e-3,
    warmup_epochs: float = 1.0,
    grad_clip: float | None = 1.0,
    max_batch_frames: int = 20_000,
    seed: int = 0,
    device: str = "cpu",
    lm_path: PathLike | None = None,
    beam_width: int = 50,
    lm_alpha: float = 0.5,
    lm_beta: float = 1.0,
    untrained_baseline: bool = False,
    checkpoint_dir: PathLike | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> ProbeResult:
    """Train a BiLSTM CTC probe on one layer's frames, stop early on dev, score the test data.

    Parameters
    ----------
    train, dev, test : FeatureCTCData
        The same layer of the train, dev and test frame stores.
    hidden_size, num_layers, dropout, input_norm, projection_dim
        The probe (:class:`BiLSTMProbe`).
    epochs : int
        Most epochs.
    patience : int
        Stop after this many epochs without a better dev ``stop_metric``; the best epoch's weights
        are kept.
    stop_metric : {"loss", "cer", "wer"}
        The dev metric early stopping watches.  The CTC loss by default: a CTC model first learns
        to output only blanks, and its CER stays at 1.0 for several epochs before it falls, which
        would stop a run on the CER before it learns anything.
    lr : float
        Adam's learning rate after the warm-up (constant: the schedule's decay is not used).
    warmup_epochs : float
        Linear warm-up from 1% of ``lr``.
    grad_clip : float or None
        Largest gradient norm.
    max_batch_frames : int
        Padded frames per batch (batch size x longest utterance).
    seed : int
        Seed of the initial weights, the batch order and dropout.
    device : str
        ``cpu`` or ``cuda[:N]``.
    lm_path : path-like, optional
        A KenLM n-gram model (ARPA or binary): also decode the test data by beam search with it.
    beam_width, lm_alpha, lm_beta : int, float, float
        The beam search (:class:`~layerprobe.training.ctc.BeamSearchDecoder`).
    untrained_baseline : bool
        Also score the test data with the initial weights (the level training must beat).
    checkpoint_dir : path-like, optional
        Checkpoints of the run (resumed when present; a finished run is loaded, not retrained).
    progress : bool
        Progress bars (on a terminal).
    on_epoch_end : callable, optional
        Called with each epoch's history record.

    Returns
    -------
    ProbeResult

    Raises
    ------
    ConfigError
        For data sets of different layers or dimensions, or bad options.
    DependencyError
        With ``lm_path`` when kenlm is not installed.
    """
    from layerprobe.training.trainer import TrainConfig, evaluate_ctc, train_ctc

    if len({train.dim, dev.dim, test.dim}) != 1:
        raise ConfigError(f"train, dev and test features differ in dimension ({train.dim}, {dev.dim}, {test.dim})")
    vocab = train.vocab
    decoder = None
    if lm_path is not None:  # fail on a missing kenlm or LM file before training, not after
        decoder = BeamSearchDecoder(vocab, lm_path=lm_path, beam_width=beam_width, alpha=lm_alpha, beta=lm_beta)
    probe_options = {"hidden_size": hidden_size, "num_layers": num_layers, "dropout": dropout, "input_norm": input_norm,
                     "projection_dim": projection_dim}  # fmt: skip
    model = make_probe(train.dim, vocab, seed=seed, **probe_options)
    config = TrainConfig(
        epochs=epochs,
        peak_lr=lr,
        warmup_epochs=warmup_epochs,
        decay_start_epoch=epochs,
        freeze_epochs=0,
        grad_clip=grad_clip,
        seed=seed,
        patience=patience,
        stop_metric=stop_metric,
        max_batch_frames=max_batch_frames,
        device=device,
    )
    untrained: dict[str, float] = {}
    if untrained_baseline:
        from layerprobe.devices import resolve_device

        model.to(resolve_device(device))
        untrained = evaluate_ctc(model, test, vocab, max_batch_frames=max_batch_frames, progress=progress, desc="untrained")
    started = time.perf_counter()
    result = train_ctc(model, train, dev, config, vocab=vocab, checkpoint_dir=checkpoint_dir, progress=progress,
                       on_epoch_end=on_epoch_end)  # fmt: skip
    log.debug("trained %s probe in %.1f s", train.layer, time.perf_counter() - started)
    test_metrics = evaluate_ctc(model, test, vocab, decoder=decoder, max_batch_frames=max_batch_frames, progress=progress, desc="test")
    train_seconds = float(sum(record.get("train_seconds", 0.0) for record in result.history))
    audio_seconds = sum(record.get("train_items", 0) for record in result.history) / train.frame_rate_hz
    sizes = {
        name: {"n_utterances": len(data), "seconds": round(data.total_seconds, 3), "frame_rate_hz": data.frame_rate_hz}
        for name, data in (("train", train), ("dev", dev), ("test", test))
    }
    options = {
        **probe_options,
        "lr": lr,
        "epochs": epochs,
        "patience": patience,
        "stop_metric": stop_metric,
        "warmup_epochs": warmup_epochs,
        "grad_clip": grad_clip,
        "max_batch_frames": max_batch_frames,
        "lm": os.fspath(lm_path) if lm_path is not None else None,
        "beam_width": beam_width if lm_path is not None else None,
        "lm_alpha": lm_alpha if lm_path is not None else None,
        "lm_beta": lm_beta if lm_path is not None else None,
        "train_config": config.to_dict(),
    }
    return ProbeResult(
        layer=train.layer,
        test_metrics=dict(test_metrics),
        dev_metrics=dict(result.dev_metrics),
        best_epoch=result.best_epoch,
        epochs_done=result.epochs_done,
        stopped_early=result.stopped_early,
        history=result.history,
        untrained_metrics=dict(untrained),
        n_parameters=sum(p.numel() for p in model.parameters()),
        sizes=sizes,
        train_seconds=train_seconds,
        throughput=audio_seconds / train_seconds if train_seconds > 0 else 0.0,
        options=options,
        model=model,
    )


__all__ = [
    "BiLSTMProbe",
    "ProbeResult",
    "make_probe",
    "train_probe",
]
