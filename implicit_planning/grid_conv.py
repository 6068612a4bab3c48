"""Same-size 2D convolution on grids, with zero or circular (torus) padding.

Every convolution of every planner goes through `conv2d`, so the padding a
task asks for (zeros for navigation, circular for the configuration-space
torus) is applied everywhere alike, GRU gates included.

Two formulations compute the same thing:
  * ``"xla"``: ``lax.conv_general_dilated`` on the padded input.
  * ``"im2col"``: the ``k·k`` shifted slices concatenated along channels and
    one matrix product. XLA:CPU computes the *weight gradient* of a convolution
    with few input channels very slowly; as a matrix product it is fast.
``"auto"`` picks im2col on CPU and the native convolution elsewhere
(`experiments.benchmark` measures both).
"""

from __future__ import annotations

from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

ConvImpl = Literal["auto", "xla", "im2col"]


def pad_grid(x: jax.Array, pad: int, wrap: bool) -> jax.Array:
  """Pads the two spatial axes of ``x: [..., H, W, C]`` by ``pad``, circularly if ``wrap``."""
  widths = [(0, 0)] * (x.ndim - 3) + [(pad, pad), (pad, pad), (0, 0)]
  return jnp.pad(x, widths, mode="wrap" if wrap else "constant")


def resolve_impl(impl: ConvImpl) -> Literal["xla", "im2col"]:
  """The formulation ``"auto"`` stands for on the default backend."""
  if impl == "auto":
    return "im2col" if jax.default_backend() == "cpu" else "xla"
  if impl not in ("xla", "im2col"):
    raise ValueError(f"Unknown conv implementation {impl!r}; expected 'auto', 'xla' or 'im2col'.")
  return impl


def conv2d(x: jax.Array, kernel: jax.Array, *, wrap: bool, impl: ConvImpl = "auto") -> jax.Array:
  """Same-size convolution (cross-correlation, as in every DL framework).

  Args:
    x: ``[..., H, W, C_in]`` (any number of leading batch axes, or none).
    kernel: ``[k, k, C_in, C_out]`` with odd ``k``.
    wrap: circular padding (torus) instead of zeros.
    impl: formulation, see the module docstring.

  Returns:
    ``[..., H, W, C_out]``.
  """
  k = kernel.shape[0]
  if k % 2 != 1 or kernel.shape[1] != k:
    raise ValueError(f"conv2d needs a square kernel of odd size, got {kernel.shape[:2]}.")
  if x.shape[-1] != kernel.shape[2]:
    raise ValueError(f"conv2d: input has {x.shape[-1]} channels, kernel expects {kernel.shape[2]}.")
  height, width = x.shape[-3], x.shape[-2]
  padded = pad_grid(x, k // 2, wrap)
  if resolve_impl(impl) == "im2col":
    patches = jnp.concatenate(
        [padded[..., i : i + height, j : j + width, :] for i in range(k) for j in range(k)], axis=-1
    )
    return patches @ kernel.reshape(-1, kernel.shape[-1])
  batch_shape = x.shape[:-3]
  flat = padded.reshape((-1,) + padded.shape[-3:])
  out = jax.lax.conv_general_dilated(
      flat, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  return out.reshape(batch_shape + out.shape[1:])


class GridConv(nn.Module):
  """A `conv2d` layer with its own kernel (LeCun-normal) and optional bias.

  Attributes:
    features: output channels.
    kernel_size: odd spatial size ``k``.
    wrap: circular padding.
    use_bias: add a learned bias.
    impl: formulation, see the module docstring.
  """

  features: int
  kernel_size: int = 3
  wrap: bool = False
  use_bias: bool = True
  impl: ConvImpl = "auto"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    shape = (self.kernel_size, self.kernel_size, x.shape[-1], self.features)
    kernel = self.param("kernel", nn.initializers.lecun_normal(), shape, x.dtype)
    y = conv2d(x, kernel, wrap=self.wrap, impl=self.impl)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,), x.dtype)
    return y
