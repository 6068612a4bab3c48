"""How gradients flow through the planning loop: a value passed to the planner.

``Implicit`` solves for the equilibrium with `fixed_point` (constant-cost
backward pass); ``Unrolled`` back-propagates through ``num_iters`` applications
with `unroll` (the explicit planners). Both take the same cell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from implicit_planning.fixed_point.implicit import fixed_point
from implicit_planning.fixed_point.loop import Solver
from implicit_planning.fixed_point.stats import SolveStats
from implicit_planning.fixed_point.unroll import unroll


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
