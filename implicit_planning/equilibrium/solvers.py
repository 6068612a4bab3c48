"""Solvers by name: the one list that configs, flags and ``make_planner`` read."""

from __future__ import annotations

from typing import Any

from implicit_planning.equilibrium.anderson import Anderson
from implicit_planning.equilibrium.forward_iteration import DEFAULT_TOL, ForwardIteration
from implicit_planning.equilibrium.loop import Solver

SOLVERS: dict[str, type] = {"iteration": ForwardIteration, "anderson": Anderson}


def make_solver(name: str, max_iter: int, tol: float = DEFAULT_TOL, **options: Any) -> Solver:
  """The solver called ``name`` (a key of `SOLVERS`); ``options`` go to its constructor (Anderson's
  ``memory``, ``mixing``, ``ridge``)."""
  if name not in SOLVERS:
    raise ValueError(f"Unknown solver {name!r}; expected one of {tuple(SOLVERS)}.")
  return SOLVERS[name](max_iter=max_iter, tol=tol, **options)
