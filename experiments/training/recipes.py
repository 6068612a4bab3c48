"""Training recipes: per planner, the flags a run starts from before the user's own.

A recipe is the library's planner options for it (`implicit_planning.planners.recipes`: ``stable``
or ``paper``) and the optimiser's settings here. ``paper`` is the paper's cell and optimiser (the
`Config` defaults). ``stable`` is what trained each family best in our study of implicit training
(`docs/implicit_training.md`, the README's "Training implicit planners"): the library's stable
options, and RMSprop at 3e-3 for VIN and ConvGPPN, explicit and implicit (the shift start and 3e-3
did not help SymVIN; GPPN was not studied), with a cosine over the last 5 epochs for VIN, SymVIN
and ConvGPPN (without it, one of three quick-preset ID-VIN seeds ended 3.1 points below its best
epoch; it lifted ID-ConvGPPN by 1.5 points and ConvGPPN by 0.2 at 20 epochs; SymVIN's
value-iteration start was measured with it, at 1e-3), and for ConvGPPN and ID-ConvGPPN RMSprop with
its bias corrected (PyTorch's first steps, up to 10× the rate, throw the ConvGRU cell far from a
fixed point: ID-ConvGPPN on 36×36 manipulation 91.6 against 18.2, but 0.2–0.3 lower on 15×15 mazes
and 2.9 on 27×27 at K_fwd = 30; round 29; the VIN family trains better without it, round 5), and
with the update's spikes clipped at 1.5× their running mean (`spikes`; rounds 40–43: on 15×15 mazes
+0.50 / +0.02 for ConvGPPN at K = 30 / 80 and −0.01 / +0.04 for ID-ConvGPPN, on manipulation +7.2
and +1.9 (36×36) and +0.7 and +0.5 (18×18, every collapse gone); for the VIN family it moved the
score by −0.18 to +0.02 and is left out).

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
CORRECTED = {"rmsprop_bias_correction": True}
"""RMSprop with Adam's bias correction. PyTorch's RMSprop's first steps are up to 10x the learning
rate: they throw the ConvGRU cell far from a fixed point, and knock a pretrained mapper away when a
joint phase starts its optimiser afresh (its first epoch's mean map loss 5.4, the mapper's 0.02)."""
LATE_DECAY = {"lr_schedule": "cosine", "decay_epochs": 5}
"""The peak learning rate until a half cosine over the last 5 epochs takes it to 0 (fewer in a shorter run)."""
SCHEDULE_FIELDS = frozenset({"lr_schedule", "decay_epochs", "warmup_epochs"})
"""Flags that make a schedule: a user who gives any of them replaces the recipe's whole schedule."""
SPIKE_CLIP = {"update_clip": 1.5}
"""An update above 1.5 times the running mean of past update norms is scaled down to that bound."""
OPTIMISER: dict[str, Mapping[str, Mapping[str, Any]]] = {
  "paper": {},
  "stable": {
    "vin": {**_LR_3E3, **LATE_DECAY},
    "id_vin": {**_LR_3E3, **LATE_DECAY},
    "symvin": LATE_DECAY,
    "id_symvin": LATE_DECAY,
    "conv_gppn": {**_LR_3E3, **LATE_DECAY, **CORRECTED, **SPIKE_CLIP},
    "id_conv_gppn": {**_LR_3E3, **LATE_DECAY, **CORRECTED, **SPIKE_CLIP},
  },
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
  """``preset`` with the flags of ``recipe`` for the planner, then ``flags`` (which win).

  A schedule is taken whole: flags that set any part of one drop the recipe's. The recipe's late
  decay spans at most the run's epochs (after any warm-up).
  """
  chosen = recipe_flags(recipe, flags.get("planner", preset.planner))
  if SCHEDULE_FIELDS & set(flags):
    chosen = {name: value for name, value in chosen.items() if name not in SCHEDULE_FIELDS}
  merged = {**chosen, **flags}
  if "decay_epochs" in chosen:
    epochs = merged.get("epochs", preset.epochs) - merged.get("warmup_epochs", preset.warmup_epochs)
    merged["decay_epochs"] = min(chosen["decay_epochs"], epochs)
  return preset.replace(**merged)
