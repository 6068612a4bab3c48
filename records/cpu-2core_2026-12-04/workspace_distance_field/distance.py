"""Signed distance to a workspace's obstacles, and how well the configuration space is read from it.

The arm-sweep mapper reads an obstacle field at 128 points of each configuration's arm and takes
the maximum. Its best possible field, if it could be learned, is the signed distance to the true
polygons (positive inside, in pixels): this script measures what that field gives when it is
sampled on a grid 1×, 2× or 4× as fine as the image and read bilinearly at the mapper's arm points
(`ArmSweep`), with a margin for the points' spacing, on 300 workspaces drawn as the training
split's (seed 123, as `../workspace_field_supervision/errors_by_clearance.py`). A second table
asks how precisely a mapper must place the obstacles: every vertex moved by Gaussian noise, the
moved polygons' exact configuration space against the true one.

Usage (repository root): PYTHONPATH=. python records/.../workspace_distance_field/distance.py
"""

import jax
import jax.numpy as jnp
import numpy as np

from data_gen import manipulation as m
from implicit_planning.mappers.polar import bilinear_taps
from implicit_planning.mappers.sweep import ArmSweep

BINS = 18


def polygon_signed_distance(points: jax.Array, polygon: jax.Array) -> jax.Array:
  """Signed distance ``[Q]`` from ``points [Q, 2]`` to a convex counter-clockwise polygon ``[V, 2]``
  (repeated vertices allowed): depth inside, minus the distance outside."""
  edge = jnp.roll(polygon, -1, 0) - polygon  # [V, 2]
  offset = points[:, None, :] - polygon  # [Q, V, 2]
  length2 = (edge * edge).sum(-1)
  t = jnp.clip((offset * edge).sum(-1) / jnp.maximum(length2, 1e-12), 0, 1)
  distance = jnp.linalg.norm(offset - t[..., None] * edge, axis=-1).min(-1)
  side = edge[:, 0] * offset[..., 1] - edge[:, 1] * offset[..., 0]  # ≥ 0: inner side of the edge
  inside = jnp.all((side >= 0) | (length2 == 0), -1)
  return jnp.where(inside, distance, -distance)


@jax.jit
def _workspace_distance(points: jax.Array, vertices: jax.Array, present: jax.Array) -> jax.Array:
  per_polygon = jax.vmap(polygon_signed_distance, (None, 0))(points, vertices)  # [P, Q]
  return jnp.max(jnp.where(present[:, None], per_polygon, -jnp.inf), 0)


def signed_distance(obstacles: m.Obstacles, points: np.ndarray) -> np.ndarray:
  """``[N, ...]``: the largest polygon signed distance at each point of ``points [..., 2]``
  (−inf where there are no obstacles), in float32."""
  flat = jnp.asarray(points.reshape(-1, 2), jnp.float32)
  rows = [_workspace_distance(flat, *map(jnp.asarray, w)) for w in zip(obstacles.vertices, obstacles.present)]
  return np.asarray(jnp.stack(rows)).reshape((len(rows),) + points.shape[:-1])


def grid_points(side: int, extent: float) -> np.ndarray:
  """Centres ``[side, side, 2]`` (x, y) of a ``side``² grid over the image, row 0 at the top."""
  centres = -extent + (np.arange(side) + 0.5) * 2 * extent / side
  x, y = np.meshgrid(centres, -centres)
  return np.stack([x, y], -1)


def read(field: np.ndarray, extent: float, margin: float) -> np.ndarray:
  """Blocked cells ``[N, bins, bins]``: the field, read bilinearly at the arm's points, exceeds −margin."""
  side = field.shape[-1]
  points = ArmSweep(BINS).points()
  index, weight = bilinear_taps(points[..., 0], points[..., 1], side, extent)
  flat = field.reshape(len(field), -1)
  return (flat[:, index] * weight).sum(-1).max(-1) > -margin


def move_vertices(obstacles: m.Obstacles, sigma: float, rng: np.random.Generator) -> m.Obstacles:
  """Every distinct vertex moved by Gaussian noise (a polygon's repeated last vertices move together)."""
  vertices = obstacles.vertices + rng.normal(0, sigma, obstacles.vertices.shape)
  repeated = np.all(obstacles.vertices[..., 1:, :] == obstacles.vertices[..., :-1, :], -1)
  for k in range(1, vertices.shape[-2]):
    vertices[..., k, :] = np.where(repeated[..., k - 1, None], vertices[..., k - 1, :], vertices[..., k, :])
  return m.Obstacles(vertices, obstacles.present)


def main() -> None:
  params = m.ArmParams()
  obstacles = m.random_obstacles(np.random.default_rng(123), 300, params)
  blocked = m.configuration_space(obstacles, BINS, params) == 0
  pixel = 2 * params.extent / params.image_size
  spacing = max(params.link_lengths) / (ArmSweep(BINS).points_per_link - 1) / pixel
  print(f"300 workspaces; arm points {spacing:.2f} px apart; signed distance in pixels")
  print("| grid | clipped to ±2 px | margin (px) | cells right |\n|---|---|---|---|")
  for scale in (1, 2, 4):
    field = signed_distance(obstacles, grid_points(scale * params.image_size, params.extent)) / pixel
    for clip in (False, True):
      shown = np.clip(field, -2, 2) if clip else field
      for margin in (0.0, spacing / 4, spacing / 2):
        right = 100 * np.mean(read(shown, params.extent, margin) == blocked)
        print(f"| {scale}× | {clip} | {margin:.2f} | {right:.3f} |", flush=True)
  print("\nPolygons with every vertex moved by Gaussian noise (σ per coordinate, pixels): the exact")
  print("configuration space of the moved polygons, and their signed distance per half pixel read as above")
  print("| σ (px) | exact reading: cells right | half-pixel distance, margin 0.08 px: cells right |\n|---|---|---|")
  for sigma in (0.05, 0.1, 0.2, 0.3, 0.5):
    moved = move_vertices(obstacles, sigma * pixel, np.random.default_rng(7))
    exact = 100 * np.mean((m.configuration_space(moved, BINS, params) == 0) == blocked)
    field = signed_distance(moved, grid_points(2 * params.image_size, params.extent)) / pixel
    right = 100 * np.mean(read(np.clip(field, -2, 2), params.extent, spacing / 4) == blocked)
    print(f"| {sigma} | {exact:.3f} | {right:.3f} |", flush=True)


if __name__ == "__main__":
  main()
