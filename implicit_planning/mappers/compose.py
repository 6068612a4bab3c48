"""A mapper and a planner as one model: observation → obstacle logits → free-space map → plan.

The mapper is always differentiated explicitly (backpropagation through its layers); the
planner in its own mode, so an implicit planner's gradient reaches the mapper through the
implicit function theorem: the cotangent of the map it planned on.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

from implicit_planning.equilibrium import SolveStats
from implicit_planning.planners import Batch, Planner, PlannerOutput


def free_space(map_logits: jax.Array) -> jax.Array:
  """Obstacle logits → the probability that each cell is free, the map a planner reads (1 = free)."""
  return jax.nn.sigmoid(-map_logits)


def with_mapper(planner: Planner, mapper: nn.Module, observation: str = "workspace", plan: bool = True) -> Planner:
  """The planner fed by ``mapper``'s map of ``batch[observation]``.

  Args:
    planner: any planner (`make_planner`), explicit or implicit.
    mapper: a Flax module, ``batch[observation] [B, ...]`` → obstacle logits ``[B, H, W]``.
    observation: the batch entry the mapper reads (``"workspace"``, ``"panorama"``).
    plan: False gives the mapper alone (its pretraining): ``apply`` returns only ``map_logits``
      (the other `PlannerOutput` fields are None) and the parameters hold only ``"mapper"``.

  Returns:
    A `Planner` with the same spec, options and mode, parameters ``{"mapper": ..., "planner": ...}``
    and inputs ``(observation, "goals")``; ``apply`` returns the planner's output on the free-space
    map `free_space(map_logits)` with ``map_logits`` set, and ``field_logits`` for a mapper that
    sows its obstacle field (`sweep.SweepMapper`).
  """

  def init(rng: jax.Array, batch: Batch) -> dict[str, Any]:
    mapper_key, planner_key = jax.random.split(rng)
    params = {"mapper": mapper.init(mapper_key, batch[observation])}
    if plan:
      maps = free_space(mapper.apply(params["mapper"], batch[observation]))
      params["planner"] = planner.init(planner_key, {"maps": maps, "goals": batch["goals"]})
    return params

  def apply(
    params: dict[str, Any],
    batch: Batch,
    probe: SolveStats | None = None,
    radius_key: jax.Array | None = None,
    penalty_key: jax.Array | None = None,
    budget: jax.Array | None = None,
  ) -> PlannerOutput:
    if observation not in batch:
      raise ValueError(
        f"a mapped planner reads batch entry {observation!r} (its mapper's input); this batch has {sorted(batch)}."
      )
    map_logits, sown = mapper.apply(params["mapper"], batch[observation], mutable="intermediates")
    made = {"map_logits": map_logits, "field_logits": sown.get("intermediates", {}).get("obstacle_field", (None,))[0]}
    if not plan:
      return PlannerOutput(None, None, None, **made)
    mapped = {"maps": free_space(map_logits), "goals": batch["goals"]}
    return planner.apply(params["planner"], mapped, probe, radius_key, penalty_key, budget)._replace(**made)

  return planner._replace(init=init, apply=apply, inputs=(observation, "goals"))
