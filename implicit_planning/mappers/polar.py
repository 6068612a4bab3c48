"""Resampling a top-down workspace image onto a polar grid about the arm's base.

A configuration ``(θ1, θ2)`` of a planar arm is blocked iff the arm touches an obstacle; the arm
at ``θ1 + δ`` is the arm at ``θ1`` rotated by ``δ``. On a polar grid centred on the base (angle ×
radius) a rotation of the workspace is a circular shift of the angle axis, so a network that is
shift-equivariant in angle maps a rotated workspace to a configuration space shifted along θ1,
exactly, with no need to learn it. The resampling is a fixed linear map (a sparse weighted
gather), precomputed once per geometry in NumPy.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class PolarGrid:
  """Where the polar cells lie in the workspace.

  Cell ``(a, j)`` covers angles ``2π (a ± 1/2) / angles`` (counter-clockwise from +x, so cell
  ``a`` is centred on the angle ``2π a / angles``) and radii ``[j, j + 1] · reach / radii``. Each
  cell's value is the mean of ``oversample²`` bilinear samples of the image inside it.

  Attributes:
    image_size: side ``S`` of the square image; pixel ``(r, c)`` has its centre at
      ``x = −extent + (c + ½) p``, ``y = extent − (r + ½) p``, ``p = 2 extent / S``
      (`data_gen.manipulation`'s convention).
    extent: half the workspace's side.
    reach: outermost radius sampled: the arm's reach plus a margin (the default: the default
      arm's 2.1 + 2.1 plus two pixels).
    angles: angle cells (a multiple of the configuration space's bins for exact equivariance).
    radii: radius cells.
    oversample: samples per cell along each axis.
  """

  image_size: int = 96
  extent: float = 5.0
  reach: float = 4.4
  angles: int = 72
  radii: int = 32
  oversample: int = 2

  def __post_init__(self):
    if not 0 < self.reach <= self.extent:
      raise ValueError(f"reach must be in (0, extent={self.extent}], got {self.reach}")
    if min(self.image_size, self.angles, self.radii, self.oversample) < 1:
      raise ValueError(f"image_size, angles, radii and oversample must be positive: {self}")


@functools.lru_cache(maxsize=8)
def sampling_weights(grid: PolarGrid) -> tuple[np.ndarray, np.ndarray]:
  """The resampling as a sparse matrix: flat pixel indices and weights, both ``[angles, radii, T]``.

  ``T = 4 · oversample²`` (four bilinear taps per sample); the weights of a cell sum to 1.
  """
  offsets = (np.arange(grid.oversample) + 0.5) / grid.oversample - 0.5
  angle = 2 * np.pi * (np.arange(grid.angles)[:, None] + offsets[None, :]) / grid.angles  # [A, o]
  radius = (np.arange(grid.radii)[:, None] + 0.5 + offsets[None, :]) * grid.reach / grid.radii  # [R, o]
  angle = angle[:, None, :, None]
  radius = radius[None, :, None, :]  # samples [A, R, o, o]
  x, y = radius * np.cos(angle), radius * np.sin(angle)
  index, weight = bilinear_taps(x, y, grid.image_size, grid.extent)
  shape = (grid.angles, grid.radii, -1)
  return index.reshape(shape), (weight.reshape(shape) / grid.oversample**2).astype(np.float32)


def bilinear_taps(x: np.ndarray, y: np.ndarray, image_size: int, extent: float) -> tuple[np.ndarray, np.ndarray]:
  """Bilinear interpolation at workspace points ``(x, y)`` as four taps each: flat pixel indices
  (int32) and weights, both ``[..., 4]``; a tap outside the image weighs 0 (the image is 0 there)."""
  pixel = 2 * extent / image_size
  col, row = (x + extent) / pixel - 0.5, (extent - y) / pixel - 0.5
  row0, col0 = np.floor(row), np.floor(col)
  taps_index, taps_weight = [], []
  for dr in (0, 1):
    for dc in (0, 1):
      r, c = row0 + dr, col0 + dc
      weight = (1 - np.abs(row - r)) * (1 - np.abs(col - c))
      inside = (r >= 0) & (r < image_size) & (c >= 0) & (c < image_size)
      r, c = np.clip(r, 0, image_size - 1), np.clip(c, 0, image_size - 1)
      taps_index.append((r * image_size + c).astype(np.int32))
      taps_weight.append(np.where(inside, weight, 0.0))
  return np.stack(taps_index, -1), np.stack(taps_weight, -1)


def to_polar(images: jax.Array, grid: PolarGrid, dtype=jnp.float32) -> jax.Array:
  """``[..., S, S]`` images (1 = obstacle) → ``[..., angles, radii]`` mean occupancy of each cell."""
  if images.shape[-2:] != (grid.image_size, grid.image_size):
    raise ValueError(f"workspace images must be [..., {grid.image_size}, {grid.image_size}], got shape {images.shape}")
  index, weight = sampling_weights(grid)
  flat = images.reshape(images.shape[:-2] + (-1,)).astype(dtype)
  return jnp.sum(flat[..., index] * jnp.asarray(weight, dtype), axis=-1)
