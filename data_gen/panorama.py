"""Egocentric views of 2D grid mazes by ray casting: the visual navigation task.

In the visual navigation task of GPPN (Lee et al. 2018) the agent does not see
the map: at every cell it sees four 32 x 32 RGB views, facing north, west,
south and east, of a 3D maze whose walls are the map's obstacle cells. The
authors rendered them with MiniWorld (OpenGL under a virtual X server): hours
and about 10 GB for 10k mazes. Here a pure JAX ray caster (jit, vmap, any
backend) renders them on the fly, on the device, from the maze and a style
seed, so a dataset stores only its mazes and one uint32 seed per maze.

Geometry. A map is uint8 ``[H, W]``, 1 = free, 0 = wall; rows grow southwards,
columns eastwards, and outside the grid is wall. Walls are unit blocks of
height 1. The camera stands at the cell centre ``(row + 0.5, col + 0.5)`` at
eye height 0.5 and looks along ``f = ACTION_DELTAS[h]`` (headings N, W, S, E);
its right vector is ``r = (f_col, -f_row)``. The horizontal field of view is
90 degrees: pixel column ``x`` casts the ray ``f + r * cx`` with
``cx = (2x + 1 - V) / V``. A ray walks the grid cell by cell (DDA) until it
enters a wall cell; its hit distance ``t`` is the distance along ``f`` (the
ray has ``f . ray = 1``), 0 when the camera's own cell is a wall. Pixel row
``y`` (``sy = (2y + 1 - V) / V``, positive downwards) shows the wall when
``|sy| t <= 0.5``, the ceiling above it and the floor below. Walls carry a
brick texture (``brick_rows`` courses of two bricks per face, every other
course offset by half a brick, thin mortar lines), in face coordinates
measured from the camera's cell (never from world coordinates), so that
rotating the maze by 90 degrees and turning the heading with it gives the same
image bit for bit when ``face_shading`` is off. Colours fade with distance by
``1 / (1 + fog * d)``; with ``face_shading`` the north and south faces of the
walls are darker (x 0.7) than the east and west ones, which tells the agent
its heading.

The walk of a ray from a cell centre depends only on the ray's direction: its
sequence of crossings (cell offset, distance, face) is the same from every
cell. So the walks of the ``4 V`` directions are traced once, in NumPy float32
when tracing, and a view column reduces to the first wall among its crossings,
a gather from the map (the same numbers as stepping each ray: the test's
reference steps them). The pixels are then one elementwise pass choosing among
per-column brick and mortar bytes and per-row floor and ceiling bytes. All
views of 32 mazes 15 x 15 (28,800 images) take about 0.2 s of one CPU core.

Determinism: a pure function of the map, the style (seed) and the two static
options; the same inputs on the same backend give the same bytes.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from implicit_planning.ops.actions import ACTION_DELTAS

VIEW_SIZE = 32
"""Side of one view in pixels, as in GPPN."""

_NS_SHADE = 0.7  # colour factor of north and south faces with face_shading
_MORTAR_V = 0.08  # mortar fraction of a brick course's height
_MORTAR_U = 0.04  # mortar fraction of a brick's width, in units of half a face


class Style(NamedTuple):
  """One maze's appearance (batched styles have a leading axis on every field).

  Attributes:
      wall: ``[3]`` float32 RGB in [0, 1] of the bricks.
      mortar: ``[3]`` the mortar, a grey tone darker or lighter than the bricks.
      floor: ``[3]`` the floor.
      ceiling: ``[3]`` the ceiling.
      brick_rows: ``[]`` int32, brick courses per wall height (2..5).
      fog: ``[]`` float32, distance shading strength: colour / (1 + fog * distance).
  """

  wall: jax.Array
  mortar: jax.Array
  floor: jax.Array
  ceiling: jax.Array
  brick_rows: jax.Array
  fog: jax.Array


def draw_style(seed: jax.Array) -> Style:
  """A random style from a uint32 scalar seed (`jax.random.key`): deterministic, vmappable.

  Bricks in [0.3, 0.9]^3; mortar a slightly tinted grey whose mean is 0.2 to 0.3
  below the bricks' mean (bricks brighter than 0.6 on average) or above it;
  floor in [0.1, 0.5]^3; ceiling in [0.55, 0.95]^3; 2 to 5 brick courses; fog
  in [0.1, 0.3].
  """
  # One draw of 12 uniforms (a single threefry call compiles 5x faster than one per field).
  x = jax.random.uniform(jax.random.key(seed), (12,))
  wall = 0.3 + 0.6 * x[0:3]
  mean = jnp.mean(wall)
  gap = 0.2 + 0.1 * x[3]
  grey = jnp.where(mean > 0.6, mean - gap, mean + gap)
  return Style(
    wall=wall,
    mortar=jnp.clip(grey + 0.15 * (wall - mean), 0.0, 1.0),
    floor=0.1 + 0.4 * x[4:7],
    ceiling=0.55 + 0.4 * x[7:10],
    brick_rows=jnp.minimum(2 + jnp.floor(4 * x[10]).astype(jnp.int32), 5),
    fog=0.1 + 0.2 * x[11],
  )


def _screen(view_size: int) -> np.ndarray:
  """``[V]`` float32 screen coordinate ``(2i + 1 - V) / V`` of pixel column or row ``i``."""
  i = np.arange(view_size)
  return ((2 * i + 1 - view_size) / np.float32(view_size)).astype(np.float32)


def _rays(view_size: int) -> np.ndarray:
  """``[4, V, 2]`` float32 ray ``f + r * cx`` of each heading and pixel column, (row, col)."""
  f = ACTION_DELTAS.astype(np.float32)
  r = np.stack([f[:, 1], -f[:, 0]], axis=-1)
  return f[:, None, :] + r[:, None, :] * _screen(view_size)[None, :, None]


def _face_u(t, ray, step, axis0):
  """Horizontal face coordinate in [0, 1), left to right as seen, relative to the camera cell.

  Along a north or south face (``axis0``) the viewer's right is the column axis
  with sign ``-step_row``; along an east or west face, the row axis with sign
  ``+step_col``. Works on NumPy and JAX arrays alike (broadcasting shapes).
  """
  xp = jnp if isinstance(t, jax.Array) else np
  c = xp.where(axis0, t * ray[..., 1] * -step[..., 0], t * ray[..., 0] * step[..., 1])
  w = 0.5 + c
  return w - xp.floor(w)


@functools.lru_cache(maxsize=16)
def _walks(view_size: int, steps: int) -> tuple[np.ndarray, ...]:
  """The first ``steps`` crossings of every ray from a cell centre, traced in float32.

  Returns:
      offsets: ``[4, V, steps, 2]`` int32 (row, col) offset of the cell entered.
      t: ``[4, V, steps]`` float32 distance along the heading at the crossing.
      axis0: ``[4, V, steps]`` bool, whether the crossed face is a north or south face.
  """
  ray = _rays(view_size)
  with np.errstate(divide="ignore"):
    delta = np.abs(np.float32(1) / ray)  # inf along an axis the ray never crosses
  step = np.sign(ray).astype(np.int32)
  side = np.float32(0.5) * delta
  cell = np.zeros(ray.shape, np.int32)
  offsets = np.zeros((*ray.shape[:2], steps, 2), np.int32)
  t = np.zeros((*ray.shape[:2], steps), np.float32)
  axis0 = np.zeros((*ray.shape[:2], steps), bool)
  for k in range(steps):
    a0 = side[..., 0] < side[..., 1]
    t[..., k] = np.where(a0, side[..., 0], side[..., 1])
    axis0[..., k] = a0
    moved = np.stack([a0, ~a0], axis=-1)
    cell = cell + np.where(moved, step, 0)
    side = np.where(moved, side + delta, side)
    offsets[..., k, :] = cell
  return offsets, t, axis0


def _columns(maps: jax.Array, view_size: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Per view column: hit distance, face coordinate and face axis of one maze.

  Args:
      maps: uint8 ``[H, W]``, 1 = free.
      view_size: pixels per view side ``V``.

  Returns:
      t: float32 ``[H, W, 4, V]``, distance along the heading (0 inside a wall).
      u: float32 ``[H, W, 4, V]``, face coordinate in [0, 1).
      axis0: bool ``[H, W, 4, V]``, the face is a north or south face.
  """
  height, width = maps.shape
  steps = height + width  # a ray leaves the grid within H + W - 1 crossings
  offsets, t_walk, axis0_walk = _walks(view_size, steps)
  ray = _rays(view_size)
  step = np.sign(ray).astype(np.float32)
  u_walk = _face_u(t_walk, ray[:, :, None], step[:, :, None], axis0_walk).astype(np.float32)
  # Flat indices into the map padded by `steps` walls: every crossing lands inside.
  padded_width = width + 2 * steps
  flat = (offsets[..., 0] * padded_width + offsets[..., 1]).astype(np.int32)  # [4, V, K]
  base = (np.arange(height)[:, None] + steps) * padded_width + np.arange(width)[None, :] + steps  # [H, W]
  padded = jnp.pad(maps == 0, steps, constant_values=True).reshape(-1)
  walls = padded[jnp.asarray(base)[:, :, None, None, None] + flat]  # [H, W, 4, V, K]
  first = jnp.argmax(walls, axis=-1)  # the first wall crossed: index into the walk tables
  inside = (maps == 0)[:, :, None, None]
  t = jnp.where(inside, 0.0, jnp.take_along_axis(jnp.asarray(t_walk)[None, None], first[..., None], -1)[..., 0])
  u = jnp.where(inside, 0.5, jnp.asarray(u_walk)[np.arange(4)[:, None], np.arange(view_size), first])
  axis0 = jnp.where(inside, False, jnp.asarray(axis0_walk)[np.arange(4)[:, None], np.arange(view_size), first])
  return t, u, axis0


def _to_bytes(colour: jax.Array) -> jax.Array:
  return jnp.round(jnp.clip(colour, 0.0, 1.0) * 255).astype(jnp.uint8)


def _shade(style: Style, distance: jax.Array) -> jax.Array:
  return 1 / (1 + style.fog * distance)


def _shade_views(t, u, axis0, style: Style, face_shading: bool, view_size: int) -> jax.Array:
  """Pixels from the per-column hits ``[..., V]``: uint8 ``[..., V, V, 3]`` (rows y, columns x)."""
  shade = _shade(style, t)
  if face_shading:
    shade = jnp.where(axis0, _NS_SHADE * shade, shade)
  brick = _to_bytes(style.wall * shade[..., None])  # [..., V(x), 3]
  mortar = _to_bytes(style.mortar * shade[..., None])
  vertical_joint = [(2 * u + 0.5 * odd) % 1 < _MORTAR_U for odd in (0, 1)]  # [..., V(x)]
  sy = jnp.asarray(_screen(view_size))[:, None]  # [V(y), 1]
  # Ceiling above the horizon, floor below, shaded at the distance where the pixel's ray meets them.
  flat = _to_bytes(jnp.where(sy < 0, style.ceiling, style.floor) * _shade(style, 0.5 / jnp.abs(sy)))  # [V(y), 3]
  t, u = t[..., None, :], u[..., None, :]
  rows = style.brick_rows.astype(jnp.float32)
  course = (0.5 + sy * t) * rows
  level = jnp.floor(course)
  odd = level - 2 * jnp.floor(0.5 * level) == 1
  is_mortar = (course - level < _MORTAR_V) | jnp.where(
    odd, vertical_joint[1][..., None, :], vertical_joint[0][..., None, :]
  )
  is_wall = jnp.abs(sy) * t <= 0.5
  wall = jnp.where(is_mortar[..., None], mortar[..., None, :, :], brick[..., None, :, :])
  return jnp.where(is_wall[..., None], wall, flat[:, None, :])


def render_views(maps: jax.Array, style: Style, *, face_shading: bool = True, view_size: int = VIEW_SIZE) -> jax.Array:
  """The four views from every cell of one maze.

  Args:
      maps: uint8 ``[H, W]``, 1 = free, 0 = wall.
      style: the maze's appearance (unbatched).
      face_shading: darken north and south faces (x 0.7).
      view_size: pixels per view side ``V``.

  Returns:
      uint8 ``[H, W, 4, V, V, 3]``: cell, heading (N, W, S, E), pixel row (top first),
      pixel column (left first), RGB. Views from wall cells are all wall.
  """
  t, u, axis0 = _columns(maps, view_size)
  return _shade_views(t, u, axis0, style, face_shading, view_size)


@functools.partial(jax.jit, static_argnames=("face_shading", "view_size"))
def render_panoramas(
  maps: jax.Array, seeds: jax.Array, *, face_shading: bool = True, view_size: int = VIEW_SIZE
) -> jax.Array:
  """The four views from every cell of a batch of mazes, each in the style of its seed.

  Args:
      maps: uint8 ``[B, H, W]``, 1 = free.
      seeds: uint32 ``[B]``, style seeds (`draw_style`).
      face_shading: darken north and south faces (x 0.7).
      view_size: pixels per view side ``V``.

  Returns:
      uint8 ``[B, H, W, 4, V, V, 3]``.
  """
  render = functools.partial(render_views, face_shading=face_shading, view_size=view_size)
  return jax.vmap(lambda m, s: render(m, draw_style(s)))(maps, seeds)
