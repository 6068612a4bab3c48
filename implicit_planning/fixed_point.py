"""The ``fixed_point`` primitive: solve ``v = f(v, *args)`` and differentiate implicitly.

Three separate things, as in optimistix: a *solver* (`ForwardIteration`,
`Anderson`) knows one step; `solve` owns the ``while_loop``, the residuals,
the best-iterate bookkeeping and the non-finite checks; `fixed_point` decides
how gradients flow (implicit function theorem, with its own backward solver),
while `unroll` is the explicit alternative (autodiff through ``K`` steps).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, Callable, Protocol

import jax
import jax.numpy as jnp

from implicit_planning.anderson import Anderson
from implicit_planning.forward_iteration import DEFAULT_TOL, ForwardIteration
from implicit_planning.solve_stats import SolveStats, as_float, backward_probe, relative_residual

PyTree = Any


class Solver(Protocol):
  """One step of a fixed-point method on a batch of flat vectors ``[B, n]``, one problem per row.

  See `ForwardIteration`, `Anderson`.
  """

  max_iter: int
  tol: float

  def init(self, x0: jax.Array) -> Any: ...

  def update(self, state: Any, x: jax.Array, fx: jax.Array) -> tuple[jax.Array, Any]: ...


def _check_solver(solver: Solver, role: str) -> None:
  if not isinstance(solver.max_iter, int) or solver.max_iter < 1:
    raise ValueError(f"{role} solver needs max_iter >= 1, got {solver.max_iter!r}.")
  if solver.tol < 0:
    raise ValueError(f"{role} solver needs tol >= 0, got {solver.tol!r}.")


def flatten_rows(tree: PyTree, batched: bool) -> tuple[jax.Array, Callable[[jax.Array], PyTree]]:
  """``tree`` as a ``[B, n]`` matrix (one row per problem) and the inverse map.

  With ``batched`` every leaf has the leading problem axis ``B``; otherwise the
  whole tree is one problem (``B = 1``). Leaves are promoted to one dtype, as
  in ``ravel_pytree``, and cast back by the inverse.
  """
  leaves, treedef = jax.tree.flatten(tree)
  if not leaves:
    raise ValueError("fixed-point iterate has no array leaves.")
  if not batched:
    leaves = [leaf[None] for leaf in leaves]
  batch = leaves[0].shape[0] if leaves[0].ndim else None
  if batch is None or any(leaf.ndim == 0 or leaf.shape[0] != batch for leaf in leaves):
    shapes = [tuple(leaf.shape) for leaf in jax.tree.leaves(tree)]
    raise ValueError(f"batched fixed-point iterate needs one leading batch axis on every leaf, got shapes {shapes}.")
  shapes = [leaf.shape for leaf in leaves]
  dtypes = [leaf.dtype for leaf in leaves]
  sizes = [math.prod(shape[1:]) for shape in shapes]
  dtype = jnp.result_type(*dtypes)
  flat = jnp.concatenate([leaf.reshape(batch, -1).astype(dtype) for leaf in leaves], axis=1)

  def unflatten(rows: jax.Array) -> PyTree:
    pieces = jnp.split(rows, list(itertools.accumulate(sizes))[:-1], axis=1)
    out = [piece.reshape(shape).astype(dt) for piece, shape, dt in zip(pieces, shapes, dtypes)]
    if not batched:
      out = [leaf[0] for leaf in out]
    return jax.tree.unflatten(treedef, out)

  return flat, unflatten


def _per_problem(stats: SolveStats, batched: bool) -> SolveStats:
  return stats if batched else jax.tree.map(lambda s: s[0], stats)


def solve(
    g: Callable[[PyTree], PyTree], x0: PyTree, solver: Solver, *, batched: bool = False
) -> tuple[PyTree, SolveStats]:
  """Iterates ``g`` from ``x0`` with ``solver`` inside one ``lax.while_loop``.

  A problem stops after ``solver.max_iter`` evaluations, once its relative
  residual is at most ``solver.tol``, or as soon as an evaluation is
  non-finite. Returns the image ``g(x)`` of the iterate with the lowest
  residual seen (so plain iteration for ``K`` steps returns ``g^K(x0)`` while
  residuals decrease), and never a non-finite value unless the very first
  evaluation was one.

  Args:
    g: the map; with ``batched``, a map of batches (``g`` must treat the rows independently).
    x0: initial iterate (a pytree).
    solver: `ForwardIteration`, `Anderson`, or any `Solver`.
    batched: every leaf of ``x0`` has a leading axis of independent problems.
      Each gets its own residual, Anderson weights, stopping and statistics
      (``[B]``), exactly as under ``jax.vmap``, but ``g`` runs once per step on
      the whole batch and the solver's buffers are written in place. A
      finished problem's result and statistics are frozen while the others go
      on (its iterate keeps moving and is discarded: ``g`` must not mix rows).
      Without it the whole pytree is one problem.

  Returns:
    ``(x, stats)``; stats fields are ``[B]`` with ``batched``, scalars otherwise.
  """
  _check_solver(solver, "solve's")
  x0_flat, unflatten = flatten_rows(x0, batched)

  def evaluate(x: jax.Array) -> jax.Array:
    fx, _ = flatten_rows(g(unflatten(x)), batched)
    return fx.astype(x0_flat.dtype)

  def cond(carry):
    step, *_, done = carry
    return (step < solver.max_iter) & ~jnp.all(done)

  def body(carry):
    step, x, state, best_fx, best_res, res, iterations, done = carry
    fx = evaluate(x)
    new_res = relative_residual(x, fx)
    active = ~done
    improved = active & (new_res < best_res)  # False for NaN: a diverged value is never "best".
    best_fx = jnp.where(improved[:, None], fx, best_fx)
    best_res = jnp.where(improved, new_res, best_res)
    res = jnp.where(active, new_res, res)
    iterations = iterations + active
    done = done | (new_res <= solver.tol) | ~jnp.isfinite(new_res)
    # A finished problem keeps iterating with the batch (rows are independent,
    # so this is harmless, and cheaper than freezing it); what it reports is frozen above.
    x_next, state = solver.update(state, x, fx)
    return step + 1, x_next, state, best_fx, best_res, res, iterations, done

  batch = x0_flat.shape[0]
  inf = jnp.full((batch,), jnp.inf, x0_flat.dtype)
  zeros = jnp.zeros((batch,), jnp.int32)
  init = (jnp.zeros((), jnp.int32), x0_flat, solver.init(x0_flat), x0_flat, inf, inf, zeros, zeros.astype(bool))
  _, _, _, best_fx, best_res, res, iterations, _ = jax.lax.while_loop(cond, body, init)
  converged = (best_res <= solver.tol) & jnp.isfinite(res)
  return unflatten(best_fx), _per_problem(SolveStats(iterations, res, best_res, converged), batched)


def fixed_point(
    f: Callable[..., PyTree],
    v0: PyTree,
    *args: PyTree,
    forward: Solver = ForwardIteration(max_iter=30),
    backward: Solver = Anderson(max_iter=15),
    probe: SolveStats | None = None,
    batched: bool = False,
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

  Returns:
    ``(v_star, stats)`` with the forward solve's `SolveStats`.
  """
  _check_solver(forward, "forward")
  _check_solver(backward, "backward")
  closed_f, consts = jax.closure_convert(f, v0, *args)
  if probe is None:
    leaves = jax.tree.leaves(v0)
    probe = backward_probe(leaves[0].shape[:1] if batched else (), jnp.result_type(*leaves))
  return _implicit_solve(closed_f, forward, backward, batched, v0, (*args, *consts), probe)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def _implicit_solve(f, forward, backward, batched, v0, args, probe):
  del backward, probe
  return solve(lambda v: f(v, *args), v0, forward, batched=batched)


def _implicit_solve_fwd(f, forward, backward, batched, v0, args, probe):
  v_star, stats = _implicit_solve(f, forward, backward, batched, v0, args, probe)
  return (v_star, stats), (v_star, args, v0, probe)


def _implicit_solve_bwd(f, forward, backward, batched, residuals, cotangents):
  del forward
  v_star, args, v0, probe = residuals
  v_bar, _ = cotangents  # The stats' cotangent carries nothing.
  # Two linearisations, so the loop pays only for the cheap VJP in v.
  _, vjp_v = jax.vjp(lambda v: f(v, *args), v_star)
  _, vjp_args = jax.vjp(lambda *a: f(v_star, *a), *args)

  def adjoint_step(w):
    (w_jac,) = vjp_v(w)
    return jax.tree.map(jnp.add, w_jac, v_bar)

  w, stats = solve(adjoint_step, jax.tree.map(jnp.zeros_like, v_bar), backward, batched=batched)
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
    batched: bool = False,
) -> tuple[PyTree, SolveStats]:
  """Applies ``f`` ``num_iters`` times with ``lax.scan``: the explicit mode.

  Reverse-mode autodiff goes through every step (memory grows with
  ``num_iters``). The stats describe the last step, with the same meaning as
  `fixed_point`'s (per problem with ``batched``), so callers treat both modes alike.
  """
  if not isinstance(num_iters, int) or num_iters < 1:
    raise ValueError(f"unroll needs num_iters >= 1, got {num_iters!r}.")

  def step(v, _):
    return f(v, *args), None

  v_prev, _ = jax.lax.scan(step, v0, None, length=num_iters - 1)
  v_last = f(v_prev, *args)
  flat_prev, _ = flatten_rows(v_prev, batched)
  flat_last, _ = flatten_rows(v_last, batched)
  res = jax.lax.stop_gradient(relative_residual(flat_prev, flat_last.astype(flat_prev.dtype)))
  iterations = jnp.full(res.shape, num_iters, jnp.int32)
  stats = SolveStats(iterations, res, res, (res <= tol) & jnp.isfinite(res))
  return v_last, _per_problem(stats, batched)
