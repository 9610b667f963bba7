"""Loss curves from the trainer's CSV, as a PNG people can glance at."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: training runs have no display
import matplotlib.pyplot as plt  # noqa: E402

from runtime.atomic import atomic_path  # noqa: E402

_NOT_LOSSES = {"global_step", "epoch", "phase", "seconds"}


def plot_loss_csv(csv_path, png_path) -> Path:
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    keys = [k for k in rows[0] if k not in _NOT_LOSSES]
    groups = sorted({k.split("/")[0] for k in keys})
    fig, axes = plt.subplots(len(groups), 1, figsize=(8, 2.6 * len(groups)), squeeze=False)
    steps = [int(r["global_step"]) for r in rows]
    for ax, group in zip(axes[:, 0], groups):
        for k in (k for k in keys if k.split("/")[0] == group):
            pts = [(s, float(r[k])) for s, r in zip(steps, rows) if r.get(k) not in ("", None)]
            if pts:
                ax.plot(*zip(*pts), label=k.split("/", 1)[1])
        ax.set_title(group)
        ax.set_xlabel("step")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    png_path = Path(png_path)
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
    return png_path
