"""Data parallelism: each step's batch sharded over a 1-D mesh of devices, the rest replicated.

``--devices=N`` puts the datasets, the parameters and the optimiser state on every one of N devices
(replicated) and shards the maps of each training batch (``[S, B, ...]``: axis 1) over them;
``jax.jit`` partitions the step (GSPMD), so the gradient is the same mean over the batch,
all-reduced, and the parameters stay replicated. One device is the same program on a one-device
mesh. On a CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` makes N host devices (tests).

Several processes (hosts) join one run through `jax.distributed.initialize` (`initialize`, called by
``experiments.train`` before JAX touches a device); the mesh is then every process's devices, each
process runs the same program on its own copy of the data, and only the first writes the run's
files (`is_primary`; the checkpoints are written by Orbax from every process, as it expects).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from experiments.training.config import ConfigError

BATCH_AXIS = "batch"
"""The mesh axis the maps of a batch are split over."""


def initialize(coordinator_address: str, num_processes: int, process_id: int) -> None:
  """Joins this process to a run of ``num_processes`` (`jax.distributed.initialize`, before JAX
  touches a device); nothing for one process. CPU processes exchange their collectives through gloo."""
  if num_processes > 1:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address, num_processes, process_id)


def is_primary() -> bool:
  """Whether this process writes the run's files: the only one, or the first of several."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process of the run gets here (nothing for one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def batch_mesh(devices: int, batch_size: int) -> Mesh:
  """A 1-D mesh of the first ``devices`` local devices; with several processes, of all their devices.

  Raises:
    ConfigError: fewer local devices than asked, a batch that does not split evenly over them, or,
      with several processes, ``devices`` other than all of theirs.
  """
  if batch_size % devices:
    raise ConfigError(f"batch_size={batch_size} does not split over devices={devices}: use a multiple")
  if jax.process_count() > 1:
    if devices != jax.device_count():
      raise ConfigError(
        f"devices={devices}: a run over {jax.process_count()} processes uses all their {jax.device_count()} devices"
      )
    return Mesh(np.asarray(jax.devices()), (BATCH_AXIS,))
  local = jax.local_devices()
  if devices > len(local):
    raise ConfigError(
      f"devices={devices}, but this process has {len(local)} local {jax.default_backend()} device(s) "
      "(on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N)"
    )
  return Mesh(np.asarray(local[:devices]), (BATCH_AXIS,))


def replicate(tree: Any, mesh: Mesh) -> Any:
  """``tree``'s arrays, each copied to every device of ``mesh`` (every process holds the same values:
  with several, they go through the host, since a process places only its own devices' copies)."""
  if jax.process_count() > 1:
    tree = jax.device_get(tree)
  return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def seed_batch_sharding(mesh: Mesh) -> NamedSharding:
  """Sharding of a batch entry ``[S, B, ...]``: the maps (axis 1) split over the mesh."""
  return NamedSharding(mesh, PartitionSpec(None, BATCH_AXIS))
