"""Table 1's visual navigation column in the paper's three phases."""

from __future__ import annotations

from experiments.studies.options import SMALL_CONV_GPPN, SMALL_SYMVIN
from experiments.studies.shared_mapper import SHARED_MAPPER, after_pretraining
from experiments.training.sweeps import Run, Sweep

VISUAL_PRETRAINED_PHASES = {"phase": "all", "pretrain_epochs": 20, "epochs": 2, **SHARED_MAPPER}
"""The planner pretrained on the true maze for 20 epochs (the quick preset's), then two joint epochs
with the sweep's mapper: the joint epochs are the expensive ones, at the mapper's cost per step."""

VISUAL_PRETRAINED = Sweep(
  preset="visual",
  recipe="stable",
  description="Table 1's 'Visual Nav.' column at CPU scale, in the paper's three phases (appendix D.1) instead of "
  "GPPN's single end-to-end one: the CNN mapper pretrained once on the map's cross-entropy (one seed, two epochs) "
  "and shared, each planner pretrained on the true maze, then both trained jointly on the action loss plus the "
  "map's; SymVIN, ConvGPPN and GPPN at the family_twins sizes. The mapper run comes first.",
  runs=after_pretraining(
    Run("mapper", {"phase": "mapper", "seeds": 1, "pretrain_epochs": 2}, "the CNN mapper alone, one seed, 2 epochs"),
    Run("vin", {"planner": "vin", **VISUAL_PRETRAINED_PHASES}, "K = 30"),
    Run("id_vin", {"planner": "id_vin", **VISUAL_PRETRAINED_PHASES}, "K_fwd = 30"),
    Run("symvin", {"planner": "symvin", **SMALL_SYMVIN, **VISUAL_PRETRAINED_PHASES}, "20 fields, K = 30"),
    Run("id_symvin", {"planner": "id_symvin", **SMALL_SYMVIN, **VISUAL_PRETRAINED_PHASES}, "20 fields, K_fwd = 30"),
    Run("conv_gppn", {"planner": "conv_gppn", **SMALL_CONV_GPPN, **VISUAL_PRETRAINED_PHASES}, "hidden 32, K = 30"),
    Run(
      "id_conv_gppn",
      {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, **VISUAL_PRETRAINED_PHASES},
      "hidden 32, K_fwd = 30",
    ),
    Run("gppn", {"planner": "gppn", **SMALL_CONV_GPPN, **VISUAL_PRETRAINED_PHASES}, "hidden 32, K = 30"),
  ),
)
