"""Datasets for training and evaluation: find or generate the file, check it, put it on device."""

from __future__ import annotations

import hashlib
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from data_gen.dataset import Dataset, DatasetError, Split, load_dataset
from data_gen.make import default_dataset_path, make_dataset
from data_gen.panorama import render_panoramas
from experiments.training.config import Config

DeviceSplit = dict[str, jax.Array]
"""One split on the device as a batch mapping (`implicit_planning.Batch` of the whole split):
``maps`` [N, H, W] uint8 (1 = free), ``goals`` [N, 2] int32 (row, col), ``dist`` [N, H, W] float32
shortest-path distance to the goal (inf: wall or unreachable), ``opt_actions`` [N, 4, H, W] bool,
``workspace`` [N, S, S] uint8 for the workspace task (with ``polygons`` [N, O, V, 2] float32 and
``polygon_present`` [N, O] bool where the file holds them), ``style`` [N] uint32 appearance seeds for
visual navigation. A batch (`gather`) is the same mapping indexed by the maps it draws, plus the
observations rendered from them; a model reads the entries it needs."""


class DataMismatchError(ValueError):
  """A dataset does not fit the run (task, torus wrap or size) it is used with."""


def dataset_path(config: Config) -> str:
  """`config.data`, or the path `data_gen` generates the configured dataset at."""
  if config.data:
    return config.data
  return default_dataset_path(
    config.data_dir, config.task, config.size, config.num_train, config.num_val, config.num_test, config.data_seed
  )


def ensure_dataset(config: Config) -> str:
  """Path of the run's dataset; generates it first when `config.data` is "" and it is missing.

  Raises:
    FileNotFoundError: `config.data` names a file that does not exist.
  """
  path = dataset_path(config)
  if os.path.exists(path):
    return path
  if config.data:
    raise FileNotFoundError(f"--data={config.data}: no such file")
  logging.info(
    "Generating %s %dx%d dataset (%d/%d/%d maps, seed %d) into %s",
    config.task,
    config.size,
    config.size,
    config.num_train,
    config.num_val,
    config.num_test,
    config.data_seed,
    path,
  )
  return make_dataset(
    config.task, config.size, config.num_train, config.num_val, config.num_test, config.data_seed, path, progress=True
  )


def load_checked(path: str, task: str, wrap: bool, size: int | None) -> Dataset:
  """Loads `path` and checks that it holds `task` maps with the given wrap (and size).

  Args:
    path: dataset file.
    task: task the run was configured for.
    wrap: torus flag the run was configured for.
    size: required map size, or None when any size is acceptable (evaluating a
      size-agnostic planner on larger maps).

  Raises:
    DataMismatchError: the file's task, wrap or size differs; the message names both sides.
  """
  try:
    return load_dataset(path, task=task, size=size, wrap=wrap)
  except DatasetError as error:
    raise DataMismatchError(
      f"dataset {path} does not fit a run for task={task} wrap={wrap}{'' if size is None else f' size={size}'}: {error}"
    ) from error


def environment_keys(split: Split) -> list[bytes]:
  """Each problem's environment as a mapper sees it: its workspace image, else its map and appearance seed."""
  arrays = (split.workspace,) if split.workspace is not None else (split.maps, split.style)
  arrays = [np.asarray(array) for array in arrays if array is not None]
  return [
    hashlib.blake2b(b"".join(array[i].tobytes() for array in arrays), digest_size=16).digest()
    for i in range(len(split.maps))
  ]


def held_out_seen_elsewhere(dataset: Dataset, other: Dataset) -> dict[str, int]:
  """Per held-out split of ``dataset`` ("val", "test"): its problems whose environment ``other``'s
  training split holds and ``dataset``'s does not, i.e. what a model trained on ``other`` saw that one
  trained on ``dataset`` did not."""
  seen = set(environment_keys(other.train)) - set(environment_keys(dataset.train))
  return {name: sum(key in seen for key in environment_keys(getattr(dataset, name))) for name in ("val", "test")}


def num_maps(split: DeviceSplit) -> int:
  """N, the maps in a split (or a batch)."""
  return int(split["maps"].shape[0])


def to_device(split: Split) -> DeviceSplit:
  """The split's arrays on the default device, by name (absent entries left out)."""
  arrays = {
    "maps": jnp.asarray(split.maps),
    "goals": jnp.asarray(split.goals, jnp.int32),
    "dist": jnp.asarray(split.dist, jnp.float32),
    "opt_actions": jnp.asarray(split.opt_actions, bool),
  }
  for name in ("workspace", "style", "polygon_present"):
    if getattr(split, name) is not None:
      arrays[name] = jnp.asarray(getattr(split, name))
  if split.polygons is not None:
    arrays["polygons"] = jnp.asarray(split.polygons, jnp.float32)
  return arrays


def check_polygons(config: Config, dataset: Dataset) -> None:
  """Refuses a run that supervises its mapper's obstacle field on a dataset without the polygons.

  Raises:
    DataMismatchError: naming the file and how to make one that holds them.
  """
  if config.maps and config.field_loss_weight and dataset.train.polygons is None:
    raise DataMismatchError(
      f"field_loss_weight={config.field_loss_weight} needs the obstacles' polygons, which {dataset.path} "
      f"({dataset.meta.get('generator_version', 'imported')}) does not hold: delete it and run again to generate "
      "it anew (the same seed gives the same problems, with their polygons), or pass --data=<a file of "
      "data_gen.make>"
    )


def observes_views(inputs: tuple[str, ...]) -> bool:
  """Whether a model that reads the batch entries ``inputs`` needs the views rendered."""
  return "panoramas" in inputs


def gather(split: DeviceSplit, index: jax.Array | slice, render: bool = True) -> DeviceSplit:
  """The maps ``index`` of ``split`` as a batch, with what is observed of them rendered on the device.

  Visual navigation's ``panoramas`` (uint8 [B, H, W, 4, 32, 32, 3], `render_panoramas`) are made
  here from ``maps`` and ``style``, never stored; ``render=False`` leaves them out (a planner given
  the true map does not read them).
  """
  batch = {name: array[index] for name, array in split.items()}
  if render and "style" in batch:
    batch["panoramas"] = render_panoramas(batch["maps"], batch["style"])
  return batch
