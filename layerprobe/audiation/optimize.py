"""Activation maximisation of one unit (or one channel) of a speech model: a waveform you can hear.

The signal
----------
A waveform of ``n = round(seconds * 16000)`` samples is parameterised in the frequency domain
(REFERENCE.md section 8): real coefficients ``c`` of shape (n // 2 + 1, 2), drawn from a standard
normal distribution, are the real and imaginary parts of a spectrum scaled per bin by

    s(f) = (f_floor / max(f, f_floor)) ** decay,      s(0) = 0 (no DC),

i.e. ``1 / frequency`` (``decay`` 1) above ``f_floor`` (``freq_floor_hz``, 100 Hz: without a floor the
sub-audible bins would get thousands of times the step of the speech band) and flat below it.  The
inverse real FFT gives the signal, which is scaled to a fixed RMS (``rms``, 0.1):

    x = irfft((c_re + i c_im) * s),      w = rms * x / sqrt(mean(x ** 2)).

The fixed energy makes every comparison fair: the noise baseline is white Gaussian noise of the
same RMS, and the optimiser can only move energy in time and frequency, not turn the volume up.
Because ``s`` also scales the gradient, Adam's steps on ``c`` favour low frequencies the way the
``1 / f`` spectrum of natural sounds does.

Each step augments the signal the model sees: a circular time shift by an integer number of
samples drawn uniformly from ``[-max_shift, max_shift]``, ``max_shift`` being ``shift_frames`` (0.25)
frames of the layer (80 samples, 5 ms, for a 50 Hz layer), and added Gaussian noise of standard
deviation ``noise * rms`` (``noise`` 0.05).  The seeded tiny random models of the wav2vec 2.0
family are an exception worth knowing: their random filter banks answer even a 1 ms shift with
unrelated values, so with the shift on their units barely move; pass ``shift_frames=0`` for them.
Whisper (a log-mel front end) and the trained models tolerate it.  All randomness (coefficients, shifts, noise) comes
from one ``torch.Generator`` seeded with ``seed`` on the CPU, so the same seed gives the same
numbers and the same WAV; every unit of a batch starts from the same signal and sees the same
augmentations (a unit's result does not depend on the others in its batch, up to float rounding
of the batched matrix products).

Objectives
----------
Let ``a[t]`` be the unit's activation (the layer's output at dimension ``unit``) at frame ``t`` of
the augmented signal, ``T`` the layer's frames for ``seconds`` of audio.

* ``mode="unit"``: maximise one frame ``f`` (``frame``, the middle frame by default)::

      objective = a[f]
                  - neighbour_weight * mean(a[t] for 0 < |t - f| <= neighbour_radius)
                  - silence_weight * E_out / E

  The *neighbours* are the same unit at the frames within ``neighbour_radius`` (2) of ``f`` on
  either side (not other units at ``f``): the penalty asks for a sound the unit answers at ``f``
  only.  ``E_out / E`` is the share of the signal's energy outside the *target span*: frame
  ``f``'s time span ``[f / r, (f + 1) / r)`` (``r`` the layer's frame rate) widened by
  ``silence_margin_s`` (50 ms) on each side; it is in [0, 1] and asks for silence elsewhere.
* ``mode="channel"``: maximise the unit's mean over all ``T`` frames (the sum up to the constant
  ``T``); no neighbour or silence term.

Optional regularisers, subtracted with weight ``reg_weight`` (1.0), each relative to its value on
the initial signal (so it starts at 1, and doubling it costs ``reg_weight`` units of activation):

* ``"tv"``: total variation, ``mean(|w[i+1] - w[i]|) / rms``: small for smooth, low-pass signals;
* ``"highfreq"``: the power-weighted mean squared normalised frequency of ``w``,
  ``sum(P(f) (f / 8000) ** 2) / sum(P(f))`` in [0, 1]: large when energy sits near 8 kHz.

The loss ``-objective`` (summed over the units of a batch, so each unit gets its own gradient) is
minimised with Adam (``lr``, 0.05) for ``steps`` steps.  The model runs in eval mode with every
parameter's ``requires_grad`` off (restored afterwards); gradients reach only the coefficients.

Figures in the result
---------------------
``activations[i]`` is the target (``a[f]``, or the mean over frames) on step ``i``'s augmented
input, before the update; ``objectives[i]`` the whole objective.  ``initial_activation`` and
``final_activation`` are measured on the clean (unaugmented) first and last signal;
``noise_activation`` is the mean target over ``noise_draws`` (8) draws of white Gaussian noise with
the same RMS (seeded from ``seed``); ``neighbour_activation`` (unit mode) the mean over the
neighbour frames on the final signal, and ``frame_activations`` the unit at every frame of it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from layerprobe import __version__
from layerprobe.audiation.activations import checked_layer, frozen_module, layer_activations
from layerprobe.errors import ConfigError, LayerprobeError

logger = logging.getLogger(__name__)

MODES = ("unit", "channel")
REGULARIZERS = ("tv", "highfreq")

#: Seed offset of the noise baseline's generator (so it never repeats the optimisation's draws).
_NOISE_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class AudiationSettings:
    """Everything that defines an audiation run (recorded in the JSON sidecar).

    Attributes
    ----------
    mode : {"unit", "channel"}
    frame : int or None
        Unit mode: the target frame on the layer's grid (None: the middle frame).
    steps : int
        Adam steps.
    seconds : float
        Length of the waveform.
    lr : float
        Adam's learning rate on the frequency coefficients.
    seed : int
    neighbour_weight, neighbour_radius : float, int
        Unit mode: weight of the neighbour penalty and the neighbour frames on each side.
    silence_weight, silence_margin_s : float, float
        Unit mode: weight of the silence term and the margin around the target frame's span.
    regularizer : {None, "tv", "highfreq"}
    reg_weight : float
    rms : float
        RMS of the optimised signal.
    freq_floor_hz, decay : float, float
        The spectrum scale ``(f_floor / max(f, f_floor)) ** decay``.
    shift_frames, noise : float, float
        Augmentation: largest circular shift in frames of the layer; noise standard deviation relative to ``rms``.
    noise_draws : int
        Noise signals averaged for the baseline.
    """

    mode: str = "unit"
    frame: int | None = None
    steps: int = 500
    seconds: float = 1.0
    lr: float = 0.05
    seed: int = 0
    neighbour_weight: float = 0.5
    neighbour_radius: int = 2
    silence_weight: float = 1.0
    silence_margin_s: float = 0.05
    regularizer: str | None = None
    reg_weight: float = 1.0
    rms: float = 0.1
    freq_floor_hz: float = 100.0
    decay: float = 1.0
    shift_frames: float = 0.25
    noise: float = 0.05
    noise_draws: int = 8

    def check(self) -> None:
        """Raise a ConfigError naming the first option out of range."""
        if self.mode not in MODES:
            raise ConfigError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.regularizer is not None and self.regularizer not in REGULARIZERS:
            raise ConfigError(f"regularizer {self.regularizer!r} is not one of none, {', '.join(REGULARIZERS)}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"steps must be a positive integer, got {self.steps!r}")
        for name in ("seconds", "lr", "rms", "freq_floor_hz"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        for name in ("neighbour_weight", "silence_weight", "reg_weight", "silence_margin_s", "decay", "shift_frames", "noise"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a number >= 0, got {value!r}")
        if not isinstance(self.neighbour_radius, int) or self.neighbour_radius < 0:
            raise ConfigError(f"neighbour_radius must be an integer >= 0, got {self.neighbour_radius!r}")
        if not isinstance(self.noise_draws, int) or self.noise_draws < 1:
            raise ConfigError(f"noise_draws must be a positive integer, got {self.noise_draws!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")


@dataclass
class AudiationResult:
    """One audiated unit.

    Attributes
    ----------
    waveform : numpy.ndarray, shape (n_samples,), float32
        The optimised signal at 16 kHz as the model saw it without augmentation (RMS
        ``settings["rms"]``, not peak-normalised; :func:`~layerprobe.audiation.write_audiation`
        peak-normalises the WAV).
    sample_rate : int
        16000.
    model : str
        The adapter's spec.
    layer : str
    unit : int
    frame : int or None
        Unit mode: the target frame; None in channel mode.
    frame_rate_hz : float
        The layer's frame rate.
    activations : numpy.ndarray, shape (steps,), float64
        The target activation on each step's augmented input, before the update.
    objectives : numpy.ndarray, shape (steps,), float64
        The whole objective on each step.
    initial_activation, final_activation : float
        The target on the clean first and last signal.
    noise_activation : float
        The mean target over white Gaussian noise of the same RMS.
    neighbour_activation : float or None
        Unit mode: the mean of the unit over the neighbour frames of the final signal.
    outside_energy : float or None
        Unit mode: the share of the final signal's energy outside the target span (the silence
        term's ``E_out / E``), whatever ``silence_weight``.
    frame_activations : numpy.ndarray, shape (n_frames,), float32
        The unit at every frame of the final signal.
    settings : dict
        :class:`AudiationSettings` as a dict, plus the model's provenance.
    """

    waveform: np.ndarray
    sample_rate: int
    model: str
    layer: str
    unit: int
    frame: int | None
    frame_rate_hz: float
    activations: np.ndarray
    objectives: np.ndarray
    initial_activation: float
    final_activation: float
    noise_activation: float
    neighbour_activation: float | None
    outside_energy: float | None
    frame_activations: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return str(self.settings.get("mode", "unit"))

    def summary(self) -> str:
        """One line of figures: ``T3 unit 42 (unit, frame 25): initial 0.12 -> final 3.4, noise 0.05``."""
        where = f"{self.mode}, frame {self.frame}" if self.frame is not None else self.mode
        text = (
            f"{self.layer} unit {self.unit} ({where}): initial {self.initial_activation:.4g} -> "
            f"final {self.final_activation:.4g}, noise {self.noise_activation:.4g}"
        )
        if self.neighbour_activation is not None:
            text += f", neighbours {self.neighbour_activation:.4g}"
        return text

    def to_json(self) -> dict[str, Any]:
        """The result without the waveform, as JSON values (the sidecar's content)."""
        return {
            "layerprobe_version": __version__,
            "model": self.model,
            "layer": self.layer,
            "unit": self.unit,
            "mode": self.mode,
            "frame": self.frame,
            "frame_rate_hz": self.frame_rate_hz,
            "sample_rate": self.sample_rate,
            "n_samples": int(self.waveform.size),
            "initial_activation": self.initial_activation,
            "final_activation": self.final_activation,
            "noise_activation": self.noise_activation,
            "neighbour_activation": self.neighbour_activation,
            "outside_energy": self.outside_energy,
            "activations": [float(v) for v in self.activations],
            "objectives": [float(v) for v in self.objectives],
            "frame_activations": [float(v) for v in self.frame_activations],
            "settings": self.settings,
        }


# --------------------------------------------------------------------------------------------------
# The parameterisation, augmentation and objective terms (plain functions over tensors)


def spectrum_scale(n_samples: int, *, sample_rate: int = 16_000, freq_floor_hz: float = 100.0, decay: float = 1.0) -> np.ndarray:
    """The per-bin scale of the frequency parameterisation, ``(f_floor / max(f, f_floor)) ** decay``, 0 at DC.

    Parameters
    ----------
    n_samples : int
        Length of the waveform.
    sample_rate, freq_floor_hz, decay : keyword-only

    Returns
    -------
    numpy.ndarray, shape (n_samples // 2 + 1,), float32
        In (0, 1] except the DC bin (0).
    """
    freqs = np.fft.rfftfreq(n_samples, d=1.0 / sample_rate)
    scale = (freq_floor_hz / np.maximum(freqs, freq_floor_hz)) ** decay
    scale[0] = 0.0
    return scale.astype(np.float32)


def coefficients_to_waveform(coefficients: torch.Tensor, scale: torch.Tensor, n_samples: int, *, rms: float) -> torch.Tensor:
    """Frequency coefficients -> waveforms of a fixed RMS.

    Parameters
    ----------
    coefficients : torch.Tensor, shape (batch, n_bins, 2)
        Real and imaginary parts.
    scale : torch.Tensor, shape (n_bins,)
        :func:`spectrum_scale`.
    n_samples : int
    rms : float, keyword-only

    Returns
    -------
    torch.Tensor, shape (batch, n_samples)
    """
    spectrum = torch.view_as_complex(coefficients.contiguous()) * scale
    signal = torch.fft.irfft(spectrum, n=n_samples, dim=-1)
    return signal * (rms / torch.sqrt(signal.pow(2).mean(dim=-1, keepdim=True) + 1e-20))


def augment(waveforms: torch.Tensor, *, max_shift: int, noise_std: float, generator: torch.Generator) -> torch.Tensor:
    """A random circular shift in ``[-max_shift, max_shift]`` samples and added Gaussian noise.

    One shift and one noise signal (drawn on the CPU from ``generator``) are applied to every item.

    Parameters
    ----------
    waveforms : torch.Tensor, shape (batch, n_samples)
    max_shift : int, keyword-only
    noise_std : float, keyword-only
    generator : torch.Generator, keyword-only

    Returns
    -------
    torch.Tensor, shape (batch, n_samples)
    """
    shift = int(torch.randint(-max_shift, max_shift + 1, (1,), generator=generator)) if max_shift > 0 else 0
    noise = torch.randn(waveforms.shape[1], generator=generator).to(waveforms.device)
    shifted = torch.roll(waveforms, shifts=shift, dims=1) if shift else waveforms
    return shifted + noise_std * noise


def silence_mask(n_samples: int, frame: int, frame_rate_hz: float, *, margin_s: float, sample_rate: int = 16_000) -> np.ndarray:
    """True for the samples outside frame ``frame``'s span widened by ``margin_s`` on each side.

    Returns
    -------
    numpy.ndarray, shape (n_samples,), bool
    """
    start = max(0, int(math.floor((frame / frame_rate_hz - margin_s) * sample_rate)))
    end = min(n_samples, int(math.ceil(((frame + 1) / frame_rate_hz + margin_s) * sample_rate)))
    outside = np.ones(n_samples, dtype=bool)
    outside[start:end] = False
    return outside


def silence_term(waveforms: torch.Tensor, outside: torch.Tensor) -> torch.Tensor:
    """Share of each waveform's energy on the ``outside`` samples, shape (batch,), in [0, 1]."""
    energy = waveforms.pow(2)
    return (energy * outside).sum(dim=-1) / (energy.sum(dim=-1) + 1e-20)


def total_variation(waveforms: torch.Tensor, *, rms: float) -> torch.Tensor:
    """``mean(|w[i+1] - w[i]|) / rms`` per waveform, shape (batch,)."""
    return (waveforms[:, 1:] - waveforms[:, :-1]).abs().mean(dim=-1) / rms


def high_frequency_share(waveforms: torch.Tensor) -> torch.Tensor:
    """Power-weighted mean of ``(f / nyquist) ** 2`` per waveform, shape (batch,), in [0, 1]."""
    power = torch.fft.rfft(waveforms, dim=-1).abs().pow(2)
    n_bins = power.shape[-1]
    weight = torch.linspace(0.0, 1.0, n_bins, device=waveforms.device).pow(2)
    return (power * weight).sum(dim=-1) / (power.sum(dim=-1) + 1e-20)


# --------------------------------------------------------------------------------------------------
# The optimisation


def parse_units(text: str) -> list[int]:
    """Units from a spec: ``"42"``, ``"0-31"``, ``"0,4,9-12"`` (ranges inclusive, order kept, repeats dropped).

    The rule of every integer list (:func:`layerprobe.selections.parse_integers`).

    Raises
    ------
    ConfigError
        For an empty spec, a part that is not a number or a range, a reversed range, or more than
        10000 units.
    """
    from layerprobe.selections import SelectionError, parse_integers

    try:
        units = parse_integers(str(text))
    except SelectionError as exc:
        if exc.reason == "backwards":
            raise ConfigError(f"units {text!r}: the range {exc.part} runs backwards") from None
        if exc.reason == "too_many":
            raise ConfigError(f"units {text!r}: {exc}") from None
        raise ConfigError(f"units {text!r}: {exc.part!r} is not a unit number or a range such as 0-31") from None
    return list(dict.fromkeys(units))


#: The regularisers, (batch, n) -> (batch,); used relative to their initial value, so the fixed rms
#: of total variation cancels.
_REGULARIZER_TERMS = {
    "tv": lambda waves: total_variation(waves, rms=1.0),
    "highfreq": high_frequency_share,
}


def _neighbour_frames(frame: int, n_frames: int, radius: int) -> list[int]:
    return [t for t in range(frame - radius, frame + radius + 1) if t != frame and 0 <= t < n_frames]


def _unit_values(states: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    """(batch, frames) of each item's own unit from (batch, frames, dim)."""
    return states.gather(2, units.view(-1, 1, 1).expand(-1, states.shape[1], 1)).squeeze(2)


def _targets(values: torch.Tensor, settings: AudiationSettings, frame: int | None) -> torch.Tensor:
    """(batch,) target activation from (batch, frames) unit values."""
    return values[:, frame] if settings.mode == "unit" else values.mean(dim=1)


def audiate_units(
    adapter: Any,
    layer: str,
    units: Sequence[int],
    *,
    batch_size: int = 8,
    progress: bool = True,
    **options: Any,
) -> list[AudiationResult]:
    """Audiate several units of one layer, ``batch_size`` units per optimisation batch.

    Parameters
    ----------
    adapter : HFAdapter
        From ``layerprobe.models.load_model``; the run happens on its device.
    layer : str
        ``C1..Cn`` or ``T0..TL``.
    units : sequence of int
        Dimensions of the layer's output, each in ``[0, dim)``.
    batch_size : int, keyword-only
        Units optimised together (one forward and backward pass per step for the batch).
    progress : bool, keyword-only
        Show a progress bar over steps (on a terminal).
    **options
        The fields of :class:`AudiationSettings` (``mode``, ``frame``, ``steps``, ``seconds``,
        ``lr``, ``seed``, ``neighbour_weight``, ``silence_weight``, ``regularizer``, ``reg_weight`` ...).

    Returns
    -------
    list of AudiationResult
        In the order of ``units``.

    Raises
    ------
    ConfigError
        For an unknown layer or option, a unit outside the layer's dimension, a frame outside the
        layer's frames, or a length the model cannot take.
    """
    try:
        settings = AudiationSettings(**options)
    except TypeError as exc:
        raise ConfigError(f"unknown audiation option ({exc})") from None
    settings.check()
    layer = checked_layer(adapter, layer)
    units = [int(unit) for unit in units]
    dim = adapter.layer_dim(layer)
    bad = [unit for unit in units if not 0 <= unit < dim]
    if not units or bad:
        from layerprobe.selections import describe_integers

        got = f"{bad or 'none'}" if len(bad) <= 10 else f"{len(bad)} units outside that range: {describe_integers(bad)}"
        raise ConfigError(f"{layer} of {adapter.spec} has units 0..{dim - 1}; got {got}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    n_samples = int(round(settings.seconds * adapter.sample_rate))
    if adapter.max_seconds is not None and n_samples > round(adapter.max_seconds * adapter.sample_rate):
        raise ConfigError(f"--seconds {settings.seconds:g} is longer than the model's {adapter.max_seconds:g} s input window")
    n_frames = adapter.layer_n_frames(layer, n_samples)
    if n_frames == 0:
        raise ConfigError(f"{settings.seconds:g} s of audio is too short for one frame of {layer}")
    frame = None
    if settings.mode == "unit":
        frame = n_frames // 2 if settings.frame is None else int(settings.frame)
        if not 0 <= frame < n_frames:
            raise ConfigError(f"frame {frame} is outside {layer}'s {n_frames} frames for {settings.seconds:g} s of audio")
    results: list[AudiationResult] = []
    for first in range(0, len(units), batch_size):
        chunk = units[first : first + batch_size]
        results.extend(_optimise(adapter, layer, chunk, settings, n_samples, n_frames, frame, progress=progress))
    return results


def audiate(adapter: Any, layer: str, unit: int, *, progress: bool = True, **options: Any) -> AudiationResult:
    """Optimise a waveform so that one unit of a layer fires strongly.

    Parameters
    ----------
    adapter : HFAdapter
        From ``layerprobe.models.load_model`` (``device="cuda"`` runs the optimisation on a GPU).
    layer : str
        ``C1..Cn`` or ``T0..TL``.
    unit : int
        Dimension of the layer's output, in ``[0, dim)``.
    progress : bool, keyword-only
        Show a progress bar over steps (on a terminal).
    **options
        The fields of :class:`AudiationSettings`: ``mode`` ("unit" | "channel"), ``frame``,
        ``steps`` (500), ``seconds`` (1.0), ``lr`` (0.05), ``seed`` (0), ``neighbour_weight`` (0.5),
        ``neighbour_radius`` (2), ``silence_weight`` (1.0), ``silence_margin_s`` (0.05),
        ``regularizer`` (None | "tv" | "highfreq"), ``reg_weight`` (1.0), ``rms`` (0.1),
        ``freq_floor_hz`` (100), ``decay`` (1), ``shift_frames`` (0.25), ``noise`` (0.05),
        ``noise_draws`` (8).  See the module docstring for what each does.

    Returns
    -------
    AudiationResult

    Examples
    --------
    >>> from layerprobe.models import load_model                          # doctest: +SKIP
    >>> from layerprobe.audiation import audiate, write_audiation          # doctest: +SKIP
    >>> result = audiate(load_model("tiny:wav2vec2"), "T2", 5, steps=200)   # doctest: +SKIP
    >>> write_audiation(result, "unit5.wav")                               # doctest: +SKIP
    """
    return audiate_units(adapter, layer, [unit], batch_size=1, progress=progress, **options)[0]


def _optimise(
    adapter: Any,
    layer: str,
    units: list[int],
    settings: AudiationSettings,
    n_samples: int,
    n_frames: int,
    frame: int | None,
    *,
    progress: bool,
) -> list[AudiationResult]:
    """Adam on the frequency coefficients of one batch of units; every term as the module docstring says."""
    from tqdm.auto import tqdm

    device = adapter.device
    batch = len(units)
    rate = adapter.layer_frame_rate(layer)
    generator = torch.Generator().manual_seed(settings.seed)
    initial = torch.randn(1, n_samples // 2 + 1, 2, generator=generator).repeat(batch, 1, 1)
    coefficients = initial.to(device).requires_grad_(True)
    scale = torch.from_numpy(spectrum_scale(n_samples, sample_rate=adapter.sample_rate, freq_floor_hz=settings.freq_floor_hz,
                                            decay=settings.decay)).to(device)  # fmt: skip
    unit_index = torch.tensor(units, device=device)
    neighbours = _neighbour_frames(frame, n_frames, settings.neighbour_radius) if frame is not None else []
    outside = None
    if frame is not None:
        mask = silence_mask(n_samples, frame, rate, margin_s=settings.silence_margin_s, sample_rate=adapter.sample_rate)
        outside = torch.from_numpy(mask).to(device=device, dtype=torch.float32)
    max_shift = int(round(settings.shift_frames * adapter.sample_rate / rate))
    noise_std = settings.noise * settings.rms
    optimizer = torch.optim.Adam([coefficients], lr=settings.lr)
    activations = np.zeros((settings.steps, batch))
    objectives = np.zeros((settings.steps, batch))

    def waveform() -> torch.Tensor:
        return coefficients_to_waveform(coefficients, scale, n_samples, rms=settings.rms)

    regularizer = _REGULARIZER_TERMS.get(settings.regularizer) if settings.regularizer else None
    with frozen_module(adapter.module):
        with torch.no_grad():
            start = waveform()
            initial_values = _unit_values(layer_activations(adapter, layer, start), unit_index)
            reg_reference = regularizer(start).clamp_min(1e-12) if regularizer is not None else None
        steps = tqdm(range(settings.steps), desc=f"audiate {layer}", unit="step", disable=None if progress else True, leave=False)
        for step in steps:
            optimizer.zero_grad(set_to_none=True)
            clean = waveform()
            seen = augment(clean, max_shift=max_shift, noise_std=noise_std, generator=generator)
            values = _unit_values(layer_activations(adapter, layer, seen), unit_index)
            target = _targets(values, settings, frame)
            objective = target
            if neighbours and settings.neighbour_weight > 0:
                objective = objective - settings.neighbour_weight * values[:, neighbours].mean(dim=1)
            if outside is not None and settings.silence_weight > 0:
                objective = objective - settings.silence_weight * silence_term(clean, outside)
            if regularizer is not None:
                objective = objective - settings.reg_weight * regularizer(clean) / reg_reference
            (-objective.sum()).backward()
            optimizer.step()
            activations[step] = target.detach().cpu().numpy()
            objectives[step] = objective.detach().cpu().numpy()
            steps.set_postfix(activation=f"{float(activations[step].mean()):.3g}", refresh=False)
        with torch.no_grad():
            final = waveform()
            if not bool(torch.isfinite(final).all()):
                raise LayerprobeError(f"audiation of {layer} units {units} diverged (non-finite signal); lower --lr (now {settings.lr:g})")
            final_values = _unit_values(layer_activations(adapter, layer, final), unit_index)
            noise_values = _noise_baseline(adapter, layer, unit_index, n_samples, settings, frame)
            outside_energy = silence_term(final, outside).cpu().numpy() if outside is not None else None
    initial_targets = _targets(initial_values, settings, frame).cpu().numpy()
    final_targets = _targets(final_values, settings, frame).cpu().numpy()
    final_rows = final_values.cpu().numpy()
    waves = final.cpu().numpy().astype(np.float32)
    provenance = _provenance(adapter)
    results = []
    for item, unit in enumerate(units):
        neighbour = float(final_rows[item, neighbours].mean()) if neighbours else None
        results.append(
            AudiationResult(
                waveform=waves[item].copy(),
                sample_rate=adapter.sample_rate,
                model=adapter.spec,
                layer=layer,
                unit=unit,
                frame=frame,
                frame_rate_hz=float(rate),
                activations=activations[:, item].copy(),
                objectives=objectives[:, item].copy(),
                initial_activation=float(initial_targets[item]),
                final_activation=float(final_targets[item]),
                noise_activation=float(noise_values[item]),
                neighbour_activation=neighbour,
                outside_energy=None if outside_energy is None else float(outside_energy[item]),
                frame_activations=final_rows[item].astype(np.float32),
                settings={**_settings_dict(settings, frame), "model": provenance},
            )
        )
    return results


def _noise_baseline(
    adapter: Any, layer: str, units: torch.Tensor, n_samples: int, settings: AudiationSettings, frame: int | None
) -> np.ndarray:
    """Mean target of each unit over ``noise_draws`` white Gaussian noises of RMS ``settings.rms``, shape (batch,)."""
    generator = torch.Generator().manual_seed(settings.seed + _NOISE_SEED_OFFSET)
    noise = torch.randn(settings.noise_draws, n_samples, generator=generator)
    noise = noise * (settings.rms / noise.pow(2).mean(dim=1, keepdim=True).sqrt())
    states = layer_activations(adapter, layer, noise.to(adapter.device))  # (draws, frames, dim)
    values = states[:, :, units].permute(2, 0, 1)  # (batch, draws, frames): the same noises for every unit
    if settings.mode == "unit":
        return values[:, :, frame].mean(dim=1).cpu().numpy()
    return values.mean(dim=(1, 2)).cpu().numpy()


def _settings_dict(settings: AudiationSettings, frame: int | None) -> dict[str, Any]:
    data = {name: getattr(settings, name) for name in AudiationSettings.__dataclass_fields__}
    data["frame"] = frame
    return data


def _provenance(adapter: Any) -> dict[str, Any]:
    """The parts of the adapter's description that identify the model."""
    describe = getattr(adapter, "describe", None)
    details = describe() if callable(describe) else {}
    keys = ("spec", "family", "model_id", "revision", "config_sha256", "transformers_version", "torch_version", "device")
    return {key: details.get(key) for key in keys if key in details}


__all__ = [
    "MODES",
    "REGULARIZERS",
    "AudiationResult",
    "AudiationSettings",
    "audiate",
    "audiate_units",
    "augment",
    "coefficients_to_waveform",
    "high_frequency_share",
    "parse_units",
    "silence_mask",
    "silence_term",
    "spectrum_scale",
    "total_variation",
]
