"""The symmetry groups of the square grid, D4 and C4, and how they act on planner data.

An element ``g`` is an index into ``group.rotations``/``group.flips``: it
first mirrors the grid left–right (if ``flips[g]``), then rotates it
``rotations[g]`` times by 90° counter-clockwise, exactly as `act_on_grid` does
with ``jnp.flip`` and ``jnp.rot90``. On centred ``(row, col)`` coordinates it
is the integer matrix ``group.matrices[g]``; the composition and inverse
tables are derived from these matrices, so they agree with the array
operations by construction.

Conventions, used alike by the planners and by the equivariance tests:
  * a field is transformed by moving its values, ``(g·f)(x) = f(g⁻¹x)``;
  * a regular field has one channel per group element and
    ``(g·f)(x)[k] = f(g⁻¹x)[g⁻¹k]`` (left-regular representation); several
    regular fields are laid out field-major, ``channel = field·|G| + k``;
  * the four actions (north, west, south, east) are ``(row, col)`` offsets
    that ``g`` maps to ``matrices[g] @ offset``: rotating the image by 90° CCW
    turns north into west, west into south, south into east, east into north.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from implicit_planning.ops.actions import ACTION_DELTAS

GROUPS: tuple[str, ...] = ("d4", "c4")
"""Names of the groups `get_group` builds."""

# Centred (row, col) coordinates: rot90 (CCW) sends (a, b) to (-b, a); the left–right mirror
# sends (a, b) to (a, -b).
_ROT90 = np.array([[0, -1], [1, 0]])
_MIRROR = np.array([[1, 0], [0, -1]])


@dataclasses.dataclass(frozen=True, eq=False)
class Group:
  """A finite group of grid symmetries with its tables (NumPy, static under ``jit``).

  Attributes:
    name: ``"d4"`` or ``"c4"``.
    rotations: ``[n]`` quarter turns (CCW) of each element.
    flips: ``[n]`` whether each element mirrors left–right (before rotating).
    matrices: ``[n, 2, 2]`` action on centred ``(row, col)`` coordinates.
    compose: ``[n, n]`` index of ``g ∘ h`` (apply ``h`` first).
    inverse: ``[n]`` index of ``g⁻¹``.
  """

  name: str
  rotations: np.ndarray
  flips: np.ndarray
  matrices: np.ndarray
  compose: np.ndarray
  inverse: np.ndarray

  @property
  def order(self) -> int:
    """``|G|``: the number of elements (channels of a regular field)."""
    return len(self.rotations)


def _element_index(matrices: np.ndarray, matrix: np.ndarray) -> int:
  (index,) = np.flatnonzero(np.all(matrices == matrix, axis=(1, 2)))
  return int(index)


@functools.cache
def get_group(name: str) -> Group:
  """The group ``"d4"`` (4 rotations, then the 4 rotated mirrors) or ``"c4"`` (rotations)."""
  if name not in GROUPS:
    raise ValueError(f"Unknown group {name!r}; expected one of {GROUPS}.")
  flips = (0, 1) if name == "d4" else (0,)
  rotations = np.array([r for _ in flips for r in range(4)])
  flips = np.array([f for f in flips for _ in range(4)], dtype=bool)
  matrices = np.stack(
    [np.linalg.matrix_power(_ROT90, r) @ (_MIRROR if f else np.eye(2, dtype=int)) for r, f in zip(rotations, flips)]
  )
  compose = np.array([[_element_index(matrices, a @ b) for b in matrices] for a in matrices])
  inverse = np.array([_element_index(matrices, np.round(np.linalg.inv(a)).astype(int)) for a in matrices])
  return Group(name, rotations, flips, matrices, compose, inverse)


def act_on_grid(x: jax.Array, g: int, group: Group, axes: tuple[int, int] = (-3, -2)) -> jax.Array:
  """Moves the values of ``x`` by ``g`` over its two spatial ``axes`` (channels untouched).

  ``axes`` are (row, col): ``(-3, -2)`` for channels-last fields ``[..., H, W, C]``,
  ``(-2, -1)`` for maps ``[..., H, W]``, ``(0, 1)`` for kernels ``[k, k, C_in, C_out]``.
  """
  if group.flips[g]:
    x = jnp.flip(x, axis=axes[1])
  return jnp.rot90(x, k=int(group.rotations[g]), axes=axes)


def regular_permutation(g: int, group: Group) -> np.ndarray:
  """``[|G|]`` indices ``p`` with ``ρ(g) v = v[p]``, i.e. ``p[k] = g⁻¹k``."""
  return group.compose[group.inverse[g]]


def act_on_regular(x: jax.Array, g: int, group: Group, axes: tuple[int, int] = (-3, -2)) -> jax.Array:
  """``g`` acting on regular fields ``[..., H, W, fields·|G|]``: move the values, permute channels."""
  x = act_on_grid(x, g, group, axes)
  fields = x.reshape(x.shape[:-1] + (-1, group.order))
  return fields[..., regular_permutation(g, group)].reshape(x.shape)


def element_actions(group: Group) -> np.ndarray:
  """``[|G|]`` the action each element maps north to (the coset ``k·Stab(north)`` of ``k``)."""
  deltas = np.array(ACTION_DELTAS)
  return np.array([_delta_index(deltas, m @ deltas[0]) for m in group.matrices])


def _delta_index(deltas: np.ndarray, delta: np.ndarray) -> int:
  (index,) = np.flatnonzero(np.all(deltas == delta, axis=1))
  return int(index)


def action_permutation(g: int, group: Group) -> np.ndarray:
  """``[4]`` indices ``p`` such that ``logits[..., p]`` are the logits of the moved policy.

  The moved policy takes action ``b`` where the original took the action ``a``
  that ``g`` maps to ``b``, so ``p[b] = a``.
  """
  deltas = np.array(ACTION_DELTAS)
  inverse = group.matrices[group.inverse[g]]
  return np.array([_delta_index(deltas, inverse @ delta) for delta in deltas])


def act_on_actions(logits: jax.Array, g: int, group: Group, action_axis: int = 1) -> jax.Array:
  """``g`` acting on action logits ``[B, 4, H, W]`` (the planners' layout): move and permute.

  Args:
    logits: any array with an action axis of size 4 and the two spatial axes last.
    g: group element.
    group: its group.
    action_axis: the axis of the 4 actions.
  """
  moved = act_on_grid(logits, g, group, axes=(-2, -1))
  return jnp.take(moved, action_permutation(g, group), axis=action_axis)


def act_on_points(points: np.ndarray, g: int, group: Group, shape: tuple[int, int]) -> np.ndarray:
  """Where ``g`` moves integer ``(row, col)`` points ``[..., 2]`` of an ``H×W`` grid.

  Matches `act_on_grid`: ``act_on_grid(x)[act_on_points(p)] == x[p]``. Coordinates are
  doubled around the centre so half-integer centres of even sizes stay exact.
  """
  shape = np.array(shape)
  centred = 2 * np.asarray(points) - (shape - 1)
  moved = centred @ group.matrices[g].T
  new_shape = shape[::-1] if group.rotations[g] % 2 else shape
  return (moved + new_shape - 1) // 2
