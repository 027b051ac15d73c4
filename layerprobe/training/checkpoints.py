"""Checkpoints of a CTC training run: atomic writes, reading, the resumption check, RNG states.

:func:`~layerprobe.training.trainer.train_ctc` writes its complete state (model, optimizer,
scheduler, RNG states of torch, numpy and python, position, history) with :func:`atomic_torch_save`
and resumes from :func:`load_checkpoint` when the options that change the numbers are the same
(:func:`_check_resumable`).  Split out of :mod:`layerprobe.training.trainer`, which re-exports the
public names.
"""

from __future__ import annotations

import errno
import os
import random
import resource
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from layerprobe.errors import ConfigError, LayerprobeError
from layerprobe.io.atomic import atomic_path
from layerprobe.training.run_config import TrainConfig

#: File name of the resumable checkpoint in a checkpoint directory.
CHECKPOINT_NAME = "checkpoint.pt"
#: File name of the best epoch's model weights (runs with early stopping).
BEST_NAME = "best.pt"
#: Bumped when the checkpoint layout changes.
CHECKPOINT_FORMAT = 1

# TrainConfig fields that do not change the numbers a run produces: a checkpoint written with other
# values of them can still be resumed.
_RESUMABLE_FIELDS = ("device", "checkpoint_every_steps", "eval_max_batch_frames")


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # every device's generator


#: What torch's zip writer says when a write of the file fails (its errno is lost on the way).
_TORCH_WRITE_FAILURES = ("unexpected pos", "file write failed", "failed writing")


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then ``os.replace`` onto ``path``
    (:func:`layerprobe.io.atomic.atomic_path`).

    Raises
    ------
    LayerprobeError
        When the folder cannot be written (a full disk, a file-size limit, no permission); ``path``
        is left as it was.
    """
    try:
        with atomic_path(path, suffix=".tmp") as temporary:
            torch.save(obj, temporary)
    except (OSError, RuntimeError) as exc:
        no_room = _no_room(exc, Path(path).parent)
        if no_room is not None:
            raise LayerprobeError(f"cannot write the checkpoint: {no_room}", path=path) from None
        raise LayerprobeError(f"cannot write the checkpoint ({' '.join(str(exc).split())[:200]})", path=path) from None


def _no_room(exc: BaseException, folder: Path) -> str | None:
    """What to tell the user when ``exc`` is a write refused for want of room, else None.

    torch's zip writer turns a failed ``write`` (ENOSPC, EFBIG) into a RuntimeError such as
    ``[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598``; an OSError keeps its errno.
    """
    if isinstance(exc, OSError):
        if exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return None
    elif not any(text in str(exc) for text in _TORCH_WRITE_FAILURES):
        return None
    try:
        free: int | None = shutil.disk_usage(folder).free
    except OSError:
        free = None
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    limited = limit != resource.RLIM_INFINITY and (free is None or limit < free)
    if (isinstance(exc, OSError) and exc.errno == errno.EFBIG) or (not isinstance(exc, OSError) and limited):
        if limit != resource.RLIM_INFINITY:
            return (
                f"the process's file-size limit (ulimit -f) is {limit} bytes; raise it (ulimit -f unlimited) "
                "and rerun, it resumes from the last checkpoint"
            )
    if isinstance(exc, OSError) and exc.errno == errno.EDQUOT:
        return "the disk quota is exceeded; free space and rerun, it resumes from the last checkpoint"
    room = f" ({free} bytes free)" if free is not None else ""
    return f"no space left on the device{room}; free space and rerun, it resumes from the last checkpoint"


def load_checkpoint(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`train_ctc`.

    Raises
    ------
    LayerprobeError
        When the file cannot be read or is not a layerprobe checkpoint.
    """
    path = Path(path)
    try:
        # The checkpoint holds numpy / python RNG states besides tensors: not weights_only.
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch.load of a damaged file raises all kinds (IndexError, KeyError ...)
        raise LayerprobeError(f"cannot read the training checkpoint ({' '.join(str(exc).split())[:200]})", path=path) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise LayerprobeError("is not a layerprobe training checkpoint of this version", path=path)
    return state


def load_best_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read the best epoch's weights (``best.pt``) of an unfinished run, on the CPU.

    Raises
    ------
    LayerprobeError
        When the file cannot be read or does not hold a state dict: a damaged ``best.pt`` cannot be
        stood in for (the checkpoint's best scores belong to those weights), so the run must start
        again; the message says how.
    """
    path = Path(path)
    problem = None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load of a damaged file raises all kinds (IndexError, KeyError ...)
        problem = " ".join(str(exc).split())[:200] or type(exc).__name__
    else:
        if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
            problem = f"holds a {type(state).__name__}, not a state dict of tensors"
    if problem is not None:
        raise LayerprobeError(
            f"cannot read the best epoch's weights of this unfinished run ({problem}); they cannot be rebuilt: "
            f"delete {BEST_NAME} and {CHECKPOINT_NAME} in this folder to train this run again from the start "
            "(finetune: pass --overwrite)",
            path=path,
        )
    return state


def _comparable(config: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in _RESUMABLE_FIELDS}


def _check_resumable(saved: Mapping[str, Any], config: TrainConfig, path: Path) -> None:
    current, before = _comparable(config.to_dict()), _comparable(saved)
    changed = [f"{key} {before.get(key)!r} -> {current.get(key)!r}" for key in current if before.get(key) != current.get(key)]
    if changed:
        raise ConfigError(
            f"holds a checkpoint of a run with other options ({'; '.join(changed)}); "
            "continue with the same options, or use another output directory",
            path=path.parent,
        )


def _check_identity(saved: Mapping[str, Any] | None, identity: Mapping[str, Any] | None, path: Path, *, what: str) -> None:
    """Refuse a checkpoint or finished result of another run (other weights, reinit, local attention, radius).

    ``saved`` is the identity the file recorded (None for files written before identities were
    recorded: they are not compared); ``identity`` the current run's (None: nothing to compare).
    """
    if saved is None or identity is None:
        return
    changed = []
    for key in sorted(set(saved) | set(identity)):
        before, now = saved.get(key), identity.get(key)
        if before == now:
            continue
        if key == "weights_fingerprint":
            changed.append(f"model weights {str(before)[:12] if before else 'unknown'} -> {str(now)[:12] if now else 'unknown'}")
        else:
            changed.append(f"{key} {before!r} -> {now!r}")
    if changed:
        raise ConfigError(
            f"holds {what} of another run ({'; '.join(changed)}); use another --out, or pass --overwrite to start again",
            path=path.parent,
        )


def _load_model_state(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    problems = _state_problems(model.state_dict(), state)
    if problems:
        raise LayerprobeError(
            f"the checkpoint does not fit this model ({problems}); was it written for another model?", path=path
        )
    model.load_state_dict(state)


def _state_problems(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor], shown: int = 3) -> str:
    """A complete one-line summary of how a state dict differs from a model's ('' when it fits)."""
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    shapes = [
        f"{key} {tuple(found[key].shape)} vs {tuple(expected[key].shape)} here"
        for key in expected
        if key in found and tuple(found[key].shape) != tuple(expected[key].shape)
    ]
    parts = []
    for label, items in (("shape mismatch", shapes), ("missing", missing), ("unexpected", unexpected)):
        if items:
            more = f" and {len(items) - shown} more" if len(items) > shown else ""
            parts.append(f"{label}: {', '.join(items[:shown])}{more}")
    return "; ".join(parts)


__all__ = ["CHECKPOINT_NAME", "BEST_NAME", "CHECKPOINT_FORMAT", "atomic_torch_save", "load_checkpoint", "load_best_state"]
