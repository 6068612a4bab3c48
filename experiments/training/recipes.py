"""Training recipes: per planner, the flags a run starts from before the user's own.

``paper`` is the paper's cell and optimiser (the `Config` defaults). ``stable`` is what trained
each family best in our study of implicit training (`docs/implicit_training.md`, the README's
"Training implicit planners"), for the explicit twin as for the implicit one where the lever is not
specific to implicit training:

* VIN: value kernels that start as a discounted shift (`value_init=shift`) and RMSprop at 3e-3;
  the implicit cell's value kernels squashed below 0.99 (a 0.99-contraction);
* SymVIN: the implicit cell squashed below 0.99 (the shift start and 3e-3 did not help it);
* ConvGPPN: 3e-3; the implicit planner's gradient from 10 damped cell steps at the forward
  solve's point (the phantom gradient: its forward solve does not converge);
* GPPN: the paper's (not studied).

``experiments.train`` uses ``stable`` unless told ``--recipe=paper``; the sweeps name theirs
(`sweeps.Sweep.recipe`, ``paper`` unless said: each run there lists what differs from the paper).
The precedence is preset < recipe < flags: ``--recipe=stable --learning_rate=1e-3`` keeps 1e-3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from experiments.training.config import Config, ConfigError

_SHIFT_3E3 = {"value_init": "shift", "learning_rate": 3e-3}
_SQUASHED = {"contraction": 0.99, "contraction_form": "squash"}

STABLE: dict[str, dict[str, Any]] = {
  "vin": _SHIFT_3E3,
  "id_vin": {**_SHIFT_3E3, **_SQUASHED},
  "symvin": {},
  "id_symvin": _SQUASHED,
  "conv_gppn": {"learning_rate": 3e-3},
  "id_conv_gppn": {"learning_rate": 3e-3, "backward_solver": "phantom", "k_bwd": 10},
  "gppn": {},
  "id_gppn": {},
}

RECIPES: dict[str, Mapping[str, Mapping[str, Any]]] = {"paper": {}, "stable": STABLE}


def recipe_flags(recipe: str, planner: str) -> dict[str, Any]:
  """The training flags ``recipe`` gives ``planner``.

  Raises:
    ConfigError: unknown recipe (the message lists the known ones).
  """
  if recipe not in RECIPES:
    raise ConfigError(f"unknown recipe {recipe!r}; known recipes: {', '.join(RECIPES)}")
  return dict(RECIPES[recipe].get(planner, {}))


def configure(preset: Config, recipe: str, flags: Mapping[str, Any]) -> Config:
  """``preset`` with the flags of ``recipe`` for the planner, then ``flags`` (which win)."""
  return preset.replace(**{**recipe_flags(recipe, flags.get("planner", preset.planner)), **flags})
