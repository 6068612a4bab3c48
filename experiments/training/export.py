"""Exporting a finished run's planner as a pretrained one (`implicit_planning.pretrained`).

The seed with the best validation %Success is taken (its best-validation parameters, as the run
tested them; the test split plays no part in the choice) and written to
``<root>/<task>_<size>/<planner>/``: the parameters, the planner's options, the run's config, the
command that trained it, the commit it was exported at, and that seed's validation and test
scores. An existing entry is never replaced.
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
    FileNotFoundError: ``workdir`` holds no finished run (no results.json).
    FileExistsError: the pretrained entry exists already.
    ValueError: the run has a mapper (only planners given their map are exported).
  """
  config = checkpoints.read_config(workdir)
  if config.mapper:
    raise ValueError(f"{workdir} has a mapper ({config.mapper}); only planners given their map are exported")
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
  test = {name: results["test"][name]["per_seed"][seed] for name in ("optimal", "success", "accuracy")}
  info: dict[str, Any] = {
    "planner": config.planner,
    "task": config.task,
    "size": config.size,
    "planner_options": dataclasses.asdict(planner.options),
    "seed": config.seed + seed,
    "best_epoch": results["best_epoch"][seed],
    "val_success": results["best_val_success"][seed],
    "test": test,
    "data": config.data,
    "config": config.to_dict(),
    "command": command,
    "exported_at_commit": _commit(),
    "run": workdir,
  }
  directory = ip.pretrained.pretrained_dir(config.planner, config.task, config.size, root)
  ip.pretrained.save_pretrained(directory, params, info)
  return str(directory)


def _commit() -> str:
  """The repository's HEAD commit, or "" outside a git checkout."""
  try:
    return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return ""


def trained_config(pretrained: ip.pretrained.Pretrained) -> Config:
  """The one-seed `Config` a pretrained planner was trained with, its dataset made (or found) from
  the config's fields rather than the stored path, which need not exist here."""
  config = Config(**pretrained.info["config"]).replace(data="", seeds=1)
  return config.replace(data=data.ensure_dataset(config))
