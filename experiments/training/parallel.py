"""Data parallelism over local devices: each step's batch sharded over a 1-D mesh, the rest replicated.

``--devices=N`` puts the datasets, the parameters and the optimiser state on every one of the first
N local devices (replicated) and shards the maps of each training batch (``[S, B, ...]``: axis 1)
over them; ``jax.jit`` partitions the step (GSPMD), so the gradient is the same mean over the batch,
all-reduced, and the parameters stay replicated. One device is the same program on a one-device
mesh. On a CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` makes N host devices (tests).
One process only: the mesh is made of this process's local devices.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from experiments.training.config import ConfigError

BATCH_AXIS = "batch"
"""The mesh axis the maps of a batch are split over."""


def batch_mesh(devices: int, batch_size: int) -> Mesh:
  """A 1-D mesh of the first ``devices`` local devices.

  Raises:
    ConfigError: fewer local devices than asked, or a batch that does not split evenly over them.
  """
  if batch_size % devices:
    raise ConfigError(f"batch_size={batch_size} does not split over devices={devices}: use a multiple")
  local = jax.local_devices()
  if devices > len(local):
    raise ConfigError(
      f"devices={devices}, but this process has {len(local)} local {jax.default_backend()} device(s) "
      "(on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N)"
    )
  return Mesh(np.asarray(local[:devices]), (BATCH_AXIS,))


def replicate(tree: Any, mesh: Mesh) -> Any:
  """``tree``'s arrays, each copied to every device of ``mesh``."""
  return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def seed_batch_sharding(mesh: Mesh) -> NamedSharding:
  """Sharding of a batch entry ``[S, B, ...]``: the maps (axis 1) split over the mesh."""
  return NamedSharding(mesh, PartitionSpec(None, BATCH_AXIS))
