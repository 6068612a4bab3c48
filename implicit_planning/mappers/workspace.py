"""The workspace-manipulation mapper: a residual U-Net from the workspace image to the arm's
configuration-space obstacle logits.

The paper (appendix D.1, after Chaplot et al. 2021) maps the 96×96 top-down occupancy image of the
workspace to the 18×18 configuration space with a U-Net with residual blocks. Ours runs that U-Net
on the image resampled onto a polar grid about the arm's base (`polar`), with circular padding
along the angle axis and zeros along the radius:

* the resampling makes a rotation of the workspace a circular shift of the angle axis, and every
  layer is shift-equivariant along it, so a workspace rotated by one bin's angle gives the same
  configuration space shifted by one θ1 bin, exactly and untrained (`tests/mappers`);
* the arm's first link sweeps one angle and the second a band of angles beside it, so what blocks
  a configuration is local in angle: the encoder halves the radius and the angle down to one cell
  per θ1 bin, then halves only the radius and widens the angular receptive field with dilated
  residual blocks; the decoder brings the radius back up beside the skip connection;
* each θ1 row's features (all radii) are mapped by one shared linear layer to that row's θ2 bins,
  and the last residual block pads circularly in both axes: the configuration space is a torus.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from implicit_planning.mappers.polar import PolarGrid, to_polar

ANGLE_CELLS_PER_BIN = 4
"""Polar angle cells per θ1 bin: two stride-2 levels bring them to one cell per bin."""


def polar_grid(bins: int, stem_levels: int = 0, **geometry) -> PolarGrid:
  """The polar grid of a mapper to ``bins × bins`` with ``stem_levels`` (`WorkspaceMapper`):
  `PolarGrid` with ``geometry`` (image_size, extent, reach, oversample; radii, default
  ``32 · 2^stem_levels``) and ``ANGLE_CELLS_PER_BIN · 2^stem_levels · bins`` angles."""
  geometry.setdefault("radii", 32 * 2**stem_levels)
  return PolarGrid(angles=ANGLE_CELLS_PER_BIN * 2**stem_levels * bins, **geometry)


def _pad(x: jax.Array, amount: tuple[int, int], wrap: tuple[bool, bool]) -> jax.Array:
  """Pads axes 1 and 2 of ``[B, H, W, C]`` by ``amount``, circularly where ``wrap``, else with zeros."""
  for axis, (pad, circular) in enumerate(zip(amount, wrap), start=1):
    widths = [(0, 0)] * x.ndim
    widths[axis] = (pad, pad)
    x = jnp.pad(x, widths, mode="wrap" if circular else "constant")
  return x


def windows_conv(
  lhs: jax.Array,
  rhs: jax.Array,
  window_strides: Sequence[int],
  padding: str | Sequence[tuple[int, int]],
  lhs_dilation: Sequence[int] | None = None,
  rhs_dilation: Sequence[int] | None = None,
  dimension_numbers=None,
  feature_group_count: int = 1,
  precision=None,
) -> jax.Array:
  """``lax.conv_general_dilated`` for ``[B, H, W, C]`` inputs, ``[kh, kw, C, F]`` kernels and no
  padding, as one matrix product of the input's ``kh · kw`` shifted (strided, dilated) windows.

  XLA:CPU runs a native convolution inside a loop (``lax.map`` over seeds) 20–35× slower than
  outside one; this product runs at its usual speed there (``docs/performance.md``).
  """
  del dimension_numbers  # flax's default layout, checked below through the shapes
  if feature_group_count != 1 or tuple(lhs_dilation or (1, 1)) != (1, 1):
    raise ValueError("windows_conv supports neither feature groups nor input dilation")
  if padding != "VALID" and tuple(map(tuple, padding)) != ((0, 0), (0, 0)):
    raise ValueError(f"windows_conv takes unpadded inputs, got padding {padding}")
  kh, kw, channels, features = rhs.shape
  if lhs.shape[-1] != channels:
    raise ValueError(f"input channels {lhs.shape[-1]} != kernel's {channels}")
  (sh, sw), (dh, dw) = window_strides, rhs_dilation or (1, 1)
  height, width = (lhs.shape[1] - dh * (kh - 1) - 1) // sh + 1, (lhs.shape[2] - dw * (kw - 1) - 1) // sw + 1
  windows = [
    lhs[:, i * dh : i * dh + (height - 1) * sh + 1 : sh, j * dw : j * dw + (width - 1) * sw + 1 : sw]
    for i in range(kh)
    for j in range(kw)
  ]
  return jnp.matmul(jnp.concatenate(windows, axis=-1), rhs.reshape(kh * kw * channels, features), precision=precision)


class Conv(nn.Module):
  """3×3 convolution with per-axis circular or zero padding (``wrap``), stride and dilation."""

  features: int
  wrap: tuple[bool, bool]
  strides: tuple[int, int] = (1, 1)
  dilation: tuple[int, int] = (1, 1)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = _pad(x, self.dilation, self.wrap)
    conv = nn.Conv(
      self.features,
      (3, 3),
      self.strides,
      padding="VALID",
      kernel_dilation=self.dilation,
      dtype=self.dtype,
      param_dtype=self.dtype,
      conv_general_dilated=windows_conv,
    )
    return conv(x)


class ResidualBlock(nn.Module):
  """``x + conv(relu(norm(conv(relu(norm(x))))))`` (pre-activation, He et al. 2016)."""

  wrap: tuple[bool, bool]
  dilation: tuple[int, int] = (1, 1)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    features = x.shape[-1]
    y = x
    for _ in range(2):
      y = nn.relu(nn.GroupNorm(min(8, features), dtype=self.dtype, param_dtype=self.dtype)(y))
      y = Conv(features, self.wrap, dilation=self.dilation, dtype=self.dtype)(y)
    return x + y


class WorkspaceMapper(nn.Module):
  """``[B, S, S]`` workspace images (1 = obstacle) → ``[B, bins, bins]`` obstacle logits.

  Row ``i`` of the output is the θ1 bin ``2π i / bins``, column ``j`` the θ2 bin (as
  `data_gen.manipulation`); a logit above 0 predicts a blocked configuration.

  Attributes:
    grid: the polar grid the image is resampled onto (`polar.PolarGrid`): its geometry is the
      workspace's, and its ``angles`` are ``cells_per_bin · bins`` (`polar_grid`).
    stem_levels: stride-2 levels (a convolution, then a strided one) before the U-Net: each
      doubles the angle and radius cells of the grid it reads, so the resampling keeps more of
      the image's detail far from the base (a 5° cell is 3.5 pixels wide at the arm's reach).
    widths: channels of the four polar levels (angle cells ``4·bins``, ``2·bins``, ``bins``,
      ``bins``; radius cells ``radii``, halved at each level).
    bottleneck_blocks: dilated residual blocks at the coarsest level.
    cspace_channels: channels per configuration-space cell before the last block.
    dtype: parameter and computation dtype.
  """

  grid: PolarGrid = PolarGrid()
  stem_levels: int = 0
  widths: Sequence[int] = (8, 16, 32, 64)
  bottleneck_blocks: int = 2
  cspace_channels: int = 16
  dtype: jnp.dtype = jnp.float32

  @property
  def cells_per_bin(self) -> int:
    """Polar angle cells per θ1 bin: ``ANGLE_CELLS_PER_BIN``, doubled by each stem level."""
    return ANGLE_CELLS_PER_BIN * 2**self.stem_levels

  @property
  def bins(self) -> int:
    """Configuration-space bins per joint."""
    return self.grid.angles // self.cells_per_bin

  def misfit(self, image_size: int, extent: float, link_lengths: tuple[float, ...]) -> str | None:
    """None if the grid covers such images and the arm's reach, else what it covers."""
    grid = self.grid
    if (image_size, extent) == (grid.image_size, grid.extent) and sum(link_lengths) <= grid.reach:
      return None
    return f"samples {grid.image_size}-pixel images of half-side {grid.extent} out to radius {grid.reach}"

  def __call__(self, workspace: jax.Array) -> jax.Array:
    halvings = 3 + self.stem_levels
    if self.grid.radii % 2**halvings or self.grid.angles % self.cells_per_bin:
      raise ValueError(
        f"the grid's radii must be a multiple of {2**halvings} ({halvings} halvings) and its angles of "
        f"{self.cells_per_bin} (cells per bin), got {self.grid}"
      )
    polar = to_polar(workspace, self.grid, self.dtype)[..., None]  # [B, cells_per_bin · bins, radii, 1]
    return self.from_polar(polar)

  @nn.compact
  def from_polar(self, polar: jax.Array) -> jax.Array:
    """The network after the resampling: ``[B, cells_per_bin · bins, radii, 1]`` → ``[B, bins, bins]``."""
    ring, torus = (True, False), (True, True)  # angle wraps; radius does not
    conv = lambda features, **kw: Conv(features, ring, dtype=self.dtype, **kw)
    block = lambda **kw: ResidualBlock(ring, dtype=self.dtype, **kw)
    w0, w1, w2, w3 = self.widths
    x = polar
    for _ in range(self.stem_levels):  # a finer resampling, brought down to 4 cells per bin
      x = conv(w0, strides=(2, 2))(nn.relu(conv(w0)(x)))
    x = block()(conv(w0)(x))  # [B, 4n, R]
    x = block()(conv(w1, strides=(2, 2))(x))  # [B, 2n, R/2]
    skip = block()(conv(w2, strides=(2, 2))(x))  # [B, n, R/4]
    x = conv(w3, strides=(1, 2))(skip)  # [B, n, R/8]: halve the radius only
    dilation = (max(1, self.bins // 18), 1)
    for _ in range(self.bottleneck_blocks):
      x = block(dilation=dilation)(x)
    x = jnp.repeat(x, 2, axis=2)  # back to [B, n, R/4]
    x = block()(conv(w2)(jnp.concatenate([x, skip], axis=-1)))
    rows = x.reshape(x.shape[:2] + (-1,))  # [B, n, R/4 · w2]: one θ1 bin's features, all radii
    cspace = nn.Dense(self.bins * self.cspace_channels, dtype=self.dtype, param_dtype=self.dtype)(rows)
    cspace = cspace.reshape(cspace.shape[:2] + (self.bins, self.cspace_channels))  # [B, θ1, θ2, C]
    cspace = ResidualBlock(torus, dtype=self.dtype)(nn.relu(cspace))
    logits = nn.Dense(1, dtype=self.dtype, param_dtype=self.dtype)(nn.relu(cspace))
    return logits[..., 0]
