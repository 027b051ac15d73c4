"""What layerprobe reads: the supported model families, their spec forms and their layer naming.

A plain table (no torch, no transformers), shown by ``layerprobe models`` and kept true by
``tests/unit/test_model_catalog.py`` against the loading code (:data:`SUPPORTED_MODEL_TYPES`,
:func:`model_classes`, the tiny recipes).

Layer naming, all families: ``C1..Cn`` are the conv front end's blocks (none for w2v-BERT 2.0),
``T0`` is the input of the first transformer block and ``T1..TL`` are the blocks' outputs, exactly as
transformers' ``output_hidden_states`` gives them (``TL`` before a final layer norm the encoder applies
after its blocks, where it has one).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The conv stack of the wav2vec 2.0 family (kernels 10,3,3,3,3,2,2; strides 5,2,2,2,2,2,2).
_W2V_CONV = "C1..C7: feature_extractor.conv_layers[i] (conv, its norm if any, GELU; 3200 .. 50 Hz)"


@dataclass(frozen=True)
class FamilyInfo:
    """One supported family.

    Attributes
    ----------
    family : str
        layerprobe's family name (also the transformers ``model_type``).
    model_class : str
        The transformers class ``hf:`` loads.
    c_layers, t0, t_layers : str
        Which modules give C1..Cn, what T0 is, what T1..TL are.
    frame_rate_hz : float
        Frame rate of the T layers.
    checkpoints : str
        Published checkpoints of this class (and others that reuse it).
    tiny : tuple of str
        The ``tiny:`` names of this family (``-base``: base-size random weights).
    """

    family: str
    model_class: str
    c_layers: str
    t0: str
    t_layers: str
    frame_rate_hz: float
    checkpoints: str
    tiny: tuple[str, ...]


FAMILIES: tuple[FamilyInfo, ...] = (
    FamilyInfo(
        "wav2vec2", "Wav2Vec2Model", _W2V_CONV,
        "feature projection + convolutional positional embedding (+ layer norm unless stable-layer-norm)",
        "transformer blocks (large / stable-layer-norm: TL before the final layer norm)", 50.0,
        "wav2vec 2.0 base / large, XLS-R (300M-2B), MMS (300M, 1B; pretrained checkpoints), "
        "fairseq: wav2vec 2.0 checkpoints",
        ("wav2vec2", "wav2vec2-large-style", "wav2vec2-base"),
    ),
    FamilyInfo(
        "hubert", "HubertModel", _W2V_CONV, "as wav2vec2", "transformer blocks", 50.0,
        "HuBERT base / large / xlarge, DistilHuBERT (2 blocks), fairseq: HuBERT checkpoints",
        ("hubert", "hubert-base"),
    ),
    FamilyInfo(
        "wavlm", "WavLMModel", _W2V_CONV, "as wav2vec2", "transformer blocks (gated relative position bias)", 50.0,
        "WavLM base / base+ / large", ("wavlm", "wavlm-base"),
    ),
    FamilyInfo(
        "data2vec-audio", "Data2VecAudioModel", _W2V_CONV,
        "feature projection + stacked positional convolutions (each with a layer norm) + layer norm", "transformer blocks", 50.0,
        "data2vec-audio base / large", ("data2vec-audio", "data2vec-audio-base"),
    ),
    FamilyInfo(
        "unispeech", "UniSpeechModel", _W2V_CONV, "as wav2vec2", "transformer blocks", 50.0,
        "UniSpeech large (1350 h, multilingual)", ("unispeech",),
    ),
    FamilyInfo(
        "unispeech-sat", "UniSpeechSatModel", _W2V_CONV, "as wav2vec2", "transformer blocks", 50.0,
        "UniSpeech-SAT base / base+ / large", ("unispeech-sat",),
    ),
    FamilyInfo(
        "wav2vec2-conformer", "Wav2Vec2ConformerModel", _W2V_CONV,
        "feature projection (the input of the first conformer block; no positional convolution)",
        "conformer blocks (FFN, self-attention with relative or rotary positions, convolution, FFN); "
        "TL before the final layer norm", 50.0,
        "wav2vec2-conformer-rel-pos-large, wav2vec2-conformer-rope-large (and their fine-tuned versions)",
        ("wav2vec2-conformer", "wav2vec2-conformer-rope"),
    ),
    FamilyInfo(
        "wav2vec2-bert", "Wav2Vec2BertModel",
        "none: no conv encoder; the input is 80 Kaldi log-mel bins every 10 ms, normalised per bin, 2 frames stacked",
        "feature projection (layer norm + linear of the 160-d stacked log-mel frames)",
        "conformer blocks (relative_key positions, causal convolution)", 50.0,
        "w2v-BERT 2.0 (facebook/w2v-bert-2.0; also the encoder of SeamlessM4T v2's speech side)",
        ("wav2vec2-bert",),
    ),
    FamilyInfo(
        "sew", "SEWModel", "C1..Cn: feature_extractor.conv_layers[i] (13 blocks in the published models)",
        "pooled conv features (squeeze factor 2) + strided positional convolution, layer norm: 25 Hz",
        "transformer blocks at 25 Hz (the upsampled final output is not a layer)", 25.0,
        "SEW tiny / small / mid (asapp/sew-*)", ("sew",),
    ),
    FamilyInfo(
        "sew-d", "SEWDModel", "C1..Cn: feature_extractor.conv_layers[i] (13 blocks in the published models)",
        "pooled conv features (squeeze factor 2) + strided positional convolution: 25 Hz",
        "DeBERTa blocks (disentangled relative-position attention) at 25 Hz", 25.0,
        "SEW-D tiny / small / mid / base / base+ (asapp/sew-d-*)", ("sew-d",),
    ),
    FamilyInfo(
        "whisper", "WhisperModel (its encoder)",
        "C1 = GELU(conv1(log-mel)) at 100 Hz, C2 = GELU(conv2(C1)) at 50 Hz",
        "C2 + sinusoidal positions", "encoder blocks, TL after the encoder's final layer norm", 50.0,
        "Whisper tiny .. large-v3 (encoder; 30 s windows)", ("whisper", "whisper-base"),
    ),
    FamilyInfo(
        "avhubert", "AV-HuBERT audio-only encoder (written in layerprobe, avhubert: specs)",
        "none: the input is python_speech_features' 26 log mel filterbanks, 4 frames stacked (104 dims, 40 ms)",
        "the projected audio input (before the fusion with zero video features)",
        "transformer blocks at 25 Hz, before the final layer norm", 25.0,
        "AV-HuBERT base / large pre-training checkpoints (audio only)", (),
    ),
    FamilyInfo(
        "fastvgs", "FaST-VGS / FaST-VGS+ audio branch (written in layerprobe, fastvgs: specs)",
        "none read (the published code reads none)", "the projected conv features (before the positional convolution)",
        "transformer blocks with the CLS position removed: layer_use + 1 blocks (FaST-VGS), all (FaST-VGS+)", 50.0,
        "FaST-VGS, FaST-VGS+ (coco / places training folders)", (),
    ),
)  # fmt: skip

#: Spec forms, one line each.
SPEC_LINES = (
    ("hf:ID_OR_DIR", "a transformers model directory, or a hub id in the local Hugging Face cache (--revision)"),
    ("fairseq:CKPT.pt", "a fairseq wav2vec 2.0 / HuBERT checkpoint, key-mapped into the transformers module"),
    ("avhubert:CKPT.pt", "an AV-HuBERT pre-training checkpoint, audio only, key-mapped into a module written in layerprobe"),
    ("fastvgs:FOLDER", "a FaST-VGS / FaST-VGS+ folder (args.pkl + best_bundle.pth): the audio branch's w2v2 part"),
    ("tiny:NAME[@SEED]", "a seeded random model (NAME below; FAMILY-base: base-size random weights)"),
)


def family_info(family: str) -> FamilyInfo:
    """The entry of one family.

    Raises
    ------
    KeyError
        For an unknown family.
    """
    for info in FAMILIES:
        if info.family == family:
            return info
    raise KeyError(family)


def catalog_lines() -> list[str]:
    """The catalog as text lines: the spec forms, then each family with its layer naming."""
    lines = ["Spec forms:"]
    lines += [f"  {form:<18} {what}" for form, what in SPEC_LINES]
    lines.append("")
    lines.append("Families (T0 = input of the first block, T1..TL = block outputs, as transformers' output_hidden_states):")
    for info in FAMILIES:
        lines.append(f"  {info.family} ({info.model_class}, T layers at {info.frame_rate_hz:g} Hz)")
        lines.append(f"    C layers:    {info.c_layers}")
        lines.append(f"    T0:          {info.t0}")
        lines.append(f"    T1..TL:      {info.t_layers}")
        lines.append(f"    checkpoints: {info.checkpoints}")
        tiny = ", ".join(f"tiny:{name}" for name in info.tiny) or "none (no tiny: model; checkpoints in its published layout load)"
        lines.append(f"    tiny:        {tiny}")
    return lines


__all__ = ["FamilyInfo", "FAMILIES", "SPEC_LINES", "family_info", "catalog_lines"]
