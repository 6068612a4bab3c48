"""Shared test fixtures."""

import jax
import pytest


@pytest.fixture
def x64():
  """Runs a test with 64-bit floats enabled (numbers checked tightly), then restores the default."""
  with jax.enable_x64(True):
    yield
