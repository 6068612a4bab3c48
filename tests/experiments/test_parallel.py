"""Data parallelism: a run with its batches split over two (forced host) devices is the one-device run."""

import json
import os
import subprocess
import sys

import pytest

from experiments.training import ConfigError, parallel

TWO_DEVICE_RUNS = """
import json, sys
import jax
import numpy as np
from experiments.training import presets, train_and_evaluate, checkpoints, data, model

assert jax.local_device_count() == 2, jax.devices()
root = sys.argv[1]
out = {}
for devices in (1, 2):
  config = presets.test().replace(planner="id_vin", seeds=2, data_dir=root, devices=devices)
  workdir = f"{root}/devices_{devices}"
  results = train_and_evaluate(config, workdir)
  with open(f"{workdir}/metrics.jsonl") as f:
    losses = [json.loads(line)["loss"] for line in f]
  split = data.to_device(data.load_checked(data.dataset_path(config), config.task, config.wrap, config.size).train)
  template = model.checkpoint_template(model.make_planner(config), config, split)
  params = checkpoints.restore(checkpoints.manager(workdir, read_only=True), template).state.params
  out[devices] = {
    "losses": losses,
    "params": [np.asarray(x).ravel().tolist() for x in jax.tree.leaves(params)],
    "test_success": results["test"]["success"]["per_seed"],
  }
print("RESULT" + json.dumps(out))
"""


def test_two_devices_train_to_the_one_device_parameters(tmp_path):
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
  run = subprocess.run(
    [sys.executable, "-c", TWO_DEVICE_RUNS, str(tmp_path)], env=env, capture_output=True, text=True, timeout=600
  )
  assert run.returncode == 0, run.stderr[-3000:]
  result = json.loads(run.stdout.split("RESULT", 1)[1])
  one, two = result["1"], result["2"]
  assert len(one["losses"]) == len(two["losses"]) == 2
  for a, b in zip(one["losses"], two["losses"]):
    assert a == pytest.approx(b, rel=1e-4)
  for a, b in zip(one["params"], two["params"]):
    assert a == pytest.approx(b, rel=1e-3, abs=1e-5)
  assert one["test_success"] == pytest.approx(two["test_success"], abs=1e-6)


def test_more_devices_than_there_are_or_an_uneven_batch_is_refused():
  with pytest.raises(ConfigError, match="local cpu device"):
    parallel.batch_mesh(64, 64)
  with pytest.raises(ConfigError, match="does not split"):
    parallel.batch_mesh(3, 32)
