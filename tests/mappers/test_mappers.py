"""Mappers: the polar resampling, the workspace U-Net's shapes and rotation equivariance, and a
mapper composed with a planner (gradients through an implicit planner)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import implicit_planning as ip
from data_gen import manipulation, maze2d
from data_gen.panorama import render_panoramas
from implicit_planning.mappers import PolarGrid, WorkspaceMapper, polar_grid, to_polar
from implicit_planning.mappers.panorama import PatchConv, space_to_depth
from implicit_planning.mappers.polar import sampling_weights
from implicit_planning.mappers.workspace import windows_conv


def tiny_mapper(bins: int = 18, image_size: int = 24, dtype=jnp.float32, stem_levels: int = 0) -> WorkspaceMapper:
  """A workspace mapper small enough for float64 gradient checks."""
  grid = polar_grid(bins, stem_levels, image_size=image_size, radii=8 * 2**stem_levels)
  return WorkspaceMapper(grid, stem_levels, widths=(4, 4, 4, 4), cspace_channels=2, dtype=dtype)


def workspaces(num: int, seed: int = 0, rotation: float = 0.0, bins: int = 18):
  """Random obstacle sets, optionally rotated about the base: ``(images, configuration spaces)``."""
  params = manipulation.ArmParams()
  obstacles = manipulation.random_obstacles(np.random.default_rng(seed), num, params)
  turn = np.array([[np.cos(rotation), -np.sin(rotation)], [np.sin(rotation), np.cos(rotation)]])
  obstacles = manipulation.Obstacles(obstacles.vertices @ turn.T, obstacles.present)
  return manipulation.rasterize(obstacles, params), manipulation.configuration_space(obstacles, bins, params)


@pytest.mark.parametrize("bins", manipulation.BIN_CHOICES)
def test_rotating_the_workspace_by_one_bin_shifts_the_configuration_space_by_one_theta1_bin(bins):
  _, cspace = workspaces(16, bins=bins)
  _, rotated = workspaces(16, rotation=2 * np.pi / bins, bins=bins)
  assert 0 < cspace.mean() < 1
  np.testing.assert_array_equal(rotated, np.roll(cspace, 1, axis=1))


def test_each_polar_cell_averages_the_image_inside_it():
  grid = PolarGrid()
  _, weight = sampling_weights(grid)
  np.testing.assert_allclose(weight.sum(-1), 1.0, rtol=1e-6)
  full = to_polar(jnp.ones((1, 96, 96), jnp.uint8), grid)
  np.testing.assert_allclose(full, 1.0, rtol=1e-6)
  # A disc of radius 2 about the base fills the cells inside radius 2 and none beyond 2 + a pixel.
  centres = (np.arange(96) + 0.5) * 10 / 96 - 5
  disc = (centres[None, :] ** 2 + centres[::-1, None] ** 2 <= 4.0).astype(np.uint8)
  polar = np.asarray(to_polar(jnp.asarray(disc)[None], grid))[0]
  radius = (np.arange(grid.radii) + 1) * grid.reach / grid.radii  # outer edge of each ring
  assert np.all(polar[:, radius < 2 - 0.1] > 0.99)
  assert np.all(polar[:, radius - grid.reach / grid.radii > 2 + 0.11] == 0)


def test_the_polar_grid_turns_a_rotation_of_the_workspace_into_a_shift_of_the_angles():
  """Up to the rasterisation: the rotated polygons are drawn on the same pixel grid."""
  grid = PolarGrid()  # 72 angle cells: 4 per 20° bin
  images, _ = workspaces(16)
  rotated, _ = workspaces(16, rotation=2 * np.pi / 18)
  polar, polar_rotated = to_polar(jnp.asarray(images), grid), to_polar(jnp.asarray(rotated), grid)
  shifted_error = float(jnp.mean(jnp.abs(jnp.roll(polar, 4, axis=1) - polar_rotated)))
  unshifted_error = float(jnp.mean(jnp.abs(polar - polar_rotated)))
  assert shifted_error < 0.15 * unshifted_error


@pytest.mark.parametrize(
  "bins, stem_levels",
  [(18, 0), pytest.param(18, 1, marks=pytest.mark.slow), pytest.param(36, 0, marks=pytest.mark.slow)],
  ids=["18", "18_fine", "36"],
)
def test_the_workspace_mapper_is_exactly_equivariant_to_rotations_by_one_bin(x64, bins, stem_levels):
  """A shift of one θ1 bin's polar angle cells shifts the logits by one θ1 bin, untrained."""
  mapper = tiny_mapper(bins, image_size=96, dtype=jnp.float64, stem_levels=stem_levels)
  assert mapper.grid.angles == mapper.cells_per_bin * bins == 4 * 2**stem_levels * bins
  images = jnp.asarray(workspaces(2, bins=bins)[0])
  params = jax.jit(mapper.init)(jax.random.key(0), images)

  @jax.jit
  def logits_three_ways(params, images):
    polar = to_polar(images, mapper.grid, jnp.float64)[..., None]
    from_polar = lambda polar: mapper.apply(params, polar, method="from_polar")
    return mapper.apply(params, images), from_polar(polar), from_polar(jnp.roll(polar, mapper.cells_per_bin, axis=1))

  logits, from_polar, shifted = logits_three_ways(params, images)
  assert logits.shape == (2, bins, bins) and logits.dtype == jnp.float64
  np.testing.assert_allclose(from_polar, logits, rtol=1e-12)
  np.testing.assert_allclose(shifted, jnp.roll(logits, 1, axis=1), rtol=1e-10, atol=1e-12)
  assert not np.allclose(shifted, logits, atol=1e-3)


def test_the_workspace_mapper_refuses_images_of_another_size():
  mapper = tiny_mapper()
  with pytest.raises(ValueError, match=r"workspace images must be \[..., 24, 24\], got shape \(2, 96, 96\)"):
    mapper.init(jax.random.key(0), jnp.zeros((2, 96, 96), jnp.uint8))
  with pytest.raises(ValueError, match="Unknown mapper 'unet'"):
    ip.make_mapper("unet", bins=18)


def mapped_batch(bins=18, num=2, image_size=24):
  images, cspace = workspaces(num, bins=bins)
  step = 96 // image_size
  images = images.reshape(num, image_size, step, image_size, step).max(axis=(2, 4))  # coarser raster
  goals = np.stack([np.flatnonzero(c)[0] for c in cspace.reshape(num, -1)])
  return {
    "workspace": jnp.asarray(images),
    "maps": jnp.asarray(cspace),
    "goals": jnp.asarray(np.stack(np.divmod(goals, bins), axis=1), jnp.int32),
  }


def test_a_mapped_planner_plans_on_the_mappers_map_and_a_mapper_alone_only_maps():
  batch = mapped_batch()
  planner = ip.make_planner("id_vin", l_h=4, l_q=4, k_fwd=5, wrap=True)
  mapper = tiny_mapper()
  model, alone = ip.with_mapper(planner, mapper), ip.with_mapper(planner, mapper, plan=False)
  assert model.inputs == ("workspace", "goals") and model.spec == planner.spec
  params = jax.jit(model.init)(jax.random.key(0), batch)
  assert set(params) == {"mapper", "planner"}
  assert set(jax.eval_shape(alone.init, jax.random.key(0), batch)) == {"mapper"}

  @jax.jit
  def three_models(params, batch):
    out = model.apply(params, batch)
    on_its_map = planner.apply(
      params["planner"], {"maps": ip.mappers.free_space(out.map_logits), "goals": batch["goals"]}
    )
    return out, on_its_map.logits, alone.apply({"mapper": params["mapper"]}, batch)

  out, on_its_map, only_map = three_models(params, batch)
  assert out.map_logits.shape == (2, 18, 18) and out.logits.shape == (2, 4, 18, 18)
  np.testing.assert_allclose(out.logits, on_its_map, rtol=1e-6)
  assert only_map.logits is None and only_map.stats is None
  np.testing.assert_allclose(only_map.map_logits, out.map_logits, rtol=1e-6)
  with pytest.raises(ValueError, match="reads batch entry 'workspace'"):
    model.apply(params, {"maps": batch["maps"], "goals": batch["goals"]})


def assert_mapper_gradient_is_the_unrolled_one(mapper, observation, batch, wrap):
  """The mapper's gradient through ID-VIN equals backpropagation through the unrolled VIN, in a
  contractive setting (float64), and is not zero."""
  common = dict(l_h=4, l_q=4, wrap=wrap, contraction=0.6, dtype=jnp.float64, recipe="paper")
  implicit = ip.with_mapper(
    ip.make_planner("id_vin", k_fwd=500, k_bwd=500, forward_tol=1e-13, backward_tol=1e-13, **common),
    mapper,
    observation,
  )
  explicit = ip.with_mapper(ip.make_planner("vin", k=40, **common), mapper, observation)
  params = jax.jit(implicit.init)(jax.random.key(1), batch)
  target = jax.random.normal(jax.random.key(2), (len(batch["maps"]), 4, *batch["maps"].shape[1:]), jnp.float64)

  @jax.jit
  def mapper_gradients(params):
    loss = lambda model: lambda params: jnp.sum(jnp.tanh(model.apply(params, batch).logits) * target)
    return [ravel_pytree(jax.grad(loss(model))(params)["mapper"])[0] for model in (implicit, explicit)]

  g_implicit, g_explicit = mapper_gradients(params)
  assert float(jnp.linalg.norm(g_explicit)) > 1e-6
  assert float(jnp.linalg.norm(g_implicit - g_explicit) / jnp.linalg.norm(g_explicit)) < 1e-9


@pytest.mark.slow
def test_the_joint_gradient_reaches_the_mapper_through_an_implicit_planner(x64):
  bins = 6  # a 6×6 configuration space: the check is of the chain rule, not of the arm
  assert_mapper_gradient_is_the_unrolled_one(
    tiny_mapper(bins, dtype=jnp.float64), "workspace", mapped_batch(bins=bins), wrap=True
  )


@pytest.mark.parametrize("strides, dilation", [((1, 1), (1, 1)), ((2, 2), (1, 1)), ((1, 2), (2, 1))])
def test_the_mappers_convolution_is_xlas_as_one_matrix_product(x64, strides, dilation):
  x = jax.random.normal(jax.random.key(0), (2, 12, 10, 3), jnp.float64)
  kernel = jax.random.normal(jax.random.key(1), (3, 3, 3, 5), jnp.float64)
  expected = jax.lax.conv_general_dilated(
    x, kernel, strides, "VALID", rhs_dilation=dilation, dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  np.testing.assert_allclose(windows_conv(x, kernel, strides, "VALID", rhs_dilation=dilation), expected, rtol=1e-12)
  with pytest.raises(ValueError, match="takes unpadded inputs"):
    windows_conv(x, kernel, strides, "SAME")


@pytest.mark.parametrize("block, size", [(4, 32), (2, 6)])
def test_a_patch_convolution_is_the_strided_convolution_of_twice_the_block(x64, block, size):
  """The panorama mapper's 8×8 stride-4 and 4×4 stride-2 convolutions, through `space_to_depth`."""
  images = jax.random.normal(jax.random.key(0), (3, size, size, 5), jnp.float64)
  kernel = jax.random.normal(jax.random.key(1), (2 * block, 2 * block, 5, 7), jnp.float64)
  expected = jax.lax.conv_general_dilated(
    images, kernel, (block, block), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  blocks = kernel.reshape(2, block, 2, block, 5, 7).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, block * block * 5, 7)
  patches = space_to_depth(images, block)
  params = {"params": {"kernel": blocks, "bias": jnp.zeros(7, jnp.float64)}}
  np.testing.assert_allclose(PatchConv(7, jnp.float64).apply(params, patches), expected, rtol=1e-12, atol=1e-12)


def rendered_batch(size=7, num=2, seed=0):
  """Random mazes with their goals and rendered views (`data_gen.panorama`)."""
  maps, goals = maze2d.generate(np.random.default_rng(seed), num, size)
  seeds = jnp.arange(num, dtype=jnp.uint32)
  return {
    "panoramas": render_panoramas(jnp.asarray(maps), seeds),
    "maps": jnp.asarray(maps),
    "goals": jnp.asarray(goals, jnp.int32),
  }


def test_the_panorama_mapper_maps_every_cell_from_its_four_views():
  batch = rendered_batch()
  observation, mapper = ip.make_mapper("panorama_cnn", bins=7, width=2)
  assert observation == "panoramas" and mapper.features == (8, 16, 64, 16)
  assert ip.make_mapper("panorama_cnn", bins=7)[1].features == ip.mappers.PAPER_FEATURES
  model = ip.with_mapper(ip.make_planner("id_vin", l_h=4, l_q=4, k_fwd=5), mapper, observation)
  params = jax.jit(model.init)(jax.random.key(0), batch)
  out = jax.jit(model.apply)(params, batch)
  assert out.map_logits.shape == (2, 7, 7) and out.logits.shape == (2, 4, 7, 7)
  with pytest.raises(ValueError, match=r"four RGB views per cell\), got \(2, 7, 7, 4, 32, 32\)"):
    mapper.apply(params["mapper"], batch["panoramas"][..., 0])


def test_the_panorama_mappers_gradient_reaches_it_through_an_implicit_planner(x64):
  mapper = ip.mappers.PanoramaMapper((4, 4, 8, 4), jnp.float64)
  assert_mapper_gradient_is_the_unrolled_one(mapper, "panoramas", rendered_batch(size=5), wrap=False)


def untrained_sweep_mapper(bins: int = 18, sharpness: float | None = None, **field) -> ip.mappers.SweepMapper:
  """The arm-sweep mapper as built: its obstacle field is the pixels' own (the correction starts at 0)."""
  return ip.mappers.SweepMapper(ip.mappers.ArmSweep(bins), ip.mappers.ObstacleField(**field), sharpness)


@pytest.mark.parametrize("scale", [1, 2])
def test_the_arm_sweep_reads_a_field_at_the_arms_points(scale):
  """Bilinear reading is exact for a linear field (one value per pixel, or per half pixel), and
  the points run along the data's arm."""
  sweep = ip.mappers.ArmSweep(bins=18, points_per_link=16)
  points = sweep.points()
  theta = manipulation.bin_angles(18)
  elbow, tip = manipulation.arm_points(theta[:, None], theta[None, :], manipulation.ArmParams().link_lengths)
  np.testing.assert_allclose(points[:, :, 15], elbow, atol=1e-12)
  np.testing.assert_allclose(points[:, :, -1], tip, atol=1e-12)
  side = 96 * scale
  centres = -5 + (np.arange(side) + 0.5) * 10 / side
  field = centres[None, :] + 2 * centres[::-1, None]  # x + 2 y at each (sub-)pixel centre
  index, weight = ip.mappers.sweep.sweep_taps(sweep, scale)
  read = (field.reshape(-1)[index] * weight).sum(-1)
  np.testing.assert_allclose(read, points[..., 0] + 2 * points[..., 1], atol=1e-5)


@pytest.mark.parametrize(("sharpness", "right", "as_reading"), [(None, 0.975, 0.985), (1.0, 0.93, 0.93)])
def test_the_untrained_sweep_mapper_reads_the_pixels_along_each_arm(sharpness, right, as_reading):
  """Before training the field is the raster's own, so the mapper reads about what the pixels say
  (`configuration_space_from_image`, 98.4 % right on these 32 workspaces): with the maximum over
  the arm, 98.1 % right and 99.1 % the same as the reading; with the smooth maximum at β = 1, whose
  offset counts the arm's points as if all were in an obstacle, 95.1 % and 95.7 %. The same logits
  read with θ1 and θ2 swapped are not right (68 % and 69 %)."""
  images, cspace = workspaces(32)
  mapper = untrained_sweep_mapper(sharpness=sharpness)
  params = jax.jit(mapper.init)(jax.random.key(0), jnp.asarray(images[:1]))
  blocked = np.asarray(jax.jit(mapper.apply)(params, jnp.asarray(images))) > 0
  free = cspace.astype(bool)
  assert np.mean(blocked != free) > right
  assert np.mean(blocked.swapaxes(1, 2) != free) < 0.8
  reading = manipulation.configuration_space_from_image(images, 18, manipulation.ArmParams())
  assert np.mean(blocked == (reading == 0)) > as_reading


@pytest.mark.parametrize("bins", manipulation.BIN_CHOICES)
def test_the_untrained_sweep_mapper_turns_with_the_workspace(bins):
  """A half turn about the base is exact on the raster (pixel centres are symmetric about the base)
  and shifts θ1 by half the bins; the pixels' own field follows it to float rounding."""
  images, _ = workspaces(4, bins=bins)
  turned, turned_cspace = workspaces(4, rotation=np.pi, bins=bins)
  np.testing.assert_array_equal(turned, images[:, ::-1, ::-1])
  mapper = untrained_sweep_mapper(bins)
  params = jax.jit(mapper.init)(jax.random.key(0), jnp.asarray(images))
  logits, turned_logits = (jax.jit(mapper.apply)(params, jnp.asarray(x)) for x in (images, turned))
  np.testing.assert_allclose(turned_logits, jnp.roll(logits, bins // 2, axis=1), atol=1e-4)


@pytest.mark.parametrize("bins", manipulation.BIN_CHOICES)
def test_the_mirrored_sweep_mapper_is_equivariant_to_the_images_mirrors_and_half_turn(bins):
  """Each symmetry maps the raster onto itself and the configuration space's bins onto bins: the
  labels of drawn workspaces follow it (bar the few cells whose arm grazes an edge, where the
  raster's ties break differently), and with a random correction in its field the mirrored mapper
  follows it to float rounding, where the plain one does not."""
  images, cspace = workspaces(8, bins=bins)
  symmetries = ip.mappers.sweep.mirror_symmetries(bins)
  mirrored = ip.mappers.SweepMapper(ip.mappers.ArmSweep(bins), ip.mappers.ObstacleField(4, (1,)), symmetric=True)
  params = jax.jit(mirrored.init)(jax.random.key(0), jnp.asarray(images))
  dense = params["params"]["field"]["Dense_0"]
  noise = jax.random.normal(jax.random.key(1), dense["kernel"].shape)
  params = {"params": {"field": {**params["params"]["field"], "Dense_0": {**dense, "kernel": noise}}}}
  plain = mirrored.clone(symmetric=False)
  for axes, rows, cols in symmetries[1:]:
    flipped = np.flip(images, axes)
    reading = manipulation.configuration_space_from_image(np.ascontiguousarray(flipped), bins, manipulation.ArmParams())
    assert np.mean(reading[:, rows][:, :, cols] == cspace) > 0.98
    for mapper, follows in ((mirrored, True), (plain, False)):
      logits, flipped_logits = (np.asarray(jax.jit(mapper.apply)(params, jnp.asarray(x))) for x in (images, flipped))
      assert np.allclose(flipped_logits[:, rows][:, :, cols], logits, atol=1e-4) == follows
  with pytest.raises(ValueError, match="an even number of bins, got 9"):
    ip.mappers.sweep.mirror_symmetries(9)


@pytest.mark.parametrize("scale", [1, 2])
def test_the_sweep_mappers_field_puts_each_correction_on_its_own_pixel(x64, scale):
  """Space to depth and back: a correction of the block's pixels (or half pixels) lands on them,
  and each pixel's own value covers its half pixels."""
  field = ip.mappers.ObstacleField(width=4, dilations=(1,), block=2, scale=scale, dtype=jnp.float64)
  images = jnp.asarray(workspaces(2)[0][:, :24, :24])
  params = field.init(jax.random.key(0), images)
  dense = params["params"]["Dense_0"]
  side = 2 * scale  # field values per block side
  bias = jnp.arange(side**2, dtype=jnp.float64)  # value (i, j) of each block gets i * side + j
  params = {"params": {**params["params"], "Dense_0": {"kernel": jnp.zeros_like(dense["kernel"]), "bias": bias}}}
  pixel = np.kron(2 * np.asarray(images, np.float64) - 1, np.ones((scale, scale)))
  correction = field.apply(params, images) - ip.mappers.sweep.PIXEL_LOGIT * pixel
  expected = np.tile(np.arange(side**2.0).reshape(side, side), (12, 12))
  np.testing.assert_allclose(correction, np.broadcast_to(expected, correction.shape), atol=1e-12)


def test_the_untrained_field_per_half_pixel_is_the_pixel_reading_bar_pixel_corners():
  """Per half pixel the pixels' own field, read bilinearly, changes sign on the pixels' borders,
  so the untrained mapper (the maximum over the arm) reads what the pixel reading at the same arm
  points reads, but where a point lies near a pixel's corner and the diagonal pixels differ: the
  same on 99.8 % of these cells, where the field per pixel (its sign changes half-way between
  pixel centres, rounding each corner by a pixel) is the same on 99.4 %."""
  images, _ = workspaces(32)
  reading = manipulation.configuration_space_from_image(images, 18, manipulation.ArmParams(), samples_per_link=64)
  same = {}
  for scale in (1, 2):
    mapper = untrained_sweep_mapper(scale=scale)
    params = jax.jit(mapper.init)(jax.random.key(0), jnp.asarray(images[:1]))
    same[scale] = np.mean((np.asarray(jax.jit(mapper.apply)(params, jnp.asarray(images))) > 0) == (reading == 0))
  assert same[2] > 0.997 and same[1] < 0.995


def test_the_sweep_mapper_refuses_images_and_arms_that_do_not_fit():
  mapper = untrained_sweep_mapper()
  with pytest.raises(ValueError, match=r"workspace images must be \[..., 96, 96\], got shape \(2, 24, 24\)"):
    mapper.init(jax.random.key(0), jnp.zeros((2, 24, 24), jnp.uint8))
  with pytest.raises(ValueError, match=r"the arm \(reach 5.2\) must lie inside the image \(extent 5.0\)"):
    ip.mappers.ArmSweep(link_lengths=(2.6, 2.6))
  assert ip.make_mapper("workspace_sweep", bins=18, width=4)[1].field.width == 8
  assert [ip.make_mapper(f"workspace_sweep{kind}", bins=18)[1].sharpness for kind in ("", "_8", "_max")] == [1, 8, None]
  assert ip.make_mapper("workspace_sweep_max_mirrored", bins=18)[1].symmetric
  assert ip.make_mapper("workspace_sweep_max_fine", bins=18)[1].field.scale == 2
  fine_mirrored = ip.make_mapper("workspace_sweep_max_fine_mirrored", bins=18)[1]
  assert fine_mirrored.field.scale == 2 and fine_mirrored.symmetric


def test_the_sweep_mappers_gradient_reaches_it_through_an_implicit_planner(x64):
  bins = 6
  sweep = ip.mappers.ArmSweep(bins, image_size=24, points_per_link=8)
  mapper = ip.mappers.SweepMapper(sweep, ip.mappers.ObstacleField(4, (1,), dtype=jnp.float64))
  assert_mapper_gradient_is_the_unrolled_one(mapper, "workspace", mapped_batch(bins=bins), wrap=True)
