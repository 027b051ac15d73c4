"""Adapters for transformers speech encoders: wav2vec 2.0 (incl. XLS-R, MMS), HuBERT (incl. DistilHuBERT),
WavLM, data2vec-audio, UniSpeech, UniSpeech-SAT, wav2vec2-conformer, w2v-BERT 2.0, SEW, SEW-D, Whisper.

:class:`HFAdapter` implements :class:`~layerprobe.models.base.ModelAdapter`.  Build one with
:meth:`HFAdapter.from_pretrained` (a local directory or a cached hub id) or
:meth:`HFAdapter.from_module` (an already-built transformers module, e.g. one a fairseq checkpoint
was loaded into); both return the subclass for the family, :class:`ConvEncoderAdapter` or
:class:`WhisperEncoderAdapter`.

Layers
------
* wav2vec 2.0 family: ``C1``..``C7`` are the outputs of ``feature_extractor.conv_layers[i]`` (after
  the block's norm and activation), shape (frames, conv_dim), captured with forward hooks that live
  for one call.  ``T0``..``TL`` are transformers' ``output_hidden_states``.  For models with stable
  layer norm (wav2vec 2.0 large / XLS-R, HuBERT and WavLM large) transformers 5 returns the last
  block's output *before* the encoder's final layer norm as ``TL`` (as fairseq's layer results do;
  transformers 4 returned it after the norm).
* UniSpeech, UniSpeech-SAT, wav2vec2-conformer: as wav2vec 2.0 (the conformer's ``T0`` is the feature
  projection; relative or rotary positions live inside its blocks).  SEW, SEW-D: ``C1``..``Cn`` as
  wav2vec 2.0; the transformer runs on conv frames average-pooled by ``squeeze_factor`` (2), so the T
  layers are at 25 Hz.  w2v-BERT 2.0 (:class:`LogMelConformerAdapter`): no C layers; ``T0`` is the
  feature projection of stacked log-mel frames at 50 Hz.  :mod:`layerprobe.models.catalog` has the table.
* Whisper: ``C1`` = gelu(conv1(log-mel)) at 100 Hz, ``C2`` = gelu(conv2(C1)) at 50 Hz; ``T0`` is the
  input of the first block (convolutions plus positional embedding), ``T1``..``TL`` the blocks, the
  last one after the encoder's final layer norm (transformers' ``output_hidden_states``).

Input features follow the model's own ``preprocessor_config.json`` when it has one
(``Wav2Vec2FeatureExtractor``: zero-mean unit-variance normalisation per utterance when
``do_normalize``; ``WhisperFeatureExtractor``: log-mel padded to 30 s).  Without one, wav2vec 2.0
family models normalise and return an attention mask exactly when their conv encoder uses layer norm
(``feat_extract_norm == "layer"``, always for data2vec-audio), as transformers' published configs do.

Whisper frames
--------------
Whisper's encoder always runs on 30 s (3000 mel frames); the outputs are cut to the real audio.  For
``n`` samples the real audio has ``M = n // hop_length`` mel frames (``n // 160``: the frames
``WhisperFeatureExtractor`` gives the unpadded waveform, whose centred STFT drops its last frame).
``C1`` keeps ``M`` frames; ``C2`` and every ``T`` layer keep ``ceil(M / 2)`` frames, the frames
conv2 (kernel 3, stride 2, padding 1) produces from ``M`` mel frames, i.e. the frames whose centre
mel frame ``2j`` lies in the real audio.  Attention maps are cut to (heads, T, T) with that T; their
rows then sum to less than 1 because the padding frames that Whisper attends to are dropped.

Modules
-------
The implementation is split by concern; this module re-exports the public names:
:mod:`.hf_loading` (family knowledge, configs, feature extractor settings, loading),
:mod:`.hf_adapter` (:class:`HFAdapter`), :mod:`.hf_families` (:class:`ConvEncoderAdapter`,
:class:`WhisperEncoderAdapter`) and :mod:`.hf_capture` (running the module, capturing layers and
attention maps).
"""

from __future__ import annotations

from layerprobe.devices import resolve_device
from layerprobe.models.hf_adapter import HFAdapter
from layerprobe.models.hf_families import ConvEncoderAdapter, LogMelConformerAdapter, WhisperEncoderAdapter
from layerprobe.models.hf_loading import (  # noqa: F401 - SAMPLE_RATE ... kept importable from here
    SAMPLE_RATE,
    STANDARD_CONV_KERNEL,
    STANDARD_CONV_STRIDE,
    STANDARD_LOCAL_POOLING,
    SUPPORTED_MODEL_TYPES,
    config_digest,
    conv_output_length,
    default_feature_settings,
    family_of_config,
    make_feature_extractor,
    model_classes,
    quiet_progress_bars,
    split_feature_settings,
)

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "STANDARD_LOCAL_POOLING",
    "HFAdapter",
    "ConvEncoderAdapter",
    "WhisperEncoderAdapter",
    "LogMelConformerAdapter",
    "resolve_device",
    "conv_output_length",
    "config_digest",
    "family_of_config",
    "default_feature_settings",
    "make_feature_extractor",
    "model_classes",
    "quiet_progress_bars",
]
