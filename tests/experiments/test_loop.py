"""End-to-end train -> evaluate -> visualise on the tiny `test` preset, resume, refusals, divergence."""

import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import implicit_planning as ip
from experiments.training import (
  ConfigError,
  TrainingDiverged,
  TrainingInterrupted,
  checkpoints,
  data,
  evaluation,
  figures,
  logs,
  loop,
  model,
  train_and_evaluate,
)
from implicit_planning import grad_check


@pytest.mark.parametrize("planner", ["vin", "id_vin"])
def test_train_then_evaluate_end_to_end(planner, tiny, vin_run, tmp_path):
  if planner == "vin":
    config, workdir, results = vin_run
  else:
    workdir = str(tmp_path / planner)
    config = tiny(planner=planner, diagnose_every=1)
    compiled = grad_check._differentiate._cache_size()
    results = train_and_evaluate(config, workdir)
    # Two epochs of diagnostics, one compilation of each of the three gradients they compare.
    assert grad_check._differentiate._cache_size() == compiled + 3
  for name in ("config.json", "metrics.jsonl", "results.json", "training_curve.png"):
    assert os.path.exists(os.path.join(workdir, name)), name
  assert os.listdir(os.path.join(workdir, "tensorboard"))
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  assert [r["epoch"] for r in records] == [1, 2]
  for key in (
    "loss",
    "train_optimal",
    "train_success",
    "val_optimal",
    "val_success",
    "update_norm",
    "fwd_iterations_mean",
    "fwd_residual_max",
    "bwd_iterations_mean",
    "bwd_residual_max",
    "step_time_s",
    "examples_per_s",
  ):
    assert np.isfinite(records[-1][key]), key
  if planner == "id_vin":  # the diagnostics ran every epoch and report sensible numbers
    for record in records:
      assert 0 <= record["grad_relative_error"] < 1 and -1 <= record["grad_cosine"] <= 1 + 1e-9
      assert -1 <= record["grad_unrolled_cosine"] <= 1 + 1e-9 and record["grad_unrolled_relative_error"] >= 0
      assert 0 <= record["diag_horizon_mean"] <= record["diag_farthest_mean"]
      assert record["diag_jacobian_radius_mean"] >= 0
      assert record["diag_forward_residual_p50"] <= record["diag_forward_residual_max"]
  if planner == "id_vin":  # the backward solve reports through the probe
    assert records[-1]["bwd_iterations_mean"] > 0
  assert 0 <= results["test"]["success"]["mean"] <= 100
  assert results["test"]["optimal"]["mean"] <= results["test"]["success"]["mean"]

  summary = evaluation.evaluate_run(workdir, split="test")
  assert summary["success"] == results["test"]["success"]  # same checkpoint, same data
  with open(os.path.join(workdir, "eval_test.json")) as f:
    assert json.load(f)["checkpoint_epochs"] == results["best_epoch"]
  longer = evaluation.evaluate_run(workdir, split="val", k_fwd=9, which="latest")
  assert longer["k_fwd"] == 9 and longer["out"] == os.path.join(workdir, "eval_val_k9_latest.json")
  assert os.path.exists(longer["out"])
  if planner == "vin":
    with pytest.raises(ConfigError, match="vin is an explicit planner"):
      evaluation.evaluate_run(workdir, forward_solver="anderson", out=None)
    with pytest.raises(ConfigError, match="no initial-state layer"):
      evaluation.evaluate_run(workdir, start="zeros", out=None)
  if planner == "id_vin":  # either forward solver, run to convergence, reaches the same equilibrium
    anderson = evaluation.evaluate_run(workdir, split="val", k_fwd=200, forward_solver="anderson")
    iteration = evaluation.evaluate_run(workdir, split="val", k_fwd=200, forward_solver="iteration", out=None)
    assert anderson["forward_solver"] == "anderson" and anderson["out"].endswith("eval_val_k200_anderson.json")
    assert anderson["fwd_residual_max"] <= 1e-5 and iteration["fwd_residual_max"] <= 1e-5
    assert anderson["success"]["per_seed"] == pytest.approx(iteration["success"]["per_seed"])
    assert anderson["fwd_returned_residual_max"] <= anderson["fwd_residual_max"]
    # Cut short, Anderson returns its best iterate, which no problem has above its last one.
    short = evaluation.evaluate_run(workdir, split="val", k_fwd=4, forward_solver="anderson", out=None)
    assert short["fwd_returned_residual_mean"] <= short["fwd_residual_mean"]
    assert 0 < short["fwd_returned_residual_max"] <= short["fwd_residual_max"]

  png = str(tmp_path / "policy.png")
  figures.policy_figure(workdir, png, index=0, split="test")
  assert os.path.getsize(png) > 0


@pytest.mark.parametrize("name", ["conv_gppn", "gppn"])
def test_an_ablated_start_is_zeros_or_the_layers_bias(name):
  maps = jnp.ones((2, 7, 7), jnp.uint8).at[:, 3, 1:6].set(0)
  batch = {"maps": maps, "goals": jnp.array([[0, 0], [6, 6]], jnp.int32)}
  planner = ip.make_planner(name, l_h=4, k=3)
  params = planner.init(jax.random.key(0), batch)
  layer = params["params"]["initial_state"]
  # Give the (zero-initialised) biases values, so that "bias" and "zeros" differ.
  layer = jax.tree.map(lambda leaf: leaf + jax.random.normal(jax.random.key(1), leaf.shape), layer)
  params = {"params": {**params["params"], "initial_state": layer}}
  zeros = evaluation.ablate_start(params, "zeros")
  from_zeros = ip.make_planner(name, l_h=4, k=3, zero_start=True)
  without_layer = {"params": {k: v for k, v in params["params"].items() if k != "initial_state"}}
  np.testing.assert_allclose(
    planner.apply(zeros, batch).logits, from_zeros.apply(without_layer, batch).logits, rtol=1e-6
  )
  bias = jax.tree_util.tree_leaves_with_path(evaluation.ablate_start(params, "bias")["params"]["initial_state"])
  trained = dict(jax.tree_util.tree_leaves_with_path(layer))
  for path, leaf in bias:
    expected = trained[path] if path[-1].key == "bias" else jnp.zeros_like(leaf)
    np.testing.assert_array_equal(leaf, expected)
  assert not np.allclose(
    planner.apply(evaluation.ablate_start(params, "bias"), batch).logits, planner.apply(zeros, batch).logits
  )
  mapped = evaluation.ablate_start({"mapper": {}, "planner": params}, "zeros")  # behind a mapper
  chex.assert_trees_all_equal(mapped["planner"], zeros)
  with pytest.raises(ValueError, match="start must be one of"):
    evaluation.ablate_start(params, "ones")


def test_resume_after_kill_gives_identical_parameters(tiny, final_params, tmp_path):
  # A learning-rate schedule: its step count is part of the restored optimiser state.
  config = tiny(planner="id_vin", seeds=2, lr_schedule="cosine", warmup_epochs=0.5, trace_steps=True)
  steps_per_epoch = config.num_train // config.batch_size
  straight = str(tmp_path / "straight")
  train_and_evaluate(config, straight)

  killed = str(tmp_path / "killed")
  with pytest.raises(TrainingInterrupted):
    # Killed in the middle of the second epoch, after the first epoch's checkpoint.
    train_and_evaluate(config.replace(stop_after_steps=steps_per_epoch + 2), killed)
  assert checkpoints.manager(killed, read_only=True).latest_step() == 1
  results = train_and_evaluate(config, killed)  # same command again: resumes

  a, b = final_params(straight, config), final_params(killed, config)
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert x.shape[0] == 2  # the seed axis
    np.testing.assert_array_equal(x, y)
  with open(os.path.join(killed, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  assert [record["epoch"] for record in records] == [1, 2]
  # The per-step trace of the resumed run is the uninterrupted run's, a line per epoch, [steps, seeds].
  traces = [logs.read_jsonl(os.path.join(run, "steps.jsonl")) for run in (straight, killed)]
  assert traces[0] == traces[1] and [line["epoch"] for line in traces[1]] == [1, 2]
  assert np.shape(traces[1][0]["update_norm"]) == (steps_per_epoch, 2) and np.all(traces[1][0]["alive"])
  # The resumed epoch's elapsed time counts on from the first invocation's.
  assert records[1]["elapsed_s"] >= records[0]["elapsed_s"] + records[1]["epoch_time_s"]

  # Each seed keeps its own best epoch (the first with its highest validation score) ...
  per_seed = np.array([record["val_success_per_seed"] for record in records])  # [epochs, seeds]
  assert results["best_epoch"] == (np.argmax(per_seed, axis=0) + 1).tolist()
  assert results["best_val_success"] == per_seed.max(axis=0).tolist()
  # ... and its parameters from that epoch score what they scored then.
  val = evaluation.evaluate_run(killed, split="val", out=None)
  np.testing.assert_allclose(val["success"]["per_seed"], results["best_val_success"], atol=1e-9)
  assert val["checkpoint_epochs"] == results["best_epoch"]


def test_each_seed_keeps_the_parameters_of_its_own_best_epoch():
  params = {"w": np.stack([np.full((2, 3), s, np.float32) for s in range(3)]), "b": np.arange(3.0)}
  best = jax.tree.map(lambda x: x - 10, params)
  kept = jax.tree.map(np.asarray, loop.keep_improved(np.array([True, False, True]), params, best))
  np.testing.assert_array_equal(kept["w"][:, 0, 0], [0, -9, 2])
  np.testing.assert_array_equal(kept["b"], [0, -9, 2])


def test_changed_config_in_the_same_workdir_is_refused(vin_run):
  config, workdir, _ = vin_run
  with pytest.raises(checkpoints.ConfigMismatchError, match=r"l_q: stored 8, now 16"):
    train_and_evaluate(config.replace(l_q=16), workdir)


@pytest.mark.parametrize("schedule, refused", [("constant", False), ("cosine", True)])
def test_more_epochs_resume_a_constant_learning_rate_but_not_a_cosine(tiny, tmp_path, schedule, refused):
  """A cosine schedule spans ``epochs``: a longer run would have had other learning rates."""
  config = tiny(lr_schedule=schedule)
  checkpoints.write_or_check_config(str(tmp_path), config)
  longer = config.replace(epochs=config.epochs + 1)
  if refused:
    with pytest.raises(checkpoints.ConfigMismatchError, match="epochs: stored 2, now 3"):
      checkpoints.write_or_check_config(str(tmp_path), longer)
  else:
    checkpoints.write_or_check_config(str(tmp_path), longer)


def test_evaluates_on_larger_maps_without_replacing_the_own_result(tiny, vin_run):
  config, workdir, _ = vin_run
  own = evaluation.evaluate_run(workdir, split="test")
  larger = data.ensure_dataset(tiny(size=9, num_train=0, num_val=0, num_test=8))
  summary = evaluation.evaluate_run(workdir, data_path=larger)
  assert summary["size"] == 9 and config.size == 7
  assert summary["maps"] + summary["skipped_maps"] == 8
  assert summary["out"] == os.path.join(workdir, f"eval_test_{os.path.basename(larger)[:-4]}.json")
  with open(own["out"]) as f:
    assert json.load(f)["size"] == 7  # the run's own result is still there
  assert evaluation.evaluate_run(workdir, data_path=larger, out=None)["out"] is None


def test_checkpoint_with_other_task_data_is_refused(tiny, vin_run):
  _, workdir, _ = vin_run
  other = data.ensure_dataset(tiny(task="manip_cspace", size=18))
  with pytest.raises(data.DataMismatchError, match="task=maze2d"):
    evaluation.evaluate_run(workdir, data_path=other)


def test_unknown_names_and_bad_values_are_refused_when_the_config_is_made(tiny):
  with pytest.raises(ConfigError) as error:
    tiny(planner="vim")
  for name in ip.PLANNERS:
    assert name in str(error.value)
  for change, message in (
    ({"task": "maze3d"}, "unknown task"),
    ({"label": "all"}, "unknown label"),
    ({"backward_solver": "broyden"}, "backward_solver"),
    ({"k_fwd": 0}, "k_fwd"),
    ({"learned_discount": True}, "learned_discount needs a contraction"),
    ({"jacobian_reg": -1.0}, "jacobian_reg must be >= 0"),
    ({"iterate_loss_weight": -1.0}, "iterate_loss_weight must be >= 0"),
    ({"supervised_iterates": -1}, "supervised_iterates must be an integer >= 0"),
    ({"planner": "id_vin", "k_fwd": 3, "supervised_iterates": 3}, "cuts k_fwd=3 into 4 segments"),
    ({"lr_schedule": "linear"}, "unknown lr_schedule"),
    ({"warmup_epochs": 2}, r"warmup_epochs must be in \[0, epochs=2\)"),
    ({"decay_epochs": 1}, "needs lr_schedule=cosine"),
    (
      {"lr_schedule": "cosine", "warmup_epochs": 1, "decay_epochs": 1.5},
      r"decay_epochs must be in \[0, epochs - warmup",
    ),
  ):
    with pytest.raises(ConfigError, match=message):
      tiny(**change)


def test_a_training_split_smaller_than_one_batch_is_refused_before_any_work(tiny, tmp_path):
  with pytest.raises(ConfigError, match="smaller than one batch"):
    train_and_evaluate(tiny(num_train=4), str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run")


def test_non_finite_loss_in_every_seed_stops_with_the_step_and_writes_no_checkpoint(tiny, tmp_path):
  workdir = str(tmp_path / "run")
  config = tiny(planner="vin", learning_rate=1e30, log_every=1, seeds=2)
  with pytest.raises(TrainingDiverged, match=r"non-finite .* at epoch 1, step \d+/4 .*no seed is left"):
    train_and_evaluate(config, workdir)
  assert checkpoints.manager(workdir, read_only=True).latest_step() is None


def test_a_diverging_seed_is_recorded_and_the_others_finish(tiny, tmp_path, vin_run):
  """Seed 1 starts from parameters with a NaN: the run finishes, seed 1 is recorded as diverged
  at its first step (and survives a resume), and seed 0 ends exactly as in a run of its own."""
  alone_config, _, alone = vin_run
  config = alone_config.replace(seeds=2)
  workdir = str(tmp_path / "run")
  planner = model.make_planner(config)
  split = data.to_device(data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size).train)

  def poisoned():
    params = model.init_state(planner, model.make_optimizer(config, 1), config, split).params
    return jax.tree.map(lambda leaf: leaf.at[1].set(jnp.nan), params)

  with pytest.raises(TrainingInterrupted):
    train_and_evaluate(config.replace(stop_after_steps=6), workdir, initial_params=poisoned)  # mid-epoch 2
  results = train_and_evaluate(config, workdir)
  assert results["diverged"][0] is None
  stopped = {"epoch": 1, "step": 1, "global_step": 1, "quantities": ["loss", "grad_norm", "fwd_residual_max"]}
  assert results["diverged"][1] == stopped
  assert results["best_epoch"][0] == alone["best_epoch"][0]
  assert results["test"]["success"]["per_seed"][0] == pytest.approx(alone["test"]["success"]["per_seed"][0])
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  assert [r["seeds_alive"] for r in records] == [1, 1]
  assert all(np.isfinite(r["loss"]) and np.isfinite(r["grad_norm"]) for r in records)
