"""The options and the result of one CTC training run, and the data protocol the trainer reads.

:class:`TrainConfig` (checked options; the fine-tuning study's defaults), :class:`TrainResult`
(history, best epoch, dev metrics) and :class:`CTCData` (what :func:`~layerprobe.training.trainer.train_ctc`
reads from a data set).  Split out of :mod:`layerprobe.training.trainer`, which re-exports them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Protocol

import numpy as np

from layerprobe.errors import ConfigError

#: Metrics early stopping can watch.
STOP_METRICS = ("cer", "wer", "loss")

# TrainConfig fields that do not change the numbers a run produces: a checkpoint written with other
# values of them can still be resumed.
_RESUMABLE_FIELDS = ("device", "checkpoint_every_steps", "eval_max_batch_frames")


class CTCData(Protocol):
    """What the trainer reads from a data set (``FeatureCTCData``, ``WaveformCTCData``).

    Attributes
    ----------
    lengths : list of int
        Input length of every item (frames of stored features, or samples of waveforms).
    """

    lengths: list[int]

    def __len__(self) -> int: ...

    def item(self, index: int) -> tuple[np.ndarray, np.ndarray, str, str]:
        """(inputs (T, D) or (S,), target ids (U,), text, utterance id) of one item."""


@dataclass
class TrainConfig:
    """Options of one CTC training run (defaults: the fine-tuning study, REFERENCE.md section 7).

    Attributes
    ----------
    epochs : int
        Passes over the training data (10).
    peak_lr : float
        Adam's learning rate at the top of the tri-stage schedule (1e-4).
    warmup_epochs : float
        End of the linear warm-up, in epochs (1).
    decay_start_epoch : float
        Start of the linear decay to ``final_lr_scale`` at the end of training, in epochs (6).
    init_lr_scale, final_lr_scale : float
        Learning-rate multipliers of the first update and of the end of the decay (0.01, 0).
    freeze_epochs : int
        Epochs during which the ``frozen`` parameters of :func:`train_ctc` stay fixed (3).
    grad_clip : float or None
        Largest gradient norm (1.0); None for no clipping.
    seed : int
        Seed of the batch order, dropout and everything else random in the run.
    patience : int or None
        Stop after this many epochs without a better dev ``stop_metric`` and keep the best
        epoch's weights; None (default) trains for ``epochs`` epochs and keeps the last weights.
    stop_metric : {"cer", "wer", "loss"}
        The dev metric early stopping watches.
    max_batch_frames : int
        Most padded input frames (stored features) or samples (waveforms) in one training batch
        (1,600,000: 100 s of 16 kHz audio).
    eval_max_batch_frames : int or None
        The same for evaluation batches (default: ``max_batch_frames``).
    checkpoint_every_steps : int or None
        Also write a checkpoint every this many updates (besides every epoch); None for epochs only.
    device : str
        ``"cpu"`` or ``"cuda[:N]"`` for a single process (a launcher decides under several).
    adam_betas : (float, float)
    adam_eps : float
    weight_decay : float
    """

    epochs: int = 10
    peak_lr: float = 1e-4
    warmup_epochs: float = 1.0
    decay_start_epoch: float = 6.0
    init_lr_scale: float = 0.01
    final_lr_scale: float = 0.0
    freeze_epochs: int = 3
    grad_clip: float | None = 1.0
    seed: int = 0
    patience: int | None = None
    stop_metric: str = "cer"
    max_batch_frames: int = 1_600_000
    eval_max_batch_frames: int | None = None
    checkpoint_every_steps: int | None = None
    device: str = "cpu"
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-8
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        self.adam_betas = tuple(float(beta) for beta in self.adam_betas)  # type: ignore[assignment]
        _check_int("epochs", self.epochs, minimum=1)
        _check_int("freeze_epochs", self.freeze_epochs, minimum=0)
        _check_int("seed", self.seed, minimum=0)
        _check_int("max_batch_frames", self.max_batch_frames, minimum=1)
        for name in ("patience", "checkpoint_every_steps", "eval_max_batch_frames"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1)
        _check_number("peak_lr", self.peak_lr, positive=True)
        _check_number("warmup_epochs", self.warmup_epochs)
        _check_number("decay_start_epoch", self.decay_start_epoch)
        _check_number("adam_eps", self.adam_eps, positive=True)
        _check_number("weight_decay", self.weight_decay)
        if self.grad_clip is not None:
            _check_number("grad_clip", self.grad_clip, positive=True)
        for name in ("init_lr_scale", "final_lr_scale"):
            _check_number(name, getattr(self, name))
            if getattr(self, name) > 1:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if len(self.adam_betas) != 2 or not all(0 <= beta < 1 for beta in self.adam_betas):
            raise ConfigError(f"adam_betas must be two numbers in [0, 1), got {self.adam_betas!r}")
        if self.stop_metric not in STOP_METRICS:
            raise ConfigError(f"stop_metric must be one of {', '.join(STOP_METRICS)}, got {self.stop_metric!r}")

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-ready values (for sidecars and checkpoints)."""
        data = asdict(self)
        data["adam_betas"] = list(self.adam_betas)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """The config of :meth:`to_dict` (unknown keys are a :class:`ConfigError`)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s) {', '.join(unknown)}")
        return cls(**dict(data))


@dataclass
class TrainResult:
    """What :func:`train_ctc` did.

    Attributes
    ----------
    history : list of dict
        One record per finished epoch: ``epoch`` (1-based), ``train_loss`` (mean over the epoch's
        updates), ``lr`` (after the epoch), ``frozen`` (whether the frozen parameters were fixed),
        ``steps`` (updates so far), ``skipped_steps``, ``train_items`` (input frames / samples
        trained on), ``train_seconds``, and with dev data ``dev_loss``, ``dev_cer``, ``dev_wer``,
        ``eval_seconds``.
    best_epoch : int or None
        The epoch (1-based) with the best dev ``stop_metric``; None without dev data.
    dev_metrics : dict
        Dev metrics (:func:`evaluate_ctc`) of the returned weights: the best epoch's with early
        stopping, the last epoch's otherwise; empty without dev data.
    steps : int
        Optimizer updates done (skipped ones included).
    stopped_early : bool
        Whether early stopping ended the run before ``epochs``.
    resumed : bool
        Whether this call continued from a checkpoint (or found a finished one).
    checkpoint_dir : Path or None
    """

    history: list[dict[str, Any]]
    best_epoch: int | None
    dev_metrics: dict[str, float]
    steps: int
    stopped_early: bool = False
    resumed: bool = False
    checkpoint_dir: Path | None = None

    @property
    def epochs_done(self) -> int:
        return len(self.history)


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_number(name: str, value: Any, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ConfigError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value!r}")


__all__ = ["STOP_METRICS", "CTCData", "TrainConfig", "TrainResult"]
