"""Training recipes: per planner, the flags a run starts from before the user's own.

A recipe is the library's planner options for it (`implicit_planning.planners.recipes`: ``stable``
or ``paper``) and the optimiser's settings here. ``paper`` is the paper's cell and optimiser (the
`Config` defaults). ``stable`` is what trained each family best in our study of implicit training
(`docs/implicit_training.md`, the README's "Training implicit planners"): the library's stable
options, and RMSprop at 3e-3 for VIN and ConvGPPN, explicit and implicit (the shift start and 3e-3
did not help SymVIN; GPPN was not studied).

``experiments.train`` uses ``stable`` unless told ``--recipe=paper``; the sweeps name theirs
(`sweeps.Sweep.recipe`, ``paper`` unless said: each run there lists what differs from the paper).
The precedence is preset < recipe < flags: ``--recipe=stable --learning_rate=1e-3`` keeps 1e-3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import implicit_planning as ip
from experiments.training.config import Config, ConfigError

_LR_3E3 = {"learning_rate": 3e-3}
OPTIMISER: dict[str, Mapping[str, Mapping[str, Any]]] = {
  "paper": {},
  "stable": {"vin": _LR_3E3, "id_vin": _LR_3E3, "conv_gppn": _LR_3E3, "id_conv_gppn": _LR_3E3},
}
"""Per recipe and planner, the optimiser flags that differ from the paper's."""
RECIPES = tuple(OPTIMISER)


def recipe_flags(recipe: str, planner: str) -> dict[str, Any]:
  """The training flags ``recipe`` gives ``planner``.

  Raises:
    ConfigError: unknown recipe (the message lists the known ones).
  """
  if recipe not in OPTIMISER:
    raise ConfigError(f"unknown recipe {recipe!r}; known recipes: {', '.join(RECIPES)}")
  return {**ip.recipe_options(recipe, planner), **OPTIMISER[recipe].get(planner, {})}


def configure(preset: Config, recipe: str, flags: Mapping[str, Any]) -> Config:
  """``preset`` with the flags of ``recipe`` for the planner, then ``flags`` (which win)."""
  return preset.replace(**{**recipe_flags(recipe, flags.get("planner", preset.planner)), **flags})
