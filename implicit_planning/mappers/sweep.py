"""The arm-sweep mapper: the workspace read where the arm of each configuration lies.

A configuration is blocked iff some point of the arm lies in an obstacle. This mapper builds that
rule in: a small convolutional network turns the workspace image into an obstacle field, a logit
at every pixel centre, which is read bilinearly at points along both links of every
configuration's arm (a fixed sparse gather, precomputed from the arm's geometry), and a
configuration's logit is the maximum over its arm's points, or a smooth one (``sharpness``).

What the network has to learn is local: where, between pixel centres, an obstacle's edge runs. The
pixel reading it refines (a point is in an obstacle iff the pixel under it is,
`data_gen.manipulation.configuration_space_from_image`) places every edge to half a pixel and gets
about 98.4 % of 18×18 cells; a polygon's straight edges cross many pixels, and their staircase
fixes the edge far more finely than that.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from implicit_planning.mappers.panorama import depth_to_space, space_to_depth
from implicit_planning.mappers.polar import bilinear_taps
from implicit_planning.mappers.workspace import Conv, ResidualBlock

PIXEL_LOGIT = 4.0
"""The untrained field: this logit at an obstacle pixel's centre, its negative at a free one's, so
that read bilinearly it changes sign half-way between the two centres, where reading each pixel
alone puts the edge."""


@dataclasses.dataclass(frozen=True)
class ArmSweep:
  """Where the arm of each configuration lies on the image.

  Attributes:
    bins: configuration-space bins per joint; joint angle ``2π k / bins`` (as
      `data_gen.manipulation`: row = θ1, column = θ2, θ2 relative to the first link).
    link_lengths: the two links' lengths.
    image_size: side ``S`` of the square image (`polar.PolarGrid`'s pixel convention).
    extent: half the workspace's side.
    points_per_link: points read along each link, from its start to its end.
  """

  bins: int = 18
  link_lengths: tuple[float, float] = (2.1, 2.1)
  image_size: int = 96
  extent: float = 5.0
  points_per_link: int = 64

  def __post_init__(self):
    if min(self.bins, self.image_size, self.points_per_link) < 1 or min(self.link_lengths) <= 0:
      raise ValueError(f"bins, image_size, points_per_link and link lengths must be positive: {self}")
    if sum(self.link_lengths) >= self.extent:
      raise ValueError(f"the arm (reach {sum(self.link_lengths)}) must lie inside the image (extent {self.extent})")

  def points(self) -> np.ndarray:
    """Workspace points ``[bins, bins, 2 · points_per_link, 2]`` (x, y) of each configuration's arm."""
    theta = 2 * np.pi * np.arange(self.bins) / self.bins
    theta1, theta2 = np.meshgrid(theta, theta, indexing="ij")
    (l1, l2), t = self.link_lengths, np.linspace(0.0, 1.0, self.points_per_link)[:, None]
    direction = lambda angle: np.stack([np.cos(angle), np.sin(angle)], axis=-1)[..., None, :]
    elbow = l1 * direction(theta1)
    link1 = t * elbow
    link2 = elbow + t * l2 * direction(theta1 + theta2)
    return np.concatenate([link1, link2], axis=-2)


@functools.lru_cache(maxsize=8)
def sweep_taps(sweep: ArmSweep, scale: int = 1) -> tuple[np.ndarray, np.ndarray]:
  """The reading as a sparse matrix: flat indices into a field of ``scale × scale`` values per
  pixel and weights ``[bins, bins, 2 · points, 4]``."""
  points = sweep.points()
  index, weight = bilinear_taps(points[..., 0], points[..., 1], sweep.image_size * scale, sweep.extent)
  return index, weight.astype(np.float32)


def mirror_symmetries(bins: int) -> tuple[tuple[tuple[int, ...], np.ndarray, np.ndarray], ...]:
  """The symmetries of the workspace image that are exact on its pixels and on the configuration
  space's bins: the identity, the mirror in the x axis (it negates both joint angles), the mirror in
  the y axis (θ1 to π − θ1, θ2 negated) and the half turn (θ1 + π). Each as the image axes it flips
  and the θ1 and θ2 bins of its configuration space that hold the original's bins, in order."""
  if bins % 2:
    raise ValueError(f"the mirrors and the half turn map bins onto bins only for an even number of bins, got {bins}")
  k, half = np.arange(bins), bins // 2
  return (
    ((), k, k),
    ((-2,), -k % bins, -k % bins),
    ((-1,), (half - k) % bins, -k % bins),
    ((-2, -1), (k + half) % bins, k),
  )


class ObstacleField(nn.Module):
  """``[B, S, S]`` images → ``[B, S·scale, S·scale]`` logits that a point at each sub-pixel centre
  is in an obstacle: its pixel's value (``±pixel_logit``) plus a residual network's correction,
  which starts at 0.

  The network reads the image in blocks of ``block × block`` pixels (space to depth) and gives each
  block's sub-pixels their corrections, which keeps its convolutions few and wide. A field finer
  than the image (``scale`` 2) can place an edge and a corner within a pixel: read as the arm sweep
  reads it, the exact signed distance to the obstacles gets about 99.6 % of 18×18 cells per half
  pixel and at most 99.25 % per pixel (`docs/workspace_manipulation.md`). Untrained, a field per
  half pixel changes sign on the pixels' borders, where the pixel reading puts every edge.

  Attributes:
    width: channels of the network.
    dilations: one residual block per entry, with that dilation in blocks (the receptive field
      reaches ``block · (1 + 2 · sum(dilations))`` pixels to either side).
    block: pixels per side of a block.
    scale: field values per pixel side.
    pixel_logit: the untrained field's value at an obstacle pixel (its negative at a free one).
    dtype: parameter and computation dtype.
  """

  width: int = 16
  dilations: Sequence[int] = (1, 2, 4)
  block: int = 2
  scale: int = 1
  pixel_logit: float = PIXEL_LOGIT
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, workspace: jax.Array) -> jax.Array:
    if workspace.shape[-1] % self.block:
      raise ValueError(f"the image's side {workspace.shape[-1]} is not a multiple of the block {self.block}")
    pixel = 2 * workspace.astype(self.dtype) - 1  # ±1
    zeros = (False, False)  # the workspace does not wrap: zero padding
    x = Conv(self.width, zeros, dtype=self.dtype)(space_to_depth(pixel[..., None], self.block))
    for dilation in self.dilations:
      x = ResidualBlock(zeros, (dilation, dilation), dtype=self.dtype)(x)
    x = nn.relu(nn.GroupNorm(min(8, self.width), dtype=self.dtype, param_dtype=self.dtype)(x))
    side = self.block * self.scale  # field values per block side
    dense = nn.Dense(side**2, kernel_init=nn.initializers.zeros, dtype=self.dtype, param_dtype=self.dtype)
    pixel = jnp.repeat(jnp.repeat(pixel, self.scale, axis=-1), self.scale, axis=-2)
    return self.pixel_logit * pixel + depth_to_space(dense(x), side)[..., 0]


class SweepMapper(nn.Module):
  """``[B, S, S]`` workspace images (1 = obstacle) → ``[B, bins, bins]`` obstacle logits: the
  `ObstacleField` read along each configuration's arm (`ArmSweep`), its log-sum-exp.

  Attributes:
    sweep: the arm's geometry and the points read along it.
    field: the obstacle field's network.
    sharpness: ``β`` of the smooth maximum ``logsumexp(β x) / β`` over the arm's points; None
      for the maximum itself.
    symmetric: average the logits over the four symmetries the image and the arm share exactly
      (`mirror_symmetries`), which makes the map equivariant to them; four times the work.
  """

  sweep: ArmSweep = ArmSweep()
  field: ObstacleField = ObstacleField()
  sharpness: float | None = None
  symmetric: bool = False

  def misfit(self, image_size: int, extent: float, link_lengths: tuple[float, ...]) -> str | None:
    """None if built for such images and exactly this arm, else what it was built for."""
    sweep = self.sweep
    if (image_size, extent, tuple(link_lengths)) == (sweep.image_size, sweep.extent, sweep.link_lengths):
      return None
    return (
      f"reads {sweep.image_size}-pixel images of half-side {sweep.extent} along an arm of links {sweep.link_lengths}"
    )

  @nn.compact
  def __call__(self, workspace: jax.Array) -> jax.Array:
    """The logits; the field of the images as given is sown as ``intermediates["obstacle_field"]``
    (`occupancy`: what it can be supervised on besides)."""
    size = self.sweep.image_size
    if workspace.shape[-2:] != (size, size):
      raise ValueError(f"workspace images must be [..., {size}, {size}], got shape {workspace.shape}")
    if not self.symmetric:
      logits, field = self.read(workspace)
      self.sow("intermediates", "obstacle_field", field)
      return logits
    symmetries = mirror_symmetries(self.sweep.bins)
    images = jnp.concatenate([jnp.flip(workspace, axes) for axes, _, _ in symmetries])  # one field network call
    logits, field = self.read(images)
    self.sow("intermediates", "obstacle_field", field[: workspace.shape[0]])  # the identity's
    logits = jnp.split(logits, len(symmetries))
    return jnp.mean(jnp.stack([x[..., rows, :][..., cols] for x, (_, rows, cols) in zip(logits, symmetries)]), 0)

  def read(self, workspace: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The field of each image ``[B, S·scale, S·scale]``, and it read along every configuration's
    arm: logits ``[B, bins, bins]``."""
    field = self.field(workspace)  # [B, S·scale, S·scale]
    index, weight = sweep_taps(self.sweep, self.field.scale)
    flat = field.reshape(field.shape[:-2] + (-1,))
    along_arm = jnp.sum(flat[..., index] * jnp.asarray(weight, field.dtype), axis=-1)  # [B, bins, bins, points]
    if self.sharpness is None:
      return jnp.max(along_arm, axis=-1), field
    # the smooth maximum exceeds the maximum by up to log(points) / β: a learned offset, started there, takes it back
    offset = self.param("offset", nn.initializers.constant(-np.log(index.shape[-2]) / self.sharpness), (), field.dtype)
    return jax.nn.logsumexp(self.sharpness * along_arm, axis=-1) / self.sharpness + offset, field
