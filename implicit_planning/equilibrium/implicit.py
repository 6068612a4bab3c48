"""``fixed_point``: solve ``v* = f(v*, *args)`` and differentiate ``v*`` by the implicit function theorem.

The forward solve keeps no autodiff tape; the reverse pass solves the linear
fixed point ``wᵀ = wᵀ ∂f/∂v(v*) + ḡ`` with its own solver and returns
``wᵀ ∂f/∂args``, so its cost does not grow with the forward iteration count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from implicit_planning.equilibrium.anderson import Anderson
from implicit_planning.equilibrium.forward_iteration import ForwardIteration
from implicit_planning.equilibrium.loop import PyTree, Solver, check_solver, solve
from implicit_planning.equilibrium.stats import SolveStats, as_float, backward_probe


def fixed_point(
  f: Callable[..., PyTree],
  v0: PyTree,
  *args: PyTree,
  forward: Solver = ForwardIteration(max_iter=30),
  backward: Solver = Anderson(max_iter=15),
  probe: SolveStats | None = None,
  batched: bool = False,
  budget: jax.Array | None = None,
) -> tuple[PyTree, SolveStats]:
  """Solves ``v* = f(v*, *args)`` and differentiates through ``v*`` implicitly.

  Forward: ``forward`` iterates from ``v0`` (no autodiff tape is kept).
  Reverse mode: for the cotangent ``ḡ`` of ``v*`` the ``backward`` solver
  solves the linear fixed point ``wᵀ = wᵀ ∂f/∂v(v*) + ḡ`` with VJPs of ``f``,
  and ``wᵀ ∂f/∂args`` is the cotangent of ``args``; ``v0`` gets zero.

  Args:
    f: ``f(v, *args)`` returning a pytree shaped like ``v``. Values it closes
      over are hoisted with ``jax.closure_convert`` and receive gradients too,
      but passing parameters explicitly in ``args`` is the clear way.
    v0: initial iterate.
    *args: pytrees ``f`` depends on (parameters, the reward map, ...).
    forward: solver of the nonlinear forward problem.
    backward: solver of the linear backward problem.
    probe: optional `backward_probe()` zeros (``backward_probe(B)`` when
      batched); the gradient of a loss w.r.t. it is the backward solve's
      `SolveStats` (as floats).
    batched: ``v0`` (and ``f``'s output) carries a leading axis of independent
      problems, ``f`` maps batches (see `solve`). Same results as
      ``jax.vmap`` over the problems, faster: ``f`` runs once per step on the
      batch, and the backward pass computes the cotangent of unbatched
      ``args`` (shared weights) with one contraction over the whole batch
      instead of one per problem.
    budget: the forward solve's evaluations at most for each problem, in place of
      ``forward.max_iter`` (see `solve`).

  Returns:
    ``(v_star, stats)`` with the forward solve's `SolveStats`.
  """
  check_solver(forward, "forward")
  check_solver(backward, "backward")
  closed_f, consts = jax.closure_convert(f, v0, *args)
  if probe is None:
    leaves = jax.tree.leaves(v0)
    probe = backward_probe(leaves[0].shape[:1] if batched else (), jnp.result_type(*leaves))
  return _implicit_solve(closed_f, forward, backward, batched, v0, (*args, *consts), probe, budget)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def _implicit_solve(f, forward, backward, batched, v0, args, probe, budget):
  del backward, probe
  return solve(f, v0, *args, solver=forward, batched=batched, budget=budget)


def _implicit_solve_fwd(f, forward, backward, batched, v0, args, probe, budget):
  v_star, stats = _implicit_solve(f, forward, backward, batched, v0, args, probe, budget)
  return (v_star, stats), (v_star, args, v0, probe)


def _implicit_solve_bwd(f, forward, backward, batched, residuals, cotangents):
  del forward
  v_star, args, v0, probe = residuals
  v_bar, _ = cotangents  # The stats' cotangent carries nothing.
  # Two linearisations, so the loop pays only for the cheap VJP in v.
  _, vjp_v = jax.vjp(lambda v: f(v, *args), v_star)
  _, vjp_args = jax.vjp(lambda *a: f(v_star, *a), *args)

  # The pullback is a pytree of its residuals, passed explicitly so that a vmapped solve sees them.
  w, stats = solve(_adjoint_step, jax.tree.map(jnp.zeros_like, v_bar), vjp_v, v_bar, solver=backward, batched=batched)
  args_bar = vjp_args(w)
  probe_bar = as_float(stats, jax.tree.leaves(probe)[0].dtype)
  return jax.tree.map(jnp.zeros_like, v0), args_bar, probe_bar, None  # an integer budget has no cotangent


def _adjoint_step(w: PyTree, vjp_v: Callable, v_bar: PyTree) -> PyTree:
  """``wᵀ ∂f/∂v + ḡ``: one step of the backward (adjoint) fixed point."""
  (w_jac,) = vjp_v(w)
  return jax.tree.map(jnp.add, w_jac, v_bar)


_implicit_solve.defvjp(_implicit_solve_fwd, _implicit_solve_bwd)
