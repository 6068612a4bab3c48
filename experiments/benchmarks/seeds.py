"""Several seeds in one program against one seed: the training step of `experiments.training`.

For each planner, seed count ``N`` and way of combining seeds (``seed_batch``: 0 vectorises all
seeds, 1 runs them one after another inside the step; `experiments.training.model.over_seeds`):
the median time of the jitted training step that trains ``N`` seeds together (batch 32 of 15×15
mazes per seed, the quick preset's optimiser and labels), beside ``N ×`` the one-seed step. A
ratio ``N-seed step / (N × one-seed step)`` at or below 1 means training seeds together costs no
more than training them one after another.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import implicit_planning as ip
from data_gen import make
from experiments.benchmarks.problems import Settings, size_options
from experiments.benchmarks.timing import measure
from experiments.training import data, model, presets, step

PLANNERS = ("vin", "id_vin", "symvin", "id_symvin", "conv_gppn", "id_conv_gppn", "gppn", "id_gppn")
SEED_COUNTS = (1, 3, 5)
SEED_BATCHES = (0, 1)


def training_split(size: int, num_maps: int, seed: int) -> data.DeviceSplit:
  """Labelled mazes as a device split (what a training run steps through)."""
  split = make.make_split(
    np.random.default_rng(seed), "maze2d", size, num_maps, make.generator_options("maze2d"), set()
  )
  return data.to_device(split)


def step_time(
  name: str, seeds: int, seed_batch: int, k: int, settings: Settings, split: data.DeviceSplit
) -> dict[str, float]:
  """Median wall and CPU seconds of one training step of ``seeds`` seeds of planner ``name``."""
  spec = ip.planner_spec(name)
  config = presets.quick().replace(
    planner=name, seeds=seeds, seed_batch=seed_batch, k=k, k_fwd=k, k_bwd=settings.k_bwd, batch_size=settings.batch,
    conv_impl=settings.conv_impl, seed=settings.seed, **size_options(spec, settings),
  )  # fmt: skip
  planner, optimizer = (
    model.make_planner(config),
    model.make_optimizer(config, data.num_maps(split) // config.batch_size),
  )
  state = model.init_state(planner, optimizer, config, split)
  train_step = step.make_train_step(planner, optimizer, config)
  perms = step.epoch_permutations(state.key, jnp.int32(0), data.num_maps(split))
  batches = step.make_draw_batches(planner, config)(split, perms, jnp.int32(0))
  alive = jnp.ones(seeds, bool)
  timing = measure(
    lambda state: train_step(state, alive, batches, jnp.int32(0), jnp.int32(0)), (state,), settings.repeats
  )
  return {"wall_s": timing["wall_ms"] / 1e3, "cpu_s": timing["cpu_ms"] / 1e3}


def run(
  settings: Settings,
  planners: Sequence[str] = PLANNERS,
  seed_counts: Sequence[int] = SEED_COUNTS,
  seed_batches: Sequence[int] = SEED_BATCHES,
  k: int = 30,
) -> list[dict[str, Any]]:
  """One row per planner, seed count and ``seed_batch`` (one for one seed); ``ratio`` compares
  with ``N ×`` the one-seed step."""
  split = training_split(15, 2 * settings.batch, settings.seed)
  rows = []
  for name in planners:
    one_seed_s = None
    for seeds in seed_counts:
      for seed_batch in seed_batches if seeds > 1 else seed_batches[:1]:
        row = {"planner": name, "seeds": seeds, "seed_batch": seed_batch, "K": k}
        row.update(size_options(ip.planner_spec(name), settings))
        row.update(step_time(name, seeds, seed_batch, k, settings, split))
        if seeds == 1:
          one_seed_s = row["wall_s"]
        if one_seed_s is not None:
          row["ratio"] = row["wall_s"] / (seeds * one_seed_s)
        rows.append(row)
        print(format_row(row), flush=True)
    jax.clear_caches()
  return rows


HEADER = (
  f"{'planner':<14} {'sizes':<10} {'K':>3} {'seeds':>5} {'batch':>5} {'wall s':>8} {'cpu s':>8} {'/ (N × 1 seed)':>14}"
)


def format_row(row: dict[str, Any]) -> str:
  sizes = f"l_q {row['l_q']}" if "l_q" in row else f"l_h {row['l_h']}"
  ratio = f"{row['ratio']:>14.2f}" if "ratio" in row else f"{'-':>14}"
  return (
    f"{row['planner']:<14} {sizes:<10} {row['K']:>3} {row['seeds']:>5} {row['seed_batch']:>5} "
    f"{row['wall_s']:>8.3f} {row['cpu_s']:>8.3f} {ratio}"
  )
