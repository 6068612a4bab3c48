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
pops, so the step count is at most ``2 m^2`` whatever the batch size.
"""

from __future__ import annotations

import numpy as np

from data_gen.grid import ACTION_DELTAS, uniform_cells

MIN_SIZE = 5


def check_size(size: int) -> None:
    """Raise ValueError unless ``size`` is an odd maze side of at least 5."""
    if size < MIN_SIZE or size % 2 == 0:
        raise ValueError(f"maze2d: size must be odd and >= {MIN_SIZE}, got {size}")


def check_max_decimation(max_decimation: float) -> None:
    """Raise ValueError unless the wall-opening probability bound is in [0, 1]."""
    if not 0.0 <= max_decimation <= 1.0:
        raise ValueError(f"maze2d: max_decimation must be in [0, 1], got {max_decimation}")


def _lattice_neighbours(m: int) -> np.ndarray:
    """``[m * m, 4]`` index of each lattice cell's neighbour per action, -1 off the lattice."""
    r, c = np.divmod(np.arange(m * m), m)
    rr = r[:, None] + ACTION_DELTAS[:, 0]
    cc = c[:, None] + ACTION_DELTAS[:, 1]
    inside = (rr >= 0) & (rr < m) & (cc >= 0) & (cc < m)
    return np.where(inside, rr * m + cc, -1)


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
    m = (size - 1) // 2
    cells = m * m
    neighbours = _lattice_neighbours(m)
    maps = np.zeros((num, size, size), np.uint8)
    maps[:, 1::2, 1::2] = 1
    batch = np.arange(num)
    visited = np.zeros((num, cells), bool)
    stack = np.zeros((num, cells), np.int32)
    depth = np.ones(num, np.int64)
    stack[:, 0] = rng.integers(cells, size=num)
    visited[batch, stack[:, 0]] = True
    carved = np.zeros(num, np.int64)
    while carved.min(initial=cells - 1) < cells - 1:
        current = stack[batch, np.maximum(depth - 1, 0)]
        candidates = neighbours[current]
        open_ = (candidates >= 0) & ~visited[batch[:, None], candidates]
        count = open_.sum(axis=1)
        pick = (rng.random(num) * count).astype(np.int64)
        direction = (np.cumsum(open_, axis=1) > pick[:, None]).argmax(axis=1)
        moving = count > 0
        depth[~moving] -= 1
        b, d, cur = batch[moving], direction[moving], current[moving]
        nxt = candidates[b, d]
        visited[b, nxt] = True
        stack[b, depth[moving]] = nxt
        depth[moving] += 1
        carved[moving] += 1
        row, col = divmod(cur, m)
        maps[b, 2 * row + 1 + ACTION_DELTAS[d, 0], 2 * col + 1 + ACTION_DELTAS[d, 1]] = 1
    return maps


def decimate(
    rng: np.random.Generator, maps: np.ndarray, max_decimation: float
) -> np.ndarray:
    """Open each interior wall cell with a per-map probability ~ U(0, max_decimation)."""
    check_max_decimation(max_decimation)
    num, size, _ = maps.shape
    prob = rng.uniform(0.0, max_decimation, size=num)
    opened = rng.random((num, size, size)) < prob[:, None, None]
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
