"""The command lines, as a person types them, and the huge-pages restart of the binaries."""

import json
import os
import platform
import subprocess
import sys

import jax
from absl import flags
from absl.testing import flagsaver

from experiments import huge_pages


def test_binaries_train_evaluate_visualize(data_dir, tmp_path):
  """The command lines, as a person types them (tiny preset, one epoch)."""
  workdir = str(tmp_path / "run")
  env = {
    **os.environ,
    "JAX_COMPILATION_CACHE_DIR": jax.config.jax_compilation_cache_dir,
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
  }
  env.pop("GLIBC_TUNABLES", None)
  run = lambda *args: subprocess.run(
    [sys.executable, "-m", *args], env=env, text=True, capture_output=True, check=False
  )
  done = run(
    "experiments.train",
    "--preset=test",
    "--planner=vin",
    "--epochs=1",
    "--trace_steps",
    f"--data_dir={data_dir}",
    f"--workdir={workdir}",
  )
  assert done.returncode == 0, done.stderr[-3000:]
  assert "test %Optimal" in done.stdout and "epoch 1/1" in done.stderr
  if platform.libc_ver()[0] == "glibc" and huge_pages.transparent_huge_pages_available():
    assert done.stderr.count("Restarting with GLIBC_TUNABLES") == 1  # the restarted run keeps it
  done = run("experiments.setbacks", f"--workdir={workdir}", "--window=2", f"--compare={tmp_path / 'runs.png'}")
  assert done.returncode == 0, done.stderr[-3000:]
  assert f"{workdir}: " in done.stdout and "step setbacks per seed" in done.stdout
  with open(os.path.join(workdir, "setbacks.json")) as f:
    summary = json.load(f)
  assert summary["window"] == 2 and "clip's bound per epoch" in done.stdout
  # Trained without the clip: its updates are set against the bound the recipe's clip would have set.
  assert summary["clip"]["factor"] == 1.5 and not summary["clip"]["trained_with_it"]
  assert [row["epoch"] for row in summary["clip"]["per_epoch"]] == [1]
  assert os.path.exists(os.path.join(workdir, "setbacks.png")) and os.path.exists(tmp_path / "runs.png")
  done = run("experiments.evaluate", f"--workdir={workdir}", "--split=val", "--k_fwd=7")
  assert done.returncode == 0, done.stderr[-3000:]
  with open(os.path.join(workdir, "eval_val_k7.json")) as f:
    assert json.load(f)["k_fwd"] == 7
  done = run("experiments.visualize", f"--workdir={workdir}", "--index=1")
  assert done.returncode == 0, done.stderr[-3000:]
  assert os.path.exists(os.path.join(workdir, "policy_test_1.png"))
  done = run("experiments.train", "--preset=test", "--planner=vim", f"--workdir={workdir}")
  assert done.returncode == 1
  assert "ConfigError: unknown planner 'vim'; known: vin, id_vin" in done.stderr
  assert "Traceback" not in done.stderr


def test_huge_pages_restart_the_binary_once_with_the_tunable_added(monkeypatch):
  flags.FLAGS.mark_as_parsed()
  restarts = []
  monkeypatch.setattr(os, "execv", lambda path, argv: restarts.append((path, argv)))
  monkeypatch.setattr(huge_pages, "transparent_huge_pages_available", lambda: True)
  monkeypatch.setattr(platform, "libc_ver", lambda: ("glibc", "2.36"))
  monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
  with flagsaver.flagsaver(huge_pages=False):
    huge_pages.reexec_with_huge_pages()
  assert not restarts
  huge_pages.reexec_with_huge_pages()
  assert restarts == [(sys.executable, sys.orig_argv)]
  assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
  huge_pages.reexec_with_huge_pages()  # the restarted process: no second restart
  assert len(restarts) == 1
