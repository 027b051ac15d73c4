"""The one CTC training loop that frozen-layer probes and fine-tuning share.

:func:`train_ctc` trains any model that follows the CTC model protocol::

    log_probs, output_lengths = model(batch.inputs, batch.input_lengths)
    # log_probs: (B, T, V) float, log-softmaxed over the vocabulary; output_lengths: (B,) int64

on data that follows :class:`CTCData` (:class:`~layerprobe.training.data.FeatureCTCData`,
:class:`~layerprobe.training.data.WaveformCTCData`), and :func:`evaluate_ctc` scores it (greedy
decoding, optionally LM beam search -> CER / WER with :mod:`layerprobe.training.ctc`).

What one training run does
--------------------------
* **Loss**: ``torch.nn.functional.ctc_loss`` with the vocabulary's blank, ``zero_infinity=True``
  (an utterance too short for its transcript contributes 0, not inf), each utterance's loss divided
  by its target length and averaged over the batch (``reduction="mean"``).
* **Optimizer and schedule**: Adam (betas 0.9 / 0.98, eps 1e-8, as wav2vec 2.0 fine-tuning) at
  ``peak_lr`` scaled by the tri-stage schedule (:mod:`layerprobe.training.schedule`): warm-up over
  ``warmup_epochs``, hold until ``decay_start_epoch``, linear decay to 0 at the end; gradients
  clipped to norm ``grad_clip``.  An update whose loss or gradient norm is not finite is skipped
  (and counted in the history).
* **Frozen parameters**: ``frozen`` parameters get ``requires_grad = False`` for the first
  ``freeze_epochs`` epochs: they receive no gradient, so Adam skips them and they stay bit-identical;
  afterwards they train like the rest.  Parameters that do not require a gradient when
  :func:`train_ctc` is called (and are not in ``frozen``) are never trained (the conv feature
  encoder of fine-tuning).  Every ``requires_grad`` flag is restored on return.
* **Batches**: each epoch packs utterances into length buckets (:func:`~layerprobe.training.data.length_buckets`
  with ``seed + epoch``, at most ``max_batch_frames`` padded frames or samples per batch) in a
  shuffled but reproducible order.
* **Evaluation and stopping**: after every epoch the dev data are decoded greedily; with
  ``patience`` the run stops when the dev CER (or loss, ``stop_metric``) has not improved for that
  many epochs and the best epoch's weights are restored; without it the run lasts ``epochs`` epochs
  and the last weights are kept (fine-tuning).
* **Checkpoints and resumption**: with a ``checkpoint_dir`` the complete state (model, optimizer,
  scheduler, the RNG states of torch, numpy and python, epoch, position in the epoch, best-so-far,
  history) is written atomically (:func:`layerprobe.io.atomic.atomic_path`) to ``checkpoint.pt`` after every
  epoch and every ``checkpoint_every_steps`` updates.  A call whose ``checkpoint_dir`` holds a
  checkpoint resumes from it; the batch order is a function of the epoch and the seed, and the
  dropout / SpecAugment randomness continues from the restored RNG states, so a killed run resumes
  to the same final weights, bit for bit on the CPU with a fixed thread count.  A checkpoint of a
  finished run is loaded and returned without training again.  A checkpoint written with other
  options or on other training data (another number of utterances, total length or batches) is
  refused (:class:`~layerprobe.errors.ConfigError`).
* **Devices and several processes**: Hugging Face Accelerate (``accelerate.Accelerator``) places
  the model and optimizer (``device``: ``cpu`` or ``cuda``) and, under ``accelerate launch`` or
  ``torchrun``, wraps the model for data-parallel training: each process takes every N-th batch of
  an epoch (the list wraps around so that all take the same number), evaluation gathers every
  process's hypotheses, and only the main process writes checkpoints and shows progress bars.
  With ``frozen`` parameters the wrapper looks for unused parameters (``find_unused_parameters``),
  since frozen ones get no gradient.  The default is a single process on the CPU.  (Resumption of a multi-process run restores the
  main process's RNG state in every process, so it is exact only for a single process.)
* **Progress**: a tqdm bar per epoch with the loss and learning rate (silent when not a terminal).

Modules
-------
The options, the result and the data protocol live in :mod:`.run_config`, checkpoint I/O in
:mod:`.checkpoints`; this module re-exports their public names.
"""

from __future__ import annotations

import copy
import math
import os
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from layerprobe.errors import ConfigError, LayerprobeError
from layerprobe.training.checkpoints import (
    BEST_NAME,
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    _check_identity,
    _check_resumable,
    _load_model_state,
    _rng_state,
    _seed_everything,
    _set_rng_state,
    atomic_torch_save,
    load_best_state,
    load_checkpoint,
)
from layerprobe.training.ctc import (
    BeamSearchDecoder,
    CharVocabulary,
    char_error_rate,
    greedy_decode_batch,
    word_error_rate,
)
from layerprobe.training.run_config import STOP_METRICS, CTCData, TrainConfig, TrainResult
from layerprobe.training.schedule import tri_stage_scheduler, tri_stage_steps


# --------------------------------------------------------------------------------------------------
# loss, devices, batches


def ctc_loss(
    log_probs: torch.Tensor,
    output_lengths: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    *,
    blank_id: int,
    reduction: str = "mean",
) -> torch.Tensor:
    """CTC loss of a batch in the trainer's convention.

    Parameters
    ----------
    log_probs : torch.Tensor
        (B, T, V) log-softmaxed scores.
    output_lengths : torch.Tensor
        (B,) valid frames per row.
    targets : torch.Tensor
        (B, U) target ids, padded (the padding is ignored past ``target_lengths``).
    target_lengths : torch.Tensor
        (B,) target lengths.
    blank_id : int
    reduction : {"mean", "none"}
        ``"mean"``: per-utterance losses divided by their target lengths, averaged over the batch;
        ``"none"``: the (B,) per-utterance losses divided by their target lengths.

    Returns
    -------
    torch.Tensor
        Scalar, or (B,) for ``"none"``; float32.  ``zero_infinity``: impossible alignments give 0.
    """
    per_utterance = nn.functional.ctc_loss(
        log_probs.transpose(0, 1).float(),
        targets,
        output_lengths.to(torch.long),
        target_lengths.to(torch.long),
        blank=blank_id,
        reduction="none",
        zero_infinity=True,
    )
    per_utterance = per_utterance / target_lengths.to(per_utterance.dtype).clamp(min=1)
    if reduction == "none":
        return per_utterance
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return per_utterance.mean()


def make_accelerator(device: str | torch.device = "cpu", *, find_unused_parameters: bool = False):
    """An ``accelerate.Accelerator`` for ``device`` (a launcher's process group where there is one).

    In a single process ``device`` decides: ``cpu``, or ``cuda`` / ``cuda:N`` (N becomes the
    current CUDA device).  Under ``accelerate launch`` / ``torchrun`` (``WORLD_SIZE`` > 1) the
    launcher assigns each process its device; ``device`` only says whether it is the CPU.
    Accelerate keeps one global state per process, so a single process that switches between the
    CPU and a GPU resets it first.

    Raises
    ------
    ConfigError
        For a device this machine does not have.
    DependencyError
        When accelerate is not installed.
    """
    from layerprobe.devices import resolve_device
    from layerprobe.errors import DependencyError

    try:
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState, PartialState
        from accelerate.utils import DistributedDataParallelKwargs
    except ImportError:
        raise DependencyError("training needs Hugging Face Accelerate: pip install 'accelerate>=0.26'") from None
    resolved = resolve_device(device)
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if find_unused_parameters else []
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if not distributed:
        if resolved.type == "cuda" and resolved.index is not None:
            torch.cuda.set_device(resolved)
        state = PartialState._shared_state
        current = state.get("device") if state else None
        if current is not None and torch.device(current).type != resolved.type:
            AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(cpu=resolved.type == "cpu", kwargs_handlers=handlers)


def _item_batches(lengths: Sequence[int], *, max_batch_frames: int, seed: int, shuffle: bool) -> list[list[int]]:
    from layerprobe.training.data import length_buckets

    return [list(batch) for batch in length_buckets(lengths, max_batch_frames=max_batch_frames, seed=seed, shuffle=shuffle)]


def _process_share(batches: list[list[int]], rank: int, world: int) -> list[list[int]]:
    """Every ``world``-th batch from ``rank``; the list wraps around so that every process gets as many."""
    if world == 1:
        return batches
    per_process = math.ceil(len(batches) / world)
    padded = [batches[i % len(batches)] for i in range(per_process * world)]
    return padded[rank::world]


def _collate(data: CTCData, indices: Sequence[int], device: torch.device):
    from layerprobe.training.data import collate_ctc

    return collate_ctc([data.item(int(i)) for i in indices]).to(device)


def _model_device(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


# --------------------------------------------------------------------------------------------------
# evaluation


def evaluate_ctc(
    model: nn.Module,
    data: CTCData,
    vocab: CharVocabulary | None = None,
    *,
    decoder: BeamSearchDecoder | None = None,
    max_batch_frames: int = 1_600_000,
    accelerator: Any = None,
    progress: bool = False,
    desc: str = "evaluate",
) -> dict[str, float]:
    """Decode a data set with a CTC model and score it.

    The model runs in eval mode without gradients (its training mode is restored afterwards);
    utterances go through in length buckets of at most ``max_batch_frames`` padded frames / samples.

    Parameters
    ----------
    model : torch.nn.Module
        Follows the CTC model protocol (module docstring).
    data : CTCData
    vocab : CharVocabulary, optional
        Default: :meth:`CharVocabulary.default`.
    decoder : BeamSearchDecoder, optional
        Also decode with this beam search (e.g. with a KenLM model).
    max_batch_frames : int
    accelerator : accelerate.Accelerator, optional
        Under several processes each evaluates its share and the results are gathered; without
        one the model's own device is used.
    progress : bool
        Show a progress bar (on a terminal).

    Returns
    -------
    dict
        ``cer``, ``wer`` (greedy decoding; corpus rates on normalised text), ``loss`` (mean over
        utterances of the CTC loss divided by the target length), ``n_utterances``, and with a
        ``decoder`` also ``beam_cer`` and ``beam_wer``.  Identical in every process.
    """
    from tqdm.auto import tqdm

    vocab = vocab or CharVocabulary.default()
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    device = accelerator.device if accelerator is not None else _model_device(model)
    batches = _process_share(_item_batches(data.lengths, max_batch_frames=max_batch_frames, seed=0, shuffle=False), rank, world)
    records: list[tuple[str, str, str, str | None, float]] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for indices in tqdm(batches, desc=desc, unit="batch", leave=False,
                                disable=None if progress and rank == 0 else True):  # fmt: skip
                batch = _collate(data, indices, device)
                log_probs, output_lengths = model(batch.inputs, batch.input_lengths)
                losses = ctc_loss(log_probs, output_lengths, batch.targets, batch.target_lengths,
                                  blank_id=vocab.blank_id, reduction="none")  # fmt: skip
                log_probs_cpu = log_probs.float().cpu()
                lengths_cpu = output_lengths.cpu()
                greedy = greedy_decode_batch(log_probs_cpu, lengths_cpu, vocab)
                beam = decoder.decode_batch(log_probs_cpu, lengths_cpu) if decoder is not None else [None] * len(greedy)
                for utt_id, text, hyp, beam_hyp, loss in zip(batch.utt_ids, batch.texts, greedy, beam, losses.tolist()):
                    records.append((utt_id, text, hyp, beam_hyp, float(loss)))
    finally:
        model.train(was_training)
    if world > 1:
        from accelerate.utils import gather_object

        records = gather_object(records)
    # Several processes may have decoded the same (wrapped-around) batch: one record per utterance.
    unique = {record[0]: record for record in records}
    ordered = [unique[utt_id] for utt_id in sorted(unique)]
    references = [record[1] for record in ordered]
    metrics: dict[str, float] = {
        "cer": char_error_rate(references, [record[2] for record in ordered]),
        "wer": word_error_rate(references, [record[2] for record in ordered]),
        "loss": float(np.mean([record[4] for record in ordered])) if ordered else 0.0,
        "n_utterances": len(ordered),
    }
    if decoder is not None:
        metrics["beam_cer"] = char_error_rate(references, [record[3] for record in ordered])
        metrics["beam_wer"] = word_error_rate(references, [record[3] for record in ordered])
    return metrics


# --------------------------------------------------------------------------------------------------
# the loop


@dataclass
class _Position:
    """Where a run stands: epoch (0-based) and batches done in it, with the epoch's running sums."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    skipped: int = 0
    items: int = 0
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)
    epochs_without_improvement: int = 0
    stopped_early: bool = False
    finished: bool = False


def train_ctc(
    model: nn.Module,
    train_data: CTCData,
    dev_data: CTCData | None,
    config: TrainConfig | None = None,
    *,
    vocab: CharVocabulary | None = None,
    frozen: Iterable[nn.Parameter] | nn.Module | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[int, dict[str, Any]], None] | None = None,
    identity: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train a CTC model: Adam, tri-stage schedule, clipping, freezing, checkpoints, early stopping.

    The API is stable: probes (:mod:`layerprobe.training.probes`) and fine-tuning
    (:mod:`layerprobe.training.finetune`) both call it.  See the module docstring for what a run
    does.  The model is trained in place; on return it holds the final weights (the best epoch's
    with early stopping), on the device training used, in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        ``model(inputs, input_lengths) -> (log_probs (B, T, V), output_lengths (B,))``,
        log-softmaxed over ``vocab``.  Parameters that require a gradient are trained.
    train_data : CTCData
        Training items (``lengths`` and ``item(i)``).
    dev_data : CTCData or None
        Evaluated after every epoch (greedy CER / WER, loss); needed for early stopping.
    config : TrainConfig, optional
        Defaults: :class:`TrainConfig` (the fine-tuning study's values).
    vocab : CharVocabulary, optional
        Default: :meth:`CharVocabulary.default` (blank id 0).
    frozen : iterable of Parameter or Module, optional
        Parameters kept fixed for the first ``config.freeze_epochs`` epochs and trained after them.
    checkpoint_dir : path-like, optional
        Where ``checkpoint.pt`` (and ``best.pt`` with early stopping) are written; a checkpoint
        there is resumed.  None: no checkpoints.
    progress : bool
        Show a progress bar per epoch with the loss and learning rate (on a terminal).
    on_epoch_end : callable, optional
        Called with each epoch's history record after it is complete (and checkpointed).
    on_step : callable, optional
        Called as ``on_step(step, info)`` after every update (and after its checkpoint, if one was
        due), ``info`` holding ``epoch``, ``batch``, ``loss``, ``lr``.
    identity : mapping, optional
        What else makes this run what it is beyond ``config`` (the model weights' fingerprint,
        re-initialised blocks, local attention ...): recorded in the checkpoint, and a checkpoint
        of another identity is refused rather than resumed or reused.

    Returns
    -------
    TrainResult

    Raises
    ------
    ConfigError
        For empty training data, ``patience`` without dev data, a model without trainable
        parameters, or a checkpoint written with other options or of another ``identity``.
    LayerprobeError
        For an unreadable checkpoint, or one that does not fit the model.
    """
    config = config or TrainConfig()
    vocab = vocab or CharVocabulary.default()
    if len(train_data) == 0:
        raise ConfigError("no training utterances")
    if config.patience is not None and dev_data is None:
        raise ConfigError("early stopping (patience) needs dev data")
    frozen_params = list(frozen.parameters() if isinstance(frozen, nn.Module) else frozen or [])
    frozen_ids = {id(p) for p in frozen_params}
    flags = [(p, p.requires_grad) for p in model.parameters()]
    trainable = [p for p in model.parameters() if p.requires_grad or id(p) in frozen_ids]
    if not trainable:
        raise ConfigError("the model has no parameter to train")
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else None
    accelerator = make_accelerator(config.device, find_unused_parameters=bool(frozen_params))
    try:
        for parameter in frozen_params:
            parameter.requires_grad_(True)  # all trainable while the model is wrapped for data parallel
        return _train(model, train_data, dev_data, config, vocab, accelerator, trainable, frozen_params, directory,
                      progress=progress, on_epoch_end=on_epoch_end, on_step=on_step, identity=identity)  # fmt: skip
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
        model.eval()


def _train(
    model: nn.Module,
    train_data: CTCData,
    dev_data: CTCData | None,
    config: TrainConfig,
    vocab: CharVocabulary,
    accelerator: Any,
    trainable: list[nn.Parameter],
    frozen_params: list[nn.Parameter],
    directory: Path | None,
    *,
    progress: bool,
    on_epoch_end: Callable[[dict[str, Any]], None] | None,
    on_step: Callable[[int, dict[str, Any]], None] | None,
    identity: Mapping[str, Any] | None = None,
) -> TrainResult:
    from tqdm.auto import tqdm

    rank, world = accelerator.process_index, accelerator.num_processes
    model.to(accelerator.device)
    optimizer = torch.optim.Adam(trainable, lr=config.peak_lr, betas=config.adam_betas, eps=config.adam_eps,
                                 weight_decay=config.weight_decay)  # fmt: skip
    n_batches = len(_item_batches(train_data.lengths, max_batch_frames=config.max_batch_frames, seed=config.seed, shuffle=True))
    data_summary = {"utterances": len(train_data), "total_length": int(sum(train_data.lengths)), "batches": n_batches}
    steps_per_epoch = math.ceil(n_batches / world)
    warmup, hold, decay = tri_stage_steps(steps_per_epoch, epochs=config.epochs, warmup_epochs=config.warmup_epochs,
                                          decay_start_epoch=config.decay_start_epoch)  # fmt: skip
    scheduler = tri_stage_scheduler(optimizer, warmup_steps=warmup, hold_steps=hold, decay_steps=decay,
                                    init_scale=config.init_lr_scale, final_scale=config.final_lr_scale)  # fmt: skip
    wrapped, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(wrapped)
    position, resumed = _Position(), False
    best_state: dict[str, torch.Tensor] | None = None
    checkpoint_path = directory / CHECKPOINT_NAME if directory is not None else None
    best_path = directory / BEST_NAME if directory is not None else None
    if checkpoint_path is not None and checkpoint_path.is_file():
        state = load_checkpoint(checkpoint_path, map_location=accelerator.device)
        _check_identity(state.get("identity"), identity, checkpoint_path, what="a checkpoint")
        _check_resumable(state["config"], config, checkpoint_path)
        if state.get("data") != data_summary:
            raise ConfigError(
                f"holds a checkpoint of a run on other training data ({state.get('data')} vs {data_summary} now); "
                "continue with the same data, or use another output directory",
                path=checkpoint_path.parent,
            )
        _load_model_state(unwrapped, state["model"], checkpoint_path)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        position = _Position(**state["position"])
        resumed = True
        if config.patience is not None and best_path is not None and best_path.is_file() and not position.finished:
            best_state = load_best_state(best_path)
    else:
        _seed_everything(config.seed)
    eval_frames = config.eval_max_batch_frames or config.max_batch_frames

    def save(best_changed: bool = False) -> None:
        if checkpoint_path is None:
            return
        if accelerator.is_main_process:
            if best_changed and best_state is not None and best_path is not None:
                atomic_torch_save(best_state, best_path)
            atomic_torch_save(
                {
                    "format": CHECKPOINT_FORMAT,
                    "config": config.to_dict(),
                    "data": data_summary,
                    "identity": dict(identity) if identity is not None else None,
                    "model": unwrapped.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": _rng_state(),
                    "position": asdict(position),
                },
                checkpoint_path,
            )
        accelerator.wait_for_everyone()

    while not position.finished and position.epoch < config.epochs:
        epoch = position.epoch
        is_frozen = epoch < config.freeze_epochs
        for parameter in frozen_params:
            parameter.requires_grad_(not is_frozen)
        batches = _process_share(
            _item_batches(train_data.lengths, max_batch_frames=config.max_batch_frames, seed=config.seed + epoch, shuffle=True),
            rank,
            world,
        )
        wrapped.train()
        bar = tqdm(total=len(batches), initial=position.batch, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch",
                   leave=False, disable=None if progress and accelerator.is_main_process else True)  # fmt: skip
        try:
            while position.batch < len(batches):
                started = time.perf_counter()
                batch = _collate(train_data, batches[position.batch], accelerator.device)
                loss_value = _update(wrapped, batch, optimizer, trainable, config, vocab, accelerator)
                with warnings.catch_warnings():
                    # A skipped update still advances the schedule (it stays aligned with the epochs).
                    warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()` before"))
                    scheduler.step()
                position.step += 1
                position.batch += 1
                position.items += int(batch.input_lengths.sum())
                if loss_value is None:
                    position.skipped += 1
                else:
                    position.loss_sum += loss_value
                    position.loss_count += 1
                position.seconds += time.perf_counter() - started
                lr = scheduler.get_last_lr()[0]
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.3f}" if loss_value is not None else "skip", lr=f"{lr:.2e}")
                if config.checkpoint_every_steps and position.step % config.checkpoint_every_steps == 0:
                    save()
                if on_step is not None:
                    on_step(position.step, {"epoch": epoch + 1, "batch": position.batch, "loss": loss_value, "lr": lr})
        finally:
            bar.close()
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": position.loss_sum / position.loss_count if position.loss_count else float("nan"),
            "lr": scheduler.get_last_lr()[0],
            "frozen": bool(frozen_params) and is_frozen,
            "steps": position.step,
            "skipped_steps": position.skipped,
            "train_items": position.items,
            "train_seconds": position.seconds,
        }
        best_changed = False
        if dev_data is not None:
            started = time.perf_counter()
            metrics = evaluate_ctc(unwrapped, dev_data, vocab, max_batch_frames=eval_frames, accelerator=accelerator,
                                   progress=progress, desc=f"dev {epoch + 1}/{config.epochs}")  # fmt: skip
            record.update({"dev_loss": metrics["loss"], "dev_cer": metrics["cer"], "dev_wer": metrics["wer"],
                           "eval_seconds": time.perf_counter() - started})  # fmt: skip
            position.last_metrics = dict(metrics)
            value = metrics[config.stop_metric]
            if position.best_value is None or value < position.best_value:
                position.best_value, position.best_epoch, position.best_metrics = value, epoch + 1, dict(metrics)
                position.epochs_without_improvement = 0
                if config.patience is not None:
                    best_state = {key: tensor.detach().to("cpu", copy=True) for key, tensor in unwrapped.state_dict().items()}
                    best_changed = True
            else:
                position.epochs_without_improvement += 1
        position.history.append(record)
        position.epoch += 1
        position.batch = 0
        position.loss_sum, position.loss_count, position.skipped, position.items, position.seconds = 0.0, 0, 0, 0, 0.0
        if config.patience is not None and position.epochs_without_improvement >= config.patience:
            position.stopped_early = position.epoch < config.epochs
            position.finished = True
        if position.epoch >= config.epochs:
            position.finished = True
        if position.finished and config.patience is not None and best_state is not None:
            _load_model_state(unwrapped, best_state, best_path or Path("best weights"))
        save(best_changed)
        if on_epoch_end is not None:
            on_epoch_end(dict(record))
    if dev_data is None:
        dev_metrics: dict[str, float] = {}
    elif config.patience is not None:
        dev_metrics = dict(position.best_metrics)
    else:
        dev_metrics = dict(position.last_metrics)
    return TrainResult(
        history=copy.deepcopy(position.history),
        best_epoch=position.best_epoch,
        dev_metrics=dev_metrics,
        steps=position.step,
        stopped_early=position.stopped_early,
        resumed=resumed,
        checkpoint_dir=directory,
    )


def _update(
    model: nn.Module,
    batch: Any,
    optimizer: Any,
    trainable: Sequence[nn.Parameter],
    config: TrainConfig,
    vocab: CharVocabulary,
    accelerator: Any,
) -> float | None:
    """One optimizer update on a batch; the loss, or None when the update was skipped (non-finite)."""
    optimizer.zero_grad(set_to_none=True)
    log_probs, output_lengths = model(batch.inputs, batch.input_lengths)
    loss = ctc_loss(log_probs, output_lengths, batch.targets, batch.target_lengths, blank_id=vocab.blank_id)
    if not torch.isfinite(loss).item():
        optimizer.zero_grad(set_to_none=True)
        return None
    accelerator.backward(loss)
    with_grad = [p for p in trainable if p.grad is not None]
    if config.grad_clip is not None and with_grad:
        norm = accelerator.clip_grad_norm_(with_grad, config.grad_clip)
        if not torch.isfinite(torch.as_tensor(norm)).item():
            optimizer.zero_grad(set_to_none=True)
            return None
    optimizer.step()
    return float(loss.detach())


__all__ = [
    "CHECKPOINT_NAME",
    "BEST_NAME",
    "STOP_METRICS",
    "CTCData",
    "TrainConfig",
    "TrainResult",
    "ctc_loss",
    "make_accelerator",
    "evaluate_ctc",
    "atomic_torch_save",
    "load_checkpoint",
    "train_ctc",
]
