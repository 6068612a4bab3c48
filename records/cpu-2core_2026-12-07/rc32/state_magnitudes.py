"""How large an explicit ConvGPPN's trained start and state get, and how much one step still moves
the state after K steps (round 48's one-off diagnostic; its output is state_magnitudes.txt).

Run from the repository root:
  PYTHONPATH=. python records/cpu-2core_2026-12-07/rc32/state_magnitudes.py runs/sweeps/fig2_cpu_clip/conv_gppn_27_k30
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from experiments.training import checkpoints, data, model
from implicit_planning.planners import conv_gppn
from implicit_planning.planners.encoder import observation

NUM_MAPS = 64
REPORTED_STEPS = (30, 60, 120)


def describe(state: jax.Array, free: np.ndarray) -> str:
  """Percentiles of |h| over the free cells' entries, and the share above 1 (beyond any GRU step's reach)."""
  magnitudes = np.abs(np.asarray(state))[free]
  return (
    f"p50 {np.percentile(magnitudes, 50):.2f} p99 {np.percentile(magnitudes, 99):.2f} "
    f"max {magnitudes.max():.2f} frac>1 {(magnitudes > 1).mean():.3f}"
  )


def main(workdir: str) -> None:
  config = checkpoints.read_config(workdir)
  split = data.to_device(data.load_checked(config.data, config.task, config.wrap, size=None).test)
  template = model.checkpoint_template(model.make_planner(config), config, split)
  params = checkpoints.restore(checkpoints.manager(workdir, read_only=True), template).params("best")["params"]
  options, family = config.planner_options, conv_gppn.CONV_GPPN
  obs = observation(split["maps"][:NUM_MAPS], split["goals"][:NUM_MAPS])
  free = np.asarray(split["maps"][:NUM_MAPS] > 0)
  cell = family.cell(options)
  for seed in range(config.seeds):
    seed_params = jax.tree.map(lambda leaf, seed=seed: leaf[seed], params)
    rewards = family.encoder(options).apply({"params": seed_params["encoder"]}, obs)
    context = cell.apply({"params": seed_params["cell"]}, rewards, method="prepare")
    starts = {"zeros": cell.zero_state(rewards)}
    if "initial_state" in seed_params:
      starts["learned"] = family.initial_state(options).apply({"params": seed_params["initial_state"]}, rewards)
    for name, state in starts.items():
      print(f"seed {seed} start={name}: |h0| {describe(state, free)}")
      for step in range(1, max(REPORTED_STEPS) + 1):
        previous, state = state, cell.apply({"params": seed_params["cell"]}, state, context)
        if step in REPORTED_STEPS:
          change = float(jnp.abs(state - previous).max())
          print(f"   k={step}: |h| {describe(state, free)}  largest one-step change {change:.2e}")


if __name__ == "__main__":
  main(sys.argv[1])
