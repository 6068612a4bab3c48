"""The pieces of a training run, composed by ``experiments.train`` / ``evaluate`` / ``visualize``.

`config`, `presets` and `recipes` (what to run), `data` (datasets as batch mappings on the device), `model`
(planner, optimiser, state with a seed axis), `losses`, `step` (the jitted step), `loop` (the host
loop, `train_and_evaluate`), `phases` (a run with a mapper), `checkpoints`, `evaluation`, `logs`
and `figures`; for ``experiments.sweep``, `sweeps` (runs of flag sets, their status and tables) and `estimate`
(their wall times); the studies' sweeps are in `experiments.studies`, the paper's in `experiments.paper`.
"""

from experiments.training import checkpoints, data
from experiments.training.config import Config, ConfigError
from experiments.training.loop import TrainingDiverged, TrainingInterrupted, train_and_evaluate

USER_ERRORS = (
  ConfigError,
  checkpoints.ConfigMismatchError,
  checkpoints.CorruptCheckpointError,
  data.DataMismatchError,
  FileNotFoundError,
  TrainingDiverged,
)
"""Errors the binaries report as one message (no traceback): the user can act on them."""

__all__ = ["Config", "ConfigError", "TrainingDiverged", "TrainingInterrupted", "USER_ERRORS", "train_and_evaluate"]
