"""The picture of an audiated unit: the sound's spectrogram over the unit's activation per frame.

Top panel: the log-power spectrogram of the (unnormalised) waveform, STFT with a 512-sample Hann
window (32 ms) and a 64-sample hop (4 ms), in dB relative to its maximum and floored at -80 dB, 0-8
kHz.  Bottom panel: the unit's activation at every frame of the layer on the same time axis (frame
``t`` drawn over ``[t / r, (t + 1) / r)``), with the noise baseline as a dashed line.  In unit mode
the target frame's span is marked (dotted lines over the spectrogram, shaded below).

Figures are built with :class:`matplotlib.figure.Figure`, never pyplot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from layerprobe.io.figure_style import model_display_name

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: STFT of the spectrogram panel: window and hop in samples at 16 kHz.
SPECTROGRAM_N_FFT = 512
SPECTROGRAM_HOP = 64
SPECTROGRAM_TOP_DB = 80.0
#: The spectrogram's colour-bar label.
DB_LABEL = "power (dB re max)"


def spectrogram_db(waveform: np.ndarray, *, n_fft: int = SPECTROGRAM_N_FFT, hop: int = SPECTROGRAM_HOP,
                   top_db: float = SPECTROGRAM_TOP_DB) -> np.ndarray:  # fmt: skip
    """Log-power spectrogram in dB relative to its maximum, floored at ``-top_db``.

    Parameters
    ----------
    waveform : numpy.ndarray, shape (n_samples,)
    n_fft, hop, top_db : keyword-only

    Returns
    -------
    numpy.ndarray, shape (n_fft // 2 + 1, n_frames), float32
        Rows are frequencies 0 .. sample_rate / 2, columns STFT frames (centred, hop ``hop``).
    """
    import librosa

    power = np.abs(librosa.stft(np.asarray(waveform, dtype=np.float32), n_fft=n_fft, hop_length=hop, window="hann")) ** 2
    return librosa.power_to_db(power, ref=np.max, top_db=top_db).astype(np.float32)


def audiation_figure(result: Any) -> "Figure":
    """The spectrogram and per-frame activation of an :class:`~layerprobe.audiation.AudiationResult`.

    Drawn in the paper style; the spectrogram has a colour bar labelled :data:`DB_LABEL` (0 dB is
    the loudest bin, the floor ``-SPECTROGRAM_TOP_DB``) and the title names the model by its
    display name.

    Returns
    -------
    matplotlib.figure.Figure
        ``figure.axes``: the spectrogram, the activation panel, the colour bar.
    """
    from matplotlib.figure import Figure

    from layerprobe.io.figure_style import PALETTE, paper_style

    rate = result.sample_rate
    seconds = result.waveform.size / rate
    with paper_style():
        figure = Figure(figsize=(5.0, 3.6), layout="constrained")
        spec_ax, act_ax = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1.3))
        db = spectrogram_db(result.waveform)
        image = spec_ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=-SPECTROGRAM_TOP_DB, vmax=0,
                               extent=(0.0, seconds, 0.0, rate / 2 / 1000))  # fmt: skip
        spec_ax.grid(False)
        spec_ax.set_ylabel("frequency (kHz)")
        bar = figure.colorbar(image, ax=spec_ax, pad=0.01, aspect=15)
        bar.set_label(DB_LABEL)
        where = f", frame {result.frame}" if result.frame is not None else ""
        spec_ax.set_title(f"{model_display_name(str(result.model))}, {result.layer} unit {result.unit} ({result.mode}{where})")
        frames = np.asarray(result.frame_activations, dtype=np.float64)
        edges = np.arange(frames.size + 1) / result.frame_rate_hz
        act_ax.stairs(frames, edges, color=PALETTE[0], label="unit")
        act_ax.axhline(result.noise_activation, color="0.4", linestyle="--", linewidth=0.8, label="noise")
        if result.frame is not None:
            span = (result.frame / result.frame_rate_hz, (result.frame + 1) / result.frame_rate_hz)
            for edge in span:
                spec_ax.axvline(edge, color="white", linestyle=":", linewidth=0.9)
            act_ax.axvspan(*span, color=PALETTE[2], alpha=0.25, linewidth=0)
        act_ax.set_xlim(0.0, seconds)
        act_ax.set_xlabel("time (s)")
        act_ax.set_ylabel("activation")
        act_ax.legend(loc="best", frameon=True, framealpha=0.8, edgecolor="none")
    return figure


__all__ = ["DB_LABEL", "SPECTROGRAM_HOP", "SPECTROGRAM_N_FFT", "SPECTROGRAM_TOP_DB", "audiation_figure", "spectrogram_db"]
