"""Figure 2: explicit planners against K on growing mazes; they diverge or run out of memory."""

from __future__ import annotations

from collections.abc import Sequence

from experiments.paper import figure
from experiments.paper.scales import Scale
from experiments.training.sweeps import Run

KS = (10, 30, 50, 80)


def runs(scale: Scale, planners: Sequence[str] = figure.EXPLICIT) -> tuple[Run, ...]:
  """Each planner at each size and K (layers of an explicit planner, forward iterations of an implicit one)."""
  return tuple(
    figure.run(
      scale,
      planner,
      f"{planner}_{size}_k{k}",
      f"{size}×{size}, K = {k}",
      scale.size_defaults(size),
      size=size,
      **figure.budget(planner, k),
    )
    for planner in planners
    for size in scale.sizes
    for k in KS
  )


def draw(rows: Sequence[figure.Row], scale: Scale, path: str, title: str = "Explicit planners (figure 2)") -> None:
  """Success against K, one panel per maze size."""
  figure.panels(
    rows,
    scale,
    path,
    x="budget",
    xlabel="K (explicit: layers; implicit: forward iterations)",
    panel_flag="size",
    panel_values=scale.sizes,
    panel_title=lambda size: f"{size}×{size}",
    title=title,
  )


FIGURE = figure.Figure(
  name="fig2",
  claim="explicit planners need more layers (K) on larger mazes, and with more layers or larger "
  "mazes some diverge or run out of memory",
  runs=runs,
  draw=draw,
  columns=("planner", "size", "budget"),
)
