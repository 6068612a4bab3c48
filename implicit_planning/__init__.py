"""implicit-planning: differentiable planners (VIN, SymVIN, ConvGPPN, GPPN) with implicit differentiation.

The public surface; the layers, each importing only those above it in this list:
  * `equilibrium`: solvers, the solve loop, implicit, phantom and unrolled differentiation,
    statistics, the Jacobian's spectral radius;
  * `ops`: grid convolutions, the Bellman max op, symmetry groups, the action convention;
  * `planners`: the families, the network composing them, the registry and ``make_planner``;
  * `mappers`: observation → map models, and `with_mapper` composing one with a planner;
  * `metrics` (exact policy scores) and `grad_check` (implicit-gradient accuracy);
  * `pretrained`: trained planners by name (``load_pretrained``).
"""

from implicit_planning import mappers, metrics, pretrained
from implicit_planning.equilibrium import (
  SOLVERS,
  Anderson,
  ForwardIteration,
  Implicit,
  Phantom,
  SolveStats,
  Unrolled,
  backward_probe,
  fixed_point,
  make_solver,
  solve,
  unroll,
  with_iterates,
)
from implicit_planning.mappers import make_mapper, with_mapper
from implicit_planning.metrics import PolicyMetrics, policy_metrics
from implicit_planning.planners import (
  PLANNERS,
  RECIPES,
  Batch,
  CellFamily,
  Planner,
  PlannerOptions,
  PlannerOutput,
  PlannerSpec,
  PlannerStats,
  make_planner,
  planner_spec,
  recipe_options,
  register_family,
  register_planner,
  with_mode,
)
from implicit_planning.pretrained import load_pretrained

__all__ = [
  "Anderson",
  "Batch",
  "CellFamily",
  "ForwardIteration",
  "Implicit",
  "Phantom",
  "PLANNERS",
  "Planner",
  "PlannerOptions",
  "PlannerOutput",
  "PlannerSpec",
  "PlannerStats",
  "PolicyMetrics",
  "RECIPES",
  "SOLVERS",
  "SolveStats",
  "Unrolled",
  "backward_probe",
  "fixed_point",
  "load_pretrained",
  "make_mapper",
  "make_planner",
  "make_solver",
  "mappers",
  "metrics",
  "planner_spec",
  "policy_metrics",
  "pretrained",
  "recipe_options",
  "register_family",
  "register_planner",
  "solve",
  "unroll",
  "with_iterates",
  "with_mapper",
  "with_mode",
]
