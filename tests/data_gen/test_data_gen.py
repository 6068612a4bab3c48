"""Tests of data_gen: labels against an independent BFS, file format, seeding, geometry."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from bfs_oracle import MOVES, reference_labels
from matplotlib.path import Path

from data_gen import dataset, grid, manipulation, maze2d
from data_gen.dataset import DatasetError, load_dataset, save_dataset, shortest_paths
from data_gen.make import default_dataset_path, make_dataset

TASK_SIZES = (("maze2d", 9), ("maze2d", 15), ("manip_cspace", 18), ("manip_workspace", 18))


# ---------------------------------------------------------------- reference


def reference_largest_region(free: np.ndarray, wrap: bool) -> int:
  """Size of the largest 4-connected free region, by repeated plain BFS."""
  unseen = free.astype(bool).copy()
  best = 0
  for start in zip(*np.nonzero(unseen)):
    if unseen[start]:
      dist, _ = reference_labels(free, start, wrap)
      region = np.isfinite(dist)
      unseen &= ~region
      best = max(best, int(region.sum()))
  return best


def arm_collides(theta1: float, theta2: float, polygons: list[np.ndarray]) -> tuple[bool, float]:
  """Dense sampling along both links with matplotlib's point-in-polygon test.

  Returns whether a sample lies inside an obstacle, and the smallest distance
  from a sample to an obstacle edge (to recognise grazing contacts that the
  sampling cannot see).
  """
  l1, l2 = manipulation.ArmParams().link_lengths
  elbow = l1 * np.array([np.cos(theta1), np.sin(theta1)])
  tip = elbow + l2 * np.array([np.cos(theta1 + theta2), np.sin(theta1 + theta2)])
  s = np.linspace(0.0, 1.0, 4001)[:, None]
  points = np.concatenate([s * elbow, elbow + s * (tip - elbow)])
  if any(Path(polygon).contains_points(points).any() for polygon in polygons):
    return True, 0.0
  nearest = np.inf
  for polygon in polygons:
    for a, b in zip(polygon, np.roll(polygon, -1, axis=0)):
      ab = b - a
      if ab @ ab == 0:
        continue
      t = np.clip((points - a) @ ab / (ab @ ab), 0.0, 1.0)
      closest = a + t[:, None] * ab
      nearest = min(nearest, float(np.linalg.norm(points - closest, axis=1).min()))
  return False, nearest


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[tuple[str, int], str]:
  folder = tmp_path_factory.mktemp("datasets")
  return {
    (task, size): make_dataset(task, size, 40, 15, 15, 3, str(folder / f"{task}_{size}.npz"))
    for task, size in TASK_SIZES
  }


def rewrite(source: str, target: str, change) -> str:
  """Copy an .npz with ``change(dict of arrays)`` applied (plain np.savez)."""
  with np.load(source) as archive:
    arrays = {key: archive[key] for key in archive.files}
  change(arrays)
  with open(target, "wb") as stream:
    np.savez(stream, **arrays)
  return target


# ---------------------------------------------------------------- labels


@pytest.mark.parametrize("task,size", TASK_SIZES)
def test_file_labels_match_independent_bfs(files, task, size):
  data = load_dataset(files[task, size], task=task, size=size)
  wrap = task != "maze2d"
  rng = np.random.default_rng(0)
  for split in (data.train, data.val, data.test):
    for n in rng.choice(len(split.maps), size=6, replace=False):
      dist, actions = reference_labels(split.maps[n], tuple(split.goals[n]), wrap)
      np.testing.assert_array_equal(split.dist[n], dist)
      np.testing.assert_array_equal(split.opt_actions[n], actions)


@pytest.mark.parametrize("wrap", [False, True])
@pytest.mark.parametrize("shape", [(5, 7), (18, 18), (12, 64), (9, 65), (4, 130)])
def test_shortest_paths_random_maps(shape, wrap):
  rng = np.random.default_rng(shape[1] + wrap)
  n = 12
  maps = (rng.random((n,) + shape) < 0.7).astype(np.uint8)
  goals = np.stack([rng.integers(shape[0], size=n), rng.integers(shape[1], size=n)], axis=1)
  maps[np.arange(n), goals[:, 0], goals[:, 1]] = 1
  dist, actions = shortest_paths(maps, goals, wrap)
  assert dist.dtype == np.float32 and actions.dtype == bool
  for i in range(n):
    ref_dist, ref_actions = reference_labels(maps[i], tuple(goals[i]), wrap)
    np.testing.assert_array_equal(dist[i], ref_dist)
    np.testing.assert_array_equal(actions[i], ref_actions)


def test_torus_wraps_and_grid_does_not():
  free = np.ones((1, 1, 6), np.uint8)
  goal = np.array([[0, 0]])
  assert shortest_paths(free, goal, wrap=True)[0][0, 0].tolist() == [0, 1, 2, 3, 2, 1]
  assert shortest_paths(free, goal, wrap=False)[0][0, 0].tolist() == [0, 1, 2, 3, 4, 5]


def test_dist_and_opt_actions_agree(files):
  for (task, _), path in files.items():
    data = load_dataset(path)
    wrap = task != "maze2d"
    for split in (data.train, data.val, data.test):
      dist, actions = split.dist, split.opt_actions
      h, w = dist.shape[1:]
      moving = np.isfinite(dist) & (dist > 0)
      assert np.all(actions.any(axis=1) == moving), "reachable non-goal cells have an action"
      assert np.all(np.isinf(dist[split.maps == 0]))
      for a, (dr, dc) in enumerate(MOVES):
        if wrap:
          neighbour = np.roll(dist, (-dr, -dc), axis=(1, 2))
        else:
          padded = np.pad(dist, ((0, 0), (1, 1), (1, 1)), constant_values=np.inf)
          neighbour = padded[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
        np.testing.assert_array_equal(actions[:, a], moving & (neighbour == dist - 1))


def test_shortest_paths_rejects_goal_on_obstacle():
  maps = np.ones((1, 5, 5), np.uint8)
  maps[0, 2, 2] = 0
  with pytest.raises(ValueError, match="obstacle"):
    shortest_paths(maps, np.array([[2, 2]]), wrap=False)


def test_largest_component_matches_independent_search():
  rng = np.random.default_rng(5)
  free = rng.random((10, 12, 12)) < 0.55
  for wrap in (False, True):
    region = grid.largest_component(free, wrap)
    for i in range(10):
      assert region[i].sum() == reference_largest_region(free[i], wrap)
      assert np.all(free[i][region[i]])


# ---------------------------------------------------------------- generators


def test_maze_structure():
  rng = np.random.default_rng(1)
  size, m = 15, 7
  perfect = maze2d.dfs_mazes(rng, 50, size)
  assert perfect.dtype == np.uint8 and perfect.shape == (50, size, size)
  assert np.all(perfect.reshape(50, -1).sum(axis=1) == 2 * m * m - 1), "a spanning tree"
  maps, goals = maze2d.generate(rng, 200, size)
  for i in range(50):
    dist, _ = reference_labels(perfect[i], (1, 1), wrap=False)
    assert np.all(np.isfinite(dist[perfect[i] == 1])), "perfect maze is connected"
  assert np.all(maps[:, [0, -1], :] == 0) and np.all(maps[:, :, [0, -1]] == 0), "border is wall"
  assert np.all(maps[np.arange(200), goals[:, 0], goals[:, 1]] == 1)
  openness = maps.reshape(200, -1).mean(axis=1)
  assert openness.min() < 0.6 < openness.max(), "mixes narrow mazes and open rooms"


def test_maze_size_must_be_odd():
  with pytest.raises(ValueError, match="odd"):
    maze2d.generate(np.random.default_rng(0), 1, 16)
  with pytest.raises(ValueError, match="bins"):
    manipulation.generate(np.random.default_rng(0), 1, 20)


def test_blocked_configurations_really_collide():
  params = manipulation.ArmParams()
  obstacles = manipulation.random_obstacles(np.random.default_rng(7), 12, params)
  maps = manipulation.configuration_space(obstacles, 18, params)
  theta = manipulation.bin_angles(18)
  rng = np.random.default_rng(8)
  checked = {0: 0, 1: 0}
  for n in range(12):
    polygons = [obstacles.vertices[n, k] for k in np.flatnonzero(obstacles.present[n])]
    for flat in rng.choice(18 * 18, size=40, replace=False):
      i, j = divmod(int(flat), 18)
      inside, nearest = arm_collides(theta[i], theta[j], polygons)
      if maps[n, i, j] == 1:
        assert not inside, f"problem {n}, bin ({i}, {j}): free but the arm hits an obstacle"
      else:
        assert inside or nearest < 1e-3, f"problem {n}, bin ({i}, {j}): blocked, no contact"
      checked[int(maps[n, i, j])] += 1
  assert checked[0] > 20 and checked[1] > 20


def test_base_is_never_inside_an_obstacle_and_arm_collision_examples():
  params = manipulation.ArmParams()
  obstacles = manipulation.random_obstacles(np.random.default_rng(2), 300, params)
  for n in range(300):
    for k in np.flatnonzero(obstacles.present[n]):
      assert not Path(obstacles.vertices[n, k]).contains_point((0.0, 0.0))
  # A square straddling the +x axis blocks theta1 = 0 whatever theta2; one
  # on the far side of the workspace blocks nothing.
  square = np.array([[1.0, -0.2], [1.4, -0.2], [1.4, 0.2], [1.0, 0.2]])
  far = np.array([[4.6, 4.6], [4.9, 4.6], [4.9, 4.9], [4.6, 4.9]])
  obstacles = manipulation.Obstacles(np.stack([square, far])[None], np.array([[True, True]]))
  cspace = manipulation.configuration_space(obstacles, 36, params)
  assert np.all(cspace[0, 0] == 0) and cspace[0].mean() > 0.8
  # The stretched arm along +x runs parallel to, and just below, two edges.
  above = manipulation.Obstacles((square + [0.0, 0.3])[None, None], np.array([[True]]))
  assert manipulation.configuration_space(above, 18, params)[0, 0, 0] == 1


def test_fully_blocked_configuration_spaces_are_redrawn():
  # Large obstacles hugging the base block every configuration of some problems.
  options = dict(min_radius=2.0, max_radius=2.0, base_clearance=0.01, min_vertices=7)
  params = manipulation.ArmParams(**options)
  obstacles = manipulation.random_obstacles(np.random.default_rng(0), 500, params)
  cspace = manipulation.configuration_space(obstacles, 18, params)
  assert np.any(cspace.reshape(500, -1).sum(axis=1) == 0)
  maps, goals, _ = manipulation.generate(np.random.default_rng(0), 500, 18, **options)
  assert np.all(maps.reshape(500, -1).sum(axis=1) > 0)
  assert np.all(maps[np.arange(500), goals[:, 0], goals[:, 1]] == 1)


def test_workspace_raster_matches_point_in_polygon():
  params = manipulation.ArmParams()
  obstacles = manipulation.random_obstacles(np.random.default_rng(4), 10, params)
  images = manipulation.rasterize(obstacles, params)
  assert images.dtype == np.uint8 and images.shape == (10, 96, 96)
  pixel = 10.0 / 96
  x, y = np.meshgrid(-5 + (np.arange(96) + 0.5) * pixel, 5 - (np.arange(96) + 0.5) * pixel)
  centres = np.stack([x.ravel(), y.ravel()], axis=1)
  for n in range(10):
    expected = np.zeros(96 * 96, bool)
    for k in np.flatnonzero(obstacles.present[n]):
      expected |= Path(obstacles.vertices[n, k]).contains_points(centres)
    np.testing.assert_array_equal(images[n].reshape(-1).astype(bool), expected)


def test_the_raster_read_as_a_configuration_space_agrees_with_the_exact_one_but_at_boundaries():
  """Two code paths (the scan-line raster, the exact clipping) tell the same arm's collisions:
  they differ only where the pixels blur an obstacle's edge, next to a change of label."""
  params = manipulation.ArmParams()
  obstacles = manipulation.random_obstacles(np.random.default_rng(5), 64, params)
  exact = manipulation.configuration_space(obstacles, 18, params)
  read = manipulation.configuration_space_from_image(manipulation.rasterize(obstacles, params), 18, params)
  assert read.shape == exact.shape and read.dtype == np.uint8
  wrong = read != exact
  boundary = np.zeros_like(wrong)
  for axis in (1, 2):
    for shift in (1, -1):
      boundary |= np.roll(exact, shift, axis=axis) != exact
  assert 0 < wrong.mean() < 0.025 and (wrong & ~boundary).sum() < 0.1 * wrong.sum()
  with pytest.raises(ValueError, match=r"images must be \[N, 96, 96\]"):
    manipulation.configuration_space_from_image(np.zeros((1, 64, 64), np.uint8), 18, params)


def test_manipulation_goals_are_in_the_largest_free_region(files):
  data = load_dataset(files["manip_cspace", 18])
  for n in range(0, 40, 4):
    reachable = int(np.isfinite(data.train.dist[n]).sum())
    assert reachable == reference_largest_region(data.train.maps[n], wrap=True)


# ---------------------------------------------------------------- files


def test_meta_and_shapes(files):
  data = load_dataset(files["manip_workspace", 18], task="manip_workspace", size=18, wrap=True)
  assert data.meta["wrap"] is True and data.meta["actions"] == list(dataset.ACTIONS)
  assert data.meta["counts"] == {"train": 40, "val": 15, "test": 15}
  assert data.meta["generator_options"]["max_obstacles"] == 5
  assert data.train.workspace.shape == (40, 96, 96) and data.train.workspace.dtype == np.uint8
  maze = load_dataset(files["maze2d", 15], task="maze2d", size=15, wrap=False)
  assert maze.train.workspace is None and maze.test.opt_actions.shape == (15, 4, 15, 15)


def test_a_visual_navigation_dataset_is_a_maze_dataset_plus_one_style_seed_per_maze(tmp_path):
  path = make_dataset("visual_nav", 9, 30, 5, 5, 3, str(tmp_path / "visual.npz"))
  data = load_dataset(path, task="visual_nav", size=9, wrap=False)
  assert data.train.style.shape == (30,) and data.train.style.dtype == np.uint32 and data.train.workspace is None
  assert len(np.unique(data.train.style)) == 30  # every maze its own appearance
  assert data.meta["generator_options"] == {"max_decimation": 1.0}
  for split in (data.train, data.val, data.test):  # mazes like maze2d's: border walls, exact labels
    assert not split.maps[:, 0].any() and not split.maps[:, :, -1].any()
  maze = load_dataset(make_dataset("maze2d", 9, 30, 5, 5, 3, str(tmp_path / "maze.npz")))
  assert maze.train.style is None
  with pytest.raises(DatasetError, match="key 'val/style': missing"):
    load_dataset(rewrite(path, str(tmp_path / "no_style.npz"), drop("val/style")))
  with pytest.raises(DatasetError, match="key 'train/style': expected uint32, got int64"):
    load_dataset(rewrite(path, str(tmp_path / "int_style.npz"), cast("train/style", np.int64)))


def test_no_problem_repeats_across_splits(files):
  for path in files.values():
    data = load_dataset(path)
    keys = [
      {s.maps[n].tobytes() + s.goals[n].tobytes() for n in range(len(s.maps))}
      for s in (data.train, data.val, data.test)
    ]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])


def test_dedup_redraws_and_gives_up_when_problems_run_out(tmp_path):
  # Without obstacles the 18 x 18 configuration space has only 324 problems.
  few = str(tmp_path / "a.npz")
  path = make_dataset("manip_cspace", 18, 150, 60, 60, 0, few, max_obstacles=0)
  data = load_dataset(path)
  train = {data.train.goals[n].tobytes() for n in range(150)}
  held_out = [g.tobytes() for g in np.concatenate([data.val.goals, data.test.goals])]
  assert not train & set(held_out)
  with pytest.raises(RuntimeError, match="too few distinct problems"):
    make_dataset("manip_cspace", 18, 2000, 400, 0, 0, str(tmp_path / "b.npz"), max_obstacles=0)
  assert not (tmp_path / "b.npz").exists()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
  for task, size in (("maze2d", 11), ("manip_workspace", 18)):
    a = make_dataset(task, size, 20, 5, 5, 11, str(tmp_path / "a.npz"))
    b = make_dataset(task, size, 20, 5, 5, 11, str(tmp_path / "b.npz"))
    c = make_dataset(task, size, 20, 5, 5, 12, str(tmp_path / "c.npz"))
    with open(a, "rb") as fa, open(b, "rb") as fb, open(c, "rb") as fc:
      first, second, third = fa.read(), fb.read(), fc.read()
    assert first == second
    assert first != third
    assert not np.array_equal(load_dataset(a).train.maps, load_dataset(c).train.maps)


def test_request_mismatch_is_named(files):
  path = files["maze2d", 15]
  for field, value in {"task": "manip_cspace", "size": 27, "wrap": True}.items():
    with pytest.raises(DatasetError, match=rf"{re.escape(path)}: key 'meta': {field} is"):
      load_dataset(path, **{field: value})


def test_corrupt_and_truncated_files(files, tmp_path):
  garbage = tmp_path / "garbage.npz"
  garbage.write_bytes(b"not a zip file at all" * 10)
  with pytest.raises(DatasetError, match=re.escape(str(garbage))):
    load_dataset(str(garbage))
  source = files["maze2d", 15]
  blob = open(source, "rb").read()
  truncated = tmp_path / "truncated.npz"
  truncated.write_bytes(blob[: len(blob) // 2])
  with pytest.raises(DatasetError, match=re.escape(str(truncated))):
    load_dataset(str(truncated))
  missing = tmp_path / "absent.npz"
  with pytest.raises(DatasetError, match=re.escape(str(missing))):
    load_dataset(str(missing))


def test_corrupt_member_names_the_key(files, tmp_path):
  source = files["maze2d", 15]
  broken = tmp_path / "broken.npz"
  with zipfile.ZipFile(source) as archive:
    info = archive.getinfo("train/dist.npy")
  blob = bytearray(open(source, "rb").read())
  header = info.header_offset
  name_length, extra_length = struct.unpack("<HH", blob[header + 26 : header + 30])
  start = header + 30 + name_length + extra_length + 40  # inside the compressed data
  blob[start : start + 64] = bytes(64)
  broken.write_bytes(bytes(blob))
  with pytest.raises(DatasetError, match=r"key 'train/dist'"):
    load_dataset(str(broken))


def drop(key):
  return lambda arrays: arrays.pop(key)


def cast(key, dtype):
  return lambda arrays: arrays.update({key: arrays[key].astype(dtype)})


def replace(key, make):
  return lambda arrays: arrays.update({key: make(arrays)})


def poke(key, index, value):
  """Set ``arrays[key][index(arrays)] = value``."""
  return lambda arrays: arrays[key].__setitem__(index(arrays), value)


def at_goal(split, n, all_actions=False):
  """Index of problem ``n``'s goal cell (in every action plane if ``all_actions``)."""

  def index(arrays):
    row, col = arrays[f"{split}/goals"][n]
    return (n, slice(None), row, col) if all_actions else (n, row, col)

  return index


def moved(arrays):
  """The val polygons with the first obstacle of the first problem that has one moved by 3 pixels."""
  n = int(np.argmax(arrays["val/polygon_present"][:, 0]))
  arrays["val/polygons"][n, 0] += 0.3
  return arrays["val/polygons"]


BAD_MAZE_CONTENT = [
  ("val/maps", drop("val/maps"), "missing"),
  ("train/dist", cast("train/dist", np.float64), "expected float32, got float64"),
  ("test/goals", cast("test/goals", np.int64), "expected int32, got int64"),
  ("train/opt_actions", replace("train/opt_actions", lambda a: a["train/opt_actions"][:, :3]), "expected shape"),
  ("val/goals", replace("val/goals", lambda a: a["val/goals"][:-1]), "expected shape"),
  ("train/maps", poke("train/maps", lambda a: (0, 0, 0), 2), "values must be 0"),
  ("train/dist", poke("train/dist", lambda a: (0, 0, 0), np.nan), "NaN"),
  ("test/dist", poke("test/dist", at_goal("test", 2), 1.0), "shortest-path"),
  ("val/opt_actions", poke("val/opt_actions", at_goal("val", 1, True), True), "disagrees"),
  ("train/workspace", replace("train/workspace", lambda a: np.zeros((40, 96, 96), np.uint8)), "unexpected"),
  ("train/style", replace("train/style", lambda a: np.zeros(40, np.uint32)), "unexpected"),
  ("meta", replace("meta", lambda a: np.array("{not json")), "invalid JSON"),
  ("meta", replace("meta", lambda a: np.array(json.dumps({"task": "maze2d"}))), "missing fields"),
]
BAD_POLYGONS = [
  ("val/polygons", replace("val/polygons", moved), "its polygons do not give its workspace"),
  ("train/polygons", replace("train/polygons", lambda a: a["train/polygons"][:, :, ::-1]), "not convex"),
  ("test/polygons", cast("test/polygons", np.float32), "expected float64"),
  ("train/polygon_present", drop("train/polygon_present"), "expected an array, got NoneType"),
  ("train/polygons", poke("train/polygons", lambda a: (0, 0, 0, 0), np.inf), "finite"),
]


@pytest.mark.parametrize(
  "task,key,change,problem",
  [(("maze2d", 15), *bad) for bad in BAD_MAZE_CONTENT] + [(("manip_workspace", 18), *bad) for bad in BAD_POLYGONS],
)
def test_bad_content_is_named(files, tmp_path, task, key, change, problem):
  path = rewrite(files[task], str(tmp_path / "bad.npz"), change)
  with pytest.raises(DatasetError) as error:
    load_dataset(path)
  message = str(error.value)
  assert message.startswith(f"{path}: key '{key}'") and problem in message, message


def test_a_workspace_file_holds_the_polygons_its_images_and_maps_are_drawn_from(files, x64):
  """The stored polygons give each image and configuration space exactly (checked on load), and the
  fine raster the mapper's field is supervised on (`mappers.occupancy`) agrees with them."""
  data = load_dataset(files["manip_workspace", 18])
  assert data.meta["generator_version"] == "data_gen-2"
  assert data.train.polygons.shape == (40, 5, 7, 2) and data.train.polygon_present.shape == (40, 5)
  params = manipulation.ArmParams()
  drawn = manipulation.Obstacles(data.test.polygons, data.test.polygon_present)
  np.testing.assert_array_equal(manipulation.rasterize(drawn, params), data.test.workspace)
  np.testing.assert_array_equal(manipulation.configuration_space(drawn, 18, params), data.test.maps)
  assert load_dataset(files["manip_cspace", 18]).train.polygons is None


def test_a_workspace_file_without_polygons_still_loads(files, tmp_path):
  """Files made before ``data_gen-2`` hold only the images."""
  without = [f"{split}/{field}" for split in dataset.SPLITS for field in dataset.POLYGON_FIELDS]
  path = rewrite(files["manip_workspace", 18], str(tmp_path / "old.npz"), lambda a: [a.pop(key) for key in without])
  old = load_dataset(path)
  assert old.train.polygons is None and old.train.polygon_present is None and old.train.workspace is not None


def test_wrong_meta_wrap_is_rejected(files, tmp_path):
  def flip(arrays):
    meta = json.loads(str(arrays["meta"][()]))
    meta["wrap"] = True
    arrays["meta"] = np.array(json.dumps(meta))

  path = rewrite(files["maze2d", 15], str(tmp_path / "wrap.npz"), flip)
  with pytest.raises(DatasetError, match=r"key 'meta': wrap=True is wrong for task 'maze2d'"):
    load_dataset(path)


def test_save_is_atomic_and_validates(files, tmp_path, monkeypatch):
  data = load_dataset(files["maze2d", 15])
  splits = {"train": data.train, "val": data.val, "test": data.test}
  target = tmp_path / "out.npz"
  bad = dict(splits, train=data.train._replace(goals=data.train.goals.astype(np.int64)))
  with pytest.raises(DatasetError, match="train/goals"):
    save_dataset(str(target), data.meta, bad)

  def interrupted(*args, **kwargs):
    raise KeyboardInterrupt

  monkeypatch.setattr(np.lib.format, "write_array", interrupted)
  with pytest.raises(KeyboardInterrupt):
    save_dataset(str(target), data.meta, splits)
  assert os.listdir(tmp_path) == []
  monkeypatch.undo()
  save_dataset(str(target), data.meta, splits)
  assert np.array_equal(load_dataset(str(target)).test.dist, data.test.dist)


def test_cli_end_to_end(tmp_path):
  command = [
        sys.executable, "-m", "data_gen.make", "--task=maze2d", "--size=7", "--num_train=12",
        "--num_val=4", "--num_test=4", "--seed=5", f"--data_dir={tmp_path}",
    ]  # fmt: skip
  result = subprocess.run(command, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  path = default_dataset_path(str(tmp_path), "maze2d", 7, 12, 4, 4, 5)
  assert path.endswith("maze2d_7x7_n12-4-4_seed5.npz") and f"wrote {path}" in result.stdout
  assert load_dataset(path, task="maze2d", size=7).meta["seed"] == 5
  bad = subprocess.run(command[:4] + ["--size=8"], capture_output=True, text=True, timeout=120)
  assert bad.returncode != 0 and "size must be odd" in bad.stderr
  assert "Traceback" not in bad.stderr


def test_unknown_generator_option_is_rejected(tmp_path):
  with pytest.raises(ValueError, match="max_obstacles"):
    make_dataset("maze2d", 9, 1, 1, 1, 0, str(tmp_path / "x.npz"), max_obstacles=3)
