"""Figures as PNG files: training curves (matplotlib) and grids of gray pictures (PIL), each
library imported only when a figure is drawn."""

from __future__ import annotations

import io
import pathlib

import numpy as np

from zoo import storage
from zoo.errors import DataError, first_line

CURVES = ("loss", "accuracy", "exact_match", "perplexity")


def plot_history(rows: list[dict], path) -> None:
    """Training curves (loss and, where present, the task metric) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [int(r["epoch"]) + 1 for r in rows]
    metrics = [m for m in CURVES if {m, f"val_{m}"} & set(rows[0])]
    fig, axes = plt.subplots(1, len(metrics) or 1, figsize=(5 * max(1, len(metrics)), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for key in (metric, f"val_{metric}"):
            if key in rows[0]:
                ax.plot(epochs, [np.nan if r.get(key) is None else float(r[key]) for r in rows], marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    storage.atomic_write_bytes(path, buffer.getvalue())


def grid(pictures, *, labels=None, scale: int = 2, gap: int = 2):
    """Pictures (rows, columns, height, width) gray in [0, 1] as one PIL image: a row of
    pictures per row, each `scale` times its size, with `labels` (one per row) at the left."""
    from PIL import Image, ImageDraw

    pictures = np.asarray(pictures, dtype=np.float32)
    rows, columns, height, width = pictures.shape
    cell_h, cell_w = height * scale + gap, width * scale + gap
    label_w = 0 if not labels else 8 + 6 * max(map(len, labels))  # PIL's default font: about 6 pixels a character
    canvas = Image.new("L", (label_w + columns * cell_w + gap, rows * cell_h + gap), color=255)
    draw = ImageDraw.Draw(canvas)
    for r in range(rows):
        if labels:
            draw.text((4, gap + r * cell_h + cell_h // 2 - 6), str(labels[r]), fill=0)
        for c in range(columns):
            tile = Image.fromarray(np.rint(pictures[r, c] * 255).astype(np.uint8), mode="L")
            canvas.paste(tile.resize((width * scale, height * scale), Image.NEAREST),
                         (label_w + gap + c * cell_w, gap + r * cell_h))
    return canvas


def png_path(path, *, overwrite: bool = False):
    """`path` as a PNG file to write, checked before any work is done: a .png name in an
    existing folder, and no file there already unless `overwrite` (as `zoo train`, `export`
    and `ship` ask for --overwrite); else a one-line DataError."""
    path = pathlib.Path(path)
    if path.suffix.lower() != ".png":
        raise DataError(f"--out {path}: expected a file name ending in .png")
    if path.is_dir():
        raise DataError(f"--out {path}: a folder; expected a .png file name")
    if not path.parent.is_dir():
        raise DataError(f"--out {path}: no folder {path.parent}; create it first")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise DataError(f"--out {path}: the file exists; pass --overwrite to replace it, or choose another name")
    return path


def write_png(path, image, *, overwrite: bool = False) -> None:
    """Write a PIL image as a PNG at `path` atomically (a failed write leaves what was there);
    a path :func:`png_path` refuses is a one-line DataError."""
    path = png_path(path, overwrite=overwrite)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    try:
        storage.atomic_write_bytes(path, buffer.getvalue())
    except OSError as error:
        raise DataError(f"--out {path}: cannot write it ({first_line(error)})") from None
