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
  parts = [f"epoch {r['epoch']}/{config.epochs}", f"loss {r['loss']:.4f}"]
  if "val_success" in r:
    parts.append(f"train %Opt {r['train_optimal']:.1f} %Succ {r['train_success']:.1f}")
    parts.append(f"val %Opt {r['val_optimal']:.1f} %Succ {r['val_success']:.1f}")
  if "val_map_accuracy" in r:
    parts.append(f"map %acc train {r['train_map_accuracy']:.2f} val {r['val_map_accuracy']:.2f}")
    parts.append(f"IoU {r['val_obstacle_iou']:.1f}")
  if "train_field_accuracy" in r:
    parts.append(f"field %acc train {r['train_field_accuracy']:.3f}")
  if "val_field_accuracy" in r:
    parts.append(f"field %acc val {r['val_field_accuracy']:.3f} (near edges {r['val_field_edge_accuracy']:.2f})")
  if "fwd_iterations_mean" in r:
    solves = ["fwd", "bwd"] if implicit else ["fwd"]  # explicit planners have no backward solve
    parts += [
      f"{p} iters {r[f'{p}_iterations_mean']:.1f} (max {r[f'{p}_iterations_max']:.0f}) res "
      f"{r[f'{p}_residual_mean']:.2e} (max {r[f'{p}_residual_max']:.2e})"
      for p in solves
    ]
  parts.append(f"{r['step_time_s']:.3f} s/step  {r['examples_per_s']:.0f} ex/s")
  logging.info("  ".join(parts))
  for name, value in record.items():
    if name not in ("epoch", "global_step") and np.isscalar(value):
      writer.add_scalar(name, value, record["epoch"])
  writer.flush()
  with open(metrics_path, "a") as f:
    f.write(json.dumps(record) + "\n")


def _short(values: np.ndarray) -> list[Any]:
  """Nested lists of ``values`` with floats to 5 significant digits (half the file of full floats)."""
  if values.dtype.kind != "f":
    return values.tolist()
  return np.vectorize(lambda x: float(f"{x:.5g}"), otypes=[object])(values).tolist()


def log_steps(records: list[dict[str, np.ndarray]], epoch: int, path: str) -> None:
  """One epoch's per-step, per-seed training quantities as a line of `steps.jsonl`:
  ``{"epoch": e, name: [[seed 0, seed 1, ...] for each step]}`` (``alive`` among the names)."""
  line = {"epoch": epoch, **{name: _short(np.stack([r[name] for r in records])) for name in records[0]}}
  with open(path, "a") as f:
    f.write(json.dumps(line) + "\n")


def read_jsonl(path: str) -> list[dict[str, Any]]:
  """The records of a JSON-lines file (`metrics.jsonl`, a measured figure's rows); none if it does not exist."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


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
