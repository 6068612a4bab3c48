"""Exact labels on batches of 4-connected grid maps: distances, optimal actions.

Every task in this package is a planning problem on an H x W grid (1 = free,
0 = obstacle) with unit-cost moves north, west, south and east; the
manipulation configuration spaces are tori (``wrap=True``: moving off one edge
enters at the opposite edge). The labeller runs one breadth-first search per
map, all maps of a batch at once, on bit-packed rows: a map row becomes
ceil(W / 64) uint64 words, so one BFS level is a handful of shifts, ORs and
ANDs over ``N * H`` words. Distances are accumulated in binary bit planes (the
plane b holds the cells whose distance has bit b set) and unpacked once at the
end. Maps whose search has finished are dropped from the working set.
"""

from __future__ import annotations

import numpy as np

from implicit_planning.ops.actions import ACTION_DELTAS

_WORD = np.dtype("<u8")
_ONE = np.uint64(1)
_TOP = np.uint64(63)
_LABEL_CHUNK = 2048  # maps per BFS batch: bounds memory, keeps words in cache


def neighbour_values(values: np.ndarray, wrap: bool, fill: float) -> np.ndarray:
  """Value of the neighbouring cell in each action direction.

  Args:
      values: ``[N, H, W]`` array.
      wrap: torus (neighbours wrap around) or bounded grid.
      fill: value for a neighbour off the grid (bounded grid only).

  Returns:
      ``[N, 4, H, W]``: entry ``[n, a, r, c]`` is ``values[n, r + dr, c + dc]``
      for the delta ``(dr, dc)`` of action ``a``.
  """
  n, h, w = values.shape
  if wrap:
    return np.stack(
      [np.roll(values, (-dr, -dc), axis=(1, 2)) for dr, dc in ACTION_DELTAS],
      axis=1,
    )
  padded = np.full((n, h + 2, w + 2), fill, dtype=values.dtype)
  padded[:, 1:-1, 1:-1] = values
  return np.stack(
    [padded[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w] for dr, dc in ACTION_DELTAS],
    axis=1,
  )


def optimal_actions(dist: np.ndarray, wrap: bool) -> np.ndarray:
  """Set of optimal actions implied by shortest-path distances.

  An action is optimal at a cell with finite, positive distance iff it moves
  to a cell (on the grid, hence free: obstacles have infinite distance) whose
  distance is one less.

  Args:
      dist: float32 ``[N, H, W]`` distances to the goal, ``inf`` where
          unreachable.
      wrap: torus or bounded grid.

  Returns:
      bool ``[N, 4, H, W]``, False at the goal, obstacles and unreachable cells.
  """
  moving = (np.isfinite(dist) & (dist > 0))[:, None]
  return moving & (neighbour_values(dist, wrap, np.inf) == (dist - 1)[:, None])


def shortest_paths(maps: np.ndarray, goals: np.ndarray, wrap: bool) -> tuple[np.ndarray, np.ndarray]:
  """Exact BFS distances to the goal and optimal action sets, batched.

  Args:
      maps: ``[N, H, W]``, nonzero = free.
      goals: int ``[N, 2]`` (row, col) of each goal; must be a free cell.
      wrap: torus (manipulation configuration spaces) or bounded grid.

  Returns:
      ``(dist, opt_actions)``: float32 ``[N, H, W]`` number of moves to the
      goal (``inf`` for obstacles and cells that cannot reach it) and bool
      ``[N, 4, H, W]`` optimal actions in the order of ``ACTIONS``.

  Raises:
      ValueError: on inconsistent shapes or a goal off the grid or on an
          obstacle.
  """
  maps = np.asarray(maps) != 0
  goals = np.asarray(goals)
  if maps.ndim != 3 or goals.shape != (maps.shape[0], 2):
    raise ValueError(f"shortest_paths: expected maps [N, H, W] and goals [N, 2], got {maps.shape} and {goals.shape}")
  n, h, w = maps.shape
  rows, cols = goals[:, 0], goals[:, 1]
  if np.any((rows < 0) | (rows >= h) | (cols < 0) | (cols >= w)):
    raise ValueError("shortest_paths: a goal lies off the grid")
  if not np.all(maps[np.arange(n), rows, cols]):
    raise ValueError("shortest_paths: a goal lies on an obstacle")
  dist = np.empty((n, h, w), np.float32)
  for start in range(0, n, _LABEL_CHUNK):
    part = slice(start, start + _LABEL_CHUNK)
    dist[part] = _bfs_distances(maps[part], goals[part], wrap)
  return dist, optimal_actions(dist, wrap)


def _pack(mask: np.ndarray) -> np.ndarray:
  """Bool ``[N, H, W]`` -> uint64 ``[N, H, K]``; bit c % 64 of word c // 64 is column c."""
  n, h, w = mask.shape
  words = -(-w // 64)
  packed = np.zeros((n, h, 8 * words), np.uint8)
  packed[..., : -(-w // 8)] = np.packbits(mask, axis=-1, bitorder="little")
  return packed.view(_WORD)


def _unpack(bits: np.ndarray, width: int) -> np.ndarray:
  """Inverse of :func:`_pack`."""
  return np.unpackbits(np.ascontiguousarray(bits).view(np.uint8), axis=-1, count=width, bitorder="little").view(bool)


def _spread(front: np.ndarray, width: int, wrap: bool) -> np.ndarray:
  """Cells with a 4-neighbour in ``front`` (packed); may set bits beyond ``width``."""
  out = front << _ONE  # bit of column c moves to column c + 1
  out[..., 1:] |= front[..., :-1] >> _TOP
  left = front >> _ONE  # bit of column c moves to column c - 1
  left[..., :-1] |= (front[..., 1:] & _ONE) << _TOP
  out |= left
  out[:, 1:] |= front[:, :-1]
  out[:, :-1] |= front[:, 1:]
  if wrap:
    word, bit = divmod(width - 1, 64)
    out[..., 0] |= (front[..., word] >> np.uint64(bit)) & _ONE
    out[..., word] |= (front[..., 0] & _ONE) << np.uint64(bit)
    out[:, 0] |= front[:, -1]
    out[:, -1] |= front[:, 0]
  return out


def _search(
  free_bits: np.ndarray, reached: np.ndarray, width: int, wrap: bool, num_planes: int
) -> tuple[np.ndarray, np.ndarray]:
  """Level-synchronous BFS over packed maps from the packed start cells ``reached``.

  Returns the packed cells reached and ``num_planes`` packed bit planes of
  their BFS level (plane b holds the cells whose level has bit b set).
  """
  n = reached.shape[0]
  planes = np.zeros((num_planes,) + reached.shape, _WORD)
  out_reached, out_planes = reached.copy(), planes.copy()
  rows = np.arange(n)  # original index of each working map
  front = reached.copy()
  level = 0
  while rows.size:
    level += 1
    front = _spread(front, width, wrap) & free_bits & ~reached
    reached |= front
    for plane in range(num_planes):
      if level >> plane & 1:
        planes[plane] |= front
    alive = front.any(axis=(1, 2))
    if alive.sum() <= 0.75 * rows.size:
      done = ~alive
      out_reached[rows[done]] = reached[done]
      out_planes[:, rows[done]] = planes[:, done]
      rows, front, free_bits = rows[alive], front[alive], free_bits[alive]
      reached, planes = reached[alive], planes[:, alive]
  return out_reached, out_planes


def _bfs_distances(free: np.ndarray, goals: np.ndarray, wrap: bool) -> np.ndarray:
  """BFS distances from each goal, float32 ``[N, H, W]`` with ``inf`` if unreachable."""
  n, h, w = free.shape
  goal_mask = np.zeros_like(free)
  goal_mask[np.arange(n), goals[:, 0], goals[:, 1]] = True
  num_planes = max(1, int(h * w).bit_length())
  reached, planes = _search(_pack(free), _pack(goal_mask), w, wrap, num_planes)
  dist = np.zeros((n, h, w), np.float32)
  for plane in range(num_planes):
    dist += _unpack(planes[plane], w) * np.float32(1 << plane)
  dist[~_unpack(reached, w)] = np.inf
  return dist


def uniform_cells(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
  """One cell per map drawn uniformly among the True cells of ``mask``.

  Args:
      rng: random generator.
      mask: bool ``[N, H, W]`` with at least one True cell per map.

  Returns:
      int32 ``[N, 2]`` (row, col).
  """
  n, h, w = mask.shape
  flat = mask.reshape(n, h * w)
  count = flat.sum(axis=1)
  if np.any(count == 0):
    raise ValueError("uniform_cells: a map has no candidate cell")
  rank = rng.integers(count)  # which candidate, per map
  index = (np.cumsum(flat, axis=1, dtype=np.int32) > rank[:, None]).argmax(axis=1)
  return np.stack(np.divmod(index, w), axis=1).astype(np.int32)


def largest_component(free: np.ndarray, wrap: bool) -> np.ndarray:
  """Largest 4-connected free region of each map (ties: the lowest cell index).

  Flood-fills regions in order of their lowest cell until the largest one
  found is at least as large as all free cells not yet assigned to a region.

  Args:
      free: bool ``[N, H, W]``.
      wrap: torus or bounded grid.

  Returns:
      bool ``[N, H, W]``: the cells of the largest region (all False for a
      map without free cells).
  """
  n, h, w = free.shape
  free_bits = _pack(free)
  best = np.zeros_like(free_bits)
  best_size = np.zeros(n, np.int64)
  remaining = free.reshape(n, -1).copy()
  todo = np.flatnonzero(remaining.sum(axis=1) > best_size)
  while todo.size:
    seed = np.zeros((todo.size, h * w), bool)
    seed[np.arange(todo.size), remaining[todo].argmax(axis=1)] = True
    region, _ = _search(free_bits[todo], _pack(seed.reshape(-1, h, w)), w, wrap, 0)
    size = _unpack(region, w).reshape(todo.size, -1).sum(axis=1)
    larger = size > best_size[todo]
    best[todo[larger]] = region[larger]
    best_size[todo[larger]] = size[larger]
    remaining[todo] &= ~_unpack(region, w).reshape(todo.size, -1)
    todo = todo[remaining[todo].sum(axis=1) > best_size[todo]]
  return _unpack(best, w)
