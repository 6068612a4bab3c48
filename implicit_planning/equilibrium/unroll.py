"""``unroll``: apply ``f`` a fixed number of times and differentiate through every step (the explicit mode)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from implicit_planning.equilibrium.forward_iteration import DEFAULT_TOL
from implicit_planning.equilibrium.loop import PyTree, flatten_rows, per_problem
from implicit_planning.equilibrium.stats import SolveStats, relative_residual


def unroll(
  f: Callable[..., PyTree],
  v0: PyTree,
  *args: PyTree,
  num_iters: int,
  tol: float = DEFAULT_TOL,
  batched: bool = False,
) -> tuple[PyTree, SolveStats]:
  """Applies ``f`` ``num_iters`` times with ``lax.scan``: the explicit mode.

  Reverse-mode autodiff goes through every step (memory grows with
  ``num_iters``). The stats describe the last step, with the same meaning as
  `fixed_point`'s (per problem with ``batched``), so callers treat both modes alike.
  """
  if not isinstance(num_iters, int) or num_iters < 1:
    raise ValueError(f"unroll needs num_iters >= 1, got {num_iters!r}.")

  def step(v, _):
    return f(v, *args), None

  v_prev, _ = jax.lax.scan(step, v0, None, length=num_iters - 1)
  v_last = f(v_prev, *args)
  flat_prev, _ = flatten_rows(v_prev, batched)
  flat_last, _ = flatten_rows(v_last, batched)
  res = jax.lax.stop_gradient(relative_residual(flat_prev, flat_last.astype(flat_prev.dtype)))
  iterations = jnp.full(res.shape, num_iters, jnp.int32)
  stats = SolveStats(iterations, res, res, (res <= tol) & jnp.isfinite(res))
  return v_last, per_problem(stats, batched)
