"""Data parallelism: a run with its batches split over two (forced host) devices, or over two
processes of one device each, is the one-device run."""

import json
import os
import socket
import subprocess
import sys

import pytest

from experiments.training import ConfigError, parallel

TWO_DEVICE_RUNS = """
import json, sys
import jax
import numpy as np
from experiments.training import presets, train_and_evaluate, checkpoints, data, model

root, modes = sys.argv[1], sys.argv[2].split(",")
assert "2" not in modes or jax.local_device_count() == 2, jax.devices()
out = {}
for devices in (int(mode) if mode.isdigit() else mode for mode in modes):
  config = presets.test().replace(planner="id_vin", seeds=2, data_dir=root, devices=2 if devices == "processes" else devices)
  workdir = f"{root}/devices_{devices}"
  if devices == "processes":  # trained by two processes of one device each before this script
    with open(f"{workdir}/results.json") as f:
      results = json.load(f)
  else:
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


def _free_port() -> int:
  with socket.socket() as sock:
    sock.bind(("localhost", 0))
    return sock.getsockname()[1]


def _runs(root, modes: str, env) -> dict:
  """The ``TWO_DEVICE_RUNS`` results of ``modes`` (``1,2``: one and two devices; ``processes``: read back)."""
  run = subprocess.run(
    [sys.executable, "-c", TWO_DEVICE_RUNS, str(root), modes], env=env, capture_output=True, text=True, timeout=600
  )
  assert run.returncode == 0, run.stderr[-3000:]
  return json.loads(run.stdout.split("RESULT", 1)[1])


def _assert_same_run(one: dict, other: dict) -> None:
  assert len(one["losses"]) == len(other["losses"]) == 2
  for a, b in zip(one["losses"], other["losses"]):
    assert a == pytest.approx(b, rel=1e-4)
  for a, b in zip(one["params"], other["params"]):
    assert a == pytest.approx(b, rel=1e-3, abs=1e-5)
  assert one["test_success"] == pytest.approx(other["test_success"], abs=1e-6)


def test_two_devices_train_to_the_one_device_parameters(tmp_path):
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
  result = _runs(tmp_path, "1,2", env)
  _assert_same_run(result["1"], result["2"])


def _free_port() -> int:
  with socket.socket() as sock:
    sock.bind(("localhost", 0))
    return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_to_the_one_device_parameters(tmp_path):
  port, env = _free_port(), {**os.environ, "JAX_PLATFORMS": "cpu"}
  flags = ["--preset=test", "--recipe=paper", "--planner=id_vin", "--seeds=2", "--devices=2", f"--data_dir={tmp_path}"]
  flags += [f"--workdir={tmp_path}/devices_processes", f"--coordinator_address=localhost:{port}", "--num_processes=2"]
  processes = [
    subprocess.Popen(
      [sys.executable, "-m", "experiments.train", *flags, f"--process_id={i}"],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
    )
    for i in range(2)
  ]
  outputs = [process.communicate(timeout=600)[0] for process in processes]
  assert all(process.returncode == 0 for process in processes), outputs[0][-3000:] + outputs[1][-3000:]
  assert sorted(os.listdir(tmp_path / "devices_processes")) == [
    "checkpoints",
    "config.json",
    "metrics.jsonl",
    "results.json",
    "tensorboard",
    "training_curve.png",
  ]  # written once, by the first process
  result = _runs(tmp_path, "1,processes", env)
  _assert_same_run(result["1"], result["processes"])


def test_more_devices_than_there_are_or_an_uneven_batch_is_refused():
  with pytest.raises(ConfigError, match="local cpu device"):
    parallel.batch_mesh(64, 64)
  with pytest.raises(ConfigError, match="does not split"):
    parallel.batch_mesh(3, 32)
