"""The trained model: planner, optimiser and the training state with a leading seed axis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

import implicit_planning as ip
from experiments.training.config import Config
from experiments.training.data import DeviceSplit

# Streams of randomness derived from each seed's key with `jax.random.fold_in`.
INIT_STREAM, PERMUTATION_STREAM, LABEL_STREAM = 0, 1, 2


class TrainState(NamedTuple):
  """Training state of all seeds; every leaf has a leading seed axis [S].

  Attributes:
    params: planner parameters.
    opt_state: optimiser state.
    key: [S, 2] uint32 base PRNG key of each seed. Every random draw is `fold_in` of this key
      with (stream, epoch, step), so a run resumed at an epoch boundary repeats exactly the
      draws of an uninterrupted one.
  """

  params: Any
  opt_state: Any
  key: jax.Array


def make_planner(config: Config, k_fwd: int | None = None) -> ip.Planner:
  """The configured planner; ``k_fwd`` overrides the forward budget (and K of explicit planners)."""
  planner = ip.make_planner(config.planner, config.planner_options)
  return planner if k_fwd is None else ip.with_mode(planner, k=k_fwd, k_fwd=k_fwd)


def make_optimizer(config: Config) -> optax.GradientTransformation:
  """Global-norm clipping, then RMSprop as in PyTorch.

  `torch.optim.RMSprop` divides by `sqrt(v) + eps` with `v` started at 0 and decay
  alpha = 0.99; optax's default adds eps *inside* the square root and decays with 0.9,
  so both are set explicitly (`eps_in_sqrt=False`, `decay=config.rmsprop_decay`).
  """
  return optax.chain(
    optax.clip_by_global_norm(config.clip_norm),
    optax.rmsprop(config.learning_rate, decay=config.rmsprop_decay, eps=config.rmsprop_eps, eps_in_sqrt=False),
  )


def over_seeds(fn: Callable[..., Any], in_axes: tuple[int | None, ...]) -> Callable[..., Any]:
  """``jax.vmap(fn, in_axes)`` over the leading seed axis, or, with one seed, ``fn`` itself.

  Same outputs (leading axis ``[S]``) either way. One seed skips the vmap because vmapping a
  fixed-point solve makes its loop state per seed: Anderson's ring-buffer slot becomes a batched
  index and every write a copying scatter (one ID-ConvGPPN training step, batch 32, one core:
  1.41 s vmapped over one seed vs 1.08 s not, at K_fwd = 1, K_bwd = 11).
  """
  vmapped = jax.vmap(fn, in_axes=in_axes)

  def mapped(*args):
    seeded = [arg for arg, axis in zip(args, in_axes) if axis is not None]
    if {leaf.shape[0] for leaf in jax.tree.leaves(seeded)} != {1}:
      return vmapped(*args)
    squeezed = [arg if axis is None else jax.tree.map(lambda x: x[0], arg) for arg, axis in zip(args, in_axes)]
    return jax.tree.map(lambda x: x[None], fn(*squeezed))

  return mapped


def seed_keys(config: Config) -> jax.Array:
  """[S, 2] uint32 keys; seed s is `PRNGKey(config.seed + s)`."""
  return jnp.stack([jax.random.PRNGKey(config.seed + s) for s in range(config.seeds)])


def init_state(
  planner: ip.Planner, optimizer: optax.GradientTransformation, config: Config, sample: DeviceSplit
) -> TrainState:
  """Fresh parameters and optimiser state for every seed (vmapped over the seed axis).

  Args:
    planner: from `make_planner`.
    optimizer: from `make_optimizer`.
    config: the run's config (seeds, seed).
    sample: any split; its first map shapes the initialisation.
  """
  batch = {name: sample[name][:1] for name in planner.inputs}

  def one_seed(key):
    params = planner.init(jax.random.fold_in(key, INIT_STREAM), batch)
    return params, optimizer.init(params)

  keys = seed_keys(config)
  params, opt_state = jax.jit(jax.vmap(one_seed))(keys)
  return TrainState(params=params, opt_state=opt_state, key=keys)
