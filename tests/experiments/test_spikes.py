"""The update-spike clip against its recurrence written out, and through the training config."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.training import ConfigError, model, presets, spikes


def test_a_spike_is_scaled_to_the_bound_and_the_mean_takes_the_clipped_norm():
  clip = spikes.clip_update_spikes(factor=2.0, decay=0.5)
  state = clip.init({"w": jnp.zeros(2)})
  mean, count = 0.0, 0
  for norm in (1.0, 1.0, 10.0, 1.0):
    update = {"w": jnp.array([0.6, 0.8]) * norm}  # global norm `norm`
    out, state = clip.update(update, state)
    bound = 2.0 * mean / (1 - 0.5**count) if count else np.inf
    expected = min(norm, bound)
    np.testing.assert_allclose(float(optax.tree.norm(out)), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out["w"]) / expected, [0.6, 0.8], rtol=1e-6)  # direction kept
    mean, count = 0.5 * mean + 0.5 * expected, count + 1
    np.testing.assert_allclose(float(state.mean_norm), mean, rtol=1e-6)
  assert int(state.count) == 4


def test_the_optimiser_clips_only_with_the_flag_and_the_flag_needs_a_factor_above_one():
  config = presets.test().replace(clip_norm=1e9)  # no gradient clipping
  params = {"w": jnp.ones(3)}
  grads = [{"w": jnp.full(3, 1.0)}] * 20 + [{"w": jnp.full(3, 100.0)}]

  def update_norms(config):
    optimizer = model.make_optimizer(config, steps_per_epoch=10)
    state, norms = optimizer.init(params), []
    for g in grads:
      update, state = optimizer.update(g, state, params)
      norms.append(float(optax.tree.norm(update)))
    return np.array(norms)

  plain, clipped = update_norms(config), update_norms(config.replace(update_clip=1.5))
  # RMSprop turns the 100× gradient into a step over three times the one before ...
  assert plain[-1] > 3 * plain[-2]
  # ... which the clip caps at 1.5× the mean of the earlier ones (none of them was clipped).
  np.testing.assert_allclose(clipped[:-1], plain[:-1], rtol=1e-6)
  assert plain[-2] < clipped[-1] <= 1.5 * plain[:-1].max()
  with pytest.raises(ConfigError, match="update_clip must be 0 .off. or > 1"):
    config.replace(update_clip=0.5)
