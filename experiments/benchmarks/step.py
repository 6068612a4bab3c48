"""One training step, as the reference was timed, beside the authors' PyTorch numbers.

``value_and_grad`` of the cross-entropy, ``clip_by_global_norm(40)`` + ``rmsprop(1e-3, eps=1e-6)``,
batch 32 of 15×15, ``K_bwd = 15`` Anderson, for ``K = 30`` and 80.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import optax

import implicit_planning as ip
from experiments.benchmarks.problems import Settings, build, cross_entropy, iterations, mazes, timing_params
from experiments.benchmarks.timing import measure

REFERENCE_SOURCE = (
  "the authors' public PyTorch code (zhao0625/DiffPlan) on one core of the development machine, "
  "torch CPU, one thread (shared/REFERENCE.md, beside the project); one training step (forward + "
  "backward + clip 40 + RMSprop), batch 32, 15x15, K_bwd = 15"
)
# (planner, size option, value) -> seconds per step at K = 30 and K = 80; None: not measured there.
REFERENCE_STEP_S: dict[tuple[str, str, int], tuple[float, float] | None] = {
  ("id_vin", "l_q", 40): (0.054, 0.083),
  ("vin", "l_q", 40): (0.073, 0.235),
  ("id_vin", "l_q", 100): (0.102, 0.165),
  ("vin", "l_q", 100): (0.142, 0.407),
  ("id_symvin", "l_q", 40): (0.463, 1.288),
  ("symvin", "l_q", 40): (0.682, 1.929),
  ("id_conv_gppn", "l_h", 150): (3.720, 6.747),
  ("conv_gppn", "l_h", 150): (5.921, 15.616),
  ("id_gppn", "l_h", 150): None,
  ("gppn", "l_h", 150): None,
}
KS = (30, 80)


def make_train_step(planner: ip.Planner, labels: jax.Array):
  """Jitted ``(params, opt_state, batch) → (params, opt_state, loss)`` as the reference's step."""
  optimizer = optax.chain(optax.clip_by_global_norm(40.0), optax.rmsprop(1e-3, eps=1e-6))

  @jax.jit
  def step(params, opt_state, batch):
    loss, grads = jax.value_and_grad(lambda p: cross_entropy(planner.apply(p, batch).logits, labels))(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return step, optimizer


def run(settings: Settings, planners: Sequence[str] | None = None, ks: Sequence[int] = KS) -> list[dict[str, Any]]:
  """One row per `REFERENCE_STEP_S` configuration (of ``planners``, default all) and K."""
  batch, labels = mazes(15, settings.batch, settings.seed)
  rows = []
  for (name, option, value), reference in REFERENCE_STEP_S.items():
    if planners is not None and name not in planners:
      continue
    for k in ks:
      planner = build(name, k, settings, **{option: value})
      step, optimizer = make_train_step(planner, labels)
      params = timing_params(planner.init(jax.random.key(settings.seed), batch), settings.seed + 1)
      timing = measure(step, (params, optimizer.init(params), batch), settings.repeats)
      reference_s = reference[KS.index(k)] if reference is not None and k in KS else None
      row = {
        "planner": name,
        option: value,
        "K": k,
        "reference_s": reference_s,
        "wall_s": timing["wall_ms"] / 1e3,
        "cpu_s": timing["cpu_ms"] / 1e3,
      }
      if planner.spec.implicit:
        row["forward_iterations"], row["backward_iterations"] = iterations(planner, params, batch, labels)
      rows.append(row)
      print(format_row(row), flush=True)
  return rows


HEADER = (
  f"{'planner':<14} {'sizes':<10} {'K':>3} {'ours wall s':>11} {'ours cpu s':>10} {'reference s':>11} "
  f"{'speed-up':>8} {'iters f/b':>9}"
)


def format_row(row: dict[str, Any]) -> str:
  sizes = f"l_q {row['l_q']}" if "l_q" in row else f"l_h {row['l_h']}"
  iters = (
    f" {row['forward_iterations']:>4.0f}/{row['backward_iterations']:<4.0f}" if "forward_iterations" in row else ""
  )
  if row["reference_s"] is None:
    reference = f"{'-':>11} {'-':>8}"
  else:
    reference = f"{row['reference_s']:>11.3f} {row['reference_s'] / row['wall_s']:>7.1f}×"
  return (
    f"{row['planner']:<14} {sizes:<10} {row['K']:>3} {row['wall_s']:>11.3f} {row['cpu_s']:>10.3f} {reference}{iters}"
  )
