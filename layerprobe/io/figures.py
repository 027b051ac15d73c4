"""Figures to files: PNG and PDF, each written atomically and reproducibly (:func:`save_figure`).

Every figure layerprobe writes (layer trends, attention grids and viewer images, audiation
spectrograms) goes through here, so that a half-written image never replaces a good one and the
same figure gives the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Union

from layerprobe.errors import ConfigError, ResultError
from layerprobe.io.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PathLike = Union[str, "os.PathLike[str]"]

#: The file formats :func:`save_figure` writes.
FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf")


def save_figure(figure: "Figure", out: PathLike, *, formats: Sequence[str] | None = None) -> list[Path]:
    """Write a figure as PNG (200 dpi) and PDF, tightly cropped, each file atomically.

    Parameters
    ----------
    figure : matplotlib Figure
        The figure to write.
    out : path-like
        A ``.png`` or ``.pdf`` path; its folder is created.
    formats : sequence of str, optional
        The formats to write (``"png"``, ``"pdf"``), each to ``out`` with that suffix.  Default:
        ``out``'s own format and the other one.

    Returns
    -------
    list of Path
        The files written, ``out``'s format first.

    Raises
    ------
    ConfigError
        When ``out`` does not end in .png or .pdf, or a format is neither.
    ResultError
        When a file cannot be written.
    """
    out = Path(out)
    own = out.suffix.lower().lstrip(".")
    if own not in FIGURE_FORMATS:
        raise ConfigError("a figure file must end in .png or .pdf", path=out)
    if formats is None:
        wanted = [own] + [other for other in FIGURE_FORMATS if other != own]
    else:
        if isinstance(formats, str):
            formats = [formats]
        wanted = list(dict.fromkeys(fmt.lower().lstrip(".") for fmt in formats))
        unknown = [fmt for fmt in wanted if fmt not in FIGURE_FORMATS]
        if unknown or not wanted:
            raise ConfigError(f"figure formats must be png or pdf, not {', '.join(unknown) or 'nothing'}")
    written = []
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for fmt in wanted:
            target = out if fmt == own else out.with_suffix(f".{fmt}")
            # No creation date in the PDF: the same figure gives the same bytes.
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            dpi = 200 if fmt == "png" else "figure"
            with atomic_path(target) as partial:
                figure.savefig(partial, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
            written.append(target)
    except OSError as exc:
        raise ResultError(f"cannot write the figure ({exc.strerror or exc})", path=out) from None
    return written
