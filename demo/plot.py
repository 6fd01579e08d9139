"""The demo's plot: one line per action dimension over the horizon, one line style per backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen before pyplot loads)
import numpy as np  # noqa: E402

STYLES = {"reference": "-", "tt": "--"}


def plot_actions(chunks: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """chunks: backend -> actions [horizon, action_dim] for one batch element."""
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    colors = plt.get_cmap("tab10")
    for backend, actions in chunks.items():
        for dim in range(actions.shape[1]):
            ax.plot(actions[:, dim], STYLES.get(backend, ":"), color=colors(dim % 10),
                    label=f"dim {dim}" if backend == next(iter(chunks)) else None, linewidth=1.6)
    ax.set_xlabel("step of the action chunk")
    ax.set_ylabel("action (robot units)")
    ax.set_title(title + "   (" + ", ".join(f"{STYLES.get(b, ':')} {b}" for b in chunks) + ")")
    ax.legend(ncol=4, fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
