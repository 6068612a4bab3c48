"""Each implicit planner's gradient at ``K_bwd`` against a tightly converged float64 reference.

With plain iteration and with Anderson as the backward solver, on freshly initialised weights and
after ``train_steps`` training steps on mazes (`implicit_planning.grad_check`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

import implicit_planning as ip
from experiments.benchmarks.problems import Settings, cross_entropy, mazes, size_options
from experiments.benchmarks.step import make_train_step
from implicit_planning.grad_check import implicit_gradient_error


def run(
  settings: Settings,
  planners: Sequence[str] | None = None,
  train_steps: int = 60,
  reference_k_bwd: int = 500,
  grad_batch: int = 8,
) -> list[dict[str, Any]]:
  """One row per implicit planner, training stage and backward solver."""
  names = [name for name in (planners or ip.PLANNERS) if ip.planner_spec(name).implicit]
  batch, labels = mazes(15, grad_batch, settings.seed)
  loss_fn = lambda logits: cross_entropy(logits, labels)
  rows = []
  for name in names:
    option = size_options(ip.planner_spec(name), settings)
    # The paper's cell as trained there: K_fwd = 30 forward iterations, K_bwd Anderson, default tolerances.
    planner = ip.make_planner(
      name, recipe="paper", k_fwd=30, k_bwd=settings.k_bwd, conv_impl=settings.conv_impl, **option
    )
    params = planner.init(jax.random.key(settings.seed), batch)
    step, optimizer = make_train_step(planner, labels)
    opt_state = optimizer.init(params)
    for trained in (0, train_steps):
      for _ in range(trained):
        params, opt_state, _ = step(params, opt_state, batch)
      for solver in ip.SOLVERS:
        checked = ip.with_mode(planner, backward_solver=solver)
        result = implicit_gradient_error(checked, params, batch, loss_fn, reference_k_bwd=reference_k_bwd)
        row = {"planner": name, "train_steps": trained, **option, **result}
        rows.append(row)
        print(format_row(row), flush=True)
  return rows


HEADER = (
  f"{'planner':<14} {'steps':>5} {'solver':<17} {'K_bwd':>5} {'rel err':>8} {'cosine':>8} "
  f"{'max tensor':>10} {'ref res':>8} {'fwd res':>8}"
)


def format_row(row: dict[str, Any]) -> str:
  return (
    f"{row['planner']:<14} {row['train_steps']:>5} {row['backward_solver']:<17} {row['k_bwd']:>5} "
    f"{row['relative_error']:>8.2e} {row['cosine']:>8.5f} {row['max_tensor_relative_error']:>10.2e} "
    f"{row['reference_residual']:>8.1e} {row['forward_residual']:>8.1e}"
  )
