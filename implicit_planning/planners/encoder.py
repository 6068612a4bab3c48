"""What a planner sees of a batch (the map and a goal one-hot), and the VIN-style reward encoder."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from implicit_planning.ops import ConvImpl, conv2d
from implicit_planning.planners.layers import ConvWeights
from implicit_planning.planners.options import ENCODER_ACTIVATIONS, REWARD_INITS


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


GOAL_REWARD = 1.0
"""The goal's reward in the ``"goal"`` start (`hidden_layer_init`)."""
OBSTACLE_REWARD = -10.0
"""An obstacle's reward in the ``"goal"`` start: ``−1/(1 − δ)`` for the shift start's discount
``δ = 0.9``, so a path through an obstacle is worth less than any path around it (entering an
obstacle at step ``j`` costs ``δʲ/(1 − δ)``, more than all the goal's reward that follows)."""


def reward_layer_init(scheme: str) -> nn.initializers.Initializer:
  """The reward encoder's last layer: LeCun-normal (``"default"``, the paper's), ``"zeros"``, or for
  ``"goal"`` a copy of the hidden layer's first channel (`hidden_layer_init`).

  Zeros start the reward map at 0 everywhere. A random last layer gives a random reward map
  whose free-space level can dwarf the goal's: with a value kernel that already propagates
  (``value_init="shift"``) the values then saturate everywhere alike and the goal is lost.
  The first gradient steps move only this layer (the hidden layer's gradient is scaled by it).
  """
  if scheme not in REWARD_INITS:
    raise ValueError(f"Unknown reward_init {scheme!r}; expected one of {REWARD_INITS}.")
  if scheme == "goal":
    return lambda key, shape, dtype=jnp.float32: jnp.zeros(shape, dtype).at[..., 0, :].set(1.0)
  return nn.initializers.zeros if scheme == "zeros" else nn.initializers.lecun_normal()


def hidden_layer_init(scheme: str) -> tuple[nn.initializers.Initializer, nn.initializers.Initializer]:
  """Kernel and bias initialisers of the reward encoder's hidden layer.

  ``"goal"``: the first channel reads the cell itself, ``−OBSTACLE_REWARD`` × free + ``GOAL_REWARD``
  × goal + ``OBSTACLE_REWARD``, value iteration's reward (0 on free cells, ``GOAL_REWARD`` at the
  goal, ``OBSTACLE_REWARD`` on obstacles); `reward_layer_init` passes only that channel on, so the
  other channels start with no say in the reward and a gradient that brings them in. Any other
  scheme: LeCun-normal kernel, zero bias.
  """
  if scheme != "goal":
    return nn.initializers.lecun_normal(), nn.initializers.zeros

  def kernel_init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    size, _, channels, _ = shape
    if channels != 2:
      raise ValueError(f"reward_init='goal' reads a map and a goal channel; the observation has {channels}.")
    cell_weights = jnp.array([-OBSTACLE_REWARD, GOAL_REWARD], dtype)
    return (
      nn.initializers.lecun_normal()(key, shape, dtype)
      .at[..., 0]
      .set(0.0)
      .at[size // 2, size // 2, :, 0]
      .set(cell_weights)
    )

  def bias_init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    del key
    return jnp.zeros(shape, dtype).at[0].set(OBSTACLE_REWARD)

  return kernel_init, bias_init


class RewardEncoder(nn.Module):
  """VIN's reward map: 3×3 conv to ``hidden`` channels (with bias), then 1×1 conv to ``out``.

  Linear, as in the original VIN: the planner's nonlinearity is its max. So
  the two layers are applied as one 3×3 convolution with the product kernel
  ``W₁·W₂`` and bias ``b₁·W₂`` (the same function, the 1×1 layer needing no
  padding). The ``hidden``-channel map is never formed (forward + backward 11×
  faster; docs/performance.md). With ``activation="relu"`` a ReLU sits between
  the layers, so ``R`` is a nonlinear function of each 3×3 neighbourhood (a
  corridor, a corner, a dead end) and the hidden map is formed. Parameters
  (names, shapes, initial values) are those of two `GridConv` layers named
  ``hidden`` and ``reward`` in either case.
  """

  hidden: int
  out: int = 1
  wrap: bool = False
  impl: ConvImpl = "auto"
  reward_init: str = "default"
  activation: str = "linear"

  @nn.compact
  def __call__(self, obs: jax.Array) -> jax.Array:
    if self.activation not in ENCODER_ACTIVATIONS:
      raise ValueError(f"Unknown activation {self.activation!r}; expected one of {ENCODER_ACTIVATIONS}.")
    channels = obs.shape[-1]
    hidden_init, bias_init = hidden_layer_init(self.reward_init)
    w1, b1 = ConvWeights((3, 3, channels, self.hidden), True, obs.dtype, hidden_init, bias_init, name="hidden")()
    init = reward_layer_init(self.reward_init)
    w2, _ = ConvWeights((1, 1, self.hidden, self.out), False, obs.dtype, init, name="reward")()
    reward_map = w2[0, 0]  # [hidden, out]
    if self.activation == "relu":
      return jax.nn.relu(conv2d(obs, w1, wrap=self.wrap, impl=self.impl) + b1) @ reward_map
    return conv2d(obs, w1 @ reward_map, wrap=self.wrap, impl=self.impl) + b1 @ reward_map
