"""The host loop: `train_and_evaluate(config, workdir)`, the library behind `experiments.train`.

One jitted step (`step.make_train_step`, after `step.make_draw_batches`) trains every seed at
once; a seed whose step goes non-finite is frozen there and recorded as diverged while the others
go on, and training stops only when no seed is left. Checkpoints are written at epoch boundaries,
so a run killed mid-epoch and re-run in the same workdir repeats that epoch exactly and ends with
the same parameters as an uninterrupted run.

The host waits for the device only every `config.log_every` steps (progress bar, divergence
check) and at the end of each epoch (validation, logs, checkpoint).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import tensorboardX
import tqdm
from absl import logging

from experiments.training import checkpoints, data, diagnostics, evaluation, figures, logs, model, parallel
from experiments.training.config import Config, ConfigError
from experiments.training.model import TrainState
from experiments.training.step import FINITE_CHECKS, epoch_permutations, make_draw_batches, make_train_step

VAL_FIELDS = ("optimal", "success", "accuracy", "map_accuracy", "obstacle_iou", "field_accuracy", "field_edge_accuracy")
"""Validation scores logged each epoch (those the model's output allows: `evaluation.evaluate_split`)."""


class TrainingDiverged(RuntimeError):
  """A non-finite loss, gradient or solver residual stopped training."""


class TrainingInterrupted(RuntimeError):
  """`config.stop_after_steps` was reached (a simulated kill)."""


def record_divergence(
  records: list[dict[str, np.ndarray]],
  first_step: int,
  epoch: int,
  steps_per_epoch: int,
  config: Config,
  diverged: list[dict[str, Any] | None],
  last_good_epoch: int,
  workdir: str,
) -> None:
  """Notes in `diverged` each seed whose step went non-finite (the train step froze it) and stops
  training once no seed is left.

  Args:
    records: host copies of consecutive step outputs ({name: [S]}, with "alive").
    first_step: index within the epoch of `records[0]`.
    epoch: 0-based epoch.
    steps_per_epoch: steps in one epoch.
    config: the run's config (seed numbering in messages).
    diverged: per seed, None while it trains, else where it stopped (epoch, step, global step,
      the quantities that were not finite); updated in place.
    last_good_epoch: epoch of the newest checkpoint (0: none).
    workdir: run directory (named in the message).

  Raises:
    TrainingDiverged: every seed has diverged; names the quantities, epoch, step, global step and seeds.
  """
  for offset, record in enumerate(records):
    stopped = [s for s in np.flatnonzero(~record["alive"]) if diverged[s] is None]
    if not stopped:
      continue
    step = first_step + offset
    where = {"epoch": epoch + 1, "step": step + 1, "global_step": epoch * steps_per_epoch + step + 1}
    for s in stopped:
      bad = [name for name in FINITE_CHECKS if name in record and not np.isfinite(record[name][s])]
      diverged[s] = {**where, "quantities": bad}
    quantities = sorted({name for s in stopped for name in diverged[s]["quantities"]}, key=list(FINITE_CHECKS).index)
    message = (
      f"non-finite {', '.join(FINITE_CHECKS[n] for n in quantities)} at epoch {where['epoch']}, step "
      f"{where['step']}/{steps_per_epoch} (global step {where['global_step']}), "
      f"seed(s) {[config.seed + int(s) for s in stopped]}"
    )
    if all(d is not None for d in diverged):
      kept = (
        f"the last good checkpoint (epoch {last_good_epoch}) in {os.path.join(workdir, 'checkpoints')} is kept"
        if last_good_epoch
        else "no checkpoint was written"
      )
      raise TrainingDiverged(f"training stopped: {message}; no seed is left; {kept}")
    logging.warning(
      "%s: %s; that seed stops training (its parameters stay those of its last finite step)", workdir, message
    )


def test_text(summary: dict[str, Any]) -> str:
  """The headline scores of an `evaluation.evaluate_split` summary, mean ± std over seeds."""
  names = {
    "optimal": "%Optimal",
    "success": "%Success",
    "map_accuracy": "map %accuracy",
    "obstacle_iou": "obstacle %IoU",
    "field_accuracy": "field %points right",
    "field_edge_accuracy": "near edges",
  }
  text = ", ".join(
    f"{label} {summary[name]['mean']:.2f} ± {summary[name]['std']:.2f}"
    for name, label in names.items()
    if name in summary
  )
  if "true_map" in summary:
    true_map = summary["true_map"]["success"]
    text += f" (on the true maps: %Success {true_map['mean']:.2f} ± {true_map['std']:.2f})"
  return text


def summarize_epoch(records: list[dict[str, np.ndarray]]) -> dict[str, float]:
  """Epoch means over steps and the seeds alive at each step (maxima for the `*_max` fields), and
  the number of seeds alive at the end (`seeds_alive`)."""
  alive = np.stack([r["alive"] for r in records])  # [steps, S]
  summary = {}
  for name in records[0]:
    if name == "alive":
      continue
    values = np.where(alive, np.stack([r[name] for r in records]), np.nan)
    summary[name] = float(np.nanmax(values) if name.endswith("_max") else np.nanmean(values))
  summary["seeds_alive"] = int(alive[-1].sum())
  return summary


def _truncate_log(path: str, last_epoch: int) -> None:
  """Drops `metrics.jsonl` (or `steps.jsonl`) lines of epochs after `last_epoch` (left by a killed run)."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = [line for line in f if line.strip() and json.loads(line)["epoch"] <= last_epoch]
  with open(path, "w") as f:
    f.writelines(lines)


class EpochTiming(NamedTuple):
  """Wall time of an epoch's training steps.

  Attributes:
    seconds: time of the `steps` timed steps.
    steps: steps timed (all but the first when it compiled).
    compile_s: time of the compiling first step, or None.
  """

  seconds: float
  steps: int
  compile_s: float | None


def _train_epoch(
  draw_batches,
  train_step,
  state: TrainState,
  alive: jax.Array,
  train: data.DeviceSplit,
  permutations,
  epoch: int,
  steps_per_epoch: int,
  config: Config,
  diverged: list[dict[str, Any] | None],
  last_good_epoch: int,
  workdir: str,
  bar: tqdm.tqdm,
  time_compile: bool,
) -> tuple[TrainState, jax.Array, list[dict[str, np.ndarray]], EpochTiming]:
  """Runs the steps of one epoch; syncs with the device every `config.log_every` steps.

  `alive` [S] (on the device) and `diverged` (per seed, on the host; updated in place) say which
  seeds still train (`step.make_train_step`, `record_divergence`).

  Returns:
    (state and `alive` after the epoch, host copies of every step's outputs with "alive", timing).

  Raises:
    TrainingDiverged: see `record_divergence`.
    TrainingInterrupted: `config.stop_after_steps` reached during the epoch.
  """
  start, timed_steps, compile_s = time.time(), steps_per_epoch, None
  perms = permutations(state.key, jnp.int32(epoch), data.num_maps(train))
  records: list[dict[str, np.ndarray]] = []
  pending: list[Any] = []
  for step in range(steps_per_epoch):
    batches = draw_batches(train, perms, jnp.int32(step))
    state, alive, out = train_step(state, alive, batches, jnp.int32(epoch), jnp.int32(step))
    if time_compile and step == 0 and steps_per_epoch > 1:
      # The first step of the process compiles; it is timed apart from the step time.
      jax.block_until_ready(out)
      compile_s = time.time() - start
      start, timed_steps = time.time(), steps_per_epoch - 1
    pending.append({**out, "alive": alive})
    if len(pending) == config.log_every or step == steps_per_epoch - 1:
      host = jax.device_get(pending)
      record_divergence(host, step + 1 - len(host), epoch, steps_per_epoch, config, diverged, last_good_epoch, workdir)
      records += host
      bar.update(len(host))
      bar.set_postfix(loss=f"{float(np.mean(host[-1]['loss'][host[-1]['alive']])):.3f}")
      pending = []
    global_step = epoch * steps_per_epoch + step + 1
    if global_step == config.stop_after_steps:
      raise TrainingInterrupted(f"stopped after global step {global_step} (config.stop_after_steps)")
  return state, alive, records, EpochTiming(time.time() - start, timed_steps, compile_s)


@jax.jit
def keep_improved(improved: jax.Array, params: Any, best_params: Any) -> Any:
  """Each seed's slice of `params` where it `improved` (``[seeds]`` bools), else of `best_params`."""

  def select(new: jax.Array, old: jax.Array) -> jax.Array:
    return jnp.where(improved.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)

  return jax.tree.map(select, params, best_params)


def train_and_evaluate(config: Config, workdir: str, initial_params: Callable[[], Any] | None = None) -> dict[str, Any]:
  """Trains (or resumes) the configured run in `workdir`, then tests each seed's best parameters.

  Re-running with the same config resumes from the latest checkpoint; a workdir made with a
  different config (outside `config.resume_free_fields`) is refused.

  Args:
    config: what to train; `config.data == ""` generates the dataset (once).
    workdir: run directory (layout in `checkpoints`).
    initial_params: called when the run starts afresh (no checkpoint), it gives the parameters
      (leading seed axis) to start from instead of random ones: a mapper run's joint phase.

  Returns:
    The contents of `workdir/results.json`: config, each seed's best epoch and its validation
    %Success, where each seed diverged (`diverged`: None, or the epoch and step at which its
    training stopped while the other seeds went on), test scores of each seed's best parameters
    (mean ± std over seeds), this invocation's wall time (`wall_time_s`; a resumed run counts
    only its own part, while the log's ``elapsed_s`` counts every invocation's) and the compile time.

  Raises:
    ConfigError: the training split is smaller than one batch.
    checkpoints.ConfigMismatchError: `workdir` holds a run with another config.
    data.DataMismatchError: the dataset does not fit the config.
    TrainingDiverged: non-finite loss, gradient or solver residual in every seed.
    TrainingInterrupted: `config.stop_after_steps` reached.
  """
  start_time = time.time()
  if config.num_train < config.batch_size and not config.data:
    raise ConfigError(f"num_train={config.num_train} is smaller than one batch ({config.batch_size})")
  planner = model.make_planner(config)
  requested = config
  config = config.replace(data=data.dataset_path(config))
  primary = parallel.is_primary()
  if primary:
    checkpoints.write_or_check_config(workdir, config)
    data.ensure_dataset(requested)
  parallel.barrier(f"{workdir}: config and dataset")
  if not primary:  # checks the config the first process wrote; reads the dataset it made
    checkpoints.write_or_check_config(workdir, config)
  dataset = data.load_checked(config.data, config.task, config.wrap, config.size)
  model.check_observation_fits(config, dataset.meta, config.data)
  data.check_polygons(config, dataset)
  mesh = parallel.batch_mesh(config.devices, config.batch_size)
  train, val, test = (parallel.replicate(data.to_device(s), mesh) for s in (dataset.train, dataset.val, dataset.test))
  steps_per_epoch = data.num_maps(train) // config.batch_size
  if steps_per_epoch == 0:
    raise ConfigError(
      f"{config.data}: {data.num_maps(train)} training maps, fewer than one batch ({config.batch_size})"
    )
  optimizer = model.make_optimizer(config, steps_per_epoch)
  state = model.init_state(planner, optimizer, config, train)
  mngr = checkpoints.manager(workdir)
  meta = {
    "epoch": 0,
    "global_step": 0,
    "best_epoch": [0] * config.seeds,
    "best_val_success": [-1.0] * config.seeds,
    "diverged": [None] * config.seeds,
    "elapsed_s": 0.0,  # wall time of the epochs kept, over every invocation
  }
  best_params = state.params
  if mngr.latest_step() is not None:
    state, best_params, restored = checkpoints.restore(mngr, state)
    meta = {**meta, **restored}  # checkpoints from before per-seed divergence have no "diverged"
    logging.info("Resuming %s from epoch %d", workdir, meta["epoch"])
  elif initial_params is not None:
    state = model.start_from(initial_params(), optimizer, state)
    best_params = state.params
  elapsed_before = meta["elapsed_s"]  # 0 when fresh, or from a checkpoint written before it was kept
  # Orbax restores arrays committed to a device; commit a fresh state too, so that a resumed run
  # calls the same compiled step (and hits the persistent compilation cache) as a fresh one.
  alive = np.array([d is None for d in meta["diverged"]])
  state, best_params, alive = parallel.replicate((state, best_params, alive), mesh)
  select = "success" if config.plans else "map_accuracy"  # what picks each seed's best epoch
  metrics_path, steps_path = os.path.join(workdir, "metrics.jsonl"), os.path.join(workdir, "steps.jsonl")
  if primary:
    _truncate_log(metrics_path, meta["epoch"])
    _truncate_log(steps_path, meta["epoch"])

  draw_batches = make_draw_batches(planner, config, parallel.seed_batch_sharding(mesh))
  train_step = make_train_step(planner, optimizer, config)
  permutations = jax.jit(epoch_permutations, static_argnums=2)
  eval_fn = evaluation.make_eval_fn(
    planner, config.wrap, config.seed_batch, model.true_map_planner(config), model.field_extent(config)
  )
  render = data.observes_views(planner.inputs)
  diagnose = diagnostics.make_diagnose(planner, val, config)
  writer = tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard")) if primary else None
  bar = tqdm.tqdm(
    total=config.epochs * steps_per_epoch,
    initial=meta["epoch"] * steps_per_epoch,
    desc=f"{config.planner if config.plans else config.mapper} {config.task} {config.size}x{config.size}",
    unit="step",
    dynamic_ncols=True,
    disable=not primary,
  )
  compile_time = None
  try:
    for epoch in range(meta["epoch"], config.epochs):
      epoch_start = time.time()
      state, alive, records, timing = _train_epoch(
        draw_batches,
        train_step,
        state,
        alive,
        train,
        permutations,
        epoch,
        steps_per_epoch,
        config,
        meta["diverged"],
        meta["epoch"],
        workdir,
        bar,
        compile_time is None,
      )
      compile_time = compile_time if timing.compile_s is None else timing.compile_s
      val_start = time.time()
      val_summary = evaluation.evaluate_split(eval_fn, state.params, val, config.eval_batch_size, render)
      record = {
        "epoch": epoch + 1,
        "global_step": (epoch + 1) * steps_per_epoch,
        **summarize_epoch(records),
        **{f"val_{name}": val_summary[name]["mean"] for name in VAL_FIELDS if name in val_summary},
        **{f"val_{name}_per_seed": val_summary[name]["per_seed"] for name in VAL_FIELDS if name in val_summary},
        "step_time_s": timing.seconds / timing.steps,
        "examples_per_s": timing.steps * config.batch_size * config.seeds / timing.seconds,
        "val_time_s": time.time() - val_start,
        "epoch_time_s": time.time() - epoch_start,
        "elapsed_s": elapsed_before + time.time() - start_time,
      }
      if config.diagnose_every and (epoch + 1) % config.diagnose_every == 0:
        record.update(diagnose(state.params))
      improved = np.asarray(val_summary[select]["per_seed"]) > np.asarray(meta["best_val_success"])
      best_params = keep_improved(improved, state.params, best_params)
      meta.update(
        epoch=epoch + 1,
        global_step=record["global_step"],
        elapsed_s=record["elapsed_s"],
        best_epoch=np.where(improved, epoch + 1, meta["best_epoch"]).tolist(),
        best_val_success=np.where(improved, val_summary[select]["per_seed"], meta["best_val_success"]).tolist(),
      )
      # Log first: a kill between the two leaves a line that resuming truncates and redoes.
      if primary:
        logs.log_epoch(record, config, planner.spec.implicit, writer, metrics_path)
        if config.trace_steps:
          logs.log_steps(records, epoch + 1, steps_path)
      checkpoints.save(mngr, epoch + 1, checkpoints.Checkpoint(state, best_params, meta))
  finally:
    bar.close()
    if writer:
      writer.close()

  test_summary = evaluation.evaluate_split(eval_fn, best_params, test, config.eval_batch_size, render)
  results = {
    "config": config.to_dict(),
    "best_epoch": meta["best_epoch"],
    "selection_metric": select,
    "best_val_success": meta["best_val_success"],
    "diverged": meta["diverged"],
    "test": test_summary,
    "epochs": meta["epoch"],
    "wall_time_s": time.time() - start_time,
    "compile_time_s": compile_time,
    "hardware": logs.hardware(),
  }
  if primary:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
    figures.training_curve(metrics_path, os.path.join(workdir, "training_curve.png"))
  parallel.barrier(f"{workdir}: results")
  logging.info("Test (best epochs %s): %s over %d seed(s)", meta["best_epoch"], test_text(test_summary), config.seeds)
  for s, where in enumerate(meta["diverged"]):
    if where is not None:
      logging.warning(
        "seed %d diverged at epoch %d, step %d: its test scores are its best epoch's (%d)",
        config.seed + s,
        where["epoch"],
        where["step"],
        meta["best_epoch"][s],
      )
  return results
