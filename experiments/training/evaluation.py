"""Evaluating trained planners: exact policy metrics on a whole split, and whole runs.

Scores are computed per seed (the planners' params carry a leading seed axis) and reported as
mean ± std over seeds (population std, ddof = 0), as the paper's tables do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

import implicit_planning as ip
from experiments.training import checkpoints, data, model
from implicit_planning import metrics

EvalFn = Callable[[Any, data.DeviceSplit], tuple[metrics.PolicyMetrics, Any, tuple[jax.Array, jax.Array]]]


def make_eval_fn(planner: ip.Planner, wrap: bool, seed_batch: int = -1) -> EvalFn:
  """Jitted ``(params [S], batch) -> (PolicyMetrics, forward SolveStats, success_by_distance)``.

  ``batch`` holds the planner's inputs and ``dist`` (scores are exact against it). Every output
  field has shape [S, B] (the distance counts [S, B, bins]). ``seed_batch``: seeds vectorised
  together (`model.over_seeds`).
  """

  def one_seed(params, batch):
    logits, _, stats = planner.apply(params, batch)
    actions = metrics.greedy_actions(logits)
    policy = metrics.policy_metrics(actions, batch["dist"], batch["goals"], wrap)
    return policy, stats.forward, metrics.success_by_distance(actions, batch["dist"], batch["goals"], wrap)

  return jax.jit(lambda params, batch: model.over_seeds(one_seed, (params,), (batch,), seed_batch))


def evaluate_split(eval_fn: EvalFn, params: Any, split: data.DeviceSplit, batch_size: int) -> dict[str, Any]:
  """Exact metrics of every seed's greedy policy on every map of `split`.

  The split is cut into batches of `batch_size` maps; the last batch is filled up with maps
  from the start of the split (one compiled shape) and the fill-up is dropped.

  Returns:
    For "optimal", "success", "accuracy": {"mean", "std", "per_seed"} (%, averaged over the
    maps that have counted cells); "maps", "skipped_maps" (maps without counted cells);
    forward-solve "fwd_iterations_mean", "fwd_iterations_max", "fwd_residual_mean",
    "fwd_residual_max" over maps and seeds; "success_by_distance": the distance bins' "edges",
    their counted "cells" and the % of them that succeed, {"mean", "per_seed"} (cell-weighted).
  """
  num_maps = data.num_maps(split)
  per_map, solves, by_distance = [], [], []
  for start in range(0, num_maps, batch_size):
    index = jnp.arange(start, start + batch_size) % num_maps
    result = eval_fn(params, {name: array[index] for name, array in split.items()})
    keep = min(batch_size, num_maps - start)
    kept = jax.tree.map(lambda x, keep=keep: x[:, :keep], result)
    per_map.append(kept[0])
    solves.append(kept[1])
    by_distance.append(kept[2])
  per_map, solves, by_distance = jax.device_get((per_map, solves, by_distance))
  per_map, solves, (successes, cells) = (
    jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *parts) for parts in (per_map, solves, by_distance)
  )
  per_seed = [metrics.aggregate(jax.tree.map(lambda x, s=s: x[s], per_map)) for s in range(per_map.num_cells.shape[0])]
  summary: dict[str, Any] = {
    name: {
      "mean": float(np.mean([r[name] for r in per_seed])),
      "std": float(np.std([r[name] for r in per_seed])),
      "per_seed": [r[name] for r in per_seed],
    }
    for name in ("optimal", "success", "accuracy")
  }
  summary["maps"] = per_seed[0]["maps"]
  summary["skipped_maps"] = per_seed[0]["skipped_maps"]
  summary["fwd_iterations_mean"] = float(np.mean(solves.iterations))
  summary["fwd_iterations_max"] = int(np.max(solves.iterations))
  summary["fwd_residual_mean"] = float(np.mean(solves.residual))
  summary["fwd_residual_max"] = float(np.max(solves.residual))
  successes, cells = successes.sum(axis=1), cells.sum(axis=1)  # [S, bins]
  per_seed_rate = 100.0 * successes / np.maximum(cells, 1)
  summary["success_by_distance"] = {
    "edges": [float(edge) if np.isfinite(edge) else None for edge in metrics.DISTANCE_EDGES],  # None: no bound
    "cells": cells[0].tolist(),
    "success": {"mean": per_seed_rate.mean(axis=0).tolist(), "per_seed": per_seed_rate.tolist()},
  }
  return summary


def eval_filename(split: str, data_path: str = "", k_fwd: int | None = None, which: str = "best") -> str:
  """``eval_<split>[_k<k_fwd>][_<dataset name>][_latest].json``: one file per evaluated setting, so
  that evaluating on another dataset, budget or checkpoint never replaces a result."""
  parts = [f"eval_{split}"]
  if k_fwd is not None:
    parts.append(f"k{k_fwd}")
  if data_path:
    parts.append(os.path.splitext(os.path.basename(data_path))[0])
  if which != "best":
    parts.append(which)
  return "_".join(parts) + ".json"


def evaluate_run(
  workdir: str,
  split: str = "test",
  data_path: str = "",
  k_fwd: int | None = None,
  which: str = "best",
  out: str | None = "",
) -> dict[str, Any]:
  """Evaluates a run's checkpoint on a dataset split and writes the summary as JSON.

  Args:
    workdir: run directory made by `loop.train_and_evaluate`.
    split: "train", "val" or "test".
    data_path: dataset file; "" uses the run's own dataset. Its task and torus wrap must be
      the run's; its map size may differ (the planners are convolutional).
    k_fwd: test-time forward budget (explicit planners: K); None keeps the training one.
    which: "best" (each seed's best epoch) or "latest" parameters (`checkpoints.CHECKPOINTS`).
    out: JSON path; "" names it `eval_filename` in ``workdir``; None writes nothing.

  Returns:
    The `evaluate_split` summary plus "checkpoint", "checkpoint_epochs" (per seed), "data",
    "split", "size", "k_fwd" and "out" (the file written, or None).

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
  size = int(device_split["maps"].shape[-1])
  if size != config.size:
    logging.info("Evaluating a planner trained on %dx%d maps on %dx%d maps", config.size, config.size, size, size)
  planner = model.make_planner(config, k_fwd)
  template = model.checkpoint_template(planner, config, device_split)
  restored = checkpoints.restore(checkpoints.manager(workdir, read_only=True), template)
  summary = evaluate_split(
    make_eval_fn(planner, config.wrap), restored.params(which), device_split, config.eval_batch_size
  )
  if out == "":
    out = os.path.join(workdir, eval_filename(split, data_path, k_fwd, which))
  summary.update(
    checkpoint=which,
    checkpoint_epochs=restored.epochs(which),
    data=path,
    split=split,
    size=size,
    k_fwd=config.k_fwd if k_fwd is None else k_fwd,
    out=out,
  )
  if out is not None:
    with open(out, "w") as f:
      json.dump(summary, f, indent=2)
  return summary
