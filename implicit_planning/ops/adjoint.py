"""A same-size convolution's transpose is again a same-size convolution: the adjoint kernel,
and a builder of convolutions whose VJP uses that fact."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp


def adjoint_kernel(kernel: jax.Array) -> jax.Array:
  """The kernel of `conv2d`'s adjoint in ``x``: flipped in space, input and output channels swapped.

  A same-size convolution's transpose is the same-size convolution of the
  cotangent with this kernel, with the same (zero or circular) padding.
  """
  return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


ConvFn = Callable[[jax.Array, jax.Array, bool], jax.Array]


def self_adjoint_conv(
  apply: ConvFn,
  adjoint: Callable[[jax.Array], jax.Array],
  kernel_gradient: Callable[[jax.Array, jax.Array, jax.Array, bool], jax.Array],
) -> ConvFn:
  """``apply(x, kernel, wrap)`` with a VJP whose input gradient is ``apply`` again.

  A same-size convolution's transpose is the same convolution of the
  cotangent with the `adjoint_kernel`, so ``dx = apply(dy, adjoint(kernel))``;
  ``dW = kernel_gradient(x, dy, kernel, wrap)``. Residuals: ``x`` and the kernel.
  """

  @functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
  def conv(x, kernel, wrap):
    return apply(x, kernel, wrap)

  def conv_fwd(x, kernel, wrap):
    return apply(x, kernel, wrap), (x, kernel)

  def conv_bwd(wrap, residuals, dy):
    x, kernel = residuals
    return apply(dy, adjoint(kernel), wrap), kernel_gradient(x, dy, kernel, wrap)

  conv.defvjp(conv_fwd, conv_bwd)
  return conv
