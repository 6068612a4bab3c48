"""How contractive a map is at a point: the spectral radius of ``∂f/∂v``, by power iteration with VJPs.

The implicit function theorem needs ``I − ∂f/∂v`` invertible at the equilibrium, and the forward
and backward solves converge like ``ρ(∂f/∂v)ᵏ``: a radius near 1 means slow solves, above 1 an
expansive cell. VJPs only (the planners' max op has a hand-written VJP and no JVP), and the
spectrum of ``Jᵀ`` is that of ``J``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from implicit_planning.equilibrium.loop import PyTree, flatten_rows


def spectral_radius(
  f: Callable[..., PyTree],
  v: PyTree,
  *args: PyTree,
  key: jax.Array,
  iterations: int = 30,
  batched: bool = False,
) -> jax.Array:
  """An estimate of ``ρ(∂f/∂v)`` at ``v``, per problem with ``batched``.

  Power iteration ``w ← Jᵀw / ‖Jᵀw‖`` from a random ``w`` (rows normalised apart, so each
  problem of a batch gets its own estimate). The estimate is the geometric mean of the growth
  factors ``‖Jᵀw‖`` over the second half of the iterations (Gelfand's formula), which also
  settles when the dominant eigenvalues are a complex pair or ``±λ`` and plain ratios oscillate.

  Args:
    f: ``f(v, *args)``; with ``batched``, a map of batches that treats rows independently.
    v: the point (a pytree; a leading problem axis on every leaf with ``batched``).
    *args: what ``f`` reads besides ``v`` (held fixed).
    key: PRNG key of the start vector.
    iterations: VJPs to take.
    batched: ``v`` holds independent problems along its leading axis.

  Returns:
    ``[B]`` with ``batched``, a scalar otherwise.
  """
  if iterations < 2:
    raise ValueError(f"spectral_radius needs iterations >= 2, got {iterations}.")
  _, vjp = jax.vjp(lambda v: f(v, *args), v)
  flat, unflatten = flatten_rows(v, batched)
  w = jax.random.normal(key, flat.shape, flat.dtype)
  w = w / jnp.linalg.norm(w, axis=-1, keepdims=True)

  def step(w, _):
    (jw,) = vjp(unflatten(w))
    jw, _ = flatten_rows(jw, batched)
    growth = jnp.linalg.norm(jw, axis=-1)
    tiny = jnp.finfo(flat.dtype).tiny
    return jw / jnp.maximum(growth, tiny)[:, None], jnp.log(jnp.maximum(growth, tiny))

  _, log_growth = jax.lax.scan(step, w, None, length=iterations)
  radius = jnp.exp(jnp.mean(log_growth[iterations // 2 :], axis=0))
  return radius if batched else radius[0]


def jacobian_penalty(
  f: Callable[..., PyTree], v: PyTree, *args: PyTree, key: jax.Array, batched: bool = False
) -> jax.Array:
  """A one-sample Hutchinson estimate of ``‖∂f/∂v‖_F² / n`` at ``v``, per problem with ``batched``.

  ``‖εᵀ J‖² / n`` for ``ε ~ N(0, I)``: unbiased for the squared Frobenius norm over the dimension
  ``n``, differentiable in ``args`` and ``v`` (the Jacobian regularisation of Bai et al., 2021,
  which penalises a cell whose equilibrium is slow to reach or unstable).
  """
  _, vjp = jax.vjp(lambda v: f(v, *args), v)
  flat, unflatten = flatten_rows(v, batched)
  noise = jax.random.normal(key, flat.shape, flat.dtype)
  (jn,) = vjp(unflatten(noise))
  jn, _ = flatten_rows(jn, batched)
  penalty = jnp.sum(jn**2, axis=-1) / flat.shape[-1]
  return penalty if batched else penalty[0]
