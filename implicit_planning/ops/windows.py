"""Shifted views of a grid: padding (zeros or circular), the windows a kernel reads, im2col and its adjoint."""

from __future__ import annotations

import jax
import jax.numpy as jnp


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
