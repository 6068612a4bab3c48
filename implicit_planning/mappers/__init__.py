"""Mappers: learned maps from what an agent observes to the occupancy grid a planner plans on.

* `workspace.WorkspaceMapper`: the workspace-manipulation U-Net (96×96 workspace image →
  configuration-space obstacle logits), on a polar grid about the arm's base (`polar`);
  ``workspace_unet_fine`` reads a grid twice as fine in angle and radius through one stem level;
* `sweep.SweepMapper` (``workspace_sweep``): the same task read where each configuration's arm
  lies, from a learned sub-pixel obstacle field, through a smooth maximum over the arm's points
  (log-sum-exp; ``workspace_sweep_8`` sharper, β = 8; ``workspace_sweep_max`` the maximum;
  ``workspace_sweep_max_mirrored`` that averaged over the image's exact mirrors and half turn;
  ``workspace_sweep_max_fine`` its field per half pixel, ``workspace_sweep_max_fine_mirrored``
  that averaged over the mirrors; a mirrored mapper has its plain twin's parameters, so a plain
  run can be scored averaged, `experiments.evaluate --mapper`);
* `panorama.PanoramaMapper`: the visual-navigation CNN (four egocentric views per cell → that
  cell's obstacle logit);
* `compose.with_mapper`: a mapper and any planner as one model (the mapper differentiated
  explicitly, the planner in its own mode);
* `scores`: per-cell accuracy and obstacle IoU of a mapper's map, and its field's accuracy at the
  fine raster;
* `occupancy`: where the obstacles are between pixel centres, from their polygons, and an
  obstacle field read there (what `has_obstacle_field` mappers can be supervised on besides).

`make_mapper` builds one by name.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax.numpy as jnp

from implicit_planning.mappers import occupancy
from implicit_planning.mappers.compose import free_space, with_mapper
from implicit_planning.mappers.panorama import PAPER_FEATURES, PanoramaMapper
from implicit_planning.mappers.polar import PolarGrid, to_polar
from implicit_planning.mappers.scores import FieldScores, MapScores, field_scores, map_scores
from implicit_planning.mappers.sweep import ArmSweep, ObstacleField, SweepMapper
from implicit_planning.mappers.workspace import WorkspaceMapper, polar_grid


def _workspace_unet(stem_levels: int) -> Callable[..., nn.Module]:
  """The factory of a `WorkspaceMapper` with ``stem_levels`` (its first level ``width`` channels)."""
  return lambda bins, width, dtype: WorkspaceMapper(
    polar_grid(bins, stem_levels), stem_levels, widths=tuple(width * 2**level for level in range(4)), dtype=dtype
  )


def _workspace_sweep(sharpness: float | None, symmetric: bool = False, scale: int = 1) -> Callable[..., nn.Module]:
  """The factory of a `SweepMapper` whose obstacle field has ``2 · width`` channels and ``scale``
  values per pixel side."""
  return lambda bins, width, dtype: SweepMapper(
    ArmSweep(bins), ObstacleField(2 * width, scale=scale, dtype=dtype), sharpness, symmetric
  )


def _panorama_cnn(bins: int, width: int, dtype: jnp.dtype) -> nn.Module:
  """A `PanoramaMapper` whose sizes are the paper's times ``width / 8`` (any map size: ``bins`` unused)."""
  del bins
  return PanoramaMapper(tuple(features * width // 8 for features in PAPER_FEATURES), dtype)


MAPPERS: dict[str, tuple[str, Callable[..., nn.Module]]] = {
  "workspace_unet": ("workspace", _workspace_unet(0)),
  "workspace_unet_fine": ("workspace", _workspace_unet(1)),
  "workspace_sweep": ("workspace", _workspace_sweep(1.0)),
  "workspace_sweep_max": ("workspace", _workspace_sweep(None)),
  "workspace_sweep_8": ("workspace", _workspace_sweep(8.0)),
  "workspace_sweep_max_mirrored": ("workspace", _workspace_sweep(None, symmetric=True)),
  "workspace_sweep_max_fine": ("workspace", _workspace_sweep(None, scale=2)),
  "workspace_sweep_max_fine_mirrored": ("workspace", _workspace_sweep(None, symmetric=True, scale=2)),
  "panorama_cnn": ("panoramas", _panorama_cnn),
}
"""Each mapper by name: the batch entry it reads and its factory ``(bins, width, dtype) -> module``."""


def has_obstacle_field(name: str) -> bool:
  """Whether the mapper ``name`` makes an obstacle field over the workspace image
  (`PlannerOutput.field_logits`, which `occupancy` supervises)."""
  return isinstance(make_mapper(name, 18)[1], SweepMapper)


def make_mapper(name: str, bins: int, width: int = 8, dtype: jnp.dtype = jnp.float32) -> tuple[str, nn.Module]:
  """The batch entry the mapper ``name`` reads and the module, mapping to ``bins × bins`` logits.

  ``width``: channels of the U-Net's first level, doubled at each of the next; half the channels
  of the sweep mapper's obstacle field; the panorama CNN's sizes are the paper's times ``width / 8``.
  """
  if name not in MAPPERS:
    raise ValueError(f"Unknown mapper {name!r}; expected one of {', '.join(MAPPERS)}.")
  observation, factory = MAPPERS[name]
  return observation, factory(bins, width, dtype)


__all__ = [
  "MAPPERS",
  "ArmSweep",
  "FieldScores",
  "MapScores",
  "ObstacleField",
  "PanoramaMapper",
  "PolarGrid",
  "SweepMapper",
  "WorkspaceMapper",
  "field_scores",
  "free_space",
  "has_obstacle_field",
  "make_mapper",
  "map_scores",
  "occupancy",
  "polar_grid",
  "to_polar",
  "with_mapper",
]
