"""Seeded random models with the real architectures: tiny ones for tests, base-size ones as baselines.

Each name is a transformers config plus a feature extractor config:

* tiny (``tiny:NAME``): ``wav2vec2``, ``hubert``, ``wavlm`` (group-norm conv encoders, as the base
  models), ``wav2vec2-large-style`` (layer-norm conv encoder and stable layer norm, as wav2vec 2.0
  large / XLS-R: the path that batches with an attention mask), ``data2vec-audio`` and ``whisper``;
  ``wav2vec2-conformer`` (relative positions) and ``wav2vec2-conformer-rope`` (rotary), both with a
  layer-norm conv encoder as the published conformer checkpoints; ``wav2vec2-bert`` (w2v-BERT 2.0's
  160-d stacked log-mel input, relative_key positions); ``sew`` and ``sew-d`` (squeeze factor 2: T
  layers at 25 Hz; SEW-D with 16 relative position buckets); ``unispeech`` and
  ``unispeech-sat`` (group-norm conv encoders, as their base models; their bare encoders have the same
  modules, so under one seed they get the same weights: the published checkpoints differ in pre-training).
  They keep the full 7-block conv stack (kernels 10,3,3,3,3,2,2; strides 5,2,2,2,2,2,2) with 16
  channels, 2-3 transformer blocks of width 32 with 4 heads; Whisper: d_model 32, 80 mels, 2 encoder
  blocks (and a 1-block decoder, so the directory has the layout of a real Whisper checkpoint).
  Their linear layers are initialised with std 0.2 (transformers uses 0.02), which gives peaked,
  head-specific attention maps instead of near-uniform ones.  The saved configs keep transformers'
  default layer drop (0.1) so that loading is seen to switch it off.
* base-size (``tiny:FAMILY-base``): transformers' base configurations (12 blocks, 768-d, conv
  width 512; Whisper base: 6 blocks, 512-d), randomly initialised: the random-weights baseline of the
  layer-wise papers, and the size benchmarks measure.

A model is built under ``torch.manual_seed(seed)`` (the global RNG state is restored afterwards),
saved with ``save_pretrained`` together with its ``preprocessor_config.json`` into
``$LAYERPROBE_CACHE/tiny/<name>-seed<seed>-<hash>`` (``~/.cache/layerprobe`` when the variable is
unset; written to a temporary directory and renamed into place), and loaded back with
``from_pretrained``: the real loading path.  The hash covers the recipe, the seed and the torch and
transformers versions, so a cached model is rebuilt when any of them changes.  The same seed gives
the same weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from layerprobe.errors import ConfigError

#: Bump when a recipe changes in a way the config does not show.
TINY_FORMAT_VERSION = 1

#: Environment variable naming the cache root (``tiny/`` lives under it).
CACHE_ENV = "LAYERPROBE_CACHE"

#: The largest seed a tiny spec takes (``tiny:NAME@SEED``), that of a 32-bit seed.
MAX_SEED = 2**32 - 1

_TINY_CONV = {"conv_dim": (16,) * 7, "conv_kernel": (10, 3, 3, 3, 3, 2, 2), "conv_stride": (5, 2, 2, 2, 2, 2, 2)}
# A wider initialisation than transformers' 0.02 gives the tiny models peaked, head-specific
# attention maps (logits spread over a few units), so attention tests compare non-trivial maps.
_TINY_INIT = 0.2
_TINY_TRANSFORMER = {
    "hidden_size": 32,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "vocab_size": 32,
    "initializer_range": _TINY_INIT,
}
_TINY_POS_CONV = {"num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4}


@dataclass(frozen=True)
class TinyRecipe:
    """How to build one named random model.

    Attributes
    ----------
    name : str
        ``"wav2vec2"``, ``"wav2vec2-base"`` ...
    family : str
        The layerprobe family (``"wav2vec2"`` for ``"wav2vec2-large-style"``).
    make_config : callable
        Returns the transformers config.
    feature_settings : dict
        The ``preprocessor_config.json`` content.
    """

    name: str
    family: str
    make_config: Callable[[], Any]
    feature_settings: dict[str, Any]


def _waveform_settings(*, normalize: bool) -> dict[str, Any]:
    return {
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1,
        "sampling_rate": 16000,
        "padding_value": 0.0,
        "do_normalize": normalize,
        "return_attention_mask": normalize,
    }


def _whisper_settings() -> dict[str, Any]:
    return {"feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 80}


def _wav2vec2_tiny() -> Any:
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(num_hidden_layers=3, **_TINY_CONV, **_TINY_TRANSFORMER, **_TINY_POS_CONV)


def _wav2vec2_large_style() -> Any:
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        num_hidden_layers=2,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        conv_bias=True,
        **_TINY_CONV,
        **_TINY_TRANSFORMER,
        **_TINY_POS_CONV,
    )


def _hubert_tiny() -> Any:
    from transformers import HubertConfig

    return HubertConfig(num_hidden_layers=2, **_TINY_CONV, **_TINY_TRANSFORMER, **_TINY_POS_CONV)


def _wavlm_tiny() -> Any:
    from transformers import WavLMConfig

    return WavLMConfig(
        num_hidden_layers=2, num_buckets=32, max_bucket_distance=100, **_TINY_CONV, **_TINY_TRANSFORMER, **_TINY_POS_CONV
    )


def _data2vec_tiny() -> Any:
    from transformers import Data2VecAudioConfig

    return Data2VecAudioConfig(
        num_hidden_layers=2,
        num_conv_pos_embeddings=2,
        conv_pos_kernel_size=5,
        num_conv_pos_embedding_groups=4,
        **_TINY_CONV,
        **_TINY_TRANSFORMER,
    )


def _whisper_tiny() -> Any:
    from transformers import WhisperConfig

    return WhisperConfig(
        d_model=32,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_layers=1,
        decoder_attention_heads=4,
        decoder_ffn_dim=64,
        num_mel_bins=80,
        vocab_size=64,
        max_source_positions=1500,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
        begin_suppress_tokens=None,
        suppress_tokens=None,
        encoder_layerdrop=0.1,
        init_std=_TINY_INIT,
    )


def _conformer_tiny(positions: str) -> Callable[[], Any]:
    def make() -> Any:
        from transformers import Wav2Vec2ConformerConfig

        # As the published conformer checkpoints (wav2vec2-conformer-{rel-pos,rope}-large): layer-norm conv
        # encoder on normalised audio; a depthwise kernel of 7 instead of 31 for 32-d blocks.
        return Wav2Vec2ConformerConfig(
            num_hidden_layers=2,
            feat_extract_norm="layer",
            conv_bias=True,
            position_embeddings_type=positions,
            conv_depthwise_kernel_size=7,
            **_TINY_CONV,
            **_TINY_TRANSFORMER,
            **_TINY_POS_CONV,
        )

    return make


def _w2v_bert_tiny() -> Any:
    from transformers import Wav2Vec2BertConfig

    # w2v-BERT 2.0's layout (160-d stacked log-mel input, relative_key positions 64 left / 8 right), 32-d blocks.
    return Wav2Vec2BertConfig(
        num_hidden_layers=2, feature_projection_input_dim=160, conv_depthwise_kernel_size=7, **_TINY_TRANSFORMER
    )


def _w2v_bert_settings() -> dict[str, Any]:
    return {
        "feature_extractor_type": "SeamlessM4TFeatureExtractor",
        "feature_size": 80,
        "num_mel_bins": 80,
        "sampling_rate": 16000,
        "padding_value": 1.0,
        "stride": 2,
    }


def _sew_tiny() -> Any:
    from transformers import SEWConfig

    # The standard 7-block conv stack (published SEW checkpoints have 13 blocks), squeeze factor 2: T layers at 25 Hz.
    return SEWConfig(num_hidden_layers=2, squeeze_factor=2, **_TINY_CONV, **_TINY_TRANSFORMER, **_TINY_POS_CONV)


def _sew_d_tiny() -> Any:
    from transformers import SEWDConfig

    # DeBERTa attention with 16 relative position buckets (256 in sew-d-tiny); no conv layer after block 1,
    # as in the published SEW-D configs (transformers 5.25 cannot build one: SEWDConfig lacks hidden_dropout_prob).
    return SEWDConfig(
        num_hidden_layers=2,
        squeeze_factor=2,
        position_buckets=16,
        max_position_embeddings=64,
        **_TINY_CONV,
        **_TINY_TRANSFORMER,
        **_TINY_POS_CONV,
    )


def _unispeech_tiny(config_name: str) -> Callable[[], Any]:
    def make() -> Any:
        import transformers

        return getattr(transformers, config_name)(
            num_hidden_layers=2, **_TINY_CONV, **_TINY_TRANSFORMER, **_TINY_POS_CONV
        )

    return make


def _base(config_name: str) -> Callable[[], Any]:
    def make() -> Any:
        import transformers

        return getattr(transformers, config_name)()

    return make


def _whisper_base() -> Any:
    from transformers import WhisperConfig

    return WhisperConfig(
        d_model=512,
        encoder_layers=6,
        encoder_attention_heads=8,
        encoder_ffn_dim=2048,
        decoder_layers=6,
        decoder_attention_heads=8,
        decoder_ffn_dim=2048,
        num_mel_bins=80,
        vocab_size=51865,
        max_source_positions=1500,
        max_target_positions=448,
        begin_suppress_tokens=None,
        suppress_tokens=None,
    )


_RECIPES: dict[str, TinyRecipe] = {
    recipe.name: recipe
    for recipe in (
        TinyRecipe("wav2vec2", "wav2vec2", _wav2vec2_tiny, _waveform_settings(normalize=False)),
        TinyRecipe("wav2vec2-large-style", "wav2vec2", _wav2vec2_large_style, _waveform_settings(normalize=True)),
        TinyRecipe("hubert", "hubert", _hubert_tiny, _waveform_settings(normalize=False)),
        TinyRecipe("wavlm", "wavlm", _wavlm_tiny, _waveform_settings(normalize=False)),
        TinyRecipe("data2vec-audio", "data2vec-audio", _data2vec_tiny, _waveform_settings(normalize=True)),
        TinyRecipe("whisper", "whisper", _whisper_tiny, _whisper_settings()),
        TinyRecipe("wav2vec2-conformer", "wav2vec2-conformer", _conformer_tiny("relative"), _waveform_settings(normalize=True)),
        TinyRecipe("wav2vec2-conformer-rope", "wav2vec2-conformer", _conformer_tiny("rotary"), _waveform_settings(normalize=True)),
        TinyRecipe("wav2vec2-bert", "wav2vec2-bert", _w2v_bert_tiny, _w2v_bert_settings()),
        TinyRecipe("sew", "sew", _sew_tiny, _waveform_settings(normalize=False)),
        TinyRecipe("sew-d", "sew-d", _sew_d_tiny, _waveform_settings(normalize=False)),
        TinyRecipe("unispeech", "unispeech", _unispeech_tiny("UniSpeechConfig"), _waveform_settings(normalize=False)),
        TinyRecipe("unispeech-sat", "unispeech-sat", _unispeech_tiny("UniSpeechSatConfig"), _waveform_settings(normalize=False)),
        TinyRecipe("wav2vec2-base", "wav2vec2", _base("Wav2Vec2Config"), _waveform_settings(normalize=False)),
        TinyRecipe("hubert-base", "hubert", _base("HubertConfig"), _waveform_settings(normalize=False)),
        TinyRecipe("wavlm-base", "wavlm", _base("WavLMConfig"), _waveform_settings(normalize=False)),
        TinyRecipe("data2vec-audio-base", "data2vec-audio", _base("Data2VecAudioConfig"), _waveform_settings(normalize=True)),
        TinyRecipe("whisper-base", "whisper", _whisper_base, _whisper_settings()),
    )
}

#: Every name ``tiny:NAME`` takes.
TINY_MODEL_NAMES: tuple[str, ...] = tuple(_RECIPES)


def tiny_recipe(name: str) -> TinyRecipe:
    """The recipe of a tiny / base-size random model.

    Raises
    ------
    ConfigError
        For an unknown name (the message lists the known ones).
    """
    try:
        return _RECIPES[name]
    except KeyError:
        raise ConfigError(f"unknown tiny model {name!r} (known: {', '.join(TINY_MODEL_NAMES)})") from None


def cache_root() -> Path:
    """``$LAYERPROBE_CACHE``, or ``~/.cache/layerprobe``."""
    explicit = os.environ.get(CACHE_ENV)
    return Path(explicit).expanduser() if explicit else Path.home() / ".cache" / "layerprobe"


def recipe_hash(recipe: TinyRecipe, seed: int) -> str:
    """12 hex digits identifying what a build produces: recipe, seed, library versions."""
    import transformers

    config = recipe.make_config().to_dict()
    config.pop("transformers_version", None)
    payload = {
        "format": TINY_FORMAT_VERSION,
        "name": recipe.name,
        "seed": seed,
        "config": config,
        "feature_settings": recipe.feature_settings,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def tiny_model_dir(name: str, *, seed: int = 0, root: str | os.PathLike[str] | None = None) -> Path:
    """Where the model ``name`` built with ``seed`` is cached (whether or not it exists yet)."""
    recipe = tiny_recipe(name)
    base = Path(root) if root is not None else cache_root()
    return base / "tiny" / f"{name}-seed{seed}-{recipe_hash(recipe, seed)}"


def build_tiny_model(name: str, *, seed: int = 0, root: str | os.PathLike[str] | None = None) -> Path:
    """Build, save and return the directory of a seeded random model (reused when cached).

    Parameters
    ----------
    name : str
        One of :data:`TINY_MODEL_NAMES`.
    seed : int
        Seed of ``torch.manual_seed`` for the weights.
    root : path-like, optional
        Cache root (``$LAYERPROBE_CACHE`` or ``~/.cache/layerprobe`` by default).

    Returns
    -------
    pathlib.Path
        A directory with ``config.json``, ``model.safetensors``, ``preprocessor_config.json``.
    """
    recipe = tiny_recipe(name)
    target = tiny_model_dir(name, seed=seed, root=root)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _save_model(recipe, seed, staging)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # not a concurrent build that finished first
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _save_model(recipe: TinyRecipe, seed: int, directory: Path) -> None:
    """Initialise the model under ``seed`` and write it, its feature extractor and a recipe note."""
    from layerprobe.models.hf import make_feature_extractor, model_classes, quiet_progress_bars

    model_class = model_classes()[recipe.family]
    config = recipe.make_config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    with quiet_progress_bars():
        model.save_pretrained(directory)
    make_feature_extractor(recipe.family, recipe.feature_settings).save_pretrained(directory)
    note = {"name": recipe.name, "family": recipe.family, "seed": seed, "format": TINY_FORMAT_VERSION}
    (directory / "layerprobe_tiny.json").write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")


def parse_tiny_name(text: str) -> tuple[str, int]:
    """``"wav2vec2"`` -> (``"wav2vec2"``, 0); ``"wav2vec2-base@3"`` -> (``"wav2vec2-base"``, 3).

    Raises
    ------
    ConfigError
        For an unknown name or a seed that is not a non-negative integer.
    """
    name, sep, seed_text = text.strip().partition("@")
    seed = 0
    if sep:
        # ASCII digits only: '²'.isdigit() is True but int('²') fails; torch.manual_seed takes < 2**64
        if not (seed_text.isascii() and seed_text.isdigit()) or len(seed_text) > 10 or int(seed_text) > MAX_SEED:
            raise ConfigError(f"tiny:{text}: the seed after '@' must be an integer from 0 to {MAX_SEED}")
        seed = int(seed_text)
    tiny_recipe(name)
    return name, seed


def load_tiny_model(
    name: str,
    *,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    spec: str | None = None,
):
    """Build (if needed) and load a seeded random model through ``from_pretrained``.

    Returns
    -------
    layerprobe.models.hf.HFAdapter
        With ``spec`` ``"tiny:<name>"`` (plus ``@seed`` for a seed other than 0).
    """
    from layerprobe.models.hf import HFAdapter

    directory = build_tiny_model(name, seed=seed, root=root)
    spec = spec or (f"tiny:{name}" if seed == 0 else f"tiny:{name}@{seed}")
    return HFAdapter.from_pretrained(directory, spec=spec, device=device, local_files_only=True)


__all__ = [
    "TINY_FORMAT_VERSION",
    "CACHE_ENV",
    "MAX_SEED",
    "TINY_MODEL_NAMES",
    "TinyRecipe",
    "tiny_recipe",
    "cache_root",
    "recipe_hash",
    "tiny_model_dir",
    "build_tiny_model",
    "parse_tiny_name",
    "load_tiny_model",
]
