r"""Generate a dataset file: random problems, exact labels, train/val/test splits.

Usage:

    python -m data_gen.make --task=maze2d --size=15 --num_train=10000 \
        --num_val=2000 --num_test=2000 --seed=0 --out=data/maze2d_15.npz

``--task`` is ``maze2d`` (odd ``--size`` >= 5), ``manip_cspace`` or
``manip_workspace`` (``--size`` = bins per joint, 18 or 36), or ``visual_nav``
(``maze2d`` mazes plus a per-maze appearance seed from which the egocentric
views are rendered on the fly, ``data_gen.panorama``). Without ``--out``
the file goes to ``--data_dir`` under :func:`default_dataset_path`.

All randomness comes from ``np.random.default_rng(seed)``: the same arguments
give a byte-identical file. Splits are drawn in the order train, val, test;
a drawn problem whose (map, goal) pair already occurs in an earlier split is
discarded and drawn again, so no test (or validation) problem is a training
problem. Duplicates inside one split are kept (they follow the task's
distribution). With few distinct problems (e.g. the 18 x 18 obstacle-free
configuration space has only 324 goals) this makes val/test slightly poorer
in such problems than train.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tqdm
from absl import app, flags

from data_gen import manipulation, maze2d
from data_gen.dataset import ACTIONS, SPLITS, TASK_WRAP, VISUAL_TASKS, WORKSPACE_TASKS, Split, save_dataset
from data_gen.grid import shortest_paths

GENERATOR_VERSION = "data_gen-2"
"""2: workspace files hold the obstacles' polygons (1 had only their image)."""
TASKS = tuple(TASK_WRAP)
_CHUNK = 1000  # problems generated (and labelled) per step of the progress bar
_MAX_DRAWS_PER_PROBLEM = 50  # give up if the task cannot supply enough unseen problems

_LAYOUT = {
  "maze2d": "maps[n, row, col], 1 = free, border is wall; goal uniform over free cells",
  "manip_cspace": (
    "maps[n, i, j], 1 = free: theta1 = 2 pi i / size, theta2 = 2 pi j / size (relative to "
    "link 1), torus; goal uniform over the largest free region"
  ),
  "manip_workspace": (
    "as manip_cspace; workspace[n, r, c], 1 = obstacle, pixel centre "
    "x = -E + (c + 0.5) 2E / S, y = E - (r + 0.5) 2E / S with E = extent, "
    "S = workspace_size (row 0 on top); polygons[n, o, v] (x, y) vertex v of obstacle o, "
    "counter-clockwise, the last repeated to pad; polygon_present[n, o]"
  ),
  "visual_nav": "as maze2d; style[n]: uint32 seed of the maze's appearance (data_gen.panorama.draw_style)",
}
_MAZE_TASKS = ("maze2d", *VISUAL_TASKS)


def check_task(task: str, size: int) -> None:
  """Raise ValueError for an unknown task or a size the task does not support."""
  if task not in TASKS:
    raise ValueError(f"unknown task {task!r}, expected one of {TASKS}")
  if task in _MAZE_TASKS:
    maze2d.check_size(size)
  else:
    manipulation.check_bins(size)


def generator_options(task: str, **options: Any) -> dict[str, Any]:
  """All generator options of ``task`` with defaults filled in (stored in ``meta``).

  Raises:
      ValueError: for an option the task does not have or an invalid value.
  """
  if task in _MAZE_TASKS:
    unknown = sorted(set(options) - {"max_decimation"})
    if unknown:
      raise ValueError(f"{task}: unknown generator options {unknown}, expected ['max_decimation']")
    max_decimation = float(options.get("max_decimation", 1.0))
    maze2d.check_max_decimation(max_decimation)
    return {"max_decimation": max_decimation}
  fields = {f.name for f in dataclasses.fields(manipulation.ArmParams)}
  unknown = sorted(set(options) - fields)
  if unknown:
    raise ValueError(f"{task}: unknown generator options {unknown}, expected some of {sorted(fields)}")
  return dataclasses.asdict(manipulation.ArmParams(**options))


def generate_problems(
  rng: np.random.Generator, task: str, size: int, num: int, options: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
  """Draw ``num`` unlabelled problems: ``(maps, goals, extras)``, the task's extra `Split` fields by name."""
  if task in _MAZE_TASKS:
    maps, goals = maze2d.generate(rng, num, size, **options)
    extras = {"style": rng.integers(0, 2**32, num, dtype=np.uint32)} if task in VISUAL_TASKS else {}
    return maps, goals, extras
  maps, goals, obstacles = manipulation.generate(rng, num, size, **options)
  if task not in WORKSPACE_TASKS:
    return maps, goals, {}
  workspace = manipulation.rasterize(obstacles, manipulation.ArmParams(**options))
  return maps, goals, {"workspace": workspace, "polygons": obstacles.vertices, "polygon_present": obstacles.present}


def problem_key(grid: np.ndarray, goal: np.ndarray) -> bytes:
  """Digest identifying a (map, goal) pair."""
  data = grid.tobytes() + goal.astype(np.int32).tobytes()
  return hashlib.blake2b(data, digest_size=16).digest()


def default_dataset_path(
  data_dir: str, task: str, size: int, num_train: int, num_val: int, num_test: int, seed: int
) -> str:
  """Descriptive file name, e.g. ``<data_dir>/maze2d_15x15_n1000-200-200_seed0.npz``."""
  name = f"{task}_{size}x{size}_n{num_train}-{num_val}-{num_test}_seed{seed}.npz"
  return os.path.join(data_dir, name)


def make_split(
  rng: np.random.Generator,
  task: str,
  size: int,
  num: int,
  options: dict[str, Any],
  seen: set[bytes],
  progress: tqdm.tqdm | None = None,
) -> Split:
  """Draw and label one split.

  Args:
      rng: random generator.
      task, size: as :func:`make_dataset`.
      num: problems in the split.
      options: complete generator options (:func:`generator_options`).
      seen: keys (:func:`problem_key`) of earlier splits; problems with these
          keys are drawn again. The split's keys are added.
      progress: optional bar, advanced by the problems kept.

  Returns:
      The labelled split.
  """
  parts: list[dict[str, np.ndarray]] = []
  keys: list[bytes] = []
  drawn = 0
  while len(keys) < num:
    if drawn > _MAX_DRAWS_PER_PROBLEM * num:
      raise RuntimeError(
        f"{task} {size}x{size}: drew {drawn} problems but found only {len(keys)} of "
        f"{num} not already in an earlier split; too few distinct problems"
      )
    want = min(_CHUNK, num - len(keys))
    maps, goals, extras = generate_problems(rng, task, size, want, options)
    drawn += want
    chunk_keys = [problem_key(m, g) for m, g in zip(maps, goals)]
    fresh = np.array([k not in seen for k in chunk_keys], bool)
    maps, goals = maps[fresh], goals[fresh]
    dist, opt_actions = shortest_paths(maps, goals, TASK_WRAP[task])
    parts.append(
      dict(maps=maps, goals=goals, dist=dist, opt_actions=opt_actions, **{k: v[fresh] for k, v in extras.items()})
    )
    keys.extend(k for k, f in zip(chunk_keys, fresh) if f)
    if progress is not None:
      progress.update(len(maps))
  seen.update(keys)
  if not parts:
    return _empty_split(task, size, options)
  return Split(**{field: np.concatenate([part[field] for part in parts]) for field in parts[0]})


def _empty_split(task: str, size: int, options: dict[str, Any]) -> Split:
  workspace = task in WORKSPACE_TASKS
  arm = manipulation.ArmParams(**options) if workspace else None
  return Split(
    maps=np.zeros((0, size, size), np.uint8),
    goals=np.zeros((0, 2), np.int32),
    dist=np.zeros((0, size, size), np.float32),
    opt_actions=np.zeros((0, len(ACTIONS), size, size), bool),
    workspace=np.zeros((0, arm.image_size, arm.image_size), np.uint8) if workspace else None,
    polygons=np.zeros((0, *arm.polygon_shape), np.float64) if workspace else None,
    polygon_present=np.zeros((0, arm.polygon_shape[0]), bool) if workspace else None,
    style=np.zeros((0,), np.uint32) if task in VISUAL_TASKS else None,
  )


def make_dataset(
  task: str,
  size: int,
  num_train: int,
  num_val: int,
  num_test: int,
  seed: int,
  out: str,
  *,
  progress: bool = False,
  **options: Any,
) -> str:
  """Generate, label, validate and save a dataset.

  Args:
      task: ``maze2d``, ``manip_cspace``, ``manip_workspace`` or ``visual_nav``.
      size: map side (odd >= 5 for mazes; 18 or 36 bins for manipulation).
      num_train, num_val, num_test: problems per split (0 allowed).
      seed: seed of the only random generator used.
      out: destination ``.npz`` path.
      progress: show a tqdm progress bar (rate and ETA).
      **options: generator options (``max_decimation`` for mazes and
          ``visual_nav``; the
          ``manipulation.ArmParams`` fields for manipulation).

  Returns:
      ``out``.
  """
  size, seed = operator.index(size), operator.index(seed)
  check_task(task, size)
  counts = {"train": num_train, "val": num_val, "test": num_test}
  counts = {split: operator.index(count) for split, count in counts.items()}
  if any(c < 0 for c in counts.values()):
    raise ValueError(f"split sizes must be >= 0, got {counts}")
  resolved = generator_options(task, **options)
  rng = np.random.default_rng(seed)
  seen: set[bytes] = set()
  description = f"{task} {size}x{size}"
  total = sum(counts.values())
  bar = tqdm.tqdm(total=total, unit="problem", desc=description, disable=not progress)
  with bar:
    splits = {s: make_split(rng, task, size, counts[s], resolved, seen, bar) for s in SPLITS}
  meta = {
    "task": task,
    "size": size,
    "seed": seed,
    "generator_version": GENERATOR_VERSION,
    "actions": list(ACTIONS),
    "wrap": TASK_WRAP[task],
    "counts": counts,
    "generator_options": resolved,
    "layout": _LAYOUT[task],
    "unique_across_splits": True,
  }
  if task in WORKSPACE_TASKS:
    meta["workspace_size"] = resolved["image_size"]
  save_dataset(out, meta, splits)
  return out


def define_flags() -> None:
  """Define the command-line flags; only done when run as a program, so that
  importing this module as a library adds no global absl flags."""
  flags.DEFINE_enum("task", None, list(TASKS), "Which dataset to generate.")
  flags.DEFINE_integer("size", None, "Maze side (odd) or bins per joint (18 or 36).")
  flags.DEFINE_integer("num_train", 10000, "Training problems.")
  flags.DEFINE_integer("num_val", 2000, "Validation problems.")
  flags.DEFINE_integer("num_test", 2000, "Test problems.")
  flags.DEFINE_integer("seed", 0, "Random seed.")
  flags.DEFINE_string("out", None, "Output .npz (default: --data_dir/<descriptive name>).")
  flags.DEFINE_string("data_dir", "data", "Folder for the default output path.")
  flags.DEFINE_float("max_decimation", None, "maze2d, visual_nav: max per-maze wall-opening probability (default 1).")
  flags.DEFINE_integer("max_obstacles", None, "manip_*: max obstacles per problem (default 5).")
  flags.mark_flags_as_required(["task", "size"])


def main(argv: Sequence[str]) -> None:
  """Entry point of ``python -m data_gen.make``."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli = flags.FLAGS
  given = {"max_decimation": cli.max_decimation, "max_obstacles": cli.max_obstacles}
  options = {name: value for name, value in given.items() if value is not None}
  try:
    check_task(cli.task, cli.size)
    generator_options(cli.task, **options)
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  counts = (cli.num_train, cli.num_val, cli.num_test)
  out = cli.out or default_dataset_path(cli.data_dir, cli.task, cli.size, *counts, cli.seed)
  path = make_dataset(cli.task, cli.size, *counts, cli.seed, out, progress=True, **options)
  print(f"wrote {path}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
