"""Sweeps: every run is a valid config, commands carry the flags, the summary reads real runs."""

import json
import os
import shutil
import sys

import pytest
from absl import app

from experiments import studies
from experiments import sweep as sweep_binary
from experiments.paper import fig10
from experiments.training import ConfigError, checkpoints, evaluation, phases, presets, recipes, sweeps


@pytest.mark.parametrize("name", list(studies.SWEEPS))
def test_every_run_of_every_sweep_is_a_valid_config(name):
  sweep = studies.SWEEPS[name]
  labels = [run.label for run in sweep.runs]
  assert len(set(labels)) == len(labels)
  for run in sweep.runs:
    presets.get_config(sweep.preset).replace(
      **sweeps.run_flags(run, sweep.flags, "root")
    )  # raises ConfigError on a bad name or value


def test_only_picks_runs_in_the_order_given():
  runs = sweeps.select(studies.IMPLICIT_LEVERS, ["phantom", "vin"])
  assert [run.label for run in runs] == ["phantom", "vin"]
  assert sweeps.select(studies.IMPLICIT_LEVERS, []) == studies.IMPLICIT_LEVERS.runs


def test_unknown_sweeps_labels_and_settings_are_refused():
  with pytest.raises(ConfigError, match="known sweeps"):
    studies.get_sweep("nope")
  with pytest.raises(ConfigError, match="has no run nope"):
    sweeps.select(studies.IMPLICIT_LEVERS, ["vin", "nope"])
  with pytest.raises(ConfigError, match="name=value"):
    sweep_binary.parse_settings(["seeds=3", "epochs"])
  with pytest.raises(ConfigError, match="unknown training flag 'sedes'"):
    sweep_binary.parse_settings(["sedes=3"])
  with pytest.raises(ConfigError, match="seeds=x: expected int"):
    sweep_binary.parse_settings(["seeds=x"])
  settings = sweep_binary.parse_settings(["seeds=3", "contraction=0.9", "learned_discount=true", "label=set"])
  assert settings == {"seeds": 3, "contraction": 0.9, "learned_discount": True, "label": "set"}


def test_a_command_applies_common_flags_then_the_runs_own():
  run = sweeps.Run("a", {"planner": "id_vin", "k_fwd": 80})
  command = sweeps.train_command("mid", run, "root/a", {"k_fwd": "30", "seeds": "3"})
  assert command[:3] == [sys.executable, "-m", "experiments.train"]
  assert command[3:] == [
    "--preset=mid",
    "--recipe=paper",
    "--workdir=root/a",
    "--k_fwd=80",
    "--seeds=3",
    "--planner=id_vin",
  ]


def test_the_users_settings_beat_a_runs_defaults_and_lose_to_what_the_run_is():
  run = sweeps.Run("a", {"planner": "vin", "k": 30}, defaults={"epochs": 10, "num_train": 1000})
  flags = sweeps.run_flags(run, {"epochs": 20, "seeds": 5}, "root", {"epochs": 15, "k": 50})
  assert flags == {"epochs": 15, "seeds": 5, "num_train": 1000, "k": 30, "planner": "vin"}
  assert sweeps.overruled_settings(run, {"epochs": 15, "k": 50, "planner": "vin"}) == {"k": 30}


def test_a_command_names_its_recipe_and_finds_another_run_under_the_root():
  run = sweeps.Run("b", {"planner": "vin", "mapper_from": f"{sweeps.ROOT}/mapper/mapper"})
  command = sweeps.train_command("workspace", run, "runs/s/b", {}, recipe="stable")
  assert command[3:] == [
    "--preset=workspace",
    "--recipe=stable",
    "--workdir=runs/s/b",
    "--planner=vin",
    "--mapper_from=runs/s/mapper/mapper",
  ]


def test_another_recipe_or_preset_gets_its_own_root_and_a_scale_only_a_figure():
  sweep, preset, root, figure = sweep_binary.resolve("workspace_twins", None, None, "stable")
  assert (sweep.recipe, preset, root, figure) == ("stable", "workspace", "workspace_twins_stable", None)
  assert sweep.runs == studies.WORKSPACE_TWINS.runs
  assert sweep_binary.resolve("recipe_twins", None, "paper", "stable")[1:3] == ("paper", "recipe_twins_paper")
  sweep, _, root, figure = sweep_binary.resolve("fig9", "cpu", None, "paper")
  assert (sweep.recipe, root, figure[0].name) == ("paper", "fig9_cpu_paper", "fig9")
  with pytest.raises(ConfigError, match="--scale is for the paper's figures"):
    sweep_binary.resolve("family_twins", "cpu", None)


def test_a_run_stored_with_other_settings_is_named_not_taken_for_the_sweeps(tiny, tmp_path):
  """A finished run whose stored settings (each phase's, with a mapper) differ from the sweep's in
  what it learns would otherwise be skipped as done and summarised as the sweep's."""
  plain = tiny(planner="vin")
  checkpoints.write_or_check_config(str(tmp_path / "plain"), plain)
  assert sweeps.stale_settings(plain.replace(log_every=7), str(tmp_path / "plain")) == []
  assert sweeps.stale_settings(plain.replace(learning_rate=3e-3), str(tmp_path / "plain")) == [
    "learning_rate: stored 0.001, now 0.003"
  ]
  assert sweeps.stale_settings(plain, str(tmp_path / "not_started")) == []
  mapped = tiny(task="manip_workspace", size=18, mapper="workspace_unet", planner="vin")
  for phase in ("mapper", "planner"):
    checkpoints.write_or_check_config(str(tmp_path / "mapped" / phase), phases.phase_config(mapped, phase))
  assert sweeps.stale_settings(mapped, str(tmp_path / "mapped")) == []
  assert sweeps.stale_settings(mapped.replace(mapper_learning_rate=1e-3), str(tmp_path / "mapped")) == [
    "mapper mapper_learning_rate: stored 0.0, now 0.001",
    "planner mapper_learning_rate: stored 0.0, now 0.001",
  ]


def test_a_finished_run_with_a_mapper_is_reused_by_its_phases_settings(tiny, tmp_path):
  """A run with a mapper stores a config per phase and none of its own; `--reuse` compares each."""
  mapped = tiny(task="manip_workspace", size=18, mapper="workspace_unet", planner="vin")
  root, workdir = str(tmp_path), tmp_path / "mapped"
  for phase in phases.phases(mapped):
    checkpoints.write_or_check_config(str(workdir / phase), phases.phase_config(mapped, phase))
  (workdir / "joint" / "metrics.jsonl").write_text(json.dumps({"epoch": 1}) + "\n")
  assert sweeps.find_trained(mapped, [root]) is None  # the joint phase has not finished
  (workdir / "joint" / "results.json").write_text("{}")
  assert sweeps.find_trained(mapped, [root]) == str(workdir)
  assert sweeps.find_trained(mapped.replace(log_every=7), [root]) == str(workdir)
  assert sweeps.find_trained(mapped.replace(mapper_learning_rate=1e-3), [root]) is None
  unmapped = mapped.replace(task="manip_cspace", mapper="")
  assert sweeps.find_trained(unmapped, [root]) is None  # no run of its own there


def test_runs_go_side_by_side_on_their_own_cores_and_report_failures(tmp_path, capsys):
  code = "import os; print(sorted(os.sched_getaffinity(0)), os.environ['XLA_FLAGS'])"
  commands = [(label, [sys.executable, "-c", code]) for label in ("a", "b")]
  commands.append(("c", [sys.executable, "-c", "raise SystemExit(3)"]))
  sweep_binary.run_all(commands, str(tmp_path), cores=[0, 1])
  logs = {label: (tmp_path / f"{label}.log").read_text() for label in ("a", "b")}
  assert all("intra_op_parallelism_threads=1" in log for log in logs.values())
  assert {log.split("]")[0] + "]" for log in logs.values()} <= {"[0]", "[1]"}
  assert "] c FAILED (exit 3" in capsys.readouterr().out


def test_accelerator_runs_go_side_by_side_unpinned_without_preallocating(tmp_path, capsys):
  code = (
    "import os, time; time.sleep(1); print(len(os.sched_getaffinity(0)), os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'])"
  )
  commands = [(label, [sys.executable, "-c", code]) for label in ("a", "b")]
  sweep_binary.run_all(commands, str(tmp_path), jobs=2)
  for label in ("a", "b"):
    assert (tmp_path / f"{label}.log").read_text().split() == [str(len(os.sched_getaffinity(0))), "false"]
  assert capsys.readouterr().out.splitlines()[:2] == ["started a", "started b"]  # both before either finished


def test_the_summary_tables_a_finished_run(vin_run, tmp_path):
  config, workdir, results = vin_run
  shutil.copytree(workdir, tmp_path / "vin", ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
  # A diverged run: metrics but no results, and the divergence message in its log.
  shutil.copytree(tmp_path / "vin", tmp_path / "broken", ignore=shutil.ignore_patterns("results.json"))
  (tmp_path / "broken.log").write_text("...\nTrainingDiverged: training stopped: non-finite loss\n")
  # A run that finished with one of its seeds diverged on the way.
  shutil.copytree(tmp_path / "vin", tmp_path / "partly")
  stopped = {"epoch": 2, "step": 1, "global_step": 5, "quantities": ["loss"]}
  (tmp_path / "partly" / "results.json").write_text(json.dumps({**results, "diverged": [None, stopped]}))
  runs = (
    sweeps.Run("vin", {"planner": "vin"}, "explicit"),
    sweeps.Run("absent", {"planner": "id_vin"}),
    sweeps.Run("broken", {"planner": "vin"}),
    sweeps.Run("partly", {"planner": "vin"}),
  )
  rows = sweeps.summarize(str(tmp_path), runs)
  assert [row["label"] for row in rows] == ["vin", "broken", "partly"]  # a run not started has no row
  assert [row["status"] for row in rows] == ["finished", "diverged", "finished"] and "test" not in rows[1]
  assert rows[0]["diverged_seeds"] == {} and rows[2]["diverged_seeds"] == {1: stopped}
  row = rows[0]
  assert row["epochs"] == config.epochs and len(row["val_success_curve"]) == config.epochs
  assert row["test"] == results["test"] and row["best_epoch"] == results["best_epoch"]
  table = sweeps.markdown_table(rows)
  assert table.count("\n") == 5 and f"| vin | explicit | {results['test']['optimal']['mean']:.1f} |" in table
  assert "| 2 (diverged) |" in table and "| 2 (seed 1 diverged at epoch 2) |" in table
  sweep_binary.write_summary(str(tmp_path), runs)
  assert all(os.path.exists(tmp_path / name) for name in ("summary.json", "summary.md", "curves.png"))


def test_test_time_compute_evaluates_each_budget_once(vin_run, tmp_path, monkeypatch):
  config, workdir, results = vin_run
  run_dir = tmp_path / "vin"
  shutil.copytree(workdir, run_dir)
  rows = sweeps.test_time_compute(str(run_dir), [1, 2])
  assert [(row["data"], row["k"]) for row in rows] == [("own", config.k), ("own", 2 * config.k)]
  assert rows[0]["success"] == results["test"]["success"]["mean"]  # the training budget: the run's score
  assert (run_dir / f"eval_test_k{2 * config.k}.json").exists()
  monkeypatch.setattr(evaluation, "evaluate_run", lambda *args: pytest.fail("evaluated twice"))
  assert sweeps.test_time_compute(str(run_dir), [1, 2]) == rows  # read back from the files
  sweep_binary.write_summary(str(tmp_path), (sweeps.Run("vin", {"planner": "vin"}),), [1, 2])
  assert f"| vin | {rows[0]['success']:.1f} | {rows[1]['success']:.1f} |" in (tmp_path / "summary.md").read_text()


def test_runs_with_a_mapper_are_summarised_by_phase_from_their_last_planning_phase(tmp_path):
  def score(mean):
    return {"mean": mean, "std": 1.0, "per_seed": [mean - 1, mean + 1]}

  phases = {
    "planner": {"optimal": score(88.0), "success": score(90.0)},
    "joint": {
      "optimal": score(80.0),
      "success": score(82.0),
      "map_accuracy": score(98.0),
      "obstacle_iou": score(94.0),
      "true_map": {"success": score(89.0)},
    },
  }
  for phase, test in phases.items():
    (tmp_path / "vin" / phase).mkdir(parents=True)
    (tmp_path / "vin" / phase / "results.json").write_text(json.dumps({"test": test, "best_epoch": [1, 1]}))
    record = {"epoch": 1, "loss": 0.5, "val_success": 80.0, "fwd_residual_mean": 0.0, "elapsed_s": 60.0}
    record["epoch_time_s"] = 60.0
    (tmp_path / "vin" / phase / "metrics.jsonl").write_text(json.dumps(record) + "\n")
  runs = (sweeps.Run("vin", {"planner": "vin"}, "explicit"),)
  assert sweeps.run_dir(str(tmp_path / "vin")) == str(tmp_path / "vin" / "joint")
  assert sweeps.summarize(str(tmp_path), runs)[0]["test"]["success"]["mean"] == 82.0
  row = sweeps.phase_table(sweeps.phase_rows(str(tmp_path), runs)).splitlines()[-1]
  assert row == (
    "| vin | explicit | – | – | 88.0 ± 1.0 / 90.0 ± 1.0 | 80.0 ± 1.0 / 82.0 ± 1.0 | 98.00 ± 1.00 / 94.00 ± 1.00 | "
    "89.0 ± 1.0 | 2 |"
  )


def test_mappers_trained_alone_get_their_table_and_curves_without_an_empty_planner_table(tmp_path):
  (tmp_path / "m" / "mapper").mkdir(parents=True)
  test = {
    name: {"mean": mean, "std": 0.0, "per_seed": [mean]}
    for name, mean in (
      ("map_accuracy", 98.123),
      ("obstacle_iou", 93.0),
      ("field_accuracy", 99.7),
      ("field_edge_accuracy", 91.234),
    )
  }
  (tmp_path / "m" / "mapper" / "results.json").write_text(json.dumps({"test": test, "best_epoch": [2]}))
  epochs = [
    {"epoch": e, "loss": loss, "val_map_accuracy": acc, "epoch_time_s": 30.0}
    for e, loss, acc in [(1, 0.3, 95.0), (2, 6.5, 89.0)]
  ]
  (tmp_path / "m" / "mapper" / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in epochs))
  sweep_binary.write_summary(str(tmp_path), (sweeps.Run("m", {"phase": "mapper"}, "alone"),))
  summary = (tmp_path / "summary.md").read_text()
  assert summary.startswith("\nRuns with a mapper, by phase")
  assert summary.splitlines()[-1] == "| m | alone | 98.12 / 93.00 | 99.70 / 91.23 | – | – | – | – | 1 |"
  (row,) = json.loads((tmp_path / "summary.json").read_text())
  assert row["phases"]["mapper"]["loss_curve"] == [0.3, 6.5]
  assert row["phases"]["mapper"]["val_map_accuracy_curve"] == [95.0, 89.0]
  assert (tmp_path / "mapper_curves.png").stat().st_size > 0


def test_a_measured_figure_is_pinned_to_its_one_core(tmp_path, monkeypatch):
  pinned, measured = [], []
  monkeypatch.setattr(sweep_binary.cpu, "pin_to_core", pinned.append)
  monkeypatch.setattr(fig10, "measure", lambda scale, root: measured.append((scale.name, root)))
  sweep_binary.measure("fig10", "cpu", str(tmp_path), cores=[1])
  assert (pinned, measured) == ([1], [("cpu", str(tmp_path))])
  with pytest.raises(app.UsageError, match="at most one core"):
    sweep_binary.measure("fig10", "cpu", str(tmp_path), cores=[0, 1])


def test_the_workspace_study_keeps_its_joint_phase_where_the_preset_took_its_best():
  sweep, preset, _, figure = sweep_binary.resolve("workspace_twins", None, None, "stable")
  common = sweep_binary.common_flags(sweep, figure)
  base = presets.get_config(preset)
  joint = {
    run.label: (config.epochs, config.map_loss_weight, config.rmsprop_bias_correction)
    for run in sweep.runs
    for config in [recipes.configure(base, sweep.recipe, sweeps.run_flags(run, common, "root", {"epochs": 3}))]
  }
  assert (base.epochs, base.map_loss_weight, base.rmsprop_bias_correction) == (6, 0.0, True)
  assert joint["vin"] == (3, 1.0, False)  # the study's baseline, as recorded before the preset moved
  assert joint["id_vin_action_loss_corrected"] == (3, 0.0, True)
  assert joint["id_vin_action_loss_corrected_6ep"] == (6, 0.0, True)  # its own epochs beat --set
