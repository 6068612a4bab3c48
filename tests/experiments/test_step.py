"""The training step: one compilation for a whole run, labels among the optimal actions, the losses,
and the seed axis."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.training import data, losses, model, step
from experiments.training.config import ConfigError


def test_train_step_compiles_once_for_every_epoch_and_step(tiny):
  config = tiny(planner="vin", seeds=2)
  split = data.to_device(data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size).train)
  planner, optimizer = (
    model.make_planner(config),
    model.make_optimizer(config, data.num_maps(split) // config.batch_size),
  )
  state = model.init_state(planner, optimizer, config, split)
  draw_batches, train_step = step.make_draw_batches(planner, config), step.make_train_step(planner, optimizer, config)
  for epoch in range(2):
    perms = step.epoch_permutations(state.key, jnp.int32(epoch), data.num_maps(split))
    for i in range(2):
      batches = draw_batches(split, perms, jnp.int32(i))
      state, _, out = train_step(state, jnp.ones(2, bool), batches, jnp.int32(epoch), jnp.int32(i))
  assert out["loss"].shape == (2,)
  second = perms[1, config.batch_size : 2 * config.batch_size]
  np.testing.assert_array_equal(batches["maps"][1], split["maps"][second])  # seed 1's second batch
  assert train_step._cache_size() == 1 and draw_batches._cache_size() == 1  # pylint: disable=protected-access


def test_learning_rate_warms_up_linearly_then_stays_or_follows_a_half_cosine(tiny):
  """Over all epochs after the warm-up, or over the last ``decay_epochs``."""
  peak, steps_per_epoch = 1e-3, 10  # tiny: 2 epochs, 20 steps
  assert model.learning_rate(tiny(learning_rate=peak), steps_per_epoch) == peak  # the paper's constant
  warm = model.learning_rate(tiny(learning_rate=peak, warmup_epochs=0.5), steps_per_epoch)
  cosine = model.learning_rate(tiny(learning_rate=peak, warmup_epochs=0.5, lr_schedule="cosine"), steps_per_epoch)
  for schedule in (warm, cosine):
    np.testing.assert_allclose([schedule(0), schedule(2), schedule(5)], [0.0, 0.4 * peak, peak], rtol=1e-6)
  np.testing.assert_allclose([warm(12), warm(20)], [peak, peak], rtol=1e-6)
  # After the warm-up, peak * (1 + cos(pi * t / 15)) / 2 over the remaining 15 steps.
  t = np.array([5.0, 10.0, 15.0])
  np.testing.assert_allclose([cosine(5 + s) for s in t], peak * (1 + np.cos(np.pi * t / 15)) / 2, atol=1e-9)
  # decay_epochs = 1: the peak until step 10, then the half cosine over the last 10 steps.
  late = model.learning_rate(tiny(learning_rate=peak, lr_schedule="cosine", decay_epochs=1), steps_per_epoch)
  t = np.array([0.0, 5.0, 10.0])
  np.testing.assert_allclose([late(0), late(9)], [peak, peak], rtol=1e-6)
  np.testing.assert_allclose([late(10 + s) for s in t], peak * (1 + np.cos(np.pi * t / 10)) / 2, atol=1e-9)


@pytest.mark.parametrize("bias_correction", [False, True])
def test_optimizer_is_pytorchs_rmsprop_with_an_optional_bias_correction(tiny, bias_correction):
  """Three steps against PyTorch's recurrence written out: v ← α v + (1 − α) g², Δ = −lr g / (√v̂ + ε),
  v̂ = v (PyTorch: the first step is 1/√(1 − α) = 10× lr per weight) or v / (1 − αᵗ)."""
  config = tiny(learning_rate=1e-3, rmsprop_bias_correction=bias_correction)
  optimizer = model.make_optimizer(config, steps_per_epoch=10)
  params = {"w": jnp.array([0.5, -1.0, 2.0])}
  state = optimizer.init(params)
  grads = [np.array([0.1, -0.2, 0.3]), np.array([0.3, 0.1, -0.1]), np.array([-0.2, 0.2, 0.05])]
  v, alpha, eps = np.zeros(3), config.rmsprop_decay, config.rmsprop_eps
  for t, g in enumerate(grads, start=1):
    updates, state = optimizer.update({"w": jnp.asarray(g, jnp.float32)}, state, params)
    v = alpha * v + (1 - alpha) * g**2
    v_hat = v / (1 - alpha**t) if bias_correction else v
    np.testing.assert_allclose(updates["w"], -1e-3 * g / (np.sqrt(v_hat) + eps), rtol=1e-5)
    if t == 1:
      np.testing.assert_allclose(np.abs(updates["w"]), 1e-3 * (1.0 if bias_correction else 10.0), rtol=1e-4)


def test_the_mappers_parameters_take_their_own_rate_under_the_runs_schedule(tiny):
  """RMSprop's step is linear in its rate: the same gradients give the mapper's leaves
  ``mapper_learning_rate / learning_rate`` times the planner's step, over a late decay too; 0 (the
  default) is one optimiser for both."""
  config = tiny(
    task="manip_workspace",
    size=18,
    mapper="workspace_unet",
    learning_rate=3e-3,
    mapper_learning_rate=1e-3,
    lr_schedule="cosine",
    decay_epochs=1,
  )
  grad = jnp.array([0.1, -0.2, 0.3])
  params = {"mapper": {"w": jnp.zeros(3)}, "planner": {"params": {"w": jnp.zeros(3)}}}
  grads = jax.tree.map(lambda _: grad, params)
  for mapper_rate, ratio in ((1e-3, 1 / 3), (0.0, 1.0)):
    optimizer = model.make_optimizer(config.replace(mapper_learning_rate=mapper_rate), steps_per_epoch=10)
    state = optimizer.init(params)
    for _ in range(15):  # into the late decay
      updates, state = optimizer.update(grads, state, params)
      np.testing.assert_allclose(updates["mapper"]["w"], ratio * updates["planner"]["params"]["w"], rtol=1e-5)
  assert float(jnp.abs(updates["planner"]["params"]["w"]).max()) > 0
  with pytest.raises(ConfigError, match="mapper_learning_rate=0.001 needs a --mapper"):
    tiny(mapper_learning_rate=1e-3)
  with pytest.raises(ConfigError, match="mapper_learning_rate must be >= 0"):
    config.replace(mapper_learning_rate=-1.0)


def test_the_mapper_can_take_adam_while_the_planner_keeps_rmsprop(tiny):
  """``mapper_optimizer="adam"``: the mapper's leaves step as optax's Adam at the mapper's rate and
  schedule, the planner's as without it; refused without a mapper, and an unknown name is named."""
  config = tiny(task="manip_workspace", size=18, mapper="workspace_unet", learning_rate=3e-3, mapper_learning_rate=1e-3)
  params = {"mapper": {"w": jnp.zeros(3)}, "planner": {"params": {"w": jnp.zeros(3)}}}
  gradients = [jnp.array([0.1, -0.2, 0.3]) * (1 + step % 3) for step in range(5)]
  both = model.make_optimizer(config.replace(mapper_optimizer="adam"), steps_per_epoch=10)
  rmsprop = model.make_optimizer(config, steps_per_epoch=10)
  adam = optax.adam(model.learning_rate(config, 10, 1e-3))
  states = both.init(params), rmsprop.init(params), adam.init(params["mapper"])
  for grad in gradients:
    grads = jax.tree.map(lambda _, grad=grad: grad, params)
    (updates, state), (planner_updates, planner_state), (mapper_updates, mapper_state) = (
      both.update(grads, states[0], params),
      rmsprop.update(grads, states[1], params),
      adam.update(grads["mapper"], states[2], params["mapper"]),
    )
    states = state, planner_state, mapper_state
    np.testing.assert_allclose(updates["mapper"]["w"], mapper_updates["w"], rtol=1e-6)
    np.testing.assert_allclose(updates["planner"]["params"]["w"], planner_updates["planner"]["params"]["w"], rtol=1e-6)
  with pytest.raises(ConfigError, match="mapper_optimizer=adam needs a --mapper"):
    tiny(mapper_optimizer="adam")
  with pytest.raises(ConfigError, match="unknown mapper_optimizer 'sgd'; known: rmsprop, adam"):
    config.replace(mapper_optimizer="sgd")


@pytest.mark.parametrize("scope", ["all", "init", "order"])
def test_seed_scope_decides_what_the_seeds_vary(tiny, scope):
  """Seeds differ in their initial parameters, their data-order keys or both; a shared part is seed 0's."""
  config = tiny(planner="vin", seeds=3, seed_scope=scope)
  split = data.to_device(data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size).train)
  start = lambda config: model.init_state(model.make_planner(config), model.make_optimizer(config, 1), config, split)
  state, seed_0 = start(config), start(config.replace(seeds=1))
  kernels = jax.tree.leaves(state.params)[0]  # a randomly initialised kernel, [S, ...]
  init_differs = len({np.asarray(kernel).tobytes() for kernel in kernels}) == 3
  order_differs = len({np.asarray(key).tobytes() for key in state.key}) == 3
  assert (init_differs, order_differs) == {"all": (True, True), "init": (True, False), "order": (False, True)}[scope]
  shared = {"init": (state.key, seed_0.key), "order": (kernels, jax.tree.leaves(seed_0.params)[0])}
  if scope in shared:
    ours, seed_0s = shared[scope]
    np.testing.assert_array_equal(ours[2], seed_0s[0])


def test_labels_are_drawn_among_the_optimal_actions():
  opt = np.zeros((2, 4, 3, 3), bool)
  opt[:, 1] = True
  opt[0, 3, 0, 0] = True
  labels = np.asarray(losses.sample_labels(jax.random.PRNGKey(0), opt))
  assert set(np.unique(labels[1])) == {1}
  draws = {int(losses.sample_labels(jax.random.PRNGKey(k), opt)[0, 0, 0]) for k in range(20)}
  assert draws == {1, 3}


def test_set_loss_is_minus_log_of_the_optimal_mass():
  logits = np.log(np.array([0.1, 0.2, 0.3, 0.4], np.float32))[None, :, None, None]
  opt = np.array([True, False, True, False])[None, :, None, None]
  loss = losses.cell_loss(logits, opt, np.zeros((1, 1, 1), np.int32), "set")
  np.testing.assert_allclose(loss, -np.log(0.4), rtol=1e-6)
  loss = losses.cell_loss(logits, opt, np.full((1, 1, 1), 2, np.int32), "one")
  np.testing.assert_allclose(loss, -np.log(0.3), rtol=1e-6)


def train_steps(config, split, num_steps, change_params=lambda params: params):
  """The state, `alive` and step outputs after ``num_steps`` steps of epoch 0 from the initial
  parameters as ``change_params`` leaves them."""
  planner, optimizer = (
    model.make_planner(config),
    model.make_optimizer(config, data.num_maps(split) // config.batch_size),
  )
  state = model.init_state(planner, optimizer, config, split)
  state = model.start_from(change_params(state.params), optimizer, state)
  draw_batches, train_step = step.make_draw_batches(planner, config), step.make_train_step(planner, optimizer, config)
  perms = step.epoch_permutations(state.key, jnp.int32(0), data.num_maps(split))
  alive = jnp.ones(config.seeds, bool)
  for i in range(num_steps):
    state, alive, out = train_step(state, alive, draw_batches(split, perms, jnp.int32(i)), jnp.int32(0), jnp.int32(i))
  return state, alive, out


def test_a_seed_whose_step_goes_non_finite_is_frozen_and_the_others_train_as_without_it(tiny):
  """Seed 1 starts from parameters with a NaN: its first step is not finite, so it keeps its
  parameters and optimiser state from then on and is no longer alive; seed 0 follows the same
  trajectory as in a run where seed 1 is healthy."""
  config = tiny(planner="vin", seeds=2)
  split = data.to_device(data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size).train)
  poison = lambda params: jax.tree.map(lambda leaf: leaf.at[1].set(jnp.nan), params)
  healthy, healthy_alive, _ = train_steps(config, split, num_steps=3)
  state, alive, out = train_steps(config, split, num_steps=3, change_params=poison)
  np.testing.assert_array_equal(healthy_alive, [True, True])
  np.testing.assert_array_equal(alive, [True, False])
  assert np.isfinite(out["loss"][0]) and not np.isfinite(out["loss"][1])
  start = model.init_state(model.make_planner(config), model.make_optimizer(config, 1), config, split)
  for leaf, poisoned, healthy_leaf in zip(
    jax.tree.leaves(state.params), jax.tree.leaves(poison(start.params)), jax.tree.leaves(healthy.params)
  ):
    np.testing.assert_array_equal(leaf[0], healthy_leaf[0])  # seed 0 as if seed 1 were healthy
    np.testing.assert_array_equal(leaf[1], poisoned[1])  # seed 1 never moved
  for leaf in jax.tree.leaves(state.opt_state):
    if jnp.ndim(leaf) and jnp.issubdtype(leaf.dtype, jnp.floating):
      assert np.all(np.isnan(leaf[1]) | (leaf[1] == 0))  # its moments were never updated


@pytest.mark.parametrize(
  "planner, options",
  [
    ("vin", {}),
    ("id_vin", {"forward_solver": "anderson", "seed_batch": 2}),
  ],
)
def test_seeds_trained_together_equal_seeds_trained_one_at_a_time(tiny, planner, options):
  """Three seeds in one program follow the same trajectories as three one-seed runs, all
  vectorised (VIN; the convolutions run per seed) or in groups of 2 vectorised seeds (ID-VIN,
  the last group one seed short; the solves fold the seed axis into their rows and stop each
  row on its own).

  ID-VIN with all seeds vectorised, ID-SymVIN, ID-ConvGPPN, GPPN and groups of 1 passed the same
  test on 2026-11-29; they are left out for CI time: they exercise the same two mechanisms."""
  config = tiny(planner=planner, seeds=3, **{"seed_batch": 0, **options})
  split = data.to_device(data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size).train)
  together, _, out = train_steps(config, split, num_steps=3)
  for s in range(3):
    alone, _, out_alone = train_steps(config.replace(seed=config.seed + s, seeds=1), split, num_steps=3)
    for a, b in zip(jax.tree.leaves(together.params), jax.tree.leaves(alone.params)):
      np.testing.assert_allclose(a[s], b[0], rtol=2e-4, atol=2e-6)
    for name in ("loss", "fwd_iterations_mean", "bwd_iterations_mean"):
      np.testing.assert_allclose(out[name][s], out_alone[name][0], rtol=1e-4)


def test_supervised_iterates_add_their_mean_loss_with_its_weight(tiny):
  """The step reports the intermediate read-outs' loss, and the total is the weighted sum."""
  config = tiny(planner="id_vin", supervised_iterates=2, iterate_loss_weight=0.5)
  split = data.to_device(data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size).train)
  _, _, out = train_steps(config, split, num_steps=1)
  np.testing.assert_allclose(out["loss"], out["policy_loss"] + 0.5 * out["iterate_loss"], rtol=1e-6)
  assert np.all(out["iterate_loss"] > 0)


def test_budget_jitter_draws_one_forward_budget_per_seed_and_step_in_its_range(tiny):
  """Draws cover [k_fwd (1 - j), k_fwd (1 + j)]; a step iterates every map of a seed for its draw."""
  config = tiny(planner="id_conv_gppn", k_fwd=10, budget_jitter=0.5, forward_tol=0.0, seeds=2)
  assert config.budget_range == (5, 15)
  draws = {int(step.draw_budget(jax.random.key(i), config)[0]) for i in range(300)}
  assert draws == set(range(5, 16))
  split = data.to_device(data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size).train)
  iterations = [train_steps(config, split, num_steps=n)[2] for n in (1, 2)]
  for out in iterations:
    np.testing.assert_array_equal(out["fwd_iterations_mean"], out["fwd_iterations_max"])
    assert np.all((out["fwd_iterations_max"] >= 5) & (out["fwd_iterations_max"] <= 15))
  assert len({float(x) for out in iterations for x in out["fwd_iterations_max"]}) > 1  # seeds and steps differ
  with pytest.raises(ConfigError, match="explicit"):
    tiny(planner="conv_gppn", budget_jitter=0.5)
  with pytest.raises(ConfigError, match="budget_jitter must be"):
    tiny(planner="id_vin", budget_jitter=1.0)
