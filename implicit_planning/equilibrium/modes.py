"""How gradients flow through the planning loop: a value passed to the planner.

``Implicit`` solves for the equilibrium with `fixed_point` (constant-cost
backward pass); ``Phantom`` solves for it too, then back-propagates through a
few damped steps taken from it; ``Unrolled`` back-propagates through
``num_iters`` applications with `unroll` (the explicit planners). All take the
same cell. `with_iterates` runs a mode and also returns states on the way, for
a loss on intermediate iterates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from implicit_planning.equilibrium.forward_iteration import ForwardIteration
from implicit_planning.equilibrium.implicit import fixed_point
from implicit_planning.equilibrium.loop import Solver, solve
from implicit_planning.equilibrium.stats import SolveStats
from implicit_planning.equilibrium.unroll import unroll


@dataclasses.dataclass(frozen=True)
class Implicit:
  """Equilibrium by ``forward``, gradients by the implicit function theorem with ``backward``."""

  forward: Solver
  backward: Solver

  def __call__(
    self,
    f: Callable,
    v0: Any,
    *args: Any,
    probe: SolveStats | None = None,
    batched: bool = False,
    budget: jax.Array | None = None,
  ):
    return fixed_point(
      f, v0, *args, forward=self.forward, backward=self.backward, probe=probe, batched=batched, budget=budget
    )


@dataclasses.dataclass(frozen=True)
class Unrolled:
  """``num_iters`` applications, differentiated layer by layer (the probe stays zero)."""

  num_iters: int

  def __call__(
    self,
    f: Callable,
    v0: Any,
    *args: Any,
    probe: SolveStats | None = None,
    batched: bool = False,
    budget: jax.Array | None = None,
  ):
    del probe
    if budget is not None:
      raise ValueError("an unrolled planner's depth is its num_iters; a per-problem budget is for solved modes.")
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

  def __call__(
    self,
    f: Callable,
    v0: Any,
    *args: Any,
    probe: SolveStats | None = None,
    batched: bool = False,
    budget: jax.Array | None = None,
  ):
    del probe
    # No tangents reach the solve: its inputs are cut from the tape.
    v_star, stats = solve(f, *jax.lax.stop_gradient((v0, *args)), solver=self.forward, batched=batched, budget=budget)

    def damped(v, *args):
      return jax.tree.map(lambda old, new: (1 - self.damping) * old + self.damping * new, v, f(v, *args))

    v, _ = unroll(damped, v_star, *args, num_iters=self.steps, batched=batched)
    return v, stats


Mode = Implicit | Phantom | Unrolled
"""How a planner iterates its cell and differentiates the result."""


def mode_budget(mode: Mode) -> int:
  """Applications of ``f`` the mode makes at most: an explicit planner's depth, an implicit one's forward budget."""
  return mode.num_iters if isinstance(mode, Unrolled) else mode.forward.max_iter


def with_budget(mode: Mode, num_iters: int) -> Mode:
  """``mode`` with ``num_iters`` applications of ``f`` at most (its solvers otherwise unchanged)."""
  if isinstance(mode, Unrolled):
    return Unrolled(num_iters)
  return dataclasses.replace(mode, forward=dataclasses.replace(mode.forward, max_iter=num_iters))


def with_iterates(
  mode: Mode,
  f: Callable,
  v0: Any,
  *args: Any,
  num_iterates: int,
  probe: SolveStats | None = None,
  batched: bool = False,
  budget: jax.Array | None = None,
) -> tuple[Any, SolveStats, tuple[Any, ...]]:
  """``mode(f, v0, *args)`` plus ``num_iterates`` states on the way, each differentiable, for a loss.

  The mode's budget (`mode_budget`) is cut into ``num_iterates + 1`` segments, the last taking the
  remainder; the state after each of the first ``num_iterates`` is returned, and the mode itself
  runs from the last of them with what is left. Unrolled, the intermediate states are on the tape
  (deep supervision of the layers). Implicit and phantom, the segments are plain iteration without
  a tape (the same iterates as the forward solve's when it iterates plainly; an Anderson solve
  restarts from the last one), and each intermediate state is differentiated through one
  application of ``f`` from it: the Jacobian-free gradient, as the fixed-point correction of
  deep equilibrium flow estimation (Bai et al., 2022). The stats count every segment's iterations.
  A per-problem ``budget`` (see `solve`) goes to the mode, with no intermediate states.

  Returns:
    ``(state, stats, iterates)``: the mode's result and stats, and the intermediate states.
  """
  if budget is not None:
    if num_iterates:
      raise ValueError("supervised iterates cut the mode's own budget into segments; they take no per-problem budget.")
    state, stats = mode(f, v0, *args, probe=probe, batched=batched, budget=budget)
    return state, stats, ()
  total = mode_budget(mode)
  segment = total // (num_iterates + 1)
  if num_iterates < 0 or (num_iterates and segment < 1):
    raise ValueError(f"{num_iterates} supervised iterates need a budget of at least {num_iterates + 1}, got {total}.")
  state, iterates, done = v0, [], 0
  for _ in range(num_iterates):
    if isinstance(mode, Unrolled):
      state, stats = unroll(f, state, *args, num_iters=segment, batched=batched)
      iterates.append(state)
    else:
      plain = ForwardIteration(max_iter=segment, tol=mode.forward.tol)
      state, stats = solve(f, *jax.lax.stop_gradient((state, *args)), solver=plain, batched=batched)
      iterates.append(f(state, *args))
    done = done + stats.iterations
  state, stats = with_budget(mode, total - num_iterates * segment)(f, state, *args, probe=probe, batched=batched)
  return state, stats._replace(iterations=stats.iterations + done), tuple(iterates)
