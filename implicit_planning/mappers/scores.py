"""How well a mapper's map matches the true one (per-cell accuracy and obstacle IoU), and how well
its obstacle field places the obstacles between pixel centres (`occupancy`)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class MapScores(NamedTuple):
  """Per-map counts; every field is ``[B]``.

  Attributes:
    correct: cells whose predicted occupancy (logit > 0: blocked) is the true one.
    cells: cells of the map.
    intersection: cells blocked in both maps.
    union: cells blocked in either map.
  """

  correct: jax.Array
  cells: jax.Array
  intersection: jax.Array
  union: jax.Array

  @property
  def accuracy(self) -> jax.Array:
    """``[B]`` % of each map's cells predicted right."""
    return 100.0 * self.correct / self.cells


def map_scores(map_logits: jax.Array, maps: jax.Array) -> MapScores:
  """Scores of obstacle logits ``[B, H, W]`` against the true maps ``[B, H, W]`` (1 = free)."""
  predicted, blocked = map_logits > 0, maps == 0
  count = lambda mask: jnp.sum(mask, axis=(1, 2)).astype(jnp.int32)
  cells = jnp.full(maps.shape[:1], maps.shape[1] * maps.shape[2], jnp.int32)
  return MapScores(count(predicted == blocked), cells, count(predicted & blocked), count(predicted | blocked))


def aggregate(scores: MapScores) -> dict[str, float]:
  """Over all maps: ``map_accuracy`` (% of all cells) and ``obstacle_iou`` (% over all blocked cells)."""
  total = lambda x: float(jnp.sum(x))
  return {
    "map_accuracy": 100.0 * total(scores.correct) / total(scores.cells),
    "obstacle_iou": 100.0 * total(scores.intersection) / max(total(scores.union), 1.0),
  }


class FieldScores(NamedTuple):
  """Per-workspace counts of fine raster points (`occupancy`); every field is ``[B]``.

  Attributes:
    correct: points where the field's sign (> 0: occupied) is the polygons'.
    points: points of the raster.
    edge_correct: those of ``edge_points`` the field gets right.
    edge_points: points within the band of an edge: some point of the other occupancy lies within
      ``band`` raster points along each axis. Elsewhere the pixels alone decide (`field_scores`).
  """

  correct: jax.Array
  points: jax.Array
  edge_correct: jax.Array
  edge_points: jax.Array


def field_scores(field_logits: jax.Array, occupied: jax.Array, band: int) -> FieldScores:
  """Scores of a field read at the fine raster ``[B, R, R]`` against the points' occupancy ``[B, R, R]``.

  Nearly all points lie far from an edge, where reading the image's pixels already gets them
  right (99.7 % of the points at 4 per pixel side); the points within ``band`` of an edge are
  where a field places the edges or does not.
  """
  window = (1, 2 * band + 1, 2 * band + 1)
  pool = lambda x, op, init: jax.lax.reduce_window(x, init, op, window, (1, 1, 1), "SAME")
  as_int = occupied.astype(jnp.int32)
  near_edge = pool(as_int, jax.lax.max, 0) != pool(as_int, jax.lax.min, 1)
  right = (field_logits > 0) == occupied
  count = lambda mask: jnp.sum(mask, axis=(1, 2)).astype(jnp.int32)
  points = jnp.full(occupied.shape[:1], occupied.shape[1] * occupied.shape[2], jnp.int32)
  return FieldScores(count(right), points, count(right & near_edge), count(near_edge))


def aggregate_field(scores: FieldScores) -> dict[str, float]:
  """Over all workspaces: ``field_accuracy`` (% of all points) and ``field_edge_accuracy`` (% of the
  points near an edge)."""
  total = lambda x: float(jnp.sum(x))
  return {
    "field_accuracy": 100.0 * total(scores.correct) / total(scores.points),
    "field_edge_accuracy": 100.0 * total(scores.edge_correct) / max(total(scores.edge_points), 1.0),
  }
