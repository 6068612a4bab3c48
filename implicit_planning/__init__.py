"""implicit-planning: differentiable planners (VIN, SymVIN, ConvGPPN) with implicit differentiation.

Public surface; the implementation lives in one module per concept.
"""

from implicit_planning.anderson import Anderson
from implicit_planning.fixed_point import fixed_point, solve, unroll
from implicit_planning.forward_iteration import ForwardIteration
from implicit_planning.solve_stats import SolveStats, backward_probe

__all__ = [
    "Anderson",
    "ForwardIteration",
    "SolveStats",
    "backward_probe",
    "fixed_point",
    "solve",
    "unroll",
]
