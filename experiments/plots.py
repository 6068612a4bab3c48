"""Figures: training curves from `metrics.jsonl`."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top


def training_curve(metrics_path: str, out_path: str) -> None:
  """Saves a PNG of train loss and train/validation %Success against epoch."""
  with open(metrics_path) as f:
    records = [json.loads(line) for line in f if line.strip()]
  epochs = [r["epoch"] for r in records]
  fig, (loss_ax, success_ax) = plt.subplots(1, 2, figsize=(10, 4))
  loss_ax.plot(epochs, [r["loss"] for r in records], marker="o")
  # Log scale: an unstable first epoch can be orders of magnitude above the rest.
  loss_ax.set(xlabel="epoch", ylabel="train loss", title="Loss", yscale="log")
  for name in ("train_success", "val_success", "val_optimal"):
    success_ax.plot(epochs, [r[name] for r in records], marker="o", label=name)
  success_ax.set(xlabel="epoch", ylabel="%", ylim=(0, 100), title="Greedy policy")
  success_ax.legend()
  for ax in (loss_ax, success_ax):
    ax.xaxis.get_major_locator().set_params(integer=True)
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)
