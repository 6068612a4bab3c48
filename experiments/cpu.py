"""Running on one CPU core: one XLA thread, the process pinned to a core.

Set before JAX starts its CPU backend (its first call). Used by the benchmarks' ``--single_thread``
and by sweeps that train several runs side by side, one per core.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

SINGLE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def single_thread_environment(environ: Mapping[str, str]) -> dict[str, str]:
  """``environ`` with XLA limited to one thread."""
  return {**environ, "XLA_FLAGS": (environ.get("XLA_FLAGS", "") + " " + SINGLE_THREAD_XLA_FLAGS).strip()}


def pin_to_core(core: int) -> None:
  """This process: one XLA thread, on CPU ``core`` only."""
  os.environ.update(single_thread_environment(os.environ))
  os.sched_setaffinity(0, {core})
