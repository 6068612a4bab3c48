"""Explicit planners and their implicit twins at the paper preset."""

from __future__ import annotations

from experiments.studies.options import SHIFT_LR_3E3, SQUASHED, SQUASHED_CONVERGED, id_vin_run
from experiments.training.sweeps import Run, Sweep

PAPER_TWINS = Sweep(
  preset="paper",
  description="Explicit planners and their implicit twins at the paper preset (README, 'Training implicit planners').",
  runs=(
    Run("vin", {"planner": "vin"}, "K = 30"),
    Run("vin_k80", {"planner": "vin", "k": 80}, "K = 80"),
    id_vin_run("id_vin", "the paper's unconstrained cell, K_fwd = 30"),
    id_vin_run("squash", "squashed below 0.99, K_fwd = 30", **SQUASHED),
    id_vin_run("squash_k80", "squashed below 0.99, K_fwd = 80", **SQUASHED, k_fwd=80),
    id_vin_run(
      "squash_converged",
      "squashed below 0.99, Anderson forward (80, tolerance 1e-4) and backward (40)",
      **SQUASHED_CONVERGED,
    ),
    Run("symvin", {"planner": "symvin"}, "K = 30"),
    Run("id_symvin", {"planner": "id_symvin"}, "the paper's unconstrained cell, K_fwd = 30"),
    Run("id_symvin_squash", {"planner": "id_symvin", **SQUASHED}, "squashed below 0.99, K_fwd = 30"),
    Run("conv_gppn", {"planner": "conv_gppn"}, "K = 30"),
    Run("id_conv_gppn", {"planner": "id_conv_gppn"}, "K_fwd = 30"),
    Run("vin_shift_lr_3e-3", {"planner": "vin", **SHIFT_LR_3E3}, "K = 30, shift start, learning rate 3e-3"),
    Run("vin_k80_shift_lr_3e-3", {"planner": "vin", "k": 80, **SHIFT_LR_3E3}, "K = 80, shift start, 3e-3"),
    id_vin_run("squash_shift_lr_3e-3", "squashed, K_fwd = 30, shift start, 3e-3", **SQUASHED, **SHIFT_LR_3E3),
    id_vin_run(
      "squash_k80_shift_lr_3e-3", "squashed, K_fwd = 80, shift start, 3e-3", **SQUASHED, k_fwd=80, **SHIFT_LR_3E3
    ),
    id_vin_run(
      "squash_converged_shift_lr_3e-3",
      "squashed, Anderson forward (80, tolerance 1e-4) and backward (40), shift start, 3e-3",
      **SQUASHED_CONVERGED,
      **SHIFT_LR_3E3,
    ),
    Run("symvin_shift_lr_3e-3", {"planner": "symvin", **SHIFT_LR_3E3}, "K = 30, shift start, 3e-3"),
    Run(
      "id_symvin_squash_shift_lr_3e-3",
      {"planner": "id_symvin", **SQUASHED, **SHIFT_LR_3E3},
      "squashed, K_fwd = 30, shift start, 3e-3",
    ),
  ),
)
