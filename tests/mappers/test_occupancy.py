"""The obstacle field's supervision by the polygons (`mappers.occupancy`): which points of a fine
raster are occupied, the field read there, and the field the sweep mapper hands on for it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import implicit_planning as ip
from data_gen import manipulation
from implicit_planning.mappers import occupancy
from implicit_planning.mappers.polar import bilinear_taps


def obstacles(num: int, seed: int = 0) -> manipulation.Obstacles:
  return manipulation.random_obstacles(np.random.default_rng(seed), num, manipulation.ArmParams())


def test_the_occupied_raster_points_are_the_rasterisers_pixels_four_times_finer(x64):
  """The raster's rows and intervals on the device against the data's own scan-line fill of an
  image four times finer (its pixel centres are the raster's points), in float64: every point
  agrees, and a padding obstacle occupies nothing wherever its vertices lie."""
  drawn = obstacles(12)
  centres = jnp.asarray(occupancy.raster_centres(96, 5.0))
  inside = occupancy.occupied(jnp.asarray(drawn.vertices), jnp.asarray(drawn.present), centres)
  fine = manipulation.rasterize(drawn, manipulation.ArmParams(image_size=4 * 96))
  assert inside.shape == fine.shape and 0.02 < fine.mean() < 0.5
  np.testing.assert_array_equal(np.asarray(inside), fine.astype(bool))
  absent = occupancy.occupied(jnp.asarray(drawn.vertices), jnp.zeros_like(jnp.asarray(drawn.present)), centres)
  assert not np.asarray(absent).any()


@pytest.mark.parametrize("scale", [1, 2])
def test_the_upsampled_field_is_its_bilinear_reading_at_the_raster_points(x64, scale):
  """Against the four-tap gather the arm sweep reads with (`polar.bilinear_taps`), on a random field
  per pixel or per half pixel, border included; and exact on a linear field inside the border."""
  side = 96 * scale
  x = occupancy.raster_centres(96, 5.0)
  points_x, points_y = np.meshgrid(x, -x)
  index, weight = bilinear_taps(points_x.reshape(-1), points_y.reshape(-1), side, 5.0)
  field = np.random.default_rng(scale).normal(size=(2, side, side))
  read = np.asarray(occupancy.upsample(jnp.asarray(field), 4 // scale))
  np.testing.assert_allclose(read.reshape(2, -1), (field.reshape(2, -1)[:, index] * weight).sum(-1), atol=1e-12)
  centres = -5 + (np.arange(side) + 0.5) * 10 / side
  linear = centres[None, :] + 2 * centres[::-1, None]  # x + 2 y at each (sub-)pixel centre
  read = np.asarray(occupancy.upsample(jnp.asarray(linear), 4 // scale))
  inner = (np.abs(points_x) < 5 - 5 / side) & (np.abs(points_y) < 5 - 5 / side)
  np.testing.assert_allclose(read[inner], (points_x + 2 * points_y)[inner], atol=1e-12)


@pytest.mark.parametrize("name", ["workspace_sweep_max_fine", "workspace_sweep_max_fine_mirrored"])
def test_the_mapped_planner_hands_on_the_field_of_the_images_as_given(name):
  """``field_logits`` is the field network's output on the batch's images (for the mirrored mapper,
  the identity's of its four), and the untrained field already places the obstacles at the fine
  raster's points as the pixels do (99.7 % of them); the field loss's gradient reaches the
  correction, which starts at 0."""
  drawn = obstacles(4, seed=1)
  images = jnp.asarray(manipulation.rasterize(drawn, manipulation.ArmParams()))
  observation, mapper = ip.make_mapper(name, 18, width=4)
  mapped = ip.mappers.with_mapper(ip.make_planner("vin"), mapper, observation, plan=False)
  batch = {"workspace": images, "goals": jnp.zeros((4, 2), jnp.int32)}
  params = mapped.init(jax.random.key(0), batch)
  out = mapped.apply(params, batch)
  field = mapper.apply(params["mapper"], images, method=lambda module, images: module.field(images))
  assert out.field_logits.shape == (4, 192, 192)
  np.testing.assert_allclose(out.field_logits, field, atol=1e-6)

  def field_loss(params):
    logits, occupied = occupancy.occupancy_logits_and_labels(
      mapped.apply(params, batch).field_logits, jnp.asarray(drawn.vertices), jnp.asarray(drawn.present), 96, 5.0
    )
    return jnp.mean(jnp.logaddexp(0.0, logits) - occupied * logits), jnp.mean((logits > 0) == occupied)

  (_, accuracy), grads = jax.value_and_grad(field_loss, has_aux=True)(params)
  assert 0.995 < accuracy < 1
  correction = [
    leaf for path, leaf in jax.tree_util.tree_leaves_with_path(grads) if "Dense" in jax.tree_util.keystr(path)
  ]
  assert correction and all(float(jnp.abs(g).max()) > 0 for g in correction)


def test_a_field_finer_than_the_raster_is_refused():
  with pytest.raises(ValueError, match="a field of side 768 is not read on a raster of side 384"):
    occupancy.occupancy_logits_and_labels(
      jnp.zeros((1, 768, 768)), jnp.zeros((1, 1, 4, 2)), jnp.ones((1, 1), bool), 96, 5.0
    )


def test_only_the_sweep_mappers_have_an_obstacle_field():
  assert [name for name in ip.mappers.MAPPERS if ip.mappers.has_obstacle_field(name)] == [
    name for name in ip.mappers.MAPPERS if name.startswith("workspace_sweep")
  ]


def test_the_field_scores_count_every_point_and_those_near_an_edge():
  """Against counts made point by point in numpy: a point is near an edge when some point of the
  other occupancy lies within the band along each axis (a raster's border is no edge)."""
  rng = np.random.default_rng(3)
  occupied = np.zeros((2, 12, 12), bool)
  occupied[0, 3:7, 2:9] = True
  occupied[1, 0:5, 8:] = True  # touching the border
  logits = np.where(occupied, 1.0, -1.0) * np.where(rng.random(occupied.shape) < 0.2, -1, 1)
  band = 2
  near = np.zeros_like(occupied)
  for b, r, c in np.ndindex(*occupied.shape):
    window = occupied[b, max(r - band, 0) : r + band + 1, max(c - band, 0) : c + band + 1]
    near[b, r, c] = window.any() and not window.all()
  right = (logits > 0) == occupied
  scores = ip.mappers.field_scores(jnp.asarray(logits), jnp.asarray(occupied), band)
  np.testing.assert_array_equal(scores.correct, right.sum((1, 2)))
  np.testing.assert_array_equal(scores.points, [144, 144])
  np.testing.assert_array_equal(scores.edge_points, near.sum((1, 2)))
  np.testing.assert_array_equal(scores.edge_correct, (right & near).sum((1, 2)))
  assert 0 < near.sum() < occupied.size and not right.all()
  total = ip.mappers.scores.aggregate_field(scores)
  np.testing.assert_allclose(total["field_accuracy"], 100 * right.mean())
  np.testing.assert_allclose(total["field_edge_accuracy"], 100 * right[near].mean())
