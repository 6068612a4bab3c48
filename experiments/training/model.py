"""The trained model: planner, optimiser and the training state with a leading seed axis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

import implicit_planning as ip
from experiments.training import data, spikes
from experiments.training.config import Config
from experiments.training.data import DeviceSplit, gather

# Streams of randomness derived from each seed's key with `jax.random.fold_in`.
INIT_STREAM, PERMUTATION_STREAM, LABEL_STREAM, JACOBIAN_STREAM, BUDGET_STREAM = 0, 1, 2, 3, 4


class TrainState(NamedTuple):
  """Training state of all seeds; every leaf has a leading seed axis [S].

  Attributes:
    params: planner parameters.
    opt_state: optimiser state.
    key: [S, 2] uint32 base PRNG key of each seed's data order and label draws. Every random
      draw is `fold_in` of this key with (stream, epoch, step), so a run resumed at an epoch
      boundary repeats exactly the draws of an uninterrupted one.
  """

  params: Any
  opt_state: Any
  key: jax.Array


def make_planner(config: Config, k_fwd: int | None = None) -> ip.Planner:
  """The configured model; ``k_fwd`` overrides the forward budget (and K of explicit planners).

  Without a mapper, the planner. With one (`Config.mapper`), the phase's model: the mapper alone
  (``phase="mapper"``), the planner alone on the true map (``"planner"``), or the planner on the
  mapper's map (``"joint"``, ``"all"``, ``"end_to_end"``), parameters ``{"mapper", "planner"}``.
  """
  planner = ip.make_planner(config.planner, config.planner_options)
  if k_fwd is not None:
    planner = ip.with_mode(planner, k=k_fwd, k_fwd=k_fwd)
  if not config.maps:
    return planner
  observation, mapper = ip.make_mapper(config.mapper, config.size, config.mapper_width, config.jax_dtype)
  return ip.with_mapper(planner, mapper, observation, plan=config.plans)


def check_observation_fits(config: Config, meta: dict[str, Any], source: str) -> None:
  """Refuses a dataset whose workspace images the configured mapper was not built for.

  Raises:
    data.DataMismatchError: the images' size or extent, or the arm, differs from what the mapper
      reads (`WorkspaceMapper.misfit`, `SweepMapper.misfit`).
  """
  if not config.mapper or ip.mappers.MAPPERS[config.mapper][0] != "workspace":
    return
  arm = meta.get("generator_options", {})
  image_size, extent, links = arm.get("image_size"), arm.get("extent"), tuple(arm.get("link_lengths", ()))
  misfit = ip.make_mapper(config.mapper, config.size, config.mapper_width)[1].misfit(image_size, extent, links)
  if misfit:
    raise data.DataMismatchError(
      f"dataset {source} has {image_size}-pixel workspace images of half-side {extent} and an arm of links "
      f"{links} reaching {sum(links) if links else float('nan')}; mapper {config.mapper} {misfit}"
    )


def true_map_planner(config: Config, k_fwd: int | None = None) -> ip.Planner | None:
  """The planner of a joint (mapper + planner) run alone, to score it on the true maps; else None."""
  if not (config.maps and config.plans):
    return None
  return make_planner(config.replace(phase="planner", planner_from=""), k_fwd)


def field_extent(config: Config) -> float | None:
  """Half the side of the workspace image that the model's obstacle field covers (`mappers.occupancy`),
  or None: the phase's model has no mapper with a field."""
  if not (config.maps and ip.mappers.has_obstacle_field(config.mapper)):
    return None
  return ip.make_mapper(config.mapper, config.size)[1].sweep.extent


def learning_rate(config: Config, steps_per_epoch: int, peak: float | None = None) -> optax.ScalarOrSchedule:
  """The configured learning rate: a constant, or a schedule of the global step.

  A linear warm-up from 0 over ``warmup_epochs``, then the constant, or the peak until a half
  cosine that reaches 0 at the end of ``epochs`` over its last ``decay_epochs`` (0: all of them).
  ``peak`` replaces ``learning_rate`` (the mapper's rate under the same schedule).
  """
  warmup_steps = round(config.warmup_epochs * steps_per_epoch)
  peak = config.learning_rate if peak is None else peak
  total_steps = config.epochs * steps_per_epoch
  phases = [(0, optax.linear_schedule(0.0, peak, warmup_steps))] if warmup_steps else []
  phases.append((warmup_steps, optax.constant_schedule(peak)))
  if config.lr_schedule == "cosine":
    decay_steps = round(config.decay_epochs * steps_per_epoch) or total_steps - warmup_steps
    phases.append((total_steps - decay_steps, optax.cosine_decay_schedule(peak, decay_steps)))
  if len(phases) == 1:
    return peak
  return optax.join_schedules([schedule for _, schedule in phases], [start for start, _ in phases[1:]])


def make_optimizer(config: Config, steps_per_epoch: int) -> optax.GradientTransformation:
  """Global-norm clipping, then RMSprop as in PyTorch, at `learning_rate`.

  `torch.optim.RMSprop` divides by `sqrt(v) + eps` with `v` started at 0 and decay
  alpha = 0.99; optax's default adds eps *inside* the square root and decays with 0.9,
  so both are set explicitly (`eps_in_sqrt=False`, `decay=config.rmsprop_decay`). With `v`
  started at 0 the first step is 1 / sqrt(1 - alpha) = 10 times the learning rate per weight;
  `rmsprop_bias_correction` divides `v` by `1 - alpha^t` instead. With `mapper_learning_rate`
  the mapper's parameters (under the ``"mapper"`` key) take that peak, the planner's
  `learning_rate`, and with ``mapper_optimizer="adam"`` Adam; the clipping stays global.
  With `update_clip` the update's spikes are clipped after it (`spikes.clip_update_spikes`).
  """

  def rmsprop(peak: float) -> optax.GradientTransformation:
    return optax.rmsprop(
      learning_rate(config, steps_per_epoch, peak),
      decay=config.rmsprop_decay,
      eps=config.rmsprop_eps,
      eps_in_sqrt=False,
      bias_correction=config.rmsprop_bias_correction,
    )

  update = rmsprop(config.learning_rate)
  if config.mapper_learning_rate or config.mapper_optimizer != "rmsprop":
    peak = config.mapper_learning_rate or config.learning_rate
    mapper = (
      optax.adam(learning_rate(config, steps_per_epoch, peak)) if config.mapper_optimizer == "adam" else rmsprop(peak)
    )
    update = optax.multi_transform({"mapper": mapper, "planner": update}, part_labels)
  if config.update_clip:
    update = optax.chain(update, spikes.clip_update_spikes(config.update_clip))
  return optax.chain(optax.clip_by_global_norm(config.clip_norm), update)


def part_labels(params: Any) -> Any:
  """``"mapper"`` for each leaf under the parameters' ``"mapper"`` key, ``"planner"`` for the rest."""
  under_mapper = lambda path: getattr(path[0], "key", None) == "mapper"
  return jax.tree_util.tree_map_with_path(lambda path, _: "mapper" if under_mapper(path) else "planner", params)


def over_seeds(fn: Callable[..., Any], seeded: tuple[Any, ...], shared: tuple[Any, ...], seed_batch: int) -> Any:
  """``fn(*seeded_s, *shared)`` for every seed ``s`` of ``seeded`` (leaves with a leading seed axis).

  ``seed_batch = 0`` vectorises all seeds (``jax.vmap``: the solves fold the seed axis into their
  rows, the convolutions run one per seed); ``k > 0`` vectorises ``k`` seeds at a time and runs
  the groups one after another (``jax.lax.map``), so a step's working set is ``k`` seeds';
  ``-1`` picks 1 on CPU, where that was fastest for every planner on one core and on two
  threads, and 0 elsewhere (``docs/performance.md``).
  """
  if seed_batch == -1:
    seed_batch = 1 if jax.default_backend() == "cpu" else 0
  if seed_batch == 0 or seed_batch >= jax.tree.leaves(seeded)[0].shape[0]:
    return jax.vmap(fn, in_axes=(0,) * len(seeded) + (None,) * len(shared))(*seeded, *shared)
  return jax.lax.map(lambda args: fn(*args, *shared), seeded, batch_size=seed_batch)


def seed_keys(config: Config, scope: str) -> jax.Array:
  """[S, 2] uint32 keys for one part of the randomness, ``scope``: ``"init"`` (the initial
  parameters) or ``"order"`` (data order and label draws). Seed s's key is
  `PRNGKey(config.seed + s)`, or seed 0's for every seed when `config.seed_scope` fixes that part."""
  varies = config.seed_scope in ("all", scope)
  return jnp.stack([jax.random.PRNGKey(config.seed + (s if varies else 0)) for s in range(config.seeds)])


def init_state(
  planner: ip.Planner, optimizer: optax.GradientTransformation, config: Config, sample: DeviceSplit
) -> TrainState:
  """Fresh parameters and optimiser state for every seed (vmapped over the seed axis).

  Args:
    planner: from `make_planner`.
    optimizer: from `make_optimizer`.
    config: the run's config (seeds, seed, seed_scope).
    sample: any split; its first map shapes the initialisation.
  """
  batch = gather(sample, slice(0, 1))

  def one_seed(key):
    params = planner.init(jax.random.fold_in(key, INIT_STREAM), batch)
    return params, optimizer.init(params)

  params, opt_state = jax.jit(jax.vmap(one_seed))(seed_keys(config, "init"))
  return TrainState(params=params, opt_state=opt_state, key=seed_keys(config, "order"))


def start_from(params: Any, optimizer: optax.GradientTransformation, state: TrainState) -> TrainState:
  """``state`` with the given parameters (leading seed axis) and a fresh optimiser state for them.

  Raises:
    ValueError: ``params`` do not have the structure and shapes of ``state.params``.
  """
  expected, given = jax.tree.structure(state.params), jax.tree.structure(params)
  shapes = lambda tree: [leaf.shape for leaf in jax.tree.leaves(tree)]
  if expected != given or shapes(state.params) != shapes(params):
    raise ValueError(f"starting parameters do not fit the model: expected {expected}, got {given}")
  return state._replace(params=params, opt_state=jax.jit(jax.vmap(optimizer.init))(params))


def checkpoint_template(planner: ip.Planner, config: Config, sample: DeviceSplit) -> TrainState:
  """A state with the structure of the run's checkpoints, to restore them into.

  The learning-rate schedule's length does not change the optimiser state's structure, so one
  step per epoch stands in for the training split's.
  """
  return init_state(planner, make_optimizer(config, steps_per_epoch=1), config, sample)


def parameter_shapes(config: Config, sample: DeviceSplit) -> Any:
  """The shape of each of ``config``'s model parameters (seed axis first), computing none of them:
  two mappers with the same shapes read one trained set of parameters two ways."""
  params = jax.eval_shape(lambda: checkpoint_template(make_planner(config), config, sample).params)
  return jax.tree.map(lambda leaf: leaf.shape, params)
