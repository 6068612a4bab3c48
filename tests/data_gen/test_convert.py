"""data_gen.convert: a GPPN / DiffPlan file becomes ours, relabelled; a wrong action order is caught."""

import subprocess
import sys

import numpy as np
import pytest

from data_gen import convert
from data_gen.dataset import DatasetError, load_dataset
from data_gen.make import make_dataset


def write_theirs(ours_path, path, mechanism, label="one_hot"):
  """Our dataset in their layout: arr_0..arr_8, one optimal action per cell (or all) in their order."""
  ours = load_dataset(ours_path)
  order, _ = convert.MECHANISMS[mechanism]
  arrays = []
  for split in (ours.train, ours.val, ours.test):
    count, size = split.maps.shape[:2]
    goal_maps = np.zeros((count, 1, size, size), np.float64)
    goal_maps[np.arange(count), 0, split.goals[:, 0], split.goals[:, 1]] = 1
    if label == "full":
      chosen = split.opt_actions
    else:  # the first optimal action; none where there is none
      first = np.moveaxis(np.eye(4, dtype=bool)[split.opt_actions.argmax(axis=1)], -1, 1)
      chosen = first & split.opt_actions.any(axis=1, keepdims=True)
    policies = np.zeros((count, 4, 1, size, size))
    policies[:, :, 0] = chosen[:, list(order)]
    arrays += [split.maps.astype(np.float64), goal_maps, policies]
  np.savez_compressed(path, *arrays)
  return ours


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
  folder = tmp_path_factory.mktemp("convert")
  return make_dataset("maze2d", 9, 12, 4, 4, 3, str(folder / "ours.npz"))


@pytest.mark.parametrize("mechanism, label", [("4abs-cc", "one_hot"), ("news", "one_hot"), ("news", "full")])
def test_their_layout_converts_back_to_the_same_problems_and_labels(ours, tmp_path, mechanism, label):
  theirs = str(tmp_path / "theirs.npz")
  original = write_theirs(ours, theirs, mechanism, label)
  meta = convert.convert(theirs, str(tmp_path / "back.npz"), mechanism)
  back = load_dataset(str(tmp_path / "back.npz"), task="maze2d", size=9)
  for name in ("train", "val", "test"):
    for field in ("maps", "goals", "dist", "opt_actions"):
      np.testing.assert_array_equal(getattr(getattr(back, name), field), getattr(getattr(original, name), field))
  assert meta["counts"] == {"train": 12, "val": 4, "test": 4}
  assert meta["source"]["mechanism"] == mechanism and "seed" not in meta
  assert meta["source"]["policy_cells_checked"]["train"]["checked"] > 0


def test_a_wrong_action_order_is_refused(ours, tmp_path):
  theirs = str(tmp_path / "theirs.npz")
  write_theirs(ours, theirs, "news")
  with pytest.raises(DatasetError, match="not optimal .* wrong --mechanism"):
    convert.convert(theirs, str(tmp_path / "back.npz"), "4abs-cc")
  with pytest.raises(ValueError, match="wrap"):
    convert.convert(theirs, str(tmp_path / "back.npz"), "news-wrap", task="maze2d")


def test_malformed_files_name_the_array(ours, tmp_path):
  theirs = str(tmp_path / "theirs.npz")
  write_theirs(ours, theirs, "4abs-cc")
  with np.load(theirs) as archive:
    arrays = [archive[f"arr_{k}"] for k in range(9)]
  good = arrays[4].copy()
  arrays[4][0, 0] = 0  # the first validation goal map is empty
  np.savez(theirs, *arrays)
  with pytest.raises(DatasetError, match="arr_4: every goal map must be one-hot"):
    convert.convert(theirs, str(tmp_path / "back.npz"), "4abs-cc")
  arrays[4] = good
  np.savez(theirs, *arrays[:7])
  with pytest.raises(DatasetError, match="arr_7: missing"):
    convert.convert(theirs, str(tmp_path / "back.npz"), "4abs-cc")


def test_cli(ours, tmp_path):
  theirs, back = str(tmp_path / "theirs.npz"), str(tmp_path / "back.npz")
  write_theirs(ours, theirs, "news")
  done = subprocess.run(
    [sys.executable, "-m", "data_gen.convert", f"--src={theirs}", f"--out={back}", "--mechanism=news"],
    capture_output=True,
    text=True,
    check=False,
  )
  assert done.returncode == 0, done.stderr[-2000:]
  assert load_dataset(back).meta["source"]["file"] == "theirs.npz"
  done = subprocess.run(
    [sys.executable, "-m", "data_gen.convert", f"--src={theirs}", f"--out={back}", "--mechanism=4abs-cc"],
    capture_output=True,
    text=True,
    check=False,
  )
  assert done.returncode == 1 and "wrong --mechanism" in done.stderr and "Traceback" not in done.stderr
