"""data_gen.panorama: shapes under jit and vmap, determinism, distances, rotation symmetry, enclosed views."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from data_gen import panorama
from data_gen.panorama import Style, draw_style, render_panoramas, render_views

render = jax.jit(render_views, static_argnames=("face_shading", "view_size"))
columns = jax.jit(panorama._columns, static_argnums=1)
draw = jax.jit(draw_style)

# Pure colours: a pixel is wall (brick or mortar) iff its green and blue are 0.
PURE = Style(
  wall=jnp.array([1.0, 0.0, 0.0]),
  mortar=jnp.array([0.5, 0.0, 0.0]),
  floor=jnp.array([0.0, 1.0, 0.0]),
  ceiling=jnp.array([0.0, 0.0, 1.0]),
  brick_rows=jnp.int32(3),
  fog=jnp.float32(0.2),
)


# A corridor closed at its east end (row 1), a free cell walled in on all four sides (3, 1), walls.
ROOMS = np.array(
  [
    [0, 0, 0, 0, 0, 0, 0],
    [0, 1, 1, 1, 1, 1, 0],
    [0, 0, 0, 0, 0, 0, 0],
    [0, 1, 0, 1, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 0],
  ],
  np.uint8,
)
NORTH, EAST = 0, 3


def random_maze(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
  """uint8 ``[H, W]`` random free cells (70 %) inside a wall border."""
  maps = (rng.random((height, width)) < 0.7).astype(np.uint8)
  maps[[0, -1]] = 0
  maps[:, [0, -1]] = 0
  return maps


def wall_mask(views: np.ndarray) -> np.ndarray:
  """Wall pixels of views rendered in `PURE`: ``[..., V, V]`` bool."""
  views = np.asarray(views)
  return (views[..., 0] > 0) & (views[..., 1] == 0) & (views[..., 2] == 0)


def trace_dda(maps: jax.Array, view_size: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """`panorama._columns` by stepping all rays through the grid together, ``H + W`` DDA steps."""
  height, width = maps.shape
  ray = panorama._rays(view_size)
  with np.errstate(divide="ignore"):
    delta = np.abs(np.float32(1) / ray)
  step = np.sign(ray).astype(np.int32)
  padded_width = width + 2
  padded = jnp.pad(maps == 0, 1, constant_values=True).reshape(-1)
  shape = (height, width, 4, view_size)
  index = (np.arange(height)[:, None] + 1) * padded_width + np.arange(width)[None, :] + 1
  index = jnp.broadcast_to(jnp.asarray(index, jnp.int32)[:, :, None, None], shape)
  inside = jnp.broadcast_to((maps == 0)[:, :, None, None], shape)
  side = [jnp.broadcast_to(jnp.float32(0.5) * delta[..., a], shape) for a in (0, 1)]
  move = (step[..., 0] * padded_width, step[..., 1])

  def body(_, state):
    index, side0, side1, done, axis0 = state
    a0 = side0 < side1
    target = index + jnp.where(a0, move[0], move[1])
    wall = padded[target]
    advance = ~done & ~wall
    index = jnp.where(advance, target, index)
    side0 = jnp.where(advance & a0, side0 + delta[..., 0], side0)
    side1 = jnp.where(advance & ~a0, side1 + delta[..., 1], side1)
    axis0 = jnp.where(done, axis0, a0)
    return index, side0, side1, done | wall, axis0

  state = (index, side[0], side[1], inside, jnp.zeros(shape, bool))
  _, side0, side1, _, axis0 = jax.lax.fori_loop(0, height + width, body, state)
  t = jnp.where(inside, 0.0, jnp.where(axis0, side0, side1))
  axis0 = axis0 & ~inside
  u = jnp.where(inside, 0.5, panorama._face_u(t, jnp.asarray(ray), jnp.asarray(step, jnp.float32), axis0))
  return t, u, axis0


def test_shapes_under_jit_and_vmap():
  rng = np.random.default_rng(0)
  maps = np.stack([random_maze(rng, 5, 7) for _ in range(3)])
  seeds = np.array([0, 1, 2**32 - 1], np.uint32)
  out = render_panoramas(maps, seeds, view_size=8)
  assert out.shape == (3, 5, 7, 4, 8, 8, 3) and out.dtype == jnp.uint8
  styles = jax.tree.map(lambda *fields: jnp.stack(fields), *[draw(s) for s in seeds])
  vmapped = jax.jit(jax.vmap(functools.partial(render_views, view_size=8)))(maps, styles)
  np.testing.assert_array_equal(vmapped, out)
  full = jax.eval_shape(render_panoramas, maps, seeds)
  assert full.shape == (3, 5, 7, 4, panorama.VIEW_SIZE, panorama.VIEW_SIZE, 3) and full.dtype == jnp.uint8


def test_deterministic_and_seeded():
  maps = random_maze(np.random.default_rng(1), 5, 7)[None].repeat(3, axis=0)
  seeds = np.array([5, 6, 5], np.uint32)
  first = np.asarray(render_panoramas(maps, seeds, view_size=8))
  again = np.asarray(render_panoramas(maps.copy(), seeds.copy(), view_size=8))
  assert first.tobytes() == again.tobytes()
  assert first[0].tobytes() == first[2].tobytes()  # same maze, same seed
  assert not np.array_equal(first[0], first[1])  # same maze, another style


def test_draw_style_ranges():
  styles = jax.tree.map(lambda *fields: np.stack(fields), *[draw(jnp.uint32(s)) for s in range(256)])
  assert np.all((styles.wall >= 0.3) & (styles.wall <= 0.9))
  assert np.all((styles.floor >= 0.1) & (styles.floor <= 0.5))
  assert np.all((styles.ceiling >= 0.55) & (styles.ceiling <= 0.95))
  assert np.all((styles.mortar >= 0) & (styles.mortar <= 1))
  assert np.all(np.abs(styles.mortar.mean(-1) - styles.wall.mean(-1)) >= 0.2 - 1e-6)  # mortar stands out
  assert set(np.asarray(styles.brick_rows).tolist()) == {2, 3, 4, 5}
  assert np.all((styles.fog >= 0.1) & (styles.fog <= 0.3))


def test_nearer_wall_fills_more_rows():
  """The corridor's end wall 0.5 then 1.5 cells ahead, in the central pixel column."""
  views = np.asarray(render(ROOMS, PURE))
  centre = 16
  near = wall_mask(views[1, 5, EAST])[:, centre]
  far = wall_mask(views[1, 4, EAST])[:, centre]
  assert near.sum() == 32  # |sy| t <= 0.5 for all rows at t = 0.5
  assert far.sum() == 10 and np.array_equal(np.nonzero(far)[0], np.arange(11, 21))  # |sy| <= 1/3
  assert len(np.unique(views[1, 5, EAST, :, centre, 0])) == 2  # bricks and mortar
  t, _, axis0 = (np.asarray(a) for a in columns(ROOMS, 32))
  assert t[1, 5, EAST, centre] == 0.5 and t[1, 4, EAST, centre] == 1.5
  assert not axis0[1, 5, EAST, centre] and axis0[1, 5, NORTH].all()  # an east-west face; the north wall


def test_rotation_symmetry():
  """np.rot90 moves cell (i, j) to (W - 1 - j, i) and turns N -> W -> S -> E -> N: the same views."""
  maps = random_maze(np.random.default_rng(2), 9, 11)
  style = draw(jnp.uint32(7))
  both = jax.jit(lambda m, s: [render_views(m, s, face_shading=shading) for shading in (False, True)])
  for views, rotated, face_shading in zip(both(maps, style), both(np.rot90(maps).copy(), style), (False, True)):
    expected = np.roll(np.rot90(np.asarray(views), axes=(0, 1)), 1, axis=2)
    if face_shading:
      assert not np.array_equal(rotated, expected)  # the north and south faces are darker
    else:
      assert np.asarray(rotated).tobytes() == expected.tobytes()


def test_walk_tables_match_stepped_rays():
  maps = random_maze(np.random.default_rng(3), 9, 11)
  maps[0, 4] = maps[1, 4] = 1  # an opening in the border: some rays leave the grid
  tables = columns(maps, 32)
  stepped = jax.jit(trace_dda, static_argnums=1)(maps, 32)
  for a, b in zip(tables, stepped):
    assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_enclosed_cell_sees_only_walls():
  assert wall_mask(render(ROOMS, PURE)[3, 1]).all()
  t, _, _ = columns(ROOMS, 32)
  assert np.all(np.asarray(t)[3, 1] == 0.5)


def test_camera_in_wall_sees_only_wall():
  style = draw(jnp.uint32(11))
  views = np.asarray(render(ROOMS, style))[2, 3].reshape(-1, 3)
  colours = {tuple(np.round(np.asarray(c) * 255).astype(np.uint8)) for c in (style.wall, style.mortar)}
  assert {tuple(p) for p in views} <= colours
  t, _, _ = columns(ROOMS, 32)
  assert np.all(np.asarray(t)[2, 3] == 0)
