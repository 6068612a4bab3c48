"""Planners: a family's encoder, cell and head, composed with a gradient mode.

``make_planner(name, ...)`` is the public, functional entry point: it returns
pure ``init``/``apply`` functions. The cell's parameters are lifted into the
planner's parameter tree and reach the solver as an explicit argument, so the
same cell runs unrolled (explicit) or through `fixed_point` (implicit).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from implicit_planning.anderson import Anderson
from implicit_planning.conv_gppn import CONV_GPPN
from implicit_planning.encoder import observation
from implicit_planning.family import CellFamily, PlannerOptions
from implicit_planning.fixed_point import Solver
from implicit_planning.forward_iteration import DEFAULT_TOL, ForwardIteration
from implicit_planning.modes import Implicit, Unrolled
from implicit_planning.solve_stats import SolveStats, backward_probe
from implicit_planning.symvin import SYMVIN
from implicit_planning.vin import VIN

FAMILIES: dict[str, CellFamily] = {"vin": VIN, "symvin": SYMVIN, "conv_gppn": CONV_GPPN}

# name → (family, implicit?)
_REGISTRY: dict[str, tuple[str, bool]] = {
    "vin": ("vin", False),
    "id_vin": ("vin", True),
    "symvin": ("symvin", False),
    "id_symvin": ("symvin", True),
    "conv_gppn": ("conv_gppn", False),
    "id_conv_gppn": ("conv_gppn", True),
}
PLANNERS: tuple[str, ...] = tuple(_REGISTRY)

SOLVERS: dict[str, type] = {"iteration": ForwardIteration, "anderson": Anderson}


class PlannerStats(NamedTuple):
  """Statistics of the planning loop; fields are ``[B]``.

  The backward solve's statistics are the gradient w.r.t. ``probe`` (see `backward_probe`).
  """

  forward: SolveStats


def _first_step(cell: nn.Module, v: jax.Array, r: jax.Array) -> jax.Array:
  """One step from ``v`` with ``r`` prepared: what creates every cell parameter."""
  return cell(v, cell.prepare(r))


class PlannerNet(nn.Module):
  """Encoder → iterated cell (explicit or implicit) → policy head, on a batch of grids."""

  family: CellFamily
  options: PlannerOptions
  mode: Implicit | Unrolled

  @nn.compact
  def __call__(
      self, maps: jax.Array, goals: jax.Array, probe: SolveStats | None = None
  ) -> tuple[jax.Array, jax.Array, PlannerStats]:
    obs = observation(maps, goals, self.options.dtype)
    rewards = self.family.encoder(self.options, name="encoder")(obs)
    batch, height, width = maps.shape
    state_shape = (height, width, self.family.value_channels(self.options))
    # Unbound (parent=None): applied functionally with explicit parameters.
    cell = self.family.cell(self.options, parent=None)
    cell_params = self.param(
        "cell",
        lambda key: cell.init(key, jnp.zeros(state_shape, self.options.dtype), rewards[0], method=_first_step)["params"],
    )
    context = cell.apply({"params": cell_params}, rewards, method="prepare")  # once, outside the loop

    def step(v, params, context):  # cells take a batch of grids as they are: weights stay shared, not vmapped
      return cell.apply({"params": params}, v, context)

    if isinstance(self.mode, Unrolled) and self.family.initial_state is not None:
      v0 = self.family.initial_state(self.options, name="initial_state")(rewards)
    else:
      v0 = jnp.zeros((batch,) + state_shape, self.options.dtype)
    if probe is None:
      probe = backward_probe(batch, self.options.dtype)
    values, stats = self.mode(step, v0, cell_params, context, probe=probe, batched=True)

    features, value_map = cell.apply({"params": cell_params}, values, rewards, method="readout")
    logits = self.family.head(self.options, name="head")(features)
    if value_map is None:
      value_map = jnp.max(logits, axis=-1)
    return jnp.moveaxis(logits, -1, 1), value_map, PlannerStats(stats)


class Planner(NamedTuple):
  """Pure functions of one configured planner.

  Attributes:
    name: registry name (``"id_vin"``, ...).
    config: the `make_planner` keyword arguments that built it.
    options: architecture options.
    mode: gradient mode (`Implicit` or `Unrolled`).
    init: ``init(rng, maps, goals) -> params``.
    apply: ``apply(params, maps, goals, probe=None) -> (logits [B, 4, H, W],
      values [B, H, W], PlannerStats)``; ``maps`` is ``[B, H, W]`` (1 = free),
      ``goals`` int ``[B, 2]`` (row, col). Pure, jittable, differentiable in params.
  """

  name: str
  config: dict[str, Any]
  options: PlannerOptions
  mode: Implicit | Unrolled
  init: Callable[[jax.Array, jax.Array, jax.Array], Any]
  apply: Callable[..., tuple[jax.Array, jax.Array, PlannerStats]]


def make_solver(name: str, max_iter: int, tol: float = DEFAULT_TOL, **anderson_options: Any) -> Solver:
  """A solver by name (``"iteration"`` or ``"anderson"``)."""
  if name not in SOLVERS:
    raise ValueError(f"Unknown solver {name!r}; expected one of {tuple(SOLVERS)}.")
  if name == "anderson":
    return Anderson(max_iter=max_iter, tol=tol, **anderson_options)
  return ForwardIteration(max_iter=max_iter, tol=tol)


def make_planner(
    name: str,
    *,
    k: int = 30,
    k_fwd: int = 30,
    k_bwd: int = 15,
    forward_solver: str = "iteration",
    backward_solver: str = "anderson",
    forward_tol: float = DEFAULT_TOL,
    backward_tol: float = DEFAULT_TOL,
    l_h: int = 150,
    l_q: int = 100,
    kernel_size: int = 3,
    group: str = "d4",
    wrap: bool = False,
    contraction: float | None = None,
    dtype: Any = jnp.float32,
    conv_impl: str = "auto",
) -> Planner:
  """Builds a planner by name; options that do not apply to it are ignored.

  Args:
    name: one of `PLANNERS`.
    k: layers of an explicit planner.
    k_fwd, k_bwd: iteration budgets of an implicit planner's forward and backward solves.
    forward_solver, backward_solver: ``"iteration"`` or ``"anderson"``.
    forward_tol, backward_tol: relative-residual tolerances of the two solves.
    l_h, l_q, kernel_size, group, wrap, contraction, dtype, conv_impl: see `PlannerOptions`.

  Returns:
    A `Planner` with pure ``init`` and ``apply``.
  """
  config = {key: value for key, value in locals().items() if key != "name"}
  if name not in _REGISTRY:
    raise ValueError(f"Unknown planner {name!r}; expected one of {', '.join(PLANNERS)}.")
  family_name, implicit = _REGISTRY[name]
  for label, value in (("k", k), ("k_fwd", k_fwd), ("k_bwd", k_bwd)):
    if not isinstance(value, int) or value < 1:
      raise ValueError(f"{label} must be an integer >= 1, got {value!r}.")
  forward = make_solver(forward_solver, k_fwd, forward_tol)
  backward = make_solver(backward_solver, k_bwd, backward_tol)
  mode = Implicit(forward, backward) if implicit else Unrolled(k)
  options = PlannerOptions(l_h, l_q, kernel_size, group, wrap, contraction, jnp.dtype(dtype), conv_impl)
  net = PlannerNet(FAMILIES[family_name], options, mode)

  def init(rng: jax.Array, maps: jax.Array, goals: jax.Array) -> Any:
    return net.init(rng, maps, goals)

  def apply(params: Any, maps: jax.Array, goals: jax.Array, probe: SolveStats | None = None):
    return net.apply(params, maps, goals, probe)

  return Planner(name, config, options, mode, init, apply)


def with_mode(planner: Planner, **overrides: Any) -> Planner:
  """The same planner (same parameters fit) with another iteration budget or solver.

  For test-time budgets (``k_fwd=80`` on a model trained with 30, say): pass
  any `make_planner` keyword that does not change the parameters.
  """
  return make_planner(planner.name, **{**planner.config, **overrides})
