"""Planner families and the network that composes them, the registry and ``make_planner``.

One file per family (`vin`, `symvin`, `conv_gppn`, `gppn`), each a `CellFamily`;
the built-in ones are registered below, under their explicit name and with the
``id_`` prefix for the implicit mode. `recipes` holds the option defaults each
planner is built with (``stable``, or the paper's).
"""

from implicit_planning.planners.conv_gppn import CONV_GPPN
from implicit_planning.planners.family import CellFamily, RewardsAsContext, State
from implicit_planning.planners.gppn import GPPN
from implicit_planning.planners.network import INPUTS, Batch, PlannerNet, PlannerOutput, PlannerStats
from implicit_planning.planners.options import OPTION_NAMES, PlannerOptions, planner_options
from implicit_planning.planners.recipes import RECIPES, recipe_options
from implicit_planning.planners.registry import (
  PLANNERS,
  Planner,
  PlannerSpec,
  make_planner,
  planner_spec,
  register_family,
  register_planner,
  with_mode,
)
from implicit_planning.planners.symvin import SYMVIN
from implicit_planning.planners.vin import VIN

register_family("vin", VIN)
register_family("symvin", SYMVIN)
register_family("conv_gppn", CONV_GPPN)
register_family("gppn", GPPN)

__all__ = [
  "Batch",
  "CellFamily",
  "INPUTS",
  "OPTION_NAMES",
  "PLANNERS",
  "Planner",
  "PlannerNet",
  "PlannerOptions",
  "PlannerOutput",
  "PlannerSpec",
  "PlannerStats",
  "RECIPES",
  "RewardsAsContext",
  "State",
  "make_planner",
  "planner_options",
  "planner_spec",
  "recipe_options",
  "register_family",
  "register_planner",
  "with_mode",
]
