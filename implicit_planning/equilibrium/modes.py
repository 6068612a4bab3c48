"""How gradients flow through the planning loop: a value passed to the planner.

``Implicit`` solves for the equilibrium with `fixed_point` (constant-cost
backward pass); ``Phantom`` solves for it too, then back-propagates through a
few damped steps taken from it; ``Unrolled`` back-propagates through
``num_iters`` applications with `unroll` (the explicit planners). All take the
same cell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from implicit_planning.equilibrium.implicit import fixed_point
from implicit_planning.equilibrium.loop import Solver, solve
from implicit_planning.equilibrium.stats import SolveStats
from implicit_planning.equilibrium.unroll import unroll


@dataclasses.dataclass(frozen=True)
class Implicit:
  """Equilibrium by ``forward``, gradients by the implicit function theorem with ``backward``."""

  forward: Solver
  backward: Solver

  def __call__(self, f: Callable, v0: Any, *args: Any, probe: SolveStats | None = None, batched: bool = False):
    return fixed_point(f, v0, *args, forward=self.forward, backward=self.backward, probe=probe, batched=batched)


@dataclasses.dataclass(frozen=True)
class Unrolled:
  """``num_iters`` applications, differentiated layer by layer (the probe stays zero)."""

  num_iters: int

  def __call__(self, f: Callable, v0: Any, *args: Any, probe: SolveStats | None = None, batched: bool = False):
    del probe
    return unroll(f, v0, *args, num_iters=self.num_iters, batched=batched)


@dataclasses.dataclass(frozen=True)
class Phantom:
  """Equilibrium by ``forward`` (no tape), then ``steps`` damped steps ``v ← (1 − λ) v + λ f(v)``
  differentiated by backpropagation: the phantom gradient (Geng et al., 2021; ``steps = 1``,
  ``damping = 1`` is Jacobian-free backpropagation, Fung et al., 2022).

  It approximates the implicit gradient by a truncated, damped Neumann series, which stays
  well-behaved where the forward solve stopped short of a fixed point (the implicit function
  theorem then linearises at a point that is not one). The probe stays zero: there is no
  backward solve. Returns the last damped step (the equilibrium itself where ``f(v*) = v*``).

  Attributes:
    forward: solver of the forward problem.
    steps: damped steps differentiated (``k``), the cost of the backward pass.
    damping: ``λ`` in (0, 1].
  """

  forward: Solver
  steps: int = 5
  damping: float = 0.5

  def __post_init__(self):
    if not isinstance(self.steps, int) or self.steps < 1:
      raise ValueError(f"Phantom needs steps >= 1, got {self.steps!r}.")
    if not 0.0 < self.damping <= 1.0:
      raise ValueError(f"Phantom damping must be in (0, 1], got {self.damping}.")

  def __call__(self, f: Callable, v0: Any, *args: Any, probe: SolveStats | None = None, batched: bool = False):
    del probe
    # No tangents reach the solve: its inputs are cut from the tape.
    v_star, stats = solve(f, *jax.lax.stop_gradient((v0, *args)), solver=self.forward, batched=batched)

    def damped(v, *args):
      return jax.tree.map(lambda old, new: (1 - self.damping) * old + self.damping * new, v, f(v, *args))

    v, _ = unroll(damped, v_star, *args, num_iters=self.steps, batched=batched)
    return v, stats
