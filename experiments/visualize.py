r"""Draws what a trained planner does on one map: `python -m experiments.visualize --workdir=<run>`.

The PNG (default `<workdir>/policy_<split>_<index>.png`) has four panels: the map with the goal
and the greedy paths from a few start cells; the learned reward map; the value map; the policy
arrows, green where the greedy path is optimal, orange where it succeeds with a detour, red
where it fails. The first seed's best checkpoint is drawn unless `--checkpoint=latest`.
"""

from __future__ import annotations

import os

import flax.linen as nn
import jax
import matplotlib
import numpy as np
from absl import app, flags

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

from experiments import checkpoints, data, model  # pylint: disable=g-import-not-at-top
from implicit_planning import metrics  # pylint: disable=g-import-not-at-top

ENCODER_NAME = "encoder"
"""Name of the planners' reward-encoder submodule, whose output the reward panel shows."""


def plan_with_reward(planner, params, maps: jax.Array, goals: jax.Array):
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
    logits, values, _ = planner.apply(params, maps, goals)
  return logits, values, captured.get("reward")


def greedy_path(successor: np.ndarray, start: int, goal: int) -> list[int]:
  """Flat cells visited from `start` until the goal or the first repeated cell."""
  path = [start]
  while path[-1] != goal and successor[path[-1]] not in path:
    path.append(int(successor[path[-1]]))
  if path[-1] != goal:
    path.append(int(successor[path[-1]]))  # close the loop on the plot
  return path


def plot_run(workdir: str, out_path: str, index: int = 0, split: str = "test",
             num_starts: int = 3, which: str = "best") -> None:
  """Saves the four-panel figure of map `index` of `split` for the run in `workdir`.

  Raises:
    IndexError: `index` outside the split.
  """
  config = checkpoints.read_config(workdir)
  dataset = data.load_checked(config.data, config.task, config.wrap, config.size)
  device_split = data.to_device(getattr(dataset, split))
  if not 0 <= index < device_split.num_maps:
    raise IndexError(f"--index={index}: the {split} split has {device_split.num_maps} maps")
  planner = model.make_planner(config)
  template = model.init_state(planner, model.make_optimizer(config), config, device_split)
  state = checkpoints.restore(checkpoints.manager(workdir, read_only=True), template, which).state
  params = jax.tree.map(lambda x: x[0], state.params)
  one = jax.tree.map(lambda x: x[index:index + 1], device_split)
  logits, values, reward = plan_with_reward(planner, params, one.maps, one.goals)
  actions = metrics.greedy_actions(logits)
  successor = np.asarray(metrics.successors(actions, one.dist, config.wrap))[0]
  free, dist = np.asarray(one.maps[0]), np.asarray(one.dist[0])
  goal_row, goal_col = (int(v) for v in one.goals[0])
  height, width = dist.shape
  goal = goal_row * width + goal_col
  cells = jax.tree.map(lambda x: np.asarray(x[0]),
                       metrics.cell_outcomes(actions, one.dist, one.goals, config.wrap))
  rng = np.random.default_rng(index)
  candidates = np.flatnonzero(cells.counted)
  starts = rng.choice(candidates, size=min(num_starts, candidates.size), replace=False)

  fig, axes = plt.subplots(1, 4, figsize=(18, 4.8))
  axes[0].imshow(free, cmap="gray", vmin=0, vmax=1)
  for start, color in zip(starts, ("tab:blue", "tab:purple", "tab:cyan", "tab:olive")):
    rows, cols = np.divmod(np.asarray(greedy_path(successor, int(start), goal)), width)
    axes[0].plot(cols, rows, "-o", color=color, markersize=3)
    axes[0].plot(cols[0], rows[0], "s", color=color, markersize=8)
  axes[0].set_title(f"{config.task} {split}[{index}]: greedy paths from {len(starts)} starts")
  if reward is not None:
    reward_map = np.asarray(reward[0]).mean(axis=-1)
    image = axes[1].imshow(reward_map, cmap="viridis")
    title = "learned reward" + ("" if reward.shape[-1] == 1
                                else f" (mean of {reward.shape[-1]} channels)")
    axes[1].set_title(title)
    fig.colorbar(image, ax=axes[1], fraction=0.046)
  else:
    axes[1].set_title(f"no '{ENCODER_NAME}' submodule: reward not shown")
  masked_values = np.where(free > 0, np.asarray(values[0]), np.nan)
  image = axes[2].imshow(masked_values, cmap="magma")
  axes[2].set_title(f"value map (K_fwd={config.k_fwd})" if config.planner.startswith("id_")
                    else f"value map (K={config.k})")
  fig.colorbar(image, ax=axes[2], fraction=0.046)
  axes[3].imshow(free, cmap="gray", vmin=0, vmax=1)
  rows, cols = np.nonzero(cells.counted)
  delta = np.asarray(metrics.ACTION_DELTAS)[np.asarray(actions[0])[rows, cols]]
  status = np.where(~cells.success[rows, cols], "tab:red",
                    np.where(cells.optimal[rows, cols], "tab:green", "tab:orange"))
  # Data coordinates with the image's downward row axis: (dx, dy) = (d_col, d_row).
  axes[3].quiver(cols, rows, delta[:, 1], delta[:, 0], color=status, angles="xy",
                 scale_units="xy", scale=1.6, width=0.006)
  axes[3].set_title("greedy policy: optimal / detour / fails")
  for ax in axes:
    ax.plot(goal_col, goal_row, "*", color="gold", markersize=16, markeredgecolor="black")
    ax.set_xticks([])
    ax.set_yticks([])
  fig.suptitle(f"{config.planner} ({workdir}, {which} checkpoint)")
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  fig.savefig(out_path, dpi=110)
  plt.close(fig)


_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory.", required=True)
_INDEX = flags.DEFINE_integer("index", 0, "Map index in the split.")
_SPLIT = flags.DEFINE_enum("split", "test", ["train", "val", "test"], "Split.")
_OUT = flags.DEFINE_string("out", "", "PNG path; default <workdir>/policy_<split>_<index>.png.")
_CHECKPOINT = flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Which checkpoint.")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  out = _OUT.value or os.path.join(_WORKDIR.value, f"policy_{_SPLIT.value}_{_INDEX.value}.png")
  plot_run(_WORKDIR.value, out, index=_INDEX.value, split=_SPLIT.value, which=_CHECKPOINT.value)
  print(out)


if __name__ == "__main__":
  app.run(main)
