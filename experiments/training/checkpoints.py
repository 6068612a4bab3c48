"""Run directories: `config.json` and orbax checkpoints (the latest and the best epoch).

Layout of a run directory:
  config.json            the `Config` (with the resolved dataset path) the run was made with
  checkpoints/<epoch>/   orbax checkpoint of the latest completed epoch: the training state, and
                         each seed's best parameters (highest validation %Success of that seed)
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

CHECKPOINTS: tuple[str, ...] = ("best", "latest")
"""The parameters a run can be evaluated with: each seed's best epoch, or the last epoch."""


class ConfigMismatchError(ValueError):
  """A workdir holds a run made with a different configuration."""


class CorruptCheckpointError(RuntimeError):
  """A workdir's latest checkpoint exists but cannot be restored (a damaged or truncated file)."""


class Checkpoint(NamedTuple):
  """What a checkpoint restores.

  Attributes:
    state: the training state pytree (params, optimizer state, RNG keys; seed axis first).
    best_params: each seed's parameters at its own best validation epoch (seed axis first): the
      seeds of a multi-seed run are independent runs, each selected as if it ran alone.
    meta: {"epoch", "global_step", "best_epoch", "best_val_success", "diverged"}, the last three
      per seed (`diverged`: None, or where that seed's training stopped; `loop.record_divergence`).
  """

  state: Any
  best_params: Any
  meta: dict[str, Any]

  def params(self, which: str) -> Any:
    """The "best" (per seed) or the "latest" parameters."""
    _check_which(which)
    return self.best_params if which == "best" else self.state.params

  def epochs(self, which: str) -> list[int]:
    """The epoch of each seed's "best" or "latest" parameters."""
    _check_which(which)
    return list(self.meta["best_epoch"]) if which == "best" else [self.meta["epoch"]] * len(self.meta["best_epoch"])


def _check_which(which: str) -> None:
  if which not in CHECKPOINTS:
    raise ValueError(f"checkpoint must be one of {CHECKPOINTS}, got {which!r}")


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


def config_differences(stored: Config, current: Config, free: frozenset[str]) -> list[str]:
  """Each field outside ``free`` in which ``stored`` and ``current`` differ, with both values."""
  stored_fields, current_fields = stored.to_dict(), current.to_dict()
  return [
    f"{name}: stored {stored_fields.get(name)!r}, now {value!r}"
    for name, value in current_fields.items()
    if name not in free and stored_fields.get(name) != value
  ]


def write_or_check_config(workdir: str, config: Config) -> None:
  """Stores `config` in a new workdir, or checks it against the one already there.

  Raises:
    ConfigMismatchError: the stored config differs in a field outside `Config.resume_free_fields`;
      the message lists each such field with both values.
  """
  path = config_path(workdir)
  if os.path.exists(path):
    differences = config_differences(read_config(workdir), config, config.resume_free_fields)
    if differences:
      raise ConfigMismatchError(
        f"{workdir} holds a run with a different configuration ({'; '.join(differences)});"
        " use another --workdir or the stored settings"
      )
  os.makedirs(workdir, exist_ok=True)
  with open(path, "w") as f:
    json.dump(config.to_dict(), f, indent=2)


def manager(workdir: str, read_only: bool = False) -> ocp.CheckpointManager:
  """Orbax manager of `workdir/checkpoints`, keeping the latest epoch (which carries the best parameters)."""
  options = ocp.CheckpointManagerOptions(max_to_keep=1, read_only=read_only, enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")), options=options)


def save(mngr: ocp.CheckpointManager, epoch: int, checkpoint: Checkpoint) -> None:
  """Saves `checkpoint` as the one after `epoch` completed epochs."""
  mngr.save(
    epoch,
    args=ocp.args.Composite(
      state=ocp.args.StandardSave(checkpoint.state),
      best_params=ocp.args.StandardSave(checkpoint.best_params),
      meta=ocp.args.JsonSave(checkpoint.meta),
    ),
  )
  mngr.wait_until_finished()


def restore(mngr: ocp.CheckpointManager, template: Any) -> Checkpoint:
  """Restores the latest checkpoint into the structure of `template` (a training state).

  Raises:
    FileNotFoundError: no checkpoint in the manager's directory, or one written before the
      checkpoints kept each seed's best parameters.
    CorruptCheckpointError: the latest checkpoint is there but cannot be read.
  """
  step = mngr.latest_step()
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {mngr.directory}")
  if not os.path.isdir(os.path.join(str(mngr.directory), str(step), "best_params")):
    raise FileNotFoundError(
      f"{mngr.directory}/{step} has no per-seed best parameters (a checkpoint of an older version); "
      "train the run again in a new directory"
    )
  try:
    restored = mngr.restore(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardRestore(template),
        best_params=ocp.args.StandardRestore(template.params),
        meta=ocp.args.JsonRestore(),
      ),
    )
  except Exception as error:  # orbax and tensorstore raise many kinds for a damaged file
    raise CorruptCheckpointError(
      f"{mngr.directory}/{step} cannot be restored ({type(error).__name__}: {error})"
    ) from error
  return Checkpoint(state=restored["state"], best_params=restored["best_params"], meta=dict(restored["meta"]))
