"""CTC fine-tuning of a speech encoder, plain, with re-initialised blocks, or with local attention.

The fine-tuning study (REFERENCE.md section 7) tests hypotheses about layers by training: if
re-initialising the top k blocks before CTC fine-tuning costs little, those blocks carried little
task-relevant knowledge; restricting blocks to local attention tests whether their attention
pattern matters.  :func:`finetune` runs such an experiment for several seeds and writes test WER /
CER (greedy, and with an n-gram LM) to a :class:`~layerprobe.results.ResultTable`.

* :class:`CTCFineTuneModel`: the adapter's encoder (``adapter.module``), dropout and a linear CTC
  head over the character vocabulary, on raw 16 kHz waveforms (the CTC model protocol of
  :mod:`layerprobe.training.trainer`).  The conv feature encoder is always frozen (as in wav2vec 2.0
  fine-tuning); the rest of the encoder is frozen for the first ``freeze_epochs`` epochs, so that
  only the head trains at first.
* :func:`reinitialize_blocks`: every parameter of chosen transformer blocks re-initialised with the
  model's own initialisation (``PreTrainedModel._init_weights`` on each submodule), seeded.
* Local attention: :func:`layerprobe.attention.local.apply_local_attention` on chosen blocks for the
  whole run (training and evaluation, padded batches included), removed at the end.

Result rows (``model, corpus, experiment, layer, split, sample, seed, metric, value``; the model's
canonical name, the corpus of the test data):

* ``experiment`` names the variant: ``finetune``, ``finetune_reinit:T10-T12``,
  ``finetune_local:T2-T12@30`` (blocks, ``@`` radius in frames), or both joined by ``+``
  (``finetune_reinit:T12+local:T2-T11@30``);
* ``layer`` is the top block ``TL``, the layer the CTC head reads (the result table takes layer ids
  only, and the whole encoder is trained);
* ``split`` is the test split's name, ``sample`` 0 (whole splits, no data-sample set);
* one row per seed for ``cer`` and ``wer`` (greedy decoding) and, with an LM, ``cer_lm`` and
  ``wer_lm`` (beam search with the LM);
* aggregate rows ``<metric>_mean`` and ``<metric>_std`` (sample standard deviation, 0 for one seed)
  over the seeds, filed under the smallest seed; the sidecar's ``details`` of that run list the seeds.
  A rerun with fewer seeds keeps the rows of the others and averages over all of them
  (:mod:`layerprobe.training.finetune_table`).

Several GPUs or nodes: the same code runs data-parallel under Hugging Face Accelerate or torchrun::

    accelerate launch -m layerprobe finetune --model hf:/models/wav2vec2-base --corpus ... --device cuda
    torchrun --nproc_per_node 4 -m layerprobe finetune ...

Example
-------
>>> from layerprobe.training.data import WaveformCTCData                       # doctest: +SKIP
>>> train, dev, test = (WaveformCTCData("synth", s) for s in ("train", "dev", "test"))  # doctest: +SKIP
>>> result = finetune("tiny:wav2vec2", train, dev, test, reinit="T3", seeds=(0, 1),
...                   config=TrainConfig(epochs=4, peak_lr=2e-3), out_dir="ft")  # doctest: +SKIP
>>> result.test_metrics[0]["cer"]                                               # doctest: +SKIP
"""

from __future__ import annotations

import logging
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from layerprobe import __version__
from layerprobe.errors import ConfigError, LayerprobeError
from layerprobe.io.atomic import write_json
from layerprobe.io.store_paths import model_name, model_path
from layerprobe.layers import CONTEXTUALIZED, layer_index, parse_layers
from layerprobe.training.ctc import BeamSearchDecoder, CharVocabulary
from layerprobe.training.finetune_table import PER_SEED_METRICS, aggregate_seed_rows, earlier_seed_rows
from layerprobe.training.trainer import (
    CTCData,
    TrainConfig,
    TrainResult,
    evaluate_ctc,
    make_accelerator,
    train_ctc,
)

log = logging.getLogger(__name__)

#: Experiment name of plain fine-tuning (variants add ``_reinit:...`` / ``_local:...``).
EXPERIMENT = "finetune"
#: Radius of local attention in frames (the study's +-30 frames, 0.6 s).
DEFAULT_RADIUS = 30
#: Dropout before the CTC head when the model config names none (``final_dropout``).
DEFAULT_HEAD_DROPOUT = 0.1
#: Name of the per-seed summary written next to the checkpoint.
SUMMARY_NAME = "result.json"


# --------------------------------------------------------------------------------------------------
# the model


class CTCFineTuneModel(nn.Module):
    """A speech encoder with a linear CTC head over characters, on raw waveforms.

    Parameters
    ----------
    adapter : layerprobe.models.hf.HFAdapter
        Its ``module`` (``Wav2Vec2Model``, ``HubertModel``, ``WavLMModel``, ``Data2VecAudioModel``,
        ``WhisperEncoder``) becomes :attr:`encoder`, shared, not copied: training changes the
        adapter's weights.
    vocab : CharVocabulary, optional
        The output tokens (default: the 30-token character vocabulary).
    dropout : float, optional
        Dropout on the encoder output before the head (default: the config's ``final_dropout``,
        else 0.1).

    Notes
    -----
    ``forward(waveforms, lengths)`` builds the encoder's inputs with ``adapter.batch_inputs`` (each
    waveform prepared as the adapter's feature extractor prepares it alone: per-utterance
    normalisation over its own samples and an attention mask where the model takes one, or Whisper's
    log-mel of 30 s) and cuts the output to the longest item's real frames.  Output lengths are
    ``adapter.n_frames(n_samples)``.  The conv feature encoder (``adapter.feature_encoder_modules()``)
    is frozen with ``adapter.freeze_feature_encoder()`` and never requires a gradient.
    """

    def __init__(self, adapter: Any, vocab: CharVocabulary | None = None, *, dropout: float | None = None):
        super().__init__()
        module = getattr(adapter, "module", None)
        if not isinstance(module, nn.Module) or not hasattr(adapter, "n_frames"):
            raise ConfigError(f"{type(adapter).__name__} is not a model adapter with a torch module (load one with load_model)")
        self.vocab = vocab or CharVocabulary.default()
        config = module.config
        if dropout is None:
            dropout = getattr(config, "final_dropout", None)
            dropout = DEFAULT_HEAD_DROPOUT if dropout is None else float(dropout)
        self.adapter = adapter
        self.family = adapter.family
        self.encoder = module
        self.dropout = nn.Dropout(dropout)
        hidden = adapter.layer_dim(f"{CONTEXTUALIZED}{adapter.num_layers}")
        self.head = nn.Linear(hidden, len(self.vocab))
        adapter.freeze_feature_encoder()

    # ---- parameter groups ---------------------------------------------------------------------

    def feature_encoder_parameters(self) -> list[nn.Parameter]:
        """The conv feature encoder's parameters (``adapter.feature_encoder_parameters()``): never trained."""
        return self.adapter.feature_encoder_parameters()

    def transformer_parameters(self) -> list[nn.Parameter]:
        """Every encoder parameter but the conv feature encoder's: frozen for the first epochs.

        Includes the feature projection, positional convolution, layer norms, blocks and
        (wav2vec 2.0 family) the mask embedding; excludes parameters that never require a gradient
        (Whisper's fixed sinusoidal positions).
        """
        conv = {id(p) for p in self.feature_encoder_parameters()}
        return [p for p in self.encoder.parameters() if id(p) not in conv and p.requires_grad]

    def head_parameters(self) -> list[nn.Parameter]:
        """The CTC head's weight and bias."""
        return list(self.head.parameters())

    # ---- forward ------------------------------------------------------------------------------

    def encoder_inputs(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """The encoder's keyword inputs for a zero-padded batch of waveforms.

        Parameters
        ----------
        waveforms : torch.Tensor
            (B, S) float, 16 kHz, zero-padded.
        lengths : torch.Tensor
            (B,) real samples per row.

        Returns
        -------
        dict of str to torch.Tensor
            ``input_values`` (B, S) [+ ``attention_mask`` (B, S)], or Whisper's ``input_features``
            (B, n_mels, 3000), on the waveforms' device.
        """
        return self.adapter.batch_inputs(waveforms, lengths)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """(B,) int64 encoder frames of each row's real audio (``adapter.n_frames``)."""
        return torch.tensor([self.adapter.n_frames(int(n)) for n in lengths.tolist()], dtype=torch.long, device=lengths.device)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC log-probabilities of a padded batch.

        Parameters
        ----------
        waveforms : torch.Tensor
            (B, S) float, 16 kHz, zero-padded.
        lengths : torch.Tensor
            (B,) int64 real samples per row.

        Returns
        -------
        log_probs : torch.Tensor
            (B, T, V) float32, log-softmaxed over the vocabulary.
        output_lengths : torch.Tensor
            (B,) int64 valid frames per row.
        """
        inputs = self.encoder_inputs(waveforms, lengths)
        hidden = self.encoder(**inputs).last_hidden_state
        output_lengths = self.output_lengths(lengths)
        longest = int(output_lengths.max()) if output_lengths.numel() else 0
        if hidden.shape[1] < longest:
            raise RuntimeError(f"the encoder gave {hidden.shape[1]} frames, expected at least {longest}")
        hidden = hidden[:, : max(longest, 1)]
        logits = self.head(self.dropout(hidden))
        return torch.log_softmax(logits.float(), dim=-1), output_lengths.to(logits.device)


# --------------------------------------------------------------------------------------------------
# blocks: which, and re-initialisation


def transformer_blocks(adapter: Any) -> dict[str, nn.Module]:
    """Block id (``T1``..``TL``) -> the transformer block module of an adapter's encoder.

    ``adapter.transformer_blocks()`` (kept here for the callers of this module).
    """
    return adapter.transformer_blocks()


def parse_blocks(adapter: Any, blocks: str | Sequence[str]) -> list[str]:
    """Transformer block ids of a layer spec (``"T10-T12"``, ``"T2,T4"``, ``["T3"]``, ``"contextualized"``).

    Raises
    ------
    ConfigError
        For an empty or malformed spec, a layer the model lacks, or a layer that is not a block
        (``T0``, conv layers).
    """
    spec = blocks if isinstance(blocks, str) else ",".join(blocks)
    if not spec.strip():
        raise ConfigError("no transformer blocks given (e.g. T10-T12)")
    chosen = parse_layers(spec, adapter.layer_ids)
    if spec.strip().lower() in ("all", "contextualized"):
        chosen = [layer for layer in chosen if layer[0] == CONTEXTUALIZED and layer_index(layer) > 0]
    available = transformer_blocks(adapter)
    not_blocks = [layer for layer in chosen if layer not in available]
    if not_blocks:
        raise ConfigError(
            f"{', '.join(not_blocks)} {'is not a transformer block' if len(not_blocks) == 1 else 'are not transformer blocks'} "
            f"of {adapter.spec} (blocks: T1-T{len(available)})"
        )
    return chosen


def compact_blocks(blocks: Sequence[str]) -> str:
    """``["T2", "T3", "T4", "T7"]`` -> ``"T2-T4,T7"`` (block ids of one kind, in order)."""
    numbers = sorted({layer_index(block) for block in blocks})
    parts, start = [], None
    for i, number in enumerate(numbers):
        if start is None:
            start = number
        if i + 1 == len(numbers) or numbers[i + 1] != number + 1:
            parts.append(f"T{start}" if start == number else f"T{start}-T{number}")
            start = None
    return ",".join(parts)


def reinitialize_blocks(adapter_or_model: Any, blocks: str | Sequence[str], *, seed: int) -> list[str]:
    """Re-initialise every parameter of some transformer blocks with the model's own initialisation.

    transformers' ``PreTrainedModel._init_weights`` is applied to every submodule of each block
    (linear layers: normal with the config's ``initializer_range``, biases 0; layer norms: 1 and 0;
    model-specific parameters such as WavLM's relative-position gate constants as the model class
    defines them), under ``torch.manual_seed(seed)`` in a forked RNG (the caller's RNG state is left
    as it was).  transformers marks loaded weights as initialised and its init functions skip such
    tensors; the mark is lifted for the call.  Nothing outside the blocks changes.

    Parameters
    ----------
    adapter_or_model : HFAdapter or CTCFineTuneModel
    blocks : str or sequence of str
        ``"T10-T12"``, ``"T12"``, ``["T11", "T12"]``.
    seed : int

    Returns
    -------
    list of str
        The re-initialised block ids, in order.

    Raises
    ------
    ConfigError
        For a spec that names no block of the model.
    """
    adapter = adapter_or_model.adapter if isinstance(adapter_or_model, CTCFineTuneModel) else adapter_or_model
    chosen = parse_blocks(adapter, blocks)
    modules = transformer_blocks(adapter)
    model = adapter.module
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(int(seed))
        for block in chosen:
            for submodule in modules[block].modules():
                with _initialisable(submodule):
                    model._init_weights(submodule)
    return chosen


class _initialisable:
    """Lift transformers' ``_is_hf_initialized`` mark from a module's own tensors for a block of code."""

    def __init__(self, module: nn.Module):
        self.tensors = [t for t in (*module.parameters(recurse=False), *module.buffers(recurse=False)) if t is not None]
        self.marks: list[Any] = []

    def __enter__(self) -> None:
        self.marks = [vars(tensor).pop("_is_hf_initialized", None) for tensor in self.tensors]

    def __exit__(self, *exc_info: object) -> None:
        for tensor, mark in zip(self.tensors, self.marks):
            if mark is not None:
                tensor._is_hf_initialized = mark


# --------------------------------------------------------------------------------------------------
# the experiment


def experiment_name(*, reinit: Sequence[str] | None = None, local_attention: Sequence[str] | None = None,
                    radius: int = DEFAULT_RADIUS) -> str:  # fmt: skip
    """``finetune``, ``finetune_reinit:T10-T12``, ``finetune_local:T2-T12@30``, or both joined by ``+``."""
    parts = []
    if reinit:
        parts.append(f"reinit:{compact_blocks(reinit)}")
    if local_attention:
        parts.append(f"local:{compact_blocks(local_attention)}@{radius}")
    return EXPERIMENT if not parts else f"{EXPERIMENT}_{'+'.join(parts)}"


@dataclass
class FineTuneResult:
    """What :func:`finetune` did.

    Attributes
    ----------
    model : str
        The model spec.
    experiment : str
        The experiment name of the rows (:func:`experiment_name`).
    seeds : tuple of int
    test_metrics : dict
        Seed -> test metrics (:func:`~layerprobe.training.trainer.evaluate_ctc`: ``cer``, ``wer``,
        ``loss``, ``n_utterances``, and with an LM ``beam_cer``, ``beam_wer``).
    train_results : dict
        Seed -> :class:`~layerprobe.training.trainer.TrainResult`.
    aggregate : dict
        ``<metric>_mean`` / ``<metric>_std`` over the seeds for ``cer``, ``wer`` (and ``cer_lm``, ``wer_lm``).
    rows : list of dict
        The result-table rows.
    out_dir : Path
        ``seed<k>/`` holds each seed's ``checkpoint.pt`` and ``result.json``.
    results_path : Path or None
        The result table written, if any.
    reinit, local_attention : list of str
        The blocks of the variant.
    untrained_metrics : dict
        Seed -> test metrics of the model before training (with ``untrained_baseline``).
    """

    model: str
    experiment: str
    seeds: tuple[int, ...]
    test_metrics: dict[int, dict[str, float]]
    train_results: dict[int, TrainResult]
    aggregate: dict[str, float]
    rows: list[dict[str, Any]]
    out_dir: Path
    results_path: Path | None = None
    reinit: list[str] = field(default_factory=list)
    local_attention: list[str] = field(default_factory=list)
    untrained_metrics: dict[int, dict[str, float]] = field(default_factory=dict)


def seed_dir(out_dir: str | os.PathLike[str], seed: int) -> Path:
    """The folder of one seed's checkpoint and summary: ``<out_dir>/seed<k>``."""
    return Path(out_dir) / f"seed{seed}"


def finetune(
    model: str | Any,
    train_data: CTCData,
    dev_data: CTCData | None,
    test_data: CTCData,
    *,
    reinit: str | Sequence[str] | None = None,
    local_attention: str | Sequence[str] | None = None,
    radius: int = DEFAULT_RADIUS,
    config: TrainConfig | None = None,
    seeds: Sequence[int] = (0,),
    out_dir: str | os.PathLike[str],
    lm_path: str | os.PathLike[str] | None = None,
    beam_width: int = 50,
    lm_alpha: float = 0.5,
    lm_beta: float = 1.0,
    results: str | os.PathLike[str] | None = None,
    test_split: str = "test",
    corpus: str | None = None,
    untrained_baseline: bool = False,
    vocab: CharVocabulary | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    overwrite: bool = False,
) -> FineTuneResult:
    """CTC fine-tuning of a model for each seed, scored on the test data.

    For each seed: the encoder starts from the model's weights, the ``reinit`` blocks are
    re-initialised with the seed (:func:`reinitialize_blocks`), local attention is put on the
    ``local_attention`` blocks, a CTC head is initialised with the seed, the model is trained by
    :func:`~layerprobe.training.trainer.train_ctc` with ``config`` (its ``seed`` replaced) and the
    transformer frozen for ``config.freeze_epochs`` epochs, checkpointed in ``out_dir/seed<k>``
    (an interrupted run resumes there; a finished one is only evaluated), and scored on the test
    data with greedy decoding and, with ``lm_path``, LM beam search.  Local attention is removed and
    an adapter passed in gets its original weights back at the end, even after an error.

    Parameters
    ----------
    model : str or HFAdapter
        A model spec (``tiny:wav2vec2``, ``hf:/models/wav2vec2-base`` ...) or a loaded adapter.
    train_data, dev_data, test_data : CTCData
        Waveform data (:class:`~layerprobe.training.data.WaveformCTCData`); dev may be None.
    reinit : str or sequence of str, optional
        Blocks to re-initialise (``"T10-T12"``).
    local_attention : str or sequence of str, optional
        Blocks restricted to local attention (``"T2-T12"``).
    radius : int
        Local-attention radius in frames.
    config : TrainConfig, optional
        Training options (default: the study's: 10 epochs, peak LR 1e-4, freeze 3 epochs ...).
    seeds : sequence of int
    out_dir : path-like
        Checkpoints and per-seed summaries.
    lm_path : path-like, optional
        KenLM model (ARPA or binary) for beam-search decoding of the test data.
    beam_width, lm_alpha, lm_beta : optional
        Beam search settings (:class:`~layerprobe.training.ctc.BeamSearchDecoder`).
    results : path-like, optional
        A result table (CSV) to add the rows to (created if missing).
    test_split : str
        The ``split`` column of the rows.
    corpus : str, optional
        The ``corpus`` column of the rows [default: the name of ``test_data``'s corpus, else ``""``].
    untrained_baseline : bool
        Also score each seed's model before training (random CTC head; the chance level), kept in
        :attr:`FineTuneResult.untrained_metrics` and the sidecar's details.
    vocab : CharVocabulary, optional
    progress : bool
    on_epoch_end : callable, optional
        ``on_epoch_end(seed, record)`` after each epoch.
    overwrite : bool
        Start each seed afresh: its checkpoints and summary in ``out_dir/seed<k>`` are removed
        first.  Without it, a checkpoint or ``result.json`` there of another run (other model
        weights, re-initialised blocks, local attention or radius: :func:`run_identity`; other
        training options) is refused, never resumed or reported as this run's.

    Returns
    -------
    FineTuneResult

    Raises
    ------
    ConfigError
        For bad block specs, radius, seeds or options, or checkpoints written with other options.
    DependencyError
        For ``lm_path`` without kenlm.
    """
    from layerprobe.attention.local import apply_local_attention

    config = config or TrainConfig()
    vocab = vocab or CharVocabulary.default()
    seeds = _checked_seeds(seeds)
    out = Path(out_dir)
    adapter = _load_adapter(model)
    reinit_blocks = parse_blocks(adapter, reinit) if reinit is not None else []
    local_blocks = parse_blocks(adapter, local_attention) if local_attention is not None else []
    if local_blocks and (isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 0):
        raise ConfigError(f"the local-attention radius must be a non-negative integer number of frames, got {radius!r}")
    experiment = experiment_name(reinit=reinit_blocks, local_attention=local_blocks, radius=radius)
    identity = run_identity(adapter, reinit=reinit_blocks, local_attention=local_blocks, radius=radius)
    for seed in seeds:
        _check_finished_run(seed_dir(out, seed), identity, config, overwrite=overwrite)
    decoder = (BeamSearchDecoder(vocab, lm_path=lm_path, beam_width=beam_width, alpha=lm_alpha, beta=lm_beta)
               if lm_path is not None else None)  # fmt: skip
    original = {key: value.detach().clone() for key, value in adapter.module.state_dict().items()}
    was_training = adapter.module.training
    flags = [(parameter, parameter.requires_grad) for parameter in adapter.module.parameters()]
    conv_frozen = adapter.feature_encoder_frozen
    test_metrics: dict[int, dict[str, float]] = {}
    train_results: dict[int, TrainResult] = {}
    untrained_metrics: dict[int, dict[str, float]] = {}
    try:
        for seed in seeds:
            adapter.module.load_state_dict(original)
            if reinit_blocks:
                reinitialize_blocks(adapter, reinit_blocks, seed=seed)
            handle = apply_local_attention(adapter, local_blocks, radius=radius) if local_blocks else None
            try:
                train_results[seed], test_metrics[seed], untrained = _run_seed(
                    adapter, train_data, dev_data, test_data, replace(config, seed=seed), vocab, decoder,
                    seed_dir(out, seed), progress=progress, experiment=experiment, identity=identity,
                    untrained_baseline=untrained_baseline,
                    on_epoch_end=(lambda record, s=seed: on_epoch_end(s, record)) if on_epoch_end else None,
                )  # fmt: skip
                if untrained is not None:
                    untrained_metrics[seed] = untrained
            finally:
                if handle is not None:
                    handle.remove()
    finally:
        adapter.module.load_state_dict(original)
        adapter.module.train(was_training)
        adapter.module.to(adapter.device)
        adapter.freeze_feature_encoder(conv_frozen)  # the model's own flag; every parameter's flag follows
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
    if corpus is None:
        corpus = str(getattr(getattr(test_data, "corpus", None), "name", None) or "")
    rows, aggregate = _result_rows(adapter, experiment, corpus, test_split, test_metrics, has_lm=decoder is not None)
    results_path = None
    accelerator = make_accelerator(config.device)
    if results is not None and accelerator.is_main_process:
        results_path = _write_results(results, rows, adapter=adapter, experiment=experiment, config=config,
                                      seeds=seeds, reinit=reinit_blocks, local=local_blocks, radius=radius,
                                      lm_path=lm_path, decoder=decoder, train_results=train_results, out=out,
                                      data=(train_data, dev_data, test_data), untrained=untrained_metrics)  # fmt: skip
    return FineTuneResult(
        model=adapter.spec,
        experiment=experiment,
        seeds=tuple(seeds),
        test_metrics=test_metrics,
        train_results=train_results,
        aggregate=aggregate,
        rows=rows,
        out_dir=out,
        results_path=results_path,
        reinit=reinit_blocks,
        local_attention=local_blocks,
        untrained_metrics=untrained_metrics,
    )


def _run_seed(
    adapter: Any,
    train_data: CTCData,
    dev_data: CTCData | None,
    test_data: CTCData,
    config: TrainConfig,
    vocab: CharVocabulary,
    decoder: BeamSearchDecoder | None,
    directory: Path,
    *,
    progress: bool,
    experiment: str,
    identity: Mapping[str, Any],
    untrained_baseline: bool,
    on_epoch_end: Callable[[dict[str, Any]], None] | None,
) -> tuple[TrainResult, dict[str, float], dict[str, float] | None]:
    """Train one seed's model and score it on the test data; write its summary."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = CTCFineTuneModel(adapter, vocab)
    eval_frames = config.eval_max_batch_frames or config.max_batch_frames
    untrained = None
    if untrained_baseline:
        untrained = evaluate_ctc(model, test_data, vocab, max_batch_frames=eval_frames,
                                 accelerator=make_accelerator(config.device), progress=progress,
                                 desc=f"untrained seed {config.seed}")  # fmt: skip
    result = train_ctc(model, train_data, dev_data, config, vocab=vocab, frozen=model.transformer_parameters(),
                       checkpoint_dir=directory, progress=progress, on_epoch_end=on_epoch_end,
                       identity=identity)  # fmt: skip
    accelerator = make_accelerator(config.device)
    metrics = evaluate_ctc(model, test_data, vocab, decoder=decoder, max_batch_frames=eval_frames,
                           accelerator=accelerator, progress=progress, desc=f"test seed {config.seed}")  # fmt: skip
    if accelerator.is_main_process:
        summary = {
            "layerprobe_version": __version__,
            "model": adapter.spec,
            "experiment": experiment,
            "identity": dict(identity),
            "seed": config.seed,
            "config": config.to_dict(),
            "test": metrics,
            "untrained_test": untrained,
            "dev": result.dev_metrics,
            "history": result.history,
        }
        _write_json(directory / SUMMARY_NAME, summary)
    return result, metrics, untrained


def run_identity(adapter: Any, *, reinit: Sequence[str], local_attention: Sequence[str], radius: int) -> dict[str, Any]:
    """What makes a fine-tuning run's result what it is besides its :class:`TrainConfig`.

    The model weights (their content fingerprint; the spec when the fingerprint is unknown), the
    re-initialised blocks, the local-attention blocks and radius.  Recorded in every checkpoint and
    ``result.json``; a rerun into the same output folder must match it.
    """
    fingerprint = getattr(adapter, "weights_fingerprint", None)
    return {
        "weights_fingerprint": fingerprint or f"spec:{adapter.spec}",
        "reinit": compact_blocks(reinit) if reinit else "",
        "local_attention": compact_blocks(local_attention) if local_attention else "",
        "radius": int(radius) if local_attention else None,
    }


def _check_finished_run(directory: Path, identity: Mapping[str, Any], config: TrainConfig, *, overwrite: bool) -> None:
    """Refuse a seed folder holding a summary of another run; with ``overwrite`` clear the folder's run files."""
    from layerprobe.training.checkpoints import BEST_NAME, CHECKPOINT_NAME, _check_identity

    names = (CHECKPOINT_NAME, BEST_NAME, SUMMARY_NAME)
    if overwrite:
        if make_accelerator(config.device).is_main_process:
            for name in names:
                (directory / name).unlink(missing_ok=True)
        return
    summary = directory / SUMMARY_NAME
    if not summary.is_file():
        return
    try:
        saved = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # rewritten when the seed is evaluated again
    if isinstance(saved, dict):
        _check_identity(saved.get("identity"), identity, summary, what="the finished result")


def _load_adapter(model: str | Any) -> Any:
    if isinstance(model, str):
        from layerprobe.models import load_model

        return load_model(model, device="cpu")
    if not isinstance(getattr(model, "module", None), nn.Module):
        raise ConfigError(f"finetune takes a model spec or a loaded adapter, not {type(model).__name__}")
    return model


def _checked_seeds(seeds: Sequence[int]) -> list[int]:
    values = list(seeds)
    if not values:
        raise ConfigError("give at least one seed")
    for seed in values:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"seeds must be non-negative integers, got {seed!r}")
    if len(set(values)) != len(values):
        raise ConfigError(f"seeds repeat: {values}")
    return [int(seed) for seed in values]


def _result_rows(
    adapter: Any, experiment: str, corpus: str, split: str, test_metrics: Mapping[int, Mapping[str, float]], *, has_lm: bool
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Per-seed rows and the mean / std rows (filed under the smallest seed); the model is its canonical name."""

    names = {"cer": "cer", "wer": "wer"}
    if has_lm:
        names.update({"cer_lm": "beam_cer", "wer_lm": "beam_wer"})
    top = f"{CONTEXTUALIZED}{adapter.num_layers}"
    base = {"model": model_name(adapter.spec), "corpus": corpus, "experiment": experiment, "layer": top, "split": split,
            "sample": 0}  # fmt: skip
    rows = [
        {**base, "seed": seed, "metric": metric, "value": float(metrics[key])}
        for seed, metrics in test_metrics.items()
        for metric, key in names.items()
    ]
    aggregate: dict[str, float] = {}
    for metric, key in names.items():
        values = np.array([metrics[key] for metrics in test_metrics.values()], dtype=np.float64)
        aggregate[f"{metric}_mean"] = float(values.mean())
        aggregate[f"{metric}_std"] = float(values.std(ddof=1)) if values.size > 1 else 0.0
    first = min(test_metrics)
    rows += [{**base, "seed": first, "metric": metric, "value": value} for metric, value in aggregate.items()]
    return rows, aggregate


def _write_results(
    path: str | os.PathLike[str],
    rows: list[dict[str, Any]],
    *,
    adapter: Any,
    experiment: str,
    config: TrainConfig,
    seeds: Sequence[int],
    reinit: Sequence[str],
    local: Sequence[str],
    radius: int,
    lm_path: str | os.PathLike[str] | None,
    decoder: BeamSearchDecoder | None,
    train_results: Mapping[int, TrainResult],
    out: Path,
    data: tuple[CTCData, CTCData | None, CTCData],
    untrained: Mapping[int, Mapping[str, float]],
) -> Path:
    from layerprobe.results import ResultTable

    table = ResultTable.open(path)
    options = {
        **config.to_dict(),
        "seed": None,
        "reinit": list(reinit),
        "local_attention": list(local),
        "radius": radius if local else None,
        "lm_path": os.fspath(lm_path) if lm_path is not None else None,
        "beam": {"width": decoder.beam_width, "alpha": decoder.alpha, "beta": decoder.beta} if decoder else None,
    }
    provenance = {"model_spec": adapter.spec, "model_path": model_path(adapter.spec), "model": dict(adapter.describe()),
                  "checkpoints": str(out)}  # fmt: skip
    train, dev, test = data
    sizes = {name: _data_summary(part) for name, part in (("train", train), ("dev", dev), ("test", test)) if part is not None}
    per_seed = [row for row in rows if row["metric"] in PER_SEED_METRICS]
    metrics = list(dict.fromkeys(row["metric"] for row in per_seed))
    earlier = earlier_seed_rows(table, per_seed[0], seeds, metrics, options=options, provenance=provenance)
    all_seeds = sorted({*seeds, *earlier})
    for seed in seeds:
        seed_rows = [row for row in per_seed if row["seed"] == seed]
        result = train_results[seed]
        details = {
            "epochs_done": result.epochs_done,
            "steps": result.steps,
            "dev": result.dev_metrics,
            "checkpoint_dir": str(seed_dir(out, seed)),
            "data": sizes,
        }
        if seed in untrained:
            details["untrained_test"] = dict(untrained[seed])
        # replace_runs: the aggregate rows of an earlier run filed under this seed go (they are refiled below)
        table.add(seed_rows, options={**options, "seed": seed}, provenance=provenance, details=details, replace_runs=True)
    for seed, seed_rows in earlier.items():  # their rows stay; an aggregate filed under them goes
        details = (table.metadata(seed_rows[0]) or {}).get("details", {})
        details.pop("aggregate_over_seeds", None)
        table.add(seed_rows, details=details, replace_runs=True)
    aggregate_rows = aggregate_seed_rows([*per_seed, *(row for seed_rows in earlier.values() for row in seed_rows)])
    details = (table.metadata(aggregate_rows[0]) or {}).get("details", {})
    details["aggregate_over_seeds"] = all_seeds
    table.add(aggregate_rows, details=details)
    return table.save()



def _data_summary(data: CTCData) -> dict[str, Any]:
    summary: dict[str, Any] = {"utterances": len(data)}
    seconds = getattr(data, "total_seconds", None)
    if seconds is not None:
        summary["seconds"] = round(float(seconds), 3)
    for name in ("split",):
        if hasattr(data, name):
            summary[name] = getattr(data, name)
    return summary


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write JSON atomically (:func:`layerprobe.io.atomic.write_json`); a failure is a one-line error."""
    try:
        write_json(path, document, indent=2, sort_keys=True, default=_json_default)
    except OSError as exc:
        raise LayerprobeError(f"cannot write the run summary ({exc.strerror or exc})", path=path) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


__all__ = [
    "EXPERIMENT",
    "DEFAULT_RADIUS",
    "CTCFineTuneModel",
    "transformer_blocks",
    "parse_blocks",
    "compact_blocks",
    "reinitialize_blocks",
    "experiment_name",
    "FineTuneResult",
    "seed_dir",
    "finetune",
    "run_identity",
]
