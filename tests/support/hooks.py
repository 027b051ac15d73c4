"""Counting the hooks on a torch module tree: what extraction and surgery must leave as they found."""

from __future__ import annotations

import torch


def hook_counts(module: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """``{submodule name: (forward hooks, forward pre-hooks)}`` over ``module`` and its submodules."""
    return {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in module.named_modules()}


def n_hooks(module: torch.nn.Module) -> int:
    """All forward hooks and forward pre-hooks on ``module`` and its submodules."""
    return sum(forward + pre for forward, pre in hook_counts(module).values())


__all__ = ["hook_counts", "n_hooks"]
