"""Can the arm-sweep mapper's obstacle field learn where the edges run if it is told densely?

`mappers.sweep.SweepMapper` learns its obstacle field only through the configuration-space labels:
a cell's label says something about the field only where its arm grazes an obstacle, and the
mapper stalls near 98.8 % of cells (the pixel reading: 98.6 %). Here its field network
(`ObstacleField`: 2×2 pixel blocks, residual blocks) is trained, beside that loss, on the binary cross-entropy of the
field read at the centres of a 4× finer raster of the true polygons, which the simulator has and
the image does not: supervision of where the edges run, at every boundary pixel. The field may also
be finer than the image (``--field_scale``: its own correction per sub-pixel, the pixel term
repeated). The configuration is read from the field as the mapper does, with the hard maximum over
the arm's 128 points.

Training workspaces are drawn as `data_gen.make` draws the training split (with their polygons);
the configuration-space score is on table1's test split (`data/manip_workspace_18x18_n2000-500-500_seed0.npz`,
``python -m data_gen.make --task=manip_workspace --size=18 --num_train=2000 --num_val=500 --num_test=500``),
the fine-raster score on 500 fresh workspaces. Adam, cosine decay from 1e-3, batch 16. Since
session 39 it also scores the test split with the configuration logits averaged over the four
exact symmetries of the raster and the arm (the identity, either mirror, the half
turn: `mappers.sweep.mirror_symmetries`), which the outputs of session 38 lack.

Usage (repository root): PYTHONPATH=. python records/.../dense_field.py --field_scale=2 --dense_weight=1
"""

import argparse
import json
import time

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from data_gen import manipulation as m
from implicit_planning.mappers.polar import bilinear_taps
from implicit_planning.mappers.sweep import ArmSweep, ObstacleField, mirror_symmetries

FINE, BATCH, TABLE1 = 4, 16, "data/manip_workspace_18x18_n2000-500-500_seed0.npz"


def adam_steps(loss, params, learning_rate: float, steps: int):
  """The optimiser's state for ``params`` and a jitted step ``(params, state, *batch) -> (params,
  state, loss)``: Adam with cosine decay from ``learning_rate`` over ``steps``, gradients clipped to norm 40."""
  optimizer = optax.chain(
    optax.clip_by_global_norm(40.0), optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
  )

  @jax.jit
  def step(params, state, *batch):
    value, grads = jax.value_and_grad(loss)(params, *batch)
    updates, state = optimizer.update(grads, state, params)
    return optax.apply_updates(params, updates), state, value

  return optimizer.init(params), step


def train_epochs(step, params, state, train: tuple[np.ndarray, ...], epochs: int, seed: int, report):
  """``epochs`` passes over ``train`` in batches of `BATCH` (order drawn from ``seed``), calling
  ``report(tag, params)`` before the first and after each; the trained parameters."""
  report("untrained", params)
  rng, start = np.random.default_rng(seed), time.time()
  for epoch in range(epochs):
    order = rng.permutation(len(train[0]))
    for i in range(0, len(train[0]) - BATCH + 1, BATCH):
      params, state, value = step(params, state, *(a[order[i : i + BATCH]] for a in train))
    report(f"epoch {epoch + 1} ({time.time() - start:.0f} s, last loss {float(value):.4f})", params)
  return params


def arm_taps(field_scale: int) -> tuple[np.ndarray, np.ndarray]:
  """Bilinear taps of the 18×18 configurations' arm points on a field ``field_scale`` times finer
  than the image."""
  points, arm = np.moveaxis(ArmSweep(18).points(), -1, 0), m.ArmParams()
  return bilinear_taps(*points, arm.image_size * field_scale, arm.extent)


def cspace_logits(field: jax.Array, taps: tuple[np.ndarray, np.ndarray]) -> jax.Array:
  """``[B, side, side]`` fields → ``[B, 18, 18]`` logits: the maximum over each arm's points."""
  index, weight = taps
  return jnp.max(jnp.sum(field.reshape(field.shape[0], -1)[:, index] * weight, -1), -1)


def symmetric_logits(cspace_of, images: jax.Array) -> jax.Array:
  """``cspace_of(images)`` averaged over the four exact symmetries of the image and the arm."""
  logits = [
    cspace_of(jnp.flip(images, axes) if axes else images)[:, r][:, :, c] for axes, r, c in mirror_symmetries(18)
  ]
  return jnp.mean(jnp.stack(logits), 0)


def workspaces(seed: int, num: int, params: m.ArmParams):
  """Images, blocked c-space cells and the fine raster (flat) of ``num`` drawn workspaces."""
  obstacles = m.random_obstacles(np.random.default_rng(seed), num, params)
  blocked = (m.configuration_space(obstacles, 18, params) == 0).astype(np.float32)
  fine = m.rasterize(obstacles, m.ArmParams(image_size=params.image_size * FINE)).astype(np.float32)
  return m.rasterize(obstacles, params).astype(np.float32), blocked, fine.reshape(num, -1)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--field_scale", type=int, default=1)
  parser.add_argument("--width", type=int, default=32)
  parser.add_argument("--dense_weight", type=float, default=1.0)
  parser.add_argument("--epochs", type=int, default=10)
  parser.add_argument("--num_train", type=int, default=2000)
  parser.add_argument("--dilations", default="1,2,4")
  parser.add_argument("--seed", type=int, default=0, help="of the network's initial weights and the batches' order")
  parser.add_argument(
    "--save", default="", help="write the trained field's parameters here (msgpack), its flags beside (.json)"
  )
  parser.add_argument(
    "--boundary_only",
    action="store_true",
    help="the fine loss only at points within a pixel of the raster's edges (where the image, read "
    "bilinearly, is neither 0 nor 1), not averaged over points the raster already decides",
  )
  args = parser.parse_args()
  params_arm = m.ArmParams()
  train, fresh = workspaces(1, args.num_train, params_arm), workspaces(2, 500, params_arm)
  table1 = np.load(TABLE1)
  test = table1["test/workspace"].astype(np.float32), (table1["test/maps"] == 0).astype(np.float32)
  side = params_arm.image_size * args.field_scale
  arm = arm_taps(args.field_scale)
  centres = -params_arm.extent + (np.arange(FINE * params_arm.image_size) + 0.5) * 2 * params_arm.extent / (
    FINE * params_arm.image_size
  )
  x, y = np.meshgrid(centres, -centres)
  fine_index, fine_weight = bilinear_taps(x.reshape(-1), y.reshape(-1), side, params_arm.extent)
  model = ObstacleField(args.width, tuple(int(d) for d in args.dilations.split(",")), scale=args.field_scale)
  params = model.init(jax.random.key(args.seed), jnp.zeros((1, 96, 96)))

  def read(params, images):
    field = model.apply(params, images)
    flat = field.reshape(images.shape[0], -1)
    return cspace_logits(field, arm), jnp.sum(flat[:, fine_index] * fine_weight, -1)

  image_index, image_weight = bilinear_taps(x.reshape(-1), y.reshape(-1), params_arm.image_size, params_arm.extent)

  def loss(params, images, blocked, fine):
    cspace, at_fine = read(params, images)
    cspace_loss = optax.sigmoid_binary_cross_entropy(cspace, blocked).mean()
    fine_loss = optax.sigmoid_binary_cross_entropy(at_fine, fine)
    if args.boundary_only:
      image = jnp.sum(images.reshape(images.shape[0], -1)[:, image_index] * image_weight, -1)
      near = (image > 0) & (image < 1)
      fine_loss = jnp.sum(jnp.where(near, fine_loss, 0)) / jnp.maximum(jnp.sum(near), 1)
    return cspace_loss + args.dense_weight * fine_loss.mean()

  state, step = adam_steps(loss, params, 1e-3, args.epochs * (args.num_train // BATCH))

  @jax.jit
  def hits(params, images, blocked, fine=None):
    cspace, at_fine = read(params, images)
    return jnp.mean((cspace > 0) == (blocked > 0)), None if fine is None else jnp.mean((at_fine > 0) == (fine > 0))

  @jax.jit
  def symmetric_hits(params, images, blocked):
    logits = symmetric_logits(lambda images: read(params, images)[0], images)
    return jnp.mean((logits > 0) == (blocked > 0))

  def score(params, split, part):
    chunks = [hits(params, *(a[i : i + 100] for a in split)) for i in range(0, len(split[0]), 100)]
    return 100 * float(np.mean([chunk[part] for chunk in chunks]))

  def symmetric_score(params, split):
    return 100 * float(
      np.mean([symmetric_hits(params, *(a[i : i + 100] for a in split)) for i in range(0, len(split[0]), 100)])
    )

  def report(tag, params):
    """C-space accuracy on 500 training workspaces and the test split; the fine raster's on fresh ones."""
    print(
      f"{tag}: c-space % train {score(params, tuple(a[:500] for a in train), 0):.2f}"
      f" test {score(params, test, 0):.2f} (four symmetries averaged {symmetric_score(params, test):.2f});"
      f" fine raster % {score(params, fresh, 1):.3f}",
      flush=True,
    )

  print(vars(args), flush=True)
  trained = train_epochs(step, params, state, train, args.epochs, args.seed, report)
  if args.save:
    with open(args.save, "wb") as f:
      f.write(flax.serialization.to_bytes(trained))
    with open(args.save + ".json", "w") as f:
      json.dump(vars(args), f)


if __name__ == "__main__":
  main()
