"""Tests of `fixed_point`, `unroll` and the solvers.

Gradient checks (implicit vs central finite differences vs autodiff through
`unroll`), a closed-form oracle (policy evaluation), the solvers' statistics
(forward, and backward through the probe), batching, tracing and validation.

Numbers are checked in float64: the module-scoped fixture below enables x64
with the ``jax.enable_x64`` context manager (module-scoped, unlike conftest's
``x64``, because the module-scoped reference fixtures need it too), so it does
not leak into other test modules of the same pytest process.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from implicit_planning import (
  Anderson,
  ForwardIteration,
  SolveStats,
  backward_probe,
  fixed_point,
  solve,
  unroll,
)

PyTree = Any

# Tight solves for the gradient checks. Central differences with step FD_STEP
# amplify the forward solve's error by 1 / FD_STEP, so it must be far below
# the 1e-6 agreement asked of the gradients.
TIGHT_FORWARD = ForwardIteration(max_iter=1000, tol=1e-14)
TIGHT_BACKWARDS = {
  "forward_iteration": ForwardIteration(max_iter=1000, tol=1e-13),
  "anderson": Anderson(max_iter=200, tol=1e-13),
}
FD_STEP = 1e-5
GRAD_RTOL = 1e-6
UNROLL_ITERS = 400  # 0.9 ** 400 ≈ 5e-19: unrolling is exact to float64 here.
MODES = ("explicit_args", "closure")  # How parameters reach `fixed_point`.


@pytest.fixture(scope="module", autouse=True)
def _x64():
  with jax.enable_x64(True):
    yield


class Problem(NamedTuple):
  """A contractive map ``f(v, params)``, its parameters and a start point."""

  f: Callable[[jax.Array, PyTree], jax.Array]
  params: PyTree
  v0: jax.Array


def random_contraction(rng: np.random.Generator, n: int, norm: float) -> np.ndarray:
  """A non-symmetric ``[n, n]`` matrix of spectral norm ``norm`` (so spectral radius ≤ ``norm``)."""
  a = rng.normal(size=(n, n))
  return a * (norm / np.linalg.norm(a, 2))


def matrix_with_radius(n: int, radius: float, seed: int) -> np.ndarray:
  """A non-symmetric, well-conditioned diagonalisable ``[n, n]`` matrix of spectral radius ``radius``."""
  rng = np.random.default_rng(seed)
  eigenvalues = rng.uniform(-radius, radius, n)
  eigenvalues[0] = radius
  basis = np.eye(n) + 0.3 * rng.normal(size=(n, n)) / np.sqrt(n)
  return basis @ np.diag(eigenvalues) @ np.linalg.inv(basis)


def row_stochastic(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
  """Random non-negative matrices whose last axis sums to one."""
  p = rng.uniform(size=shape)
  return p / p.sum(axis=-1, keepdims=True)


def linear_map(v: jax.Array, params: PyTree) -> jax.Array:
  return params["map"]["A"] @ v + params["b"]


def tanh_layer(v: jax.Array, params: PyTree) -> jax.Array:
  layer = params["layer"]
  return jnp.tanh(layer["W"] @ v + layer["U"] @ params["x"])


def bellman_q(v: jax.Array, params: PyTree) -> jax.Array:
  """``[actions, states]`` Q-values ``r_a + γ P_a v``."""
  dynamics = params["dynamics"]
  return params["reward"] + dynamics["gamma"] * jnp.einsum("ast,t->as", dynamics["P"], v)


def bellman_max(v: jax.Array, params: PyTree) -> jax.Array:
  """``max_a Q`` as the value of the argmax action, so its gradient is that action's.

  With ``jnp.max`` the unrolled gradients were NaN on an H200 (fine on CPU). Its
  VJP divides by the count of entries equal to the max; the likely cause, not
  verified, is XLA:GPU computing ``Q`` twice (for the max and for the comparison)
  with different FMA contractions, so that no entry equals the max.
  """
  q = bellman_q(v, params)
  return jnp.take_along_axis(q, jnp.argmax(q, axis=0)[None], axis=0)[0]


def linear_problem() -> Problem:
  rng = np.random.default_rng(0)
  a, b = random_contraction(rng, 8, 0.9), rng.normal(size=8)
  params = {"map": {"A": jnp.asarray(a)}, "b": jnp.asarray(b)}
  return Problem(linear_map, params, jnp.zeros(8))


def tanh_problem() -> Problem:
  rng = np.random.default_rng(1)
  w, u, x = random_contraction(rng, 8, 0.8), rng.normal(size=(8, 4)), rng.normal(size=4)
  params = {"layer": {"W": jnp.asarray(w), "U": jnp.asarray(u)}, "x": jnp.asarray(x)}
  return Problem(tanh_layer, params, jnp.zeros(8))


def bellman_problem() -> Problem:
  rng = np.random.default_rng(2)
  dynamics = {"P": jnp.asarray(row_stochastic(rng, (3, 6, 6))), "gamma": jnp.asarray(0.9)}
  params = {"reward": jnp.asarray(rng.normal(size=(3, 6))), "dynamics": dynamics}
  return Problem(bellman_max, params, jnp.zeros(6))


PROBLEMS = {"linear": linear_problem, "tanh": tanh_problem, "bellman": bellman_problem}


def scalar_loss(v: jax.Array) -> jax.Array:
  return jnp.sum(jnp.sin(v) + v**2)


def implicit_loss(problem: Problem, backward, closure: bool) -> Callable[[PyTree], jax.Array]:
  """``params ↦ scalar_loss(v*)``, with params as explicit arguments or closed over."""

  def loss(params):
    solvers = {"forward": TIGHT_FORWARD, "backward": backward}
    if closure:
      v, _ = fixed_point(lambda v: problem.f(v, params), problem.v0, **solvers)
    else:
      v, _ = fixed_point(problem.f, problem.v0, params, **solvers)
    return scalar_loss(v)

  return loss


def central_differences(loss: Callable[[PyTree], jax.Array], params: PyTree, step: float) -> PyTree:
  """The gradient of ``loss`` by central differences along every coordinate (vmapped)."""
  flat, unravel = ravel_pytree(params)
  flat_loss = lambda x: loss(unravel(x))
  basis = step * jnp.eye(flat.size)
  plus = jax.vmap(flat_loss)(flat + basis)
  minus = jax.vmap(flat_loss)(flat - basis)
  return unravel((plus - minus) / (2 * step))


def relative_error(actual: PyTree, expected: PyTree) -> float:
  actual_flat, _ = ravel_pytree(actual)
  expected_flat, _ = ravel_pytree(expected)
  return float(jnp.linalg.norm(actual_flat - expected_flat) / jnp.linalg.norm(expected_flat))


def assert_no_ties(problem: Problem, min_gap: float) -> None:
  """Fails if the argmax of a Bellman problem is within ``min_gap`` of a tie at v*."""
  v, _ = fixed_point(problem.f, problem.v0, problem.params, forward=TIGHT_FORWARD)
  q = jnp.sort(bellman_q(v, problem.params), axis=0)
  assert float(jnp.min(q[-1] - q[-2])) > min_gap


@pytest.fixture(scope="module", params=sorted(PROBLEMS))
def problem(request) -> Problem:
  problem = PROBLEMS[request.param]()
  if problem.f is bellman_max:
    # Far from ties, a step of FD_STEP cannot switch the argmax: max is smooth there.
    assert_no_ties(problem, min_gap=1e-2)
  return problem


@pytest.fixture(scope="module")
def fd_grad(problem) -> PyTree:
  """Finite-difference gradient of the loss of a tightly solved v*."""

  def loss(params):
    return scalar_loss(fixed_point(problem.f, problem.v0, params, forward=TIGHT_FORWARD)[0])

  return jax.jit(central_differences, static_argnums=(0, 2))(loss, problem.params, FD_STEP)


@pytest.fixture(scope="module")
def implicit_grads(problem) -> dict[str, dict[str, PyTree]]:
  """``{backward: {"explicit_args" | "closure": gradient}}``, from one compilation."""

  def all_grads(params):
    return {
      backward: {mode: jax.grad(implicit_loss(problem, solver, closure=mode == "closure"))(params) for mode in MODES}
      for backward, solver in TIGHT_BACKWARDS.items()
    }

  return jax.jit(all_grads)(problem.params)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backward", sorted(TIGHT_BACKWARDS))
def test_implicit_gradient_matches_finite_differences(problem, fd_grad, implicit_grads, backward, mode):
  grad = implicit_grads[backward][mode]
  chex.assert_trees_all_equal_structs(grad, problem.params)
  assert relative_error(grad, fd_grad) < GRAD_RTOL


@pytest.mark.parametrize("backward", sorted(TIGHT_BACKWARDS))
def test_closure_gives_same_gradient_as_explicit_args(implicit_grads, backward):
  grads = implicit_grads[backward]
  chex.assert_trees_all_close(grads["closure"], grads["explicit_args"], rtol=1e-12, atol=0)


@pytest.fixture(scope="module")
def unrolled_grad(problem) -> PyTree:
  """Autodiff through `UNROLL_ITERS` explicit steps."""

  def loss(params):
    return scalar_loss(unroll(problem.f, problem.v0, params, num_iters=UNROLL_ITERS)[0])

  return jax.jit(jax.grad(loss))(problem.params)


@pytest.mark.parametrize("backward", sorted(TIGHT_BACKWARDS))
def test_implicit_gradient_matches_unrolled_autodiff(implicit_grads, unrolled_grad, backward):
  assert relative_error(implicit_grads[backward]["explicit_args"], unrolled_grad) < GRAD_RTOL


def test_policy_evaluation_gradients_match_closed_form():
  # V = (I − γP)⁻¹R, so for L = cᵀV: ∂L/∂R = w := (I − γP)⁻ᵀc and ∂L/∂P = γ w Vᵀ.
  rng = np.random.default_rng(3)
  n, gamma = 10, 0.9
  reward, transitions, c = rng.normal(size=n), row_stochastic(rng, (n, n)), rng.normal(size=n)
  system = np.eye(n) - gamma * transitions
  v_exact = np.linalg.solve(system, reward)
  w = np.linalg.solve(system.T, c)

  def loss(reward, transitions):
    v, _ = fixed_point(
      lambda v, r, p: r + gamma * p @ v,
      jnp.zeros(n),
      reward,
      transitions,
      forward=TIGHT_FORWARD,
      backward=TIGHT_BACKWARDS["anderson"],
    )
    return jnp.dot(c, v), v

  value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))
  (_, v), (grad_r, grad_p) = value_and_grad(reward, transitions)
  np.testing.assert_allclose(v, v_exact, rtol=1e-11)
  np.testing.assert_allclose(grad_r, w, rtol=1e-10)
  np.testing.assert_allclose(grad_p, gamma * np.outer(w, v_exact), rtol=1e-10, atol=1e-13)


def radius_095_problem() -> tuple[jax.Array, jax.Array]:
  """``(A, b)`` of ``v ↦ A v + b`` with spectral radius 0.95, ``n = 30``."""
  a = matrix_with_radius(30, 0.95, seed=4)
  b = np.random.default_rng(5).normal(size=30)
  return jnp.asarray(a), jnp.asarray(b)


def affine(v: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
  return a @ v + b


def test_anderson_needs_far_fewer_iterations_than_forward_iteration():
  solvers = {
    "anderson": Anderson(max_iter=1000, tol=1e-8),
    "forward": ForwardIteration(max_iter=1000, tol=1e-8),
  }

  @jax.jit
  def solve_each(a, b):
    return {k: fixed_point(affine, jnp.zeros_like(b), a, b, forward=s) for k, s in solvers.items()}

  a, b = radius_095_problem()
  out = solve_each(a, b)
  (v_anderson, anderson), (v_forward, forward) = out["anderson"], out["forward"]
  assert anderson.converged and forward.converged
  assert 2 * anderson.iterations <= forward.iterations
  exact = np.linalg.solve(np.eye(30) - a, b)
  np.testing.assert_allclose(v_anderson, exact, rtol=1e-5)
  np.testing.assert_allclose(v_forward, exact, rtol=1e-5)


# Backward solvers shared by several tests below, so `backward_stats` compiles once for each.
BACKWARD_ANDERSON = Anderson(max_iter=300, tol=1e-10)
BACKWARD_FORWARD = ForwardIteration(max_iter=1000, tol=1e-10)


@functools.partial(jax.jit, static_argnums=2)
def backward_stats(a: jax.Array, b: jax.Array, backward, loss_scale: float) -> tuple[PyTree, SolveStats]:
  """Gradient of ``loss_scale · Σ sin(v*)`` w.r.t. ``(A, b)`` and the backward solve's stats."""

  def loss(a, b, probe):
    solvers = {"forward": TIGHT_FORWARD, "backward": backward}
    v, _ = fixed_point(affine, jnp.zeros_like(b), a, b, **solvers, probe=probe)
    return loss_scale * jnp.sum(jnp.sin(v))

  grad_a, grad_b, stats = jax.grad(loss, argnums=(0, 1, 2))(a, b, backward_probe(dtype=jnp.float64))
  return (grad_a, grad_b), stats


def test_backward_really_uses_anderson():
  a, b = radius_095_problem()
  grad_anderson, stats_anderson = backward_stats(a, b, BACKWARD_ANDERSON, 1.0)
  grad_forward, stats_forward = backward_stats(a, b, BACKWARD_FORWARD, 1.0)
  assert stats_anderson.converged == 1 and stats_forward.converged == 1
  assert 2 * stats_anderson.iterations <= stats_forward.iterations
  chex.assert_trees_all_close(grad_anderson, grad_forward, rtol=1e-7)


def test_backward_probe_reports_stats():
  a, b = radius_095_problem()
  _, stats = backward_stats(a, b, BACKWARD_ANDERSON, 1.0)
  assert stats.iterations >= 1
  assert stats.converged == 1
  assert stats.best_residual <= BACKWARD_ANDERSON.tol and stats.residual <= BACKWARD_ANDERSON.tol

  _, stopped = backward_stats(a, b, ForwardIteration(max_iter=2, tol=1e-10), 1.0)
  assert stopped.iterations == 2
  assert stopped.converged == 0
  assert stopped.best_residual > 1e-10


def test_solves_sharing_a_probe_add_up():
  a, b = radius_095_problem()
  b_shifted = b + 1.0

  @jax.jit
  def shared_probe_stats(a, b, b_shifted):
    def loss(probe):
      total = 0.0
      for rhs, backward in ((b, BACKWARD_ANDERSON), (b_shifted, BACKWARD_FORWARD)):
        solvers = {"forward": TIGHT_FORWARD, "backward": backward}
        v, _ = fixed_point(affine, jnp.zeros_like(b), a, rhs, **solvers, probe=probe)
        total += jnp.sum(jnp.sin(v))
      return total

    return jax.grad(loss)(backward_probe(dtype=jnp.float64))

  both = shared_probe_stats(a, b, b_shifted)
  _, first = backward_stats(a, b, BACKWARD_ANDERSON, 1.0)
  _, second = backward_stats(a, b_shifted, BACKWARD_FORWARD, 1.0)
  chex.assert_trees_all_close(both, jax.tree.map(jnp.add, first, second), rtol=1e-12)
  assert both.iterations == first.iterations + second.iterations
  assert both.converged == 2


def test_vmap_matches_python_loop():
  radii = (0.3, 0.6, 0.9)
  rng = np.random.default_rng(6)
  a = jnp.stack([jnp.asarray(random_contraction(rng, 6, r)) for r in radii])
  b = jnp.asarray(rng.normal(size=(len(radii), 6)))
  solvers = {
    "forward": ForwardIteration(max_iter=1000, tol=1e-10),
    "backward": Anderson(max_iter=200, tol=1e-10),
  }

  def solve_and_grad(a, b, probe):
    def loss(a, b, probe):
      v, stats = fixed_point(affine, jnp.zeros_like(b), a, b, **solvers, probe=probe)
      return jnp.sum(jnp.sin(v)), (v, stats)

    (_, aux), grads = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(a, b, probe)
    return aux, grads

  batched = jax.jit(jax.vmap(solve_and_grad))(a, b, backward_probe(len(radii), jnp.float64))
  single = jax.jit(solve_and_grad)
  looped = [single(a[i], b[i], backward_probe(dtype=jnp.float64)) for i in range(len(radii))]
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *looped)
  chex.assert_trees_all_close(batched, stacked, rtol=1e-12, atol=1e-15)
  (_, forward_stats), (_, _, adjoint_stats) = batched
  # Each example stops on its own: the contraction rate sets its iteration count.
  assert len(set(forward_stats.iterations.tolist())) == len(radii)
  assert len(set(adjoint_stats.iterations.tolist())) > 1
  assert forward_stats.converged.all() and (adjoint_stats.converged == 1).all()


@pytest.mark.parametrize("backward", [Anderson(max_iter=200, tol=1e-10), ForwardIteration(max_iter=1000, tol=1e-10)])
@pytest.mark.parametrize("forward", [ForwardIteration(max_iter=1000, tol=1e-10), Anderson(max_iter=200, tol=1e-10)])
def test_batched_solve_matches_vmap(forward, backward):
  """``batched=True`` gives each problem exactly what ``jax.vmap`` gives it.

  Values, forward stats, gradients of per-problem and shared arguments, and
  backward stats, while the problems stop at different iterations. The
  iterate is a pytree of two leaves, so rows span several arrays.
  """
  radii = (0.3, 0.6, 0.9, 0.95)
  rng = np.random.default_rng(7)
  a = jnp.stack([jnp.asarray(random_contraction(rng, 6, r)) for r in radii])
  b = jnp.asarray(rng.normal(size=(len(radii), 6)))
  shared = jnp.asarray(rng.normal(size=6))  # a parameter every problem uses

  def pair_map(v, a, b, shared):  # one problem: v = {"x": [4], "y": [2]}
    flat = affine(jnp.concatenate([v["x"], v["y"]]), a, b + jnp.tanh(shared))
    return {"x": flat[:4], "y": flat[4:]}

  def loss(v):
    return jnp.sum(jnp.sin(v["x"])) + jnp.sum(v["y"] ** 2)

  def zeros(batch=()):
    return {"x": jnp.zeros(batch + (4,)), "y": jnp.zeros(batch + (2,))}

  solvers = {"forward": forward, "backward": backward}

  def one(a, b, shared, probe):
    v, stats = fixed_point(pair_map, zeros(), a, b, shared, **solvers, probe=probe)
    return loss(v), stats

  def via_vmap(a, b, shared, probe):
    values, stats = jax.vmap(one, (0, 0, None, 0))(a, b, shared, probe)
    return jnp.sum(values), stats

  def batched(a, b, shared, probe):
    batch_map = jax.vmap(pair_map, (0, 0, 0, None))
    v, stats = fixed_point(batch_map, zeros((len(radii),)), a, b, shared, **solvers, probe=probe, batched=True)
    return jnp.sum(jax.vmap(loss)(v)), stats

  probe = backward_probe(len(radii), jnp.float64)
  grad = lambda fn: jax.jit(jax.value_and_grad(fn, argnums=(0, 1, 2, 3), has_aux=True))(a, b, shared, probe)
  expected, got = grad(via_vmap), grad(batched)
  chex.assert_trees_all_close(got, expected, rtol=1e-10, atol=1e-14)
  (_, forward_stats), (_, _, _, adjoint_stats) = got
  assert len(set(forward_stats.iterations.tolist())) == len(radii)  # each stopped on its own
  assert forward_stats.converged.all() and (adjoint_stats.converged == 1).all()


def test_batched_iterate_needs_a_common_leading_axis():
  with pytest.raises(ValueError, match="leading batch axis"):
    solve(lambda v: v, {"x": jnp.zeros((3, 2)), "y": jnp.zeros((4,))}, solver=ForwardIteration(), batched=True)
  with pytest.raises(ValueError, match="leading batch axis"):
    solve(lambda v: v, jnp.zeros(()), solver=ForwardIteration(), batched=True)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_diverging_map_is_reported_and_returns_a_finite_iterate(dtype):
  # 2v + 1 doubles every step until the values overflow.
  diverging = ForwardIteration(max_iter=5000)
  run = jax.jit(lambda v0: fixed_point(lambda v: 2 * v + 1, v0, forward=diverging))
  v, stats = run(jnp.zeros(3, dtype))
  assert not stats.converged
  assert not jnp.isfinite(stats.residual)
  assert jnp.isfinite(stats.best_residual)
  assert stats.iterations < diverging.max_iter  # stopped at the first non-finite evaluation
  assert jnp.all(jnp.isfinite(v))


def test_slow_run_is_unconverged_with_finite_residual():
  a, b = radius_095_problem()
  slow = ForwardIteration(max_iter=5, tol=1e-10)
  run = jax.jit(lambda a, b: fixed_point(affine, jnp.zeros_like(b), a, b, forward=slow))
  _, stats = run(a, b)
  assert stats.iterations == 5
  assert not stats.converged
  assert jnp.isfinite(stats.residual) and stats.best_residual > slow.tol


def test_jit_traces_once_for_repeated_calls():
  traces_of_f = []

  def f(v, a, b):
    traces_of_f.append(None)
    return a @ v + b

  @jax.jit
  @chex.assert_max_traces(n=1)
  def value_and_grad(a, b):
    def loss(a, b):
      return jnp.sum(fixed_point(f, jnp.zeros_like(b), a, b, backward=BACKWARD_FORWARD)[0])

    return jax.value_and_grad(loss, argnums=(0, 1))(a, b)

  rng = np.random.default_rng(7)
  value_and_grad(jnp.asarray(random_contraction(rng, 5, 0.5)), jnp.asarray(rng.normal(size=5)))
  traces_after_first_call = len(traces_of_f)
  for _ in range(3):
    value_and_grad(jnp.asarray(random_contraction(rng, 5, 0.5)), jnp.asarray(rng.normal(size=5)))
  assert len(traces_of_f) == traces_after_first_call


def test_equal_solver_configs_share_a_compilation():
  @functools.partial(jax.jit, static_argnums=1)
  @chex.assert_max_traces(n=1)
  def solve_with(b, forward):
    return fixed_point(lambda v, b: 0.5 * v + b, jnp.zeros_like(b), b, forward=forward)[0]

  for _ in range(2):
    solve_with(jnp.ones(3), ForwardIteration(max_iter=30, tol=1e-6))


def test_unroll_returns_kth_iterate_like_forward_iteration_without_tol():
  rng = np.random.default_rng(8)
  a, b = jnp.asarray(random_contraction(rng, 6, 0.5)), jnp.asarray(rng.normal(size=6))
  v0, num_iters = jnp.asarray(rng.normal(size=6)), 7
  expected = v0
  for _ in range(num_iters):
    previous, expected = expected, affine(expected, a, b)

  @jax.jit
  def both_modes(v0, a, b):
    exact_k = ForwardIteration(max_iter=num_iters, tol=0.0)
    return unroll(affine, v0, a, b, num_iters=num_iters), fixed_point(affine, v0, a, b, forward=exact_k)

  (unrolled, unroll_stats), (solved, solve_stats) = both_modes(v0, a, b)
  np.testing.assert_allclose(unrolled, expected, rtol=1e-14)
  np.testing.assert_allclose(solved, expected, rtol=1e-14)
  assert unroll_stats.iterations == solve_stats.iterations == num_iters
  residual = np.linalg.norm(expected - previous) / np.linalg.norm(expected)
  np.testing.assert_allclose(unroll_stats.residual, residual, rtol=1e-10)
  np.testing.assert_allclose(solve_stats.residual, residual, rtol=1e-10)


def tiny_args() -> tuple[jax.Array, jax.Array, jax.Array]:
  """``(v0, A, b)`` of a 2-d contraction, for configuration checks."""
  return jnp.zeros(2), 0.5 * jnp.eye(2), jnp.ones(2)


BAD_CONFIGS = {
  "forward_max_iter_0": lambda: fixed_point(affine, *tiny_args(), forward=ForwardIteration(max_iter=0)),
  "forward_negative_tol": lambda: fixed_point(affine, *tiny_args(), forward=ForwardIteration(tol=-1e-6)),
  "backward_max_iter_0": lambda: fixed_point(affine, *tiny_args(), backward=Anderson(max_iter=0)),
  "backward_negative_tol": lambda: fixed_point(affine, *tiny_args(), backward=Anderson(tol=-1e-6)),
  "anderson_memory_0": lambda: Anderson(memory=0),
  "anderson_mixing_0": lambda: Anderson(mixing=0.0),
  "anderson_mixing_above_1": lambda: Anderson(mixing=1.5),
  "anderson_negative_ridge": lambda: Anderson(ridge=-1e-4),
  "unroll_0_iters": lambda: unroll(affine, *tiny_args(), num_iters=0),
  "solve_max_iter_0": lambda: solve(lambda v: 0.5 * v + 1, jnp.zeros(2), solver=ForwardIteration(max_iter=0)),
  "solve_negative_tol": lambda: solve(lambda v: 0.5 * v + 1, jnp.zeros(2), solver=Anderson(tol=-1e-6)),
}


@pytest.mark.parametrize("make", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config_raises(make):
  with pytest.raises(ValueError):
    make()


@dataclasses.dataclass(frozen=True)
class AbsoluteRidgeAnderson(Anderson):
  """DEQ's Anderson: the ridge is added to the raw Gram matrix. For contrast only."""

  def weights(self, gram, valid):  # pylint: disable=missing-function-docstring
    absolute = jnp.where(valid[:, None] & valid[None, :], gram, 0)
    absolute += jnp.diag(jnp.where(valid, self.ridge, 1.0))
    weights = jnp.linalg.solve(absolute, valid.astype(gram.dtype))
    return weights / jnp.sum(weights)


def test_relative_ridge_reaches_tight_tolerance_on_tiny_residuals():
  tol, scale = 1e-10, 1e-6
  a, b = radius_095_problem()
  exact = np.linalg.solve(np.eye(30) - a, b)

  @jax.jit
  def solve_scaled(a, b):
    anderson = Anderson(max_iter=300, tol=tol)
    absolute = AbsoluteRidgeAnderson(max_iter=300, tol=tol)
    return {
      "unit": fixed_point(affine, jnp.zeros_like(b), a, b, forward=anderson),
      "tiny": fixed_point(affine, jnp.zeros_like(b), a, scale * b, forward=anderson),
      "tiny_absolute_ridge": fixed_point(affine, jnp.zeros_like(b), a, scale * b, forward=absolute)[1],
    }

  out = solve_scaled(a, b)
  (v_unit, unit), (v_tiny, tiny) = out["unit"], out["tiny"]
  assert unit.converged and tiny.converged and tiny.best_residual <= tol
  # The relative ridge makes Anderson scale-invariant: same path, same count.
  assert tiny.iterations == unit.iterations
  np.testing.assert_allclose(v_tiny, scale * exact, rtol=1e-8)
  np.testing.assert_allclose(v_unit, exact, rtol=1e-8)
  # This problem discriminates: an absolute ridge swamps its 1e-12 Gram entries.
  assert not out["tiny_absolute_ridge"].converged


def test_relative_ridge_backward_is_scale_invariant():
  # A loss scaled by 1e-6 gives 1e-6 cotangents: the backward solve must not notice.
  a, b = radius_095_problem()
  grad_unit, stats_unit = backward_stats(a, b, BACKWARD_ANDERSON, 1.0)
  grad_tiny, stats_tiny = backward_stats(a, b, BACKWARD_ANDERSON, 1e-6)
  assert stats_unit.converged == 1 and stats_tiny.converged == 1
  assert max(stats_unit.best_residual, stats_tiny.best_residual) <= BACKWARD_ANDERSON.tol
  assert stats_tiny.iterations == stats_unit.iterations
  chex.assert_trees_all_close(grad_tiny, jax.tree.map(lambda g: 1e-6 * g, grad_unit), rtol=1e-8)


def test_anderson_incremental_gram_matches_recomputed_one():
  """The Gram matrix kept row by row equals ``GGᵀ`` of the stored residuals, ring wrap-around included."""
  solver = Anderson(memory=3)
  rng = np.random.default_rng(0)
  state = solver.init(jnp.zeros((2, 6)))
  for _ in range(7):
    x, fx = jnp.asarray(rng.normal(size=(2, 6))), jnp.asarray(rng.normal(size=(2, 6)))
    _, state = solver.update(state, x, fx)
  recomputed = jnp.einsum("bin,bjn->bij", state.residuals, state.residuals)
  np.testing.assert_allclose(state.gram, recomputed, rtol=1e-12)


def _while_loops(jaxpr) -> list:
  """Every ``while`` equation of a (closed) jaxpr, nested ones included."""
  found = []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "while":
      found.append(eqn)
    for param in eqn.params.values():
      for sub in param if isinstance(param, (tuple, list)) else (param,):
        inner = getattr(sub, "jaxpr", sub)
        if hasattr(inner, "eqns"):
          found += _while_loops(inner)
  return found


@pytest.mark.parametrize("forward", [ForwardIteration(max_iter=1000, tol=1e-10), Anderson(max_iter=200, tol=1e-10)])
def test_vmap_over_batched_solves_is_one_solve_per_seed_and_one_loop(forward):
  """A seed axis over batched solves, as in multi-seed training: each seed gets exactly what its own
  solve gives (values, gradients, stats), and the seeds × problems are the rows of one loop, so
  Anderson's buffers stay ``[rows, memory, n]`` (written in place) instead of gaining a seed axis."""
  seeds, batch, n = 3, 4, 6
  rng = np.random.default_rng(8)
  radii = rng.uniform(0.2, 0.95, (seeds, batch))
  a = jnp.asarray([[random_contraction(rng, n, r) for r in row] for row in radii])
  b = jnp.asarray(rng.normal(size=(seeds, batch, n)))
  shared = jnp.asarray(rng.normal(size=(seeds, n)))  # per-seed parameters every problem uses
  solvers = {"forward": forward, "backward": Anderson(max_iter=200, tol=1e-10)}

  def one_seed(a, b, shared, probe):
    batch_map = jax.vmap(lambda v, a, b, shared: affine(v, a, b + jnp.tanh(shared)), (0, 0, 0, None))
    v, stats = fixed_point(batch_map, jnp.zeros(b.shape), a, b, shared, **solvers, probe=probe, batched=True)
    return jnp.sum(jnp.sin(v)), stats

  grad = jax.value_and_grad(one_seed, argnums=(0, 1, 2, 3), has_aux=True)
  probes = backward_probe((seeds, batch), jnp.float64)
  together = jax.jit(jax.vmap(grad))(a, b, shared, probes)
  alone = [jax.jit(grad)(a[s], b[s], shared[s], backward_probe(batch, jnp.float64)) for s in range(seeds)]
  chex.assert_trees_all_close(together, jax.tree.map(lambda *xs: jnp.stack(xs), *alone), rtol=1e-10, atol=1e-14)

  jaxpr = jax.make_jaxpr(jax.vmap(grad))(a, b, shared, probes)
  loops = _while_loops(jaxpr.jaxpr)
  assert len(loops) == 2  # the forward and the backward solve, each one loop over every row
  carried = {tuple(var.aval.shape) for loop in loops for var in loop.outvars}
  assert (seeds * batch, n) in carried and not any(shape[:2] == (seeds, batch) for shape in carried)


def test_a_per_problem_budget_stops_each_problem_there_in_one_compiled_solve():
  """Budgets 3, 7 and 5 (two above the solver's own max_iter) stop each problem after exactly that
  many evaluations, with what a solve of that max_iter returns, batched or under ``jax.vmap``; a
  new budget reuses the compiled solve; the implicit gradient is that of a solve of that max_iter."""
  rng = np.random.default_rng(11)
  a = jnp.stack([jnp.asarray(random_contraction(rng, 6, 0.95)) for _ in range(3)])
  b = jnp.asarray(rng.normal(size=(3, 6)))
  budgets = jnp.array([3, 7, 5])
  solver = ForwardIteration(max_iter=4, tol=1e-12)
  exactly = lambda k: ForwardIteration(max_iter=k, tol=1e-12)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def batched(a, b, budget):
    return solve(jax.vmap(affine), jnp.zeros_like(b), a, b, solver=solver, batched=True, budget=budget)

  mapped = jax.jit(jax.vmap(lambda a, b, k: solve(affine, jnp.zeros(6), a, b, solver=solver, budget=k)))
  for budget in (budgets, budgets + 2):
    for v, stats in (batched(a, b, budget), mapped(a, b, budget)):
      np.testing.assert_array_equal(stats.iterations, budget)
      for i, k in enumerate(budget.tolist()):
        np.testing.assert_allclose(v[i], solve(affine, jnp.zeros(6), a[i], b[i], solver=exactly(k))[0], rtol=1e-13)

  def grad(forward, budget=None):
    def loss(b):
      v, _ = fixed_point(affine, jnp.zeros(6), a[0], b, forward=forward, backward=BACKWARD_ANDERSON, budget=budget)
      return jnp.sum(jnp.sin(v))

    return jax.jit(jax.grad(loss))(b[0])

  np.testing.assert_allclose(grad(solver, jnp.int32(7)), grad(exactly(7)), rtol=1e-12)
