"""Same-size 2D convolutions on grids, with zero or circular (torus) padding.

Every convolution of every planner goes through this module, so the padding a
task asks for (zeros for navigation, circular for the configuration-space
torus) is applied everywhere alike, GRU gates included.

Three formulations of `conv2d` compute the same thing:
  * ``"xla"``: ``lax.conv_general_dilated``, differentiated by JAX's
    convolution transposes.
  * ``"im2col"``: the ``k·k`` shifted windows concatenated along channels
    (`im2col`) and one matrix product, differentiated by JAX.
  * ``"hybrid"``: the native convolution forward (output channels padded
    to a multiple of 32, which XLA:CPU runs faster, see `_blocked_conv`) and
    a hand-written VJP: the same convolution of ``dy`` with the
    `adjoint_kernel` for the input, one product ``window(x)ᵀ·dy`` per kernel
    tap for the kernel.
    Reverse mode only (a ``custom_vjp``); ``"xla"`` and ``"im2col"`` also
    support ``jax.jvp``.
``"auto"`` is ``"hybrid"`` on CPU and ``"xla"`` elsewhere. Why, measured on
one core (XLA:CPU, one thread, a batch of 32 15×15 grids, inside a ``scan``
as in the planners; ms per call, forward / forward + backward;
``python -m experiments.benchmark --suite=conv --single_thread``):

  ==============  ===============  ==============  ==============
  3×3 conv        2 → 40 channels  150 → 150       150 → 300
  ==============  ===============  ==============  ==============
  ``"xla"``       0.36 / 7.0       20 / 1 756      46 / 8 448
  ``"im2col"``    0.60 / 1.1       45 / 107        61 / 143
  ``"hybrid"``    0.34 / 0.90      19 / 68         35 / 110
  ==============  ===============  ==============  ==============

XLA:CPU's native forward convolution is the fastest, but its weight gradient
is slow and the input gradient that JAX's transpose rule emits (kernel in
``01oi`` layout) runs far slower than the same convolution with a ``01io``
kernel inside loops.

`conv2d_max` is the VIN-family Bellman update ``V = max_o Σ_i conv(x_i, W_i)``
with a hand-written, sparse backward pass (see its docstring): the VIN
planners spend most of their time in it.
"""

from __future__ import annotations

import functools
from typing import Literal, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ConvImpl = Literal["auto", "xla", "im2col", "hybrid"]

# `conv2d_max` computes Q as broadcast multiply-adds (`_shifts_conv`) on CPU up
# to this many terms per output channel (k·k·C_in): 9 or 18 for VIN's reward
# and value kernels fuse into one loop; SymVIN's 81 go through `conv2d`.
SHIFTS_MAX_TERMS = 27


def pad_grid(x: jax.Array, pad: int, wrap: bool) -> jax.Array:
  """Pads the two spatial axes of ``x: [..., H, W, C]`` by ``pad``, circularly if ``wrap``."""
  widths = [(0, 0)] * (x.ndim - 3) + [(pad, pad), (pad, pad), (0, 0)]
  return jnp.pad(x, widths, mode="wrap" if wrap else "constant")


def windows(x: jax.Array, size: int, wrap: bool) -> list[jax.Array]:
  """The ``size²`` shifted copies of ``x: [..., H, W, C]`` a ``size×size`` kernel reads.

  Tap ``(i, j)`` (row-major, the order of ``kernel.reshape(size², ...)``) of
  output pixel ``y`` is ``x[y + (i, j) − size // 2]``, zero or wrapped outside.
  """
  height, width = x.shape[-3], x.shape[-2]
  padded = pad_grid(x, size // 2, wrap)
  return [padded[..., i : i + height, j : j + width, :] for i in range(size) for j in range(size)]


def im2col(x: jax.Array, size: int, wrap: bool) -> jax.Array:
  """Patches ``[..., H, W, size²·C]`` (tap-major, channel-minor) of ``x: [..., H, W, C]``."""
  return jnp.concatenate(windows(x, size, wrap), axis=-1)


def col2im(patches: jax.Array, size: int, wrap: bool) -> jax.Array:
  """The adjoint of `im2col`: ``[..., H, W, size²·C]`` → ``[..., H, W, C]``.

  Tap ``(i, j)`` read ``x`` at offset ``(i, j) − p`` (``p = size // 2``), so
  its patch goes back shifted by ``p − (i, j)``: read from the padded patch at
  ``(2p − i, 2p − j)``. With circular padding that is the wrapped shift; with
  zeros, what fell outside the grid is dropped. One sum of ``size²`` padded
  slices, which XLA fuses into a single pass.
  """
  height, width = patches.shape[-3], patches.shape[-2]
  taps = patches.reshape(patches.shape[:-1] + (size * size, -1))
  p = size // 2
  out = None
  for n in range(size * size):
    i, j = divmod(n, size)
    padded = pad_grid(taps[..., n, :], p, wrap)
    piece = padded[..., 2 * p - i : 2 * p - i + height, 2 * p - j : 2 * p - j + width, :]
    out = piece if out is None else out + piece
  return out


def resolve_impl(impl: ConvImpl) -> str:
  """The formulation ``impl`` stands for on the default backend."""
  if impl == "auto":
    return "hybrid" if jax.default_backend() == "cpu" else "xla"
  if impl not in ("xla", "im2col", "hybrid"):
    raise ValueError(f"Unknown conv implementation {impl!r}; expected 'auto', 'xla', 'im2col' or 'hybrid'.")
  return impl


def _check_kernel(x: jax.Array, kernel: jax.Array) -> None:
  k = kernel.shape[0]
  if kernel.ndim != 4 or k % 2 != 1 or kernel.shape[1] != k:
    raise ValueError(f"conv2d needs a [k, k, C_in, C_out] kernel of odd k, got shape {kernel.shape}.")
  if x.shape[-1] != kernel.shape[2]:
    raise ValueError(f"conv2d: input has {x.shape[-1]} channels, kernel expects {kernel.shape[2]}.")


def _shifts_conv(x: jax.Array, kernel: jax.Array, wrap: bool) -> jax.Array:
  """``Σ_taps Σ_c window[..., c] · kernel[tap, c]`` as broadcast multiply-adds."""
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
  out = jax.lax.conv_general_dilated(
      flat, kernel, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  return out.reshape(x.shape[:-3] + out.shape[1:])


# XLA:CPU's convolution runs far faster when the output channels are a
# multiple of this (one core, batch 32 of 15×15: 150 → 300 channels 39 ms,
# 150 → 320 33 ms; 300 → 150 37 ms, 300 → 160 34 ms).
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


def _patches_matmul(x: jax.Array, kernel: jax.Array, wrap: bool) -> jax.Array:
  return im2col(x, kernel.shape[0], wrap) @ kernel.reshape(-1, kernel.shape[-1])


def adjoint_kernel(kernel: jax.Array) -> jax.Array:
  """The kernel of `conv2d`'s adjoint in ``x``: flipped in space, input and output channels swapped.

  A same-size convolution's transpose is the same-size convolution of the
  cotangent with this kernel, with the same (zero or circular) padding.
  """
  return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _hybrid_conv(x: jax.Array, kernel: jax.Array, wrap: bool) -> jax.Array:
  return _blocked_conv(x, kernel, wrap)


def _hybrid_conv_fwd(x, kernel, wrap):
  return _blocked_conv(x, kernel, wrap), (x, kernel)


def _hybrid_conv_bwd(wrap, residuals, dy):
  """``dx``: the native convolution of ``dy`` with the `adjoint_kernel`; ``dW``: one product.

  The adjoint kernel is materialised behind an optimisation barrier: left to
  itself XLA folds the flip and the swap into the convolution's dimension
  labels (``01oi``, reversed window), which XLA:CPU runs about seven times
  slower inside loops. ``dW`` is one product per tap, ``window(x)ᵀ·dy``,
  contracting pixels and every leading (batch) axis at once (52 ms for
  150 → 300 channels, batch 32 of 15×15, one core, against 86 ms for one
  product with the materialised ``im2col`` patches).
  """
  x, kernel = residuals
  dx = _blocked_conv(dy, jax.lax.optimization_barrier(adjoint_kernel(kernel)), wrap)
  c_in, c_out = kernel.shape[2], kernel.shape[3]
  dy_rows = dy.reshape(-1, c_out)
  taps = [window.reshape(-1, c_in).T @ dy_rows for window in windows(x, kernel.shape[0], wrap)]
  return dx, jnp.stack(taps).reshape(kernel.shape)


_hybrid_conv.defvjp(_hybrid_conv_fwd, _hybrid_conv_bwd)


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
  _check_kernel(x, kernel)
  impl = resolve_impl(impl)
  if impl == "hybrid":
    return _hybrid_conv(x, kernel, wrap)
  if impl == "im2col":
    return _patches_matmul(x, kernel, wrap)
  return _xla_conv(x, kernel, wrap)


def _first_argmax(q: jax.Array, q_max: jax.Array) -> jax.Array:
  """The first index along axis -2 where ``q`` equals its maximum ``q_max``.

  A float minimum over ``where(q == max, index, n)``. On XLA:CPU, 30 steps of
  ``Q``, max and index (40 channels, batch 32 of 15×15) take 7.0 ms this way,
  13.4 ms with an integer minimum (split into a slow reduce-window beyond 32
  channels) and 29 ms with ``jnp.argmax`` (a variadic reduction). Indices
  are exact floats (up to 2²⁴ channels).
  """
  n = q.shape[-2]
  if q.shape[-1] == 1:
    # One group: reduce over the minor axis, which XLA:CPU vectorises far better.
    q, q_max, axis = q[..., 0], q_max, -1
  else:
    q_max, axis = q_max[..., None, :], -2
  index = jax.lax.broadcasted_iota(jnp.promote_types(q.dtype, jnp.float32), q.shape, q.ndim + axis)
  first = jnp.min(jnp.where(q == q_max, index, n), axis=axis)
  if axis == -1:
    first = first[..., None]
  return first.astype(jnp.int8 if n <= 127 else jnp.int32)


def _grouped_q(xs, kernels, groups, wrap, conv):
  q = sum(conv(x, k, wrap) for x, k in zip(xs, kernels))
  return q.reshape(q.shape[:-1] + (-1, groups))


def _fwd_rule_conv(impl: ConvImpl):
  """The convolution `conv2d_max` uses when it must also find the argmax.

  On CPU, small kernels as `_shifts_conv`: ``Q`` is one fused loop that the
  max and the argmax both read: 0.22 ms per step vs 0.44 ms with the native
  convolution at 40 channels (0.71 vs 1.0 ms at 100; batch 32 of 15×15, one
  core). When the max alone reads ``Q`` (the primal, e.g. an implicit
  forward solve) XLA fuses the multiply-adds into the reduction, which is
  slow (0.50 ms), and the native convolution is fastest (0.17 ms).
  """
  def conv(x, kernel, wrap):
    small = kernel.shape[0] * kernel.shape[1] * kernel.shape[2] <= SHIFTS_MAX_TERMS
    if impl == "auto" and jax.default_backend() == "cpu" and small:
      return _shifts_conv(x, kernel, wrap)
    return conv2d(x, kernel, wrap=wrap, impl=impl)

  return conv


def _primal_conv(impl: ConvImpl):
  return lambda x, kernel, wrap: conv2d(x, kernel, wrap=wrap, impl=impl)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv2d_max(xs, kernels, groups, wrap, impl):
  return jnp.max(_grouped_q(xs, kernels, groups, wrap, _primal_conv(impl)), axis=-2)


def _conv2d_max_fwd(xs, kernels, groups, wrap, impl):
  q = _grouped_q(xs, kernels, groups, wrap, _fwd_rule_conv(impl))
  q_max = jnp.max(q, axis=-2)
  return q_max, (xs, kernels, _first_argmax(q, q_max))


def _conv2d_max_bwd(groups, wrap, impl, residuals, dv):
  """Only the selected channel ``c = o*·G + h`` of each pixel and group element gets ``dv``.

  So the input gradient gathers kernel columns instead of multiplying by the
  whole kernel, and the kernel gradient scatter-adds patch rows into the
  selected columns instead of forming the dense one-hot cotangent of ``Q``
  (about 10× and 3× faster on CPU at 40 channels).
  """
  del impl
  xs, kernels, best = residuals
  selected = best.astype(jnp.int32) * groups + jnp.arange(groups)  # [..., H, W, G]
  dxs, dkernels = [], []
  for x, kernel in zip(xs, kernels):
    size, c_out = kernel.shape[0], kernel.shape[-1]
    columns = kernel.reshape(-1, c_out).T  # [C_out, k·k·C_in]
    dpatches = jnp.einsum("...g,...gp->...p", dv, jnp.take(columns, selected, axis=0, mode="clip"))
    dxs.append(col2im(dpatches, size, wrap))
    patches = im2col(x, size, wrap)  # [..., H, W, P]
    rows = (dv[..., None] * patches[..., None, :]).reshape(-1, patches.shape[-1])
    dcolumns = jnp.zeros_like(columns).at[selected.reshape(-1)].add(rows)
    dkernels.append(dcolumns.T.reshape(kernel.shape))
  return tuple(dxs), tuple(dkernels)


_conv2d_max.defvjp(_conv2d_max_fwd, _conv2d_max_bwd)


def conv2d_max(
    xs: Sequence[jax.Array],
    kernels: Sequence[jax.Array],
    *,
    wrap: bool,
    groups: int = 1,
    impl: ConvImpl = "auto",
) -> jax.Array:
  """``V[h] = max_o Q[o·G + h]`` with ``Q = Σ_i conv2d(xs[i], kernels[i])``: a Bellman update.

  ``groups = G`` splits the ``C_out = n·G`` channels of ``Q`` field-major
  into ``n`` candidates per output channel ``h`` (VIN: ``G = 1``; SymVIN: one
  regular field per candidate, ``G = |G|``). Several inputs (reward and
  value, say) keep the loop-invariant terms separate so XLA can hoist them.

  The VJP is hand-written: at each pixel and ``h`` only the maximising
  channel receives the cotangent (the first one in a tie: the gradient is
  exact wherever the max is unique, and one element of the subdifferential
  otherwise; ``jnp.max``'s own VJP splits ties evenly and costs about twice
  as much). The saved residuals are the inputs and the winning index (int8
  up to 127 candidates), not ``Q``. Reverse mode only: ``jax.jvp`` through
  it raises (a ``custom_vjp``).

  Args:
    xs: inputs ``[..., H, W, C_i]`` (same leading and spatial shape).
    kernels: ``[k_i, k_i, C_i, C_out]`` each, odd ``k_i``.
    wrap: circular padding.
    groups: ``G``, dividing ``C_out``.
    impl: formulation of the forward convolutions (see `conv2d`).

  Returns:
    ``[..., H, W, G]``.
  """
  if len(xs) != len(kernels) or not xs:
    raise ValueError(f"conv2d_max needs as many inputs as kernels (>= 1), got {len(xs)} and {len(kernels)}.")
  c_out = kernels[0].shape[-1]
  if any(k.shape[-1] != c_out for k in kernels) or c_out % groups:
    raise ValueError(f"conv2d_max: kernels need one C_out divisible by groups={groups}, got {[k.shape for k in kernels]}.")
  for x, kernel in zip(xs, kernels):
    _check_kernel(x, kernel)
  return _conv2d_max(tuple(xs), tuple(kernels), groups, wrap, impl)


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
