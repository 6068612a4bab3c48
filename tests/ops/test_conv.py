"""The convolution formulations agree in values and gradients; im2col, col2im and the adjoint kernel are adjoints."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_planning.ops import adjoint, conv, windows
from implicit_planning.ops.conv import conv2d, resolve_impl

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
    return lambda x, kernel: jnp.sum(conv2d(x, kernel, wrap=wrap, impl=impl) * cotangent)

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
  loss = lambda impl: lambda x, k: jnp.sum(jnp.sin(conv2d(x, k, wrap=wrap, impl=impl)) * cotangent)
  ref_value, ref_grads = jax.value_and_grad(loss("xla"), argnums=(0, 1))(x, kernel)
  value, grads = jax.jit(jax.value_and_grad(loss("winograd"), argnums=(0, 1)))(x, kernel)
  np.testing.assert_allclose(value, ref_value, rtol=1e-12)
  for g, ref in zip(grads, ref_grads):
    np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-12)


def test_winograd_float32_error_is_bounded(x64):
  """F(4×4, 3×3)'s transforms (points 0, ±1, ±2) cost some float32 accuracy: at most 1e-5 of the output's scale."""
  x = jnp.float32(normal(0, (2, 15, 15, 64)))
  kernel = jnp.float32(normal(1, (3, 3, 64, 32)) / 24)
  exact = conv2d(jnp.float64(x), jnp.float64(kernel), wrap=False, impl="xla")
  with jax.default_matmul_precision("highest"):  # not TF32 on a GPU
    ours = conv2d(x, kernel, wrap=False, impl="winograd")
  assert ours.dtype == jnp.float32
  assert jnp.max(jnp.abs(ours - exact)) / jnp.max(jnp.abs(exact)) < 1e-5


def test_auto_picks_winograd_for_wide_3x3_kernels_on_cpu_and_xla_elsewhere():
  if jax.default_backend() != "cpu":
    assert resolve_impl("auto", (3, 3, 150, 8)) == "xla"
    return
  assert resolve_impl("auto", (3, 3, conv.WINOGRAD_MIN_CHANNELS, 8)) == "winograd"
  assert resolve_impl("auto", (3, 3, conv.WINOGRAD_MIN_CHANNELS - 1, 8)) == "hybrid"
  assert resolve_impl("auto", (5, 5, 150, 8)) == "hybrid"


def test_winograd_runs_other_kernel_sizes_as_hybrid_and_unknown_names_are_refused():
  assert resolve_impl("winograd", (1, 1, 150, 4)) == "hybrid"
  assert resolve_impl("winograd", (3, 3, 2, 4)) == "winograd"
  with pytest.raises(ValueError, match="Unknown conv implementation 'fft'"):
    conv2d(jnp.zeros((4, 4, 2)), jnp.zeros((3, 3, 2, 3)), wrap=False, impl="fft")


@pytest.mark.parametrize("wrap", [False, True], ids=["zeros", "circular"])
def test_col2im_is_the_adjoint_of_im2col(x64, wrap):
  x, patches = normal(0, (2, 5, 6, 3)), normal(1, (2, 5, 6, 27))
  lhs = jnp.vdot(windows.im2col(x, 3, wrap), patches)
  np.testing.assert_allclose(lhs, jnp.vdot(x, windows.col2im(patches, 3, wrap)), rtol=1e-12)


@pytest.mark.parametrize("wrap", [False, True], ids=["zeros", "circular"])
@pytest.mark.parametrize("impl", ["hybrid", "winograd"])
def test_custom_vjp_conv_gradients_are_exact_under_vmap_and_with_two_batch_axes(x64, wrap, impl):
  x, kernel = normal(0, (2, 3, 5, 6, 2)), normal(1, (3, 3, 2, 4))
  cotangent = normal(2, (2, 3, 5, 6, 4))
  direct = lambda impl: lambda x, k: conv2d(x, k, wrap=wrap, impl=impl)
  vmapped = lambda impl: lambda x, k: jax.vmap(lambda xi: conv2d(xi, k, wrap=wrap, impl=impl))(x)
  ref = jax.grad(lambda x, k: jnp.sum(direct("xla")(x, k) * cotangent), argnums=(0, 1))(x, kernel)
  for convolve in (direct(impl), vmapped(impl)):
    grads = jax.grad(lambda x, k, convolve=convolve: jnp.sum(convolve(x, k) * cotangent), argnums=(0, 1))(x, kernel)
    for g, r in zip(grads, ref):
      np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("wrap", [False, True], ids=["zeros", "circular"])
def test_adjoint_kernel_gives_the_transpose(x64, wrap):
  x, y, kernel = normal(0, (2, 5, 6, 3)), normal(1, (2, 5, 6, 4)), normal(2, (3, 3, 3, 4))
  lhs = jnp.vdot(conv2d(x, kernel, wrap=wrap, impl="xla"), y)
  rhs = jnp.vdot(x, conv2d(y, adjoint.adjoint_kernel(kernel), wrap=wrap, impl="xla"))
  np.testing.assert_allclose(lhs, rhs, rtol=1e-12)


def _convolutions(jaxpr) -> list:
  """Every ``conv_general_dilated`` equation of a jaxpr, nested ones included."""
  found = []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "conv_general_dilated":
      found.append(eqn)
    for param in eqn.params.values():
      for sub in param if isinstance(param, (tuple, list)) else (param,):
        inner = getattr(sub, "jaxpr", sub)
        if hasattr(inner, "eqns"):
          found += _convolutions(inner)
  return found


@pytest.mark.parametrize("wrap", [False, True], ids=["zeros", "circular"])
def test_vmap_over_kernels_runs_one_convolution_per_kernel(x64, wrap):
  """A seed axis of kernels (several models in one program): values and gradients equal each
  model's own, and the hybrid convolution stays ungrouped (JAX's own rule would group it)."""
  seeds = 3
  x, kernels = normal(0, (seeds, 2, 5, 6, 3)), normal(1, (seeds, 3, 3, 3, 4))
  cotangent = normal(2, (seeds, 2, 5, 6, 4))

  def one_model(x, kernel, cotangent):
    return jnp.sum(conv2d(x, kernel, wrap=wrap, impl="hybrid") * cotangent)

  grad = jax.value_and_grad(one_model, argnums=(0, 1))
  together = jax.jit(jax.vmap(grad))(x, kernels, cotangent)
  reference = jax.value_and_grad(lambda x, k, c: jnp.sum(conv2d(x, k, wrap=wrap, impl="xla") * c), argnums=(0, 1))
  for s in range(seeds):
    got = [leaf[s] for leaf in jax.tree.leaves(together)]
    for g, want in zip(got, jax.tree.leaves(reference(x[s], kernels[s], cotangent[s]))):
      np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-12)
  shared = jax.vmap(lambda x: conv2d(x, kernels[0], wrap=wrap, impl="hybrid"))(x)  # one kernel, mapped input
  np.testing.assert_allclose(shared, conv2d(x, kernels[0], wrap=wrap, impl="xla"), rtol=1e-10)

  convolutions = _convolutions(jax.make_jaxpr(jax.vmap(grad))(x, kernels, cotangent).jaxpr)
  assert convolutions and all(eqn.params["feature_group_count"] == 1 for eqn in convolutions)
  grouped = _convolutions(jax.make_jaxpr(jax.vmap(lambda x, k: conv2d(x, k, wrap=wrap, impl="xla")))(x, kernels).jaxpr)
  assert any(eqn.params["feature_group_count"] == seeds for eqn in grouped)  # what the rule avoids
