"""The studies' sweeps, one module each: a named list of flag sets (`experiments.training.sweeps.Sweep`)
that ``experiments.sweep`` runs, with the question it answers in its description. The paper's figures
are in `experiments.paper`; the flag sets the studies share are in `options` and `shared_mapper`."""

from __future__ import annotations

from experiments.studies.family_twins import FAMILY_TWINS
from experiments.studies.implicit_levers import IMPLICIT_LEVERS
from experiments.studies.mapper_rates import MAPPER_RATES
from experiments.studies.paper_twins import PAPER_TWINS
from experiments.studies.recipe_twins import RECIPE_TWINS
from experiments.studies.seed_modes import SEED_MODES
from experiments.studies.visual_pretrained import VISUAL_PRETRAINED
from experiments.studies.visual_twins import VISUAL_TWINS
from experiments.studies.workspace_arm_sweep import WORKSPACE_ARM_SWEEP
from experiments.studies.workspace_twins import WORKSPACE_TWINS
from experiments.training.config import ConfigError
from experiments.training.sweeps import Sweep

SWEEPS: dict[str, Sweep] = {
  "implicit_levers": IMPLICIT_LEVERS,
  "paper_twins": PAPER_TWINS,
  "seed_modes": SEED_MODES,
  "family_twins": FAMILY_TWINS,
  "workspace_twins": WORKSPACE_TWINS,
  "mapper_rates": MAPPER_RATES,
  "workspace_arm_sweep": WORKSPACE_ARM_SWEEP,
  "visual_twins": VISUAL_TWINS,
  "visual_pretrained": VISUAL_PRETRAINED,
  "recipe_twins": RECIPE_TWINS,
}


def get_sweep(name: str) -> Sweep:
  """The named sweep; `ConfigError` lists the known ones."""
  if name not in SWEEPS:
    raise ConfigError(f"unknown sweep {name!r}; known sweeps: {', '.join(SWEEPS)}")
  return SWEEPS[name]
