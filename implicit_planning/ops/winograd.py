"""Winograd F(4×4, 3×3) same-size convolution with a hand-written VJP.

Each 3×3 convolution becomes 36 batched matrix products a quarter the size of
the direct convolution's, between cheap tile transforms. The VJP is of the same
form: the input gradient is again a Winograd convolution (of the cotangent with
the `adjoint.adjoint_kernel`), the kernel gradient 36 products of the input
tiles and the adjoint output transform (`_winograd_kernel_gradient`). Float32
outputs are within about 2e-6 of the output's scale (1e-5 tested). Measured
speed against the other formulations: ``docs/performance.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from implicit_planning.ops.adjoint import adjoint_kernel, self_adjoint_conv
from implicit_planning.ops.windows import pad_grid

# Winograd F(4×4, 3×3) (Lavin & Gray, 2016; interpolation points 0, ±1, ±2, ∞):
# a 4×4 output tile is ``Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`` for the 6×6 input tile
# ``d`` around it and the 3×3 kernel ``g``: 36 multiplications per tile and
# channel pair instead of 144. Summed over input channels, the elementwise
# products become 36 batched matrix products a quarter the convolution's size.
_TILE = 4
_B_T = np.array(
  [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
  ],
  np.float64,
)
_G = np.array(
  [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
  np.float64,
)
_A_T = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], np.float64)
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
  of strided slices, the stages materialised (faster than one fused pass or
  one product with ``Bᵀ ⊗ Bᵀ``).
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
    (_TILE, _TILE, *leading, tile_rows, tile_cols, -1)
  )
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
  contracts three entries at a time, far slower.
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
  overlapping tiles back onto the grid (slow on XLA:CPU). The input tiles are recomputed from ``x`` (a residual the size
  of ``x``, not 2.6×).
  """
  del kernel
  products = jnp.einsum("tnc,tnd->tcd", _winograd_tiles(x, wrap), _winograd_untile_adjoint(dy))
  return _winograd_kernel_adjoint(products)


winograd_conv = self_adjoint_conv(_winograd_apply, adjoint_kernel, _winograd_kernel_gradient)
