"""Pretrained planners: a run exported by name loads back and plans as the run tested it."""

import json
import os

import jax
import numpy as np
import pytest

import implicit_planning as ip
from experiments.training import data, evaluation, export, figures
from implicit_planning import metrics


def test_an_exported_run_loads_by_name_and_scores_its_seeds_test_result(vin_run, tmp_path):
  config, workdir, results = vin_run
  directory = export.export(workdir, str(tmp_path), command="pytest")
  loaded = ip.load_pretrained("vin", task=config.task, size=config.size, root=tmp_path)
  info = loaded.info
  seed = int(np.argmax(results["best_val_success"]))
  assert directory == str(tmp_path / f"{config.task}_{config.size}" / "vin")
  assert (info["seed"], info["command"], info["best_epoch"]) == (seed, "pytest", results["best_epoch"][seed])
  assert loaded.planner.options == ip.make_planner("vin", config.planner_options).options
  test = data.load_checked(config.data or data.dataset_path(config), config.task, config.wrap, config.size).test
  batch = {"maps": test.maps, "goals": test.goals}
  logits = jax.jit(loaded.planner.apply)(loaded.params, batch).logits
  scores = metrics.policy_metrics(metrics.greedy_actions(logits), test.dist, test.goals, config.wrap)
  assert float(np.nanmean(scores.success)) == pytest.approx(results["test"]["success"]["per_seed"][seed], abs=1e-3)
  assert ip.pretrained.available(tmp_path) == [("vin", config.task, config.size)]
  with open(os.path.join(directory, "info.json")) as f:
    assert json.load(f)["test"]["success"] == pytest.approx(results["test"]["success"]["per_seed"][seed])


def test_an_existing_entry_is_not_replaced_and_a_missing_one_names_what_there_is(vin_run, tmp_path):
  _, workdir, _ = vin_run
  export.export(workdir, str(tmp_path))
  with pytest.raises(FileExistsError, match="already holds"):
    export.export(workdir, str(tmp_path))
  with pytest.raises(FileNotFoundError, match=r"no pretrained id_vin .* there are: vin \(maze2d, 7\)"):
    ip.load_pretrained("id_vin", size=7, root=tmp_path)


def test_evaluate_scores_a_pretrained_planner_by_name(vin_run, tmp_path):
  config, workdir, results = vin_run
  export.export(workdir, str(tmp_path))
  seed = int(np.argmax(results["best_val_success"]))
  summary = evaluation.evaluate_pretrained("vin", config.task, config.size, root=str(tmp_path))
  assert summary["success"]["per_seed"] == pytest.approx([results["test"]["success"]["per_seed"][seed]], abs=1e-4)
  assert (summary["pretrained"], summary["out"], summary["checkpoint_epochs"]) == (
    "vin",
    None,
    [results["best_epoch"][seed]],
  )


def test_a_pretrained_planner_is_drawn_by_name(vin_run, tmp_path):
  config, workdir, _ = vin_run
  export.export(workdir, str(tmp_path))
  out = tmp_path / "policy.png"
  figures.pretrained_policy_figure("vin", config.task, config.size, str(out), index=1, root=str(tmp_path))
  assert out.stat().st_size > 10_000
  with pytest.raises(IndexError, match="the test split has 16 maps"):
    figures.pretrained_policy_figure("vin", config.task, config.size, str(out), index=99, root=str(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "task", "size"), ip.pretrained.available())
def test_every_committed_pretrained_planner_loads_into_its_model(name, task, size):
  loaded = ip.load_pretrained(name, task, size)
  assert (loaded.info["planner"], loaded.info["task"], loaded.info["size"]) == (name, task, size)
  assert loaded.planner.inputs[0] == loaded.info.get("mapper", {}).get("observation", "maps")
  assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(loaded.params))
