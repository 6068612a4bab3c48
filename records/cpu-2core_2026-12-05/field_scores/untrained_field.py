"""The untrained arm sweep's obstacle field (the pixels' own reading: its correction starts at 0) scored
at the fine raster on table1's test split, as `experiments.evaluate` scores a trained one.

Run from the repository root: python records/cpu-2core_2026-12-05/field_scores/untrained_field.py
"""

import jax
import jax.numpy as jnp

import implicit_planning as ip
from data_gen.dataset import load_dataset

DATA = "data/manip_workspace_18x18_n2000-500-500_seed0.npz"

test = load_dataset(DATA).test
for name in ("workspace_sweep_max", "workspace_sweep_max_fine"):
  _, mapper = ip.make_mapper(name, 18)
  images = jnp.asarray(test.workspace)
  params = mapper.init(jax.random.key(0), images[:1])
  _, sown = jax.jit(lambda p, w: mapper.apply(p, w, mutable="intermediates"))(params, images)
  field, occupied = ip.mappers.occupancy.occupancy_logits_and_labels(
    sown["intermediates"]["obstacle_field"][0],
    jnp.asarray(test.polygons),
    jnp.asarray(test.polygon_present),
    images.shape[-1],
    mapper.sweep.extent,
  )
  scores = ip.mappers.scores.aggregate_field(ip.mappers.field_scores(field, occupied, ip.mappers.occupancy.FINE))
  print(name, {key: round(value, 3) for key, value in scores.items()})
