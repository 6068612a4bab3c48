"""What a training run depends on: `Config`, the planner's options plus data, optimiser and loop.

`Config` inherits every field of `implicit_planning.PlannerOptions` (declared once there), so each
is a flag of ``experiments.train`` and reaches ``make_planner`` unchanged. Every field that changes
what is learned is stored in the run's ``config.json`` and checked on resume
(`RESUME_FREE_FIELDS` may change between runs of one workdir). A config is validated when built.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import implicit_planning as ip
from data_gen.dataset import (
  TASK_OBSERVATION,  # task -> what its maps are made from, if not given
  TASK_WRAP,  # task -> torus grid (moves wrap around the edges)
)
from experiments.training.losses import LABELS

SEED_SCOPES = ("all", "init", "order")
"""What the seeds of a run vary: everything, only the initial parameters, or only the data
order and label draws (the other part is seed 0's for every seed)."""
PHASES = ("all", "mapper", "planner", "joint", "end_to_end")
"""The training phases of a run with a mapper (appendix D.1): the mapper alone on the true map
(binary cross-entropy), the planner alone on the true map, then both together on the planner's
input switched to the mapper's map; ``all`` runs the three in turn."""
LR_SCHEDULES = ("constant", "cosine")
MAPPER_OPTIMIZERS = ("rmsprop", "adam")
"""How the learning rate changes over the run (after `warmup_epochs`)."""

SAME_RESULT_FIELDS = frozenset(
  {"log_every", "eval_batch_size", "diagnose_every", "trace_steps", "conv_impl", "seed_batch", "devices"}
)
"""Fields that change how verbosely a run reports or how the same function is computed, not what
it learns: two finished runs that differ only in these are the same run (`experiments.sweep --reuse`)."""

RESUME_FREE_FIELDS = SAME_RESULT_FIELDS | {"epochs", "stop_after_steps"}
"""Fields that may differ when a workdir is re-run: `SAME_RESULT_FIELDS`, and how long it goes."""

DERIVED_FIELDS = frozenset({"wrap"})
"""Fields set from others (``wrap`` from ``task``), never from a flag."""

RENAMED_FIELDS = {"grad_check_every": "diagnose_every"}
"""Old names of fields, read from the ``config.json`` of earlier runs."""


class ConfigError(ValueError):
  """An unknown name or an impossible value in the config."""


def _field(default: Any, help_text: str) -> Any:
  return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class Config(ip.PlannerOptions):
  """Everything one training run depends on (each field's ``help`` metadata says what it is)."""

  planner: str = _field("id_vin", "Planner name (implicit_planning.PLANNERS).")
  task: str = _field("maze2d", f"Task: one of {tuple(TASK_WRAP)}; decides the torus wrap.")
  size: int = _field(15, "Map side length (maps are size x size).")
  data: str = _field(
    "", "Dataset file; empty: generate (once) the dataset for task/size/num_*/data_seed under data_dir."
  )
  data_dir: str = _field("data", "Folder of generated datasets.")
  num_train: int = _field(10_000, "Training maps of a generated dataset.")
  num_val: int = _field(2_000, "Validation maps of a generated dataset.")
  num_test: int = _field(2_000, "Test maps of a generated dataset.")
  data_seed: int = _field(0, "Seed of a generated dataset.")
  mapper: str = _field(
    "",
    "Mapper from the task's observation to the map the planner plans on (implicit_planning.mappers.MAPPERS); "
    "empty: the planner reads the true map. The manip_workspace task needs one (workspace_unet, or "
    "workspace_sweep: a learned obstacle field read along each configuration's arm).",
  )
  mapper_width: int = _field(
    8,
    "Mapper size: workspace U-Net, channels of its first level (doubled at each of the next three); "
    "workspace sweep, half its obstacle field's channels; panorama CNN, the paper's sizes times mapper_width / 8 "
    "(8: the paper's).",
  )
  phase: str = _field(
    "all",
    f"With a mapper, which training phase: one of {PHASES} (all: mapper and planner pretrained for "
    "pretrain_epochs each, then both jointly for epochs; each phase in its own subfolder of the workdir; "
    "end_to_end: both from scratch, jointly, for epochs, in the subfolder end_to_end).",
  )
  mapper_from: str = _field(
    "",
    "A finished mapper-phase run (e.g. <workdir>/mapper of another run): the joint phase starts from its best "
    "mapper instead of this run's own, and phase=all skips the mapper phase; a one-seed mapper run gives every seed "
    "the same mapper.",
  )
  planner_from: str = _field(
    "",
    "A finished planner-phase run of the same planner and data (e.g. <workdir>/planner of another run): the joint "
    "phase starts from its best planner, and phase=all skips the planner phase; a one-seed run gives every seed "
    "the same planner.",
  )
  pretrain_epochs: int = _field(15, "Epochs of each pretraining phase (mapper, planner) of a run with a mapper.")
  map_loss_weight: float = _field(
    1.0,
    "Joint and end-to-end phases: weight of the mapper's binary cross-entropy against the true map, added to the planner's loss.",
  )
  field_loss_weight: float = _field(
    0.0,
    "Mapper pretraining and joint phases, a mapper with an obstacle field (workspace_sweep*): weight of the "
    "field's binary cross-entropy at the centres of a raster 4x finer than the workspace image against the "
    "dataset's obstacle polygons (where the edges run between pixel centres), added to the loss; 0: none.",
  )
  iterate_loss_weight: float = _field(
    1.0,
    "With supervised_iterates: weight of the mean action loss of the intermediate states, added to the last state's.",
  )
  jacobian_reg: float = _field(
    0.0, "Weight of the Jacobian penalty ||df/dv||_F^2 / n at the returned state (Bai et al., 2021); 0: none."
  )
  budget_jitter: float = _field(
    0.0,
    "Implicit planners, training only: each step's forward budget is drawn uniformly from the integers in "
    "[k_fwd (1 - j), k_fwd (1 + j)] (one draw per seed and step: the step costs its draw, k_fwd on average), so "
    "the state read out is trained at a range of iteration counts, not one; evaluation keeps k_fwd. 0: k_fwd.",
  )
  learning_rate: float = _field(1e-3, "RMSprop learning rate (the peak of a schedule).")
  mapper_learning_rate: float = _field(
    0.0,
    "Peak learning rate of the mapper's parameters, in its pretraining and the joint phase, under the run's "
    "schedule (0: learning_rate).",
  )
  mapper_optimizer: str = _field(
    "rmsprop",
    f"The mapper's optimiser, one of {MAPPER_OPTIMIZERS}: rmsprop, as the planner's (the rmsprop_* flags); adam, "
    "optax's defaults (momentum 0.9), at the mapper's learning rate and schedule.",
  )
  lr_schedule: str = _field(
    "constant",
    "constant: the learning rate throughout (the paper); cosine: decays it to 0 over `epochs` "
    "by a half cosine, after the warm-up.",
  )
  warmup_epochs: float = _field(
    0.0, "Epochs over which the learning rate rises linearly from 0 (RMSprop's first steps are large)."
  )
  decay_epochs: float = _field(
    0.0,
    "cosine: epochs the half cosine spans at the end of the run, at the peak before them "
    "(0: every epoch after the warm-up).",
  )
  rmsprop_decay: float = _field(0.99, "RMSprop decay (PyTorch's alpha; eps is added outside the root).")
  rmsprop_eps: float = _field(1e-6, "RMSprop epsilon, added outside the square root as in PyTorch.")
  rmsprop_bias_correction: bool = _field(
    False,
    "Divide RMSprop's second-moment estimate by 1 - decay^t (Adam's correction, no momentum): its first steps "
    "are then about the learning rate, not up to 10x it as in PyTorch's RMSprop, whose estimate starts at 0.",
  )
  clip_norm: float = _field(40.0, "Gradients are clipped to this global norm before RMSprop.")
  update_clip: float = _field(
    0.0,
    "Scale an update whose norm exceeds this multiple of the running mean of the past updates' "
    "norms down to it (training.spikes; > 1); 0: off.",
  )
  batch_size: int = _field(32, "Maps per step; each epoch drops the last num_train % batch_size maps.")
  epochs: int = _field(60, "Passes over the training split.")
  seed: int = _field(0, "First seed; seed s of `seeds` uses seed + s (same draws as a 1-seed run).")
  seeds: int = _field(1, "Independent runs trained together (one program, a leading seed axis).")
  seed_scope: str = _field(
    "all",
    "What the seeds vary: all; init (initial parameters only, seed 0's data order and labels); "
    "order (data order and label draws only, seed 0's initial parameters).",
  )
  seed_batch: int = _field(
    -1, "Seeds vectorised together: 0 all, k > 0 k at a time (groups in sequence), -1 auto (CPU 1, else all)."
  )
  devices: int = _field(
    1,
    "Local devices the maps of each training batch are split over (data parallel, `parallel`); the "
    "parameters are replicated, so the result is one device's up to float rounding.",
  )
  label: str = _field(
    "one",
    "one: cross-entropy against one optimal action per cell, redrawn each step; "
    "set: -log of the probability mass on all optimal actions.",
  )
  log_every: int = _field(10, "Steps between host syncs for the progress bar and the non-finite check.")
  eval_batch_size: int = _field(128, "Maps per evaluation batch.")
  diagnose_every: int = _field(
    0,
    "Epochs between diagnostics on the first validation batch (seed 0): the Jacobian's spectral "
    "radius at the returned state, forward residual quantiles, the value map's effective horizon, "
    "and an implicit planner's gradient against a converged backward solve and against backprop "
    "through its forward iterations; 0: never.",
  )
  trace_steps: bool = _field(
    False,
    "Also write every step's per-seed training quantities (loss, gradient and update norms, solver "
    "iterations and residuals, batch scores) to steps.jsonl, one line per epoch: what an epoch mean hides.",
  )
  stop_after_steps: int = _field(0, "Raise TrainingInterrupted after this many global steps (tests); 0: never.")

  def __post_init__(self):
    choices = {
      "planner": (self.planner, tuple(ip.PLANNERS)),
      "task": (self.task, tuple(TASK_WRAP)),
      "label": (self.label, LABELS),
      "lr_schedule": (self.lr_schedule, LR_SCHEDULES),
      "mapper_optimizer": (self.mapper_optimizer, MAPPER_OPTIMIZERS),
      "seed_scope": (self.seed_scope, SEED_SCOPES),
      "phase": (self.phase, PHASES),
    }
    if self.mapper:
      choices["mapper"] = (self.mapper, tuple(ip.mappers.MAPPERS))
    for name, (value, known) in choices.items():
      if value not in known:
        raise ConfigError(f"unknown {name} {value!r}; known: {', '.join(known)}")
    object.__setattr__(self, "wrap", TASK_WRAP[self.task])
    self._check_mapper()
    for name in ("jacobian_reg", "iterate_loss_weight"):
      if getattr(self, name) < 0:
        raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
    try:
      super().__post_init__()
    except ValueError as error:
      raise ConfigError(str(error)) from error
    for name in (
      "size",
      "batch_size",
      "epochs",
      "seeds",
      "log_every",
      "eval_batch_size",
      "pretrain_epochs",
      "mapper_width",
      "devices",
    ):
      if getattr(self, name) < 1:
        raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
    budget = ("k_fwd", self.k_fwd) if ip.planner_spec(self.planner).implicit else ("k", self.k)
    if self.supervised_iterates >= budget[1]:
      raise ConfigError(
        f"supervised_iterates={self.supervised_iterates} cuts {budget[0]}={budget[1]} into "
        f"{self.supervised_iterates + 1} segments; each needs at least one step"
      )
    self._check_budget_jitter()
    if self.update_clip and self.update_clip <= 1:
      raise ConfigError(f"update_clip must be 0 (off) or > 1 (a multiple of the mean update), got {self.update_clip}")
    if self.seed_batch < -1:
      raise ConfigError(f"seed_batch must be -1 (auto), 0 (all seeds) or a group size, got {self.seed_batch}")
    if not 0 <= self.warmup_epochs < self.epochs:
      raise ConfigError(f"warmup_epochs must be in [0, epochs={self.epochs}), got {self.warmup_epochs}")
    if self.decay_epochs and self.lr_schedule != "cosine":
      raise ConfigError("decay_epochs is the length of a cosine decay; it needs lr_schedule=cosine")
    if not 0 <= self.decay_epochs <= self.epochs - self.warmup_epochs:
      raise ConfigError(
        f"decay_epochs must be in [0, epochs - warmup_epochs = {self.epochs - self.warmup_epochs}], "
        f"got {self.decay_epochs}"
      )

  def _check_budget_jitter(self) -> None:
    if not self.budget_jitter:
      return
    if not 0 < self.budget_jitter < 1:
      raise ConfigError(f"budget_jitter must be in [0, 1), got {self.budget_jitter}")
    if not ip.planner_spec(self.planner).implicit:
      raise ConfigError(f"budget_jitter draws an implicit planner's forward budget; {self.planner} is explicit (k)")
    if self.supervised_iterates:
      raise ConfigError("budget_jitter and supervised_iterates both set the forward budget's segments; use one")

  @property
  def budget_range(self) -> tuple[int, int]:
    """The least and most forward iterations a training step draws (`budget_jitter`)."""
    spread = round(self.k_fwd * self.budget_jitter)
    return max(1, self.k_fwd - spread), self.k_fwd + spread

  def _check_mapper(self) -> None:
    """A task whose maps come from an observation needs its mapper; a mapper needs its observation."""
    observation = TASK_OBSERVATION.get(self.task)
    if self.mapper:
      reads = ip.mappers.MAPPERS[self.mapper][0]
      if observation != reads:
        tasks = ", ".join(task for task, seen in TASK_OBSERVATION.items() if seen == reads)
        raise ConfigError(
          f"mapper {self.mapper} maps the {reads!r} observation, which task {self.task} does not have "
          f"(its planner is given the map): use --task={tasks}, or no --mapper"
        )
      if self.diagnose_every:
        raise ConfigError("diagnose_every: the diagnostics are of a planner given its map, not yet of a mapped one")
      for name in ("map_loss_weight", "mapper_learning_rate", "field_loss_weight"):
        if getattr(self, name) < 0:
          raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
      if self.field_loss_weight and not ip.mappers.has_obstacle_field(self.mapper):
        fields = ", ".join(name for name in ip.mappers.MAPPERS if ip.mappers.has_obstacle_field(name))
        raise ConfigError(
          f"field_loss_weight={self.field_loss_weight} supervises a mapper's obstacle field; mapper {self.mapper} "
          f"has none (those with one: {fields})"
        )
      for part, source in (("mapper", self.mapper_from), ("planner", self.planner_from)):
        if source and self.phase in (part, "end_to_end"):
          raise ConfigError(
            f"phase={self.phase} trains the {part} from scratch; {part}_from={source} gives one: choose one"
          )
    elif self.mapper_from or self.planner_from:
      flag = "mapper_from" if self.mapper_from else "planner_from"
      raise ConfigError(f"{flag}={getattr(self, flag)} needs a --mapper (it starts a joint phase)")
    elif self.mapper_learning_rate or self.field_loss_weight or self.mapper_optimizer != "rmsprop":
      flag = next(
        name
        for name, given in (
          ("mapper_learning_rate", self.mapper_learning_rate),
          ("field_loss_weight", self.field_loss_weight),
          ("mapper_optimizer", self.mapper_optimizer != "rmsprop"),
        )
        if given
      )
      raise ConfigError(f"{flag}={getattr(self, flag)} needs a --mapper to train")
    elif observation is not None:
      mappers = ", ".join(name for name, (seen, _) in ip.mappers.MAPPERS.items() if seen == observation)
      raise ConfigError(
        f"task {self.task} plans on a map made from its {observation!r} observation: give it a mapper "
        f"(--mapper={mappers}); the planner alone on the true map is that run's --phase=planner"
      )

  @property
  def plans(self) -> bool:
    """Whether the run trains a planner (all but a mapper's pretraining)."""
    return not self.mapper or self.phase != "mapper"

  @property
  def maps(self) -> bool:
    """Whether the run trains a mapper (its pretraining and the joint phase)."""
    return bool(self.mapper) and self.phase != "planner"

  @property
  def resume_free_fields(self) -> frozenset[str]:
    """`RESUME_FREE_FIELDS`, less ``epochs`` when the learning-rate schedule spans the epochs."""
    return RESUME_FREE_FIELDS - {"epochs"} if self.lr_schedule == "cosine" else RESUME_FREE_FIELDS

  @property
  def planner_options(self) -> ip.PlannerOptions:
    """The `implicit_planning.PlannerOptions` part of this config."""
    return ip.PlannerOptions(**{name: getattr(self, name) for name in ip.planners.OPTION_NAMES})

  def replace(self, **changes: Any) -> Config:
    """A copy with ``changes`` applied (validated again)."""
    return dataclasses.replace(self, **changes)

  def to_dict(self) -> dict[str, Any]:
    """JSON-ready fields."""
    return dataclasses.asdict(self)


FLAG_FIELDS: tuple[dataclasses.Field, ...] = tuple(
  field for field in dataclasses.fields(Config) if field.name not in DERIVED_FIELDS
)
"""The fields ``experiments.train`` exposes as flags."""
