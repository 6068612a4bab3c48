"""Table 1's visual navigation column at CPU scale, end to end from scratch."""

from __future__ import annotations

from experiments.studies.options import SMALL_CONV_GPPN, SMALL_SYMVIN
from experiments.training.sweeps import Run, Sweep

VISUAL_TWINS = Sweep(
  preset="visual",
  recipe="stable",
  description="Table 1's 'Visual Nav.' column at CPU scale: each planner learns with the paper's CNN mapper from "
  "the rendered views, end to end from scratch (the action loss plus the map's cross-entropy; '_action_loss' "
  "runs: the action loss alone); the stable recipe and the preset's bias-corrected RMSprop ('_uncorrected' runs: "
  "PyTorch's, whose first steps are up to 10x the learning rate); SymVIN, ConvGPPN and GPPN at the family_twins sizes.",
  runs=(
    Run("vin", {"planner": "vin"}, "K = 30"),
    Run("id_vin", {"planner": "id_vin"}, "K_fwd = 30"),
    Run("vin_uncorrected", {"planner": "vin", "rmsprop_bias_correction": False}, "K = 30, PyTorch's RMSprop"),
    Run("id_vin_uncorrected", {"planner": "id_vin", "rmsprop_bias_correction": False}, "K_fwd = 30, PyTorch's RMSprop"),
    Run("vin_action_loss", {"planner": "vin", "map_loss_weight": 0.0}, "K = 30, no map loss"),
    Run("id_vin_action_loss", {"planner": "id_vin", "map_loss_weight": 0.0}, "K_fwd = 30, no map loss"),
    Run("symvin", {"planner": "symvin", **SMALL_SYMVIN}, "20 fields, K = 30"),
    Run("id_symvin", {"planner": "id_symvin", **SMALL_SYMVIN}, "20 fields, K_fwd = 30"),
    Run("conv_gppn", {"planner": "conv_gppn", **SMALL_CONV_GPPN}, "hidden 32, K = 30"),
    Run("id_conv_gppn", {"planner": "id_conv_gppn", **SMALL_CONV_GPPN}, "hidden 32, K_fwd = 30"),
    Run("gppn", {"planner": "gppn", **SMALL_CONV_GPPN}, "hidden 32, K = 30"),
  ),
)
