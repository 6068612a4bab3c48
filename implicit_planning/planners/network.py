"""The planner network: encoder → iterated cell (explicit or implicit) → policy head.

One module for every family and both modes. The cell's parameters are lifted
into the planner's parameter tree and reach the solver as an explicit argument
(a closure over traced parameters would break ``custom_vjp``), so the same cell
runs unrolled (`Unrolled`) or through `fixed_point` (`Implicit`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from implicit_planning.equilibrium import (
  Mode,
  SolveStats,
  Unrolled,
  backward_probe,
  jacobian_penalty,
  spectral_radius,
  with_iterates,
)
from implicit_planning.planners.encoder import observation
from implicit_planning.planners.family import CellFamily
from implicit_planning.planners.options import PlannerOptions

Batch = Mapping[str, jax.Array]
"""A batch of problems by name: ``maps [B, H, W]`` (1 = free), ``goals [B, 2]`` (row, col), and
whatever else a task carries (``dist``, ``opt_actions``, later ``workspace``, ``panorama``)."""

INPUTS: tuple[str, ...] = ("maps", "goals")
"""The batch entries a planner reads."""


class PlannerStats(NamedTuple):
  """Statistics of the planning loop; fields are ``[B]``.

  The backward solve's statistics are the gradient w.r.t. ``probe`` (see `backward_probe`).

  Attributes:
    forward: the forward solve's (or the unrolled layers') `SolveStats`.
    jacobian_radius: ``ρ(∂f/∂v)`` at the returned state (`equilibrium.spectral_radius`) when
      ``apply`` was given a ``radius_key``; else None.
    jacobian_penalty: ``‖∂f/∂v‖_F² / n`` at the returned state, differentiable
      (`equilibrium.jacobian_penalty`), when ``apply`` was given a ``penalty_key``; else None.
  """

  forward: SolveStats
  jacobian_radius: jax.Array | None = None
  jacobian_penalty: jax.Array | None = None


class PlannerOutput(NamedTuple):
  """What a planner returns for a batch.

  Attributes:
    logits: ``[B, 4, H, W]`` action scores (north, west, south, east).
    values: ``[B, H, W]`` the value map (VIN family: ``V``; others: the best logit).
    stats: `PlannerStats`.
    map_logits: ``[B, H, W]`` obstacle logits of the map the planner planned on, when a mapper
      made it (`implicit_planning.mappers.with_mapper`); None for a planner given the map.
    iterate_logits: ``[B, 4, H, W]`` action scores read from each intermediate state
      (``supervised_iterates`` of them, first to last; `equilibrium.with_iterates`).
    field_logits: ``[B, S', S']`` obstacle logits over the workspace image, when the mapper that
      made the map has such a field (`implicit_planning.mappers.sweep`); None otherwise.
  """

  logits: jax.Array
  values: jax.Array
  stats: PlannerStats
  map_logits: jax.Array | None = None
  iterate_logits: tuple[jax.Array, ...] = ()
  field_logits: jax.Array | None = None


def check_inputs(batch: Batch, inputs: tuple[str, ...] = INPUTS) -> None:
  """Raises a ValueError naming the entries ``inputs`` that ``batch`` lacks."""
  missing = [name for name in inputs if name not in batch]
  if missing:
    raise ValueError(f"a planner reads batch entries {inputs}; this batch lacks {missing} (has {sorted(batch)}).")


def _first_step(cell: nn.Module, r: jax.Array) -> jax.Array:
  """One step from the zero state with ``r`` prepared: what creates every cell parameter."""
  return cell(cell.zero_state(r), cell.prepare(r))


class PlannerNet(nn.Module):
  """Encoder → iterated cell → policy head, on a batch of grids."""

  family: CellFamily
  options: PlannerOptions
  mode: Mode
  learned_start: bool | None = None  # None: explicit planners of families with an initial_state, unless zero_start

  @nn.compact
  def __call__(
    self,
    batch: Batch,
    probe: SolveStats | None = None,
    radius_key: jax.Array | None = None,
    penalty_key: jax.Array | None = None,
    budget: jax.Array | None = None,
  ) -> PlannerOutput:
    check_inputs(batch)
    dtype = self.options.jax_dtype
    rewards = self.family.encoder(self.options, name="encoder")(observation(batch["maps"], batch["goals"], dtype))
    # Unbound (parent=None): applied functionally with explicit parameters.
    cell = self.family.cell(self.options, parent=None)
    cell_params = self.param("cell", lambda key: cell.init(key, rewards[:1], method=_first_step)["params"])
    context = cell.apply({"params": cell_params}, rewards, method="prepare")  # once, outside the loop

    def step(state, params, context):  # the cell takes the batch as it is: weights stay shared, not vmapped
      return cell.apply({"params": params}, state, context)

    has_start = self.family.initial_state is not None
    learned_start = self.learned_start
    if learned_start is None:
      wanted = not self.options.zero_start if isinstance(self.mode, Unrolled) else self.options.warm_start
      learned_start = wanted and has_start
    head_reads_start = self.options.head_reads_start and has_start
    start = None
    if learned_start or head_reads_start:
      start = self.family.initial_state(self.options, name="initial_state")(rewards)
    state0 = start if learned_start else cell.zero_state(rewards)
    if probe is None:
      probe = backward_probe(rewards.shape[0], dtype)
    # No parameter depends on the solve: `init` makes one step, so it costs the same at any K.
    mode, num_iterates = (Unrolled(1), 0) if self.is_initializing() else (self.mode, self.options.supervised_iterates)
    budget = None if self.is_initializing() else budget
    state, stats, iterates = with_iterates(
      mode, step, state0, cell_params, context, num_iterates=num_iterates, probe=probe, batched=True, budget=budget
    )
    radius = None
    if radius_key is not None:
      frozen = jax.lax.stop_gradient((state, cell_params, context))
      radius = spectral_radius(step, frozen[0], *frozen[1:], key=radius_key, batched=True)
    penalty = None
    if penalty_key is not None:
      penalty = jacobian_penalty(step, state, cell_params, context, key=penalty_key, batched=True)

    head = self.family.head(self.options, name="head")

    def features_of(state):
      return cell.apply({"params": cell_params}, state, rewards, method="readout")

    # The start's features, read as a state is, reach the head beside the returned state's.
    start_features = features_of(start)[0] if head_reads_start else None

    def read(state):
      features, value_map = features_of(state)
      if start_features is not None:
        features = jnp.concatenate([features, start_features], axis=-1)
      return head(features), value_map

    logits, value_map = read(state)
    if value_map is None:
      value_map = jnp.max(logits, axis=-1)
    iterate_logits = tuple(jnp.moveaxis(read(iterate)[0], -1, 1) for iterate in iterates)
    stats = PlannerStats(stats, radius, penalty)
    return PlannerOutput(jnp.moveaxis(logits, -1, 1), value_map, stats, iterate_logits=iterate_logits)
