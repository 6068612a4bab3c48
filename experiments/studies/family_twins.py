"""The SymVIN and ConvGPPN twins at stated smaller sizes, and ConvGPPN's levers (rounds 6–18)."""

from __future__ import annotations

from experiments.studies.options import (
  BOUNDED_GRU,
  CONVERGED_FORWARD,
  PHANTOM_5,
  SHIFT_LR_3E3,
  SMALL_CONV_GPPN,
  SMALL_SYMVIN,
  SQUASHED,
  VI_START,
)
from experiments.training.recipes import LATE_DECAY
from experiments.training.sweeps import Run, Sweep


def undamped_phantom_conv_gppn(steps: int) -> Run:
  """ID-ConvGPPN (hidden 32) after 80 forward iterations, its gradient from ``steps`` undamped
  cell steps, at 3e-3 with the late decay: the recipe's at 20 steps from round 16, at 30 from round 18."""
  return Run(
    f"id_conv_gppn_phantom_{steps}_undamped_k80_lr_3e-3_decay_5",
    {
      "planner": "id_conv_gppn",
      **SMALL_CONV_GPPN,
      "backward_solver": "phantom",
      "k_bwd": steps,
      "phantom_damping": 1.0,
      "k_fwd": 80,
      "learning_rate": 3e-3,
      **LATE_DECAY,
    },
    f"hidden 32, K_fwd = 80, phantom gradient ({steps} undamped steps), 3e-3 decayed over the last 5 epochs",
  )


FAMILY_TWINS = Sweep(
  preset="quick",
  description="SymVIN and ConvGPPN against their implicit twins at stated smaller sizes (README, 'Training "
  "implicit planners'): the paper's recipe, the shift start at 3e-3, the late decay, and ConvGPPN's levers "
  "(a bound on the ConvGRU's state kernels, the phantom gradient, a converged forward solve).",
  runs=(
    Run("symvin", {"planner": "symvin", **SMALL_SYMVIN}, "20 fields, K = 30"),
    Run("id_symvin_squash", {"planner": "id_symvin", **SMALL_SYMVIN, **SQUASHED}, "20 fields, squashed below 0.99"),
    Run(
      "id_symvin_squash_decay_5",
      {"planner": "id_symvin", **SMALL_SYMVIN, **SQUASHED, **LATE_DECAY},
      "20 fields, squashed below 0.99, 1e-3 decayed over the last 5 epochs",
    ),
    Run(
      "symvin_decay_5",
      {"planner": "symvin", **SMALL_SYMVIN, **LATE_DECAY},
      "20 fields, K = 30, 1e-3 decayed over the last 5 epochs",
    ),
    Run("symvin_shift_lr_3e-3", {"planner": "symvin", **SMALL_SYMVIN, **SHIFT_LR_3E3}, "20 fields, shift start, 3e-3"),
    Run(
      "id_symvin_squash_shift_lr_3e-3",
      {"planner": "id_symvin", **SMALL_SYMVIN, **SQUASHED, **SHIFT_LR_3E3},
      "20 fields, squashed, shift start, 3e-3",
    ),
    Run(
      "symvin_vi_start_decay_5",
      {"planner": "symvin", **SMALL_SYMVIN, **VI_START, **LATE_DECAY},
      "20 fields, value-iteration start, 1e-3 decayed over the last 5 epochs",
    ),
    Run(
      "id_symvin_squash_vi_start_decay_5",
      {"planner": "id_symvin", **SMALL_SYMVIN, **SQUASHED, **VI_START, **LATE_DECAY},
      "20 fields, squashed below 0.99, value-iteration start, 1e-3 decayed over the last 5 epochs",
    ),
    Run(
      "symvin_squash_vi_start_decay_5",
      {"planner": "symvin", **SMALL_SYMVIN, **SQUASHED, **VI_START, **LATE_DECAY},
      "20 fields, squashed below 0.99 (the implicit twin's cell), value-iteration start, 1e-3 decayed over the last "
      "5 epochs",
    ),
    Run(
      "symvin_vi_start_k80_decay_5",
      {"planner": "symvin", **SMALL_SYMVIN, **VI_START, "k": 80, **LATE_DECAY},
      "20 fields, value-iteration start, K = 80, 1e-3 decayed over the last 5 epochs",
    ),
    Run(
      "symvin_squash_vi_start_k80_decay_5",
      {"planner": "symvin", **SMALL_SYMVIN, **SQUASHED, **VI_START, "k": 80, **LATE_DECAY},
      "20 fields, squashed below 0.99 (the implicit twin's cell), value-iteration start, K = 80, 1e-3 decayed over "
      "the last 5 epochs",
    ),
    Run(
      "id_symvin_squash_vi_start_k80_decay_5",
      {"planner": "id_symvin", **SMALL_SYMVIN, **SQUASHED, **VI_START, "k_fwd": 80, **LATE_DECAY},
      "20 fields, squashed below 0.99, value-iteration start, K_fwd = 80, 1e-3 decayed over the last 5 epochs",
    ),
    Run("conv_gppn", {"planner": "conv_gppn", **SMALL_CONV_GPPN}, "hidden 32, K = 30"),
    Run("id_conv_gppn", {"planner": "id_conv_gppn", **SMALL_CONV_GPPN}, "hidden 32, K_fwd = 30"),
    Run("conv_gppn_lr_3e-3", {"planner": "conv_gppn", **SMALL_CONV_GPPN, "learning_rate": 3e-3}, "hidden 32, 3e-3"),
    Run(
      "id_conv_gppn_lr_3e-3", {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, "learning_rate": 3e-3}, "hidden 32, 3e-3"
    ),
    Run(
      "conv_gppn_lr_3e-3_decay_5",
      {"planner": "conv_gppn", **SMALL_CONV_GPPN, "learning_rate": 3e-3, **LATE_DECAY},
      "hidden 32, 3e-3 decayed over the last 5 epochs (the twin of the implicit run with the decay)",
    ),
    Run(
      "id_conv_gppn_bounded",
      {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, **BOUNDED_GRU},
      "hidden 32, state kernels squashed below 0.8",
    ),
    Run(
      "id_conv_gppn_bounded_0.99",
      {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, **BOUNDED_GRU, "contraction": 0.99},
      "hidden 32, state kernels squashed below 0.99",
    ),
    Run(
      "id_conv_gppn_phantom",
      {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, **PHANTOM_5},
      "hidden 32, phantom gradient (5 damped steps)",
    ),
    Run(
      "id_conv_gppn_phantom_lr_3e-3",
      {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, **PHANTOM_5, "learning_rate": 3e-3},
      "hidden 32, phantom gradient (5 damped steps), 3e-3",
    ),
    Run(
      "id_conv_gppn_phantom_10_lr_3e-3",
      {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, "backward_solver": "phantom", "k_bwd": 10, "learning_rate": 3e-3},
      "hidden 32, phantom gradient (10 damped steps), 3e-3",
    ),
    Run(
      "id_conv_gppn_phantom_20_lr_3e-3",
      {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, "backward_solver": "phantom", "k_bwd": 20, "learning_rate": 3e-3},
      "hidden 32, phantom gradient (20 damped steps), 3e-3",
    ),
    Run(
      "id_conv_gppn_phantom_10_lr_3e-3_decay_5",
      {
        "planner": "id_conv_gppn",
        **SMALL_CONV_GPPN,
        "backward_solver": "phantom",
        "k_bwd": 10,
        "learning_rate": 3e-3,
        **LATE_DECAY,
      },
      "hidden 32, phantom gradient (10 damped steps), 3e-3 decayed over the last 5 epochs",
    ),
    Run(
      "id_conv_gppn_phantom_10_undamped_lr_3e-3_decay_5",
      {
        "planner": "id_conv_gppn",
        **SMALL_CONV_GPPN,
        "backward_solver": "phantom",
        "k_bwd": 10,
        "phantom_damping": 1.0,
        "learning_rate": 3e-3,
        **LATE_DECAY,
      },
      "hidden 32, phantom gradient (10 undamped steps: backprop through the last 10 cell steps), 3e-3 "
      "decayed over the last 5 epochs",
    ),
    undamped_phantom_conv_gppn(10),
    undamped_phantom_conv_gppn(20),
    undamped_phantom_conv_gppn(30),
    Run(
      "id_conv_gppn_phantom_10_k80_lr_3e-3_decay_5",
      {
        "planner": "id_conv_gppn",
        **SMALL_CONV_GPPN,
        "backward_solver": "phantom",
        "k_bwd": 10,
        "k_fwd": 80,
        "learning_rate": 3e-3,
        **LATE_DECAY,
      },
      "hidden 32, K_fwd = 80, phantom gradient (10 damped steps), 3e-3 decayed over the last 5 epochs",
    ),
    Run(
      "id_conv_gppn_phantom_10_warm_lr_3e-3",
      {
        "planner": "id_conv_gppn",
        **SMALL_CONV_GPPN,
        "backward_solver": "phantom",
        "k_bwd": 10,
        "warm_start": True,
        "learning_rate": 3e-3,
      },
      "hidden 32, phantom gradient (10 damped steps), forward started from the initial-state layer, 3e-3",
    ),
    Run(
      "id_conv_gppn_anderson_80",
      {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, **CONVERGED_FORWARD, "k_bwd": 40},
      "hidden 32, Anderson forward (80, tolerance 1e-4) and backward (40)",
    ),
  ),
)
