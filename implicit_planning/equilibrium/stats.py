"""Diagnostics of one fixed-point solve, returned as data (a pytree)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

# Added to the denominator of relative residuals so an all-zero iterate (a zero
# cotangent in the backward solve, say) reads as converged instead of 0/0.
RESIDUAL_EPS = 1e-12


class SolveStats(NamedTuple):
  """What a solver did; every field has the batch shape of the solve (``[]`` unbatched).

  Attributes:
    iterations: evaluations of the iterated function (int32).
    residual: relative residual ``‖f(x) − x‖ / (‖f(x)‖ + ε)`` of the *last*
      evaluated iterate; ``inf``/``nan`` once the iteration diverged.
    best_residual: relative residual of the iterate that was returned (the best seen).
    converged: ``best_residual <= tol`` with every evaluated value finite.
  """

  iterations: jax.Array
  residual: jax.Array
  best_residual: jax.Array
  converged: jax.Array


def relative_residual(x: jax.Array, fx: jax.Array) -> jax.Array:
  """``‖fx − x‖ / (‖fx‖ + ε)`` over the last axis (flat vectors, or rows of a batch); ``nan``/``inf`` propagate."""
  scale = jnp.linalg.norm(fx, axis=-1)
  # A norm can overflow while every entry is still finite; finite / inf would read as a converged 0.
  return jnp.where(jnp.isfinite(scale), jnp.linalg.norm(fx - x, axis=-1) / (scale + RESIDUAL_EPS), jnp.inf)


def backward_probe(batch_shape: int | tuple[int, ...] = (), dtype=jnp.float32) -> SolveStats:
  """Zeros whose gradient through `fixed_point(..., probe=...)` is the backward SolveStats.

  A ``custom_vjp`` backward pass can only return cotangents, so the backward
  solve reports its statistics as the cotangent of this dummy input:
  differentiate the loss w.r.t. the probe as well and read the result as a
  `SolveStats` of floats (iterations, residuals, converged as 0/1). Several
  solves fed the same probe add up.
  """
  shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
  zeros = jnp.zeros(shape, dtype)
  return SolveStats(zeros, zeros, zeros, zeros)


def as_float(stats: SolveStats, dtype) -> SolveStats:
  """The stats cast to a float dtype (the form a probe's cotangent takes)."""
  return SolveStats(*(jnp.asarray(s, dtype) for s in stats))
