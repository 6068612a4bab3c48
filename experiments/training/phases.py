"""Training a planner with a mapper in three phases (the paper's appendix D.1).

1. ``mapper``: the mapper alone, binary cross-entropy against the true map, `pretrain_epochs`;
2. ``planner``: the planner alone on the true map, `pretrain_epochs`;
3. ``joint``: the planner's input switched to the mapper's map, both trained together on the
   planner's loss plus `map_loss_weight` × the mapper's, `epochs`; each seed starts from its
   best pretrained mapper and planner.

Each phase is an ordinary run (`loop.train_and_evaluate`) in its own subfolder of the workdir, so
it checkpoints and resumes like any run and can be run alone (``--phase``); ``all`` runs the three
in turn, skipping the training of a finished phase.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import jax.numpy as jnp

from experiments.training import checkpoints, data, model
from experiments.training.config import Config, ConfigError
from experiments.training.loop import train_and_evaluate

ORDER = ("mapper", "planner", "joint")


def phase_config(config: Config, phase: str) -> Config:
  """The config of one phase: its name, and `pretrain_epochs` or `epochs`."""
  return config.replace(phase=phase, epochs=config.epochs if phase == "joint" else config.pretrain_epochs)


def best_params(config: Config, workdir: str, sample: data.DeviceSplit) -> Any:
  """Each seed's best parameters of the finished phase run ``config`` in ``workdir``.

  Raises:
    ConfigError: the phase has not been run there, or has not finished.
  """
  stored = checkpoints.read_config(workdir) if os.path.exists(checkpoints.config_path(workdir)) else None
  planner = model.make_planner(config)
  mngr = checkpoints.manager(workdir, read_only=True)
  if stored is None or mngr.latest_step() is None:
    raise ConfigError(
      f"the joint phase starts from the pretrained {config.phase}, but {workdir} holds no {config.phase} run: "
      f"run --phase={config.phase} (or --phase=all) with this --workdir first"
    )
  if mngr.latest_step() < config.epochs:
    raise ConfigError(
      f"the {config.phase} pretraining in {workdir} stopped after epoch {mngr.latest_step()} of {config.epochs}: "
      f"run --phase={config.phase} again to finish it"
    )
  return checkpoints.restore(mngr, model.checkpoint_template(planner, config, sample)).params("best")


def joint_start(config: Config, workdir: str) -> dict[str, Any]:
  """The joint phase's first parameters: ``{"mapper", "planner"}`` from the two pretraining runs."""
  dataset = data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size)
  sample = data.to_device(dataset.val)
  mapper = best_params(phase_config(config, "mapper"), os.path.join(workdir, "mapper"), sample)
  planner = best_params(phase_config(config, "planner"), os.path.join(workdir, "planner"), sample)
  return jax.tree.map(jnp.asarray, {"mapper": mapper["mapper"], "planner": planner})


def train_phases(config: Config, workdir: str) -> dict[str, Any]:
  """Runs the phases ``config.phase`` names (``all``: the three, in order) under ``workdir``.

  Returns:
    ``{phase: that run's results}``; for ``all`` also written to ``workdir/results.json``.
  """
  results = {}
  for phase in ORDER if config.phase == "all" else (config.phase,):
    phase_run = phase_config(config, phase)
    start = (lambda run=phase_run: joint_start(run, workdir)) if phase == "joint" else None
    results[phase] = train_and_evaluate(phase_run, os.path.join(workdir, phase), initial_params=start)
  if config.phase == "all":
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(
        {phase: {"test": r["test"], "best_epoch": r["best_epoch"]} for phase, r in results.items()}, f, indent=2
      )
  return results
