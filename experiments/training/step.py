"""The jitted training step: gather a batch, draw labels, differentiate, update, report.

The dataset lives on the device; each step gathers its batch inside the jitted step from the
epoch's permutation, which (like the label draws) is a pure function of (seed, epoch, step), so a
resumed run repeats the draws of an uninterrupted one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import implicit_planning as ip
from experiments.training import model
from experiments.training.config import Config
from experiments.training.data import DeviceSplit
from experiments.training.losses import cell_loss, sample_labels
from experiments.training.model import JACOBIAN_STREAM, LABEL_STREAM, PERMUTATION_STREAM, TrainState
from implicit_planning import metrics


def epoch_permutations(keys: jax.Array, epoch: jax.Array, num_maps: int) -> jax.Array:
  """[S, num_maps] order in which each seed visits the training maps in `epoch`."""

  def one_seed(key):
    key = jax.random.fold_in(jax.random.fold_in(key, PERMUTATION_STREAM), epoch)
    return jax.random.permutation(key, num_maps)

  return jax.vmap(one_seed)(keys)


def make_train_step(planner: ip.Planner, optimizer: optax.GradientTransformation, config: Config):
  """Jitted `(state, train, perms, epoch, step) -> (state, {name: [S] array})`.

  `train` is the training `DeviceSplit`, `perms` [S, N] this epoch's permutations, `epoch` and
  `step` int32 scalars (traced: one compilation for the whole run). Reported per seed: loss,
  gradient norm (before clipping), forward/backward solver iterations and last residuals
  (mean and max over the batch), and the greedy policy's %Optimal/%Success/%Accuracy on the
  batch (params before the update).
  """
  batch_size, wrap, label_mode = config.batch_size, config.wrap, config.label

  def one_seed(params, opt_state, key, perm, train, epoch, step):
    index = jax.lax.dynamic_slice(perm, (step * batch_size,), (batch_size,))
    batch = {name: array[index] for name, array in train.items()}
    opt_actions = batch["opt_actions"]
    stream_key = lambda stream: jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, stream), epoch), step)
    labels = sample_labels(stream_key(LABEL_STREAM), opt_actions)
    penalty_key = stream_key(JACOBIAN_STREAM) if config.jacobian_reg else None

    def loss_fn(params, probe):
      logits, _, stats = planner.apply(params, batch, probe=probe, penalty_key=penalty_key)
      loss = cell_loss(logits, opt_actions, labels, label_mode)
      penalty = jnp.mean(stats.jacobian_penalty) if config.jacobian_reg else jnp.zeros(())
      return loss + config.jacobian_reg * penalty, (loss, penalty, logits, stats.forward)

    (_, (loss, penalty, logits, forward)), (grads, backward) = jax.value_and_grad(
      loss_fn, argnums=(0, 1), has_aux=True
    )(params, ip.backward_probe(batch_size))
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    policy = metrics.policy_metrics(metrics.greedy_actions(logits), batch["dist"], batch["goals"], wrap)
    out = {
      "loss": loss,
      "jacobian_penalty": penalty,
      "grad_norm": optax.tree.norm(grads),
      "train_optimal": jnp.nanmean(policy.optimal),
      "train_success": jnp.nanmean(policy.success),
      "train_accuracy": jnp.nanmean(policy.accuracy),
    }
    for prefix, stats in (("fwd", forward), ("bwd", backward)):
      for field in ("iterations", "residual"):
        value = jnp.asarray(getattr(stats, field), jnp.float32)
        out[f"{prefix}_{field}_mean"] = jnp.mean(value)
        out[f"{prefix}_{field}_max"] = jnp.max(value)
    return params, opt_state, out

  @jax.jit
  def train_step(state: TrainState, train: DeviceSplit, perms, epoch, step):
    seeded = (state.params, state.opt_state, state.key, perms)
    params, opt_state, out = model.over_seeds(one_seed, seeded, (train, epoch, step), config.seed_batch)
    return TrainState(params, opt_state, state.key), out

  return train_step
