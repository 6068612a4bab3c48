"""Planner layers compute the paper's functions: the VIN cell is Conv([R, V]) then a max, the fused
reward encoder is its two convolutions (with a ReLU between, if asked)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_planning.ops.conv import conv2d
from implicit_planning.planners import encoder, layers, vin


def normal(seed, shape):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape))


def test_vin_cell_matches_the_concatenated_convolution(x64):
  """The cell's two-term Q (reward and value kernels separately) is the paper's Conv([R, V])."""
  cell = vin.VINCell(l_q=6, wrap=True, dtype=jnp.float64)
  v, r = normal(0, (5, 5, 1)), normal(1, (5, 5, 1))
  params = cell.init(jax.random.key(0), v, r)
  kernel = params["params"]["kernel"]
  q = conv2d(jnp.concatenate([r, v], -1), kernel, wrap=True, impl="xla")
  np.testing.assert_allclose(cell.apply(params, v, r, method="q_values"), q, rtol=1e-12)
  np.testing.assert_allclose(cell.apply(params, v, r), jnp.max(q, -1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("activation", encoder.ENCODER_ACTIVATIONS)
@pytest.mark.parametrize("wrap", [False, True], ids=["zeros", "circular"])
def test_reward_encoder_is_the_two_layer_composition(x64, wrap, activation):
  obs = normal(0, (2, 6, 6, 2))
  enc = encoder.RewardEncoder(hidden=7, out=3, wrap=wrap, activation=activation)
  params = enc.init(jax.random.key(0), obs)
  p = params["params"]
  hidden = conv2d(obs, p["hidden"]["kernel"], wrap=wrap, impl="xla") + p["hidden"]["bias"]
  assert np.any(hidden < 0)  # the ReLU has something to cut
  between = jax.nn.relu(hidden) if activation == "relu" else hidden
  expected = conv2d(between, p["reward"]["kernel"], wrap=wrap, impl="xla")
  np.testing.assert_allclose(enc.apply(params, obs), expected, rtol=1e-10, atol=1e-12)
  layer = layers.GridConv(7, 3, wrap)
  assert jax.tree.map(jnp.shape, layer.init(jax.random.key(0), obs)["params"]) == jax.tree.map(jnp.shape, p["hidden"])
