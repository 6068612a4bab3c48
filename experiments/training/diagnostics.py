"""Why a planner trains as it does, measured on one validation batch: diagnostics as data.

Seed 0's parameters on the first ``batch_size`` validation maps: the spectral radius of the cell's
Jacobian at the returned state (how contractive the learned cell is), the forward solve's residual
quantiles (how far from an equilibrium it stopped), the value map's effective horizon (how far from
the goal it still orders the cells) beside the farthest reachable distance, and for implicit
planners the gradient against a converged backward solve and against backpropagation through the
forward iterations (`implicit_planning.grad_check`). The set loss is used, so the numbers are
functions of the weights alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

import implicit_planning as ip
from experiments.training import data
from experiments.training.config import Config
from experiments.training.losses import cell_loss
from implicit_planning import metrics
from implicit_planning.grad_check import implicit_gradient_error

RADIUS_KEY = 0
"""Seed of the power iteration's start vector (the same every epoch)."""


def make_diagnose(planner: ip.Planner, split: data.DeviceSplit, config: Config) -> Callable[[Any], dict[str, float]]:
  """``diagnose(params)``: the diagnostics of seed 0 on the first batch of ``split``, as
  ``diag_*`` and ``grad_*`` fields. Compiled on the first call, reused on the later ones."""
  batch = data.gather(split, slice(0, config.batch_size), data.observes_views(planner.inputs))
  opt_actions = batch["opt_actions"]
  no_labels = jnp.zeros(opt_actions.shape[:1] + opt_actions.shape[2:], jnp.int32)
  set_loss = lambda logits: cell_loss(logits, opt_actions, no_labels, "set")  # one object: one compilation

  @jax.jit
  def forward(params, batch):
    out = planner.apply(params, batch, radius_key=jax.random.key(RADIUS_KEY))
    stats = out.stats
    horizon = metrics.effective_horizon(out.values, batch["dist"], config.wrap)
    farthest = jnp.max(jnp.where(jnp.isfinite(batch["dist"]), batch["dist"], -jnp.inf), axis=(1, 2))
    return stats.jacobian_radius, stats.forward.best_residual, horizon, farthest

  def diagnose(params: Any) -> dict[str, float]:
    params = jax.tree.map(lambda leaf: leaf[0], params)
    radius, residual, horizon, farthest = map(np.asarray, forward(params, batch))
    report = {
      "diag_jacobian_radius_mean": float(np.mean(radius)),
      "diag_jacobian_radius_max": float(np.max(radius)),
      "diag_forward_residual_p50": float(np.quantile(residual, 0.5)),
      "diag_forward_residual_p90": float(np.quantile(residual, 0.9)),
      "diag_forward_residual_max": float(np.max(residual)),
      "diag_horizon_mean": float(np.nanmean(horizon)),
      "diag_farthest_mean": float(np.mean(farthest)),
    }
    if planner.spec.implicit:
      check = implicit_gradient_error(planner, params, batch, set_loss)
      report.update(
        grad_relative_error=check["relative_error"],
        grad_cosine=check["cosine"],
        grad_unrolled_relative_error=check["unrolled_relative_error"],
        grad_unrolled_cosine=check["unrolled_cosine"],
      )
    logging.info("diagnostics: %s", ", ".join(f"{name} {value:.3g}" for name, value in report.items()))
    return report

  return diagnose
