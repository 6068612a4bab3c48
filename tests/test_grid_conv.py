"""Convolution formulations agree; conv2d_max's hand-written VJP is exact; the fused encoder is the two layers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_planning import encoder, grid_conv, vin

IMPLS = ("xla", "im2col", "hybrid", "winograd")
# (kernel size, C_in, C_out); "hybrid" pads 30 filters to 32 (forward and input gradient).
SHAPES = [(1, 1, 3), (3, 2, 5), (3, 4, 1), (5, 3, 4), (3, 30, 30)]
# Grids that are not whole Winograd tiles (4×4) in either direction, or smaller than one.
GRIDS = [(2, 6, 7), (3, 3), (1, 9, 4, 5)]


def normal(seed, shape):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape))


@pytest.mark.parametrize("wrap", [False, True], ids=["zeros", "circular"])
@pytest.mark.parametrize("size, c_in, c_out", SHAPES)
def test_formulations_agree_in_values_and_gradients(x64, wrap, size, c_in, c_out):
  x, kernel = normal(0, (2, 6, 7, c_in)), normal(1, (size, size, c_in, c_out))
  cotangent = normal(2, (2, 6, 7, c_out))

  def loss(impl):
    return lambda x, kernel: jnp.sum(grid_conv.conv2d(x, kernel, wrap=wrap, impl=impl) * cotangent)

  ref_value, ref_grads = jax.value_and_grad(loss("xla"), argnums=(0, 1))(x, kernel)
  for impl in IMPLS[1:]:  # "winograd" runs other kernel sizes as "hybrid"
    value, grads = jax.value_and_grad(loss(impl), argnums=(0, 1))(x, kernel)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    for g, ref in zip(grads, ref_grads):
      np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("wrap", [False, True], ids=["zeros", "circular"])
@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_winograd_matches_the_direct_convolution_on_any_grid(x64, wrap, grid):
  x, kernel = normal(0, grid + (3,)), normal(1, (3, 3, 3, 2))
  cotangent = normal(2, grid + (2,))
  loss = lambda impl: lambda x, k: jnp.sum(jnp.sin(grid_conv.conv2d(x, k, wrap=wrap, impl=impl)) * cotangent)
  ref_value, ref_grads = jax.value_and_grad(loss("xla"), argnums=(0, 1))(x, kernel)
  value, grads = jax.jit(jax.value_and_grad(loss("winograd"), argnums=(0, 1)))(x, kernel)
  np.testing.assert_allclose(value, ref_value, rtol=1e-12)
  for g, ref in zip(grads, ref_grads):
    np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-12)


def test_winograd_float32_error_is_bounded(x64):
  """F(4×4, 3×3)'s transforms (points 0, ±1, ±2) cost some float32 accuracy: at most 1e-5 of the output's scale."""
  x = jnp.float32(normal(0, (2, 15, 15, 64)))
  kernel = jnp.float32(normal(1, (3, 3, 64, 32)) / 24)
  exact = grid_conv.conv2d(jnp.float64(x), jnp.float64(kernel), wrap=False, impl="xla")
  with jax.default_matmul_precision("highest"):  # not TF32 on a GPU
    ours = grid_conv.conv2d(x, kernel, wrap=False, impl="winograd")
  assert ours.dtype == jnp.float32
  assert jnp.max(jnp.abs(ours - exact)) / jnp.max(jnp.abs(exact)) < 1e-5


def test_auto_picks_winograd_for_wide_3x3_kernels_on_cpu_and_xla_elsewhere():
  if jax.default_backend() != "cpu":
    assert grid_conv.resolve_impl("auto", (3, 3, 150, 8)) == "xla"
    return
  assert grid_conv.resolve_impl("auto", (3, 3, grid_conv.WINOGRAD_MIN_CHANNELS, 8)) == "winograd"
  assert grid_conv.resolve_impl("auto", (3, 3, grid_conv.WINOGRAD_MIN_CHANNELS - 1, 8)) == "hybrid"
  assert grid_conv.resolve_impl("auto", (5, 5, 150, 8)) == "hybrid"


def test_winograd_runs_other_kernel_sizes_as_hybrid_and_unknown_names_are_refused():
  assert grid_conv.resolve_impl("winograd", (1, 1, 150, 4)) == "hybrid"
  assert grid_conv.resolve_impl("winograd", (3, 3, 2, 4)) == "winograd"
  with pytest.raises(ValueError, match="Unknown conv implementation 'fft'"):
    grid_conv.conv2d(jnp.zeros((4, 4, 2)), jnp.zeros((3, 3, 2, 3)), wrap=False, impl="fft")


@pytest.mark.parametrize("wrap", [False, True], ids=["zeros", "circular"])
def test_col2im_is_the_adjoint_of_im2col(x64, wrap):
  x, patches = normal(0, (2, 5, 6, 3)), normal(1, (2, 5, 6, 27))
  lhs = jnp.vdot(grid_conv.im2col(x, 3, wrap), patches)
  np.testing.assert_allclose(lhs, jnp.vdot(x, grid_conv.col2im(patches, 3, wrap)), rtol=1e-12)


@pytest.mark.parametrize("wrap", [False, True], ids=["zeros", "circular"])
@pytest.mark.parametrize("impl", ["hybrid", "winograd"])
def test_custom_vjp_conv_gradients_are_exact_under_vmap_and_with_two_batch_axes(x64, wrap, impl):
  x, kernel = normal(0, (2, 3, 5, 6, 2)), normal(1, (3, 3, 2, 4))
  cotangent = normal(2, (2, 3, 5, 6, 4))
  direct = lambda impl: lambda x, k: grid_conv.conv2d(x, k, wrap=wrap, impl=impl)
  vmapped = lambda impl: lambda x, k: jax.vmap(lambda xi: grid_conv.conv2d(xi, k, wrap=wrap, impl=impl))(x)
  ref = jax.grad(lambda x, k: jnp.sum(direct("xla")(x, k) * cotangent), argnums=(0, 1))(x, kernel)
  for conv in (direct(impl), vmapped(impl)):
    grads = jax.grad(lambda x, k: jnp.sum(conv(x, k) * cotangent), argnums=(0, 1))(x, kernel)
    for g, r in zip(grads, ref):
      np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("wrap", [False, True], ids=["zeros", "circular"])
def test_adjoint_kernel_gives_the_transpose(x64, wrap):
  x, y, kernel = normal(0, (2, 5, 6, 3)), normal(1, (2, 5, 6, 4)), normal(2, (3, 3, 3, 4))
  lhs = jnp.vdot(grid_conv.conv2d(x, kernel, wrap=wrap, impl="xla"), y)
  rhs = jnp.vdot(x, grid_conv.conv2d(y, grid_conv.adjoint_kernel(kernel), wrap=wrap, impl="xla"))
  np.testing.assert_allclose(lhs, rhs, rtol=1e-12)


def reference_conv2d_max(xs, kernels, wrap, groups):
  q = sum(grid_conv.conv2d(x, k, wrap=wrap, impl="xla") for x, k in zip(xs, kernels))
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

  ours = loss(lambda xs, ks: grid_conv.conv2d_max(xs, ks, wrap=wrap, groups=groups, impl=impl))
  ref = loss(lambda xs, ks: reference_conv2d_max(xs, ks, wrap, groups))
  np.testing.assert_allclose(jax.jit(ours)(xs, kernels), ref(xs, kernels), rtol=1e-12)
  ref_grads = jax.jit(jax.grad(ref, (0, 1)))(xs, kernels)
  for g, r in zip(jax.tree.leaves(jax.jit(jax.grad(ours, (0, 1)))(xs, kernels)), jax.tree.leaves(ref_grads)):
    np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
  # Also under vmap, as the planners call it (one grid per example).
  per_grid = lambda ks: jax.vmap(lambda *x: grid_conv.conv2d_max(x, ks, wrap=wrap, groups=groups, impl=impl))(*xs)
  batched = jax.jit(jax.grad(lambda ks: jnp.sum(per_grid(ks) * cotangent)))
  np.testing.assert_allclose(batched(kernels)[1], ref_grads[1][1], rtol=1e-10, atol=1e-12)


def test_conv2d_max_gradient_matches_finite_differences(x64):
  xs, kernels = (normal(0, (4, 4, 1)), normal(1, (4, 4, 1))), (normal(2, (3, 3, 1, 5)), normal(3, (3, 3, 1, 5)))
  direction = (normal(4, (3, 3, 1, 5)), normal(5, (3, 3, 1, 5)))
  loss = jax.jit(lambda ks: jnp.sum(jnp.sin(grid_conv.conv2d_max(xs, ks, wrap=False))))
  eps = 1e-6
  plus = loss(jax.tree.map(lambda k, d: k + eps * d, kernels, direction))
  minus = loss(jax.tree.map(lambda k, d: k - eps * d, kernels, direction))
  directional = sum(jnp.vdot(g, d) for g, d in zip(jax.jit(jax.grad(loss))(kernels), direction))
  np.testing.assert_allclose(directional, (plus - minus) / (2 * eps), rtol=1e-7)


def test_conv2d_max_ties_go_to_the_first_channel(x64):
  """Equal candidates: the whole cotangent goes to the lowest channel (jnp.max would split it)."""
  x = jnp.ones((1, 1, 1))
  kernel = jnp.array([2.0, 3.0, 3.0, 1.0]).reshape(1, 1, 1, 4)
  grad = jax.grad(lambda k: grid_conv.conv2d_max((x,), (k,), wrap=False)[0, 0, 0])(kernel)
  np.testing.assert_array_equal(grad.reshape(-1), [0.0, 1.0, 0.0, 0.0])
  index = grid_conv._first_argmax(jnp.array([[1.0], [5.0], [5.0]]), jnp.array([5.0]))
  assert index.dtype == jnp.int8 and int(index[0]) == 1


def test_vin_cell_matches_the_concatenated_convolution(x64):
  """The cell's two-term Q (reward and value kernels separately) is the paper's Conv([R, V])."""
  cell = vin.VINCell(l_q=6, wrap=True, dtype=jnp.float64)
  v, r = normal(0, (5, 5, 1)), normal(1, (5, 5, 1))
  params = cell.init(jax.random.key(0), v, r)
  kernel = params["params"]["kernel"]
  q = grid_conv.conv2d(jnp.concatenate([r, v], -1), kernel, wrap=True, impl="xla")
  np.testing.assert_allclose(cell.apply(params, v, r, method="q_values"), q, rtol=1e-12)
  np.testing.assert_allclose(cell.apply(params, v, r), jnp.max(q, -1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("wrap", [False, True], ids=["zeros", "circular"])
def test_reward_encoder_is_the_two_layer_composition(x64, wrap):
  obs = normal(0, (2, 6, 6, 2))
  enc = encoder.RewardEncoder(hidden=7, wrap=wrap)
  params = enc.init(jax.random.key(0), obs)
  p = params["params"]
  hidden = grid_conv.conv2d(obs, p["hidden"]["kernel"], wrap=wrap, impl="xla") + p["hidden"]["bias"]
  expected = grid_conv.conv2d(hidden, p["reward"]["kernel"], wrap=wrap, impl="xla")
  np.testing.assert_allclose(enc.apply(params, obs), expected, rtol=1e-10, atol=1e-12)
  layer = grid_conv.GridConv(7, 3, wrap)
  assert jax.tree.map(jnp.shape, layer.init(jax.random.key(0), obs)["params"]) == jax.tree.map(jnp.shape, p["hidden"])
