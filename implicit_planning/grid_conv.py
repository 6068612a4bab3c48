"""Same-size 2D convolutions on grids, with zero or circular (torus) padding.

Every convolution of every planner goes through this module, so the padding a
task asks for (zeros for navigation, circular for the configuration-space
torus) is applied everywhere alike, GRU gates included.

Four formulations of `conv2d` compute the same thing:
  * ``"xla"``: ``lax.conv_general_dilated``, differentiated by JAX's
    convolution transposes.
  * ``"im2col"``: the ``k·k`` shifted windows concatenated along channels
    (`im2col`) and one matrix product, differentiated by JAX.
  * ``"hybrid"``: the native convolution forward (output channels padded
    to a multiple of 32, which XLA:CPU runs faster, see `_blocked_conv`) and
    a hand-written VJP: the same convolution of ``dy`` with the
    `adjoint_kernel` for the input, one product ``window(x)ᵀ·dy`` per kernel
    tap for the kernel.
  * ``"winograd"`` (3×3 kernels; others run as ``"hybrid"``): Winograd's
    F(4×4, 3×3) minimal filtering, 36 batched matrix products 4× smaller
    than the convolution's, and a hand-written VJP of the same form (see
    `_winograd_kernel_gradient`). Float32 outputs are within about 2e-6 of
    the output's scale (1e-5 tested).
  ``"hybrid"`` and ``"winograd"`` are reverse mode only (``custom_vjp``);
  ``"xla"`` and ``"im2col"`` also support ``jax.jvp``.
``"auto"`` is ``"xla"`` off CPU (cuDNN picks its own algorithms); on CPU it is
``"winograd"`` for 3×3 kernels with at least `WINOGRAD_MIN_CHANNELS` input
channels and ``"hybrid"`` otherwise. Why, measured on one core (XLA:CPU, one
thread, a batch of 32 15×15 grids, inside a ``scan`` as in the planners; ms
per call, forward / forward + backward;
``python -m experiments.benchmark --suite=conv --single_thread``):

  ==============  ===========  ==========  ==========  ==========  ===========
  3×3 conv        2 → 40       32 → 32     64 → 64     150 → 150   150 → 300
  ==============  ===========  ==========  ==========  ==========  ===========
  ``"xla"``       0.41 / 7.3   1.2 / 135   4.1 / 1431  21 / 1858   48 / 7027
  ``"im2col"``    0.62 / 1.4   5.0 / 9.5   7.7 / 28    35 / 96     60 / 151
  ``"hybrid"``    0.45 / 1.2   1.1 / 5.5   3.7 / 18    20 / 66     44 / 122
  ``"winograd"``  0.74 / 1.2   1.2 / 3.2   3.3 / 10    12 / 35     25 / 60
  ==============  ===========  ==========  ==========  ==========  ===========

XLA:CPU's native forward convolution is fast, but its weight gradient is
slow and the input gradient that JAX's transpose rule emits (kernel in
``01oi`` layout) runs far slower than the same convolution with a ``01io``
kernel inside loops. Winograd trades multiplications for cheap transforms;
with few channels the transforms dominate, so the forward pass alone breaks
even near 32 input channels (an implicit planner's forward solve) and forward
plus backward near 16.

`conv2d_max` is the VIN-family Bellman update ``V = max_o Σ_i conv(x_i, W_i)``
with a hand-written, sparse backward pass (see its docstring): the VIN
planners spend most of their time in it.
"""

from __future__ import annotations

import functools
import typing
from typing import Callable, Literal, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ConvImpl = Literal["auto", "xla", "im2col", "hybrid", "winograd"]
CONV_IMPLS: tuple[str, ...] = typing.get_args(ConvImpl)

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


# On CPU, ``"auto"`` runs 3×3 kernels with at least this many input channels
# as ``"winograd"``; see the module docstring's table for the crossover.
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


ConvFn = Callable[[jax.Array, jax.Array, bool], jax.Array]


def _self_adjoint_conv(apply: ConvFn, adjoint: Callable[[jax.Array], jax.Array],
                       kernel_gradient: Callable[[jax.Array, jax.Array, jax.Array, bool], jax.Array]) -> ConvFn:
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


def _materialised_adjoint_kernel(kernel: jax.Array) -> jax.Array:
  """The `adjoint_kernel` behind an optimisation barrier, for the native convolution.

  Left to itself XLA folds the flip and the swap into the convolution's
  dimension labels (``01oi``, reversed window), which XLA:CPU runs about seven
  times slower inside loops.
  """
  return jax.lax.optimization_barrier(adjoint_kernel(kernel))


def _per_tap_kernel_gradient(x: jax.Array, dy: jax.Array, kernel: jax.Array, wrap: bool) -> jax.Array:
  """``dW``, one product ``window(x)ᵀ·dy`` per tap.

  Each contracts pixels and every leading (batch) axis at once (52 ms for
  150 → 300 channels, batch 32 of 15×15, one core, against 86 ms for one
  product with the materialised ``im2col`` patches).
  """
  c_in, c_out = kernel.shape[2], kernel.shape[3]
  dy_rows = dy.reshape(-1, c_out)
  taps = [window.reshape(-1, c_in).T @ dy_rows for window in windows(x, kernel.shape[0], wrap)]
  return jnp.stack(taps).reshape(kernel.shape)


_hybrid_conv = _self_adjoint_conv(_blocked_conv, _materialised_adjoint_kernel, _per_tap_kernel_gradient)


# Winograd F(4×4, 3×3) (Lavin & Gray, 2016; interpolation points 0, ±1, ±2, ∞):
# a 4×4 output tile is ``Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`` for the 6×6 input tile
# ``d`` around it and the 3×3 kernel ``g``: 36 multiplications per tile and
# channel pair instead of 144. Summed over input channels, the elementwise
# products become 36 batched matrix products a quarter the convolution's size.
_TILE = 4
_B_T = np.array([[4, 0, -5, 0, 1, 0],
                 [0, -4, -4, 1, 1, 0],
                 [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0],
                 [0, 2, -1, -2, 1, 0],
                 [0, 4, 0, -5, 0, 1]], np.float64)
_G = np.array([[1 / 4, 0, 0],
               [-1 / 6, -1 / 6, -1 / 6],
               [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6],
               [1 / 24, -1 / 12, 1 / 6],
               [0, 0, 1]], np.float64)
_A_T = np.array([[1, 1, 1, 1, 1, 0],
                 [0, 1, -1, 2, -2, 0],
                 [0, 1, 1, 4, 4, 0],
                 [0, 1, -1, 8, -8, 1]], np.float64)
_TILE_IN = _B_T.shape[0]  # 6


def _linear_combinations(matrix: np.ndarray, parts: Sequence[jax.Array]) -> list[jax.Array]:
  """``[Σ_k matrix[i, k] · parts[k] for each row i]``, skipping zero coefficients."""
  rows = []
  for coefficients in matrix:
    terms = [part if c == 1 else -part if c == -1 else c * part for c, part in zip(coefficients, parts) if c]
    rows.append(functools.reduce(jnp.add, terms))
  return rows


def _tile_counts(height: int, width: int) -> tuple[int, int]:
  return -(-height // _TILE), -(-width // _TILE)


def _pad_to_whole_tiles(x: jax.Array, height: int, width: int) -> jax.Array:
  """Zeros after the two spatial axes of ``x: [..., ·, ·, C]``, as many as an ``H×W`` grid lacks
  for whole 4×4 tiles."""
  tile_rows, tile_cols = _tile_counts(height, width)
  extra = [(0, _TILE * tile_rows - height), (0, _TILE * tile_cols - width), (0, 0)]
  return jnp.pad(x, [(0, 0)] * (x.ndim - 3) + extra)


def _winograd_tiles(x: jax.Array, wrap: bool) -> jax.Array:
  """``Bᵀ d B`` of every 6×6 input tile ``d`` of ``x: [..., H, W, C]``: ``[36, tiles, C]``.

  The grid is padded by one (zeros or wrapped) and then with zeros up to whole
  tiles; the transform runs along rows, then along columns, each stage a sum
  of strided slices (materialising the stages: 3.7 ms for 150 channels,
  batch 32 of 15×15, one core, against 7.5 ms fused into one pass and
  4.7 ms as one product with ``Bᵀ ⊗ Bᵀ``).
  """
  tile_rows, tile_cols = _tile_counts(*x.shape[-3:-1])
  padded = _pad_to_whole_tiles(pad_grid(x, 1, wrap), *x.shape[-3:-1])
  row_parts = [padded[..., k : k + _TILE * tile_rows : _TILE, :, :] for k in range(_TILE_IN)]
  by_rows = jnp.stack(_linear_combinations(_B_T.astype(x.dtype), row_parts))
  col_parts = [by_rows[..., k : k + _TILE * tile_cols : _TILE, :] for k in range(_TILE_IN)]
  tiles = jnp.stack(_linear_combinations(_B_T.astype(x.dtype), col_parts), axis=1)
  return tiles.reshape(_TILE_IN**2, -1, x.shape[-1])


def _winograd_untile(products: jax.Array, grid_shape: tuple[int, ...]) -> jax.Array:
  """``Aᵀ M A`` of every tile of ``products: [36, tiles, D]``, placed on the ``[..., H, W]`` grid."""
  *leading, height, width = grid_shape
  tile_rows, tile_cols = _tile_counts(height, width)
  out_transform = np.kron(_A_T, _A_T).astype(products.dtype)
  tiles = (out_transform @ products.reshape(_TILE_IN**2, -1)).reshape(
      (_TILE, _TILE, *leading, tile_rows, tile_cols, -1))
  n = len(leading)
  order = (*range(2, 2 + n), 2 + n, 0, 3 + n, 1, 4 + n)  # [..., tile row, row in tile, tile col, col in tile, D]
  grid = tiles.transpose(order).reshape((*leading, _TILE * tile_rows, _TILE * tile_cols, -1))
  return grid[..., :height, :width, :]


def _winograd_untile_adjoint(dy: jax.Array) -> jax.Array:
  """The adjoint of `_winograd_untile`: ``[..., H, W, D]`` → ``[36, tiles, D]``."""
  *leading, height, width, channels = dy.shape
  tile_rows, tile_cols = _tile_counts(height, width)
  dy = _pad_to_whole_tiles(dy, height, width).reshape((*leading, tile_rows, _TILE, tile_cols, _TILE, channels))
  n = len(leading)
  order = (n + 1, n + 3, *range(n), n, n + 2, n + 4)  # [row in tile, col in tile, ..., tiles, D]
  in_tile_major = dy.transpose(order).reshape(_TILE**2, -1)
  adjoint = np.kron(_A_T, _A_T).T.astype(dy.dtype)
  return (adjoint @ in_tile_major).reshape(_TILE_IN**2, -1, channels)


def _winograd_kernel(kernel: jax.Array) -> jax.Array:
  """``G g Gᵀ`` per channel pair: ``[3, 3, C_in, C_out]`` → ``[36, C_in, C_out]``.

  One product with ``G ⊗ G`` (36×9): as an einsum over ``G`` twice, XLA:CPU
  contracts three entries at a time: 16–18 ms per call at 150 → 300.
  """
  transform = np.kron(_G, _G).astype(kernel.dtype)
  return (transform @ kernel.reshape(9, -1)).reshape(_TILE_IN**2, *kernel.shape[2:])


def _winograd_kernel_adjoint(dtransformed: jax.Array) -> jax.Array:
  """The adjoint of `_winograd_kernel`: ``[36, C_in, C_out]`` → ``[3, 3, C_in, C_out]``."""
  transform = np.kron(_G, _G).T.astype(dtransformed.dtype)
  return (transform @ dtransformed.reshape(_TILE_IN**2, -1)).reshape(3, 3, *dtransformed.shape[1:])


def _winograd_apply(x: jax.Array, kernel: jax.Array, wrap: bool) -> jax.Array:
  products = jnp.einsum("tnc,tcd->tnd", _winograd_tiles(x, wrap), _winograd_kernel(kernel))
  return _winograd_untile(products, x.shape[:-1])


def _winograd_kernel_gradient(x: jax.Array, dy: jax.Array, kernel: jax.Array, wrap: bool) -> jax.Array:
  """``dW`` as 36 products of the input tiles and the adjoint output transform of ``dy``.

  Together with an input gradient that is again a Winograd convolution, this
  replaces differentiating the transforms, which would scatter-add
  overlapping tiles back onto the grid (28 ms for one call at 150 → 300,
  one core). The input tiles are recomputed from ``x`` (a residual the size
  of ``x``, not 2.6×).
  """
  del kernel
  products = jnp.einsum("tnc,tnd->tcd", _winograd_tiles(x, wrap), _winograd_untile_adjoint(dy))
  return _winograd_kernel_adjoint(products)


_winograd_conv = _self_adjoint_conv(_winograd_apply, adjoint_kernel, _winograd_kernel_gradient)


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
  impl = resolve_impl(impl, kernel.shape)
  if impl == "winograd":
    return _winograd_conv(x, kernel, wrap)
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
