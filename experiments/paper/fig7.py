"""Figure 7: training curves of the six planners, 15×15 at K = 80 and the scale's largest maze."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from experiments.paper import figure
from experiments.paper.scales import Scale
from experiments.training.sweeps import Run

K = 80
SETBACK = 20.0
"""A fall of a seed's validation %Success from one epoch to the next this large (points) is a setback."""


def settings(scale: Scale) -> tuple[int, ...]:
  """The maze sides of the two panels: 15 and the scale's largest."""
  return (15, max(scale.sizes))


def runs(scale: Scale) -> tuple[Run, ...]:
  return tuple(
    figure.run(
      scale,
      planner,
      f"{planner}_{size}_k{K}",
      f"{size}×{size}, K = {K}",
      scale.size_defaults(size),
      size=size,
      **figure.budget(planner, K),
    )
    for size in settings(scale)
    for planner in (*figure.EXPLICIT, *figure.IMPLICIT)
  )


def draw(rows: Sequence[figure.Row], scale: Scale, path: str) -> None:
  """Validation %Success (mean over seeds) against epoch, one panel per maze size; a run that
  stopped ends its line with a cross."""
  sizes = settings(scale)
  fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.5), squeeze=False)
  for ax, size in zip(axes[0], sizes):
    for i, planner in enumerate((*figure.EXPLICIT, *figure.IMPLICIT)):
      row = next((r for r in rows if r["flags"]["planner"] == planner and r["flags"]["size"] == size), None)
      if row is None or "val_success_curve" not in row:
        continue
      curve = row["val_success_curve"]
      style = "--" if planner in figure.IMPLICIT else "-"
      ax.plot(range(1, len(curve) + 1), curve, style, color=f"C{i % 3}", label=figure.NAMES[planner])
      if row["status"] in ("diverged", "out of memory"):
        ax.plot(len(curve), curve[-1], marker="x", color=f"C{i % 3}", markersize=10)
    ax.set(xlabel="epoch", ylabel="validation %Success", title=f"{size}×{size}, K = {K}", ylim=(-3, 103))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize=8)
  figure.save(fig, "Training curves (figure 7)", scale, path)


def stability(rows: Sequence[figure.Row]) -> str:
  """How steadily each run learned, from its seeds' validation curves, as Markdown: the mean
  validation %Success over the epochs (the area under the curve; mean ± std over seeds), the
  setbacks (falls of `SETBACK` points or more from one epoch to the next, all seeds together) and
  the largest fall."""
  lines = [
    f"| run | mean val %Succ over the epochs | setbacks (≥ {SETBACK:g} points) | largest fall |",
    "|---|---|---|---|",
  ]
  for row in rows:
    per_seed = row.get("val_success_per_seed_curve")
    if not per_seed or any(epoch is None for epoch in per_seed):
      continue
    curves = np.asarray(per_seed, dtype=float)  # [epoch, seed]
    area = curves.mean(axis=0)
    falls = -np.diff(curves, axis=0)
    largest = max(float(falls.max()), 0.0) if falls.size else 0.0
    lines.append(
      f"| {row['label']} | {area.mean():.1f} ± {area.std():.1f} | {int((falls >= SETBACK).sum())} | {largest:.1f} |"
    )
  return "\n".join(lines) + "\n"


FIGURE = figure.Figure(
  name="fig7",
  claim="ID-VIN and VIN train comparably; ID-SymVIN learns reliably where SymVIN fails; ID-ConvGPPN is "
  "the best and most stable",
  runs=runs,
  draw=draw,
  columns=("planner", "size", "budget"),
  summary=stability,
)
