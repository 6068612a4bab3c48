"""What a run tells a person: the per-epoch log line, TensorBoard scalars, ``metrics.jsonl``."""

from __future__ import annotations

import json
import logging as std_logging
import os
from typing import Any

import jax
import numpy as np
import tensorboardX
from absl import logging

from experiments.training.config import Config


def log_epoch(
  record: dict[str, Any], config: Config, implicit: bool, writer: tensorboardX.SummaryWriter, metrics_path: str
) -> None:
  """One epoch's record to absl logging, TensorBoard and `metrics.jsonl`."""
  r = record
  solves = ["fwd", "bwd"] if implicit else ["fwd"]  # explicit planners have no backward solve
  solver_text = "  ".join(
    f"{p} iters {r[f'{p}_iterations_mean']:.1f} (max {r[f'{p}_iterations_max']:.0f}) res "
    f"{r[f'{p}_residual_mean']:.2e} (max {r[f'{p}_residual_max']:.2e})"
    for p in solves
  )
  logging.info(
    "epoch %d/%d  loss %.4f  train %%Opt %.1f %%Succ %.1f  val %%Opt %.1f %%Succ %.1f  %s  %.3f s/step  %.0f ex/s",
    r["epoch"],
    config.epochs,
    r["loss"],
    r["train_optimal"],
    r["train_success"],
    r["val_optimal"],
    r["val_success"],
    solver_text,
    r["step_time_s"],
    r["examples_per_s"],
  )
  for name, value in record.items():
    if name not in ("epoch", "global_step") and np.isscalar(value):
      writer.add_scalar(name, value, record["epoch"])
  writer.flush()
  with open(metrics_path, "a") as f:
    f.write(json.dumps(record) + "\n")


class _DropLibraryInfo(std_logging.Filter):
  """Drops INFO (and lower) records logged from inside orbax: one per file written or read."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno > std_logging.INFO or f"{os.sep}orbax{os.sep}" not in record.pathname


def quiet_library_logs() -> None:
  """Keeps orbax's per-file INFO messages out of the training log (warnings still show)."""
  std_logging.getLogger("absl").addFilter(_DropLibraryInfo())


def hardware() -> str:
  """Device and CPU count, for results tables."""
  device = jax.devices()[0]
  return f"{device.platform}:{device.device_kind} ({os.cpu_count()} CPU cores)"
