"""How far an implicit planner's gradient is from the exact implicit gradient, and from backprop.

The backward pass of an implicit planner solves a linear fixed point with a small budget
(``K_bwd = 15`` Anderson iterations by default), or takes a few damped steps (the phantom
gradient). Whether that is enough depends on the trained weights: a cell whose Jacobian
contracts like ``γ = 0.99`` needs hundreds of plain iterations. `implicit_gradient_error`
measures it for given weights and data, and also compares with the gradient that backpropagation
through the forward iterations themselves would give (the explicit twin at ``k = K_fwd``, started
from the same zero state): where the forward solve stopped short of a fixed point the two part.
Training logs both at an interval.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from implicit_planning.equilibrium import Anderson, Implicit, Unrolled, backward_probe
from implicit_planning.planners import Batch, Planner, PlannerNet


@functools.partial(jax.jit, static_argnames=("net", "loss_fn"))
def _differentiate(net: PlannerNet, loss_fn: Callable, params: Any, batch: Batch, probe: jax.Array):
  """Jitted once per (net, loss_fn): a later check of the same planner reuses the compilation."""

  def loss(params, probe):
    out = net.apply(params, batch, probe)
    logits, stats = out.logits, out.stats
    return loss_fn(logits), stats.forward

  return jax.grad(loss, argnums=(0, 1), has_aux=True)(params, probe)


def _gradient(net: PlannerNet, params: Any, batch: Batch, loss_fn: Callable):
  """``(grads, forward stats, backward stats)`` of ``loss_fn(logits)``, stats as NumPy arrays."""
  probe = backward_probe(batch["maps"].shape[0], net.options.jax_dtype)
  (grads, backward), forward = _differentiate(net, loss_fn, params, batch, probe)
  to_numpy = lambda tree: jax.tree.map(np.asarray, tree)
  return jax.tree.map(lambda g: np.asarray(g, np.float64), grads), to_numpy(forward), to_numpy(backward)


def _flat(tree: Any) -> np.ndarray:
  return np.concatenate([np.ravel(g) for g in jax.tree.leaves(tree)])


def _compare(grads: Any, reference: Any) -> dict[str, float]:
  """Relative error and cosine of ``grads`` against ``reference`` over all parameters."""
  flat, ref = _flat(grads), _flat(reference)
  ref_norm = np.linalg.norm(ref)
  return {
    "relative_error": float(np.linalg.norm(flat - ref) / ref_norm),
    "cosine": float(flat @ ref / (np.linalg.norm(flat) * ref_norm)),
  }


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
  """Compares ``planner``'s gradient with a tightly converged backward solve and with backprop.

  All gradients use ``planner``'s forward solve. The reference solves the backward linear fixed
  point with Anderson acceleration of memory 50 (on a linear problem, GMRES in disguise: it
  converges where plain iteration diverges, e.g. at initial weights whose cell is no
  contraction), up to ``reference_k_bwd`` iterations to relative residual ``reference_tol``, with
  a negligible ridge. The unrolled gradient backpropagates through ``K_fwd`` applications of the
  cell from the zero state (what the forward solve computes when it runs plain iteration to its
  budget). With ``x64`` everything is computed in float64, so the errors are the backward pass's
  truncation and the forward solve's distance from a fixed point; check ``reference_residual``
  and ``forward_residual``.

  Args:
    planner: an implicit planner (``id_*``), as trained.
    params: its parameters.
    batch: the problems (see `Planner.apply`).
    loss_fn: ``logits [B, 4, H, W] → scalar`` (close over the labels). The gradients are
      compiled once per planner and ``loss_fn`` object: pass the same function to repeat a
      check cheaply.
    reference_k_bwd: iteration budget of the reference backward solve.
    reference_tol: its relative-residual tolerance.
    x64: compute the gradients in float64.

  Returns:
    A dict: ``relative_error`` and ``cosine`` of the planner's gradient against the reference
    (over all parameters), ``max_tensor_relative_error`` and ``tensor_relative_error`` (per
    parameter path), ``unrolled_relative_error`` and ``unrolled_cosine`` against backprop through
    the forward iterations, the checked backward pass's mean ``backward_iterations`` and
    ``backward_residual``, the reference's worst ``reference_iterations`` and
    ``reference_residual``, the worst ``forward_residual``, and the configuration
    (``backward_solver``, ``k_bwd``, ``reference_k_bwd``, ``dtype``).

  Raises:
    ValueError: ``planner`` is explicit (its gradient is exact backpropagation).
  """
  if not planner.spec.implicit:
    raise ValueError(f"{planner.name} is explicit: its gradient is exact backpropagation, nothing to check.")
  dtype = "float64" if x64 else planner.options.dtype
  options = planner.options.replace(dtype=dtype)
  reference_solver = Anderson(max_iter=reference_k_bwd, tol=reference_tol, memory=50, ridge=1e-14)
  nets = {
    "checked": PlannerNet(planner.spec.family, options, planner.mode),
    "reference": PlannerNet(planner.spec.family, options, Implicit(planner.mode.forward, reference_solver)),
    "unrolled": PlannerNet(planner.spec.family, options, Unrolled(options.k_fwd), learned_start=False),
  }
  with jax.enable_x64(x64):
    params = jax.tree.map(lambda x: jnp.asarray(x, dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, params)
    results = {name: _gradient(net, params, batch, loss_fn) for name, net in nets.items()}
  (grads, forward, backward), (ref_grads, _, ref_backward) = results["checked"], results["reference"]
  per_tensor = {
    jax.tree_util.keystr(path): float(np.linalg.norm(g - r) / max(np.linalg.norm(r), np.finfo(float).tiny))
    for (path, g), r in zip(jax.tree_util.tree_leaves_with_path(grads), jax.tree.leaves(ref_grads))
  }
  unrolled = _compare(grads, results["unrolled"][0])
  return {
    **_compare(grads, ref_grads),
    "max_tensor_relative_error": max(per_tensor.values()),
    "tensor_relative_error": per_tensor,
    "unrolled_relative_error": unrolled["relative_error"],
    "unrolled_cosine": unrolled["cosine"],
    "backward_iterations": float(np.mean(backward.iterations)),
    "backward_residual": float(np.mean(backward.best_residual)),
    "reference_iterations": float(np.max(ref_backward.iterations)),
    "reference_residual": float(np.max(ref_backward.best_residual)),
    "forward_residual": float(np.max(forward.best_residual)),
    "backward_solver": planner.options.backward_solver,
    "k_bwd": planner.options.k_bwd,
    "reference_k_bwd": reference_k_bwd,
    "dtype": dtype,
  }
