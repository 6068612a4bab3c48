"""The grid symmetry groups: axioms, representations, and agreement with rotating arrays."""

import collections

import numpy as np
import pytest

from implicit_planning.ops import groups
from implicit_planning.ops.actions import ACTION_DELTAS

N, W, S, E = 0, 1, 2, 3  # action indices: north, west, south, east
GROUP_NAMES = ("d4", "c4")


def bfs_lookahead(free: np.ndarray, goal: tuple[int, int]) -> np.ndarray:
  """``[4, H, W]``: shortest distance to ``goal`` after each action (inf if blocked or unreachable)."""
  height, width = free.shape
  dist = np.full(free.shape, np.inf)
  dist[goal] = 0
  queue = collections.deque([goal])
  while queue:
    r, c = queue.popleft()
    for dr, dc in ACTION_DELTAS:
      nr, nc = r + dr, c + dc
      if 0 <= nr < height and 0 <= nc < width and free[nr, nc] and dist[nr, nc] == np.inf:
        dist[nr, nc] = dist[r, c] + 1
        queue.append((nr, nc))
  padded = np.pad(dist, 1, constant_values=np.inf)
  return np.stack([padded[1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width] for dr, dc in ACTION_DELTAS])


@pytest.mark.parametrize("name", GROUP_NAMES)
def test_group_axioms(name):
  group = groups.get_group(name)
  n = group.order
  assert n == {"d4": 8, "c4": 4}[name]
  elements = np.arange(n)
  assert np.all(group.compose[0] == elements) and np.all(group.compose[:, 0] == elements)  # identity
  for g in elements:
    assert sorted(group.compose[g]) == list(elements)  # closure; each row a permutation
    assert group.compose[g, group.inverse[g]] == 0 == group.compose[group.inverse[g], g]
    for h in elements:
      np.testing.assert_array_equal(group.matrices[group.compose[g, h]], group.matrices[g] @ group.matrices[h])
      for k in elements:
        assert group.compose[group.compose[g, h], k] == group.compose[g, group.compose[h, k]]


@pytest.mark.parametrize("name", GROUP_NAMES)
def test_grid_action_is_a_homomorphism_and_matches_points(name):
  group = groups.get_group(name)
  x = np.arange(2 * 5 * 6 * 3).reshape(2, 5, 6, 3)  # non-square: rotations swap H and W
  for g in range(group.order):
    for h in range(group.order):
      twice = groups.act_on_grid(groups.act_on_grid(x, h, group), g, group)
      np.testing.assert_array_equal(twice, groups.act_on_grid(x, group.compose[g, h], group))
    moved = np.asarray(groups.act_on_grid(x, g, group))
    points = np.array([(0, 0), (4, 5), (1, 3), (2, 2)])
    new_points = groups.act_on_points(points, g, group, (5, 6))
    np.testing.assert_array_equal(moved[:, new_points[:, 0], new_points[:, 1]], x[:, points[:, 0], points[:, 1]])


@pytest.mark.parametrize("name", GROUP_NAMES)
def test_regular_representation_is_a_homomorphism(name):
  group = groups.get_group(name)
  x = np.arange(4 * 4 * 3 * group.order).reshape(4, 4, -1)  # three regular fields
  for g in range(group.order):
    p = groups.regular_permutation(g, group)
    assert sorted(p) == list(range(group.order))
    for h in range(group.order):
      np.testing.assert_array_equal(
        groups.regular_permutation(h, group)[p], groups.regular_permutation(group.compose[g, h], group)
      )
      twice = groups.act_on_regular(groups.act_on_regular(x, h, group), g, group)
      np.testing.assert_array_equal(twice, groups.act_on_regular(x, group.compose[g, h], group))


@pytest.mark.parametrize("name", GROUP_NAMES)
def test_action_permutation_is_a_homomorphism(name):
  group = groups.get_group(name)
  for g in range(group.order):
    for h in range(group.order):
      composed = groups.action_permutation(group.compose[g, h], group)
      np.testing.assert_array_equal(groups.action_permutation(h, group)[groups.action_permutation(g, group)], composed)


def test_action_conventions():
  d4 = groups.get_group("d4")
  quarter_turn = 1  # jnp.rot90 once: 90° counter-clockwise
  assert d4.rotations[quarter_turn] == 1 and not d4.flips[quarter_turn]
  # The moved policy goes west where the original went north, and so on.
  p = groups.action_permutation(quarter_turn, d4)
  assert (p[W], p[S], p[E], p[N]) == (N, W, S, E)
  mirror = 4  # left–right: west and east swap, north and south stay
  assert d4.flips[mirror] and d4.rotations[mirror] == 0
  np.testing.assert_array_equal(groups.action_permutation(mirror, d4), [N, E, S, W])
  np.testing.assert_array_equal(groups.element_actions(d4), [N, W, S, E, N, W, S, E])


@pytest.mark.parametrize("name", GROUP_NAMES)
def test_actions_move_like_a_shortest_path_policy(name):
  """Rotating/mirroring a maze and its goal moves the optimal lookahead values as `act_on_actions` says."""
  group = groups.get_group(name)
  rng = np.random.default_rng(2)
  free = rng.random((9, 9)) > 0.3
  goal = (2, 6)
  free[goal] = True
  lookahead = bfs_lookahead(free, goal)
  greedy = lookahead == lookahead.min(axis=0)
  for g in range(group.order):
    moved_free = np.asarray(groups.act_on_grid(free, g, group, axes=(0, 1)))
    moved_goal = tuple(groups.act_on_points(np.array(goal), g, group, free.shape))
    expected = np.asarray(groups.act_on_actions(lookahead, g, group, action_axis=0))
    np.testing.assert_array_equal(bfs_lookahead(moved_free, moved_goal), expected)
    moved_greedy = np.asarray(groups.act_on_actions(greedy, g, group, action_axis=0))
    np.testing.assert_array_equal(moved_greedy, expected == expected.min(axis=0))


def test_unknown_group_is_refused():
  with pytest.raises(ValueError, match="group"):
    groups.get_group("d8")
