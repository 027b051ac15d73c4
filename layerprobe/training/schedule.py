"""The tri-stage learning-rate schedule of wav2vec 2.0 fine-tuning: warm-up, hold, decay.

The learning rate is ``peak_lr * tri_stage_factor(step)`` where ``step`` counts optimizer updates
from 0 (the first update uses ``step = 0``)::

    factor
      1 |        ______________
        |       /              \\
        |      /                \\
   init |_____/                  \\___ final
        0    W                W+H   W+H+D    step

* **warm-up** (``0 <= step < W``): linear from ``init_scale`` at step 0 to 1 at step ``W``;
* **hold** (``W <= step < W + H``): 1;
* **decay** (``W + H <= step < W + H + D``): linear from 1 to ``final_scale`` at step ``W + H + D``;
* after the decay: ``final_scale``.

REFERENCE.md section 7 (the fine-tuning study): warm-up over the first epoch, hold until epoch 6,
then decay to 0 by the end of training (10 epochs); :func:`tri_stage_steps` turns those epoch
boundaries into step counts.  fairseq's ``tri_stage`` scheduler decays exponentially, which never
reaches 0; the study's "decay to 0" is a linear decay here.  ``init_scale`` defaults to fairseq's
``init_lr_scale`` of 0.01 so that the first update is not wasted on a zero learning rate.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

import torch

from layerprobe.errors import ConfigError

#: Learning-rate scale of the first update (fairseq's ``init_lr_scale``).
DEFAULT_INIT_SCALE = 0.01
#: Learning-rate scale at the end of the decay (the study decays to 0).
DEFAULT_FINAL_SCALE = 0.0


def tri_stage_factor(
    step: int,
    *,
    warmup_steps: int,
    hold_steps: int,
    decay_steps: int,
    init_scale: float = DEFAULT_INIT_SCALE,
    final_scale: float = DEFAULT_FINAL_SCALE,
) -> float:
    """The learning-rate multiplier of the tri-stage schedule at one update.

    Parameters
    ----------
    step : int
        Index of the optimizer update, from 0.
    warmup_steps, hold_steps, decay_steps : int
        Lengths of the three phases in updates (each >= 0).
    init_scale : float
        Multiplier at step 0, in [0, 1].
    final_scale : float
        Multiplier at the end of the decay and after it, in [0, 1].

    Returns
    -------
    float
        The multiplier, in [min(init_scale, final_scale), 1].

    Raises
    ------
    ConfigError
        For a negative step or phase length, or a scale outside [0, 1].

    Examples
    --------
    >>> [round(tri_stage_factor(s, warmup_steps=2, hold_steps=1, decay_steps=2, init_scale=0.0), 2)
    ...  for s in range(6)]
    [0.0, 0.5, 1.0, 1.0, 0.5, 0.0]
    """
    _check_schedule(warmup_steps=warmup_steps, hold_steps=hold_steps, decay_steps=decay_steps,
                    init_scale=init_scale, final_scale=final_scale)  # fmt: skip
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ConfigError(f"the schedule step must be a non-negative integer, got {step!r}")
    if step < warmup_steps:
        return init_scale + (1.0 - init_scale) * step / warmup_steps
    step -= warmup_steps
    if step < hold_steps:
        return 1.0
    step -= hold_steps
    if step < decay_steps:
        return 1.0 - (1.0 - final_scale) * step / decay_steps
    return float(final_scale)


def tri_stage_steps(
    steps_per_epoch: int, *, epochs: float, warmup_epochs: float = 1.0, decay_start_epoch: float = 6.0
) -> tuple[int, int, int]:
    """(warm-up, hold, decay) step counts from epoch boundaries.

    Warm-up covers epochs ``[0, warmup_epochs)``, hold ``[warmup_epochs, decay_start_epoch)``, decay
    ``[decay_start_epoch, epochs)``; each boundary is rounded to the nearest whole update.  With the
    reference values (1, 6, 10 epochs) and 100 updates per epoch: (100, 500, 400).

    Parameters
    ----------
    steps_per_epoch : int
        Optimizer updates per epoch (>= 1).
    epochs : float
        Length of the training in epochs.
    warmup_epochs : float
        End of the warm-up, in epochs (clipped to ``epochs``).
    decay_start_epoch : float
        Start of the decay, in epochs (clipped to ``[warmup_epochs, epochs]``).

    Raises
    ------
    ConfigError
        For non-positive ``steps_per_epoch`` or ``epochs``, or negative boundaries.
    """
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, numbers.Integral) or steps_per_epoch < 1:
        raise ConfigError(f"steps_per_epoch must be a positive integer, got {steps_per_epoch!r}")
    for name, value in (("epochs", epochs), ("warmup_epochs", warmup_epochs), ("decay_start_epoch", decay_start_epoch)):
        if not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    if epochs <= 0:
        raise ConfigError(f"epochs must be > 0, got {epochs!r}")
    total = round(epochs * steps_per_epoch)
    warmup_end = min(round(warmup_epochs * steps_per_epoch), total)
    decay_start = min(max(round(decay_start_epoch * steps_per_epoch), warmup_end), total)
    return warmup_end, decay_start - warmup_end, total - decay_start


@dataclass
class TriStageSchedule:
    """The tri-stage multiplier as a picklable callable (``LambdaLR`` keeps its fields in its state).

    Calling it with a step gives :func:`tri_stage_factor` of that step.
    """

    warmup_steps: int
    hold_steps: int
    decay_steps: int
    init_scale: float = DEFAULT_INIT_SCALE
    final_scale: float = DEFAULT_FINAL_SCALE

    def __post_init__(self) -> None:
        _check_schedule(**asdict(self))

    def __call__(self, step: int) -> float:
        return tri_stage_factor(
            int(step),
            warmup_steps=self.warmup_steps,
            hold_steps=self.hold_steps,
            decay_steps=self.decay_steps,
            init_scale=self.init_scale,
            final_scale=self.final_scale,
        )

    @property
    def total_steps(self) -> int:
        """Updates until the end of the decay."""
        return self.warmup_steps + self.hold_steps + self.decay_steps


def tri_stage_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    warmup_steps: int,
    hold_steps: int,
    decay_steps: int,
    init_scale: float = DEFAULT_INIT_SCALE,
    final_scale: float = DEFAULT_FINAL_SCALE,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` that scales every parameter group's learning rate by :func:`tri_stage_factor`.

    The optimizer's learning rates are the peaks.  Call ``scheduler.step()`` after each
    ``optimizer.step()``; right after construction the groups hold ``peak * init_scale``.  The
    scheduler's ``state_dict`` carries the step and the schedule, for checkpoints.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        With each group's ``lr`` set to its peak learning rate.
    warmup_steps, hold_steps, decay_steps, init_scale, final_scale
        As in :func:`tri_stage_factor`.

    Raises
    ------
    ConfigError
        For invalid phase lengths or scales.
    """
    schedule = TriStageSchedule(warmup_steps, hold_steps, decay_steps, init_scale, final_scale)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _check_schedule(*, warmup_steps: int, hold_steps: int, decay_steps: int, init_scale: float, final_scale: float) -> None:
    for name, value in (("warmup_steps", warmup_steps), ("hold_steps", hold_steps), ("decay_steps", decay_steps)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
    for name, value in (("init_scale", init_scale), ("final_scale", final_scale)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must be a number in [0, 1], got {value!r}")


__all__ = [
    "DEFAULT_INIT_SCALE",
    "DEFAULT_FINAL_SCALE",
    "tri_stage_factor",
    "tri_stage_steps",
    "TriStageSchedule",
    "tri_stage_scheduler",
]
