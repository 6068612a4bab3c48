"""Flag sets the studies share: cells, solves, starts, schedules and the smaller widths that fit two CPU cores."""

from __future__ import annotations

from typing import Any

from experiments.training.sweeps import Run


def id_vin_run(label: str, note: str, **flags: Any) -> Run:
  """An ID-VIN run with ``flags``."""
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
"""The untrained VIN (or SymVIN) is value iteration: shifted value kernels, value iteration's reward
(+1 at the goal, −10 on obstacles) read at each cell, a policy greedy in ``V`` (89.5 % success on the
quick preset's validation maps before any training)."""
VI_MOVES_START = {"value_init": "moves", "head_init": "greedy", "reward_init": "goal"}
"""The same over the agent's four moves (and staying put) instead of the 3×3 cells: 4-connected value
iteration, 97.5 % test success on the quick preset before any training."""
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
