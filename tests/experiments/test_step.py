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


@pytest.mark.parametrize("seeds", [1, 3])
def test_over_seeds_equals_vmap(seeds):
  def fn(params, x, shared):
    return {"y": params["w"] * x + shared, "n": jnp.sum(params["w"])}

  params = {"w": jnp.arange(seeds * 4.0).reshape(seeds, 4)}
  x, shared = jnp.arange(seeds * 4.0).reshape(seeds, 4) + 1, jnp.float32(2.0)
  expected = jax.vmap(fn, in_axes=(0, 0, None))(params, x, shared)
  got = model.over_seeds(fn, in_axes=(0, 0, None))(params, x, shared)
  jax.tree.map(np.testing.assert_array_equal, got, expected)
  assert jax.tree.map(jnp.shape, got) == jax.tree.map(jnp.shape, expected)
