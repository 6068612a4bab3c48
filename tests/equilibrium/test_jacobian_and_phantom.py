"""The spectral-radius estimate against a dense Jacobian; the phantom gradient against the
backpropagated gradient of the same damped steps, and against the implicit gradient in its limit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import implicit_planning as ip
from implicit_planning.equilibrium import Anderson, ForwardIteration, Phantom, Unrolled, spectral_radius


def random_linear(rng, n, radius):
  """``A`` with spectral radius ``radius`` (a real dominant eigenvalue) and a bias."""
  eigenvalues = rng.uniform(-0.6 * radius, 0.6 * radius, n)
  eigenvalues[0] = radius
  basis = np.eye(n) + 0.3 * rng.normal(size=(n, n)) / np.sqrt(n)
  return basis @ np.diag(eigenvalues) @ np.linalg.inv(basis), rng.normal(size=n)


def test_spectral_radius_of_linear_maps_per_problem(x64):
  rng = np.random.default_rng(0)
  radii = (0.3, 0.8, 1.2)
  a, b = map(jnp.asarray, zip(*(random_linear(rng, 8, r) for r in radii)))
  batch_map = jax.vmap(lambda v, a, b: a @ v + b)
  v = jnp.asarray(rng.normal(size=(3, 8)))
  estimate = spectral_radius(batch_map, v, a, b, key=jax.random.key(0), iterations=200, batched=True)
  np.testing.assert_allclose(estimate, radii, rtol=2e-2)
  single = spectral_radius(lambda v, a, b: a @ v + b, v[1], a[1], b[1], key=jax.random.key(0), iterations=200)
  np.testing.assert_allclose(single, radii[1], rtol=2e-2)


@pytest.mark.parametrize("name, contraction", [("id_vin", 0.0), ("id_vin", 0.7), ("id_conv_gppn", 0.0)])
def test_spectral_radius_of_a_planner_cell_matches_its_dense_jacobian(x64, name, contraction):
  """A tiny grid: the estimate at a point against ``max |eig(∂f/∂v)|`` from the dense Jacobian."""
  planner = ip.make_planner(name, l_h=3, l_q=4, k_fwd=20, dtype="float64", contraction=contraction, reward_channels=1)
  rng = np.random.default_rng(1)
  batch = {"maps": jnp.asarray((rng.random((1, 4, 4)) > 0.2).astype(np.float64)), "goals": jnp.array([[1, 2]])}
  params = planner.init(jax.random.key(1), batch)
  cell_params = params["params"]["cell"]
  if contraction == 0.0 and name == "id_vin":  # the zero-initialised value kernel: make it random
    kernel = cell_params["kernel"]
    cell_params = {"kernel": kernel.at[:, :, 1:].set(jnp.asarray(rng.normal(size=kernel[:, :, 1:].shape)) / 3)}
  cell = planner.spec.family.cell(planner.options, parent=None)
  rewards = jnp.asarray(rng.normal(size=(1, 4, 4, 1)))
  context = cell.apply({"params": cell_params}, rewards, method="prepare")
  state = jax.tree.map(lambda z: z + jnp.asarray(rng.normal(size=z.shape)), cell.zero_state(rewards))

  def f(state, params, context):
    return cell.apply({"params": params}, state, context)

  jacobian = jax.jacrev(lambda s: f(s, cell_params, context))(state)
  n = state.size
  dense = np.asarray(jacobian).reshape(n, n)
  exact = np.max(np.abs(np.linalg.eigvals(dense)))
  estimate = spectral_radius(f, state, cell_params, context, key=jax.random.key(2), iterations=400, batched=True)
  np.testing.assert_allclose(estimate[0], exact, rtol=3e-2)


def test_phantom_gradient_is_the_backpropagated_gradient_of_its_damped_steps(x64):
  rng = np.random.default_rng(3)
  a, b = map(jnp.asarray, random_linear(rng, 6, 0.8))
  f = lambda v, a, b: jnp.tanh(a @ v + b)
  forward = ForwardIteration(max_iter=500, tol=1e-13)
  phantom = Phantom(forward, steps=3, damping=0.6)

  def loss(mode, a, b):
    v, _ = mode(f, jnp.zeros(6), a, b)
    return jnp.sum(jnp.sin(v))

  def by_hand(a, b):
    v_star, _ = ip.solve(f, jnp.zeros(6), *jax.lax.stop_gradient((a, b)), solver=forward)
    v = v_star
    for _ in range(3):
      v = 0.4 * v + 0.6 * f(v, a, b)
    return jnp.sum(jnp.sin(v))

  ours = jax.grad(lambda a, b: loss(phantom, a, b), argnums=(0, 1))(a, b)
  expected = jax.grad(by_hand, argnums=(0, 1))(a, b)
  for g, e in zip(ours, expected):
    np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
  # Many undamped steps from the fixed point sum the Neumann series: the implicit gradient.
  implicit = ip.Implicit(forward, Anderson(max_iter=100, tol=1e-13))
  long = jax.grad(lambda a, b: loss(Phantom(forward, steps=300, damping=1.0), a, b), argnums=(0, 1))(a, b)
  exact = jax.grad(lambda a, b: loss(implicit, a, b), argnums=(0, 1))(a, b)
  for g, e in zip(long, exact):
    np.testing.assert_allclose(g, e, rtol=1e-8, atol=1e-12)


def test_phantom_is_refused_with_bad_settings():
  with pytest.raises(ValueError, match="steps"):
    Phantom(ForwardIteration(), steps=0)
  with pytest.raises(ValueError, match="damping"):
    Phantom(ForwardIteration(), damping=0.0)


def test_jacobian_penalty_estimates_the_squared_frobenius_norm(x64):
  rng = np.random.default_rng(4)
  a, b = map(jnp.asarray, zip(*(random_linear(rng, 8, r) for r in (0.5, 0.9))))
  batch_map = jax.vmap(lambda v, a, b: jnp.tanh(a @ v + b))
  v = jnp.asarray(rng.normal(size=(2, 8)))
  keys = jax.random.split(jax.random.key(5), 4000)
  samples = jax.vmap(lambda key: ip.equilibrium.jacobian_penalty(batch_map, v, a, b, key=key, batched=True))(keys)
  dense = jax.vmap(jax.jacfwd(lambda v, a, b: jnp.tanh(a @ v + b)))(v, a, b)
  exact = jnp.sum(dense**2, axis=(1, 2)) / 8
  np.testing.assert_allclose(jnp.mean(samples, axis=0), exact, rtol=0.05)
  grad = jax.grad(lambda a: jnp.sum(ip.equilibrium.jacobian_penalty(batch_map, v, a, b, key=keys[0], batched=True)))(a)
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)  # differentiable in the map's arguments


@pytest.mark.parametrize("implicit", [False, True])
def test_supervised_iterates_cut_the_budget_and_get_their_own_gradients(x64, implicit):
  """`with_iterates`: the final state is the mode's over the whole budget (plain iteration); an
  intermediate state's gradient is backpropagation through its segment (unrolled) or through one
  step from it (implicit: the Jacobian-free gradient)."""
  rng = np.random.default_rng(5)
  a, b = map(jnp.asarray, random_linear(rng, 6, 0.8))
  f = lambda v, a, b: jnp.tanh(a @ v + b)
  mode = ip.Implicit(ForwardIteration(max_iter=7, tol=0.0), Anderson(max_iter=50)) if implicit else ip.Unrolled(7)

  def loss(a, b):
    v, stats, iterates = ip.with_iterates(mode, f, jnp.zeros(6), a, b, num_iterates=2)
    return jnp.sum(jnp.sin(v)), (jnp.sum(jnp.cos(iterates[0]) + jnp.cos(iterates[1])), stats)

  def by_hand(a, b):
    v, iterates = jnp.zeros(6), []
    for step in range(7):
      if step in (2, 4):
        iterates.append(f(jax.lax.stop_gradient(v), a, b) if implicit else v)
      v = f(v, a, b)
    return jnp.sum(jnp.cos(iterates[0]) + jnp.cos(iterates[1]))

  (value, (iterate_value, stats)), _ = jax.value_and_grad(loss, has_aux=True)(a, b)
  plain, _ = mode(f, jnp.zeros(6), a, b)
  np.testing.assert_allclose(value, jnp.sum(jnp.sin(plain)), rtol=1e-14)
  np.testing.assert_allclose(iterate_value, by_hand(a, b), rtol=1e-14)
  assert int(stats.iterations) == 7
  ours = jax.grad(lambda a, b: loss(a, b)[1][0], argnums=(0, 1))(a, b)
  expected = jax.grad(by_hand, argnums=(0, 1))(a, b)
  for g, e in zip(ours, expected):
    np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
  with pytest.raises(ValueError, match="budget of at least 8"):
    ip.with_iterates(mode, f, jnp.zeros(6), a, b, num_iterates=7)


def test_a_per_problem_budget_reaches_the_phantom_solve_and_is_refused_unrolled(x64):
  rng = np.random.default_rng(3)
  a = jnp.asarray(random_linear(rng, 5, 0.9)[0])
  b = jnp.asarray(rng.normal(size=(2, 5)))
  f = lambda v, a, b: v @ a.T + b
  budgets = jnp.array([4, 9])
  v, stats = Phantom(ForwardIteration(max_iter=6, tol=0.0), steps=2)(
    f, jnp.zeros_like(b), a, b, batched=True, budget=budgets
  )
  np.testing.assert_array_equal(stats.iterations, budgets)
  for i, k in enumerate(budgets.tolist()):
    alone, _ = Phantom(ForwardIteration(max_iter=k, tol=0.0), steps=2)(
      f, jnp.zeros_like(b[i : i + 1]), a, b[i : i + 1], batched=True
    )
    np.testing.assert_allclose(v[i], alone[0], rtol=1e-13)
  with pytest.raises(ValueError, match="per-problem budget"):
    Unrolled(3)(f, jnp.zeros_like(b), a, b, batched=True, budget=budgets)
