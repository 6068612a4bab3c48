"""Shared test fixtures."""

import os

# Bitwise-reproducible GPU runs (resuming a killed run must give the same parameters): XLA:GPU's
# scatter-adds use atomics otherwise. Read when JAX starts its backend; no effect on CPU.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip()

import jax  # pylint: disable=wrong-import-position
import pytest  # pylint: disable=wrong-import-position


@pytest.fixture
def x64():
  """Runs a test with 64-bit floats enabled (numbers checked tightly), then restores the default."""
  with jax.enable_x64(True):
    yield
