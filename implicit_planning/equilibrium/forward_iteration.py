"""Plain fixed-point iteration ``x ← f(x)`` (the explicit planners' update, as a solver)."""

from __future__ import annotations

import dataclasses

import jax

DEFAULT_TOL = 1e-5


@dataclasses.dataclass(frozen=True)
class ForwardIteration:
  """Picard iteration: the next iterate is ``f(x)``.

  Converges linearly at the contraction rate of ``f``; needs no memory beyond
  the iterate, and keeps every equivariance of ``f`` (no reshaping or mixing).

  Attributes:
    max_iter: evaluations of ``f`` at most.
    tol: stop once the relative residual ``‖f(x) − x‖ / ‖f(x)‖`` is at most this.
  """

  max_iter: int = 30
  tol: float = DEFAULT_TOL

  def init(self, x0: jax.Array) -> tuple[()]:
    """No state; ``x0`` is a batch ``[B, n]`` as for every solver."""
    del x0
    return ()

  def update(self, state: tuple[()], x: jax.Array, fx: jax.Array) -> tuple[jax.Array, tuple[()]]:
    del x
    return fx, state
