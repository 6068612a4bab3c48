"""What the suites measure on: mazes with labels, a loss, planners built for timing."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import implicit_planning as ip
from data_gen import make


@dataclasses.dataclass(frozen=True)
class Settings:
  """What every suite shares.

  Attributes:
    batch: maps per batch.
    k_bwd: backward iterations of the implicit planners.
    l_q: Q channels (VIN) or regular Q fields (SymVIN) where a suite does not set them.
    l_h: encoder hidden channels and ConvGRU/ConvLSTM state channels.
    conv_impl: convolution formulation (`implicit_planning.ops.conv`).
    repeats: timed runs per configuration (after one warm-up call).
    seed: seed of the mazes and the initial weights.
  """

  batch: int = 32
  k_bwd: int = 15
  l_q: int = 40
  l_h: int = 150
  conv_impl: str = "auto"
  repeats: int = 3
  seed: int = 0


def mazes(size: int, batch: int, seed: int) -> tuple[ip.Batch, jax.Array]:
  """GPPN-style mazes as a batch mapping, and one optimal action per cell (0 where none)."""
  split = make.make_split(np.random.default_rng(seed), "maze2d", size, batch, make.generator_options("maze2d"), set())
  labels = np.argmax(split.opt_actions, axis=1).astype(np.int32)
  return {"maps": jnp.asarray(split.maps), "goals": jnp.asarray(split.goals, jnp.int32)}, jnp.asarray(labels)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean over every cell of ``−log p(label)`` (the authors' loss covers walls too)."""
  log_p = jax.nn.log_softmax(logits, axis=1)
  return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def temp_bytes(compiled) -> int:
  """XLA's temporary memory of a compiled function."""
  return int(compiled.memory_analysis().temp_size_in_bytes)


def build(name: str, k: int, settings: Settings, **options: Any) -> ip.Planner:
  """``make_planner`` with ``K`` as the explicit depth or the implicit forward budget, run in full
  (tolerances 0), and the settings' ``K_bwd`` and convolution formulation.

  The paper's cells (``recipe="paper"``): the planners the authors' code runs, so the benchmarks
  compare like with like (the stable recipe's ID-ConvGPPN takes the phantom gradient instead).
  """
  return ip.make_planner(
    name,
    recipe="paper",
    k=k,
    k_fwd=k,
    k_bwd=settings.k_bwd,
    forward_tol=0.0,
    backward_tol=0.0,
    conv_impl=settings.conv_impl,
    **options,
  )


def size_options(spec: ip.PlannerSpec, settings: Settings) -> dict[str, int]:
  """The size option a family reads: ``l_q`` (VIN, SymVIN) or ``l_h`` (the recurrent cells)."""
  return {"l_q": settings.l_q} if "l_q" in spec.family.options else {"l_h": settings.l_h}


def timing_params(params: Any, seed: int) -> Any:
  """``params`` with a random, non-expansive value kernel in a VIN or SymVIN cell.

  The unconstrained cells start with a zero value kernel, with which the
  forward solve reaches its fixed point exactly at the second step; timed
  that way an implicit planner would look independent of ``K``. A random
  value kernel with ℓ1 norm 1 per output channel runs the solve to its budget
  without overflowing (the tables report the iterations actually run).
  """
  cell = dict(params["params"]["cell"])
  name, reward_channels = ("kernel", 1) if "kernel" in cell else ("value_kernel", 0)
  if name not in cell:
    return params
  kernel = cell[name]
  value = jax.random.normal(jax.random.key(seed), kernel[:, :, reward_channels:].shape, kernel.dtype)
  value = value / jnp.sum(jnp.abs(value), axis=(0, 1, 2), keepdims=True)
  cell[name] = jnp.concatenate([kernel[:, :, :reward_channels], value], axis=2)
  return {**params, "params": {**params["params"], "cell": cell}}


def iterations(planner: ip.Planner, params: Any, batch: ip.Batch, labels: jax.Array) -> tuple[float, float]:
  """Forward and backward solver iterations (max over the batch: what a batched solve runs)."""

  def loss(params, probe):
    out = planner.apply(params, batch, probe)
    return cross_entropy(out.logits, labels), out.stats.forward.iterations

  (_, forward), backward = jax.jit(jax.value_and_grad(loss, argnums=1, has_aux=True))(
    params, ip.backward_probe(batch["maps"].shape[0])
  )
  return float(jnp.max(forward)), float(jnp.max(backward.iterations))
