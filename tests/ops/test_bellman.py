"""The Bellman max op `conv2d_max`: values and its hand-written, sparse VJP are exact."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_planning.ops import bellman
from implicit_planning.ops.conv import conv2d


def normal(seed, shape):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape))


def reference_conv2d_max(xs, kernels, wrap, groups):
  q = sum(conv2d(x, k, wrap=wrap, impl="xla") for x, k in zip(xs, kernels))
  return jnp.max(q.reshape(q.shape[:-1] + (-1, groups)), axis=-2)


@pytest.mark.parametrize("impl", ["auto", "im2col"])
@pytest.mark.parametrize("wrap, groups", [(False, 1), (True, 2)])
def test_conv2d_max_values_and_gradients_match_autodiff(x64, impl, wrap, groups):
  """Random float64 inputs: the max is unique, so jnp.max's VJP is the exact gradient."""
  xs = (normal(0, (2, 6, 5, 1)), normal(1, (2, 6, 5, 3)))
  kernels = (normal(2, (3, 3, 1, 4 * groups)), normal(3, (3, 3, 3, 4 * groups)))
  cotangent = normal(4, (2, 6, 5, groups))

  def loss(fn):
    return lambda xs, kernels: jnp.sum(fn(xs, kernels) * cotangent)

  ours = loss(lambda xs, ks: bellman.conv2d_max(xs, ks, wrap=wrap, groups=groups, impl=impl))
  ref = loss(lambda xs, ks: reference_conv2d_max(xs, ks, wrap, groups))
  np.testing.assert_allclose(jax.jit(ours)(xs, kernels), ref(xs, kernels), rtol=1e-12)
  ref_grads = jax.jit(jax.grad(ref, (0, 1)))(xs, kernels)
  for g, r in zip(jax.tree.leaves(jax.jit(jax.grad(ours, (0, 1)))(xs, kernels)), jax.tree.leaves(ref_grads)):
    np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
  # Also under vmap, as the planners call it (one grid per example).
  per_grid = lambda ks: jax.vmap(lambda *x: bellman.conv2d_max(x, ks, wrap=wrap, groups=groups, impl=impl))(*xs)
  batched = jax.jit(jax.grad(lambda ks: jnp.sum(per_grid(ks) * cotangent)))
  np.testing.assert_allclose(batched(kernels)[1], ref_grads[1][1], rtol=1e-10, atol=1e-12)


def test_conv2d_max_gradient_matches_finite_differences(x64):
  xs, kernels = (normal(0, (4, 4, 1)), normal(1, (4, 4, 1))), (normal(2, (3, 3, 1, 5)), normal(3, (3, 3, 1, 5)))
  direction = (normal(4, (3, 3, 1, 5)), normal(5, (3, 3, 1, 5)))
  loss = jax.jit(lambda ks: jnp.sum(jnp.sin(bellman.conv2d_max(xs, ks, wrap=False))))
  eps = 1e-6
  plus = loss(jax.tree.map(lambda k, d: k + eps * d, kernels, direction))
  minus = loss(jax.tree.map(lambda k, d: k - eps * d, kernels, direction))
  directional = sum(jnp.vdot(g, d) for g, d in zip(jax.jit(jax.grad(loss))(kernels), direction))
  np.testing.assert_allclose(directional, (plus - minus) / (2 * eps), rtol=1e-7)


def test_conv2d_max_ties_go_to_the_first_channel(x64):
  """Equal candidates: the whole cotangent goes to the lowest channel (jnp.max would split it)."""
  x = jnp.ones((1, 1, 1))
  kernel = jnp.array([2.0, 3.0, 3.0, 1.0]).reshape(1, 1, 1, 4)
  grad = jax.grad(lambda k: bellman.conv2d_max((x,), (k,), wrap=False)[0, 0, 0])(kernel)
  np.testing.assert_array_equal(grad.reshape(-1), [0.0, 1.0, 0.0, 0.0])
  index = bellman._first_argmax(jnp.array([[1.0], [5.0], [5.0]]), jnp.array([5.0]))
  assert index.dtype == jnp.int8 and int(index[0]) == 1
