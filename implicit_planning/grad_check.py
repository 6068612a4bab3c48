"""How far an implicit planner's gradient is from the exact implicit gradient.

The backward pass of an implicit planner solves a linear fixed point with a
small budget (``K_bwd = 15`` Anderson iterations by default). Whether that
budget is enough depends on the trained weights: a cell whose Jacobian
contracts like ``γ = 0.99`` needs hundreds of plain iterations, and Anderson
with few iterations can be worse than plain iteration. `implicit_gradient_error`
measures it for given weights and data, so training can log it at an interval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from implicit_planning.equilibrium import Anderson, Implicit, Solver, backward_probe
from implicit_planning.planners import Batch, Planner, PlannerNet


def _gradient(net: PlannerNet, params: Any, batch: Batch, loss_fn: Callable):
  """``(grads, forward stats, backward stats)`` of ``loss_fn(logits)``, stats as NumPy arrays."""

  def loss(params, probe):
    logits, _, stats = net.apply(params, batch, probe)
    return loss_fn(logits), stats.forward

  probe = backward_probe(batch["maps"].shape[0], net.options.jax_dtype)
  (grads, backward), forward = jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))(params, probe)
  to_numpy = lambda tree: jax.tree.map(np.asarray, tree)
  return jax.tree.map(lambda g: np.asarray(g, np.float64), grads), to_numpy(forward), to_numpy(backward)


def _net(planner: Planner, backward: Solver, dtype) -> PlannerNet:
  """``planner``'s network with another backward solver and dtype (same parameters)."""
  options = planner.options.replace(dtype=dtype)
  return PlannerNet(planner.spec.family, options, Implicit(planner.mode.forward, backward))


def implicit_gradient_error(
  planner: Planner,
  params: Any,
  batch: Batch,
  loss_fn: Callable[[jax.Array], jax.Array],
  *,
  reference_k_bwd: int = 500,
  reference_tol: float = 1e-10,
  x64: bool = True,
) -> dict[str, Any]:
  """Compares ``planner``'s gradient with a tightly converged backward solve.

  Both gradients use ``planner``'s forward solve; the reference solves the
  backward linear fixed point with Anderson acceleration of memory 50 (on a
  linear problem, GMRES in disguise: it converges where plain iteration
  diverges, e.g. at initial weights whose cell is no contraction), up to
  ``reference_k_bwd`` iterations to relative residual ``reference_tol``, with
  a negligible ridge. With ``x64`` both are computed in float64, so the error
  is the backward solver's truncation alone; check ``reference_residual``
  (and ``forward_residual``: far from a fixed point the implicit gradient
  itself means little).

  Args:
    planner: an implicit planner (``id_*``), as trained.
    params: its parameters.
    batch: the problems (see `Planner.apply`).
    loss_fn: ``logits [B, 4, H, W] → scalar`` (close over the labels).
    reference_k_bwd: iteration budget of the reference backward solve.
    reference_tol: its relative-residual tolerance.
    x64: compute both gradients in float64.

  Returns:
    A dict: ``relative_error`` (``‖g − g*‖ / ‖g*‖`` over all parameters),
    ``cosine``, ``max_tensor_relative_error`` and ``tensor_relative_error``
    (per parameter path), the checked solve's mean ``backward_iterations``
    and ``backward_residual``, the reference's worst ``reference_iterations``
    and ``reference_residual``, the worst ``forward_residual``, and the
    configuration (``backward_solver``, ``k_bwd``, ``reference_k_bwd``, ``dtype``).

  Raises:
    ValueError: ``planner`` is explicit (it has no backward solve).
  """
  if not isinstance(planner.mode, Implicit):
    raise ValueError(f"{planner.name} is explicit: its gradient is exact backpropagation, nothing to check.")
  dtype = "float64" if x64 else planner.options.dtype
  reference_solver = Anderson(max_iter=reference_k_bwd, tol=reference_tol, memory=50, ridge=1e-14)
  with jax.enable_x64(x64):
    params = jax.tree.map(lambda x: jnp.asarray(x, dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, params)
    grads, forward, backward = _gradient(_net(planner, planner.mode.backward, dtype), params, batch, loss_fn)
    ref_grads, _, ref_backward = _gradient(_net(planner, reference_solver, dtype), params, batch, loss_fn)
  flat = np.concatenate([np.ravel(g) for g in jax.tree.leaves(grads)])
  ref_flat = np.concatenate([np.ravel(g) for g in jax.tree.leaves(ref_grads)])
  ref_norm = np.linalg.norm(ref_flat)
  per_tensor = {
    jax.tree_util.keystr(path): float(np.linalg.norm(g - r) / max(np.linalg.norm(r), np.finfo(float).tiny))
    for (path, g), r in zip(jax.tree_util.tree_leaves_with_path(grads), jax.tree.leaves(ref_grads))
  }
  return {
    "relative_error": float(np.linalg.norm(flat - ref_flat) / ref_norm),
    "cosine": float(flat @ ref_flat / (np.linalg.norm(flat) * ref_norm)),
    "max_tensor_relative_error": max(per_tensor.values()),
    "tensor_relative_error": per_tensor,
    "backward_iterations": float(np.mean(backward.iterations)),
    "backward_residual": float(np.mean(backward.best_residual)),
    "reference_iterations": float(np.max(ref_backward.iterations)),
    "reference_residual": float(np.max(ref_backward.best_residual)),
    "forward_residual": float(np.max(forward.best_residual)),
    "backward_solver": type(planner.mode.backward).__name__,
    "k_bwd": planner.mode.backward.max_iter,
    "reference_k_bwd": reference_k_bwd,
    "dtype": dtype,
  }
