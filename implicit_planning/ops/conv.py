"""Same-size 2D convolutions on grids, with zero or circular (torus) padding.

Every convolution of every planner goes through `conv2d`, so the padding a task
asks for (zeros for navigation, circular for the configuration-space torus) is
applied everywhere alike, GRU and LSTM gates included.

Four formulations compute the same function:
  * ``"xla"``: ``lax.conv_general_dilated``, differentiated by JAX's
    convolution transposes.
  * ``"im2col"``: the ``k·k`` shifted windows concatenated along channels
    (`windows.im2col`) and one matrix product, differentiated by JAX.
  * ``"hybrid"``: the native convolution forward (output channels padded to a
    multiple of 32, which XLA:CPU runs faster) and a hand-written VJP: the same
    convolution of ``dy`` with the `adjoint.adjoint_kernel` for the input, one
    product ``window(x)ᵀ·dy`` per kernel tap for the kernel.
  * ``"winograd"`` (3×3 kernels; others run as ``"hybrid"``): `winograd`.
``"hybrid"`` and ``"winograd"`` are reverse mode only (``custom_vjp``);
``"xla"`` and ``"im2col"`` also support ``jax.jvp``.

``"auto"`` is ``"xla"`` off CPU (cuDNN picks its own algorithms); on CPU it is
``"winograd"`` for 3×3 kernels with at least `WINOGRAD_MIN_CHANNELS` input
channels and ``"hybrid"`` otherwise: XLA:CPU's native forward convolution is
fast, but its weight gradient is slow, and the input gradient JAX's transpose
rule emits (kernel in ``01oi`` layout) runs far slower inside loops than the
same convolution with a ``01io`` kernel. The measurements behind these choices
(``python -m experiments.benchmark --suite=conv``) are in ``docs/performance.md``.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp

from implicit_planning.ops.adjoint import ConvFn, adjoint_kernel, self_adjoint_conv
from implicit_planning.ops.windows import im2col, pad_grid, windows
from implicit_planning.ops.winograd import winograd_conv

ConvImpl = Literal["auto", "xla", "im2col", "hybrid", "winograd"]
CONV_IMPLS: tuple[str, ...] = typing.get_args(ConvImpl)

# On CPU, ``"auto"`` runs 3×3 kernels with at least this many input channels
# as ``"winograd"``: below it the tile transforms cost more than they save.
WINOGRAD_MIN_CHANNELS = 32


def resolve_impl(impl: ConvImpl, kernel_shape: Sequence[int]) -> str:
  """The formulation ``impl`` stands for on the default backend, for a ``[k, k, C_in, C_out]`` kernel."""
  if impl not in CONV_IMPLS:
    raise ValueError(f"Unknown conv implementation {impl!r}; expected one of {CONV_IMPLS}.")
  size, c_in = kernel_shape[0], kernel_shape[2]
  if impl == "auto":
    if jax.default_backend() != "cpu":
      return "xla"
    return "winograd" if size == 3 and c_in >= WINOGRAD_MIN_CHANNELS else "hybrid"
  if impl == "winograd" and size != 3:
    return "hybrid"  # no Winograd form here (the planners' 1×1 heads, other kernel sizes)
  return impl


def check_kernel(x: jax.Array, kernel: jax.Array) -> None:
  k = kernel.shape[0]
  if kernel.ndim != 4 or k % 2 != 1 or kernel.shape[1] != k:
    raise ValueError(f"conv2d needs a [k, k, C_in, C_out] kernel of odd k, got shape {kernel.shape}.")
  if x.shape[-1] != kernel.shape[2]:
    raise ValueError(f"conv2d: input has {x.shape[-1]} channels, kernel expects {kernel.shape[2]}.")


def shifts_conv(x: jax.Array, kernel: jax.Array, wrap: bool) -> jax.Array:
  """``Σ_taps Σ_c window[..., c] · kernel[tap, c]`` as broadcast multiply-adds (fast for a few terms)."""
  size, c_in = kernel.shape[0], kernel.shape[2]
  flat = kernel.reshape(size * size, c_in, -1)
  out = None
  for n, window in enumerate(windows(x, size, wrap)):
    for c in range(c_in):
      term = window[..., c : c + 1] * flat[n, c]
      out = term if out is None else out + term
  return out


def _xla_conv(x: jax.Array, kernel: jax.Array, wrap: bool) -> jax.Array:
  """The native convolution (``lax.conv_general_dilated``).

  Zero padding is the convolution's own rather than a padded copy of ``x``,
  so a transposed convolution works on the ``H×W`` grid, not a padded one.
  """
  p = kernel.shape[0] // 2
  if wrap:
    x, padding = pad_grid(x, p, wrap=True), [(0, 0), (0, 0)]
  else:
    padding = [(p, p), (p, p)]
  flat = x.reshape((-1,) + x.shape[-3:])
  out = jax.lax.conv_general_dilated(flat, kernel, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return out.reshape(x.shape[:-3] + out.shape[1:])


# XLA:CPU's convolution runs faster when the output channels are a multiple of
# this (150 → 320 channels 15 % faster than 150 → 300; docs/performance.md).
_CPU_CHANNEL_BLOCK = 32


def _blocked_conv(x: jax.Array, kernel: jax.Array, wrap: bool) -> jax.Array:
  """`_xla_conv` with ``C_out`` padded by zero filters up to a multiple of
  ``_CPU_CHANNEL_BLOCK`` when that adds at most an eighth, then sliced back."""
  c_out = kernel.shape[-1]
  pad = -c_out % _CPU_CHANNEL_BLOCK
  if pad == 0 or 8 * pad > c_out:
    return _xla_conv(x, kernel, wrap)
  kernel = jnp.pad(kernel, [(0, 0)] * 3 + [(0, pad)])
  return _xla_conv(x, kernel, wrap)[..., :c_out]


def _kernelwise_under_vmap(conv: ConvFn) -> ConvFn:
  """``conv(x, kernel, wrap)`` whose ``vmap`` over a batch of kernels runs one convolution per kernel.

  JAX batches a convolution over its kernel as one grouped convolution, which XLA:CPU runs far
  slower than the same number of separate convolutions (docs/performance.md): several models
  trained together (a seed axis) would cost more than training them one after another. A mapped
  input with a shared kernel folds into the convolution's batch axes instead.
  """

  def apply(x: jax.Array, kernel: jax.Array, wrap: bool) -> jax.Array:
    @jax.custom_batching.custom_vmap
    def run(x, kernel):
      return conv(x, kernel, wrap)

    @run.def_vmap
    def rule(axis_size, in_batched, x, kernel):
      x_mapped, kernel_mapped = in_batched
      if not kernel_mapped:
        return run(x, kernel), True  # x: [S, ...], one more leading axis
      return jnp.stack([run(x[i] if x_mapped else x, kernel[i]) for i in range(axis_size)]), True

    return run(x, kernel)

  return apply


def _patches_matmul(x: jax.Array, kernel: jax.Array, wrap: bool) -> jax.Array:
  return im2col(x, kernel.shape[0], wrap) @ kernel.reshape(-1, kernel.shape[-1])


def _materialised_adjoint_kernel(kernel: jax.Array) -> jax.Array:
  """The `adjoint_kernel` behind an optimisation barrier, for the native convolution.

  Left to itself XLA folds the flip and the swap into the convolution's
  dimension labels (``01oi``, reversed window), which XLA:CPU runs about seven
  times slower inside loops.
  """
  return jax.lax.optimization_barrier(adjoint_kernel(kernel))


def _per_tap_kernel_gradient(x: jax.Array, dy: jax.Array, kernel: jax.Array, wrap: bool) -> jax.Array:
  """``dW``, one product ``window(x)ᵀ·dy`` per tap.

  Each contracts pixels and every leading (batch) axis at once, without
  materialising the ``im2col`` patches (1.7× faster than one product with them).
  """
  c_in, c_out = kernel.shape[2], kernel.shape[3]
  dy_rows = dy.reshape(-1, c_out)
  taps = [window.reshape(-1, c_in).T @ dy_rows for window in windows(x, kernel.shape[0], wrap)]
  return jnp.stack(taps).reshape(kernel.shape)


_hybrid_conv = self_adjoint_conv(
  _kernelwise_under_vmap(_blocked_conv), _materialised_adjoint_kernel, _per_tap_kernel_gradient
)


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
  check_kernel(x, kernel)
  impl = resolve_impl(impl, kernel.shape)
  if impl == "winograd":
    return winograd_conv(x, kernel, wrap)
  if impl == "hybrid":
    return _hybrid_conv(x, kernel, wrap)
  if impl == "im2col":
    return _patches_matmul(x, kernel, wrap)
  return _xla_conv(x, kernel, wrap)
