"""Figure 14 (appendix E.4): the Jacobian regularisation's weight against success (15×15, K_fwd = 30).

The paper also varies how often the penalty is applied; ours is applied at every step (there is no
frequency option), so only the weight is swept.
"""

from __future__ import annotations

from collections.abc import Sequence

from experiments.paper import figure
from experiments.paper.scales import Scale
from experiments.training.sweeps import Run

WEIGHTS = (0.0, 0.1, 1.0, 10.0)


def runs(scale: Scale) -> tuple[Run, ...]:
  return tuple(
    figure.run(
      scale,
      planner,
      f"{planner}_jac{weight:g}",
      f"Jacobian penalty weight {weight:g}",
      size=15,
      k_fwd=30,
      jacobian_reg=weight,
    )
    for planner in figure.IMPLICIT
    for weight in WEIGHTS
  )


def draw(rows: Sequence[figure.Row], scale: Scale, path: str) -> None:
  figure.panels(
    rows,
    scale,
    path,
    x="jacobian_reg",
    xlabel="Jacobian penalty weight",
    panel_flag="size",
    panel_values=(15,),
    panel_title=lambda size: f"{size}×{size}, K_fwd = 30",
    title="Jacobian regularisation (figure 14)",
    xscale={"value": "symlog", "linthresh": 0.1},
    xlim=(-0.02, 1.5 * WEIGHTS[-1]),  # no empty negative side
  )


FIGURE = figure.Figure(
  name="fig14",
  claim="Jacobian regularisation (Bai et al., 2021) did not help the implicit planners (the paper's E.4)",
  runs=runs,
  draw=draw,
  columns=("planner", "jacobian_reg"),
)
