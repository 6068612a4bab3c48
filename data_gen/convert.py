r"""Convert a GPPN / DiffPlan dataset (``.npz``) into ours, relabelled by our BFS.

Usage:

    python -m data_gen.convert --src=m15_4abs-cc_10k.npz --out=data/maze2d_15_diffplan.npz \
        --mechanism=4abs-cc [--task=maze2d]

Their layout (GPPN's ``generate_dataset.py``, kept by DiffPlan): unnamed arrays ``arr_0`` to
``arr_8``, three per split in the order train, valid, test: ``mazes [N, m, m]`` (1 = free),
``goal_maps [N, 1, m, m]`` (one-hot), ``opt_policies [N, A, 1, m, m]`` (one-hot, or every optimal
action with ``--label=full``), actions in the mechanism's order: ``4abs-cc`` is north, west,
south, east (ours), ``news`` is north, east, west, south; a ``-wrap`` suffix means a torus.
``arr_9`` to ``arr_11`` (workspace images ``[N, 1, S, S]`` of the workspace task) become
``workspace``; panoramas are not imported.

Distances and optimal-action sets are recomputed by `grid.shortest_paths`. The file's own policy
is checked against them: at every reachable free non-goal cell its chosen actions must be optimal
for our labels, which catches a wrong ``--mechanism`` (action order or wrap). The output has the
minimal ``meta`` of `dataset.META_FIELDS` plus ``source`` (file, mechanism, checked cells).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import app, flags

from data_gen.dataset import ACTIONS, SPLITS, TASK_WRAP, WORKSPACE_TASKS, DatasetError, Split, save_dataset
from data_gen.grid import shortest_paths

# Their action order, as indices into ours (north, west, south, east): theirs[k] is ours[ORDER[k]].
MECHANISMS: dict[str, tuple[tuple[int, ...], bool]] = {
  "4abs-cc": ((0, 1, 2, 3), False),
  "4abs-cc-wrap": ((0, 1, 2, 3), True),
  "news": ((0, 3, 1, 2), False),
  "news-wrap": ((0, 3, 1, 2), True),
}
"""Mechanism → (their action k is our action ``order[k]``, torus)."""

ARRAYS_PER_SPLIT = 3


def _fail(src: str, key: str, problem: str) -> DatasetError:
  return DatasetError(f"{src}: {key}: {problem}")


def read_split(archive: Any, src: str, index: int, order: tuple[int, ...], wrap: bool) -> tuple[Split, dict[str, int]]:
  """Split ``index`` (0 train, 1 val, 2 test) of their archive, relabelled; and check counts.

  Raises:
    DatasetError: a missing or malformed array, a goal that is not one free cell, or a policy
      that chooses non-optimal actions (wrong mechanism).
  """
  keys = [f"arr_{ARRAYS_PER_SPLIT * index + k}" for k in range(ARRAYS_PER_SPLIT)]
  for key in keys:
    if key not in archive.files:
      raise _fail(src, key, f"missing (expected arr_0 .. arr_8, got {sorted(archive.files)})")
  mazes, goal_maps, policies = (archive[key] for key in keys)
  if mazes.ndim != 3 or mazes.shape[1] != mazes.shape[2]:
    raise _fail(src, keys[0], f"mazes must be [N, m, m], got shape {mazes.shape}")
  count, size = mazes.shape[:2]
  if goal_maps.shape != (count, 1, size, size):
    raise _fail(src, keys[1], f"goal maps must be [N, 1, m, m] = {(count, 1, size, size)}, got {goal_maps.shape}")
  if policies.shape != (count, len(order), 1, size, size):
    raise _fail(src, keys[2], f"policies must be [N, 4, 1, m, m] = {(count, 4, 1, size, size)}, got {policies.shape}")
  if not np.isin(mazes, (0, 1)).all():
    raise _fail(src, keys[0], "maze cells must be 0 (wall) or 1 (free)")
  goal_flat = goal_maps.reshape(count, -1)
  if not np.all((goal_flat == 1).sum(axis=1) == 1) or not np.isin(goal_flat, (0, 1)).all():
    raise _fail(src, keys[1], "every goal map must be one-hot")
  goals = np.stack(np.divmod(goal_flat.argmax(axis=1), size), axis=1).astype(np.int32)
  maps = mazes.astype(np.uint8)
  if not np.all(maps[np.arange(count), goals[:, 0], goals[:, 1]] == 1):
    raise _fail(src, keys[1], "a goal lies on a wall")
  dist, opt_actions = shortest_paths(maps, goals, wrap)
  theirs = np.zeros_like(opt_actions)
  theirs[:, list(order)] = policies[:, :, 0] > 0
  labelled = opt_actions.any(axis=1)
  chose = theirs.any(axis=1) & labelled
  wrong = chose & ~(theirs & opt_actions).any(axis=1)
  if wrong.any():
    problem, row, col = np.argwhere(wrong)[0]
    raise _fail(
      src,
      keys[2],
      f"{int(wrong.sum())} cells choose an action that is not optimal for our shortest paths (first: problem "
      f"{problem}, cell {(int(row), int(col))}); wrong --mechanism (action order or wrap)?",
    )
  workspace_key = f"arr_{ARRAYS_PER_SPLIT * len(SPLITS) + index}"
  workspace = None
  if workspace_key in archive.files:
    images = archive[workspace_key]
    if images.ndim != 4 or images.shape[:2] != (count, 1) or images.shape[2] != images.shape[3]:
      raise _fail(src, workspace_key, f"workspace images must be [N, 1, S, S], got {images.shape}")
    workspace = (images[:, 0] > 0.5).astype(np.uint8)
  return Split(maps, goals, dist, opt_actions, workspace), {"cells": int(labelled.sum()), "checked": int(chose.sum())}


def convert(src: str, out: str, mechanism: str, task: str = "maze2d") -> dict[str, Any]:
  """Reads ``src`` (their layout), relabels, checks and writes ``out`` (ours). Returns the meta.

  Raises:
    ValueError: unknown mechanism or task, or a mechanism whose wrap contradicts the task.
    DatasetError: ``src`` is unreadable or malformed, or its policy contradicts our labels.
  """
  if mechanism not in MECHANISMS:
    raise ValueError(f"unknown mechanism {mechanism!r}; expected one of {sorted(MECHANISMS)}")
  if task not in TASK_WRAP:
    raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASK_WRAP)}")
  order, wrap = MECHANISMS[mechanism]
  if wrap != TASK_WRAP[task]:
    raise ValueError(f"mechanism {mechanism!r} has wrap={wrap}, task {task!r} needs wrap={TASK_WRAP[task]}")
  try:
    archive = np.load(src, allow_pickle=False)
  except (OSError, ValueError) as error:
    raise DatasetError(f"{src}: cannot open as .npz: {error}") from error
  with archive:
    parts = [read_split(archive, src, index, order, wrap) for index in range(len(SPLITS))]
  splits = {name: split for name, (split, _) in zip(SPLITS, parts)}
  sizes = {split.maps.shape[1] for split in splits.values()}
  if len(sizes) != 1:
    raise _fail(src, "mazes", f"splits have different map sizes {sorted(sizes)}")
  has_workspace = [split.workspace is not None for split in splits.values()]
  if task in WORKSPACE_TASKS and not all(has_workspace):
    raise _fail(src, "arr_9", f"task {task!r} needs workspace images (arr_9 .. arr_11)")
  if task not in WORKSPACE_TASKS:
    splits = {name: split._replace(workspace=None) for name, split in splits.items()}
  meta = {
    "task": task,
    "size": sizes.pop(),
    "actions": list(ACTIONS),
    "wrap": wrap,
    "counts": {name: int(split.maps.shape[0]) for name, split in splits.items()},
    "source": {
      "file": os.path.basename(src),
      "layout": "GPPN/DiffPlan arr_0..arr_8",
      "mechanism": mechanism,
      "relabelled": "data_gen.grid.shortest_paths",
      "policy_cells_checked": {name: stats for name, (_, stats) in zip(SPLITS, parts)},
    },
  }
  if task in WORKSPACE_TASKS:
    meta["workspace_size"] = int(splits["train"].workspace.shape[-1])
  save_dataset(out, meta, splits)
  return meta


def define_flags() -> None:
  """Command-line flags, defined only when run as a program."""
  flags.DEFINE_string("src", None, "Their .npz (GPPN / DiffPlan layout).")
  flags.DEFINE_string("out", None, "Our .npz to write.")
  flags.DEFINE_enum("mechanism", "4abs-cc", sorted(MECHANISMS), "Their action order and wrap.")
  flags.DEFINE_enum("task", "maze2d", sorted(TASK_WRAP), "What the maps are.")
  flags.mark_flags_as_required(["src", "out"])


def main(argv: Sequence[str]) -> None:
  """Entry point of ``python -m data_gen.convert``."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli = flags.FLAGS
  try:
    meta = convert(cli.src, cli.out, cli.mechanism, cli.task)
  except (ValueError, DatasetError) as error:
    raise SystemExit(f"{type(error).__name__}: {error}") from error
  print(f"wrote {cli.out}: {meta['task']} {meta['size']}x{meta['size']}, counts {meta['counts']}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
