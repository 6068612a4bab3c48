"""The fixed-point core: solvers, the solve loop, implicit, phantom and unrolled differentiation, statistics.

Imports nothing else of the project (and is not named ``fixed_point``, which is the function).
``fixed_point`` (implicit) and ``unroll`` (explicit) take the same ``f(v, *args)``; `Implicit`,
`Phantom` and `Unrolled` are the ways gradients flow, as values a planner is configured with.
"""

from implicit_planning.equilibrium.anderson import Anderson, AndersonState
from implicit_planning.equilibrium.forward_iteration import DEFAULT_TOL, ForwardIteration
from implicit_planning.equilibrium.implicit import fixed_point
from implicit_planning.equilibrium.jacobian import jacobian_penalty, spectral_radius
from implicit_planning.equilibrium.loop import Solver, flatten_rows, solve
from implicit_planning.equilibrium.modes import Implicit, Mode, Phantom, Unrolled, with_iterates
from implicit_planning.equilibrium.solvers import SOLVERS, make_solver
from implicit_planning.equilibrium.stats import SolveStats, backward_probe, relative_residual
from implicit_planning.equilibrium.unroll import unroll

__all__ = [
  "Anderson",
  "AndersonState",
  "DEFAULT_TOL",
  "ForwardIteration",
  "Implicit",
  "Mode",
  "Phantom",
  "SOLVERS",
  "SolveStats",
  "Solver",
  "Unrolled",
  "backward_probe",
  "fixed_point",
  "flatten_rows",
  "jacobian_penalty",
  "make_solver",
  "relative_residual",
  "solve",
  "spectral_radius",
  "unroll",
  "with_iterates",
]
