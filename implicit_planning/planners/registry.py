"""Planners by name: the registry and ``make_planner``, the public functional entry point.

A registered planner is a family in a gradient mode: ``vin`` (explicit) and
``id_vin`` (implicit) share the VIN family. `register_family` adds both names
of a new family; `register_planner` adds one. Callers read what a name means
from its `PlannerSpec` instead of parsing it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from implicit_planning.equilibrium import Implicit, Phantom, SolveStats, Unrolled, make_solver
from implicit_planning.planners.family import CellFamily
from implicit_planning.planners.network import INPUTS, Batch, PlannerNet, PlannerOutput
from implicit_planning.planners.options import COMMON_OPTIONS, MODE_OPTIONS, PlannerOptions, planner_options
from implicit_planning.planners.recipes import DEFAULT_RECIPE, recipe_options


@dataclasses.dataclass(frozen=True)
class PlannerSpec:
  """What a planner name stands for.

  Attributes:
    name: registry name (``"id_vin"``, ...).
    family_name: its family (``"vin"``); the explicit and implicit planners of a family share it.
    family: the family's module factories.
    implicit: implicit differentiation (``True``) or unrolled layers (``False``).
  """

  name: str
  family_name: str
  family: CellFamily
  implicit: bool

  @property
  def options(self) -> tuple[str, ...]:
    """The `PlannerOptions` fields this planner reads; it ignores the others."""
    return MODE_OPTIONS[self.implicit] + self.family.options + COMMON_OPTIONS

  def mode(self, options: PlannerOptions) -> Implicit | Phantom | Unrolled:
    """The gradient mode ``options`` configure for this planner."""
    if not self.implicit:
      return Unrolled(options.k)
    forward = make_solver(options.forward_solver, options.k_fwd, options.forward_tol)
    if options.backward_solver == "phantom":
      return Phantom(forward, options.k_bwd, options.phantom_damping)
    return Implicit(forward, make_solver(options.backward_solver, options.k_bwd, options.backward_tol))


PLANNERS: dict[str, PlannerSpec] = {}
"""Every registered planner by name (read it; add with `register_planner`)."""


def register_planner(name: str, family_name: str, family: CellFamily, implicit: bool) -> PlannerSpec:
  """Makes ``make_planner(name)`` build ``family`` in the given mode.

  Raises:
    ValueError: ``name`` is taken.
  """
  if name in PLANNERS:
    raise ValueError(f"planner {name!r} is already registered.")
  PLANNERS[name] = spec = PlannerSpec(name, family_name, family, implicit)
  return spec


def register_family(family_name: str, family: CellFamily) -> None:
  """Registers ``family_name`` (explicit) and ``"id_" + family_name`` (implicit)."""
  register_planner(family_name, family_name, family, implicit=False)
  register_planner(f"id_{family_name}", family_name, family, implicit=True)


def planner_spec(name: str) -> PlannerSpec:
  """The spec registered as ``name``; the error lists the known names."""
  if name not in PLANNERS:
    raise ValueError(f"Unknown planner {name!r}; expected one of {', '.join(PLANNERS)}.")
  return PLANNERS[name]


class Planner(NamedTuple):
  """Pure functions of one configured planner.

  Attributes:
    spec: what the name stands for (family, mode).
    options: the `PlannerOptions` it was built with.
    mode: gradient mode (`Implicit` or `Unrolled`).
    init: ``init(rng, batch) -> params``.
    apply: ``apply(params, batch, probe=None, radius_key=None, penalty_key=None, budget=None) -> PlannerOutput(logits [B, 4, H, W],
      values [B, H, W], PlannerStats)``. Pure, jittable, differentiable in ``params``; reads
      ``batch["maps"]`` (``[B, H, W]``, 1 = free) and ``batch["goals"]`` (int ``[B, 2]``, row and
      column). A ``radius_key`` adds the Jacobian's spectral radius at the returned state, a
      ``penalty_key`` the (differentiable) Jacobian penalty (`PlannerStats`). An implicit planner's
      ``budget`` (int ``[B]``, traced or not) gives each map its own forward iterations at most in
      place of ``k_fwd``, in one compiled program (`equilibrium.solve`).
    inputs: the batch entries ``apply`` reads.
  """

  spec: PlannerSpec
  options: PlannerOptions
  mode: Implicit | Phantom | Unrolled
  init: Callable[[jax.Array, Batch], Any]
  apply: Callable[..., PlannerOutput]
  inputs: tuple[str, ...] = INPUTS

  @property
  def name(self) -> str:
    return self.spec.name


def make_planner(
  name: str, options: PlannerOptions | None = None, *, recipe: str = DEFAULT_RECIPE, **overrides: Any
) -> Planner:
  """Builds the planner registered as ``name``.

  Args:
    name: a key of `PLANNERS`.
    options: a `PlannerOptions`, taken whole (``recipe`` is then not read); default: the
      `PlannerOptions` defaults with the recipe's options for ``name``.
    recipe: a key of `recipes.RECIPES`: ``"stable"`` (what trained each family best here) or
      ``"paper"`` (the paper's cell: the `PlannerOptions` defaults).
    **overrides: `PlannerOptions` fields to change (``k=80``, ``l_q=40``, ``contraction=0.9``, ...).
      ``k`` is the number of cell applications of an explicit planner, ``k_fwd`` the most an
      implicit planner's forward solve makes: the same unit in every family.
      Fields the planner does not read (`PlannerSpec.options`) are ignored.

  Returns:
    A `Planner` with pure ``init`` and ``apply``.
  """
  spec = planner_spec(name)
  start = dataclasses.asdict(options) if options else recipe_options(recipe, name)
  options = planner_options(**{**start, **overrides})
  mode = spec.mode(options)
  net = PlannerNet(spec.family, options, mode)

  def init(rng: jax.Array, batch: Batch) -> Any:
    return net.init(rng, batch)

  def apply(
    params: Any,
    batch: Batch,
    probe: SolveStats | None = None,
    radius_key: jax.Array | None = None,
    penalty_key: jax.Array | None = None,
    budget: jax.Array | None = None,
  ):
    return net.apply(params, batch, probe, radius_key, penalty_key, budget)

  return Planner(spec, options, mode, init, apply)


def with_mode(planner: Planner, **overrides: Any) -> Planner:
  """The same planner (same parameters fit) with another iteration budget or solver.

  For test-time budgets (``k_fwd=80`` on a model trained with 30, say): any
  `PlannerOptions` field that does not change the parameters.
  """
  return make_planner(planner.name, planner.options, **overrides)
