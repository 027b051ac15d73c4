"""Model specs -> adapters: ``hf:ID_OR_DIR``, ``tiny:NAME[@SEED]``, ``fairseq:CHECKPOINT.pt``.

* ``hf:ID_OR_DIR``: a transformers model directory (``config.json`` + weights, optionally
  ``preprocessor_config.json``) or a hub id found in the local Hugging Face cache
  (:meth:`layerprobe.models.hf.HFAdapter.from_pretrained`).
* ``tiny:NAME``: a seeded random model (:mod:`layerprobe.models.tiny`): ``wav2vec2``, ``hubert``,
  ``wavlm``, ``data2vec-audio``, ``whisper``, ``wav2vec2-large-style``, ``wav2vec2-conformer``,
  ``wav2vec2-conformer-rope``, ``wav2vec2-bert``, ``sew``, ``sew-d``, ``unispeech``, ``unispeech-sat``,
  or ``FAMILY-base`` for the base-size random baseline; ``@SEED`` picks another seed (0 by default).
* ``fairseq:CHECKPOINT.pt``: a fairseq checkpoint, converted into a transformers module by
  ``layerprobe.models.fairseq.load_fairseq_checkpoint`` and wrapped like an ``hf:`` model.
* ``avhubert:CHECKPOINT.pt``: an AV-HuBERT pre-training checkpoint, audio only (:mod:`.avhubert`;
  layers T0..TL at 25 Hz).
* ``fastvgs:FOLDER``: a FaST-VGS / FaST-VGS+ folder with ``args.pkl`` and ``best_bundle.pth``
  (:mod:`.fastvgs`; layers T0..TL at 50 Hz).

Heavy imports (torch, transformers) happen only when a model is loaded.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from layerprobe.errors import ConfigError, DependencyError

if TYPE_CHECKING:
    from layerprobe.models.base import ModelAdapter

#: The spec forms, for error messages and help texts.
SPEC_FORMS = (
    "hf:ID_OR_DIR (a transformers model directory or a cached hub id), "
    "tiny:FAMILY or tiny:FAMILY-base (FAMILY: wav2vec2, hubert, wavlm, data2vec-audio, whisper; "
    "tiny only: wav2vec2-large-style, wav2vec2-conformer, wav2vec2-conformer-rope, wav2vec2-bert, sew, sew-d, "
    "unispeech, unispeech-sat), fairseq:CHECKPOINT.pt, avhubert:CHECKPOINT.pt, fastvgs:FOLDER (layerprobe models lists them)"
)

SCHEMES = ("hf", "tiny", "fairseq", "avhubert", "fastvgs")


def load_model(spec: str, *, revision: str | None = None, device: str = "cpu") -> "ModelAdapter":
    """Load the model a spec names.

    Parameters
    ----------
    spec : str
        ``"hf:facebook/wav2vec2-base"``, ``"hf:/models/whisper-base"``, ``"tiny:wavlm"``,
        ``"tiny:wav2vec2-base@1"``, ``"fairseq:/ckpt/hubert_base_ls960.pt"``.
    revision : str, optional
        Hub revision for ``hf:`` hub ids.
    device : str
        ``"cpu"`` or ``"cuda[:N]"``.

    Returns
    -------
    ModelAdapter

    Raises
    ------
    ConfigError
        For an unknown scheme or tiny name, a missing directory, an unsupported architecture,
        a revision given for a spec that has none, or a device this machine lacks.
    DependencyError
        For ``fairseq:`` when the fairseq checkpoint reader is not installed.
    """
    scheme, target = _split_spec(spec)
    from layerprobe.models.hf import resolve_device

    resolved = resolve_device(device)
    if scheme == "hf":
        from layerprobe.models.hf import HFAdapter

        return HFAdapter.from_pretrained(target, spec=spec, revision=revision, device=resolved)
    if revision is not None:
        raise ConfigError(f"--revision applies to hf: models only, not to {spec}")
    if scheme == "tiny":
        from layerprobe.models.tiny import load_tiny_model, parse_tiny_name

        name, seed = parse_tiny_name(target)
        return load_tiny_model(name, seed=seed, device=resolved, spec=spec)
    if scheme == "avhubert":
        from layerprobe.models.avhubert import load_avhubert

        return load_avhubert(Path(target).expanduser(), spec=spec, device=resolved)
    if scheme == "fastvgs":
        from layerprobe.models.fastvgs import load_fastvgs

        return load_fastvgs(target, spec=spec, device=resolved)
    return _load_fairseq(target, spec=spec, device=resolved)


def check_spec(spec: str, *, option: str = "--model") -> None:
    """Check a spec without loading the model: the scheme, a ``tiny:`` name and seed, that an
    ``hf:`` path or a ``fairseq:`` checkpoint exists (a hub id cannot be checked without the hub).

    Raises
    ------
    ConfigError
        Naming the option and the spec: ``--model tiny:wav2vec: unknown tiny model (known: ...)``.
    """
    scheme, target = _split_spec(spec)
    if scheme == "tiny":
        from layerprobe.models.tiny import TINY_MODEL_NAMES, parse_tiny_name

        if target.partition("@")[0] not in TINY_MODEL_NAMES:
            raise ConfigError(f"{option} {spec}: unknown tiny model (known: {', '.join(TINY_MODEL_NAMES)})")
        try:
            parse_tiny_name(target)
        except ConfigError as exc:
            raise ConfigError(f"{option} {exc}") from None
    elif scheme in ("fairseq", "avhubert") and not Path(target).expanduser().is_file():
        raise ConfigError(f"{option} {spec}: no such checkpoint file")
    elif scheme == "fastvgs" and not (Path(target).expanduser() / "args.pkl").is_file():
        raise ConfigError(f"{option} {spec}: no such FaST-VGS folder (with args.pkl and best_bundle.pth)")
    elif scheme == "hf":
        from layerprobe.models.hf_loading import _classify_source

        try:
            _classify_source(target)
        except ConfigError as exc:
            raise ConfigError(f"{option} {spec}: {exc.problem}") from None


def _split_spec(spec: str) -> tuple[str, str]:
    """(scheme, target) of a spec.

    Raises
    ------
    ConfigError
        When the spec has no known ``scheme:`` prefix or nothing after it.
    """
    scheme, sep, target = spec.strip().partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise ConfigError(f"model spec {spec!r} is not supported; use one of: {SPEC_FORMS}")
    if not target.strip():
        raise ConfigError(f"model spec {spec!r} names no model after '{scheme}:'; use one of: {SPEC_FORMS}")
    return scheme, target.strip()


def _load_fairseq(path: str, *, spec: str, device) -> "ModelAdapter":
    """Convert a fairseq checkpoint with ``layerprobe.models.fairseq`` and wrap the module."""
    try:
        fairseq_reader = importlib.import_module("layerprobe.models.fairseq")
    except ModuleNotFoundError as exc:
        if exc.name != "layerprobe.models.fairseq":
            raise
        raise DependencyError(
            f"{spec}: reading fairseq checkpoints needs layerprobe.models.fairseq, which this installation lacks"
        ) from None
    from layerprobe.models.hf import HFAdapter

    module, feature_settings = fairseq_reader.load_fairseq_checkpoint(path)
    from layerprobe.models.fingerprint import files_fingerprint

    return HFAdapter.from_module(
        module, spec=spec, feature_settings=feature_settings, source=path, device=device,
        weights_fingerprint=files_fingerprint([path]),
    )  # fmt: skip


__all__ = ["SPEC_FORMS", "SCHEMES", "check_spec", "load_model"]
