"""How well a mapper's map matches the true one: per-cell accuracy and obstacle IoU."""

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
