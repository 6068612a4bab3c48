"""Dataset files: one ``.npz`` per dataset, validated on save and on load.

Keys (``<split>`` is ``train``, ``val`` or ``test``):

* ``<split>/maps``: uint8 ``[N, H, W]``, 1 = free, 0 = obstacle.
* ``<split>/goals``: int32 ``[N, 2]`` (row, col) of the goal, a free cell.
* ``<split>/dist``: float32 ``[N, H, W]`` moves to the goal along a shortest
  path, ``inf`` where the goal cannot be reached (obstacles included).
* ``<split>/opt_actions``: bool ``[N, 4, H, W]`` the set of optimal actions
  (order of ``ACTIONS``) at each reachable non-goal free cell, False elsewhere.
* ``<split>/workspace`` (``manip_workspace`` only): uint8 ``[N, S, S]``
  workspace image, 1 = obstacle pixel.
* ``<split>/polygons`` and ``<split>/polygon_present`` (``manip_workspace``, files
  of ``data_gen`` version 2 on; optional): float64 ``[N, O, V, 2]`` the (x, y)
  vertices of each problem's convex obstacles, counter-clockwise, a polygon
  with fewer than V vertices repeating its last; bool ``[N, O]``, False for
  padding. What the image and the configuration space are drawn from: a
  mapper can be taught where the edges run between pixel centres.
* ``<split>/style`` (``visual_nav`` only): uint32 ``[N]`` per-maze appearance
  seeds; the egocentric views are rendered from ``maps`` and these on the
  device (``data_gen.panorama``), never stored.
* ``meta``: JSON string. Required (`META_FIELDS`): ``task``, ``size``,
  ``actions`` (the list ``["north", "west", "south", "east"]``), ``wrap`` (the
  task's torus flag), ``counts`` (maps per split), and ``workspace_size`` for
  ``manip_workspace``. Files made by ``data_gen.make`` also record ``seed``,
  ``generator_version`` and ``generator_options`` (`GENERATED_FIELDS`, optional
  for imported data); ``data_gen.convert`` records ``source`` instead.

Validation checks every key, dtype, shape and value range, and checks the
labels exactly without a search (and polygons, where a file has them, against
the image and the configuration space they must give exactly): ``dist`` is the shortest-path distance iff it
is 0 at the goal, ``inf`` on obstacles and ``1 + min(neighbour dist)`` on every
other free cell (the Bellman equation of the unit-cost shortest path has no
other solution), and ``opt_actions`` must equal the set derived from ``dist``.
Any problem raises :class:`DatasetError` naming the file, the key and the
problem; nothing is returned half-loaded. Files are written atomically and
byte-reproducibly (fixed zip timestamps, sorted JSON).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
import zlib
from typing import Any, NamedTuple

import numpy as np

from data_gen import manipulation
from data_gen.grid import neighbour_values, optimal_actions, shortest_paths
from implicit_planning.ops.actions import ACTION_DELTAS, ACTIONS

__all__ = [
  "ACTIONS",
  "ACTION_DELTAS",
  "SPLITS",
  "TASK_WRAP",
  "Dataset",
  "DatasetError",
  "Split",
  "load_dataset",
  "save_dataset",
  "shortest_paths",
  "validate",
]

SPLITS = ("train", "val", "test")
TASK_WRAP = {"maze2d": False, "manip_cspace": True, "manip_workspace": True, "visual_nav": False}
WORKSPACE_TASKS = ("manip_workspace",)
VISUAL_TASKS = ("visual_nav",)
"""Tasks whose problems carry appearance seeds (``style``): mazes seen through rendered views."""
TASK_OBSERVATION = {**{task: "workspace" for task in WORKSPACE_TASKS}, **{task: "panoramas" for task in VISUAL_TASKS}}
"""The observation a task's maps are made from when the planner is not given them (a mapper's input)."""
POLYGON_FIELDS = ("polygons", "polygon_present")
"""The `Split` fields a workspace file may hold (those made before ``data_gen-2`` do not)."""
META_FIELDS = ("task", "size", "actions", "wrap", "counts")
"""The minimal ``meta`` of any dataset file (imported ones included)."""
GENERATED_FIELDS = ("seed", "generator_version", "generator_options")
"""What ``data_gen.make`` records besides: how to make the same file again."""
_CHECK_CHUNK = 1024  # problems per label check: bounds temporary memory
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member timestamp: same data -> same bytes
_COMPRESS_LEVEL = 1  # deflate level: 4x faster than the default 6, files ~1.6x larger


class DatasetError(ValueError):
  """A dataset file (or data about to be saved) is missing, corrupt or mismatched."""


class Split(NamedTuple):
  """One split of a dataset (see the module docstring for layouts)."""

  maps: np.ndarray
  goals: np.ndarray
  dist: np.ndarray
  opt_actions: np.ndarray
  workspace: np.ndarray | None = None
  style: np.ndarray | None = None
  polygons: np.ndarray | None = None
  polygon_present: np.ndarray | None = None


class Dataset(NamedTuple):
  """A loaded, validated dataset."""

  meta: dict
  train: Split
  val: Split
  test: Split
  path: str


def _fail(source: str, key: str, problem: str) -> DatasetError:
  return DatasetError(f"{source}: key '{key}': {problem}")


def _check_meta(source: str, meta: Any) -> None:
  if not isinstance(meta, dict):
    raise _fail(source, "meta", f"expected a JSON object, got {type(meta).__name__}")
  missing = [f for f in META_FIELDS if f not in meta]
  if missing:
    raise _fail(source, "meta", f"missing fields {missing}")
  task = meta["task"]
  if task not in TASK_WRAP:
    raise _fail(source, "meta", f"unknown task {task!r}, expected one of {list(TASK_WRAP)}")
  size = meta["size"]
  if not isinstance(size, int) or isinstance(size, bool) or size < 1:
    raise _fail(source, "meta", f"size must be a positive integer, got {size!r}")
  if meta["wrap"] is not TASK_WRAP[task]:
    raise _fail(source, "meta", f"wrap={meta['wrap']!r} is wrong for task {task!r}")
  if meta["actions"] != list(ACTIONS):
    raise _fail(source, "meta", f"actions {meta['actions']!r} != {list(ACTIONS)}")
  counts = meta["counts"]
  if (
    not isinstance(counts, dict)
    or sorted(counts) != sorted(SPLITS)
    or not all(type(c) is int and c >= 0 for c in counts.values())
  ):
    raise _fail(source, "meta", f"counts must map {list(SPLITS)} to sizes >= 0, got {counts!r}")
  if task in WORKSPACE_TASKS:
    workspace_size = meta.get("workspace_size")
    if not isinstance(workspace_size, int) or workspace_size < 1:
      raise _fail(source, "meta", f"workspace_size must be a positive integer, got {workspace_size!r}")


def _check_request(source: str, meta: dict, task: str | None, size: int | None, wrap: bool | None) -> None:
  for name, wanted in (("task", task), ("size", size), ("wrap", wrap)):
    if wanted is not None and meta[name] != wanted:
      raise _fail(source, "meta", f"{name} is {meta[name]!r}, but {wanted!r} was requested")


def _check_array(source: str, key: str, array: Any, dtype: np.dtype, shape: tuple) -> None:
  if not isinstance(array, np.ndarray):
    raise _fail(source, key, f"expected an array, got {type(array).__name__}")
  if array.dtype != dtype:
    raise _fail(source, key, f"expected {np.dtype(dtype)}, got {array.dtype}")
  if array.shape != shape:
    raise _fail(source, key, f"expected shape {shape}, got {array.shape}")


def _check_labels(source: str, split: str, data: Split, wrap: bool) -> None:
  """Value ranges, goals on free cells, exact distances and action sets."""
  if data.maps.size and data.maps.max() > 1:
    raise _fail(source, f"{split}/maps", "values must be 0 (obstacle) or 1 (free)")
  if data.workspace is not None and data.workspace.size and data.workspace.max() > 1:
    raise _fail(source, f"{split}/workspace", "values must be 0 (free) or 1 (obstacle)")
  n, h, w = data.maps.shape
  rows, cols = data.goals[:, 0], data.goals[:, 1]
  if np.any((rows < 0) | (rows >= h) | (cols < 0) | (cols >= w)):
    raise _fail(source, f"{split}/goals", f"a goal lies outside the {h}x{w} grid")
  if not np.all(data.maps[np.arange(n), rows, cols] == 1):
    raise _fail(source, f"{split}/goals", "a goal lies on an obstacle")
  for start in range(0, n, _CHECK_CHUNK):
    part = slice(start, start + _CHECK_CHUNK)
    maps, dist = data.maps[part], data.dist[part]
    if np.isnan(dist).any() or (dist < 0).any():
      raise _fail(source, f"{split}/dist", "values must be >= 0 or inf (found NaN or < 0)")
    nearest = neighbour_values(dist, wrap, np.inf).min(axis=1)
    expected = np.where(maps == 1, nearest + 1, np.inf).astype(np.float32)
    expected[np.arange(len(maps)), rows[part], cols[part]] = 0
    bad = np.flatnonzero((expected != dist).reshape(len(maps), -1).any(axis=1))
    if bad.size:
      problem = f"problem {start + bad[0]}: not the exact shortest-path distance to the goal"
      raise _fail(source, f"{split}/dist", problem)
    wrong = optimal_actions(dist, wrap) != data.opt_actions[part]
    bad = np.flatnonzero(wrong.reshape(len(maps), -1).any(axis=1))
    if bad.size:
      problem = f"problem {start + bad[0]} disagrees with the optimal actions implied by dist"
      raise _fail(source, f"{split}/opt_actions", problem)


def _arm(source: str, meta: dict) -> manipulation.ArmParams:
  """The arm and obstacle parameters a workspace file's polygons were drawn with."""
  try:
    return manipulation.ArmParams(**meta["generator_options"])
  except (KeyError, TypeError, ValueError) as error:
    raise _fail(
      source, "meta", f"polygons need the arm's generator_options ({type(error).__name__}: {error})"
    ) from error


def _check_polygons(source: str, split: str, data: Split, meta: dict) -> None:
  """Shapes, convex counter-clockwise polygons, and exactly the split's images and maps drawn from them."""
  arm, n = _arm(source, meta), len(data.maps)
  if arm.image_size != meta["workspace_size"]:
    raise _fail(source, "meta", f"generator_options image_size {arm.image_size} != workspace_size")
  _check_array(source, f"{split}/polygons", data.polygons, np.float64, (n, *arm.polygon_shape))
  _check_array(source, f"{split}/polygon_present", data.polygon_present, bool, (n, arm.polygon_shape[0]))
  if not np.isfinite(data.polygons).all():
    raise _fail(source, f"{split}/polygons", "vertices must be finite")
  edges = np.roll(data.polygons, -1, axis=-2) - data.polygons
  turns = edges[..., 0] * np.roll(edges, -1, axis=-2)[..., 1] - edges[..., 1] * np.roll(edges, -1, axis=-2)[..., 0]
  if np.any((turns < -1e-9) & data.polygon_present[..., None]):
    raise _fail(source, f"{split}/polygons", "a polygon is not convex with its vertices counter-clockwise")
  obstacles = manipulation.Obstacles(data.polygons, data.polygon_present)
  for key, drawn, stored in (
    ("workspace", lambda: manipulation.rasterize(obstacles, arm), data.workspace),
    ("maps", lambda: manipulation.configuration_space(obstacles, meta["size"], arm), data.maps),
  ):
    bad = np.flatnonzero((drawn() != stored).any(axis=(1, 2))) if n else ()
    if len(bad):
      raise _fail(source, f"{split}/polygons", f"problem {bad[0]}: its polygons do not give its {key}")


def validate(source: str, meta: Any, splits: dict[str, Split]) -> None:
  """Check a whole dataset; raise :class:`DatasetError` naming ``source`` and the key."""
  _check_meta(source, meta)
  if sorted(splits) != sorted(SPLITS):
    raise DatasetError(f"{source}: expected splits {list(SPLITS)}, got {sorted(splits)}")
  size, wrap = meta["size"], meta["wrap"]
  has_workspace = meta["task"] in WORKSPACE_TASKS
  for split in SPLITS:
    data = splits[split]
    n = meta["counts"][split]
    _check_array(source, f"{split}/maps", data.maps, np.uint8, (n, size, size))
    _check_array(source, f"{split}/goals", data.goals, np.int32, (n, 2))
    _check_array(source, f"{split}/dist", data.dist, np.float32, (n, size, size))
    actions_shape = (n, len(ACTIONS), size, size)
    _check_array(source, f"{split}/opt_actions", data.opt_actions, bool, actions_shape)
    if has_workspace:
      side = meta["workspace_size"]
      _check_array(source, f"{split}/workspace", data.workspace, np.uint8, (n, side, side))
    elif data.workspace is not None:
      raise _fail(source, f"{split}/workspace", f"unexpected for task {meta['task']!r}")
    if meta["task"] in VISUAL_TASKS:
      _check_array(source, f"{split}/style", data.style, np.uint32, (n,))
    elif data.style is not None:
      raise _fail(source, f"{split}/style", f"unexpected for task {meta['task']!r}")
    _check_labels(source, split, data, wrap)
    if data.polygons is not None or data.polygon_present is not None:
      if not has_workspace:
        raise _fail(source, f"{split}/polygons", f"unexpected for task {meta['task']!r}")
      _check_polygons(source, split, data, meta)


def _fields(task: str) -> list[str]:
  """The `Split` fields a ``task``'s file must hold."""
  extras = {"workspace": task in WORKSPACE_TASKS, "style": task in VISUAL_TASKS, **dict.fromkeys(POLYGON_FIELDS, False)}
  return [field for field in Split._fields if extras.get(field, True)]


def _optional_fields(task: str) -> tuple[str, ...]:
  """The `Split` fields a ``task``'s file may hold."""
  return POLYGON_FIELDS if task in WORKSPACE_TASKS else ()


def _keys(task: str) -> list[str]:
  fields = [*_fields(task), *_optional_fields(task)]
  return ["meta"] + [f"{split}/{field}" for split in SPLITS for field in fields]


def save_dataset(path: str, meta: dict, splits: dict[str, Split]) -> None:
  """Validate and write a dataset atomically (temporary file, then rename).

  Args:
      path: destination ``.npz``; parent folders are created.
      meta: JSON-serialisable metadata (see the module docstring).
      splits: ``{"train": Split, "val": Split, "test": Split}``.

  Raises:
      DatasetError: if the data does not validate (nothing is written).
  """
  validate(path, meta, splits)
  arrays = {"meta": np.array(json.dumps(meta, sort_keys=True))}
  for split in SPLITS:
    for field, value in splits[split]._asdict().items():
      if value is not None:
        arrays[f"{split}/{field}"] = value
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  prefix = f".{os.path.basename(path)}."
  handle, temporary = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
  try:
    with os.fdopen(handle, "wb") as stream:
      with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for key, value in arrays.items():
          info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
          info.external_attr = 0o644 << 16
          buffer = io.BytesIO()
          np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
          archive.writestr(info, buffer.getbuffer(), zipfile.ZIP_DEFLATED, _COMPRESS_LEVEL)
      stream.flush()
      os.fsync(stream.fileno())
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)
  except BaseException:
    os.unlink(temporary)
    raise


_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def load_dataset(path: str, *, task: str | None = None, size: int | None = None, wrap: bool | None = None) -> Dataset:
  """Load and fully validate a dataset.

  Args:
      path: ``.npz`` written by :func:`save_dataset`.
      task, size, wrap: if given, ``meta`` must match them.

  Returns:
      The dataset (``Split.workspace`` is None except for ``manip_workspace``,
      ``Split.style`` except for ``visual_nav``, the polygons except for a
      ``manip_workspace`` file that holds them).

  Raises:
      DatasetError: naming the file, the key and the problem.
  """
  try:
    archive = np.load(path, allow_pickle=False)
  except _READ_ERRORS as error:
    raise DatasetError(f"{path}: cannot open as .npz: {error}") from error
  if not isinstance(archive, np.lib.npyio.NpzFile):
    raise DatasetError(f"{path}: not an .npz archive (a single .npy array)")
  with archive:

    def read(key: str) -> Any:
      if key not in archive.files:
        raise _fail(path, key, "missing")
      try:
        return archive[key]
      except _READ_ERRORS as error:
        raise _fail(path, key, f"unreadable ({type(error).__name__}: {error})") from error

    raw = read("meta")
    if not (isinstance(raw, np.ndarray) and raw.dtype.kind == "U" and raw.ndim == 0):
      raise _fail(path, "meta", "expected a JSON string (0-d unicode array)")
    try:
      meta = json.loads(str(raw[()]))
    except json.JSONDecodeError as error:
      raise _fail(path, "meta", f"invalid JSON ({error})") from error
    _check_meta(path, meta)
    _check_request(path, meta, task, size, wrap)
    expected = _keys(meta["task"])
    unexpected = sorted(set(archive.files) - set(expected))
    if unexpected:
      raise _fail(path, unexpected[0], f"unexpected for task {meta['task']!r}")
    optional = _optional_fields(meta["task"])
    splits = {
      split: Split(
        **{field: read(f"{split}/{field}") for field in _fields(meta["task"])},
        **{field: read(f"{split}/{field}") for field in optional if f"{split}/{field}" in archive.files},
      )
      for split in SPLITS
    }
  validate(path, meta, splits)
  return Dataset(meta=meta, path=path, **splits)
