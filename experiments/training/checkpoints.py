"""Run directories: `config.json` and orbax checkpoints (the latest and the best epoch).

Layout of a run directory:
  config.json            the `Config` (with the resolved dataset path) the run was made with
  checkpoints/<epoch>/   orbax checkpoints after each completed epoch; the latest and the best
                         (highest validation %Success, mean over seeds) are kept
  metrics.jsonl          one JSON object per epoch
  tensorboard/           TensorBoard event files
  results.json           final summary (written when training ends)
  training_curve.png     loss and validation %Success per epoch
  eval_<split>[...].json written by `experiments.evaluate` (`evaluation.eval_filename`)
"""

from __future__ import annotations

import json
import os
from typing import Any, NamedTuple

import orbax.checkpoint as ocp

from experiments.training.config import RENAMED_FIELDS, Config

VAL_METRIC = "val_success"
"""Checkpoint metric that decides the best checkpoint (mean validation %Success over seeds)."""


class ConfigMismatchError(ValueError):
  """A workdir holds a run made with a different configuration."""


class Checkpoint(NamedTuple):
  """What a checkpoint restores.

  Attributes:
    state: the training state pytree (params, optimizer state, RNG keys; seed axis first).
    meta: {"epoch", "global_step", "best_val_success", "best_epoch"}.
  """

  state: Any
  meta: dict[str, Any]


def config_path(workdir: str) -> str:
  """Path of the run's config.json."""
  return os.path.join(workdir, "config.json")


def read_config(workdir: str) -> Config:
  """The `Config` stored in `workdir`.

  Raises:
    FileNotFoundError: `workdir` holds no run.
  """
  path = config_path(workdir)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{workdir} holds no run (no config.json)")
  with open(path) as f:
    stored = json.load(f)
  return Config(**{RENAMED_FIELDS.get(name, name): value for name, value in stored.items()})


def write_or_check_config(workdir: str, config: Config) -> None:
  """Stores `config` in a new workdir, or checks it against the one already there.

  Raises:
    ConfigMismatchError: the stored config differs in a field outside `Config.resume_free_fields`;
      the message lists each such field with both values.
  """
  path = config_path(workdir)
  if os.path.exists(path):
    stored = read_config(workdir).to_dict()
    current = config.to_dict()
    differences = [
      f"{name}: stored {stored[name]!r}, now {current[name]!r}"
      for name in current
      if name not in config.resume_free_fields and stored.get(name) != current[name]
    ]
    if differences:
      raise ConfigMismatchError(
        f"{workdir} holds a run with a different configuration ({'; '.join(differences)});"
        " use another --workdir or the stored settings"
      )
  os.makedirs(workdir, exist_ok=True)
  with open(path, "w") as f:
    json.dump(config.to_dict(), f, indent=2)


def manager(workdir: str, read_only: bool = False) -> ocp.CheckpointManager:
  """Orbax manager of `workdir/checkpoints` keeping the latest and the best epoch."""
  best = lambda metrics: metrics[VAL_METRIC]
  options = ocp.CheckpointManagerOptions(
    best_fn=best,
    best_mode="max",
    read_only=read_only,
    enable_async_checkpointing=False,
    preservation_policy=ocp.checkpoint_managers.AnyPreservationPolicy(
      [
        ocp.checkpoint_managers.LatestN(n=1),
        ocp.checkpoint_managers.BestN(get_metric_fn=best, n=1),
      ]
    ),
  )
  return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")), options=options)


def save(mngr: ocp.CheckpointManager, epoch: int, state: Any, meta: dict[str, Any], val_success: float) -> None:
  """Saves the state after `epoch` completed epochs."""
  mngr.save(
    epoch,
    args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
    metrics={VAL_METRIC: val_success},
  )
  mngr.wait_until_finished()


def restore(mngr: ocp.CheckpointManager, template: Any, which: str = "latest") -> Checkpoint:
  """Restores the "latest" or "best" checkpoint into the structure of `template`.

  Raises:
    FileNotFoundError: no checkpoint in the manager's directory.
    ValueError: `which` is neither "latest" nor "best".
  """
  if which not in ("latest", "best"):
    raise ValueError(f"checkpoint must be 'latest' or 'best', got {which!r}")
  step = mngr.latest_step() if which == "latest" else mngr.best_step()
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {mngr.directory}")
  restored = mngr.restore(
    step, args=ocp.args.Composite(state=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore())
  )
  return Checkpoint(state=restored["state"], meta=dict(restored["meta"]))
