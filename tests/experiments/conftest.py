"""Fixtures of the experiment tests: a compilation cache, one tiny dataset, one finished VIN run."""

import jax
import pytest

from experiments.training import checkpoints, data, model, presets, train_and_evaluate


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
  """Persistent XLA cache: the runs below compile the same steps several times."""
  saved = {
    name: getattr(jax.config, name)
    for name in (
      "jax_compilation_cache_dir",
      "jax_persistent_cache_min_compile_time_secs",
      "jax_persistent_cache_min_entry_size_bytes",
    )
  }
  jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla_cache")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  yield
  for name, value in saved.items():
    jax.config.update(name, value)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  """One generated tiny dataset shared by the runs."""
  return str(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def vin_run(tiny, tmp_path_factory):
  """(config, workdir, results) of one finished tiny VIN run, shared by several tests."""
  config = tiny(planner="vin")
  workdir = str(tmp_path_factory.mktemp("vin_run"))
  return config, workdir, train_and_evaluate(config, workdir)


@pytest.fixture(scope="session")
def tiny(data_dir):
  """``tiny(**changes)``: the `test` preset on the shared dataset folder, with changes."""
  return lambda **changes: presets.test().replace(data_dir=data_dir, **changes)


@pytest.fixture(scope="session")
def final_params():
  """``final_params(workdir, config)``: params of the latest checkpoint in ``workdir``."""
  return _final_params


def _final_params(workdir, config):
  """Params of the latest checkpoint in `workdir`."""
  split = data.to_device(
    data.load_checked(config.data or data.dataset_path(config), config.task, config.wrap, config.size).train
  )
  template = model.checkpoint_template(model.make_planner(config), config, split)
  return checkpoints.restore(checkpoints.manager(workdir, read_only=True), template).state.params
