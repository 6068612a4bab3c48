"""Timing helper shared by the benchmark binaries."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax


def measure(fn: Callable[..., Any], args: Sequence[Any], repeats: int) -> dict[str, float]:
  """Median wall and process-CPU milliseconds of ``fn(*args)`` after one warm-up call.

  CPU time is the steadier figure on a shared machine: other processes slow the wall clock
  but do not add to this process's CPU time.
  """
  jax.block_until_ready(fn(*args))
  wall, cpu = [], []
  for _ in range(repeats):
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn(*args))
    wall.append(1e3 * (time.perf_counter() - wall_start))
    cpu.append(1e3 * (time.process_time() - cpu_start))
  return {"wall_ms": statistics.median(wall), "cpu_ms": statistics.median(cpu)}
