"""An independent plain-Python shortest-path oracle for the tests (not the production labeller)."""

import collections

import numpy as np

MOVES = ((-1, 0), (0, -1), (1, 0), (0, 1))  # north, west, south, east (row, col)


def neighbour(cell: tuple[int, int], move: tuple[int, int], shape: tuple[int, int], wrap: bool):
  """The cell one ``move`` away, wrapped on a torus; ``None`` off the grid."""
  (r, c), (dr, dc), (h, w) = cell, move, shape
  r, c = r + dr, c + dc
  if wrap:
    return r % h, c % w
  return (r, c) if 0 <= r < h and 0 <= c < w else None


def reference_labels(free: np.ndarray, goal: tuple[int, int], wrap: bool):
  """BFS distances (``inf`` where unreachable) and optimal action sets ``[4, H, W]`` of one map."""
  dist = np.full(free.shape, np.inf)
  dist[goal] = 0
  queue = collections.deque([tuple(goal)])
  while queue:
    cell = queue.popleft()
    for move in MOVES:
      nxt = neighbour(cell, move, free.shape, wrap)
      if nxt is not None and free[nxt] and dist[nxt] == np.inf:
        dist[nxt] = dist[cell] + 1
        queue.append(nxt)
  actions = np.zeros((4,) + free.shape, bool)
  for cell in zip(*np.nonzero(free & np.isfinite(dist) & (dist > 0))):
    for a, move in enumerate(MOVES):
      nxt = neighbour(cell, move, free.shape, wrap)
      actions[(a,) + cell] = nxt is not None and bool(free[nxt]) and dist[nxt] == dist[cell] - 1
  return dist, actions
