"""The demo's plot: one panel per action dimension over the chunk's horizon, each backend drawn in its own style, with
the TT vs reference PCC, where each backend ran and, when the weights are random, a note saying so."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen before pyplot loads)
import numpy as np  # noqa: E402

STYLES = {"reference": dict(color="#1f4e99", linestyle="-", linewidth=2.4),
          "tt": dict(color="#e8710a", linestyle="--", linewidth=1.3, marker=".", markersize=3)}
NAMES = {"reference": "reference", "tt": "TT"}
PANEL_W, PANEL_H = 3.4, 2.3  # inches


def _grid(panels: int) -> tuple[int, int]:
    """(rows, columns): at most 4 columns up to 12 panels (the robot's dims), 8 beyond (all 32 model dims)."""
    columns = min(panels, 4 if panels <= 12 else 8)
    return math.ceil(panels / columns), columns


def _caption(chunks: dict[str, np.ndarray], labels: dict[str, str], agreement: float | None, steps: int,
             units: str) -> str:
    runs = "; ".join(f"{NAMES.get(b, b)}: {label}" for b, label in labels.items())
    lines = [f"{steps} denoising steps. {runs}"]
    if agreement is not None:
        largest = float(np.abs(chunks["tt"] - chunks["reference"]).max())
        lines.insert(0, f"PCC TT vs reference {agreement:.5f} (whole chunk, model units); largest difference "
                        f"{largest:.3g} {units}")
    return "\n".join(lines)


def plot_actions(chunks: dict[str, np.ndarray], path: Path, title: str, labels: dict[str, str],
                 agreement: float | None, steps: int, units: str, note: str | None = None) -> Path:
    """chunks: backend -> actions [horizon, action_dim] in `units` for one batch element; labels: backend -> where
    it ran (shown under the title)."""
    dims = next(iter(chunks.values())).shape[1]
    rows, columns = _grid(dims)
    fig, axes = plt.subplots(rows, columns, figsize=(PANEL_W * columns, PANEL_H * rows + 1.6), sharex=True,
                             squeeze=False, dpi=110)
    for dim, ax in enumerate(axes.flat):
        if dim >= dims:
            ax.axis("off")
            continue
        for backend, actions in chunks.items():
            ax.plot(actions[:, dim], label=NAMES.get(backend, backend), **STYLES.get(backend, {}))
        ax.set_title(f"action dim {dim}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    for column in range(columns):  # the lowest panel of each column carries the x axis
        lowest = axes[(dims - 1 - column) // columns, column]
        lowest.set_xlabel("step of the chunk", fontsize=9)
        lowest.tick_params(labelbottom=True)
    for ax in axes[:, 0]:
        ax.set_ylabel(units, fontsize=9)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper right", ncol=len(chunks), fontsize=10, frameon=False)
    fig.suptitle(title, x=0.01, ha="left", fontsize=13, fontweight="bold")
    fig.text(0.01, 1 - 0.5 / fig.get_figheight(), _caption(chunks, labels, agreement, steps, units), ha="left",
             va="top", fontsize=9.5)
    if note:
        fig.text(0.5, 0.01, note, ha="center", va="bottom", fontsize=10, color="#8b0000", fontweight="bold",
                 bbox=dict(facecolor="#fde8e8", edgecolor="#8b0000", boxstyle="round,pad=0.4"))
    top = 1 - 0.8 / fig.get_figheight()
    bottom = 0.5 / fig.get_figheight() if note else 0.02
    fig.tight_layout(rect=(0, bottom, 1, top))
    fig.savefig(path)
    plt.close(fig)
    return path
