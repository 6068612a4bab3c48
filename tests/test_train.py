"""End-to-end train -> evaluate on the tiny `test` preset, resume, refusals, divergence."""

import json
import os
import platform
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl import flags
from absl.testing import flagsaver

import implicit_planning as ip
from experiments import checkpoints, configs, data, evaluation, huge_pages, model, training, visualize


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
  """Persistent XLA cache: the runs below compile the same steps several times."""
  saved = {name: getattr(jax.config, name) for name in (
      "jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
      "jax_persistent_cache_min_entry_size_bytes")}
  jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla_cache")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  yield
  for name, value in saved.items():
    jax.config.update(name, value)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  """One generated tiny dataset shared by the module's runs."""
  return str(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def vin_run(data_dir, tmp_path_factory):
  """(config, workdir, results) of one finished tiny VIN run, shared by several tests."""
  config = tiny(data_dir, planner="vin")
  workdir = str(tmp_path_factory.mktemp("vin_run"))
  return config, workdir, training.train_and_evaluate(config, workdir)


def tiny(data_dir, **changes):
  return configs.test().replace(data_dir=data_dir, **changes)


def final_params(workdir, config):
  """Params of the latest checkpoint in `workdir`."""
  split = data.to_device(data.load_checked(config.data or data.dataset_path(config),
                                           config.task, config.wrap, config.size).train)
  template = model.init_state(model.make_planner(config), model.make_optimizer(config), config,
                              split)
  return checkpoints.restore(checkpoints.manager(workdir, read_only=True), template,
                             "latest").state.params


@pytest.mark.parametrize("planner", ["vin", "id_vin"])
def test_train_then_evaluate_end_to_end(planner, data_dir, vin_run, tmp_path):
  if planner == "vin":
    config, workdir, results = vin_run
  else:
    workdir = str(tmp_path / planner)
    config = tiny(data_dir, planner=planner, grad_check_every=1)
    results = training.train_and_evaluate(config, workdir)
  for name in ("config.json", "metrics.jsonl", "results.json", "training_curve.png"):
    assert os.path.exists(os.path.join(workdir, name)), name
  assert os.listdir(os.path.join(workdir, "tensorboard"))
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  assert [r["epoch"] for r in records] == [1, 2]
  for key in ("loss", "train_optimal", "train_success", "val_optimal", "val_success",
              "fwd_iterations_mean", "fwd_residual_max", "bwd_iterations_mean",
              "bwd_residual_max", "step_time_s", "examples_per_s"):
    assert np.isfinite(records[-1][key]), key
  if planner == "id_vin":  # the gradient check ran every epoch and reports sensible numbers
    for record in records:
      assert 0 <= record["grad_relative_error"] < 1 and -1 <= record["grad_cosine"] <= 1 + 1e-9
  if planner == "id_vin":  # the backward solve reports through the probe
    assert records[-1]["bwd_iterations_mean"] > 0
  assert 0 <= results["test"]["success"]["mean"] <= 100
  assert results["test"]["optimal"]["mean"] <= results["test"]["success"]["mean"]

  summary = evaluation.evaluate_run(workdir, split="test")
  assert summary["success"] == results["test"]["success"]  # same checkpoint, same data
  with open(os.path.join(workdir, "eval_test.json")) as f:
    assert json.load(f)["checkpoint_epoch"] == results["best_epoch"]
  longer = evaluation.evaluate_run(workdir, split="val", k_fwd=9, which="latest")
  assert longer["k_fwd"] == 9 and os.path.exists(os.path.join(workdir, "eval_val.json"))

  png = str(tmp_path / "policy.png")
  visualize.plot_run(workdir, png, index=0, split="test")
  assert os.path.getsize(png) > 0


def test_resume_after_kill_gives_identical_parameters(data_dir, tmp_path):
  config = tiny(data_dir, planner="id_vin", seeds=2)
  steps_per_epoch = config.num_train // config.batch_size
  straight = str(tmp_path / "straight")
  training.train_and_evaluate(config, straight)

  killed = str(tmp_path / "killed")
  with pytest.raises(training.TrainingInterrupted):
    # Killed in the middle of the second epoch, after the first epoch's checkpoint.
    training.train_and_evaluate(config.replace(stop_after_steps=steps_per_epoch + 2), killed)
  assert checkpoints.manager(killed, read_only=True).latest_step() == 1
  training.train_and_evaluate(config, killed)  # same command again: resumes

  a, b = final_params(straight, config), final_params(killed, config)
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert x.shape[0] == 2  # the seed axis
    np.testing.assert_array_equal(x, y)
  with open(os.path.join(killed, "metrics.jsonl")) as f:
    assert [json.loads(line)["epoch"] for line in f] == [1, 2]


def test_changed_config_in_the_same_workdir_is_refused(vin_run):
  config, workdir, _ = vin_run
  with pytest.raises(checkpoints.ConfigMismatchError, match=r"l_q: stored 8, now 16"):
    training.train_and_evaluate(config.replace(l_q=16), workdir)


def test_evaluates_on_larger_maps(data_dir, vin_run):
  config, workdir, _ = vin_run
  larger = data.ensure_dataset(tiny(data_dir, size=9, num_train=0, num_val=0, num_test=8))
  summary = evaluation.evaluate_run(workdir, data_path=larger, write=False)
  assert summary["size"] == 9 and config.size == 7
  assert summary["maps"] + summary["skipped_maps"] == 8


def test_checkpoint_with_other_task_data_is_refused(data_dir, vin_run):
  _, workdir, _ = vin_run
  other = data.ensure_dataset(tiny(data_dir, task="manip_cspace", size=18))
  with pytest.raises(data.DataMismatchError, match="task=maze2d"):
    evaluation.evaluate_run(workdir, data_path=other)


def test_unknown_planner_is_refused_with_the_list_of_names(data_dir, tmp_path):
  with pytest.raises(training.ConfigError) as error:
    training.train_and_evaluate(tiny(data_dir, planner="vim"), str(tmp_path / "run"))
  for name in ip.PLANNERS:
    assert name in str(error.value)
  assert not os.path.exists(tmp_path / "run")


def test_binaries_train_evaluate_visualize(data_dir, tmp_path):
  """The command lines, as a person types them (tiny preset, one epoch)."""
  workdir = str(tmp_path / "run")
  env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": jax.config.jax_compilation_cache_dir,
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
  env.pop("GLIBC_TUNABLES", None)
  run = lambda *args: subprocess.run([sys.executable, "-m", *args], env=env, text=True,
                                     capture_output=True, check=False)
  done = run("experiments.train", "--preset=test", "--planner=vin", "--epochs=1",
             f"--data_dir={data_dir}", f"--workdir={workdir}")
  assert done.returncode == 0, done.stderr[-3000:]
  assert "test %Optimal" in done.stdout and "epoch 1/1" in done.stderr
  if platform.libc_ver()[0] == "glibc" and huge_pages.transparent_huge_pages_available():
    assert done.stderr.count("Restarting with GLIBC_TUNABLES") == 1  # the restarted run keeps it
  done = run("experiments.evaluate", f"--workdir={workdir}", "--split=val", "--k_fwd=7")
  assert done.returncode == 0, done.stderr[-3000:]
  assert json.load(open(os.path.join(workdir, "eval_val.json")))["k_fwd"] == 7
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


def test_non_finite_loss_stops_with_the_step_and_writes_no_checkpoint(data_dir, tmp_path):
  workdir = str(tmp_path / "run")
  config = tiny(data_dir, planner="vin", learning_rate=1e30, log_every=1)
  with pytest.raises(training.TrainingDiverged, match=r"non-finite .* at epoch 1, step \d+/4"):
    training.train_and_evaluate(config, workdir)
  assert checkpoints.manager(workdir, read_only=True).latest_step() is None


def test_train_step_compiles_once_for_every_epoch_and_step(data_dir):
  config = tiny(data_dir, planner="vin", seeds=2)
  split = data.to_device(data.load_checked(data.ensure_dataset(config), config.task,
                                           config.wrap, config.size).train)
  planner, optimizer = model.make_planner(config), model.make_optimizer(config)
  state = model.init_state(planner, optimizer, config, split)
  step = training.make_train_step(planner, optimizer, config)
  for epoch in range(2):
    perms = training.epoch_permutations(state.key, jax.numpy.int32(epoch), split.num_maps)
    for i in range(2):
      state, out = step(state, split, perms, jax.numpy.int32(epoch), jax.numpy.int32(i))
  assert out["loss"].shape == (2,)
  assert step._cache_size() == 1  # pylint: disable=protected-access


def test_labels_are_drawn_among_the_optimal_actions():
  opt = np.zeros((2, 4, 3, 3), bool)
  opt[:, 1] = True
  opt[0, 3, 0, 0] = True
  labels = np.asarray(training.sample_labels(jax.random.PRNGKey(0), opt))
  assert set(np.unique(labels[1])) == {1}
  draws = {int(training.sample_labels(jax.random.PRNGKey(k), opt)[0, 0, 0]) for k in range(20)}
  assert draws == {1, 3}


def test_set_loss_is_minus_log_of_the_optimal_mass():
  logits = np.log(np.array([0.1, 0.2, 0.3, 0.4], np.float32))[None, :, None, None]
  opt = np.array([True, False, True, False])[None, :, None, None]
  loss = training.cell_loss(logits, opt, np.zeros((1, 1, 1), np.int32), "set")
  np.testing.assert_allclose(loss, -np.log(0.4), rtol=1e-6)
  loss = training.cell_loss(logits, opt, np.full((1, 1, 1), 2, np.int32), "one")
  np.testing.assert_allclose(loss, -np.log(0.3), rtol=1e-6)


@pytest.mark.parametrize("seeds", [1, 3])
def test_over_seeds_equals_vmap(seeds):
  def fn(params, x, shared):
    return {"y": params["w"] * x + shared, "n": jnp.sum(params["w"])}

  params = {"w": jnp.arange(seeds * 4.0).reshape(seeds, 4)}
  x, shared = jnp.arange(seeds * 4.0).reshape(seeds, 4) + 1, jnp.float32(2.0)
  expected = jax.vmap(fn, in_axes=(0, 0, None))(params, x, shared)
  got = model.over_seeds(fn, in_axes=(0, 0, None))(params, x, shared)
  jax.tree.map(np.testing.assert_array_equal, got, expected)
  assert jax.tree.map(jnp.shape, got) == jax.tree.map(jnp.shape, expected)
