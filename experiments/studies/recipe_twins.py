"""The README's main command and its explicit twin under the recipe, and the families' twins under it."""

from __future__ import annotations

from experiments.studies.options import JITTERED, SMALL_CONV_GPPN, SMALL_SYMVIN, SQUASHED
from experiments.training.sweeps import Run, Sweep


def family_twins_under_recipe(k: int) -> tuple[Run, ...]:
  """SymVIN (20 fields) and ConvGPPN (hidden 32) beside their implicit twins under the recipe, K (explicit)
  and K_fwd (implicit) both ``k``; labels end in ``_k<k>`` except at K = 30."""
  suffix = "" if k == 30 else f"_k{k}"
  return (
    Run(f"symvin_20{suffix}", {"planner": "symvin", **SMALL_SYMVIN, "k": k}, f"20 fields, K = {k}"),
    Run(f"id_symvin_20{suffix}", {"planner": "id_symvin", **SMALL_SYMVIN, "k_fwd": k}, f"20 fields, K_fwd = {k}"),
    Run(f"conv_gppn_32{suffix}", {"planner": "conv_gppn", **SMALL_CONV_GPPN, "k": k}, f"hidden 32, K = {k}"),
    Run(
      f"id_conv_gppn_32{suffix}", {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, "k_fwd": k}, f"hidden 32, K_fwd = {k}"
    ),
  )


RECIPE_TWINS = Sweep(
  preset="quick",
  recipe="stable",
  description="The README's main command (`--preset=quick --planner=id_vin`) under the default recipe, and its "
  "explicit twin under the same recipe: what a new user gets, over seeds (`--set=seeds=3`); and the explicit "
  "twin without the squashed cell (the recipe before round 16), which separates the cell from the gradient. "
  "Runs recorded before round 16 as 'vin' were unsquashed ('vin_squash' was the squashed one). The SymVIN "
  "and ConvGPPN twins at stated smaller sizes, at K = 30 and 80, for the paper preset's data "
  "(`--preset=paper --set=epochs=10`). The `_jitter` runs draw each step's forward budget (round 36).",
  runs=(
    Run("id_vin", {"planner": "id_vin"}, "the default recipe"),
    Run("vin", {"planner": "vin"}, "the default recipe (squashed below 0.99 since round 16)"),
    Run("vin_unsquashed", {"planner": "vin", "contraction": 0.0}, "the default recipe without the squashed cell"),
    Run(
      "vin_squash", {"planner": "vin", **SQUASHED}, "the default recipe with the squashed cell (since round 16, 'vin')"
    ),
    *family_twins_under_recipe(30),
    *family_twins_under_recipe(80),
    Run("id_vin_jitter", {"planner": "id_vin", **JITTERED}, "each step's forward budget drawn from [15, 45]"),
    Run(
      "id_symvin_20_jitter",
      {"planner": "id_symvin", **SMALL_SYMVIN, **JITTERED},
      "20 fields, each step's forward budget drawn from [15, 45]",
    ),
    Run(
      "id_conv_gppn_32_k80_jitter",
      {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, "k_fwd": 80, **JITTERED},
      "hidden 32, each step's forward budget drawn from [40, 120]",
    ),
  ),
)
