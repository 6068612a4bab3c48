"""Each `implicit_planning.ops.conv2d` formulation, forward and forward + backward per call.

A batch of 15×15 grids, ``SCAN_STEPS`` calls inside a ``lax.scan`` with a shared kernel, as in the
planners' loops (XLA:CPU compiles convolutions in loops differently), at the planners' channel
counts: VIN's first layer and the ConvGRU at hidden 32, 64 and 150 (candidate and gates).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks.problems import Settings
from experiments.benchmarks.timing import measure
from implicit_planning import ops

CHANNELS = ((2, 40), (32, 32), (64, 64), (150, 150), (150, 300))
SCAN_STEPS = 2


def run(settings: Settings) -> list[dict[str, Any]]:
  """One row per channel pair and formulation; times are per call."""
  rows = []
  for c_in, c_out in CHANNELS:
    key_x, key_k, key_c = jax.random.split(jax.random.key(settings.seed), 3)
    xs = jax.random.normal(key_x, (SCAN_STEPS, settings.batch, 15, 15, c_in))
    kernel = jax.random.normal(key_k, (3, 3, c_in, c_out)) / np.sqrt(9 * c_in)
    cotangent = jax.random.normal(key_c, (settings.batch, 15, 15, c_out))
    for impl in [impl for impl in ops.CONV_IMPLS if impl != "auto"]:

      def total(xs, kernel, impl=impl, shape=cotangent.shape):
        def body(acc, x):
          return acc + ops.conv2d(x, kernel, wrap=False, impl=impl), None

        return jax.lax.scan(body, jnp.zeros(shape), xs)[0]

      forward = jax.jit(total)
      both = jax.jit(jax.value_and_grad(lambda xs, kernel, c=cotangent: jnp.vdot(total(xs, kernel), c), argnums=(0, 1)))
      row = {"impl": impl, "c_in": c_in, "c_out": c_out, "batch": settings.batch}
      for name, fn in (("forward", forward), ("forward_backward", both)):
        timing = measure(fn, (xs, kernel), settings.repeats)
        row.update({f"{name}_{clock}": value / SCAN_STEPS for clock, value in timing.items()})
      rows.append(row)
      print(format_row(row), flush=True)
  return rows


HEADER = f"{'impl':<8} {'channels':>10} {'fwd ms':>8} {'fwd+bwd ms':>10} {'fwd cpu':>8} {'fwd+bwd cpu':>11}"


def format_row(row: dict[str, Any]) -> str:
  channels = f"{row['c_in']}→{row['c_out']}"
  return (
    f"{row['impl']:<8} {channels:>10} {row['forward_wall_ms']:>8.2f} {row['forward_backward_wall_ms']:>10.2f} "
    f"{row['forward_cpu_ms']:>8.2f} {row['forward_backward_cpu_ms']:>11.2f}"
  )
