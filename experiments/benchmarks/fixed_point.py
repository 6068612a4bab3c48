"""Implicit (`fixed_point`) against explicit (`unroll`) differentiation of a VIN-like map.

``jax.value_and_grad`` of a scalar loss through ``K`` steps of a VIN-like Bellman map (max over
``channels`` of a 3×3 convolution of ``[reward, v]``) on a ``grid × grid`` map, vmapped over a
batch, in float32: implicit (``ForwardIteration(max_iter=K, tol=0)`` forward, ``Anderson(15)``
backward) and explicit (``unroll(num_iters=K)``). Median wall time after a warm-up call and XLA's
compiled temporary memory of each; and the iterations Anderson and forward iteration need on a
linear problem of spectral radius 0.95 (float64, to 1e-8) and on the VIN-like map (float32, 1e-5).
"""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks.timing import measure
from implicit_planning import Anderson, ForwardIteration, SolveStats, backward_probe, fixed_point, unroll

# The v-part of every channel's kernel is non-negative and sums to CONTRACTION,
# like γ times a transition stencil: a sup-norm contraction with that modulus
# that, as in VIN, propagates values across the map over many iterations.
CONTRACTION = 0.9
BACKWARD = Anderson(max_iter=15)


def vin_map(values: jax.Array, reward: jax.Array, kernel: jax.Array) -> jax.Array:
  """One VIN-like Bellman step on one map.

  Args:
    values: ``[H, W]`` current values ``v``.
    reward: ``[H, W]`` reward map ``r``.
    kernel: ``[channels, 2, 3, 3]`` (OIHW) weights on ``[r, v]``.

  Returns:
    ``[H, W]`` ``max_c conv3x3([r, v])_c`` with zero padding.
  """
  stacked = jnp.stack([reward, values])[None]  # [1, 2, H, W]
  q = jax.lax.conv_general_dilated(
    stacked,
    kernel,
    window_strides=(1, 1),
    padding="SAME",
    dimension_numbers=("NCHW", "OIHW", "NCHW"),
  )
  return jnp.max(q[0], axis=0)


def make_problem(seed: int, grid: int, batch: int, channels: int) -> dict[str, jax.Array]:
  """Random rewards ``[B, H, W]``, targets ``[B, H, W]`` and a contractive kernel (float32)."""
  rng = np.random.default_rng(seed)
  reward_part = 0.1 * rng.normal(size=(channels, 3, 3))
  value_part = rng.uniform(size=(channels, 3, 3))
  value_part *= CONTRACTION / value_part.sum(axis=(1, 2), keepdims=True)
  kernel = np.stack([reward_part, value_part], axis=1)
  return {
    "kernel": jnp.asarray(kernel, jnp.float32),
    "rewards": jnp.asarray(rng.normal(size=(batch, grid, grid)), jnp.float32),
    "targets": jnp.asarray(rng.normal(size=(batch, grid, grid)), jnp.float32),
  }


def solve_batch(
  mode: str,
  num_iters: int,
  kernel: jax.Array,
  rewards: jax.Array,
  probe: SolveStats | None = None,
) -> jax.Array:
  """``[B, H, W]`` values after ``num_iters`` steps (``mode`` implicit or explicit), vmapped."""

  def one(reward, probe):
    v0 = jnp.zeros_like(reward)
    if mode == "implicit":
      solvers = {"forward": ForwardIteration(max_iter=num_iters, tol=0.0), "backward": BACKWARD}
      return fixed_point(vin_map, v0, reward, kernel, **solvers, probe=probe)[0]
    return unroll(vin_map, v0, reward, kernel, num_iters=num_iters)[0]

  return jax.vmap(one)(rewards, probe)


def loss_fn(mode: str, num_iters: int) -> Callable[..., jax.Array]:
  """``(kernel, rewards, targets) ↦`` mean squared error of the values."""

  def loss(kernel, rewards, targets):
    return jnp.mean((solve_batch(mode, num_iters, kernel, rewards) - targets) ** 2)

  return loss


def backward_stats(num_iters: int, problem: dict[str, jax.Array]) -> SolveStats:
  """Per-example ``[B]`` stats of the implicit mode's Anderson backward solve (via the probe)."""

  def loss(probe):
    values = solve_batch("implicit", num_iters, problem["kernel"], problem["rewards"], probe)
    return jnp.mean((values - problem["targets"]) ** 2)

  return jax.jit(jax.grad(loss))(backward_probe(problem["rewards"].shape[0]))


def relative_difference(a: jax.Array, b: jax.Array) -> float:
  return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


def time_gradients(problem: dict[str, jax.Array], ks: list[int], repeats: int) -> list[dict[str, Any]]:
  """One row per (mode, K): times, temp bytes and, for implicit rows, the backward stats."""
  args = (problem["kernel"], problem["rewards"], problem["targets"])
  rows = []
  for num_iters in ks:
    grads = {}
    for mode in ("implicit", "explicit"):
      fn = jax.jit(jax.value_and_grad(loss_fn(mode, num_iters)))
      temp_bytes = fn.lower(*args).compile().memory_analysis().temp_size_in_bytes
      timing = measure(fn, args, repeats)
      grads[mode] = fn(*args)[1]
      rows.append({"mode": mode, "K": num_iters, "temp_bytes": temp_bytes, **timing})
    stats = backward_stats(num_iters, problem)
    rows[-2].update(
      backward_iterations_mean=float(jnp.mean(stats.iterations)),
      backward_residual_mean=float(jnp.mean(stats.best_residual)),
      backward_converged_fraction=float(jnp.mean(stats.converged)),
      grad_rel_diff_vs_explicit=relative_difference(grads["implicit"], grads["explicit"]),
    )
  return rows


def count_iterations(solve_one: Callable[[Any], SolveStats], solvers: dict[str, Any]) -> dict[str, dict[str, Any]]:
  """Iterations (mean, max) and converged fraction of each solver.

  Args:
    solve_one: ``solver ↦`` the (possibly batched) forward `SolveStats`.
    solvers: the solvers to compare, by name.
  """
  out = {}
  for name, solver in solvers.items():
    stats = jax.jit(functools.partial(solve_one, solver))()
    out[name] = {
      "iterations_mean": float(jnp.mean(stats.iterations)),
      "iterations_max": int(jnp.max(stats.iterations)),
      "converged_fraction": float(jnp.mean(stats.converged)),
      "config": repr(solver),
    }
  return out


def linear_radius_095(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """``(A, b)``: a non-symmetric diagonalisable ``A`` with spectral radius exactly 0.95."""
  rng = np.random.default_rng(seed)
  eigenvalues = rng.uniform(-0.95, 0.95, n)
  eigenvalues[0] = 0.95
  basis = np.eye(n) + 0.3 * rng.normal(size=(n, n)) / np.sqrt(n)
  return basis @ np.diag(eigenvalues) @ np.linalg.inv(basis), rng.normal(size=n)


def iteration_counts(problem: dict[str, jax.Array], seed: int) -> dict[str, Any]:
  """Anderson vs forward iteration, to 1e-8 on a linear ρ = 0.95 problem (float64), to 1e-5 on
  the VIN-like map (float32)."""

  def solvers(max_iter, tol):
    return {"anderson": Anderson(max_iter, tol), "forward_iteration": ForwardIteration(max_iter, tol)}

  with jax.enable_x64(True):
    a, b = map(jnp.asarray, linear_radius_095(100, seed))

    def linear_stats(solver):
      return fixed_point(lambda v, a, b: a @ v + b, jnp.zeros_like(b), a, b, forward=solver)[1]

    linear = count_iterations(linear_stats, solvers(10_000, 1e-8))

  def vin_stats(solver):
    def one(reward):
      return fixed_point(vin_map, jnp.zeros_like(reward), reward, problem["kernel"], forward=solver)[1]

    return jax.vmap(one)(problem["rewards"])

  vin = count_iterations(vin_stats, solvers(2000, 1e-5))
  return {"linear_radius_0.95_n100_float64_tol1e-8": linear, "vin_like_float32_tol1e-5": vin}


def format_tables(rows: list[dict[str, Any]], counts: dict[str, Any]) -> str:
  """The timing table and the iteration-count table as text."""
  lines = [
    f"{'mode':<9} {'K':>4} {'wall ms':>8} {'cpu ms':>8} {'temp MiB':>9} "
    f"{'bwd iters':>9} {'bwd res':>8} {'bwd conv':>8} {'grad diff':>9}",
  ]
  for row in rows:
    if row["mode"] == "implicit":
      backward = (
        f"{row['backward_iterations_mean']:>9.1f} {row['backward_residual_mean']:>8.1e} "
        f"{row['backward_converged_fraction']:>8.2f} {row['grad_rel_diff_vs_explicit']:>9.1e}"
      )
    else:
      backward = f"{'-':>9} {'-':>8} {'-':>8} {'-':>9}"
    lines.append(
      f"{row['mode']:<9} {row['K']:>4} {row['wall_ms']:>8.0f} {row['cpu_ms']:>8.0f} "
      f"{row['temp_bytes'] / 2**20:>9.2f} {backward}"
    )
  lines.append("")
  lines.append(f"{'problem':<42} {'solver':<18} {'iters mean':>10} {'iters max':>9} {'converged':>9}")
  for problem_name, by_solver in counts.items():
    for solver_name, c in by_solver.items():
      lines.append(
        f"{problem_name:<42} {solver_name:<18} {c['iterations_mean']:>10.1f} "
        f"{c['iterations_max']:>9} {c['converged_fraction']:>9.2f}"
      )
  return "\n".join(lines)


def run_benchmark(grid: int, batch: int, channels: int, ks: list[int], repeats: int, seed: int) -> dict[str, Any]:
  """Runs every measurement and returns them with the configuration and the machine."""
  problem = make_problem(seed, grid, batch, channels)
  return {
    "config": {
      "grid": grid,
      "batch": batch,
      "channels": channels,
      "ks": ks,
      "repeats": repeats,
      "seed": seed,
      "dtype": "float32",
      "backward": repr(BACKWARD),
      "contraction": CONTRACTION,
    },
    "machine": {
      "jax": jax.__version__,
      "backend": jax.default_backend(),
      "device": str(jax.devices()[0]),
      "cpu": platform.processor() or platform.machine(),
      "cpus_allowed": len(os.sched_getaffinity(0)),
    },
    "timing": time_gradients(problem, ks, repeats),
    "iterations": iteration_counts(problem, seed),
  }
