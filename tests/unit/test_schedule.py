"""The tri-stage learning-rate schedule (layerprobe.training.schedule) at its phase boundaries."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from layerprobe.errors import ConfigError
from layerprobe.training.schedule import (
    TriStageSchedule,
    tri_stage_factor,
    tri_stage_scheduler,
    tri_stage_steps,
)

# Reference setting with 10 updates per epoch: warm-up epoch 1, hold to epoch 6, decay to epoch 10.
PHASES = {"warmup_steps": 10, "hold_steps": 50, "decay_steps": 40}


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 0.01),  # start: init_scale
        (5, 0.01 + 0.99 * 5 / 10),  # mid warm-up
        (9, 0.01 + 0.99 * 9 / 10),  # last warm-up step
        (10, 1.0),  # end of warm-up = start of hold
        (35, 1.0),  # during hold
        (59, 1.0),  # last hold step
        (60, 1.0),  # start of decay: still the peak
        (70, 0.75),  # a quarter into the decay
        (80, 0.5),  # mid-decay
        (99, 1 / 40),  # last decay step
        (100, 0.0),  # end
        (1000, 0.0),  # after the end
    ],
)
def test_factor_at_phase_boundaries(step, expected):
    assert tri_stage_factor(step, **PHASES) == pytest.approx(expected, abs=1e-12)


def test_factor_with_zero_init_and_nonzero_final_scale():
    kwargs = dict(PHASES, init_scale=0.0, final_scale=0.1)
    assert tri_stage_factor(0, **kwargs) == 0.0
    assert tri_stage_factor(5, **kwargs) == pytest.approx(0.5)
    assert tri_stage_factor(80, **kwargs) == pytest.approx(1 - 0.9 * 0.5)
    assert tri_stage_factor(100, **kwargs) == pytest.approx(0.1)
    assert tri_stage_factor(500, **kwargs) == pytest.approx(0.1)


def test_empty_phases_are_skipped():
    # no warm-up: the peak from step 0; no hold: the decay starts right after the warm-up
    assert tri_stage_factor(0, warmup_steps=0, hold_steps=0, decay_steps=4) == 1.0
    assert tri_stage_factor(2, warmup_steps=0, hold_steps=0, decay_steps=4) == 0.5
    assert tri_stage_factor(3, warmup_steps=3, hold_steps=0, decay_steps=0) == 0.0


@given(
    warmup=st.integers(0, 50),
    hold=st.integers(0, 50),
    decay=st.integers(0, 50),
    init=st.floats(0, 1),
    final=st.floats(0, 1),
    step=st.integers(0, 200),
)
def test_factor_stays_between_its_scales_and_one(warmup, hold, decay, init, final, step):
    value = tri_stage_factor(step, warmup_steps=warmup, hold_steps=hold, decay_steps=decay, init_scale=init,
                             final_scale=final)  # fmt: skip
    assert min(init, final) - 1e-12 <= value <= 1.0 + 1e-12
    if warmup <= step < warmup + hold:
        assert value == 1.0
    if step >= warmup + hold + decay:
        assert value == final


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(PHASES, warmup_steps=-1),
        dict(PHASES, hold_steps=1.5),
        dict(PHASES, init_scale=1.5),
        dict(PHASES, final_scale=-0.1),
    ],
)
def test_bad_schedules_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        tri_stage_factor(0, **kwargs)


def test_negative_step_is_an_error():
    with pytest.raises(ConfigError, match="step"):
        tri_stage_factor(-1, **PHASES)


def test_steps_from_epoch_boundaries():
    assert tri_stage_steps(100, epochs=10) == (100, 500, 400)
    assert tri_stage_steps(7, epochs=10, warmup_epochs=1, decay_start_epoch=6) == (7, 35, 28)
    # boundaries past the end are clipped: a 3-epoch run warms up for one epoch, then holds
    assert tri_stage_steps(10, epochs=3) == (10, 20, 0)
    assert tri_stage_steps(4, epochs=2, warmup_epochs=0.5, decay_start_epoch=1) == (2, 2, 4)
    with pytest.raises(ConfigError, match="steps_per_epoch"):
        tri_stage_steps(0, epochs=10)
    with pytest.raises(ConfigError, match="epochs"):
        tri_stage_steps(10, epochs=0)


def test_scheduler_follows_the_factor_and_round_trips_its_state():
    parameter = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.Adam([parameter], lr=1e-3)
    scheduler = tri_stage_scheduler(optimizer, warmup_steps=2, hold_steps=1, decay_steps=2, init_scale=0.0)
    seen = []
    for _ in range(6):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.0, 5e-4, 1e-3, 1e-3, 5e-4, 0.0])
    # a new scheduler loaded from the state continues where the first one stopped
    state = scheduler.state_dict()
    other_optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=1e-3)
    other = tri_stage_scheduler(other_optimizer, warmup_steps=9, hold_steps=9, decay_steps=9)
    other.load_state_dict(state)
    assert other.last_epoch == 6
    assert other.lr_lambdas[0] == TriStageSchedule(2, 1, 2, 0.0, 0.0)
