"""Anderson acceleration for ``x = f(x)``, built from small pure helpers.

Each step mixes the last ``memory`` evaluations: with residuals
``g_i = f(x_i) − x_i`` it finds weights ``α`` (summing to one) that minimise
``‖Σ α_i g_i‖² + λ‖α‖²`` and moves to ``β Σ α_i f(x_i) + (1 − β) Σ α_i x_i``.
This is the type-II method DEQ uses, written for flat vectors; `fixed_point`
flattens pytrees before calling it.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from implicit_planning.forward_iteration import DEFAULT_TOL


class AndersonState(NamedTuple):
  """Ring buffers of the last ``memory`` iterates and residuals, and their Gram matrix.

  Attributes:
    xs: ``[memory, n]`` past iterates ``x_i``.
    residuals: ``[memory, n]`` their residuals ``g_i = f(x_i) − x_i``.
    gram: ``[memory, memory]`` inner products ``g_i · g_j``, one row and column
      refreshed per step (recomputing all of it each step costs ``memory`` times more).
    count: how many pairs were pushed so far (slots ``count % memory`` rotate).
  """

  xs: jax.Array
  residuals: jax.Array
  gram: jax.Array
  count: jax.Array


def push(history: jax.Array, value: jax.Array, count: jax.Array) -> jax.Array:
  """Writes ``value`` into the ring buffer slot ``count % memory``."""
  return history.at[count % history.shape[0]].set(value)


def refresh_gram(gram: jax.Array, residuals: jax.Array, slot: jax.Array) -> jax.Array:
  """The Gram matrix after ``residuals[slot]`` was replaced: its row and column anew."""
  row = jnp.sum(residuals * residuals[slot], axis=-1)
  return gram.at[slot, :].set(row).at[:, slot].set(row)


def valid_slots(count: jax.Array, memory: int) -> jax.Array:
  """``[memory]`` mask of the slots holding data once ``count`` pairs were pushed."""
  return jnp.arange(memory) < jnp.minimum(count, memory)


def mixing_weights(gram: jax.Array, valid: jax.Array, ridge: float) -> jax.Array:
  """Weights ``α`` minimising ``‖αᵀG‖² + λ‖α‖²`` subject to ``Σα = 1`` over valid slots.

  The ridge is *relative*: the Gram matrix ``GGᵀ`` is divided by its mean valid
  diagonal first, so ``λ`` keeps the same meaning whether residuals are 1e0 or
  1e-8. An absolute ridge (DEQ's 1e-4) swamps small residuals and cotangents:
  Anderson then degrades to averaging and crawls near convergence. Raise
  ``ridge`` if this solve returns NaN (nearly collinear history).

  Args:
    gram: ``[memory, memory]`` inner products of the residuals ``g_i = f(x_i) − x_i``.
    valid: ``[memory]`` bool, the slots that hold data (others get weight 0).
    ridge: relative Tikhonov regularisation ``λ``.

  Returns:
    ``[memory]`` weights, zero on invalid slots, summing to one.
  """
  pair_valid = valid[:, None] & valid[None, :]
  mean_diag = jnp.sum(jnp.where(valid, jnp.diag(gram), 0)) / jnp.maximum(jnp.sum(valid), 1)
  scale = jnp.maximum(mean_diag, jnp.finfo(gram.dtype).tiny)
  gram = jnp.where(pair_valid, gram / scale, 0)
  # Invalid slots get a unit diagonal and a zero right-hand side, hence weight 0.
  regularised = gram + jnp.diag(jnp.where(valid, ridge, 1.0).astype(gram.dtype))
  unnormalised = jnp.linalg.solve(regularised, valid.astype(gram.dtype))
  return unnormalised / jnp.sum(unnormalised)


def mix(weights: jax.Array, xs: jax.Array, residuals: jax.Array, mixing: float) -> jax.Array:
  """The damped Anderson update ``β αᵀF + (1 − β) αᵀX = αᵀ(X + βG)``."""
  return jnp.sum(weights[:, None] * (xs + mixing * residuals), axis=0)


@dataclasses.dataclass(frozen=True)
class Anderson:
  """Anderson acceleration (type II, regularised least squares).

  Attributes:
    max_iter: evaluations of ``f`` at most.
    tol: stop once the relative residual is at most this.
    memory: how many past iterates are mixed (``m``).
    mixing: damping ``β``; 1 uses the images ``f(x_i)`` only.
    ridge: relative regularisation of the least-squares weights (see `mixing_weights`).
  """

  max_iter: int = 15
  tol: float = DEFAULT_TOL
  memory: int = 5
  mixing: float = 1.0
  ridge: float = 1e-4

  def __post_init__(self):
    if self.memory < 1:
      raise ValueError(f"Anderson memory must be >= 1, got {self.memory}.")
    if not 0.0 < self.mixing <= 1.0:
      raise ValueError(f"Anderson mixing must be in (0, 1], got {self.mixing}.")
    if self.ridge < 0:
      raise ValueError(f"Anderson ridge must be >= 0, got {self.ridge}.")

  def init(self, x0: jax.Array) -> AndersonState:
    history = jnp.zeros((self.memory,) + x0.shape, x0.dtype)
    gram = jnp.zeros((self.memory, self.memory), x0.dtype)
    return AndersonState(history, history, gram, jnp.zeros((), jnp.int32))

  def update(self, state: AndersonState, x: jax.Array, fx: jax.Array) -> tuple[jax.Array, AndersonState]:
    xs = push(state.xs, x, state.count)
    residuals = push(state.residuals, fx - x, state.count)
    gram = refresh_gram(state.gram, residuals, state.count % self.memory)
    count = state.count + 1
    weights = mixing_weights(gram, valid_slots(count, self.memory), self.ridge)
    return mix(weights, xs, residuals, self.mixing), AndersonState(xs, residuals, gram, count)
