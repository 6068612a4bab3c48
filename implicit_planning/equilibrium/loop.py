"""The solve loop: `solve` iterates a map with a `Solver` inside one ``lax.while_loop``.

A *solver* (`ForwardIteration`, `Anderson`) knows one step on a batch of flat
vectors; `solve` owns the loop, the residuals, the best-iterate bookkeeping,
the non-finite checks and the statistics. How gradients flow is decided one
level up (`implicit.fixed_point`, `unroll.unroll`).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from implicit_planning.equilibrium.stats import SolveStats, relative_residual

PyTree = Any


class Solver(Protocol):
  """One step of a fixed-point method on a batch of flat vectors ``[B, n]``, one problem per row.

  See `ForwardIteration`, `Anderson`.
  """

  max_iter: int
  tol: float

  def init(self, x0: jax.Array) -> Any: ...

  def update(self, state: Any, x: jax.Array, fx: jax.Array) -> tuple[jax.Array, Any]: ...


def check_solver(solver: Solver, role: str) -> None:
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


def per_problem(stats: SolveStats, batched: bool) -> SolveStats:
  return stats if batched else jax.tree.map(lambda s: s[0], stats)


def solve(
  f: Callable[..., PyTree],
  x0: PyTree,
  *args: PyTree,
  solver: Solver,
  batched: bool = False,
  budget: jax.Array | None = None,
) -> tuple[PyTree, SolveStats]:
  """Iterates ``x ← f(x, *args)`` from ``x0`` with ``solver`` inside one ``lax.while_loop``.

  A problem stops after ``solver.max_iter`` evaluations (or its ``budget``), once its relative
  residual is at most ``solver.tol``, or as soon as an evaluation is
  non-finite. Returns the image ``f(x)`` of the iterate with the lowest
  residual seen (so plain iteration for ``K`` steps returns ``f^K(x0)`` while
  residuals decrease), and never a non-finite value unless the very first
  evaluation was one.

  Under ``jax.vmap`` the mapped axis becomes more rows of one batched solve
  (`_vmap_rule`): the loop state stays ``[rows, n]`` and the solver keeps
  writing its buffers in place, while ``f`` is vmapped over whatever in
  ``args`` is mapped (a seed axis of parameters, say). Vmapping the loop
  itself would carry one predicate per mapped element and turn Anderson's
  ring-buffer writes into copying scatters.

  Args:
    f: the map ``f(x, *args)``; with ``batched``, a map of batches (it must treat the rows
      independently). Traced values it closes over are hoisted into ``args``
      (``jax.closure_convert``); passing them in ``args`` is the clear way.
    x0: initial iterate (a pytree).
    *args: pytrees ``f`` reads.
    solver: `ForwardIteration`, `Anderson`, or any `Solver`.
    batched: every leaf of ``x0`` has a leading axis of independent problems.
      Each gets its own residual, Anderson weights, stopping and statistics
      (``[B]``), exactly as under ``jax.vmap``, but ``f`` runs once per step on
      the whole batch and the solver's buffers are written in place. A
      finished problem's result and statistics are frozen while the others go
      on (its iterate keeps moving and is discarded: ``f`` must not mix rows).
      Without it the whole pytree is one problem.
    budget: evaluations at most for each problem (int, ``[B]`` with ``batched``, a scalar
      otherwise; traced values welcome), in place of ``solver.max_iter``: one compiled solve runs
      any number of iterations, and the problems of a batch may each get their own. Default
      ``solver.max_iter``.

  Returns:
    ``(x, stats)``; stats fields are ``[B]`` with ``batched``, scalars otherwise.
  """
  check_solver(solver, "solve's")
  closed, consts = jax.closure_convert(f, x0, *args)
  return _solve(closed, solver, batched, x0, (*args, *consts), budget)


def _problem_budget(x0: PyTree, solver: Solver, batched: bool, budget: jax.Array | None) -> jax.Array:
  """``budget`` (default ``solver.max_iter``) as int32, one per problem of ``x0``: ``[B]`` or a scalar."""
  shape = jax.tree.leaves(x0)[0].shape[:1] if batched else ()
  limit = solver.max_iter if budget is None else budget
  return jnp.broadcast_to(jnp.asarray(limit, jnp.int32), shape)


def _solve(
  f: Callable[..., PyTree], solver: Solver, batched: bool, x0: PyTree, args: tuple, budget: jax.Array | None = None
) -> tuple[PyTree, SolveStats]:
  """`solve` with every array input explicit (``x0``, ``budget``, ``args``), so a vmap rule sees what is mapped."""

  @jax.custom_batching.custom_vmap
  def run(x0, budget, args):
    return _loop(lambda x: f(x, *args), x0, budget, solver, batched)

  run.def_vmap(functools.partial(_vmap_rule, f, solver, batched))
  return run(x0, _problem_budget(x0, solver, batched, budget), args)


def _vmap_rule(f, solver, batched, axis_size, in_batched, x0, budget, args):
  """``vmap`` of a solve as one batched solve over the mapped axis times the problems."""
  x0_mapped, budget_mapped, args_mapped = in_batched
  x0 = jax.tree.map(lambda x, m: x if m else jnp.broadcast_to(x, (axis_size, *x.shape)), x0, x0_mapped)
  budget = budget if budget_mapped else jnp.broadcast_to(budget, (axis_size, *budget.shape))
  args_axes = jax.tree.map(lambda m: 0 if m else None, args_mapped)
  if batched:  # [S, B, ...] rows fold into [S·B, ...]
    fold = lambda tree: jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), tree)
    unfold = lambda tree: jax.tree.map(lambda x: x.reshape((axis_size, -1, *x.shape[1:])), tree)
  else:  # S single problems are S rows
    fold = unfold = lambda tree: tree

  def rows_f(x, *args):
    return fold(jax.vmap(lambda xs, a: f(xs, *a), in_axes=(0, args_axes))(unfold(x), args))

  out = unfold(_solve(rows_f, solver, True, fold(x0), args, budget.reshape(-1)))
  return out, jax.tree.map(lambda _: True, out)


def _loop(
  g: Callable[[PyTree], PyTree], x0: PyTree, budget: jax.Array, solver: Solver, batched: bool
) -> tuple[PyTree, SolveStats]:
  """The ``while_loop`` of `solve` for ``x ← g(x)``; ``budget`` is `_problem_budget`'s."""
  x0_flat, unflatten = flatten_rows(x0, batched)
  budget = budget if batched else budget[None]

  def evaluate(x: jax.Array) -> jax.Array:
    fx, _ = flatten_rows(g(unflatten(x)), batched)
    return fx.astype(x0_flat.dtype)

  def cond(carry):
    *_, done = carry
    return ~jnp.all(done)

  def body(carry):
    x, state, best_fx, best_res, res, iterations, done = carry
    fx = evaluate(x)
    new_res = relative_residual(x, fx)
    active = ~done
    improved = active & (new_res < best_res)  # False for NaN: a diverged value is never "best".
    best_fx = jnp.where(improved[:, None], fx, best_fx)
    best_res = jnp.where(improved, new_res, best_res)
    res = jnp.where(active, new_res, res)
    iterations = iterations + active
    done = done | (new_res <= solver.tol) | ~jnp.isfinite(new_res) | (iterations >= budget)
    # A finished problem keeps iterating with the batch (rows are independent,
    # so this is harmless, and cheaper than freezing it); what it reports is frozen above.
    x_next, state = solver.update(state, x, fx)
    return x_next, state, best_fx, best_res, res, iterations, done

  batch = x0_flat.shape[0]
  inf = jnp.full((batch,), jnp.inf, x0_flat.dtype)
  zeros = jnp.zeros((batch,), jnp.int32)
  init = (x0_flat, solver.init(x0_flat), x0_flat, inf, inf, zeros, budget < 1)
  _, _, best_fx, best_res, res, iterations, _ = jax.lax.while_loop(cond, body, init)
  converged = (best_res <= solver.tol) & jnp.isfinite(res)
  return unflatten(best_fx), per_problem(SolveStats(iterations, res, best_res, converged), batched)
