"""The two kinds of transformers speech encoder: conv front end on the waveform, and Whisper's encoder.

:class:`ConvEncoderAdapter` (wav2vec 2.0, HuBERT, WavLM, data2vec-audio) and
:class:`WhisperEncoderAdapter` hold everything that differs between the families: the modules of the
C layers and the transformer blocks, frame rates and lengths, how waveforms become the module's
inputs (the feature extractor's normalisation or log-mel), and the conv feature encoder that
fine-tuning freezes.  :meth:`HFAdapter.from_module` picks the class.  Split out of
:mod:`layerprobe.models.hf`, which re-exports both.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from layerprobe.errors import AudioError, ConfigError
from layerprobe.layers import CONTEXTUALIZED
from layerprobe.models.hf_adapter import HFAdapter
from layerprobe.models.hf_loading import (
    SQUEEZED_FAMILIES,
    STANDARD_CONV_KERNEL,
    STANDARD_CONV_STRIDE,
    STANDARD_LOCAL_POOLING,
    conv_output_length,
)

#: Families that cannot batch exactly with a padding mask whatever their conv encoder's norm: data2vec-audio
#: (stacked positional convolutions, each with a layer norm, carry the padding into the last real frames),
#: wav2vec2-conformer (the conformer block's depthwise convolution sees the padded frames, which earlier
#: sub-layers made non-zero), SEW and SEW-D (an odd number of conv frames pools one real frame with padding
#: into a frame the pooled mask counts as real).
_UNBATCHED_FAMILIES = ("data2vec-audio", "wav2vec2-conformer", "sew", "sew-d")


class ConvEncoderAdapter(HFAdapter):
    """A conv feature encoder on the waveform: wav2vec 2.0, HuBERT, WavLM, data2vec-audio, UniSpeech,
    UniSpeech-SAT, wav2vec2-conformer, SEW and SEW-D.

    ``supports_batching`` is True when the conv encoder uses layer norm and the feature extractor
    returns an attention mask, and the family is not one of ``_UNBATCHED_FAMILIES`` (data2vec-audio,
    wav2vec2-conformer, SEW, SEW-D: see there why a padded batch differs from per-utterance runs).
    Group-norm encoders (wav2vec 2.0 / HuBERT / WavLM base) normalise over time and must see unpadded audio.

    SEW and SEW-D average-pool the conv frames by ``squeeze_factor`` (2: 25 Hz) before the transformer
    and upsample only the final output: their T layers run at ``50 / squeeze_factor`` Hz, ``n`` samples
    giving ``conv_frames(n) // squeeze_factor`` frames.
    """

    def _conv_modules(self) -> list[nn.Module]:
        return list(self.module.feature_extractor.conv_layers)

    def _conv_frame_rates(self) -> list[float]:
        rates, rate = [], float(self.sample_rate)
        for stride in self.module.config.conv_stride:
            rate /= stride
            rates.append(rate)
        return rates

    def _conv_lengths(self, n_samples: int) -> list[int]:
        config = self.module.config
        return [
            conv_output_length(n_samples, config.conv_kernel[: i + 1], config.conv_stride[: i + 1])
            for i in range(len(config.conv_kernel))
        ]

    def _squeeze(self) -> int:
        return int(self.module.config.squeeze_factor) if self.family in SQUEEZED_FAMILIES else 1

    def _transformer_frame_rate(self) -> float:
        return self._conv_frame_rates()[-1] / self._squeeze()

    def _can_batch(self) -> bool:
        layer_norm = getattr(self.module.config, "feat_extract_norm", "layer") == "layer"
        masks = bool(getattr(self.feature_extractor, "return_attention_mask", False))
        return layer_norm and masks and self.family not in _UNBATCHED_FAMILIES

    def local_pooling(self, layer_id: str) -> tuple[int, int] | None:
        """C1..C6 -> 79/32 .. 2/1 and C7 -> None for the standard 7-block stack; None otherwise.

        The published pooling is defined for kernels (10,3,3,3,3,2,2) and strides (5,2,2,2,2,2,2)
        only; for other stacks every C layer is kept at its native rate (None).  T layers: None.
        """
        layer = self._known_layer(layer_id)
        config = self.module.config
        standard = tuple(config.conv_kernel) == STANDARD_CONV_KERNEL and tuple(config.conv_stride) == STANDARD_CONV_STRIDE
        if layer[0] == CONTEXTUALIZED or not standard:
            return None
        return STANDARD_LOCAL_POOLING[layer]

    def n_frames(self, n_samples: int) -> int:
        """transformers' ``_get_feat_extract_output_lengths`` (without the adapter layers); SEW and SEW-D:
        that ``// squeeze_factor`` (the pooled frames)."""
        config = self.module.config
        return conv_output_length(n_samples, config.conv_kernel, config.conv_stride) // self._squeeze()

    def attention_modules(self) -> dict[str, nn.Module]:
        """The blocks' self-attention: ``attention`` (``self_attn`` in the conformer, ``attention.self``,
        DeBERTa's ``DisentangledSelfAttention``, in SEW-D)."""
        blocks = self.transformer_blocks().items()
        if self.family == "wav2vec2-conformer":
            return {block: layer.self_attn for block, layer in blocks}
        if self.family == "sew-d":
            return {block: layer.attention.self for block, layer in blocks}
        return {block: layer.attention for block, layer in blocks}

    def _block_modules(self) -> Sequence[nn.Module]:
        if self.family == "sew-d":
            return self.module.encoder.encoder.layer
        return self.module.encoder.layers

    def feature_encoder_modules(self) -> list[nn.Module]:
        return [self.module.feature_extractor]

    def freeze_feature_encoder(self, frozen: bool = True) -> None:
        super().freeze_feature_encoder(frozen)
        extractor = self.module.feature_extractor
        if hasattr(extractor, "_requires_grad"):
            extractor._requires_grad = not frozen  # transformers' freeze_feature_encoder flag

    @property
    def feature_encoder_frozen(self) -> bool:
        flag = getattr(self.module.feature_extractor, "_requires_grad", None)
        return super().feature_encoder_frozen if flag is None else not flag

    def batch_inputs(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        extractor = self.feature_extractor
        device = waveforms.device
        positions = torch.arange(waveforms.shape[1], device=device)
        mask = positions[None, :] < lengths.to(device)[:, None]
        values = waveforms.to(torch.float32)
        if getattr(extractor, "do_normalize", False):
            values = _normalise_per_row(values, mask)
        inputs = {"input_values": values}
        if getattr(extractor, "return_attention_mask", False):
            inputs["attention_mask"] = mask.to(torch.long)
        return inputs

    def _run_front_end(self, inputs: Mapping[str, torch.Tensor]) -> None:
        self.module.feature_extractor(inputs["input_values"])

    def _model_inputs(self, waves: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        if len(waves) == 1:
            # One utterance needs no mask: the model sees exactly its samples.
            features = self.feature_extractor(waves[0], sampling_rate=self.sample_rate, return_tensors="pt")
            return {"input_values": features["input_values"]}
        features = self.feature_extractor(
            list(waves), sampling_rate=self.sample_rate, padding="longest", return_attention_mask=True, return_tensors="pt"
        )
        return {"input_values": features["input_values"], "attention_mask": features["attention_mask"]}

    def _differentiable_inputs(self, waveforms: torch.Tensor) -> dict[str, torch.Tensor]:
        # Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm: population variance, + 1e-7.
        if not getattr(self.feature_extractor, "do_normalize", False):
            return {"input_values": waveforms}
        mean = waveforms.mean(dim=1, keepdim=True)
        variance = waveforms.var(dim=1, unbiased=False, keepdim=True)
        return {"input_values": (waveforms - mean) / torch.sqrt(variance + 1e-7)}


class WhisperEncoderAdapter(HFAdapter):
    """The Whisper encoder: log-mel features padded to 30 s, two convolutions, L blocks.

    ``n_frames(n) = ceil((n // hop_length) / 2)`` (see the module docstring); outputs are cut to it.
    Batches need no mask: every item is padded to the same 30 s, alone or in a batch.
    """

    def __init__(self, module: nn.Module, **kwargs: Any):
        extractor = kwargs["feature_extractor"]
        self.hop_length = int(extractor.hop_length)
        self.max_seconds = extractor.n_samples / extractor.sampling_rate
        expected = module.config.max_source_positions * module.conv1.stride[0] * module.conv2.stride[0]
        if expected != extractor.nb_max_frames:
            raise ConfigError(
                f"{kwargs['spec']}: the encoder takes {expected} mel frames but the feature extractor "
                f"pads to {extractor.nb_max_frames}"
            )
        super().__init__(module, **kwargs)

    def _conv_modules(self) -> list[nn.Module]:
        return [self.module.conv1, self.module.conv2]

    def _conv_output(self, index: int, output: torch.Tensor) -> torch.Tensor:
        # The encoder applies the GELU functionally after each convolution.
        return nn.functional.gelu(output)

    def _conv_frame_rates(self) -> list[float]:
        mel_rate = self.sample_rate / self.hop_length
        return [mel_rate / self.module.conv1.stride[0], mel_rate / self.module.conv1.stride[0] / self.module.conv2.stride[0]]

    def _conv_lengths(self, n_samples: int) -> list[int]:
        lengths, length = [], n_samples // self.hop_length
        for conv in self._conv_modules():
            kernel, stride, padding = conv.kernel_size[0], conv.stride[0], conv.padding[0]
            length = (length + 2 * padding - kernel) // stride + 1 if length > 0 else 0
            lengths.append(length)
        return lengths

    def _transformer_frame_rate(self) -> float:
        return self._conv_frame_rates()[-1]

    def _can_batch(self) -> bool:
        return True

    def local_pooling(self, layer_id: str) -> tuple[int, int] | None:
        """None for every layer: C1 is already on the 10 ms grid, C2 and T layers at 50 Hz."""
        self._known_layer(layer_id)
        return None

    def n_frames(self, n_samples: int) -> int:
        """``ceil((n_samples // hop_length) / 2)``: conv2's frames of the real audio's mel frames."""
        return self._conv_lengths(n_samples)[-1]

    def attention_modules(self) -> dict[str, nn.Module]:
        return {block: layer.self_attn for block, layer in self.transformer_blocks().items()}

    def _block_modules(self) -> Sequence[nn.Module]:
        return self.module.layers

    def feature_encoder_modules(self) -> list[nn.Module]:
        return [self.module.conv1, self.module.conv2]

    def batch_inputs(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        counts = [int(n) for n in lengths.tolist()]
        longest = max(counts)
        if self.max_seconds is not None and longest > round(self.max_seconds * self.sample_rate):
            raise AudioError(f"{self.spec}: an utterance of {longest / self.sample_rate:.2f} s is "
                             f"longer than the model's {self.max_seconds:g} s input window")  # fmt: skip
        rows = waveforms.detach().to("cpu", torch.float32).numpy()
        waves = [rows[i, :n] for i, n in enumerate(counts)]
        return {name: tensor.to(waveforms.device) for name, tensor in self._model_inputs(waves).items()}

    def _run_front_end(self, inputs: Mapping[str, torch.Tensor]) -> None:
        self.module.conv2(nn.functional.gelu(self.module.conv1(inputs["input_features"])))

    def _model_inputs(self, waves: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        features = self.feature_extractor(list(waves), sampling_rate=self.sample_rate, return_tensors="pt")
        return {"input_features": features["input_features"].to(torch.float32)}

    def _differentiable_inputs(self, waveforms: torch.Tensor) -> dict[str, torch.Tensor]:
        # WhisperFeatureExtractor._torch_extract_fbank_features on the waveforms padded to 30 s; the
        # power is re**2 + im**2, not abs()**2 (|z| has no derivative at z = 0: the silent padding).
        extractor = self.feature_extractor
        padded = nn.functional.pad(waveforms, (0, int(extractor.n_samples) - waveforms.shape[1]))
        window = torch.hann_window(extractor.n_fft, device=waveforms.device)
        spectrum = torch.stft(padded, extractor.n_fft, extractor.hop_length, window=window, return_complex=True)
        power = torch.view_as_real(spectrum[..., :-1]).pow(2).sum(dim=-1)
        filters = torch.as_tensor(extractor.mel_filters, dtype=torch.float32, device=waveforms.device)
        log_spec = torch.clamp(filters.T @ power, min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        return {"input_features": (log_spec + 4.0) / 4.0}


class LogMelConformerAdapter(HFAdapter):
    """w2v-BERT 2.0 (``Wav2Vec2BertModel``): Kaldi-style log-mel frames, no conv feature encoder.

    Layers: no C layers (the model has no conv encoder; its input is the feature extractor's 80 log-mel
    bins of 25 ms windows every 10 ms, normalised per bin over the utterance, two frames stacked into
    160 dims at 50 Hz).  ``T0`` is the feature projection's output (layer norm + linear of the stacked
    frames), the input of the first conformer block; ``T1``..``TL`` are the conformer blocks
    (transformers' ``output_hidden_states``).  ``n`` samples give ``M = 1 + (n - 400) // 160`` mel
    frames and ``M // 2`` model frames (an odd last mel frame is stacked with padding and masked).
    Frame ``j`` starts at ``j * 20 ms``, as in the wav2vec 2.0 family.

    Batches are exact: the feature extractor pads and masks, the encoder zeroes padded frames, and
    the conformer convolution is causal (padded on the left), so right padding never reaches a real frame.
    """

    mel_window: int = 400
    mel_hop: int = 160

    def _conv_modules(self) -> list[nn.Module]:
        return []

    def _conv_frame_rates(self) -> list[float]:
        return []

    def _conv_lengths(self, n_samples: int) -> list[int]:
        return []

    def _transformer_frame_rate(self) -> float:
        return self.sample_rate / self.mel_hop / int(self.feature_extractor.stride)

    def _can_batch(self) -> bool:
        return True

    def _mel_frames(self, n_samples: int) -> int:
        return 1 + (n_samples - self.mel_window) // self.mel_hop if n_samples >= self.mel_window else 0

    def local_pooling(self, layer_id: str) -> tuple[int, int] | None:
        """None: the model has T layers only."""
        self._known_layer(layer_id)
        return None

    def n_frames(self, n_samples: int) -> int:
        """``(1 + (n - 400) // 160) // 2``: the stacked log-mel frames of the real audio."""
        return self._mel_frames(n_samples) // int(self.feature_extractor.stride)

    def attention_modules(self) -> dict[str, nn.Module]:
        return {block: layer.self_attn for block, layer in self.transformer_blocks().items()}

    def _block_modules(self) -> Sequence[nn.Module]:
        return self.module.encoder.layers

    def feature_encoder_modules(self) -> list[nn.Module]:
        """None: there is no conv feature encoder (the feature projection is trained with the blocks)."""
        return []

    def batch_inputs(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        counts = [int(n) for n in lengths.tolist()]
        rows = waveforms.detach().to("cpu", torch.float32).numpy()
        waves = [rows[i, :n] for i, n in enumerate(counts)]
        return {name: tensor.to(waveforms.device) for name, tensor in self._model_inputs(waves).items()}

    def _run_front_end(self, inputs: Mapping[str, torch.Tensor]) -> None:
        return None  # no C layers

    def _model_inputs(self, waves: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        features = self.feature_extractor(
            list(waves), sampling_rate=self.sample_rate, padding="longest", return_attention_mask=True, return_tensors="pt"
        )
        return {"input_features": features["input_features"].to(torch.float32), "attention_mask": features["attention_mask"]}

    def _differentiable_inputs(self, waveforms: torch.Tensor) -> dict[str, torch.Tensor]:
        # SeamlessM4TFeatureExtractor with torch ops: samples * 2**15, 400-sample frames every 160, each
        # frame's mean removed, pre-emphasis 0.97, Povey window, |rfft(512)|^2 (as re^2 + im^2), Kaldi mel
        # filters, log of max(mel, 1.1920929e-07), zero mean / unit variance (ddof 1) + 1e-7 per bin over the
        # utterance, frames stacked in pairs (an odd last frame dropped: the extractor pads and masks it).
        extractor = self.feature_extractor
        frames = (waveforms * 2**15).unfold(1, self.mel_window, self.mel_hop)
        frames = frames - frames.mean(dim=-1, keepdim=True)
        frames = torch.cat([frames[..., :1] * (1 - 0.97), frames[..., 1:] - 0.97 * frames[..., :-1]], dim=-1)
        window = torch.as_tensor(extractor.window, dtype=frames.dtype, device=frames.device)
        spectrum = torch.view_as_real(torch.fft.rfft(frames * window, n=512)).pow(2).sum(dim=-1)
        filters = torch.as_tensor(extractor.mel_filters, dtype=frames.dtype, device=frames.device)
        log_mel = torch.clamp(spectrum @ filters, min=1.192092955078125e-07).log()
        mean = log_mel.mean(dim=1, keepdim=True)
        variance = log_mel.var(dim=1, unbiased=True, keepdim=True)
        normalised = (log_mel - mean) / torch.sqrt(variance + 1e-7)
        stride = int(extractor.stride)
        usable = normalised.shape[1] // stride * stride
        stacked = normalised[:, :usable].reshape(normalised.shape[0], usable // stride, -1)
        return {"input_features": stacked}


def _normalise_per_row(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance (population, + 1e-7) over each row's real samples; padding 0.

    The normalisation of transformers' ``Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm``.
    """
    weights = mask.to(values.dtype)
    counts = weights.sum(dim=1, keepdim=True).clamp(min=1)
    mean = (values * weights).sum(dim=1, keepdim=True) / counts
    variance = (((values - mean) * weights) ** 2).sum(dim=1, keepdim=True) / counts
    return ((values - mean) / torch.sqrt(variance + 1e-7)) * weights


__all__ = ["ConvEncoderAdapter", "WhisperEncoderAdapter", "LogMelConformerAdapter"]
