"""Figures a person looks at: the training curve of a run, and what a trained planner does on one map."""

from __future__ import annotations

import os
from typing import Any

import flax.linen as nn
import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

import implicit_planning as ip  # pylint: disable=g-import-not-at-top
from data_gen import manipulation  # pylint: disable=g-import-not-at-top
from data_gen.dataset import VISUAL_TASKS, load_dataset  # pylint: disable=g-import-not-at-top
from data_gen.panorama import render_panoramas  # pylint: disable=g-import-not-at-top
from experiments.training import checkpoints, data, export, logs, model  # pylint: disable=g-import-not-at-top
from experiments.training.config import Config  # pylint: disable=g-import-not-at-top
from implicit_planning import metrics  # pylint: disable=g-import-not-at-top
from implicit_planning.ops.actions import ACTION_DELTAS, ACTIONS  # pylint: disable=g-import-not-at-top


def training_curve(metrics_path: str, out_path: str) -> None:
  """Saves a PNG of train loss and train/validation %Success against epoch."""
  records = logs.read_jsonl(metrics_path)
  epochs = [r["epoch"] for r in records]
  fig, (loss_ax, success_ax) = plt.subplots(1, 2, figsize=(10, 4))
  loss_ax.plot(epochs, [r["loss"] for r in records], marker="o")
  # Log scale: an unstable first epoch can be orders of magnitude above the rest.
  loss_ax.set(xlabel="epoch", ylabel="train loss", title="Loss", yscale="log")
  for name in ("train_success", "val_success", "val_optimal", "train_map_accuracy", "val_map_accuracy"):
    if name in records[0]:
      success_ax.plot(epochs, [r[name] for r in records], marker="o", label=name)
  success_ax.set(
    xlabel="epoch", ylabel="%", ylim=(0, 100), title="Greedy policy" if "val_success" in records[0] else "Map"
  )
  success_ax.legend()
  for ax in (loss_ax, success_ax):
    ax.xaxis.get_major_locator().set_params(integer=True)
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)


ENCODER_NAME = "encoder"
"""Name of the planners' reward-encoder submodule, whose output the reward panel shows."""


def plan_with_reward(planner: ip.Planner, params, batch: ip.Batch):
  """`planner.apply` that also returns the encoder's reward map.

  The reward is read at a distance with `flax.linen.intercept_methods` on the submodule named
  `ENCODER_NAME`, so the planner's public `apply` stays unchanged.

  Returns:
    (logits [B, 4, H, W], values [B, H, W], reward [B, H, W, C] or None if no such submodule).
  """
  captured = {}

  def capture(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if context.module.name == ENCODER_NAME and context.method_name == "__call__":
      captured["reward"] = out
    return out

  with nn.intercept_methods(capture):
    out = planner.apply(params, batch)
  return out.logits, out.values, captured.get("reward")


def first_seed_on_problem(
  workdir: str, config: Config, index: int, split: str, which: str
) -> tuple[ip.Planner, Any, dict[str, jax.Array], dict[str, Any]]:
  """The run's model, its first seed's parameters (``which`` checkpoint), problem ``index`` of
  ``split`` as a batch of one, and the dataset's ``meta``.

  Raises:
    IndexError: `index` outside the split.
  """
  dataset = data.load_checked(config.data, config.task, config.wrap, config.size)
  device_split = data.to_device(getattr(dataset, split))
  if not 0 <= index < data.num_maps(device_split):
    raise IndexError(f"--index={index}: the {split} split has {data.num_maps(device_split)} maps")
  planner = model.make_planner(config)
  template = model.checkpoint_template(planner, config, device_split)
  restored = checkpoints.restore(checkpoints.manager(workdir, read_only=True), template)
  params = jax.tree.map(lambda x: x[0], restored.params(which))
  return planner, params, data.gather(device_split, slice(index, index + 1)), dataset.meta


def greedy_path(successor: np.ndarray, start: int, goal: int) -> list[int]:
  """Flat cells visited from `start` until the goal or the first repeated cell."""
  path = [start]
  while path[-1] != goal and successor[path[-1]] not in path:
    path.append(int(successor[path[-1]]))
  if path[-1] != goal:
    path.append(int(successor[path[-1]]))  # close the loop on the plot
  return path


def policy_figure(
  workdir: str, out_path: str, index: int = 0, split: str = "test", num_starts: int = 3, which: str = "best"
) -> None:
  """Saves the four-panel figure of map `index` of `split` for the run in `workdir` (a run that
  plans on a mapper's map: `mapped_policy_figure`).

  Raises:
    IndexError: `index` outside the split.
    ValueError: the run is a mapper's pretraining (nothing plans).
  """
  config = checkpoints.read_config(workdir)
  if config.maps:
    if not config.plans:
      raise ValueError(f"{workdir} is a mapper's pretraining: draw its joint phase (a planner on the mapper's map)")
    return mapped_policy_figure(workdir, out_path, index, split, which)
  planner, params, one, _ = first_seed_on_problem(workdir, config, index, split, which)
  title = f"{config.planner} ({workdir}, {which} checkpoint)"
  _draw_policy(config, planner, params, one, f"{split}[{index}]", title, out_path, num_starts, seed=index)


def pretrained_policy_figure(
  name: str,
  task: str,
  size: int,
  out_path: str,
  index: int = 0,
  split: str = "test",
  num_starts: int = 3,
  root: str | None = None,
) -> None:
  """`policy_figure` of a pretrained planner (`implicit_planning.pretrained`, under ``root``) on map
  ``index`` of ``split`` of its own dataset (generated from its config when missing).

  Raises:
    FileNotFoundError: no such pretrained planner.
    IndexError: `index` outside the split.
  """
  pretrained = ip.load_pretrained(name, task, size, root)
  config = export.trained_config(pretrained)
  dataset = data.load_checked(config.data, config.task, config.wrap, config.size)
  device_split = data.to_device(getattr(dataset, split))
  if not 0 <= index < data.num_maps(device_split):
    raise IndexError(f"--index={index}: the {split} split has {data.num_maps(device_split)} maps")
  one = data.gather(device_split, slice(index, index + 1))
  title = f"{name}{f' + {config.mapper}' if config.mapper else ''} (pretrained, seed {pretrained.info['seed']})"
  if config.mapper:
    _draw_mapped_policy(config, pretrained.planner, pretrained.params, one, dataset.meta, split, index, title, out_path)
  else:
    _draw_policy(
      config, pretrained.planner, pretrained.params, one, f"{split}[{index}]", title, out_path, num_starts, index
    )


def _draw_policy(
  config: Config,
  planner: ip.Planner,
  params: Any,
  one: dict[str, jax.Array],
  problem: str,
  title: str,
  out_path: str,
  num_starts: int,
  seed: int,
) -> None:
  """The four panels of `policy_figure` for the batch of one ``one``, saved to ``out_path``."""
  logits, values, reward = plan_with_reward(planner, params, one)
  actions = metrics.greedy_actions(logits)
  successor = np.asarray(metrics.successors(actions, one["dist"], config.wrap))[0]
  free, dist = np.asarray(one["maps"][0]), np.asarray(one["dist"][0])
  goal_row, goal_col = (int(v) for v in one["goals"][0])
  height, width = dist.shape
  goal = goal_row * width + goal_col
  cells = jax.tree.map(
    lambda x: np.asarray(x[0]), metrics.cell_outcomes(actions, one["dist"], one["goals"], config.wrap)
  )
  rng = np.random.default_rng(seed)
  candidates = np.flatnonzero(cells.counted)
  starts = rng.choice(candidates, size=min(num_starts, candidates.size), replace=False)

  fig, axes = plt.subplots(1, 4, figsize=(18, 4.8))
  axes[0].imshow(free, cmap="gray", vmin=0, vmax=1)
  for start, color in zip(starts, ("tab:blue", "tab:purple", "tab:cyan", "tab:olive")):
    rows, cols = np.divmod(np.asarray(greedy_path(successor, int(start), goal)), width)
    axes[0].plot(cols, rows, "-o", color=color, markersize=3)
    axes[0].plot(cols[0], rows[0], "s", color=color, markersize=8)
  axes[0].set_title(f"{config.task} {problem}: greedy paths from {len(starts)} starts")
  if reward is not None:
    reward_map = np.asarray(reward[0]).mean(axis=-1)
    image = axes[1].imshow(reward_map, cmap="viridis")
    channels = "" if reward.shape[-1] == 1 else f" (mean of {reward.shape[-1]} channels)"
    axes[1].set_title("learned reward" + channels)
    fig.colorbar(image, ax=axes[1], fraction=0.046)
  else:
    axes[1].set_title(f"no '{ENCODER_NAME}' submodule: reward not shown")
  masked_values = np.where(free > 0, np.asarray(values[0]), np.nan)
  image = axes[2].imshow(masked_values, cmap="magma")
  axes[2].set_title(f"value map (K_fwd={config.k_fwd})" if planner.spec.implicit else f"value map (K={config.k})")
  fig.colorbar(image, ax=axes[2], fraction=0.046)
  axes[3].imshow(free, cmap="gray", vmin=0, vmax=1)
  rows, cols = np.nonzero(cells.counted)
  delta = ACTION_DELTAS[np.asarray(actions[0])[rows, cols]]
  status = np.where(
    ~cells.success[rows, cols], "tab:red", np.where(cells.optimal[rows, cols], "tab:green", "tab:orange")
  )
  # Data coordinates with the image's downward row axis: (dx, dy) = (d_col, d_row).
  axes[3].quiver(
    cols, rows, delta[:, 1], delta[:, 0], color=status, angles="xy", scale_units="xy", scale=1.6, width=0.006
  )
  axes[3].set_title("greedy policy: optimal / detour / fails")
  for ax in axes:
    ax.plot(goal_col, goal_row, "*", color="gold", markersize=16, markeredgecolor="black")
    ax.set_xticks([])
    ax.set_yticks([])
  fig.suptitle(title)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  fig.savefig(out_path, dpi=110)
  plt.close(fig)


def views_figure(path: str, out_path: str, index: int = 0, split: str = "test", num_cells: int = 3) -> None:
  """Saves a visual-navigation maze beside the four views (N, W, S, E) from a few of its free cells.

  Args:
    path: a ``visual_nav`` dataset file.
    out_path: the PNG.
    index, split: which maze.
    num_cells: free cells drawn, evenly spaced in row-major order over the free cells (the first
      and the last free cell included).

  Raises:
    ValueError: the file is not a visual-navigation dataset.
    IndexError: ``index`` outside the split.
  """
  dataset = load_dataset(path)
  if dataset.meta["task"] not in VISUAL_TASKS:
    raise ValueError(f"{path} holds {dataset.meta['task']} problems; views are drawn for visual_nav datasets")
  chosen = getattr(dataset, split)
  if not 0 <= index < len(chosen.maps):
    raise IndexError(f"index {index}: the {split} split has {len(chosen.maps)} mazes")
  maze = chosen.maps[index]
  views = np.asarray(render_panoramas(maze[None], chosen.style[index : index + 1]))[0]  # [H, W, 4, V, V, 3]
  free = np.argwhere(maze > 0)
  cells = free[np.linspace(0, len(free) - 1, num_cells).astype(int)]
  fig = plt.figure(figsize=(4 + 6.4, 0.5 + 1.9 * num_cells))
  grid = fig.add_gridspec(num_cells, 2, width_ratios=(1, 1.6))
  ax = fig.add_subplot(grid[:, 0])
  ax.imshow(maze, cmap="gray", vmin=0, vmax=1)
  for number, (row, col) in enumerate(cells, start=1):
    ax.text(col, row, str(number), color="tab:red", ha="center", va="center", fontsize=11, fontweight="bold")
  ax.set_title(f"visual_nav {split}[{index}], style seed {chosen.style[index]}")
  ax.set_xticks([])
  ax.set_yticks([])
  for number, (row, col) in enumerate(cells, start=1):
    ax = fig.add_subplot(grid[number - 1, 1])
    ax.imshow(np.concatenate(list(views[row, col]), axis=1))
    ax.set_title(f"{number}: cell ({row}, {col}), facing " + ", ".join(ACTIONS), fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  fig.savefig(out_path, dpi=110)
  plt.close(fig)


def _arm_pixels(theta1: float, theta2: float, params: manipulation.ArmParams) -> np.ndarray:
  """Base, elbow and tip of the arm at ``(θ1, θ2)`` in image coordinates ``[3, (col, row)]``."""
  elbow, tip = manipulation.arm_points(np.asarray(theta1), np.asarray(theta2), params.link_lengths)
  points = np.stack([np.zeros(2), elbow, tip])
  pixel = 2 * params.extent / params.image_size
  return np.stack([(points[:, 0] + params.extent) / pixel - 0.5, (params.extent - points[:, 1]) / pixel - 0.5], 1)


def mapped_policy_figure(workdir: str, out_path: str, index: int = 0, split: str = "test", which: str = "best") -> None:
  """Saves the four-panel figure of a planner on a mapper's map, for problem `index` of `split`.

  Panels: what the mapper sees (workspace manipulation: the workspace with the arm's poses along
  one greedy path; visual navigation: the four views from the path's start); the predicted map
  (configuration space or maze) against the true one, cells it gets wrong marked; the value map on
  the predicted map; the greedy policy, scored on the true map, with the same path.
  """
  config = checkpoints.read_config(workdir)
  planner, params, one, meta = first_seed_on_problem(workdir, config, index, split, which)
  title = f"{config.planner} + {config.mapper} ({workdir}, {which} checkpoint)"
  _draw_mapped_policy(config, planner, params, one, meta, split, index, title, out_path)


def _draw_mapped_policy(
  config: Config,
  planner: ip.Planner,
  params: Any,
  one: dict[str, jax.Array],
  meta: dict[str, Any],
  split: str,
  index: int,
  title: str,
  out_path: str,
) -> None:
  """The four panels of `mapped_policy_figure` for the batch of one ``one`` (problem ``index`` of
  ``split``; ``meta``: its dataset's), saved to ``out_path``."""
  out = jax.jit(planner.apply)(params, one)
  actions = metrics.greedy_actions(out.logits)
  successor = np.asarray(metrics.successors(actions, one["dist"], config.wrap))[0]
  cells = jax.tree.map(
    lambda x: np.asarray(x[0]), metrics.cell_outcomes(actions, one["dist"], one["goals"], config.wrap)
  )
  true_free = np.asarray(one["maps"][0]) > 0
  predicted_free = np.asarray(out.map_logits[0]) <= 0
  bins = true_free.shape[1]
  goal_row, goal_col = (int(v) for v in one["goals"][0])
  goal = goal_row * bins + goal_col
  # The path drawn: from the farthest start the policy brings to the goal (any start, if none does).
  brought = cells.success & cells.counted  # counted: the free cells the policy is scored on
  candidates = np.flatnonzero(brought) if brought.any() else np.flatnonzero(cells.counted)
  start = int(candidates[np.argmax(np.asarray(one["dist"][0]).ravel()[candidates])])
  rows, cols = np.divmod(np.asarray(greedy_path(successor, start, goal)), bins)
  fig, axes = plt.subplots(1, 4, figsize=(19, 4.8))
  if "panoramas" in one:
    views = np.asarray(one["panoramas"][0, rows[0], cols[0]])  # [4, V, V, 3], headings N, W, S, E
    axes[0].imshow(np.concatenate(list(views), axis=1))
    for heading, name in enumerate(ACTIONS):
      axes[0].text((heading + 0.5) * views.shape[2], -1, name, ha="center", va="bottom")
    axes[0].set_title(f"maze {split}[{index}]: the views from the path's start ({rows[0]}, {cols[0]})\n")
    space = "maze"
  else:
    arm = manipulation.ArmParams(**meta.get("generator_options", {}))
    axes[0].imshow(np.asarray(one["workspace"][0]), cmap="gray_r", vmin=0, vmax=1)
    shades = plt.cm.viridis(np.linspace(0, 1, len(rows)))
    for r, c, shade in zip(rows, cols, shades):
      pose = _arm_pixels(2 * np.pi * r / bins, 2 * np.pi * c / bins, arm)
      axes[0].plot(pose[:, 0], pose[:, 1], "-o", color=shade, markersize=2, linewidth=1.5)
    axes[0].set_title(f"workspace {split}[{index}]: the arm along the path")
    space = "c-space"
  axes[0].set_xticks([])
  axes[0].set_yticks([])
  # The map: white free in both, black blocked in both, red predicted free but
  # blocked, blue predicted blocked but free.
  picture = np.ones(true_free.shape + (3,))
  picture[~true_free & ~predicted_free] = 0.0
  picture[~true_free & predicted_free] = (0.9, 0.1, 0.1)
  picture[true_free & ~predicted_free] = (0.2, 0.4, 1.0)
  axes[1].imshow(picture)
  wrong = int(np.sum(true_free != predicted_free))
  axes[1].plot(cols, rows, "o", color="tab:green", markersize=3)
  axes[1].set_title(f"predicted {space}: {wrong} cells wrong\n(red: obstacle missed, blue: obstacle invented)")
  image = axes[2].imshow(np.where(predicted_free, np.asarray(out.values[0]), np.nan), cmap="magma")
  axes[2].set_title(f"value map on the predicted {space}")
  fig.colorbar(image, ax=axes[2], fraction=0.046)
  axes[3].imshow(true_free, cmap="gray", vmin=0, vmax=1)
  arrow_rows, arrow_cols = np.nonzero(cells.counted)
  delta = ACTION_DELTAS[np.asarray(actions[0])[arrow_rows, arrow_cols]]
  status = np.where(
    ~cells.success[arrow_rows, arrow_cols],
    "tab:red",
    np.where(cells.optimal[arrow_rows, arrow_cols], "tab:green", "tab:orange"),
  )
  axes[3].quiver(
    arrow_cols,
    arrow_rows,
    delta[:, 1],
    delta[:, 0],
    color=status,
    angles="xy",
    scale_units="xy",
    scale=1.6,
    width=0.006,
  )
  axes[3].plot(cols, rows, "o", color="tab:blue", markersize=3)
  axes[3].set_title(f"policy on the true {space}:\noptimal / detour / fails")
  for ax in axes[1:]:
    ax.plot(goal_col, goal_row, "*", color="gold", markersize=14, markeredgecolor="black")
    if space == "c-space":
      ax.set(xlabel="θ2 bin", ylabel="θ1 bin")
  fig.suptitle(title)
  fig.tight_layout(rect=(0, 0, 1, 0.95))
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  fig.savefig(out_path, dpi=110)
  plt.close(fig)
