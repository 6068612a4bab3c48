"""Time dataset generation: ``python -m data_gen.benchmark`` (run under ``taskset -c 0``).

For each configuration, times generation + labelling of one split of
``--num`` problems (:func:`data_gen.make.make_split`: draw, deduplicate,
exact BFS labels) as the median of ``--repeats`` runs after a small warm-up
run, then one end-to-end :func:`data_gen.make.make_dataset` (the same split as
train, plus validation and compressed atomic save). Prints a table and writes
JSON to ``--out``. The work is numpy element-wise code (single-threaded);
``taskset -c 0`` pins it to one core.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence

import numpy as np
from absl import app, flags

from data_gen.make import generator_options, make_dataset, make_split

CONFIGS = (
  ("maze2d", 15),
  ("maze2d", 49),
  ("manip_cspace", 18),
  ("manip_cspace", 36),
  ("manip_workspace", 18),
)
_WARMUP = 200


def time_split(task: str, size: int, num: int, seed: int) -> float:
  """Seconds to generate and label ``num`` problems."""
  rng = np.random.default_rng(seed)
  start = time.perf_counter()
  make_split(rng, task, size, num, generator_options(task), set())
  return time.perf_counter() - start


def time_end_to_end(task: str, size: int, num: int, folder: str) -> tuple[float, int]:
  """Seconds and bytes for ``make_dataset`` with ``num`` training problems and no val/test."""
  path = os.path.join(folder, f"{task}_{size}.npz")
  start = time.perf_counter()
  make_dataset(task, size, num, 0, 0, 0, path)
  seconds = time.perf_counter() - start
  size_bytes = os.path.getsize(path)
  os.remove(path)
  return seconds, size_bytes


def run(num: int, repeats: int) -> list[dict]:
  """Benchmark every configuration; returns one record each."""
  records = []
  with tempfile.TemporaryDirectory() as folder:
    for task, size in CONFIGS:
      time_split(task, size, _WARMUP, seed=0)
      runs = [time_split(task, size, num, seed=1 + r) for r in range(repeats)]
      end_to_end, file_bytes = time_end_to_end(task, size, num, folder)
      records.append(
        {
          "task": task,
          "size": size,
          "num": num,
          "generate_label_median_s": statistics.median(runs),
          "generate_label_runs_s": runs,
          "make_dataset_s": end_to_end,
          "file_mb": file_bytes / 2**20,
        }
      )
      print(_row(records[-1]), flush=True)
  return records


def _row(record: dict) -> str:
  return (
    f"{record['task']:<16} {record['size']:>4} {record['num']:>6} "
    f"{record['generate_label_median_s']:>10.2f} {record['make_dataset_s']:>10.2f} "
    f"{record['file_mb']:>8.1f}"
  )


def define_flags() -> None:
  """Define the command-line flags (only when run as a program)."""
  flags.DEFINE_integer("num", 10000, "Problems per timed split.")
  flags.DEFINE_integer("repeats", 3, "Timed runs per configuration (median reported).")
  flags.DEFINE_string("out", "results/benchmarks/data_gen.json", "JSON output path.")


def main(argv: Sequence[str]) -> None:
  """Entry point of ``python -m data_gen.benchmark``."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli = flags.FLAGS
  cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
  print(f"cores allowed: {cores}; median of {cli.repeats} runs after warm-up")
  print(f"{'task':<16} {'size':>4} {'num':>6} {'gen+label s':>10} {'make s':>10} {'file MB':>8}")
  records = run(cli.num, cli.repeats)
  report = {
    "machine": platform.platform(),
    "processor": platform.processor(),
    "python": platform.python_version(),
    "numpy": np.__version__,
    "cores_allowed": cores,
    "repeats": cli.repeats,
    "results": records,
  }
  os.makedirs(os.path.dirname(os.path.abspath(cli.out)), exist_ok=True)
  with open(cli.out, "w") as stream:
    json.dump(report, stream, indent=2)
  print(f"wrote {cli.out}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
