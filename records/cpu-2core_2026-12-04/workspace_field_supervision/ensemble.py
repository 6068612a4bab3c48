"""Score trained `dense_field.py` fields together: each alone, with the image's four symmetries
averaged, and all of them averaged (their configuration logits, over fields and symmetries).

Usage (repository root): PYTHONPATH=. python records/.../ensemble.py A.msgpack B.msgpack ...
(each written by ``dense_field.py --save``, its flags in ``<file>.json``).
"""

import json
import sys

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
from dense_field import TABLE1, arm_taps, cspace_logits, symmetric_logits

from implicit_planning.mappers.sweep import ObstacleField


def load(path: str):
  """The field's ``cspace_of(images)`` (logits ``[B, 18, 18]``) and its flags."""
  with open(path + ".json") as f:
    flags = json.load(f)
  model = ObstacleField(
    flags["width"], tuple(int(d) for d in flags["dilations"].split(",")), scale=flags["field_scale"]
  )
  template = model.init(jax.random.key(0), jnp.zeros((1, 96, 96)))
  with open(path, "rb") as f:
    params = flax.serialization.from_bytes(template, f.read())
  taps = arm_taps(flags["field_scale"])
  return jax.jit(lambda images: cspace_logits(model.apply(params, images), taps)), flags


def main():
  fields = [load(path) for path in sys.argv[1:]]
  table1 = np.load(TABLE1)
  images, blocked = table1["test/workspace"].astype(np.float32), table1["test/maps"] == 0
  plain, symmetric = [], []
  for i in range(0, len(images), 100):
    chunk = jnp.asarray(images[i : i + 100])
    plain.append(np.stack([np.asarray(cspace_of(chunk)) for cspace_of, _ in fields]))
    symmetric.append(np.stack([np.asarray(symmetric_logits(cspace_of, chunk)) for cspace_of, _ in fields]))
  plain, symmetric = np.concatenate(plain, 1), np.concatenate(symmetric, 1)  # [fields, N, 18, 18]
  right = lambda logits: 100 * np.mean((logits > 0) == blocked)
  for (path, (_, flags)), alone, averaged in zip(zip(sys.argv[1:], fields), plain, symmetric):
    print(f"{path} {flags}: test cells right {right(alone):.2f}, four symmetries averaged {right(averaged):.2f}")
  print(
    f"all {len(fields)} averaged: {right(plain.mean(0)):.2f}, with the four symmetries {right(symmetric.mean(0)):.2f}"
  )


if __name__ == "__main__":
  main()
