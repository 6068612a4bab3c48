"""Exact policy-graph metrics for grid planners: %Optimal, %Success, action accuracy.

A greedy policy on a grid map is a function `successor: cell -> cell`, so the set of cells
it leads to the goal is decided exactly by following that function, for every start at once,
with pointer doubling: after `r` rounds each cell knows where it is after `2**r` moves and
whether every one of those moves was optimal. `ceil(log2(H * W))` rounds cover any path on
the map, so no start cells are sampled and no step limit is guessed.

Definitions (per map, over the *counted* cells: free, reachable — finite `dist` — and not the
goal):

- **%Success**: following the greedy policy from the cell reaches the goal.
- **%Optimal**: it reaches the goal in exactly `dist[cell]` moves. Equivalent: every move on
  the way lowers `dist` by exactly one (a move changes `dist` by at most one, so `dist[cell]`
  moves that each lower it by one end at distance 0, the goal; anything else is longer).
- **%Accuracy**: the greedy action is one of the optimal actions (it lowers `dist` by one).

Moves into an obstacle or off the grid leave the agent where it is (so a policy that points
at a wall loops there and fails); with `wrap=True` (torus tasks) moves off one edge enter at
the opposite edge. The goal is absorbing. Obstacles are recognised by `dist == inf`: from a
reachable cell every free neighbour is reachable too, so for the counted cells "blocked" and
"neighbour has infinite distance" are the same thing — the metrics need no map encoding.

A map with no counted cells (the goal walled in alone) has no defined score: its entries are
NaN and `num_cells` is 0; `aggregate` skips such maps and reports how many it skipped.

Actions are indexed (north, west, south, east) = `ops.actions.ACTION_DELTAS` as (row, col)
offsets, the planners' logit order.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from implicit_planning.ops.actions import ACTION_DELTAS


class PolicyMetrics(NamedTuple):
  """Per-map metrics of a greedy policy; every field has shape [B].

  Attributes:
    optimal: % of counted cells whose greedy path reaches the goal in `dist` moves.
    success: % of counted cells whose greedy path reaches the goal at all.
    accuracy: % of counted cells whose greedy action is in the optimal set.
    num_cells: number of counted cells (free, reachable, non-goal); 0 means the three
      percentages are NaN.
  """

  optimal: jax.Array
  success: jax.Array
  accuracy: jax.Array
  num_cells: jax.Array


def greedy_actions(logits: jax.Array) -> jax.Array:
  """Arg-max action per cell.

  Args:
    logits: [B, 4, H, W] action scores.

  Returns:
    [B, H, W] int32 actions in 0..3 (ties go to the lower index).
  """
  return jnp.argmax(logits, axis=1).astype(jnp.int32)


def successors(actions: jax.Array, dist: jax.Array, wrap: bool) -> jax.Array:
  """Cell each greedy move leads to, as a flat index `row * W + col`.

  Args:
    actions: [B, H, W] int actions in 0..3.
    dist: [B, H, W] shortest-path distance to the goal, `inf` at obstacles and cells that
      cannot reach the goal.
    wrap: moves leave one edge and enter at the opposite one (torus) if True; otherwise a
      move off the grid is blocked.

  Returns:
    [B, H*W] int32 successor indices; blocked moves (obstacle, edge) and the goal stay put.
  """
  batch, height, width = actions.shape
  rows, cols = jnp.meshgrid(jnp.arange(height), jnp.arange(width), indexing="ij")
  deltas = jnp.asarray(ACTION_DELTAS, jnp.int32)  # [4, 2]
  next_rows = rows[None] + deltas[actions, 0]
  next_cols = cols[None] + deltas[actions, 1]
  if wrap:
    inside = jnp.ones_like(next_rows, bool)
    next_rows, next_cols = next_rows % height, next_cols % width
  else:
    inside = (next_rows >= 0) & (next_rows < height) & (next_cols >= 0) & (next_cols < width)
    next_rows = jnp.clip(next_rows, 0, height - 1)
    next_cols = jnp.clip(next_cols, 0, width - 1)
  flat_dist = dist.reshape(batch, -1)
  next_index = (next_rows * width + next_cols).reshape(batch, -1)
  here = jnp.broadcast_to(jnp.arange(height * width), (batch, height * width))
  free = jnp.take_along_axis(flat_dist, next_index, axis=1) < jnp.inf
  at_goal = flat_dist == 0
  move = inside.reshape(batch, -1) & free & ~at_goal
  return jnp.where(move, next_index, here).astype(jnp.int32)


def _follow(successor: jax.Array, good: jax.Array, rounds: int) -> tuple[jax.Array, jax.Array]:
  """Pointer doubling: where `2**rounds` moves lead and whether all of them were good.

  Args:
    successor: [B, N] flat successor index of each cell.
    good: [B, N] bool, the move out of each cell is good (the goal's self-loop is good).
    rounds: number of doublings.

  Returns:
    ([B, N] end cell, [B, N] bool all moves good) after `2**rounds` moves.
  """

  def double(_, carry):
    succ, all_good = carry
    all_good = all_good & jnp.take_along_axis(all_good, succ, axis=1)
    succ = jnp.take_along_axis(succ, succ, axis=1)
    return succ, all_good

  return jax.lax.fori_loop(0, rounds, double, (successor, good))


class CellOutcomes(NamedTuple):
  """Per-cell outcome of a greedy policy; every field is [B, H, W] bool.

  Attributes:
    optimal: the greedy path from the cell reaches the goal in `dist` moves.
    success: the greedy path from the cell reaches the goal.
    accurate: the greedy action is an optimal action.
    counted: the cell is free, reachable and not the goal (the cells metrics average over).
  """

  optimal: jax.Array
  success: jax.Array
  accurate: jax.Array
  counted: jax.Array


def cell_outcomes(actions: jax.Array, dist: jax.Array, goals: jax.Array, wrap: bool) -> CellOutcomes:
  """Exact outcome of following greedy `actions` from every cell (jittable, `wrap` static).

  Args:
    actions: [B, H, W] int actions in 0..3 (e.g. `greedy_actions(logits)`).
    dist: [B, H, W] float shortest-path distances to the goal, 0 at the goal, `inf` at
      obstacles and unreachable cells.
    goals: [B, 2] int (row, col) of each goal.
    wrap: torus moves (manipulation tasks) if True.
  """
  batch, height, width = actions.shape
  flat_dist = dist.reshape(batch, -1)
  goal_index = goals[:, 0] * width + goals[:, 1]
  succ = successors(actions, dist, wrap)
  next_dist = jnp.take_along_axis(flat_dist, succ, axis=1)
  at_goal = flat_dist == 0
  step_good = (next_dist == flat_dist - 1) | at_goal
  rounds = max(1, math.ceil(math.log2(height * width)))
  end, all_good = _follow(succ, step_good, rounds)
  reached = end == goal_index[:, None]
  counted = (flat_dist < jnp.inf) & ~at_goal
  as_map = lambda x: x.reshape(batch, height, width)
  return CellOutcomes(
    optimal=as_map(all_good & reached), success=as_map(reached), accurate=as_map(step_good), counted=as_map(counted)
  )


def policy_metrics(actions: jax.Array, dist: jax.Array, goals: jax.Array, wrap: bool) -> PolicyMetrics:
  """Exact %Optimal / %Success / %Accuracy of greedy `actions` on each map.

  Jittable (`wrap` static) and batched over maps; see the module docstring for definitions
  and `cell_outcomes` for the arguments.

  Returns:
    `PolicyMetrics` with [B] fields.
  """
  cells = cell_outcomes(actions, dist, goals, wrap)
  num_cells = cells.counted.sum(axis=(1, 2))

  def percent(hit):
    hits = (hit & cells.counted).sum(axis=(1, 2))
    return 100.0 * hits / jnp.where(num_cells > 0, num_cells, jnp.nan)

  return PolicyMetrics(
    optimal=percent(cells.optimal),
    success=percent(cells.success),
    accuracy=percent(cells.accurate),
    num_cells=num_cells.astype(jnp.int32),
  )


DISTANCE_EDGES: tuple[float, ...] = (1, 5, 10, 15, 20, 30, math.inf)
"""Bins ``[edges[i], edges[i + 1])`` of shortest-path distance to the goal for `outcomes_by_distance`."""


class DistanceCounts(NamedTuple):
  """Counted cells per distance bin, and of those the successful and the optimal; int ``[B, bins]``."""

  success: jax.Array
  optimal: jax.Array
  cells: jax.Array


def outcomes_by_distance(
  actions: jax.Array, dist: jax.Array, goals: jax.Array, wrap: bool, edges: tuple[float, ...] = DISTANCE_EDGES
) -> DistanceCounts:
  """Where a policy fails or detours: its successful, optimal and counted cells per distance bin.

  A planner that propagates values only so far succeeds near the goal and fails beyond; one
  whose values order far cells loosely reaches the goal by a detour. This says how far each
  starts. Jittable (`wrap`, `edges` static); arguments as in `cell_outcomes`; bin ``i`` is
  ``[edges[i], edges[i + 1])``.
  """
  cells = cell_outcomes(actions, dist, goals, wrap)
  lower, upper = jnp.asarray(edges[:-1]), jnp.asarray(edges[1:])
  in_bin = (dist[..., None] >= lower) & (dist[..., None] < upper) & cells.counted[..., None]
  count = lambda mask: mask.sum(axis=(1, 2)).astype(jnp.int32)
  return DistanceCounts(
    success=count(in_bin & cells.success[..., None]),
    optimal=count(in_bin & cells.optimal[..., None]),
    cells=count(in_bin),
  )


def aggregate(metrics: PolicyMetrics) -> dict[str, float]:
  """Mean of per-map metrics over the maps that have counted cells.

  Args:
    metrics: `PolicyMetrics` with [B] fields (one model; aggregate seeds one at a time).

  Returns:
    {"optimal", "success", "accuracy"}: mean % over maps with counted cells; "maps": number
    of maps averaged; "skipped_maps": maps with no counted cell.
  """
  has_cells = np.asarray(metrics.num_cells) > 0
  result = {
    name: float(np.mean(np.asarray(getattr(metrics, name))[has_cells])) if has_cells.any() else float("nan")
    for name in ("optimal", "success", "accuracy")
  }
  result["maps"] = int(has_cells.sum())
  result["skipped_maps"] = int((~has_cells).sum())
  return result


def effective_horizon(values: jax.Array, dist: jax.Array, wrap: bool) -> jax.Array:
  """How far from the goal a value map still orders the cells: per map, the largest ``d`` such
  that from every counted cell within distance ``d`` the highest-valued neighbour is one step
  closer to the goal.

  A value map that fades out (a strongly discounted or unconverged cell) orders cells near the
  goal and not far ones; a converged shortest-path value orders all of them. Ties among
  neighbours count as disorder (the map does not tell the way). Moves are as in `successors`
  (walls and the grid's edge block them; ``wrap`` makes a torus).

  Args:
    values: ``[B, H, W]`` the planner's value map.
    dist: ``[B, H, W]`` shortest-path distances to the goal (``inf``: wall or unreachable).
    wrap: torus moves.

  Returns:
    ``[B]`` float: the horizon, or the map's largest distance when every counted cell is ordered
    (``nan`` for a map without counted cells).
  """
  neighbour_values, neighbour_dist = [], []
  for dr, dc in ACTION_DELTAS:
    if wrap:
      shift = lambda x, dr=dr, dc=dc: jnp.roll(x, (-dr, -dc), axis=(1, 2))
    else:
      shift = lambda x, dr=dr, dc=dc: _shifted(x, dr, dc)
    neighbour_values.append(jnp.where(jnp.isfinite(shift(dist)), shift(values), -jnp.inf))
    neighbour_dist.append(shift(dist))
  neighbour_values, neighbour_dist = jnp.stack(neighbour_values, 1), jnp.stack(neighbour_dist, 1)
  best = jnp.max(neighbour_values, axis=1, keepdims=True)
  toward_goal = neighbour_dist == dist[:, None] - 1
  ordered = jnp.all(jnp.where(neighbour_values == best, toward_goal, True), axis=1)
  counted = jnp.isfinite(dist) & (dist > 0)
  first_disorder = jnp.min(jnp.where(counted & ~ordered, dist, jnp.inf), axis=(1, 2))
  farthest = jnp.max(jnp.where(counted, dist, -jnp.inf), axis=(1, 2))
  horizon = jnp.where(jnp.isfinite(first_disorder), first_disorder - 1, farthest)
  return jnp.where(jnp.any(counted, axis=(1, 2)), horizon, jnp.nan)


def _shifted(x: jax.Array, dr: int, dc: int) -> jax.Array:
  """``x[:, r + dr, c + dc]`` on a bounded grid, ``inf`` off it (a wall)."""
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1)), constant_values=jnp.inf)
  height, width = x.shape[1:]
  return padded[:, 1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width]
