"""Figure 11 (appendix E.2): the implicit planners' forward and backward solvers, and the backward
iterations, against success (15×15, K_fwd = 30)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from experiments.paper import figure
from experiments.paper.scales import Scale
from experiments.training.sweeps import Run

SOLVERS = ("iteration", "anderson")
K_BWD = (5, 10, 15, 30)
DEFAULT_K_BWD = 15


def runs(scale: Scale) -> tuple[Run, ...]:
  """Every (forward, backward) solver pair at K_bwd = 15, and K_bwd swept with iteration forward and
  Anderson backward (the paper's default pair)."""
  pairs = [(f, b, DEFAULT_K_BWD) for f in SOLVERS for b in SOLVERS]
  pairs += [("iteration", "anderson", k_bwd) for k_bwd in K_BWD if k_bwd != DEFAULT_K_BWD]
  return tuple(
    figure.run(
      scale,
      planner,
      f"{planner}_{forward}_{backward}_bwd{k_bwd}",
      f"forward {forward}, backward {backward} ({k_bwd} iterations)",
      size=15,
      k_fwd=30,
      forward_solver=forward,
      backward_solver=backward,
      k_bwd=k_bwd,
    )
    for planner in figure.IMPLICIT
    for forward, backward, k_bwd in pairs
  )


def draw(rows: Sequence[figure.Row], scale: Scale, path: str) -> None:
  """Left: bars per planner and solver pair at K_bwd = 15; right: success against K_bwd."""
  fig, (bars, lines) = plt.subplots(1, 2, figsize=(12, 4.5))
  pairs = [(f, b) for f in SOLVERS for b in SOLVERS]
  width = 0.8 / len(pairs)
  for j, (forward, backward) in enumerate(pairs):
    where = {"forward_solver": forward, "backward_solver": backward, "k_bwd": DEFAULT_K_BWD}
    found = figure.points(rows, "k_bwd", where=where)
    means = [found.get(p, [{"mean": None}])[0]["mean"] for p in figure.IMPLICIT]
    stds = [found.get(p, [{"std": None}])[0]["std"] for p in figure.IMPLICIT]
    bars.bar(
      np.arange(len(figure.IMPLICIT)) + j * width,
      [m or 0 for m in means],
      width,
      yerr=[s or 0 for s in stds],
      label=f"fwd {forward} / bwd {backward}",
      capsize=2,
    )
  bars.set_xticks(np.arange(len(figure.IMPLICIT)) + 0.4 - width / 2, [figure.NAMES[p] for p in figure.IMPLICIT])
  bars.set(ylabel="test %Success", ylim=(0, 103), title=f"solvers, K_bwd = {DEFAULT_K_BWD}")
  bars.legend(fontsize=7)
  figure.plot_success(
    lines,
    figure.points(rows, "k_bwd", where={"forward_solver": "iteration", "backward_solver": "anderson"}),
    "backward iterations K_bwd",
    "forward iteration, backward Anderson",
  )
  lines.legend(fontsize=8)
  figure.save(fig, "Solver choice (figure 11)", scale, path)


FIGURE = figure.Figure(
  name="fig11",
  claim="an Anderson backward solve beats forward iteration; the backward solve has converged by about "
  "10 iterations, so more do not help",
  runs=runs,
  draw=draw,
  columns=("planner", "forward_solver", "backward_solver", "k_bwd"),
)
