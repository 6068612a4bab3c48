"""The paper's figures as sweeps: their runs at each scale, how results are read and drawn, the
dry run's estimates, and the sweep binary's reliability (stopped runs, dependencies, corrupt checkpoints)."""

import dataclasses
import json
import os
import shutil
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest

import implicit_planning as ip
from experiments import paper, studies
from experiments import sweep as sweep_binary
from experiments.benchmarks import scaling
from experiments.benchmarks.problems import Settings
from experiments.paper import fig6, fig7, fig9, fig10, figure, measured, table1
from experiments.training import (
  ConfigError,
  checkpoints,
  estimate,
  evaluation,
  phases,
  presets,
  recipes,
  sweeps,
)

SMALL = Settings(batch=2, l_q=4, l_h=4, conv_impl="xla", repeats=1)
"""Benchmark settings that measure in seconds (XLA's convolutions compile fastest)."""


@pytest.mark.parametrize("scale", sorted(paper.SCALES))
@pytest.mark.parametrize("name", sorted(paper.FIGURES))
def test_every_run_of_every_figure_is_a_valid_config_with_a_unique_label(name, scale):
  fig, at = paper.FIGURES[name], paper.get_scale(scale)
  sweep = fig.sweep(at)
  labels = [run.label for run in sweep.runs]
  assert len(set(labels)) == len(labels)
  for run in sweep.runs:
    config = recipes.configure(presets.get_config(sweep.preset), sweep.recipe, sweeps.run_flags(run, at.common, "root"))
    assert set(run.after) <= set(labels[: labels.index(run.label)])  # what a run waits for comes first
    if "planner" in run.flags and config.phase != "mapper":
      spec = ip.planner_spec(config.planner)
      assert figure.flag(run.flags, "budget") == (config.k_fwd if spec.implicit else config.k)


def test_the_cpu_scale_shrinks_what_the_paper_scale_keeps():
  cpu, full = paper.get_scale("cpu"), paper.get_scale("paper")
  assert cpu.planner_flags("id_conv_gppn") == {"planner": "id_conv_gppn", "l_h": 32}
  assert full.planner_flags("id_conv_gppn") == {"planner": "id_conv_gppn"}
  assert cpu.size_defaults(27)["num_train"] < presets.quick().num_train and full.size_defaults(27) == {}
  assert max(cpu.sizes) < max(full.sizes) and full.common["seeds"] == 5
  with pytest.raises(ConfigError, match="known scales: paper, cpu"):
    paper.get_scale("laptop")


def test_table1_shares_one_workspace_mapper_that_every_workspace_run_waits_for():
  runs = table1.runs(paper.get_scale("cpu"))
  assert runs[0].label == table1.MAPPER_RUN and runs[0].flags["phase"] == "mapper"
  workspace = [run for run in runs[1:] if run.flags["task"] == "manip_workspace"]
  assert workspace and all(run.after == (table1.MAPPER_RUN,) for run in workspace)
  assert all(run.after == () for run in runs[1:] if run.flags["task"] != "manip_workspace")
  assert {table1.column(run.flags) for run in runs[1:]} == set(table1.TASKS)


def _row(label, flags, status="finished", per_seed=(90.0, 92.0, 10.0)):
  row = {"label": label, "flags": flags, "status": status, "wall_time_s": 120.0}
  if status == "finished":
    row["test"] = {"success": {"per_seed": list(per_seed), "mean": float(np.mean(per_seed))}}
  return row


def test_points_leave_diverged_seeds_out_of_the_mean_and_keep_each_runs_status():
  rows = [
    _row("a", {"planner": "vin", "k": 30, "size": 15}),
    _row("b", {"planner": "vin", "k": 10, "size": 15}, status="out of memory"),
    _row("c", {"planner": "vin", "k": 30, "size": 27}),
  ]
  (line,) = figure.points(rows, "budget", where={"size": 15}).values()
  assert [p["x"] for p in line] == [10, 30]  # sorted by K
  assert line[0]["status"] == "out of memory" and line[0]["mean"] is None
  assert line[1]["mean"] == pytest.approx(91.0) and line[1]["std"] == pytest.approx(1.0)
  assert line[1]["diverged_seeds"] == 1 and line[1]["seeds"] == 3


@pytest.mark.parametrize("name", sorted(paper.FIGURES))
def test_each_figure_draws_and_tables_its_runs_results(name, tmp_path):
  fig, scale = paper.FIGURES[name], paper.get_scale("cpu")
  rows = []
  for i, run in enumerate(fig.runs(scale)):
    status = ("finished", "diverged", "out of memory")[i % 3]
    row = _row(run.label, dict(run.flags), status)
    if run.label.startswith("manip18_vin_"):  # Table 1's average over K: 83, 85 and 88
      row = _row(run.label, dict(run.flags), "finished", [80 + run.flags["k"] / 10] * 2)
    if status != "out of memory":
      row["val_success_curve"] = [50.0, 80.0, 85.0]
    if name == "fig9" and status == "finished":
      row["by_size"] = {size: [80.0 - size, 82.0 - size] for size in scale.test_sizes}
    rows.append(row)
  path = str(tmp_path / f"{name}.png")
  fig.draw(rows, scale, path)
  assert os.path.getsize(path) > 10_000
  tables = fig.tables(rows)
  assert rows[0]["label"] in tables and "out of memory" in tables and "90.0, 92.0, 10.0" in tables
  if name == "table1":
    assert "| VIN | 85.3 (K 30, 50, 80) (89.65) |" in tables  # beside the paper's
    assert "91.0 (K 30; 1 of 3 seeds diverged)" in tables  # a run with 90, 92 and 10
  if name == "fig9":
    assert "| VIN | 66.0 | 54.0 | 32.0 |" in tables  # the mean of 80 - side and 82 - side


def test_figure_7_tables_each_runs_area_under_its_curves_and_its_setbacks():
  rows = [
    {"label": "steady", "val_success_per_seed_curve": [[50, 60], [80, 70], [90, 90]]},
    {"label": "spiky", "val_success_per_seed_curve": [[50, 50], [80, 80], [30, 70], [90, 90]]},
    {"label": "logged_before_per_seed_scores", "val_success_per_seed_curve": [None, None]},
  ]
  table = fig7.stability(rows)
  assert "| steady | 73.3 ± 0.0 | 0 | 0.0 |" in table  # it never fell
  assert "| spiky | 67.5 ± 5.0 | 1 | 50.0 |" in table  # seed 0 fell 50 points, seed 1 only 10
  assert "logged_before" not in table


def test_figure_9_evaluates_a_run_on_larger_mazes_once(vin_run, tmp_path, monkeypatch):
  config, workdir, _ = vin_run
  monkeypatch.setattr(fig9, "DATA_DIR", str(tmp_path / "data"))
  scale = dataclasses.replace(paper.get_scale("cpu"), test_sizes=(7, 9), test_maps=4)
  run_copy = tmp_path / "run"
  shutil.copytree(workdir, run_copy)
  row = {"workdir": str(run_copy)}
  fig9.evaluate(row, scale)
  assert sorted(row["by_size"]) == [7, 9] and all(len(v) == config.seeds for v in row["by_size"].values())
  calls = []
  monkeypatch.setattr(evaluation, "evaluate_run", lambda *a, **k: calls.append(a))
  fig9.evaluate(row, scale)  # read back from the JSON each evaluation wrote
  assert calls == []


def test_estimates_scale_the_measured_step_with_k_size_width_and_seeds():
  times = estimate.load_step_times()
  quick = presets.quick().replace(planner="id_vin")
  at_30, at_80 = (estimate.step_seconds(quick.replace(k_fwd=k), times) for k in (30, 80))
  assert (at_30, at_80) == pytest.approx((times["id_vin"]["k"][30], times["id_vin"]["k"][80]))
  assert estimate.step_seconds(quick.replace(k_fwd=55), times) == pytest.approx((at_30 + at_80) / 2)
  assert estimate.step_seconds(quick.replace(size=30), times) == pytest.approx(4 * at_30)
  assert estimate.step_seconds(quick.replace(l_q=50), times) == pytest.approx(at_30 / 2)
  gppn = quick.replace(planner="conv_gppn", l_h=24)  # the ConvGRU's 150 channels to 24: the step × (24/150)^1.5
  assert estimate.step_seconds(gppn, times) == pytest.approx(times["conv_gppn"]["k"][30] * 0.064)
  one, three = (estimate.run_seconds(quick.replace(seeds=s), times) for s in (1, 3))
  assert three == pytest.approx(3 * one) and one == pytest.approx(estimate.OVERHEAD * at_30 * 62 * 20)


def _record_run(folder, config, step, val, hardware="cpu:cpu (2 CPU cores)"):
  """A finished run (or phase) of ``config`` as the records hold it: its median epoch ``step`` s per step
  and ``val`` s per validation, all seeds."""
  checkpoints.write_or_check_config(str(folder), config)
  (folder / "results.json").write_text(json.dumps({"hardware": hardware}))
  epochs = [{"step_time_s": step * factor, "val_time_s": val * factor} for factor in (0.5, 1.0, 3.0)]
  (folder / "metrics.jsonl").write_text("".join(json.dumps(epoch) + "\n" for epoch in epochs))


def test_estimates_take_the_fastest_recorded_cpu_run_of_the_same_cost(tmp_path):
  quick = presets.quick().replace(planner="id_vin", seeds=3)
  _record_run(tmp_path / "cpu-2core_2026-12-05" / "a", quick, step=0.3, val=1.5)
  _record_run(tmp_path / "cpu-2core_2026-11-30" / "b", quick, step=0.9, val=4.5)  # older code
  _record_run(tmp_path / "cpu-2core_2026-12-05" / "d", quick, step=0.6, val=3.0)  # a busier machine
  _record_run(tmp_path / "h200_2026-12-06" / "c", quick, step=0.01, val=0.05, hardware="gpu:NVIDIA H200")
  measured = estimate.load_measured_runs(str(tmp_path))
  step, per_map = 0.3 / 3, 1.5 / (500 * 3)  # the median epoch's, per seed
  assert measured == {estimate.cost_key(quick): pytest.approx((step, per_map))}
  run = quick.replace(seeds=2, epochs=4, learning_rate=1e-2)  # the cost does not depend on these
  expected = 2 * (4 * (62 * step + 500 * per_map) + 500 * per_map)
  assert estimate.measured_seconds(run, measured) == pytest.approx(expected)
  times, other_planner = estimate.load_step_times(), run.replace(planner="vin")
  assert estimate.measured_seconds(other_planner, measured, times) is None
  assert estimate.estimate_seconds(other_planner, times, measured) == (estimate.run_seconds(other_planner, times), "")
  assert estimate.describe([run, other_planner], times, measured) == [
    f"~{expected / 60:.0f} min, as recorded runs",
    f"~{estimate.run_seconds(other_planner, times) / 60:.0f} min",
  ]


def test_a_run_recorded_only_at_other_k_is_scaled_from_the_nearest_by_the_benchmark(tmp_path):
  quick = presets.quick().replace(planner="id_vin", seeds=1)
  for k_fwd, step in ((30, 0.3), (80, 0.6)):
    _record_run(tmp_path / f"id_vin_k{k_fwd}", quick.replace(k_fwd=k_fwd), step=step, val=5 * step)
  measured, times = estimate.load_measured_runs(str(tmp_path)), estimate.load_step_times()
  at_40 = quick.replace(k_fwd=40)
  assert estimate.measured_seconds(at_40, measured) is None  # no run at K_fwd = 40
  growth = estimate.step_seconds(at_40, times) / estimate.step_seconds(quick.replace(k_fwd=30), times)
  expected = growth * estimate.measured_seconds(quick.replace(k_fwd=30), measured)  # K_fwd = 30 is the nearer
  assert growth > 1 and estimate.measured_seconds(at_40, measured, times) == pytest.approx(expected)
  at_70 = quick.replace(k_fwd=70)
  growth = estimate.step_seconds(at_70, times) / estimate.step_seconds(quick.replace(k_fwd=80), times)
  assert estimate.measured_seconds(at_70, measured, times) == pytest.approx(
    growth * estimate.measured_seconds(quick.replace(k_fwd=80), measured)
  )
  assert estimate.estimate_seconds(at_40, times, measured) == (
    pytest.approx(expected),
    "scaled from recorded runs at another K",
  )
  # Only the budget is scaled: another solver, planner or size is not a recorded cost.
  for other in (at_40.replace(forward_solver="anderson"), at_40.replace(planner="vin", k=40), at_40.replace(size=9)):
    assert estimate.measured_seconds(other, measured, times) is None


def test_a_mapped_run_is_estimated_phase_by_phase_from_recorded_phases(tmp_path):
  run = presets.workspace().replace(planner="vin", l_q=20, seeds=1, num_train=320, num_val=10, num_test=20)
  step = {"mapper": 0.5, "planner": 0.2, "joint": 0.8}  # s per step, one seed
  for phase, seconds in step.items():
    _record_run(
      tmp_path / "cpu-2core_2026-12-05" / "vin" / phase, phases.phase_config(run, phase), seconds, 10 * seconds
    )
  measured = estimate.load_measured_runs(str(tmp_path))
  epochs = {"mapper": run.pretrain_epochs, "planner": run.pretrain_epochs, "joint": run.epochs}
  seconds = {phase: epochs[phase] * (10 * step[phase] + 10 * step[phase]) + 20 * step[phase] for phase in step}
  assert estimate.measured_seconds(run, measured) == pytest.approx(sum(seconds.values()))
  shared = run.replace(mapper_from="runs/mapper/mapper", seeds=2)  # the mapper's pretraining is another run's
  assert estimate.measured_seconds(shared, measured) == pytest.approx(2 * (seconds["planner"] + seconds["joint"]))
  # The mapper's pretraining costs the same under any planner, the planner's under any mapper;
  # a joint phase of another planner or mapper was not recorded.
  symvin = run.replace(planner="symvin", phase="mapper")
  assert estimate.measured_seconds(symvin, measured) == pytest.approx(seconds["mapper"])
  other_mapper = run.replace(mapper="workspace_unet_fine")
  assert estimate.measured_seconds(other_mapper.replace(phase="planner"), measured) == pytest.approx(seconds["planner"])
  assert estimate.measured_seconds(other_mapper, measured) is None
  assert estimate.measured_seconds(symvin.replace(phase="all"), measured) is None


def test_estimates_add_the_measured_mapper_step_in_the_phases_that_train_it():
  times, workspace = estimate.load_step_times(), presets.workspace().replace(planner="vin", l_q=20)
  mapper, planner = estimate.mapper_step_seconds(workspace), estimate.step_seconds(workspace, times)
  planner *= estimate.OVERHEAD  # the mapper's step is taken as measured
  pretrain, joint = workspace.pretrain_epochs, workspace.epochs
  by_phase = {
    "mapper": mapper * pretrain,
    "planner": planner * pretrain,
    "joint": (mapper + planner) * joint,
    "all": mapper * pretrain + planner * pretrain + (mapper + planner) * joint,
  }
  steps = 10_000 // 32
  for phase, seconds in by_phase.items():
    assert estimate.run_seconds(workspace.replace(phase=phase), times) == pytest.approx(steps * seconds)
  shared = workspace.replace(mapper_from="runs/mapper/mapper")  # the mapper's pretraining is another run's
  assert estimate.run_seconds(shared, times) == pytest.approx(steps * (planner * pretrain + (mapper + planner) * joint))
  assert estimate.run_seconds(workspace.replace(mapper="workspace_unet_fine"), times) is None  # not measured


def test_a_planner_keeps_its_colour_in_every_panel():
  point = {"x": 10, "mean": 50.0, "std": 1.0, "status": "finished", "diverged_seeds": {}}
  _, (alone, shared) = plt.subplots(1, 2)
  figure.plot_success(alone, {"id_symvin": [point]}, "K", "27×27")
  figure.plot_success(shared, {"id_conv_gppn": [point], "id_symvin": [point], "id_vin": [point]}, "K", "15×15")
  colours = [
    dict(zip(labels, (bars[0].get_color() for bars in handles)))
    for handles, labels in (ax.get_legend_handles_labels() for ax in (alone, shared))
  ]
  assert colours[0]["ID-SymVIN"] == colours[1]["ID-SymVIN"] and len(set(colours[1].values())) == 3
  plt.close("all")


def _run_sweep(*flags: str) -> None:
  """``experiments.sweep`` with ``flags``, as from the command line."""
  sweep_binary.flags.FLAGS(["sweep", *flags])
  try:
    sweep_binary.main(["sweep"])
  finally:
    sweep_binary.flags.FLAGS.unparse_flags()


def test_a_dry_run_prints_each_command_with_its_estimate(tmp_path, capsys):
  _run_sweep("--sweep=fig4", "--scale=cpu", "--seeds=2", f"--root={tmp_path}", "--only=id_vin_15_k10", "--dry_run")
  out = capsys.readouterr().out.splitlines()
  assert out[0].startswith("[~") and "--recipe=stable" in out[0] and "--seeds=2" in out[0] and "--k_fwd=10" in out[0]
  assert out[1].startswith("1 runs to do (0 done, stopped or reused)")


def test_set_overrides_a_larger_mazes_fewer_epochs_and_names_what_a_run_keeps(tmp_path, capsys):
  _run_sweep(
    "--sweep=fig2", "--scale=cpu", f"--root={tmp_path}", "--only=vin_27_k30", "--set=epochs=15,k=50", "--dry_run"
  )
  out = capsys.readouterr().out
  command = next(line for line in out.splitlines() if "experiments.train" in line)
  assert "--epochs=15" in command and "--num_train=1000" in command and "--k=30" in command and "--k=50" not in command
  assert "vin_27_k30 keeps its own k=30 over --set/--seeds" in out


def test_a_dry_run_says_how_many_runs_its_total_leaves_out(tmp_path, capsys):
  run = "vin_k30_study_mapper_mirrored"  # a mapper with no step benchmark, and no recorded runs read
  _run_sweep("--sweep=workspace_arm_sweep", f"--root={tmp_path}", f"--only={run}", "--measured_runs=", "--dry_run")
  out = capsys.readouterr().out.splitlines()
  assert out[0].startswith("[no estimate (mapper not measured)]") and f"--workdir={tmp_path}/{run}" in out[0]
  assert out[1].startswith("1 runs to do (0 done, stopped or reused), ~0.0 h for all but 1 of them on one core")


def test_a_run_trained_elsewhere_with_the_same_settings_is_reused_not_trained_again(vin_run, tmp_path, capsys):
  _, trained, _ = vin_run
  sweep, preset, _, at = sweep_binary.resolve("fig4", "cpu", None, None)
  common = sweep_binary.common_flags(sweep, at)

  def config_of(label):
    (run,) = sweeps.select(sweep, [label])
    return recipes.configure(presets.get_config(preset), sweep.recipe, sweeps.run_flags(run, common, str(tmp_path)))

  elsewhere = tmp_path / "elsewhere"
  for name, config in {
    "same": config_of("id_vin_15_k10").replace(conv_impl="xla"),  # computed by other kernels: the same run
    "other": config_of("id_vin_15_k30").replace(seed=1),  # other draws: another run
  }.items():
    shutil.copytree(trained, elsewhere / name)  # a finished run's files, made with these settings
    os.remove(elsewhere / name / "config.json")
    checkpoints.write_or_check_config(str(elsewhere / name), config)
  (elsewhere / "same.log").write_text("trained elsewhere\n")
  root = tmp_path / "fig4"
  flags = ["--sweep=fig4", "--scale=cpu", f"--root={root}", f"--reuse={tmp_path / 'none'},{elsewhere}"]

  _run_sweep(*flags, "--only=id_vin_15_k10,id_vin_15_k30", "--dry_run")
  out = capsys.readouterr().out.splitlines()
  assert out[0] == f"[reuse {elsewhere / 'same'}] id_vin_15_k10"
  assert "--k_fwd=30" in out[1] and out[2].startswith("1 runs to do (1 done, stopped or reused)")
  assert not root.exists()

  _run_sweep(*flags, "--only=id_vin_15_k10")  # nothing left to train
  assert sweeps.run_status(str(root), "id_vin_15_k10") == "finished"
  assert (root / "id_vin_15_k10" / sweeps.REUSED_FROM).read_text() == f"{elsewhere / 'same'}\n"
  assert (root / "id_vin_15_k10.log").read_text() == "trained elsewhere\n"
  assert f"(trained as {elsewhere / 'same'})" in (root / "summary.md").read_text()

  with pytest.raises(SystemExit, match=r"other settings .* id_vin_15_k10 \(seed: stored 0, now 5\)"):
    _run_sweep(*flags, "--only=id_vin_15_k10", "--set=seed=5", "--dry_run")  # now another run


def test_a_run_that_diverged_or_ran_out_of_memory_is_recorded_and_not_retried(tmp_path):
  (tmp_path / "a.log").write_text("...\nTrainingDiverged: non-finite loss in epoch 3\n")
  (tmp_path / "b.log").write_text("jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory\n")
  (tmp_path / "c.log").write_text("KeyboardInterrupt\n")
  assert [sweeps.run_status(str(tmp_path), label) for label in "abcd"] == [
    "diverged",
    "out of memory",
    "unfinished",
    "unfinished",
  ]
  rows = sweeps.summarize(str(tmp_path), [sweeps.Run(label, {"planner": "vin"}) for label in "abcd"])
  assert [(row["label"], row["status"]) for row in rows] == [("a", "diverged"), ("b", "out of memory")]
  assert "| b |  | – | – | – | – | 0 (out of memory) |" in sweeps.markdown_table(rows)


def test_a_run_waits_for_the_run_it_needs_and_is_dropped_when_that_one_fails(tmp_path, capsys):
  finish = "import json, os, sys; os.makedirs(sys.argv[1]); json.dump({}, open(sys.argv[1] + '/results.json', 'w'))"
  check = "import os, sys; assert os.path.exists(sys.argv[1] + '/results.json'); print('saw it')"
  commands = [
    ("needed", [sys.executable, "-c", f"import time; time.sleep(1); {finish}", str(tmp_path / "needed")]),
    ("user", [sys.executable, "-c", check, str(tmp_path / "needed")]),
    ("broken", [sys.executable, "-c", "raise SystemExit(1)"]),
    ("orphan", [sys.executable, "-c", "print('ran')"]),
  ]
  sweep_binary.run_all(commands, str(tmp_path), jobs=2, after={"user": ("needed",), "orphan": ("broken",)})
  assert (tmp_path / "user.log").read_text().strip() == "saw it"  # started after `needed` finished, with 2 slots
  assert not (tmp_path / "orphan.log").exists()
  assert "orphan not started: broken did not finish" in capsys.readouterr().out


def test_a_run_whose_own_checkpoint_is_corrupt_is_set_aside_and_restarted_once(tmp_path, capsys):
  workdir = tmp_path / "job"
  fail_first = (
    "import os, sys; w = sys.argv[1]; os.makedirs(w + '/checkpoints/3');"
    "first = not os.path.exists(w + '.corrupt0'); print('CorruptCheckpointError: ' + w + '/checkpoints/3 cannot be "
    "restored (ValueError: truncated)' if first else 'trained'); sys.exit(1 if first else 0)"
  )
  shared = (
    f"print('CorruptCheckpointError: {tmp_path}/mapper/checkpoints/1 cannot be restored (x)'); raise SystemExit(1)"
  )
  commands = [("job", [sys.executable, "-c", fail_first, str(workdir)]), ("other", [sys.executable, "-c", shared])]
  sweep_binary.run_all(commands, str(tmp_path))
  out = capsys.readouterr().out
  assert f"job: checkpoint {workdir}/checkpoints/3 cannot be read; the run moved to {workdir}.corrupt0" in out
  assert (tmp_path / "job.corrupt0" / "checkpoints" / "3").is_dir()  # kept for a look
  assert (tmp_path / "job.log").read_text().strip() == "trained" and "] job done" in out
  assert "] other FAILED" in out and not (tmp_path / "other.corrupt0").exists()  # not its own checkpoint


def test_a_damaged_checkpoint_is_named_by_the_restore(vin_run, tmp_path, final_params):
  config, workdir, _ = vin_run
  shutil.copytree(workdir, tmp_path / "run")
  step = checkpoints.manager(str(tmp_path / "run"), read_only=True).latest_step()
  for root, _, files in os.walk(tmp_path / "run" / "checkpoints" / str(step) / "state"):
    for name in files:
      with open(os.path.join(root, name), "r+b") as f:
        f.truncate(7)
  with pytest.raises(checkpoints.CorruptCheckpointError, match=f"checkpoints/{step} cannot be restored"):
    final_params(str(tmp_path / "run"), config)
  assert json.loads((tmp_path / "run" / "config.json").read_text())["planner"] == "vin"


@pytest.mark.slow
def test_figure_10_measures_the_backward_solve_and_writes_json_and_png(tmp_path, monkeypatch):
  monkeypatch.setattr(fig10, "K_BWD", (3,))
  monkeypatch.setattr(fig10, "SOLVERS", ("anderson",))
  monkeypatch.setattr(fig10.figure, "IMPLICIT", ("id_vin",))
  rows = fig10.measure(paper.get_scale("cpu"), str(tmp_path), SMALL)
  assert [(r["backward_solver"], r["k_bwd"], r["backward_iterations"]) for r in rows] == [("anderson", 3, 3)]
  assert json.loads((tmp_path / "fig10.json").read_text())["rows"] == rows
  assert (tmp_path / "fig10.png").stat().st_size > 10_000


@pytest.mark.slow
def test_figure_6_measures_time_and_memory_and_writes_json_and_png(tmp_path, monkeypatch):
  monkeypatch.setattr(fig6, "KS", (2,))
  monkeypatch.setattr(scaling, "PLANNERS", ("vin",))
  scale = dataclasses.replace(paper.get_scale("cpu"), sizes=(7,))
  rows = fig6.measure(scale, str(tmp_path), SMALL)
  assert {(r["planner"], r["size"], r["K"]) for r in rows} == {("vin", 7, 2)} and len(rows) == 2  # γ = 0 and 0.9
  assert (tmp_path / "fig6.png").stat().st_size > 10_000


FAKE_TRAIN = """
import json, os, sys
workdir, label = sys.argv[1], os.path.basename(sys.argv[1])
os.makedirs(workdir, exist_ok=True)
with open(os.path.join(workdir, "calls"), "a") as f:
  f.write("call\\n")
calls = open(os.path.join(workdir, "calls")).read().count("call")
if label == "diverges":
  raise SystemExit("TrainingDiverged: non-finite loss")
if label == "killed" and calls == 1:
  raise SystemExit("killed")  # as a kill mid-run: no results, nothing in the log that says why
with open(os.path.join(workdir, "results.json"), "w") as f:
  json.dump({"best_epoch": [1], "test": {}}, f)
"""


def test_a_rerun_sweep_redoes_only_the_runs_that_did_not_finish_or_stop(tmp_path, monkeypatch, capsys):
  runs = tuple(sweeps.Run(label, {"planner": "vin"}) for label in ("finishes", "killed", "diverges"))
  monkeypatch.setitem(studies.SWEEPS, "recipe_twins", sweeps.Sweep(preset="test", runs=runs, description="three runs"))
  monkeypatch.setattr(
    sweeps, "train_command", lambda preset, run, workdir, *_: [sys.executable, "-c", FAKE_TRAIN, workdir]
  )
  monkeypatch.setattr(sweep_binary, "write_summary", lambda *args, **kwargs: None)
  for _ in range(3):
    _run_sweep("--sweep=recipe_twins", f"--root={tmp_path}", "--cores=0")
  calls = {
    label: (tmp_path / label / "calls").read_text().count("call") for label in ("finishes", "killed", "diverges")
  }
  assert calls == {"finishes": 1, "killed": 2, "diverges": 1}
  assert [sweeps.run_status(str(tmp_path), label) for label in calls] == ["finished", "finished", "diverged"]
  assert capsys.readouterr().out.count("started ") == 4


def test_a_measured_figure_resumes_from_its_rows_and_refuses_another_context(tmp_path):
  path, calls = str(tmp_path / "rows.jsonl"), []

  def measure(config):
    calls.append(config["k"])
    if len(calls) == 3:
      raise KeyboardInterrupt  # the measurement is killed at its third configuration
    return {"ms": 10 * config["k"]}

  configs = [{"k": k} for k in (1, 2, 3)]
  with pytest.raises(KeyboardInterrupt):
    measured.resumable(path, {"batch": 32}, configs, measure)
  rows = measured.resumable(path, {"batch": 32}, configs, measure)
  assert rows == [{"k": 1, "ms": 10}, {"k": 2, "ms": 20}, {"k": 3, "ms": 30}] and calls == [1, 2, 3, 3]
  assert measured.resumable(path, {"batch": 32}, configs, measure) == rows and len(calls) == 4
  with pytest.raises(ValueError, match="was measured with"):
    measured.resumable(path, {"batch": 8}, configs, measure)
