"""The ``fixed_point`` primitive: solve ``v = f(v, *args)`` and differentiate implicitly.

Three separate things, as in optimistix: a *solver* (`ForwardIteration`,
`Anderson`) knows one step; `solve` owns the ``while_loop``, the residuals,
the best-iterate bookkeeping and the non-finite checks; `fixed_point` decides
how gradients flow (implicit function theorem, with its own backward solver),
while `unroll` is the explicit alternative (autodiff through ``K`` steps).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Protocol

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from implicit_planning.anderson import Anderson
from implicit_planning.forward_iteration import DEFAULT_TOL, ForwardIteration
from implicit_planning.solve_stats import SolveStats, as_float, backward_probe, relative_residual

PyTree = Any


class Solver(Protocol):
  """One step of a fixed-point method on flat vectors (see `ForwardIteration`, `Anderson`)."""

  max_iter: int
  tol: float

  def init(self, x0: jax.Array) -> Any: ...

  def update(self, state: Any, x: jax.Array, fx: jax.Array) -> tuple[jax.Array, Any]: ...


def _check_solver(solver: Solver, role: str) -> None:
  if not isinstance(solver.max_iter, int) or solver.max_iter < 1:
    raise ValueError(f"{role} solver needs max_iter >= 1, got {solver.max_iter!r}.")
  if solver.tol < 0:
    raise ValueError(f"{role} solver needs tol >= 0, got {solver.tol!r}.")


def solve(g: Callable[[PyTree], PyTree], x0: PyTree, solver: Solver) -> tuple[PyTree, SolveStats]:
  """Iterates ``g`` from ``x0`` with ``solver`` inside one ``lax.while_loop``.

  Stops after ``solver.max_iter`` evaluations, once the relative residual is at
  most ``solver.tol``, or as soon as an evaluation is non-finite. Returns the
  image ``g(x)`` of the iterate with the lowest residual seen (so plain
  iteration for ``K`` steps returns ``g^K(x0)`` while residuals decrease), and
  never a non-finite value unless the very first evaluation was one.

  The whole pytree is one problem (one norm, one set of Anderson weights); use
  ``jax.vmap`` for a batch of independent problems.
  """
  _check_solver(solver, "solve's")
  x0_flat, unravel = ravel_pytree(x0)

  def evaluate(x_flat: jax.Array) -> jax.Array:
    fx_flat, _ = ravel_pytree(g(unravel(x_flat)))
    return fx_flat.astype(x0_flat.dtype)

  def cond(carry):
    k, _, _, _, _, _, done = carry
    return (k < solver.max_iter) & ~done

  def body(carry):
    k, x, state, best_fx, best_res, _, _ = carry
    fx = evaluate(x)
    res = relative_residual(x, fx)
    improved = res < best_res  # False for NaN: a diverged value is never "best".
    best_fx = jnp.where(improved, fx, best_fx)
    best_res = jnp.where(improved, res, best_res)
    x_next, state = solver.update(state, x, fx)
    done = (res <= solver.tol) | ~jnp.isfinite(res)
    return k + 1, x_next, state, best_fx, best_res, res, done

  inf = jnp.asarray(jnp.inf, x0_flat.dtype)
  init = (jnp.zeros((), jnp.int32), x0_flat, solver.init(x0_flat), x0_flat, inf, inf, jnp.zeros((), bool))
  k, _, _, best_fx, best_res, res, _ = jax.lax.while_loop(cond, body, init)
  converged = (best_res <= solver.tol) & jnp.isfinite(res)
  return unravel(best_fx), SolveStats(k, res, best_res, converged)


def fixed_point(
    f: Callable[..., PyTree],
    v0: PyTree,
    *args: PyTree,
    forward: Solver = ForwardIteration(max_iter=30),
    backward: Solver = Anderson(max_iter=15),
    probe: SolveStats | None = None,
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
    probe: optional `backward_probe()` zeros; the gradient of a loss w.r.t. it
      is the backward solve's `SolveStats` (as floats).

  Returns:
    ``(v_star, stats)`` with the forward solve's `SolveStats`.
  """
  _check_solver(forward, "forward")
  _check_solver(backward, "backward")
  closed_f, consts = jax.closure_convert(f, v0, *args)
  if probe is None:
    probe = backward_probe(dtype=ravel_pytree(v0)[0].dtype)
  return _implicit_solve(closed_f, forward, backward, v0, (*args, *consts), probe)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _implicit_solve(f, forward, backward, v0, args, probe):
  del probe
  return solve(lambda v: f(v, *args), v0, forward)


def _implicit_solve_fwd(f, forward, backward, v0, args, probe):
  v_star, stats = _implicit_solve(f, forward, backward, v0, args, probe)
  return (v_star, stats), (v_star, args, v0, probe)


def _implicit_solve_bwd(f, forward, backward, residuals, cotangents):
  del forward
  v_star, args, v0, probe = residuals
  v_bar, _ = cotangents  # The stats' cotangent carries nothing.
  # Two linearisations, so the loop pays only for the cheap VJP in v.
  _, vjp_v = jax.vjp(lambda v: f(v, *args), v_star)
  _, vjp_args = jax.vjp(lambda *a: f(v_star, *a), *args)

  def adjoint_step(w):
    (w_jac,) = vjp_v(w)
    return jax.tree.map(jnp.add, w_jac, v_bar)

  w, stats = solve(adjoint_step, jax.tree.map(jnp.zeros_like, v_bar), backward)
  args_bar = vjp_args(w)
  probe_bar = as_float(stats, jax.tree.leaves(probe)[0].dtype)
  return jax.tree.map(jnp.zeros_like, v0), args_bar, probe_bar


_implicit_solve.defvjp(_implicit_solve_fwd, _implicit_solve_bwd)


def unroll(
    f: Callable[..., PyTree],
    v0: PyTree,
    *args: PyTree,
    num_iters: int,
    tol: float = DEFAULT_TOL,
) -> tuple[PyTree, SolveStats]:
  """Applies ``f`` ``num_iters`` times with ``lax.scan``: the explicit mode.

  Reverse-mode autodiff goes through every step (memory grows with
  ``num_iters``). The stats describe the last step, with the same meaning as
  `fixed_point`'s, so callers treat both modes alike.
  """
  if not isinstance(num_iters, int) or num_iters < 1:
    raise ValueError(f"unroll needs num_iters >= 1, got {num_iters!r}.")

  def step(v, _):
    return f(v, *args), None

  v_prev, _ = jax.lax.scan(step, v0, None, length=num_iters - 1)
  v_last = f(v_prev, *args)
  flat_prev, _ = ravel_pytree(v_prev)
  flat_last, _ = ravel_pytree(v_last)
  res = jax.lax.stop_gradient(relative_residual(flat_prev, flat_last.astype(flat_prev.dtype)))
  stats = SolveStats(jnp.asarray(num_iters, jnp.int32), res, res, (res <= tol) & jnp.isfinite(res))
  return v_last, stats
