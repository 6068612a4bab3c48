"""The fixed-point core: solvers, the solve loop, implicit and unrolled differentiation, statistics.

Imports nothing else of the project. ``fixed_point`` (implicit) and ``unroll``
(explicit) take the same ``f(v, *args)``; `Implicit` and `Unrolled` are the
two as values a planner is configured with.
"""

from implicit_planning.fixed_point.anderson import Anderson, AndersonState
from implicit_planning.fixed_point.forward_iteration import DEFAULT_TOL, ForwardIteration
from implicit_planning.fixed_point.implicit import fixed_point
from implicit_planning.fixed_point.loop import Solver, flatten_rows, solve
from implicit_planning.fixed_point.modes import Implicit, Unrolled
from implicit_planning.fixed_point.solvers import SOLVERS, make_solver
from implicit_planning.fixed_point.stats import SolveStats, backward_probe, relative_residual
from implicit_planning.fixed_point.unroll import unroll

__all__ = [
  "Anderson",
  "AndersonState",
  "DEFAULT_TOL",
  "ForwardIteration",
  "Implicit",
  "SOLVERS",
  "SolveStats",
  "Solver",
  "Unrolled",
  "backward_probe",
  "fixed_point",
  "flatten_rows",
  "make_solver",
  "relative_residual",
  "solve",
  "unroll",
]
