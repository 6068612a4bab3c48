"""The training step: gather each seed's batch, then draw labels, differentiate, update, report.

The dataset lives on the device; each step gathers its batches from the epoch's permutations,
which (like the label draws) are a pure function of (seed, epoch, step), so a resumed run repeats
the draws of an uninterrupted one. Gathering (and rendering what is observed, `data.gather`) is
its own compiled program: compiled into the update, the rendered views made XLA:CPU run the
panorama mapper's first layer 7× slower (8.6 s against 3.2 s a step, one core).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

import implicit_planning as ip
from experiments.training import model
from experiments.training.config import Config
from experiments.training.data import DeviceSplit, gather, observes_views
from experiments.training.losses import cell_loss, map_loss, obstacle_loss, sample_labels
from experiments.training.model import BUDGET_STREAM, JACOBIAN_STREAM, LABEL_STREAM, PERMUTATION_STREAM, TrainState
from implicit_planning import metrics
from implicit_planning.planners import Batch


def epoch_permutations(keys: jax.Array, epoch: jax.Array, num_maps: int) -> jax.Array:
  """[S, num_maps] order in which each seed visits the training maps in `epoch`."""

  def one_seed(key):
    key = jax.random.fold_in(jax.random.fold_in(key, PERMUTATION_STREAM), epoch)
    return jax.random.permutation(key, num_maps)

  return jax.vmap(one_seed)(keys)


def make_draw_batches(planner: ip.Planner, config: Config, sharding: jax.sharding.Sharding | None = None):
  """Jitted `(train, perms, step) -> batches`: each seed's batch of global step `step` of the epoch.

  `train` is the training `DeviceSplit`, `perms` [S, N] this epoch's permutations, `step` an int32
  scalar; every entry of `batches` (`data.gather`, rendering the views only for a ``planner`` that
  reads them) has a leading seed axis [S, B, ...], laid out as ``sharding`` (`parallel`) if given.
  """
  batch_size, render = config.batch_size, observes_views(planner.inputs)

  @functools.partial(jax.jit, out_shardings=sharding)
  def draw_batches(train: DeviceSplit, perms: jax.Array, step: jax.Array) -> Batch:
    index = jax.lax.dynamic_slice_in_dim(perms, step * batch_size, batch_size, axis=1)
    return jax.vmap(lambda one: gather(train, one, render))(index)

  return draw_batches


FINITE_CHECKS = {
  "loss": "loss",
  "grad_norm": "gradient norm",
  "fwd_residual_max": "forward-solve residual (the forward solve diverged)",
  "bwd_residual_max": "backward-solve residual (the backward solve diverged)",
}
"""Per-step quantities that must stay finite for a seed to go on training, and how messages name them."""


def draw_budget(key: jax.Array, config: Config) -> jax.Array:
  """[batch_size] forward budgets of one seed's step: one draw from `Config.budget_range`, for every map."""
  least, most = config.budget_range
  return jnp.full((config.batch_size,), jax.random.randint(key, (), least, most + 1), jnp.int32)


def make_train_step(planner: ip.Planner, optimizer: optax.GradientTransformation, config: Config):
  """Jitted `(state, alive, batches, epoch, step) -> (state, alive, {name: [S] array})`.

  `alive` [S] bools: the seeds still training. A seed whose step gives a non-finite
  `FINITE_CHECKS` quantity keeps its parameters and optimiser state from before that step and
  is not alive from then on (frozen: one diverging seed does not stop the others, and its last
  finite parameters stay what it trained). `batches` are the seeds' batches
  (`make_draw_batches`), `epoch` and `step` int32 scalars
  (traced: one compilation for the whole run). Reported per seed: the loss and
  its terms (``policy_loss``, ``map_loss``, ``field_loss``, ``iterate_loss``, ``jacobian_penalty``: those the run
  has), the gradient norm (before clipping) and the norm of the optimiser's update (after the
  learning rate: the step the weights take); for a run that plans, forward/backward solver iterations and last
  residuals (mean and max over the batch) and the greedy policy's %Optimal/%Success/%Accuracy on
  the batch; for a run that maps, the map's per-cell %accuracy, and with ``field_loss`` the field's at the fine
  raster's points (params before the update).
  """
  batch_size, wrap, label_mode = config.batch_size, config.wrap, config.label
  # The joint phase adds the mapper's loss to the planner's; the mapper's pretraining has only it.
  loss_weights = {
    "policy_loss": 1.0,
    "map_loss": config.map_loss_weight if config.plans else 1.0,
    "iterate_loss": config.iterate_loss_weight,
    "jacobian_penalty": config.jacobian_reg,
    "field_loss": config.field_loss_weight,
  }
  supervise_field = config.maps and config.field_loss_weight > 0
  # the field covers the image, [-extent, extent]², as the dataset's (`model.check_observation_fits`)
  extent = model.field_extent(config) if supervise_field else None

  def one_seed(params, opt_state, key, alive, batch, epoch, step):
    opt_actions = batch["opt_actions"]
    stream_key = lambda stream: jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, stream), epoch), step)
    labels = sample_labels(stream_key(LABEL_STREAM), opt_actions)
    penalty_key = stream_key(JACOBIAN_STREAM) if config.jacobian_reg else None
    budget = draw_budget(stream_key(BUDGET_STREAM), config) if config.budget_jitter else None

    def loss_fn(params, probe):
      out = planner.apply(params, batch, probe=probe, penalty_key=penalty_key, budget=budget)
      losses, field_scores = {}, {}
      if config.plans:
        losses["policy_loss"] = cell_loss(out.logits, opt_actions, labels, label_mode)
        if out.iterate_logits:
          iterate_losses = [cell_loss(logits, opt_actions, labels, label_mode) for logits in out.iterate_logits]
          losses["iterate_loss"] = sum(iterate_losses) / len(iterate_losses)
      if config.maps:
        losses["map_loss"] = map_loss(out.map_logits, batch["maps"])
      if supervise_field:
        field, occupied = ip.mappers.occupancy.occupancy_logits_and_labels(
          out.field_logits, batch["polygons"], batch["polygon_present"], batch["workspace"].shape[-1], extent
        )
        losses["field_loss"] = obstacle_loss(field, occupied)
        field_scores["train_field_accuracy"] = 100 * jnp.mean((field > 0) == occupied)
      if config.jacobian_reg:
        losses["jacobian_penalty"] = jnp.mean(out.stats.jacobian_penalty)
      total = sum(loss_weights[name] * value for name, value in losses.items())
      return total, (losses, out, field_scores)

    (loss, (losses, out, field_scores)), (grads, backward) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
      params, ip.backward_probe(batch_size)
    )
    updates, new_opt_state = optimizer.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    reported = {
      "loss": loss,
      **losses,
      **field_scores,
      "grad_norm": optax.tree.norm(grads),
      "update_norm": optax.tree.norm(updates),
    }
    if config.plans:
      policy = metrics.policy_metrics(metrics.greedy_actions(out.logits), batch["dist"], batch["goals"], wrap)
      reported.update(
        train_optimal=jnp.nanmean(policy.optimal),
        train_success=jnp.nanmean(policy.success),
        train_accuracy=jnp.nanmean(policy.accuracy),
      )
      for prefix, stats in (("fwd", out.stats.forward), ("bwd", backward)):
        for field in ("iterations", "residual"):
          value = jnp.asarray(getattr(stats, field), jnp.float32)
          reported[f"{prefix}_{field}_mean"] = jnp.mean(value)
          reported[f"{prefix}_{field}_max"] = jnp.max(value)
    if config.maps:
      reported["train_map_accuracy"] = jnp.mean(ip.mappers.map_scores(out.map_logits, batch["maps"]).accuracy)
    finite = jnp.all(jnp.stack([jnp.isfinite(reported[name]) for name in FINITE_CHECKS if name in reported]))
    alive = alive & finite
    keep = lambda new, old: jnp.where(alive, new, old)
    return jax.tree.map(keep, new_params, params), jax.tree.map(keep, new_opt_state, opt_state), alive, reported

  @jax.jit
  def train_step(state: TrainState, alive: jax.Array, batches: Batch, epoch, step):
    seeded = (state.params, state.opt_state, state.key, alive, batches)
    params, opt_state, alive, out = model.over_seeds(one_seed, seeded, (epoch, step), config.seed_batch)
    return TrainState(params, opt_state, state.key), alive, out

  return train_step
