"""Device options (``--device cpu|cuda[:N]``) checked against this machine, for models and k-means alike."""

from __future__ import annotations

import torch

from layerprobe.errors import ConfigError


def resolve_device(device: str | torch.device) -> torch.device:
    """Check a device option (``"cpu"``, ``"cuda"``, ``"cuda:1"``) against this machine.

    Raises
    ------
    ConfigError
        For a malformed name, or a CUDA device this machine does not have.
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"--device {device!r} is not a device name (use cpu or cuda[:N]): {exc}") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise ConfigError(f"--device {device}: only cpu and cuda[:N] are supported")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"--device {device}: CUDA is not available on this machine (torch {torch.__version__}); use --device cpu"
        )
    if resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return resolved


__all__ = ["resolve_device"]
