"""Anderson acceleration for ``x = f(x)``, built from small pure helpers.

Each step mixes the last ``memory`` evaluations: with residuals
``g_i = f(x_i) − x_i`` it finds weights ``α`` (summing to one) that minimise
``‖Σ α_i g_i‖² + λ‖α‖²`` and moves to ``β Σ α_i f(x_i) + (1 − β) Σ α_i x_i``.
This is the type-II method DEQ uses, written for a batch of flat vectors
``[B, n]`` (independent problems, one row each, sharing one step counter);
`loop.solve` flattens pytrees before calling it.

The rows share the ring-buffer slot, so a step writes each buffer with one
``dynamic_update_slice``. Under ``jax.vmap`` the per-problem slot index would
be batched and every write a scatter that copies the buffers (8× slower for a
ConvGRU state; ``docs/performance.md``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from implicit_planning.equilibrium.forward_iteration import DEFAULT_TOL


class AndersonState(NamedTuple):
  """Ring buffers of the last ``memory`` iterates and residuals, and their Gram matrix.

  Attributes:
    xs: ``[B, memory, n]`` past iterates ``x_i`` of each problem.
    residuals: ``[B, memory, n]`` their residuals ``g_i = f(x_i) − x_i``.
    gram: ``[B, memory, memory]`` inner products ``g_i · g_j``, one row and
      column refreshed per step (recomputing all of it each step costs
      ``memory`` times more).
    count: scalar, how many pairs were pushed so far (slots ``count % memory`` rotate).
  """

  xs: jax.Array
  residuals: jax.Array
  gram: jax.Array
  count: jax.Array


def push(history: jax.Array, value: jax.Array, slot: jax.Array) -> jax.Array:
  """Writes ``value: [B, n]`` into ring-buffer ``slot`` of ``history: [B, memory, n]``."""
  return jax.lax.dynamic_update_index_in_dim(history, value, slot, axis=1)


def refresh_gram(gram: jax.Array, residuals: jax.Array, slot: jax.Array) -> jax.Array:
  """One problem's Gram matrix after ``residuals[slot]`` was replaced: its row and column anew."""
  row = residuals @ residuals[slot]
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
  """The damped Anderson update ``β αᵀF + (1 − β) αᵀX = αᵀ(X + βG)``, for ``[..., memory, n]`` buffers.

  A sum of ``memory`` terms that XLA fuses into one pass (a reduction over the
  slot axis is slower on XLA:CPU).
  """
  terms = [weights[..., i, None] * (xs[..., i, :] + mixing * residuals[..., i, :]) for i in range(xs.shape[-2])]
  return functools.reduce(jnp.add, terms)


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
    """Empty buffers for a batch ``x0: [B, n]``."""
    batch, n = x0.shape
    history = jnp.zeros((batch, self.memory, n), x0.dtype)
    gram = jnp.zeros((batch, self.memory, self.memory), x0.dtype)
    return AndersonState(history, history, gram, jnp.zeros((), jnp.int32))

  def weights(self, gram: jax.Array, valid: jax.Array) -> jax.Array:
    """One problem's mixing weights ``[memory]`` from its Gram matrix (see `mixing_weights`)."""
    return mixing_weights(gram, valid, self.ridge)

  def update(self, state: AndersonState, x: jax.Array, fx: jax.Array) -> tuple[jax.Array, AndersonState]:
    """The next iterates ``[B, n]`` from the current ones and their images."""
    slot = state.count % self.memory
    xs = push(state.xs, x, slot)
    residuals = push(state.residuals, fx - x, slot)
    gram = jax.vmap(refresh_gram, (0, 0, None))(state.gram, residuals, slot)
    count = state.count + 1
    weights = jax.vmap(self.weights, (0, None))(gram, valid_slots(count, self.memory))
    mixed = mix(weights, xs, residuals, self.mixing)
    return mixed, AndersonState(xs, residuals, gram, count)
