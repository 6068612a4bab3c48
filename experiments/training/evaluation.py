"""Evaluating trained planners: exact policy metrics on a whole split, and whole runs.

Scores are computed per seed (the planners' params carry a leading seed axis) and reported as
mean ± std over seeds (population std, ddof = 0), as the paper's tables do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

import implicit_planning as ip
from experiments.training import checkpoints, data, export, model
from experiments.training.config import Config, ConfigError
from experiments.training.data import DeviceSplit
from implicit_planning import metrics

EvalFn = Callable[[Any, data.DeviceSplit], dict[str, Any]]


def make_eval_fn(
  planner: ip.Planner,
  wrap: bool,
  seed_batch: int = -1,
  true_map_planner: ip.Planner | None = None,
  field_extent: float | None = None,
) -> EvalFn:
  """Jitted ``(params [S], batch) -> {part: [S, B, ...] arrays}``: what the model's output allows.

  ``"policy"`` (`PolicyMetrics`), ``"solve"`` (forward `SolveStats`) and ``"by_distance"``
  (`metrics.outcomes_by_distance`) for a model that plans; ``"map"`` (`mappers.MapScores`) for one
  that maps; ``"true_map_policy"`` when ``true_map_planner`` (the same planner given the true map)
  is given, for a mapped planner: what the mapper costs; ``"field"`` (`mappers.FieldScores`) when
  ``field_extent`` (`model.field_extent`) is given and the batch holds the polygons: the mapper's
  obstacle field at the fine raster. ``batch`` holds the model's inputs and ``dist`` (scores are
  exact against it). ``seed_batch``: seeds vectorised together (`model.over_seeds`).
  """

  def policy(logits, batch):
    return metrics.policy_metrics(metrics.greedy_actions(logits), batch["dist"], batch["goals"], wrap)

  def one_seed(params, batch):
    out, parts = planner.apply(params, batch), {}
    if out.logits is not None:
      actions = metrics.greedy_actions(out.logits)
      parts["policy"] = policy(out.logits, batch)
      parts["solve"] = out.stats.forward
      parts["by_distance"] = metrics.outcomes_by_distance(actions, batch["dist"], batch["goals"], wrap)
    if out.map_logits is not None:
      parts["map"] = ip.mappers.map_scores(out.map_logits, batch["maps"])
    if field_extent is not None and "polygons" in batch:
      field, occupied = ip.mappers.occupancy.occupancy_logits_and_labels(
        out.field_logits, batch["polygons"], batch["polygon_present"], batch["workspace"].shape[-1], field_extent
      )
      parts["field"] = ip.mappers.field_scores(field, occupied, band=ip.mappers.occupancy.FINE)
    if true_map_planner is not None:
      parts["true_map_policy"] = policy(true_map_planner.apply(params["planner"], batch).logits, batch)
    return parts

  return jax.jit(lambda params, batch: model.over_seeds(one_seed, (params,), (batch,), seed_batch))


def _per_seed(counts: Any, aggregate: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
  """Each seed's `aggregate` of the ``[S, maps]`` counts over its maps."""
  seeds = jax.tree.leaves(counts)[0].shape[0]
  return [aggregate(jax.tree.map(lambda x, s=s: x[s], counts)) for s in range(seeds)]


def _spread(per_seed: list[dict[str, Any]], names: Iterable[str]) -> dict[str, Any]:
  """{name: {"mean", "std", "per_seed"}} of each named score over the seeds."""
  return {
    name: {"mean": float(np.mean(values)), "std": float(np.std(values)), "per_seed": values}
    for name, values in ((name, [r[name] for r in per_seed]) for name in names)
  }


def _policy_summary(per_map: metrics.PolicyMetrics) -> dict[str, Any]:
  """{"optimal", "success", "accuracy"}: {"mean", "std", "per_seed"} (%); "maps", "skipped_maps"."""
  per_seed = _per_seed(per_map, metrics.aggregate)
  return {
    **_spread(per_seed, ("optimal", "success", "accuracy")),
    "maps": per_seed[0]["maps"],
    "skipped_maps": per_seed[0]["skipped_maps"],
  }


def _counts_summary(counts: Any, aggregate: Callable[[Any], dict[str, float]]) -> dict[str, Any]:
  """{score: {"mean", "std", "per_seed"}} of every score `aggregate` gives, each seed aggregated over its maps."""
  per_seed = _per_seed(counts, aggregate)
  return _spread(per_seed, per_seed[0])


def evaluate_split(
  eval_fn: EvalFn, params: Any, split: data.DeviceSplit, batch_size: int, render: bool = True
) -> dict[str, Any]:
  """Exact metrics of every seed on every map of `split`.

  The split is cut into batches of `batch_size` maps; the last batch is filled up with maps
  from the start of the split (one compiled shape) and the fill-up is dropped. ``render``: the
  batches get the rendered views (`data.gather`; only a model that reads them needs them).

  Returns:
    For a model that plans: "optimal", "success", "accuracy": {"mean", "std", "per_seed"} (%,
    averaged over the maps that have counted cells); "maps", "skipped_maps" (maps without counted
    cells); forward-solve "fwd_iterations_mean", "fwd_iterations_max", "fwd_residual_mean",
    "fwd_residual_max" (the last iterate's) and "fwd_returned_residual_mean", "fwd_returned_residual_max"
    (the returned iterate's: the best seen, which an Anderson solve can hold far below its last) over
    maps and seeds; "success_by_distance": the distance bins' "edges",
    their counted "cells" and the % of them that succeed and that take a shortest path ("success",
    "optimal": {"mean", "per_seed"}, cell-weighted).
    For a model that maps: "map_accuracy" and "obstacle_iou", {"mean", "std", "per_seed"} (%,
    over all cells of the split); with its field scored, "field_accuracy" and "field_edge_accuracy"
    alike (over the fine raster's points, all and near an edge). With a true-map planner: "true_map", the policy scores of the
    same planner given the true maps.
  """
  num_maps = data.num_maps(split)
  batches = []
  for start in range(0, num_maps, batch_size):
    index = jnp.arange(start, start + batch_size) % num_maps
    result = eval_fn(params, data.gather(split, index, render))
    keep = min(batch_size, num_maps - start)
    batches.append(jax.tree.map(lambda x, keep=keep: x[:, :keep], result))
  parts = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *jax.device_get(batches))
  summary: dict[str, Any] = {}
  if "policy" in parts:
    summary.update(_policy_summary(parts["policy"]))
    solves = parts["solve"]
    summary["fwd_iterations_mean"] = float(np.mean(solves.iterations))
    summary["fwd_iterations_max"] = int(np.max(solves.iterations))
    summary["fwd_residual_mean"] = float(np.mean(solves.residual))
    summary["fwd_residual_max"] = float(np.max(solves.residual))
    summary["fwd_returned_residual_mean"] = float(np.mean(solves.best_residual))
    summary["fwd_returned_residual_max"] = float(np.max(solves.best_residual))
    counts = metrics.DistanceCounts(*(c.sum(axis=1) for c in parts["by_distance"]))  # [S, bins]
    rates = {name: 100.0 * getattr(counts, name) / np.maximum(counts.cells, 1) for name in ("success", "optimal")}
    summary["success_by_distance"] = {
      "edges": [float(edge) if np.isfinite(edge) else None for edge in metrics.DISTANCE_EDGES],  # None: no bound
      "cells": counts.cells[0].tolist(),
      **{name: {"mean": rate.mean(axis=0).tolist(), "per_seed": rate.tolist()} for name, rate in rates.items()},
    }
  for part, aggregate in (("map", ip.mappers.scores.aggregate), ("field", ip.mappers.scores.aggregate_field)):
    if part in parts:
      summary.update(_counts_summary(parts[part], aggregate))
  if "true_map_policy" in parts:
    summary["true_map"] = _policy_summary(parts["true_map_policy"])
  return summary


START_ABLATIONS: tuple[str, ...] = ("bias", "zeros")
"""What `ablate_start` puts in place of a trained initial-state layer: its bias alone (the map's
features dropped, a constant start) or zeros (the implicit planners' start)."""


def ablate_start(params: Any, start: str | None) -> Any:
  """``params`` with the planner's initial-state layer replaced as ``start`` says (None: unchanged).

  How much a trained explicit ConvGPPN or GPPN owes to its learned start: its output after K steps
  from zeros, or from the layer's constant part, against its own. Behind a mapper, the planner's.

  Raises:
    ConfigError: the planner has no initial-state layer (`ip.PlannerOptions.zero_start`, an implicit
      planner without ``warm_start`` or ``head_reads_start``, or a family without one).
    ValueError: ``start`` is not one of `START_ABLATIONS`.
  """
  if start is None:
    return params
  if start not in START_ABLATIONS:
    raise ValueError(f"start must be one of {START_ABLATIONS}, got {start!r}")
  if "planner" in params:  # a mapped planner's (`ip.mappers.with_mapper`)
    return {**params, "planner": ablate_start(params["planner"], start)}
  layer = params["params"].get("initial_state")
  if layer is None:
    raise ConfigError(f"start={start!r}: the run's planner has no initial-state layer to replace")

  def ablate(path: tuple[Any, ...], leaf: jax.Array) -> jax.Array:
    keep = start == "bias" and path[-1].key == "bias"
    return leaf if keep else jnp.zeros_like(leaf)

  layer = jax.tree_util.tree_map_with_path(ablate, layer)
  return {**params, "params": {**params["params"], "initial_state": layer}}


def eval_filename(
  split: str,
  data_path: str = "",
  k_fwd: int | None = None,
  which: str = "best",
  forward_solver: str | None = None,
  mapper: str | None = None,
  start: str | None = None,
) -> str:
  """``eval_<split>[_k<k_fwd>][_<forward solver>][_<mapper>][_start_<start>][_<dataset name>][_latest].json``:
  one file per evaluated setting, so that evaluating on another dataset, budget, solver, mapper,
  start or checkpoint never replaces a result."""
  parts = [f"eval_{split}"]
  if k_fwd is not None:
    parts.append(f"k{k_fwd}")
  if forward_solver is not None:
    parts.append(forward_solver)
  if mapper is not None:
    parts.append(mapper)
  if start is not None:
    parts.append(f"start_{start}")
  if data_path:
    parts.append(os.path.splitext(os.path.basename(data_path))[0])
  if which != "best":
    parts.append(which)
  return "_".join(parts) + ".json"


def with_forward_solver(config: Config, forward_solver: str | None) -> Config:
  """``config`` with an implicit planner's forward solver replaced (None: unchanged).

  Raises:
    ConfigError: ``config`` is an explicit planner's, which has no forward solver.
  """
  if forward_solver is None:
    return config
  if not ip.planner_spec(config.planner).implicit:
    raise ConfigError(f"{config.planner} is an explicit planner: it has no forward solver to replace")
  return config.replace(forward_solver=forward_solver)


def with_mapper(config: Config, mapper: str | None) -> Config:
  """``config`` with its mapper replaced (None: unchanged), to read the run's mapper parameters
  another way: `evaluate_run` checks that they fit.

  Raises:
    ConfigError: ``config`` has no mapper, or ``mapper`` is unknown or does not read the task's
      observation (`Config`'s own checks).
  """
  if mapper is None:
    return config
  if not config.mapper:
    raise ConfigError(f"the run trains no mapper, so it has none to replace with {mapper!r}")
  return config.replace(mapper=mapper)


def evaluate_run(
  workdir: str,
  split: str = "test",
  data_path: str = "",
  k_fwd: int | None = None,
  which: str = "best",
  out: str | None = "",
  forward_solver: str | None = None,
  mapper: str | None = None,
  start: str | None = None,
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
    forward_solver: an implicit planner's test-time forward solver (``iteration``, ``anderson``);
      None keeps the training one.
    mapper: a mapper run with another mapper of the same parameters (`with_mapper`), e.g.
      ``workspace_sweep_max_mirrored`` for a ``workspace_sweep_max`` run: the same trained field,
      its map averaged over the image's exact mirrors; None keeps the training one.
    start: the trained initial-state layer replaced by its bias or by zeros (`ablate_start`);
      None keeps it.

  Returns:
    The `evaluate_split` summary plus "checkpoint", "checkpoint_epochs" (per seed), "data",
    "split", "size", "k_fwd", "forward_solver", "mapper" (None without one), "start" and "out"
    (the file written, or None).

  Raises:
    data.DataMismatchError: the dataset's task or wrap differs from the run's, or its workspace images from
      what the mapper samples.
    FileNotFoundError: no run or no checkpoint in `workdir`.
    ConfigError: a forward solver for an explicit planner; a mapper for a run without one, or one
      whose parameters are not the run's mapper's; a start for a planner without an initial-state layer.
    ValueError: unknown split or checkpoint name.
  """
  trained = checkpoints.read_config(workdir)
  config = with_mapper(with_forward_solver(trained, forward_solver), mapper)

  def restore(planner: ip.Planner, sample: DeviceSplit) -> tuple[Any, list[int]]:
    del planner  # the checkpoint's structure is the trained config's, whatever the test-time budget
    template = model.checkpoint_template(model.make_planner(trained), trained, sample)
    restored = checkpoints.restore(checkpoints.manager(workdir, read_only=True), template)
    params = restored.params(which)
    if mapper is not None and model.parameter_shapes(config, sample) != jax.tree.map(jnp.shape, params):
      raise ConfigError(f"mapper {mapper!r} has other parameters than the run's {trained.mapper!r}")
    return ablate_start(params, start), restored.epochs(which)

  if out == "":
    out = os.path.join(workdir, eval_filename(split, data_path, k_fwd, which, forward_solver, mapper, start))
  summary = _evaluate(config, restore, split, data_path, k_fwd, out, start=start)
  summary["checkpoint"] = which
  return summary


def evaluate_pretrained(
  name: str,
  task: str,
  size: int,
  split: str = "test",
  data_path: str = "",
  k_fwd: int | None = None,
  out: str | None = None,
  root: str | None = None,
  forward_solver: str | None = None,
) -> dict[str, Any]:
  """`evaluate_run` for a pretrained planner (`implicit_planning.pretrained`): its own dataset
  (regenerated from its config when missing) unless ``data_path``; writes JSON only to ``out``.
  ``root``: where the pretrained planners are (default: the repository's).

  Raises:
    FileNotFoundError: no such pretrained planner.
  """
  pretrained = ip.load_pretrained(name, task, size, root)
  config = with_forward_solver(export.trained_config(pretrained), forward_solver)

  def restore(planner: ip.Planner, sample: DeviceSplit) -> tuple[Any, list[int]]:
    del planner, sample  # the parameters are the pretrained ones, given one seed axis
    return jax.tree.map(lambda leaf: leaf[None], pretrained.params), [pretrained.info["best_epoch"]]

  summary = _evaluate(config, restore, split, data_path, k_fwd, out)
  summary["pretrained"] = name
  return summary


def _evaluate(
  config: Config,
  restore: Callable[[ip.Planner, DeviceSplit], tuple[Any, list[int]]],
  split: str,
  data_path: str,
  k_fwd: int | None,
  out: str | None,
  start: str | None = None,
) -> dict[str, Any]:
  """The model of ``config`` with the parameters ``restore`` gives, on ``split`` of ``data_path``
  (or the config's dataset); the summary (with ``start``, how ``restore`` edited the start) is
  written to ``out`` unless None."""
  if split not in ("train", "val", "test"):
    raise ValueError(f"split must be train, val or test, got {split!r}")
  path = data_path or config.data
  dataset = data.load_checked(path, config.task, config.wrap, size=None)
  model.check_observation_fits(config, dataset.meta, path)
  device_split = data.to_device(getattr(dataset, split))
  size = int(device_split["maps"].shape[-1])
  if size != config.size:
    logging.info("Evaluating a planner trained on %dx%d maps on %dx%d maps", config.size, config.size, size, size)
  planner = model.make_planner(config, k_fwd)
  params, epochs = restore(planner, device_split)
  eval_fn = make_eval_fn(
    planner,
    config.wrap,
    true_map_planner=model.true_map_planner(config, k_fwd),
    field_extent=model.field_extent(config),
  )
  render = data.observes_views(planner.inputs)
  summary = evaluate_split(eval_fn, params, device_split, config.eval_batch_size, render)
  summary.update(
    checkpoint_epochs=epochs,
    data=path,
    split=split,
    size=size,
    k_fwd=config.k_fwd if k_fwd is None else k_fwd,
    forward_solver=config.forward_solver,
    mapper=config.mapper or None,
    start=start,
    out=out,
  )
  if out is not None:
    with open(out, "w") as f:
      json.dump(summary, f, indent=2)
  return summary
