"""Where a trained workspace mapper errs: its wrong cells by the arm's clearance from the obstacles.

Clearance of a configuration, in pixels (0.104 workspace units): the distance from its arm (both
links, 200 points each) to the nearest obstacle if the arm is free, minus the depth of its deepest
point inside an obstacle if not. For 300 workspaces drawn as the training split's (seed 123, with
their polygons), the table counts the cells in each clearance band and the wrong ones of the pixel
reading (`manipulation.configuration_space_from_image`) and of the mapper.

Usage (repository root): PYTHONPATH=. python records/.../errors_by_clearance.py <mapper-phase run dir>
e.g. runs/sweeps/mapper_rates/sweep_max_lr_1e-3/mapper (its best parameters, first seed).
"""

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

import implicit_planning as ip
from data_gen import manipulation as m

BINS, NUM, SEED, POINTS = 18, 300, 123, 200
BANDS = (-np.inf, -2, -1, -0.5, -0.25, -0.1, 0, 0.1, 0.25, 0.5, 1, 2, np.inf)


def segment_foot(start: np.ndarray, end: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Distance from each point to the segment ``start``–``end``, and where along it (0 to 1) the nearest point is."""
  edge = end - start
  t = np.clip(((points - start) * edge).sum(-1) / (edge * edge).sum(-1).clip(1e-12), 0, 1)
  return np.linalg.norm(start + t[..., None] * edge - points, axis=-1), t


def segment_distance(start: np.ndarray, end: np.ndarray, points: np.ndarray) -> np.ndarray:
  """Distance from each point to the segment ``start``–``end``."""
  return segment_foot(start, end, points)[0]


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """The z component of ``a × b``: ≥ 0 where ``b`` lies left of (inside, for a counter-clockwise edge) ``a``."""
  return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def clearance(obstacles: m.Obstacles, params: m.ArmParams) -> np.ndarray:
  """Signed clearance ``[N, bins, bins]`` in workspace units (negative: the deepest point's depth)."""
  theta = m.bin_angles(BINS)
  elbow, tip = m.arm_points(theta[:, None], theta[None, :], params.link_lengths)
  t = np.linspace(0, 1, POINTS)[:, None, None, None]
  points = np.concatenate([t * elbow, elbow + t * (tip - elbow)])  # [2 POINTS, bins, bins, 2]
  result = []
  for vertices, present in zip(obstacles.vertices, obstacles.present):
    gap, depth = np.full((BINS, BINS), np.inf), np.zeros((BINS, BINS))
    for polygon in vertices[present]:
      following = np.roll(polygon, -1, 0)
      to_boundary = np.min([segment_distance(a, b, points) for a, b in zip(polygon, following)], axis=0)
      inside = np.all([cross(b - a, points - a) >= 0 for a, b in zip(polygon, following)], axis=0)
      gap = np.minimum(gap, np.where(inside, 0, to_boundary).min(0))
      depth = np.maximum(depth, np.where(inside, to_boundary, 0).max(0))
    result.append(np.where(depth > 0, -depth, gap))
  return np.stack(result)


def mapper_blocked(workdir: str, images: np.ndarray) -> np.ndarray:
  """The run's mapper (best parameters of its first seed) on ``images``: blocked cells."""
  with open(os.path.join(workdir, "config.json")) as f:
    config = json.load(f)
  _, mapper = ip.make_mapper(config["mapper"], BINS, config["mapper_width"])
  options = ocp.CheckpointManagerOptions(read_only=True)
  manager = ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")), options=options)
  args = ocp.args.Composite(best_params=ocp.args.StandardRestore())
  best = manager.restore(manager.latest_step(), args=args)["best_params"]["mapper"]
  params = jax.tree.map(lambda leaf: np.asarray(leaf)[0], best.get("params", best))
  return np.asarray(jax.jit(mapper.apply)({"params": params}, jnp.asarray(images, jnp.float32))) > 0


def main(workdir: str) -> None:
  params = m.ArmParams()
  obstacles = m.random_obstacles(np.random.default_rng(SEED), NUM, params)
  blocked = m.configuration_space(obstacles, BINS, params) == 0
  images = m.rasterize(obstacles, params)
  pixels = clearance(obstacles, params) / (2 * params.extent / params.image_size)
  reading = m.configuration_space_from_image(images, BINS, params) == 0
  mapper = mapper_blocked(workdir, images)
  print(
    f"{workdir}: mapper {100 * np.mean(mapper == blocked):.2f} %, pixel reading {100 * np.mean(reading == blocked):.2f} %"
  )
  print("| clearance (px) | cells | share | pixel reading wrong | mapper wrong |\n|---|---|---|---|---|")
  for low, high in zip(BANDS[:-1], BANDS[1:]):
    band = (pixels > low) & (pixels <= high)
    wrong = [int(np.sum(band & (guess != blocked))) for guess in (reading, mapper)]
    print(f"| ({low}, {high}] | {band.sum()} | {100 * band.mean():.2f} % | {wrong[0]} | {wrong[1]} |")


if __name__ == "__main__":
  main(sys.argv[1])
