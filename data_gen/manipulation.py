"""2-DOF manipulation problems: a planar 2-link arm among polygonal obstacles.

Geometry (as in the paper and SymPlan): the workspace is the square
[-extent, extent]^2 (default 10 x 10) with the arm's base at the origin; link 1
(length 2.1) goes from the base to the elbow at angle theta1, link 2 (length
2.1) from the elbow to the tip at angle theta1 + theta2 (theta2 is relative to
link 1). Angles are measured counter-clockwise from the +x axis.

Obstacles: 0 to ``max_obstacles`` (default 5) convex polygons per problem,
each with ``min_vertices`` to ``max_vertices`` (default 4 to 7) vertices at
sorted uniform angles on a circle of radius U(min_radius, max_radius) (so
vertices are counter-clockwise). Each centre lies at angle
U(0, 2 pi) and distance U(radius + base_clearance, extent - radius) from the
base, so every obstacle stays inside the workspace and keeps the base free.

Configuration space: ``bins`` x ``bins`` grid, row i = theta1 bin, column j =
theta2 bin, theta = 2 pi k / bins (a torus, no repeated endpoint). A bin is
blocked (0) iff the arm at exactly that configuration touches an obstacle
(closed sets: touching counts). The test is exact for convex polygons:
Cyrus-Beck clipping of each link segment against each polygon, which also
covers a link lying entirely inside an obstacle.

Goal: uniform over the free configurations of the largest free region of the
torus, so that the goal never sits in a tiny isolated pocket. A problem
whose configuration space has no free cell is redrawn (new obstacles).

Workspace image: ``image_size`` x ``image_size`` (default 96) raster of the
workspace, 1 = obstacle, a pixel being 1 iff its centre is inside (or on) an
obstacle. Row 0 is the top (y = +extent), column 0 the left (x = -extent):
pixel (r, c) has centre x = -extent + (c + 0.5) p, y = extent - (r + 0.5) p,
p = 2 extent / image_size.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from data_gen.grid import largest_component, uniform_cells

BIN_CHOICES = (18, 36)
_CHUNK_ELEMENTS = 1 << 18  # (polygon, edge, segment) elements per numpy pass


@dataclasses.dataclass(frozen=True)
class ArmParams:
  """Arm, workspace and obstacle-generation parameters (stored in ``meta``)."""

  link_lengths: tuple[float, float] = (2.1, 2.1)
  extent: float = 5.0
  max_obstacles: int = 5
  min_vertices: int = 4
  max_vertices: int = 7
  min_radius: float = 0.5
  max_radius: float = 1.5
  base_clearance: float = 0.3
  image_size: int = 96

  def __post_init__(self) -> None:
    problems = []
    if self.max_obstacles < 0:
      problems.append("max_obstacles must be >= 0")
    if not 3 <= self.min_vertices <= self.max_vertices:
      problems.append("need 3 <= min_vertices <= max_vertices")
    if not 0 < self.min_radius <= self.max_radius:
      problems.append("need 0 < min_radius <= max_radius")
    if self.max_radius + self.base_clearance > self.extent - self.max_radius:
      problems.append("obstacles of max_radius cannot fit between base and border")
    if self.image_size < 1 or min(self.link_lengths) <= 0:
      problems.append("image_size and link lengths must be positive")
    if problems:
      raise ValueError(f"manipulation: invalid ArmParams {self}: {'; '.join(problems)}")

  @property
  def polygon_shape(self) -> tuple[int, int, int]:
    """``(O, V, 2)``: a problem's padded polygons (`Obstacles.vertices`)."""
    return max(self.max_obstacles, 1), self.max_vertices, 2


class Obstacles(NamedTuple):
  """Padded batch of convex polygons.

  Attributes:
      vertices: float64 ``[N, O, V, 2]`` (x, y), counter-clockwise; a polygon
          with fewer than V vertices repeats its last vertex (zero-length
          edges, which never constrain the tests below).
      present: bool ``[N, O]``, False for padding obstacles.
  """

  vertices: np.ndarray
  present: np.ndarray


def check_bins(bins: int) -> None:
  """Raise ValueError unless ``bins`` is a supported discretisation."""
  if bins not in BIN_CHOICES:
    raise ValueError(f"manipulation: size (bins per joint) must be one of {BIN_CHOICES}, got {bins}")


def bin_angles(bins: int) -> np.ndarray:
  """Joint angle of each bin, ``2 pi k / bins``."""
  return 2.0 * np.pi * np.arange(bins) / bins


def arm_points(
  theta1: np.ndarray, theta2: np.ndarray, link_lengths: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
  """Elbow and tip positions ``[..., 2]`` for broadcastable joint angles."""
  l1, l2 = link_lengths
  theta1, theta2 = np.broadcast_arrays(theta1, theta2)
  elbow = l1 * np.stack([np.cos(theta1), np.sin(theta1)], axis=-1)
  total = theta1 + theta2
  tip = elbow + l2 * np.stack([np.cos(total), np.sin(total)], axis=-1)
  return elbow, tip


def random_obstacles(rng: np.random.Generator, num: int, params: ArmParams) -> Obstacles:
  """Draw ``num`` sets of 0..max_obstacles convex polygons (see module docstring)."""
  o, v, _ = params.polygon_shape
  count = rng.integers(0, params.max_obstacles + 1, size=num)
  present = np.arange(o) < count[:, None]
  radius = rng.uniform(params.min_radius, params.max_radius, size=(num, o))
  distance = rng.uniform(radius + params.base_clearance, params.extent - radius)
  heading = rng.uniform(0.0, 2.0 * np.pi, size=(num, o))
  centre = distance[..., None] * np.stack([np.cos(heading), np.sin(heading)], axis=-1)
  num_vertices = rng.integers(params.min_vertices, params.max_vertices + 1, size=(num, o))
  angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, size=(num, o, v)), axis=-1)
  angles = np.where(
    np.arange(v) < num_vertices[..., None],
    angles,
    np.take_along_axis(angles, num_vertices[..., None] - 1, axis=-1),
  )
  offsets = radius[..., None, None] * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
  return Obstacles(centre[:, :, None, :] + offsets, present)


def _edges(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Edge start points and edge vectors ``[..., V, 2]`` of closed polygons."""
  return vertices, np.roll(vertices, -1, axis=-2) - vertices


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def segments_hit_polygons(start: np.ndarray, end: np.ndarray, vertices: np.ndarray) -> np.ndarray:
  """Whether each segment touches each convex counter-clockwise polygon.

  Cyrus-Beck clipping: the point ``start + t (end - start)`` is inside the
  polygon iff it is on the inner side of every edge; the segment hits the
  polygon iff the resulting interval of t meets [0, 1].

  Args:
      start, end: ``[S, 2]`` segment endpoints.
      vertices: ``[P, V, 2]`` polygons.

  Returns:
      bool ``[P, S]``.
  """
  origin, edge = _edges(vertices)  # [P, V, 2]
  origin, edge = origin[:, :, None], edge[:, :, None]  # [P, V, 1, 2]
  side = _cross(edge, start - origin)  # [P, V, S]: >= 0 inside at t = 0
  slope = _cross(edge, end - start)  # [P, V, S]: d side / dt
  with np.errstate(divide="ignore", invalid="ignore"):
    t = -side / slope
  enter = np.where(slope > 0, t, -np.inf).max(axis=1)
  leave = np.where(slope < 0, t, np.inf).min(axis=1)
  never = ((slope == 0) & (side < 0)).any(axis=1)
  return (np.maximum(enter, 0.0) <= np.minimum(leave, 1.0)) & ~never


def configuration_space(obstacles: Obstacles, bins: int, params: ArmParams) -> np.ndarray:
  """Free configurations of the arm.

  Args:
      obstacles: ``N`` problems.
      bins: bins per joint.
      params: arm geometry.

  Returns:
      uint8 ``[N, bins, bins]``, 1 = free; row = theta1 bin, column = theta2 bin.
  """
  n, o, v, _ = obstacles.vertices.shape
  theta = bin_angles(bins)
  elbow1, _ = arm_points(theta, 0.0, params.link_lengths)  # [bins, 2]
  elbow, tip = arm_points(theta[:, None], theta[None, :], params.link_lengths)
  elbow, tip = elbow.reshape(-1, 2), tip.reshape(-1, 2)  # [bins^2, 2]
  base = np.zeros_like(elbow1)
  owner, slot = np.nonzero(obstacles.present)
  polygons = obstacles.vertices[owner, slot]  # [P, V, 2]
  blocked = np.zeros((n, bins, bins), bool)
  chunk = max(1, _CHUNK_ELEMENTS // (v * bins * bins))
  for s in range(0, len(polygons), chunk):
    part = slice(s, s + chunk)
    link1 = segments_hit_polygons(base, elbow1, polygons[part])
    link2 = segments_hit_polygons(elbow, tip, polygons[part])
    hit = link1[:, :, None] | link2.reshape(-1, bins, bins)
    np.logical_or.at(blocked, owner[part], hit)
  return (~blocked).astype(np.uint8)


def configuration_space_from_image(
  images: np.ndarray, bins: int, params: ArmParams, samples_per_link: int = 200
) -> np.ndarray:
  """Free configurations read off the workspace raster: a configuration is blocked iff a point
  of the arm (``samples_per_link`` evenly spaced per link) lies in an obstacle pixel.

  A mapper that needs no training: how much of the exact configuration space the pixels give
  without inferring the obstacles' edges between pixel centres.

  Args:
      images: uint8 ``[N, S, S]`` workspace images (`rasterize`), 1 = obstacle.
      bins: bins per joint.
      params: arm geometry (``image_size`` must be ``S``).
      samples_per_link: points sampled along each link.

  Returns:
      uint8 ``[N, bins, bins]``, 1 = free, as `configuration_space`.
  """
  size, extent = params.image_size, params.extent
  if images.shape[1:] != (size, size):
    raise ValueError(f"images must be [N, {size}, {size}] for these arm params, got {images.shape}")
  theta = bin_angles(bins)
  elbow, tip = arm_points(theta[:, None], theta[None, :], params.link_lengths)  # [bins, bins, 2]
  t = np.linspace(0.0, 1.0, samples_per_link)[:, None, None, None]
  points = np.concatenate([t * elbow, elbow + t * (tip - elbow)])  # [2T, bins, bins, 2]
  pixel = 2.0 * extent / size
  col = np.clip(np.floor((points[..., 0] + extent) / pixel), 0, size - 1).astype(np.intp)
  row = np.clip(np.floor((extent - points[..., 1]) / pixel), 0, size - 1).astype(np.intp)
  blocked = np.stack([image[row, col].max(axis=0) for image in images])  # the pixel under each point
  return (1 - blocked).astype(np.uint8)


def rasterize(obstacles: Obstacles, params: ArmParams) -> np.ndarray:
  """Top-down workspace image, uint8 ``[N, image_size, image_size]``, 1 = obstacle.

  Scan-line fill of each convex polygon: for every pixel row of a window
  around the polygon, the pixel centres between the leftmost and rightmost
  crossings of the row's centre line with the polygon's edges are inside
  (see the module docstring for the pixel geometry).
  """
  n, o, v, _ = obstacles.vertices.shape
  size, extent = params.image_size, params.extent
  pixel = 2.0 * extent / size
  window = min(size, int(np.ceil(2.0 * params.max_radius / pixel)) + 2)
  owner, slot = np.nonzero(obstacles.present)
  polygons = obstacles.vertices[owner, slot]  # [P, V, 2]
  col0 = np.floor((polygons[..., 0].min(axis=1) + extent) / pixel).astype(np.int64)
  row0 = np.floor((extent - polygons[..., 1].max(axis=1)) / pixel).astype(np.int64)
  offset = np.arange(window)
  rows = np.clip(row0, 0, size - window)[:, None] + offset  # [P, window]
  cols = np.clip(col0, 0, size - window)[:, None] + offset  # [P, window]
  y = (extent - (rows + 0.5) * pixel)[:, None, :]  # [P, 1, window]
  start, end = polygons[:, :, None, :], np.roll(polygons, -1, axis=1)[:, :, None, :]
  ax, ay, bx, by = start[..., 0], start[..., 1], end[..., 0], end[..., 1]  # [P, V, 1]
  crosses = (np.minimum(ay, by) <= y) & (y <= np.maximum(ay, by))
  flat = ay == by
  with np.errstate(divide="ignore", invalid="ignore"):
    x = ax + (y - ay) * (bx - ax) / (by - ay)
  left = np.where(crosses, np.where(flat, np.minimum(ax, bx), x), np.inf).min(axis=1)
  right = np.where(crosses, np.where(flat, np.maximum(ax, bx), x), -np.inf).max(axis=1)
  centre_x = (-extent + (cols + 0.5) * pixel)[:, None, :]  # [P, 1, window]
  inside = (left[..., None] <= centre_x) & (centre_x <= right[..., None])  # [P, row, col]
  image = np.zeros((n, size, size), np.uint8)
  hit, row_index, col_index = np.nonzero(inside)
  image[owner[hit], rows[hit, row_index], cols[hit, col_index]] = 1
  return image


def generate(
  rng: np.random.Generator,
  num: int,
  bins: int,
  **options,
) -> tuple[np.ndarray, np.ndarray, Obstacles]:
  """Manipulation problems: configuration spaces, goals and the obstacles they come from.

  Args:
      rng: random generator (the only source of randomness).
      num: number of problems.
      bins: bins per joint (18 or 36).
      **options: ``ArmParams`` fields.

  Returns:
      ``(maps, goals, obstacles)``: uint8 ``[num, bins, bins]`` (1 = free), int32
      ``[num, 2]`` goal (theta1 bin, theta2 bin), and each problem's polygons
      (`rasterize` draws its workspace image).
  """
  check_bins(bins)
  params = ArmParams(**options)
  obstacles = random_obstacles(rng, num, params)
  maps = configuration_space(obstacles, bins, params)
  while True:
    empty = ~maps.reshape(num, -1).any(axis=1)
    if not empty.any():
      break
    redraw = random_obstacles(rng, int(empty.sum()), params)
    obstacles.vertices[empty], obstacles.present[empty] = redraw
    maps[empty] = configuration_space(redraw, bins, params)
  goals = uniform_cells(rng, largest_component(maps.astype(bool), wrap=True))
  return maps, goals, obstacles
