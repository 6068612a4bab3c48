"""Recipes: the option defaults each planner is built with unless told otherwise.

``make_planner`` starts from a recipe's options for the planner, then the caller's. ``stable``
(the default) is what trained each family best in our study of implicit training
(`docs/implicit_training.md`; the README's "Training implicit planners"); ``paper`` is the paper's
cell, the `PlannerOptions` defaults:

* VIN: the value-iteration start: value kernels that start as a discounted shift (`value_init`),
  value iteration's reward read at each cell (`reward_init="goal"`) and a policy head greedy in the
  values (`head_init`), so the untrained planner is value iteration and training starts from a
  working planner instead of a plateau that random seeds leave at different times; the value
  kernels squashed below 0.99, so the cell is a 0.99-contraction: the implicit planner gets a real
  equilibrium (the paper's unconstrained cell becomes expansive in training and diverges), and the
  explicit one, with the same cell, trains as well as its implicit twin (96.55 ± 0.03 against
  96.1 ± 0.1 unsquashed at the quick preset, 97.43 against 97.08 at K = 80, 97.90 against 97.8 at
  the paper preset; three seeds each);
* SymVIN: the value-iteration start too (with the equivariant greedy head,
  `symvin.equivariant_head_init`), and both cells squashed below 0.99: the implicit one for its
  equilibrium, the explicit one because its unbounded cell diverged at K = 80 (two seeds of three
  non-finite at step 3) where the squashed one trains without a dip (99.77 ± 0.12; quick preset, 20
  fields), at the price of 0.4 points of %Success at K = 30 (98.50 ± 0.19 against 98.90 ± 0.22,
  %Optimal level);
* ID-ConvGPPN: its gradient from 30 undamped cell steps at the forward solve's
  point (the phantom gradient: backpropagation through the last 30 steps), since its forward
  solve does not converge and the implicit function theorem's gradient would be taken at a point
  that is not a fixed point; and 80 forward iterations, with which the forward residual falls
  during training instead of growing (quick preset, hidden 32, three seeds: 99.59 ± 0.14 %Success
  and 98.78 ± 0.35 %Optimal, the explicit ConvGPPN 99.00 ± 0.27 and 98.67 ± 0.13; 20 undamped
  steps 99.33 ± 0.09 but 97.75 ± 0.20 %Optimal, their values ordering cells 15–30 moves out
  loosely; 10 undamped 98.65 ± 0.36; 10 damped 98.3 ± 0.1);
* ConvGPPN, explicit and implicit: 32 reward maps instead of the paper's one, read by the cell at
  every step and by the explicit twin's initial-state layer (`reward_channels`), at the same step
  cost; it lifted both twins on every task measured (test %Success, three seeds or more): 15×15
  mazes at K = 10 (ConvGPPN 97.50 against 96.41, ID-ConvGPPN 99.59 against 99.19), 27×27 mazes at
  K = 30 (six seeds: 72.06 against 66.58, 67.39 against 61.94), 36×36 manipulation at K = 30
  (96.57 against 94.46, 96.41 against 93.49) and the paper preset's 15×15 data at K = 80 (99.97
  against 99.88, 99.88 against 99.73); and those maps encoded through a ReLU (`reward_encoder`), so
  each is a nonlinear function of its cell's 3×3 neighbourhood: it lifted the implicit twin on every
  task measured (15×15 at K = 10: 99.73 against 99.59; 27×27, six seeds: 73.11 against 67.39;
  36×36 manipulation: 97.39 against 96.41) and the explicit one on mazes (97.73 against 97.50;
  75.50 against 72.06), level on manipulation (96.59 against 96.57, its seeds tighter) and on the
  paper preset's data at K = 80, where the twins now tie (99.97 each; ID-ConvGPPN from 99.88);
* GPPN: the paper's (not studied).

The optimiser's part of a recipe (the learning rate) is the experiments' (`experiments.training.
recipes`). A family registered later has no entry, so it gets the `PlannerOptions` defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_VALUE_ITERATION = {"value_init": "shift", "reward_init": "goal", "head_init": "greedy"}
_SQUASHED = {"contraction": 0.99, "contraction_form": "squash"}

_SQUASHED_VALUE_ITERATION = {**_VALUE_ITERATION, **_SQUASHED}

_REWARD_MAPS = {"reward_channels": 32, "reward_encoder": "relu"}

STABLE: dict[str, dict[str, Any]] = {
  "vin": _SQUASHED_VALUE_ITERATION,
  "id_vin": _SQUASHED_VALUE_ITERATION,
  "symvin": _SQUASHED_VALUE_ITERATION,
  "id_symvin": _SQUASHED_VALUE_ITERATION,
  "conv_gppn": _REWARD_MAPS,
  "id_conv_gppn": {**_REWARD_MAPS, "backward_solver": "phantom", "k_bwd": 30, "phantom_damping": 1.0, "k_fwd": 80},
}
"""Per planner, the options that differ from the paper's."""

RECIPES: dict[str, Mapping[str, Mapping[str, Any]]] = {"paper": {}, "stable": STABLE}
DEFAULT_RECIPE = "stable"


def recipe_options(recipe: str, planner: str) -> dict[str, Any]:
  """The `PlannerOptions` fields ``recipe`` sets for ``planner`` (a registry name).

  Raises:
    ValueError: unknown recipe (the message lists the known ones).
  """
  if recipe not in RECIPES:
    raise ValueError(f"Unknown recipe {recipe!r}; expected one of {', '.join(RECIPES)}.")
  return dict(RECIPES[recipe].get(planner, {}))
