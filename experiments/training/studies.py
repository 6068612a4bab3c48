"""The studies' sweeps: each a named list of flag sets (`sweeps.Sweep`) that ``experiments.sweep``
runs, with the question it answers in its description; the paper's figures are in
`experiments.paper`."""

from __future__ import annotations

import dataclasses
from typing import Any

import implicit_planning as ip
from experiments.training.config import ConfigError
from experiments.training.recipes import CORRECTED, LATE_DECAY
from experiments.training.sweeps import ROOT, Run, Sweep


def _id_vin(label: str, note: str, **flags: Any) -> Run:
  return Run(label, {"planner": "id_vin", **flags}, note)


LEARNED_DISCOUNT = {"contraction": 0.99, "learned_discount": True}
"""A per-channel discount the cell learns, up to 0.99."""
CONVERGED_FORWARD = {"forward_solver": "anderson", "k_fwd": 80, "forward_tol": 1e-4}
"""A forward solve that reaches its tolerance (Anderson, at most 80 iterations)."""
SQUASHED = {"contraction": 0.99, "contraction_form": "squash"}
"""The paper's zero-initialised cell with each value kernel's norm squashed below 0.99."""
SQUASHED_CONVERGED = {**SQUASHED, **CONVERGED_FORWARD, "k_bwd": 40}
"""The squashed cell with converged solves: Anderson forward (80, tolerance 1e-4), backward 40."""
COSINE = {"lr_schedule": "cosine", "warmup_epochs": 1}
"""A one-epoch linear warm-up of the learning rate, then a half cosine down to 0."""
SHIFT_LR_3E3 = {"value_init": "shift", "learning_rate": 3e-3}
"""Value kernels that start as value iteration (discount 0.9), learning rate 3e-3 (study round 4)."""
DECAY_10 = {"lr_schedule": "cosine", "decay_epochs": 10}
"""A half cosine over the last 10 epochs: for runs of 40 epochs (``--set=epochs=40``)."""
VI_START = {"value_init": "shift", "head_init": "greedy", "reward_init": "goal"}
VI_MOVES_START = {"value_init": "moves", "head_init": "greedy", "reward_init": "goal"}
"""The same over the agent's four moves (and staying put) instead of the 3×3 cells: 4-connected value
iteration, 97.5 % test success on the quick preset before any training."""
"""The untrained VIN (or SymVIN) is value iteration: shifted value kernels, value iteration's reward
(+1 at the goal, −10 on obstacles) read at each cell, a policy greedy in ``V`` (89.5 % success on the
quick preset's validation maps before any training)."""

IMPLICIT_LEVERS = Sweep(
  preset="mid",
  description="ID-VIN's levers against VIN (README, 'Training implicit planners'): each lever alone.",
  runs=(
    Run("vin", {"planner": "vin"}, "explicit twin, K = 30"),
    Run("vin_lr_3e-3", {"planner": "vin", "learning_rate": 3e-3}, "explicit twin, K = 30, learning rate 3e-3"),
    Run(
      "vin_lr_3e-3_cosine",
      {"planner": "vin", "learning_rate": 3e-3, "lr_schedule": "cosine"},
      "explicit twin, K = 30, learning rate 3e-3 decayed by a half cosine",
    ),
    Run("vin_shift", {"planner": "vin", "value_init": "shift"}, "explicit twin, K = 30, value kernels start as shifts"),
    Run(
      "vin_zero_reward", {"planner": "vin", "reward_init": "zeros"}, "explicit twin, the reward layer starts at zeros"
    ),
    Run(
      "vin_shift_zero_reward",
      {"planner": "vin", "value_init": "shift", "reward_init": "zeros"},
      "explicit twin, value kernels start as shifts, the reward layer at zeros",
    ),
    Run(
      "vin_shift_lr_3e-3",
      {"planner": "vin", **SHIFT_LR_3E3},
      "explicit twin, K = 30, value kernels start as shifts, learning rate 3e-3",
    ),
    Run(
      "vin_shift_lr_3e-3_decay_5",
      {"planner": "vin", **SHIFT_LR_3E3, **LATE_DECAY},
      "explicit twin, K = 30, value kernels start as shifts, learning rate 3e-3 decayed over the last 5 epochs",
    ),
    Run(
      "vin_shift_lr_3e-3_decay_10",
      {"planner": "vin", **SHIFT_LR_3E3, **DECAY_10},
      "explicit twin, K = 30, shift start, 3e-3 decayed over the last 10 epochs (run at 40 epochs)",
    ),
    Run(
      "vin_shift_lr_3e-3_batch_16_decay_5",
      {"planner": "vin", **SHIFT_LR_3E3, **LATE_DECAY, "batch_size": 16},
      "explicit twin, K = 30, shift start, 3e-3 decayed over the last 5 epochs, batches of 16 (twice the steps)",
    ),
    Run(
      "vin_shift_greedy_lr_3e-3_decay_5",
      {"planner": "vin", **SHIFT_LR_3E3, **LATE_DECAY, "head_init": "greedy"},
      "explicit twin, K = 30, shift start, greedy head, learning rate 3e-3 decayed over the last 5 epochs",
    ),
    Run(
      "vin_vi_start_lr_3e-3_decay_5",
      {"planner": "vin", **VI_START, "learning_rate": 3e-3, **LATE_DECAY},
      "explicit twin, K = 30, value-iteration start, 3e-3 decayed over the last 5 epochs",
    ),
    Run(
      "vin_squash_vi_start_lr_3e-3_decay_5",
      {"planner": "vin", **SQUASHED, **VI_START, "learning_rate": 3e-3, **LATE_DECAY},
      "explicit twin with the implicit one's cell (squashed below 0.99), K = 30, value-iteration start, 3e-3 "
      "decayed over the last 5 epochs: the squash without the implicit gradient",
    ),
    Run(
      "vin_vi_moves_lr_3e-3_decay_5",
      {"planner": "vin", **VI_MOVES_START, "learning_rate": 3e-3, **LATE_DECAY},
      "explicit twin, K = 30, 4-connected value-iteration start, 3e-3 decayed over the last 5 epochs",
    ),
    Run(
      "vin_vi_start_k80_lr_3e-3_decay_5",
      {"planner": "vin", **VI_START, "k": 80, "learning_rate": 3e-3, **LATE_DECAY},
      "explicit twin, K = 80, value-iteration start, 3e-3 decayed over the last 5 epochs",
    ),
    Run(
      "vin_squash_vi_start_k80_lr_3e-3_decay_5",
      {"planner": "vin", **SQUASHED, **VI_START, "k": 80, "learning_rate": 3e-3, **LATE_DECAY},
      "explicit twin with the implicit one's cell (squashed below 0.99), K = 80, value-iteration start, 3e-3 "
      "decayed over the last 5 epochs",
    ),
    Run(
      "vin_vi_start_iterates_2_lr_3e-3_decay_5",
      {"planner": "vin", **VI_START, "supervised_iterates": 2, "learning_rate": 3e-3, **LATE_DECAY},
      "explicit twin, K = 30, value-iteration start, the loss also on layers 10 and 20, 3e-3 decayed over the "
      "last 5 epochs",
    ),
    Run(
      "vin_vi_start_decay_5",
      {"planner": "vin", **VI_START, **LATE_DECAY},
      "explicit twin, K = 30, value-iteration start, 1e-3 decayed over the last 5 epochs",
    ),
    Run("vin_cosine", {"planner": "vin", **COSINE}, "explicit twin, K = 30, learning-rate warm-up and cosine decay"),
    _id_vin("id_vin", "the paper's unconstrained cell, 30 plain forward iterations"),
    _id_vin("contraction_0.9", "fixed contraction 0.9", contraction=0.9),
    _id_vin("contraction_0.99", "fixed contraction 0.99", contraction=0.99),
    _id_vin("learned_discount", "per-channel discount learned up to 0.99", **LEARNED_DISCOUNT),
    _id_vin(
      "learned_discount_anderson_80",
      "learned discount, Anderson forward, 80 iterations, tolerance 1e-4",
      **LEARNED_DISCOUNT,
      **CONVERGED_FORWARD,
    ),
    _id_vin(
      "learned_discount_converged",
      "learned discount, Anderson forward (80, tolerance 1e-4) and backward (40)",
      **LEARNED_DISCOUNT,
      **CONVERGED_FORWARD,
      k_bwd=40,
    ),
    _id_vin("squash", "the paper's cell, value-kernel norms squashed below 0.99", **SQUASHED),
    _id_vin(
      "squash_converged",
      "squashed below 0.99, Anderson forward (80, tolerance 1e-4) and backward (40)",
      **SQUASHED_CONVERGED,
    ),
    _id_vin(
      "squash_shift",
      "squashed below 0.99, value kernels start as shifts (discount 0.9)",
      **SQUASHED,
      value_init="shift",
    ),
    _id_vin(
      "squash_shift_lr_3e-3",
      "squashed below 0.99, value kernels start as shifts, learning rate 3e-3",
      **SQUASHED,
      **SHIFT_LR_3E3,
    ),
    _id_vin(
      "squash_shift_lr_3e-3_cosine",
      "squashed below 0.99, value kernels start as shifts, learning rate 3e-3 decayed by a half cosine",
      **SQUASHED,
      **SHIFT_LR_3E3,
      lr_schedule="cosine",
    ),
    _id_vin(
      "squash_shift_lr_3e-3_decay_5",
      "squashed below 0.99, value kernels start as shifts, learning rate 3e-3 decayed over the last 5 epochs",
      **SQUASHED,
      **SHIFT_LR_3E3,
      **LATE_DECAY,
    ),
    _id_vin(
      "squash_shift_lr_3e-3_decay_10",
      "squashed below 0.99, shift start, 3e-3 decayed over the last 10 epochs (run at 40 epochs)",
      **SQUASHED,
      **SHIFT_LR_3E3,
      **DECAY_10,
    ),
    _id_vin(
      "squash_shift_lr_5e-3_decay_5",
      "squashed below 0.99, value kernels start as shifts, learning rate 5e-3 decayed over the last 5 epochs",
      **SQUASHED,
      **{**SHIFT_LR_3E3, "learning_rate": 5e-3},
      **LATE_DECAY,
    ),
    _id_vin(
      "squash_shift_lr_3e-3_warmup_decay_5",
      "squashed below 0.99, shift start, learning rate 3e-3 after a one-epoch warm-up, decayed over the last 5 epochs",
      **SQUASHED,
      **SHIFT_LR_3E3,
      **LATE_DECAY,
      warmup_epochs=1,
    ),
    _id_vin(
      "squash_shift_lr_3e-3_debiased_decay_5",
      "squashed below 0.99, shift start, bias-corrected RMSprop at 3e-3 decayed over the last 5 epochs",
      **SQUASHED,
      **SHIFT_LR_3E3,
      **LATE_DECAY,
      rmsprop_bias_correction=True,
    ),
    _id_vin(
      "squash_converged_shift_lr_3e-3_decay_5",
      "squashed below 0.99, converged solves, shift start, 3e-3 decayed over the last 5 epochs",
      **SQUASHED_CONVERGED,
      **SHIFT_LR_3E3,
      **LATE_DECAY,
    ),
    _id_vin(
      "squash_shift_lr_3e-3_batch_16_decay_5",
      "squashed below 0.99, shift start, 3e-3 decayed over the last 5 epochs, batches of 16 (twice the steps)",
      **SQUASHED,
      **SHIFT_LR_3E3,
      **LATE_DECAY,
      batch_size=16,
    ),
    _id_vin(
      "squash_shift_greedy_lr_3e-3_decay_5",
      "squashed below 0.99, shift start, greedy head, learning rate 3e-3 decayed over the last 5 epochs",
      **SQUASHED,
      **SHIFT_LR_3E3,
      **LATE_DECAY,
      head_init="greedy",
    ),
    _id_vin(
      "squash_shift_greedy_zero_reward_lr_3e-3_decay_5",
      "squashed below 0.99, shift start, greedy head, the reward layer at zeros, 3e-3 decayed over the last 5 epochs",
      **SQUASHED,
      **SHIFT_LR_3E3,
      **LATE_DECAY,
      head_init="greedy",
      reward_init="zeros",
    ),
    _id_vin(
      "squash_vi_start_lr_3e-3_decay_5",
      "squashed below 0.99, value-iteration start, 3e-3 decayed over the last 5 epochs",
      **SQUASHED,
      **VI_START,
      learning_rate=3e-3,
      **LATE_DECAY,
    ),
    _id_vin(
      "squash_vi_moves_lr_3e-3_decay_5",
      "squashed below 0.99, 4-connected value-iteration start, 3e-3 decayed over the last 5 epochs",
      **SQUASHED,
      **VI_MOVES_START,
      learning_rate=3e-3,
      **LATE_DECAY,
    ),
    _id_vin(
      "squash_vi_start_k80_lr_3e-3_decay_5",
      "squashed below 0.99, value-iteration start, K_fwd = 80, 3e-3 decayed over the last 5 epochs",
      **SQUASHED,
      **VI_START,
      k_fwd=80,
      learning_rate=3e-3,
      **LATE_DECAY,
    ),
    _id_vin(
      "squash_vi_start_k200_lr_3e-3_decay_5",
      "squashed below 0.99, value-iteration start, K_fwd = 200, 3e-3 decayed over the last 5 epochs",
      **SQUASHED,
      **VI_START,
      k_fwd=200,
      learning_rate=3e-3,
      **LATE_DECAY,
    ),
    _id_vin(
      "squash_vi_start_iterates_2_lr_3e-3_decay_5",
      "squashed below 0.99, value-iteration start, the loss also on the iterates after 10 and 20 forward steps, "
      "3e-3 decayed over the last 5 epochs",
      **SQUASHED,
      **VI_START,
      supervised_iterates=2,
      learning_rate=3e-3,
      **LATE_DECAY,
    ),
    _id_vin(
      "squash_vi_start_decay_5",
      "squashed below 0.99, value-iteration start, 1e-3 decayed over the last 5 epochs",
      **SQUASHED,
      **VI_START,
      **LATE_DECAY,
    ),
    _id_vin(
      "squash_zero_reward",
      "squashed below 0.99, the reward layer starts at zeros",
      **SQUASHED,
      reward_init="zeros",
    ),
    _id_vin(
      "squash_shift_zero_reward",
      "squashed below 0.99, value kernels start as shifts, the reward layer at zeros",
      **SQUASHED,
      value_init="shift",
      reward_init="zeros",
    ),
    _id_vin("squash_cosine", "squashed below 0.99, learning-rate warm-up and cosine decay", **SQUASHED, **COSINE),
    _id_vin("squash_warmup", "squashed below 0.99, one epoch of learning-rate warm-up", **SQUASHED, warmup_epochs=1),
    _id_vin("squash_lr_3e-3", "squashed below 0.99, learning rate 3e-3", **SQUASHED, learning_rate=3e-3),
    _id_vin(
      "squash_lr_3e-3_cosine",
      "squashed below 0.99, learning rate 3e-3 decayed by a half cosine",
      **SQUASHED,
      learning_rate=3e-3,
      lr_schedule="cosine",
    ),
    _id_vin(
      "squash_converged_lr_3e-3",
      "squashed below 0.99, converged solves, learning rate 3e-3",
      **SQUASHED_CONVERGED,
      learning_rate=3e-3,
    ),
    _id_vin(
      "squash_converged_shift_lr_3e-3",
      "squashed below 0.99, converged solves, value kernels start as shifts, learning rate 3e-3",
      **SQUASHED_CONVERGED,
      **SHIFT_LR_3E3,
    ),
    _id_vin(
      "squash_converged_cosine",
      "squashed below 0.99, converged solves, learning-rate warm-up and cosine decay",
      **SQUASHED_CONVERGED,
      **COSINE,
    ),
    _id_vin("forward_80", "the paper's cell, 80 plain forward iterations", k_fwd=80),
    _id_vin("anderson_80", "the paper's cell, Anderson forward, 80 iterations", forward_solver="anderson", k_fwd=80),
    _id_vin("phantom", "the paper's cell, phantom gradient (5 damped steps)", backward_solver="phantom", k_bwd=5),
    _id_vin("jacobian_reg", "the paper's cell, Jacobian penalty 1.0", jacobian_reg=1.0),
  ),
)

PAPER_TWINS = Sweep(
  preset="paper",
  description="Explicit planners and their implicit twins at the paper preset (README, 'Training implicit planners').",
  runs=(
    Run("vin", {"planner": "vin"}, "K = 30"),
    Run("vin_k80", {"planner": "vin", "k": 80}, "K = 80"),
    _id_vin("id_vin", "the paper's unconstrained cell, K_fwd = 30"),
    _id_vin("squash", "squashed below 0.99, K_fwd = 30", **SQUASHED),
    _id_vin("squash_k80", "squashed below 0.99, K_fwd = 80", **SQUASHED, k_fwd=80),
    _id_vin(
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
    _id_vin("squash_shift_lr_3e-3", "squashed, K_fwd = 30, shift start, 3e-3", **SQUASHED, **SHIFT_LR_3E3),
    _id_vin(
      "squash_k80_shift_lr_3e-3", "squashed, K_fwd = 80, shift start, 3e-3", **SQUASHED, k_fwd=80, **SHIFT_LR_3E3
    ),
    _id_vin(
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

SEED_MODES = Sweep(
  preset="quick",
  description="Where the spread over seeds comes from: seeds that vary only the initial parameters "
  "or only the data order and label draws (run with --set=seeds=5).",
  runs=(
    Run("vin_init", {"planner": "vin", "seed_scope": "init"}, "VIN, seeds vary the initial parameters"),
    Run("vin_order", {"planner": "vin", "seed_scope": "order"}, "VIN, seeds vary data order and labels"),
    _id_vin("squash_init", "squashed ID-VIN, seeds vary the initial parameters", **SQUASHED, seed_scope="init"),
    _id_vin("squash_order", "squashed ID-VIN, seeds vary data order and labels", **SQUASHED, seed_scope="order"),
  ),
)

SMALL_SYMVIN = {"l_q": 20}
"""SymVIN at 20 regular Q fields (the paper: 100), for two CPU cores."""
SMALL_CONV_GPPN = {"l_h": 32}
"""ConvGPPN with 32 hidden channels (the paper: 150), for two CPU cores."""
JITTERED = {"budget_jitter": 0.5}
"""Each training step's forward budget drawn from [K_fwd / 2, 3 K_fwd / 2] (round 36)."""
BOUNDED_GRU = {"contraction": 0.8, "contraction_form": "squash"}
"""ConvGRU state kernels squashed below ℓ1 norm 0.8: a contraction wherever the update gates are closed
(γ(1 + γ/4) = 0.96), a cap on the expansion elsewhere (`conv_gppn`)."""

PHANTOM_5 = {"backward_solver": "phantom", "k_bwd": 5}
"""The phantom gradient: five damped cell steps from the forward solve's point, differentiated."""


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

SHARED_MAPPER = {"mapper_from": f"{ROOT}/mapper/mapper"}
"""Every planner's joint phase starts from the sweep's ``mapper`` run (one seed, shared)."""


def source_label(path: str) -> str | None:
  """The sweep run whose folder ``path`` (a ``mapper_from`` / ``planner_from`` flag) lies in, if any."""
  prefix = f"{ROOT}/"
  return path[len(prefix) :].split("/")[0] if path.startswith(prefix) else None


def after_pretraining(*runs: Run) -> tuple[Run, ...]:
  """``runs``, each set to wait for the sweep runs that its ``mapper_from`` / ``planner_from`` name."""

  def waits_for(run: Run) -> tuple[str, ...]:
    sources = (source_label(run.flags.get(flag, "")) for flag in ("mapper_from", "planner_from"))
    return tuple(label for label in sources if label)

  return tuple(dataclasses.replace(run, after=waits_for(run)) if waits_for(run) else run for run in runs)


def joint_ablation(label: str, pretrained: str, note: str, **flags: Any) -> Run:
  """A joint phase alone, from the shared mapper and run ``pretrained``'s planner, with ``flags``."""
  return Run(label, {**flags, **SHARED_MAPPER, "planner_from": f"{ROOT}/{pretrained}/planner"}, note)


def corrected_column_runs(planner: str, options: dict[str, Any], note: str) -> tuple[Run, Run]:
  """``planner``'s pretraining on the true configuration space alone (``<planner>_planner``), then
  its joint phase with the shared mapper on the action loss alone under bias-corrected RMSprop
  (``<planner>_action_loss_corrected``): the joint recipe that scored best for VIN, ID-VIN and
  ID-SymVIN, without the uncorrected joint phase a full run would train first."""
  flags = {"planner": planner, **options}
  return (
    Run(f"{planner}_planner", {**flags, "phase": "planner"}, f"{note}, the planner's pretraining alone"),
    joint_ablation(
      f"{planner}_action_loss_corrected",
      f"{planner}_planner",
      f"{planner}_planner's pretraining, then no map loss and bias-corrected RMSprop",
      **flags,
      map_loss_weight=0.0,
      **CORRECTED,
    ),
  )


WORKSPACE_STUDY_BASE = {"epochs": 15, "map_loss_weight": 1.0, "rmsprop_bias_correction": False}
"""The joint phase the workspace study varied: the planner's loss plus the map's, PyTorch's RMSprop, 15
epochs (the workspace preset's before round 21, which took the study's best: `presets.workspace`)."""


WORKSPACE_TWINS = Sweep(
  preset="workspace",
  flags=WORKSPACE_STUDY_BASE,
  description="Table 1's 'Workspace Mani.' column at CPU scale: the mapper pretrained once (one seed) and shared "
  "by every planner run, which pretrains its planner on the true configuration space, then trains both jointly "
  "('_action_loss' runs: on the planner's loss alone, no map loss; '_corrected' runs: the joint phase alone, from "
  "another run's pretrainings, with bias-corrected RMSprop; '_planner' runs: the planner's pretraining alone); "
  "SymVIN, ConvGPPN and GPPN at the family_twins sizes. "
  "The mapper run comes first: a joint phase needs it finished.",
  runs=after_pretraining(
    Run("mapper", {"phase": "mapper", "seeds": 1}, "the U-Net alone (binary cross-entropy), one seed"),
    Run(
      "mapper_corrected",
      {"phase": "mapper", "seeds": 1, **CORRECTED},
      "the U-Net alone under bias-corrected RMSprop and the recipe's rate, one seed: the workspace preset's mapper phase",
    ),
    Run(
      "mapper_corrected_lr_1e-3",
      {"phase": "mapper", "seeds": 1, **CORRECTED, "mapper_learning_rate": 1e-3},
      "mapper_corrected with the mapper at 1e-3 (the mapper_rates sweep's choice at 2000 workspaces), one seed",
    ),
    Run(
      "mapper_corrected_lr_1e-3_30k",
      {"phase": "mapper", "seeds": 1, **CORRECTED, "mapper_learning_rate": 1e-3, "num_train": 30_000},
      "mapper_corrected_lr_1e-3 on 30k training workspaces (its own 2k/2k draw): is the 98.5 % plateau the data's "
      "or the 96-pixel image's?",
    ),
    Run(
      "mapper_sweep_30k",
      {
        "phase": "mapper",
        "seeds": 1,
        **CORRECTED,
        "mapper": "workspace_sweep",
        "mapper_learning_rate": 1e-3,
        "num_train": 30_000,
        "pretrain_epochs": 6,
      },
      "the arm-sweep mapper (a learned sub-pixel obstacle field read along each arm) on mapper_corrected_lr_1e-3_30k's "
      "workspaces for 6 epochs, one seed",
    ),
    Run(
      "mapper_sweep_wide_30k",
      {
        "phase": "mapper",
        "seeds": 1,
        **CORRECTED,
        "mapper": "workspace_sweep",
        "mapper_width": 16,
        "mapper_learning_rate": 1e-3,
        "num_train": 30_000,
        "pretrain_epochs": 3,
      },
      "mapper_sweep_30k's field twice as wide (32 channels; it fits its training set no better than the validation "
      "set), 3 epochs",
    ),
    Run(
      "mapper_fine",
      {"phase": "mapper", "seeds": 1, "mapper": "workspace_unet_fine"},
      "the U-Net on a polar grid twice as fine in angle and radius (one stem level), one seed",
    ),
    Run("vin", {"planner": "vin", **SHARED_MAPPER}, "K = 30"),
    Run("id_vin", {"planner": "id_vin", **SHARED_MAPPER}, "K_fwd = 30"),
    Run("vin_action_loss", {"planner": "vin", "map_loss_weight": 0.0, **SHARED_MAPPER}, "K = 30, no map loss"),
    Run(
      "id_vin_action_loss", {"planner": "id_vin", "map_loss_weight": 0.0, **SHARED_MAPPER}, "K_fwd = 30, no map loss"
    ),
    joint_ablation(
      "vin_action_loss_corrected",
      "vin",
      "vin's pretrainings, then no map loss and bias-corrected RMSprop",
      planner="vin",
      map_loss_weight=0.0,
      **CORRECTED,
    ),
    joint_ablation(
      "id_vin_action_loss_corrected",
      "id_vin_action_loss",
      "id_vin_action_loss's pretrainings, then no map loss and bias-corrected RMSprop",
      planner="id_vin",
      map_loss_weight=0.0,
      **CORRECTED,
    ),
    joint_ablation(
      "vin_corrected", "vin", "vin's pretrainings, then bias-corrected RMSprop", planner="vin", **CORRECTED
    ),
    joint_ablation(
      "id_vin_action_loss_corrected_6ep",
      "id_vin_action_loss",
      "id_vin_action_loss_corrected with 6 joint epochs (the late decay over the last 5)",
      planner="id_vin",
      map_loss_weight=0.0,
      epochs=6,
      **CORRECTED,
    ),
    Run(
      "id_vin_action_loss_all_corrected",
      {"planner": "id_vin", "map_loss_weight": 0.0, **CORRECTED, **SHARED_MAPPER},
      "K_fwd = 30, no map loss, bias-corrected RMSprop in the planner's pretraining too (the mapper shared)",
    ),
    joint_ablation(
      "id_vin_corrected",
      "id_vin_action_loss",
      "id_vin_action_loss's pretrainings, then the map loss and bias-corrected RMSprop",
      planner="id_vin",
      **CORRECTED,
    ),
    Run("symvin", {"planner": "symvin", **SMALL_SYMVIN, **SHARED_MAPPER}, "20 fields, K = 30"),
    Run("id_symvin", {"planner": "id_symvin", **SMALL_SYMVIN, **SHARED_MAPPER}, "20 fields, K_fwd = 30"),
    joint_ablation(
      "id_symvin_action_loss_corrected",
      "id_symvin",
      "id_symvin's pretrainings, then no map loss and bias-corrected RMSprop",
      planner="id_symvin",
      **SMALL_SYMVIN,
      map_loss_weight=0.0,
      **CORRECTED,
    ),
    Run("conv_gppn", {"planner": "conv_gppn", **SMALL_CONV_GPPN, **SHARED_MAPPER}, "hidden 32, K = 30"),
    Run("id_conv_gppn", {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, **SHARED_MAPPER}, "hidden 32, K_fwd = 30"),
    Run("gppn", {"planner": "gppn", **SMALL_CONV_GPPN, **SHARED_MAPPER}, "hidden 32, K = 30"),
    *(
      run
      for planner, options, note in (
        ("symvin", SMALL_SYMVIN, "20 fields, K = 30"),
        ("conv_gppn", SMALL_CONV_GPPN, "hidden 32, K = 30"),
        ("id_conv_gppn", SMALL_CONV_GPPN, "hidden 32, K_fwd = 30"),
        ("gppn", SMALL_CONV_GPPN, "hidden 32, K = 30"),
      )
      for run in corrected_column_runs(planner, options, note)
    ),
  ),
)

TABLE1_MAPPER = {
  "phase": "mapper",
  "seeds": 3,
  "num_train": 2000,
  "num_val": 500,
  "num_test": 500,
  "pretrain_epochs": 10,
}
"""The workspace column's mapper at table1's cpu scale (`experiments.paper.table1`), at 3 seeds."""

AS_STUDY = {
  "learning_rate": 1e-3,
  "mapper": "workspace_sweep_max_fine",
  "field_loss_weight": 10.0,
  "mapper_optimizer": "adam",
  "mapper_width": 16,
  "batch_size": 16,
  "lr_schedule": "cosine",
  "decay_epochs": 0,
  "seeds": 1,
}
"""The arm sweep's field per half pixel trained as the study script of `docs/workspace_manipulation.md` trained it
(session 38): the fine raster's loss at weight 10, Adam, batches of 16, 32 channels, a half cosine over all epochs."""

AS_STUDY_20K = {**AS_STUDY, "num_train": 20_000, "pretrain_epochs": 3}
"""`AS_STUDY` on 20k workspaces for 3 epochs: the steps of 30 epochs on table1's 2000."""

AS_STUDY_20K_8_EPOCHS = {**AS_STUDY_20K, "pretrain_epochs": 8}
"""`AS_STUDY_20K` for 8 epochs: its validation still rose in the third."""

MAPPER_RATES = Sweep(
  preset="workspace",
  recipe="stable",
  flags=TABLE1_MAPPER,
  description="The workspace U-Net alone on table1's 2000 workspaces for 10 epochs, 3 seeds: its learning rate "
  "and schedule. table1's mapper took the recipe's (3e-3, flat for 5 epochs, then a half cosine) and its loss "
  "spiked in epoch 6, the decay's first.",
  runs=(
    Run("lr_3e-3", {}, "the recipe's: 3e-3, a half cosine over the last 5 epochs"),
    Run("lr_1e-3", {"learning_rate": 1e-3}, "1e-3 (the paper's), the same late decay"),
    Run("lr_3e-4", {"learning_rate": 3e-4}, "3e-4, the same late decay"),
    Run("lr_3e-3_cosine", {"lr_schedule": "cosine", "decay_epochs": 0}, "3e-3, a half cosine over all 10 epochs"),
    Run(
      "lr_1e-3_cosine",
      {"learning_rate": 1e-3, "lr_schedule": "cosine", "decay_epochs": 0},
      "1e-3, a half cosine over all 10 epochs",
    ),
    Run(
      "lr_3e-3_warmup",
      {"lr_schedule": "cosine", "warmup_epochs": 1, "decay_epochs": 0},
      "3e-3 after a one-epoch linear warm-up, then a half cosine over the other 9",
    ),
    Run("lr_3e-3_clip_1", {"clip_norm": 1.0}, "the recipe's, gradients clipped to norm 1 (40 elsewhere)"),
    Run(
      "lr_1e-3_clip_1", {"learning_rate": 1e-3, "clip_norm": 1.0}, "1e-3, the late decay, gradients clipped to norm 1"
    ),
    Run(
      "sweep_lr_1e-3",
      {"learning_rate": 1e-3, "mapper": "workspace_sweep"},
      "the arm-sweep mapper instead of the U-Net, as lr_1e-3",
    ),
    Run(
      "sweep_beta8_lr_1e-3",
      {"learning_rate": 1e-3, "mapper": "workspace_sweep_8", "seeds": 1},
      "sweep_lr_1e-3 with the sharper smooth maximum over the arm (β = 8), one seed",
    ),
    Run(
      "sweep_max_lr_1e-3",
      {"learning_rate": 1e-3, "mapper": "workspace_sweep_max", "seeds": 1},
      "sweep_lr_1e-3 with the maximum over the arm, one seed",
    ),
    Run(
      "sweep_max_mirrored_lr_1e-3",
      {"learning_rate": 1e-3, "mapper": "workspace_sweep_max_mirrored", "seeds": 1},
      "sweep_max_lr_1e-3 averaged over the image's exact mirrors and half turn, one seed",
    ),
    Run(
      "sweep_max_fine_lr_1e-3",
      {"learning_rate": 1e-3, "mapper": "workspace_sweep_max_fine"},
      "sweep_max_lr_1e-3 with its field per half pixel, 3 seeds",
    ),
    Run(
      "sweep_max_fine_field_10_lr_1e-3",
      {"learning_rate": 1e-3, "mapper": "workspace_sweep_max_fine", "field_loss_weight": 10.0},
      "sweep_max_fine_lr_1e-3 with its field also supervised by the polygons at a 4x finer raster (weight 10), 3 seeds",
    ),
    Run(
      "sweep_max_fine_field_10_adam_lr_1e-3",
      {
        "learning_rate": 1e-3,
        "mapper": "workspace_sweep_max_fine",
        "field_loss_weight": 10.0,
        "mapper_optimizer": "adam",
        "seeds": 1,
      },
      "sweep_max_fine_field_10_lr_1e-3 with Adam (as the study's script) instead of RMSprop, one seed",
    ),
    Run(
      "sweep_max_fine_field_10_as_study",
      AS_STUDY,
      "sweep_max_fine_field_10_adam_lr_1e-3 with the rest of the study script's settings: the field network twice "
      "as wide (32 channels), batches of 16, the half cosine over all 10 epochs; one seed",
    ),
    Run(
      "sweep_max_fine_field_10_as_study_20k",
      AS_STUDY_20K,
      "sweep_max_fine_field_10_as_study on 20k workspaces (its own 500/500 draw) for 3 epochs, the steps of 30 "
      "epochs on 2000; one seed",
    ),
    *(
      Run(f"sweep_max_fine_field_10_as_study_20k_seed{seed}", {**AS_STUDY_20K, "seed": seed}, f"the same, seed {seed}")
      for seed in (1, 2)
    ),
    Run(
      "sweep_max_fine_field_10_as_study_20k_8_epochs",
      AS_STUDY_20K_8_EPOCHS,
      "sweep_max_fine_field_10_as_study_20k for 8 epochs instead of 3 (its validation still rose in the third)",
    ),
    *(
      Run(
        f"sweep_max_fine_field_10_as_study_20k_8_epochs_seed{seed}",
        {**AS_STUDY_20K_8_EPOCHS, "seed": seed},
        f"the same, seed {seed}",
      )
      for seed in (1, 2)
    ),
  ),
)

TABLE1_WORKSPACE = {
  "seeds": 3,
  "task": "manip_workspace",
  "size": 18,
  "pretrain_epochs": 10,
  "epochs": 5,
  "map_loss_weight": 0.0,
  "rmsprop_bias_correction": True,
  "mapper_learning_rate": 1e-3,
}
"""table1's workspace column at its cpu scale (`experiments.paper.table1`): the quick preset's 2000 workspaces,
10 pretraining and 5 joint epochs on the action loss alone, the mapper at 1e-3."""
PLANNER_WIDTHS = {"symvin": SMALL_SYMVIN, "conv_gppn": SMALL_CONV_GPPN, "id_conv_gppn": SMALL_CONV_GPPN}
PLANNER_WIDTHS |= {"id_symvin": SMALL_SYMVIN, "gppn": SMALL_CONV_GPPN}


def budget_run(planner: str, k: int) -> Run:
  """``planner`` at table1's cpu widths and ``k`` cell applications, from the sweep's shared mapper."""
  budget = {"k_fwd": k} if ip.planner_spec(planner).implicit else {"k": k}
  flags = {"planner": planner, **PLANNER_WIDTHS.get(planner, {}), **budget, **SHARED_MAPPER}
  return Run(f"{planner}_k{k}", flags, f"K = {k}, from the sweep's shared mapper")


STUDY_MAPPER = {
  "mapper_from": "runs/sweeps/mapper_rates/sweep_max_fine_field_10_as_study_20k_8_epochs/mapper",
  "mapper_width": AS_STUDY["mapper_width"],
}
"""The mapper_rates sweep's best mapper (`AS_STUDY_20K_8_EPOCHS`, seed 0; its default root): pretrained on a
20k draw whose training split holds none of table1's held-out workspaces but the empty one (checked)."""


def study_mapper_run(planner: str, mirrored: bool = False) -> Run:
  """``planner``'s joint phase at K = 30 behind `STUDY_MAPPER`, from the sweep's pretrained planner;
  ``mirrored``: its map averaged over the image's mirrors (the same parameters)."""
  return Run(
    f"{planner}_k30_study_mapper{'_mirrored' if mirrored else ''}",
    {
      "planner": planner,
      **PLANNER_WIDTHS.get(planner, {}),
      **STUDY_MAPPER,
      **({"mapper": "workspace_sweep_max_fine_mirrored"} if mirrored else {}),
      "planner_from": f"{ROOT}/{planner}_k30/planner",
    },
    "K = 30, the joint phase alone behind the mapper_rates sweep's 8-epoch mapper on 20k workspaces (run it first)"
    + (", its map averaged over the image's mirrors" if mirrored else ""),
  )


WORKSPACE_ARM_SWEEP = Sweep(
  preset="quick",
  recipe="stable",
  flags={**TABLE1_WORKSPACE, "mapper": "workspace_sweep_max_fine"},
  description="table1's workspace column at K = 30, 50 and 80 (2000 workspaces, 3 seeds) behind the arm-sweep mapper instead "
  "of the U-Net: its field per half pixel, pretrained on the configuration space and on the polygons at a raster 4x "
  "finer than the image (field_loss_weight 10), one seed shared as table1 shares its U-Net; all else as table1. "
  "'_study_mapper' runs: the joint phase behind mapper_rates' best mapper instead ('_mirrored': read averaged over "
  "the image's mirrors).",
  runs=after_pretraining(
    Run("mapper", {"phase": "mapper", "seeds": 1, "field_loss_weight": 10.0}, "the arm-sweep mapper alone, one seed"),
    *(
      budget_run(planner, k)
      for k in (30, 50, 80)
      for planner in ("vin", "id_vin", "symvin", "id_symvin", "conv_gppn", "id_conv_gppn", "gppn")
    ),
    *(study_mapper_run(planner) for planner in ("vin", "id_vin", "symvin", "id_symvin", "conv_gppn", "id_conv_gppn")),
    *(study_mapper_run(planner, mirrored=True) for planner in ("vin", "id_vin", "symvin", "id_symvin")),
  ),
)

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
