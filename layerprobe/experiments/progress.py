"""The progress bar the runners show over layers (tqdm; silent when not a terminal or when asked)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence


def layer_progress(layers: Sequence[str], *, progress: bool, what: str) -> Iterator[str]:
    """Iterate over ``layers`` with a bar labelled ``what`` (one step per layer)."""
    from tqdm.auto import tqdm

    return iter(tqdm(layers, desc=what, unit="layer", disable=None if progress else True, leave=False))
