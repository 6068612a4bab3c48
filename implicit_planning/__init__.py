"""implicit-planning: differentiable planners (VIN, SymVIN, ConvGPPN) with implicit differentiation.

Public surface; the implementation lives in one module per concept.
"""

from implicit_planning.anderson import Anderson
from implicit_planning.fixed_point import fixed_point, solve, unroll
from implicit_planning.family import PlannerOptions
from implicit_planning.forward_iteration import ForwardIteration
from implicit_planning import metrics
from implicit_planning.metrics import PolicyMetrics, policy_metrics
from implicit_planning.modes import Implicit, Unrolled
from implicit_planning.planner import PLANNERS, Planner, PlannerStats, make_planner, with_mode
from implicit_planning.solve_stats import SolveStats, backward_probe

__all__ = [
    "Anderson",
    "ForwardIteration",
    "Implicit",
    "PLANNERS",
    "Planner",
    "PlannerOptions",
    "PlannerStats",
    "PolicyMetrics",
    "Unrolled",
    "SolveStats",
    "backward_probe",
    "fixed_point",
    "make_planner",
    "metrics",
    "policy_metrics",
    "solve",
    "unroll",
    "with_mode",
]
