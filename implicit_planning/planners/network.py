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

from implicit_planning.equilibrium import Implicit, SolveStats, Unrolled, backward_probe
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
  """

  forward: SolveStats


class PlannerOutput(NamedTuple):
  """What a planner returns for a batch.

  Attributes:
    logits: ``[B, 4, H, W]`` action scores (north, west, south, east).
    values: ``[B, H, W]`` the value map (VIN family: ``V``; others: the best logit).
    stats: `PlannerStats`.
  """

  logits: jax.Array
  values: jax.Array
  stats: PlannerStats


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
  mode: Implicit | Unrolled

  @nn.compact
  def __call__(self, batch: Batch, probe: SolveStats | None = None) -> PlannerOutput:
    check_inputs(batch)
    dtype = self.options.jax_dtype
    rewards = self.family.encoder(self.options, name="encoder")(observation(batch["maps"], batch["goals"], dtype))
    # Unbound (parent=None): applied functionally with explicit parameters.
    cell = self.family.cell(self.options, parent=None)
    cell_params = self.param("cell", lambda key: cell.init(key, rewards[:1], method=_first_step)["params"])
    context = cell.apply({"params": cell_params}, rewards, method="prepare")  # once, outside the loop

    def step(state, params, context):  # the cell takes the batch as it is: weights stay shared, not vmapped
      return cell.apply({"params": params}, state, context)

    if isinstance(self.mode, Unrolled) and self.family.initial_state is not None:
      state0 = self.family.initial_state(self.options, name="initial_state")(rewards)
    else:
      state0 = cell.zero_state(rewards)
    if probe is None:
      probe = backward_probe(rewards.shape[0], dtype)
    state, stats = self.mode(step, state0, cell_params, context, probe=probe, batched=True)

    features, value_map = cell.apply({"params": cell_params}, state, rewards, method="readout")
    logits = self.family.head(self.options, name="head")(features)
    if value_map is None:
      value_map = jnp.max(logits, axis=-1)
    return PlannerOutput(jnp.moveaxis(logits, -1, 1), value_map, PlannerStats(stats))
