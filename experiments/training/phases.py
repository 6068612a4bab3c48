"""Training a planner with a mapper in three phases (the paper's appendix D.1).

1. ``mapper``: the mapper alone, binary cross-entropy against the true map, `pretrain_epochs`;
2. ``planner``: the planner alone on the true map, `pretrain_epochs`;
3. ``joint``: the planner's input switched to the mapper's map, both trained together on the
   planner's loss plus `map_loss_weight` × the mapper's, `epochs`; each seed starts from its
   best pretrained mapper and planner.

Or, as GPPN trains its visual-navigation mapper, one ``end_to_end`` phase: mapper and planner
from scratch, together, on the same joint loss, for `epochs`.

Each phase is an ordinary run (`loop.train_and_evaluate`) in its own subfolder of the workdir, so
it checkpoints and resumes like any run and can be run alone (``--phase``); ``all`` runs the three
in turn, skipping the training of a finished phase. The mapper's pretraining does not depend on the
planner: with ``mapper_from`` every planner's joint phase starts from one finished mapper run, and
``all`` runs only the other two phases. With ``planner_from`` the joint phase starts from another
run's pretrained planner too, so joint phases that differ only in their own settings (the loss's
weights, the optimiser) share both pretrainings.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
from absl import logging

import implicit_planning as ip
from experiments.training import checkpoints, data, model, parallel
from experiments.training.config import Config, ConfigError
from experiments.training.loop import train_and_evaluate

ORDER = ("mapper", "planner", "joint")


def phase_config(config: Config, phase: str) -> Config:
  """The config of one phase: its name, and `pretrain_epochs` or `epochs`; a late decay
  (``decay_epochs``) spans at most the phase."""
  joint = phase in ("joint", "end_to_end")
  epochs = config.epochs if joint else config.pretrain_epochs
  decay_epochs = min(config.decay_epochs, max(epochs - config.warmup_epochs, 0))
  return config.replace(phase=phase, epochs=epochs, decay_epochs=decay_epochs)


def best_params(config: Config, workdir: str, sample: data.DeviceSplit) -> Any:
  """Each seed's best parameters of the finished phase run ``config`` in ``workdir``.

  The checkpoint is read with the stored run's own optimiser settings, so a phase run under other
  ones (a joint phase with another RMSprop) can start from it.

  Raises:
    ConfigError: the phase has not been run there, or has not finished.
  """
  stored = checkpoints.read_config(workdir) if os.path.exists(checkpoints.config_path(workdir)) else None
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
  template = model.checkpoint_template(model.make_planner(config), stored, sample)
  return checkpoints.restore(mngr, template).params("best")


SHARED_FIELDS = {
  "mapper": ("task", "size", "mapper_width"),
  "planner": ("task", "size", "mapper", "planner", *ip.planners.OPTION_NAMES),
}
"""What a pretraining run given by ``mapper_from`` / ``planner_from`` must share with the run that
starts from it (and its dataset). A mapper run may have trained another mapper of the same
parameters (`check_same_mapper_parameters`)."""


def pretrained_run_config(config: Config, part: str) -> Config:
  """The config of the finished ``part`` ("mapper" or "planner") pretraining run that
  ``config.mapper_from`` / ``config.planner_from`` names, checked to fit ``config``.

  A mapper may come from another dataset of the task (a larger draw, say) whose training split
  holds none of this run's validation or test environments (`check_held_out_unseen`), and may
  have been trained as another mapper of the same parameters (a plain one for a run that reads
  it averaged over the image's mirrors: `check_same_mapper_parameters`); a planner must come from
  this run's data and be this run's planner.

  Raises:
    ConfigError: no run there, not a ``part`` run, other data (for a mapper: data holding this
      run's held-out environments), mapper (for a mapper run: one of other parameters) or
      planner, or a seed count that is neither 1 nor ``config.seeds``.
  """
  flag = f"{part}_from"
  source = getattr(config, flag)
  if not os.path.exists(checkpoints.config_path(source)):
    raise ConfigError(f"{flag}={source} holds no run: train one with --phase={part} first")
  stored = checkpoints.read_config(source)
  if stored.phase != part:
    raise ConfigError(f"{flag}={source} is a {stored.phase} run, not a {part} run (--phase={part})")
  differ = [
    f"{name}={getattr(stored, name)!r} (here {getattr(config, name)!r})"
    for name in SHARED_FIELDS[part]
    if getattr(stored, name) != getattr(config, name)
  ]
  if data.dataset_path(stored) != data.dataset_path(config):
    if part == "planner":
      differ.append(f"data={data.dataset_path(stored)!r} (here {data.dataset_path(config)!r})")
    else:
      check_held_out_unseen(config, stored, source)
  if differ:
    raise ConfigError(f"{flag}={source} was trained with other data or another {part}: {', '.join(differ)}")
  if stored.seeds not in (1, config.seeds):
    raise ConfigError(f"{flag}={source} has {stored.seeds} seeds; this run needs 1 (shared) or {config.seeds}")
  if part == "mapper" and stored.mapper != config.mapper:
    check_same_mapper_parameters(config, stored, source)
  return stored


def check_same_mapper_parameters(config: Config, mapper_run: Config, source: str) -> None:
  """Refuses a mapper run whose mapper has other parameters than ``config``'s mapper, which is to
  start from them (same parameters: the same trained field read another way).

  Raises:
    ConfigError: naming both mappers.
  """
  dataset = data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size)
  sample = data.to_device(dataset.val)
  joint = phase_config(config, "joint")
  ours, theirs = (
    model.parameter_shapes(run, sample)["mapper"] for run in (joint, joint.replace(mapper=mapper_run.mapper))
  )
  if ours != theirs:
    raise ConfigError(
      f"mapper_from={source} trained mapper {mapper_run.mapper}, whose parameters are not those of this run's "
      f"{config.mapper}"
    )


def check_held_out_unseen(config: Config, mapper_run: Config, source: str) -> None:
  """Refuses a mapper pretrained on another dataset whose training split holds environments of this
  run's validation or test split that this run's training split does not (its own training
  environments, an empty workspace say, the mapper may have seen too).

  Raises:
    ConfigError: naming how many held-out problems of each split the mapper saw.
  """
  ours, theirs = (
    data.load_checked(data.ensure_dataset(run), run.task, run.wrap, run.size) for run in (config, mapper_run)
  )
  seen = {split: count for split, count in data.held_out_seen_elsewhere(ours, theirs).items() if count}
  if seen:
    counts = ", ".join(f"{count} {split}" for split, count in seen.items())
    raise ConfigError(
      f"mapper_from={source} was trained on {theirs.path}, whose training split holds the environments of "
      f"{counts} problems of {ours.path} that its own training split does not: the mapper has seen them"
    )
  logging.info(
    "the mapper of %s was trained on %s, which holds no held-out environment of %s beyond its training ones",
    source,
    theirs.path,
    ours.path,
  )


def pretrained(config: Config, part: str, workdir: str, sample: data.DeviceSplit) -> Any:
  """Each seed's best pretrained ``part`` ("mapper" or "planner") parameters: from
  ``workdir/<part>``, or the run ``config.<part>_from`` names (a one-seed run's given to every seed)."""
  source = getattr(config, f"{part}_from")
  run = pretrained_run_config(config, part) if source else phase_config(config, part)
  params = best_params(run, source or os.path.join(workdir, part), sample)
  # A mapper run's parameters hold the mapper under "mapper"; a planner run's are the planner's.
  params = params["mapper"] if part == "mapper" else params
  return jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (config.seeds, *leaf.shape[1:])), params)


def joint_start(config: Config, workdir: str) -> dict[str, Any]:
  """The joint phase's first parameters: ``{"mapper", "planner"}`` from the two pretraining runs."""
  dataset = data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size)
  sample = data.to_device(dataset.val)
  return jax.tree.map(jnp.asarray, {part: pretrained(config, part, workdir, sample) for part in ("mapper", "planner")})


def phases(config: Config) -> tuple[str, ...]:
  """The phases ``config.phase`` names: ``all`` is the three in order, less the pretrainings that
  ``mapper_from`` / ``planner_from`` give."""
  if config.phase != "all":
    return (config.phase,)
  return tuple(phase for phase in ORDER if phase == "joint" or not getattr(config, f"{phase}_from"))


def train_phases(config: Config, workdir: str) -> dict[str, Any]:
  """Runs the phases ``config.phase`` names (`phases`) under ``workdir``.

  Returns:
    ``{phase: that run's results}``; their test scores are also written to
    ``workdir/results.json``, beside those of phases finished by earlier invocations.
  """
  for part in ("mapper", "planner"):
    if getattr(config, f"{part}_from"):
      pretrained_run_config(config, part)  # refuse a misfit before any training
  results = {}
  for phase in phases(config):
    phase_run = phase_config(config, phase)
    start = (lambda run=phase_run: joint_start(run, workdir)) if phase == "joint" else None
    results[phase] = train_and_evaluate(phase_run, os.path.join(workdir, phase), initial_params=start)
  path = os.path.join(workdir, "results.json")
  finished = {}
  if os.path.exists(path):
    with open(path) as f:
      finished = json.load(f)
  finished.update({phase: {"test": r["test"], "best_epoch": r["best_epoch"]} for phase, r in results.items()})
  if parallel.is_primary():
    with open(path, "w") as f:
      json.dump(finished, f, indent=2)
  return results
