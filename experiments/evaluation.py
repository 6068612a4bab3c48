"""Evaluating trained planners: exact policy metrics on a whole split, and whole runs.

Scores are computed per seed (the planners' params carry a leading seed axis) and reported as
mean ± std over seeds (population std, ddof = 0), as the paper's tables do.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from experiments import checkpoints, data, model
from implicit_planning import metrics

EvalFn = Callable[[Any, jax.Array, jax.Array, jax.Array], tuple[metrics.PolicyMetrics, Any]]


def make_eval_fn(planner, wrap: bool) -> EvalFn:
  """Jitted `(params [S], maps, goals, dist [B, ...]) -> (PolicyMetrics, forward SolveStats)`.

  Every output field has shape [S, B].
  """

  def one_seed(params, maps, goals, dist):
    logits, _, stats = planner.apply(params, maps, goals)
    return metrics.policy_metrics(metrics.greedy_actions(logits), dist, goals, wrap), stats.forward

  return jax.jit(model.over_seeds(one_seed, in_axes=(0, None, None, None)))


def evaluate_split(eval_fn: EvalFn, params: Any, split: data.DeviceSplit,
                   batch_size: int) -> dict[str, Any]:
  """Exact metrics of every seed's greedy policy on every map of `split`.

  The split is cut into batches of `batch_size` maps; the last batch is filled up with maps
  from the start of the split (one compiled shape) and the fill-up is dropped.

  Returns:
    For "optimal", "success", "accuracy": {"mean", "std", "per_seed"} (%, averaged over the
    maps that have counted cells); "maps", "skipped_maps" (maps without counted cells);
    forward-solve "fwd_iterations_mean", "fwd_iterations_max", "fwd_residual_mean",
    "fwd_residual_max" over maps and seeds.
  """
  num_maps = split.num_maps
  per_map, solves = [], []
  for start in range(0, num_maps, batch_size):
    index = jnp.arange(start, start + batch_size) % num_maps
    result = eval_fn(params, split.maps[index], split.goals[index], split.dist[index])
    keep = min(batch_size, num_maps - start)
    per_map.append(jax.tree.map(lambda x: x[:, :keep], result[0]))
    solves.append(jax.tree.map(lambda x: x[:, :keep], result[1]))
  per_map, solves = jax.device_get((per_map, solves))
  per_map = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *per_map)
  solves = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *solves)
  per_seed = [metrics.aggregate(jax.tree.map(lambda x: x[s], per_map))
              for s in range(per_map.num_cells.shape[0])]
  summary: dict[str, Any] = {
      name: {"mean": float(np.mean([r[name] for r in per_seed])),
             "std": float(np.std([r[name] for r in per_seed])),
             "per_seed": [r[name] for r in per_seed]}
      for name in ("optimal", "success", "accuracy")
  }
  summary["maps"] = per_seed[0]["maps"]
  summary["skipped_maps"] = per_seed[0]["skipped_maps"]
  summary["fwd_iterations_mean"] = float(np.mean(solves.iterations))
  summary["fwd_iterations_max"] = int(np.max(solves.iterations))
  summary["fwd_residual_mean"] = float(np.mean(solves.residual))
  summary["fwd_residual_max"] = float(np.max(solves.residual))
  return summary


def evaluate_run(workdir: str, split: str = "test", data_path: str = "",
                 k_fwd: int | None = None, which: str = "best",
                 write: bool = True) -> dict[str, Any]:
  """Evaluates a run's checkpoint on a dataset split and writes `eval_<split>.json`.

  Args:
    workdir: run directory made by `experiments.training.train_and_evaluate`.
    split: "train", "val" or "test".
    data_path: dataset file; "" uses the run's own dataset. Its task and torus wrap must be
      the run's; its map size may differ (the planners are convolutional).
    k_fwd: test-time forward budget (explicit planners: K); None keeps the training one.
    which: "best" or "latest" checkpoint.
    write: write `workdir/eval_<split>.json`.

  Returns:
    The `evaluate_split` summary plus "checkpoint_epoch", "data", "split", "size", "k_fwd".

  Raises:
    data.DataMismatchError: the dataset's task or wrap differs from the run's.
    FileNotFoundError: no run or no checkpoint in `workdir`.
    ValueError: unknown split or checkpoint name.
  """
  if split not in ("train", "val", "test"):
    raise ValueError(f"split must be train, val or test, got {split!r}")
  config = checkpoints.read_config(workdir)
  path = data_path or config.data
  dataset = data.load_checked(path, config.task, config.wrap, size=None)
  device_split = data.to_device(getattr(dataset, split))
  size = int(device_split.maps.shape[-1])
  if size != config.size:
    logging.info("Evaluating a planner trained on %dx%d maps on %dx%d maps", config.size,
                 config.size, size, size)
  planner = model.make_planner(config, k_fwd)
  template = model.init_state(planner, model.make_optimizer(config), config, device_split)
  restored = checkpoints.restore(checkpoints.manager(workdir, read_only=True), template, which)
  summary = evaluate_split(make_eval_fn(planner, config.wrap), restored.state.params,
                           device_split, config.eval_batch_size)
  summary.update(checkpoint=which, checkpoint_epoch=restored.meta["epoch"], data=path,
                 split=split, size=size, k_fwd=config.k_fwd if k_fwd is None else k_fwd)
  if write:
    with open(os.path.join(workdir, f"eval_{split}.json"), "w") as f:
      json.dump(summary, f, indent=2)
  return summary
