"""Exact policy metrics against hand-made policies on hand-made maps and a brute-force oracle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bfs_oracle import reference_labels

from implicit_planning import metrics

N, W, S, E = 0, 1, 2, 3  # action indices: north, west, south, east


def bfs_dist(free: np.ndarray, goal: tuple[int, int], wrap: bool) -> np.ndarray:
  """[H, W] shortest-path distances to `goal` over free cells (inf elsewhere), float32 as stored."""
  return reference_labels(free, goal, wrap)[0].astype(np.float32)


def brute_force(actions, dist, goal, wrap):
  """(%Optimal, %Success, %Accuracy) by walking every start cell for H*W moves."""
  height, width = dist.shape
  optimal = success = accurate = count = 0
  for r in range(height):
    for c in range(width):
      if not np.isfinite(dist[r, c]) or dist[r, c] == 0:
        continue
      count += 1
      pos, moves = (r, c), 0
      for _ in range(height * width):
        if pos == goal:
          break
        dr, dc = metrics.ACTION_DELTAS[actions[pos]]
        nr, nc = pos[0] + dr, pos[1] + dc
        if wrap:
          nr, nc = nr % height, nc % width
        blocked = not (0 <= nr < height and 0 <= nc < width and np.isfinite(dist[nr, nc]))
        if moves == 0:
          accurate += not blocked and dist[nr, nc] == dist[r, c] - 1
        if not blocked:
          pos = (nr, nc)
        moves += 1
      success += pos == goal
      optimal += pos == goal and moves == dist[r, c]
  return 100 * optimal / count, 100 * success / count, 100 * accurate / count


def run(actions, free, goal, wrap=False):
  dist = bfs_dist(np.asarray(free, bool), goal, wrap)
  result = jax.jit(metrics.policy_metrics, static_argnums=3)(
    np.asarray(actions, np.int32)[None], dist[None], np.asarray([goal], np.int32), wrap
  )
  return jax.tree.map(lambda x: float(x[0]), result)


def test_perfect_policy_on_a_corridor_scores_100():
  got = run([[E, E, E, N]], [[1, 1, 1, 1]], goal=(0, 3))
  assert (got.optimal, got.success, got.accuracy, got.num_cells) == (100, 100, 100, 3)


def test_two_cell_loop_scores_by_hand():
  # Cells 0 and 1 swap forever; only cell 2 reaches the goal.
  got = run([[E, W, E, N]], [[1, 1, 1, 1]], goal=(0, 3))
  assert got.success == pytest.approx(100 / 3)
  assert got.optimal == pytest.approx(100 / 3)
  assert got.accuracy == pytest.approx(200 / 3)  # cells 0 and 2 point the right way


def test_outcomes_by_distance_counts_each_bin_by_hand():
  # A corridor of 7 cells, goal at the east end: cells at distances 1..6. The policy points
  # the right way except at distance 4, which turns back: distances 4, 5, 6 never arrive.
  actions = np.asarray([[E, E, W, E, E, E, N]], np.int32)
  dist = bfs_dist(np.ones((1, 7), bool), (0, 6), False)
  counts = jax.jit(metrics.outcomes_by_distance, static_argnums=(3, 4))(
    actions[None], dist[None], np.asarray([[0, 6]], np.int32), False, (1, 3, 5, np.inf)
  )
  np.testing.assert_array_equal(counts.cells, [[2, 2, 2]])  # distances {1, 2}, {3, 4}, {5, 6}
  np.testing.assert_array_equal(counts.success, [[2, 1, 0]])
  np.testing.assert_array_equal(counts.optimal, [[2, 1, 0]])


def test_outcomes_by_distance_tells_a_detour_from_a_failure():
  # 3x3 open grid, goal top-left; (0, 1) at distance 1 detours south, west, north (3 moves), and
  # (0, 2) at distance 2 passes through it: both succeed, neither optimally.
  actions = np.asarray([[N, S, W], [N, W, W], [N, W, W]], np.int32)
  dist = bfs_dist(np.ones((3, 3), bool), (0, 0), False)
  counts = metrics.outcomes_by_distance(actions[None], dist[None], np.asarray([[0, 0]], np.int32), False, (1, 2, 3, 5))
  np.testing.assert_array_equal(counts.cells, [[2, 3, 3]])  # distances 1, 2, {3, 4}
  np.testing.assert_array_equal(counts.success, [[2, 3, 3]])
  np.testing.assert_array_equal(counts.optimal, [[1, 2, 3]])


def test_detour_succeeds_but_is_not_optimal():
  # 3x3 open grid, goal top-left. (0,1) goes south then west then north: 3 moves, not 1.
  actions = [[N, S, W], [N, W, W], [N, W, W]]
  got = run(actions, np.ones((3, 3)), goal=(0, 0))
  assert got.success == 100
  # Only (0,1) takes a detour; (0,2) passes through it.
  assert got.optimal == pytest.approx(100 * 6 / 8)
  assert got.accuracy == pytest.approx(100 * 7 / 8)


def test_moves_into_walls_and_off_the_grid_stay_and_fail():
  free = [[1, 0, 1], [1, 1, 1]]
  actions = [
    [S, N, N],  # (0,2) walks off the top edge
    [N, W, N],
  ]  # (1,2) walks north into (0,2) fine; (1,1) west fine
  got = run(actions, free, goal=(0, 0))
  # counted cells: (1,0), (1,1), (1,2), (0,2); (0,2) fails, (1,2) -> (0,2) fails.
  assert got.num_cells == 4
  assert got.success == 50
  assert got.optimal == 50
  actions_into_wall = [[S, N, N], [N, N, W]]  # (1,1) points into the wall above it
  got = run(actions_into_wall, free, goal=(0, 0))
  assert got.success == 25  # only (1,0)
  assert got.optimal == 25


def test_torus_wrap_crosses_the_edge():
  # On a 1x4 torus the goal at column 0 is one move east from column 3.
  actions = [[N, W, W, E]]
  got = run(actions, [[1, 1, 1, 1]], goal=(0, 0), wrap=True)
  assert (got.optimal, got.success) == (100, 100)
  # Without wrap the same move is blocked, and the distance is 3, not 1.
  got = run(actions, [[1, 1, 1, 1]], goal=(0, 0), wrap=False)
  assert got.success == pytest.approx(200 / 3)


def test_map_without_counted_cells_is_nan_and_skipped():
  dist = np.full((2, 2, 2), np.inf, np.float32)
  dist[0] = [[0, 1], [1, 2]]
  dist[1, 0, 0] = 0  # goal walled in alone
  actions = np.array([[[N, W], [N, N]], [[N, N], [N, N]]], np.int32)
  result = metrics.policy_metrics(actions, dist, np.zeros((2, 2), np.int32), False)
  assert np.isnan(float(result.success[1])) and int(result.num_cells[1]) == 0
  summary = metrics.aggregate(result)
  assert summary == {"optimal": 100.0, "success": 100.0, "accuracy": 100.0, "maps": 1, "skipped_maps": 1}


@pytest.mark.parametrize("wrap", [False, True])
def test_random_policies_match_brute_force(wrap):
  rng = np.random.default_rng(0)
  height, width, batch = 6, 7, 12
  free = rng.random((batch, height, width)) < 0.75
  goals = np.stack([rng.integers(0, height, batch), rng.integers(0, width, batch)], 1)
  free[np.arange(batch), goals[:, 0], goals[:, 1]] = True
  dist = np.stack([bfs_dist(f, tuple(g), wrap) for f, g in zip(free, goals)])
  # Mostly-optimal policies (so that many paths succeed), a fifth of the cells random.
  best = np.zeros((batch, height, width), np.int32)
  for b, r, c in np.ndindex(batch, height, width):
    for a, (dr, dc) in enumerate(metrics.ACTION_DELTAS):
      nr, nc = (r + dr) % height, (c + dc) % width
      inside = wrap or (0 <= r + dr < height and 0 <= c + dc < width)
      if inside and dist[b, nr, nc] == dist[b, r, c] - 1:
        best[b, r, c] = a
  noise = rng.integers(0, 4, (batch, height, width)).astype(np.int32)
  actions = np.where(rng.random((batch, height, width)) < 0.2, noise, best)
  result = metrics.policy_metrics(actions, dist, goals.astype(np.int32), wrap)
  for b in range(batch):
    expected = brute_force(actions[b], dist[b], tuple(goals[b]), wrap)
    got = (float(result.optimal[b]), float(result.success[b]), float(result.accuracy[b]))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
  assert 0 < np.nanmean(result.success) < 100  # the oracle saw both outcomes


def test_greedy_actions_take_the_argmax_over_the_action_axis():
  logits = np.zeros((1, 4, 2, 3), np.float32)
  logits[0, S, 1, 2] = 1.0
  actions = metrics.greedy_actions(logits)
  assert actions.shape == (1, 2, 3) and int(actions[0, 1, 2]) == S and int(actions[0, 0, 0]) == N


@pytest.mark.parametrize("wrap", [False, True])
def test_agrees_with_data_gen_labels(wrap):
  """Same action order as data_gen, and a policy drawn from its optimal sets scores 100."""
  from data_gen import dataset  # pylint: disable=g-import-not-at-top

  np.testing.assert_array_equal(np.asarray(dataset.ACTION_DELTAS), metrics.ACTION_DELTAS)
  rng = np.random.default_rng(1)
  maps = (rng.random((8, 9, 9)) < 0.7).astype(np.uint8)
  goals = rng.integers(0, 9, (8, 2)).astype(np.int32)
  maps[np.arange(8), goals[:, 0], goals[:, 1]] = 1
  dist, opt_actions = dataset.shortest_paths(maps, goals, wrap)
  for b in range(8):
    np.testing.assert_array_equal(dist[b], bfs_dist(maps[b].astype(bool), tuple(goals[b]), wrap))
  result = metrics.policy_metrics(metrics.greedy_actions(opt_actions), dist, goals, wrap)
  summary = metrics.aggregate(result)
  assert (summary["optimal"], summary["success"], summary["accuracy"]) == (100, 100, 100)


@pytest.mark.parametrize("wrap", [False, True])
def test_effective_horizon_is_where_the_values_stop_ordering_the_cells(wrap):
  rng = np.random.default_rng(5)
  free = rng.random((3, 9, 9)) > 0.2
  goals = np.array([[4, 4], [1, 1], [7, 2]])
  free[np.arange(3), goals[:, 0], goals[:, 1]] = True
  dist = np.stack([bfs_dist(f, tuple(g), wrap) for f, g in zip(free, goals)])
  farthest = np.max(np.where(np.isfinite(dist), dist, -np.inf), axis=(1, 2))
  exact = metrics.effective_horizon(jnp.asarray(-dist), jnp.asarray(dist), wrap)
  np.testing.assert_array_equal(exact, farthest)  # the shortest-path value orders every cell
  faded = metrics.effective_horizon(jnp.asarray(-np.minimum(dist, 4)), jnp.asarray(dist), wrap)
  np.testing.assert_array_equal(faded, np.minimum(4, farthest))  # flat beyond 4: ties from 5 on
  discounted = metrics.effective_horizon(jnp.asarray(0.9**dist), jnp.asarray(dist), wrap)
  np.testing.assert_array_equal(discounted, farthest)
