"""Figure 4: implicit planners against their forward iterations on growing mazes."""

from __future__ import annotations

from collections.abc import Sequence

from experiments.paper import fig2, figure
from experiments.paper.scales import Scale
from experiments.training.sweeps import Run


def runs(scale: Scale) -> tuple[Run, ...]:
  return fig2.runs(scale, figure.IMPLICIT)


def draw(rows: Sequence[figure.Row], scale: Scale, path: str) -> None:
  fig2.draw(rows, scale, path, title="Implicit planners (figure 4)")


FIGURE = figure.Figure(
  name="fig4",
  claim="implicit planners train stably as the forward iterations and the maze grow (compare figure 2), "
  "their backward cost fixed by K_bwd",
  runs=runs,
  draw=draw,
  columns=("planner", "size", "budget"),
)
