"""Figures to files: PNG, PDF and SVG, each written atomically and reproducibly (:func:`save_figure`).

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
from layerprobe.io.figure_style import paper_style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PathLike = Union[str, "os.PathLike[str]"]

#: The file formats :func:`save_figure` writes: a raster image and two vector ones (text kept as text).
FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf", "svg")
#: The formats written when the caller names none: the file's own and these.
DEFAULT_FORMATS: tuple[str, ...] = ("png", "pdf")


def save_figure(figure: "Figure", out: PathLike, *, formats: Sequence[str] | None = None) -> list[Path]:
    """Write a figure as PNG (200 dpi), PDF and/or SVG, tightly cropped, each file atomically.

    The files are written under :func:`~layerprobe.io.figure_style.paper_style` (text kept as
    text in PDF and SVG, the same ids in SVG), without creation dates: the same figure gives the
    same bytes.

    Parameters
    ----------
    figure : matplotlib Figure
        The figure to write.
    out : path-like
        A ``.png``, ``.pdf`` or ``.svg`` path; its folder is created.
    formats : sequence of str, optional
        The formats to write (of :data:`FIGURE_FORMATS`), each to ``out`` with that suffix.
        Default: ``out``'s own format and those of :data:`DEFAULT_FORMATS` (PNG and PDF).

    Returns
    -------
    list of Path
        The files written, ``out``'s format first.

    Raises
    ------
    ConfigError
        When ``out`` does not end in .png, .pdf or .svg, or a format is none of them.
    ResultError
        When a file cannot be written.
    """
    out = Path(out)
    own = out.suffix.lower().lstrip(".")
    if own not in FIGURE_FORMATS:
        raise ConfigError("a figure file must end in .png, .pdf or .svg", path=out)
    if formats is None:
        wanted = [own] + [other for other in DEFAULT_FORMATS if other != own]
    else:
        if isinstance(formats, str):
            formats = [formats]
        wanted = list(dict.fromkeys(fmt.lower().lstrip(".") for fmt in formats))
        unknown = [fmt for fmt in wanted if fmt not in FIGURE_FORMATS]
        if unknown or not wanted:
            raise ConfigError(f"figure formats must be png, pdf or svg, not {', '.join(unknown) or 'nothing'}")
    written = []
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with paper_style():
            for fmt in wanted:
                target = out if fmt == own else out.with_suffix(f".{fmt}")
                # No creation date: the same figure gives the same bytes.
                metadata = {"CreationDate": None} if fmt == "pdf" else {"Date": None} if fmt == "svg" else None
                dpi = 200 if fmt == "png" else "figure"
                with atomic_path(target) as partial:
                    figure.savefig(partial, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
                written.append(target)
    except OSError as exc:
        raise ResultError(f"cannot write the figure ({exc.strerror or exc})", path=out) from None
    return written
