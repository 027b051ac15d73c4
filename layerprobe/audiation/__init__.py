"""Feature audiation: optimise a waveform so that one unit (or channel) of a speech model fires, and listen.

REFERENCE.md section 8.  ``audiate(adapter, "T3", 42)`` optimises a 1 s waveform, parameterised by
1/f-scaled Fourier coefficients at a fixed RMS, with Adam, so that unit 42 of block 3 fires at the
middle frame (``mode="unit"``) or over all frames (``mode="channel"``); ``write_audiation`` writes
it as a peak-normalised 16 kHz WAV with a JSON sidecar and a spectrogram PNG; ``audiate_units``
and ``write_gallery`` do many units and an HTML page to listen side by side;
``top_activating_frames`` finds the stored frames of real speech that activate a unit most.

Modules
-------
* :mod:`.activations`: a layer's output as a differentiable function of the waveform.
* :mod:`.optimize`: the frequency-domain parameterisation, augmentation, objectives and the Adam
  loop (:func:`audiate`, :func:`audiate_units` -> :class:`AudiationResult`).
* :mod:`.files`: the WAV, JSON sidecar and spectrogram PNG of a result (:func:`write_audiation`).
* :mod:`.figures`: the spectrogram over the unit's activation per frame (the PNG).
* :mod:`.gallery`: an HTML page of many audiated units for listening side by side.
* :mod:`.examples`: the stored frames of a corpus that activate a unit most.
"""

from layerprobe.audiation.examples import FrameExample, example_clip, top_activating_frames
from layerprobe.audiation.files import AudiationFiles, read_audiation, write_audiation
from layerprobe.audiation.gallery import write_gallery
from layerprobe.audiation.optimize import (
    MODES,
    REGULARIZERS,
    AudiationResult,
    AudiationSettings,
    audiate,
    audiate_units,
    parse_units,
)

__all__ = [
    "MODES",
    "REGULARIZERS",
    "AudiationFiles",
    "AudiationResult",
    "AudiationSettings",
    "FrameExample",
    "audiate",
    "audiate_units",
    "example_clip",
    "parse_units",
    "read_audiation",
    "top_activating_frames",
    "write_audiation",
    "write_gallery",
]
