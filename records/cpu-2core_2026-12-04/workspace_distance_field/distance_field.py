"""Can the arm-sweep mapper's field be learned as the signed distance to the obstacles?

`distance.py` (same folder) measures the field the arm sweep would need: the true signed distance
to the polygons, sampled per half pixel and read bilinearly at the arm's 128 points, gets 99.5–99.6 %
of the cells (per pixel: 99.0–99.2). Here the field network of `mappers.sweep.ObstacleField`
(2×2 pixel blocks, residual blocks), with one output per half pixel, regresses that distance (in
pixels, clipped to ``±clip``; a Huber loss at every half-pixel centre) from the image, optionally
beside the configuration-space cross-entropy of its reading (``--cspace_weight``: the logit is a
learned scale times the reading plus a learned offset). A configuration is blocked iff the field's
maximum over its arm's points exceeds ``−margin``; the margin is chosen on fresh workspaces and
the configuration space scored on table1's test split.

Training workspaces are drawn as `data_gen.make` draws the training split (with their polygons),
seed 1; the fresh ones (margin and distance error) seed 2. Adam, cosine decay from ``--lr``,
batch 16. Table1's test split: ``python -m data_gen.make --task=manip_workspace --size=18
--num_train=2000 --num_val=500 --num_test=500``.

Usage (repository root): PYTHONPATH=. python records/.../workspace_distance_field/distance_field.py --num_train=4000
"""

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from data_gen import manipulation as m
from implicit_planning.mappers.polar import bilinear_taps
from implicit_planning.mappers.sweep import ArmSweep, ObstacleField

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "workspace_field_supervision"))
from dense_field import adam_steps, train_epochs  # noqa: E402
from distance import grid_points, signed_distance  # noqa: E402

BINS, BATCH, TABLE1 = 18, 16, "data/manip_workspace_18x18_n2000-500-500_seed0.npz"
MARGINS = (0.0, 0.04, 0.08, 0.12, 0.16, 0.24)


def workspaces(seed: int, num: int, params: m.ArmParams, scale: int, clip: float):
  """Images, blocked cells and the clipped signed distance (pixels, flat) of ``num`` drawn workspaces."""
  obstacles = m.random_obstacles(np.random.default_rng(seed), num, params)
  blocked = (m.configuration_space(obstacles, BINS, params) == 0).astype(np.float32)
  pixel = 2 * params.extent / params.image_size
  distance = signed_distance(obstacles, grid_points(scale * params.image_size, params.extent)) / pixel
  distance = np.clip(distance, -clip, clip).astype(np.float32).reshape(num, -1)
  return m.rasterize(obstacles, params).astype(np.float32), blocked, distance


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--field_scale", type=int, default=2)
  parser.add_argument("--width", type=int, default=32)
  parser.add_argument("--dilations", default="1,2,4")
  parser.add_argument("--clip", type=float, default=2.0, help="pixels")
  parser.add_argument("--cspace_weight", type=float, default=0.0)
  parser.add_argument("--epochs", type=int, default=8)
  parser.add_argument("--num_train", type=int, default=4000)
  parser.add_argument("--lr", type=float, default=1e-3)
  args = parser.parse_args()
  arm = m.ArmParams()
  start = time.time()
  train = workspaces(1, args.num_train, arm, args.field_scale, args.clip)
  fresh = workspaces(2, 500, arm, args.field_scale, args.clip)
  table1 = np.load(TABLE1)
  test = table1["test/workspace"].astype(np.float32), (table1["test/maps"] == 0).astype(np.float32)
  print(vars(args), f"data drawn in {time.time() - start:.0f} s", flush=True)
  points = ArmSweep(BINS).points()
  side = arm.image_size * args.field_scale
  arm_index, arm_weight = bilinear_taps(points[..., 0], points[..., 1], side, arm.extent)
  # the signed distance per sub-pixel, starting from half the pixel's sign (where the pixel reading puts the edges)
  model = ObstacleField(
    args.width, tuple(int(d) for d in args.dilations.split(",")), scale=args.field_scale, pixel_logit=0.5
  )
  params = {"field": model.init(jax.random.key(0), jnp.zeros((1, 96, 96))), "log_scale": 1.0, "offset": 0.0}

  def forward(params, images):
    field = model.apply(params["field"], images).reshape(images.shape[0], -1)
    return field, jnp.max(jnp.sum(field[:, arm_index] * arm_weight, -1), -1)

  def loss(params, images, blocked, distance):
    field, reading = forward(params, images)
    logits = jnp.exp(params["log_scale"]) * (reading + params["offset"])
    cspace = optax.sigmoid_binary_cross_entropy(logits, blocked).mean()
    return optax.huber_loss(field, distance, delta=0.5).mean() + args.cspace_weight * cspace

  state, step = adam_steps(loss, params, args.lr, args.epochs * (args.num_train // BATCH))

  @jax.jit
  def counts(params, images, blocked, distance=None):
    """Right cells per margin, and the distance's absolute error summed (and counted) near edges."""
    field, reading = forward(params, images)
    right = jnp.stack([jnp.sum((reading > -margin) == (blocked > 0)) for margin in MARGINS])
    if distance is None:
      return right, 0.0, 0.0
    near = jnp.abs(distance) < 1
    return right, jnp.sum(jnp.where(near, jnp.abs(field - distance), 0)), jnp.sum(near)

  def score(params, split):
    totals = [counts(params, *(a[i : i + 50] for a in split)) for i in range(0, len(split[0]), 50)]
    right, error, near = (np.sum([np.asarray(t[k]) for t in totals], 0) for k in range(3))
    return 100 * right / split[1].size, error / max(near, 1)

  def report(tag, params):
    fresh_right, error = score(params, fresh)
    test_right, _ = score(params, test)
    best = int(np.argmax(fresh_right))
    print(
      f"{tag}: fresh cells % {' '.join(f'{r:.2f}' for r in fresh_right)} (margins {MARGINS} px);"
      f" distance error near edges {error:.3f} px; test % at margin {MARGINS[best]}: {test_right[best]:.2f}"
      f" (all: {' '.join(f'{r:.2f}' for r in test_right)})",
      flush=True,
    )

  train_epochs(step, params, state, train, args.epochs, 0, report)


if __name__ == "__main__":
  main()
