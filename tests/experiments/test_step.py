"""The training step: one compilation for a whole run, labels among the optimal actions, the losses,
and the seed axis."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.training import data, losses, model, step


def test_train_step_compiles_once_for_every_epoch_and_step(tiny):
  config = tiny(planner="vin", seeds=2)
  split = data.to_device(data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size).train)
  planner, optimizer = model.make_planner(config), model.make_optimizer(config)
  state = model.init_state(planner, optimizer, config, split)
  train_step = step.make_train_step(planner, optimizer, config)
  for epoch in range(2):
    perms = step.epoch_permutations(state.key, jnp.int32(epoch), data.num_maps(split))
    for i in range(2):
      state, out = train_step(state, split, perms, jnp.int32(epoch), jnp.int32(i))
  assert out["loss"].shape == (2,)
  assert train_step._cache_size() == 1  # pylint: disable=protected-access


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


def train_steps(config, split, num_steps):
  """The state and step outputs after ``num_steps`` steps of epoch 0."""
  planner, optimizer = model.make_planner(config), model.make_optimizer(config)
  state = model.init_state(planner, optimizer, config, split)
  train_step = step.make_train_step(planner, optimizer, config)
  perms = step.epoch_permutations(state.key, jnp.int32(0), data.num_maps(split))
  for i in range(num_steps):
    state, out = train_step(state, split, perms, jnp.int32(0), jnp.int32(i))
  return state, out


@pytest.mark.parametrize(
  "planner, options",
  [
    ("vin", {}),
    ("id_vin", {"forward_solver": "anderson"}),
    ("id_vin", {"forward_solver": "anderson", "seed_batch": 2}),
  ],
)
def test_seeds_trained_together_equal_seeds_trained_one_at_a_time(tiny, planner, options):
  """Three seeds in one program follow the same trajectories as three one-seed runs, all
  vectorised (the solves fold the seed axis into their rows and stop each row on its own, the
  convolutions run per seed) or in groups of 2 (the last group one seed short).

  ID-SymVIN, ID-ConvGPPN, GPPN and groups of 1 passed the same test on 2026-11-29; they are left
  out for CI time (about 4 min on two cores): they exercise the same two mechanisms."""
  config = tiny(planner=planner, seeds=3, **{"seed_batch": 0, **options})
  split = data.to_device(data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size).train)
  together, out = train_steps(config, split, num_steps=3)
  for s in range(3):
    alone, out_alone = train_steps(config.replace(seed=config.seed + s, seeds=1), split, num_steps=3)
    for a, b in zip(jax.tree.leaves(together.params), jax.tree.leaves(alone.params)):
      np.testing.assert_allclose(a[s], b[0], rtol=2e-4, atol=2e-6)
    for name in ("loss", "fwd_iterations_mean", "bwd_iterations_mean"):
      np.testing.assert_allclose(out[name][s], out_alone[name][0], rtol=1e-4)
