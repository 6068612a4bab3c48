"""Every option a planner is built from, declared once.

`PlannerOptions` is the single declaration: `make_planner` takes its fields as
keywords, the experiments' ``Config`` inherits them (so each is a flag of
``experiments.train`` with the help text below) and each family names the
architecture fields it reads (`family.CellFamily.options`). A planner ignores
the fields its family and mode do not read.

``k`` and ``k_fwd`` count the same thing in every family: applications of the
cell ``f`` (an explicit planner's layers, an implicit planner's forward
iterations at most). Explicit ConvGPPN and GPPN start from a learned state
(a 3×3 convolution of the encoder's features, as the originals); every other
planner starts from zeros. With ``head_reads_start`` their policy head reads that
state beside the returned one, in either mode.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from implicit_planning.equilibrium import DEFAULT_TOL, SOLVERS
from implicit_planning.ops import CONV_IMPLS, GROUPS

CONTRACTION_FORMS: tuple[str, ...] = ("normalize", "squash")
"""How a contraction ``γ`` bounds each value (or ConvGRU state) kernel's ℓ1 norm (`vin.contract_kernel`)."""
VALUE_INITS: tuple[str, ...] = ("default", "shift", "moves")
"""How VIN and SymVIN initialise their value kernels (`vin.value_kernel_init`)."""
HEAD_INITS: tuple[str, ...] = ("default", "greedy")
"""How VIN and SymVIN initialise their policy heads (`vin.policy_head_init`, `symvin.equivariant_head_init`)."""
ENCODER_ACTIVATIONS: tuple[str, ...] = ("linear", "relu")
"""Between the reward encoder's two layers: nothing (the paper's linear encoder) or a ReLU (`encoder.RewardEncoder`)."""
REWARD_INITS: tuple[str, ...] = ("default", "zeros", "goal")
"""How VIN and SymVIN initialise their reward encoder (`encoder.reward_layer_init`, `encoder.hidden_layer_init`)."""
BACKWARD_CHOICES: tuple[str, ...] = (*SOLVERS, "phantom")
"""Backward solvers of the implicit function theorem, or ``"phantom"``: backpropagation through
``k_bwd`` damped steps from the equilibrium (`equilibrium.Phantom`)."""


def _option(default: Any, help_text: str) -> Any:
  return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class PlannerOptions:
  """How a planner iterates and what its layers look like (see each field's ``help`` metadata)."""

  k: int = _option(30, "Cell applications of an explicit planner (its depth).")
  k_fwd: int = _option(30, "Cell applications of an implicit planner's forward solve, at most.")
  k_bwd: int = _option(15, "Iterations of an implicit planner's backward (adjoint) solve, at most.")
  forward_solver: str = _option("iteration", f"Forward solver of implicit planners: one of {tuple(SOLVERS)}.")
  backward_solver: str = _option(
    "anderson", f"Backward pass of implicit planners: one of {BACKWARD_CHOICES} (phantom: k_bwd damped steps)."
  )
  forward_tol: float = _option(DEFAULT_TOL, "Relative-residual tolerance of the forward solve.")
  backward_tol: float = _option(DEFAULT_TOL, "Relative-residual tolerance of the backward solve.")
  phantom_damping: float = _option(0.5, "Damping λ of the phantom gradient's steps v ← (1 − λ) v + λ f(v).")
  warm_start: bool = _option(
    False,
    "Implicit ConvGPPN/GPPN start the forward solve from their initial-state layer instead of zeros (as "
    "DiffPlan's ID-ConvGPPN); the implicit gradient gives that layer nothing, so it stays at its initialisation.",
  )
  zero_start: bool = _option(
    False,
    "Explicit ConvGPPN/GPPN start from zeros, as the implicit ones do, instead of their initial-state layer: "
    "the control for what that layer gives the explicit twin.",
  )
  head_reads_start: bool = _option(
    False,
    "ConvGPPN/GPPN's policy head also reads the initial-state layer's state (read out as the state is) "
    "beside the returned one, so an implicit planner, whose equilibrium cannot depend on its start, trains "
    "that layer too; on 27x27 mazes it did not recover what the explicit twin's start gives (round 47).",
  )
  supervised_iterates: int = _option(
    0,
    "Intermediate states also read out for the loss (deep supervision): the K (or K_fwd) applications are cut "
    "into n + 1 segments and the state after each of the first n is scored too; implicit planners "
    "differentiate each through one step from it (`equilibrium.with_iterates`).",
  )
  l_h: int = _option(150, "Hidden channels of the encoder (and of the ConvGRU/ConvLSTM state).")
  reward_channels: int = _option(
    1,
    "Channels of ConvGPPN's encoded rewards R, which its cell reads at every step and its initial-state layer "
    "once (the paper's: 1, a single reward map).",
  )
  reward_encoder: str = _option(
    "linear",
    "ConvGPPN's reward encoder, a 3x3 convolution to l_h channels and a 1x1 one to reward_channels: linear (the "
    "paper's) or relu (a ReLU between them, so R is a nonlinear function of each 3x3 neighbourhood).",
  )
  l_q: int = _option(100, "Q channels (VIN) or regular Q fields (SymVIN).")
  kernel_size: int = _option(3, "Odd size F of the cell's convolutions.")
  group: str = _option("d4", f"Symmetry group of SymVIN: one of {GROUPS}.")
  wrap: bool = _option(False, "Circular padding in every convolution (torus tasks).")
  contraction: float = _option(
    0.0,
    "gamma in (0, 1) makes the VIN/SymVIN cell a provable gamma-contraction and bounds the ConvGRU cell's "
    "state-to-state kernels by gamma (a cap on its expansion, not a proof); 0 keeps the paper's cell.",
  )
  contraction_form: str = _option(
    "normalize",
    "How a contraction gamma bounds each value kernel's l1 norm: normalize (exactly gamma) or squash "
    "(gamma * tanh(norm / gamma): zero-initialised like the paper's cell, never above gamma).",
  )
  learned_discount: bool = _option(
    False, "With a contraction gamma: each Q channel's discount is learned, gamma * sigmoid(theta_c), up to gamma."
  )
  value_init: str = _option(
    "default",
    "VIN/SymVIN value kernels start as the paper's (zeros; random when normalised) or shift: each Q channel "
    "copies one neighbour's value, discounted by 0.9 (a value-iteration step from the start, over the 3x3 "
    "cells, diagonals included); or moves: the same over the four moves and staying put.",
  )
  reward_init: str = _option(
    "default",
    "VIN/SymVIN reward encoder's last (1x1) layer starts LeCun-normal (the paper's) or at zeros: the reward "
    "map starts at 0 instead of a random map that can outweigh the goal everywhere; or goal: the reward "
    "map starts as value iteration's, +1 at the goal, -10 on obstacles, 0 elsewhere, and each Q channel reads "
    "it at its own cell (with value_init=shift and head_init=greedy the untrained VIN or SymVIN is value "
    "iteration).",
  )
  head_init: str = _option(
    "default",
    "VIN/SymVIN policy head starts LeCun-normal (the paper's) or greedy: each move's logit averages the Q "
    "channels that value_init=shift points at the neighbour it reaches (needs it), so the first policy is greedy "
    "in V.",
  )
  conv_impl: str = _option("auto", f"Convolution formulation: one of {CONV_IMPLS}.")
  dtype: str = _option("float32", "Parameter and activation dtype (float64 needs jax_enable_x64).")

  def __post_init__(self):
    for name, least in (
      ("k", 1),
      ("k_fwd", 1),
      ("k_bwd", 1),
      ("l_h", 1),
      ("l_q", 1),
      ("reward_channels", 1),
      ("supervised_iterates", 0),
    ):
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}.")
    if not isinstance(self.kernel_size, int) or self.kernel_size < 1 or self.kernel_size % 2 != 1:
      raise ValueError(f"kernel_size must be a positive odd number, got {self.kernel_size!r}.")
    choices = {
      "contraction_form": CONTRACTION_FORMS,
      "reward_encoder": ENCODER_ACTIVATIONS,
      "value_init": VALUE_INITS,
      "reward_init": REWARD_INITS,
      "head_init": HEAD_INITS,
      "forward_solver": SOLVERS,
      "backward_solver": BACKWARD_CHOICES,
      "group": GROUPS,
      "conv_impl": CONV_IMPLS,
    }
    for name, known in choices.items():
      if getattr(self, name) not in known:
        raise ValueError(f"Unknown {name} {getattr(self, name)!r}; expected one of {tuple(known)}.")
    if self.forward_tol < 0 or self.backward_tol < 0:
      raise ValueError(f"tolerances must be >= 0, got {self.forward_tol}, {self.backward_tol}.")
    if not 0.0 < self.phantom_damping <= 1.0:
      raise ValueError(f"phantom_damping must be in (0, 1], got {self.phantom_damping}.")
    if self.contraction != 0 and not 0.0 < self.contraction < 1.0:
      raise ValueError(f"contraction must be in (0, 1), or 0 for none; got {self.contraction}.")
    if self.learned_discount and not self.contraction:
      raise ValueError("learned_discount needs a contraction gamma in (0, 1): the discount is learned up to gamma.")
    if self.learned_discount and self.contraction_form != "normalize":
      raise ValueError("learned_discount learns a normalised kernel's norm; it needs contraction_form=normalize.")
    if self.head_init == "greedy" and self.value_init == "default":
      raise ValueError(
        "head_init=greedy reads the Q channels value_init=shift (or moves) lays out; it needs value_init=shift or moves."
      )
    if not jnp.issubdtype(jnp.dtype(self.dtype), jnp.floating):
      raise ValueError(f"dtype must be a floating dtype, got {self.dtype!r}.")
    object.__setattr__(self, "dtype", jnp.dtype(self.dtype).name)  # jnp.float32 → "float32"

  @property
  def jax_dtype(self) -> jnp.dtype:
    """`dtype` as a NumPy dtype; float64 is refused unless JAX's x64 mode is on (it would be float32)."""
    dtype = jnp.dtype(self.dtype)
    if dtype.itemsize == 8 and not jax.config.jax_enable_x64:
      raise ValueError(f"dtype={self.dtype} needs 64-bit JAX (jax.config.update('jax_enable_x64', True)).")
    return dtype

  def replace(self, **changes: Any) -> PlannerOptions:
    """A copy with ``changes`` applied (validated again)."""
    return dataclasses.replace(self, **changes)


OPTION_NAMES: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(PlannerOptions))
MODE_OPTIONS = {
  False: ("k", "zero_start"),
  True: (
    "k_fwd",
    "k_bwd",
    "forward_solver",
    "backward_solver",
    "forward_tol",
    "backward_tol",
    "phantom_damping",
    "warm_start",
  ),
}
"""The options the explicit (``False``) and the implicit (``True``) mode read."""
COMMON_OPTIONS = ("supervised_iterates", "wrap", "conv_impl", "dtype")
"""Options every family reads."""


def planner_options(**options: Any) -> PlannerOptions:
  """`PlannerOptions` from keywords, naming any unknown one."""
  unknown = sorted(set(options) - set(OPTION_NAMES))
  if unknown:
    raise ValueError(f"Unknown planner options {unknown}; known: {', '.join(OPTION_NAMES)}.")
  return PlannerOptions(**options)
