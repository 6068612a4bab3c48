"""Observation and reward encoder shared by the VIN-family planners."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from implicit_planning.grid_conv import ConvImpl, GridConv


def observation(maps: jax.Array, goals: jax.Array, dtype=jnp.float32) -> jax.Array:
  """Stacks the map and a goal one-hot: ``[B, H, W]``, ``[B, 2]`` → ``[B, H, W, 2]``.

  Args:
    maps: 1 = free, 0 = obstacle (any numeric dtype).
    goals: ``(row, col)`` of each goal, int.
    dtype: float dtype of the result (and so of the planner's parameters).
  """
  if maps.ndim != 3:
    raise ValueError(f"maps must be [B, H, W], got shape {maps.shape}.")
  if goals.shape != (maps.shape[0], 2):
    raise ValueError(f"goals must be [B, 2] = [{maps.shape[0]}, 2], got shape {goals.shape}.")
  height, width = maps.shape[1:]
  rows = jnp.arange(height)[None, :, None] == goals[:, 0, None, None]
  cols = jnp.arange(width)[None, None, :] == goals[:, 1, None, None]
  return jnp.stack([maps.astype(dtype), (rows & cols).astype(dtype)], axis=-1)


class RewardEncoder(nn.Module):
  """VIN's reward map: 3×3 conv to ``hidden`` channels (with bias), then 1×1 conv to ``out``.

  Linear, as in the original VIN: the planner's nonlinearity is its max.
  """

  hidden: int
  out: int = 1
  wrap: bool = False
  impl: ConvImpl = "auto"

  @nn.compact
  def __call__(self, obs: jax.Array) -> jax.Array:
    h = GridConv(self.hidden, 3, self.wrap, use_bias=True, impl=self.impl, name="hidden")(obs)
    return GridConv(self.out, 1, self.wrap, use_bias=False, impl=self.impl, name="reward")(h)
