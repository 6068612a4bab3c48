"""SymVIN: exact equivariance of its layers and of the whole planner, through both solvers."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import implicit_planning as ip
from implicit_planning.ops import groups
from implicit_planning.planners.symvin import EquivariantPolicyHead, SymVINCell

SMALL = dict(l_h=4, l_q=6, k=6, k_fwd=6, k_bwd=4)
GROUP_NAMES = ("d4", "c4")


def scaled_error(actual: jax.Array, expected: jax.Array) -> jax.Array:
  """``max |actual − expected| / max |expected|``: float32 rounding is relative to the values' scale."""
  return jnp.max(jnp.abs(actual - expected)) / jnp.max(jnp.abs(expected))


def random_problem(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """A random (asymmetric) map ``[H, W]`` and a free goal ``(row, col)``."""
  rng = np.random.default_rng(seed)
  free = (rng.random((size, size)) > 0.3).astype(np.int32)
  goal = np.array([1, size - 3])
  free[tuple(goal)] = 1
  return free, goal


def orbit(free: np.ndarray, goal: np.ndarray, group: groups.Group) -> tuple[jax.Array, jax.Array]:
  """The problem moved by every group element, as a batch ``[|G|, H, W]``, ``[|G|, 2]``."""
  maps = [groups.act_on_grid(free, g, group, axes=(0, 1)) for g in range(group.order)]
  goals = [groups.act_on_points(goal, g, group, free.shape) for g in range(group.order)]
  return jnp.stack(maps), jnp.asarray(np.stack(goals), jnp.int32)


@functools.cache
def initial_params(name: str, dtype=jnp.float32):
  """Parameters for every ``SMALL`` planner of the group (both modes share one tree); the
  one-layer planner is the cheapest to initialise. Initialised as a contracted cell so the
  value kernel is random (the unconstrained cell starts it at zero)."""
  planner = ip.make_planner("symvin", recipe="paper", group=name, dtype=dtype, contraction=0.5, **{**SMALL, "k": 1})
  maps, goals = orbit(*random_problem(5), groups.get_group(name))
  return jax.jit(planner.init)(jax.random.key(0), {"maps": maps[:1], "goals": goals[:1]})


def orbit_errors(planner: ip.Planner, params, group: groups.Group, size: int):
  """Largest scaled errors of logits and value maps between each moved problem and the moved answer."""
  maps, goals = orbit(*random_problem(size), group)
  # Full float32 convolutions: a GPU's default (TF32, 10-bit mantissa inputs) moves the orbit
  # apart by 4e-5 to 4e-4 (seen on an H200), rounding that is not the planner's equivariance.
  with jax.default_matmul_precision("highest"):
    logits, values, stats, *_ = jax.jit(planner.apply)(params, {"maps": maps, "goals": goals})
  logit_errors = [
    scaled_error(logits[g], groups.act_on_actions(logits[0], g, group, action_axis=0)) for g in range(group.order)
  ]
  value_errors = [
    scaled_error(values[g], groups.act_on_grid(values[0], g, group, axes=(0, 1))) for g in range(group.order)
  ]
  return float(max(logit_errors)), float(max(value_errors)), stats


@pytest.mark.parametrize("name", GROUP_NAMES)
def test_policy_head_permutes_logits_like_actions(name):
  group = groups.get_group(name)
  features = jax.random.normal(jax.random.key(1), (1, 5, 5, 3 * group.order))
  head = EquivariantPolicyHead(name)
  params = jax.jit(head.init)(jax.random.key(2), features)
  logits = jax.jit(lambda x: jnp.moveaxis(head.apply(params, x), -1, 1))  # [B, 4, H, W]
  for g in range(group.order):
    moved = logits(groups.act_on_regular(features, g, group))
    assert float(scaled_error(moved, groups.act_on_actions(logits(features), g, group))) < 1e-6


@pytest.mark.parametrize("name, form", [*((name, "normalize") for name in GROUP_NAMES), ("d4", "squash")])
def test_contraction_bounds_the_step_in_sup_norm(name, form):
  group = groups.get_group(name)
  cell = SymVINCell(l_q=5, group=name, contraction=0.7, contraction_form=form)
  keys = jax.random.split(jax.random.key(3), 4)
  v1, v2 = (10 * jax.random.normal(k, (6, 6, group.order)) for k in keys[:2])
  r = jax.random.normal(keys[2], (6, 6, 1))
  params = jax.jit(cell.init)(jax.random.key(4), v1, r)
  value_kernel = params["params"]["value_kernel"]  # large, so that the bound is what holds it
  params["params"]["value_kernel"] = 10 * jax.random.normal(keys[3], value_kernel.shape)
  step = jax.jit(lambda v: cell.apply(params, v, r))
  assert float(jnp.max(jnp.abs(step(v1) - step(v2)))) <= 0.7 * float(jnp.max(jnp.abs(v1 - v2))) * (1 + 1e-6)


# Every group with every gradient mode and forward solver; each mode and each group meets both
# paddings (zeros on an odd map, a torus on an even one: the centre is then between cells).
@pytest.mark.parametrize(
  "name, planner_name, solver, contraction, size, wrap",
  [
    ("d4", "symvin", "iteration", 0.0, 7, False),
    ("d4", "id_symvin", "iteration", 0.0, 8, True),
    ("d4", "id_symvin", "anderson", 0.9, 7, False),
    ("c4", "symvin", "iteration", 0.0, 8, True),
    ("c4", "id_symvin", "iteration", 0.0, 7, False),
    ("c4", "id_symvin", "anderson", 0.9, 8, True),
  ],
)
def test_planner_is_equivariant(name, planner_name, solver, contraction, size, wrap):
  """Moving map and goal by any element moves the value map and permutes the logits, to float32 rounding."""
  planner = ip.make_planner(
    planner_name, group=name, wrap=wrap, contraction=contraction, forward_solver=solver, **SMALL
  )
  logit_error, value_error, stats = orbit_errors(planner, initial_params(name), groups.get_group(name), size)
  assert logit_error < 1e-5 and value_error < 1e-5
  if solver == "anderson":  # Anderson really ran, several steps, and converged alike on the whole orbit.
    assert np.all(stats.forward.iterations == stats.forward.iterations[0])
    assert int(stats.forward.iterations[0]) > 2


def test_anderson_on_the_unconstrained_cell_is_equivariant_in_float64(x64):
  """Anderson's weights come from inner products, which the moves preserve: exact up to rounding.

  In float32 the ill-conditioned least squares amplifies rounding to ~1e-5 on
  this expanding cell; in float64 nothing is left.
  """
  planner = ip.make_planner("id_symvin", forward_solver="anderson", dtype=jnp.float64, **SMALL)
  params = initial_params("d4", jnp.float64)
  logit_error, value_error, _ = orbit_errors(planner, params, groups.get_group("d4"), 7)
  assert logit_error < 1e-12 and value_error < 1e-12


def test_vin_is_not_equivariant():
  """The control: the same check fails for a plain VIN, so the tests above can fail."""
  planner = ip.make_planner("vin", **SMALL)
  maps, goals = orbit(*random_problem(5), groups.get_group("d4"))
  params = jax.jit(planner.init)(jax.random.key(0), {"maps": maps[:1], "goals": goals[:1]})
  logit_error, value_error, _ = orbit_errors(planner, params, groups.get_group("d4"), 7)
  assert logit_error > 1e-2 and value_error > 1e-2


def test_implicit_gradients_match_unrolled_ones_at_convergence(x64):
  """With a contraction both modes reach the same equilibrium; so must their parameter gradients."""
  options = dict(SMALL, contraction=0.5, dtype=jnp.float64, recipe="paper")  # the same cell in both modes
  implicit = ip.make_planner(
    "id_symvin", **{**options, "k_fwd": 100, "k_bwd": 100}, forward_tol=1e-14, backward_tol=1e-14
  )
  unrolled = ip.make_planner("symvin", **{**options, "k": 80})
  free, goal = random_problem(7)
  maps, goals = jnp.asarray(free)[None], jnp.asarray(goal, jnp.int32)[None]
  params = initial_params("d4", jnp.float64)

  def loss(planner, params):
    out = planner.apply(params, {"maps": maps, "goals": goals})
    logits, values = out.logits, out.values
    return jnp.sum(jax.nn.log_softmax(logits, axis=1)[:, 0] * values)

  implicit_grad = jax.jit(jax.grad(lambda p: loss(implicit, p)))(params)
  unrolled_grad = jax.jit(jax.grad(lambda p: loss(unrolled, p)))(params)
  flat_implicit = ravel_pytree(implicit_grad)[0]
  flat_unrolled = ravel_pytree(unrolled_grad)[0]
  error = jnp.linalg.norm(flat_implicit - flat_unrolled) / jnp.linalg.norm(flat_unrolled)
  assert float(error) < 1e-4
