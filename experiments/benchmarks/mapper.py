"""A task's mapper's training step, and each planner's step with and without it in front.

Batch 32, ``clip_by_global_norm(40)`` + ``rmsprop(1e-3, eps=1e-6)`` as the step suite: the mapper
alone (binary cross-entropy against the true map), each planner on the true map, and the two as
one model (the planner's cross-entropy plus the mapper's). Tasks (`TASKS`): ``workspace``, 18×18
configuration spaces from 96×96 workspace images (``workspace_unet``; ``workspace_sweep``, the same
through the arm-sweep mapper); ``visual``, 15×15 mazes from
four 32×32 views per cell (``panorama_cnn``), with a first row for rendering the batch's views
(`data_gen.panorama`; in training, the batch gather's own compiled program before each step).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import implicit_planning as ip
from data_gen import make
from data_gen.panorama import render_panoramas
from experiments.benchmarks.problems import Settings, build, cross_entropy, size_options, timing_params
from experiments.benchmarks.timing import measure

PLANNERS = ("vin", "id_vin", "symvin", "id_symvin", "conv_gppn", "id_conv_gppn")
TASKS = {
  "workspace": ("manip_workspace", 18, "workspace_unet"),
  "workspace_sweep": ("manip_workspace", 18, "workspace_sweep"),
  "visual": ("visual_nav", 15, "panorama_cnn"),
}
"""Each task by name: its dataset task, map size and mapper."""


def problems(task: str, batch: int, seed: int) -> tuple[ip.Batch, jax.Array]:
  """``task``'s problems as a batch mapping (the observation, ``maps``, ``goals``), and labels."""
  data_task, size, _ = TASKS[task]
  split = make.make_split(np.random.default_rng(seed), data_task, size, batch, make.generator_options(data_task), set())
  labels = np.argmax(split.opt_actions, axis=1).astype(np.int32)
  arrays = {"maps": split.maps, "goals": split.goals.astype(np.int32)}
  if split.workspace is not None:
    arrays["workspace"] = split.workspace
  if split.style is not None:
    arrays["panoramas"] = render_panoramas(split.maps, split.style)
    arrays["style"] = split.style
  return {name: jnp.asarray(array) for name, array in arrays.items()}, jnp.asarray(labels)


def map_loss(map_logits: jax.Array, maps: jax.Array) -> jax.Array:
  """Binary cross-entropy of obstacle logits against the true maps (1 = free)."""
  return jnp.mean(optax.sigmoid_binary_cross_entropy(map_logits, (maps == 0).astype(map_logits.dtype)))


def make_step(model: ip.Planner, labels: jax.Array, plans: bool, maps: bool):
  """Jitted ``(params, opt_state, batch) → (params, opt_state, loss)``: the losses the model has."""
  optimizer = optax.chain(optax.clip_by_global_norm(40.0), optax.rmsprop(1e-3, eps=1e-6))

  def loss(params, batch):
    out = model.apply(params, batch)
    return (cross_entropy(out.logits, labels) if plans else 0.0) + (
      map_loss(out.map_logits, batch["maps"]) if maps else 0.0
    )

  @jax.jit
  def step(params, opt_state, batch):
    value, grads = jax.value_and_grad(loss)(params, batch)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value

  return step, optimizer


def time_step(model: ip.Planner, batch: ip.Batch, labels: jax.Array, settings: Settings, plans: bool, maps: bool):
  """Median wall and CPU seconds of one training step of ``model``."""
  step, optimizer = make_step(model, labels, plans, maps)
  params = model.init(jax.random.key(settings.seed), batch)
  if plans:  # a planner's parameters alone, or under "planner" beside the mapper's
    planner_params = params.get("planner", params)
    timed = timing_params(planner_params, settings.seed + 1)
    params = {**params, "planner": timed} if "planner" in params else timed
  timing = measure(step, (params, optimizer.init(params), batch), settings.repeats)
  return timing["wall_ms"] / 1e3, timing["cpu_ms"] / 1e3


def run(
  settings: Settings, planners: Sequence[str] | None = None, k: int = 30, width: int = 8, task: str = "workspace"
) -> list[dict[str, Any]]:
  """For ``task`` (`TASKS`): a row for rendering the views (visual navigation), one for the mapper
  alone, then one per planner (at the settings' ``l_q`` or ``l_h``): its step alone and behind the
  mapper."""
  if task not in TASKS:
    raise ValueError(f"unknown mapper task {task!r}; expected one of {', '.join(TASKS)}")
  data_task, size, mapper_name = TASKS[task]
  wrap = make.TASK_WRAP[data_task]
  batch, labels = problems(task, settings.batch, settings.seed)
  rows = []
  if "style" in batch:
    timing = measure(render_panoramas, (batch["maps"], batch["style"]), settings.repeats)
    views = int(np.prod(batch["panoramas"].shape[:4]))
    label = f"render {views} views"
    rows.append({"model": label, "K": None, "wall_s": timing["wall_ms"] / 1e3, "cpu_s": timing["cpu_ms"] / 1e3})
    print(format_row(rows[-1]), flush=True)
  observation, mapper = ip.make_mapper(mapper_name, size, width)
  any_planner = build("vin", k, settings, wrap=wrap)
  wall, cpu = time_step(
    ip.with_mapper(any_planner, mapper, observation, plan=False), batch, labels, settings, False, True
  )
  rows.append({"model": f"{mapper_name} (width {width})", "K": None, "wall_s": wall, "cpu_s": cpu})
  print(format_row(rows[-1]), flush=True)
  for name in planners or PLANNERS:
    planner = build(name, k, settings, wrap=wrap, **size_options(ip.planner_spec(name), settings))
    for model, label, maps in (
      (planner, name, False),
      (ip.with_mapper(planner, mapper, observation), f"{name} + mapper", True),
    ):
      wall, cpu = time_step(model, batch, labels, settings, True, maps)
      rows.append({"model": label, "K": k, "wall_s": wall, "cpu_s": cpu})
      print(format_row(rows[-1]), flush=True)
  return rows


HEADER = f"{'model':<28} {'K':>3} {'wall s':>8} {'cpu s':>8}"


def format_row(row: dict[str, Any]) -> str:
  k = "-" if row["K"] is None else row["K"]
  return f"{row['model']:<28} {k:>3} {row['wall_s']:>8.3f} {row['cpu_s']:>8.3f}"
