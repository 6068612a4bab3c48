"""A planner trained with a mapper: the three phases, their inputs, resuming, and the bad-input errors."""

import json
import os

import jax
import numpy as np
import pytest

import implicit_planning as ip
from data_gen import manipulation
from data_gen.dataset import save_dataset
from experiments.training import (
  ConfigError,
  TrainingInterrupted,
  checkpoints,
  data,
  evaluation,
  export,
  figures,
  model,
  phases,
  sweeps,
)


@pytest.fixture(scope="module")
def workspace_run(tiny, tmp_path_factory):
  """A tiny workspace run killed in its joint phase's second epoch, then run again to the end.

  Returns (config, workdir, results of the second invocation, starts): ``starts`` counts the
  calls of `phases.joint_start` (the joint phase's switch to the pretrained parameters).
  """
  config = tiny(task="manip_workspace", size=18, mapper="workspace_unet", planner="vin", pretrain_epochs=1, epochs=2)
  workdir = str(tmp_path_factory.mktemp("workspace_run"))
  steps_per_epoch = config.num_train // config.batch_size
  starts = []
  joint_start = phases.joint_start

  def counted(*args):
    starts.append(args)
    return joint_start(*args)

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(phases, "joint_start", counted)
    with pytest.raises(TrainingInterrupted):
      # Each phase counts its own steps: the kill falls in the joint phase's second epoch.
      phases.train_phases(config.replace(stop_after_steps=steps_per_epoch + 1), workdir)
    assert checkpoints.manager(os.path.join(workdir, "joint"), read_only=True).latest_step() == 1
    results = phases.train_phases(config, workdir)
  return config, workdir, results, starts


@pytest.mark.slow
def test_the_phases_train_the_mapper_then_the_planner_then_both(workspace_run):
  config, workdir, results, _ = workspace_run
  assert list(results) == ["mapper", "planner", "joint"]
  mapper, planner, joint = (results[phase]["test"] for phase in phases.ORDER)
  assert "map_accuracy" in mapper and "success" not in mapper
  assert "success" in planner and "map_accuracy" not in planner
  assert {"success", "map_accuracy", "obstacle_iou", "true_map"} <= set(joint)
  assert 0 <= joint["map_accuracy"]["mean"] <= 100 and 0 <= joint["true_map"]["success"]["mean"] <= 100
  with open(os.path.join(workdir, "results.json")) as f:
    assert json.load(f)["joint"]["test"] == joint
  epochs = {phase: checkpoints.read_config(os.path.join(workdir, phase)).epochs for phase in phases.ORDER}
  assert epochs == {"mapper": 1, "planner": 1, "joint": 2}


def test_the_planners_input_switches_to_the_mappers_map_once(tiny):
  config = tiny(task="manip_workspace", size=18, mapper="workspace_unet", planner="vin")
  inputs = {phase: model.make_planner(phases.phase_config(config, phase)).inputs for phase in phases.ORDER}
  assert inputs == {"mapper": ("workspace", "goals"), "planner": ("maps", "goals"), "joint": ("workspace", "goals")}


@pytest.mark.slow
def test_the_joint_phase_starts_from_the_pretrained_parameters_once_and_resumes_its_own(workspace_run):
  config, workdir, _, starts = workspace_run
  assert len(starts) == 1  # the second invocation resumed the joint phase from its checkpoint
  with open(os.path.join(workdir, "joint", "metrics.jsonl")) as f:
    assert [json.loads(line)["epoch"] for line in f] == [1, 2]
  sample = data.to_device(data.load_checked(data.dataset_path(config), config.task, config.wrap, config.size).val)
  start = phases.joint_start(phases.phase_config(config, "joint"), workdir)
  mapper = phases.best_params(phases.phase_config(config, "mapper"), os.path.join(workdir, "mapper"), sample)
  planner = phases.best_params(phases.phase_config(config, "planner"), os.path.join(workdir, "planner"), sample)
  for a, b in zip(jax.tree.leaves(start), jax.tree.leaves({"mapper": mapper["mapper"], "planner": planner})):
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_the_joint_phase_is_drawn_with_its_map_and_the_arm(workspace_run, tmp_path):
  _, workdir, _, _ = workspace_run
  out = str(tmp_path / "policy.png")
  figures.policy_figure(os.path.join(workdir, "joint"), out, index=1)
  assert os.path.getsize(out) > 10_000
  with pytest.raises(ValueError, match="is a mapper's pretraining: draw its joint phase"):
    figures.policy_figure(os.path.join(workdir, "mapper"), out)


def test_the_joint_phase_needs_its_pretraining(tiny, tmp_path):
  config = tiny(task="manip_workspace", size=18, mapper="workspace_unet", planner="vin", phase="joint")
  with pytest.raises(ConfigError, match="holds no mapper run: run --phase=mapper"):
    phases.train_phases(config, str(tmp_path))


def test_a_workspace_task_without_a_mapper_and_a_mapper_without_a_workspace_are_refused(tiny):
  with pytest.raises(ConfigError, match="task manip_workspace plans on a map made from its 'workspace' observation"):
    tiny(task="manip_workspace", size=18)
  with pytest.raises(ConfigError, match="mapper workspace_unet maps the 'workspace' observation, which task maze2d"):
    tiny(mapper="workspace_unet")
  with pytest.raises(ConfigError, match="which task manip_cspace does not have"):
    tiny(task="manip_cspace", size=18, mapper="workspace_unet")


def test_a_visual_task_without_its_mapper_and_its_mapper_elsewhere_are_refused(tiny):
  with pytest.raises(ConfigError, match=r"task visual_nav plans on a map made from its 'panoramas' .*panorama_cnn"):
    tiny(task="visual_nav")
  with pytest.raises(
    ConfigError, match="mapper workspace_unet maps the 'workspace' observation, which task visual_nav"
  ):
    tiny(task="visual_nav", mapper="workspace_unet")
  with pytest.raises(ConfigError, match="mapper panorama_cnn maps the 'panoramas' observation, .*--task=visual_nav"):
    tiny(mapper="panorama_cnn")


def test_a_visual_navigation_run_trains_mapper_and_planner_end_to_end_and_resumes(tiny, tmp_path):
  config = tiny(task="visual_nav", mapper="panorama_cnn", phase="end_to_end", planner="vin", epochs=2, seeds=2)
  workdir = str(tmp_path / "visual")
  with pytest.raises(TrainingInterrupted):
    phases.train_phases(config.replace(stop_after_steps=config.num_train // config.batch_size + 1), workdir)
  results = phases.train_phases(config, workdir)
  assert list(results) == ["end_to_end"] and sorted(os.listdir(workdir)) == ["end_to_end", "results.json"]
  with open(os.path.join(workdir, "end_to_end", "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  assert [record["epoch"] for record in records] == [1, 2]  # resumed after epoch 1
  for record in records:  # each seed's map, so that a mapper's collapse is told by its seed
    assert len(record["val_map_accuracy_per_seed"]) == len(record["val_success_per_seed"]) == config.seeds
    assert np.mean(record["val_map_accuracy_per_seed"]) == pytest.approx(record["val_map_accuracy"])
  test = results["end_to_end"]["test"]
  assert {"success", "map_accuracy", "obstacle_iou", "true_map"} <= set(test)
  assert sweeps.run_dir(workdir) == os.path.join(workdir, "end_to_end")  # what a sweep's summary reads
  out = str(tmp_path / "policy.png")
  figures.policy_figure(os.path.join(workdir, "end_to_end"), out, index=1)
  assert os.path.getsize(out) > 10_000
  figures.views_figure(data.dataset_path(config), out, index=2)
  assert os.path.getsize(out) > 10_000
  with pytest.raises(ValueError, match="holds maze2d problems; views are drawn for visual_nav datasets"):
    figures.views_figure(data.ensure_dataset(tiny()), out)


@pytest.mark.slow
def test_a_shared_mapper_run_starts_every_seeds_joint_phase(workspace_run, tmp_path):
  config, workdir, _, _ = workspace_run
  shared = config.replace(mapper_from=os.path.join(workdir, "mapper"), seeds=2, epochs=1)
  assert phases.phases(shared) == ("planner", "joint")
  results = phases.train_phases(shared, str(tmp_path))
  assert list(results) == ["planner", "joint"] and not os.path.exists(tmp_path / "mapper")
  sample = data.to_device(data.load_checked(data.dataset_path(config), config.task, config.wrap, config.size).val)
  one_seed = phases.best_params(phases.phase_config(config, "mapper"), os.path.join(workdir, "mapper"), sample)
  start = phases.joint_start(phases.phase_config(shared, "joint"), str(tmp_path))
  for given, pretrained in zip(jax.tree.leaves(start["mapper"]), jax.tree.leaves(one_seed["mapper"])):
    assert given.shape[0] == 2
    np.testing.assert_array_equal(given, np.broadcast_to(pretrained, given.shape))


@pytest.mark.slow
def test_a_joint_phase_under_another_optimiser_starts_from_another_runs_pretrainings(workspace_run, tmp_path):
  config, workdir, _, _ = workspace_run
  ablation = config.replace(
    mapper_from=os.path.join(workdir, "mapper"),
    planner_from=os.path.join(workdir, "planner"),
    map_loss_weight=0.0,
    rmsprop_bias_correction=True,  # another optimiser state than the pretrainings' checkpoints hold
    epochs=1,
  )
  assert phases.phases(ablation) == ("joint",)
  assert list(phases.train_phases(ablation, str(tmp_path))) == ["joint"]
  assert sorted(os.listdir(tmp_path)) == ["joint", "results.json"]
  start = phases.joint_start(phases.phase_config(ablation, "joint"), str(tmp_path))
  own = phases.joint_start(phases.phase_config(config, "joint"), workdir)
  for given, pretrained in zip(jax.tree.leaves(start), jax.tree.leaves(own), strict=True):
    np.testing.assert_array_equal(given, pretrained)


@pytest.mark.slow
def test_a_joint_phase_exports_with_its_mapper_and_scores_its_seeds_test_result_by_name(workspace_run, tmp_path):
  config, workdir, results, _ = workspace_run
  joint = results["joint"]
  seed = int(np.argmax(joint["best_val_success"]))
  export.export(os.path.join(workdir, "joint"), str(tmp_path), command="pytest")
  loaded = ip.load_pretrained("vin", task="manip_workspace", size=18, root=tmp_path)
  assert loaded.planner.inputs == ("workspace", "goals") and set(loaded.params) == {"mapper", "planner"}
  assert loaded.info["mapper"]["observation_shape"] == [96, 96]
  assert loaded.info["test"]["map_accuracy"] == joint["test"]["map_accuracy"]["per_seed"][seed]
  summary = evaluation.evaluate_pretrained("vin", "manip_workspace", 18, root=str(tmp_path))
  for score in ("success", "map_accuracy"):
    assert summary[score]["per_seed"] == pytest.approx([joint["test"][score]["per_seed"][seed]], abs=1e-4)
  assert summary["true_map"]["success"]["per_seed"] == pytest.approx(
    [loaded.info["test"]["true_map_success"]], abs=1e-4
  )
  out = tmp_path / "policy.png"
  figures.pretrained_policy_figure("vin", "manip_workspace", 18, str(out), index=1, root=str(tmp_path))
  assert out.stat().st_size > 10_000


def test_only_a_planning_phase_of_a_run_with_a_mapper_is_exported(tiny, tmp_path):
  config = tiny(task="manip_workspace", size=18, mapper="workspace_unet", planner="vin")
  for phase in ("mapper", "planner"):
    checkpoints.write_or_check_config(str(tmp_path / phase), phases.phase_config(config, phase))
    with pytest.raises(ValueError, match=f"is the {phase} pretraining of a run with mapper workspace_unet"):
      export.export(str(tmp_path / phase), str(tmp_path / "pretrained"))
  os.makedirs(tmp_path / "joint")
  with pytest.raises(FileNotFoundError, match="holds a run's phases: export its joint phase"):
    export.export(str(tmp_path), str(tmp_path / "pretrained"))


@pytest.mark.parametrize(
  ("part", "other_part", "misfit"),
  [("mapper", "planner", {"mapper_width": 4}), ("planner", "mapper", {"l_q": 4})],
)
def test_a_shared_pretraining_run_must_exist_be_of_its_phase_and_fit(tiny, tmp_path, part, other_part, misfit):
  config = tiny(task="manip_workspace", size=18, mapper="workspace_unet", planner="vin")
  flag, (name, value) = f"{part}_from", next(iter(misfit.items()))
  source = str(tmp_path / "source")
  with pytest.raises(ConfigError, match=f"holds no run: train one with --phase={part}"):
    phases.train_phases(config.replace(**{flag: source}), str(tmp_path / "run"))
  checkpoints.write_or_check_config(source, phases.phase_config(config, other_part))
  with pytest.raises(ConfigError, match=f"is a {other_part} run, not a {part} run"):
    phases.pretrained_run_config(config.replace(**{flag: source}), part)
  other = str(tmp_path / "other")
  checkpoints.write_or_check_config(other, phases.phase_config(config.replace(**misfit, seeds=3), part))
  with pytest.raises(ConfigError, match=rf"another {part}: {name}={value} \(here {getattr(config, name)}\)"):
    phases.pretrained_run_config(config.replace(**{flag: other}), part)
  with pytest.raises(ConfigError, match="has 3 seeds; this run needs 1 \\(shared\\) or 2"):
    phases.pretrained_run_config(config.replace(**{flag: other}, **misfit, seeds=2), part)
  for phase in (part, "end_to_end"):
    with pytest.raises(ConfigError, match=f"phase={phase} trains the {part} from scratch; {flag}=.* gives one"):
      config.replace(**{flag: other}, phase=phase)
  with pytest.raises(ConfigError, match=f"{flag}=.* needs a --mapper"):
    tiny(**{flag: other})


def test_a_mapper_may_come_from_other_data_that_holds_none_of_the_held_out_environments(tiny, tmp_path):
  config = tiny(task="manip_workspace", size=18, mapper="workspace_unet", planner="vin")
  ours = data.load_checked(data.ensure_dataset(config), config.task, config.wrap, config.size)

  def run_on(splits, part):
    """A ``part`` run on a dataset of ``ours``'s splits rearranged, as ``mapper_from`` / ``planner_from``."""
    path = str(tmp_path / f"{'_'.join(splits)}.npz")
    rearranged = dict(zip(("train", "val", "test"), (getattr(ours, s) for s in splits)))
    counts = {name: len(split.maps) for name, split in rearranged.items()}
    save_dataset(path, {**ours.meta, "counts": counts}, rearranged)
    source = str(tmp_path / f"{part}_{'_'.join(splits)}")
    checkpoints.write_or_check_config(source, phases.phase_config(config.replace(data=path), part))
    return config.replace(**{f"{part}_from": source})

  # Other data with this run's training split only: the mapper has seen nothing held out.
  assert phases.pretrained_run_config(run_on(("train", "test", "val"), "mapper"), "mapper").data.endswith(
    "train_test_val.npz"
  )
  with pytest.raises(ConfigError, match="another planner: data="):
    phases.pretrained_run_config(run_on(("train", "test", "val"), "planner"), "planner")
  # A mapper trained on this run's test split: it saw every held-out workspace not among the training ones.
  train_images, test_images = ({image.tobytes() for image in split.workspace} for split in (ours.train, ours.test))
  seen = test_images - train_images
  seen_held_out = {s: sum(image.tobytes() in seen for image in getattr(ours, s).workspace) for s in ("val", "test")}
  assert seen_held_out["test"] > 0
  counts = ", ".join(f"{count} {s}" for s, count in seen_held_out.items() if count)
  with pytest.raises(ConfigError, match=f"holds the environments of {counts} problems of .* the mapper has seen them"):
    phases.pretrained_run_config(run_on(("test", "val", "train"), "mapper"), "mapper")


def test_workspace_images_the_mapper_was_not_built_for_are_refused(tiny):
  config = tiny(task="manip_workspace", size=18, mapper="workspace_unet", planner="vin")
  arm = {"image_size": 96, "extent": 5.0, "link_lengths": [2.1, 2.1]}
  model.check_observation_fits(config, {"generator_options": arm}, "fits.npz")
  with pytest.raises(data.DataMismatchError, match="long.npz has 96-pixel .* reaching 5.0; mapper workspace_unet"):
    model.check_observation_fits(config, {"generator_options": {**arm, "link_lengths": [2.5, 2.5]}}, "long.npz")
  with pytest.raises(data.DataMismatchError, match="has 64-pixel workspace images"):
    model.check_observation_fits(config, {"generator_options": {**arm, "image_size": 64}}, "small.npz")
  # the same reach with other links: the U-Net's polar grid covers it; the arm sweep reads the arm itself
  other_arm = {"generator_options": {**arm, "link_lengths": [2.0, 2.2]}}
  model.check_observation_fits(config, other_arm, "other_arm.npz")
  with pytest.raises(data.DataMismatchError, match=r"links \(2.0, 2.2\) .* reads 96-pixel .* links \(2.1, 2.1\)"):
    model.check_observation_fits(config.replace(mapper="workspace_sweep"), other_arm, "other_arm.npz")


def test_a_mapper_run_is_evaluated_read_another_way_with_its_own_parameters(tiny, tmp_path):
  """``evaluate_run(mapper=...)`` scores the run's trained field read as another mapper of the same
  parameters reads it (here averaged over the image's mirrors), writes it to its own file, scores
  the field against the data's own rasteriser at four times the image's resolution, and refuses a mapper with other parameters, another observation, or a run without a mapper."""
  config = tiny(task="manip_workspace", size=18, mapper="workspace_sweep_max", phase="mapper", pretrain_epochs=1)
  workdir = str(tmp_path / "run")
  phases.train_phases(config, workdir)
  mapper_dir = os.path.join(workdir, "mapper")
  plain = evaluation.evaluate_run(mapper_dir)
  mirrored = evaluation.evaluate_run(mapper_dir, mapper="workspace_sweep_max_mirrored")
  assert os.path.basename(mirrored["out"]) == "eval_test_workspace_sweep_max_mirrored.json"
  assert (plain["mapper"], mirrored["mapper"]) == ("workspace_sweep_max", "workspace_sweep_max_mirrored")
  run = checkpoints.read_config(mapper_dir)
  test = data.to_device(data.load_checked(run.data or data.dataset_path(run), run.task, run.wrap, run.size).test)
  params = jax.tree.map(lambda leaf: leaf[0], phases.best_params(run, mapper_dir, test))  # its one seed
  for name, summary in (("workspace_sweep_max", plain), ("workspace_sweep_max_mirrored", mirrored)):
    _, mapper = ip.make_mapper(name, 18, run.mapper_width)
    logits, sown = jax.jit(lambda p, w, mapper=mapper: mapper.apply(p, w, mutable="intermediates"))(
      params["mapper"], test["workspace"]
    )
    accuracy = 100 * np.mean((np.asarray(logits) > 0) == (np.asarray(test["maps"]) == 0))
    np.testing.assert_allclose(summary["map_accuracy"]["per_seed"], [accuracy], atol=1e-4)
    # the field at the data's own raster four times finer than the image (its pixel centres are the points)
    field = np.asarray(sown["intermediates"]["obstacle_field"][0])
    read = np.asarray(ip.mappers.occupancy.upsample(field, 4))
    with np.load(run.data or data.dataset_path(run)) as archive:
      drawn = manipulation.Obstacles(archive["test/polygons"], archive["test/polygon_present"])
    truth = manipulation.rasterize(drawn, manipulation.ArmParams(image_size=4 * 96)).astype(bool)
    np.testing.assert_allclose(summary["field_accuracy"]["per_seed"], [100 * np.mean((read > 0) == truth)], atol=1e-4)
    assert 0 < summary["field_edge_accuracy"]["mean"] < summary["field_accuracy"]["mean"] < 100
  with pytest.raises(
    ConfigError, match="mapper 'workspace_unet' has other parameters than the run's 'workspace_sweep_max'"
  ):
    evaluation.evaluate_run(mapper_dir, mapper="workspace_unet", out=None)
  with pytest.raises(
    ConfigError, match="mapper panorama_cnn maps the 'panoramas' observation, which task manip_workspace"
  ):
    evaluation.with_mapper(run, "panorama_cnn")
  with pytest.raises(ConfigError, match="the run trains no mapper"):
    evaluation.with_mapper(tiny(), "workspace_sweep_max")


def test_a_joint_phase_may_read_a_shared_mapper_run_another_way(tiny, tmp_path):
  """A joint phase whose mapper averages over the image's mirrors starts from a plain mapper run's
  trained field (the same parameters); a mapper of other parameters is refused before any training."""
  plain = tiny(task="manip_workspace", size=18, mapper="workspace_sweep_max", planner="vin", pretrain_epochs=1)
  source = str(tmp_path / "plain")
  phases.train_phases(plain.replace(phase="mapper"), source)
  source = os.path.join(source, "mapper")
  mirrored = plain.replace(mapper="workspace_sweep_max_mirrored", mapper_from=source, seeds=2)
  assert phases.pretrained_run_config(mirrored, "mapper").mapper == "workspace_sweep_max"
  sample = data.to_device(data.load_checked(data.dataset_path(plain), plain.task, plain.wrap, plain.size).val)
  joint = phases.phase_config(mirrored, "joint")
  start = phases.pretrained(joint, "mapper", str(tmp_path / "mirrored"), sample)
  assert jax.tree.map(np.shape, start) == model.parameter_shapes(joint, sample)["mapper"]
  trained = phases.best_params(checkpoints.read_config(source), source, sample)["mapper"]
  for given, pretrained in zip(jax.tree.leaves(start), jax.tree.leaves(trained), strict=True):
    np.testing.assert_array_equal(given, np.broadcast_to(pretrained, given.shape))
  unet = plain.replace(mapper="workspace_unet", mapper_from=source)
  with pytest.raises(
    ConfigError, match="trained mapper workspace_sweep_max, whose parameters are not those of .* workspace_unet"
  ):
    phases.train_phases(unet, str(tmp_path / "unet"))
  assert not os.path.exists(tmp_path / "unet")


def test_a_mapper_phase_supervises_its_obstacle_field_on_the_polygons(tiny, tmp_path):
  """``field_loss_weight`` adds that weight times the field's cross-entropy at the fine raster to the
  mapper's loss and reports the field's accuracy there; a mapper without a field, no mapper, and a
  dataset without the polygons are refused."""
  config = tiny(
    task="manip_workspace", size=18, mapper="workspace_sweep_max", phase="mapper", pretrain_epochs=1
  ).replace(field_loss_weight=10.0)
  workdir = str(tmp_path / "run")
  phases.train_phases(config, workdir)
  with open(os.path.join(workdir, "mapper", "metrics.jsonl")) as f:
    record = json.loads(f.readlines()[-1])
  np.testing.assert_allclose(record["loss"], record["map_loss"] + 10 * record["field_loss"], rtol=1e-5)
  assert 0 < record["field_loss"] < record["map_loss"] and 99 < record["train_field_accuracy"] < 100
  with pytest.raises(ConfigError, match="mapper workspace_unet has none .*: workspace_sweep, "):
    config.replace(mapper="workspace_unet")
  with pytest.raises(ConfigError, match="field_loss_weight=10.0 needs a --mapper"):
    tiny(field_loss_weight=10.0)
  source = data.dataset_path(config)
  without = [f"{split}/{field}" for split in ("train", "val", "test") for field in ("polygons", "polygon_present")]
  with np.load(source) as archive:
    arrays = {key: archive[key] for key in archive.files if key not in without}
  old = str(tmp_path / "old.npz")
  np.savez(old, **arrays)
  with pytest.raises(
    data.DataMismatchError, match=f"field_loss_weight=10.0 needs the obstacles' polygons, which {old}"
  ):
    phases.train_phases(config.replace(data=old), str(tmp_path / "old_run"))
