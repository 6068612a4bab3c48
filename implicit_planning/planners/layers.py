"""Flax layers on grids: a `conv2d` layer with its own weights, and the weights alone."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from implicit_planning.ops import ConvImpl, conv2d


class ConvWeights(nn.Module):
  """The kernel (LeCun-normal unless told) and optional bias (zeros unless told) of a `GridConv`, without
  applying them.

  Same parameter names, shapes and (by default) initial values as ``GridConv`` at the same path.
  """

  shape: tuple[int, int, int, int]
  use_bias: bool = True
  dtype: jnp.dtype = jnp.float32
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  bias_init: nn.initializers.Initializer = nn.initializers.zeros

  @nn.compact
  def __call__(self) -> tuple[jax.Array, jax.Array | None]:
    kernel = self.param("kernel", self.kernel_init, self.shape, self.dtype)
    if not self.use_bias:
      return kernel, None
    return kernel, self.param("bias", self.bias_init, (self.shape[-1],), self.dtype)


class GridConv(nn.Module):
  """A `conv2d` layer with its own kernel (LeCun-normal unless ``kernel_init``) and optional bias.

  Attributes:
    features: output channels.
    kernel_size: odd spatial size ``k``.
    wrap: circular padding.
    use_bias: add a learned bias.
    impl: convolution formulation (`ops.conv`).
    kernel_init: the kernel's initialiser.
  """

  features: int
  kernel_size: int = 3
  wrap: bool = False
  use_bias: bool = True
  impl: ConvImpl = "auto"
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    shape = (self.kernel_size, self.kernel_size, x.shape[-1], self.features)
    kernel = self.param("kernel", self.kernel_init, shape, x.dtype)
    y = conv2d(x, kernel, wrap=self.wrap, impl=self.impl)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,), x.dtype)
    return y
