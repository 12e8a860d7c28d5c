"""Training curves as a PNG (matplotlib, imported only when a plot is drawn)."""

from __future__ import annotations

import io

import numpy as np

from zoo import storage

CURVES = ("loss", "accuracy", "exact_match", "perplexity")


def plot_history(rows: list[dict], png_path) -> None:
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
    storage.atomic_write_bytes(png_path, buffer.getvalue())
