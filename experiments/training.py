"""Training loop: `train_and_evaluate(config, workdir)`, the library behind `experiments.train`.

One jitted step trains every seed at once (vmap over the leading seed axis of the state). The
dataset lives on the device; each step gathers its batch inside the jitted step from the
epoch's permutation, which — like the label draws — is a pure function of (seed, epoch, step).
Checkpoints are written at epoch boundaries, so a run killed mid-epoch and re-run in the same
workdir repeats that epoch exactly and ends with the same parameters as an uninterrupted run.

The host waits for the device only every `config.log_every` steps (progress bar, non-finite
check) and at the end of each epoch (validation, logs, checkpoint).
"""

from __future__ import annotations

import json
import logging as std_logging
import os
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorboardX
import tqdm
from absl import logging

import implicit_planning as ip
from implicit_planning.grad_check import implicit_gradient_error
from experiments import checkpoints, data, evaluation, model, plots
from experiments.configs import TASK_WRAP, Config
from experiments.model import LABEL_STREAM, PERMUTATION_STREAM, TrainState
from implicit_planning import metrics

SOLVERS = ("iteration", "anderson")
LABELS = ("one", "set")

# Per-step quantities that must stay finite, and how a stop message names them.
FINITE_CHECKS = {
    "loss": "loss",
    "grad_norm": "gradient norm",
    "fwd_residual_max": "forward-solve residual (the forward solve diverged)",
    "bwd_residual_max": "backward-solve residual (the backward solve diverged)",
}


class ConfigError(ValueError):
  """An unknown name or an impossible size in the config."""


class TrainingDiverged(RuntimeError):
  """A non-finite loss, gradient or solver residual stopped training."""


class TrainingInterrupted(RuntimeError):
  """`config.stop_after_steps` was reached (a simulated kill)."""


def validate(config: Config) -> None:
  """Checks names and sizes before any work is done.

  Raises:
    ConfigError: unknown planner (lists `implicit_planning.PLANNERS`), task, solver or label
      mode, or a training split smaller than one batch.
  """
  choices = {"planner": (config.planner, ip.PLANNERS), "task": (config.task, tuple(TASK_WRAP)),
             "forward_solver": (config.forward_solver, SOLVERS),
             "backward_solver": (config.backward_solver, SOLVERS),
             "label": (config.label, LABELS)}
  for name, (value, known) in choices.items():
    if value not in known:
      raise ConfigError(f"unknown {name} {value!r}; known: {', '.join(known)}")
  if config.num_train < config.batch_size and not config.data:
    raise ConfigError(f"num_train={config.num_train} is smaller than one batch "
                     f"({config.batch_size})")


def sample_labels(key: jax.Array, opt_actions: jax.Array) -> jax.Array:
  """One optimal action per cell, uniformly among the optimal ones.

  Args:
    key: PRNG key.
    opt_actions: [B, 4, H, W] bool optimal-action sets.

  Returns:
    [B, H, W] int32 labels (0 where a cell has no optimal action; such cells are masked).
  """
  noise = jax.random.gumbel(key, opt_actions.shape)
  return jnp.argmax(jnp.where(opt_actions, noise, -jnp.inf), axis=1).astype(jnp.int32)


def cell_loss(logits: jax.Array, opt_actions: jax.Array, labels: jax.Array,
              label_mode: str) -> jax.Array:
  """Mean over the batch's labelled cells of the action cross-entropy.

  Labelled cells are those with an optimal action: free, reachable and not the goal.

  Args:
    logits: [B, 4, H, W] action scores.
    opt_actions: [B, 4, H, W] bool optimal-action sets.
    labels: [B, H, W] int32 one optimal action per cell (used when `label_mode == "one"`).
    label_mode: "one": -log p(label); "set": -log sum_{a optimal} p(a).
  """
  log_p = jax.nn.log_softmax(logits, axis=1)
  if label_mode == "one":
    per_cell = -jnp.take_along_axis(log_p, labels[:, None], axis=1)[:, 0]
  else:
    per_cell = -jax.nn.logsumexp(jnp.where(opt_actions, log_p, -jnp.inf), axis=1)
  labelled = opt_actions.any(axis=1)
  return jnp.sum(jnp.where(labelled, per_cell, 0.0)) / jnp.maximum(labelled.sum(), 1)


def epoch_permutations(keys: jax.Array, epoch: jax.Array, num_maps: int) -> jax.Array:
  """[S, num_maps] order in which each seed visits the training maps in `epoch`."""

  def one_seed(key):
    key = jax.random.fold_in(jax.random.fold_in(key, PERMUTATION_STREAM), epoch)
    return jax.random.permutation(key, num_maps)

  return jax.vmap(one_seed)(keys)


def make_train_step(planner, optimizer: optax.GradientTransformation, config: Config):
  """Jitted `(state, train, perms, epoch, step) -> (state, {name: [S] array})`.

  `train` is the training `DeviceSplit`, `perms` [S, N] this epoch's permutations, `epoch` and
  `step` int32 scalars (traced: one compilation for the whole run). Reported per seed: loss,
  gradient norm (before clipping), forward/backward solver iterations and last residuals
  (mean and max over the batch), and the greedy policy's %Optimal/%Success/%Accuracy on the
  batch (params before the update).
  """
  batch_size, wrap, label_mode = config.batch_size, config.wrap, config.label

  def one_seed(params, opt_state, key, perm, train, epoch, step):
    index = jax.lax.dynamic_slice(perm, (step * batch_size,), (batch_size,))
    maps, goals, dist, opt_actions = (x[index] for x in train)
    label_key = jax.random.fold_in(
        jax.random.fold_in(jax.random.fold_in(key, LABEL_STREAM), epoch), step)
    labels = sample_labels(label_key, opt_actions)

    def loss_fn(params, probe):
      logits, _, stats = planner.apply(params, maps, goals, probe=probe)
      return cell_loss(logits, opt_actions, labels, label_mode), (logits, stats.forward)

    (loss, (logits, forward)), (grads, backward) = jax.value_and_grad(
        loss_fn, argnums=(0, 1), has_aux=True)(params, ip.backward_probe(batch_size))
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    policy = metrics.policy_metrics(metrics.greedy_actions(logits), dist, goals, wrap)
    out = {"loss": loss, "grad_norm": optax.tree.norm(grads),
           "train_optimal": jnp.nanmean(policy.optimal),
           "train_success": jnp.nanmean(policy.success),
           "train_accuracy": jnp.nanmean(policy.accuracy)}
    for prefix, stats in (("fwd", forward), ("bwd", backward)):
      for field in ("iterations", "residual"):
        value = jnp.asarray(getattr(stats, field), jnp.float32)
        out[f"{prefix}_{field}_mean"] = jnp.mean(value)
        out[f"{prefix}_{field}_max"] = jnp.max(value)
    return params, opt_state, out

  seeds_step = model.over_seeds(one_seed, in_axes=(0, 0, 0, 0, None, None, None))

  @jax.jit
  def train_step(state: TrainState, train: data.DeviceSplit, perms, epoch, step):
    params, opt_state, out = seeds_step(state.params, state.opt_state, state.key, perms, train,
                                        epoch, step)
    return TrainState(params, opt_state, state.key), out

  return train_step


def check_finite(records: list[dict[str, np.ndarray]], first_step: int, epoch: int,
                 steps_per_epoch: int, config: Config, last_good_epoch: int,
                 workdir: str) -> None:
  """Stops training at the first step whose loss, gradient or residuals are not finite.

  Args:
    records: host copies of consecutive step outputs ({name: [S]}).
    first_step: index within the epoch of `records[0]`.
    epoch: 0-based epoch.
    steps_per_epoch: steps in one epoch.
    config: the run's config (seed numbering in the message).
    last_good_epoch: epoch of the newest checkpoint (0: none).
    workdir: run directory (named in the message).

  Raises:
    TrainingDiverged: naming the quantities, epoch, step, global step and seed.
  """
  for offset, record in enumerate(records):
    bad = {name: np.flatnonzero(~np.isfinite(record[name])) for name in FINITE_CHECKS}
    bad = {name: seeds for name, seeds in bad.items() if seeds.size}
    if bad:
      step = first_step + offset
      seeds = sorted({config.seed + int(s) for found in bad.values() for s in found})
      kept = (f"the last good checkpoint (epoch {last_good_epoch}) in "
              f"{os.path.join(workdir, 'checkpoints')} is kept" if last_good_epoch
              else "no checkpoint was written")
      raise TrainingDiverged(
          f"training stopped: non-finite {', '.join(FINITE_CHECKS[n] for n in bad)} at epoch "
          f"{epoch + 1}, step {step + 1}/{steps_per_epoch} (global step "
          f"{epoch * steps_per_epoch + step + 1}), seed(s) {seeds}; {kept}")


def summarize_epoch(records: list[dict[str, np.ndarray]]) -> dict[str, float]:
  """Epoch means over steps and seeds (maxima for the `*_max` fields)."""
  summary = {}
  for name in records[0]:
    values = np.stack([r[name] for r in records])  # [steps, S]
    summary[name] = float(values.max() if name.endswith("_max") else values.mean())
  return summary


def _truncate_log(path: str, last_epoch: int) -> None:
  """Drops `metrics.jsonl` lines of epochs after `last_epoch` (left by a killed run)."""
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


def _train_epoch(train_step, state: TrainState, train: data.DeviceSplit, permutations,
                 epoch: int, steps_per_epoch: int, config: Config, last_good_epoch: int,
                 workdir: str, bar: tqdm.tqdm,
                 time_compile: bool) -> tuple[TrainState, list[dict[str, np.ndarray]],
                                              EpochTiming]:
  """Runs the steps of one epoch; syncs with the device every `config.log_every` steps.

  Returns:
    (state after the epoch, host copies of every step's outputs, timing).

  Raises:
    TrainingDiverged: see `check_finite`.
    TrainingInterrupted: `config.stop_after_steps` reached during the epoch.
  """
  start, timed_steps, compile_s = time.time(), steps_per_epoch, None
  perms = permutations(state.key, jnp.int32(epoch), train.num_maps)
  records: list[dict[str, np.ndarray]] = []
  pending: list[Any] = []
  for step in range(steps_per_epoch):
    state, out = train_step(state, train, perms, jnp.int32(epoch), jnp.int32(step))
    if time_compile and step == 0 and steps_per_epoch > 1:
      # The first step of the process compiles; it is timed apart from the step time.
      jax.block_until_ready(out)
      compile_s = time.time() - start
      start, timed_steps = time.time(), steps_per_epoch - 1
    pending.append(out)
    if len(pending) == config.log_every or step == steps_per_epoch - 1:
      host = jax.device_get(pending)
      check_finite(host, step + 1 - len(host), epoch, steps_per_epoch, config,
                   last_good_epoch, workdir)
      records += host
      bar.update(len(host))
      bar.set_postfix(loss=f"{float(np.mean(host[-1]['loss'])):.3f}")
      pending = []
    global_step = epoch * steps_per_epoch + step + 1
    if global_step == config.stop_after_steps:
      raise TrainingInterrupted(f"stopped after global step {global_step} "
                                "(config.stop_after_steps)")
  return state, records, EpochTiming(time.time() - start, timed_steps, compile_s)


def train_and_evaluate(config: Config, workdir: str) -> dict[str, Any]:
  """Trains (or resumes) the configured run in `workdir`, then tests its best checkpoint.

  Re-running with the same config resumes from the latest checkpoint; a workdir made with a
  different config (outside `configs.RESUME_FREE_FIELDS`) is refused.

  Args:
    config: what to train; `config.data == ""` generates the dataset (once).
    workdir: run directory (layout in `experiments.checkpoints`).

  Returns:
    The contents of `workdir/results.json`: config, best epoch and its validation %Success,
    test scores of the best checkpoint (mean ± std over seeds), this invocation's wall time
    (`wall_time_s`; a resumed run counts only its own part) and the compile time.

  Raises:
    ConfigError: invalid config (see `validate`).
    checkpoints.ConfigMismatchError: `workdir` holds a run with another config.
    data.DataMismatchError: the dataset does not fit the config.
    TrainingDiverged: non-finite loss, gradient or solver residual.
    TrainingInterrupted: `config.stop_after_steps` reached.
  """
  start_time = time.time()
  validate(config)
  planner = model.make_planner(config)
  requested = config
  config = config.replace(data=data.dataset_path(config))
  checkpoints.write_or_check_config(workdir, config)
  data.ensure_dataset(requested)
  dataset = data.load_checked(config.data, config.task, config.wrap, config.size)
  train, val, test = (data.to_device(s) for s in (dataset.train, dataset.val, dataset.test))
  steps_per_epoch = train.num_maps // config.batch_size
  if steps_per_epoch == 0:
    raise ConfigError(f"{config.data}: {train.num_maps} training maps, fewer than one batch "
                     f"({config.batch_size})")
  optimizer = model.make_optimizer(config)
  state = model.init_state(planner, optimizer, config, train)
  mngr = checkpoints.manager(workdir)
  meta = {"epoch": 0, "global_step": 0, "best_val_success": -1.0, "best_epoch": 0}
  if mngr.latest_step() is not None:
    state, meta = checkpoints.restore(mngr, state, "latest")
    logging.info("Resuming %s from epoch %d", workdir, meta["epoch"])
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  _truncate_log(metrics_path, meta["epoch"])

  train_step = make_train_step(planner, optimizer, config)
  permutations = jax.jit(epoch_permutations, static_argnums=2)
  eval_fn = evaluation.make_eval_fn(planner, config.wrap)
  writer = tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard"))
  bar = tqdm.tqdm(total=config.epochs * steps_per_epoch, initial=meta["epoch"] * steps_per_epoch,
                  desc=f"{config.planner} {config.task} {config.size}x{config.size}",
                  unit="step", dynamic_ncols=True)
  compile_time = None
  try:
    for epoch in range(meta["epoch"], config.epochs):
      epoch_start = time.time()
      state, records, timing = _train_epoch(train_step, state, train, permutations, epoch,
                                            steps_per_epoch, config, meta["epoch"], workdir,
                                            bar, compile_time is None)
      compile_time = compile_time if timing.compile_s is None else timing.compile_s
      val_start = time.time()
      val_summary = evaluation.evaluate_split(eval_fn, state.params, val, config.eval_batch_size)
      record = {"epoch": epoch + 1, "global_step": (epoch + 1) * steps_per_epoch,
                **summarize_epoch(records),
                **{f"val_{name}": val_summary[name]["mean"]
                   for name in ("optimal", "success", "accuracy")},
                "val_success_per_seed": val_summary["success"]["per_seed"],
                "step_time_s": timing.seconds / timing.steps,
                "examples_per_s": timing.steps * config.batch_size * config.seeds / timing.seconds,
                "val_time_s": time.time() - val_start,
                "epoch_time_s": time.time() - epoch_start,
                "elapsed_s": time.time() - start_time}
      if config.grad_check_every and (epoch + 1) % config.grad_check_every == 0:
        record.update(gradient_check(planner, state.params, val, config))
      if record["val_success"] > meta["best_val_success"]:
        meta.update(best_val_success=record["val_success"], best_epoch=epoch + 1)
      meta.update(epoch=epoch + 1, global_step=record["global_step"])
      # Log first: a kill between the two leaves a line that resuming truncates and redoes.
      _log_epoch(record, config, isinstance(planner.mode, ip.Implicit), writer, metrics_path)
      checkpoints.save(mngr, epoch + 1, state, meta, record["val_success"])
  finally:
    bar.close()
    writer.close()

  best = checkpoints.restore(mngr, state, "best")
  test_summary = evaluation.evaluate_split(eval_fn, best.state.params, test,
                                           config.eval_batch_size)
  results = {"config": config.to_dict(), "best_epoch": best.meta["epoch"],
             "best_val_success": meta["best_val_success"], "test": test_summary,
             "epochs": meta["epoch"], "wall_time_s": time.time() - start_time,
             "compile_time_s": compile_time,
             "hardware": _hardware()}
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
  plots.training_curve(metrics_path, os.path.join(workdir, "training_curve.png"))
  logging.info("Test (best epoch %d): %%Optimal %.2f ± %.2f, %%Success %.2f ± %.2f over %d "
               "seed(s)", best.meta["epoch"], test_summary["optimal"]["mean"],
               test_summary["optimal"]["std"], test_summary["success"]["mean"],
               test_summary["success"]["std"], config.seeds)
  return results


def gradient_check(planner, params: Any, split: data.DeviceSplit, config: Config) -> dict[str, float]:
  """How far seed 0's implicit gradient is from a converged one, on the first batch of `split`.

  Uses the set loss (no label draw), so the check is a function of the weights alone. Explicit
  planners back-propagate exactly: nothing to check, nothing logged.
  """
  if not isinstance(planner.mode, ip.Implicit):
    return {}
  batch = slice(0, config.batch_size)
  opt_actions = split.opt_actions[batch]
  no_labels = jnp.zeros(opt_actions.shape[:1] + opt_actions.shape[2:], jnp.int32)
  report = implicit_gradient_error(
      planner, jax.tree.map(lambda leaf: leaf[0], params), split.maps[batch], split.goals[batch],
      lambda logits: cell_loss(logits, opt_actions, no_labels, "set"))
  logging.info("implicit gradient vs converged backward solve: relative error %.2e, cosine %.4f "
               "(%s, K_bwd %d, residual %.1e)", report["relative_error"], report["cosine"],
               report["backward_solver"], report["k_bwd"], report["backward_residual"])
  return {"grad_relative_error": report["relative_error"], "grad_cosine": report["cosine"]}


def _log_epoch(record: dict[str, Any], config: Config, implicit: bool,
               writer: tensorboardX.SummaryWriter, metrics_path: str) -> None:
  """One epoch's record to absl logging, TensorBoard and `metrics.jsonl`."""
  r = record
  solves = ["fwd", "bwd"] if implicit else ["fwd"]  # explicit planners have no backward solve
  solver_text = "  ".join(
      f"{p} iters {r[f'{p}_iterations_mean']:.1f} (max {r[f'{p}_iterations_max']:.0f}) res "
      f"{r[f'{p}_residual_mean']:.2e} (max {r[f'{p}_residual_max']:.2e})" for p in solves)
  logging.info(
      "epoch %d/%d  loss %.4f  train %%Opt %.1f %%Succ %.1f  val %%Opt %.1f %%Succ %.1f  %s  "
      "%.3f s/step  %.0f ex/s", r["epoch"], config.epochs, r["loss"], r["train_optimal"],
      r["train_success"], r["val_optimal"], r["val_success"], solver_text, r["step_time_s"],
      r["examples_per_s"])
  for name, value in record.items():
    if name not in ("epoch", "global_step") and np.isscalar(value):
      writer.add_scalar(name, value, record["epoch"])
  writer.flush()
  with open(metrics_path, "a") as f:
    f.write(json.dumps(record) + "\n")


class _DropLibraryInfo(std_logging.Filter):
  """Drops INFO (and lower) records logged from inside orbax: one per file written or read."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno > std_logging.INFO or f"{os.sep}orbax{os.sep}" not in record.pathname


USER_ERRORS = (ConfigError, checkpoints.ConfigMismatchError, data.DataMismatchError,
               FileNotFoundError, TrainingDiverged)
"""Errors the binaries report as one message (no traceback): the user can act on them."""


def quiet_library_logs() -> None:
  """Keeps orbax's per-file INFO messages out of the training log (warnings still show)."""
  std_logging.getLogger("absl").addFilter(_DropLibraryInfo())


def _hardware() -> str:
  """Device and CPU count, for results tables."""
  device = jax.devices()[0]
  return f"{device.platform}:{device.device_kind} ({os.cpu_count()} CPU cores)"
