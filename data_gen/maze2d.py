"""Random 2D mazes as in GPPN: depth-first-search maze, then random wall removal.

A ``size x size`` map (``size`` odd) has its lattice cells at odd (row, col);
a randomized depth-first search over the ``m x m`` lattice (``m = (size - 1)
// 2``) carves the wall cell between each cell and the neighbour it moves to,
giving a perfect maze (a spanning tree). Then every interior wall cell is
opened independently with a per-maze probability drawn from
U(0, max_decimation), so a dataset mixes narrow mazes and open rooms. The
border stays wall. One goal per maze, uniform over the free cells.

The search runs for all mazes of a batch in lock step: at each step every maze
either moves from the top of its stack to a random unvisited neighbour or
pops, so the step count is below ``2 m^2`` whatever the batch size.
"""

from __future__ import annotations

import numpy as np

from data_gen.grid import uniform_cells
from implicit_planning.ops.actions import ACTION_DELTAS

MIN_SIZE = 5
_DFS_CHUNK = 1024  # mazes searched together: keeps the per-maze state in cache


def _pick_table() -> np.ndarray:
  """``[16, 12]`` uniform choice of an open action: entry ``[mask, u]`` is the
  ``(u mod k)``-th set bit of the 4-bit ``mask`` with ``k`` bits set (12 is a
  multiple of 1, 2, 3 and 4, so u ~ U{0..11} picks each open action equally)."""
  table = np.zeros((16, 12), np.int8)
  for mask in range(1, 16):
    bits = [a for a in range(4) if mask >> a & 1]
    table[mask] = [bits[u % len(bits)] for u in range(12)]
  return table


_PICK = _pick_table()


def check_size(size: int) -> None:
  """Raise ValueError unless ``size`` is an odd maze side of at least 5."""
  if size < MIN_SIZE or size % 2 == 0:
    raise ValueError(f"maze2d: size must be odd and >= {MIN_SIZE}, got {size}")


def check_max_decimation(max_decimation: float) -> None:
  """Raise ValueError unless the wall-opening probability bound is in [0, 1]."""
  if not 0.0 <= max_decimation <= 1.0:
    raise ValueError(f"maze2d: max_decimation must be in [0, 1], got {max_decimation}")


def _lattice_neighbours(m: int) -> np.ndarray:
  """``[m * m, 4]`` lattice neighbour of each cell per action, ``m * m`` if off the lattice."""
  r, c = np.divmod(np.arange(m * m), m)
  rr = r[:, None] + ACTION_DELTAS[:, 0]
  cc = c[:, None] + ACTION_DELTAS[:, 1]
  inside = (rr >= 0) & (rr < m) & (cc >= 0) & (cc < m)
  return np.where(inside, rr * m + cc, m * m)


def dfs_mazes(rng: np.random.Generator, num: int, size: int) -> np.ndarray:
  """Perfect mazes by randomized depth-first search.

  Args:
      rng: random generator.
      num: number of mazes.
      size: odd map side.

  Returns:
      uint8 ``[num, size, size]``, 1 = free.
  """
  check_size(size)
  parts = [_dfs_batch(rng, min(_DFS_CHUNK, num - s), size) for s in range(0, num, _DFS_CHUNK)]
  return np.concatenate(parts) if parts else np.zeros((0, size, size), np.uint8)


def _dfs_batch(rng: np.random.Generator, num: int, size: int) -> np.ndarray:
  """Randomized depth-first search for a batch of mazes in lock step.

  Each maze keeps, per lattice cell, the action by which the search entered
  it (-1 = not yet visited) and its own stack. Column ``m * m`` is a sentinel
  that counts as visited: off-lattice neighbours point to it and mazes that
  do not move write there, so a step needs no boolean compaction. The walls
  are carved at the end from the entering actions.
  """
  m = (size - 1) // 2
  cells = m * m
  neighbours = _lattice_neighbours(m).T.copy()  # [4, cells]: per-action rows
  row_start = np.arange(num, dtype=np.int64) * (cells + 1)
  entered = np.full((num, cells + 1), -1, np.int8)
  entered[:, cells] = len(ACTION_DELTAS)
  stack = np.zeros((num, cells + 1), np.int32)
  start = rng.integers(cells, size=num)
  stack[:, 0] = start
  entered[np.arange(num), start] = len(ACTION_DELTAS)
  entered_flat, stack_flat = entered.reshape(-1), stack.reshape(-1)
  depth = np.ones(num, np.int64)
  lanes = np.arange(num)
  moves_left = num * (cells - 1)
  while moves_left:
    current = stack_flat[row_start + np.maximum(depth - 1, 0)]
    candidates = neighbours[:, current]  # [4, num]
    open_ = np.packbits(entered_flat[row_start + candidates] < 0, axis=0, bitorder="little")[0]
    action = _PICK[open_, rng.integers(_PICK.shape[1], size=num)]
    moving = open_ > 0
    target = np.where(moving, candidates.reshape(-1)[action * np.int64(num) + lanes], cells)
    entered_flat[row_start + target] = action
    stack_flat[row_start + np.where(moving, depth, cells)] = target
    depth += np.where(moving, 1, -1)
    moves_left -= int(np.count_nonzero(moving))
  maps = np.zeros((num, size, size), np.uint8)
  maps[:, 1::2, 1::2] = 1
  maze, cell = np.nonzero((entered[:, :cells] >= 0) & (entered[:, :cells] < len(ACTION_DELTAS)))
  delta = ACTION_DELTAS[entered[maze, cell]]
  row, col = np.divmod(cell, m)
  maps[maze, 2 * row + 1 - delta[:, 0], 2 * col + 1 - delta[:, 1]] = 1
  return maps


def decimate(rng: np.random.Generator, maps: np.ndarray, max_decimation: float) -> np.ndarray:
  """Open each interior wall cell with a per-map probability ~ U(0, max_decimation)."""
  check_max_decimation(max_decimation)
  num, size, _ = maps.shape
  prob = rng.uniform(0.0, max_decimation, size=num)
  opened = rng.random((num, size, size), dtype=np.float32) < prob[:, None, None]
  opened[:, [0, -1], :] = False
  opened[:, :, [0, -1]] = False
  return maps | opened.astype(np.uint8)


def generate(
  rng: np.random.Generator, num: int, size: int, max_decimation: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
  """Maze problems: maps and goals.

  Args:
      rng: random generator (the only source of randomness).
      num: number of problems.
      size: odd map side (>= 5).
      max_decimation: upper bound of the per-maze wall-opening probability.

  Returns:
      ``(maps, goals)``: uint8 ``[num, size, size]`` (1 = free) and int32
      ``[num, 2]`` goal (row, col) on a free cell.
  """
  maps = decimate(rng, dfs_mazes(rng, num, size), max_decimation)
  return maps, uniform_cells(rng, maps.astype(bool))
