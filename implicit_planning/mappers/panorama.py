"""The visual-navigation mapper: four egocentric views per cell → that cell's obstacle logit.

The paper's appendix D.1 (after GPPN, Lee et al. 2018): each 32×32 RGB view goes through one small
CNN (32 filters 8×8 stride 4, 64 filters 4×4 stride 2, a linear layer to 256), the four headings'
embeddings of a cell are concatenated, and two 3×3 convolutions over the grid (64 filters, then
1) give the obstacle logit of every cell. The per-view CNN is shared by all cells and headings; the
grid convolutions let a cell's logit use what its neighbours see (a wall is seen from beside it).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from implicit_planning.mappers.workspace import windows_conv


def space_to_depth(images: jax.Array, block: int) -> jax.Array:
  """``[N, H, W, C]`` → ``[N, H / block, W / block, block² C]``: each ``block × block`` patch as one pixel."""
  n, height, width, channels = images.shape
  patches = images.reshape(n, height // block, block, width // block, block, channels)
  return patches.transpose(0, 1, 3, 2, 4, 5).reshape(n, height // block, width // block, block * block * channels)


def depth_to_space(images: jax.Array, block: int) -> jax.Array:
  """The inverse of `space_to_depth`: ``[N, H, W, block² C]`` → ``[N, block H, block W, C]``."""
  n, height, width, depth = images.shape
  patches = images.reshape(n, height, width, block, block, depth // (block * block))
  return patches.transpose(0, 1, 3, 2, 4, 5).reshape(n, height * block, width * block, depth // (block * block))


class PatchConv(nn.Module):
  """The ``2 block × 2 block`` convolution with stride ``block`` of an image in `space_to_depth` form
  (``block × block`` patches as pixels): a ``2 × 2`` stride-1 convolution there, computed as the sum
  of four matrix products of shifted slices. On one CPU core this is 1.9× faster forward and 1.8×
  backward than one product of the concatenated windows, and XLA's own convolution is 60× slower
  to differentiate inside the loop over seeds (``docs/performance.md``).
  """

  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, patches: jax.Array) -> jax.Array:
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (2, 2, patches.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    height, width = patches.shape[1] - 1, patches.shape[2] - 1
    kernel, patches = kernel.astype(self.dtype), patches.astype(self.dtype)
    shifted = (patches[:, i : i + height, j : j + width] @ kernel[i, j] for i in range(2) for j in range(2))
    return sum(shifted) + bias.astype(self.dtype)


PAPER_FEATURES = (32, 64, 256, 64)
"""The paper's sizes: the two image convolutions' filters, the view embedding, the grid convolution's filters."""


class PanoramaMapper(nn.Module):
  """``panoramas`` uint8 ``[B, H, W, 4, V, V, 3]`` (`data_gen.panorama`) → obstacle logits ``[B, H, W]``.

  Attributes:
    features: filters of the 8×8 and 4×4 image convolutions, the view embedding's size and the
      3×3 grid convolution's filters (`PAPER_FEATURES`).
    dtype: computation dtype.
  """

  features: tuple[int, int, int, int] = PAPER_FEATURES
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, panoramas: jax.Array) -> jax.Array:
    if panoramas.ndim != 7 or panoramas.shape[3] != 4 or panoramas.shape[-1] != 3:
      raise ValueError(f"panoramas must be [B, H, W, 4, V, V, 3] (four RGB views per cell), got {panoramas.shape}")
    batch, height, width, headings, *view = panoramas.shape
    first, second, embedding, grid = self.features
    # The product of shifted windows, not XLA's convolution: the latter is 20-35x slower on CPU
    # inside the loop over seeds (`workspace.windows_conv`).
    conv = functools.partial(nn.Conv, padding="VALID", dtype=self.dtype, conv_general_dilated=windows_conv)
    patches = space_to_depth(panoramas.reshape(-1, *view), 4).astype(self.dtype) / 255.0
    x = nn.relu(PatchConv(first, self.dtype)(patches))  # the 8×8 stride-4 convolution of the view
    # The 4×4 stride-2 convolution reads rows and columns 0-5 of the 7×7 map: 3×3 patches of 2×2.
    x = nn.relu(PatchConv(second, self.dtype)(space_to_depth(x[:, :6, :6], 2)))
    x = nn.relu(nn.Dense(embedding, dtype=self.dtype)(x.reshape(x.shape[0], -1)))
    cells = x.reshape(batch, height, width, headings * embedding)
    pad = lambda grid_features: jnp.pad(grid_features, ((0, 0), (1, 1), (1, 1), (0, 0)))  # outside: zeros
    cells = nn.relu(conv(grid, (3, 3))(pad(cells)))
    return conv(1, (3, 3))(pad(cells))[..., 0]
