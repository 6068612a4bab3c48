"""Exporting a finished run's planner as a pretrained one (`implicit_planning.pretrained`).

The seed with the best validation %Success is taken (its best-validation parameters, as the run
tested them; the test split plays no part in the choice) and written to
``<root>/<task>_<size>/<planner>/``: the parameters, the planner's options, the run's config, the
command that trained it, the commit it was exported at, and that seed's validation and test
scores. A planner trained behind a mapper is exported from its joint (or end-to-end) phase, with
the mapper, and its scores include the map's and the planner's on the true map. An existing
entry is never replaced.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from typing import Any

import jax
import numpy as np

import implicit_planning as ip
from experiments.training import checkpoints, data, model
from experiments.training.config import Config


def export(workdir: str, root: str, command: str = "") -> str:
  """Writes the best-validation seed of the run in ``workdir`` under ``root``; returns its folder.

  Raises:
    FileNotFoundError: ``workdir`` holds no finished run (no results.json), or holds phases
      rather than one (the message names the joint phase's folder).
    FileExistsError: the pretrained entry exists already.
    ValueError: the run is a pretraining phase of a run with a mapper (export its joint phase).
  """
  if not os.path.exists(checkpoints.config_path(workdir)) and os.path.isdir(os.path.join(workdir, "joint")):
    raise FileNotFoundError(f"{workdir} holds a run's phases: export its joint phase, {os.path.join(workdir, 'joint')}")
  config = checkpoints.read_config(workdir)
  if config.mapper and not (config.maps and config.plans):
    raise ValueError(
      f"{workdir} is the {config.phase} pretraining of a run with mapper {config.mapper}: export its joint phase"
    )
  results_path = os.path.join(workdir, "results.json")
  if not os.path.exists(results_path):
    raise FileNotFoundError(f"{workdir} holds no finished run (no results.json)")
  with open(results_path) as f:
    results = json.load(f)
  seed = int(np.argmax(results["best_val_success"]))
  planner = model.make_planner(config)
  split = data.to_device(data.load_checked(config.data, config.task, config.wrap, config.size).val)
  template = model.checkpoint_template(planner, config, split)
  restored = checkpoints.restore(checkpoints.manager(workdir, read_only=True), template)
  params = jax.tree.map(lambda leaf: np.asarray(leaf[seed]), restored.params("best"))
  info: dict[str, Any] = {
    "planner": config.planner,
    "task": config.task,
    "size": config.size,
    "planner_options": dataclasses.asdict(planner.options),
    **({"mapper": _mapper_info(config, planner, split)} if config.mapper else {}),
    "seed": config.seed + seed,
    "best_epoch": results["best_epoch"][seed],
    "val_success": results["best_val_success"][seed],
    "test": _seed_scores(results["test"], seed),
    "data": config.data,
    "config": config.to_dict(),
    "command": command,
    "exported_at_commit": _commit(),
    "run": workdir,
  }
  directory = ip.pretrained.pretrained_dir(config.planner, config.task, config.size, root)
  ip.pretrained.save_pretrained(directory, params, info)
  return str(directory)


def _mapper_info(config: Config, planner: ip.Planner, split: data.DeviceSplit) -> dict[str, Any]:
  """The mapper's name and width, and the observation it reads: its batch entry, one problem's
  shape and the dtype (`implicit_planning.pretrained.example_batch`)."""
  observation = planner.inputs[0]
  one = data.gather(split, slice(0, 1))[observation]
  return {
    "name": config.mapper,
    "width": config.mapper_width,
    "observation": observation,
    "observation_shape": list(one.shape[1:]),
    "observation_dtype": str(one.dtype),
  }


def _seed_scores(test: dict[str, Any], seed: int) -> dict[str, float]:
  """Seed ``seed``'s test scores: the policy's, and with a mapper the map's and the planner's on
  the true map (``true_map_<score>``)."""
  scores = {name: test[name]["per_seed"][seed] for name in ("optimal", "success", "accuracy")}
  scores.update({name: test[name]["per_seed"][seed] for name in ("map_accuracy", "obstacle_iou") if name in test})
  true_map = test.get("true_map", {})
  scores.update({f"true_map_{name}": true_map[name]["per_seed"][seed] for name in ("optimal", "success") if true_map})
  return scores


def _commit() -> str:
  """The repository's HEAD commit, or "" outside a git checkout."""
  try:
    return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return ""


def trained_config(pretrained: ip.pretrained.Pretrained) -> Config:
  """The one-seed `Config` a pretrained planner was trained with, its dataset made (or found) from
  the config's fields rather than the stored path, which need not exist here."""
  config = Config(**pretrained.info["config"]).replace(data="", seeds=1, mapper_from="", planner_from="")
  return config.replace(data=data.ensure_dataset(config))
