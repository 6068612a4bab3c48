"""Training presets: `paper` (section 5.1 / appendix D.2), `quick` (minutes on a CPU), `test`.

A preset is a `Config`; `experiments/train.py` flags override single fields. Every field that
changes what is learned is stored in the run's `config.json` and checked on resume
(`RESUME_FREE_FIELDS` may change between runs of one workdir).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from data_gen.dataset import TASK_WRAP  # task -> torus grid (moves wrap around the edges)

RESUME_FREE_FIELDS = frozenset({"epochs", "stop_after_steps", "log_every", "eval_batch_size",
                                "grad_check_every", "conv_impl"})
"""Fields that may differ when a workdir is re-run: they change how long or how verbosely a
run goes, or how the same function is computed, not what its checkpoints mean."""


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything one training run depends on.

  Attributes:
    planner: one of `implicit_planning.PLANNERS`.
    task: one of `TASK_WRAP`.
    size: map side length (maps are size x size).
    data: dataset file; "" generates (once) the dataset for task/size/num_*/data_seed under
      `data_dir` with `data_gen.make`.
    data_dir: folder of generated datasets.
    num_train, num_val, num_test: maps per split of a generated dataset.
    data_seed: seed of a generated dataset.
    k: iterations of explicit planners (network depth).
    k_fwd, k_bwd: iteration budgets of the implicit planners' forward / backward solves.
    forward_solver, backward_solver: "iteration" or "anderson".
    l_h: hidden channels processing the map (trivial representations for SymVIN).
    l_q: Q-value channels (regular representations for SymVIN).
    kernel_size: F, the planner's convolution size.
    group: symmetry group of the Sym planners ("d4").
    conv_impl: convolution formulation (`implicit_planning.grid_conv`; "auto" picks per backend
      and kernel). The same function either way, so a run may resume under another one.
    contraction: gamma in (0, 1) makes the VIN/SymVIN cell a provable gamma-contraction
      (`implicit_planning.PlannerOptions`); 0 keeps the paper's unconstrained cell.
    learning_rate, rmsprop_decay, rmsprop_eps: RMSprop as PyTorch's `torch.optim.RMSprop`
      (eps added *outside* the square root; PyTorch's default decay alpha = 0.99).
    clip_norm: gradients are clipped to this global norm before RMSprop.
    batch_size: maps per step; each epoch drops the last `num_train % batch_size` maps of
      its permutation so that every step has one shape (one compilation).
    epochs: passes over the training split.
    seed: first seed; seed s of `seeds` uses `seed + s`, so seed 0 of a 5-seed run draws
      the same initialisation, batches and labels as the 1-seed run with the same `seed`.
    seeds: independent runs trained together (vmapped over a leading seed axis).
    label: "one": cross-entropy against one optimal action per cell, drawn with the
      seeded RNG (a fresh draw each step); "set": -log sum of the probabilities of all
      optimal actions.
    log_every: steps between host syncs for the progress bar and the non-finite check.
    eval_batch_size: maps per evaluation batch.
    grad_check_every: epochs between checks of an implicit planner's gradient against a
      tightly converged backward solve (relative error and cosine, logged as
      `grad_relative_error` / `grad_cosine`; seed 0, first validation batch); 0: never.
    stop_after_steps: raise `TrainingInterrupted` after this many global steps (0: never);
      simulates a killed run in tests.
  """

  planner: str = "id_vin"
  task: str = "maze2d"
  size: int = 15
  data: str = ""
  data_dir: str = "data"
  num_train: int = 10_000
  num_val: int = 2_000
  num_test: int = 2_000
  data_seed: int = 0
  k: int = 30
  k_fwd: int = 30
  k_bwd: int = 15
  forward_solver: str = "iteration"
  backward_solver: str = "anderson"
  l_h: int = 150
  l_q: int = 100
  kernel_size: int = 3
  group: str = "d4"
  conv_impl: str = "auto"
  contraction: float = 0.0
  learning_rate: float = 1e-3
  rmsprop_decay: float = 0.99
  rmsprop_eps: float = 1e-6
  clip_norm: float = 40.0
  batch_size: int = 32
  epochs: int = 60
  seed: int = 0
  seeds: int = 1
  label: str = "one"
  log_every: int = 10
  eval_batch_size: int = 128
  grad_check_every: int = 0
  stop_after_steps: int = 0

  @property
  def wrap(self) -> bool:
    """Whether the task's grid is a torus."""
    return TASK_WRAP[self.task]

  def replace(self, **changes: Any) -> Config:
    """A copy with `changes` applied."""
    return dataclasses.replace(self, **changes)

  def to_dict(self) -> dict[str, Any]:
    """JSON-ready fields."""
    return dataclasses.asdict(self)


def paper() -> Config:
  """The paper's 2D-navigation setup (section 5.1, appendix D.2), 15x15, 10k/2k/2k, 60 epochs.

  Command: `python -m experiments.train --preset=paper --planner=id_vin`.
  Not run yet on the development machine (2 CPU cores). Estimate from the step times measured
  there (batch 32, 312 steps per epoch): ID-VIN 0.053 s/step -> about 17 min of steps plus
  validation; VIN 0.18 s/step -> about 1 h.
  """
  return Config()


def quick() -> Config:
  """ID-VIN on 15x15 that learns in a few minutes on 2 CPU cores.

  Command: `python -m experiments.train --preset=quick --planner=id_vin`.
  The paper's planner, optimiser and batch settings (K = 30; K_fwd = 30 forward iteration,
  K_bwd = 15 Anderson; l_h = 150, l_q = 100; RMSprop 1e-3, batch 32) on a smaller dataset
  (2000/500/500 maps, generated in under a second) for 20 epochs. Measured on the
  development machine (2 CPU cores shared with other jobs, load average about 5):
  ID-VIN 111 s, test %Optimal 23.9 / %Success 27.1; VIN 331 s, 51.6 / 53.7 (one seed; a
  random policy scores 1.0 / 1.1).
  """
  return Config(num_train=2000, num_val=500, num_test=500, epochs=20)


def test() -> Config:
  """Seconds-long run for tests: 7x7 mazes, 32/16/16 maps, 2 epochs, l_h = l_q = 8, K = 5.

  Command: `python -m experiments.train --preset=test --planner=vin` (about 15 s, mostly
  compilation).
  """
  return Config(size=7, num_train=32, num_val=16, num_test=16, epochs=2, l_h=8, l_q=8, k=5,
                k_fwd=5, k_bwd=5, batch_size=8, eval_batch_size=16, log_every=2)


PRESETS = {"paper": paper, "quick": quick, "test": test}


def get_config(preset: str) -> Config:
  """The named preset.

  Raises:
    ValueError: unknown preset (the message lists the known ones).
  """
  if preset not in PRESETS:
    raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
  return PRESETS[preset]()
